#include "scheduler/framework/parallelizer.h"

#include <pthread.h>

namespace tug::scheduler::framework {

Parallelizer::Parallelizer(int parallelism) {
  for (int i = 1; i < parallelism; ++i) helpers_.emplace_back([this] { HelperLoop(); });
}

Parallelizer::~Parallelizer() {
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
  }
  cv_.notify_all();
  for (auto& t : helpers_) t.join();
}

void Parallelizer::Work() {
  for (;;) {
    if (stop_.load(std::memory_order_relaxed)) return;
    size_t c = next_.fetch_add(1, std::memory_order_relaxed);
    if (c >= n_) return;
    if (!(*fn_)(c)) stop_.store(true, std::memory_order_relaxed);
  }
}

void Parallelizer::HelperLoop() {
  pthread_setname_np(pthread_self(), "sched-par");
  uint64_t seen = 0;
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return closed_ || job_ != seen; });
    if (closed_) return;
    seen = job_;
    ++busy_;
    l.unlock();
    Work();
    l.lock();
    if (--busy_ == 0) done_cv_.notify_one();
  }
}

size_t Parallelizer::Until(size_t n, const std::function<bool(size_t)>& fn) {
  const bool parallel = !helpers_.empty() && n > 1;
  {
    // Under mu_: a helper only reads the job after taking mu_ and seeing a new generation.
    std::unique_lock<std::mutex> l(mu_, std::defer_lock);
    if (parallel) l.lock();
    fn_ = &fn;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    stop_.store(false, std::memory_order_relaxed);
    if (parallel) ++job_;
  }
  if (parallel) cv_.notify_all();
  Work();
  if (parallel) {
    std::unique_lock<std::mutex> l(mu_);
    done_cv_.wait(l, [&] { return busy_ == 0; });
    // A helper that wakes only now finds nothing left to do.
    n_ = 0;
  }
  size_t handed = next_.load(std::memory_order_relaxed);
  return handed < n ? handed : n;
}

}  // namespace tug::scheduler::framework
