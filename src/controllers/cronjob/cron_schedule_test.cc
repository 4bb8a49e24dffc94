#include "controllers/cronjob/cron_schedule.h"

#include <gtest/gtest.h>

#include "controllers/cronjob/time_zone.h"

namespace tug::controllers::cronjob {
namespace {

SystemTime At(const char* rfc3339) { return ParseRFC3339(rfc3339).value(); }
std::string Fmt(std::optional<SystemTime> t) { return t ? FormatRFC3339(*t) : "none"; }

struct NextCase {
  const char* name;
  const char* spec;
  const char* from;
  const char* want;  // "none" when there is no activation within five years
};

class NextTest : public ::testing::TestWithParam<NextCase> {};

TEST_P(NextTest, MatchesUpstream) {
  const NextCase& c = GetParam();
  auto s = Schedule::Parse(c.spec, TimeZone::Utc());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(Fmt(s->Next(At(c.from))), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Schedules, NextTest,
    ::testing::Values(
        NextCase{"EveryMinute", "*/1 * * * *", "2026-11-25T10:00:30Z", "2026-11-25T10:01:00Z"},
        NextCase{"StrictlyAfter", "0 * * * *", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z"},
        NextCase{"FractionRoundsUp", "* * * * *", "2026-11-25T10:00:59.5Z", "2026-11-25T10:01:00Z"},
        NextCase{"Hourly", "@hourly", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z"},
        NextCase{"Daily", "@daily", "2026-11-25T10:00:00Z", "2026-11-26T00:00:00Z"},
        NextCase{"Midnight", "@midnight", "2026-11-25T23:59:59Z", "2026-11-26T00:00:00Z"},
        NextCase{"WeeklyIsSunday", "@weekly", "2026-11-25T10:00:00Z", "2026-11-29T00:00:00Z"},
        NextCase{"Monthly", "@monthly", "2026-11-25T10:00:00Z", "2026-12-01T00:00:00Z"},
        NextCase{"YearlyWraps", "@yearly", "2026-11-25T10:00:00Z", "2027-01-01T00:00:00Z"},
        NextCase{"Annually", "@annually", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
        NextCase{"WeekdaysByName", "0 9 * * mon-fri", "2026-11-27T10:00:00Z", "2026-11-30T09:00:00Z"},
        NextCase{"MonthByName", "0 0 1 mar *", "2026-11-25T10:00:00Z", "2027-03-01T00:00:00Z"},
        // Day-of-month and day-of-week both restricted: either matches (Friday the 27th first).
        NextCase{"DomOrDow", "0 0 13 * 5", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z"},
        // One of them "*": both must match, i.e. only the other one restricts.
        NextCase{"DomWithStarDow", "0 0 13 * *", "2026-11-25T00:00:00Z", "2026-12-13T00:00:00Z"},
        NextCase{"StepInRange", "30 6-16/4 * * 1-5", "2026-11-25T10:31:00Z", "2026-11-25T14:30:00Z"},
        NextCase{"StepFromValue", "5/20 * * * *", "2026-11-25T10:26:00Z", "2026-11-25T10:45:00Z"},
        NextCase{"List", "0,15,45 * * * *", "2026-11-25T10:16:00Z", "2026-11-25T10:45:00Z"},
        NextCase{"LeapDay", "0 0 29 2 *", "2026-11-25T00:00:00Z", "2028-02-29T00:00:00Z"},
        NextCase{"NeverFebThirtieth", "0 0 30 2 *", "2026-11-25T00:00:00Z", "none"},
        NextCase{"Every90s", "@every 1m30s", "2026-11-25T10:00:00Z", "2026-11-25T10:01:30Z"},
        NextCase{"SundayAsSeven", "0 0 * * 0", "2026-11-25T00:00:00Z", "2026-11-29T00:00:00Z"},
        NextCase{"QuestionMark", "0 12 ? * *", "2026-11-25T13:00:00Z", "2026-11-26T12:00:00Z"}),
    [](const auto& info) { return std::string(info.param.name); });

struct ZoneCase {
  const char* name;
  const char* spec;
  const char* zone;  // default zone ("" = UTC)
  const char* from;
  const char* want;
};

class ZoneNextTest : public ::testing::TestWithParam<ZoneCase> {};

TEST_P(ZoneNextTest, MatchesUpstream) {
  const ZoneCase& c = GetParam();
  auto zone = TimeZone::Load(c.zone);
  ASSERT_TRUE(zone.ok()) << zone.status().ToString();
  auto s = Schedule::Parse(c.spec, *zone);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(Fmt(s->Next(At(c.from))), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Zones, ZoneNextTest,
    ::testing::Values(
        ZoneCase{"CronTzPrefix", "CRON_TZ=Europe/Berlin 0 12 * * *", "", "2026-07-01T00:00:00Z", "2026-07-01T10:00:00Z"},
        ZoneCase{"TzPrefix", "TZ=Europe/Berlin 0 12 * * *", "", "2026-12-01T00:00:00Z", "2026-12-01T11:00:00Z"},
        ZoneCase{"DefaultZone", "0 12 * * *", "Australia/Sydney", "2026-06-30T12:00:00Z", "2026-07-01T02:00:00Z"},
        ZoneCase{"PrefixOverridesDefault", "TZ=UTC 0 12 * * *", "Australia/Sydney", "2026-06-30T11:00:00Z", "2026-06-30T12:00:00Z"},
        // 02:30 does not exist on 2026-03-08 in New York: upstream skips that day.
        ZoneCase{"SpringForwardGap", "30 2 * * *", "America/New_York", "2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z"},
        // 01:30 happens twice on 2026-11-01 in New York: upstream fires at both.
        ZoneCase{"FallBackFirst", "30 1 * * *", "America/New_York", "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z"},
        ZoneCase{"FallBackSecond", "30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"},
        // Past the last transition in the file: the POSIX rule in the TZif footer applies.
        ZoneCase{"FooterRule", "0 12 1 7 *", "America/New_York", "2040-06-01T00:00:00Z", "2040-07-01T16:00:00Z"},
        ZoneCase{"SouthernFooterRule", "0 12 1 1 *", "Australia/Sydney", "2045-06-01T00:00:00Z", "2046-01-01T01:00:00Z"}),
    [](const auto& info) { return std::string(info.param.name); });

struct BadCase {
  const char* name;
  const char* spec;
  const char* error;
};

class ParseErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParseErrorTest, RobfigMessage) {
  auto s = Schedule::Parse(GetParam().spec, TimeZone::Utc());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, ParseErrorTest,
    ::testing::Values(
        BadCase{"Empty", "", "empty spec string"},
        BadCase{"FourFields", "* * * *", "expected exactly 5 fields, found 4: [* * * *]"},
        BadCase{"MinuteRange", "60 * * * *", "end of range (60) above maximum (59): 60"},
        BadCase{"Backwards", "* 5-2 * * *", "beginning of range (5) beyond end of range (2): 5-2"},
        BadCase{"DomZero", "0 0 0 * *", "beginning of range (0) below minimum (1): 0"},
        BadCase{"Word", "0 0 * foo *", "failed to parse int from foo: strconv.Atoi: parsing \"foo\": invalid syntax"},
        BadCase{"ZeroStep", "*/0 * * * *", "step of range should be a positive number: */0"},
        BadCase{"Descriptor", "@fortnightly", "unrecognized descriptor: @fortnightly"},
        BadCase{"BadZone", "TZ=Mars/Olympus 0 0 * * *", "provided bad location Mars/Olympus: unknown time zone Mars/Olympus"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TimeZoneTest, OffsetsFromTheDatabase) {
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_TRUE(ny.ok());
  EXPECT_EQ((*ny)->OffsetAt(ParseRFC3339("2026-01-15T12:00:00Z")->time_since_epoch().count() / 1000000000), -5 * 3600);
  EXPECT_EQ((*ny)->OffsetAt(std::chrono::duration_cast<std::chrono::seconds>(At("2026-07-15T12:00:00Z").time_since_epoch()).count()),
            -4 * 3600);
  EXPECT_FALSE(TimeZone::Load("No/Such_Zone").ok());
  EXPECT_FALSE(TimeZone::Load("../etc/passwd").ok());
  EXPECT_EQ(TimeZone::Load("UTC").value()->OffsetAt(0), 0);
}

TEST(TimeZoneTest, CivilRoundTripNormalizes) {
  auto berlin = TimeZone::Load("Europe/Berlin").value();
  // Month 13 and day 0 normalize as Go's time.Date does.
  int64_t t = berlin->ToInstant({2026, 13, 1, 0, 0, 0});
  CivilTime c = berlin->ToCivil(t);
  EXPECT_EQ(c.year, 2027);
  EXPECT_EQ(c.month, 1);
  EXPECT_EQ(c.day, 1);
  EXPECT_EQ(c.weekday, 5);  // Friday
  c = berlin->ToCivil(berlin->ToInstant({2026, 3, 0, 12, 0, 0}));
  EXPECT_EQ(c.month, 2);
  EXPECT_EQ(c.day, 28);
}

TEST(GoDurationTest, Parses) {
  EXPECT_EQ(ParseGoDuration("1h30m").value(), std::chrono::minutes(90));
  EXPECT_EQ(ParseGoDuration("1.5s").value(), std::chrono::milliseconds(1500));
  EXPECT_FALSE(ParseGoDuration("5").ok());
  EXPECT_FALSE(ParseGoDuration("5x").ok());
}

}  // namespace
}  // namespace tug::controllers::cronjob
