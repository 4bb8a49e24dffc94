// A small fixed pool that runs the chunks of one scheduling cycle's Filter and Score loops on
// several threads (upstream's parallelize.Parallelizer, parallelism 16 by default).
//
//   Parallelizer par(4);                       // the caller + 3 helper threads
//   par.Until(num_chunks, [&](size_t c) { ...; return keep_going; });
//
// Chunks are handed out in increasing order (0, 1, 2, ...); once any call returns false no
// further chunk is handed out, but every chunk already handed out runs to completion. So the
// chunks that ran are always a prefix 0..k, which lets a caller reproduce the sequential result.
//
// Ownership: owns its helper threads (joined by the destructor). Thread-safety: Until may be
// called by one thread at a time (the scheduling thread); fn runs concurrently with itself and
// must only touch per-chunk state or synchronized state.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tug::scheduler::framework {

class Parallelizer {
 public:
  // parallelism <= 1: no helper threads; Until runs every chunk on the caller.
  explicit Parallelizer(int parallelism);
  ~Parallelizer();
  Parallelizer(const Parallelizer&) = delete;
  Parallelizer& operator=(const Parallelizer&) = delete;

  int parallelism() const { return static_cast<int>(helpers_.size()) + 1; }
  // Runs fn(chunk) for chunks 0..n-1 (in increasing hand-out order) until one returns false.
  // Returns the number of chunks handed out (all of which have completed).
  size_t Until(size_t n, const std::function<bool(size_t)>& fn);

 private:
  void HelperLoop();
  void Work();

  std::vector<std::thread> helpers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  bool closed_ = false;
  uint64_t job_ = 0;        // generation of the current job
  int busy_ = 0;            // helpers working on the current job
  const std::function<bool(size_t)>* fn_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace tug::scheduler::framework
