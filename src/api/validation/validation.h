// Per-kind validation (owner: validation): upstream pkg/apis/*/validation rules with upstream
// messages, over plain JSON objects (storage version). Called by api::Strategy (strategy.cc)
// for create (Validate) and update (Validate(new) + ValidateUpdate(new, old)).
//
// Validate includes ValidateObjectMeta with the kind's name rule and scope; ValidateUpdate
// includes the ObjectMeta update rules (immutable name/namespace/uid/creationTimestamp) and
// the kind's immutable fields. Kinds without specific rules get metadata checks only.
//
// Thread-safety: pure functions, reentrant.
#pragma once

#include <string_view>

#include "api/field_error.h"
#include "api/strategy.h"
#include "base/json.h"

namespace tug::api::validation {

FieldErrors Validate(std::string_view group, std::string_view kind, const Json& obj);
FieldErrors ValidateUpdate(std::string_view group, std::string_view kind, const Json& obj, const Json& old);
// The kind's name rule for ValidateObjectMeta: "dns1123subdomain", "dns1123label", "path-segment".
std::string_view NameRule(std::string_view group, std::string_view kind);
// Whether the built-in kind is namespaced (unknown kinds: true).
bool IsNamespaced(std::string_view group, std::string_view kind);

// metadata update rules as upstream ValidateObjectMetaUpdate (name, namespace, uid,
// creationTimestamp, deletionTimestamp immutable; generation not decremented; labels and
// annotations valid; no new finalizers while deleting). Does not require resourceVersion:
// the API server fills it from the stored object before calling.
FieldErrors ValidateObjectMetaUpdate(const Json& obj, const Json& old);

}  // namespace tug::api::validation
