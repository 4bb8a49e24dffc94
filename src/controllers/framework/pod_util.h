// Pod helpers shared by the workload controllers: creating a pod from a controller's template
// (upstream's GetPodFromTemplate), and the readiness/availability predicates of podutil.
//
// Thread-safety: free functions over immutable inputs.
#pragma once

#include <chrono>
#include <string>
#include <optional>
#include <string_view>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "client/client.h"

namespace tug::controllers::framework {

// A Pod built from `pod_template` (a PodTemplateSpec: {metadata, spec}) for `owner`:
// metadata.generateName "<owner name>-" (as upstream: the prefix is the owner's name plus a dash),
// namespace of the owner, labels/annotations/finalizers copied from the template, ownerReferences
// [controller_ref] (when not null), spec copied. Unknown template fields survive.
Json PodFromTemplate(const Json& pod_template, const Json& owner, const Json& controller_ref);
// Creates the pod through the API (POST). Returns the created pod.
Result<Json> CreatePodFromTemplate(const client::Client& c, const Json& pod_template, const Json& owner,
                                   const Json& controller_ref);

// The API server refused a create because the namespace is terminating (upstream's
// NamespaceTerminatingCause): controllers neither retry nor record an event for it.
bool IsNamespaceTerminating(const Status& st);

// phase neither Succeeded nor Failed, and no deletionTimestamp (upstream IsPodActive).
bool IsPodActive(const Json& pod);
// status.conditions has Ready=True.
bool IsPodReady(const Json& pod);
// Ready for at least min_ready_seconds at `now` (by the Ready condition's lastTransitionTime).
bool IsPodAvailable(const Json& pod, int64_t min_ready_seconds, SystemTime now);
// When the pod will become available (Ready transition + minReadySeconds); nullopt if not ready.
std::optional<SystemTime> PodAvailableAt(const Json& pod, int64_t min_ready_seconds);

// A status condition of `type` in obj.status.conditions, or null.
const Json* FindCondition(const Json& obj, std::string_view type);
// A status condition: type, status, reason, message, lastTransitionTime (now).
Json MakeCondition(std::string_view type, std::string_view status, std::string_view reason, std::string_view message,
                   SystemTime now);
// Sets a condition in status.conditions with upstream's SetDeploymentCondition semantics: the
// same status and reason as present is no change (false); otherwise the condition is replaced and
// moved to the end, keeping lastTransitionTime when the status is unchanged; lastUpdateTime is
// set when `with_update_time`. Returns true when the document changed.
bool SetCondition(Json& obj, std::string_view type, std::string_view status, std::string_view reason,
                  std::string_view message, SystemTime now, bool with_update_time);
bool RemoveCondition(Json& obj, std::string_view type);

// Writes `status` (a partial PodStatus: conditions merge by type, as the API's strategic merge
// patch does) to the pod's status subresource. The control loops' cached pods lack status
// fields they never read (client::StripForControlLoops), so they change a pod's status only
// this way, never by sending the cached pod back. With `if_unchanged`, the pod's cached
// resourceVersion is a precondition (409 Conflict when the pod changed since).
Result<Json> PatchPodStatus(const client::Client& c, const Json& pod, Json status, bool if_unchanged = false);

// Integer field helpers that tolerate absent/odd values.
int64_t GetInt(const Json& obj, std::initializer_list<std::string_view> path, int64_t def = 0);

}  // namespace tug::controllers::framework
