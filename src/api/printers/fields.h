// api::printers — field-selector values per built-in kind, as upstream's
// <Kind>ToSelectableFields (metadata.name / metadata.namespace are the caller's).
//
// Thread-safety: stateless and reentrant.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/json.h"

namespace tug::api::printers {

// The value of `field` for an object of (group, kind), or nullopt when upstream does not
// support that field selector for the kind.
std::optional<std::string> FieldValueFor(std::string_view group, std::string_view kind, const Json& obj, std::string_view field);

}  // namespace tug::api::printers
