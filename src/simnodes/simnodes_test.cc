// The simulator against a real in-process API server (client/testing/test_api_server.h), with
// short simulated delays. Waits poll the API with a deadline; nothing sleeps for timing.
#include "simnodes/simnodes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "client/testing/test_api_server.h"

namespace tug::simnodes {
namespace {

using namespace std::chrono_literals;

// Polls `pred` until true or the deadline passes.
bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

Options FastOptions(int count = 3) {
  Options o;
  o.count = count;
  o.startup_delay = 50ms;
  o.run_time = 150ms;
  o.kill_delay = 50ms;
  o.crash_backoff = 100ms;
  o.lease_renew_interval = 1s;
  o.workers = 2;
  return o;
}

Json Pod(const std::string& name, const std::string& node, const std::string& restart_policy = "Always") {
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"restartPolicy", restart_policy},
                {"containers", Json::array({{{"name", "c"}, {"image", "busybox:1.36"}}})}}}};
  if (!node.empty()) pod["spec"]["nodeName"] = node;
  return pod;
}

const Json* Cond(const Json& obj, std::string_view type) {
  const Json* conds = FindPath(obj, {"status", "conditions"});
  if (!conds) return nullptr;
  for (const Json& c : *conds)
    if (GetString(c, "type") == type) return &c;
  return nullptr;
}

class SimNodesTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(api_.ok()); }
  const client::Client& c() { return api_.client(); }

  // The pod once `pred` holds for it (null JSON when it never did).
  Json WaitPod(const std::string& name, const std::function<bool(const Json&)>& pred,
               std::chrono::milliseconds timeout = 10s) {
    Json last;
    bool ok = Eventually(
        [&] {
          auto p = c().Get(client::kPods, "default", name);
          if (!p.ok()) return false;
          last = *p;
          return pred(last);
        },
        timeout);
    if (!ok) ADD_FAILURE() << "pod " << name << " never reached the expected state; last: " << last.dump();
    return ok ? last : Json();
  }
  static bool Phase(const Json& p, std::string_view phase) { return GetStringPath(p, {"status", "phase"}) == phase; }

  client::testing::TestApiServer api_;
};

TEST_F(SimNodesTest, RegistersReadyNodesAndRenewsLeases) {
  SimNodes sim(c(), FastOptions());
  ASSERT_TRUE(sim.Start(10s).ok());
  EXPECT_EQ(sim.stats().nodes_registered, 3u);
  auto nodes = c().List(client::kNodes, "");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  std::vector<std::string> names;
  for (const Json& n : (*nodes)["items"]) names.push_back(GetStringPath(n, {"metadata", "name"}));
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("sim-0", "sim-1", "sim-2"));
  for (const Json& n : (*nodes)["items"]) {
    // The status subresource write took effect (not only what create kept).
    const Json* ready = Cond(n, "Ready");
    ASSERT_NE(ready, nullptr) << n.dump();
    EXPECT_EQ(GetString(*ready, "status"), "True");
    EXPECT_EQ(GetStringPath(n, {"status", "capacity", "cpu"}), "4");
    EXPECT_EQ(GetStringPath(n, {"metadata", "labels", "kubernetes.io/os"}), "linux");
  }
  auto lease = c().Get(client::kLeases, "kube-node-lease", "sim-1");
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(GetStringPath(*lease, {"spec", "holderIdentity"}), "sim-1");
  EXPECT_EQ((*lease)["metadata"]["ownerReferences"][0]["name"], "sim-1");
  const std::string first = GetStringPath(*lease, {"spec", "renewTime"});
  EXPECT_TRUE(Eventually([&] {
    auto l = c().Get(client::kLeases, "kube-node-lease", "sim-1");
    return l.ok() && GetStringPath(*l, {"spec", "renewTime"}) != first;
  }, 5s)) << "lease never renewed";
  EXPECT_GE(sim.stats().lease_renewals, 1u);
}

TEST_F(SimNodesTest, BoundPodRunsWithKubeletStatus) {
  SimNodes sim(c(), FastOptions());
  ASSERT_TRUE(sim.Start(10s).ok());
  ASSERT_TRUE(c().Create(client::kPods, "default", Pod("web", "sim-1")).ok());
  Json p = WaitPod("web", [](const Json& p) { return Phase(p, "Running"); });
  ASSERT_FALSE(p.is_null());
  EXPECT_EQ(GetStringPath(p, {"status", "hostIP"}), "10.0.0.2");
  EXPECT_THAT(GetStringPath(p, {"status", "podIP"}), ::testing::StartsWith("10.42.1."));
  for (auto type : {"PodScheduled", "Initialized", "ContainersReady", "Ready", "PodReadyToStartContainers"}) {
    const Json* cnd = Cond(p, type);
    ASSERT_NE(cnd, nullptr) << type << " in " << p["status"].dump();
    EXPECT_EQ(GetString(*cnd, "status"), "True") << type;
    // As the kubelet's: nothing left from the pod's ContainersNotReady time.
    EXPECT_FALSE(cnd->contains("reason")) << cnd->dump();
    EXPECT_FALSE(cnd->contains("message")) << cnd->dump();
  }
  const Json& cs = p["status"]["containerStatuses"][0];
  EXPECT_EQ(cs["ready"], true);
  EXPECT_EQ(cs["started"], true);
  EXPECT_EQ(cs["restartCount"], 0);
  EXPECT_TRUE(cs["state"]["running"].contains("startedAt"));
  EXPECT_THAT(cs["containerID"].get<std::string>(), ::testing::StartsWith("sim://"));
  // restartPolicy Always: still running well after run_time.
  EXPECT_FALSE(Eventually([&] {
    auto q = c().Get(client::kPods, "default", "web");
    return q.ok() && !Phase(*q, "Running");
  }, 500ms));
}

TEST_F(SimNodesTest, RunToCompletionTable) {
  struct Case {
    std::string name, policy, exit_code, phase;
    int code;
    std::string reason;
  } cases[] = {
      {"never-ok", "Never", "", "Succeeded", 0, "Completed"},
      {"never-fail", "Never", "3", "Failed", 3, "Error"},
      {"onfailure-ok", "OnFailure", "0", "Succeeded", 0, "Completed"},
  };
  SimNodes sim(c(), FastOptions());
  ASSERT_TRUE(sim.Start(10s).ok());
  for (const auto& cs : cases) {
    Json pod = Pod(cs.name, "sim-0", cs.policy);
    if (!cs.exit_code.empty()) pod["metadata"]["annotations"]["tug.dev/sim-exit-code"] = cs.exit_code;
    ASSERT_TRUE(c().Create(client::kPods, "default", pod).ok());
  }
  for (const auto& cs : cases) {
    Json p = WaitPod(cs.name, [&](const Json& p) { return Phase(p, cs.phase); });
    ASSERT_FALSE(p.is_null()) << cs.name;
    const Json& term = p["status"]["containerStatuses"][0]["state"]["terminated"];
    EXPECT_EQ(term["exitCode"], cs.code) << cs.name;
    EXPECT_EQ(term["reason"], cs.reason) << cs.name;
  }
}

TEST_F(SimNodesTest, OnFailureNonZeroRestartsAfterBackoff) {
  SimNodes sim(c(), FastOptions());
  ASSERT_TRUE(sim.Start(10s).ok());
  Json pod = Pod("crash", "sim-2", "OnFailure");
  pod["metadata"]["annotations"]["tug.dev/sim-exit-code"] = "2";
  ASSERT_TRUE(c().Create(client::kPods, "default", pod).ok());
  Json p = WaitPod("crash", [](const Json& p) {
    const Json* rc = FindPath(p, {"status", "containerStatuses"});
    return rc && !rc->empty() && (*rc)[0].value("restartCount", 0) >= 1;
  });
  ASSERT_FALSE(p.is_null());
  EXPECT_EQ(GetStringPath(p, {"status", "phase"}), "Running");
  EXPECT_EQ(p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 2);
}

TEST_F(SimNodesTest, GracefulDeleteIsFinishedByTheNode) {
  SimNodes sim(c(), FastOptions());
  ASSERT_TRUE(sim.Start(10s).ok());
  ASSERT_TRUE(c().Create(client::kPods, "default", Pod("doomed", "sim-0")).ok());
  ASSERT_FALSE(WaitPod("doomed", [](const Json& p) { return Phase(p, "Running"); }).is_null());
  client::DeleteOptions del;
  del.grace_period_seconds = 30;
  auto r = c().Delete(client::kPods, "default", "doomed", del);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // A bound pod is deleted gracefully: the API server only sets the deletionTimestamp.
  ASSERT_NE(FindPath(*r, {"metadata", "deletionTimestamp"}), nullptr) << r->dump();
  // Without the simulated kubelet the pod would stay Terminating for 30 s.
  EXPECT_TRUE(Eventually([&] {
    auto p = c().Get(client::kPods, "default", "doomed");
    return !p.ok() && p.status().code() == StatusCode::kNotFound;
  }, 5s));
  // (The counter moves once the DELETE has returned to the simulator.)
  EXPECT_TRUE(Eventually([&] { return sim.stats().pods_deleted >= 1; }, 5s));
}

TEST_F(SimNodesTest, IgnoresPodsOfOtherNodesAndUnboundPods) {
  SimNodes sim(c(), FastOptions());
  ASSERT_TRUE(sim.Start(10s).ok());
  ASSERT_TRUE(c().Create(client::kPods, "default", Pod("elsewhere", "real-node")).ok());
  ASSERT_TRUE(c().Create(client::kPods, "default", Pod("unbound", "")).ok());
  ASSERT_TRUE(c().Create(client::kPods, "default", Pod("mine", "sim-2")).ok());
  // Once ours is running, the others have had every chance to be touched.
  ASSERT_FALSE(WaitPod("mine", [](const Json& p) { return Phase(p, "Running"); }).is_null());
  for (const char* name : {"elsewhere", "unbound"}) {
    auto p = c().Get(client::kPods, "default", name);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(GetStringPath(*p, {"status", "phase"}), "Pending") << name;
    EXPECT_EQ(FindPath(*p, {"status", "containerStatuses"}), nullptr) << name;
  }
}

TEST_F(SimNodesTest, PodBoundLaterStarts) {
  SimNodes sim(c(), FastOptions());
  ASSERT_TRUE(sim.Start(10s).ok());
  ASSERT_TRUE(c().Create(client::kPods, "default", Pod("late", "")).ok());
  Json binding = {{"apiVersion", "v1"}, {"kind", "Binding"}, {"metadata", {{"name", "late"}}},
                  {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "sim-1"}}}};
  auto b = c().CreateSubresource(client::kPods, "default", "late", "binding", binding);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_FALSE(WaitPod("late", [](const Json& p) { return Phase(p, "Running"); }).is_null());
}

TEST_F(SimNodesTest, RestartedSimulatorReRegistersAndAdoptsRunningPods) {
  {
    SimNodes sim(c(), FastOptions(2));
    ASSERT_TRUE(sim.Start(10s).ok());
    ASSERT_TRUE(c().Create(client::kPods, "default", Pod("keep", "sim-1")).ok());
    ASSERT_FALSE(WaitPod("keep", [](const Json& p) { return Phase(p, "Running"); }).is_null());
  }
  auto before = c().Get(client::kPods, "default", "keep");
  ASSERT_TRUE(before.ok());
  SimNodes again(c(), FastOptions(2));
  ASSERT_TRUE(again.Start(10s).ok());
  EXPECT_EQ(again.stats().nodes_registered, 2u);
  auto nodes = c().List(client::kNodes, "");
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ((*nodes)["items"].size(), 2u);
  // A second node set next to the first: distinct names and addresses.
  Options more = FastOptions(1);
  more.first_index = 2;
  SimNodes extra(c(), more);
  ASSERT_TRUE(extra.Start(10s).ok());
  EXPECT_EQ(extra.NodeName(0), "sim-2");
  auto n2 = c().Get(client::kNodes, "", "sim-2");
  ASSERT_TRUE(n2.ok());
  EXPECT_EQ(n2->at("status").at("addresses").at(0).at("address"), "10.0.0.3");
  // The running pod was adopted, not restarted.
  auto after = c().Get(client::kPods, "default", "keep");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)["status"]["containerStatuses"][0]["containerID"],
            (*before)["status"]["containerStatuses"][0]["containerID"]);
  EXPECT_EQ(again.stats().pods_started, 0u);
}

}  // namespace
}  // namespace tug::simnodes
