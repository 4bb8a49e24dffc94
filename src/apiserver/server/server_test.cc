#include "apiserver/server/server.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "apiserver/pki/pki.h"
#include "base/json.h"

namespace tug::apiserver::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto kWait = 20s;  // generous bound for things that should happen promptly

// ---------------------------------------------------------------- test handler

// Echoes the request as JSON; special paths exercise streaming and error paths.
class TestHandler : public Handler {
 public:
  void Handle(Request req, ResponseWriterPtr w) override {
    ++calls;
    if (req.path == "/stream") {
      w->StartStream(200, "application/json");
      std::lock_guard<std::mutex> l(mu);
      writers.emplace_back([w, n = std::stoi(req.Query("n", "3"))] {
        for (int i = 0; i < n; ++i) w->Write("chunk-" + std::to_string(i) + "\n");
        w->Finish();
      });
      return;
    }
    if (req.path == "/hold") {  // a watch that stays open until the client leaves
      w->StartStream(200, "application/json");
      w->Write("started\n");
      w->OnClose([this] { closed.set_value(); });
      std::lock_guard<std::mutex> l(mu);
      held = w;
      return;
    }
    if (req.path == "/flood") {  // writes until the transport says stop
      w->StartStream(200, "application/octet-stream");
      std::string chunk(64 * 1024, 'x');
      size_t total = 0;
      while (w->Write(chunk) && total < (512u << 20)) total += chunk.size();
      flood_total = total;
      flood_done.set_value();
      return;
    }
    if (req.path == "/coalesce") {
      // A big piece the client does not read yet (its write stays in flight), then 1000 small
      // lines through Write and WriteShared alternately, then Finish (or the writer dropped).
      w->StartStream(200, "text/plain");
      bool drop = req.Query("drop") == "1";
      std::lock_guard<std::mutex> l(mu);
      writers.emplace_back([this, w, drop]() mutable {
        auto big = std::make_shared<const std::string>(kCoalesceBig, 'b');
        w->WriteShared({&big, 1});
        for (int i = 0; i < 1000; ++i) {
          std::string line = "p-" + std::to_string(i) + "\n";
          if (i % 2) {
            w->Write(std::move(line));
          } else {
            auto piece = std::make_shared<const std::string>(std::move(line));
            w->WriteShared({&piece, 1});
          }
        }
        if (!drop) w->Finish();
        w.reset();
        coalesce_written.set_value();
      });
      return;
    }
    if (req.path == "/pump") {  // a stream the test feeds (PumpAll) until it is cut off
      w->StartStream(200, "application/octet-stream");
      std::lock_guard<std::mutex> l(mu);
      pumps.push_back(w);
      return;
    }
    if (req.path == "/nice-stream" || req.path == "/nice") {
      // Records the nice value of the thread that ends the response (the connection's thread).
      w->OnClose([this, stream = req.path == "/nice-stream"] {
        int v = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
        (stream ? stream_nice : request_nice) = v;
      });
      {
        std::lock_guard<std::mutex> l(mu);
        kept.push_back(w);  // OnClose fires only while someone holds the writer
      }
      if (req.path == "/nice") return w->Send(200, "text/plain", "ok");
      w->StartStream(200, "text/plain");
      w->Write("x\n");
      w->Finish();
      return;
    }
    if (req.path == "/tiny-stream") {  // as a short log: head, one chunk, end, writer dropped
      w->StartStream(200, "text/plain");
      w->Write("from-two\n");
      w->Finish();
      return;
    }
    if (req.path == "/drop") return;  // forgets to answer
    if (req.path == "/upgrade") {
      // Takes the connection over, answers 101, then echoes bytes upper-cased until the peer
      // half-closes, then says "BYE" and closes (exec/port-forward relays work like this).
      auto conn = w->Hijack();
      if (!conn.ok()) return SendStatus(*w, conn.status());
      if (!(*conn)->Write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n").ok())
        return;
      char buf[4096];
      for (;;) {
        auto n = (*conn)->Read(buf, sizeof buf);
        if (!n.ok() || *n == 0) break;
        std::string up(buf, *n);
        for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        if (!(*conn)->Write(up).ok()) break;
      }
      (void)(*conn)->Write("BYE");
      (*conn)->ShutdownWrite();
      (*conn)->Close();
      return;
    }
    if (req.path == "/upgrade-refused") {
      SendStatus(*w, BadRequestError("no such container"));
      return;
    }
    if (req.path == "/upgrade-hold") {  // blocks reading until the connection is cut
      auto conn = w->Hijack();
      if (!conn.ok()) return SendStatus(*w, conn.status());
      (void)(*conn)->Write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n");
      held_upgrade.set_value();
      char buf[64];
      while (true) {
        auto n = (*conn)->Read(buf, sizeof buf);
        if (!n.ok() || *n == 0) break;
      }
      held_upgrade_ended = true;
      return;
    }
    Json j = {{"method", req.method},   {"path", req.path},       {"raw_query", req.raw_query},
              {"body_size", req.body.size()}, {"user", req.user.name}, {"groups", req.user.groups}};
    Json q = Json::array();
    for (const auto& [k, v] : req.query) q.push_back(Json::array({k, v}));
    j["query"] = q;
    w->Send(201, "application/json", DumpJson(j), {{"X-Test", "yes"}});
  }

  ~TestHandler() {
    for (auto& t : writers) t.join();
  }

  std::atomic<int> calls{0};
  std::vector<std::thread> writers;
  std::promise<void> closed;
  std::promise<void> flood_done;
  std::promise<void> coalesce_written;
  static constexpr size_t kCoalesceBig = 16u << 20;  // more than loopback socket buffers hold
  std::promise<void> held_upgrade;
  std::atomic<bool> held_upgrade_ended{false};
  size_t flood_total = 0;
  std::mutex mu;
  ResponseWriterPtr held;
  std::vector<ResponseWriterPtr> pumps;  // GUARDED_BY(mu)
  std::vector<ResponseWriterPtr> kept;   // GUARDED_BY(mu)
  std::atomic<int> stream_nice{-100}, request_nice{-100};
};

// ---------------------------------------------------------------- clients

template <class Stream>
http::response<http::string_body> RoundTrip(Stream& s, beast::flat_buffer& buf, const std::string& method,
                                            const std::string& target, std::string body = "",
                                            std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, "localhost");
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  req.prepare_payload();
  http::write(s, req);
  http::response_parser<http::string_body> p;
  p.body_limit(64 << 20);
  http::read(s, buf, p);
  return p.release();
}

struct PlainClient {
  asio::io_context ioc;
  beast::tcp_stream s{ioc};
  beast::flat_buffer buf;
  explicit PlainClient(int port) { s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)); }
  http::response<http::string_body> Do(const std::string& method, const std::string& target, std::string body = "",
                                       std::vector<std::pair<std::string, std::string>> headers = {}) {
    return RoundTrip(s, buf, method, target, std::move(body), std::move(headers));
  }
};

struct TlsClient {
  asio::io_context ioc;
  asio::ssl::context ctx{asio::ssl::context::tls_client};
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> s;
  beast::flat_buffer buf;
  TlsClient(int port, const pki::PkiFiles& f, bool client_cert) {
    ctx.load_verify_file(f.ca_cert);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    if (client_cert) {
      ctx.use_certificate_chain_file(f.admin_cert);
      ctx.use_private_key_file(f.admin_key, asio::ssl::context::pem);
    }
    s = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, ctx);
    SSL_set_tlsext_host_name(s->native_handle(), "localhost");
    s->set_verify_callback(asio::ssl::host_name_verification("localhost"));
    static const unsigned char kAlpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_set_alpn_protos(s->native_handle(), kAlpn, sizeof kAlpn);
    beast::get_lowest_layer(*s).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    s->handshake(asio::ssl::stream_base::client);
  }
  std::string Alpn() {
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(s->native_handle(), &p, &n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  http::response<http::string_body> Do(const std::string& method, const std::string& target,
                                       std::vector<std::pair<std::string, std::string>> headers = {}) {
    return RoundTrip(*s, buf, method, target, "", std::move(headers));
  }
};

Json BodyJson(const http::response<http::string_body>& r) {
  auto j = ParseJson(r.body());
  EXPECT_TRUE(j.ok()) << r.body();
  return j.ok() ? *j : Json();
}

ServerOptions PlainOptions() {
  ServerOptions o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.tls = false;
  return o;
}

// ---------------------------------------------------------------- plain HTTP

TEST(ServerTest, RequestResponseWithDecoding) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  ASSERT_GT((*srv)->port(), 0);
  PlainClient c((*srv)->port());
  auto r = c.Do("POST", "/api/v1/namespaces/a%20b/pods?labelSelector=app%3Dweb&x=1+2&flag&x=3", "hello");
  EXPECT_EQ(r.result_int(), 201);
  EXPECT_EQ(r[http::field::content_type], "application/json");
  EXPECT_EQ(r["X-Test"], "yes");
  Json j = BodyJson(r);
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["path"], "/api/v1/namespaces/a b/pods");
  EXPECT_EQ(j["raw_query"], "labelSelector=app%3Dweb&x=1+2&flag&x=3");
  EXPECT_EQ(j["query"], Json::parse(R"([["labelSelector","app=web"],["x","1 2"],["flag",""],["x","3"]])"));
  EXPECT_EQ(j["body_size"], 5);
  EXPECT_EQ(j["user"], "");  // no authenticator configured
}

TEST(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  for (int i = 0; i < 5; ++i) {
    auto r = c.Do("GET", "/x/" + std::to_string(i));
    EXPECT_EQ(r.result_int(), 201);
    EXPECT_TRUE(r.keep_alive());
    EXPECT_EQ(BodyJson(r)["path"], "/x/" + std::to_string(i));
  }
  EXPECT_EQ((*srv)->open_connections(), 1u);
  EXPECT_EQ(h.calls.load(), 5);
}

TEST(ServerTest, PipelinedRequestsAnsweredInOrder) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  std::string both;
  for (int i = 0; i < 3; ++i) both += "GET /p/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  asio::write(c.s.socket(), asio::buffer(both));
  for (int i = 0; i < 3; ++i) {
    http::response<http::string_body> r;
    http::read(c.s, c.buf, r);
    EXPECT_EQ(BodyJson(r)["path"], "/p/" + std::to_string(i));
  }
}

TEST(ServerTest, BodyOver3MiBGets413AndHandlerIsNotCalled) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  {
    PlainClient c((*srv)->port());
    // Just under the limit is fine.
    auto ok = c.Do("POST", "/ok", std::string(3 * 1024 * 1024, 'a'));
    EXPECT_EQ(ok.result_int(), 201);
  }
  PlainClient c((*srv)->port());
  http::request<http::string_body> req(http::verb::post, "/big", 11);
  req.set(http::field::host, "x");
  req.body() = std::string(4 * 1024 * 1024, 'a');
  req.prepare_payload();
  beast::error_code ec;
  http::write(c.s, req, ec);  // the server may close before reading it all
  http::response<http::string_body> r;
  http::read(c.s, c.buf, r, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.result_int(), 413);
  Json j = BodyJson(r);
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["reason"], "RequestEntityTooLarge");
  EXPECT_EQ(j["code"], 413);
  EXPECT_EQ(h.calls.load(), 1);
}

TEST(ServerTest, ChunkedBodyOverLimitGets413) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  std::string head = "POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  asio::write(c.s.socket(), asio::buffer(head));
  std::string chunk(1024 * 1024, 'b');
  beast::error_code ec;
  for (int i = 0; i < 4 && !ec; ++i) {
    std::string frame = "100000\r\n" + chunk + "\r\n";
    asio::write(c.s.socket(), asio::buffer(frame), ec);
  }
  http::response<http::string_body> r;
  http::read(c.s, c.buf, r, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_EQ(h.calls.load(), 0);
}

TEST(ServerTest, MalformedRequestGets400AndClose) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  std::string bad = "GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n";
  asio::write(c.s.socket(), asio::buffer(bad));
  http::response<http::string_body> r;
  beast::error_code ec;
  http::read(c.s, c.buf, r, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(r.result_int(), 400);
  EXPECT_EQ(BodyJson(r)["reason"], "BadRequest");
  EXPECT_FALSE(r.keep_alive());
  EXPECT_EQ(h.calls.load(), 0);
}

TEST(ServerTest, StreamingChunksArriveInOrder) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  http::request<http::empty_body> req(http::verb::get, "/stream?n=50", 11);
  req.set(http::field::host, "x");
  http::write(c.s, req);
  http::response_parser<http::string_body> p;
  std::vector<std::string> chunks;
  auto on_body = [&](std::uint64_t, beast::string_view body, beast::error_code&) -> std::size_t {
    chunks.emplace_back(body);
    return body.size();
  };
  p.on_chunk_body(on_body);
  http::read(c.s, c.buf, p);
  EXPECT_TRUE(p.get().chunked());
  std::string all;
  for (auto& ch : chunks) all += ch;
  std::string want;
  for (int i = 0; i < 50; ++i) want += "chunk-" + std::to_string(i) + "\n";
  EXPECT_EQ(all, want);
  // The connection is reusable after the stream ends.
  EXPECT_EQ(c.Do("GET", "/after").result_int(), 201);
}

// Sends GET target on c; `before_read` runs before the response is read. Returns the body and
// sets *chunks to the chunk sizes in the order received.
std::string ReadChunked(PlainClient& c, const std::string& target, std::vector<size_t>* chunks,
                        const std::function<void()>& before_read = [] {}) {
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, "x");
  http::write(c.s, req);
  before_read();
  http::response_parser<http::string_body> p;
  p.body_limit(64u << 20);
  auto on_header = [&](std::uint64_t size, beast::string_view, beast::error_code&) { chunks->push_back(size); };
  p.on_chunk_header(on_header);
  http::read(c.s, c.buf, p);
  return p.release().body();
}

// Stream output is pulled by the connection when its previous write completes: what a handler
// writes meanwhile goes out as one chunk (one large TLS write, no post per write), in order,
// and a writer dropped without Finish still delivers what it queued and ends the stream.
TEST(ServerTest, StreamWritesQueuedDuringAWriteCoalesceInOrder) {
  for (const char* drop : {"0", "1"}) {
    SCOPED_TRACE(std::string("drop=") + drop);
    TestHandler h;
    ServerOptions o = PlainOptions();
    o.max_queued_bytes = 64u << 20;
    auto srv = StartServer(o, h);
    ASSERT_TRUE(srv.ok());
    PlainClient c((*srv)->port());
    std::vector<size_t> chunks;
    bool written = false;
    const std::string body = ReadChunked(c, std::string("/coalesce?drop=") + drop, &chunks, [&] {
      written = h.coalesce_written.get_future().wait_for(kWait) == std::future_status::ready;
    });
    ASSERT_TRUE(written);
    std::string want;
    for (int i = 0; i < 1000; ++i) want += "p-" + std::to_string(i) + "\n";
    ASSERT_EQ(body.size(), TestHandler::kCoalesceBig + want.size());
    EXPECT_EQ(body.find_first_not_of('b'), TestHandler::kCoalesceBig);
    EXPECT_EQ(body.substr(TestHandler::kCoalesceBig), want);
    // The big piece, then the 1000 lines together (the terminal chunk may count too), not
    // one chunk per write.
    EXPECT_GE(chunks.size(), 2u);
    EXPECT_LE(chunks.size(), 3u);
    EXPECT_EQ(c.Do("GET", "/after").result_int(), 201);
  }
}

// An idle connection's stream is pulled after stream_flush_delay: lines written within it leave
// as one chunk.
TEST(ServerTest, IdleStreamFlushesAfterTheDelayInOneChunk) {
  TestHandler h;
  ServerOptions o = PlainOptions();
  o.stream_flush_delay = std::chrono::milliseconds(2000);  // far longer than writing 50 lines
  auto srv = StartServer(o, h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  std::vector<size_t> chunks;
  const std::string body = ReadChunked(c, "/stream?n=50", &chunks);
  std::string want;
  for (int i = 0; i < 50; ++i) want += "chunk-" + std::to_string(i) + "\n";
  EXPECT_EQ(body, want);
  EXPECT_LE(chunks.size(), 2u);  // the 50 lines (and the terminal chunk), not one per line
}

TEST(ServerTest, OnCloseFiresWhenClientDisconnects) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  auto closed = h.closed.get_future();
  {
    PlainClient c((*srv)->port());
    http::request<http::empty_body> req(http::verb::get, "/hold", 11);
    req.set(http::field::host, "x");
    http::write(c.s, req);
    http::response_parser<http::string_body> p;
    http::read_header(c.s, c.buf, p);
    EXPECT_EQ(p.get().result_int(), 200);
    EXPECT_NE(closed.wait_for(0s), std::future_status::ready);
  }  // client socket closed here
  ASSERT_EQ(closed.wait_for(kWait), std::future_status::ready);
  std::lock_guard<std::mutex> l(h.mu);
  EXPECT_TRUE(h.held->Closed());
  EXPECT_FALSE(h.held->Write("late\n"));
}

TEST(ServerTest, SlowConsumerIsCutOff) {
  TestHandler h;
  ServerOptions o = PlainOptions();
  o.max_queued_bytes = 1 << 20;
  auto srv = StartServer(o, h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  http::request<http::empty_body> req(http::verb::get, "/flood", 11);
  req.set(http::field::host, "x");
  http::write(c.s, req);
  // Never read: the handler must be told to stop long before it wrote 512 MiB.
  auto done = h.flood_done.get_future();
  ASSERT_EQ(done.wait_for(kWait), std::future_status::ready);
  EXPECT_LT(h.flood_total, 256u << 20);
}

TEST(ServerTest, HandlerThatDropsWriterGets500) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  auto r = c.Do("GET", "/drop");
  EXPECT_EQ(r.result_int(), 500);
  EXPECT_EQ(BodyJson(r)["reason"], "InternalError");
  EXPECT_EQ(c.Do("GET", "/next").result_int(), 201);
}

TEST(ServerTest, ConnectionCloseIsHonoured) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  auto r = c.Do("GET", "/x", "", {{"Connection", "close"}});
  EXPECT_EQ(r.result_int(), 201);
  EXPECT_FALSE(r.keep_alive());
  char b;
  beast::error_code ec;
  c.s.socket().read_some(asio::buffer(&b, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(ServerTest, StopCutsStreamsAndJoins) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  int port = (*srv)->port();
  auto closed = h.closed.get_future();
  PlainClient c(port);
  http::request<http::empty_body> req(http::verb::get, "/hold", 11);
  req.set(http::field::host, "x");
  http::write(c.s, req);
  http::response_parser<http::string_body> p;
  http::read_header(c.s, c.buf, p);
  (*srv)->Stop();  // returns only after every thread has been joined
  EXPECT_EQ(closed.wait_for(0s), std::future_status::ready);  // OnClose ran before Stop returned
  EXPECT_EQ((*srv)->open_connections(), 0u);
  char b[64];
  beast::error_code ec;
  while (!ec) c.s.socket().read_some(asio::buffer(b), ec);  // the server side is gone
  asio::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_TRUE(ec);  // no longer listening
  (*srv)->Stop();   // idempotent
  std::lock_guard<std::mutex> l(h.mu);
  h.held.reset();
}

// Answers /inline on the I/O thread (HandlesInline) and from another thread after Handle
// returned, as the REST handler's creates answer from the store's commit thread; /block holds
// a worker until released.
class InlineHandler : public Handler {
 public:
  bool HandlesInline(const Request& req) const override { return req.path == "/inline"; }
  void Handle(Request req, ResponseWriterPtr w) override {
    if (req.path == "/block") {
      blocked.set_value();
      release_f.wait();
      w->Send(200, "text/plain", "unblocked");
      return;
    }
    std::lock_guard<std::mutex> l(mu);
    answerers.emplace_back([w, n = inline_calls++] { w->Send(201, "text/plain", "inline-" + std::to_string(n)); });
  }
  ~InlineHandler() override {
    for (auto& t : answerers) t.join();
  }
  std::promise<void> blocked, release;
  std::shared_future<void> release_f = release.get_future().share();
  std::mutex mu;
  int inline_calls = 0;  // GUARDED_BY(mu)
  std::vector<std::thread> answerers;
};

TEST(ServerTest, InlineRequestsAreServedWhileEveryWorkerIsBusy) {
  InlineHandler h;
  ServerOptions o = PlainOptions();
  o.min_workers = 1;
  o.max_workers = 1;
  auto srv = StartServer(o, h);
  ASSERT_TRUE(srv.ok());
  int port = (*srv)->port();
  std::thread blocker([port] {
    PlainClient c(port);
    EXPECT_EQ(c.Do("GET", "/block").body(), "unblocked");
  });
  ASSERT_EQ(h.blocked.get_future().wait_for(kWait), std::future_status::ready);
  // The only worker is taken: these are answered only if they never needed one.
  auto inline_bodies = std::async(std::launch::async, [port] {
    PlainClient c(port);
    std::vector<std::string> bodies;
    for (int i = 0; i < 3; ++i) bodies.push_back(c.Do("POST", "/inline").body());
    return bodies;
  });
  bool answered = inline_bodies.wait_for(kWait) == std::future_status::ready;
  h.release.set_value();
  blocker.join();
  ASSERT_TRUE(answered) << "inline requests waited for the busy worker";
  EXPECT_EQ(inline_bodies.get(), (std::vector<std::string>{"inline-0", "inline-1", "inline-2"}));
}

int ThreadNice() { return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid))); }

// A streaming response is served by the stream threads (lower priority), and the connection
// comes back to the request threads when the stream ends.
TEST(ServerTest, StreamsRunOnLowerPriorityThreadsAndComeBack) {
  const int base = ThreadNice();
  if (base >= 19) GTEST_SKIP() << "already at the lowest priority";
  TestHandler h;
  ServerOptions o = PlainOptions();
  o.stream_nice = 5;
  auto srv = StartServer(o, h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  auto first = c.Do("GET", "/nice");
  EXPECT_EQ(first.body(), "ok");
  std::vector<size_t> chunks;
  EXPECT_EQ(ReadChunked(c, "/nice-stream", &chunks), "x\n");
  auto after = c.Do("GET", "/nice");
  EXPECT_EQ(after.body(), "ok");
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while ((h.stream_nice == -100 || h.request_nice == -100) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(h.stream_nice.load(), std::min(19, base + 5));
  EXPECT_EQ(h.request_nice.load(), base);  // the request after the stream
  // And with no stream threads, streams stay where requests run.
  TestHandler h2;
  o.stream_io_threads = 0;
  auto srv2 = StartServer(o, h2);
  ASSERT_TRUE(srv2.ok());
  PlainClient c2((*srv2)->port());
  EXPECT_EQ(ReadChunked(c2, "/nice-stream", &chunks), "x\n");
  while (h2.stream_nice == -100 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(h2.stream_nice.load(), base);
}

// Back-to-back short streamed responses on one keep-alive connection (kubectl logs
// --all-containers): each response is moved to the stream threads and back while the next one's
// handler already writes; every response must still start with its status line. (The head and
// the body were posted to whichever strand was current at the time, and a move in between ran
// the body first: kubectl read "malformed HTTP response \"9\"".)
TEST(ServerTest, ShortStreamsBackToBackKeepTheirHeadFirst) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  for (int i = 0; i < 3000; ++i) {
    http::response<http::string_body> r;
    try {
      r = c.Do("GET", i % 3 == 2 ? "/x" : "/tiny-stream");
    } catch (const std::exception& e) {
      FAIL() << "response " << i << ": " << e.what();
    }
    if (i % 3 == 2) continue;
    ASSERT_EQ(r.result_int(), 200) << i;
    ASSERT_EQ(r.body(), "from-two\n") << i;
  }
}

// 200 streams kept busy (half of them read by their clients, half never read) do not hold up
// requests: while the pump writes, requests on another connection complete, every non-reading
// stream is cut off at the backlog bound, and the reading ones receive data.
TEST(ServerTest, RequestsCompleteWhileManyStreamsAreSaturated) {
  TestHandler h;
  ServerOptions o = PlainOptions();
  o.max_queued_bytes = 2u << 20;
  auto srv = StartServer(o, h);
  ASSERT_TRUE(srv.ok());
  const int port = (*srv)->port();
  constexpr int kStreams = 200;
  asio::io_context cio;
  std::vector<std::unique_ptr<tcp::socket>> socks;
  std::atomic<uint64_t> received{0};
  std::vector<char> sink(64 * 1024);
  std::function<void(tcp::socket*)> drain = [&](tcp::socket* s) {
    s->async_read_some(asio::buffer(sink), [&, s](beast::error_code ec, size_t n) {
      received += n;
      if (!ec) drain(s);
    });
  };
  const std::string get = "GET /pump HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < kStreams; ++i) {
    auto s = std::make_unique<tcp::socket>(cio);
    s->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    asio::write(*s, asio::buffer(get));
    if (i % 2 == 0) drain(s.get());  // odd ones never read
    socks.push_back(std::move(s));
  }
  std::thread client([&] { cio.run(); });
  auto deadline = std::chrono::steady_clock::now() + kWait;
  auto pumps = [&] {
    std::lock_guard<std::mutex> l(h.mu);
    return h.pumps;
  };
  while (pumps().size() < kStreams && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(pumps().size(), static_cast<size_t>(kStreams));
  // The pump: one shared 64 KiB piece to every live stream per round, as a watch cache does.
  std::atomic<bool> stop{false};
  std::atomic<int> cut{0};
  std::thread pump([&, ws = pumps()]() mutable {
    auto piece = std::make_shared<const std::string>(64 * 1024, 'w');
    std::vector<bool> live(ws.size(), true);
    while (!stop) {
      for (size_t i = 0; i < ws.size(); ++i)
        if (live[i] && !ws[i]->WriteShared({&piece, 1})) {
          live[i] = false;
          ++cut;
        }
      std::this_thread::sleep_for(1ms);
    }
  });
  auto requests = std::async(std::launch::async, [port] {
    PlainClient c(port);
    int ok = 0;
    for (int i = 0; i < 50; ++i) ok += c.Do("POST", "/create", "{}").result_int() == 201;
    return ok;
  });
  bool completed = requests.wait_for(kWait) == std::future_status::ready;
  while (cut < kStreams / 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  const uint64_t got = received.load();
  stop = true;
  pump.join();
  cio.stop();
  client.join();
  ASSERT_TRUE(completed) << "requests did not complete while streams were busy";
  EXPECT_EQ(requests.get(), 50);
  EXPECT_GE(cut.load(), kStreams / 2);  // at least every non-reading stream
  EXPECT_GT(got, 2u << 20);
  std::lock_guard<std::mutex> l(h.mu);
  h.pumps.clear();
}

TEST(ServerTest, BindFailureIsAnError) {
  TestHandler h;
  auto a = StartServer(PlainOptions(), h);
  ASSERT_TRUE(a.ok());
  ServerOptions o = PlainOptions();
  o.port = (*a)->port();
  auto b = StartServer(o, h);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable);
}

TEST(ServerTest, ManyConcurrentClients) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 64; ++i)
    ts.emplace_back([&, port = (*srv)->port()] {
      PlainClient c(port);
      for (int k = 0; k < 5; ++k) ok += c.Do("GET", "/c").result_int() == 201;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 64 * 5);
}

// ---------------------------------------------------------------- TLS + authentication

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (std::filesystem::temp_directory_path() / "tug-srv-XXXXXX").string();
    dir_ = mkdtemp(t.data());
    auto f = pki::EnsurePki({dir_, "127.0.0.1", 6443, "testhost"});
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    files_ = *f;
    auto tokens = authn::ParseTokenCsv("tok123,alice,u1,\"dev,ops\"\n", "t");
    ASSERT_TRUE(tokens.ok());
    authn_ = std::make_unique<authn::Authenticator>(std::move(tokens).value());
    ServerOptions o;
    o.bind_address = "127.0.0.1";
    o.port = 0;
    o.tls = true;
    o.tls_files = {files_.serving_cert, files_.serving_key, files_.ca_cert};
    o.authenticator = authn_.get();
    auto s = StartServer(o, h_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    srv_ = std::move(s).value();
  }
  void TearDown() override {
    if (srv_) srv_->Stop();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  pki::PkiFiles files_;
  std::unique_ptr<authn::Authenticator> authn_;
  TestHandler h_;
  ServerPtr srv_;
};

TEST_F(TlsServerTest, NoCredentialsIs401ExceptHealth) {
  TlsClient c(srv_->port(), files_, false);
  EXPECT_EQ(c.Alpn(), "http/1.1");
  auto r = c.Do("GET", "/api/v1/pods");
  EXPECT_EQ(r.result_int(), 401);
  Json j = BodyJson(r);
  EXPECT_EQ(j, Json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                               "message":"Unauthorized","reason":"Unauthorized","code":401})"));
  auto health = c.Do("GET", "/readyz");
  EXPECT_EQ(health.result_int(), 201);
  EXPECT_EQ(BodyJson(health)["user"], "system:anonymous");
  EXPECT_EQ(h_.calls.load(), 1);
}

TEST_F(TlsServerTest, ClientCertificateAuthenticates) {
  TlsClient c(srv_->port(), files_, true);
  auto r = c.Do("GET", "/api");
  ASSERT_EQ(r.result_int(), 201);
  Json j = BodyJson(r);
  EXPECT_EQ(j["user"], "system:admin");
  EXPECT_EQ(j["groups"], Json::parse(R"(["system:masters","system:authenticated"])"));
}

TEST_F(TlsServerTest, BearerToken) {
  TlsClient c(srv_->port(), files_, false);
  auto r = c.Do("GET", "/api", {{"Authorization", "Bearer tok123"}});
  ASSERT_EQ(r.result_int(), 201);
  EXPECT_EQ(BodyJson(r)["user"], "alice");
  EXPECT_EQ(BodyJson(r)["groups"], Json::parse(R"(["dev","ops","system:authenticated"])"));
  // A wrong token is refused even on health paths (as upstream).
  EXPECT_EQ(c.Do("GET", "/healthz", {{"Authorization", "Bearer nope"}}).result_int(), 401);
}

TEST_F(TlsServerTest, ForeignClientCertificateFailsHandshake) {
  // A client cert from another CA must not be accepted.
  std::string t = (std::filesystem::temp_directory_path() / "tug-srv2-XXXXXX").string();
  std::string other = mkdtemp(t.data());
  auto f2 = pki::EnsurePki({other, "127.0.0.1", 6443, "x"});
  ASSERT_TRUE(f2.ok());
  pki::PkiFiles mixed = files_;
  mixed.admin_cert = f2->admin_cert;
  mixed.admin_key = f2->admin_key;
  bool failed = false;
  try {
    TlsClient c(srv_->port(), mixed, true);
    // TLS 1.3: the server's verdict on the client cert may only arrive with the first read.
    c.Do("GET", "/api");
  } catch (const std::exception&) {
    failed = true;
  }
  EXPECT_TRUE(failed);
  EXPECT_EQ(h_.calls.load(), 0);
  std::filesystem::remove_all(other);
}

// A connection that never starts its handshake holds a handshake slot until its timeout; with
// the slots full the server accepts nothing more, and resumes as slots free up, in order.
TEST_F(TlsServerTest, HandshakesBeyondTheLimitWaitForAFreeSlot) {
  srv_->Stop();
  ServerOptions o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.tls_files = {files_.serving_cert, files_.serving_key, files_.ca_cert};
  o.authenticator = authn_.get();
  o.max_concurrent_handshakes = 2;
  o.handshake_timeout_seconds = 1;
  auto s = StartServer(o, h_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  srv_ = std::move(s).value();
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(srv_->port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{static_cast<time_t>(kWait.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (srv_->open_connections() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  // The third waits in the accept queue until a handshake times out (1 s from its accept).
  EXPECT_EQ(srv_->open_connections(), 2u);
  // Every one of them is accepted in turn and closed at its timeout (a read sees the end).
  for (int fd : fds) {
    char b;
    ssize_t n = ::recv(fd, &b, 1, 0);
    EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << "n=" << n << " errno=" << errno;
    ::close(fd);
  }
  TlsClient c(srv_->port(), files_, true);
  EXPECT_EQ(c.Do("GET", "/api").result_int(), 201);
}

// ---------------------------------------------------------------- HTTP Upgrade

const char kUpgradeHeaders[] = "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n";

// Reads from s until `want` has been seen (or EOF / error); returns everything read.
template <class S>
std::string ReadUntil(S& s, const std::string& want) {
  std::string got;
  char buf[1024];
  while (got.find(want) == std::string::npos) {
    beast::error_code ec;
    size_t n = s.read_some(asio::buffer(buf), ec);
    got.append(buf, n);
    if (ec) break;
  }
  return got;
}

template <class S>
std::string ReadToEof(S& s) {
  std::string got;
  char buf[1024];
  for (;;) {
    beast::error_code ec;
    size_t n = s.read_some(asio::buffer(buf), ec);
    got.append(buf, n);
    if (ec) break;
  }
  return got;
}

TEST(UpgradeTest, HandlerTakesOverThePlainConnection) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  auto& sock = c.s.socket();
  // Bytes sent right behind the request (before the 101) must reach the handler too.
  asio::write(sock, asio::buffer("POST /upgrade HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n" + std::string(kUpgradeHeaders) +
                                 "\r\nearly-"));
  std::string got = ReadUntil(sock, "EARLY-");
  EXPECT_EQ(got.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("EARLY-"), std::string::npos) << got;
  asio::write(sock, asio::buffer(std::string("hello")));
  EXPECT_EQ(ReadUntil(sock, "HELLO"), "HELLO");
  sock.shutdown(tcp::socket::shutdown_send);  // half-close: the handler sees EOF, answers, closes
  EXPECT_EQ(ReadToEof(sock), "BYE");
  EXPECT_EQ(h.calls.load(), 1);
}

TEST(UpgradeTest, RefusedUpgradeIsAnsweredThenTheConnectionCloses) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  auto r = c.Do("GET", "/upgrade-refused", "", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}});
  EXPECT_EQ(r.result_int(), 400);
  EXPECT_EQ(BodyJson(r)["message"], "no such container");
  EXPECT_FALSE(r.keep_alive());
  EXPECT_EQ(ReadToEof(c.s.socket()), "");  // closed: no second request on this connection
}

TEST(UpgradeTest, HijackOfAnOrdinaryRequestFails) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  auto r = c.Do("GET", "/upgrade");  // no Connection: Upgrade
  EXPECT_EQ(r.result_int(), 400);
  EXPECT_EQ(BodyJson(r)["message"], "not an upgrade request");
  EXPECT_TRUE(r.keep_alive());
  EXPECT_EQ(c.Do("GET", "/after").result_int(), 201);  // the connection is still HTTP
}

TEST(UpgradeTest, StopCutsUpgradedConnections) {
  TestHandler h;
  auto srv = StartServer(PlainOptions(), h);
  ASSERT_TRUE(srv.ok());
  PlainClient c((*srv)->port());
  asio::write(c.s.socket(),
              asio::buffer("GET /upgrade-hold HTTP/1.1\r\nHost: x\r\n" + std::string(kUpgradeHeaders) + "\r\n"));
  ASSERT_EQ(h.held_upgrade.get_future().wait_for(kWait), std::future_status::ready);
  EXPECT_EQ((*srv)->open_connections(), 1u);
  (*srv)->Stop();  // must not hang on the handler blocked in Read
  EXPECT_TRUE(h.held_upgrade_ended.load());
  EXPECT_EQ((*srv)->open_connections(), 0u);
}

TEST_F(TlsServerTest, UpgradeOverTlsStaysHttp11AndRelaysBytes) {
  TlsClient c(srv_->port(), files_, true);
  EXPECT_EQ(c.Alpn(), "http/1.1");  // h2 was offered first; upgrades need HTTP/1.1
  asio::write(*c.s, asio::buffer("GET /upgrade HTTP/1.1\r\nHost: x\r\n" + std::string(kUpgradeHeaders) + "\r\n"));
  std::string got = ReadUntil(*c.s, "\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 101 ", 0), 0u) << got;
  // Several TLS records each way (one stream is not used from two threads: write, then read back).
  for (int i = 0; i < 8; ++i) {
    std::string chunk(40 * 1024, static_cast<char>('a' + i));
    asio::write(*c.s, asio::buffer(chunk));
    std::string echoed;
    while (echoed.size() < chunk.size()) {
      char buf[16384];
      size_t n = c.s->read_some(asio::buffer(buf));
      echoed.append(buf, n);
    }
    EXPECT_EQ(echoed, std::string(chunk.size(), static_cast<char>('A' + i)));
  }
  beast::get_lowest_layer(*c.s).socket().shutdown(tcp::socket::shutdown_send);
  std::string rest = ReadToEof(*c.s);
  EXPECT_EQ(rest, "BYE");
}

// ---------------------------------------------------------------- decoding helpers

TEST(DecodeTest, PercentDecode) {
  struct Case {
    const char* in;
    bool query;
    const char* out;
  } cases[] = {
      {"/a%2Fb", false, "/a/b"},   {"a+b", false, "a+b"}, {"a+b", true, "a b"},   {"%zz", true, "%zz"},
      {"%4", true, "%4"},          {"%41%42", true, "AB"}, {"%e2%9c%93", true, "\xe2\x9c\x93"}, {"", true, ""},
  };
  for (const auto& c : cases) EXPECT_EQ(PercentDecode(c.in, c.query), c.out) << c.in;
  auto q = ParseQuery("a=1&&b=&c&a=x%3Dy");
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(q[1], (std::pair<std::string, std::string>{"b", ""}));
  EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"c", ""}));
  EXPECT_EQ(q[3], (std::pair<std::string, std::string>{"a", "x=y"}));
}

}  // namespace
}  // namespace tug::apiserver::server
