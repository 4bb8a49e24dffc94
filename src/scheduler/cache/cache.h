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
// and the NodeInfos. The informer's pod updates (AddPod, UpdatePod, RemovePod) never wait for
// a cycle: when the cache is locked they are queued, the latest per pod (each replaces or
// removes the pod, so the latest alone gives the same cache), and whoever holds the lock
// applies them before it reads and again before it unlocks. Waiting for cycles had made the
// informer's dispatch thread fall tens of thousands of events behind at density, each holding
// a parsed pod. Ownership: owns the NodeInfos.
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

  // An assigned pod from the informer (confirms an assumed pod). Never waits for Lock().
  void AddPod(PodInfoPtr pod);
  void UpdatePod(PodInfoPtr pod);
  void RemovePod(const std::string& key);

  // Errors: AlreadyExists if the pod is already in the cache.
  Status AssumePod(PodInfoPtr pod);
  void FinishBinding(const std::string& key);
  // Undoes AssumePod (bind failed); no-op when the pod has been confirmed meanwhile.
  void ForgetPod(const std::string& key);
  bool IsAssumed(const std::string& key);
  bool HasPod(const std::string& key);

  // Holds the cache locked, with every queued pod update applied (and those queued meanwhile
  // applied before it unlocks).
  class Guard {
   public:
    explicit Guard(Cache& c);
    ~Guard();
    Guard(Guard&& o) noexcept : c_(o.c_), l_(std::move(o.l_)) {}
    Guard& operator=(Guard&&) = delete;

   private:
    Cache* c_;
    std::unique_lock<std::mutex> l_;
  };
  // Under Lock(): the nodes (with a Node object), in a stable order.
  Guard Lock() { return Guard(*this); }
  const std::vector<const NodeInfo*>& NodesLocked() const { return list_; }
  std::vector<const NodeInfo*> NodesWithAffinityPodsLocked() const;
  const NodeInfo* NodeLocked(const std::string& name) const;

  size_t NumNodes();
  size_t NumPods();  // queued updates applied

 private:
  struct PodState {
    PodInfoPtr pod;
    bool assumed = false;
    bool binding_finished = false;
  };
  NodeInfo& NodeFor(const std::string& name);  // creates a placeholder (no Node yet)
  void AddPodLocked(PodInfoPtr pod);
  void RemovePodLocked(const std::string& key);
  void RebuildListLocked();
  // Queues a pod update (null pod: remove key) and applies the queue if the cache is free.
  void Offer(const std::string& key, PodInfoPtr pod);
  void ApplyQueuedLocked();  // mu_ held
  void ApplyQueuedIfFree();  // after an unlock: what was queued while it was held

  std::mutex mu_;
  std::mutex inbox_mu_;                                       // after mu_
  std::map<std::string, PodInfoPtr, std::less<>> inbox_;      // GUARDED_BY(inbox_mu_)
  std::map<std::string, std::unique_ptr<NodeInfo>, std::less<>> nodes_;
  std::vector<const NodeInfo*> list_;
  std::map<std::string, PodState, std::less<>> pods_;
  int64_t affinity_pods_ = 0;  // pods with any (anti-)affinity term
};

}  // namespace tug::scheduler::cache
