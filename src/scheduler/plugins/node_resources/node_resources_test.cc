#include <gtest/gtest.h>

#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::plugins {
namespace {

using namespace framework;
using testing::FakeCluster;
using testing::NodeBuilder;
using testing::PodBuilder;

TEST(NodeResourcesFit, Filter) {
  struct Case {
    const char* name;
    Json pod;
    std::vector<std::string> want;  // empty = fits
  } cases[] = {
      {"fits", PodBuilder("p").Req("cpu", "1").Req("memory", "1Gi"), {}},
      {"cpu", PodBuilder("p").Req("cpu", "3"), {"Insufficient cpu"}},
      {"memory", PodBuilder("p").Req("memory", "5Gi"), {"Insufficient memory"}},
      {"both", PodBuilder("p").Req("cpu", "3").Req("memory", "5Gi"), {"Insufficient cpu", "Insufficient memory"}},
      {"init container counts", PodBuilder("p").Req("cpu", "100m").Init({{"cpu", "2500m"}}), {"Insufficient cpu"}},
      {"overhead counts", PodBuilder("p").Req("cpu", "2").Overhead("cpu", "1"), {"Insufficient cpu"}},
      {"extended resource", PodBuilder("p").Req("example.com/gpu", "2"), {"Insufficient example.com/gpu"}},
      {"extended fits", PodBuilder("p").Req("example.com/gpu", "1"), {}},
      {"best effort fits", PodBuilder("p"), {}},
  };
  for (const auto& c : cases) {
    FakeCluster cl;
    cl.AddNode(NodeBuilder("n1", "4", "8Gi", 3).Allocatable("example.com/gpu", "1"));
    cl.AddPod(PodBuilder("used").NodeName("n1").Req("cpu", "2").Req("memory", "4Gi"));
    auto fw = testing::MakeFramework(cl, {{"NodeResourcesFit"}});
    PluginStatus s = testing::FilterOn(*fw, cl, c.pod, "n1");
    if (c.want.empty()) {
      EXPECT_TRUE(s.ok()) << c.name << ": " << s.Message();
    } else {
      EXPECT_EQ(s.code(), Code::kUnschedulable) << c.name;
      EXPECT_EQ(s.reasons(), c.want) << c.name;
    }
  }
}

TEST(NodeResourcesFit, TooManyPods) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("n1", "4", "8Gi", 1));
  cl.AddPod(PodBuilder("used").NodeName("n1"));
  auto fw = testing::MakeFramework(cl, {{"NodeResourcesFit"}});
  EXPECT_EQ(testing::FilterOn(*fw, cl, PodBuilder("p"), "n1").reasons(), std::vector<std::string>{"Too many pods"});
}

TEST(NodeResourcesFit, Scores) {
  // n1: 4 cpu / 8Gi with 2 cpu / 4Gi used; n2: empty.
  struct Case {
    const char* strategy;
    int64_t n1, n2;
  } cases[] = {
      // pod 1 cpu / 2Gi. Least: n1 cpu (4-3)/4=25, mem (8-6)/8=25 -> 25; n2 cpu 75, mem 75 -> 75.
      {"LeastAllocated", 25, 75},
      {"MostAllocated", 75, 25},
  };
  for (const auto& c : cases) {
    FakeCluster cl;
    cl.AddNode(NodeBuilder("n1", "4", "8Gi"));
    cl.AddNode(NodeBuilder("n2", "4", "8Gi"));
    cl.AddPod(PodBuilder("used").NodeName("n1").Req("cpu", "2").Req("memory", "4Gi"));
    Json args = {{"scoringStrategy", {{"type", c.strategy}}}};
    auto fw = testing::MakeFramework(cl, {{"NodeResourcesFit", 1, args}});
    ASSERT_TRUE(fw);
    auto s = testing::Scores(*fw, cl, PodBuilder("p").Req("cpu", "1").Req("memory", "2Gi"));
    EXPECT_EQ(s["n1"], c.n1) << c.strategy;
    EXPECT_EQ(s["n2"], c.n2) << c.strategy;
  }
  FakeCluster cl;
  cl.AddNode(NodeBuilder("n1"));
  EXPECT_EQ(testing::MakeFramework(cl, {{"NodeResourcesFit", 1, {{"scoringStrategy", {{"type", "Bogus"}}}}}}), nullptr);
}

TEST(NodeResourcesFit, NonZeroDefaultsForBestEffortScore) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("n1", "1", "1Gi"));
  auto fw = testing::MakeFramework(cl, {{"NodeResourcesFit"}});
  // cpu (1000-100)/1000 = 90, memory (1024-200)/1024 = 80 -> 85.
  EXPECT_EQ(testing::Scores(*fw, cl, PodBuilder("p"))["n1"], 85);
}

TEST(BalancedAllocation, PrefersBalancedNode) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("n1", "4", "8Gi"));
  cl.AddNode(NodeBuilder("n2", "4", "8Gi"));
  cl.AddPod(PodBuilder("cpuheavy").NodeName("n1").Req("cpu", "3"));
  auto fw = testing::MakeFramework(cl, {{"NodeResourcesBalancedAllocation"}});
  auto s = testing::Scores(*fw, cl, PodBuilder("p").Req("cpu", "1").Req("memory", "2Gi"));
  // n1: cpu 1.0, mem 0.25 -> sd .375 -> 62; n2: .25/.25 -> 100.
  EXPECT_EQ(s["n1"], 62);
  EXPECT_EQ(s["n2"], 100);
}

}  // namespace
}  // namespace tug::scheduler::plugins
