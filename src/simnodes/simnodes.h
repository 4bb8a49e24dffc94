// Simulated nodes (hollow kubelets, like kubemark): registers N Node objects, renews their
// Leases, and plays kubelet for the pods bound to them, so the control plane (controllers,
// scheduler) can be tested and benchmarked at thousands of nodes on one machine.
//
//   simnodes::SimNodes sim(client, {.count = 3});
//   RETURN_IF_ERROR(sim.Start());   // nodes registered, pod informer synced
//   ...
//   sim.Stop();                     // nodes stay; leases stop renewing
//
// Per pod (level-triggered, recomputed from the cached pod on every event and timer):
//   bound to one of our nodes -> Pending status (ContainerCreating) -> after startup_delay
//   Running/Ready -> (restartPolicy Never/OnFailure) after run_time the containers exit with 0 or
//   the code in annotation tug.dev/sim-exit-code: Succeeded/Failed (OnFailure with a non-zero
//   code: CrashLoopBackOff, then restarted, as a kubelet does). A pod with a deletionTimestamp is
//   removed after min(grace period, kill_delay) by DELETE with gracePeriodSeconds=0.
//
// Threading and memory (5,000 nodes in one process): no thread per node. One shared pod
// informer (bound pods only, indexed by spec.nodeName); one client::WorkQueue whose delay heap
// is the only timer; `workers` threads run the syncs over the shared Transport (so requests,
// lease renewals included, are pipelined over at most `workers` connections). A node costs a
// few bytes of state (names and IPs are computed from its index), a pod one small struct.
// A key ("n/<index>" or "p/<ns>/<name>") is never synced by two workers at once.
//
// Ownership: borrows the Client (must outlive SimNodes) and the Clock. Thread-safety: Start and
// Stop from one thread; the rest is internal.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "client/client.h"
#include "client/informer.h"
#include "client/workqueue.h"
#include "simnodes/objects.h"

namespace tug::simnodes {

struct Options {
  int count = 1;
  std::string name_prefix = "sim-";
  // Nodes are named <prefix><first_index + i>; the index also picks the node's IPs, so a second
  // process adding nodes to the same cluster uses a different first_index.
  uint32_t first_index = 0;
  NodeShape shape;
  std::chrono::milliseconds startup_delay{1000};
  std::chrono::milliseconds run_time{5000};
  // Upper bound of the simulated termination (deletionTimestamp -> DELETE).
  std::chrono::milliseconds kill_delay{500};
  // First CrashLoopBackOff delay of an OnFailure container that exited non-zero (doubles per
  // restart up to 5 minutes, as the kubelet's).
  std::chrono::milliseconds crash_backoff{10000};
  std::chrono::seconds lease_renew_interval{10};
  int lease_duration_seconds = 40;
  // How often a node's status is checked (GET) and re-posted when stale or not Ready, and the
  // heartbeat age that counts as stale (the kubelet's nodeStatusReportFrequency).
  std::chrono::seconds status_check_interval{40};
  std::chrono::seconds status_report_interval{300};
  int workers = 8;
  Clock* clock = nullptr;  // null: RealClock()
};

// Counters for tests and the density harness.
struct Stats {
  uint64_t nodes_registered = 0;
  uint64_t lease_renewals = 0;
  uint64_t pods_started = 0;      // Running status posted
  uint64_t pods_terminated = 0;   // Succeeded/Failed posted
  uint64_t pods_deleted = 0;      // final DELETE issued
  uint64_t request_errors = 0;
};

class SimNodes {
 public:
  SimNodes(const client::Client& client, Options opts);
  ~SimNodes();  // Stop()
  SimNodes(const SimNodes&) = delete;
  SimNodes& operator=(const SimNodes&) = delete;

  // Starts the workers and the pod informer and queues every node's registration; returns once
  // every node is registered (Node, status and Lease written) and the informer has synced.
  // Errors: Unavailable/Timeout when the API server cannot be reached in `timeout`; the status
  // of a request that failed for a reason other than a retryable one.
  Status Start(std::chrono::milliseconds timeout = std::chrono::minutes(5));
  // Stops the workers, the informer and every timer. Nodes and pods are left as they are.
  void Stop();

  std::string NodeName(uint32_t local_index) const;
  Stats stats() const;

 private:
  enum class Stage : uint8_t { kNew, kStarting, kRunning, kBackoff, kDone };
  struct NodeState {
    bool registered = false;
    uint8_t next_ip = 2;
    std::chrono::steady_clock::time_point next_lease{};
    std::chrono::steady_clock::time_point next_status_check{};
    std::string uid;  // for the Lease's ownerReference
  };
  struct PodState {
    std::string uid;
    Stage stage = Stage::kNew;
    int restarts = 0;
    int last_exit = 0;
    std::string pod_ip;
    SystemTime started_at{};
    std::chrono::steady_clock::time_point due{};          // next stage change
    std::chrono::steady_clock::time_point delete_due{};   // set once deletionTimestamp is seen
    bool delete_scheduled = false;
  };

  // Returns the local index of a node name of ours, or -1.
  int LocalIndex(std::string_view node_name) const;
  void Worker();
  Status Sync(const std::string& key);
  Status SyncNode(uint32_t i);
  Status RegisterNode(uint32_t i, NodeState& st);
  Status SyncPod(const std::string& pod_key);
  Status PatchPodStatus(const Json& pod, const Json& status);
  void OnPodEvent(const client::ObjectPtr& pod);
  std::chrono::steady_clock::time_point SteadyNow() const;
  SystemTime Now() const;

  const client::Client& client_;
  Options opts_;
  Clock& clock_;
  std::unique_ptr<client::WorkQueue> queue_;
  std::unique_ptr<client::InformerFactory> informers_;
  client::Informer* pods_ = nullptr;
  std::vector<std::jthread> workers_;

  std::mutex mu_;
  std::vector<NodeState> nodes_;                      // GUARDED_BY(mu_) (per-key exclusivity too)
  std::unordered_map<std::string, PodState> pod_states_;  // GUARDED_BY(mu_)

  std::atomic<uint64_t> nodes_registered_{0}, lease_renewals_{0}, pods_started_{0}, pods_terminated_{0},
      pods_deleted_{0}, request_errors_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace tug::simnodes
