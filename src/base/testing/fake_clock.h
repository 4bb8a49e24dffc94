// FakeClock: a Clock whose time only moves when the test says so. Thread-safe.
#pragma once

#include <atomic>

#include "base/clock.h"

namespace tug::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(SystemTime start = SystemTime(std::chrono::seconds(1700000000))) : now_(start.time_since_epoch().count()) {}
  SystemTime Now() const override { return SystemTime(SystemTime::duration(now_.load())); }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::time_point(std::chrono::duration_cast<std::chrono::steady_clock::duration>(SystemTime::duration(now_.load())));
  }
  void Advance(std::chrono::nanoseconds d) { now_ += std::chrono::duration_cast<SystemTime::duration>(d).count(); }

 private:
  std::atomic<SystemTime::rep> now_;
};

}  // namespace tug::testing
