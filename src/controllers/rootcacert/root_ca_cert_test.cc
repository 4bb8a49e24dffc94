#include "controllers/rootcacert/root_ca_cert.h"

#include <gtest/gtest.h>

#include <thread>

#include "client/testing/test_api_server.h"
#include "controllers/manager.h"

namespace tug::controllers::rootcacert {
namespace {

constexpr char kCa[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

bool WaitFor(const std::function<bool()>& f) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return f();
}

class RootCaCertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.ok());
    Options o;
    o.workers = 1;
    o.enabled = {"root-ca-cert-publisher"};
    o.root_ca_pem = kCa;
    auto m = StartControllers(api_.client(), o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    mgr_ = std::move(*m);
  }
  void TearDown() override {
    if (mgr_) mgr_->Stop();
  }
  Json Get(const std::string& ns) {
    auto g = api_.client().Get(client::kConfigMaps, ns, kConfigMapName);
    return g.ok() ? *g : Json();
  }
  bool Published(const std::string& ns) {
    Json cm = Get(ns);
    return !cm.is_null() && cm["data"] == Json{{"ca.crt", kCa}} &&
           !GetStringPath(cm, {"metadata", "annotations", kDescriptionAnnotation}).empty();
  }

  client::testing::TestApiServer api_;
  std::unique_ptr<ControllerManager> mgr_;
};

TEST_F(RootCaCertTest, PublishedInEveryNamespaceAndRepaired) {
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"})
    EXPECT_TRUE(WaitFor([&] { return Published(ns); })) << ns;
  ASSERT_TRUE(api_.client().Create(client::kNamespaces, "", Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team"}}}}).ok());
  ASSERT_TRUE(WaitFor([&] { return Published("team"); }));

  // Edited: the data is put back, other metadata kept.
  Json cm = Get("team");
  cm["data"] = {{"ca.crt", "tampered"}, {"extra", "x"}};
  cm["metadata"]["labels"] = {{"mine", "yes"}};
  ASSERT_TRUE(api_.client().Update(client::kConfigMaps, "team", cm).ok());
  ASSERT_TRUE(WaitFor([&] { return Published("team"); }));
  EXPECT_EQ(GetStringPath(Get("team"), {"metadata", "labels", "mine"}), "yes");

  // Deleted: re-created.
  std::string uid = GetStringPath(Get("team"), {"metadata", "uid"});
  ASSERT_TRUE(api_.client().Delete(client::kConfigMaps, "team", kConfigMapName).ok());
  EXPECT_TRUE(WaitFor([&] { return Published("team") && GetStringPath(Get("team"), {"metadata", "uid"}) != uid; }));
}

TEST(RootCaCertNoCaTest, NotStartedWithoutACa) {
  client::testing::TestApiServer api;
  ASSERT_TRUE(api.ok());
  Options o;
  o.enabled = {"root-ca-cert-publisher"};
  auto m = StartControllers(api.client(), o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE((*m)->Running().empty());
  (*m)->Stop();
}

}  // namespace
}  // namespace tug::controllers::rootcacert
