// Clock: injectable time (CONVENTIONS C11). Production code takes a Clock& in its
// constructor; tests pass testing/fake_clock.h.
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tug {

using SystemTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SystemTime Now() const = 0;
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
};

// The process-wide real clock (stateless, never destroyed).
Clock& RealClock();

// "2026-11-25T18:05:35Z" (seconds precision, as metav1.Time).
std::string FormatRFC3339(SystemTime t);
// "2026-11-25T18:05:35.123456Z" (microseconds, as metav1.MicroTime).
std::string FormatRFC3339Micro(SystemTime t);
// Parses RFC 3339 with optional fraction and Z or +hh:mm offset.
Result<SystemTime> ParseRFC3339(std::string_view s);
// Kubernetes "human" duration as kubectl/Age columns print it: 5s, 3m20s, 5h, 3d, 2y...
std::string HumanDuration(std::chrono::seconds d);

}  // namespace tug
