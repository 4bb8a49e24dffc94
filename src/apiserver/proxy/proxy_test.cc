#include "apiserver/proxy/proxy.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <future>
#include <thread>

#include "apiserver/server/server.h"

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

// ---------------------------------------------------------------- upgrades (exec/attach/portforward)

// A kubelet that answers an upgrade: 101 then upper-cases what it reads until EOF, then "BYE"; or
// refuses with 404 text when the target contains "refuse". Records the request head.
class FakeUpgradeKubelet {
 public:
  FakeUpgradeKubelet() : acc_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acc_.local_endpoint().port();
    th_ = std::thread([this] {
      beast::error_code ec;
      tcp::socket s(ioc_);
      acc_.accept(s, ec);
      if (ec) return;
      std::string got;
      char buf[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        size_t n = s.read_some(asio::buffer(buf), ec);
        if (ec) return;
        got.append(buf, n);
      }
      head.set_value(got.substr(0, got.find("\r\n\r\n") + 4));
      if (got.find("refuse") != std::string::npos) {
        std::string body = "container not found (\"c\")\n";
        asio::write(s, asio::buffer("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                                    std::to_string(body.size()) + "\r\n\r\n" + body), ec);
        return;
      }
      asio::write(s, asio::buffer(std::string("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n")), ec);
      for (;;) {
        size_t n = s.read_some(asio::buffer(buf), ec);
        if (ec) break;
        for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(buf[i])));
        asio::write(s, asio::buffer(buf, n), ec);
      }
      asio::write(s, asio::buffer(std::string("BYE")), ec);
      s.shutdown(tcp::socket::shutdown_send, ec);
    });
  }
  ~FakeUpgradeKubelet() {
    beast::error_code ec;
    tcp::socket s(ioc_);
    s.connect(acc_.local_endpoint(), ec);  // unblocks an accept that never got its connection
    th_.join();
  }
  int port() const { return port_; }
  std::promise<std::string> head;

 private:
  asio::io_context ioc_;
  tcp::acceptor acc_;
  int port_;
  std::thread th_;
};

// Serves pods/exec on a real transport through PodStreamProxy, for pod web-1 on node n1.
class ExecHandler : public Handler {
 public:
  explicit ExecHandler(int kubelet_port) : port_(kubelet_port), proxy_([] {
    ProxyOptions o;
    o.tls = false;
    o.upgrade_linger_seconds = 2;
    return o;
  }()) {}
  void Handle(Request req, ResponseWriterPtr w) override {
    proxy_.ServePodStream(req, PodTarget{"default", "web-1", "exec", Pod(kRunningA, kRunningA), Node(port_)}, w);
  }

 private:
  int port_;
  PodStreamProxy proxy_;
};

std::string ReadSome(tcp::socket& s, const std::string& until) {
  std::string got;
  char buf[4096];
  while (got.find(until) == std::string::npos) {
    beast::error_code ec;
    size_t n = s.read_some(asio::buffer(buf), ec);
    got.append(buf, n);
    if (ec) break;
  }
  return got;
}

TEST(ProxyUpgrade, RelaysThe101ThenSplicesBothWays) {
  FakeUpgradeKubelet k;
  ExecHandler h(k.port());
  server::ServerOptions so;
  so.bind_address = "127.0.0.1";
  so.port = 0;
  so.tls = false;
  auto srv = server::StartServer(so, h);
  ASSERT_TRUE(srv.ok());
  asio::io_context ioc;
  tcp::socket c(ioc);
  c.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), (*srv)->port()));
  asio::write(c, asio::buffer(std::string(
                     "POST /api/v1/namespaces/default/pods/web-1/exec?command=ls&command=-l&stdout=true HTTP/1.1\r\n"
                     "Host: api\r\nAuthorization: Bearer secret\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                     "X-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n")));
  std::string head = ReadSome(c, "\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Upgrade: SPDY/3.1"), std::string::npos) << head;
  auto kh = k.head.get_future().get();
  EXPECT_EQ(kh.rfind("POST /exec/default/web-1/a?command=ls&command=-l&stdout=true HTTP/1.1\r\n", 0), 0u) << kh;
  EXPECT_NE(kh.find("X-Stream-Protocol-Version: v4.channel.k8s.io"), std::string::npos) << kh;
  EXPECT_EQ(kh.find("secret"), std::string::npos) << "the client's credentials must not reach the kubelet: " << kh;
  asio::write(c, asio::buffer(std::string("spdy-bytes")));
  EXPECT_EQ(ReadSome(c, "SPDY-BYTES"), "SPDY-BYTES");
  c.shutdown(tcp::socket::shutdown_send);  // client done: the kubelet sees EOF, says BYE, closes
  EXPECT_EQ(ReadSome(c, "\x01never"), "BYE");
}

TEST(ProxyUpgrade, RefusalIsRelayedAndNothingIsTunnelled) {
  FakeUpgradeKubelet k;
  ExecHandler h(k.port());
  server::ServerOptions so;
  so.bind_address = "127.0.0.1";
  so.port = 0;
  so.tls = false;
  auto srv = server::StartServer(so, h);
  ASSERT_TRUE(srv.ok());
  asio::io_context ioc;
  tcp::socket c(ioc);
  c.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), (*srv)->port()));
  asio::write(c, asio::buffer(std::string("GET /api/v1/namespaces/default/pods/web-1/exec?command=refuse HTTP/1.1\r\n"
                                          "Host: api\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                                          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")));
  std::string all = ReadSome(c, "\x01never");  // to EOF: the connection is closed after the answer
  EXPECT_EQ(all.rfind("HTTP/1.1 404 ", 0), 0u) << all;
  EXPECT_NE(all.find("container not found (\"c\")"), std::string::npos) << all;
  EXPECT_NE(all.find("Connection: close"), std::string::npos) << all;
}

TEST(ProxyUpgrade, NonUpgradeExecIsRejected) {
  ProxyOptions o;
  o.tls = false;
  PodStreamProxy proxy(o);
  auto w = std::make_shared<RecordingWriter>();
  Request r;
  r.method = "POST";
  r.path = "/api/v1/namespaces/default/pods/web-1/exec";
  proxy.ServePodStream(r, PodTarget{"default", "web-1", "exec", Pod(kRunningA, kRunningA), Node(1)}, w);
  EXPECT_EQ(w->code, 400);
  EXPECT_NE(w->body.find("Upgrade request required"), std::string::npos) << w->body;
  auto w2 = std::make_shared<RecordingWriter>();
  r.query = {{"container", "zz"}};
  proxy.ServePodStream(r, PodTarget{"default", "web-1", "attach", Pod(kRunningA, kRunningA), Node(1)}, w2);
  EXPECT_EQ(w2->code, 400);
  EXPECT_NE(w2->body.find("container zz is not valid for pod web-1"), std::string::npos) << w2->body;
}

// ---------------------------------------------------------------- proxy locations

TEST(ProxyLocation, SplitSchemeNamePort) {
  struct Case {
    const char* id;
    bool ok;
    const char *scheme, *name, *port;
  } cases[] = {
      {"web", true, "", "web", ""},          {"web:80", true, "", "web", "80"},
      {"https:web:443", true, "https", "web", "443"}, {"http:web:", true, "http", "web", ""},
      {"ftp:web:21", false, "", "", ""},     {":80", false, "", "", ""},
      {"a:b:c:d", false, "", "", ""},
  };
  for (const auto& c : cases) {
    std::string s, n, p;
    EXPECT_EQ(SplitSchemeNamePort(c.id, &s, &n, &p), c.ok) << c.id;
    if (!c.ok) continue;
    EXPECT_EQ(s, c.scheme) << c.id;
    EXPECT_EQ(n, c.name) << c.id;
    EXPECT_EQ(p, c.port) << c.id;
  }
}

TEST(ProxyLocation, PodDefaultsToFirstDeclaredPortAndNeedsAnIP) {
  Json pod = Json::parse(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a"},{"name":"b","ports":[{"containerPort":8080},{"containerPort":9}]}]},"status":{"podIP":"10.42.0.7"}})");
  auto l = PodProxyLocation(pod, "", "");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->host, "10.42.0.7");
  EXPECT_EQ(l->port, 8080);
  EXPECT_EQ(l->scheme, "http");
  l = PodProxyLocation(pod, "https", "8443");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->port, 8443);
  EXPECT_EQ(l->scheme, "https");
  pod["status"].erase("podIP");
  l = PodProxyLocation(pod, "", "");
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().message(), "address not allowed");
}

TEST(ProxyLocation, ServiceEndpoints) {
  Json svc = Json::parse(R"({"metadata":{"name":"web"},"spec":{"ports":[{"name":"http","port":80,"targetPort":8080},{"name":"m","port":9090}]}})");
  Json eps = Json::parse(R"({"subsets":[{"notReadyAddresses":[{"ip":"10.42.0.9"}],"ports":[{"name":"http","port":8080}]},
                                        {"addresses":[{"ip":"10.42.0.5"}],"ports":[{"name":"http","port":8080},{"name":"m","port":9090}]}]})");
  struct Case {
    std::string id, port;
    Json eps;
    bool ok;
    std::string want;  // host:port, or the error message
  } cases[] = {
      {"web:80", "80", eps, true, "10.42.0.5:8080"},
      {"web:http", "http", eps, true, "10.42.0.5:8080"},
      {"web:9090", "9090", eps, true, "10.42.0.5:9090"},
      {"web:81", "81", eps, false, "no service port 81 found for service \"web\""},
      {"web:80", "80", Json(), false, "no endpoints available for service \"web\""},
      {"web:80", "80", Json::parse(R"({"subsets":[]})"), false, "no endpoints available for service \"web\""},
      {"web:other", "other", eps, false, "no endpoints available for service \"web:other\""},
  };
  for (const auto& c : cases) {
    auto l = ServiceProxyLocation(svc, c.eps, c.id, "", c.port);
    ASSERT_EQ(l.ok(), c.ok) << c.id;
    if (c.ok) {
      EXPECT_EQ(l->host + ":" + std::to_string(l->port), c.want) << c.id;
    } else {
      EXPECT_EQ(l.status().code(), StatusCode::kUnavailable) << c.id;
      EXPECT_EQ(l.status().message(), c.want) << c.id;
    }
  }
}

}  // namespace
}  // namespace tug::apiserver::proxy
