#include "scheduler/queue/scheduling_queue.h"

#include <algorithm>

namespace tug::scheduler::queue {

SchedulingQueue::SchedulingQueue(QueueOptions opts) : opts_(std::move(opts)), clock_(opts_.clock ? opts_.clock : &RealClock()) {}

SchedulingQueue::~SchedulingQueue() { Close(); }

SteadyTime SchedulingQueue::Now() const { return clock_->SteadyNow(); }

std::chrono::milliseconds SchedulingQueue::BackoffDuration(int attempts) const {
  auto d = opts_.initial_backoff;
  for (int i = 1; i < attempts; ++i) {
    d *= 2;
    if (d >= opts_.max_backoff) return opts_.max_backoff;
  }
  return std::min(d, opts_.max_backoff);
}

void SchedulingQueue::PushActiveLocked(const std::string& key, Entry& e) {
  e.where = Where::kActive;
  e.seq = ++seq_;
  active_.insert({-e.qp.pod->priority, e.qp.timestamp, e.seq, key});
  cv_.notify_one();
}

void SchedulingQueue::PushBackoffLocked(const std::string& key, Entry& e) {
  e.where = Where::kBackoff;
  e.seq = ++seq_;
  backoff_.insert({e.backoff_until, e.seq, key});
  cv_.notify_one();  // a waiting Pop recomputes its deadline
}

void SchedulingQueue::RemoveFromLocked(const std::string& key, Entry& e) {
  switch (e.where) {
    case Where::kActive:
      active_.erase({-e.qp.pod->priority, e.qp.timestamp, e.seq, key});
      break;
    case Where::kBackoff:
      backoff_.erase({e.backoff_until, e.seq, key});
      break;
    case Where::kUnschedulable:
      --num_unschedulable_;
      break;
    case Where::kInFlight:
      break;
  }
}

void SchedulingQueue::Add(PodInfoPtr pod) {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_) return;
  const std::string& key = pod->key;
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    // Already known: treat as an update.
    Entry& e = it->second;
    if (e.where == Where::kInFlight) {
      e.qp.pod = std::move(pod);
      e.updated_in_flight = true;
      return;
    }
    RemoveFromLocked(key, e);
    e.qp.pod = std::move(pod);
    RequeueLocked(key, e, Now());
    return;
  }
  Entry& e = entries_[key];
  e.qp.pod = std::move(pod);
  e.qp.timestamp = e.qp.initial_attempt = Now();
  PushActiveLocked(key, e);
}

void SchedulingQueue::RequeueLocked(const std::string& key, Entry& e, SteadyTime now) {
  if (e.qp.attempts > 0 && e.backoff_until > now) PushBackoffLocked(key, e);
  else PushActiveLocked(key, e);
}

void SchedulingQueue::Update(PodInfoPtr pod) {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_) return;
  auto it = entries_.find(pod->key);
  if (it == entries_.end()) {
    Entry& e = entries_[pod->key];
    std::string key = pod->key;
    e.qp.pod = std::move(pod);
    e.qp.timestamp = e.qp.initial_attempt = Now();
    PushActiveLocked(key, e);
    return;
  }
  Entry& e = it->second;
  const std::string key = it->first;
  switch (e.where) {
    case Where::kInFlight:
      e.qp.pod = std::move(pod);
      e.updated_in_flight = true;
      return;
    case Where::kActive:
    case Where::kBackoff:
      RemoveFromLocked(key, e);
      e.qp.pod = std::move(pod);
      if (e.where == Where::kActive) PushActiveLocked(key, e);
      else PushBackoffLocked(key, e);
      return;
    case Where::kUnschedulable:
      // The pod itself changed (e.g. a toleration was added): give it another chance.
      RemoveFromLocked(key, e);
      e.qp.pod = std::move(pod);
      RequeueLocked(key, e, Now());
      return;
  }
}

void SchedulingQueue::Delete(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (it->second.where == Where::kInFlight) {
    it->second.deleted_in_flight = true;
    return;
  }
  RemoveFromLocked(key, it->second);
  entries_.erase(it);
}

void SchedulingQueue::FlushLocked() {
  SteadyTime now = Now();
  while (!backoff_.empty() && backoff_.begin()->until <= now) {
    std::string key = backoff_.begin()->key;
    backoff_.erase(backoff_.begin());
    Entry& e = entries_[key];
    PushActiveLocked(key, e);
  }
  if (num_unschedulable_ == 0) return;
  for (auto& [key, e] : entries_) {
    if (e.where != Where::kUnschedulable) continue;
    if (now - e.unschedulable_since < opts_.max_in_unschedulable) continue;
    --num_unschedulable_;
    RequeueLocked(key, e, now);
  }
}

void SchedulingQueue::Flush() {
  std::lock_guard<std::mutex> l(mu_);
  FlushLocked();
}

std::optional<QueuedPod> SchedulingQueue::PopLocked() {
  if (active_.empty()) return std::nullopt;
  ActiveKey k = *active_.begin();
  active_.erase(active_.begin());
  Entry& e = entries_[k.key];
  e.where = Where::kInFlight;
  e.deleted_in_flight = e.updated_in_flight = false;
  e.qp.attempts++;
  e.qp.cycle = ++cycle_;
  e.qp.unschedulable_plugins.clear();
  return e.qp;
}

std::optional<QueuedPod> SchedulingQueue::TryPop() {
  std::lock_guard<std::mutex> l(mu_);
  FlushLocked();
  return PopLocked();
}

std::optional<QueuedPod> SchedulingQueue::Pop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!closed_) {
    FlushLocked();
    if (auto qp = PopLocked()) return qp;
    // Wake for the next back-off expiry, and now and then for the unschedulable flush; the
    // bounded wait also keeps a fake clock usable.
    std::chrono::milliseconds wait = std::chrono::milliseconds(num_unschedulable_ ? 1000 : 60000);
    if (!backoff_.empty()) {
      auto until = backoff_.begin()->until - Now();
      wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(until) + std::chrono::milliseconds(1),
                        std::chrono::milliseconds(1), std::chrono::milliseconds(100));
    }
    cv_.wait_for(l, wait);
  }
  return std::nullopt;
}

void SchedulingQueue::AddUnschedulable(QueuedPod qp) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(qp.pod->key);
  if (it == entries_.end() || closed_) return;
  Entry& e = it->second;
  const std::string key = it->first;
  if (e.deleted_in_flight) {
    entries_.erase(it);
    return;
  }
  PodInfoPtr latest = e.qp.pod;
  bool updated = e.updated_in_flight;
  e.qp = std::move(qp);
  if (updated) e.qp.pod = latest;
  SteadyTime now = Now();
  e.qp.timestamp = now;
  e.backoff_until = now + BackoffDuration(e.qp.attempts);
  // A cluster event (or a change of the pod) during the cycle may have made it schedulable.
  if (updated || move_request_cycle_ >= e.qp.cycle) {
    PushBackoffLocked(key, e);
    return;
  }
  e.where = Where::kUnschedulable;
  e.unschedulable_since = now;
  ++num_unschedulable_;
}

void SchedulingQueue::AddBackoff(QueuedPod qp) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(qp.pod->key);
  if (it == entries_.end() || closed_) return;
  Entry& e = it->second;
  const std::string key = it->first;
  if (e.deleted_in_flight) {
    entries_.erase(it);
    return;
  }
  PodInfoPtr latest = e.qp.pod;
  bool updated = e.updated_in_flight;
  e.qp = std::move(qp);
  if (updated) e.qp.pod = latest;
  SteadyTime now = Now();
  e.qp.timestamp = now;
  e.backoff_until = now + BackoffDuration(e.qp.attempts);
  PushBackoffLocked(key, e);
}

void SchedulingQueue::Done(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.where == Where::kInFlight) entries_.erase(it);
}

void SchedulingQueue::MoveAllToActiveOrBackoff(unsigned event) {
  std::lock_guard<std::mutex> l(mu_);
  move_request_cycle_ = cycle_;
  if (num_unschedulable_ == 0) return;
  SteadyTime now = Now();
  std::map<std::vector<std::string>, unsigned> memo;
  for (auto& [key, e] : entries_) {
    if (e.where != Where::kUnschedulable) continue;
    if (opts_.events_for && !e.qp.unschedulable_plugins.empty()) {
      auto m = memo.find(e.qp.unschedulable_plugins);
      unsigned interest = m != memo.end() ? m->second
                                          : (memo[e.qp.unschedulable_plugins] = opts_.events_for(e.qp.unschedulable_plugins));
      if (!(interest & event)) continue;
    }
    --num_unschedulable_;
    RequeueLocked(key, e, now);
  }
}

void SchedulingQueue::Close() {
  std::lock_guard<std::mutex> l(mu_);
  closed_ = true;
  cv_.notify_all();
}

size_t SchedulingQueue::NumActive() const {
  std::lock_guard<std::mutex> l(mu_);
  return active_.size();
}
size_t SchedulingQueue::NumBackoff() const {
  std::lock_guard<std::mutex> l(mu_);
  return backoff_.size();
}
size_t SchedulingQueue::NumUnschedulable() const {
  std::lock_guard<std::mutex> l(mu_);
  return num_unschedulable_;
}
bool SchedulingQueue::Contains(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.count(key) > 0;
}

}  // namespace tug::scheduler::queue
