// Internal helpers of the REST layer shared by handler.cc and its tests: object metadata
// (uid, generateName, managedFields), content negotiation, continue tokens, the edit a pod
// binding makes.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

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

// True when `text` is a JSON object or array in which every object, at every level (down to a
// nesting of 64), has distinct keys: a plain parse then gives the document that a decode
// reporting duplicate fields would, with nothing to report. False when a key repeats, a key is
// escaped (compared only unescaped), the nesting is deeper or the text is malformed; the caller
// then takes the duplicate-reporting decode (which also words the errors).
bool KeysDistinct(std::string_view text);

// The managedFields of a create: one Update entry of its manager whose fieldsV1 is every
// tracked field of the object. That set depends only on the object's shape: its keys at every
// level, which values are null (null is absent) and the whole content of its lists (list keys
// and set members appear in fieldsV1), never on the other scalars' values. ManagedFieldsShape
// writes that shape as text, injectively (keys length-prefixed), so creates of same-shaped
// objects (a recorder's Events, a ReplicaSet's pods) can reuse the entry computed for the first.
std::string ManagedFieldsShape(const Json& obj);

// Bounded memo of create managedFields by (resource, manager, shape) key; the entry's time is
// the only part that differs between hits. Thread-safe.
class ManagedFieldsMemo {
 public:
  static constexpr size_t kMaxEntries = 256;  // when full, everything is forgotten at once
  // The remembered managedFields array with its entry's time set to `now`; nullopt on a miss.
  std::optional<Json> Find(const std::string& key, const std::string& now) const;
  // Remembers `managed_fields` (an array of exactly one entry) for key.
  void Remember(std::string key, const Json& managed_fields);

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Json>> entries_;  // GUARDED_BY(mu_)
};

}  // namespace tug::apiserver::rest
