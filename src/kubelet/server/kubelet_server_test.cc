#include "kubelet/server/kubelet_server.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

extern char** environ;

namespace tug::kubelet::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// An exec session that runs /bin/sh -c <cmd...> on the host with pipes.
class PipeExec : public runtime::ExecSession {
 public:
  explicit PipeExec(const std::vector<std::string>& cmd) {
    int in[2], out[2], err[2];
    EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> argv;
    for (auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
  }
  ~PipeExec() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)Wait();
    }
    CloseStdin();
    ::close(out_);
    ::close(err_);
  }
  int stdin_fd() const override { return in_; }
  int stdout_fd() const override { return out_; }
  int stderr_fd() const override { return err_; }
  void CloseStdin() override {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }
  Status Resize(uint16_t, uint16_t) override { return Status(); }
  Result<int> Wait() override {
    if (pid_ <= 0) return code_;
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return code_;
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1, code_ = 0;
};

class FakeRuntime : public runtime::Runtime {
 public:
  std::atomic<bool> running{true};
  Status Unimpl() { return InternalError("fake"); }
  Result<runtime::RuntimeVersion> Version() override { return Unimpl(); }
  Result<std::string> RunPodSandbox(const runtime::PodSandboxConfig&) override { return Unimpl(); }
  Status StopPodSandbox(const std::string&, std::chrono::seconds) override { return Unimpl(); }
  Status RemovePodSandbox(const std::string&) override { return Unimpl(); }
  Result<runtime::PodSandboxStatus> PodSandboxStatusOf(const std::string&) override { return Unimpl(); }
  Result<std::vector<runtime::PodSandboxStatus>> ListPodSandboxes() override { return Unimpl(); }
  Result<std::string> CreateContainer(const std::string&, const runtime::ContainerConfig&) override { return Unimpl(); }
  Status StartContainer(const std::string&) override { return Unimpl(); }
  Status StopContainer(const std::string&, std::chrono::seconds) override { return Unimpl(); }
  Status RemoveContainer(const std::string&) override { return Unimpl(); }
  Result<runtime::ContainerStatus> ContainerStatusOf(const std::string& id) override {
    runtime::ContainerStatus s;
    s.id = id;
    s.state = running ? runtime::ContainerState::kRunning : runtime::ContainerState::kExited;
    return s;
  }
  Result<std::vector<runtime::ContainerStatus>> ListContainers(const std::string&) override { return Unimpl(); }
  Result<runtime::ResourceStats> ContainerStatsOf(const std::string&) override { return Unimpl(); }
  Result<runtime::ResourceStats> PodSandboxStatsOf(const std::string&) override { return Unimpl(); }
  Result<runtime::ExecResult> ExecSync(const std::string&, const std::vector<std::string>&, std::chrono::milliseconds) override {
    return Unimpl();
  }
  Result<std::unique_ptr<runtime::ExecSession>> Exec(const std::string& id, const runtime::ExecOptions& o) override {
    if (id != "cid-1") return NotFoundError("no container " + id);
    std::vector<std::string> cmd = {"/bin/sh", "-c"};
    for (auto& c : o.cmd) cmd.push_back(c);
    return std::unique_ptr<runtime::ExecSession>(new PipeExec(cmd));
  }
  Result<runtime::AttachConnection> Attach(const std::string&) override { return Unimpl(); }
  Status ResizeContainerTerminal(const std::string&, uint16_t, uint16_t) override { return Unimpl(); }
  Status ReopenContainerLog(const std::string&) override { return Unimpl(); }
  Status Cleanup(const std::set<std::string>&) override { return Unimpl(); }
};

class KubeletServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kls-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    log_ = (dir_ / "c.log").string();
    KubeletServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.tls = false;
    o.runtime = &rt_;
    o.follow_poll_ms = 20;
    o.resolve = [this](const std::string& ns, const std::string& pod, const std::string& c,
                       bool previous) -> Result<ContainerTarget> {
      if (ns != "default" || pod != "web" || c != "app") return NotFoundError("container not found (\"" + c + "\")");
      return ContainerTarget{"cid-1", previous ? log_ + ".prev" : log_, "sb-1"};
    };
    auto s = StartKubeletServer(o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    srv_ = std::move(*s);
  }
  void TearDown() override {
    srv_.reset();
    std::filesystem::remove_all(dir_);
  }
  void AppendLog(const std::string& s, const std::string& path = "") {
    std::ofstream f(path.empty() ? log_ : path, std::ios::app);
    f << s;
  }
  // GET target; returns status and body (reads until the server closes).
  std::pair<int, std::string> Get(const std::string& target) {
    asio::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(srv_->port())));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "localhost");
    http::write(sock, req);
    beast::flat_buffer b;
    http::response<http::string_body> res;
    beast::error_code ec;
    http::read(sock, b, res, ec);
    EXPECT_FALSE(ec) << ec.message();
    return {res.result_int(), res.body()};
  }

  FakeRuntime rt_;
  std::filesystem::path dir_;
  std::string log_;
  std::unique_ptr<KubeletServer> srv_;
};

const char* kLog =
    "2024-01-02T03:04:01.000000000Z stdout F one\n"
    "2024-01-02T03:04:02.000000000+00:00 stderr F two\n"
    "2024-01-02T03:04:03.5Z stdout P thr\n"
    "2024-01-02T03:04:03.6Z stdout F ee\n"
    "2024-01-02T03:04:04Z stdout F four\n";

TEST_F(KubeletServerTest, LogsWithOptions) {
  AppendLog(kLog);
  AppendLog("2024-01-02T03:04:00Z stdout F old\n", log_ + ".prev");
  struct Case {
    std::string query;
    int code;
    std::string body;
  };
  const Case cases[] = {
      {"", 200, "one\ntwo\nthree\nfour\n"},
      {"?tailLines=2", 200, "three\nfour\n"},
      {"?tailLines=0", 200, ""},
      {"?sinceTime=2024-01-02T03:04:03Z", 200, "three\nfour\n"},
      {"?sinceTime=2024-01-02T05:04:03%2B02:00", 200, "three\nfour\n"},
      {"?limitBytes=6", 200, "one\ntw"},
      {"?timestamps=true&tailLines=1", 200, "2024-01-02T03:04:04Z four\n"},
      {"?previous=true", 200, "old\n"},
      {"?sinceSeconds=10", 200, ""},  // every entry is older than 10 s
      {"?tailLines=x", 400, "invalid integer query parameter\n"},
  };
  for (const auto& c : cases) {
    auto [code, body] = Get("/containerLogs/default/web/app" + c.query);
    EXPECT_EQ(code, c.code) << c.query;
    EXPECT_EQ(body, c.body) << c.query;
  }
  auto [code, body] = Get("/containerLogs/default/web/other");
  EXPECT_EQ(code, 404);
}

// Reads a chunked response incrementally.
class StreamReader {
 public:
  StreamReader(int port, const std::string& target) : sock_(ioc_) {
    sock_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    http::write(sock_, req);
    p_.body_limit(boost::none);
    http::read_header(sock_, b_, p_);
  }
  int code() { return p_.get().result_int(); }
  // Reads until the body so far ends with `want` (or the stream ends). Returns the body so far.
  std::string ReadUntil(const std::string& want) {
    while (!p_.is_done() && !(body_.size() >= want.size() && body_.compare(body_.size() - want.size(), want.size(), want) == 0)) {
      char buf[4096];
      p_.get().body().data = buf;
      p_.get().body().size = sizeof buf;
      beast::error_code ec;
      http::read_some(sock_, b_, p_, ec);
      if (ec == http::error::need_buffer) ec = {};
      body_.append(buf, sizeof buf - p_.get().body().size);
      if (ec) break;
    }
    return body_;
  }
  bool done() { return p_.is_done(); }

 private:
  asio::io_context ioc_;
  tcp::socket sock_;
  beast::flat_buffer b_;
  http::response_parser<http::buffer_body> p_;
  std::string body_;
};

TEST_F(KubeletServerTest, FollowEndsWhenContainerExits) {
  AppendLog(kLog);
  StreamReader r(srv_->port(), "/containerLogs/default/web/app?follow=true&tailLines=1");
  EXPECT_EQ(r.code(), 200);
  EXPECT_EQ(r.ReadUntil("four\n"), "four\n");
  AppendLog("2024-01-02T03:04:05Z stdout P fi");
  AppendLog("ve\n2024-01-02T03:04:05Z stdout F !\n");  // a line written in two pieces
  EXPECT_EQ(r.ReadUntil("five!\n"), "four\nfive!\n");
  EXPECT_FALSE(r.done());
  AppendLog("2024-01-02T03:04:06Z stdout F six\n");
  rt_.running = false;
  // Ends only because the container is no longer running; the last line is still delivered.
  EXPECT_EQ(r.ReadUntil("never"), "four\nfive!\nsix\n");
  EXPECT_TRUE(r.done());
}

TEST_F(KubeletServerTest, FollowStopsWhenClientGoes) {
  AppendLog(kLog);
  {
    asio::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(srv_->port())));
    http::request<http::empty_body> req{http::verb::get, "/containerLogs/default/web/app?follow=true", 11};
    http::write(sock, req);
    beast::flat_buffer b;
    http::response_parser<http::string_body> p;
    http::read_header(sock, b, p);
    EXPECT_EQ(p.get().result_int(), 200);
  }
  // The server thread notices the close; Stop() must not hang.
  auto start = std::chrono::steady_clock::now();
  srv_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

struct WsResult {
  std::string out, err, status;
  std::string protocol;
};

WsResult RunExec(int port, const std::string& target, const std::string& proto, const std::string& stdin_data) {
  WsResult r;
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  websocket::stream<tcp::socket&> ws(sock);
  ws.set_option(websocket::stream_base::decorator(
      [proto](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, proto); }));
  websocket::response_type res;
  ws.handshake(res, "localhost", target);
  r.protocol = std::string(res[http::field::sec_websocket_protocol]);
  ws.binary(true);
  if (!stdin_data.empty()) {
    std::string m = std::string(1, '\0') + stdin_data;
    ws.write(asio::buffer(m));
    std::string close = {'\xff', '\0'};
    ws.write(asio::buffer(close));
  }
  for (;;) {
    beast::flat_buffer b;
    beast::error_code ec;
    ws.read(b, ec);
    if (ec) break;
    std::string m = beast::buffers_to_string(b.data());
    if (m.empty()) continue;
    if (m[0] == 1) r.out += m.substr(1);
    if (m[0] == 2) r.err += m.substr(1);
    if (m[0] == 3) r.status += m.substr(1);
  }
  return r;
}

TEST_F(KubeletServerTest, ExecOverWebSocketV5) {
  auto r = RunExec(srv_->port(),
                   "/exec/default/web/app?command=echo+out%3B+echo+err+%3E%262%3B+read+x%3B+echo+got+%24x%3B+exit+3"
                   "&stdin=true&stdout=true&stderr=true",
                   "v5.channel.k8s.io", "hello\n");
  EXPECT_EQ(r.protocol, "v5.channel.k8s.io");
  EXPECT_EQ(r.out, "out\ngot hello\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_NE(r.status.find("\"reason\":\"NonZeroExitCode\""), std::string::npos) << r.status;
  EXPECT_NE(r.status.find("\"message\":\"3\""), std::string::npos) << r.status;
}

TEST_F(KubeletServerTest, ExecSuccessV4) {
  auto r = RunExec(srv_->port(), "/exec/default/web/app?command=echo+hi&stdout=true&stderr=true",
                   "v4.channel.k8s.io", "");
  EXPECT_EQ(r.protocol, "v4.channel.k8s.io");
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.status, "{\"metadata\":{},\"status\":\"Success\"}");
}

TEST_F(KubeletServerTest, ExecRejectsUnknownContainerAndProtocol) {
  EXPECT_THROW(RunExec(srv_->port(), "/exec/default/web/nope?command=true", "v5.channel.k8s.io", ""),
               boost::system::system_error);
  EXPECT_THROW(RunExec(srv_->port(), "/exec/default/web/app?command=true", "v1.channel.k8s.io", ""),
               boost::system::system_error);
  auto [code, body] = Get("/exec/default/web/app?command=true");
  EXPECT_EQ(code, 400);
}

}  // namespace
}  // namespace tug::kubelet::server
