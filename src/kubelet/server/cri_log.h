// Reading CRI container log files (the k8s-file format conmon writes) for `kubectl logs`:
// parsing lines, and selecting/formatting them for tailLines, sinceTime, timestamps and
// limitBytes.
//
// Line format: `<RFC3339Nano time> <stdout|stderr> <P|F> <text>`; the time ends in `Z` or a
// numeric offset (`+00:00`). P marks a partial line continued by the next entry.
//
// Ownership: plain values. Thread-safety: the functions are pure; a LogFormatter is used by
// one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tug::kubelet::server {

struct CriLogEntry {
  int64_t time_ns = 0;  // Unix time in nanoseconds
  std::string stream;   // "stdout" or "stderr"
  bool partial = false;
  std::string text;     // without the trailing newline
};

// Parses one line (without its '\n'). InvalidArgument when it is not a CRI log line.
Result<CriLogEntry> ParseCriLogLine(std::string_view line);
// Parses an RFC 3339 time (fractional seconds optional, `Z` or `±hh:mm`) to Unix ns.
Result<int64_t> ParseRfc3339Nano(std::string_view s);
// Formats Unix ns as RFC 3339 in UTC with trailing fractional zeros trimmed (Go RFC3339Nano).
std::string FormatRfc3339Nano(int64_t ns);

struct LogOptions {
  std::optional<int64_t> tail_lines;   // last N lines
  std::optional<int64_t> since_ns;     // only entries at or after this time
  std::optional<int64_t> limit_bytes;  // stop after this many output bytes
  bool timestamps = false;
};

// Turns entries into output, applying since/timestamps/limitBytes (tailLines is applied on the
// whole-file pass by SelectTail). Feed entries in order.
class LogFormatter {
 public:
  explicit LogFormatter(const LogOptions& opts) : opts_(opts) {}
  // Appends the formatted entry to out. Returns false once limitBytes is reached (stop).
  bool Append(const CriLogEntry& e, std::string& out);
  bool done() const { return done_; }

 private:
  LogOptions opts_;
  int64_t written_ = 0;
  bool done_ = false;
};

// Splits data into complete lines; leaves an unterminated tail in `rest`.
std::vector<std::string> SplitLines(std::string_view data, std::string& rest);
// The index of the first entry to output so that only the last `n` logical lines remain (a
// logical line is a run of P entries ended by an F entry).
size_t SelectTail(const std::vector<CriLogEntry>& entries, int64_t n);

}  // namespace tug::kubelet::server
