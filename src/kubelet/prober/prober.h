// Container probes (liveness, readiness, startup) as kubelet's prober manager runs them: one
// worker per (pod, container, probe kind), probing every periodSeconds after
// initialDelaySeconds, latching a result after successThreshold / failureThreshold consecutive
// equal outcomes. The startup probe gates the other two; a liveness/startup failure is held
// until the container is replaced; liveness and startup stop (report success) once the pod is
// being deleted.
//
//   ProbeManager probes({.run = RunProbe, .exec = ..., .on_event = ..., .on_change = ...});
//   probes.UpdatePod(pod, pod_ip, {{"app", container_id, true, started_at}});  // every sync
//   bool ready = probes.Ready(uid, "app", container_id);
//   if (auto kind = probes.FailedLiveness(uid, "app", container_id)) { kill, restart }
//
// ProbeWorker is the timing/threshold state machine alone (driven with explicit times in
// tests); ProbeManager owns one thread per worker (woken early on Stop and on a new container).
//
// Ownership: ProbeManager owns its workers and threads; the callbacks must outlive it.
// Thread-safety: ProbeManager's methods may be called from any thread; callbacks run on the
// worker threads without the manager's lock held. ProbeWorker is not thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "kubelet/prober/handlers.h"

namespace tug::kubelet::prober {

enum class ProbeKind { kLiveness, kReadiness, kStartup };
// "Liveness", "Readiness", "Startup" (kubelet's event wording).
const char* KindName(ProbeKind k);
// The container field: livenessProbe, readinessProbe, startupProbe.
const char* KindField(ProbeKind k);

struct ProbeSpec {
  std::chrono::seconds initial_delay{0}, period{10}, timeout{1};
  int success_threshold = 1, failure_threshold = 3;
  std::optional<int64_t> termination_grace_seconds;  // probe-level override (liveness/startup)
  Json probe;                                         // the probe object (handler)
};
// Defaults as the API server applies them (period 10, timeout 1, success 1, failure 3); values
// <= 0 take the default; liveness and startup always use successThreshold 1.
ProbeSpec ParseProbe(const Json& probe, ProbeKind kind);

// What a worker knows about its container at a tick.
struct ContainerView {
  bool running = false;
  bool exited = false;      // ran and terminated (not waiting)
  bool will_restart = true; // exited and restartPolicy will start it again
  SystemTime started_at{};  // of the running instance
  bool started = false;     // the startup probe succeeded (or there is none)
  bool pod_deleting = false;
};

class ProbeWorker {
 public:
  ProbeWorker(ProbeKind kind, ProbeSpec spec);

  enum class Step { kSkip, kProbe, kStop };
  // Decides this tick: may latch a result without probing (container not running -> Failure;
  // pod deleting -> Success for liveness/startup). kStop: the worker may end.
  Step Decide(const ContainerView& view, SystemTime now);
  // Feeds one probe outcome (kUnknown outcomes are discarded). Returns true when the latched
  // result changed.
  bool Observe(ProbeResult r);
  // A new container instance: initial result, counters and hold reset.
  void Reset();

  ProbeResult result() const { return result_; }
  ProbeKind kind() const { return kind_; }
  const ProbeSpec& spec() const { return spec_; }
  bool on_hold() const { return on_hold_; }

 private:
  bool Latch(ProbeResult r);

  ProbeKind kind_;
  ProbeSpec spec_;
  ProbeResult result_;
  ProbeResult last_ = ProbeResult::kUnknown;
  int run_ = 0;
  bool on_hold_ = false;
};

// One container of a pod, as the pod worker reports it each sync.
struct ContainerInstance {
  std::string name;
  std::string id;  // the current (latest) runtime container id; empty: none yet
  bool running = false;
  SystemTime started_at{};
  bool exited = false;
};

struct ProbeManagerOptions {
  std::function<ProbeOutcome(const Json& probe, const HandlerContext& ctx)> run = RunProbe;
  ExecFn exec;
  // Unhealthy events (type, reason, message) about the pod.
  std::function<void(const Json& pod, const std::string& type, const std::string& reason, const std::string& message)>
      on_event;
  // A latched result changed: the pod should be synced (argument: "ns/name").
  std::function<void(const std::string& pod_key)> on_change;
  Clock* clock = nullptr;
};

class ProbeManager {
 public:
  explicit ProbeManager(ProbeManagerOptions opts);
  ~ProbeManager();  // stops and joins every worker

  // Creates workers for the pod's probed containers (app containers only) and points them at
  // the current container instances. Call on every sync.
  void UpdatePod(const Json& pod, const std::string& pod_ip, const std::vector<ContainerInstance>& containers);
  // Stops the pod's workers (pod gone or terminal).
  void RemovePod(const std::string& uid);

  // True when the container has no startup probe, or it succeeded for this instance.
  bool Started(const std::string& uid, const std::string& name, const std::string& id) const;
  // True when the container has no readiness probe, or it succeeded for this instance.
  bool Ready(const std::string& uid, const std::string& name, const std::string& id) const;
  // The probe (liveness or startup) whose failure says this instance must be killed.
  std::optional<ProbeKind> FailedLiveness(const std::string& uid, const std::string& name, const std::string& id) const;
  // terminationGracePeriodSeconds of that probe, if it sets one.
  std::optional<int64_t> ProbeGrace(const std::string& uid, const std::string& name, ProbeKind kind) const;

 private:
  struct Worker {
    ProbeWorker state;
    std::string pod_key, uid, container_name;
    Json pod, container;
    std::string pod_ip, container_id;
    ContainerView view;
    bool wake = false;
    std::jthread thread;
    explicit Worker(ProbeWorker w) : state(std::move(w)) {}
  };
  using Key = std::tuple<std::string, std::string, ProbeKind>;  // uid, container, kind

  void Run(Worker* w, std::stop_token stop);
  const Worker* FindWorker(const std::string& uid, const std::string& name, ProbeKind kind) const;

  ProbeManagerOptions opts_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::map<Key, std::unique_ptr<Worker>> workers_;
};

}  // namespace tug::kubelet::prober
