#include "api/quantity.h"

#include <gtest/gtest.h>

namespace tug::api {
namespace {

struct ScaledCase {
  std::string text;
  int scale;
  std::optional<int64_t> want;
};

TEST(QuantityTest, ScaledValuesRoundUpLikeUpstream) {
  const ScaledCase cases[] = {
      {"1", 0, 1},
      {"500m", -3, 500},
      {"500m", 0, 1},  // ceil(0.5)
      {"0.1", -3, 100},
      {"1.5", 0, 2},
      {"-1.5", 0, -1},  // toward +inf
      {"100m", -3, 100},
      {"1u", -3, 1},
      {"1n", -9, 1},
      {"1Ki", 0, 1024},
      {"1.5Gi", 0, 1610612736},
      {"1536Mi", 0, 1610612736},
      {"128974848", 0, 128974848},
      {"129e6", 0, 129000000},
      {"123M", 0, 123000000},
      {"1E", 0, 1000000000000000000},
      {"8Ei", 0, std::nullopt},  // 2^63 does not fit
      {"1e3", 0, 1000},
      {"1e-3", -3, 1},
      {"2E+2", 0, 200},
      {".5", -3, 500},
      {"5.", 0, 5},
      {"+7", 0, 7},
      {"0", 0, 0},
      {"-0", 0, 0},
      {"64Gi", -9, std::nullopt},  // nano-units of 64Gi overflow int64 ...
  };
  for (const auto& c : cases) {
    auto q = ParseQuantity(c.text);
    ASSERT_TRUE(q.ok()) << c.text << ": " << q.status().ToString();
    EXPECT_EQ(q->Scaled(c.scale), c.want) << c.text << " scale " << c.scale;
  }
  // ... but not 128 bits.
  EXPECT_EQ(ParseQuantity("64Gi")->Scaled128(-9), (__int128)68719476736 * 1000000000);
}

TEST(QuantityTest, BadSyntaxAndSuffixesAreRejectedWithUpstreamMessages) {
  for (const char* bad : {"", ".", "abc", "1..2", "-", "1 Gi", "Gi", "1GB", "1Kib"}) {
    auto q = ParseQuantity(bad);
    ASSERT_FALSE(q.ok()) << bad;
    EXPECT_NE(q.status().message().find("quantities must match the regular expression"), std::string::npos) << bad;
  }
  for (const char* bad : {"1e", "1ki", "1mm", "1Kie"}) {
    auto q = ParseQuantity(bad);
    ASSERT_FALSE(q.ok()) << bad;
    EXPECT_EQ(q.status().message(), "unable to parse quantity's suffix") << bad;
  }
}

TEST(QuantityTest, EqualValuesAreEqualWhateverTheSpelling) {
  EXPECT_EQ(ParseQuantity("1000m")->ToLongDouble(), ParseQuantity("1")->ToLongDouble());
  EXPECT_EQ(ParseQuantity("1.5Gi")->ToLongDouble(), ParseQuantity("1536Mi")->ToLongDouble());
  EXPECT_EQ(ParseQuantity("-2k")->ToLongDouble(), -2000.0L);
  EXPECT_EQ(ParseQuantity("1e3")->ToLongDouble(), 1000.0L);
  EXPECT_TRUE(ParseQuantity("-0")->IsZero());
  EXPECT_FALSE(ParseQuantity("-0")->negative());
}

TEST(QuantityTest, JsonNumbersAndLongInputs) {
  EXPECT_EQ(ParseScaledJson(Json(2), -3), 2000);
  EXPECT_EQ(ParseScaledJson(Json(0.25), -3), 250);
  EXPECT_EQ(ParseScaledJson(Json("250m"), -3), 250);
  EXPECT_EQ(ParseScaledJson(Json(true), 0), std::nullopt);
  EXPECT_EQ(ParseScaled("12x", 0), std::nullopt);
  // More digits than the mantissa holds: still parsed, rounded up at the 36th digit.
  EXPECT_EQ(ParseScaled("0.0000000000000000000000000000000000000000001", 0), 1);
  EXPECT_EQ(ParseScaled("1.0000000000000000000000000000000000000000001", 0), 2);
  EXPECT_EQ(ParseScaled("100000000000000000000000000000000000000000000000", 0), std::nullopt);
  EXPECT_EQ(ParseScaled("000000000000000000000000000000000000000000000012", 0), 12);
}

}  // namespace
}  // namespace tug::api
