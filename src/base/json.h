// The JSON document type used across tug: nlohmann::json (keys sorted, as Go's encoder
// sorts map keys, so output is deterministic).
//
// Helpers here never throw: parse errors come back as BadRequest Status values (C3).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "base/status.h"

namespace tug {

using Json = nlohmann::json;

// Parses JSON text. Errors: BadRequest with the parser's position.
Result<Json> ParseJson(std::string_view text);
// Compact serialization (no spaces), as the Kubernetes API server writes.
std::string DumpJson(const Json& j);

// Path helpers that never throw. Return nullptr when any step is missing or of another type.
const Json* Find(const Json& j, std::string_view key);
const Json* FindPath(const Json& j, std::initializer_list<std::string_view> path);
// Returns the string at key, or `def` when missing or not a string.
std::string GetString(const Json& j, std::string_view key, std::string_view def = "");
std::string GetStringPath(const Json& j, std::initializer_list<std::string_view> path,
                          std::string_view def = "");

}  // namespace tug
