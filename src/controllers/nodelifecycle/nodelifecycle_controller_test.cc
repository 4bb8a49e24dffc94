#include "controllers/nodelifecycle/nodelifecycle_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "client/informer.h"
#include "client/testing/test_api_server.h"

namespace tug::controllers::nodelifecycle {
namespace {

using namespace std::chrono_literals;

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

class NodeLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client::testing::TestApiServerOptions o;
    o.use_fake_clock = true;
    api_ = std::make_unique<client::testing::TestApiServer>(o);
    ASSERT_TRUE(api_->ok());
    informers_ = std::make_unique<client::InformerFactory>(api_->client());
    framework::ControllerContext ctx{.client = &api_->client(), .informers = informers_.get(), .clock = &api_->clock()};
    ctrl_ = std::make_unique<NodeLifecycleController>(
        ctx, NodeLifecycleOptions{.node_monitor_grace_period = 40s, .node_monitor_period = 0ms});
    informers_->Start();
    ASSERT_TRUE(informers_->WaitForSync(10s));
    ctrl_->Run(1);
  }
  void TearDown() override {
    ctrl_.reset();
    informers_.reset();
  }
  const client::Client& c() { return api_->client(); }
  std::string Now() { return FormatRFC3339Micro(api_->clock().Now()); }

  void CreateHealthyNode(const std::string& name) {
    Json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
    auto r = c().Create(client::kNodes, "", n);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    Json node = *r;
    node["status"]["conditions"] = Json::array({{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"},
                                                 {"lastHeartbeatTime", FormatRFC3339(api_->clock().Now())},
                                                 {"lastTransitionTime", FormatRFC3339(api_->clock().Now())}}});
    ASSERT_TRUE(c().UpdateStatus(client::kNodes, "", node).ok());
    renew_ = Now();
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", name}, {"namespace", "kube-node-lease"}}},
                  {"spec", {{"holderIdentity", name}, {"leaseDurationSeconds", 40}, {"renewTime", renew_}}}};
    auto lr = c().Create(client::kLeases, "kube-node-lease", lease);
    ASSERT_TRUE(lr.ok()) << lr.status().ToString();
    ASSERT_TRUE(WaitFor([&] { return ctrl_->ObservedForTest(name, renew_); }));
  }
  void RenewLease(const std::string& name) {
    Json l = c().Get(client::kLeases, "kube-node-lease", name).value();
    renew_ = Now();
    l["spec"]["renewTime"] = renew_;
    ASSERT_TRUE(c().Update(client::kLeases, "kube-node-lease", l).ok());
  }
  void CreatePod(const std::string& name, Json tolerations) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"spec", {{"nodeName", "n1"}, {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
    if (!tolerations.is_null()) p["spec"]["tolerations"] = tolerations;
    auto r = c().Create(client::kPods, "default", p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    Json pod = *r;
    pod["status"]["phase"] = "Running";
    pod["status"]["conditions"] = Json::array({{{"type", "Ready"}, {"status", "True"}}});
    // Not in the controllers' cache (StripForControlLoops): must survive their status writes.
    pod["status"]["containerStatuses"] = Json::array({{{"name", "c"}, {"containerID", "sim://" + name}, {"ready", true},
                                                       {"restartCount", 0}, {"state", {{"running", Json::object()}}}}});
    ASSERT_TRUE(c().UpdateStatus(client::kPods, "default", pod).ok());
  }
  Json Node(const std::string& n) { return c().Get(client::kNodes, "", n).value(); }
  bool Gone(const std::string& pod) {
    auto r = c().Get(client::kPods, "default", pod);
    return !r.ok() || (*r)["metadata"].contains("deletionTimestamp");
  }
  std::set<std::string> TaintKeys(const std::string& n) {
    std::set<std::string> out;
    Json node = Node(n);
    if (node["spec"].contains("taints"))
      for (const Json& t : node["spec"]["taints"]) out.insert(t["key"].get<std::string>() + ":" + t["effect"].get<std::string>());
    return out;
  }
  void Tick(std::chrono::seconds d) {
    api_->clock().Advance(d);
    ctrl_->MonitorForTest();
  }

  std::string renew_;
  std::unique_ptr<client::testing::TestApiServer> api_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<NodeLifecycleController> ctrl_;
};

TEST_F(NodeLifecycleTest, SilentNodeBecomesUnknownTaintedAndEvicts) {
  CreateHealthyNode("n1");
  CreatePod("defaulted", nullptr);  // no tolerations: the 300 s default applies
  CreatePod("short", Json::array({{{"key", kUnreachableTaint}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", 10}}}));
  CreatePod("forever", Json::array({{{"key", kUnreachableTaint}, {"operator", "Exists"}, {"effect", "NoExecute"}}}));

  // Within the grace period nothing happens, as long as the lease is renewed.
  Tick(30s);
  RenewLease("n1");
  ASSERT_TRUE(WaitFor([&] { return ctrl_->ObservedForTest("n1", renew_); }));
  Tick(30s);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(GetString(*framework::FindCondition(Node("n1"), "Ready"), "status"), "True");
  EXPECT_TRUE(TaintKeys("n1").empty());

  Tick(11s);  // 41 s since the last renewal
  ASSERT_TRUE(WaitFor([&] {
    Json n = Node("n1");
    const Json* r = framework::FindCondition(n, "Ready");
    return r && GetString(*r, "status") == "Unknown";
  }));
  Json n1 = Node("n1");
  const Json* ready = framework::FindCondition(n1, "Ready");
  EXPECT_EQ(GetString(*ready, "reason"), "NodeStatusUnknown");
  EXPECT_EQ(GetString(*ready, "message"), "Kubelet stopped posting node status.");
  ASSERT_TRUE(WaitFor([&] {
    return TaintKeys("n1") == std::set<std::string>{std::string(kUnreachableTaint) + ":NoSchedule", std::string(kUnreachableTaint) + ":NoExecute"};
  }));
  // Pods on the node are no longer ready.
  ASSERT_TRUE(WaitFor([&] {
    auto p = c().Get(client::kPods, "default", "defaulted");
    const Json* r = p.ok() ? framework::FindCondition(*p, "Ready") : nullptr;
    return r && GetString(*r, "status") == "False";
  }));
  {
    Json p = c().Get(client::kPods, "default", "defaulted").value();
    EXPECT_EQ(GetString(p["status"]["containerStatuses"][0], "containerID"), "sim://defaulted") << p.dump();
  }
  EXPECT_FALSE(Gone("short"));

  Tick(11s);
  ASSERT_TRUE(WaitFor([&] { return Gone("short"); }));
  EXPECT_FALSE(Gone("defaulted"));
  EXPECT_FALSE(Gone("forever"));
  Tick(300s);
  ASSERT_TRUE(WaitFor([&] { return Gone("defaulted"); }));
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(Gone("forever"));
}

TEST_F(NodeLifecycleTest, RecoveredNodeLosesTaints) {
  CreateHealthyNode("n1");
  Tick(41s);
  ASSERT_TRUE(WaitFor([&] { return TaintKeys("n1").size() == 2; }));
  // The kubelet comes back: Ready True with a new heartbeat, lease renewed.
  Json n = Node("n1");
  for (Json& cd : n["status"]["conditions"])
    if (cd["type"] == "Ready") {
      cd["status"] = "True";
      cd["reason"] = "KubeletReady";
      cd["lastHeartbeatTime"] = FormatRFC3339(api_->clock().Now());
    }
  ASSERT_TRUE(c().UpdateStatus(client::kNodes, "", n).ok());
  RenewLease("n1");
  ASSERT_TRUE(WaitFor([&] { return TaintKeys("n1").empty(); })) << Node("n1").dump();
}

TEST_F(NodeLifecycleTest, NotReadyNodeGetsNotReadyTaints) {
  CreateHealthyNode("n1");
  Json n = Node("n1");
  for (Json& cd : n["status"]["conditions"])
    if (cd["type"] == "Ready") cd["status"] = "False";
  ASSERT_TRUE(c().UpdateStatus(client::kNodes, "", n).ok());
  ASSERT_TRUE(WaitFor([&] {
    return TaintKeys("n1") == std::set<std::string>{std::string(kNotReadyTaint) + ":NoSchedule", std::string(kNotReadyTaint) + ":NoExecute"};
  })) << Node("n1").dump();
}

TEST(EvictionTimeTest, Table) {
  SystemTime t0 = ParseRFC3339("2026-11-25T10:00:00Z").value();
  Json node = {{"spec", {{"taints", {{{"key", "k"}, {"effect", "NoExecute"}, {"timeAdded", "2026-11-25T10:00:00Z"}},
                                     {{"key", "s"}, {"effect", "NoSchedule"}}}}}}};
  auto pod = [](Json tols) { return Json{{"spec", {{"tolerations", tols}}}}; };
  EXPECT_EQ(EvictionTime(pod(Json::array()), node), SystemTime{});  // not tolerated: now
  EXPECT_EQ(EvictionTime(pod({{{"key", "k"}, {"operator", "Exists"}}}), node), std::nullopt);
  EXPECT_EQ(EvictionTime(pod({{{"key", "k"}, {"operator", "Exists"}, {"tolerationSeconds", 30}},
                              {{"operator", "Exists"}, {"tolerationSeconds", 60}}}),
                         node),
            t0 + std::chrono::seconds(30));
  EXPECT_EQ(EvictionTime(pod({{{"key", "other"}, {"operator", "Exists"}}}), node), SystemTime{});
  EXPECT_EQ(EvictionTime(pod(Json::array()), Json{{"spec", Json::object()}}), std::nullopt);
  Json unreachable = {{"spec", {{"taints", {{{"key", kUnreachableTaint}, {"effect", "NoExecute"}, {"timeAdded", "2026-11-25T10:00:00Z"}}}}}}};
  EXPECT_EQ(EvictionTime(pod(Json::array()), unreachable, 300), t0 + std::chrono::seconds(300));
  EXPECT_EQ(EvictionTime(pod(Json::array()), unreachable, -1), SystemTime{});
  EXPECT_EQ(EvictionTime(pod({{{"key", kUnreachableTaint}, {"operator", "Exists"}, {"tolerationSeconds", 5}}}), unreachable, 300),
            t0 + std::chrono::seconds(5));
}

}  // namespace
}  // namespace tug::controllers::nodelifecycle
