#include "simnodes/flags.h"

#include <gtest/gtest.h>

namespace tug::simnodes {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, Table) {
  struct Case {
    std::string in;
    bool ok;
    std::chrono::milliseconds want;
  } cases[] = {{"0", true, 0ms},         {"1s", true, 1000ms},   {"250ms", true, 250ms}, {"1m30s", true, 90s},
               {"1.5s", true, 1500ms},   {"2h", true, 7200s},    {"", false, 0ms},       {"5", false, 0ms},
               {"s", false, 0ms},        {"3d", false, 0ms},     {"1s-", false, 0ms}};
  for (const auto& c : cases) {
    auto r = ParseDuration(c.in);
    ASSERT_EQ(r.ok(), c.ok) << c.in;
    if (c.ok) {
      EXPECT_EQ(*r, c.want) << c.in;
    }
  }
}

TEST(ParseFlags, AllFlags) {
  auto r = ParseFlags({"--kubeconfig", "/k", "--server=https://h:1", "--count", "5", "--name-prefix", "n-",
                       "--first-index=10", "--cpu", "8", "--memory", "1Gi", "--pods", "20", "--startup-delay", "0",
                       "--run-time", "2s", "--kill-delay", "10ms", "--crash-backoff", "1s", "--lease-interval", "5s",
                       "--labels", "a=b", "--taints", "k:NoSchedule", "--workers", "3", "-v", "4"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kubeconfig, "/k");
  EXPECT_EQ(r->server, "https://h:1");
  EXPECT_EQ(r->verbosity, 4);
  const Options& o = r->options;
  EXPECT_EQ(o.count, 5);
  EXPECT_EQ(o.name_prefix, "n-");
  EXPECT_EQ(o.first_index, 10u);
  EXPECT_EQ(o.shape.cpu, "8");
  EXPECT_EQ(o.shape.memory, "1Gi");
  EXPECT_EQ(o.shape.pods, "20");
  EXPECT_EQ(o.startup_delay, 0ms);
  EXPECT_EQ(o.run_time, 2s);
  EXPECT_EQ(o.kill_delay, 10ms);
  EXPECT_EQ(o.crash_backoff, 1s);
  EXPECT_EQ(o.lease_renew_interval, 5s);
  EXPECT_EQ(o.shape.labels.at("a"), "b");
  EXPECT_EQ(o.shape.taints.size(), 1u);
  EXPECT_EQ(o.workers, 3);
}

TEST(ParseFlags, Errors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"--kubeconfig", "/k"}, "--count is required"},
      {{"--count", "1"}, "--kubeconfig is required"},
      {{"--kubeconfig", "/k", "--count", "0"}, "invalid value \"0\" for flag --count"},
      {{"--kubeconfig", "/k", "--count", "1", "--bogus", "1"}, "unknown flag: --bogus"},
      {{"--kubeconfig", "/k", "--count"}, "flag needs an argument: --count"},
      {{"--kubeconfig", "/k", "--count", "1", "--run-time", "soon"}, "invalid value \"soon\" for flag --run-time"},
      {{"--kubeconfig", "/k", "--count", "1", "--taints", "x"}, "--taints: invalid taint \"x\": want key[=value]:Effect"},
  };
  for (const auto& c : cases) {
    auto r = ParseFlags(c.args);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().message(), c.message);
  }
  auto help = ParseFlags({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(help->help);
}

}  // namespace
}  // namespace tug::simnodes
