#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>

namespace tug::log {
namespace {
std::atomic<int> g_verbosity{2};
}  // namespace

void SetVerbosity(int v) { g_verbosity.store(v, std::memory_order_relaxed); }
int Verbosity() { return g_verbosity.load(std::memory_order_relaxed); }

Line::Line(Severity sev, std::string_view component) : sev_(sev) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  const char sevc = "IWEF"[static_cast<int>(sev)];
  std::snprintf(buf, sizeof buf, "%c%02d%02d %02d:%02d:%02d.%06lld ", sevc, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<long long>(us));
  os_ << buf << component << "] ";
}

void Line::AppendValue(const std::string& v) {
  bool needs_quote = v.empty() || v.find_first_of(" \t\n\"=") != std::string::npos;
  if (!needs_quote) {
    os_ << v;
    return;
  }
  os_ << '"';
  for (char c : v) {
    if (c == '"' || c == '\\') os_ << '\\' << c;
    else if (c == '\n') os_ << "\\n";
    else os_ << c;
  }
  os_ << '"';
}

Line::~Line() {
  os_ << '\n';
  std::string s = os_.str();
  ssize_t off = 0;
  while (off < static_cast<ssize_t>(s.size())) {
    ssize_t n = ::write(2, s.data() + off, s.size() - off);
    if (n <= 0) break;
    off += n;
  }
  if (sev_ == Severity::FATAL) std::abort();
}

}  // namespace tug::log
