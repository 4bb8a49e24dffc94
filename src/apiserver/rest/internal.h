// Internal helpers of the REST layer shared by handler.cc and its tests: object metadata
// (uid, generateName, managedFields), content negotiation, continue tokens.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/json.h"
#include "base/status.h"

namespace tug::apiserver::rest {

// Random RFC 4122 v4 UUID.
std::string NewUid();
// 5 random characters from upstream's generateName alphabet ("bcdfghjklmnpqrstvwxz2456789").
std::string RandomNameSuffix();

// fieldsV1 set of every field of v ({"f:spec":{"f:replicas":{}}}).
Json FieldSetOf(const Json& v);
// fieldsV1 set of the fields that differ between old and new (added or changed).
Json ChangedFieldSet(const Json& old_v, const Json& new_v);
// The fields a manager owns for the managedFields entry: top-level kind/apiVersion and
// system metadata excluded; status only when for_status.
Json ManagedView(const Json& obj, bool for_status);
// Updates (or adds) the entry of manager/operation/subresource in obj.metadata.managedFields,
// adding the fields changed between old (null on create) and obj. operation: "Update" or
// "Apply" (apply-patch requests).
void RecordManagedFields(Json& obj, const Json* old, const std::string& manager, const std::string& api_version,
                         const std::string& subresource, const std::string& now,
                         const std::string& operation = "Update");

// Accept header negotiation.
struct Negotiated {
  bool table = false;
  std::string table_version;  // "v1" or "v1beta1"
  bool acceptable = true;     // false: nothing in Accept can be produced (406)
};
Negotiated NegotiateObject(std::string_view accept);
// Discovery: "v2", "v2beta1" or "" (legacy).
std::string NegotiateDiscovery(std::string_view accept);

// Continue tokens: base64url(JSON {"v":"meta.k8s.io/v1","rv":N,"start":"<key>"}).
std::string EncodeContinue(const std::string& key, int64_t rev);
Status DecodeContinue(std::string_view token, std::string* key, int64_t* rev);

}  // namespace tug::apiserver::rest
