#include "scheduler/framework/framework.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>

#include "scheduler/framework/schedule_pod.h"
#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::framework {
namespace {

using testing::FakeCluster;
using testing::NodeBuilder;
using testing::PodBuilder;

TEST(FitError, UpstreamFormat) {
  Diagnosis d;
  d.node_to_status["n1"] = PluginStatus(Code::kUnschedulable, "Insufficient cpu");
  d.node_to_status["n2"] = PluginStatus(Code::kUnschedulableAndUnresolvable,
                                        "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }");
  d.node_to_status["n3"] = PluginStatus(Code::kUnschedulableAndUnresolvable,
                                        "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }");
  d.post_filter_msg = "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
  EXPECT_EQ(FitErrorMessage(3, d),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
            "{node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 3 Preemption is not "
            "helpful for scheduling.");
  Diagnosis pre;
  pre.pre_filter_msg = "persistentvolumeclaim \"data\" not found";
  EXPECT_EQ(FitErrorMessage(2, pre), "0/2 nodes are available: persistentvolumeclaim \"data\" not found.");
  // Several reasons from one node count separately; sorted as strings.
  Diagnosis multi;
  multi.node_to_status["a"] = PluginStatus(Code::kUnschedulable, std::vector<std::string>{"Insufficient cpu", "Insufficient memory"});
  multi.node_to_status["b"] = PluginStatus(Code::kUnschedulable, "Insufficient memory");
  EXPECT_EQ(FitErrorMessage(2, multi), "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory.");
}

TEST(NumFeasibleNodesToFind, Adaptive) {
  struct Case {
    size_t nodes;
    int32_t pct;
    size_t want;
  } cases[] = {
      {3, 0, 3},      {99, 0, 99},     {100, 0, 100},   {1000, 0, 420},  // 50 - 8 = 42%
      {5000, 0, 500},                                                     // 50 - 40 = 10%
      {6000, 0, 300},                                                     // 50 - 48 = 2% -> 5%
      {200, 0, 100},  {5000, 50, 2500}, {5000, 100, 5000}, {5000, 1, 100},
  };
  for (const auto& c : cases) EXPECT_EQ(NumFeasibleNodesToFind(c.nodes, c.pct), c.want) << c.nodes << " " << c.pct;
}

TEST(Registry, DuplicateAndMissing) {
  Registry r = plugins::DefaultRegistry();
  EXPECT_EQ(r.Register("NodeName", plugins::NewNodeName).code(), StatusCode::kAlreadyExists);
  Profile p;
  p.plugins = {{"NoSuchPlugin", 1, Json::object()}};
  EXPECT_EQ(Framework::Create(r, p, {}).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Framework::Create(r, DefaultProfile(), {}).ok());
}

TEST(SchedulePod, PicksLeastAllocatedAndReportsFitErrors) {
  FakeCluster c;
  c.AddNode(NodeBuilder("n1", "2", "4Gi"));
  c.AddNode(NodeBuilder("n2", "4", "8Gi"));
  c.AddNode(NodeBuilder("n3", "1", "1Gi").Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"));
  c.AddPod(PodBuilder("busy", "default").NodeName("n2").Req("cpu", "3").Req("memory", "6Gi"));
  auto fw = testing::MakeDefaultFramework(c);
  ASSERT_TRUE(fw);
  ScheduleResult r = testing::Schedule(*fw, c, PodBuilder("p").Req("cpu", "500m").Req("memory", "500Mi"));
  EXPECT_EQ(r.node, "n1");
  EXPECT_EQ(r.evaluated, 3u);
  EXPECT_EQ(r.feasible, 2u);

  ScheduleResult big = testing::Schedule(*fw, c, PodBuilder("big").Req("cpu", "3"));
  EXPECT_TRUE(big.fit_error);
  EXPECT_EQ(big.status.Message(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
            "2 Insufficient cpu.");
  EXPECT_EQ(big.diagnosis.unschedulable_plugins, (std::vector<std::string>{"NodeResourcesFit", "TaintToleration"}));

  ScheduleResult none;
  FakeCluster empty;
  auto fw2 = testing::MakeDefaultFramework(empty);
  none = testing::Schedule(*fw2, empty, PodBuilder("p"));
  EXPECT_EQ(none.status.Message(), "no nodes available to schedule pods");
}

TEST(SchedulePod, SamplesNodesAndRotatesStart) {
  FakeCluster c;
  for (int i = 0; i < 1000; ++i) c.AddNode(NodeBuilder("n" + std::to_string(i)));
  auto fw = testing::MakeDefaultFramework(c);
  PodInfoPtr p = PodBuilder("p").Req("cpu", "100m").Info();
  ScheduleState ss;
  CycleState st(fw->NumSlots());
  ScheduleResult r = SchedulePod(*fw, st, *p, c, ss);
  EXPECT_EQ(r.evaluated, 420u);
  EXPECT_EQ(ss.next_start_index, 420u);
  CycleState st2(fw->NumSlots());
  r = SchedulePod(*fw, st2, *p, c, ss);
  EXPECT_EQ(ss.next_start_index, 840u);
}

TEST(SchedulePod, NominatedNodeFirst) {
  FakeCluster c;
  c.AddNode(NodeBuilder("n1"));
  c.AddNode(NodeBuilder("n2", "64", "64Gi"));
  auto fw = testing::MakeDefaultFramework(c);
  ScheduleResult r = testing::Schedule(*fw, c, PodBuilder("p").Req("cpu", "1").Nominated("n1"));
  EXPECT_EQ(r.node, "n1");
  EXPECT_EQ(r.evaluated, 1u);
}

TEST(SchedulePod, NominatedPodsReserveTheirSpace) {
  FakeCluster c;
  c.AddNode(NodeBuilder("n1", "2", "4Gi"));
  c.nominated["n1"] = {PodBuilder("preemptor").Req("cpu", "1500m").Priority(100).Nominated("n1").Info()};
  auto fw = testing::MakeDefaultFramework(c);
  struct Case {
    const char* name;
    Json pod;
    bool fits;
  } cases[] = {
      {"lower priority cannot take the nominated space", PodBuilder("low").Req("cpu", "1").Priority(10), false},
      {"higher priority ignores the nomination", PodBuilder("high").Req("cpu", "1").Priority(1000), true},
      {"small enough to fit beside it", PodBuilder("tiny").Req("cpu", "500m").Priority(10), true},
      {"the nominated pod itself", PodBuilder("preemptor").Req("cpu", "1500m").Priority(100), true},
  };
  for (const auto& cs : cases) {
    ScheduleResult r = testing::Schedule(*fw, c, cs.pod);
    EXPECT_EQ(!r.node.empty(), cs.fits) << cs.name << ": " << r.status.Message();
  }
}

TEST(Parallelizer, RunsEveryChunkOnceAndStopsOnAPrefix) {
  for (int par : {1, 2, 4}) {
    Parallelizer p(par);
    EXPECT_EQ(p.parallelism(), par);
    for (int round = 0; round < 20; ++round) {  // reuse across jobs, as the scheduler does
      std::mutex mu;
      std::multiset<size_t> ran;
      size_t handed = p.Until(100, [&](size_t c) {
        std::lock_guard<std::mutex> l(mu);
        ran.insert(c);
        return true;
      });
      EXPECT_EQ(handed, 100u);
      ASSERT_EQ(ran.size(), 100u) << par;
      for (size_t c = 0; c < 100; ++c) EXPECT_EQ(ran.count(c), 1u) << par << " chunk " << c;

      ran.clear();
      handed = p.Until(100, [&](size_t c) {
        std::lock_guard<std::mutex> l(mu);
        ran.insert(c);
        return c < 10;  // chunk 10 stops the hand-out
      });
      EXPECT_GE(handed, 11u);
      EXPECT_LE(handed, 11u + static_cast<size_t>(par));
      ASSERT_EQ(ran.size(), handed) << par;
      for (size_t c = 0; c < handed; ++c) EXPECT_EQ(ran.count(c), 1u) << par << " chunk " << c;
    }
    EXPECT_EQ(p.Until(0, [](size_t) { return true; }), 0u);
  }
}

// Filter and Score on several threads give exactly the sequential result: same node, same
// sample (evaluated/feasible), same rotation, same fit error.
TEST(SchedulePod, ParallelMatchesSequential) {
  FakeCluster c;
  for (int i = 0; i < 1500; ++i) {
    NodeBuilder n("n" + std::to_string(i), i % 7 == 0 ? "1" : std::to_string(2 + i % 5), "16Gi");
    if (i % 11 == 0) n.Taint("dedicated", "db", "NoSchedule");
    c.AddNode(n);
  }
  for (int i = 0; i < 1500; i += 3) c.AddPod(PodBuilder("busy" + std::to_string(i)).NodeName("n" + std::to_string(i)).Req("cpu", "1"));
  auto fw = testing::MakeDefaultFramework(c);
  ASSERT_TRUE(fw);
  Parallelizer par(4);
  ScheduleState seq, con;
  con.parallel = &par;
  struct Case {
    const char* name;
    Json pod;
  } cases[] = {
      {"small", PodBuilder("a").Req("cpu", "500m").Req("memory", "1Gi")},
      {"only big nodes", PodBuilder("b").Req("cpu", "3500m")},
      {"fits nowhere", PodBuilder("c").Req("cpu", "64")},
      {"tolerates the taint", PodBuilder("d").Req("cpu", "1").Toleration("dedicated", "Equal", "db", "NoSchedule")},
  };
  for (int round = 0; round < 3; ++round)
    for (const auto& cs : cases) {
      PodInfoPtr p = PodInfo::Build(std::make_shared<const Json>(cs.pod));
      CycleState st1(fw->NumSlots()), st2(fw->NumSlots());
      ScheduleResult a = SchedulePod(*fw, st1, *p, c, seq);
      ScheduleResult b = SchedulePod(*fw, st2, *p, c, con);
      EXPECT_EQ(a.node, b.node) << cs.name;
      EXPECT_EQ(a.evaluated, b.evaluated) << cs.name;
      EXPECT_EQ(a.feasible, b.feasible) << cs.name;
      EXPECT_EQ(a.fit_error, b.fit_error) << cs.name;
      EXPECT_EQ(a.status.Message(), b.status.Message()) << cs.name;
      EXPECT_EQ(a.diagnosis.node_to_status.size(), b.diagnosis.node_to_status.size()) << cs.name;
      EXPECT_EQ(seq.next_start_index, con.next_start_index) << cs.name;
    }
  // The sample really is partial at this size, and a fit error covers every node.
  PodInfoPtr small = PodBuilder("s").Req("cpu", "100m").Info();
  CycleState st(fw->NumSlots());
  ScheduleResult r = SchedulePod(*fw, st, *small, c, con);
  EXPECT_LT(r.evaluated, 1500u);
  EXPECT_EQ(r.feasible, NumFeasibleNodesToFind(1500, 0));
}

}  // namespace
}  // namespace tug::scheduler::framework
