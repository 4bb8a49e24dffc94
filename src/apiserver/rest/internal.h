// Internal helpers of the REST layer shared by handler.cc and its tests: object metadata
// (uid, generateName, managedFields), content negotiation, continue tokens, the edit a pod
// binding makes.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
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

// pods/NAME/binding: the edit a binding makes to the pod. BindPodJson sets spec.nodeName and
// marks the PodScheduled condition True at `now` (appending it when absent).
void BindPodJson(Json& pod, const std::string& node, const std::string& now);
// The same edit on the stored bytes, without parsing them (the binding hot path): for a pod
// with no spec.nodeName, no status.conditions and no metadata.deletionTimestamp (a pending
// pod's usual shape) it returns the pod with spec.nodeName and a PodScheduled=True condition
// spliced in at their sorted positions and metadata.resourceVersion removed, byte for byte what
// DumpJson gives for BindPodJson's result without resourceVersion when `stored` is DumpJson
// output. Any other shape (already bound, being deleted, existing conditions, escaped keys,
// malformed text): nullopt, and the caller takes the parsing path, which also reports the
// conflicts. When `uid` is not null it receives the stored metadata.uid (empty when absent or
// escaped), so a binding's uid precondition (upstream's DefaultBinder always sends one) is
// checked without a parse.
std::optional<std::string> SpliceBinding(std::string_view stored, const std::string& node, const std::string& now,
                                         std::string* uid = nullptr);

}  // namespace tug::apiserver::rest
