#include "kubelet/server/kubelet_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <deque>
#include <fstream>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "base/log.h"
#include "kubelet/server/byte_transport.h"
#include "kubelet/server/cri_log.h"
#include "kubelet/server/portforward.h"
#include "kubelet/server/remote_command.h"

namespace tug::kubelet::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

constexpr const char* kComponent = "kubelet-server";

int HttpCode(const Status& st) { return HttpCodeOf(st.code()); }

std::vector<std::string> SplitPath(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    if (j > i) out.emplace_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string PctDecode(std::string_view s, bool query) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && isxdigit(static_cast<unsigned char>(s[i + 1])) && isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (query && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Query {
  std::vector<std::pair<std::string, std::string>> kv;
  std::string Get(std::string_view k, std::string def = "") const {
    for (auto& [a, b] : kv)
      if (a == k) return b;
    return def;
  }
  bool Has(std::string_view k) const {
    for (auto& [a, b] : kv)
      if (a == k) return true;
    return false;
  }
  bool True(std::string_view k) const {
    if (!Has(k)) return false;
    std::string v = Get(k);
    return v.empty() || v == "true" || v == "1";
  }
  std::vector<std::string> All(std::string_view k) const {
    std::vector<std::string> r;
    for (auto& [a, b] : kv)
      if (a == k) r.push_back(b);
    return r;
  }
};

Query ParseQ(std::string_view raw) {
  Query q;
  size_t i = 0;
  while (i <= raw.size() && !raw.empty()) {
    size_t j = raw.find('&', i);
    if (j == std::string_view::npos) j = raw.size();
    std::string_view part = raw.substr(i, j - i);
    if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string_view::npos)
        q.kv.emplace_back(PctDecode(part, true), "");
      else
        q.kv.emplace_back(PctDecode(part.substr(0, eq), true), PctDecode(part.substr(eq + 1), true));
    }
    i = j + 1;
  }
  return q;
}

std::optional<int64_t> IntParam(const Query& q, std::string_view k, bool* bad) {
  if (!q.Has(k)) return std::nullopt;
  try {
    size_t pos = 0;
    std::string v = q.Get(k);
    int64_t n = std::stoll(v, &pos);
    if (pos != v.size()) throw std::invalid_argument(v);
    return n;
  } catch (...) {
    *bad = true;
    return std::nullopt;
  }
}

// Runs the WebSocket side of exec/attach on `ioc` (single-threaded) until the process ends or
// the client goes away.
//
// client-go's WebSocket executor registers its streams after the handshake, in a goroutine that
// races its reader: a message for a stream not registered yet is dropped ("Unknown stream id 1,
// discarding message"), so a command's first output could be lost. A message from the client
// proves its streams exist (kubectl -t sends the terminal size once they do), so the process's
// output waits for the client's first message, or for `hold` at most.
template <class WS>
class StreamSession : public std::enable_shared_from_this<StreamSession<WS>> {
 public:
  StreamSession(asio::io_context& ioc, WS& ws, StreamProcess proc, bool v5, std::chrono::milliseconds hold)
      : ioc_(ioc), ws_(ws), proc_(std::move(proc)), v5_(v5), hold_(hold), hold_timer_(ioc) {}

  void Start() {
    ReadClient();
    hold_timer_.expires_after(hold_);
    hold_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) self->StartOutputs();  // aborted: started by a client message, or stopped
    });
  }

 private:
  void StartOutputs() {
    if (outputs_started_) return;
    outputs_started_ = true;
    hold_timer_.cancel();
    for (auto [fd, ch] : proc_.outputs) {
      int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (d < 0) continue;
      auto sd = std::make_shared<asio::posix::stream_descriptor>(ioc_, d);
      descs_.push_back(sd);
      ++open_outputs_;
      ReadOutput(sd, ch);
    }
    if (open_outputs_ == 0) Finish();
  }

  void ReadOutput(std::shared_ptr<asio::posix::stream_descriptor> sd, uint8_t ch) {
    auto buf = std::make_shared<std::array<char, 32768>>();
    sd->async_read_some(asio::buffer(*buf), [self = this->shared_from_this(), sd, ch, buf](beast::error_code ec, size_t n) {
      if (self->finishing_) return;  // the status is the last message
      if (ec || n == 0) {
        if (--self->open_outputs_ == 0) self->Finish();
        return;
      }
      std::string msg;
      if (self->proc_.packets) {
        uint8_t s = static_cast<uint8_t>((*buf)[0]);
        msg.push_back(static_cast<char>(s == 3 ? 2 : 1));
        msg.append(buf->data() + 1, n - 1);
      } else {
        msg.push_back(static_cast<char>(ch));
        msg.append(buf->data(), n);
      }
      self->Send(std::move(msg));
      self->ReadOutput(sd, ch);
    });
  }

  void ReadClient() {
    ws_.async_read(in_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->client_gone_ = true;
        self->Stop();
        return;
      }
      std::string data = beast::buffers_to_string(self->in_.data());
      self->in_.consume(self->in_.size());
      if (!data.empty()) {
        uint8_t ch = static_cast<uint8_t>(data[0]);
        std::string_view body(data.data() + 1, data.size() - 1);
        if (ch == 0 && self->proc_.write_stdin) {
          self->proc_.write_stdin(body);
        } else if (ch == 4 && self->proc_.resize) {
          try {
            auto j = nlohmann::json::parse(body);
            self->proc_.resize(j.value("Height", 0), j.value("Width", 0));
          } catch (...) {
          }
        } else if (ch == 255 && self->v5_ && !body.empty() && body[0] == 0 && self->proc_.close_stdin) {
          self->proc_.close_stdin();
          if (self->proc_.end_with_stdin) self->Finish();
        }
      }
      self->StartOutputs();
      self->ReadClient();
    });
  }

  void Send(std::string msg) {
    if (client_gone_) return;
    out_.push_back(std::move(msg));
    if (!writing_) DoWrite();
  }

  void DoWrite() {
    if (out_.empty()) {
      if (finishing_) Close();
      return;
    }
    writing_ = true;
    ws_.async_write(asio::buffer(out_.front()), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      self->out_.pop_front();
      if (ec) {
        self->client_gone_ = true;
        self->Stop();
        return;
      }
      self->DoWrite();
    });
  }

  void Finish() {
    if (finishing_) return;
    Result<int> rc = proc_.wait ? proc_.wait() : Result<int>(0);
    std::string st = rc.ok() ? ExitStatusJson(*rc) : FailureJson(rc.status().message());
    finishing_ = true;
    Send(std::string(1, '\x03') + st);
    if (!writing_) DoWrite();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    ws_.async_close(websocket::close_code::normal, [self = this->shared_from_this()](beast::error_code) {
      self->Stop();
    });
  }

  void Stop() {
    hold_timer_.cancel();
    for (auto& d : descs_) {
      beast::error_code ec;
      d->close(ec);
    }
    ioc_.stop();
  }

  asio::io_context& ioc_;
  WS& ws_;
  StreamProcess proc_;
  bool v5_;
  std::chrono::milliseconds hold_;
  asio::steady_timer hold_timer_;
  bool outputs_started_ = false;
  beast::flat_buffer in_;
  std::deque<std::string> out_;
  std::vector<std::shared_ptr<asio::posix::stream_descriptor>> descs_;
  int open_outputs_ = 0;
  bool writing_ = false, finishing_ = false, closed_ = false, client_gone_ = false;
};

class ServerImpl final : public KubeletServer {
 public:
  explicit ServerImpl(const KubeletServerOptions& o) : opts_(o), acceptor_(accept_ioc_) {}
  ~ServerImpl() override { Stop(); }

  Status Init() {
    if (!opts_.runtime || !opts_.resolve) return Status(StatusCode::kBadRequest, "kubelet server needs a runtime and a resolver");
    if (opts_.tls) {
      ssl_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      try {
        ssl_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
        ssl_->use_certificate_chain_file(opts_.cert_file);
        ssl_->use_private_key_file(opts_.key_file, asio::ssl::context::pem);
        if (!opts_.client_ca_file.empty()) {
          ssl_->load_verify_file(opts_.client_ca_file);
          ssl_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
        }
      } catch (const std::exception& e) {
        return Status(StatusCode::kBadRequest, std::string("kubelet server TLS setup: ") + e.what());
      }
    }
    beast::error_code ec;
    tcp::endpoint ep(asio::ip::make_address(opts_.bind_address, ec), static_cast<unsigned short>(opts_.port));
    if (ec) return Status(StatusCode::kBadRequest, "bad bind address " + opts_.bind_address);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status(StatusCode::kUnavailable, "kubelet server listen: " + ec.message());
    ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    TUG_LOG(INFO, kComponent) << "listening" << kv("port", port_) << kv("tls", opts_.tls);
    return Status();
  }

  int port() const override { return port_; }

  void Stop() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopped_) return;
      stopped_ = true;
      for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    beast::error_code ec;
    acceptor_.close(ec);
    std::list<std::thread> threads;
    {
      std::lock_guard<std::mutex> l(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  void AcceptLoop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket sock(accept_ioc_);
      acceptor_.accept(sock, ec);
      std::lock_guard<std::mutex> l(mu_);
      if (stopped_) return;
      if (ec) {
        if (ec == asio::error::bad_descriptor || ec == asio::error::invalid_argument) return;
        continue;
      }
      int fd = sock.release();
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      conn_fds_.insert(fd);
      threads_.emplace_back([this, fd] {
        Serve(fd);
        std::lock_guard<std::mutex> l2(mu_);
        conn_fds_.erase(fd);
      });
    }
  }

  void Serve(int fd) {
    asio::io_context ioc;
    tcp::socket sock(ioc);
    beast::error_code ec;
    sock.assign(tcp::v4(), fd, ec);  // protocol only selects the family for option calls
    if (ec) {
      ::close(fd);
      return;
    }
    if (ssl_) {
      asio::ssl::stream<tcp::socket> s(std::move(sock), *ssl_);
      s.handshake(asio::ssl::stream_base::server, ec);
      if (ec) {
        TUG_VLOG(4, kComponent) << "tls handshake failed" << kv("err", ec.message());
        return;
      }
      ServeStream(ioc, s, fd);
    } else {
      ServeStream(ioc, sock, fd);
    }
  }

  template <class S>
  void ServeStream(asio::io_context& ioc, S& s, int fd) {
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      beast::error_code ec;
      http::read(s, buf, parser, ec);
      if (ec) return;
      auto req = parser.release();
      bool keep = req.keep_alive();
      if (IsSpdyUpgrade(req)) {
        std::string leftover = beast::buffers_to_string(buf.data());
        HandleSpdyUpgrade(ioc, s, fd, std::move(req), std::move(leftover));
        return;
      }
      if (websocket::is_upgrade(req)) {
        HandleUpgrade(ioc, s, fd, std::move(req));
        return;
      }
      if (!Handle(s, req, fd)) return;
      if (!keep) return;
    }
  }

  template <class S>
  bool Reply(S& s, const http::request<http::string_body>& req, int code, std::string body,
             std::string ctype = "text/plain; charset=utf-8") {
    http::response<http::string_body> res{static_cast<http::status>(code), req.version()};
    res.set(http::field::content_type, ctype);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    beast::error_code ec;
    http::write(s, res, ec);
    return !ec;
  }

  struct Parsed {
    std::vector<std::string> parts;
    Query q;
  };
  static Parsed ParseTarget(std::string_view target) {
    Parsed p;
    size_t qi = target.find('?');
    for (auto& seg : SplitPath(target.substr(0, qi))) p.parts.push_back(PctDecode(seg, false));
    if (qi != std::string_view::npos) p.q = ParseQ(target.substr(qi + 1));
    return p;
  }

  template <class S>
  bool Handle(S& s, const http::request<http::string_body>& req, int fd) {
    Parsed p = ParseTarget(std::string_view(req.target().data(), req.target().size()));
    if (p.parts.size() == 4 && p.parts[0] == "containerLogs") {
      if (req.method() != http::verb::get) return Reply(s, req, 405, "method not allowed\n");
      return ServeLogs(s, req, p, fd);
    }
    if (!p.parts.empty() && (p.parts[0] == "exec" || p.parts[0] == "attach" || p.parts[0] == "portForward"))
      return Reply(s, req, 400, "Upgrade request required\n");
    if (!opts_.get_handlers.empty()) {
      std::string path;
      for (const auto& part : p.parts) path += "/" + part;
      if (auto it = opts_.get_handlers.find(path); it != opts_.get_handlers.end()) {
        if (req.method() != http::verb::get) return Reply(s, req, 405, "method not allowed\n");
        auto doc = it->second();
        if (!doc.ok()) return Reply(s, req, HttpCode(doc.status()), doc.status().message() + "\n");
        return Reply(s, req, 200, std::move(doc->second), doc->first);
      }
    }
    if (p.parts.size() == 1 && p.parts[0] == "healthz") return Reply(s, req, 200, "ok");
    return Reply(s, req, 404, "404 page not found\n");
  }

  // Whether `path` exists and is not the file open at `fd` (renamed away, then recreated).
  static bool PathNamesAnotherFile(int fd, const std::string& path) {
    struct stat open_file {}, named {};
    if (::fstat(fd, &open_file) != 0 || ::stat(path.c_str(), &named) != 0) return false;
    return open_file.st_ino != named.st_ino || open_file.st_dev != named.st_dev;
  }

  static bool PeerGone(int fd) {
    pollfd p{fd, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

  template <class S>
  bool ServeLogs(S& s, const http::request<http::string_body>& req, const Parsed& p, int fd) {
    bool bad = false;
    LogOptions lo;
    lo.tail_lines = IntParam(p.q, "tailLines", &bad);
    lo.limit_bytes = IntParam(p.q, "limitBytes", &bad);
    auto since_s = IntParam(p.q, "sinceSeconds", &bad);
    if (bad) return Reply(s, req, 400, "invalid integer query parameter\n");
    lo.timestamps = p.q.True("timestamps");
    if (since_s) {
      lo.since_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count() -
                    *since_s * 1000000000LL;
    } else if (p.q.Has("sinceTime")) {
      auto t = ParseRfc3339Nano(p.q.Get("sinceTime"));
      if (!t.ok()) return Reply(s, req, 400, "invalid sinceTime\n");
      lo.since_ns = *t;
    }
    bool follow = p.q.True("follow");
    auto target = opts_.resolve(p.parts[1], p.parts[2], p.parts[3], p.q.True("previous"));
    if (!target.ok()) return Reply(s, req, HttpCode(target.status()), target.status().message() + "\n");
    int lfd = ::open(target->log_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (lfd < 0 && errno != ENOENT) return Reply(s, req, 500, "cannot open log file\n");
    // Read what is there now.
    std::string rest, data;
    auto read_more = [&]() {
      std::string chunk;
      if (lfd < 0) return chunk;
      char b[65536];
      for (;;) {
        ssize_t n = ::read(lfd, b, sizeof b);
        if (n <= 0) break;
        chunk.append(b, static_cast<size_t>(n));
      }
      return chunk;
    };
    std::vector<CriLogEntry> entries;
    for (auto& line : SplitLines(read_more(), rest)) {
      auto e = ParseCriLogLine(line);
      if (e.ok()) entries.push_back(std::move(*e));
    }
    size_t start = lo.tail_lines ? SelectTail(entries, *lo.tail_lines) : 0;
    LogFormatter fmt(lo);
    std::string out;
    for (size_t i = start; i < entries.size(); ++i)
      if (!fmt.Append(entries[i], out)) break;

    http::response<http::empty_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain");
    res.chunked(true);
    res.keep_alive(false);
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    http::write_header(s, sr, ec);
    if (ec) return false;
    auto write_chunk = [&](const std::string& d) {
      if (d.empty()) return true;
      asio::write(s, http::make_chunk(asio::buffer(d)), ec);
      return !ec;
    };
    bool ok = write_chunk(out);
    while (ok && follow && !fmt.done()) {
      auto st = opts_.runtime->ContainerStatusOf(target->container_id);
      bool running = st.ok() && (st->state == runtime::ContainerState::kRunning || st->state == runtime::ContainerState::kCreated);
      if (lfd < 0) lfd = ::open(target->log_path.c_str(), O_RDONLY | O_CLOEXEC);
      std::string more;
      auto format = [&](const std::string& data) {
        for (auto& line : SplitLines(data, rest)) {
          auto e = ParseCriLogLine(line);
          if (e.ok() && !fmt.Append(*e, more)) break;
        }
      };
      format(read_more());
      // Log rotation (kubelet/logs) renames the file and the runtime reopens a new one at the
      // path: once the path names another file, what the writer put into the old one before it
      // switched is read to its end, then the new file from its start.
      if (lfd >= 0 && !fmt.done() && PathNamesAnotherFile(lfd, target->log_path)) {
        format(read_more());
        rest.clear();  // a torn last line of the old file is not joined to the new file's first
        ::close(lfd);
        lfd = ::open(target->log_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (!fmt.done()) format(read_more());
      }
      ok = write_chunk(more);
      if (!running) break;  // everything written before it exited has been read above
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stopped_) break;
      }
      if (PeerGone(fd)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(opts_.follow_poll_ms));
    }
    if (lfd >= 0) ::close(lfd);
    if (ok) asio::write(s, http::make_chunk_last(), ec);
    return false;  // close after a log stream
  }

  static bool IsSpdyUpgrade(const http::request<http::string_body>& req) {
    std::string up(req[http::field::upgrade]);
    for (char& c : up) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return up.find("spdy/3.1") != std::string::npos;
  }

  static std::vector<std::string> CommaValues(const http::request<http::string_body>& req, std::string_view name) {
    std::vector<std::string> out;
    auto range = req.equal_range(beast::string_view(name.data(), name.size()));
    for (auto it = range.first; it != range.second; ++it) {
      std::stringstream ss{std::string(it->value())};
      std::string tok;
      while (std::getline(ss, tok, ',')) {
        while (!tok.empty() && tok.front() == ' ') tok.erase(0, 1);
        while (!tok.empty() && tok.back() == ' ') tok.pop_back();
        if (!tok.empty()) out.push_back(tok);
      }
    }
    return out;
  }

  // The first protocol the client offers that the server supports (client order, as upstream).
  static std::string Negotiate(const std::vector<std::string>& offered, const std::vector<std::string>& supported) {
    for (const auto& o : offered)
      for (const auto& s : supported)
        if (o == s) return o;
    return "";
  }

  RemoteCommandOptions CommandOptions(const Parsed& p) {
    RemoteCommandOptions o;
    o.command = p.q.All("command");
    o.tty = p.q.True("tty");
    o.stdin = p.q.True("stdin");
    o.stdout = !p.q.Has("stdout") || p.q.True("stdout");
    o.stderr = !o.tty && (p.q.True("stderr") || !p.q.Has("stderr"));
    return o;
  }

  // `Upgrade: SPDY/3.1` for exec, attach and portForward.
  template <class S>
  void HandleSpdyUpgrade(asio::io_context& ioc, S& s, int fd, http::request<http::string_body> req,
                         std::string leftover) {
    Parsed p = ParseTarget(std::string_view(req.target().data(), req.target().size()));
    bool is_exec = p.parts.size() == 4 && p.parts[0] == "exec";
    bool is_attach = p.parts.size() == 4 && p.parts[0] == "attach";
    bool is_pf = (p.parts.size() == 3 || p.parts.size() == 4) && p.parts[0] == "portForward";
    if (!is_exec && !is_attach && !is_pf) {
      Reply(s, req, 404, "404 page not found\n");
      return;
    }
    auto offered = CommaValues(req, "X-Stream-Protocol-Version");
    static const std::vector<std::string> kPortForward = {"portforward.k8s.io"};
    const auto& supported = is_pf ? kPortForward : SpdyRemoteCommandProtocols();
    if (offered.empty()) {
      Reply(s, req, 400, "unable to upgrade: X-Stream-Protocol-Version is required\n");
      return;
    }
    std::string proto = Negotiate(offered, supported);
    if (proto.empty()) {
      std::string client, server;
      for (auto& o : offered) client += (client.empty() ? "" : " ") + o;
      for (auto& o : supported) server += (server.empty() ? "" : " ") + o;
      http::response<http::string_body> res{http::status::forbidden, req.version()};
      for (auto& o : supported) res.insert("X-Accepted-Stream-Protocol-Versions", o);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "unable to upgrade: unable to negotiate protocol: client supports [" + client +
                   "], server accepts [" + server + "]\n";
      res.keep_alive(false);
      res.prepare_payload();
      beast::error_code ec;
      http::write(s, res, ec);
      return;
    }
    constexpr bool kPlain = std::is_same_v<S, tcp::socket>;
    auto upgrade = [&]() {
      std::string head = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                         "X-Stream-Protocol-Version: " + proto + "\r\n\r\n";
      beast::error_code ec;
      asio::write(s, asio::buffer(head), ec);
      return !ec;
    };
    if (is_pf) {
      auto target = FindPodNetwork(*opts_.runtime, p.parts[1], p.parts[2], p.parts.size() == 4 ? p.parts[3] : "");
      if (!target.ok()) {
        Reply(s, req, HttpCode(target.status()), target.status().message() + "\n");
        return;
      }
      if (!upgrade()) return;
      ServeSpdyPortForward(ioc, std::make_unique<StreamByteTransport<S>>(s, fd, kPlain, std::move(leftover)), *target);
      return;
    }
    RemoteCommandOptions o = CommandOptions(p);
    // The client opens one stream per requested channel: absent means not requested.
    o.stdout = p.q.True("stdout");
    o.stderr = !o.tty && p.q.True("stderr");
    if (is_exec && o.command.empty()) {
      Reply(s, req, 400, "you must specify at least one command for the container\n");
      return;
    }
    if (!o.stdin && !o.stdout && !o.stderr) {
      Reply(s, req, 400, "you must specify at least 1 of stdin, stdout, stderr\n");
      return;
    }
    auto target = opts_.resolve(p.parts[1], p.parts[2], p.parts[3], false);
    if (!target.ok()) {
      Reply(s, req, HttpCode(target.status()), target.status().message() + "\n");
      return;
    }
    if (!upgrade()) return;
    runtime::Runtime* rt = opts_.runtime;
    std::string cid = target->container_id;
    ServeSpdyRemoteCommand(ioc, std::make_unique<StreamByteTransport<S>>(s, fd, kPlain, std::move(leftover)), proto, o,
                           [rt, cid, is_exec, o] { return StartRemoteProcess(*rt, cid, is_exec, o); });
  }

  // WebSocket port-forward: SPDY tunnelled in binary messages (kubectl 1.31+), or the channel
  // protocol.
  template <class S>
  void HandlePortForwardWebSocket(asio::io_context& ioc, S& s, int fd, http::request<http::string_body> req,
                                  const Parsed& p) {
    auto offered = CommaValues(req, "Sec-WebSocket-Protocol");
    std::string proto = Negotiate(offered, {"SPDY/3.1+portforward.k8s.io", "v4.channel.k8s.io", "portforward.k8s.io"});
    if (proto.empty() && !offered.empty()) {
      Reply(s, req, 400, "no supported subprotocol (SPDY/3.1+portforward.k8s.io, v4.channel.k8s.io, portforward.k8s.io) offered\n");
      return;
    }
    std::vector<int> ports;
    bool tunnel = proto == "SPDY/3.1+portforward.k8s.io";
    if (!tunnel) {
      auto pl = ParsePortList(p.q.All("port").empty() ? p.q.All("ports") : p.q.All("port"));
      if (!pl.ok()) {
        Reply(s, req, 400, pl.status().message() + "\n");
        return;
      }
      ports = std::move(*pl);
    }
    auto target = FindPodNetwork(*opts_.runtime, p.parts[1], p.parts[2], p.parts.size() == 4 ? p.parts[3] : "");
    if (!target.ok()) {
      Reply(s, req, HttpCode(target.status()), target.status().message() + "\n");
      return;
    }
    websocket::stream<S&> ws(s);
    ws.set_option(websocket::stream_base::decorator([proto](websocket::response_type& r) {
      if (!proto.empty()) r.set(http::field::sec_websocket_protocol, proto);
    }));
    beast::error_code ec;
    ws.accept(req, ec);
    if (ec) return;
    auto t = std::make_unique<WebSocketByteTransport<websocket::stream<S&>>>(ws, fd, true);
    if (tunnel)
      ServeSpdyPortForward(ioc, std::move(t), *target);
    else
      ServeWebSocketPortForward(ioc, std::move(t), *target, ports);
  }

  template <class S>
  void HandleUpgrade(asio::io_context& ioc, S& s, int fd, http::request<http::string_body> req) {
    Parsed p = ParseTarget(std::string_view(req.target().data(), req.target().size()));
    bool is_exec = p.parts.size() == 4 && p.parts[0] == "exec";
    bool is_attach = p.parts.size() == 4 && p.parts[0] == "attach";
    if ((p.parts.size() == 3 || p.parts.size() == 4) && p.parts[0] == "portForward") {
      HandlePortForwardWebSocket(ioc, s, fd, std::move(req), p);
      return;
    }
    if (!is_exec && !is_attach) {
      Reply(s, req, 404, "unsupported upgrade\n");
      return;
    }
    std::string proto = Negotiate(CommaValues(req, "Sec-WebSocket-Protocol"), {"v5.channel.k8s.io", "v4.channel.k8s.io"});
    if (proto.empty()) {
      Reply(s, req, 400, "no supported subprotocol (v5.channel.k8s.io, v4.channel.k8s.io) offered\n");
      return;
    }
    auto target = opts_.resolve(p.parts[1], p.parts[2], p.parts[3], false);
    if (!target.ok()) {
      Reply(s, req, HttpCode(target.status()), target.status().message() + "\n");
      return;
    }
    RemoteCommandOptions o = CommandOptions(p);
    if (is_exec && o.command.empty()) {
      Reply(s, req, 400, "you must specify at least one command for the container\n");
      return;
    }
    auto rp = StartRemoteProcess(*opts_.runtime, target->container_id, is_exec, o);
    if (!rp.ok()) {
      Reply(s, req, HttpCode(rp.status()), rp.status().message() + "\n");
      return;
    }
    std::unique_ptr<RemoteProcess> process = std::move(*rp);
    websocket::stream<S&> ws(s);
    ws.set_option(websocket::stream_base::decorator([proto](websocket::response_type& r) {
      r.set(http::field::sec_websocket_protocol, proto);
    }));
    beast::error_code ec;
    ws.accept(req, ec);
    if (ec) return;
    ws.binary(true);
    // kubectl -t always sends the terminal size; other sessions get a short grace only (a client
    // without stdin never sends anything).
    auto hold = o.tty ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(25);
    auto sess = std::make_shared<StreamSession<websocket::stream<S&>>>(ioc, ws, process->proc, proto[1] == '5', hold);
    asio::post(ioc, [sess] { sess->Start(); });
    ioc.restart();
    ioc.run();
  }

  KubeletServerOptions opts_;
  std::unique_ptr<asio::ssl::context> ssl_;
  asio::io_context accept_ioc_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread accept_thread_;
  std::mutex mu_;
  bool stopped_ = false;            // GUARDED_BY(mu_)
  std::set<int> conn_fds_;          // GUARDED_BY(mu_)
  std::list<std::thread> threads_;  // GUARDED_BY(mu_)
};

}  // namespace

Result<std::unique_ptr<KubeletServer>> StartKubeletServer(const KubeletServerOptions& opts) {
  auto s = std::make_unique<ServerImpl>(opts);
  Status st = s->Init();
  if (!st.ok()) return st;
  return std::unique_ptr<KubeletServer>(std::move(s));
}

}  // namespace tug::kubelet::server
