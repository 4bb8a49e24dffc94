// WorkQueue: dirty/processing sets as client-go's workqueue, a delaying heap served by one
// timer thread (started on the first delayed add), and per-key exponential back-off.
#include "client/workqueue.h"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace tug::client {

using SteadyTime = std::chrono::steady_clock::time_point;

struct WorkQueue::Impl {
  explicit Impl(WorkQueueOptions o) : opts(o), clock(o.clock ? o.clock : &RealClock()) {}

  WorkQueueOptions opts;
  Clock* clock;

  mutable std::mutex mu;
  std::condition_variable cv;        // Get waiters
  std::condition_variable timer_cv;  // the timer thread
  std::deque<std::string> queue;
  std::unordered_set<std::string> dirty;
  std::unordered_set<std::string> processing;
  std::unordered_map<std::string, int> failures;
  // Delayed adds: the earliest ready time per key, and a heap of (time, key) entries (stale
  // entries, whose time no longer matches `waiting`, are skipped).
  std::unordered_map<std::string, SteadyTime> waiting;
  using Entry = std::pair<SteadyTime, std::string>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  bool shutting_down = false;
  std::thread timer;

  void AddLocked(const std::string& key) {
    if (shutting_down || dirty.count(key)) return;
    dirty.insert(key);
    if (processing.count(key)) return;
    queue.push_back(key);
    cv.notify_one();
  }

  void TimerLoop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!shutting_down) {
      SteadyTime now = clock->SteadyNow();
      while (!heap.empty() && heap.top().first <= now) {
        Entry e = heap.top();
        heap.pop();
        auto it = waiting.find(e.second);
        if (it == waiting.end() || it->second != e.first) continue;
        waiting.erase(it);
        AddLocked(e.second);
      }
      if (heap.empty()) {
        timer_cv.wait(lock);
        continue;
      }
      auto wait = heap.top().first - now;
      // An injected clock moves independently of real time: poll it.
      if (clock != &RealClock()) wait = std::min<std::chrono::steady_clock::duration>(wait, std::chrono::milliseconds(2));
      timer_cv.wait_for(lock, wait);
    }
  }
};

WorkQueue::WorkQueue(WorkQueueOptions opts) : impl_(std::make_unique<Impl>(opts)) {}

WorkQueue::~WorkQueue() { ShutDown(); }

void WorkQueue::Add(const std::string& key) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::milliseconds delay) {
  if (delay <= std::chrono::milliseconds::zero()) return Add(key);
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->shutting_down) return;
  SteadyTime ready = impl_->clock->SteadyNow() + delay;
  auto it = impl_->waiting.find(key);
  if (it != impl_->waiting.end() && it->second <= ready) return;  // an earlier add wins
  impl_->waiting[key] = ready;
  impl_->heap.emplace(ready, key);
  if (!impl_->timer.joinable()) impl_->timer = std::thread([this] { impl_->TimerLoop(); });
  impl_->timer_cv.notify_one();
}

void WorkQueue::AddRateLimited(const std::string& key) {
  std::chrono::milliseconds delay;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    int n = impl_->failures[key]++;
    // base * 2^n, capped (the exponent is bounded to avoid overflow).
    double d = static_cast<double>(impl_->opts.base_delay.count()) * static_cast<double>(1ull << std::min(n, 40));
    double cap = static_cast<double>(impl_->opts.max_delay.count());
    delay = std::chrono::milliseconds(static_cast<int64_t>(std::min(d, cap)));
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->failures.erase(key);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->failures.find(key);
  return it == impl_->failures.end() ? 0 : it->second;
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->shutting_down || !impl_->queue.empty(); });
  if (impl_->shutting_down) return std::nullopt;
  std::string key = std::move(impl_->queue.front());
  impl_->queue.pop_front();
  impl_->processing.insert(key);
  impl_->dirty.erase(key);
  return key;
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->processing.erase(key);
  if (impl_->dirty.count(key)) {
    impl_->queue.push_back(key);
    impl_->cv.notify_one();
  }
}

void WorkQueue::ShutDown() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->shutting_down = true;
    impl_->cv.notify_all();
    impl_->timer_cv.notify_all();
    t = std::move(impl_->timer);
  }
  if (t.joinable()) t.join();
}

size_t WorkQueue::Len() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->queue.size();
}

}  // namespace tug::client
