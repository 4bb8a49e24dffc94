// TimeZone: UTC offsets of one IANA zone, read from the system tz database (TZif files under
// /usr/share/zoneinfo), plus civil-time <-> instant conversion with Go's rules (time.Date picks
// the offset in effect before a DST transition for a wall time that falls in a gap or overlap),
// so cron schedules with a time zone fire at the same instants as upstream's controller.
//
// Ownership: values are immutable after Load and shared as shared_ptr<const TimeZone>.
// Thread-safety: Load is reentrant; a loaded TimeZone is safe to use from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tug::controllers::cronjob {

// A wall-clock date and time. Fields may be out of range; ToInstant normalizes them as Go's
// time.Date does (month 13 is January of the next year, day 0 is the last day of the previous
// month, ...).
struct CivilTime {
  int64_t year = 1970;
  int64_t month = 1;  // 1..12
  int64_t day = 1;    // 1..31
  int64_t hour = 0;
  int64_t minute = 0;
  int64_t second = 0;
  int weekday = 4;  // 0 = Sunday; filled by TimeZone::ToCivil
};

class TimeZone {
 public:
  // Parses TZif bytes (versions 1-4). Errors: BadRequest.
  static Result<std::shared_ptr<const TimeZone>> Parse(std::string name, std::string_view data);
  // "UTC" (or ""), "Local" (/etc/localtime), or an IANA name such as "Europe/Berlin".
  // `zoneinfo_dir` is where the TZif files are. Errors: NotFound (unknown zone name),
  // BadRequest (a file that is not TZif, or a name that tries to leave the directory).
  static Result<std::shared_ptr<const TimeZone>> Load(std::string_view name,
                                                      std::string_view zoneinfo_dir = "/usr/share/zoneinfo");
  static std::shared_ptr<const TimeZone> Utc();

  const std::string& name() const { return name_; }
  // UTC offset in seconds at the instant (unix seconds).
  int32_t OffsetAt(int64_t unix_seconds) const;
  CivilTime ToCivil(int64_t unix_seconds) const;
  // Go's time.Date(year, month, day, hour, min, sec, 0, zone).Unix().
  int64_t ToInstant(const CivilTime& c) const;

 private:
  struct Type {
    int32_t utoff;
    bool isdst;
  };
  // Offset lookup returning the validity window [start, end) of the offset, as Go's lookup.
  int32_t Lookup(int64_t unix_seconds, int64_t* start, int64_t* end) const;

  std::string name_;
  std::vector<int64_t> transitions_;  // ascending unix seconds
  std::vector<uint8_t> trans_types_;  // index into types_ for each transition
  std::vector<Type> types_;
  int first_type_ = 0;  // type used before the first transition
  // The POSIX TZ rule from the TZif footer, for instants after the last transition.
  struct Rule {
    bool valid = false;
    int32_t std_off = 0;  // seconds east of UTC
    int32_t dst_off = 0;
    bool has_dst = false;
    // Transition rules: Mm.w.d/time (kind 'M'), Jn (kind 'J'), n (kind 'D').
    struct When {
      char kind = 'M';
      int month = 0, week = 0, day = 0;
      int32_t time = 7200;  // seconds after local midnight
    } start, end;
  } rule_;
  int32_t RuleLookup(int64_t unix_seconds, int64_t* start, int64_t* end) const;
};

// Days since 1970-01-01 for a proleptic Gregorian date (month and day may be out of range only
// as far as the caller normalized them: month 1..12).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d);
void CivilFromDays(int64_t days, int64_t* y, int64_t* m, int64_t* d);

}  // namespace tug::controllers::cronjob
