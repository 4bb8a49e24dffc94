// NamespaceDeleter — finishes `kubectl delete namespace`: for each terminating namespace it
// repeatedly runs a sweep (delete every namespaced object in it; when nothing is left, drop
// the "kubernetes" finalizer and the namespace) until the sweep reports done. It is the seed of
// the namespace controller: the sweep is a callback so it can move to src/controllers with a
// client-backed implementation later.
//
// Ownership: owns one worker thread, joined by Stop()/the destructor.
// Thread-safety: Enqueue may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "base/status.h"

namespace tug::apiserver::rest {

class NamespaceDeleter {
 public:
  // sweep(ns) -> true when the namespace is gone (or no longer terminating).
  using Sweep = std::function<Result<bool>(const std::string& ns)>;
  NamespaceDeleter(Sweep sweep, std::chrono::milliseconds retry = std::chrono::milliseconds(500));
  ~NamespaceDeleter();
  void Enqueue(const std::string& ns);
  void Stop();
  // Runs every pending sweep once more, immediately, and waits for those runs (tests).
  void Drain();

 private:
  void Loop();
  Sweep sweep_;
  std::chrono::milliseconds retry_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::chrono::steady_clock::time_point> pending_;  // ns -> not before
  bool busy_ = false;
  uint64_t runs_ = 0;  // completed sweeps
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tug::apiserver::rest
