#include "controllers/hpa/hpa_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "client/informer.h"
#include "client/testing/test_api_server.h"

namespace tug::controllers::hpa {
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

TEST(HpaControllerTest, NoMetricsApiSaysSo) {
  client::testing::TestApiServer api;
  ASSERT_TRUE(api.ok());
  const client::Client& c = api.client();
  Json d = {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"name", "web"}, {"namespace", "default"}}},
            {"spec",
             {{"replicas", 2},
              {"selector", {{"matchLabels", {{"app", "web"}}}}},
              {"template", {{"metadata", {{"labels", {{"app", "web"}}}}}, {"spec", {{"containers", {{{"name", "c"}, {"image", "x"}}}}}}}}}}};
  ASSERT_TRUE(c.Create(client::kDeployments, "default", d).ok());
  Json h = {{"apiVersion", "autoscaling/v2"},
            {"kind", "HorizontalPodAutoscaler"},
            {"metadata", {{"name", "web"}, {"namespace", "default"}}},
            {"spec",
             {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
              {"minReplicas", 1},
              {"maxReplicas", 5},
              {"metrics", {{{"type", "Resource"}, {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", 50}}}}}}}}}}};
  auto hr = c.Create(client::kHorizontalPodAutoscalers, "default", h);
  ASSERT_TRUE(hr.ok()) << hr.status().ToString();

  client::InformerFactory informers(c);
  framework::ControllerContext ctx{.client = &c, .informers = &informers, .clock = nullptr};
  HpaController ctrl(ctx);
  informers.Start();
  ASSERT_TRUE(informers.WaitForSync(10s));
  ctrl.Run(1);
  auto cond = [&](const std::string& type) -> Json {
    auto got = c.Get(client::kHorizontalPodAutoscalers, "default", "web");
    if (!got.ok()) return Json();
    const Json* cd = framework::FindCondition(*got, type);
    return cd ? *cd : Json();
  };
  ASSERT_TRUE(WaitFor([&] { return !cond("ScalingActive").is_null(); }));
  Json sa = cond("ScalingActive");
  EXPECT_EQ(sa["status"], "False");
  EXPECT_EQ(sa["reason"], "FailedGetResourceMetric");
  EXPECT_EQ(sa["message"],
            "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource "
            "cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get "
            "pods.metrics.k8s.io)");
  Json ats = cond("AbleToScale");
  EXPECT_EQ(ats["status"], "True");
  EXPECT_EQ(ats["reason"], "SucceededGetScale");
  Json st = c.Get(client::kHorizontalPodAutoscalers, "default", "web").value()["status"];
  EXPECT_EQ(st["currentReplicas"], 2);
  EXPECT_EQ(st["desiredReplicas"], 2);
  // The target was not scaled, and the events say why.
  EXPECT_EQ(c.Get(client::kDeployments, "default", "web").value()["spec"]["replicas"], 2);
  ASSERT_TRUE(WaitFor([&] {
    bool a = false, b = false;
    for (const Json& e : Items(c.List(client::kEvents, "default"))) {
      a = a || e["reason"] == "FailedGetResourceMetric";
      b = b || (e["reason"] == "FailedComputeMetricsReplicas" &&
                e["message"].get<std::string>().rfind("invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: failed to get cpu utilization:", 0) == 0);
    }
    return a && b;
  }));
  ctrl.Stop();
}

TEST(QuantityTest, Table) {
  EXPECT_EQ(ParseQuantityMilli("250m").value(), 250);
  EXPECT_EQ(ParseQuantityMilli("1").value(), 1000);
  EXPECT_EQ(ParseQuantityMilli("1.5").value(), 1500);
  EXPECT_EQ(ParseQuantityMilli("1Ki").value(), 1024000);
  EXPECT_EQ(ParseQuantityMilli("100n").value(), 0);
  EXPECT_FALSE(ParseQuantityMilli("5x").ok());
}

}  // namespace
}  // namespace tug::controllers::hpa
