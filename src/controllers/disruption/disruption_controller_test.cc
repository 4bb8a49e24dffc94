#include "controllers/disruption/disruption_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "client/informer.h"
#include "client/testing/test_api_server.h"

namespace tug::controllers::disruption {
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

class DisruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<client::testing::TestApiServer>();
    ASSERT_TRUE(api_->ok());
    informers_ = std::make_unique<client::InformerFactory>(api_->client());
    framework::ControllerContext ctx{.client = &api_->client(), .informers = informers_.get(), .clock = nullptr};
    ctrl_ = std::make_unique<DisruptionController>(ctx);
    informers_->Start();
    ASSERT_TRUE(informers_->WaitForSync(10s));
    ctrl_->Run(1);
  }
  void TearDown() override {
    ctrl_.reset();
    informers_.reset();
  }
  const client::Client& c() { return api_->client(); }

  void CreatePod(const std::string& name, bool ready, const Json& owner = Json()) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
    if (!owner.is_null()) p["metadata"]["ownerReferences"] = Json::array({owner});
    auto r = c().Create(client::kPods, "default", p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    SetReady(name, ready);
  }
  void SetReady(const std::string& name, bool ready) {
    Json pod = c().Get(client::kPods, "default", name).value();
    pod["status"]["phase"] = "Running";
    pod["status"]["conditions"] = Json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}});
    ASSERT_TRUE(c().UpdateStatus(client::kPods, "default", pod).ok());
  }
  void CreatePdb(const Json& spec) {
    Json pdb = {{"apiVersion", "policy/v1"},
                {"kind", "PodDisruptionBudget"},
                {"metadata", {{"name", "web"}, {"namespace", "default"}}},
                {"spec", spec}};
    pdb["spec"]["selector"] = {{"matchLabels", {{"app", "web"}}}};
    auto r = c().Create(client::kPodDisruptionBudgets, "default", pdb);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  Json Status() { return c().Get(client::kPodDisruptionBudgets, "default", "web").value().value("status", Json::object()); }
  static std::string Reason(const Json& st) {
    if (!st.contains("conditions")) return "";
    for (const Json& cd : st["conditions"])
      if (cd["type"] == "DisruptionAllowed") return cd["reason"];
    return "";
  }

  std::unique_ptr<client::testing::TestApiServer> api_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<DisruptionController> ctrl_;
};

TEST_F(DisruptionTest, MinAvailableCountsHealthyPods) {
  CreatePod("a", true);
  CreatePod("b", true);
  CreatePod("c", true);
  CreatePdb({{"minAvailable", 2}});
  ASSERT_TRUE(WaitFor([&] {
    Json st = Status();
    return st.value("disruptionsAllowed", -1) == 1 && st.value("currentHealthy", -1) == 3 && st.value("desiredHealthy", -1) == 2 &&
           st.value("expectedPods", -1) == 3 && Reason(st) == "SufficientPods";
  })) << Status().dump();
  SetReady("c", false);
  ASSERT_TRUE(WaitFor([&] { return Status().value("disruptionsAllowed", -1) == 0 && Reason(Status()) == "InsufficientPods"; }))
      << Status().dump();
}

TEST_F(DisruptionTest, MaxUnavailableUsesControllerScale) {
  Json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata", {{"name", "web-rs"}, {"namespace", "default"}}},
             {"spec",
              {{"replicas", 4},
               {"selector", {{"matchLabels", {{"app", "web"}}}}},
               {"template", {{"metadata", {{"labels", {{"app", "web"}}}}}, {"spec", {{"containers", {{{"name", "c"}, {"image", "x"}}}}}}}}}}};
  auto created = c().Create(client::kReplicaSets, "default", rs);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  Json owner = {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "web-rs"},
                {"uid", (*created)["metadata"]["uid"]}, {"controller", true}};
  for (const char* n : {"a", "b", "c", "d"}) CreatePod(n, true, owner);
  CreatePdb({{"maxUnavailable", "50%"}});
  ASSERT_TRUE(WaitFor([&] {
    Json st = Status();
    return st.value("expectedPods", -1) == 4 && st.value("desiredHealthy", -1) == 2 && st.value("disruptionsAllowed", -1) == 2;
  })) << Status().dump();
}

TEST_F(DisruptionTest, PodsWithoutControllerFailSafe) {
  CreatePod("a", true);
  CreatePdb({{"maxUnavailable", 1}});
  ASSERT_TRUE(WaitFor([&] { return Reason(Status()) == "SyncFailed"; })) << Status().dump();
  EXPECT_EQ(Status().value("disruptionsAllowed", -1), 0);
}

}  // namespace
}  // namespace tug::controllers::disruption
