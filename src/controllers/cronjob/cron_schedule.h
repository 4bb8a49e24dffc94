// Cron schedules as upstream's CronJob controller evaluates them (robfig/cron v3
// ParseStandard + Schedule.Next): five fields (minute hour day-of-month month day-of-week) with
// lists, ranges, steps and month/weekday names, the @yearly/@annually/@monthly/@weekly/@daily/
// @midnight/@hourly macros, "@every <duration>", and an optional "TZ=<zone> " or
// "CRON_TZ=<zone> " prefix. Next() walks forward field by field in the schedule's zone, with the
// same day-of-month/day-of-week rule (either matches unless one of them is "*") and the same DST
// behaviour, so the instants it yields equal upstream's.
//
// Thread-safety: an immutable value after Parse; safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"
#include "controllers/cronjob/time_zone.h"

namespace tug::controllers::cronjob {

class Schedule {
 public:
  // `default_zone` applies when the spec has no TZ= prefix (upstream: the controller's local
  // zone). Errors: BadRequest with robfig/cron's message ("expected exactly 5 fields, found 4:
  // [...]", "provided bad location X: unknown time zone X", ...).
  static Result<Schedule> Parse(std::string_view spec, std::shared_ptr<const TimeZone> default_zone);

  // The first activation strictly after t (sub-second parts of t are rounded up to the next
  // second first), or nullopt when there is none within five years (e.g. "0 0 30 2 *").
  std::optional<SystemTime> Next(SystemTime t) const;
  const TimeZone& zone() const { return *zone_; }

 private:
  static constexpr uint64_t kStar = 1ULL << 63;
  uint64_t minute_ = 0, hour_ = 0, dom_ = 0, month_ = 0, dow_ = 0;
  int64_t every_seconds_ = 0;  // "@every": constant delay
  std::shared_ptr<const TimeZone> zone_;
  bool DayMatches(const CivilTime& c) const;
};

// Parses Go's time.ParseDuration syntax ("1h30m", "90s", "1.5h"). Errors: BadRequest.
Result<std::chrono::nanoseconds> ParseGoDuration(std::string_view s);

}  // namespace tug::controllers::cronjob
