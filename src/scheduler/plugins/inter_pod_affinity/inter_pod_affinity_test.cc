#include <gtest/gtest.h>

#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::plugins {
namespace {

using namespace framework;
using testing::FakeCluster;
using testing::NodeBuilder;
using testing::PodBuilder;

Json Term(const std::string& app, const std::string& key) {
  return {{"labelSelector", {{"matchLabels", {{"app", app}}}}}, {"topologyKey", key}};
}

TEST(InterPodAffinity, Filter) {
  struct Case {
    const char* name;
    Json pod;
    std::map<std::string, std::string> want;  // node -> "" fits / message
  } cases[] = {
      {"affinity to db zone",
       PodBuilder("p").Label("app", "web").Affinity({{"podAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {Term("db", "zone")}}}}}),
       {{"a1", ""}, {"a2", ""}, {"b1", "node(s) didn't match pod affinity rules"}}},
      {"anti-affinity to db host",
       PodBuilder("p").Label("app", "web").Affinity({{"podAntiAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {Term("db", "kubernetes.io/hostname")}}}}}),
       {{"a1", "node(s) didn't match pod anti-affinity rules"}, {"a2", ""}, {"b1", ""}}},
      {"existing pod's anti-affinity repels",
       PodBuilder("p").Label("app", "lonely"),
       {{"a1", ""}, {"a2", ""}, {"b1", "node(s) didn't satisfy existing pods anti-affinity rules"}}},
      {"first pod of a group may match itself",
       PodBuilder("p").Label("app", "cache").Affinity({{"podAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {Term("cache", "zone")}}}}}),
       {{"a1", ""}, {"b1", ""}}},
      {"other namespace does not match",
       PodBuilder("p", "other").Label("app", "web").Affinity({{"podAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {Term("db", "zone")}}}}}),
       {{"a1", "node(s) didn't match pod affinity rules"}}},
  };
  for (const auto& c : cases) {
    FakeCluster cl;
    cl.AddNode(NodeBuilder("a1").Label("zone", "a"));
    cl.AddNode(NodeBuilder("a2").Label("zone", "a"));
    cl.AddNode(NodeBuilder("b1").Label("zone", "b"));
    cl.AddPod(PodBuilder("db").Label("app", "db").NodeName("a1"));
    cl.AddPod(PodBuilder("guard").Label("app", "guard").NodeName("b1").Affinity(
        {{"podAntiAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution", {Term("lonely", "zone")}}}}}));
    auto fw = testing::MakeFramework(cl, {{"InterPodAffinity"}});
    for (const auto& [node, want] : c.want) {
      PluginStatus s = testing::FilterOn(*fw, cl, c.pod, node);
      EXPECT_EQ(s.ok() ? "" : s.Message(), want) << c.name << " on " << node;
    }
  }
}

TEST(InterPodAffinity, PreferredScore) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("a1").Label("zone", "a"));
  cl.AddNode(NodeBuilder("b1").Label("zone", "b"));
  cl.AddNode(NodeBuilder("c1").Label("zone", "c"));
  cl.AddPod(PodBuilder("db").Label("app", "db").NodeName("a1"));
  cl.AddPod(PodBuilder("noisy").Label("app", "noisy").NodeName("b1"));
  Json aff = {{"podAffinity", {{"preferredDuringSchedulingIgnoredDuringExecution", {{{"weight", 50}, {"podAffinityTerm", Term("db", "zone")}}}}}},
              {"podAntiAffinity", {{"preferredDuringSchedulingIgnoredDuringExecution", {{{"weight", 50}, {"podAffinityTerm", Term("noisy", "zone")}}}}}}};
  auto fw = testing::MakeFramework(cl, {{"InterPodAffinity"}});
  auto s = testing::Scores(*fw, cl, PodBuilder("p").Affinity(aff));
  EXPECT_EQ(s["a1"], 100);
  EXPECT_EQ(s["c1"], 50);
  EXPECT_EQ(s["b1"], 0);
}

}  // namespace
}  // namespace tug::scheduler::plugins
