#include "apiserver/proxy/proxy.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

namespace tug::apiserver::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A fake kubelet: answers each connection with a canned response chosen by the target, and
// records the targets it saw.
class FakeKubelet {
 public:
  FakeKubelet() : acc_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acc_.local_endpoint().port();
    th_ = std::thread([this] { Loop(); });
  }
  ~FakeKubelet() {
    stop_ = true;
    beast::error_code ec;
    // Wake the accept with a connection.
    tcp::socket s(ioc_);
    s.connect(acc_.local_endpoint(), ec);
    th_.join();
  }
  int port() const { return port_; }
  std::string last_target() {
    std::lock_guard<std::mutex> l(mu_);
    return last_;
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool hold_second = false;  // send chunk 1 only after Release()
  // Response to send: status + body chunks.
  int code = 200;
  std::vector<std::string> chunks;
  std::string location;

 private:
  void Loop() {
    while (!stop_) {
      tcp::socket s(ioc_);
      beast::error_code ec;
      acc_.accept(s, ec);
      if (stop_ || ec) return;
      beast::flat_buffer b;
      http::request<http::string_body> req;
      http::read(s, b, req, ec);
      if (ec) continue;
      {
        std::lock_guard<std::mutex> l(mu_);
        last_ = std::string(req.target());
      }
      http::response<http::empty_body> res{static_cast<http::status>(code), 11};
      if (!location.empty()) res.set(http::field::location, location);
      res.chunked(true);
      http::response_serializer<http::empty_body> sr{res};
      http::write_header(s, sr, ec);
      for (size_t i = 0; i < chunks.size(); ++i) {
        if (i == 1 && hold_second) {
          std::unique_lock<std::mutex> l(mu_);
          cv_.wait(l, [this] { return released_; });
        }
        asio::write(s, http::make_chunk(asio::buffer(chunks[i])), ec);
      }
      asio::write(s, http::make_chunk_last(), ec);
      s.shutdown(tcp::socket::shutdown_both, ec);
    }
  }
  asio::io_context ioc_;
  tcp::acceptor acc_;
  int port_;
  std::thread th_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::string last_;
};

class RecordingWriter : public ResponseWriter {
 public:
  void Send(int c, std::string ct, std::string b, std::vector<std::pair<std::string, std::string>>) override {
    code = c;
    content_type = ct;
    body = b;
  }
  void StartStream(int c, std::string ct) override {
    code = c;
    content_type = ct;
    streamed = true;
  }
  bool Write(std::string chunk) override {
    chunks.push_back(chunk);
    body += chunk;
    if (on_write) on_write();
    return true;
  }
  std::function<void()> on_write;
  void Finish() override { finished = true; }
  void OnClose(std::function<void()> cb) override { on_close.push_back(cb); }
  bool Closed() const override { return false; }
  int code = 0;
  std::string content_type, body;
  std::vector<std::string> chunks;
  std::vector<std::function<void()>> on_close;
  bool streamed = false, finished = false;
};

Json Pod(const std::string& containers_json, const std::string& statuses_json, bool scheduled = true) {
  Json p = Json::parse(R"({"metadata":{"name":"web-1","namespace":"default"},"spec":{"containers":)" + containers_json +
                       R"(},"status":{"containerStatuses":)" + statuses_json + "}}");
  if (scheduled) p["spec"]["nodeName"] = "n1";
  return p;
}

Json Node(int port) {
  return Json::parse(R"({"metadata":{"name":"n1"},"status":{"addresses":[{"type":"Hostname","address":"n1"},)"
                     R"({"type":"InternalIP","address":"127.0.0.1"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":)" +
                     std::to_string(port) + "}}}}");
}

Request LogRequest(std::vector<std::pair<std::string, std::string>> q) {
  Request r;
  r.method = "GET";
  r.path = "/api/v1/namespaces/default/pods/web-1/log";
  r.query = std::move(q);
  return r;
}

const char* kRunningA = R"([{"name":"a","state":{"running":{}}}])";

TEST(Proxy, ChoosesContainer) {
  Json two = Pod(R"([{"name":"a"},{"name":"b"}])", "[]");
  auto r = ChooseContainer(two, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "a container name must be specified for pod web-1, choose one of: [a b]");
  EXPECT_EQ(*ChooseContainer(two, "b"), "b");
  EXPECT_EQ(ChooseContainer(two, "z").status().message(), "container z is not valid for pod web-1");
  EXPECT_EQ(*ChooseContainer(Pod(R"([{"name":"only"}])", "[]"), ""), "only");
}

TEST(Proxy, LogStatePreconditions) {
  Json waiting = Pod(R"([{"name":"c"}])", R"([{"name":"c","state":{"waiting":{"reason":"ContainerCreating"}}}])");
  waiting["metadata"]["name"] = "p";
  EXPECT_EQ(CheckLogContainerState(waiting, "c", false).message(), "container \"c\" in pod \"p\" is waiting to start: ContainerCreating");
  EXPECT_EQ(CheckLogContainerState(waiting, "c", false).code(), StatusCode::kBadRequest);
  EXPECT_TRUE(CheckLogContainerState(Pod(kRunningA, kRunningA), "a", false).ok());
  EXPECT_FALSE(CheckLogContainerState(Pod(kRunningA, kRunningA), "a", true).ok());
}

TEST(Proxy, KubeletAddressPrefersInternalIP) {
  auto a = KubeletAddress(Node(12345));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 12345);
  EXPECT_FALSE(KubeletAddress(Json::parse(R"({"metadata":{"name":"x"},"status":{}})")).ok());
}

TEST(Proxy, StreamsLogsFromKubelet) {
  FakeKubelet k;
  k.chunks = {"line1\n", "line2\n"};
  ProxyOptions o;
  o.tls = false;
  PodStreamProxy proxy(o);
  auto w = std::make_shared<RecordingWriter>();
  proxy.ServePodStream(LogRequest({{"container", "a"}, {"follow", "true"}, {"tailLines", "3"}, {"pretty", "x"}}),
                       PodTarget{"default", "web-1", "log", Pod(kRunningA, kRunningA), Node(k.port())}, w);
  EXPECT_EQ(k.last_target(), "/containerLogs/default/web-1/a?follow=true&tailLines=3");
  EXPECT_EQ(w->code, 200);
  EXPECT_TRUE(w->streamed);
  EXPECT_TRUE(w->finished);
  EXPECT_EQ(w->body, "line1\nline2\n");
  EXPECT_FALSE(w->on_close.empty());
}

TEST(Proxy, RelaysEachChunkAsItArrives) {
  FakeKubelet k;
  k.chunks = {"first\n", "second\n"};
  k.hold_second = true;
  ProxyOptions o;
  o.tls = false;
  PodStreamProxy proxy(o);
  auto w = std::make_shared<RecordingWriter>();
  // The kubelet sends the second chunk only after the first reached the client: a relay that
  // buffers would deadlock here (the test would time out).
  w->on_write = [&k] { k.Release(); };
  proxy.ServePodStream(LogRequest({{"follow", "true"}}),
                       PodTarget{"default", "web-1", "log", Pod(kRunningA, kRunningA), Node(k.port())}, w);
  EXPECT_EQ(w->body, "first\nsecond\n");
  ASSERT_GE(w->chunks.size(), 2u);
  EXPECT_EQ(w->chunks[0], "first\n");
}

TEST(Proxy, KubeletErrorsBecomeStatus) {
  struct Case {
    int kubelet_code;
    std::string location;
    int want_code;
    std::string want_in_body;
  };
  const Case cases[] = {
      {404, "", 404, "container not found"},
      {302, "http://evil/", 500, "redirect"},
      {500, "", 500, "container not found"},
  };
  for (const auto& c : cases) {
    FakeKubelet k;
    k.code = c.kubelet_code;
    k.location = c.location;
    k.chunks = {"container not found\n"};
    ProxyOptions o;
    o.tls = false;
    PodStreamProxy proxy(o);
    auto w = std::make_shared<RecordingWriter>();
    proxy.ServePodStream(LogRequest({}), PodTarget{"default", "web-1", "log", Pod(kRunningA, kRunningA), Node(k.port())}, w);
    EXPECT_EQ(w->code, c.want_code) << c.kubelet_code;
    EXPECT_FALSE(w->streamed);
    EXPECT_NE(w->body.find(c.want_in_body), std::string::npos) << w->body;
    EXPECT_NE(w->body.find("\"kind\":\"Status\""), std::string::npos) << w->body;
  }
}

TEST(Proxy, RejectsUnscheduledPodAndUnreachableKubelet) {
  ProxyOptions o;
  o.tls = false;
  PodStreamProxy proxy(o);
  auto w = std::make_shared<RecordingWriter>();
  proxy.ServePodStream(LogRequest({}), PodTarget{"default", "web-1", "log", Pod(kRunningA, kRunningA, false), Json()}, w);
  EXPECT_EQ(w->code, 400);
  EXPECT_NE(w->body.find("does not have a host assigned"), std::string::npos);

  int dead_port;
  {
    asio::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead_port = a.local_endpoint().port();
  }
  auto w2 = std::make_shared<RecordingWriter>();
  proxy.ServePodStream(LogRequest({}), PodTarget{"default", "web-1", "log", Pod(kRunningA, kRunningA), Node(dead_port)}, w2);
  EXPECT_EQ(w2->code, 503);
}

}  // namespace
}  // namespace tug::apiserver::proxy
