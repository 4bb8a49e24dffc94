// Private helpers shared by the codec, schema check and patch implementations (not a contract:
// only src/api/codec_*.cc, schema_check.cc, patch.cc and their tests include this).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/schema.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::api::codec_internal {

// Nesting limit for every recursive walk over untrusted input (JSON, YAML, protobuf, patches).
// No Kubernetes object comes close; the limit keeps recursion bounded on hostile input.
inline constexpr int kMaxDepth = 512;

// The JSON form of a Go zero value for a field's element kind (what a null list/map element or
// an absent map-entry value decodes to upstream): "" / false / 0 / "0" / {} (or [] for list
// wrappers); null for kinds without one.
Json ZeroValue(const FieldDef& f);

// Field lookup by JSON name / proto tag without depending on the registry's out-of-line
// helpers (linear: TypeDefs have a few dozen fields at most). FieldNamed looks through
// inlined members (FieldDef::inlined), as Go's JSON does; FieldTagged does not.
const FieldDef* FieldNamed(const TypeDef& t, std::string_view name);
const FieldDef* FieldTagged(const TypeDef& t, int tag);

// "v1.DeploymentSpec" from "io.k8s.api.apps.v1.DeploymentSpec" (Go's %T spelling).
std::string GoTypeName(const TypeDef& t);
// The Go spelling of a field's type, for error messages: "int32", "[]v1.Container", ...
std::string GoFieldTypeName(const FieldDef& f);

// Time helpers. Seconds since the Unix epoch <-> RFC 3339 in UTC.
// `micros` < 0 means "seconds precision" (metav1.Time), otherwise 6 fraction digits.
Result<std::string> FormatRfc3339(int64_t seconds, int64_t nanos, bool micro);
struct ParsedTime {
  int64_t seconds = 0;
  int64_t nanos = 0;
};
Result<ParsedTime> ParseRfc3339(std::string_view s);

// Go's time.Duration String() and ParseDuration.
std::string FormatGoDuration(int64_t ns);
Result<int64_t> ParseGoDuration(std::string_view s);

// resource.Quantity syntax check: ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$
bool IsQuantitySyntax(std::string_view s);

// Standard base64 (with padding), as Go's encoding/json writes []byte.
std::string Base64Encode(std::string_view in);
std::optional<std::string> Base64Decode(std::string_view in);

// Replaces invalid UTF-8 sequences with U+FFFD (as Go's JSON encoder does), so the document
// can always be serialized.
std::string SanitizeUtf8(std::string_view in);

}  // namespace tug::api::codec_internal
