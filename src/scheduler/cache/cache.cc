#include "scheduler/cache/cache.h"

namespace tug::scheduler::cache {

NodeInfo& Cache::NodeFor(const std::string& name) {
  auto& slot = nodes_[name];
  if (!slot) {
    slot = std::make_unique<NodeInfo>();
    slot->name = name;
  }
  return *slot;
}

void Cache::RebuildListLocked() {
  list_.clear();
  for (const auto& [name, n] : nodes_)
    if (n->node) list_.push_back(n.get());
}

void Cache::AddNode(ObjectPtr node) {
  Guard l(*this);
  std::string name = GetStringPath(*node, {"metadata", "name"});
  NodeInfo& n = NodeFor(name);
  bool is_new = !n.node;
  n.SetNode(std::move(node));
  if (is_new) RebuildListLocked();
}

void Cache::UpdateNode(ObjectPtr node) { AddNode(std::move(node)); }

void Cache::RemoveNode(const std::string& name) {
  Guard l(*this);
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  // Pods still bound to a deleted node keep a placeholder until they are deleted themselves.
  if (it->second->pods.empty()) nodes_.erase(it);
  else it->second->node.reset();
  RebuildListLocked();
}

Cache::Guard::Guard(Cache& c) : c_(&c), l_(c.mu_) { c.ApplyQueuedLocked(); }

Cache::Guard::~Guard() {
  if (!l_.owns_lock()) return;  // moved from
  c_->ApplyQueuedLocked();
  l_.unlock();
  c_->ApplyQueuedIfFree();
}

void Cache::Offer(const std::string& key, PodInfoPtr pod) {
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    inbox_[key] = std::move(pod);
  }
  ApplyQueuedIfFree();
}

void Cache::ApplyQueuedIfFree() {
  // A holder applies the queue before it unlocks and then calls this: an update queued after
  // that is applied here, or by the next holder (whose unlock comes after the update was queued).
  while (true) {
    {
      std::lock_guard<std::mutex> l(inbox_mu_);
      if (inbox_.empty()) return;
    }
    std::unique_lock<std::mutex> l(mu_, std::try_to_lock);
    if (!l.owns_lock()) return;
    ApplyQueuedLocked();
  }
}

void Cache::ApplyQueuedLocked() {
  std::map<std::string, PodInfoPtr, std::less<>> batch;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    batch.swap(inbox_);
  }
  for (auto& [key, pod] : batch) {
    if (pod) AddPodLocked(std::move(pod));
    else RemovePodLocked(key);
  }
}

void Cache::AddPod(PodInfoPtr pod) {
  const std::string key = pod->key;
  Offer(key, std::move(pod));
}

void Cache::AddPodLocked(PodInfoPtr pod) {
  auto it = pods_.find(pod->key);
  if (it != pods_.end()) {
    // Confirms an assumed pod (or replaces a stale copy): swap the PodInfo in its node.
    RemovePodLocked(pod->key);
  }
  if (pod->HasAffinity()) ++affinity_pods_;
  NodeFor(pod->node_name).AddPod(pod);
  pods_[pod->key] = PodState{pod, false, false};
}

void Cache::UpdatePod(PodInfoPtr pod) { AddPod(std::move(pod)); }

void Cache::RemovePodLocked(const std::string& key) {
  auto it = pods_.find(key);
  if (it == pods_.end()) return;
  if (it->second.pod->HasAffinity()) --affinity_pods_;
  auto nit = nodes_.find(it->second.pod->node_name);
  if (nit != nodes_.end()) {
    nit->second->RemovePod(*it->second.pod);
    if (!nit->second->node && nit->second->pods.empty()) {
      nodes_.erase(nit);
    }
  }
  pods_.erase(it);
}

void Cache::RemovePod(const std::string& key) { Offer(key, nullptr); }

Status Cache::AssumePod(PodInfoPtr pod) {
  Guard l(*this);
  if (pods_.count(pod->key)) return AlreadyExistsError("pod " + pod->key + " is already in the cache");
  if (pod->HasAffinity()) ++affinity_pods_;
  NodeFor(pod->node_name).AddPod(pod);
  pods_[pod->key] = PodState{pod, true, false};
  return Status::Ok();
}

void Cache::FinishBinding(const std::string& key) {
  Guard l(*this);
  auto it = pods_.find(key);
  if (it != pods_.end() && it->second.assumed) it->second.binding_finished = true;
}

void Cache::ForgetPod(const std::string& key) {
  Guard l(*this);
  auto it = pods_.find(key);
  if (it == pods_.end() || !it->second.assumed) return;
  RemovePodLocked(key);
}

bool Cache::IsAssumed(const std::string& key) {
  Guard l(*this);
  auto it = pods_.find(key);
  return it != pods_.end() && it->second.assumed;
}

bool Cache::HasPod(const std::string& key) {
  Guard l(*this);
  return pods_.count(key) > 0;
}

std::vector<const NodeInfo*> Cache::NodesWithAffinityPodsLocked() const {
  std::vector<const NodeInfo*> out;
  if (affinity_pods_ == 0) return out;  // the common case: no need to walk every node
  for (const NodeInfo* n : list_)
    if (n->pods_with_affinity > 0) out.push_back(n);
  return out;
}

const NodeInfo* Cache::NodeLocked(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() || !it->second->node ? nullptr : it->second.get();
}

size_t Cache::NumNodes() {
  Guard l(*this);
  return list_.size();
}
size_t Cache::NumPods() {
  Guard l(*this);
  return pods_.size();
}

}  // namespace tug::scheduler::cache
