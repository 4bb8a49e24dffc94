#include <gtest/gtest.h>

#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::plugins {
namespace {

using namespace framework;
using testing::FakeCluster;
using testing::NodeBuilder;
using testing::PodBuilder;

Json Constraint(int skew, const std::string& key, const std::string& when) {
  return {{"maxSkew", skew}, {"topologyKey", key}, {"whenUnsatisfiable", when},
          {"labelSelector", {{"matchLabels", {{"app", "web"}}}}}};
}

// zone a: a1 (2 web pods), a2 (0); zone b: b1 (0); c1 has no zone label.
void SetupCluster(FakeCluster& cl) {
  cl.AddNode(NodeBuilder("a1").Label("zone", "a"));
  cl.AddNode(NodeBuilder("a2").Label("zone", "a"));
  cl.AddNode(NodeBuilder("b1").Label("zone", "b"));
  cl.AddNode(NodeBuilder("c1"));
  cl.AddPod(PodBuilder("w1").Label("app", "web").NodeName("a1"));
  cl.AddPod(PodBuilder("w2").Label("app", "web").NodeName("a1"));
  cl.AddPod(PodBuilder("other").Label("app", "db").NodeName("b1"));
}

TEST(PodTopologySpread, Filter) {
  struct Case {
    const char* name;
    Json pod;
    std::map<std::string, std::string> want;
  } cases[] = {
      {"zone skew 1", PodBuilder("p").Label("app", "web").Spread(Constraint(1, "zone", "DoNotSchedule")),
       {{"a1", "node(s) didn't match pod topology spread constraints"},
        {"a2", "node(s) didn't match pod topology spread constraints"},
        {"b1", ""},
        {"c1", "node(s) didn't match pod topology spread constraints (missing required label)"}}},
      {"zone skew 3", PodBuilder("p").Label("app", "web").Spread(Constraint(3, "zone", "DoNotSchedule")),
       {{"a1", ""}, {"b1", ""}}},
      {"host skew 1", PodBuilder("p").Label("app", "web").Spread(Constraint(1, "kubernetes.io/hostname", "DoNotSchedule")),
       {{"a1", "node(s) didn't match pod topology spread constraints"}, {"a2", ""}, {"c1", ""}}},
      {"soft constraint not filtered", PodBuilder("p").Label("app", "web").Spread(Constraint(1, "zone", "ScheduleAnyway")),
       {{"a1", ""}, {"c1", ""}}},
  };
  for (const auto& c : cases) {
    FakeCluster cl;
    SetupCluster(cl);
    auto fw = testing::MakeFramework(cl, {{"PodTopologySpread"}});
    for (const auto& [node, want] : c.want) {
      PluginStatus s = testing::FilterOn(*fw, cl, c.pod, node);
      EXPECT_EQ(s.ok() ? "" : s.Message(), want) << c.name << " on " << node;
    }
  }
}

TEST(PodTopologySpread, SoftScorePrefersEmptierDomain) {
  FakeCluster cl;
  SetupCluster(cl);
  auto fw = testing::MakeFramework(cl, {{"PodTopologySpread"}});
  auto s = testing::Scores(*fw, cl, PodBuilder("p").Label("app", "web").Spread(Constraint(1, "kubernetes.io/hostname", "ScheduleAnyway")));
  EXPECT_LT(s["a1"], s["a2"]);
  EXPECT_EQ(s["a2"], 100);
  EXPECT_EQ(s["b1"], 100);
}

TEST(PodTopologySpread, DefaultConstraintsUseServiceSelector) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("a1").Label("topology.kubernetes.io/zone", "a"));
  cl.AddNode(NodeBuilder("a2").Label("topology.kubernetes.io/zone", "a"));
  cl.AddNode(NodeBuilder("b1").Label("topology.kubernetes.io/zone", "b"));
  cl.AddNode(NodeBuilder("nozone"));
  for (int i = 0; i < 4; ++i) cl.AddPod(PodBuilder("w" + std::to_string(i)).Label("app", "web").NodeName("a1"));
  auto fw = testing::MakeFramework(cl, {{"PodTopologySpread"}});
  // No selecting Service/ReplicaSet: the defaults do not apply, every node scores the same (skipped).
  auto none = testing::Scores(*fw, cl, PodBuilder("p").Label("app", "web"));
  EXPECT_EQ(none["a1"], none["b1"]);
  Json ml = {{"app", "web"}};
  cl.lister_impl.default_selector = LabelSelector::FromMap(&ml);
  auto s = testing::Scores(*fw, cl, PodBuilder("p").Label("app", "web"));
  EXPECT_EQ(s["nozone"], 0);  // nodes without every default key are ignored
  EXPECT_EQ(s["b1"], 100);
  EXPECT_LT(s["a1"], s["a2"]);
  EXPECT_LT(s["a2"], s["b1"]);
}

}  // namespace
}  // namespace tug::scheduler::plugins
