// Cron schedule check as upstream CronJob validation does it (robfig/cron v3 ParseStandard:
// five fields or a @descriptor, names for months and weekdays, ranges, steps, lists, an
// optional TZ=/CRON_TZ= prefix). Returns "" when the schedule parses, else the parser's
// error text.
//
// Thread-safety: pure function, reentrant.
#pragma once

#include <string>
#include <string_view>

namespace tug::api::validation {

std::string CronParseError(std::string_view schedule);

}  // namespace tug::api::validation
