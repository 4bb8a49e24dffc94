// Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes strategic merge
// patch (with $patch, $retainKeys, $setElementOrder/<list>, $deleteFromPrimitiveList/<list>,
// and patchStrategy/patchMergeKey taken from the schema).
//
// Errors: BadRequest for a malformed patch; Invalid/Conflict semantics are the caller's.
// JSON patch `test` failures and missing paths are Invalid, as upstream answers 422.
// Thread-safety: pure functions.
#pragma once

#include "api/schema.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::api {

Result<Json> ApplyJsonPatch(const Json& doc, const Json& patch);
Result<Json> ApplyMergePatch(const Json& doc, const Json& patch);
// `type` is the schema of doc's root (may be null: lists are then replaced, as in merge patch,
// and directives still apply).
Result<Json> ApplyStrategicMergePatch(const Json& doc, const Json& patch, const TypeDef* type);

}  // namespace tug::api
