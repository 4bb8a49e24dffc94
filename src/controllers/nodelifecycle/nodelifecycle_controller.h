// Node lifecycle (upstream node-lifecycle-controller + taint-eviction-controller, 1.33): a node
// whose Lease (kube-node-lease/<node>) and Ready heartbeat have not changed for
// node_monitor_grace_period gets its Ready (and pressure) conditions set to Unknown (reason
// NodeStatusUnknown, "Kubelet stopped posting node status."; NodeStatusNeverUpdated when the
// kubelet never reported), the taints node.kubernetes.io/unreachable (Ready Unknown) or
// node.kubernetes.io/not-ready (Ready False) with effects NoSchedule and NoExecute, and its pods
// get Ready=False. Pods on a node with NoExecute taints are evicted (DisruptionTarget condition,
// then deleted) at once when they do not tolerate a taint, or after the smallest matching
// tolerationSeconds counted from the taint's timeAdded. A node that reports Ready again loses
// the taints.
//
// "Not changed" is judged by this controller's own clock at the time it saw each renewal, as
// upstream does, so clock skew between nodes and the server does not matter.
//
// Ownership: borrows the ControllerContext's client, informers and clock; owns a ticker thread
// that requeues every node each monitor period. Thread-safety: as framework::Controller;
// observation records are guarded by mu_.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "controllers/framework/controller.h"

namespace tug::controllers::nodelifecycle {

inline constexpr char kUnreachableTaint[] = "node.kubernetes.io/unreachable";
inline constexpr char kNotReadyTaint[] = "node.kubernetes.io/not-ready";

struct NodeLifecycleOptions {
  std::chrono::milliseconds node_monitor_grace_period{40000};
  std::chrono::milliseconds node_monitor_period{5000};  // 0: no ticker (tests call MonitorForTest)
  // Toleration assumed for the not-ready/unreachable NoExecute taints when a pod has none for
  // them (upstream's DefaultTolerationSeconds admission default); < 0 disables.
  int64_t default_toleration_seconds = 300;
};

class NodeLifecycleController : public framework::Controller {
 public:
  NodeLifecycleController(const framework::ControllerContext& ctx, NodeLifecycleOptions opts = {});
  ~NodeLifecycleController() override;

  // Enqueues every node (what the ticker does each period).
  void MonitorForTest() { EnqueueAllNodes(); }
  // Whether the controller has seen the node's heartbeat `renew_time` (Lease renewTime).
  bool ObservedForTest(const std::string& node, const std::string& renew_time) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = observed_.find(node);
    return it != observed_.end() && it->second.lease_renew == renew_time;
  }

 protected:
  Status Sync(const std::string& key) override;

 private:
  struct Observed {
    std::string lease_renew;      // last seen Lease spec.renewTime
    std::string ready_heartbeat;  // last seen Ready lastHeartbeatTime
    SystemTime probe{};           // our clock when either last changed
  };
  void EnqueueAllNodes();
  Status UpdateHealth(Json& node, bool& changed);
  Status ReconcileTaints(const Json& node);
  Status MarkPodsNotReady(const Json& node);
  Status EvictPods(const Json& node);

  NodeLifecycleOptions opts_;
  client::Informer* nodes_;
  client::Informer* leases_;
  client::Informer* pods_;
  std::mutex mu_;
  std::map<std::string, Observed> observed_;
  std::jthread ticker_;
};

std::unique_ptr<framework::Controller> NewNodeLifecycleController(const framework::ControllerContext& ctx);

// The eviction decision for one pod against a node's NoExecute taints: nullopt = never (no
// NoExecute taints, or tolerated forever); otherwise the time at which the pod must go.
// `default_toleration_seconds` as NodeLifecycleOptions.
std::optional<SystemTime> EvictionTime(const Json& pod, const Json& node, int64_t default_toleration_seconds = -1);

}  // namespace tug::controllers::nodelifecycle
