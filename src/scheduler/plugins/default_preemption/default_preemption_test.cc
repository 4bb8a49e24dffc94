#include <gtest/gtest.h>

#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::plugins {
namespace {

using namespace framework;
using testing::FakeCluster;
using testing::NodeBuilder;
using testing::PodBuilder;

struct Evicted {
  std::vector<std::string> names;
};

TEST(DefaultPreemption, PicksNodeWithLowestPriorityVictims) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("n1", "2", "4Gi"));
  cl.AddNode(NodeBuilder("n2", "2", "4Gi"));
  cl.AddNode(NodeBuilder("n3", "2", "4Gi").Taint("dedicated", "x", "NoSchedule"));
  cl.AddPod(PodBuilder("mid").NodeName("n1").Req("cpu", "2").Priority(100));
  cl.AddPod(PodBuilder("low-a").NodeName("n2").Req("cpu", "1").Priority(10));
  cl.AddPod(PodBuilder("low-b").NodeName("n2").Req("cpu", "500m").Priority(5));
  Evicted ev;
  PluginContext ctx;
  ctx.evict = [&](const PodInfo& v, const PodInfo& by, const std::string& node) {
    ev.names.push_back(v.name + "@" + node);
    return Status::Ok();
  };
  auto fw = testing::MakeDefaultFramework(cl, ctx);
  ASSERT_TRUE(fw);
  PodInfoPtr p = PodBuilder("vip").Req("cpu", "1").Priority(1000).Info();
  CycleState st(fw->NumSlots());
  ScheduleState ss;
  ScheduleResult r = SchedulePod(*fw, st, *p, cl, ss);
  ASSERT_TRUE(r.fit_error);
  PostFilterPlugin::Result res;
  PluginStatus s = fw->RunPostFilter(st, *p, r.diagnosis.node_to_status, &res);
  ASSERT_TRUE(s.ok()) << s.Message();
  EXPECT_EQ(res.nominated_node, "n2");
  // Higher-priority pods are reprieved first: low-a (1 cpu) fits back beside the new pod,
  // then low-b (500m) no longer does and is the only victim.
  EXPECT_EQ(ev.names, std::vector<std::string>{"low-b@n2"});
}

TEST(DefaultPreemption, NotHelpfulMessages) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("n1", "1", "4Gi"));
  cl.AddNode(NodeBuilder("n2", "1", "4Gi"));
  cl.AddNode(NodeBuilder("n3", "8", "4Gi").Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"));
  cl.AddPod(PodBuilder("same").NodeName("n1").Req("cpu", "1").Priority(0));
  cl.AddPod(PodBuilder("same2").NodeName("n2").Req("cpu", "1").Priority(0));
  auto fw = testing::MakeDefaultFramework(cl);
  PodInfoPtr p = PodBuilder("p").Req("cpu", "1").Info();
  CycleState st(fw->NumSlots());
  ScheduleState ss;
  ScheduleResult r = SchedulePod(*fw, st, *p, cl, ss);
  ASSERT_TRUE(r.fit_error);
  PostFilterPlugin::Result res;
  PluginStatus s = fw->RunPostFilter(st, *p, r.diagnosis.node_to_status, &res);
  EXPECT_FALSE(s.ok());
  r.diagnosis.post_filter_msg = s.Message();
  EXPECT_EQ(FitErrorMessage(3, r.diagnosis),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
            "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
            "2 No preemption victims found for incoming pod.");
  EXPECT_EQ(res.nominated_node, "");

  PodInfoPtr never = PodBuilder("never").Req("cpu", "1").Priority(100).PreemptNever().Info();
  CycleState st2(fw->NumSlots());
  ScheduleResult r2 = SchedulePod(*fw, st2, *never, cl, ss);
  ASSERT_TRUE(r2.fit_error);
  EXPECT_EQ(fw->RunPostFilter(st2, *never, r2.diagnosis.node_to_status, &res).Message(),
            "preemption: not eligible due to preemptionPolicy=Never.");
}

}  // namespace
}  // namespace tug::scheduler::plugins
