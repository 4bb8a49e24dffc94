#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <thread>

#include "client/testing/test_api_server.h"
#include "scheduler/testing/fixtures.h"

namespace tug::scheduler {
namespace {

using namespace std::chrono_literals;
using testing::NodeBuilder;
using testing::PodBuilder;

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(api_.ok()); }
  void TearDown() override {
    if (sched_) sched_->Stop();
  }

  const client::Client& c() { return api_.client(); }

  void Start() {
    SchedulerOptions o;
    o.initial_backoff = 20ms;
    o.max_backoff = 100ms;
    o.bind_workers = 4;
    auto s = StartScheduler(c(), o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    sched_ = std::move(s).value();
  }

  void AddNode(Json node) {
    auto r = c().Create(client::kNodes, "", node);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (!FindPath(*r, {"status", "allocatable"})) {
      Json upd = *r;
      upd["status"] = node["status"];
      auto u = c().UpdateStatus(client::kNodes, "", upd);
      ASSERT_TRUE(u.ok()) << u.status().ToString();
    }
  }

  void AddPod(Json pod) {
    pod["metadata"].erase("uid");
    pod["metadata"].erase("creationTimestamp");
    pod.erase("status");
    auto r = c().Create(client::kPods, GetStringPath(pod, {"metadata", "namespace"}), pod);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  std::string NodeOf(const std::string& name, const std::string& ns = "default") {
    auto p = c().Get(client::kPods, ns, name);
    return p.ok() ? GetStringPath(*p, {"spec", "nodeName"}) : "";
  }

  // The message of the first event with this reason about the pod ("" when none yet).
  std::string EventMessage(const std::string& pod, const std::string& reason) {
    auto l = c().List(client::kEvents, "default");
    if (!l.ok()) return "";
    for (const Json& e : (*l)["items"])
      if (GetStringPath(e, {"involvedObject", "name"}) == pod && GetString(e, "reason") == reason)
        return GetString(e, "message");
    return "";
  }

  Json PodScheduledCondition(const std::string& name) {
    auto p = c().Get(client::kPods, "default", name);
    if (!p.ok()) return nullptr;
    if (const Json* conds = FindPath(*p, {"status", "conditions"}); conds && conds->is_array())
      for (const Json& cond : *conds)
        if (GetString(cond, "type") == "PodScheduled") return cond;
    return nullptr;
  }

  client::testing::TestApiServer api_;
  std::unique_ptr<Scheduler> sched_;
};

TEST_F(SchedulerTest, PodsLandWhereTheyFit) {
  AddNode(NodeBuilder("n1", "1", "2Gi"));
  AddNode(NodeBuilder("n2", "2", "4Gi"));
  AddNode(NodeBuilder("n3", "4", "8Gi"));
  Start();
  // 7 cpu requested in total on 7 cpu: every pod fits only if the scheduler never overcommits.
  struct Want {
    std::string name, cpu;
  } pods[] = {{"big", "4"}, {"mid", "2"}, {"small", "1"}};
  for (const auto& p : pods) AddPod(PodBuilder(p.name).Req("cpu", p.cpu));
  ASSERT_TRUE(WaitFor([&] { return !NodeOf("big").empty() && !NodeOf("mid").empty() && !NodeOf("small").empty(); }));
  EXPECT_EQ(NodeOf("big"), "n3");
  EXPECT_EQ(NodeOf("mid"), "n2");
  EXPECT_EQ(NodeOf("small"), "n1");
  ASSERT_TRUE(WaitFor([&] { return !EventMessage("big", "Scheduled").empty(); }));
  EXPECT_EQ(EventMessage("big", "Scheduled"), "Successfully assigned default/big to n3");
  Json cond = PodScheduledCondition("big");
  ASSERT_TRUE(cond.is_object());
  EXPECT_EQ(GetString(cond, "status"), "True");
}

// A running pod's status updates change nothing the plugins read, but the scheduler's cache
// follows the informer's copy: the bound version's document is released (two trees of every
// running pod were kept before).
TEST_F(SchedulerTest, StatusUpdatesReleaseTheBoundVersion) {
  AddNode(NodeBuilder("n1", "4", "8Gi"));
  client::InformerFactory shared(c());
  shared.SetTransform(client::StripForControlLoops);
  SchedulerOptions o;
  o.shared_informers = &shared;
  auto s = StartScheduler(c(), o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  sched_ = std::move(s).value();
  client::Informer& pods = shared.For(client::kPods);
  AddPod(PodBuilder("p").Req("cpu", "1"));
  ASSERT_TRUE(WaitFor([&] {
    auto cur = pods.Get("default/p");
    return cur && !GetStringPath(*cur, {"spec", "nodeName"}).empty();
  }));
  std::weak_ptr<const Json> bound = pods.Get("default/p");
  Json running = c().Get(client::kPods, "default", "p").value();
  running["status"]["phase"] = "Running";
  ASSERT_TRUE(c().UpdateStatus(client::kPods, "default", running).ok());
  ASSERT_TRUE(WaitFor([&] { return GetStringPath(*pods.Get("default/p"), {"status", "phase"}) == "Running"; }));
  EXPECT_TRUE(WaitFor([&] { return bound.expired(); }, 5s)) << "the bound version is still referenced";
  // Nor does the scheduler's cache hold the current version: the informer's entry and ours only.
  EXPECT_TRUE(WaitFor([&] { return pods.Get("default/p").use_count() == 2; }, 5s)) << "the running pod is pinned";
  // Still counted on its node: another 4-cpu pod does not fit next to it.
  AddPod(PodBuilder("big").Req("cpu", "4"));
  ASSERT_TRUE(WaitFor([&] { return !EventMessage("big", "FailedScheduling").empty(); }));
  EXPECT_EQ(NodeOf("big"), "");
  sched_->Stop();
  sched_.reset();
  shared.Stop();
}

TEST_F(SchedulerTest, UnschedulableGetsEventAndConditionThenScheduledOnNewNode) {
  AddNode(NodeBuilder("cp", "8", "8Gi").Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"));
  AddNode(NodeBuilder("w1", "2", "4Gi"));
  AddNode(NodeBuilder("w2", "2", "4Gi"));
  Start();
  AddPod(PodBuilder("web-1").Req("cpu", "3"));
  const std::string want =
      "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
      "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
      "2 No preemption victims found for incoming pod.";
  ASSERT_TRUE(WaitFor([&] { return !EventMessage("web-1", "FailedScheduling").empty(); }));
  EXPECT_EQ(EventMessage("web-1", "FailedScheduling"), want);
  ASSERT_TRUE(WaitFor([&] { return PodScheduledCondition("web-1").is_object(); }));
  Json cond = PodScheduledCondition("web-1");
  EXPECT_EQ(GetString(cond, "status"), "False");
  EXPECT_EQ(GetString(cond, "reason"), "Unschedulable");
  EXPECT_EQ(GetString(cond, "message"), want);
  EXPECT_EQ(NodeOf("web-1"), "");

  AddNode(NodeBuilder("w3", "4", "8Gi"));
  ASSERT_TRUE(WaitFor([&] { return NodeOf("web-1") == "w3"; })) << NodeOf("web-1");
  ASSERT_TRUE(WaitFor([&] { return GetString(PodScheduledCondition("web-1"), "status") == "True"; }));
}

TEST_F(SchedulerTest, NodeSelectorTaintsAndSchedulerName) {
  AddNode(NodeBuilder("plain", "4", "8Gi"));
  AddNode(NodeBuilder("ssd", "4", "8Gi").Label("disk", "ssd"));
  AddNode(NodeBuilder("gpu", "4", "8Gi").Taint("dedicated", "gpu", "NoSchedule").Label("accel", "gpu"));
  Start();
  AddPod(PodBuilder("wants-ssd").NodeSelector("disk", "ssd"));
  AddPod(PodBuilder("wants-gpu").NodeSelector("accel", "gpu").Toleration("dedicated", "Equal", "gpu", "NoSchedule"));
  AddPod(PodBuilder("no-toleration").NodeSelector("accel", "gpu"));
  AddPod(PodBuilder("other-scheduler").SchedulerName("my-scheduler"));
  ASSERT_TRUE(WaitFor([&] { return NodeOf("wants-ssd") == "ssd" && NodeOf("wants-gpu") == "gpu"; }));
  ASSERT_TRUE(WaitFor([&] { return !EventMessage("no-toleration", "FailedScheduling").empty(); }));
  EXPECT_EQ(EventMessage("no-toleration", "FailedScheduling"),
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's "
            "node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
  // Pods for another scheduler stay Pending and untouched.
  EXPECT_EQ(NodeOf("other-scheduler"), "");
  EXPECT_EQ(EventMessage("other-scheduler", "FailedScheduling"), "");
  EXPECT_FALSE(PodScheduledCondition("other-scheduler").is_object() &&
               GetString(PodScheduledCondition("other-scheduler"), "status") == "False");
}

TEST_F(SchedulerTest, PreemptsLowerPriorityPod) {
  AddNode(NodeBuilder("n1", "2", "4Gi"));
  ASSERT_TRUE(c().Create(client::kPriorityClasses, "",
                         Json{{"apiVersion", "scheduling.k8s.io/v1"},
                              {"kind", "PriorityClass"},
                              {"metadata", {{"name", "high"}}},
                              {"value", 1000}})
                  .ok());
  Start();
  AddPod(PodBuilder("low").Req("cpu", "2"));
  ASSERT_TRUE(WaitFor([&] { return NodeOf("low") == "n1"; }));
  Json high = PodBuilder("high").Req("cpu", "1");
  high["spec"]["priorityClassName"] = "high";
  AddPod(high);
  // The victim gets the Preempted event and a graceful deletion; play kubelet and finish it.
  ASSERT_TRUE(WaitFor([&] {
    auto p = c().Get(client::kPods, "default", "low");
    return p.ok() && FindPath(*p, {"metadata", "deletionTimestamp"});
  }));
  ASSERT_TRUE(WaitFor([&] {
    auto p = c().Get(client::kPods, "default", "high");
    return p.ok() && GetStringPath(*p, {"status", "nominatedNodeName"}) == "n1";
  }));
  auto high_pod = c().Get(client::kPods, "default", "high");
  ASSERT_TRUE(high_pod.ok());
  ASSERT_TRUE(WaitFor([&] { return !EventMessage("low", "Preempted").empty(); }));
  EXPECT_EQ(EventMessage("low", "Preempted"),
            "Preempted by pod " + GetStringPath(*high_pod, {"metadata", "uid"}) + " on node n1");
  EXPECT_EQ(NodeOf("high"), "");  // the victim still holds the cpu while it terminates
  client::DeleteOptions now;
  now.grace_period_seconds = 0;
  ASSERT_TRUE(c().Delete(client::kPods, "default", "low", now).ok());
  ASSERT_TRUE(WaitFor([&] { return NodeOf("high") == "n1"; }));
}

TEST_F(SchedulerTest, ManyPodsNeverOvercommit) {
  for (int i = 0; i < 5; ++i) AddNode(NodeBuilder("n" + std::to_string(i), "1", "4Gi"));
  Start();
  for (int i = 0; i < 60; ++i) AddPod(PodBuilder("p" + std::to_string(i)).Req("cpu", "100m"));
  // 50 fit (10 per node), 10 remain pending.
  ASSERT_TRUE(WaitFor([&] { return sched_->Stats().bound == 50 && sched_->Stats().unschedulable >= 10; }));
  std::map<std::string, int> per_node;
  int pending = 0;
  for (int i = 0; i < 60; ++i) {
    std::string n = NodeOf("p" + std::to_string(i));
    if (n.empty()) ++pending;
    else per_node[n]++;
  }
  EXPECT_EQ(pending, 10);
  for (const auto& [n, count] : per_node) EXPECT_EQ(count, 10) << n;
  // Every binding got its Scheduled event, naming the pod's node (Stop flushes the recorder).
  sched_->Stop();
  auto evs = c().List(client::kEvents, "default");
  ASSERT_TRUE(evs.ok()) << evs.status().ToString();
  std::map<std::string, std::string> scheduled;  // pod -> message
  for (const Json& e : (*evs)["items"])
    if (GetString(e, "reason") == "Scheduled")
      EXPECT_TRUE(scheduled.emplace(GetStringPath(e, {"involvedObject", "name"}), GetString(e, "message")).second);
  EXPECT_EQ(scheduled.size(), 50u);
  for (int i = 0; i < 60; ++i) {
    std::string pod = "p" + std::to_string(i), n = NodeOf(pod);
    if (!n.empty()) EXPECT_EQ(scheduled[pod], "Successfully assigned default/" + pod + " to " + n);
  }
}

}  // namespace
}  // namespace tug::scheduler
