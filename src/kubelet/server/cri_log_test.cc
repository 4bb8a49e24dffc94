#include "kubelet/server/cri_log.h"

#include <gtest/gtest.h>

namespace tug::kubelet::server {
namespace {

TEST(CriLog, ParsesLines) {
  struct Case {
    std::string line;
    bool ok;
    int64_t ns;
    std::string stream;
    bool partial;
    std::string text;
  };
  const Case cases[] = {
      {"2024-01-02T03:04:05.123456789Z stdout F hello world", true, 1704164645123456789LL, "stdout", false, "hello world"},
      {"2024-01-02T03:04:05.5+00:00 stderr P part", true, 1704164645500000000LL, "stderr", true, "part"},
      {"2024-01-02T05:04:05+02:00 stdout F x", true, 1704164645000000000LL, "stdout", false, "x"},
      {"2024-01-02T03:04:05Z stdout F", true, 1704164645000000000LL, "stdout", false, ""},
      {"2024-01-02T03:04:05Z stdout F  lead", true, 1704164645000000000LL, "stdout", false, " lead"},
      {"garbage", false, 0, "", false, ""},
      {"2024-01-02T03:04:05Z stdin F x", false, 0, "", false, ""},
      {"2024-01-02T03:04:05Z stdout X x", false, 0, "", false, ""},
      {"2024-01-02 stdout F x", false, 0, "", false, ""},
  };
  for (const auto& c : cases) {
    auto e = ParseCriLogLine(c.line);
    ASSERT_EQ(e.ok(), c.ok) << c.line;
    if (!c.ok) continue;
    EXPECT_EQ(e->time_ns, c.ns) << c.line;
    EXPECT_EQ(e->stream, c.stream) << c.line;
    EXPECT_EQ(e->partial, c.partial) << c.line;
    EXPECT_EQ(e->text, c.text) << c.line;
  }
}

TEST(CriLog, FormatsRfc3339Nano) {
  EXPECT_EQ(FormatRfc3339Nano(1704164645123456789LL), "2024-01-02T03:04:05.123456789Z");
  EXPECT_EQ(FormatRfc3339Nano(1704164645500000000LL), "2024-01-02T03:04:05.5Z");
  EXPECT_EQ(FormatRfc3339Nano(1704164645000000000LL), "2024-01-02T03:04:05Z");
}

std::vector<CriLogEntry> Entries(std::initializer_list<std::pair<bool, std::string>> xs) {
  std::vector<CriLogEntry> v;
  int64_t t = 1000000000;
  for (auto& [partial, text] : xs) v.push_back(CriLogEntry{t++ * 1000000000LL, "stdout", partial, text});
  return v;
}

TEST(CriLog, TailCountsLogicalLines) {
  auto e = Entries({{false, "a"}, {true, "b1"}, {false, "b2"}, {false, "c"}});
  EXPECT_EQ(SelectTail(e, 0), 4u);
  EXPECT_EQ(SelectTail(e, 1), 3u);
  EXPECT_EQ(SelectTail(e, 2), 1u);  // b1+b2 is one line
  EXPECT_EQ(SelectTail(e, 3), 0u);
  EXPECT_EQ(SelectTail(e, 10), 0u);
  EXPECT_EQ(SelectTail(e, -1), 0u);
}

TEST(CriLog, FormatterJoinsPartialsAndLimits) {
  auto e = Entries({{true, "ab"}, {false, "cd"}, {false, "ef"}});
  {
    LogFormatter f(LogOptions{});
    std::string out;
    for (auto& x : e) f.Append(x, out);
    EXPECT_EQ(out, "abcd\nef\n");
  }
  {
    LogOptions o;
    o.limit_bytes = 6;
    LogFormatter f(o);
    std::string out;
    bool more = true;
    for (auto& x : e)
      if (!(more = f.Append(x, out))) break;
    EXPECT_FALSE(more);
    EXPECT_EQ(out, "abcd\ne");
  }
  {
    LogOptions o;
    o.since_ns = e[2].time_ns;
    o.timestamps = true;
    LogFormatter f(o);
    std::string out;
    for (auto& x : e) f.Append(x, out);
    EXPECT_EQ(out, FormatRfc3339Nano(e[2].time_ns) + " ef\n");
  }
}

TEST(CriLog, SplitLinesKeepsRest) {
  std::string rest;
  auto l = SplitLines("a\nb\nc", rest);
  EXPECT_EQ(l, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(rest, "c");
  l = SplitLines("d\n", rest);
  EXPECT_EQ(l, (std::vector<std::string>{"cd"}));
  EXPECT_EQ(rest, "");
}

}  // namespace
}  // namespace tug::kubelet::server
