// Pod workers: make the pods bound to this node (spec.nodeName) run on the Runtime and report
// their status, as upstream kubelet's syncPod/SyncTerminatingPod: sandbox (hostname,
// resolv.conf, /etc/hosts), image pull per imagePullPolicy, init containers in order, then the
// app containers, restarts per restartPolicy with CrashLoopBackOff, pod status, and graceful
// deletion (SIGTERM, grace period, SIGKILL, sandbox removal, DELETE with gracePeriodSeconds=0).
//
// Env (valueFrom, envFrom), resources -> cgroup values and securityContext: container_config.h.
// Probes (kubelet/prober): readiness/startup results drive containerStatuses[].ready/started and
// the Ready/ContainersReady conditions; a liveness/startup failure kills the container (preStop,
// grace period from the probe or the pod) and the restart policy restarts it. Lifecycle hooks:
// postStart after the start (failure kills the container, FailedPostStartHook), preStop before
// every kill within the grace period (at least 2 s remain for SIGTERM after it).
//
// Threading: a WorkQueue keyed by pod key ("ns/name") served by `workers` shared threads; a key
// is never synced by two threads at once. Each sync is level-based: it reads the pod from the
// informer cache and the runtime's state and converges; it requeues itself every
// resync_interval while the pod exists. Slow work (as upstream's goroutine per pod, it must
// never delay another pod): a termination (the grace period), an image pull, a liveness kill
// and a postStart hook. A shared worker that reaches such a step hands the key to a thread of
// the pod's own, which runs the whole sync again with slow steps allowed and exits; while it
// exists, the key's queue entries are only noted and re-queued when it ends. So the idle
// agent has `workers` threads, and a pod thread lives only as long as its slow work.
// Ownership: borrows Client, Runtime, ImageStore; owns the informer factory and threads
// (Stop joins the workers, then waits for every pod thread: at most a grace period).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "client/client.h"
#include "client/events.h"
#include "client/informer.h"
#include "client/workqueue.h"
#include "kubelet/volumes/volumes.h"
#include "kubelet/prober/prober.h"
#include "runtime/image/image_store.h"
#include "runtime/runtime.h"

namespace tug::kubelet {

struct PodWorkersOptions {
  std::string node_name;
  std::string node_ip;
  std::string pods_dir;   // <data_dir>/pods: per-pod etc files and container logs
  std::string cluster_dns = "10.43.0.10";
  std::string cluster_domain = "cluster.local";
  std::string cgroup_parent = "/tug";
  int64_t node_memory_bytes = 0;  // for Burstable OOM score adjustment
  int workers = 4;
  std::chrono::milliseconds resync_interval{2000};
  Clock* clock = nullptr;
};

// Phase as upstream getPhase computes it from container states (exposed for tests).
// states: per app container "waiting" / "running" / "terminated"; exit codes for terminated.
std::string ComputePhase(const std::string& restart_policy, const std::vector<std::string>& states,
                         const std::vector<int>& exit_codes, bool init_done);
// CrashLoopBackOff delay after `restarts` restarts: 10 s doubling, capped at 5 min.
std::chrono::seconds CrashLoopDelay(int restarts);
// The resolv.conf kubelet writes for a ClusterFirst pod.
std::string ResolvConf(const std::string& ns, const std::string& dns, const std::string& domain);

class PodWorkers {
 public:
  PodWorkers(const client::Client& client, runtime::Runtime& rt, runtime::image::ImageStore& images,
             PodWorkersOptions opts);
  ~PodWorkers();
  // Adopts sandboxes of existing pods, removes the rest (Runtime::Cleanup), starts syncing.
  Status Start();
  void Stop();

 private:
  struct BackOff {
    int restarts = 0;
    std::chrono::steady_clock::time_point not_before{};
    std::chrono::steady_clock::time_point running_since{};
  };
  struct PodState {
    std::map<std::string, BackOff> backoff;  // by container name
    std::map<std::string, std::string> waiting_reason, waiting_message;
    std::map<std::string, std::string> image_ids;
    std::map<std::string, std::chrono::steady_clock::time_point> pull_backoff;
    std::map<std::string, int> pull_failures;
  };

  void Worker();
  // The end of one sync of `key` on any thread: forget or back off the key.
  void SyncDone(const std::string& key, const Status& s);
  // Starts the pod thread of `key` (none exists; the caller holds the key from the queue).
  void StartPodThread(const std::string& key);
  void PodThread(const std::string& key);
  // Joins the pod threads that have ended.
  void ReapPodThreads();
  // own_thread false (a shared worker): at the first slow step nothing of it is done,
  // `hand_off` is set and OK returned; the caller starts the pod thread.
  Status SyncPod(const std::string& key, bool own_thread, bool& hand_off);
  // Whether starting container `c` needs slow work (an image pull or a postStart hook).
  bool SlowStart(const Json& c, PodState& st);
  Status KillPod(const Json& pod, const std::string& sandbox_id, bool delete_object);
  // The key's pod thread is busy: if that thread is terminating the pod and the pod now asks
  // for a shorter grace (a second delete with a shorter grace period, or a force delete that
  // removed it from the API), the container stops in flight end by the new grace, as
  // upstream's pod worker does for a shortened grace period.
  void MaybeShortenTermination(const std::string& key);
  // The informer's pod `key` if it is still the one with `uid` (null: gone, or recreated under
  // the same name).
  client::ObjectPtr CurrentPod(const std::string& key, const std::string& uid) const;
  // Whether pod `key` with `uid` is gone from the API or being deleted (an image pull for it
  // is cancelled).
  bool PodLeaving(const std::string& key, const std::string& uid) const;
  // min(current, the grace the informer's copy of pod `key` with `uid` asks for now: 1 s when
  // it is gone).
  int64_t RequestedGrace(const std::string& key, const std::string& uid, int64_t current) const;
  Result<std::string> EnsureSandbox(const Json& pod);
  // The pod's /etc/hosts (kubelet's managed hosts file; the host's with hostNetwork).
  std::string HostsFile(const Json& pod, const std::string& ip) const;
  // Before a container starts: waits for the sandbox's network (set up in the background) and
  // puts the pod IP into the pod's /etc/hosts. A network failure is the sandbox's failure.
  Status WritePodHosts(const Json& pod, const std::string& sandbox_id);
  Status EnsureImage(const Json& pod, const Json& container, PodState& st, std::string& image_id);
  // What EnsureImage does for `container` now; `present_id` is the image's id when present.
  enum class PullStep { kUsePresent, kNeverMissing, kBackOff, kPull };
  PullStep NextPullStep(const Json& container, PodState& st, std::string& present_id);
  Result<std::string> StartOneContainer(const Json& pod, const std::string& sandbox_id,
                                        const Json& container, uint32_t attempt, PodState& st);
  Status UpdateStatus(const Json& pod, const std::string& sandbox_id, PodState& st);
  // Kills one running container as kubelet's killContainer: `message` as the Killing event,
  // the preStop hook (if any, grace > 0) within `grace_seconds`, then StopContainer with what
  // is left (at least 2 s; 0 when grace is 0).
  std::string PodIP(const Json& pod, const std::string& sandbox_id);
  void KillContainer(const Json& pod, const Json* spec, const std::string& container_id,
                     const std::string& pod_ip, int64_t grace_seconds, const std::string& message);
  std::string PodDir(const Json& pod) const;

  const client::Client& client_;
  runtime::Runtime& rt_;
  runtime::image::ImageStore& images_;
  PodWorkersOptions opts_;
  Clock& clock_;
  client::InformerFactory factory_;
  client::Informer* pods_ = nullptr;
  client::WorkQueue queue_;
  client::EventRecorder events_;
  std::mutex mu_;
  std::map<std::string, PodState> state_;  // by pod uid
  // Pod volumes (kubelet/volumes): set up before containers start, torn down with the pod.
  std::unique_ptr<volumes::VolumeManager> volumes_;
  std::vector<std::jthread> threads_;
  bool stopped_ = false;
  // Pod threads by pod key (under mu_): `requeue` when the key was queued meanwhile.
  // `kill_grace`: the grace (seconds) of the termination the thread runs, -1 while none;
  // `kill_uid`: the uid of the pod it kills.
  struct PodThreadEntry {
    std::thread thread;
    bool requeue = false;
    int64_t kill_grace = -1;
    std::string kill_uid;
  };
  std::map<std::string, PodThreadEntry> pod_threads_;
  std::vector<std::thread> finished_threads_;  // ended pod threads, not yet joined (under mu_)
  std::condition_variable pod_threads_cv_;     // a pod thread ended
  // Destroyed (threads joined) before the queue and the event recorder it calls.
  std::unique_ptr<prober::ProbeManager> probes_;
};

}  // namespace tug::kubelet
