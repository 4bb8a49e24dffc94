#include "controllers/hpa/hpa_controller.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include "apiserver/metrics/metrics_api.h"
#include "client/informer.h"
#include "client/loopback.h"
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

// A plain-HTTP kubelet answering every request with a fixed /stats/summary document.
class FakeKubelet {
 public:
  explicit FakeKubelet(std::string body) : body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = ::read(c, buf, sizeof(buf));
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_;
        (void)!::write(c, resp.data(), resp.size());
        ::close(c);
      }
    });
  }
  ~FakeKubelet() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  std::string body_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The HPA reads PodMetrics through the metrics API (apiserver/metrics) backed by a kubelet
// summary: two pods at 100m each against requests of 100m is 100% utilization, twice the 50%
// target, so 2 replicas become ceil(2 * 2) = 4.
TEST(HpaControllerTest, ScalesOnCpuUtilizationFromTheMetricsApi) {
  auto ctr = [](uint64_t nanocores) {
    return Json::array({{{"name", "c"},
                         {"cpu", {{"time", "2026-11-25T23:00:00Z"}, {"usageNanoCores", nanocores}}},
                         {"memory", {{"time", "2026-11-25T23:00:00Z"}, {"workingSetBytes", 1048576}}}}});
  };
  Json summary = {{"node", {{"nodeName", "n1"}}},
                  {"pods", Json::array({{{"podRef", {{"name", "web-1"}, {"namespace", "default"}}}, {"containers", ctr(100000000)}},
                                        {{"podRef", {{"name", "web-2"}, {"namespace", "default"}}}, {"containers", ctr(100000000)}}})}};
  FakeKubelet kubelet(summary.dump());

  client::testing::TestApiServer api;
  ASSERT_TRUE(api.ok());
  apiserver::metrics::MetricsOptions mo;
  mo.tls = false;
  mo.cache_ttl = 0ms;
  apiserver::metrics::MetricsHandler metrics(api.handler(), mo);
  client::Client c(client::NewLoopbackTransport(metrics, apiserver::UserInfo{"system:admin", "", {"system:masters"}}));

  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}};
  ASSERT_TRUE(c.Create(client::kNodes, "", node).ok());
  node = c.Get(client::kNodes, "", "n1").value();
  node["status"] = {{"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})},
                    {"addresses", Json::array({{{"type", "InternalIP"}, {"address", "127.0.0.1"}}})},
                    {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", kubelet.port()}}}}}};
  ASSERT_TRUE(c.UpdateStatus(client::kNodes, "", node).ok());
  Json container = {{"name", "c"}, {"image", "x"}, {"resources", {{"requests", {{"cpu", "100m"}}}}}};
  for (const char* name : {"web-1", "web-2"}) {
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", "web"}}}}},
                {"spec",
                 {{"nodeName", "n1"}, {"containers", Json::array({container})}}}};
    ASSERT_TRUE(c.Create(client::kPods, "default", pod).ok());
    pod = c.Get(client::kPods, "default", name).value();
    pod["status"] = {{"phase", "Running"}};
    ASSERT_TRUE(c.UpdateStatus(client::kPods, "default", pod).ok());
  }
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
              {"maxReplicas", 10},
              {"metrics", {{{"type", "Resource"}, {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", 50}}}}}}}}}}};
  ASSERT_TRUE(c.Create(client::kHorizontalPodAutoscalers, "default", h).ok());

  client::InformerFactory informers(c);
  framework::ControllerContext ctx{.client = &c, .informers = &informers, .clock = nullptr};
  HpaController ctrl(ctx);
  informers.Start();
  ASSERT_TRUE(informers.WaitForSync(10s));
  ctrl.Run(1);
  ASSERT_TRUE(WaitFor([&] { return c.Get(client::kDeployments, "default", "web").value()["spec"]["replicas"] == 4; }));
  ASSERT_TRUE(WaitFor([&] {
    auto got = c.Get(client::kHorizontalPodAutoscalers, "default", "web");
    const Json* sa = got.ok() ? framework::FindCondition(*got, "ScalingActive") : nullptr;
    return sa && (*sa)["status"] == "True";
  }));
  Json got = c.Get(client::kHorizontalPodAutoscalers, "default", "web").value();
  const Json* sa = framework::FindCondition(got, "ScalingActive");
  EXPECT_EQ((*sa)["reason"], "ValidMetricFound");
  EXPECT_EQ((*sa)["message"], "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)");
  EXPECT_EQ(got["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"], 100);
  EXPECT_EQ(got["status"]["currentMetrics"][0]["resource"]["current"]["averageValue"], "100m");
  EXPECT_EQ(got["status"]["desiredReplicas"], 4);
  ctrl.Stop();
}

}  // namespace
}  // namespace tug::controllers::hpa
