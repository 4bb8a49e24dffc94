#include "kubelet/server/portforward.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "kubelet/server/spdy.h"

namespace tug::kubelet::server {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr const char* kComponent = "kubelet-portforward";
constexpr auto kStreamCreationTimeout = std::chrono::seconds(30);

// Go's wording for a connect error ("connection refused").
std::string ErrnoText(int e) {
  std::string s = std::strerror(e);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

Result<int> ConnectLoopback(bool v6, int port, std::string* err) {
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::string addr = v6 ? "[::1]:" + std::to_string(port) : "127.0.0.1:" + std::to_string(port);
  std::string prefix = std::string("dial ") + (v6 ? "tcp6 " : "tcp4 ") + addr + ": ";
  if (fd < 0) {
    *err = prefix + "socket: " + ErrnoText(errno);
    return InternalError(*err);
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    a.sin6_addr = in6addr_loopback;
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0) {
    int e = errno;
    ::close(fd);
    *err = prefix + "connect: " + ErrnoText(e);
    return InternalError(*err);
  }
  timeval zero{0, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero);
  return fd;
}

// Must run on a thread of its own when netns_path is set: setns changes the calling thread.
Result<int> DialOnThisThread(const std::string& netns_path, const std::string& sandbox_id, int port) {
  std::string where = "failed to execute portforward in network namespace \"" + netns_path + "\": ";
  if (!netns_path.empty()) {
    int nfd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (nfd < 0) return InternalError(where + "open " + netns_path + ": " + ErrnoText(errno));
    int rc = ::setns(nfd, CLONE_NEWNET);
    int e = errno;
    ::close(nfd);
    if (rc != 0) return InternalError(where + "setns: " + ErrnoText(e));
  }
  std::string e4, e6;
  auto r = ConnectLoopback(false, port, &e4);
  if (r.ok()) return r;
  r = ConnectLoopback(true, port, &e6);
  if (r.ok()) return r;
  return UnavailableError(where + "failed to connect to localhost:" + std::to_string(port) + " inside namespace \"" +
                          sandbox_id + "\", IPv4: " + e4 + " IPv6 " + e6 + " ");
}

struct UniqueFd {
  int fd = -1;
  explicit UniqueFd(int f) : fd(f) {}
  ~UniqueFd() {
    if (fd >= 0) ::close(fd);
  }
  int Release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

// Dial threads of one connection; joined when the connection ends.
class Dialer {
 public:
  explicit Dialer(asio::io_context& ioc) : ioc_(ioc) {}
  ~Dialer() { JoinAll(); }
  // cb runs on the io_context with the connected fd (owned) or the error.
  void Dial(const PodNetworkTarget& t, int port, std::function<void(std::shared_ptr<UniqueFd>, Status)> cb) {
    std::lock_guard<std::mutex> l(mu_);
    threads_.emplace_back([this, t, port, cb = std::move(cb)]() mutable {
      auto r = DialOnThisThread(t.netns_path, t.sandbox_id, port);
      std::shared_ptr<UniqueFd> fd = r.ok() ? std::make_shared<UniqueFd>(*r) : nullptr;
      Status st = r.ok() ? Status::Ok() : r.status();
      asio::post(ioc_, [cb = std::move(cb), fd, st]() { cb(fd, st); });
    });
  }
  void JoinAll() {
    std::vector<std::thread> ts;
    {
      std::lock_guard<std::mutex> l(mu_);
      ts.swap(threads_);
    }
    for (auto& t : ts) t.join();
  }

 private:
  asio::io_context& ioc_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

std::string ForwardError(int port, const PodNetworkTarget& t, const Status& st) {
  return "error forwarding port " + std::to_string(port) + " to pod " + t.sandbox_id + ", uid : " + st.message();
}

// ---------------------------------------------------------------- SPDY

class SpdyPortForward : public std::enable_shared_from_this<SpdyPortForward> {
 public:
  SpdyPortForward(asio::io_context& ioc, const PodNetworkTarget& t, Dialer& dialer)
      : ioc_(ioc), target_(t), dialer_(dialer) {}

  void Begin(std::unique_ptr<ByteTransport> transport) {
    std::weak_ptr<SpdyPortForward> w = weak_from_this();
    spdy::Session::Callbacks cb;
    cb.on_stream = [w](uint32_t id, const spdy::Headers& h, bool fin) {
      auto s = w.lock();
      return s && s->OnStream(id, h, fin);
    };
    cb.on_data = [w](uint32_t id, std::string_view d) {
      if (auto s = w.lock()) s->OnData(id, d);
    };
    cb.on_fin = [w](uint32_t id) {
      if (auto s = w.lock()) s->OnFin(id);
    };
    cb.on_reset = [w](uint32_t id, uint32_t) {
      if (auto s = w.lock()) s->OnReset(id);
    };
    cb.on_closed = [w] {
      if (auto s = w.lock()) s->OnClosed();
    };
    session_ = std::make_shared<spdy::Session>(ioc_, std::move(transport), std::move(cb));
    session_->Start();
  }

 private:
  struct Pair {
    std::string request_id;
    int port = 0;
    uint32_t data_id = 0, error_id = 0;
    std::unique_ptr<asio::steady_timer> timer;
    std::unique_ptr<tcp::socket> sock;
    bool dialing = false, failed = false;
    std::deque<std::string> to_target;
    bool writing = false;
    bool client_fin = false;   // the client half-closed the data stream
    bool target_eof = false;   // the pod side half-closed
    bool target_shut = false;  // we passed the client's FIN on
  };

  bool OnStream(uint32_t id, const spdy::Headers& h, bool fin) {
    std::string port_s = spdy::HeaderValue(h, "port");
    int port = 0;
    try {
      size_t pos = 0;
      port = std::stoi(port_s, &pos);
      if (pos != port_s.size()) port = 0;
    } catch (...) {
      port = 0;
    }
    std::string type = spdy::HeaderValue(h, "streamType");
    if (port < 1 || port > 65535 || (type != "error" && type != "data")) {
      TUG_LOG(WARNING, kComponent) << "refusing stream" << kv("port", port_s) << kv("streamType", type);
      return false;
    }
    std::string rid = spdy::HeaderValue(h, "requestID");
    if (rid.empty()) rid = std::to_string(type == "error" ? id : id - 2);  // clients without request ids
    auto& p = pairs_[rid];
    if (!p) {
      p = std::make_shared<Pair>();
      p->request_id = rid;
      p->port = port;
      p->timer = std::make_unique<asio::steady_timer>(ioc_, kStreamCreationTimeout);
      std::weak_ptr<SpdyPortForward> w = weak_from_this();
      p->timer->async_wait([w, rid](boost::system::error_code ec) {
        auto s = w.lock();
        if (ec || !s) return;
        auto it = s->pairs_.find(rid);
        if (it == s->pairs_.end() || (it->second->data_id && it->second->error_id)) return;
        if (it->second->error_id)
          s->session_->Send(it->second->error_id, "timed out waiting for streams", true);
        s->Drop(it->second);
      });
    }
    uint32_t& slot = type == "data" ? p->data_id : p->error_id;
    if (slot != 0) {
      if (p->error_id)
        session_->Send(p->error_id, "error processing stream for request " + rid + ": " + type + " stream already assigned",
                       false);
      return true;
    }
    slot = id;
    by_stream_[id] = p;
    if (type == "data" && fin) p->client_fin = true;
    if (p->data_id && p->error_id && !p->dialing) {
      p->timer->cancel();
      p->dialing = true;
      std::weak_ptr<SpdyPortForward> w = weak_from_this();
      dialer_.Dial(target_, p->port, [w, p](std::shared_ptr<UniqueFd> fd, Status st) {
        if (auto s = w.lock()) s->OnDialed(p, fd, st);
      });
    }
    return true;
  }

  void OnDialed(const std::shared_ptr<Pair>& p, std::shared_ptr<UniqueFd> fd, const Status& st) {
    if (closed_ || p->failed || pairs_.count(p->request_id) == 0) return;
    if (!st.ok()) {
      std::string msg = ForwardError(p->port, target_, st);
      TUG_LOG(INFO, kComponent) << "port-forward failed" << kv("error", msg);
      session_->Send(p->error_id, msg, true);
      session_->Send(p->data_id, "", true);
      Drop(p);
      return;
    }
    p->sock = std::make_unique<tcp::socket>(ioc_);
    boost::system::error_code ec;
    p->sock->assign(tcp::v4(), fd->fd, ec);  // the family only matters for option calls
    if (ec) {
      session_->Send(p->error_id, ForwardError(p->port, target_, InternalError(ec.message())), true);
      Drop(p);
      return;
    }
    fd->Release();
    ReadTarget(p);
    WriteTarget(p);
  }

  void OnData(uint32_t id, std::string_view d) {
    auto it = by_stream_.find(id);
    if (it == by_stream_.end() || it->second->data_id != id) {
      session_->Consumed(id, d.size());  // error-stream input or a dropped pair: discard
      return;
    }
    auto p = it->second;
    p->to_target.emplace_back(d);
    WriteTarget(p);
  }

  void OnFin(uint32_t id) {
    auto it = by_stream_.find(id);
    if (it == by_stream_.end() || it->second->data_id != id) return;
    auto p = it->second;
    p->client_fin = true;
    WriteTarget(p);
  }

  void OnReset(uint32_t id) {
    auto it = by_stream_.find(id);
    if (it == by_stream_.end()) return;
    auto p = it->second;
    if (p->data_id == id) {
      p->data_id = 0;
      if (p->error_id) session_->Send(p->error_id, "", true);
      Drop(p);
    } else {
      p->error_id = 0;
    }
  }

  void OnClosed() {
    closed_ = true;
    auto pairs = pairs_;
    for (auto& [rid, p] : pairs) Drop(p);
  }

  void WriteTarget(const std::shared_ptr<Pair>& p) {
    if (!p->sock || p->writing || p->failed) return;
    if (p->to_target.empty()) {
      if (p->client_fin && !p->target_shut) {
        p->target_shut = true;
        boost::system::error_code ec;
        p->sock->shutdown(tcp::socket::shutdown_send, ec);
        MaybeDone(p);
      }
      return;
    }
    p->writing = true;
    auto data = std::make_shared<std::string>(std::move(p->to_target.front()));
    p->to_target.pop_front();
    std::weak_ptr<SpdyPortForward> w = weak_from_this();
    asio::async_write(*p->sock, asio::buffer(*data), [w, p, data](boost::system::error_code ec, size_t) {
      auto s = w.lock();
      if (!s) return;
      p->writing = false;
      if (ec) {
        s->TargetFailed(p);
        return;
      }
      if (p->data_id) s->session_->Consumed(p->data_id, data->size());
      s->WriteTarget(p);
    });
  }

  void ReadTarget(const std::shared_ptr<Pair>& p) {
    if (!p->sock || p->failed) return;
    auto buf = std::make_shared<std::array<char, 32768>>();
    std::weak_ptr<SpdyPortForward> w = weak_from_this();
    p->sock->async_read_some(asio::buffer(*buf), [w, p, buf](boost::system::error_code ec, size_t n) {
      auto s = w.lock();
      if (!s || p->failed) return;
      if (ec || n == 0) {
        p->target_eof = true;
        if (p->data_id) s->session_->Send(p->data_id, "", true);
        s->MaybeDone(p);
        return;
      }
      if (!p->data_id) return;
      s->session_->Send(p->data_id, std::string(buf->data(), n), false, [w, p] {
        if (auto s2 = w.lock()) s2->ReadTarget(p);
      });
    });
  }

  void TargetFailed(const std::shared_ptr<Pair>& p) {
    if (p->data_id) session_->Send(p->data_id, "", true);
    if (p->error_id) session_->Send(p->error_id, "", true);
    Drop(p);
  }

  // Both directions are finished: end the error stream too (kubectl reads it to EOF).
  void MaybeDone(const std::shared_ptr<Pair>& p) {
    if (!p->target_eof) return;
    if (p->error_id) session_->Send(p->error_id, "", true);
    if (p->target_shut || !p->data_id) Drop(p);
    // Otherwise the client may still send (the pod only half-closed); Drop on its FIN.
  }

  void Drop(const std::shared_ptr<Pair>& p) {
    if (p->failed) return;
    p->failed = true;
    if (p->timer) p->timer->cancel();
    if (p->sock) {
      boost::system::error_code ec;
      p->sock->close(ec);
    }
    for (auto it = by_stream_.begin(); it != by_stream_.end();) {
      if (it->second == p)
        it = by_stream_.erase(it);
      else
        ++it;
    }
    pairs_.erase(p->request_id);
  }

  asio::io_context& ioc_;
  PodNetworkTarget target_;
  Dialer& dialer_;
  std::shared_ptr<spdy::Session> session_;
  std::map<std::string, std::shared_ptr<Pair>> pairs_;
  std::map<uint32_t, std::shared_ptr<Pair>> by_stream_;
  bool closed_ = false;
};

// ---------------------------------------------------------------- WebSocket channels

class WsPortForward : public std::enable_shared_from_this<WsPortForward> {
 public:
  WsPortForward(asio::io_context& ioc, std::unique_ptr<ByteTransport> t, const PodNetworkTarget& target,
                const std::vector<int>& ports, Dialer& dialer)
      : ioc_(ioc), transport_(std::move(t)), target_(target), dialer_(dialer) {
    for (int p : ports) {
      auto pp = std::make_shared<Port>();
      pp->port = p;
      ports_.push_back(pp);
    }
  }

  void Begin() {
    for (size_t i = 0; i < ports_.size(); ++i) {
      std::string le = {static_cast<char>(ports_[i]->port & 0xff), static_cast<char>((ports_[i]->port >> 8) & 0xff)};
      Send(std::string(1, static_cast<char>(2 * i)) + le);
      Send(std::string(1, static_cast<char>(2 * i + 1)) + le);
    }
    for (size_t i = 0; i < ports_.size(); ++i) {
      std::weak_ptr<WsPortForward> w = weak_from_this();
      dialer_.Dial(target_, ports_[i]->port, [w, i](std::shared_ptr<UniqueFd> fd, Status st) {
        if (auto s = w.lock()) s->OnDialed(i, fd, st);
      });
    }
    Read();
  }

 private:
  struct Port {
    int port = 0;
    std::unique_ptr<tcp::socket> sock;
    std::deque<std::string> to_target;
    bool writing = false, done = false;
  };

  void OnDialed(size_t i, std::shared_ptr<UniqueFd> fd, const Status& st) {
    auto& p = ports_[i];
    if (closed_ || p->done) return;
    if (!st.ok()) {
      Send(std::string(1, static_cast<char>(2 * i + 1)) + ForwardError(p->port, target_, st));
      PortDone(i);
      return;
    }
    p->sock = std::make_unique<tcp::socket>(ioc_);
    boost::system::error_code ec;
    p->sock->assign(tcp::v4(), fd->fd, ec);
    if (ec) {
      PortDone(i);
      return;
    }
    fd->Release();
    ReadTarget(i);
    WriteTarget(i);
  }

  void Read() {
    if (closed_) return;
    std::weak_ptr<WsPortForward> w = weak_from_this();
    transport_->AsyncRead([w](boost::system::error_code ec, std::string_view msg) {
      auto s = w.lock();
      if (!s) return;
      if (ec) {
        s->CloseAll();
        return;
      }
      if (!msg.empty()) {
        size_t ch = static_cast<unsigned char>(msg[0]);
        if (ch % 2 == 0 && ch / 2 < s->ports_.size() && !s->ports_[ch / 2]->done && msg.size() > 1) {
          s->ports_[ch / 2]->to_target.emplace_back(msg.substr(1));
          s->WriteTarget(ch / 2);
        }
      }
      s->Read();
    });
  }

  void WriteTarget(size_t i) {
    auto& p = ports_[i];
    if (!p->sock || p->writing || p->done || p->to_target.empty()) return;
    p->writing = true;
    auto data = std::make_shared<std::string>(std::move(p->to_target.front()));
    p->to_target.pop_front();
    std::weak_ptr<WsPortForward> w = weak_from_this();
    asio::async_write(*p->sock, asio::buffer(*data), [w, i, data](boost::system::error_code ec, size_t) {
      auto s = w.lock();
      if (!s) return;
      s->ports_[i]->writing = false;
      if (ec) {
        s->PortDone(i);
        return;
      }
      s->WriteTarget(i);
    });
  }

  void ReadTarget(size_t i) {
    auto& p = ports_[i];
    if (!p->sock || p->done) return;
    auto buf = std::make_shared<std::array<char, 32768>>();
    std::weak_ptr<WsPortForward> w = weak_from_this();
    p->sock->async_read_some(asio::buffer(buf->data() + 1, buf->size() - 1), [w, i, buf](boost::system::error_code ec, size_t n) {
      auto s = w.lock();
      if (!s || s->ports_[i]->done) return;
      if (ec || n == 0) {
        s->PortDone(i);
        return;
      }
      (*buf)[0] = static_cast<char>(2 * i);
      s->Send(std::string(buf->data(), n + 1), [w, i] {
        if (auto s2 = w.lock()) s2->ReadTarget(i);
      });
    });
  }

  void PortDone(size_t i) {
    auto& p = ports_[i];
    if (p->done) return;
    p->done = true;
    if (p->sock) {
      boost::system::error_code ec;
      p->sock->close(ec);
    }
    bool all = std::all_of(ports_.begin(), ports_.end(), [](auto& x) { return x->done; });
    if (all) {
      closing_ = true;
      Flush();
    }
  }

  void Send(std::string msg, std::function<void()> done = {}) {
    if (closed_) return;
    out_.push_back({std::move(msg), std::move(done)});
    Flush();
  }

  void Flush() {
    if (writing_ || closed_) return;
    if (out_.empty()) {
      if (closing_ && !shut_) {
        shut_ = true;
        transport_->ShutdownSend();
        linger_ = std::make_unique<asio::steady_timer>(ioc_, std::chrono::seconds(5));
        std::weak_ptr<WsPortForward> w = weak_from_this();
        linger_->async_wait([w](boost::system::error_code ec) {
          auto s = w.lock();
          if (!ec && s) s->CloseAll();
        });
      }
      return;
    }
    writing_ = true;
    std::weak_ptr<WsPortForward> w = weak_from_this();
    transport_->AsyncWrite(out_.front().first, [w](boost::system::error_code ec) {
      auto s = w.lock();
      if (!s) return;
      s->writing_ = false;
      auto done = std::move(s->out_.front().second);
      s->out_.pop_front();
      if (ec) {
        s->CloseAll();
        return;
      }
      if (done) done();
      s->Flush();
    });
  }

  void CloseAll() {
    if (closed_) return;
    closed_ = true;
    if (linger_) linger_->cancel();
    for (auto& p : ports_) {
      p->done = true;
      if (p->sock) {
        boost::system::error_code ec;
        p->sock->close(ec);
      }
    }
    transport_->Close();
  }

  asio::io_context& ioc_;
  std::unique_ptr<ByteTransport> transport_;
  PodNetworkTarget target_;
  Dialer& dialer_;
  std::vector<std::shared_ptr<Port>> ports_;
  std::deque<std::pair<std::string, std::function<void()>>> out_;
  bool writing_ = false, closing_ = false, shut_ = false, closed_ = false;
  std::unique_ptr<asio::steady_timer> linger_;
};

}  // namespace

Result<PodNetworkTarget> FindPodNetwork(runtime::Runtime& rt, const std::string& ns, const std::string& pod,
                                        const std::string& uid) {
  ASSIGN_OR_RETURN(auto sandboxes, rt.ListPodSandboxes());
  const runtime::PodSandboxStatus* best = nullptr;
  for (const auto& s : sandboxes) {
    if (s.config.namespace_ != ns || s.config.name != pod) continue;
    if (!uid.empty() && s.config.uid != uid) continue;
    if (!best) {
      best = &s;
      continue;
    }
    bool ra = s.state == runtime::SandboxState::kReady, rb = best->state == runtime::SandboxState::kReady;
    if ((ra && !rb) || (ra == rb && s.created_at > best->created_at)) best = &s;
  }
  if (!best || best->state != runtime::SandboxState::kReady)
    return NotFoundError("pod \"" + pod + "\" in namespace \"" + ns + "\" is not running on this node");
  return PodNetworkTarget{best->id, best->config.host_network ? "" : best->netns_path};
}

Result<int> DialInNetns(const std::string& netns_path, const std::string& sandbox_id, int port) {
  Result<int> r = InternalError("not run");
  std::thread t([&] { r = DialOnThisThread(netns_path, sandbox_id, port); });
  t.join();
  return r;
}

Result<std::vector<int>> ParsePortList(const std::vector<std::string>& values) {
  if (values.empty()) return BadRequestError("query parameter \"port\" is required");
  std::vector<int> ports;
  for (const auto& v : values) {
    if (v.empty()) return BadRequestError("query parameter \"port\" cannot be empty");
    size_t i = 0;
    while (i <= v.size()) {
      size_t j = v.find(',', i);
      if (j == std::string::npos) j = v.size();
      std::string p = v.substr(i, j - i);
      int n = 0;
      bool ok = !p.empty() && p.size() <= 5 && std::all_of(p.begin(), p.end(), ::isdigit);
      if (ok) n = std::stoi(p);
      if (!ok || n > 65535) return BadRequestError("unable to parse \"" + v + "\" as a port");
      if (n < 1) return BadRequestError("port \"" + v + "\" must be > 0");
      ports.push_back(n);
      i = j + 1;
    }
  }
  return ports;
}

void ServeSpdyPortForward(asio::io_context& ioc, std::unique_ptr<ByteTransport> transport,
                          const PodNetworkTarget& target) {
  Dialer dialer(ioc);
  {
    auto pf = std::make_shared<SpdyPortForward>(ioc, target, dialer);
    pf->Begin(std::move(transport));
    ioc.restart();
    ioc.run();
  }
  dialer.JoinAll();
}

void ServeWebSocketPortForward(asio::io_context& ioc, std::unique_ptr<ByteTransport> transport,
                               const PodNetworkTarget& target, const std::vector<int>& ports) {
  Dialer dialer(ioc);
  {
    auto pf = std::make_shared<WsPortForward>(ioc, std::move(transport), target, ports, dialer);
    pf->Begin();
    ioc.restart();
    ioc.run();
  }
  dialer.JoinAll();
}

}  // namespace tug::kubelet::server
