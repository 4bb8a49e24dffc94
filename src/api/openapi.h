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

// OpenAPI v2 (Swagger 2.0): one document for every group-version, derived from the v3
// documents. kubectl 1.27 (and older) `apply`, `create -f` and `explain` fetch GET /openapi/v2
// with Accept application/com.github.proto-openapi.spec.v2@v1.0+protobuf and fail when it is
// missing; serve `proto` for that Accept (Content-Type
// application/com.github.proto-openapi.spec.v2.v1.0+protobuf) and `json` otherwise.
struct OpenApiV2 {
  std::string json;   // Swagger 2.0 JSON
  std::string proto;  // the same document as gnostic openapi.v2.Document protobuf bytes
  std::string hash;   // hex content hash of `json` (usable as an ETag)
};

OpenApiV2 BuildOpenApiV2(const Registry& reg);

}  // namespace tug::api
