#include "controllers/statefulset/statefulset_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "client/informer.h"
#include "client/testing/test_api_server.h"

namespace tug::controllers::statefulset {
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

class StatefulSetControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<client::testing::TestApiServer>();
    ASSERT_TRUE(api_->ok());
    informers_ = std::make_unique<client::InformerFactory>(api_->client());
    framework::ControllerContext ctx{.client = &api_->client(), .informers = informers_.get(), .clock = nullptr};
    ctrl_ = std::make_unique<StatefulSetController>(ctx);
    informers_->Start();
    ASSERT_TRUE(informers_->WaitForSync(10s));
    ctrl_->Run(1);
  }
  void TearDown() override {
    ctrl_.reset();
    informers_.reset();
  }
  const client::Client& c() { return api_->client(); }

  void CreateSet(int replicas, Json extra = Json::object()) {
    Json s = {{"apiVersion", "apps/v1"},
              {"kind", "StatefulSet"},
              {"metadata", {{"name", "web"}, {"namespace", "default"}}},
              {"spec",
               {{"replicas", replicas},
                {"serviceName", "nginx"},
                {"selector", {{"matchLabels", {{"app", "web"}}}}},
                {"template",
                 {{"metadata", {{"labels", {{"app", "web"}}}}},
                  {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx:1"}}}}}}}}}}};
    s["spec"].update(extra);
    auto r = c().Create(client::kStatefulSets, "default", s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  Json Set() { return c().Get(client::kStatefulSets, "default", "web").value(); }
  std::vector<std::string> PodNames() {
    std::vector<std::string> out;
    for (const Json& p : Items(c().List(client::kPods, "default")))
      if (!p["metadata"].contains("deletionTimestamp")) out.push_back(p["metadata"]["name"]);
    std::sort(out.begin(), out.end());
    return out;
  }
  Json Pod(const std::string& n) {
    auto r = c().Get(client::kPods, "default", n);
    return r.ok() ? *r : Json();
  }
  void MakeReady(const std::string& n) {
    Json p = Pod(n);
    ASSERT_FALSE(p.is_null());
    p["status"]["phase"] = "Running";
    p["status"]["conditions"] = Json::array({{{"type", "Ready"}, {"status", "True"}}});
    auto r = c().UpdateStatus(client::kPods, "default", p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  using Names = std::vector<std::string>;

  std::unique_ptr<client::testing::TestApiServer> api_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<StatefulSetController> ctrl_;
};

TEST_F(StatefulSetControllerTest, OrderedReadyCreatesInOrder) {
  CreateSet(3, {{"volumeClaimTemplates",
                 {{{"metadata", {{"name", "data"}}},
                   {"spec", {{"accessModes", {"ReadWriteOnce"}}, {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}}}}});
  ASSERT_TRUE(WaitFor([&] { return PodNames() == Names{"web-0"}; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(PodNames(), Names{"web-0"});  // web-1 waits for web-0 to be Running and Ready
  Json p0 = Pod("web-0");
  EXPECT_EQ(GetStringPath(p0, {"metadata", "labels", kPodNameLabel}), "web-0");
  EXPECT_EQ(GetStringPath(p0, {"metadata", "labels", kPodIndexLabel}), "0");
  EXPECT_EQ(GetStringPath(p0, {"spec", "hostname"}), "web-0");
  EXPECT_EQ(GetStringPath(p0, {"spec", "subdomain"}), "nginx");
  EXPECT_EQ(GetStringPath(p0, {"metadata", "labels", "controller-revision-hash"}).rfind("web-", 0), 0u);
  bool has_claim = false;
  for (const Json& v : p0["spec"]["volumes"])
    has_claim = has_claim || GetStringPath(v, {"persistentVolumeClaim", "claimName"}) == "data-web-0";
  EXPECT_TRUE(has_claim);
  auto pvc = c().Get(client::kPersistentVolumeClaims, "default", "data-web-0");
  ASSERT_TRUE(pvc.ok());
  EXPECT_EQ(GetStringPath(*pvc, {"metadata", "labels", "app"}), "web");

  MakeReady("web-0");
  ASSERT_TRUE(WaitFor([&] { return PodNames() == Names{"web-0", "web-1"}; }));
  MakeReady("web-1");
  ASSERT_TRUE(WaitFor([&] { return PodNames() == Names{"web-0", "web-1", "web-2"}; }));
  MakeReady("web-2");
  ASSERT_TRUE(WaitFor([&] {
    Json s = Set()["status"];
    return s.value("readyReplicas", 0) == 3 && s.value("replicas", 0) == 3 && s.value("availableReplicas", 0) == 3 &&
           s.value("currentRevision", "") == s.value("updateRevision", "x");
  })) << Set()["status"].dump();

  // Scale down removes the highest ordinal first; claims stay.
  Json s = Set();
  s["spec"]["replicas"] = 1;
  ASSERT_TRUE(c().Update(client::kStatefulSets, "default", s).ok());
  ASSERT_TRUE(WaitFor([&] { return PodNames() == Names{"web-0"}; }));
  EXPECT_TRUE(c().Get(client::kPersistentVolumeClaims, "default", "data-web-2").ok());
}

TEST_F(StatefulSetControllerTest, ParallelCreatesAllAtOnce) {
  CreateSet(3, {{"podManagementPolicy", "Parallel"}});
  ASSERT_TRUE(WaitFor([&] { return PodNames() == Names{"web-0", "web-1", "web-2"}; }));
}

TEST_F(StatefulSetControllerTest, RollingUpdateWithPartition) {
  CreateSet(3, {{"podManagementPolicy", "Parallel"},
                {"updateStrategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 1}}}}}});
  ASSERT_TRUE(WaitFor([&] { return PodNames().size() == 3; }));
  for (const auto& n : PodNames()) MakeReady(n);
  ASSERT_TRUE(WaitFor([&] { return Set()["status"].value("readyReplicas", 0) == 3; }));
  std::string rev1 = GetStringPath(Pod("web-0"), {"metadata", "labels", "controller-revision-hash"});
  Json s = Set();
  s["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2";
  ASSERT_TRUE(c().Update(client::kStatefulSets, "default", s).ok());
  // web-2 then web-1 are replaced (each after the previous one is ready); web-0 stays.
  auto rev_of = [&](const std::string& n) { return GetStringPath(Pod(n), {"metadata", "labels", "controller-revision-hash"}); };
  ASSERT_TRUE(WaitFor([&] {
    for (const std::string n : {"web-1", "web-2"}) {
      Json p = Pod(n);
      if (!p.is_null() && rev_of(n) != rev1 && !framework::IsPodReady(p)) MakeReady(n);
    }
    return !Pod("web-1").is_null() && !Pod("web-2").is_null() && rev_of("web-1") != rev1 && rev_of("web-2") != rev1 &&
           framework::IsPodReady(Pod("web-1")) && framework::IsPodReady(Pod("web-2"));
  })) << Set()["status"].dump();
  EXPECT_EQ(rev_of("web-0"), rev1);
  EXPECT_EQ(Pod("web-2")["spec"]["containers"][0]["image"], "nginx:2");
  EXPECT_EQ(Pod("web-0")["spec"]["containers"][0]["image"], "nginx:1");
  ASSERT_TRUE(WaitFor([&] {
    Json st = Set()["status"];
    return st.value("updatedReplicas", 0) == 2 && st.value("currentRevision", "") == rev1 && st.value("updateRevision", "") != rev1;
  })) << Set()["status"].dump();
  // A deleted pod below the partition comes back at the current revision.
  ASSERT_TRUE(c().Delete(client::kPods, "default", "web-0").ok());
  ASSERT_TRUE(WaitFor([&] { return !Pod("web-0").is_null() && !Pod("web-0")["metadata"].contains("deletionTimestamp"); }));
  EXPECT_EQ(Pod("web-0")["spec"]["containers"][0]["image"], "nginx:1");
  EXPECT_EQ(c().List(client::kControllerRevisions, "default").value()["items"].size(), 2u);
}

TEST(StatefulSetHelpersTest, Ordinals) {
  EXPECT_EQ(OrdinalOf("web", "web-0"), 0);
  EXPECT_EQ(OrdinalOf("web", "web-12"), 12);
  EXPECT_EQ(OrdinalOf("web", "web-01"), -1);
  EXPECT_EQ(OrdinalOf("web", "webx-1"), -1);
  EXPECT_EQ(OrdinalOf("web", "web-"), -1);
  EXPECT_EQ(OrdinalOf("web", "web-a"), -1);
}

}  // namespace
}  // namespace tug::controllers::statefulset
