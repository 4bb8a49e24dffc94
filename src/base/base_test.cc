#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"

namespace tug {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidError("odd");
  return x / 2;
}
Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(StatusTest, CodesMapToReasons) {
  EXPECT_EQ(HttpCodeOf(StatusCode::kInvalid), 422);
  EXPECT_EQ(ReasonOf(StatusCode::kGone), "Expired");
  EXPECT_EQ(HttpCodeOf(StatusCode::kConflict), 409);
}

TEST(StatusTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), StatusCode::kInvalid);
}

TEST(JsonTest, ParseErrorsAreBadRequest) {
  EXPECT_EQ(ParseJson("{").status().code(), StatusCode::kBadRequest);
  EXPECT_EQ(GetStringPath(*ParseJson(R"({"a":{"b":"c"}})"), {"a", "b"}), "c");
}

TEST(ClockTest, RFC3339RoundTrip) {
  auto t = ParseRFC3339("2024-02-29T23:59:58.5+01:00");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatRFC3339(*t), "2024-02-29T22:59:58Z");
  EXPECT_FALSE(ParseRFC3339("2024-02-29 23:59:58").ok());
}

TEST(ClockTest, HumanDuration) {
  using std::chrono::seconds;
  EXPECT_EQ(HumanDuration(seconds(5)), "5s");
  EXPECT_EQ(HumanDuration(seconds(200)), "3m20s");
  EXPECT_EQ(HumanDuration(seconds(3600 * 5 + 60)), "5h1m");
  EXPECT_EQ(HumanDuration(seconds(3600 * 30)), "30h");
  EXPECT_EQ(HumanDuration(seconds(86400 * 3)), "3d");
}

}  // namespace
}  // namespace tug
