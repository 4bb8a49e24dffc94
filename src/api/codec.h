// Decoders and encoders for request and response bodies: YAML, Kubernetes protobuf, and the
// schema check that upstream's typed decoding performs (unknown fields, wrong types).
//
// No function here throws; bad input is a BadRequest Status whose message says what and where.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/schema.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::api {

// JSON text -> document, also reporting keys that occur twice in one object (as paths like
// "spec.replicas"), which upstream's strict decoding reports as errors.
Result<Json> DecodeJson(std::string_view text, std::vector<std::string>* duplicate_fields = nullptr);

// YAML (first document) -> JSON document, as sigs.k8s.io/yaml converts it.
Result<Json> YamlToJson(std::string_view text);

// True if the body starts with the Kubernetes protobuf magic "k8s\0".
bool IsProtobuf(std::string_view body);
// "k8s\0" + runtime.Unknown{typeMeta, raw, contentEncoding, contentType} -> JSON object with
// apiVersion and kind set, decoded by the schema of that kind (Registry::KindType).
Result<Json> DecodeProtobuf(const Registry& reg, std::string_view body);
// The reverse, for responses to clients that ask for protobuf. NotAcceptable if the kind
// has no protobuf schema.
Result<std::string> EncodeProtobuf(const Registry& reg, const Json& obj);

struct SchemaCheck {
  std::vector<std::string> unknown_fields;  // paths, e.g. "spec.template.spec.containers[0].foo"
};
// Checks obj against type the way upstream's decoder would: wrong JSON types are errors
// (BadRequest, e.g. `json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`);
// unknown fields are removed from obj (upstream drops them) and listed.
// `apiVersion` and `kind` at the top level are always known.
Result<SchemaCheck> NormalizeToSchema(Json& obj, const TypeDef& type);

}  // namespace tug::api
