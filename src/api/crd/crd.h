// api::crd — CustomResourceDefinitions, the library side (issue 4 item 2): turning established
// CRDs into registry entries, validating CRDs and custom objects against their structural
// schemas, defaulting/pruning, printer-column rows and the CRD status conditions.
//
// CRDs and custom objects are JSON documents (DESIGN.md): everything here reads the documents
// directly; nothing decodes into lossy structs.
//
// Ownership: functions return values; a registry built by WithCrds owns copies of everything it
// needs (it does not reference `builtin` after returning).
// Thread-safety: all functions are reentrant; they keep no state.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/field_error.h"
#include "api/schema.h"
#include "api/strategy.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::api::crd {

// One additionalPrinterColumns entry of a CRD version.
struct CrdColumn {
  std::string name;
  std::string type;         // integer, number, string, boolean, date
  std::string format;
  std::string description;
  std::string json_path;    // ".spec.replicas"
  int priority = 0;
};
using CrdColumns = std::vector<CrdColumn>;

// The schema of one CRD version: its openAPIV3Schema (a JSON object; empty object = none).
struct CrdVersionSchema {
  Json schema = Json::object();
};

// The version entry of `crd` named `version`, or nullptr.
const Json* FindVersion(const Json& crd, std::string_view version);
CrdVersionSchema SchemaFor(const Json& crd, std::string_view version);
// The printer columns of a version; when the CRD lists none, upstream's default: one "Age"
// column (date, .metadata.creationTimestamp).
CrdColumns ColumnsFor(const Json& crd, std::string_view version);
// Table column definitions for a column set: "Name" (format name) first, then the columns.
std::vector<TableColumn> TableColumns(const CrdColumns& columns);
// One Table row's cells (the Name cell first), with upstream's formatting: missing values are
// null cells, integer/number/boolean typed, string columns print the value, date columns are
// ages through printers::SinceTime (so deferred rendering works), "<invalid>" for bad dates.
Json CrdRow(const CrdColumns& columns, const Json& obj, SystemTime now);
// Evaluates the simple JSONPath subset allowed in printer columns (".a.b", ".a[0].b",
// ".a['x.y']", "{.a.b}"); nullptr when the path does not resolve.
const Json* EvalJsonPath(const Json& obj, std::string_view path);

// A new registry: `builtin` plus every served version of every CRD in `established_crds` as a
// ResourceDef (names, scope, verbs, status/scale subresources, storage version) with a TypeDef
// tree generated from the version's openAPIV3Schema (type names "<reversed group>.<version>.
// <Kind>" and "...<Kind>.<path>" for nested objects). Fails on a CRD that does not describe a
// servable resource (callers pass only CRDs that passed ValidateCrd).
Result<std::shared_ptr<const Registry>> WithCrds(const Registry& builtin, const std::vector<Json>& established_crds);

// CRD validation with upstream's messages: names, group, scope, versions (exactly one storage
// version, unique names, at least one served), conversion (strategy None only), structural
// schema rules and printer columns.
FieldErrors ValidateCrd(const Json& crd);
// ValidateCrd plus immutability (spec.group, spec.scope, spec.names.kind is allowed to change
// only before the CRD is established — tug keeps it simple: group and scope immutable).
FieldErrors ValidateCrdUpdate(const Json& crd, const Json& old_crd);
// Structural-schema checks of one openAPIV3Schema (`path` is the field path of the schema).
FieldErrors ValidateStructural(const Json& schema, const std::string& path);

// Validates a custom object against a version's schema; lists every violation
// (`spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`).
// apiVersion/kind/metadata are not checked here (the generic object-meta validation does).
FieldErrors ValidateCustomObject(const CrdVersionSchema& schema, const Json& obj);
// Applies `default`s for absent properties and prunes fields the schema does not describe
// (unless x-kubernetes-preserve-unknown-fields); keeps apiVersion, kind and metadata at the
// root (and in x-kubernetes-embedded-resource objects).
void DefaultAndPrune(const CrdVersionSchema& schema, Json& obj);

// The status a CRD should have in `current` (the serving registry): conditions NamesAccepted
// (NoConflicts, or a conflict message) and Established (InitialNamesAccepted), acceptedNames
// and storedVersions. Keeps other status fields and each condition's lastTransitionTime when
// its status is unchanged.
Json CrdStatusFor(const Json& crd, const Registry& current);
// Same, with an explicit clock (tests).
Json CrdStatusFor(const Json& crd, const Registry& current, SystemTime now);
// True when the CRD's status has Established=True.
bool IsEstablished(const Json& crd);

}  // namespace tug::api::crd
