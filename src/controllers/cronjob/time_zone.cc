// TimeZone: see time_zone.h. TZif layout per RFC 8536.
#include "controllers/cronjob/time_zone.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace tug::controllers::cronjob {
namespace {

constexpr int64_t kSecondsPerDay = 86400;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

uint32_t Be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
int64_t Be64(const unsigned char* p) { return int64_t((uint64_t(Be32(p)) << 32) | Be32(p + 4)); }

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int DaysIn(int64_t y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// POSIX TZ string pieces ------------------------------------------------------------------

bool ParseName(std::string_view& s) {
  if (!s.empty() && s[0] == '<') {
    size_t e = s.find('>');
    if (e == std::string_view::npos) return false;
    s.remove_prefix(e + 1);
    return true;
  }
  size_t i = 0;
  while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
  if (i < 3) return false;
  s.remove_prefix(i);
  return true;
}

// [+-]hh[:mm[:ss]] -> seconds.
bool ParseHms(std::string_view& s, int32_t* out, bool allow_sign = true) {
  int sign = 1;
  if (allow_sign && !s.empty() && (s[0] == '+' || s[0] == '-')) {
    if (s[0] == '-') sign = -1;
    s.remove_prefix(1);
  }
  int32_t parts[3] = {0, 0, 0};
  for (int k = 0; k < 3; ++k) {
    if (k > 0) {
      if (s.empty() || s[0] != ':') break;
      s.remove_prefix(1);
    }
    size_t i = 0;
    int32_t v = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) v = v * 10 + (s[i++] - '0');
    if (i == 0) return false;
    parts[k] = v;
    s.remove_prefix(i);
  }
  *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  return true;
}

bool ParseInt(std::string_view& s, int* out) {
  size_t i = 0;
  int v = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) v = v * 10 + (s[i++] - '0');
  if (i == 0) return false;
  *out = v;
  s.remove_prefix(i);
  return true;
}

}  // namespace

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  // Howard Hinnant's days_from_civil.
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t mp = (m + 9) % 12;
  const int64_t doy = (153 * mp + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int64_t* m, int64_t* d) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yoe + era * 400 + (*m <= 2);
}

std::shared_ptr<const TimeZone> TimeZone::Utc() {
  static const std::shared_ptr<const TimeZone> utc = [] {
    auto z = std::make_shared<TimeZone>();
    z->name_ = "UTC";
    z->types_.push_back({0, false});
    return std::shared_ptr<const TimeZone>(z);
  }();
  return utc;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Load(std::string_view name, std::string_view zoneinfo_dir) {
  if (name.empty() || name == "UTC") return Utc();
  std::string path;
  if (name == "Local") {
    path = "/etc/localtime";
  } else {
    // Go's LoadLocation refuses names that could escape the zoneinfo directory.
    if (name[0] == '/' || name.find("..") != std::string_view::npos || name.find('\\') != std::string_view::npos)
      return BadRequestError("invalid time zone name " + std::string(name));
    path = std::string(zoneinfo_dir) + "/" + std::string(name);
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (name == "Local") return Utc();
    return NotFoundError("unknown time zone " + std::string(name));
  }
  std::string data;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (n < 0) return NotFoundError("unknown time zone " + std::string(name));
  auto r = Parse(std::string(name), data);
  if (!r.ok() && name != "Local") return NotFoundError("unknown time zone " + std::string(name));
  if (!r.ok()) return Utc();
  return r;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Parse(std::string name, std::string_view data) {
  auto bad = [&] { return BadRequestError("invalid TZif data for " + name); };
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t size = data.size();
  if (size < 44 || data.substr(0, 4) != "TZif") return bad();
  char version = data[4];
  auto counts = [&](size_t off, uint32_t c[6]) {
    for (int i = 0; i < 6; ++i) c[i] = Be32(p + off + 20 + 4 * i);
  };
  uint32_t c[6];  // isutcnt isstdcnt leapcnt timecnt typecnt charcnt
  counts(0, c);
  size_t time_size = 4;
  size_t off = 44;
  auto block_len = [&](size_t ts) {
    return size_t(c[3]) * ts + c[3] + size_t(c[4]) * 6 + c[5] + size_t(c[2]) * (ts + 4) + c[1] + c[0];
  };
  if (version >= '2') {
    off = 44 + block_len(4);
    if (off + 44 > size || data.substr(off, 4) != "TZif") return bad();
    counts(off, c);
    off += 44;
    time_size = 8;
  }
  if (off + block_len(time_size) > size || c[4] == 0) return bad();
  auto z = std::make_shared<TimeZone>();
  z->name_ = std::move(name);
  const unsigned char* q = p + off;
  for (uint32_t i = 0; i < c[3]; ++i)
    z->transitions_.push_back(time_size == 8 ? Be64(q + 8 * i) : int64_t(int32_t(Be32(q + 4 * i))));
  q += size_t(c[3]) * time_size;
  for (uint32_t i = 0; i < c[3]; ++i) {
    if (q[i] >= c[4]) return bad();
    z->trans_types_.push_back(q[i]);
  }
  q += c[3];
  for (uint32_t i = 0; i < c[4]; ++i) z->types_.push_back({int32_t(Be32(q + 6 * i)), q[6 * i + 4] != 0});
  // The type before the first transition (Go's lookupFirstZone).
  bool first_used = std::find(z->trans_types_.begin(), z->trans_types_.end(), 0) != z->trans_types_.end();
  z->first_type_ = 0;
  if (first_used && !z->trans_types_.empty() && z->types_[z->trans_types_[0]].isdst) {
    for (int i = z->trans_types_[0] - 1; i >= 0; --i)
      if (!z->types_[i].isdst) {
        z->first_type_ = i;
        break;
      }
  }
  // Footer: "\n<POSIX TZ>\n" after the v2 block.
  size_t foot = off + block_len(time_size);
  if (time_size == 8 && foot < size && data[foot] == '\n') {
    size_t e = data.find('\n', foot + 1);
    if (e != std::string_view::npos) {
      std::string_view s = data.substr(foot + 1, e - foot - 1);
      Rule r;
      int32_t std_posix = 0;
      if (ParseName(s) && ParseHms(s, &std_posix)) {
        r.std_off = -std_posix;
        r.valid = true;
        if (!s.empty()) {
          if (ParseName(s)) {
            r.has_dst = true;
            r.dst_off = r.std_off + 3600;
            if (!s.empty() && s[0] != ',') {
              int32_t dst_posix = 0;
              if (!ParseHms(s, &dst_posix)) r.valid = false;
              r.dst_off = -dst_posix;
            }
            auto when = [&](Rule::When& w) {
              if (s.empty() || s[0] != ',') return false;
              s.remove_prefix(1);
              if (!s.empty() && s[0] == 'M') {
                s.remove_prefix(1);
                w.kind = 'M';
                if (!ParseInt(s, &w.month) || s.empty() || s[0] != '.') return false;
                s.remove_prefix(1);
                if (!ParseInt(s, &w.week) || s.empty() || s[0] != '.') return false;
                s.remove_prefix(1);
                if (!ParseInt(s, &w.day)) return false;
              } else if (!s.empty() && s[0] == 'J') {
                s.remove_prefix(1);
                w.kind = 'J';
                if (!ParseInt(s, &w.day)) return false;
              } else {
                w.kind = 'D';
                if (!ParseInt(s, &w.day)) return false;
              }
              if (!s.empty() && s[0] == '/') {
                s.remove_prefix(1);
                if (!ParseHms(s, &w.time)) return false;
              }
              return true;
            };
            if (s.empty()) {
              // US rules are the POSIX default when a DST name has no rule.
              r.start = {'M', 3, 2, 0, 7200};
              r.end = {'M', 11, 1, 0, 7200};
            } else if (!when(r.start) || !when(r.end)) {
              r.valid = false;
            }
          } else {
            r.valid = false;
          }
        }
      }
      if (r.valid) z->rule_ = r;
    }
  }
  return std::shared_ptr<const TimeZone>(z);
}

int32_t TimeZone::RuleLookup(int64_t t, int64_t* start, int64_t* end) const {
  const Rule& r = rule_;
  if (!r.has_dst) {
    *start = INT64_MIN;
    *end = INT64_MAX;
    return r.std_off;
  }
  int64_t y, m, d;
  CivilFromDays(FloorDiv(t + r.std_off, kSecondsPerDay), &y, &m, &d);
  auto rule_time = [&](int64_t year, const Rule::When& w) -> int64_t {
    // Seconds since the start of `year` (local) at which the rule fires.
    int64_t day;  // zero-based day of year
    if (w.kind == 'J') {
      day = w.day - 1;
      if (IsLeap(year) && w.day >= 60) ++day;
    } else if (w.kind == 'D') {
      day = w.day;
    } else {
      int64_t first = DaysFromCivil(year, w.month, 1);
      int wd_first = static_cast<int>(((first % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
      int64_t dom = (w.day - wd_first + 7) % 7 + 1 + int64_t(w.week - 1) * 7;
      while (dom > DaysIn(year, w.month)) dom -= 7;
      day = first + dom - 1 - DaysFromCivil(year, 1, 1);
    }
    return day * kSecondsPerDay + w.time;
  };
  // Transitions for this year and its neighbours, as absolute instants.
  struct Tr {
    int64_t at;
    int32_t off;
  };
  std::vector<Tr> trs;
  for (int64_t yy = y - 1; yy <= y + 1; ++yy) {
    int64_t ys = DaysFromCivil(yy, 1, 1) * kSecondsPerDay;
    trs.push_back({ys + rule_time(yy, r.start) - r.std_off, r.dst_off});
    trs.push_back({ys + rule_time(yy, r.end) - r.dst_off, r.std_off});
  }
  std::sort(trs.begin(), trs.end(), [](const Tr& a, const Tr& b) { return a.at < b.at; });
  for (size_t i = trs.size(); i-- > 0;) {
    if (trs[i].at <= t) {
      *start = trs[i].at;
      *end = i + 1 < trs.size() ? trs[i + 1].at : INT64_MAX;
      return trs[i].off;
    }
  }
  *start = INT64_MIN;
  *end = trs.front().at;
  return trs.back().off;
}

int32_t TimeZone::Lookup(int64_t t, int64_t* start, int64_t* end) const {
  if (transitions_.empty() && !rule_.valid) {
    *start = INT64_MIN;
    *end = INT64_MAX;
    return types_.empty() ? 0 : types_[0].utoff;
  }
  if (transitions_.empty() || t < transitions_.front()) {
    if (transitions_.empty()) return RuleLookup(t, start, end);
    *start = INT64_MIN;
    *end = transitions_.front();
    return types_[first_type_].utoff;
  }
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
  size_t i = static_cast<size_t>(it - transitions_.begin()) - 1;
  if (i + 1 == transitions_.size() && rule_.valid) {
    int64_t s, e;
    int32_t off = RuleLookup(t, &s, &e);
    *start = std::max(s, transitions_.back());
    *end = e;
    return off;
  }
  *start = transitions_[i];
  *end = i + 1 < transitions_.size() ? transitions_[i + 1] : INT64_MAX;
  return types_[trans_types_[i]].utoff;
}

int32_t TimeZone::OffsetAt(int64_t t) const {
  int64_t s, e;
  return Lookup(t, &s, &e);
}

CivilTime TimeZone::ToCivil(int64_t t) const {
  int64_t local = t + OffsetAt(t);
  int64_t days = FloorDiv(local, kSecondsPerDay);
  int64_t secs = local - days * kSecondsPerDay;
  CivilTime c;
  CivilFromDays(days, &c.year, &c.month, &c.day);
  c.hour = secs / 3600;
  c.minute = secs / 60 % 60;
  c.second = secs % 60;
  c.weekday = static_cast<int>(((days % 7) + 11) % 7);
  return c;
}

int64_t TimeZone::ToInstant(const CivilTime& in) const {
  // Normalize as Go's time.Date: month into year, seconds/minutes/hours into days.
  int64_t m0 = in.month - 1;
  int64_t year = in.year + FloorDiv(m0, 12);
  int64_t month = m0 - FloorDiv(m0, 12) * 12 + 1;
  int64_t secs = in.hour * 3600 + in.minute * 60 + in.second;
  int64_t unix = (DaysFromCivil(year, month, 1) + in.day - 1) * kSecondsPerDay + secs;
  int64_t start, end;
  int32_t offset = Lookup(unix, &start, &end);
  if (offset != 0) {
    int64_t utc = unix - offset;
    if (utc < start || utc >= end) offset = OffsetAt(utc);
    unix -= offset;
  }
  return unix;
}

}  // namespace tug::controllers::cronjob
