#include "apiserver/metrics/metrics_api.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <thread>

namespace tug::apiserver::metrics {
namespace {

// A plain-HTTP kubelet answering GET /stats/summary with `summary` (or `code`).
class FakeKubelet {
 public:
  FakeKubelet() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeKubelet() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }
  int requests() const { return requests_; }
  void Set(int code, std::string body) {
    std::lock_guard<std::mutex> l(mu_);
    code_ = code;
    body_ = std::move(body);
  }
  std::string last_path() {
    std::lock_guard<std::mutex> l(mu_);
    return last_path_;
  }

 private:
  void Loop() {
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
      ++requests_;
      std::string resp;
      {
        std::lock_guard<std::mutex> l(mu_);
        size_t sp = req.find(' ');
        last_path_ = req.substr(sp + 1, req.find(' ', sp + 1) - sp - 1);
        resp = "HTTP/1.1 " + std::to_string(code_) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_;
      }
      (void)!::write(c, resp.data(), resp.size());
      ::close(c);
    }
  }
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  int code_ = 200;
  std::string body_ = "{}", last_path_;
  std::thread thread_;
};

class RecordingWriter final : public ResponseWriter {
 public:
  void Send(int code, std::string ct, std::string body, std::vector<std::pair<std::string, std::string>> h) override {
    code_ = code;
    ct_ = std::move(ct);
    body_ = std::move(body);
    headers_ = std::move(h);
  }
  void StartStream(int, std::string) override {}
  bool Write(std::string) override { return true; }
  void Finish() override {}
  void OnClose(std::function<void()> cb) override { cb(); }
  bool Closed() const override { return false; }
  Json json() const { return ParseJson(body_).value(); }
  int code_ = 0;
  std::string ct_, body_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

Json NodeObj(const std::string& name, bool ready, int port) {
  return Json{{"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
              {"status",
               {{"conditions", Json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})},
                {"addresses", Json::array({{{"type", "InternalIP"}, {"address", "127.0.0.1"}}})},
                {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", port}}}}}}}};
}

Json PodObj(const std::string& name, const std::string& app, const std::string& node) {
  return Json{{"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}, {"labels", {{"app", app}}}}},
              {"spec", {{"nodeName", node}}}};
}

// The API handler: canned nodes, pods and discovery; records the requests it got.
class FakeApi final : public Handler {
 public:
  explicit FakeApi(int kubelet_port) {
    nodes = {NodeObj("n1", true, kubelet_port), NodeObj("n2", false, kubelet_port)};
    pods = {PodObj("web-1", "web", "n1"), PodObj("db-1", "db", "n1"), PodObj("pending", "web", ""),
            PodObj("partial", "partial", "n1")};
  }
  void Handle(Request req, ResponseWriterPtr w) override {
    {
      std::lock_guard<std::mutex> l(mu);
      seen.push_back(req);
    }
    if (req.path == "/apis") {
      if (req.Header("Accept").find("apidiscovery") != std::string::npos)
        return w->Send(200, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
                       R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","metadata":{},"items":[{"metadata":{"name":"apps"},"versions":[]}]})",
                       {{"ETag", "\"abc\""}});
      return w->Send(200, "application/json",
                     R"({"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]})",
                     {{"ETag", "\"abc\""}, {"Vary", "Accept"}});
    }
    if (req.path == "/api/v1/nodes") return w->Send(200, "application/json", Json{{"kind", "NodeList"}, {"items", nodes}}.dump());
    if (req.path.rfind("/api/v1/nodes/", 0) == 0) {
      for (const auto& n : nodes)
        if ("/api/v1/nodes/" + n["metadata"]["name"].get<std::string>() == req.path) return w->Send(200, "application/json", n.dump());
      return SendStatus(*w, NotFoundError("nodes \"x\" not found"));
    }
    if (req.path == "/api/v1/namespaces/default/pods" || req.path == "/api/v1/pods") {
      std::string sel = req.Query("labelSelector");
      Json items = Json::array();
      for (const auto& p : pods)
        if (sel.empty() || sel == "app=" + p["metadata"]["labels"]["app"].get<std::string>()) items.push_back(p);
      return w->Send(200, "application/json", Json{{"kind", "PodList"}, {"items", items}}.dump());
    }
    if (req.path.rfind("/api/v1/namespaces/default/pods/", 0) == 0) {
      for (const auto& p : pods)
        if ("/api/v1/namespaces/default/pods/" + p["metadata"]["name"].get<std::string>() == req.path)
          return w->Send(200, "application/json", p.dump());
      return SendStatus(*w, NotFoundError("pods \"x\" not found"));
    }
    w->Send(200, "text/plain", "passed through");
  }
  std::vector<Json> nodes, pods;
  std::mutex mu;
  std::vector<Request> seen;
};

Json Summary() {
  auto ctr = [](const std::string& name, uint64_t nanocores, uint64_t ws) {
    return Json{{"name", name},
                {"cpu", {{"time", "2026-11-25T23:00:00Z"}, {"usageNanoCores", nanocores}, {"usageCoreNanoSeconds", 99}}},
                {"memory", {{"time", "2026-11-25T23:00:00Z"}, {"workingSetBytes", ws}}}};
  };
  Json partial_ctr = {{"name", "b"}, {"cpu", {{"time", "2026-11-25T23:00:00Z"}, {"usageCoreNanoSeconds", 5}}},
                      {"memory", {{"workingSetBytes", 1}}}};
  return Json{{"node",
               {{"nodeName", "n1"},
                {"cpu", {{"time", "2026-11-25T23:00:01Z"}, {"usageNanoCores", 1500000000}}},
                {"memory", {{"workingSetBytes", 2147483648}}}}},
              {"pods",
               Json::array({{{"podRef", {{"name", "web-1"}, {"namespace", "default"}, {"uid", "uid-web-1"}}},
                             {"containers", Json::array({ctr("app", 250000000, 104857600), ctr("side", 1234567, 1000)})}},
                            {{"podRef", {{"name", "db-1"}, {"namespace", "default"}, {"uid", "other-uid"}}},
                             {"containers", Json::array({ctr("db", 1, 1024)})}},
                            {{"podRef", {{"name", "partial"}, {"namespace", "default"}, {"uid", "uid-partial"}}},
                             {"containers", Json::array({ctr("a", 1, 1024), partial_ctr})}}})}};
}

class MetricsApiTest : public ::testing::Test {
 protected:
  MetricsApiTest() : api_(kubelet_.port()) {
    kubelet_.Set(200, Summary().dump());
    MetricsOptions o;
    o.tls = false;
    o.cache_ttl = std::chrono::milliseconds(0);
    o.kubelet_timeout = std::chrono::milliseconds(2000);
    handler_ = std::make_unique<MetricsHandler>(api_, o);
  }
  std::shared_ptr<RecordingWriter> Get(const std::string& path, std::vector<std::pair<std::string, std::string>> query = {},
                                       std::vector<std::pair<std::string, std::string>> headers = {}) {
    Request r;
    r.method = "GET";
    r.path = path;
    r.query = std::move(query);
    r.headers = std::move(headers);
    r.user.name = "alice";
    auto w = std::make_shared<RecordingWriter>();
    handler_->Handle(r, w);
    return w;
  }
  FakeKubelet kubelet_;
  FakeApi api_;
  std::unique_ptr<MetricsHandler> handler_;
};

TEST(QuantityTest, Formats) {
  struct Case {
    uint64_t v;
    std::string cpu, mem;
  };
  for (const auto& c : std::vector<Case>{{0, "0", "0"},
                                         {1, "1n", "1"},
                                         {1000, "1u", "1000"},
                                         {1024, "1024n", "1Ki"},
                                         {250000000, "250m", "250000000"},
                                         {1234567, "1234567n", "1234567"},
                                         {2000000000, "2", "1953125Ki"},
                                         {10485760, "10485760n", "10Mi"},
                                         {1536, "1536n", "1536"}}) {
    SCOPED_TRACE(c.v);
    EXPECT_EQ(FormatCpuNanos(c.v), c.cpu);
    EXPECT_EQ(FormatBytes(c.v), c.mem);
  }
}

TEST(DiscoveryTest, AddsGroupOnce) {
  Json legacy = {{"kind", "APIGroupList"}, {"groups", Json::array()}};
  Json l1 = AddMetricsGroup(legacy);
  ASSERT_EQ(l1["groups"].size(), 1u);
  EXPECT_EQ(l1["groups"][0]["name"], "metrics.k8s.io");
  EXPECT_EQ(l1["groups"][0]["preferredVersion"]["groupVersion"], "metrics.k8s.io/v1beta1");
  EXPECT_EQ(AddMetricsGroup(l1), l1);
  Json agg = {{"kind", "APIGroupDiscoveryList"}, {"items", Json::array()}};
  Json a1 = AddMetricsGroup(agg);
  ASSERT_EQ(a1["items"].size(), 1u);
  const Json& v = a1["items"][0]["versions"][0];
  EXPECT_EQ(v["version"], "v1beta1");
  EXPECT_EQ(v["resources"][0]["resource"], "nodes");
  EXPECT_EQ(v["resources"][0]["scope"], "Cluster");
  EXPECT_EQ(v["resources"][1]["resource"], "pods");
  EXPECT_EQ(v["resources"][1]["responseKind"]["kind"], "PodMetrics");
  EXPECT_EQ(AddMetricsGroup(a1), a1);
  Json other = {{"kind", "APIVersions"}};
  EXPECT_EQ(AddMetricsGroup(other), other);
}

TEST_F(MetricsApiTest, DiscoveryThroughTheHandler) {
  auto legacy = Get("/apis", {}, {{"If-None-Match", "\"abc\""}});
  ASSERT_EQ(legacy->code_, 200);
  Json d = legacy->json();
  ASSERT_EQ(d["groups"].size(), 2u);
  EXPECT_EQ(d["groups"][1]["name"], "metrics.k8s.io");
  for (const auto& h : legacy->headers_) EXPECT_NE(h.first, "ETag");
  EXPECT_EQ(api_.seen.back().Header("If-None-Match"), "");

  auto agg = Get("/apis", {}, {{"Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}});
  EXPECT_EQ(agg->ct_, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(agg->json()["items"][1]["metadata"]["name"], "metrics.k8s.io");

  auto group = Get("/apis/metrics.k8s.io");
  EXPECT_EQ(group->json()["kind"], "APIGroup");
  auto rl = Get("/apis/metrics.k8s.io/v1beta1");
  EXPECT_EQ(rl->json()["resources"][0]["name"], "nodes");
  EXPECT_EQ(rl->json()["resources"][1]["namespaced"], true);
  EXPECT_EQ(Get("/apis/metrics.k8s.io/v1")->code_, 404);
  EXPECT_EQ(Get("/api/v1/namespaces")->body_, "passed through");
}

TEST_F(MetricsApiTest, NodeMetrics) {
  auto list = Get("/apis/metrics.k8s.io/v1beta1/nodes");
  ASSERT_EQ(list->code_, 200) << list->body_;
  Json l = list->json();
  EXPECT_EQ(l["kind"], "NodeMetricsList");
  EXPECT_EQ(l["apiVersion"], "metrics.k8s.io/v1beta1");
  ASSERT_EQ(l["items"].size(), 1u) << "n2 is not Ready";
  const Json& n = l["items"][0];
  EXPECT_EQ(n["metadata"]["name"], "n1");
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/hostname"], "n1");
  EXPECT_EQ(n["timestamp"], "2026-11-25T23:00:01Z");
  EXPECT_EQ(n["window"], "10s");
  EXPECT_EQ(n["usage"], (Json{{"cpu", "1500m"}, {"memory", "2Gi"}}));
  EXPECT_EQ(kubelet_.last_path(), "/stats/summary");

  auto one = Get("/apis/metrics.k8s.io/v1beta1/nodes/n1");
  EXPECT_EQ(one->json()["kind"], "NodeMetrics");
  EXPECT_EQ(one->json()["usage"]["cpu"], "1500m");
  auto missing = Get("/apis/metrics.k8s.io/v1beta1/nodes/nope");
  EXPECT_EQ(missing->code_, 404);
  EXPECT_EQ(missing->json()["message"], "nodemetrics.metrics.k8s.io \"nope\" not found");
}

TEST_F(MetricsApiTest, PodMetrics) {
  auto list = Get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods");
  ASSERT_EQ(list->code_, 200) << list->body_;
  Json l = list->json();
  EXPECT_EQ(l["kind"], "PodMetricsList");
  // db-1's summary entry belongs to an older pod (uid), partial lacks a container's CPU rate,
  // pending is not on a node.
  ASSERT_EQ(l["items"].size(), 1u) << l.dump();
  const Json& p = l["items"][0];
  EXPECT_EQ(p["metadata"]["name"], "web-1");
  EXPECT_EQ(p["metadata"]["namespace"], "default");
  EXPECT_EQ(p["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(p["window"], "10s");
  EXPECT_EQ(p["timestamp"], "2026-11-25T23:00:00Z");
  ASSERT_EQ(p["containers"].size(), 2u);
  EXPECT_EQ(p["containers"][0], (Json{{"name", "app"}, {"usage", {{"cpu", "250m"}, {"memory", "100Mi"}}}}));
  EXPECT_EQ(p["containers"][1]["usage"]["cpu"], "1234567n");

  // The selector is applied by the API handler, with the caller's identity.
  auto sel = Get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", {{"labelSelector", "app=db"}});
  EXPECT_EQ(sel->json()["items"].size(), 0u);
  bool forwarded = false;
  for (const auto& r : api_.seen)
    if (r.path == "/api/v1/namespaces/default/pods" && r.Query("labelSelector") == "app=db" && r.user.name == "alice" &&
        r.raw_query == "labelSelector=app%3Ddb")
      forwarded = true;
  EXPECT_TRUE(forwarded);

  auto all = Get("/apis/metrics.k8s.io/v1beta1/pods");
  EXPECT_EQ(all->json()["items"].size(), 1u);

  auto one = Get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-1");
  EXPECT_EQ(one->json()["kind"], "PodMetrics");
  EXPECT_EQ(one->json()["metadata"]["name"], "web-1");
  auto partial = Get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/partial");
  EXPECT_EQ(partial->code_, 404);
  EXPECT_EQ(partial->json()["message"], "podmetrics.metrics.k8s.io \"default/partial\" not found");
  EXPECT_EQ(Get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope")->code_, 404);
}

TEST_F(MetricsApiTest, KubeletDownMeansNoMetrics) {
  kubelet_.Set(500, "boom");
  EXPECT_EQ(Get("/apis/metrics.k8s.io/v1beta1/nodes")->json()["items"].size(), 0u);
  EXPECT_EQ(Get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods")->json()["items"].size(), 0u);
  EXPECT_EQ(Get("/apis/metrics.k8s.io/v1beta1/nodes/n1")->code_, 404);
  kubelet_.Stop();  // connection refused
  auto r = Get("/apis/metrics.k8s.io/v1beta1/nodes");
  EXPECT_EQ(r->code_, 200);
  EXPECT_EQ(r->json()["items"].size(), 0u);
}

TEST_F(MetricsApiTest, WritesAreRejected) {
  Request r;
  r.method = "POST";
  r.path = "/apis/metrics.k8s.io/v1beta1/nodes";
  auto w = std::make_shared<RecordingWriter>();
  handler_->Handle(r, w);
  EXPECT_EQ(w->code_, 405);
}

TEST_F(MetricsApiTest, SummariesAreCached) {
  MetricsOptions o;
  o.tls = false;
  o.cache_ttl = std::chrono::minutes(1);
  MetricsHandler h(api_, o);
  Request r;
  r.method = "GET";
  r.path = "/apis/metrics.k8s.io/v1beta1/nodes";
  int before = kubelet_.requests();
  for (int i = 0; i < 3; ++i) {
    auto w = std::make_shared<RecordingWriter>();
    h.Handle(r, w);
    EXPECT_EQ(w->json()["items"].size(), 1u);
  }
  EXPECT_EQ(kubelet_.requests() - before, 1);
}

}  // namespace
}  // namespace tug::apiserver::metrics
