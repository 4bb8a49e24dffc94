// StopStack: components register their stop right after they start; RunAll stops them in
// reverse order and logs each stop (C8).
// Thread-safety: not thread-safe; used by the composition root's main thread only.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/log.h"

namespace tug::cmd {

class StopStack {
 public:
  StopStack() = default;
  StopStack(const StopStack&) = delete;
  StopStack& operator=(const StopStack&) = delete;
  ~StopStack() { RunAll(); }

  void Push(std::string name, std::function<void()> stop) { stops_.emplace_back(std::move(name), std::move(stop)); }

  void RunAll() {
    while (!stops_.empty()) {
      auto [name, stop] = std::move(stops_.back());
      stops_.pop_back();
      auto t0 = std::chrono::steady_clock::now();
      stop();
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      TUG_LOG(INFO, "tug") << "stopped" << kv("component", name) << kv("took_ms", ms);
    }
  }

 private:
  std::vector<std::pair<std::string, std::function<void()>>> stops_;
};

}  // namespace tug::cmd
