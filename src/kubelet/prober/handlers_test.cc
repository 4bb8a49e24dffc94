#include "kubelet/prober/handlers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

namespace tug::kubelet::prober {
namespace {

using std::chrono::milliseconds;

// A loopback TCP server: each accepted connection is handed to `serve` on the server thread.
class TestServer {
 public:
  explicit TestServer(std::function<void(int fd)> serve) : serve_(std::move(serve)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        serve_(c);
        close(c);
      }
    });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  std::function<void(int)> serve_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string ReadUntil(int fd, const std::string& marker, size_t min_size = 0) {
  std::string in;
  char buf[4096];
  while (in.find(marker) == std::string::npos || in.size() < min_size) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) break;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  return in;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// An HTTP server answering every request with `status`, recording the last request.
struct HttpServer {
  std::mutex mu;
  std::string last_request;
  int status = 200;
  TestServer server{[this](int fd) {
    std::string req = ReadUntil(fd, "\r\n\r\n");
    int st;
    {
      std::lock_guard l(mu);
      last_request = req;
      st = status;
    }
    WriteAll(fd, "HTTP/1.1 " + std::to_string(st) + " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  }};
  std::string Last() {
    std::lock_guard l(mu);
    return last_request;
  }
};

int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

HandlerContext Ctx(Json container = Json::object()) {
  HandlerContext c;
  c.container_id = "cid";
  c.pod_ip = "127.0.0.1";
  c.container = std::move(container);
  return c;
}

TEST(HandlersTest, ResolvePort) {
  Json c{{"name", "app"}, {"ports", {{{"name", "http"}, {"containerPort", 8080}}}}};
  EXPECT_EQ(*ResolvePort(80, c), 80);
  EXPECT_EQ(*ResolvePort("81", c), 81);
  EXPECT_EQ(*ResolvePort("http", c), 8080);
  EXPECT_FALSE(ResolvePort("grpc", c).ok());
  EXPECT_FALSE(ResolvePort(0, c).ok());
  EXPECT_FALSE(ResolvePort(Json(), c).ok());
}

TEST(HandlersTest, HttpProbeStatusCodes) {
  HttpServer srv;
  struct Case {
    int status;
    ProbeResult want;
    std::string output;
  } cases[] = {
      {200, ProbeResult::kSuccess, ""},
      {204, ProbeResult::kSuccess, ""},
      {302, ProbeResult::kSuccess, ""},
      {399, ProbeResult::kSuccess, ""},
      {400, ProbeResult::kFailure, "HTTP probe failed with statuscode: 400"},
      {500, ProbeResult::kFailure, "HTTP probe failed with statuscode: 500"},
  };
  for (const auto& c : cases) {
    {
      std::lock_guard l(srv.mu);
      srv.status = c.status;
    }
    Json probe{{"httpGet", {{"path", "/healthz"}, {"port", srv.server.port()}}}};
    ProbeOutcome out = RunProbe(probe, Ctx());
    EXPECT_EQ(out.result, c.want) << c.status;
    EXPECT_EQ(out.output, c.output) << c.status;
  }
}

TEST(HandlersTest, HttpProbeRequestHeadersAndNamedPort) {
  HttpServer srv;
  Json container{{"name", "app"}, {"ports", {{{"name", "web"}, {"containerPort", srv.server.port()}}}}};
  Json probe{{"httpGet",
              {{"path", "ready"},
               {"port", "web"},
               {"httpHeaders", {{{"name", "X-Custom"}, {"value", "v1"}}, {{"name", "Host"}, {"value", "example.com"}}}}}}};
  ASSERT_EQ(RunProbe(probe, Ctx(container)).result, ProbeResult::kSuccess);
  std::string req = srv.Last();
  EXPECT_EQ(req.rfind("GET /ready HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("\r\nUser-Agent: kube-probe/1.33\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nAccept: */*\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nX-Custom: v1\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nHost: example.com\r\n"), std::string::npos) << req;
  // A User-Agent header from the probe replaces kubelet's.
  probe["httpGet"]["httpHeaders"] = {{{"name", "User-Agent"}, {"value", "mine"}}};
  ASSERT_EQ(RunProbe(probe, Ctx(container)).result, ProbeResult::kSuccess);
  req = srv.Last();
  EXPECT_NE(req.find("\r\nUser-Agent: mine\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.find("kube-probe"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nHost: 127.0.0.1:" + std::to_string(srv.server.port()) + "\r\n"), std::string::npos) << req;
}

TEST(HandlersTest, HttpProbeConnectionRefusedAndTimeout) {
  int port = ClosedPort();
  ProbeOutcome out = RunProbe({{"httpGet", {{"path", "/", }, {"port", port}}}}, Ctx());
  EXPECT_EQ(out.result, ProbeResult::kFailure);
  EXPECT_EQ(out.output, "Get \"http://127.0.0.1:" + std::to_string(port) + "/\": dial tcp 127.0.0.1:" +
                            std::to_string(port) + ": connect: connection refused");
  // A server that never answers: the probe gives up after timeoutSeconds.
  TestServer silent([](int fd) { ReadUntil(fd, "never-sent"); });
  auto t0 = std::chrono::steady_clock::now();
  out = RunProbe({{"httpGet", {{"port", silent.port()}}}, {"timeoutSeconds", 1}}, Ctx());
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(out.result, ProbeResult::kFailure);
  EXPECT_NE(out.output.find("Client.Timeout exceeded"), std::string::npos) << out.output;
  EXPECT_LT(took, std::chrono::milliseconds(1900));
}

TEST(HandlersTest, TcpProbe) {
  TestServer srv([](int) {});
  EXPECT_EQ(RunProbe({{"tcpSocket", {{"port", srv.port()}}}}, Ctx()).result, ProbeResult::kSuccess);
  int port = ClosedPort();
  ProbeOutcome out = RunProbe({{"tcpSocket", {{"port", port}, {"host", "127.0.0.1"}}}}, Ctx());
  EXPECT_EQ(out.result, ProbeResult::kFailure);
  EXPECT_EQ(out.output, "dial tcp 127.0.0.1:" + std::to_string(port) + ": connect: connection refused");
  EXPECT_EQ(RunProbe({{"tcpSocket", {{"port", "nope"}}}}, Ctx()).result, ProbeResult::kUnknown);
}

TEST(HandlersTest, ExecProbe) {
  struct Case {
    const char* name;
    Result<runtime::ExecResult> result;
    ProbeResult want;
    std::string output;
  } cases[] = {
      {"exit 0", runtime::ExecResult{0, "fine\n", "", false}, ProbeResult::kSuccess, "fine\n"},
      {"exit 1", runtime::ExecResult{1, "out ", "err", false}, ProbeResult::kFailure, "out err"},
      {"timed out", runtime::ExecResult{137, "", "", true}, ProbeResult::kFailure, "command \"cat /tmp/x\" timed out"},
      {"timeout error", TimeoutError("slow"), ProbeResult::kFailure, "command \"cat /tmp/x\" timed out"},
      {"runtime error", InternalError("no such container"), ProbeResult::kUnknown, "no such container"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> got_cmd;
    milliseconds got_timeout{};
    HandlerContext ctx = Ctx();
    ctx.exec = [&](const std::string& id, const std::vector<std::string>& cmd, milliseconds t) {
      EXPECT_EQ(id, "cid");
      got_cmd = cmd;
      got_timeout = t;
      return c.result;
    };
    ProbeOutcome out = RunProbe({{"exec", {{"command", {"cat", "/tmp/x"}}}}, {"timeoutSeconds", 3}}, ctx);
    EXPECT_EQ(out.result, c.want) << c.name;
    EXPECT_EQ(out.output, c.output) << c.name;
    EXPECT_EQ(got_cmd, (std::vector<std::string>{"cat", "/tmp/x"})) << c.name;
    EXPECT_EQ(got_timeout, milliseconds(3000)) << c.name;
  }
}

// A minimal HTTP/2 gRPC server: reads the client's request, answers with the health status.
struct GrpcServer {
  std::mutex mu;
  std::string request;
  int serving_status = 1;  // -1: trailers-only error response
  static std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& p) {
    std::string f;
    f += char((p.size() >> 16) & 0xff);
    f += char((p.size() >> 8) & 0xff);
    f += char(p.size() & 0xff);
    f += char(type);
    f += char(flags);
    f += char((stream >> 24) & 0x7f);
    f += char((stream >> 16) & 0xff);
    f += char((stream >> 8) & 0xff);
    f += char(stream & 0xff);
    return f + p;
  }
  TestServer server{[this](int fd) {
    // Preface (24) + SETTINGS + HEADERS + DATA(END_STREAM): read until the DATA frame arrived.
    std::string in = ReadUntil(fd, "grpc.health.v1.Health/Check");
    in += ReadUntil(fd, "\x00\x00\x00\x00\x00", 0);
    int st;
    {
      std::lock_guard l(mu);
      request = in;
      st = serving_status;
    }
    std::string out = Frame(0x4, 0, 0, "");                       // SETTINGS
    std::string trailers = std::string("\x00", 1) + "\x0bgrpc-status" + (st < 0 ? "\x01" "5" : "\x01" "0");
    if (st < 0) {
      out += Frame(0x1, 0x4 | 0x1, 1, "\x88" + trailers);  // :status 200 + grpc-status, END_STREAM
    } else {
      out += Frame(0x1, 0x4, 1, "\x88");  // HEADERS :status 200
      std::string msg = st == 0 ? "" : std::string("\x08") + char(st);
      std::string data(1, '\0');
      data += std::string(3, '\0') + char(msg.size());
      out += Frame(0x0, 0, 1, data + msg);
      out += Frame(0x1, 0x4 | 0x1, 1, trailers);
    }
    WriteAll(fd, out);
    ReadUntil(fd, "never");  // until the client closes
  }};
};

TEST(HandlersTest, GrpcProbe) {
  GrpcServer srv;
  struct Case {
    int status;
    ProbeResult want;
    std::string output;
  } cases[] = {
      {1, ProbeResult::kSuccess, ""},
      {2, ProbeResult::kFailure, "service unhealthy (responded with \"NOT_SERVING\")"},
      {3, ProbeResult::kFailure, "service unhealthy (responded with \"SERVICE_UNKNOWN\")"},
      {0, ProbeResult::kFailure, "service unhealthy (responded with \"UNKNOWN\")"},
  };
  for (const auto& c : cases) {
    {
      std::lock_guard l(srv.mu);
      srv.serving_status = c.status;
    }
    ProbeOutcome out = RunProbe({{"grpc", {{"port", srv.server.port()}, {"service", "db"}}}}, Ctx());
    EXPECT_EQ(out.result, c.want) << c.status;
    EXPECT_EQ(out.output, c.output) << c.status;
  }
  {
    std::lock_guard l(srv.mu);
    EXPECT_EQ(srv.request.rfind("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0), 0u);
    EXPECT_NE(srv.request.find("application/grpc"), std::string::npos);
    EXPECT_NE(srv.request.find("kube-probe/1.33"), std::string::npos);
    // The HealthCheckRequest message: field 1 = "db".
    EXPECT_NE(srv.request.find(std::string("\x00\x00\x00\x00\x04\x0a\x02" "db", 9)), std::string::npos);
    srv.serving_status = -1;
  }
  ProbeOutcome out = RunProbe({{"grpc", {{"port", srv.server.port()}}}}, Ctx());
  EXPECT_EQ(out.result, ProbeResult::kFailure);
  int port = ClosedPort();
  out = RunProbe({{"grpc", {{"port", port}}}}, Ctx());
  EXPECT_EQ(out.result, ProbeResult::kFailure);
  EXPECT_NE(out.output.find("connection refused"), std::string::npos) << out.output;
}

TEST(HandlersTest, LifecycleHandlers) {
  HandlerContext ctx = Ctx({{"name", "app"}});
  ctx.exec = [](const std::string&, const std::vector<std::string>& cmd, milliseconds) -> Result<runtime::ExecResult> {
    if (cmd.at(0) == "ok") return runtime::ExecResult{0, "", "", false};
    return runtime::ExecResult{2, "bad", "", false};
  };
  EXPECT_TRUE(RunLifecycleHandler({{"exec", {{"command", {"ok"}}}}}, ctx, "p_ns(u)", milliseconds(1000)).ok());
  Status s = RunLifecycleHandler({{"exec", {{"command", {"fail", "x"}}}}}, ctx, "p_ns(u)", milliseconds(1000));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "Exec lifecycle hook ([fail x]) for Container \"app\" in Pod \"p_ns(u)\" failed - error: command 'fail x' "
            "exited with 2: bad, message: \"bad\"");
  // httpGet: any status code is fine; only transport errors fail. kube-lifecycle User-Agent.
  HttpServer srv;
  srv.status = 500;
  EXPECT_TRUE(RunLifecycleHandler({{"httpGet", {{"path", "/stop"}, {"port", srv.server.port()}}}}, ctx, "p", milliseconds(1000)).ok());
  EXPECT_NE(srv.Last().find("User-Agent: kube-lifecycle/1.33"), std::string::npos);
  EXPECT_FALSE(RunLifecycleHandler({{"httpGet", {{"port", ClosedPort()}}}}, ctx, "p", milliseconds(1000)).ok());
  // sleep: honours the seconds, capped by the timeout, and stops early on request.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(RunLifecycleHandler({{"sleep", {{"seconds", 1}}}}, ctx, "p", milliseconds(5000)).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(1000));
  t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(RunLifecycleHandler({{"sleep", {{"seconds", 30}}}}, ctx, "p", milliseconds(300)).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2000));
  std::stop_source src;
  src.request_stop();
  t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(RunLifecycleHandler({{"sleep", {{"seconds", 30}}}}, ctx, "p", milliseconds(30000), src.get_token()).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1000));
  EXPECT_FALSE(RunLifecycleHandler(Json::object(), ctx, "p", milliseconds(100)).ok());
}

}  // namespace
}  // namespace tug::kubelet::prober
