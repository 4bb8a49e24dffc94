#include "controllers/manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "client/testing/test_api_server.h"
#include "controllers/testing/harness.h"

namespace tug::controllers {
namespace {

bool Has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST(ControllerManagerTest, EnablesByName) {
  client::testing::TestApiServer api;
  struct Case {
    std::vector<std::string> enabled;
    std::vector<std::string> want_on, want_off;
  };
  std::vector<Case> cases = {
      {{}, {"replicaset", "deployment", "garbagecollector", "namespace", "serviceaccount"}, {}},
      {{"*", "-garbagecollector"}, {"replicaset", "deployment"}, {"garbagecollector"}},
      {{"serviceaccount"}, {"serviceaccount"}, {"replicaset", "deployment"}},
  };
  for (const auto& c : cases) {
    auto m = StartControllers(api.client(), Options{.workers = 1, .enabled = c.enabled});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto running = (*m)->Running();
    for (const auto& n : c.want_on) EXPECT_TRUE(Has(running, n)) << n;
    for (const auto& n : c.want_off) EXPECT_FALSE(Has(running, n)) << n;
    (*m)->Stop();
  }
  auto bad = StartControllers(api.client(), Options{.workers = 1, .enabled = {"*", "-nosuch"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kBadRequest);
  EXPECT_TRUE(Has(KnownControllers(), "deployment"));
}

Json ReplicaSet(const std::string& name, int replicas) {
  return testing::AppsWorkload("ReplicaSet", name, replicas);
}

// With Options::shared_informers the manager works on a scope of a factory it does not own
// (cmd/tug/control_loops.cc shares one with the scheduler): its controllers see the shared
// cache, and Stop() leaves the shared informers running, so a manager started again later (a
// re-elected controller manager) resumes from the same cache without duplicating pods.
TEST(ControllerManagerTest, SharedInformersOutliveTheManager) {
  client::testing::TestApiServer api;
  client::InformerFactory shared(api.client());
  shared.SetTransform(client::StripManagedFields);
  client::Informer& pods = shared.For(client::kPods);
  auto count = [&](const std::string& app) {
    auto sel = client::LabelSelector::Parse("app=" + app);
    return sel.ok() ? pods.List("default", &*sel).size() : 0u;
  };
  auto eventually = [](const std::function<bool()>& pred) {
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(std::chrono::milliseconds(5)))
      if (pred()) return true;
    return pred();
  };
  for (int round = 0; round < 2; ++round) {
    auto m = StartControllers(api.client(),
                              Options{.workers = 1, .enabled = {"replicaset"}, .shared_informers = &shared});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    std::string name = "rs-" + std::to_string(round);
    ASSERT_TRUE(api.client().Create(client::kReplicaSets, "default", ReplicaSet(name, 2)).ok());
    ASSERT_TRUE(eventually([&] { return count(name) == 2; })) << name << ": " << count(name);
    (*m)->Stop();
    EXPECT_TRUE(pods.HasSynced());  // still running after the manager stopped
  }
  // Deleting a pod now: no manager, nobody replaces it; the shared cache still follows.
  auto rs0 = pods.List("default");
  ASSERT_FALSE(rs0.empty());
  std::string victim = GetStringPath(*rs0.front(), {"metadata", "name"});
  client::DeleteOptions now;
  now.grace_period_seconds = 0;
  ASSERT_TRUE(api.client().Delete(client::kPods, "default", victim, now).ok());
  ASSERT_TRUE(eventually([&] { return pods.Get("default/" + victim) == nullptr; }));
  EXPECT_EQ(count("rs-0") + count("rs-1"), 3u);
  shared.Stop();
}

}  // namespace
}  // namespace tug::controllers
