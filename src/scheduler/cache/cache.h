// The scheduler cache: every node with the pods assigned to it (from the informers) plus the
// pods the scheduler has assumed (chosen a node for, binding in flight), as upstream's
// cache. NodeInfos are kept up to date incrementally, so a scheduling cycle reads them in
// place: no per-cycle snapshot copy of the node list.
//
// Assume-on-bind: AssumePod adds the pod to its node at once, so the next cycle already sees
// its requests; when the informer later reports the pod bound, AddPod confirms the assumption;
// a failed bind calls ForgetPod.
//
// Thread-safety: all methods lock mu(); a scheduling cycle holds Lock() while it reads Nodes()
// and the NodeInfos (informer handlers wait meanwhile). Ownership: owns the NodeInfos.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "scheduler/framework/types.h"

namespace tug::scheduler::cache {

using framework::NodeInfo;
using framework::ObjectPtr;
using framework::PodInfoPtr;

class Cache {
 public:
  void AddNode(ObjectPtr node);
  void UpdateNode(ObjectPtr node);
  void RemoveNode(const std::string& name);

  // An assigned pod from the informer (confirms an assumed pod).
  void AddPod(PodInfoPtr pod);
  void UpdatePod(PodInfoPtr pod);
  void RemovePod(const std::string& key);

  // Errors: AlreadyExists if the pod is already in the cache.
  Status AssumePod(PodInfoPtr pod);
  void FinishBinding(const std::string& key);
  // Undoes AssumePod (bind failed); no-op when the pod has been confirmed meanwhile.
  void ForgetPod(const std::string& key);
  bool IsAssumed(const std::string& key) const;
  bool HasPod(const std::string& key) const;

  // Under Lock(): the nodes (with a Node object), in a stable order.
  std::unique_lock<std::mutex> Lock() const { return std::unique_lock<std::mutex>(mu_); }
  const std::vector<const NodeInfo*>& NodesLocked() const { return list_; }
  std::vector<const NodeInfo*> NodesWithAffinityPodsLocked() const;
  const NodeInfo* NodeLocked(const std::string& name) const;

  size_t NumNodes() const;
  size_t NumPods() const;

 private:
  struct PodState {
    PodInfoPtr pod;
    bool assumed = false;
    bool binding_finished = false;
  };
  NodeInfo& NodeFor(const std::string& name);  // creates a placeholder (no Node yet)
  void RemovePodLocked(const std::string& key);
  void RebuildListLocked();

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<NodeInfo>, std::less<>> nodes_;
  std::vector<const NodeInfo*> list_;
  std::map<std::string, PodState, std::less<>> pods_;
  int64_t affinity_pods_ = 0;  // pods with any (anti-)affinity term
};

}  // namespace tug::scheduler::cache
