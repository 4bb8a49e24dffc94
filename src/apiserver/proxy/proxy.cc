#include "apiserver/proxy/proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <future>
#include <limits>
#include <optional>
#include <thread>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>

#include "base/log.h"

namespace tug::apiserver::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr const char* kComponent = "apiserver-proxy";

std::vector<std::string> Names(const Json& pod, const char* field) {
  std::vector<std::string> out;
  const Json* cs = FindPath(pod, {"spec", field});
  if (cs && cs->is_array())
    for (const auto& c : *cs)
      if (c.is_object() && c.contains("name") && c["name"].is_string()) out.push_back(c["name"].get<std::string>());
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + v[i];
  return s;
}

std::string Str(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* v = FindPath(j, path);
  return v && v->is_string() ? v->get<std::string>() : "";
}

std::string PctEncode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Percent-encodes a path, keeping its slashes.
std::string PctEncodePath(std::string_view s) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t slash = s.find('/', pos);
    out += PctEncode(s.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos));
    if (slash == std::string_view::npos) break;
    out += '/';
    pos = slash + 1;
  }
  return out;
}

}  // namespace

Result<std::string> ChooseContainer(const Json& pod, const std::string& requested) {
  std::string name = Str(pod, {"metadata", "name"});
  auto containers = Names(pod, "containers");
  auto inits = Names(pod, "initContainers");
  auto ephemeral = Names(pod, "ephemeralContainers");
  if (requested.empty()) {
    if (containers.size() == 1) return containers[0];
    std::string msg = "a container name must be specified for pod " + name + ", choose one of: [" + Join(containers) + "]";
    if (!inits.empty()) msg += " or one of the init containers: [" + Join(inits) + "]";
    if (!ephemeral.empty()) msg += " or one of the ephemeral containers: [" + Join(ephemeral) + "]";
    return BadRequestError(msg);
  }
  for (const auto* list : {&containers, &inits, &ephemeral})
    for (const auto& c : *list)
      if (c == requested) return requested;
  return BadRequestError("container " + requested + " is not valid for pod " + name);
}

Result<std::pair<std::string, int>> KubeletAddress(const Json& node) {
  std::string host;
  if (const Json* addrs = FindPath(node, {"status", "addresses"}); addrs && addrs->is_array()) {
    for (const char* want : {"InternalIP", "ExternalIP", "Hostname"}) {
      for (const auto& a : *addrs)
        if (a.is_object() && a.value("type", "") == want && a.contains("address") && a["address"].is_string()) {
          host = a["address"].get<std::string>();
          break;
        }
      if (!host.empty()) break;
    }
  }
  if (host.empty()) return BadRequestError("node " + Str(node, {"metadata", "name"}) + " has no address");
  int port = 10250;
  if (const Json* p = FindPath(node, {"status", "daemonEndpoints", "kubeletEndpoint", "Port"}); p && p->is_number_integer() &&
      p->get<int>() > 0)
    port = p->get<int>();
  return std::make_pair(host, port);
}

Status CheckLogContainerState(const Json& pod, const std::string& container, bool previous) {
  std::string name = Str(pod, {"metadata", "name"});
  for (const char* field : {"containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"}) {
    const Json* st = FindPath(pod, {"status", field});
    if (!st || !st->is_array()) continue;
    for (const auto& cs : *st) {
      if (!cs.is_object() || cs.value("name", "") != container) continue;
      if (previous) {
        if (!FindPath(cs, {"lastState", "terminated"}))
          return BadRequestError("previous terminated container \"" + container + "\" in pod \"" + name + "\" not found");
        return Status();
      }
      if (const Json* w = FindPath(cs, {"state", "waiting"}); w && w->is_object()) {
        // A restarting container still has the last run's log.
        if (FindPath(cs, {"lastState", "terminated"})) return Status();
        return BadRequestError("container \"" + container + "\" in pod \"" + name + "\" is waiting to start: " +
                               w->value("reason", std::string("ContainerCreating")));
      }
      return Status();
    }
  }
  return BadRequestError("container \"" + container + "\" in pod \"" + name + "\" is waiting to start: ContainerCreating");
}

void PodStreamProxy::ServePodStream(const Request& req, const PodTarget& t, ResponseWriterPtr w) const {
  if (Str(t.pod_object, {"spec", "nodeName"}).empty()) {
    SendStatus(*w, BadRequestError("pod " + t.pod + " does not have a host assigned"));
    return;
  }
  if (t.subresource == "log") {
    if (req.method != "GET") {
      SendStatus(*w, Status(StatusCode::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
      return;
    }
    auto c = ChooseContainer(t.pod_object, req.Query("container"));
    if (!c.ok()) return SendStatus(*w, c.status());
    return ServeLog(req, t, *c, std::move(w));
  }
  // exec, attach, portforward: upgrade requests (GET for WebSocket, POST for SPDY).
  if (req.method != "GET" && req.method != "POST") {
    SendStatus(*w, Status(StatusCode::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
    return;
  }
  std::string target;
  if (t.subresource == "portforward") {
    target = "/portForward/" + PctEncode(t.ns) + "/" + PctEncode(t.pod);
  } else {
    auto c = ChooseContainer(t.pod_object, req.Query("container"));
    if (!c.ok()) return SendStatus(*w, c.status());
    target = "/" + t.subresource + "/" + PctEncode(t.ns) + "/" + PctEncode(t.pod) + "/" + PctEncode(*c);
  }
  if (!IsUpgradeRequest(req)) return SendStatus(*w, BadRequestError("Upgrade request required"));
  auto addr = KubeletAddress(t.node_object);
  if (!addr.ok()) return SendStatus(*w, addr.status());
  if (!req.raw_query.empty()) target += "?" + req.raw_query;
  ServeUpgrade(req, addr->first, addr->second, target, std::move(w));
}

namespace {

// One blocking HTTP GET to the kubelet whose body is relayed to w as it arrives.
template <class S>
void Relay(S& s, const std::string& host, const std::string& target, ResponseWriter& w, std::function<void()> cut) {
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "tug-apiserver");
  beast::error_code ec;
  http::write(s, req, ec);
  if (ec) return SendStatus(w, UnavailableError("error talking to the kubelet: " + ec.message()));
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> p;
  p.body_limit(std::numeric_limits<std::uint64_t>::max());  // not boost::none: Boost 1.74 compares Content-Length > none as true
  http::read_header(s, buf, p, ec);
  if (ec) return SendStatus(w, UnavailableError("error reading the kubelet's answer: " + ec.message()));
  int code = p.get().result_int();
  char chunk[32768];
  if (code != 200) {
    // Error body (bounded), never a redirect followed.
    std::string body;
    while (!p.is_done() && body.size() < 64 * 1024) {
      p.get().body().data = chunk;
      p.get().body().size = sizeof chunk;
      http::read_some(s, buf, p, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) break;
      body.append(chunk, sizeof chunk - p.get().body().size);
    }
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    StatusCode sc = code == 404 ? StatusCode::kNotFound
                    : code == 400 ? StatusCode::kBadRequest
                    : code == 403 ? StatusCode::kForbidden
                    : code == 401 ? StatusCode::kUnauthorized
                                  : StatusCode::kInternal;
    if (code >= 300 && code < 400) body = "the kubelet answered with a redirect (" + std::to_string(code) + "), not followed";
    return SendStatus(w, Status(sc, body.empty() ? "kubelet answered " + std::to_string(code) : body));
  }
  w.StartStream(200, "text/plain");
  w.OnClose(cut);
  while (!p.is_done()) {
    p.get().body().data = chunk;
    p.get().body().size = sizeof chunk;
    http::read_some(s, buf, p, ec);
    if (ec == http::error::need_buffer) ec = {};
    size_t n = sizeof chunk - p.get().body().size;
    if (n > 0 && !w.Write(std::string(chunk, n))) break;
    if (ec) break;
  }
  w.Finish();
}

}  // namespace

void PodStreamProxy::ServeLog(const Request& req, const PodTarget& t, const std::string& container,
                              ResponseWriterPtr w) const {
  bool previous = req.Query("previous") == "true" || req.Query("previous") == "1";
  if (Status st = CheckLogContainerState(t.pod_object, container, previous); !st.ok()) return SendStatus(*w, st);
  auto addr = KubeletAddress(t.node_object);
  if (!addr.ok()) return SendStatus(*w, addr.status());
  std::string target = "/containerLogs/" + PctEncode(t.ns) + "/" + PctEncode(t.pod) + "/" + PctEncode(container);
  std::string q;
  for (const char* k : {"follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes"}) {
    if (!req.HasQuery(k)) continue;
    q += (q.empty() ? "?" : "&") + std::string(k) + "=" + PctEncode(req.Query(k));
  }
  target += q;

  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto eps = resolver.resolve(addr->first, std::to_string(addr->second), ec);
  if (ec) return SendStatus(*w, UnavailableError("cannot resolve kubelet " + addr->first + ": " + ec.message()));
  tcp::socket sock(ioc);
  asio::connect(sock, eps, ec);
  if (ec)
    return SendStatus(*w, UnavailableError("dial tcp " + addr->first + ":" + std::to_string(addr->second) + ": " + ec.message()));
  // Cuts the kubelet connection when the client goes away (unblocks the read). The callback may
  // run after this function returned, so it only touches the fd while the socket is alive.
  struct CutState {
    std::mutex mu;
    int fd = -1;  // GUARDED_BY(mu)
  };
  auto cs = std::make_shared<CutState>();
  cs->fd = sock.native_handle();
  auto cut = [cs] {
    std::lock_guard<std::mutex> l(cs->mu);
    if (cs->fd >= 0) ::shutdown(cs->fd, SHUT_RDWR);
  };
  struct Invalidate {
    std::shared_ptr<CutState> cs;
    ~Invalidate() {
      std::lock_guard<std::mutex> l(cs->mu);
      cs->fd = -1;
    }
  } invalidate{cs};
  std::string host = addr->first + ":" + std::to_string(addr->second);
  TUG_VLOG(4, kComponent) << "proxy log" << kv("kubelet", host) << kv("target", target);
  if (!opts_.tls) return Relay(sock, host, target, *w, cut);
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  try {
    if (!opts_.client_cert_file.empty()) {
      ctx.use_certificate_chain_file(opts_.client_cert_file);
      ctx.use_private_key_file(opts_.client_key_file, asio::ssl::context::pem);
    }
    if (!opts_.kubelet_ca_file.empty()) {
      ctx.load_verify_file(opts_.kubelet_ca_file);
      ctx.set_verify_mode(asio::ssl::verify_peer);
    } else {
      ctx.set_verify_mode(asio::ssl::verify_none);
    }
  } catch (const std::exception& e) {
    return SendStatus(*w, InternalError(std::string("kubelet client TLS setup: ") + e.what()));
  }
  asio::ssl::stream<tcp::socket&> s(sock, ctx);
  s.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return SendStatus(*w, UnavailableError("TLS handshake with kubelet " + host + ": " + ec.message()));
  Relay(s, host, target, *w, cut);
}

// ---------------------------------------------------------------- proxy locations

bool SplitSchemeNamePort(const std::string& id, std::string* scheme, std::string* name, std::string* port) {
  std::vector<std::string> parts;
  size_t pos = 0;
  for (;;) {
    size_t c = id.find(':', pos);
    parts.push_back(id.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  scheme->clear();
  port->clear();
  if (parts.size() == 1) {
    *name = parts[0];
  } else if (parts.size() == 2) {
    *name = parts[0];
    *port = parts[1];
  } else if (parts.size() == 3) {
    *scheme = parts[0];
    *name = parts[1];
    *port = parts[2];
  } else {
    return false;
  }
  if (name->empty()) return false;
  return scheme->empty() || *scheme == "http" || *scheme == "https";
}

namespace {

bool GlobalUnicast(const std::string& ip) {
  in_addr a4;
  if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) {
    uint32_t h = ntohl(a4.s_addr);
    return h != 0 && h != 0xffffffffu && (h >> 24) != 127 && (h >> 28) != 14 && (h >> 16) != 0xa9fe;
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, ip.c_str(), &a6) == 1)
    return !IN6_IS_ADDR_UNSPECIFIED(&a6) && !IN6_IS_ADDR_LOOPBACK(&a6) && !IN6_IS_ADDR_MULTICAST(&a6) &&
           !IN6_IS_ADDR_LINKLOCAL(&a6);
  return false;
}

Result<int> ParsePort(const std::string& p) {
  if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), [](unsigned char c) { return std::isdigit(c); }))
    return BadRequestError("invalid port " + p);
  int v = std::stoi(p);
  if (v <= 0 || v > 65535) return BadRequestError("invalid port " + p);
  return v;
}

bool IsNumber(const std::string& s) {
  return !s.empty() && s.size() <= 10 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

Result<ProxyLocation> PodProxyLocation(const Json& pod, const std::string& scheme, const std::string& port) {
  ProxyLocation loc;
  loc.scheme = scheme.empty() ? "http" : scheme;
  std::string p = port;
  if (p.empty()) {
    // Upstream: the first declared port of the first container that declares any.
    if (const Json* cs = FindPath(pod, {"spec", "containers"}); cs && cs->is_array())
      for (const auto& c : *cs) {
        const Json* ports = FindPath(c, {"ports"});
        if (ports && ports->is_array() && !ports->empty() && (*ports)[0].contains("containerPort")) {
          p = std::to_string((*ports)[0]["containerPort"].get<int64_t>());
          break;
        }
      }
  }
  loc.host = Str(pod, {"status", "podIP"});
  if (!GlobalUnicast(loc.host)) return BadRequestError("address not allowed");
  if (p.empty()) {
    loc.port = loc.scheme == "https" ? 443 : 80;
  } else {
    ASSIGN_OR_RETURN(loc.port, ParsePort(p));
  }
  return loc;
}

Result<ProxyLocation> ServiceProxyLocation(const Json& service, const Json& endpoints, const std::string& id,
                                           const std::string& scheme, const std::string& port) {
  std::string svc = Str(service, {"metadata", "name"});
  std::string port_name = port;
  if (IsNumber(port)) {
    // A port number names the service port; endpoints carry its name.
    bool found = false;
    if (const Json* ps = FindPath(service, {"spec", "ports"}); ps && ps->is_array())
      for (const auto& sp : *ps)
        if (sp.is_object() && sp.contains("port") && sp["port"].is_number_integer() &&
            std::to_string(sp["port"].get<int64_t>()) == port) {
          port_name = sp.value("name", std::string());
          found = true;
          break;
        }
    if (!found) return UnavailableError("no service port " + port + " found for service \"" + svc + "\"");
  }
  const Json* subsets = endpoints.is_object() ? FindPath(endpoints, {"subsets"}) : nullptr;
  if (!subsets || !subsets->is_array() || subsets->empty())
    return UnavailableError("no endpoints available for service \"" + svc + "\"");
  static std::atomic<uint32_t> spread{0};  // spreads requests over the ready addresses
  uint32_t seed = spread++;
  for (const auto& ss : *subsets) {
    const Json* addrs = FindPath(ss, {"addresses"});
    const Json* ports = FindPath(ss, {"ports"});
    if (!addrs || !addrs->is_array() || addrs->empty() || !ports || !ports->is_array()) continue;
    for (const auto& ep : *ports) {
      if (!ep.is_object() || ep.value("name", std::string()) != port_name) continue;
      if (!ep.contains("port") || !ep["port"].is_number_integer()) continue;
      for (size_t k = 0; k < addrs->size(); ++k) {
        const Json& a = (*addrs)[(seed + k) % addrs->size()];
        std::string ip = a.value("ip", std::string());
        if (!GlobalUnicast(ip)) continue;
        ProxyLocation loc;
        loc.scheme = scheme.empty() ? "http" : scheme;
        loc.host = ip;
        loc.port = ep["port"].get<int>();
        return loc;
      }
    }
  }
  return UnavailableError("no endpoints available for service \"" + id + "\"");
}

// ---------------------------------------------------------------- backend connections

namespace {

std::string LowerFirst(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

// A connection the API server dials (kubelet, pod, endpoint), TLS or not, as an UpgradedConn:
// blocking Read/Write done as asynchronous operations on a private io_context run by one thread,
// so one Read and one Write may be in flight at once even over TLS.
class BackendConn final : public UpgradedConn {
 public:
  struct DialOptions {
    bool tls = false;
    std::string client_cert_file, client_key_file;  // empty: no client certificate
    std::string ca_file;                            // empty: the server is not verified
    int timeout_seconds = 10;
  };

  static Result<std::shared_ptr<BackendConn>> Dial(const std::string& host, int port, const DialOptions& o) {
    std::shared_ptr<BackendConn> c(new BackendConn());
    RETURN_IF_ERROR(c->Connect(host, port, o));
    return c;
  }

  ~BackendConn() override {
    Close();
    work_.reset();
    if (thread_.joinable()) thread_.join();
  }

  Result<size_t> Read(char* buf, size_t n) override {
    if (!thread_.joinable()) return UnavailableError("not connected");
    std::promise<std::pair<beast::error_code, size_t>> p;
    auto f = p.get_future();
    asio::post(ioc_, [this, buf, n, &p] {
      if (closed_) return p.set_value({asio::error::operation_aborted, 0});
      auto done = [&p](beast::error_code ec, size_t k) { p.set_value({ec, k}); };
      if (ssl_)
        ssl_->async_read_some(asio::buffer(buf, n), done);
      else
        sock_.async_read_some(asio::buffer(buf, n), done);
    });
    auto [ec, k] = f.get();
    if (k > 0) return k;
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return size_t{0};
    if (ec) return UnavailableError("read: " + ec.message());
    return size_t{0};
  }

  Status Write(std::string_view data) override {
    if (data.empty()) return Status::Ok();
    if (!thread_.joinable()) return UnavailableError("not connected");
    std::promise<beast::error_code> p;
    auto f = p.get_future();
    asio::post(ioc_, [this, data, &p] {
      if (closed_) return p.set_value(asio::error::operation_aborted);
      auto done = [&p](beast::error_code ec, size_t) { p.set_value(ec); };
      if (ssl_)
        asio::async_write(*ssl_, asio::buffer(data.data(), data.size()), done);
      else
        asio::async_write(sock_, asio::buffer(data.data(), data.size()), done);
    });
    beast::error_code ec = f.get();
    if (ec) return UnavailableError("write: " + ec.message());
    return Status::Ok();
  }

  void ShutdownWrite() override {
    asio::post(ioc_, [this] {
      beast::error_code ec;
      if (!closed_) sock_.shutdown(tcp::socket::shutdown_send, ec);
    });
  }

  void Close() override {
    asio::post(ioc_, [this] {
      if (closed_) return;
      closed_ = true;
      beast::error_code ec;
      sock_.shutdown(tcp::socket::shutdown_both, ec);
      sock_.close(ec);
    });
  }

 private:
  BackendConn() : sock_(ioc_) {}

  Status Connect(const std::string& host, int port, const DialOptions& o) {
    std::string hp = host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                                         : host + ":" + std::to_string(port);
    beast::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    tcp::endpoint ep;
    if (!ec) {
      ep = tcp::endpoint(addr, static_cast<unsigned short>(port));
    } else {
      tcp::resolver r(ioc_);
      auto eps = r.resolve(host, std::to_string(port), ec);
      if (ec || eps.empty()) return UnavailableError("error dialing backend: dial tcp " + hp + ": lookup " + host + ": " + ec.message());
      ep = *eps.begin();
    }
    auto timeout = std::chrono::seconds(std::max(1, o.timeout_seconds));
    std::optional<beast::error_code> result;
    sock_.open(ep.protocol(), ec);
    if (ec) return UnavailableError("error dialing backend: socket: " + ec.message());
    ::fcntl(sock_.native_handle(), F_SETFD, FD_CLOEXEC);
    sock_.async_connect(ep, [&](beast::error_code e) { result = e; });
    ioc_.run_for(timeout);
    if (!result) {
      sock_.close(ec);
      ioc_.restart();
      ioc_.run();
      return UnavailableError("error dialing backend: dial tcp " + hp + ": i/o timeout");
    }
    if (*result) return UnavailableError("error dialing backend: dial tcp " + hp + ": connect: " + LowerFirst(result->message()));
    int one = 1;
    ::setsockopt(sock_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o.tls) {
      ctx_.emplace(asio::ssl::context::tls_client);
      try {
        if (!o.client_cert_file.empty()) {
          ctx_->use_certificate_chain_file(o.client_cert_file);
          ctx_->use_private_key_file(o.client_key_file, asio::ssl::context::pem);
        }
        if (!o.ca_file.empty()) {
          ctx_->load_verify_file(o.ca_file);
          ctx_->set_verify_mode(asio::ssl::verify_peer);
        } else {
          ctx_->set_verify_mode(asio::ssl::verify_none);
        }
      } catch (const std::exception& e) {
        return InternalError(std::string("backend TLS setup: ") + e.what());
      }
      ssl_.emplace(sock_, *ctx_);
      static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
      SSL_set_alpn_protos(ssl_->native_handle(), kAlpn, sizeof kAlpn);
      result.reset();
      ioc_.restart();
      ssl_->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) { result = e; });
      ioc_.run_for(timeout);
      if (!result) {
        sock_.close(ec);
        ioc_.restart();
        ioc_.run();
        return UnavailableError("error dialing backend: TLS handshake with " + hp + ": timeout");
      }
      if (*result) return UnavailableError("error dialing backend: TLS handshake with " + hp + ": " + result->message());
    }
    ioc_.restart();
    work_.emplace(ioc_.get_executor());
    thread_ = std::thread([this] { ioc_.run(); });
    return Status::Ok();
  }

  asio::io_context ioc_;
  std::optional<asio::ssl::context> ctx_;
  tcp::socket sock_;
  std::optional<asio::ssl::stream<tcp::socket&>> ssl_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  bool closed_ = false;  // only touched on the io thread
};

// Copies bytes both ways until one side ends; the other then has linger_seconds to end on its
// own before both are closed.
void Splice(UpgradedConn& client, UpgradedConn& backend, int linger_seconds) {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;  // GUARDED_BY(mu)
  auto pump = [&](UpgradedConn& from, UpgradedConn& to) {
    std::vector<char> buf(32 * 1024);
    for (;;) {
      auto n = from.Read(buf.data(), buf.size());
      if (!n.ok() || *n == 0) break;
      if (!to.Write(std::string_view(buf.data(), *n)).ok()) break;
    }
    to.ShutdownWrite();
    std::lock_guard<std::mutex> l(mu);
    ++done;
    cv.notify_all();
  };
  std::thread up([&] { pump(client, backend); });
  std::thread down([&] { pump(backend, client); });
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return done >= 1; });
    cv.wait_for(l, std::chrono::seconds(linger_seconds), [&] { return done >= 2; });
  }
  client.Close();
  backend.Close();
  up.join();
  down.join();
}

bool HopByHop(const std::string& name) {
  static const char* kHop[] = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                               "te", "trailer", "transfer-encoding", "upgrade"};
  for (const char* h : kHop)
    if (beast::iequals(name, h)) return true;
  return false;
}

// Headers never passed to a backend: our own credentials and identity assertions.
bool Private(const std::string& name) {
  return beast::iequals(name, "authorization") || beast::iequals(name, "host") ||
         beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding") ||
         (name.size() >= 12 && beast::iequals(name.substr(0, 12), "impersonate-")) ||
         (name.size() >= 9 && beast::iequals(name.substr(0, 9), "x-remote-"));
}

std::string HeaderOf(const std::string& head, const std::string& name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < head.size()) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    if (end == std::string::npos || end == start) break;
    std::string line = head.substr(start, end - start);
    size_t colon = line.find(':');
    if (colon != std::string::npos && beast::iequals(line.substr(0, colon), name)) {
      std::string v = line.substr(colon + 1);
      size_t b = v.find_first_not_of(" \t");
      return b == std::string::npos ? "" : v.substr(b, v.find_last_not_of(" \t") - b + 1);
    }
    pos = end;
  }
  return "";
}

// SyncReadStream/SyncWriteStream over an UpgradedConn, for Beast's HTTP parser.
struct ConnStream {
  UpgradedConn* c;
  template <class MB>
  size_t read_some(const MB& bufs, beast::error_code& ec) {
    for (auto it = asio::buffer_sequence_begin(bufs); it != asio::buffer_sequence_end(bufs); ++it) {
      asio::mutable_buffer b = *it;
      if (b.size() == 0) continue;
      auto r = c->Read(static_cast<char*>(b.data()), b.size());
      if (!r.ok()) {
        ec = asio::error::connection_reset;
        return 0;
      }
      if (*r == 0) {
        ec = asio::error::eof;
        return 0;
      }
      ec = {};
      return *r;
    }
    ec = {};
    return 0;
  }
  template <class MB>
  size_t read_some(const MB& bufs) {
    beast::error_code ec;
    size_t n = read_some(bufs, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }
  template <class CB>
  size_t write_some(const CB& bufs, beast::error_code& ec) {
    size_t total = 0;
    for (auto it = asio::buffer_sequence_begin(bufs); it != asio::buffer_sequence_end(bufs); ++it) {
      asio::const_buffer b = *it;
      if (!c->Write(std::string_view(static_cast<const char*>(b.data()), b.size())).ok()) {
        ec = asio::error::connection_reset;
        return total;
      }
      total += b.size();
    }
    ec = {};
    return total;
  }
  template <class CB>
  size_t write_some(const CB& bufs) {
    beast::error_code ec;
    size_t n = write_some(bufs, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }
};

}  // namespace

void PodStreamProxy::ServeUpgrade(const Request& req, const std::string& host, int port, const std::string& target,
                                  ResponseWriterPtr w) const {
  BackendConn::DialOptions o;
  o.tls = opts_.tls;
  o.client_cert_file = opts_.client_cert_file;
  o.client_key_file = opts_.client_key_file;
  o.ca_file = opts_.kubelet_ca_file;
  o.timeout_seconds = opts_.connect_timeout_seconds;
  auto b = BackendConn::Dial(host, port, o);
  if (!b.ok()) return SendStatus(*w, Status(StatusCode::kInternal, b.status().message()));
  std::shared_ptr<BackendConn> backend = *b;
  // The upgrade request as the client sent it, minus its credentials.
  std::string out = req.method + " " + target + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) + "\r\n";
  for (const auto& [k, v] : req.headers)
    if (!Private(k)) out += k + ": " + v + "\r\n";
  if (!req.body.empty()) out += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  out += "\r\n";
  out += req.body;
  TUG_VLOG(4, kComponent) << "proxy upgrade" << kv("kubelet", host + ":" + std::to_string(port)) << kv("target", target);
  if (Status st = backend->Write(out); !st.ok())
    return SendStatus(*w, InternalError("error sending request to the kubelet: " + st.message()));
  // The kubelet's answer head, read before anything touches the client connection.
  std::string got;
  size_t head_end = std::string::npos;
  char buf[16384];
  while ((head_end = got.find("\r\n\r\n")) == std::string::npos) {
    if (got.size() > 64 * 1024) return SendStatus(*w, InternalError("the kubelet's response header is too large"));
    auto n = backend->Read(buf, sizeof buf);
    if (!n.ok() || *n == 0) return SendStatus(*w, InternalError("the kubelet closed the connection before answering"));
    got.append(buf, *n);
  }
  std::string head = got.substr(0, head_end + 4);
  int code = 0;
  if (head.rfind("HTTP/1.", 0) == 0 && head.size() > 12) code = std::atoi(head.c_str() + 9);
  if (code == 101) {
    // Upgraded at the kubelet: only now take the client's connection over and relay the 101.
    auto conn = w->Hijack();
    if (!conn.ok()) return;  // the client is gone (or cannot be upgraded); the kubelet side closes
    if (!(*conn)->Write(got).ok()) return;
    Splice(**conn, *backend, opts_.upgrade_linger_seconds);
    return;
  }
  // Refused: relay the kubelet's answer as a plain response (kubectl shows its body).
  std::string body = got.substr(head_end + 4);
  std::string cl = HeaderOf(head, "Content-Length");
  bool chunked = beast::iequals(HeaderOf(head, "Transfer-Encoding"), "chunked");
  size_t want = cl.empty() ? std::string::npos : static_cast<size_t>(std::strtoull(cl.c_str(), nullptr, 10));
  while (body.size() < std::min<size_t>(want, 1 << 20) && !(chunked && body.find("0\r\n\r\n") != std::string::npos)) {
    auto n = backend->Read(buf, sizeof buf);
    if (!n.ok() || *n == 0) break;
    body.append(buf, *n);
  }
  if (want != std::string::npos && body.size() > want) body.resize(want);
  if (chunked) {
    std::string plain;
    size_t p = 0;
    while (p < body.size()) {
      size_t eol = body.find("\r\n", p);
      if (eol == std::string::npos) break;
      size_t len = std::strtoul(body.substr(p, eol - p).c_str(), nullptr, 16);
      if (len == 0) break;
      plain += body.substr(eol + 2, len);
      p = eol + 2 + len + 2;
    }
    body = plain;
  }
  std::string ct = HeaderOf(head, "Content-Type");
  if (code < 200 || code >= 600) code = 500;
  if (code >= 300 && code < 400) {  // never followed, never relayed as a redirect
    code = 500;
    body = "the kubelet answered with a redirect, not followed";
    ct = "text/plain; charset=utf-8";
  }
  w->Send(code, ct.empty() ? "text/plain; charset=utf-8" : ct, body);
}

void PodStreamProxy::ServeProxy(const Request& req, const ProxyLocation& loc, bool client_cert, const std::string& path,
                                const std::string& what, ResponseWriterPtr w) const {
  BackendConn::DialOptions o;
  o.tls = loc.scheme == "https";
  if (client_cert) {
    o.client_cert_file = opts_.client_cert_file;
    o.client_key_file = opts_.client_key_file;
    o.ca_file = opts_.kubelet_ca_file;
    if (!opts_.tls) o.tls = false;  // tests: plain kubelets
  }
  o.timeout_seconds = opts_.connect_timeout_seconds;
  std::string hp = (loc.host.find(':') != std::string::npos ? "[" + loc.host + "]" : loc.host) + ":" + std::to_string(loc.port);
  auto b = BackendConn::Dial(loc.host, loc.port, o);
  if (!b.ok()) {
    std::string m = b.status().message();
    if (m.rfind("error dialing backend: ", 0) == 0) m = m.substr(23);
    return SendStatus(*w, UnavailableError("error trying to reach " + what + ": " + m));
  }
  std::shared_ptr<BackendConn> backend = *b;
  w->OnClose([backend] { backend->Close(); });  // the client left: unblock the relay
  std::string target = PctEncodePath(path.empty() ? "/" : path);
  if (!req.raw_query.empty()) target += "?" + req.raw_query;
  http::request<http::string_body> out{http::string_to_verb(req.method), target, 11};
  if (out.method() == http::verb::unknown) out.method_string(req.method);
  for (const auto& [k, v] : req.headers)
    if (!Private(k) && !HopByHop(k)) out.insert(k, v);
  out.set(http::field::host, hp);
  std::string fwd = req.remote_addr.substr(0, req.remote_addr.rfind(':'));
  if (!fwd.empty()) out.set("X-Forwarded-For", fwd);
  out.body() = req.body;
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") out.prepare_payload();
  ConnStream s{backend.get()};
  beast::error_code ec;
  http::write(s, out, ec);
  if (ec) return SendStatus(*w, UnavailableError("error trying to reach " + what + ": " + ec.message()));
  beast::flat_buffer fb;
  http::response_parser<http::buffer_body> p;
  p.body_limit(std::numeric_limits<std::uint64_t>::max());  // not boost::none: Boost 1.74 compares Content-Length > none as true
  if (req.method == "HEAD") p.skip(true);
  http::read_header(s, fb, p, ec);
  if (ec) return SendStatus(*w, UnavailableError("error trying to reach " + what + ": " + ec.message()));
  int code = p.get().result_int();
  std::string ct(p.get()[http::field::content_type]);
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& f : p.get()) {
    std::string name(f.name_string());
    if (HopByHop(name) || beast::iequals(name, "content-length") || beast::iequals(name, "content-type") ||
        beast::iequals(name, "date"))
      continue;
    headers.emplace_back(name, std::string(f.value()));
  }
  std::vector<char> chunk(32 * 1024);
  auto len = p.content_length();
  if (p.is_done() || (len && *len <= (8u << 20))) {
    std::string body;
    while (!p.is_done()) {
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      http::read_some(s, fb, p, ec);
      if (ec == http::error::need_buffer) ec = {};
      body.append(chunk.data(), chunk.size() - p.get().body().size);
      if (ec) break;
    }
    w->Send(code, ct, std::move(body), std::move(headers));
    return;
  }
  w->StartStream(code, ct);  // unbounded body (a stream): headers other than the type are lost
  while (!p.is_done()) {
    p.get().body().data = chunk.data();
    p.get().body().size = chunk.size();
    http::read_some(s, fb, p, ec);
    if (ec == http::error::need_buffer) ec = {};
    size_t n = chunk.size() - p.get().body().size;
    if (n > 0 && !w->Write(std::string(chunk.data(), n))) break;
    if (ec) break;
  }
  w->Finish();
}

void PodStreamProxy::Connect(const Request& req, const rest::ConnectRequest& c, ResponseWriterPtr w) {
  if (c.subresource == "proxy") {
    std::string kind = c.resource == "pods" ? "pod" : c.resource == "services" ? "service" : "node";
    std::string scheme, name, port;
    if (!SplitSchemeNamePort(c.name, &scheme, &name, &port))
      return SendStatus(*w, BadRequestError("invalid " + kind + " request \"" + c.name + "\""));
    auto obj = c.get(c.resource, c.ns, name);
    if (!obj.ok()) return SendStatus(*w, obj.status());
    if (c.proxy_path.empty() && (req.method == "GET" || req.method == "HEAD")) {
      // As upstream: a proxy root without its slash is redirected to it (relative links work).
      std::string loc = req.path + "/" + (req.raw_query.empty() ? "" : "?" + req.raw_query);
      w->Send(301, "text/html; charset=utf-8", "<a href=\"" + loc + "\">Moved Permanently</a>.\n", {{"Location", loc}});
      return;
    }
    ProxyLocation loc;
    bool kubelet = false;
    std::string what = "service";
    if (c.resource == "pods") {
      auto l = PodProxyLocation(*obj, scheme, port);
      if (!l.ok()) return SendStatus(*w, l.status());
      loc = *l;
      what = "pod";
    } else if (c.resource == "services") {
      Json eps;
      auto e = c.get("endpoints", c.ns, name);
      if (e.ok()) {
        eps = std::move(e).value();
      } else if (e.status().code() != StatusCode::kNotFound) {
        return SendStatus(*w, e.status());
      }  // no Endpoints object yet: no endpoints
      auto l = ServiceProxyLocation(*obj, eps, c.name, scheme, port);
      if (!l.ok()) return SendStatus(*w, l.status());
      loc = *l;
    } else {
      auto a = KubeletAddress(*obj);
      if (!a.ok()) return SendStatus(*w, a.status());
      loc.host = a->first;
      loc.port = a->second;
      loc.scheme = "https";
      kubelet = true;
      if (!port.empty()) {
        auto pn = ParsePort(port);
        if (!pn.ok()) return SendStatus(*w, pn.status());
        kubelet = *pn == a->second;
        loc.port = *pn;
        loc.scheme = scheme.empty() ? (kubelet ? "https" : "http") : scheme;
      } else if (!scheme.empty()) {
        loc.scheme = scheme;
      }
      what = "node";
    }
    return ServeProxy(req, loc, kubelet, c.proxy_path, what, std::move(w));
  }
  if (c.resource != "pods") return SendStatus(*w, NotFoundError("the server could not find the requested resource"));
  auto pod = c.get("pods", c.ns, c.name);
  if (!pod.ok()) return SendStatus(*w, pod.status());
  PodTarget t{c.ns, c.name, c.subresource, std::move(pod).value(), Json()};
  std::string node = Str(t.pod_object, {"spec", "nodeName"});
  if (!node.empty()) {
    auto n = c.get("nodes", "", node);
    if (n.ok()) {
      t.node_object = std::move(n).value();
    } else if (n.status().code() != StatusCode::kNotFound) {
      return SendStatus(*w, n.status());
    } else {
      t.node_object = Json{{"metadata", {{"name", node}}}};  // answered "node X has no address"
    }
  }
  ServePodStream(req, t, std::move(w));
}

}  // namespace tug::apiserver::proxy
