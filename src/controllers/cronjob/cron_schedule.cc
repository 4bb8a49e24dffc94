// Cron schedules; see cron_schedule.h.
#include "controllers/cronjob/cron_schedule.h"

#include <cctype>
#include <cmath>
#include <map>
#include <vector>

namespace tug::controllers::cronjob {
namespace {

struct Bounds {
  int min;
  int max;
  const std::map<std::string, int>* names;
};

const std::map<std::string, int> kMonthNames = {{"jan", 1}, {"feb", 2}, {"mar", 3}, {"apr", 4},
                                                {"may", 5}, {"jun", 6}, {"jul", 7}, {"aug", 8},
                                                {"sep", 9}, {"oct", 10}, {"nov", 11}, {"dec", 12}};
const std::map<std::string, int> kDayNames = {{"sun", 0}, {"mon", 1}, {"tue", 2}, {"wed", 3},
                                              {"thu", 4}, {"fri", 5}, {"sat", 6}};
constexpr Bounds kMinutes{0, 59, nullptr}, kHours{0, 23, nullptr}, kDom{1, 31, nullptr},
    kMonths{1, 12, &kMonthNames}, kDow{0, 6, &kDayNames};

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

Status Bad(std::string msg) { return BadRequestError(std::move(msg)); }

Result<int64_t> ParseNumber(const std::string& s) {
  if (s.empty()) return Bad("failed to parse int from " + s + ": strconv.Atoi: parsing \"" + s + "\": invalid syntax");
  size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  if (i == s.size()) return Bad("failed to parse int from " + s + ": strconv.Atoi: parsing \"" + s + "\": invalid syntax");
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i])))
      return Bad("failed to parse int from " + s + ": strconv.Atoi: parsing \"" + s + "\": invalid syntax");
    v = v * 10 + (s[i] - '0');
    if (v > (1LL << 40)) return Bad("failed to parse int from " + s + ": strconv.Atoi: parsing \"" + s + "\": value out of range");
  }
  if (s[0] == '-') v = -v;
  if (v < 0) return Bad("negative number (" + std::to_string(v) + ") not allowed: " + s);
  return v;
}

Result<int64_t> ParseIntOrName(const std::string& s, const Bounds& b) {
  if (b.names != nullptr) {
    std::string lower = s;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (auto it = b.names->find(lower); it != b.names->end()) return int64_t{it->second};
  }
  return ParseNumber(s);
}

uint64_t Bits(int64_t min, int64_t max, int64_t step) {
  uint64_t bits = 0;
  if (step == 1) return ~(~0ULL << (max + 1)) & (~0ULL << min);
  for (int64_t i = min; i <= max; i += step) bits |= 1ULL << i;
  return bits;
}

constexpr uint64_t kStarBit = 1ULL << 63;

// One comma-separated piece: "*", "*/s", "a", "a-b", "a-b/s", "a/s".
Result<uint64_t> GetRange(const std::string& expr, const Bounds& b) {
  std::vector<std::string> range_and_step = Split(expr, '/');
  std::vector<std::string> low_high = Split(range_and_step[0], '-');
  bool single = low_high.size() == 1;
  int64_t start, end, step = 1;
  uint64_t extra = 0;
  if (low_high[0] == "*" || low_high[0] == "?") {
    start = b.min;
    end = b.max;
    extra = kStarBit;
  } else {
    ASSIGN_OR_RETURN(start, ParseIntOrName(low_high[0], b));
    if (low_high.size() == 1) {
      end = start;
    } else if (low_high.size() == 2) {
      ASSIGN_OR_RETURN(end, ParseIntOrName(low_high[1], b));
    } else {
      return Bad("too many hyphens: " + expr);
    }
  }
  if (range_and_step.size() == 2) {
    ASSIGN_OR_RETURN(step, ParseNumber(range_and_step[1]));
    if (single) end = b.max;  // "N/step" means N-max/step
    if (step > 1) extra = 0;
  } else if (range_and_step.size() > 2) {
    return Bad("too many slashes: " + expr);
  }
  if (start < b.min)
    return Bad("beginning of range (" + std::to_string(start) + ") below minimum (" + std::to_string(b.min) + "): " + expr);
  if (end > b.max)
    return Bad("end of range (" + std::to_string(end) + ") above maximum (" + std::to_string(b.max) + "): " + expr);
  if (start > end)
    return Bad("beginning of range (" + std::to_string(start) + ") beyond end of range (" + std::to_string(end) + "): " + expr);
  if (step == 0) return Bad("step of range should be a positive number: " + expr);
  return Bits(start, end, step) | extra;
}

Result<uint64_t> GetField(const std::string& field, const Bounds& b) {
  uint64_t bits = 0;
  for (const std::string& expr : Split(field, ',')) {
    ASSIGN_OR_RETURN(uint64_t r, GetRange(expr, b));
    bits |= r;
  }
  return bits;
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

uint64_t All(const Bounds& b) { return Bits(b.min, b.max, 1) | kStarBit; }

}  // namespace

Result<std::chrono::nanoseconds> ParseGoDuration(std::string_view s) {
  std::string orig(s);
  auto bad = [&] { return BadRequestError("time: invalid duration \"" + orig + "\""); };
  if (s.empty()) return bad();
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return bad();
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return bad();
    std::string num(s.substr(0, i));
    if (num == "." ) return bad();
    s.remove_prefix(i);
    size_t u = 0;
    while (u < s.size() && !std::isdigit(static_cast<unsigned char>(s[u])) && s[u] != '.') ++u;
    std::string unit(s.substr(0, u));
    s.remove_prefix(u);
    static const std::map<std::string, long double> kUnits = {
        {"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    auto it = kUnits.find(unit);
    if (it == kUnits.end()) {
      if (unit.empty()) return BadRequestError("time: missing unit in duration \"" + orig + "\"");
      return BadRequestError("time: unknown unit \"" + unit + "\" in duration \"" + orig + "\"");
    }
    total += std::stold(num) * it->second;
  }
  if (total > 9.2e18L) return bad();
  return std::chrono::nanoseconds(static_cast<int64_t>(neg ? -total : total));
}

Result<Schedule> Schedule::Parse(std::string_view spec_in, std::shared_ptr<const TimeZone> default_zone) {
  std::string spec(spec_in);
  if (spec.empty()) return Bad("empty spec string");
  Schedule s;
  s.zone_ = default_zone ? std::move(default_zone) : TimeZone::Utc();
  if (spec.rfind("TZ=", 0) == 0 || spec.rfind("CRON_TZ=", 0) == 0) {
    size_t eq = spec.find('=');
    size_t sp = spec.find(' ');
    std::string tz = spec.substr(eq + 1, sp == std::string::npos ? std::string::npos : sp - eq - 1);
    auto zone = TimeZone::Load(tz);
    if (!zone.ok()) return Bad("provided bad location " + tz + ": unknown time zone " + tz);
    s.zone_ = *zone;
    spec = sp == std::string::npos ? "" : spec.substr(sp + 1);
    while (!spec.empty() && spec[0] == ' ') spec.erase(0, 1);
  }
  if (!spec.empty() && spec[0] == '@') {
    const uint64_t all_dom = All(kDom), all_month = All(kMonths), all_dow = All(kDow);
    s.minute_ = 1;
    s.hour_ = 1;
    if (spec == "@yearly" || spec == "@annually") {
      s.dom_ = 1ULL << 1;
      s.month_ = 1ULL << 1;
      s.dow_ = all_dow;
    } else if (spec == "@monthly") {
      s.dom_ = 1ULL << 1;
      s.month_ = all_month;
      s.dow_ = all_dow;
    } else if (spec == "@weekly") {
      s.dom_ = all_dom;
      s.month_ = all_month;
      s.dow_ = 1;
    } else if (spec == "@daily" || spec == "@midnight") {
      s.dom_ = all_dom;
      s.month_ = all_month;
      s.dow_ = all_dow;
    } else if (spec == "@hourly") {
      s.hour_ = All(kHours);
      s.dom_ = all_dom;
      s.month_ = all_month;
      s.dow_ = all_dow;
    } else if (spec.rfind("@every ", 0) == 0) {
      auto d = ParseGoDuration(spec.substr(7));
      if (!d.ok()) return Bad("failed to parse duration " + spec + ": " + d.status().message());
      // robfig: delays under a second are raised to one; sub-second parts are dropped.
      int64_t secs = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
      s.every_seconds_ = secs < 1 ? 1 : secs;
    } else {
      return Bad("unrecognized descriptor: " + spec);
    }
    return s;
  }
  std::vector<std::string> f = Fields(spec);
  if (f.size() != 5) {
    std::string list = "[";
    for (size_t i = 0; i < f.size(); ++i) list += (i ? " " : "") + f[i];
    return Bad("expected exactly 5 fields, found " + std::to_string(f.size()) + ": " + list + "]");
  }
  ASSIGN_OR_RETURN(s.minute_, GetField(f[0], kMinutes));
  ASSIGN_OR_RETURN(s.hour_, GetField(f[1], kHours));
  ASSIGN_OR_RETURN(s.dom_, GetField(f[2], kDom));
  ASSIGN_OR_RETURN(s.month_, GetField(f[3], kMonths));
  ASSIGN_OR_RETURN(s.dow_, GetField(f[4], kDow));
  return s;
}

bool Schedule::DayMatches(const CivilTime& c) const {
  bool dom = (dom_ >> c.day) & 1;
  bool dow = (dow_ >> c.weekday) & 1;
  if ((dom_ & kStar) || (dow_ & kStar)) return dom && dow;
  return dom || dow;
}

std::optional<SystemTime> Schedule::Next(SystemTime tp) const {
  using namespace std::chrono;
  auto since = tp.time_since_epoch();
  int64_t secs = floor<seconds>(since).count();
  if (every_seconds_ > 0) return SystemTime(seconds(secs + every_seconds_));
  // Round up to the next whole second (robfig adds 1s minus the nanoseconds).
  int64_t t = secs + 1;
  const TimeZone& z = *zone_;
  CivilTime c = z.ToCivil(t);
  const int64_t year_limit = c.year + 5;
  bool added = false;
wrap:
  c = z.ToCivil(t);
  if (c.year > year_limit) return std::nullopt;

  while (!((month_ >> c.month) & 1)) {
    if (!added) {
      added = true;
      t = z.ToInstant({c.year, c.month, 1, 0, 0, 0});
    }
    c = z.ToCivil(t);
    t = z.ToInstant({c.year, c.month + 1, c.day, c.hour, c.minute, c.second});
    c = z.ToCivil(t);
    if (c.month == 1) goto wrap;
  }

  while (!DayMatches(c)) {
    if (!added) {
      added = true;
      t = z.ToInstant({c.year, c.month, c.day, 0, 0, 0});
    }
    c = z.ToCivil(t);
    t = z.ToInstant({c.year, c.month, c.day + 1, c.hour, c.minute, c.second});
    c = z.ToCivil(t);
    // Midnight may not exist on a DST day; land on it again (robfig's fix-up).
    if (c.hour != 0) {
      if (c.hour > 12)
        t += (24 - c.hour) * 3600;
      else
        t -= c.hour * 3600;
      c = z.ToCivil(t);
    }
    if (c.day == 1) goto wrap;
  }

  while (!((hour_ >> c.hour) & 1)) {
    if (!added) {
      added = true;
      t = z.ToInstant({c.year, c.month, c.day, c.hour, 0, 0});
    }
    t += 3600;
    c = z.ToCivil(t);
    if (c.hour == 0) goto wrap;
  }

  while (!((minute_ >> c.minute) & 1)) {
    if (!added) {
      added = true;
      t -= t % 60 < 0 ? t % 60 + 60 : t % 60;  // Truncate(time.Minute) on the absolute time
    }
    t += 60;
    c = z.ToCivil(t);
    if (c.minute == 0) goto wrap;
  }

  // The seconds field is fixed at 0 for standard specs (Truncate(time.Second) is a no-op here).
  while (c.second != 0) {
    added = true;
    t += 1;
    c = z.ToCivil(t);
    if (c.second == 0) goto wrap;
  }
  return SystemTime(seconds(t));
}

}  // namespace tug::controllers::cronjob
