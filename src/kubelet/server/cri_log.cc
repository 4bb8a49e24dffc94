#include "kubelet/server/cri_log.h"

#include <cstdio>
#include <ctime>
#include <limits>

namespace tug::kubelet::server {

namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

Result<int64_t> ParseRfc3339Nano(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (!Digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, mo) || s[7] != '-' ||
      !Digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !Digits(s, 11, 2, h) ||
      s[13] != ':' || !Digits(s, 14, 2, mi) || s[16] != ':' || !Digits(s, 17, 2, se))
    return Status(StatusCode::kBadRequest, "bad RFC 3339 time: " + std::string(s));
  size_t pos = 19;
  int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) {
        frac = frac * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return Status(StatusCode::kBadRequest, "bad RFC 3339 time: " + std::string(s));
    for (; digits < 9; ++digits) frac *= 10;
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !Digits(s, pos + 4, 2, om))
      return Status(StatusCode::kBadRequest, "bad RFC 3339 offset: " + std::string(s));
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return Status(StatusCode::kBadRequest, "RFC 3339 time without zone: " + std::string(s));
  }
  if (pos != s.size()) return Status(StatusCode::kBadRequest, "bad RFC 3339 time: " + std::string(s));
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset_s;
  // Nanoseconds since the epoch end in 2262: later (and much earlier) times saturate, so a
  // sinceTime far in the future selects nothing instead of wrapping round to the past.
  constexpr int64_t kMaxSecs = std::numeric_limits<int64_t>::max() / 1000000000LL - 1;
  if (secs > kMaxSecs) return std::numeric_limits<int64_t>::max();
  if (secs < -kMaxSecs) return std::numeric_limits<int64_t>::min();
  return secs * 1000000000LL + frac;
}

std::string FormatRfc3339Nano(int64_t ns) {
  int64_t secs = ns / 1000000000LL;
  int64_t frac = ns % 1000000000LL;
  if (frac < 0) {
    frac += 1000000000LL;
    --secs;
  }
  time_t t = static_cast<time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out = buf;
  if (frac) {
    char f[16];
    std::snprintf(f, sizeof f, ".%09lld", static_cast<long long>(frac));
    std::string fs = f;
    while (fs.back() == '0') fs.pop_back();
    out += fs;
  }
  return out + "Z";
}

Result<CriLogEntry> ParseCriLogLine(std::string_view line) {
  auto bad = [&] { return Status(StatusCode::kBadRequest, "not a CRI log line: " + std::string(line.substr(0, 80))); };
  size_t a = line.find(' ');
  if (a == std::string_view::npos) return bad();
  size_t b = line.find(' ', a + 1);
  if (b == std::string_view::npos) return bad();
  CriLogEntry e;
  auto t = ParseRfc3339Nano(line.substr(0, a));
  if (!t.ok()) return bad();
  e.time_ns = *t;
  e.stream = std::string(line.substr(a + 1, b - a - 1));
  if (e.stream != "stdout" && e.stream != "stderr") return bad();
  std::string_view rest = line.substr(b + 1);
  // The tag may be followed by a space and text, or end the line (an empty full line).
  size_t c = rest.find(' ');
  std::string_view tag = rest.substr(0, c);
  if (tag == "P") {
    e.partial = true;
  } else if (tag != "F") {
    return bad();
  }
  if (c != std::string_view::npos) e.text = std::string(rest.substr(c + 1));
  return e;
}

bool LogFormatter::Append(const CriLogEntry& e, std::string& out) {
  if (done_) return false;
  if (opts_.since_ns && e.time_ns < *opts_.since_ns) return true;
  std::string s;
  if (opts_.timestamps) s = FormatRfc3339Nano(e.time_ns) + " ";
  s += e.text;
  if (!e.partial) s += '\n';
  if (opts_.limit_bytes) {
    int64_t left = *opts_.limit_bytes - written_;
    if (static_cast<int64_t>(s.size()) >= left) {
      out.append(s, 0, static_cast<size_t>(std::max<int64_t>(left, 0)));
      written_ += left;
      done_ = true;
      return false;
    }
  }
  written_ += static_cast<int64_t>(s.size());
  out += s;
  return true;
}

std::vector<std::string> SplitLines(std::string_view data, std::string& rest) {
  std::vector<std::string> lines;
  std::string buf = rest + std::string(data);
  size_t start = 0;
  for (;;) {
    size_t nl = buf.find('\n', start);
    if (nl == std::string::npos) break;
    lines.emplace_back(buf, start, nl - start);
    start = nl + 1;
  }
  rest = buf.substr(start);
  return lines;
}

size_t SelectTail(const std::vector<CriLogEntry>& entries, int64_t n) {
  if (n < 0) return 0;
  size_t i = entries.size();
  int64_t lines = 0;
  // Walk back over whole logical lines; an unterminated trailing run counts as a line.
  while (i > 0) {
    size_t j = i - 1;
    // find the start of the logical line ending at j
    while (j > 0 && entries[j - 1].partial) --j;
    if (lines == n) break;
    ++lines;
    i = j;
  }
  return i;
}

}  // namespace tug::kubelet::server
