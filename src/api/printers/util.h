// api::printers — shared helpers for Table rows, field selectors and strategies: safe typed
// reads over the JSON document (never throwing, missing = zero value), upstream formatting of
// label maps and label selectors, container name/image cells, and resource quantities.
//
// Ownership: free functions over caller-owned documents; nothing is retained.
// Thread-safety: stateless and reentrant.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/json.h"

namespace tug::api::printers {

// Typed reads. A missing key or a value of another JSON type gives the zero value.
const Json* At(const Json& j, std::initializer_list<std::string_view> path);
std::string Str(const Json& j, std::initializer_list<std::string_view> path);
int64_t Int(const Json& j, std::initializer_list<std::string_view> path, int64_t def = 0);
bool Bool(const Json& j, std::initializer_list<std::string_view> path, bool def = false);
// The array at path, or a shared empty array.
const Json& Arr(const Json& j, std::initializer_list<std::string_view> path);
// The object at path, or a shared empty object.
const Json& Obj(const Json& j, std::initializer_list<std::string_view> path);
bool Has(const Json& j, std::initializer_list<std::string_view> path);

// A parsed RFC 3339 timestamp at path, or nullopt when missing/unparsable.
std::optional<SystemTime> Time(const Json& j, std::initializer_list<std::string_view> path);
// HumanDuration(now - t) for the timestamp at path, "<unknown>" when missing (upstream
// translateTimestampSince).
std::string Since(const Json& j, std::initializer_list<std::string_view> path, SystemTime now);
std::string SinceTime(SystemTime t, SystemTime now);
// A row's cells as a JSON array.
Json Cells(std::initializer_list<Json> cells);
// metadata.name, and the Age cell from metadata.creationTimestamp.
std::string Name(const Json& o);
std::string Age(const Json& o, SystemTime now);

// labels.FormatLabels: "a=b,c=d" sorted by key; "<none>" when empty.
std::string FormatLabels(const Json& map);
// The label selector's String() (metav1.LabelSelectorAsSelector(s).String()): requirements
// sorted by key; "" for an empty or missing selector. Sets *invalid on an unknown operator.
std::string LabelSelectorString(const Json* selector, bool* invalid = nullptr);
// metav1.FormatLabelSelector: like LabelSelectorString but "<none>" when empty, "<error>" when
// invalid.
std::string FormatLabelSelector(const Json* selector);
// layoutContainerCells: names and images joined by ",".
void ContainerCells(const Json& containers, std::string* names, std::string* images);
// intstr.IntOrString as a string (int printed bare).
std::string IntOrString(const Json* v);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
std::string ToLower(std::string_view s);

// resource.Quantity parsed into nano-units (1 = 1e-9 of the base unit). nullopt when the
// text is not a quantity. Enough range for every real-world value (exabytes, int128).
std::optional<__int128> ParseQuantityNano(std::string_view text);
// The quantity at j (a JSON string, or a number on input).
std::optional<__int128> QuantityNano(const Json* j);
// A quantity as text for printing: the stored string as-is, numbers bare.
std::string QuantityText(const Json* j);

// helper.GetAccessModesAsString: "RWO,ROX,RWX,RWOP" in that fixed order, no duplicates.
std::string AccessModesString(const Json& modes);

}  // namespace tug::api::printers
