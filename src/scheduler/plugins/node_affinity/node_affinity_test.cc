#include <gtest/gtest.h>

#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::plugins {
namespace {

using namespace framework;
using testing::FakeCluster;
using testing::NodeBuilder;
using testing::PodBuilder;

Json Required(Json exprs) {
  return {{"nodeAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {{"nodeSelectorTerms", {{{"matchExpressions", exprs}}}}}}}}};
}

TEST(NodeAffinity, Filter) {
  struct Case {
    const char* name;
    Json pod;
    bool fits;
  } cases[] = {
      {"no constraints", PodBuilder("p"), true},
      {"selector matches", PodBuilder("p").NodeSelector("disk", "ssd"), true},
      {"selector mismatch", PodBuilder("p").NodeSelector("disk", "hdd"), false},
      {"selector missing key", PodBuilder("p").NodeSelector("gpu", "yes"), false},
      {"affinity In", PodBuilder("p").Affinity(Required({{{"key", "zone"}, {"operator", "In"}, {"values", {"a", "b"}}}})), true},
      {"affinity NotIn", PodBuilder("p").Affinity(Required({{{"key", "zone"}, {"operator", "NotIn"}, {"values", {"a"}}}})), false},
      {"selector and affinity both", PodBuilder("p").NodeSelector("disk", "hdd").Affinity(Required({{{"key", "zone"}, {"operator", "In"}, {"values", {"a"}}}})), false},
  };
  for (const auto& c : cases) {
    FakeCluster cl;
    cl.AddNode(NodeBuilder("n").Label("disk", "ssd").Label("zone", "a"));
    auto fw = testing::MakeFramework(cl, {{"NodeAffinity"}});
    PluginStatus s = testing::FilterOn(*fw, cl, c.pod, "n");
    EXPECT_EQ(s.ok(), c.fits) << c.name;
    if (!c.fits) {
      EXPECT_EQ(s.Message(), "node(s) didn't match Pod's node affinity/selector") << c.name;
      EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable);
    }
  }
}

TEST(NodeAffinity, PreferredScore) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("a").Label("zone", "a"));
  cl.AddNode(NodeBuilder("b").Label("zone", "b").Label("disk", "ssd"));
  cl.AddNode(NodeBuilder("c"));
  Json aff = Json::parse(R"({"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[
      {"weight":10,"preference":{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}},
      {"weight":40,"preference":{"matchExpressions":[{"key":"disk","operator":"Exists"}]}}]}})");
  auto fw = testing::MakeFramework(cl, {{"NodeAffinity"}});
  auto s = testing::Scores(*fw, cl, PodBuilder("p").Affinity(aff));
  EXPECT_EQ(s["a"], 25);
  EXPECT_EQ(s["b"], 100);
  EXPECT_EQ(s["c"], 0);
}

}  // namespace
}  // namespace tug::scheduler::plugins
