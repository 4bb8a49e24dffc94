// api::Strategy — the per-kind behaviour the generic API server calls (DESIGN.md §4): upstream
// defaulting (SetDefaults_*), validation beyond the schema, what create/update may change,
// Table columns and rows, and field-selector fields. One Strategy per (group, kind); the
// generic fallback serves every kind without one (and CRDs).
//
// Every method works on the JSON document of the object at its *storage* version and never
// drops fields it does not know (typed views over the document, never lossy structs).
//
// Thread-safety: strategies are stateless and shared; all methods are const and reentrant.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/field_error.h"
#include "base/clock.h"
#include "base/json.h"

namespace tug::api {

struct TableColumn {
  std::string name;         // "Name", "Ready", ...
  std::string type;         // "string", "integer", "date", "number", "boolean"
  std::string format;       // "name" for the Name column, else ""
  std::string description;  // tug's own short text
  int priority = 0;         // 1: only with -o wide
};

class Strategy {
 public:
  virtual ~Strategy() = default;

  // Upstream defaulting, applied to the decoded body of every create and update (and to the
  // result of a patch) before validation. Idempotent.
  virtual void Default(Json& obj) const {}

  // Create: reset what a client may not set (e.g. status for kinds with a status
  // subresource, where upstream does the same).
  virtual void PrepareForCreate(Json& obj) const {}
  // Update of the main resource: e.g. keep the old status when there is a status subresource.
  virtual void PrepareForUpdate(Json& obj, const Json& old) const {}
  // Update through the status subresource: keep the old spec/metadata except status.
  virtual void PrepareForStatusUpdate(Json& obj, const Json& old) const {}

  // Validation with upstream messages. ObjectMeta (name, namespace, labels, annotations) is
  // validated here too, via ValidateObjectMeta below.
  virtual FieldErrors Validate(const Json& obj) const { return {}; }
  // Immutable fields and update rules; called in addition to Validate(new).
  virtual FieldErrors ValidateUpdate(const Json& obj, const Json& old) const { return {}; }

  // Table: the upstream column set for the kind, and one row of cells for an object.
  virtual std::vector<TableColumn> Columns() const;
  virtual Json Row(const Json& obj, SystemTime now) const;

  // The value of a field-selector field (e.g. "status.phase", "spec.nodeName",
  // "involvedObject.name"), or nullopt when the kind does not support that field.
  // metadata.name and metadata.namespace are handled for every kind by the caller.
  virtual std::optional<std::string> FieldValue(const Json& obj, std::string_view field) const {
    return std::nullopt;
  }
};

// The strategy for a kind (group "" = core). Never null: unknown kinds get the generic one
// (Name + Age columns, metadata validation only).
const Strategy& StrategyFor(std::string_view group, std::string_view kind);

// Shared helpers for strategies.
// metadata.name / generateName / namespace / labels / annotations, as upstream ValidateObjectMeta.
// `name_check` is the name rule of the kind: "dns1123subdomain" (default), "dns1123label",
// "path-segment" (names that only must not contain "/" or be "." / "..").
FieldErrors ValidateObjectMeta(const Json& obj, bool namespaced, std::string_view name_check = "dns1123subdomain");
// The generic "Age" cell from metadata.creationTimestamp.
std::string AgeCell(const Json& obj, SystemTime now);

// Rows that outlive the moment they were rendered (the API server caches one per object so a
// Table LIST is a concatenation): render with `now == kDeferredNow`, and every "time since T"
// in a cell becomes a marker ("\u0001<unix seconds of T>\u0002" once serialized as JSON) that
// ResolveDeferredTimes later replaces with the human duration at the real now. Every printer
// goes through the same helper for durations, so cached rows are exact.
inline constexpr SystemTime kDeferredNow = SystemTime(std::chrono::seconds(-1));
// Replaces the markers in serialized row JSON; text without markers is returned unchanged.
std::string ResolveDeferredTimes(std::string_view row_json, SystemTime now);
// Appends the resolved text to out (no temporary).
void AppendResolvedTimes(std::string& out, std::string_view row_json, SystemTime now);

}  // namespace tug::api
