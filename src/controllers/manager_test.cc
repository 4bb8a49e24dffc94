#include "controllers/manager.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "client/testing/test_api_server.h"

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

}  // namespace
}  // namespace tug::controllers
