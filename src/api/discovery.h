// Discovery documents built from the Registry (kubectl-wire.md §1): legacy APIVersions,
// APIGroupList and APIResourceList, and aggregated discovery (apidiscovery.k8s.io v2 and
// v2beta1). Pure functions of the registry; callers cache the serialized results.
#pragma once

#include <string>
#include <string_view>

#include "api/schema.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::api {

// GET /api
Json LegacyApiVersions(const std::string& server_address);
// GET /apis
Json ApiGroupList(const Registry& reg);
// GET /api/v1 or /apis/<group>/<version>. NotFound for an unknown group-version.
Result<Json> ApiResourceList(const Registry& reg, std::string_view group, std::string_view version);
// GET /api or /apis with an aggregated Accept. core=true: the single unnamed core group;
// version: "v2" or "v2beta1".
Json AggregatedDiscovery(const Registry& reg, bool core, std::string_view version);

}  // namespace tug::api
