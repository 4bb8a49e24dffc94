// Cron schedule parsing; see cron.h. The error texts follow robfig/cron v3 (the parser upstream
// Kubernetes uses), so `spec.schedule` errors read as they do on a real cluster.
#include "api/validation/cron.h"

#include <sys/stat.h>

#include <cctype>
#include <map>
#include <vector>

namespace tug::api::validation {
namespace {

struct Bounds {
  int min;
  int max;
  const std::map<std::string, int>* names;
};

const std::map<std::string, int> kMonths = {{"jan", 1}, {"feb", 2}, {"mar", 3}, {"apr", 4},  {"may", 5},  {"jun", 6},
                                            {"jul", 7}, {"aug", 8}, {"sep", 9}, {"oct", 10}, {"nov", 11}, {"dec", 12}};
const std::map<std::string, int> kDays = {{"sun", 0}, {"mon", 1}, {"tue", 2}, {"wed", 3},
                                          {"thu", 4}, {"fri", 5}, {"sat", 6}};

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

std::vector<std::string> Fields(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

// strconv.Atoi semantics: optional sign, decimal digits.
bool Atoi(const std::string& s, long long& out, std::string& err) {
  size_t i = 0;
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (i >= s.size()) {
    err = "strconv.Atoi: parsing \"" + s + "\": invalid syntax";
    return false;
  }
  long long v = 0;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) {
      err = "strconv.Atoi: parsing \"" + s + "\": invalid syntax";
      return false;
    }
    v = v * 10 + (s[i] - '0');
    if (v > 1LL << 40) {
      err = "strconv.Atoi: parsing \"" + s + "\": value out of range";
      return false;
    }
  }
  out = neg ? -v : v;
  return true;
}

bool MustParseInt(const std::string& s, long long& out, std::string& err) {
  std::string e;
  if (!Atoi(s, out, e)) {
    err = "failed to parse int from " + s + ": " + e;
    return false;
  }
  if (out < 0) {
    err = "negative number (" + std::to_string(out) + ") not allowed: " + s;
    return false;
  }
  return true;
}

bool ParseIntOrName(const std::string& s, const Bounds& b, long long& out, std::string& err) {
  if (b.names != nullptr) {
    std::string lower = s;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = b.names->find(lower);
    if (it != b.names->end()) {
      out = it->second;
      return true;
    }
  }
  return MustParseInt(s, out, err);
}

std::string GetRange(const std::string& expr, const Bounds& b) {
  std::vector<std::string> range_and_step = Split(expr, '/');
  std::vector<std::string> low_and_high = Split(range_and_step[0], '-');
  bool single_digit = low_and_high.size() == 1;
  long long start = 0, end = 0, step = 1;
  std::string err;
  if (low_and_high[0] == "*" || low_and_high[0] == "?") {
    start = b.min;
    end = b.max;
  } else {
    if (!ParseIntOrName(low_and_high[0], b, start, err)) return err;
    if (low_and_high.size() == 1) {
      end = start;
    } else if (low_and_high.size() == 2) {
      if (!ParseIntOrName(low_and_high[1], b, end, err)) return err;
    } else {
      return "too many hyphens: " + expr;
    }
  }
  if (range_and_step.size() == 2) {
    if (!MustParseInt(range_and_step[1], step, err)) return err;
    // "N/step" means N-max/step.
    if (single_digit) end = b.max;
    if (step > 1) {
      // fine
    }
  } else if (range_and_step.size() > 2) {
    return "too many slashes: " + expr;
  }
  if (start < b.min)
    return "beginning of range (" + std::to_string(start) + ") below minimum (" + std::to_string(b.min) + "): " + expr;
  if (end > b.max)
    return "end of range (" + std::to_string(end) + ") above maximum (" + std::to_string(b.max) + "): " + expr;
  if (start > end)
    return "beginning of range (" + std::to_string(start) + ") beyond end of range (" + std::to_string(end) + "): " + expr;
  if (step == 0) return "step of range should be a positive number: " + expr;
  return "";
}

// Go's time.ParseDuration, enough to tell valid from invalid for "@every".
bool ValidGoDuration(const std::string& s) {
  if (s.empty()) return false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') ++i;
  if (s.substr(i) == "0") return true;
  if (i >= s.size()) return false;
  while (i < s.size()) {
    size_t digits = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i, ++digits;
    if (digits == 0) return false;
    size_t u = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string unit = s.substr(u, i - u);
    if (unit != "ns" && unit != "us" && unit != "µs" && unit != "ms" && unit != "s" && unit != "m" && unit != "h")
      return false;
  }
  return true;
}

}  // namespace

std::string CronParseError(std::string_view schedule_in) {
  std::string spec(schedule_in);
  if (spec.empty()) return "empty spec string";
  // Optional time zone prefix.
  if (spec.rfind("TZ=", 0) == 0 || spec.rfind("CRON_TZ=", 0) == 0) {
    size_t eq = spec.find('=');
    size_t sp = spec.find(' ');
    std::string tz = spec.substr(eq + 1, sp == std::string::npos ? std::string::npos : sp - eq - 1);
    struct stat st;
    bool ok = tz == "UTC" || tz == "Local" ||
              (tz.find("..") == std::string::npos && !tz.empty() && tz[0] != '/' &&
               stat(("/usr/share/zoneinfo/" + tz).c_str(), &st) == 0 && S_ISREG(st.st_mode));
    if (!ok) return "provided bad location " + tz + ": unknown time zone " + tz;
    spec = sp == std::string::npos ? "" : spec.substr(sp + 1);
    while (!spec.empty() && spec[0] == ' ') spec.erase(0, 1);
  }
  if (!spec.empty() && spec[0] == '@') {
    static const char* kDescriptors[] = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"};
    for (const char* d : kDescriptors)
      if (spec == d) return "";
    if (spec.rfind("@every ", 0) == 0) {
      std::string dur = spec.substr(7);
      if (!ValidGoDuration(dur)) return "failed to parse duration " + spec + ": time: invalid duration \"" + dur + "\"";
      return "";
    }
    return "unrecognized descriptor: " + spec;
  }
  std::vector<std::string> fields = Fields(spec);
  if (fields.size() != 5) {
    std::string list = "[";
    for (size_t i = 0; i < fields.size(); ++i) list += (i ? " " : "") + fields[i];
    list += "]";
    return "expected exactly 5 fields, found " + std::to_string(fields.size()) + ": " + list;
  }
  const Bounds bounds[5] = {{0, 59, nullptr}, {0, 23, nullptr}, {1, 31, nullptr}, {1, 12, &kMonths}, {0, 6, &kDays}};
  for (size_t i = 0; i < 5; ++i) {
    for (const std::string& expr : Split(fields[i], ',')) {
      std::string err = GetRange(expr, bounds[i]);
      if (!err.empty()) return err;
    }
  }
  return "";
}

}  // namespace tug::api::validation
