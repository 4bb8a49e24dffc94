#include "controllers/podgc/podgc_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "client/informer.h"
#include "client/testing/test_api_server.h"

namespace tug::controllers::podgc {
namespace {

using namespace std::chrono_literals;

// Items of a list answer, by value (ranging over a member of a temporary would dangle).
Json Items(const Result<Json>& r) { return r.ok() ? r.value().value("items", Json::array()) : Json::array(); }


bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

class PodGcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client::testing::TestApiServerOptions o;
    o.use_fake_clock = true;
    api_ = std::make_unique<client::testing::TestApiServer>(o);
    ASSERT_TRUE(api_->ok());
    informers_ = std::make_unique<client::InformerFactory>(api_->client());
    framework::ControllerContext ctx{.client = &api_->client(), .informers = informers_.get(), .clock = &api_->clock()};
    ctrl_ = std::make_unique<PodGcController>(ctx, PodGcOptions{.terminated_pod_threshold = 2, .gc_period = 0ms, .quarantine = 30s});
    informers_->Start();
    ASSERT_TRUE(informers_->WaitForSync(10s));
  }
  void TearDown() override {
    ctrl_.reset();
    informers_.reset();
  }
  const client::Client& c() { return api_->client(); }

  void CreatePod(const std::string& name, const std::string& phase, const std::string& node = "") {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
    if (!node.empty()) p["spec"]["nodeName"] = node;
    auto r = c().Create(client::kPods, "default", p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    Json pod = *r;
    pod["status"]["phase"] = phase;
    ASSERT_TRUE(c().UpdateStatus(client::kPods, "default", pod).ok());
    api_->clock().Advance(1s);  // distinct creation times
  }
  std::set<std::string> Names() {
    std::set<std::string> out;
    for (const Json& p : Items(c().List(client::kPods, "default"))) out.insert(p["metadata"]["name"]);
    return out;
  }
  bool Cached(size_t n, const std::string& phase_of_last = "") {
    auto pods = informers_->For(client::kPods).List("default");
    return pods.size() == n;
  }

  std::unique_ptr<client::testing::TestApiServer> api_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<PodGcController> ctrl_;
};

TEST_F(PodGcTest, DeletesOldestTerminatedPodsOverThreshold) {
  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}};
  ASSERT_TRUE(c().Create(client::kNodes, "", node).ok());
  CreatePod("done-1", "Succeeded", "n1");
  CreatePod("done-2", "Failed", "n1");
  CreatePod("running", "Running", "n1");
  CreatePod("done-3", "Succeeded", "n1");
  CreatePod("done-4", "Succeeded", "n1");
  ASSERT_TRUE(WaitFor([&] {
    auto pods = informers_->For(client::kPods).List("default");
    int terminated = 0;
    for (const auto& p : pods)
      if (GetStringPath(*p, {"status", "phase"}) == "Succeeded" || GetStringPath(*p, {"status", "phase"}) == "Failed") ++terminated;
    return terminated == 4;
  }));
  ASSERT_TRUE(ctrl_->RunOnceForTest().ok());
  EXPECT_EQ(Names(), (std::set<std::string>{"running", "done-3", "done-4"}));
}

TEST_F(PodGcTest, OrphanedPodsGoAfterQuarantine) {
  CreatePod("orphan", "Running", "ghost");
  CreatePod("pending", "Pending");
  ASSERT_TRUE(WaitFor([&] { return Cached(2); }));
  ASSERT_TRUE(ctrl_->RunOnceForTest().ok());
  EXPECT_EQ(Names(), (std::set<std::string>{"orphan", "pending"}));  // still in quarantine
  api_->clock().Advance(31s);
  ASSERT_TRUE(ctrl_->RunOnceForTest().ok());
  EXPECT_EQ(Names(), (std::set<std::string>{"pending"}));
}

}  // namespace
}  // namespace tug::controllers::podgc
