// Shared validation helpers (owner: validation): upstream's k8s.io/apimachinery
// util/validation name and value checks (IsDNS1123Label, IsQualifiedName, ...), Go value
// printing for field errors, resource quantities, label selectors and small path helpers.
// Every Is* function returns upstream's error messages (empty when valid).
//
// Thread-safety: pure functions, reentrant.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/field_error.h"
#include "base/json.h"

namespace tug::api::validation {

// Go's %q for a string (strconv.Quote).
std::string GoQuote(std::string_view s);
// A JSON value printed as upstream's field.Error does with a Go value: strings %q, numbers
// and bools bare, maps/slices roughly as %#v (map[string]string{"a":"b"}, []string{"x"}).
std::string GoValue(const Json& v);

// A metav1.LabelSelector as Go's %#v prints it (upstream uses the typed selector as the bad
// value of selector errors): v1.LabelSelector{MatchLabels:map[string]string{"a":"b"},
// MatchExpressions:[]v1.LabelSelectorRequirement(nil)}.
std::string GoLabelSelector(const Json& sel);
// FieldError::Invalid with a label selector as the bad value.
FieldError InvalidSelector(std::string path, const Json& sel, std::string detail);

// Messages as upstream util/validation.
std::vector<std::string> IsDNS1123Label(std::string_view v);
std::vector<std::string> IsDNS1123Subdomain(std::string_view v);
std::vector<std::string> IsDNS1035Label(std::string_view v);
std::vector<std::string> IsQualifiedName(std::string_view v);
std::vector<std::string> IsValidLabelValue(std::string_view v);
std::vector<std::string> IsValidPortNum(long long port);
std::vector<std::string> IsValidPortName(std::string_view v);
std::vector<std::string> IsRelaxedEnvVarName(std::string_view v);
std::vector<std::string> IsConfigMapKey(std::string_view v);
std::vector<std::string> IsValidPathSegmentName(std::string_view v);
std::vector<std::string> IsValidPercent(std::string_view v);
std::string InclusiveRangeError(long long lo, long long hi);
std::string MaxLenError(int n);

// Name rules by the names used in NameRule(): "dns1123subdomain", "dns1123label",
// "path-segment". `prefix` is true for generateName (a trailing '-' is allowed).
std::vector<std::string> CheckName(std::string_view rule, std::string_view name, bool prefix);

// A resource.Quantity string parsed to its value (nullopt if it does not parse).
std::optional<long double> ParseQuantity(std::string_view s);
inline constexpr const char* kQuantityRegexError =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

// Path helpers: Child("spec", "replicas") == "spec.replicas"; Index("a", 2) == "a[2]";
// Key("a", "cpu") == "a[cpu]".
std::string Child(std::string_view path, std::string_view name);
std::string Index(std::string_view path, size_t i);
std::string Key(std::string_view path, std::string_view key);

// Typed reads that never throw.
bool IsInt(const Json* v);
long long IntOr(const Json* v, long long def);
std::string StrOr(const Json* v, std::string_view def = "");
const Json& EmptyObject();
const Json& EmptyArray();
// obj[key] when obj is an object holding an object/array there, else an empty one.
const Json& ObjAt(const Json& obj, std::string_view key);
const Json& ArrAt(const Json& obj, std::string_view key);

// Generic field rules.
void ValidateNonnegative(const Json* v, const std::string& path, FieldErrors& errs);
void ValidateLabels(const Json& labels, const std::string& path, FieldErrors& errs);
void ValidateAnnotations(const Json& annotations, const std::string& path, FieldErrors& errs);
// metav1.LabelSelector (matchLabels + matchExpressions).
void ValidateLabelSelector(const Json& sel, const std::string& path, FieldErrors& errs);
// true when the label selector selects `labels` (empty selector selects everything).
bool SelectorMatches(const Json& sel, const Json& labels);
bool SelectorEmpty(const Json& sel);
// Invalid(path, new, "field is immutable") when new != old (both may be missing).
void ValidateImmutable(const Json* now, const Json* old, const std::string& path, FieldErrors& errs);
// A map of resource name -> quantity (requests, limits, hard): each must parse and be >= 0.
void ValidateResourceList(const Json& list, const std::string& path, FieldErrors& errs);

inline constexpr const char* kImmutable = "field is immutable";
inline constexpr const char* kNegative = "must be greater than or equal to 0";

}  // namespace tug::api::validation
