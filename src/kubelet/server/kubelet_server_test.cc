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
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "kubelet/server/spdy.h"
#include "kubelet/testing/unimplemented_runtime.h"

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

class FakeRuntime : public kubelet::testing::UnimplementedRuntime {
 public:
  std::atomic<bool> running{true};
  std::string netns_path;  // the sandbox's network namespace (port-forward tests)
  Result<std::vector<runtime::PodSandboxStatus>> ListPodSandboxes() override {
    runtime::PodSandboxStatus s;
    s.id = "sb-1";
    s.config.namespace_ = "default";
    s.config.name = "web";
    s.config.uid = "uid-1";
    s.state = runtime::SandboxState::kReady;
    s.netns_path = netns_path;
    return std::vector<runtime::PodSandboxStatus>{s};
  }
  Result<runtime::ContainerStatus> ContainerStatusOf(const std::string& id) override {
    runtime::ContainerStatus s;
    s.id = id;
    s.state = running ? runtime::ContainerState::kRunning : runtime::ContainerState::kExited;
    return s;
  }
  Result<std::unique_ptr<runtime::ExecSession>> Exec(const std::string& id, const runtime::ExecOptions& o) override {
    if (id != "cid-1") return NotFoundError("no container " + id);
    std::vector<std::string> cmd = {"/bin/sh", "-c"};
    for (auto& c : o.cmd) cmd.push_back(c);
    return std::unique_ptr<runtime::ExecSession>(new PipeExec(cmd));
  }
  // A SOCK_SEQPACKET pair: the kubelet gets one end, the test plays conmon on attach_peer.
  Result<runtime::AttachConnection> Attach(const std::string& id) override {
    if (id != "cid-1") return NotFoundError("no container " + id);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return InternalError("socketpair");
    attach_peer = sv[1];
    return runtime::AttachConnection{sv[0], false, attach_stdin_once};
  }
  std::atomic<int> attach_peer{-1};  // closed by the test
  bool attach_stdin_once = false;
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
      // Past the end of int64 nanoseconds (2262): nothing, not everything (kubectl --since-time).
      {"?sinceTime=2999-01-01T00%3A00%3A00Z", 200, ""},
      {"?sinceTime=1066-10-14T09:00:00Z", 200, "one\ntwo\nthree\nfour\n"},
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
    p_.body_limit(std::numeric_limits<std::uint64_t>::max());
    http::read_header(sock_, b_, p_);
  }
  int code() { return p_.get().result_int(); }
  // Reads until the body so far ends with `want` (or the stream ends). Returns the body so far.
  // After 20 s the connection is shut down, so a stream that stalls fails the test instead of
  // hanging it.
  std::string ReadUntil(const std::string& want) {
    std::mutex mu;
    std::condition_variable_any cv;
    std::jthread watchdog([&](std::stop_token st) {
      std::unique_lock<std::mutex> l(mu);
      if (!cv.wait_for(l, st, std::chrono::seconds(20), [] { return false; }) && !st.stop_requested())
        ::shutdown(sock_.native_handle(), SHUT_RDWR);
    });
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

// Rotation (kubelet/logs) renames the file and the runtime starts a new one at the path: the
// follower reads what was still written to the old file, then the new file, losing nothing.
TEST_F(KubeletServerTest, FollowContinuesAcrossRotation) {
  AppendLog("2024-01-02T03:04:01Z stdout F a1\n");
  StreamReader r(srv_->port(), "/containerLogs/default/web/app?follow=true");
  EXPECT_EQ(r.ReadUntil("a1\n"), "a1\n");
  for (int gen = 1; gen <= 3; ++gen) {
    std::string rotated = log_ + ".2024010" + std::to_string(gen);
    std::filesystem::rename(log_, rotated);
    // The writer still has the old file open until it reopens.
    AppendLog("2024-01-02T03:04:02Z stdout F old" + std::to_string(gen) + "\n", rotated);
    AppendLog("2024-01-02T03:04:03Z stdout F new" + std::to_string(gen) + "\n");
    std::string want = "new" + std::to_string(gen) + "\n";
    ASSERT_THAT(r.ReadUntil(want), ::testing::EndsWith("old" + std::to_string(gen) + "\n" + want));
  }
  EXPECT_EQ(r.ReadUntil("new3\n"), "a1\nold1\nnew1\nold2\nnew2\nold3\nnew3\n");
  // While the path is missing (renamed, not reopened yet) the old file is still followed.
  std::filesystem::rename(log_, log_ + ".gap");
  AppendLog("2024-01-02T03:04:04Z stdout F gap\n", log_ + ".gap");
  EXPECT_THAT(r.ReadUntil("gap\n"), ::testing::EndsWith("new3\ngap\n"));
  rt_.running = false;
  r.ReadUntil("never");
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

// client-go drops output for a stream it has not registered yet, and registers its streams after
// the handshake; kubectl -t sends the terminal size once they exist. The command's output must
// wait for that first message (here sent 300 ms after the handshake), not race it.
TEST_F(KubeletServerTest, TtyOutputWaitsForTheClientsFirstMessage) {
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(srv_->port())));
  websocket::stream<tcp::socket&> ws(sock);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, "v5.channel.k8s.io"); }));
  ws.handshake("localhost", "/exec/default/web/app?command=echo+early&tty=true&stdin=true&stdout=true");
  ws.binary(true);
  using Clock = std::chrono::steady_clock;
  Clock::time_point resized{}, first_out{};
  std::string out, status;
  beast::flat_buffer b;
  std::function<void()> read = [&] {
    ws.async_read(b, [&](beast::error_code ec, size_t) {
      if (ec) return;
      std::string m = beast::buffers_to_string(b.data());
      b.consume(b.size());
      if (!m.empty() && m[0] == 1) {
        if (out.empty()) first_out = Clock::now();
        out += m.substr(1);
      }
      if (!m.empty() && m[0] == 3) status += m.substr(1);
      read();
    });
  };
  read();
  std::string size = std::string(1, '\x04') + R"({"Width":80,"Height":24})";
  asio::steady_timer t(ioc, std::chrono::milliseconds(300));
  t.async_wait([&](beast::error_code) {
    resized = Clock::now();
    ws.async_write(asio::buffer(size), [](beast::error_code, size_t) {});
  });
  ioc.run_for(std::chrono::seconds(30));
  EXPECT_EQ(out, "early\n");
  EXPECT_EQ(status, "{\"metadata\":{},\"status\":\"Success\"}");
  ASSERT_NE(resized, Clock::time_point{});
  EXPECT_GE(first_out, resized) << "output was sent before the client's streams existed";
}

TEST_F(KubeletServerTest, ExecSuccessV4) {
  auto r = RunExec(srv_->port(), "/exec/default/web/app?command=echo+hi&stdout=true&stderr=true",
                   "v4.channel.k8s.io", "");
  EXPECT_EQ(r.protocol, "v4.channel.k8s.io");
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.status, "{\"metadata\":{},\"status\":\"Success\"}");
}

// attach: the client's stdin close signal (v5) ends the session while the container keeps
// running (its attach socket stays open), as CRI-O ends a non-stdinOnce attach; conmon sees the
// stdin and then the half-close.
TEST_F(KubeletServerTest, AttachEndsWithClientStdin) {
  auto fut = std::async(std::launch::async, [port = srv_->port()] {
    return RunExec(port, "/attach/default/web/app?stdin=true&stdout=true", "v5.channel.k8s.io", "hi\n");
  });
  // Generous: a session that does not end on the close signal would only end with the socket.
  bool ended = fut.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  std::string got;
  char buf[256];
  int peer = rt_.attach_peer;
  pollfd p{peer, POLLIN, 0};
  while (peer >= 0 && ::poll(&p, 1, 5000) > 0) {
    ssize_t n = ::read(peer, buf, sizeof buf);
    if (n <= 0) break;  // 0: the kubelet closed its write side (stdin ended)
    got.append(buf, n);
  }
  if (peer >= 0) ::close(peer);  // unblocks a session still open
  EXPECT_TRUE(ended) << "attach did not end when the client's stdin ended";
  auto r = fut.get();
  EXPECT_EQ(got, "hi\n");
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


// ---------------------------------------------------------------- SPDY and port-forward

namespace spdyc {

using spdy::Frame;
using spdy::FrameParser;
using spdy::FrameWriter;
using spdy::Headers;

// A blocking SPDY/3.1 client over TCP (after an HTTP upgrade) or over a WebSocket.
class Client {
 public:
  // HTTP upgrade on a fresh TCP connection. Returns the response head.
  std::string Upgrade(int port, const std::string& target, const std::string& protocols) {
    sock_ = std::make_unique<tcp::socket>(ioc_);
    sock_->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    timeval tv{10, 0};
    ::setsockopt(sock_->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req = "POST " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n";
    std::stringstream ss(protocols);
    std::string tok;
    while (std::getline(ss, tok, ',')) req += "X-Stream-Protocol-Version: " + tok + "\r\n";
    req += "Content-Length: 0\r\n\r\n";
    asio::write(*sock_, asio::buffer(req));
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos) {
      boost::system::error_code ec;
      size_t n = sock_->read_some(asio::buffer(&c, 1), ec);
      if (ec || n == 0) break;
      head += c;
    }
    return head;
  }
  // Tunnelled in a WebSocket (subprotocol SPDY/3.1+portforward.k8s.io).
  std::string WebSocket(int port, const std::string& target) {
    sock_ = std::make_unique<tcp::socket>(ioc_);
    sock_->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    timeval tv{10, 0};
    ::setsockopt(sock_->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ws_ = std::make_unique<websocket::stream<tcp::socket&>>(*sock_);
    ws_->set_option(websocket::stream_base::decorator([](websocket::request_type& r) {
      r.set(http::field::sec_websocket_protocol, "SPDY/3.1+portforward.k8s.io");
    }));
    websocket::response_type res;
    ws_->handshake(res, "localhost", target);
    ws_->binary(true);
    return std::string(res[http::field::sec_websocket_protocol]);
  }

  void Write(const std::string& bytes) {
    if (ws_) {
      // Split at arbitrary points, as kubectl's tunnel does.
      for (size_t i = 0; i < bytes.size(); i += 3) ws_->write(asio::buffer(bytes.substr(i, 3)));
    } else {
      asio::write(*sock_, asio::buffer(bytes));
    }
  }
  void Open(uint32_t id, const Headers& h, bool fin = false) {
    auto f = w_.SynStream(id, 0, 0, fin ? spdy::kFlagFin : 0, h);
    ASSERT_TRUE(f.ok());
    Write(*f);
  }
  void Data(uint32_t id, const std::string& d, bool fin = false) {
    Write(FrameWriter::Data(id, fin ? spdy::kFlagFin : 0, d));
  }

  // Reads the next frame (false on EOF/timeout), recording DATA and FIN per stream.
  bool Next(Frame* f, int timeout_ms = 10000) {
    for (;;) {
      bool got = false;
      EXPECT_TRUE(p_.Next(f, &got).ok());
      if (got) {
        Record(*f);
        return true;
      }
      boost::system::error_code ec;
      if (ws_) {
        beast::flat_buffer b;
        ws_->read(b, ec);
        if (ec == asio::error::interrupted) continue;
        if (ec) return false;
        p_.Feed(beast::buffers_to_string(b.data()));
      } else {
        pollfd pfd{sock_->native_handle(), POLLIN, 0};
        int pr = ::poll(&pfd, 1, timeout_ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return false;  // timed out
        char buf[65536];
        size_t n = sock_->read_some(asio::buffer(buf), ec);
        if (ec == asio::error::interrupted) continue;  // SIGCHLD from the fake runtime's processes
        if (ec || n == 0) return false;
        p_.Feed(std::string_view(buf, n));
      }
    }
  }
  // Reads until every stream in ids has FIN (or the connection ends).
  void UntilFin(std::initializer_list<uint32_t> ids) {
    auto all = [&] {
      for (uint32_t id : ids)
        if (!fin_.count(id)) return false;
      return true;
    };
    Frame f;
    while (!all() && Next(&f)) {
    }
  }

  std::map<uint32_t, std::string> data_;
  std::set<uint32_t> fin_, replies_, resets_;
  int goaways_ = 0;
  std::vector<std::pair<uint32_t, uint32_t>> window_updates_;
  std::unique_ptr<tcp::socket> sock_;

 private:
  void Record(const Frame& f) {
    if (!f.control) {
      data_[f.stream_id] += f.data;
      if (f.flags & spdy::kFlagFin) fin_.insert(f.stream_id);
    } else if (f.type == spdy::kSynReply) {
      replies_.insert(f.stream_id);
    } else if (f.type == spdy::kRstStream) {
      resets_.insert(f.stream_id);
    } else if (f.type == spdy::kGoAway) {
      ++goaways_;
    } else if (f.type == spdy::kWindowUpdate) {
      window_updates_.emplace_back(f.stream_id, f.value);
    }
  }

  asio::io_context ioc_;
  std::unique_ptr<websocket::stream<tcp::socket&>> ws_;
  FrameWriter w_;
  FrameParser p_;
};

Headers Stream(const std::string& type) { return {{"streamType", type}}; }
Headers PortStream(const std::string& type, int port, const std::string& rid) {
  return {{"streamType", type}, {"port", std::to_string(port)}, {"requestID", rid}};
}

}  // namespace spdyc

TEST_F(KubeletServerTest, SpdyExecV4StreamsAndExitCode) {
  spdyc::Client c;
  std::string head = c.Upgrade(srv_->port(),
                               "/exec/default/web/app?command=echo+out%3B+echo+err+%3E%262%3B+read+x%3B+echo+got+%24x%3B+exit+3"
                               "&stdin=true&stdout=true&stderr=true",
                               "v5.channel.k8s.io,v4.channel.k8s.io,v3.channel.k8s.io");
  ASSERT_NE(head.find("101"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Stream-Protocol-Version: v4.channel.k8s.io"), std::string::npos) << head;
  c.Open(1, spdyc::Stream("error"));
  c.Open(3, spdyc::Stream("stdin"));
  c.Open(5, spdyc::Stream("stdout"));
  c.Open(7, spdyc::Stream("stderr"));
  c.Data(3, "hello\n", true);
  c.UntilFin({1, 5, 7});
  EXPECT_EQ(c.replies_, (std::set<uint32_t>{1, 3, 5, 7}));
  EXPECT_EQ(c.data_[5], "out\ngot hello\n");
  EXPECT_EQ(c.data_[7], "err\n");
  EXPECT_NE(c.data_[1].find("\"reason\":\"NonZeroExitCode\""), std::string::npos) << c.data_[1];
  EXPECT_NE(c.data_[1].find("{\"message\":\"3\",\"reason\":\"ExitCode\"}"), std::string::npos) << c.data_[1];
  spdy::Frame f;
  while (c.goaways_ == 0 && c.Next(&f)) {
  }
  EXPECT_EQ(c.goaways_, 1);
}

TEST_F(KubeletServerTest, SpdyExecOlderProtocolsAndNegotiation) {
  {
    spdyc::Client c;  // v2: no resize stream, errors as text, nothing on success
    std::string head = c.Upgrade(srv_->port(), "/exec/default/web/app?command=echo+hi&stdout=true&stderr=true",
                                 "v2.channel.k8s.io,channel.k8s.io");
    EXPECT_NE(head.find("X-Stream-Protocol-Version: v2.channel.k8s.io"), std::string::npos) << head;
    c.Open(1, spdyc::Stream("error"));
    c.Open(3, spdyc::Stream("stdout"));
    c.Open(5, spdyc::Stream("stderr"));
    c.UntilFin({1, 3, 5});
    EXPECT_EQ(c.data_[3], "hi\n");
    EXPECT_EQ(c.data_[1], "");
  }
  {
    spdyc::Client c;
    c.Upgrade(srv_->port(), "/exec/default/web/app?command=exit+4&stdout=true", "v3.channel.k8s.io");
    c.Open(1, spdyc::Stream("error"));
    c.Open(3, spdyc::Stream("stdout"));
    c.UntilFin({1});
    EXPECT_EQ(c.data_[1], "command terminated with non-zero exit code: exit code 4");
  }
  struct Case {
    std::string target, protocols;
    std::string want;
  } cases[] = {
      {"/exec/default/web/app?command=true", "v9.channel.k8s.io", "HTTP/1.1 403"},
      {"/exec/default/web/app?command=true", "", "HTTP/1.1 400"},
      {"/exec/default/web/nope?command=true&stdout=true", "v4.channel.k8s.io", "HTTP/1.1 404"},
      {"/exec/default/web/app?command=true", "v4.channel.k8s.io", "HTTP/1.1 400"},  // no stream requested
      {"/portForward/default/other", "portforward.k8s.io", "HTTP/1.1 404"},
      {"/portForward/default/web", "v4.channel.k8s.io", "HTTP/1.1 403"},
  };
  for (auto& k : cases) {
    spdyc::Client c;
    std::string head = c.Upgrade(srv_->port(), k.target, k.protocols);
    EXPECT_EQ(head.substr(0, k.want.size()), k.want) << k.target << " " << k.protocols << "\n" << head;
  }
}

TEST_F(KubeletServerTest, SpdyFlowControlWindows) {
  spdyc::Client c;
  c.Upgrade(srv_->port(), "/exec/default/web/app?command=head+-c+40000+%3E/dev/null%3B+head+-c+5000+/dev/zero&stdin=true&stdout=true",
            "v4.channel.k8s.io");
  // A peer that sends SETTINGS implements flow control: 1000-byte stream windows.
  c.Write(spdy::FrameWriter::Settings({{spdy::kSettingsInitialWindowSize, 1000}}));
  c.Open(1, spdyc::Stream("error"));
  c.Open(3, spdyc::Stream("stdin"));
  c.Open(5, spdyc::Stream("stdout"));
  // 40000 bytes of stdin: the server opens our windows as the process consumes them.
  c.Data(3, std::string(40000, 'x'));
  spdy::Frame f;
  while (c.data_[5].size() < 1000 && c.Next(&f)) {
  }
  ASSERT_EQ(c.data_[5].size(), 1000u);
  // Nothing more arrives until the window opens.
  while (c.Next(&f, 300)) {
  }
  EXPECT_EQ(c.data_[5].size(), 1000u);
  c.Write(spdy::FrameWriter::WindowUpdate(5, 4000));
  c.Data(3, "", true);
  c.UntilFin({5, 1});
  EXPECT_EQ(c.data_[5], std::string(5000, '\0'));
  EXPECT_EQ(c.data_[1], "{\"metadata\":{},\"status\":\"Success\"}");
  bool stream_update = false, conn_update = false;
  for (auto [id, delta] : c.window_updates_) {
    if (id == 3 && delta > 0) stream_update = true;
    if (id == 0 && delta > 0) conn_update = true;
  }
  EXPECT_TRUE(stream_update && conn_update);
}

// A network namespace of its own (held by a parked thread) with lo up and a listener.
class TestNetns {
 public:
  TestNetns() {
    std::promise<void> ready;
    auto fut = ready.get_future();
    t_ = std::thread([this, &ready] {
      if (::unshare(CLONE_NEWNET) == 0) {
        int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ifreq ifr{};
        std::strcpy(ifr.ifr_name, "lo");
        ::ioctl(s, SIOCGIFFLAGS, &ifr);
        ifr.ifr_flags |= IFF_UP;
        ::ioctl(s, SIOCSIFFLAGS, &ifr);
        ::close(s);
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(listen_, 8);
        socklen_t l = sizeof a;
        ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &l);
        port_ = ntohs(a.sin_port);
        path_ = "/proc/" + std::to_string(::getpid()) + "/task/" + std::to_string(::gettid()) + "/ns/net";
      }
      ready.set_value();
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stop_; });
    });
    fut.wait();
  }
  ~TestNetns() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    t_.join();
    if (listen_ >= 0) ::close(listen_);
  }
  const std::string& path() const { return path_; }
  int port() const { return port_; }
  // Accepts one connection (10 s limit); -1 on timeout.
  int Accept() {
    pollfd p{listen_, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return -1;
    return ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
  }

 private:
  std::thread t_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  int listen_ = -1, port_ = 0;
  std::string path_;
};

// Serves one connection: reads until EOF (or the first read), answers "pong:<what it read>",
// closes.
std::thread EchoOnce(TestNetns& ns, bool until_eof = true) {
  return std::thread([&ns, until_eof] {
    int fd = ns.Accept();
    if (fd < 0) return;
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
      got.append(buf, static_cast<size_t>(n));
      if (!until_eof) break;
    }
    std::string reply = "pong:" + got;
    (void)!::write(fd, reply.data(), reply.size());
    ::close(fd);
  });
}

TEST_F(KubeletServerTest, SpdyPortForwardIntoPodNetns) {
  TestNetns ns;
  ASSERT_FALSE(ns.path().empty()) << "unshare(CLONE_NEWNET) failed (needs root)";
  rt_.netns_path = ns.path();
  std::thread echo = EchoOnce(ns);
  spdyc::Client c;
  std::string head = c.Upgrade(srv_->port(), "/portForward/default/web", "portforward.k8s.io");
  ASSERT_NE(head.find("101"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Stream-Protocol-Version: portforward.k8s.io"), std::string::npos);
  c.Open(1, spdyc::PortStream("error", ns.port(), "0"));
  c.Open(3, spdyc::PortStream("data", ns.port(), "0"));
  c.Data(3, "ping", true);  // half-close: the pod sees EOF and still answers
  c.UntilFin({3, 1});
  echo.join();
  EXPECT_EQ(c.data_[3], "pong:ping");
  EXPECT_EQ(c.data_[1], "");

  // A second connection on the same SPDY session: nothing listens on port 1 in the pod.
  c.Open(5, spdyc::PortStream("error", 1, "1"));
  c.Open(7, spdyc::PortStream("data", 1, "1"));
  c.UntilFin({5, 7});
  EXPECT_NE(c.data_[5].find("error forwarding port 1 to pod sb-1, uid : failed to execute portforward in network namespace \"" +
                            ns.path() + "\""),
            std::string::npos)
      << c.data_[5];
  EXPECT_NE(c.data_[5].find("dial tcp4 127.0.0.1:1: connect: connection refused"), std::string::npos) << c.data_[5];

  // Streams without a port or with an unknown type are refused.
  c.Open(9, {{"streamType", "data"}});
  c.Open(11, spdyc::PortStream("bogus", 80, "2"));
  spdy::Frame f;
  while (c.resets_.size() < 2 && c.Next(&f)) {
  }
  EXPECT_EQ(c.resets_, (std::set<uint32_t>{9, 11}));
}

TEST_F(KubeletServerTest, SpdyPortForwardResetClosesPodConnection) {
  TestNetns ns;
  ASSERT_FALSE(ns.path().empty());
  rt_.netns_path = ns.path();
  std::atomic<bool> saw_eof{false};
  std::thread pod([&] {
    int fd = ns.Accept();
    if (fd < 0) return;
    (void)!::write(fd, "hi", 2);
    char buf[64];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 10000) == 1) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        saw_eof = true;
        break;
      }
    }
    ::close(fd);
  });
  spdyc::Client c;
  c.Upgrade(srv_->port(), "/portForward/default/web", "portforward.k8s.io");
  c.Open(1, spdyc::PortStream("error", ns.port(), "0"));
  c.Open(3, spdyc::PortStream("data", ns.port(), "0"));
  spdy::Frame f;
  while (c.data_[3] != "hi" && c.Next(&f)) {
  }
  EXPECT_EQ(c.data_[3], "hi");
  c.Write(spdy::FrameWriter::RstStream(3, spdy::kCancel));
  pod.join();
  EXPECT_TRUE(saw_eof);
  c.UntilFin({1});  // the error stream is ended too
  EXPECT_TRUE(c.fin_.count(1));
}

TEST_F(KubeletServerTest, WebSocketTunnelledSpdyPortForward) {
  TestNetns ns;
  ASSERT_FALSE(ns.path().empty());
  rt_.netns_path = ns.path();
  std::thread echo = EchoOnce(ns);
  spdyc::Client c;
  EXPECT_EQ(c.WebSocket(srv_->port(), "/portForward/default/web"), "SPDY/3.1+portforward.k8s.io");
  c.Open(1, spdyc::PortStream("error", ns.port(), "0"));
  c.Open(3, spdyc::PortStream("data", ns.port(), "0"));
  c.Data(3, "abc", true);
  c.UntilFin({3, 1});
  echo.join();
  EXPECT_EQ(c.data_[3], "pong:abc");
}

TEST_F(KubeletServerTest, WebSocketChannelPortForward) {
  TestNetns ns;
  ASSERT_FALSE(ns.path().empty());
  rt_.netns_path = ns.path();
  std::thread echo = EchoOnce(ns, false);
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(srv_->port())));
  websocket::stream<tcp::socket&> ws(sock);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& r) { r.set(http::field::sec_websocket_protocol, "v4.channel.k8s.io"); }));
  websocket::response_type res;
  ws.handshake(res, "localhost", "/portForward/default/web?port=" + std::to_string(ns.port()));
  EXPECT_EQ(res[http::field::sec_websocket_protocol], "v4.channel.k8s.io");
  ws.binary(true);
  std::string port_le = {static_cast<char>(ns.port() & 0xff), static_cast<char>(ns.port() >> 8)};
  std::map<int, std::string> got;
  auto read = [&] {
    beast::flat_buffer b;
    beast::error_code ec;
    ws.read(b, ec);
    if (ec) return false;
    std::string m = beast::buffers_to_string(b.data());
    if (!m.empty()) got[static_cast<unsigned char>(m[0])] += m.substr(1);
    return true;
  };
  ASSERT_TRUE(read() && read());
  EXPECT_EQ(got[0], port_le);
  EXPECT_EQ(got[1], port_le);
  got.clear();
  std::string msg = std::string(1, '\0') + "xyz";
  ws.write(asio::buffer(msg));
  // The pod answers and closes; the server then ends the WebSocket (every port is done).
  while (read()) {
  }
  echo.join();
  EXPECT_EQ(got[0], "pong:xyz");
  EXPECT_EQ(got[1], "");
}

}  // namespace
}  // namespace tug::kubelet::server
