#include "apiserver/proxy/proxy.h"

#include <sys/socket.h>

#include <atomic>
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
  if (t.subresource == "portforward") {
    SendStatus(*w, BadRequestError("Upgrade request required"));
    return;
  }
  auto c = ChooseContainer(t.pod_object, req.Query("container"));
  if (!c.ok()) {
    SendStatus(*w, c.status());
    return;
  }
  if (t.subresource == "log") {
    if (req.method != "GET") {
      SendStatus(*w, Status(StatusCode::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
      return;
    }
    return ServeLog(req, t, *c, std::move(w));
  }
  SendStatus(*w, BadRequestError("Upgrade request required"));
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
  p.body_limit(boost::none);
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

}  // namespace tug::apiserver::proxy
