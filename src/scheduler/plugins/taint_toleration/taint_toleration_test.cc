#include <gtest/gtest.h>

#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::plugins {
namespace {

using namespace framework;
using testing::FakeCluster;
using testing::NodeBuilder;
using testing::PodBuilder;

TEST(TaintToleration, Filter) {
  struct Case {
    const char* name;
    Json node;
    Json pod;
    std::string want;  // "" = fits
  } cases[] = {
      {"no taints", NodeBuilder("n"), PodBuilder("p"), ""},
      {"untolerated", NodeBuilder("n").Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"), PodBuilder("p"),
       "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"},
      {"value shown", NodeBuilder("n").Taint("dedicated", "gpu", "NoExecute"), PodBuilder("p"),
       "node(s) had untolerated taint {dedicated: gpu}"},
      {"prefer ignored", NodeBuilder("n").Taint("a", "b", "PreferNoSchedule"), PodBuilder("p"), ""},
      {"equal tolerates", NodeBuilder("n").Taint("dedicated", "gpu", "NoSchedule"),
       PodBuilder("p").Toleration("dedicated", "Equal", "gpu", "NoSchedule"), ""},
      {"wrong value", NodeBuilder("n").Taint("dedicated", "gpu", "NoSchedule"),
       PodBuilder("p").Toleration("dedicated", "Equal", "cpu", "NoSchedule"), "node(s) had untolerated taint {dedicated: gpu}"},
      {"exists any effect", NodeBuilder("n").Taint("dedicated", "gpu", "NoSchedule"),
       PodBuilder("p").Toleration("dedicated", "Exists", "", ""), ""},
      {"empty key exists tolerates all", NodeBuilder("n").Taint("x", "y", "NoExecute"),
       PodBuilder("p").Toleration("", "Exists", "", ""), ""},
      {"effect mismatch", NodeBuilder("n").Taint("dedicated", "gpu", "NoExecute"),
       PodBuilder("p").Toleration("dedicated", "Exists", "", "NoSchedule"), "node(s) had untolerated taint {dedicated: gpu}"},
  };
  for (const auto& c : cases) {
    FakeCluster cl;
    cl.AddNode(c.node);
    auto fw = testing::MakeFramework(cl, {{"TaintToleration"}});
    PluginStatus s = testing::FilterOn(*fw, cl, c.pod, "n");
    if (c.want.empty()) {
      EXPECT_TRUE(s.ok()) << c.name;
    } else {
      EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable) << c.name;
      EXPECT_EQ(s.Message(), c.want) << c.name;
    }
  }
}

TEST(TaintToleration, ScoreFewerPreferNoScheduleTaints) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("n0"));
  cl.AddNode(NodeBuilder("n1").Taint("a", "", "PreferNoSchedule"));
  cl.AddNode(NodeBuilder("n2").Taint("a", "", "PreferNoSchedule").Taint("b", "", "PreferNoSchedule"));
  auto fw = testing::MakeFramework(cl, {{"TaintToleration"}});
  auto s = testing::Scores(*fw, cl, PodBuilder("p"));
  EXPECT_EQ(s["n0"], 100);
  EXPECT_EQ(s["n1"], 50);
  EXPECT_EQ(s["n2"], 0);
  auto t = testing::Scores(*fw, cl, PodBuilder("p").Toleration("a", "Exists", "", "PreferNoSchedule"));
  EXPECT_EQ(t["n1"], 100);
  EXPECT_EQ(t["n2"], 0);
}

TEST(NodeUnschedulableAndNodeName, Filter) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("cordoned").Unschedulable());
  cl.AddNode(NodeBuilder("ok"));
  auto fw = testing::MakeFramework(cl, {{"NodeUnschedulable"}, {"NodeName"}});
  EXPECT_EQ(testing::FilterOn(*fw, cl, PodBuilder("p"), "cordoned").Message(), "node(s) were unschedulable");
  EXPECT_TRUE(testing::FilterOn(*fw, cl, PodBuilder("p").Toleration("node.kubernetes.io/unschedulable", "Exists", "", "NoSchedule"),
                                "cordoned").ok());
  EXPECT_TRUE(testing::FilterOn(*fw, cl, PodBuilder("p"), "ok").ok());
  EXPECT_EQ(testing::FilterOn(*fw, cl, PodBuilder("p").NodeName("other"), "ok").Message(),
            "node(s) didn't match the requested node name");
}

TEST(NodePorts, Filter) {
  struct Case {
    const char* name;
    Json pod;
    bool fits;
  } cases[] = {
      {"free port", PodBuilder("p").HostPort(81), true},
      {"same port", PodBuilder("p").HostPort(80), false},
      {"other protocol", PodBuilder("p").HostPort(80, "UDP"), true},
      {"specific ip vs wildcard", PodBuilder("p").HostPort(80, "TCP", "10.0.0.1"), false},
      {"no ports", PodBuilder("p"), true},
  };
  for (const auto& c : cases) {
    FakeCluster cl;
    cl.AddNode(NodeBuilder("n"));
    cl.AddPod(PodBuilder("used").NodeName("n").HostPort(80));
    auto fw = testing::MakeFramework(cl, {{"NodePorts"}});
    PluginStatus s = testing::FilterOn(*fw, cl, c.pod, "n");
    EXPECT_EQ(s.ok(), c.fits) << c.name;
    if (!c.fits) EXPECT_EQ(s.Message(), "node(s) didn't have free ports for the requested pod ports") << c.name;
  }
}

TEST(ImageLocality, PrefersNodeWithImage) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("with").Image("nginx:1.25", 500LL * 1024 * 1024));
  cl.AddNode(NodeBuilder("without"));
  auto fw = testing::MakeFramework(cl, {{"ImageLocality"}});
  auto s = testing::Scores(*fw, cl, PodBuilder("p").Image("nginx:1.25"));
  EXPECT_GT(s["with"], s["without"]);
  EXPECT_EQ(s["without"], 0);
}

}  // namespace
}  // namespace tug::scheduler::plugins
