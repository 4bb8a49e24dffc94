// Deployment rollout arithmetic, as upstream's pkg/controller/deployment/util: maxSurge /
// maxUnavailable resolution (int or percent, surge rounded up and unavailable rounded down),
// the pod-template-hash, revision annotations and proportional scaling. Pure functions over the
// JSON documents (Deployment, ReplicaSet) so they are table-testable without an API server.
//
// Thread-safety: free functions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace tug::controllers::deployment {

inline constexpr char kRevisionAnnotation[] = "deployment.kubernetes.io/revision";
inline constexpr char kRevisionHistoryAnnotation[] = "deployment.kubernetes.io/revision-history";
inline constexpr char kDesiredReplicasAnnotation[] = "deployment.kubernetes.io/desired-replicas";
inline constexpr char kMaxReplicasAnnotation[] = "deployment.kubernetes.io/max-replicas";
inline constexpr char kPodTemplateHashLabel[] = "pod-template-hash";
inline constexpr size_t kMaxRevHistoryLengthInChars = 2000;

// Condition reasons (upstream deploymentutil).
inline constexpr char kNewReplicaSetReason[] = "NewReplicaSetCreated";
inline constexpr char kFoundNewRSReason[] = "FoundNewReplicaSet";
inline constexpr char kReplicaSetUpdatedReason[] = "ReplicaSetUpdated";
inline constexpr char kNewRSAvailableReason[] = "NewReplicaSetAvailable";
inline constexpr char kTimedOutReason[] = "ProgressDeadlineExceeded";
inline constexpr char kPausedDeployReason[] = "DeploymentPaused";
inline constexpr char kResumedDeployReason[] = "DeploymentResumed";
inline constexpr char kFailedRSCreateReason[] = "ReplicaSetCreateError";
inline constexpr char kMinimumReplicasAvailable[] = "MinimumReplicasAvailable";
inline constexpr char kMinimumReplicasUnavailable[] = "MinimumReplicasUnavailable";

// intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of total rounded up or down.
Result<int64_t> ScaledValue(const Json* int_or_percent, int64_t total, bool round_up);
// (surge, unavailable) for the deployment; both 0 becomes unavailable 1 (upstream fenceposts).
std::pair<int64_t, int64_t> ResolveFenceposts(const Json& d);
int64_t MaxSurge(const Json& d);        // 0 unless RollingUpdate
int64_t MaxUnavailable(const Json& d);  // 0 unless RollingUpdate with replicas > 0; <= replicas
bool IsRollingUpdate(const Json& d);
int64_t Replicas(const Json& obj);      // spec.replicas (default 1)

// The pod-template-hash of a template: FNV-1a (32-bit) over the template's canonical JSON (keys
// sorted; the pod-template-hash label itself excluded) plus collisionCount, rendered as upstream's
// rand.SafeEncodeString of the decimal value.
std::string ComputeHash(const Json& pod_template, std::optional<int64_t> collision_count);
std::string SafeEncodeString(const std::string& s);
// Templates equal once the pod-template-hash label is removed from both.
bool EqualIgnoreHash(const Json& a, const Json& b);

int64_t Revision(const Json& rs);  // the revision annotation (0 if absent or bad)
// Copies deployment annotations to the RS (except revision/desired/max/last-applied...), raises
// the RS revision to `new_revision` (recording the old one in revision-history when reused), and
// for a new RS sets desired/max replicas annotations. Returns true when the RS changed.
bool SetNewReplicaSetAnnotations(const Json& d, Json& rs, const std::string& new_revision, bool exists);
// desired-replicas/max-replicas annotations; returns true when they changed.
bool SetReplicasAnnotations(Json& rs, int64_t desired, int64_t max);
bool ReplicasAnnotationsNeedUpdate(const Json& rs, int64_t desired, int64_t max);
std::optional<int64_t> IntAnnotation(const Json& obj, const char* key);

// Replicas the new RS should have now (RollingUpdate: bounded by maxSurge; Recreate: all).
int64_t NewRSNewReplicas(const Json& d, const std::vector<const Json*>& all_rss, const Json& new_rs);
// The share of `to_add` for one RS in proportional scaling (upstream GetReplicaSetProportion).
int64_t ReplicaSetProportion(const Json& rs, const Json& d, int64_t to_add, int64_t added);

// Sums over RS lists (null entries skipped).
int64_t SpecReplicas(const std::vector<const Json*>& rss);
int64_t StatusReplicas(const std::vector<const Json*>& rss);
int64_t ReadyReplicas(const std::vector<const Json*>& rss);
int64_t AvailableReplicas(const std::vector<const Json*>& rss);

// Status checks (upstream DeploymentComplete, DeploymentProgressing, DeploymentTimedOut).
bool DeploymentComplete(const Json& d, const Json& new_status);
bool DeploymentProgressing(const Json& d, const Json& new_status);

}  // namespace tug::controllers::deployment
