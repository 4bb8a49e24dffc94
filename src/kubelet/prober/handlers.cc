#include "kubelet/prober/handlers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace tug::kubelet::prober {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string HostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

int RemainingMs(Steady::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Steady::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// A TCP connection (optionally TLS) with a deadline on every operation. Owns its fd and SSL.
class Conn {
 public:
  ~Conn() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) close(fd_);
  }

  // Errors read like Go's net errors, which is what kubelet's probe messages show.
  Status Dial(const std::string& host, int port, Steady::time_point deadline) {
    std::string where = "dial tcp " + HostPort(host, port) + ": ";
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (rc != 0 || !res) return UnavailableError(where + "lookup " + host + ": " + gai_strerror(rc));
    std::string last = "no addresses";
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
      if (fd < 0) {
        last = std::string("socket: ") + strerror(errno);
        continue;
      }
      if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        last = std::string("connect: ") + strerror(errno);
        close(fd);
        continue;
      }
      pollfd p{fd, POLLOUT, 0};
      int n = poll(&p, 1, RemainingMs(deadline));
      if (n == 0) {
        close(fd);
        freeaddrinfo(res);
        return TimeoutError(where + "i/o timeout");
      }
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (n < 0 || err != 0) {
        last = std::string("connect: ") + strerror(err ? err : errno);
        close(fd);
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fd_ = fd;
      freeaddrinfo(res);
      return Status::Ok();
    }
    freeaddrinfo(res);
    for (auto& ch : last) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return UnavailableError(where + last);
  }

  // TLS without verification (kubelet's probes and hooks skip it).
  Status StartTls(const std::string& sni, Steady::time_point deadline) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) return InternalError("SSL_CTX_new failed");
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    ssl_ = SSL_new(ctx_);
    if (!ssl_) return InternalError("SSL_new failed");
    SSL_set_fd(ssl_, fd_);
    in_addr a4;
    in6_addr a6;
    if (inet_pton(AF_INET, sni.c_str(), &a4) != 1 && inet_pton(AF_INET6, sni.c_str(), &a6) != 1)
      SSL_set_tlsext_host_name(ssl_, sni.c_str());
    while (true) {
      int rc = SSL_connect(ssl_);
      if (rc == 1) return Status::Ok();
      int e = SSL_get_error(ssl_, rc);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
        return UnavailableError(std::string("tls handshake: ") + buf);
      }
      if (!Wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
        return TimeoutError("net/http: TLS handshake timeout");
    }
  }

  Status WriteAll(std::string_view data, Steady::time_point deadline) {
    while (!data.empty()) {
      ssize_t n;
      if (ssl_) {
        int rc = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
        if (rc <= 0) {
          int e = SSL_get_error(ssl_, rc);
          if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return UnavailableError("write: tls error");
          if (!Wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return TimeoutError("write: i/o timeout");
          continue;
        }
        n = rc;
      } else {
        n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN) return UnavailableError(std::string("write: ") + strerror(errno));
          if (!Wait(POLLOUT, deadline)) return TimeoutError("write: i/o timeout");
          continue;
        }
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  // Appends what is available (at least one byte) to out. 0 bytes appended: EOF.
  Result<size_t> ReadSome(std::string& out, Steady::time_point deadline) {
    char buf[4096];
    while (true) {
      if (ssl_) {
        int rc = SSL_read(ssl_, buf, sizeof buf);
        if (rc > 0) {
          out.append(buf, static_cast<size_t>(rc));
          return static_cast<size_t>(rc);
        }
        int e = SSL_get_error(ssl_, rc);
        if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) return size_t{0};
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return UnavailableError("read: tls error");
        if (!Wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return TimeoutError("read: i/o timeout");
      } else {
        ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
          out.append(buf, static_cast<size_t>(n));
          return static_cast<size_t>(n);
        }
        if (n == 0) return size_t{0};
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return UnavailableError(std::string("read: ") + strerror(errno));
        if (!Wait(POLLIN, deadline)) return TimeoutError("read: i/o timeout");
      }
    }
  }

 private:
  bool Wait(short events, Steady::time_point deadline) {
    while (true) {
      pollfd p{fd_, events, 0};
      int n = poll(&p, 1, RemainingMs(deadline));
      if (n > 0) return true;
      if (n == 0) return false;
      if (errno != EINTR) return false;
    }
  }

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string JoinCmd(const std::vector<std::string>& cmd) {
  std::string out;
  for (const auto& c : cmd) out += (out.empty() ? "" : " ") + c;
  return out;
}

std::vector<std::string> Strings(const Json* a) {
  std::vector<std::string> out;
  if (a && a->is_array())
    for (const Json& s : *a)
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

milliseconds ProbeTimeout(const Json& probe) {
  int64_t t = 1;
  if (const Json* v = Find(probe, "timeoutSeconds"); v && v->is_number_integer() && v->get<int64_t>() > 0)
    t = v->get<int64_t>();
  return std::chrono::seconds(t);
}

// ---- minimal HTTP/2 (h2c) for the gRPC health check

constexpr uint8_t kFrameData = 0x0, kFrameHeaders = 0x1, kFrameRstStream = 0x3, kFrameSettings = 0x4,
                  kFramePing = 0x6, kFrameGoAway = 0x7;
constexpr uint8_t kFlagEndStream = 0x1, kFlagAck = 0x1, kFlagEndHeaders = 0x4;

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  size_t n = payload.size();
  f += static_cast<char>((n >> 16) & 0xff);
  f += static_cast<char>((n >> 8) & 0xff);
  f += static_cast<char>(n & 0xff);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += static_cast<char>((stream >> 24) & 0x7f);
  f += static_cast<char>((stream >> 16) & 0xff);
  f += static_cast<char>((stream >> 8) & 0xff);
  f += static_cast<char>(stream & 0xff);
  f.append(payload);
  return f;
}

// HPACK integer with an N-bit prefix.
void HpackInt(std::string& out, uint8_t first_bits, int prefix_bits, size_t value) {
  size_t max = (size_t{1} << prefix_bits) - 1;
  if (value < max) {
    out += static_cast<char>(first_bits | value);
    return;
  }
  out += static_cast<char>(first_bits | max);
  value -= max;
  while (value >= 128) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

void HpackString(std::string& out, const std::string& s) {
  HpackInt(out, 0x00, 7, s.size());  // no Huffman
  out += s;
}

// "Literal header field without indexing": indexed name (static table) or a new name.
void HpackLiteral(std::string& out, size_t name_index, const std::string& value) {
  HpackInt(out, 0x00, 4, name_index);
  HpackString(out, value);
}
void HpackLiteralNew(std::string& out, const std::string& name, const std::string& value) {
  out += '\0';
  HpackString(out, name);
  HpackString(out, value);
}

const char* ServingStatusName(uint64_t v) {
  switch (v) {
    case 0: return "UNKNOWN";
    case 1: return "SERVING";
    case 2: return "NOT_SERVING";
    case 3: return "SERVICE_UNKNOWN";
  }
  return "UNKNOWN";
}

}  // namespace

const char* ToString(ProbeResult r) {
  switch (r) {
    case ProbeResult::kSuccess: return "success";
    case ProbeResult::kFailure: return "failure";
    case ProbeResult::kUnknown: return "unknown";
  }
  return "unknown";
}

Result<int> ResolvePort(const Json& port, const Json& container) {
  if (port.is_number_integer()) {
    int p = port.get<int>();
    if (p <= 0 || p > 65535) return InvalidError("invalid port number: " + std::to_string(p));
    return p;
  }
  if (!port.is_string()) return InvalidError("missing port");
  std::string s = port.get<std::string>();
  if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int p = std::stoi(s);
    if (p <= 0 || p > 65535) return InvalidError("invalid port number: " + s);
    return p;
  }
  if (const Json* ports = Find(container, "ports"); ports && ports->is_array())
    for (const Json& cp : *ports)
      if (GetString(cp, "name") == s && cp.contains("containerPort")) return cp["containerPort"].get<int>();
  return NotFoundError("couldn't find port: " + s + " in " + GetString(container, "name"));
}

Result<HttpGetRequest> BuildHttpGet(const Json& http_get, const HandlerContext& ctx, const std::string& user_agent) {
  HttpGetRequest req;
  req.scheme = GetString(http_get, "scheme", "HTTP");
  req.host = GetString(http_get, "host");
  if (req.host.empty()) req.host = ctx.pod_ip;
  ASSIGN_OR_RETURN(req.port, ResolvePort(http_get.value("port", Json()), ctx.container));
  req.path = GetString(http_get, "path");
  if (req.path.empty() || req.path[0] != '/') req.path = "/" + req.path;
  bool have_ua = false, have_accept = false;
  if (const Json* hs = Find(http_get, "httpHeaders"); hs && hs->is_array())
    for (const Json& h : *hs) {
      std::string name = GetString(h, "name");
      if (name.empty()) continue;
      if (Lower(name) == "user-agent") have_ua = true;
      if (Lower(name) == "accept") have_accept = true;
      req.headers.emplace_back(name, GetString(h, "value"));
    }
  if (!have_ua) req.headers.emplace_back("User-Agent", user_agent);
  if (!have_accept) req.headers.emplace_back("Accept", "*/*");
  return req;
}

Result<HttpGetResponse> HttpGet(const HttpGetRequest& req, milliseconds timeout) {
  auto deadline = Steady::now() + timeout;
  std::string scheme = Lower(req.scheme);
  std::string url = scheme + "://" + HostPort(req.host, req.port) + req.path;
  auto fail = [&](const Status& s) {
    std::string msg = "Get \"" + url + "\": " + s.message();
    if (s.code() == StatusCode::kTimeout)
      msg = "Get \"" + url + "\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)";
    return Status(s.code(), msg);
  };
  Conn conn;
  if (Status s = conn.Dial(req.host, req.port, deadline); !s.ok()) return fail(s);
  std::string host_header = HostPort(req.host, req.port);
  if ((scheme == "http" && req.port == 80) || (scheme == "https" && req.port == 443)) host_header = req.host;
  if (scheme == "https")
    if (Status s = conn.StartTls(req.host, deadline); !s.ok()) return fail(s);
  std::string msg = "GET " + req.path + " HTTP/1.1\r\n";
  bool custom_host = false;
  for (const auto& [k, v] : req.headers)
    if (Lower(k) == "host") {
      custom_host = true;
      msg += "Host: " + v + "\r\n";
    }
  if (!custom_host) msg += "Host: " + host_header + "\r\n";
  for (const auto& [k, v] : req.headers)
    if (Lower(k) != "host") msg += k + ": " + v + "\r\n";
  msg += "Connection: close\r\n\r\n";
  if (Status s = conn.WriteAll(msg, deadline); !s.ok()) return fail(s);
  std::string in;
  size_t header_end = std::string::npos;
  while ((header_end = in.find("\r\n\r\n")) == std::string::npos) {
    auto n = conn.ReadSome(in, deadline);
    if (!n.ok()) return fail(n.status());
    if (*n == 0) return fail(UnavailableError("EOF"));
    if (in.size() > 64 * 1024) return fail(UnavailableError("response headers too long"));
  }
  // "HTTP/1.1 200 OK"
  HttpGetResponse resp;
  auto sp = in.find(' ');
  if (in.compare(0, 5, "HTTP/") != 0 || sp == std::string::npos || sp + 4 > in.size())
    return fail(UnavailableError("malformed HTTP response"));
  resp.status = std::atoi(in.c_str() + sp + 1);
  if (resp.status < 100 || resp.status > 999) return fail(UnavailableError("malformed HTTP status code"));
  resp.body = in.substr(header_end + 4);
  // The body (bounded to 10 KiB) until EOF or the deadline; it only feeds messages.
  while (resp.body.size() < 10 * 1024) {
    auto n = conn.ReadSome(resp.body, std::min(deadline, Steady::now() + milliseconds(200)));
    if (!n.ok() || *n == 0) break;
  }
  if (resp.body.size() > 10 * 1024) resp.body.resize(10 * 1024);
  return resp;
}

ProbeOutcome HttpProbe(const HttpGetRequest& req, milliseconds timeout) {
  auto r = HttpGet(req, timeout);
  if (!r.ok()) return {ProbeResult::kFailure, r.status().message()};
  if (r->status >= 200 && r->status < 400) return {ProbeResult::kSuccess, ""};
  return {ProbeResult::kFailure, "HTTP probe failed with statuscode: " + std::to_string(r->status)};
}

ProbeOutcome TcpProbe(const std::string& host, int port, milliseconds timeout) {
  Conn conn;
  if (Status s = conn.Dial(host, port, Steady::now() + timeout); !s.ok())
    return {ProbeResult::kFailure, s.message()};
  return {ProbeResult::kSuccess, ""};
}

ProbeOutcome GrpcProbe(const std::string& host, int port, const std::string& service, milliseconds timeout) {
  auto deadline = Steady::now() + timeout;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
  std::string within = std::to_string(secs) + "s";
  Conn conn;
  if (Status s = conn.Dial(host, port, deadline); !s.ok()) {
    if (s.code() == StatusCode::kTimeout)
      return {ProbeResult::kFailure, "timeout: failed to connect service \"" + HostPort(host, port) + "\" within " + within};
    return {ProbeResult::kFailure, "failed to connect service \"" + HostPort(host, port) + "\": " + s.message()};
  }
  std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  out += Frame(kFrameSettings, 0, 0, "");
  std::string hb;
  hb += static_cast<char>(0x83);  // :method POST
  hb += static_cast<char>(0x86);  // :scheme http
  HpackLiteral(hb, 4, "/grpc.health.v1.Health/Check");  // :path
  HpackLiteral(hb, 1, HostPort(host, port));            // :authority
  HpackLiteral(hb, 31, "application/grpc");             // content-type
  HpackLiteralNew(hb, "te", "trailers");
  HpackLiteral(hb, 58, std::string("kube-probe/") + kKubeletMinorVersion);  // user-agent
  HpackLiteralNew(hb, "grpc-timeout", std::to_string(std::max<int64_t>(timeout.count(), 1)) + "m");
  out += Frame(kFrameHeaders, kFlagEndHeaders, 1, hb);
  std::string msg;  // HealthCheckRequest{service = 1}
  if (!service.empty()) {
    msg += '\x0a';
    size_t n = service.size();
    while (n >= 128) {
      msg += static_cast<char>((n & 0x7f) | 0x80);
      n >>= 7;
    }
    msg += static_cast<char>(n);
    msg += service;
  }
  std::string data(1, '\0');
  uint32_t len = static_cast<uint32_t>(msg.size());
  for (int shift = 24; shift >= 0; shift -= 8) data += static_cast<char>((len >> shift) & 0xff);
  data += msg;
  out += Frame(kFrameData, kFlagEndStream, 1, data);
  auto timeout_failure = [&] {
    return ProbeOutcome{ProbeResult::kFailure,
                        "timeout: health rpc did not complete within " + within};
  };
  if (Status s = conn.WriteAll(out, deadline); !s.ok()) {
    if (s.code() == StatusCode::kTimeout) return timeout_failure();
    return {ProbeResult::kFailure, "rpc error: code = Unavailable desc = " + s.message()};
  }
  std::string in, body;
  while (true) {
    while (in.size() >= 9) {
      size_t n = (size_t(uint8_t(in[0])) << 16) | (size_t(uint8_t(in[1])) << 8) | uint8_t(in[2]);
      if (in.size() < 9 + n) break;
      uint8_t type = uint8_t(in[3]), flags = uint8_t(in[4]);
      uint32_t stream = ((uint32_t(uint8_t(in[5])) & 0x7f) << 24) | (uint32_t(uint8_t(in[6])) << 16) |
                        (uint32_t(uint8_t(in[7])) << 8) | uint8_t(in[8]);
      std::string payload = in.substr(9, n);
      in.erase(0, 9 + n);
      if (type == kFrameSettings && !(flags & kFlagAck)) {
        (void)conn.WriteAll(Frame(kFrameSettings, kFlagAck, 0, ""), deadline);
      } else if (type == kFramePing && !(flags & kFlagAck)) {
        (void)conn.WriteAll(Frame(kFramePing, kFlagAck, 0, payload), deadline);
      } else if (type == kFrameGoAway) {
        return {ProbeResult::kFailure, "rpc error: code = Unavailable desc = the server closed the connection"};
      } else if (stream == 1 && type == kFrameRstStream) {
        return {ProbeResult::kFailure, "rpc error: code = Unavailable desc = the server reset the stream"};
      } else if (stream == 1 && type == kFrameData) {
        size_t off = 0;
        if (flags & 0x8) off = payload.empty() ? 0 : 1 + uint8_t(payload[0]);  // PADDED
        if (off <= payload.size()) body += payload.substr(off);
      }
      if (stream == 1 && (type == kFrameData || type == kFrameHeaders) && (flags & kFlagEndStream)) {
        if (body.size() < 5)
          return {ProbeResult::kFailure,
                  "rpc error: the server ended the health check without a response (unknown service or error status)"};
        uint32_t mlen = (uint32_t(uint8_t(body[1])) << 24) | (uint32_t(uint8_t(body[2])) << 16) |
                        (uint32_t(uint8_t(body[3])) << 8) | uint8_t(body[4]);
        std::string m = body.substr(5, mlen);
        // HealthCheckResponse{status = 1 (enum)}; absent = UNKNOWN.
        uint64_t status = 0;
        for (size_t i = 0; i < m.size();) {
          uint8_t tag = uint8_t(m[i++]);
          uint64_t v = 0;
          int shift = 0;
          while (i < m.size()) {
            uint8_t b = uint8_t(m[i++]);
            v |= uint64_t(b & 0x7f) << shift;
            shift += 7;
            if (!(b & 0x80)) break;
          }
          if (tag == 0x08) status = v;
          else if ((tag & 7) == 2) i += v;  // skip other length-delimited fields
        }
        if (status == 1) return {ProbeResult::kSuccess, ""};
        return {ProbeResult::kFailure,
                std::string("service unhealthy (responded with \"") + ServingStatusName(status) + "\")"};
      }
    }
    auto r = conn.ReadSome(in, deadline);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kTimeout) return timeout_failure();
      return {ProbeResult::kFailure, "rpc error: code = Unavailable desc = " + r.status().message()};
    }
    if (*r == 0)
      return {ProbeResult::kFailure, "rpc error: code = Unavailable desc = connection closed before the response"};
  }
}

ProbeOutcome ExecProbe(const ExecFn& exec, const std::string& container_id, const std::vector<std::string>& cmd,
                       milliseconds timeout) {
  if (!exec) return {ProbeResult::kUnknown, "exec is not available"};
  auto r = exec(container_id, cmd, timeout);
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kTimeout)
      return {ProbeResult::kFailure, "command \"" + JoinCmd(cmd) + "\" timed out"};
    return {ProbeResult::kUnknown, r.status().message()};
  }
  std::string output = r->stdout_data + r->stderr_data;
  if (r->timed_out) return {ProbeResult::kFailure, "command \"" + JoinCmd(cmd) + "\" timed out"};
  if (r->exit_code != 0) return {ProbeResult::kFailure, output};
  return {ProbeResult::kSuccess, output};
}

ProbeOutcome RunProbe(const Json& probe, const HandlerContext& ctx) {
  milliseconds timeout = ProbeTimeout(probe);
  if (const Json* e = Find(probe, "exec"))
    return ExecProbe(ctx.exec, ctx.container_id, Strings(Find(*e, "command")), timeout);
  if (const Json* h = Find(probe, "httpGet")) {
    auto req = BuildHttpGet(*h, ctx, std::string("kube-probe/") + kKubeletMinorVersion);
    if (!req.ok()) return {ProbeResult::kUnknown, req.status().message()};
    return HttpProbe(*req, timeout);
  }
  if (const Json* t = Find(probe, "tcpSocket")) {
    auto port = ResolvePort(t->value("port", Json()), ctx.container);
    if (!port.ok()) return {ProbeResult::kUnknown, port.status().message()};
    std::string host = GetString(*t, "host");
    return TcpProbe(host.empty() ? ctx.pod_ip : host, *port, timeout);
  }
  if (const Json* g = Find(probe, "grpc")) {
    const Json* p = Find(*g, "port");
    if (!p || !p->is_number_integer()) return {ProbeResult::kUnknown, "grpc probe without a port"};
    return GrpcProbe(ctx.pod_ip, p->get<int>(), GetString(*g, "service"), timeout);
  }
  return {ProbeResult::kUnknown, "missing probe handler"};
}

Status RunLifecycleHandler(const Json& handler, const HandlerContext& ctx, const std::string& pod_desc,
                           milliseconds timeout, std::stop_token stop) {
  std::string cname = GetString(ctx.container, "name");
  if (const Json* e = Find(handler, "exec")) {
    auto cmd = Strings(Find(*e, "command"));
    std::string cmd_desc = "[" + JoinCmd(cmd) + "]";
    auto prefix = "Exec lifecycle hook (" + cmd_desc + ") for Container \"" + cname + "\" in Pod \"" + pod_desc + "\" failed - error: ";
    if (!ctx.exec) return InternalError(prefix + "exec is not available, message: \"\"");
    auto r = ctx.exec(ctx.container_id, cmd, timeout);
    if (!r.ok()) return Status(r.status().code(), prefix + r.status().message() + ", message: \"\"");
    std::string output = r->stdout_data + r->stderr_data;
    if (r->timed_out) return TimeoutError(prefix + "command '" + JoinCmd(cmd) + "' timed out, message: \"" + output + "\"");
    if (r->exit_code != 0)
      return InternalError(prefix + "command '" + JoinCmd(cmd) + "' exited with " + std::to_string(r->exit_code) +
                           ": " + output + ", message: \"" + output + "\"");
    return Status::Ok();
  }
  if (const Json* h = Find(handler, "httpGet")) {
    auto req = BuildHttpGet(*h, ctx, std::string("kube-lifecycle/") + kKubeletMinorVersion);
    if (!req.ok()) return req.status();
    auto r = HttpGet(*req, timeout);
    if (!r.ok())
      return Status(r.status().code(), "HTTP lifecycle hook (" + req->path + ") for Container \"" + cname +
                                           "\" in Pod \"" + pod_desc + "\" failed - error: " + r.status().message());
    return Status::Ok();
  }
  if (const Json* s = Find(handler, "sleep")) {
    int64_t secs = s->value("seconds", int64_t{0});
    auto until = Steady::now() + std::min<milliseconds>(std::chrono::seconds(secs), timeout);
    while (Steady::now() < until && !stop.stop_requested())
      std::this_thread::sleep_for(std::min<milliseconds>(milliseconds(100), std::chrono::duration_cast<milliseconds>(until - Steady::now()) + milliseconds(1)));
    return Status::Ok();
  }
  if (Find(handler, "tcpSocket")) return Status::Ok();  // deprecated for hooks; kubelet ignores it
  return InvalidError("invalid handler: no exec, httpGet or sleep action");
}

}  // namespace tug::kubelet::prober
