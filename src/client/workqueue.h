// A rate-limited work queue of string keys, as client-go's: a key is queued at most once, and
// never handed to two workers at once (a key re-added while being processed is queued again
// after Done). Per-key exponential back-off for AddRateLimited (5 ms doubling to 1000 s by
// default), Forget resets it.
//
//   client::WorkQueue q;
//   q.Add("default/web");
//   while (auto key = q.Get()) { Status st = Sync(*key); st.ok() ? q.Forget(*key) : q.AddRateLimited(*key); q.Done(*key); }
//
// Thread-safety: all methods from any thread. Ownership: the queue owns its delay timer thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"

namespace tug::client {

struct WorkQueueOptions {
  std::chrono::milliseconds base_delay{5};
  std::chrono::milliseconds max_delay{1000 * 1000};
  Clock* clock = nullptr;  // null: RealClock()
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions opts = {});
  ~WorkQueue();  // ShutDown()

  void Add(const std::string& key);
  void AddAfter(const std::string& key, std::chrono::milliseconds delay);
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;
  // Blocks until a key is available; nullopt after ShutDown.
  std::optional<std::string> Get();
  void Done(const std::string& key);
  void ShutDown();
  size_t Len() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tug::client
