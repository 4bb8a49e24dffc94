#include "base/clock.h"

#include <cstdio>
#include <ctime>

namespace tug {
namespace {
class RealClockImpl final : public Clock {
 public:
  SystemTime Now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point SteadyNow() const override { return std::chrono::steady_clock::now(); }
};
}  // namespace

Clock& RealClock() {
  static RealClockImpl* c = new RealClockImpl();  // never destroyed: usable during shutdown
  return *c;
}

std::string FormatRFC3339(SystemTime t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string FormatRFC3339Micro(SystemTime t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t tt = static_cast<std::time_t>(us / 1000000);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us % 1000000));
  return buf;
}

Result<SystemTime> ParseRFC3339(std::string_view s) {
  int Y, M, D, h, m, sec;
  if (s.size() < 20 || std::sscanf(std::string(s.substr(0, 19)).c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &Y, &M, &D, &h,
                                   &m, &sec) != 6 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't')) {
    return BadRequestError("invalid RFC3339 time: " + std::string(s));
  }
  size_t i = 19;
  long long frac_us = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 6) frac_us = frac_us * 10 + (s[i] - '0');
      ++digits;
      ++i;
    }
    for (int d = digits; d < 6; ++d) frac_us *= 10;
  }
  long offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 <= s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (std::sscanf(std::string(s.substr(i + 1, 5)).c_str(), "%2d:%2d", &oh, &om) != 2)
      return BadRequestError("invalid RFC3339 offset: " + std::string(s));
    offset = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return BadRequestError("invalid RFC3339 time: " + std::string(s));
  }
  if (i != s.size()) return BadRequestError("invalid RFC3339 time: " + std::string(s));
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  std::time_t tt = timegm(&tm);
  return std::chrono::system_clock::from_time_t(tt - offset) + std::chrono::microseconds(frac_us);
}

// Mirrors the rounding of k8s.io/apimachinery/pkg/util/duration.HumanDuration.
std::string HumanDuration(std::chrono::seconds d) {
  long long s = d.count();
  char buf[48];
  if (s < 0) s = 0;  // clock skew: upstream prints "<invalid>" for < -1s; we clamp
  if (s < 60 * 2) { std::snprintf(buf, sizeof buf, "%llds", s); return buf; }
  long long minutes = s / 60;
  if (minutes < 10) {
    long long rs = s % 60;
    if (rs == 0) std::snprintf(buf, sizeof buf, "%lldm", minutes);
    else std::snprintf(buf, sizeof buf, "%lldm%llds", minutes, rs);
    return buf;
  }
  if (minutes < 60 * 3) { std::snprintf(buf, sizeof buf, "%lldm", minutes); return buf; }
  long long hours = s / 3600;
  if (hours < 8) {
    long long rm = minutes % 60;
    if (rm == 0) std::snprintf(buf, sizeof buf, "%lldh", hours);
    else std::snprintf(buf, sizeof buf, "%lldh%lldm", hours, rm);
    return buf;
  }
  if (hours < 48) { std::snprintf(buf, sizeof buf, "%lldh", hours); return buf; }
  if (hours < 24 * 8) {
    long long rh = hours % 24;
    if (rh == 0) std::snprintf(buf, sizeof buf, "%lldd", hours / 24);
    else std::snprintf(buf, sizeof buf, "%lldd%lldh", hours / 24, rh);
    return buf;
  }
  if (hours < 24 * 365 * 2) { std::snprintf(buf, sizeof buf, "%lldd", hours / 24); return buf; }
  if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    if (dy == 0) std::snprintf(buf, sizeof buf, "%lldy", hours / 24 / 365);
    else std::snprintf(buf, sizeof buf, "%lldy%lldd", hours / 24 / 365, dy);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%lldy", hours / 24 / 365);
  return buf;
}

}  // namespace tug
