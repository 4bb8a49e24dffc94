// OpenAPI v3 documents built from the Registry (kubectl-wire.md §4): the index at /openapi/v3
// and one document per group-version, with PATCH operations that list fieldValidation and the
// strategic-merge media type, x-kubernetes-group-version-kind on schemas and operations, and
// the merge/list-type extensions on fields. Descriptions are tug's own.
#pragma once

#include <map>
#include <string>

#include "api/schema.h"

namespace tug::api {

struct OpenApiV3 {
  // Serialized document per path key: "api/v1", "apis/apps/v1", ...
  std::map<std::string, std::string> documents;
  // Content hash per path key (hex), used in serverRelativeURL "?hash=".
  std::map<std::string, std::string> hashes;
  // Serialized index: {"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=..."}}}
  std::string index;
};

OpenApiV3 BuildOpenApiV3(const Registry& reg);

}  // namespace tug::api
