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
