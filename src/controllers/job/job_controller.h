// The Job controller (batch/v1), with upstream kube-controller-manager 1.33 semantics: runs pods
// until `completions` succeed (at most `parallelism` at once), NonIndexed or Indexed completion
// mode, backoffLimit with exponential re-create back-off, activeDeadlineSeconds, podFailurePolicy
// (FailJob / Ignore / Count on exit codes and pod conditions), suspend, and
// ttlSecondsAfterFinished (the TTL-after-finished controller's job, done here).
//
// Pods are counted through the job-tracking finalizer protocol (batch.kubernetes.io/job-tracking):
// a terminated pod is first recorded in status.uncountedTerminatedPods (or completedIndexes),
// then its finalizer is removed, then it moves into status.succeeded/failed. A crash between the
// steps never loses or double-counts a pod. A finished job gets the interim condition
// SuccessCriteriaMet / FailureTarget first and Complete / Failed once no pod is left running.
//
// Ownership: borrows the ControllerContext's client, informers and clock.
// Thread-safety: as framework::Controller (Sync per key on one worker at a time); the in-memory
// back-off records and finalizer expectations are guarded by mu_.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controllers/framework/controller.h"

namespace tug::controllers::job {

inline constexpr char kTrackingFinalizer[] = "batch.kubernetes.io/job-tracking";
inline constexpr char kCompletionIndexAnnotation[] = "batch.kubernetes.io/job-completion-index";
inline constexpr char kControllerUidLabel[] = "batch.kubernetes.io/controller-uid";
inline constexpr char kJobNameLabel[] = "batch.kubernetes.io/job-name";

struct JobOptions {
  // Delay before re-creating pods after failures: base * 2^(failures-1), capped (upstream 10s/6m).
  std::chrono::milliseconds pod_failure_backoff{10000};
  std::chrono::milliseconds max_pod_failure_backoff{360000};
  // Pods created per sync at most (upstream MaxPodCreateDeletePerSync).
  int max_pods_per_sync = 500;
};

class JobController : public framework::Controller {
 public:
  JobController(const framework::ControllerContext& ctx, JobOptions opts = {});
  ~JobController() override;

 protected:
  Status Sync(const std::string& key) override;

 private:
  struct BackoffRecord {
    int failures_after_success = 0;
    SystemTime last_failure{};
  };

  enum class PodEvent { kAdd, kUpdate, kDelete };
  void OnPod(const client::ObjectPtr& pod, PodEvent ev);
  Status DeletePods(const Json& job, const std::string& key, const std::vector<client::ObjectPtr>& pods);
  Status SyncJob(const Json& job, const std::string& key);
  Status CleanupOrphanPods(const std::string& ns, const std::string& name);
  Status RemoveFinalizer(const Json& pod);
  Status DeletePod(const Json& job, const Json& pod);
  Status CreatePods(const Json& job, const std::string& key, int count, const std::vector<int64_t>& indexes);
  Status HandleTtl(const Json& job, const std::string& key);
  void NoteWritten(const std::string& key, const Json& written);

  JobOptions opts_;
  client::Informer* jobs_;
  client::Informer* pods_;
  std::string pod_index_;  // pods by controller uid (and orphans by namespace)
  framework::Expectations expectations_;
  std::mutex mu_;
  std::map<std::string, BackoffRecord> backoff_;           // job key -> record
  std::map<std::string, std::set<std::string>> removing_;  // job key -> pod uids losing the finalizer
  std::map<std::string, uint64_t> written_rv_;             // job key -> resourceVersion of our last status write
};

std::unique_ptr<framework::Controller> NewJobController(const framework::ControllerContext& ctx);

// --- pure helpers (exposed for tests) -------------------------------------------------------

// "1,3-5,7" <-> {1,3,4,5,7}; indexes >= completions are dropped when parsing.
std::string FormatIndexes(const std::set<int64_t>& ix);
std::set<int64_t> ParseIndexes(std::string_view s, int64_t completions);
// The pod's completion index (annotation, else label), or -1.
int64_t CompletionIndex(const Json& pod);

// Result of evaluating spec.podFailurePolicy against a Failed pod.
struct PolicyMatch {
  std::string action;   // "FailJob", "FailIndex", "Ignore", "Count"
  bool count_failed = true;
  std::string message;  // for FailJob: the Failed condition's message
};
std::optional<PolicyMatch> MatchPodFailurePolicy(const Json& policy, const Json& pod);

// When the pod finished (latest container finishedAt, else the Ready condition's transition time),
// for the re-create back-off.
std::optional<SystemTime> PodFinishTime(const Json& pod);

}  // namespace tug::controllers::job
