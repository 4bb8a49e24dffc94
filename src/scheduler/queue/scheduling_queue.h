// The scheduling queue (upstream's PriorityQueue): pending pods wait in one of three places.
//  - activeQ: ready to be scheduled; highest priority first, then earliest enqueue time.
//  - backoffQ: failed recently; released to activeQ when their back-off expires
//    (1 s after the first failure, doubling per attempt up to 10 s).
//  - unschedulable: rejected by a plugin; moved back (to activeQ, or backoffQ while still
//    backing off) by a cluster event that plugin registered for (node added/updated, pod
//    deleted, ...), or after 5 minutes in any case.
// A pod popped for scheduling is "in flight" until Done/AddUnschedulable/AddBackoff; a cluster
// event during its cycle sends it to backoffQ instead of unschedulable, so no event is lost.
//
// Ownership: the queue holds PodInfoPtr snapshots. Thread-safety: every method may be called
// from any thread; Pop blocks (one or more scheduling threads).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "scheduler/framework/types.h"

namespace tug::scheduler::queue {

using framework::PodInfoPtr;
using SteadyTime = std::chrono::steady_clock::time_point;

struct QueuedPod {
  PodInfoPtr pod;
  int attempts = 0;                 // scheduling attempts so far (incremented by Pop)
  SteadyTime timestamp{};           // when it (re-)entered the queue
  SteadyTime initial_attempt{};
  std::vector<std::string> unschedulable_plugins;  // set by the failed cycle
  uint64_t cycle = 0;               // the scheduling cycle it was popped in
};

struct QueueOptions {
  Clock* clock = nullptr;  // null: RealClock()
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{10000};
  std::chrono::milliseconds max_in_unschedulable{5 * 60 * 1000};
  // Events (framework::Plugin::Event bits) that can help a pod rejected by these plugins;
  // null: every event helps.
  std::function<unsigned(const std::vector<std::string>& plugins)> events_for;
};

class SchedulingQueue {
 public:
  explicit SchedulingQueue(QueueOptions opts = {});
  ~SchedulingQueue();  // Close()

  // A new pending pod.
  void Add(PodInfoPtr pod);
  // A pending pod changed: replaced where it is; an unschedulable pod is given another try.
  void Update(PodInfoPtr pod);
  // The pod was deleted or assigned elsewhere: forget it (also when in flight).
  void Delete(const std::string& key);

  // Blocks until a pod is ready (or Close: nullopt). Increments attempts and the cycle.
  std::optional<QueuedPod> Pop();
  // Non-blocking Pop (tests, draining).
  std::optional<QueuedPod> TryPop();

  // The popped pod could not be scheduled (unschedulable_plugins set).
  void AddUnschedulable(QueuedPod qp);
  // The popped pod hit an error (bind failure, API error): back-off, then retry.
  void AddBackoff(QueuedPod qp);
  // The popped pod was bound (or handed off): no longer tracked.
  void Done(const std::string& key);

  // A cluster event (Plugin::Event bits): unschedulable pods rejected by plugins interested
  // in it move to activeQ (or backoffQ while backing off).
  void MoveAllToActiveOrBackoff(unsigned event);
  // Releases expired back-offs and unschedulable pods older than max_in_unschedulable.
  // Pop does this itself; tests with a fake clock call it after advancing time.
  void Flush();
  void Close();

  std::chrono::milliseconds BackoffDuration(int attempts) const;
  size_t NumActive() const;
  size_t NumBackoff() const;
  size_t NumUnschedulable() const;
  bool Contains(const std::string& key) const;  // queued anywhere or in flight

 private:
  enum class Where { kActive, kBackoff, kUnschedulable, kInFlight };
  struct Entry {
    QueuedPod qp;
    Where where = Where::kActive;
    uint64_t seq = 0;
    SteadyTime backoff_until{};
    SteadyTime unschedulable_since{};
    bool deleted_in_flight = false;
    bool updated_in_flight = false;
  };
  struct ActiveKey {
    int32_t neg_priority;
    SteadyTime ts;
    uint64_t seq;
    std::string key;
    auto operator<=>(const ActiveKey&) const = default;
  };
  struct BackoffKey {
    SteadyTime until;
    uint64_t seq;
    std::string key;
    auto operator<=>(const BackoffKey&) const = default;
  };

  SteadyTime Now() const;
  void PushActiveLocked(const std::string& key, Entry& e);
  void PushBackoffLocked(const std::string& key, Entry& e);
  void RemoveFromLocked(const std::string& key, Entry& e);
  void FlushLocked();
  std::optional<QueuedPod> PopLocked();
  void RequeueLocked(const std::string& key, Entry& e, SteadyTime now);

  QueueOptions opts_;
  Clock* clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  uint64_t seq_ = 0;
  uint64_t cycle_ = 0;
  uint64_t move_request_cycle_ = 0;
  std::map<std::string, Entry> entries_;
  std::set<ActiveKey> active_;
  std::set<BackoffKey> backoff_;
  size_t num_unschedulable_ = 0;
};

}  // namespace tug::scheduler::queue
