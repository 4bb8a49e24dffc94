#include "runtime/image/registry_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "base/log.h"
#include "runtime/image/digest.h"
#include "runtime/image/layer.h"

namespace tug::runtime::image {
namespace {

constexpr const char* kLog = "images";
constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kMaxManifestBytes = 4 << 20;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// Every socket libcurl opens is close-on-exec (CVE-2024-21626 class of leaks).
curl_socket_t OpenSocketCloexec(void*, curlsocktype, struct curl_sockaddr* a) {
  return ::socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

std::string UrlEscape(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

bool IsSslError(CURLcode c) {
  switch (c) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
      return true;
    default:
      return false;
  }
}

// Registry error body ({"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}) to text.
std::string RegistryErrorText(const std::string& body) {
  auto j = ParseJson(body);
  if (j.ok()) {
    if (const Json* errs = Find(*j, "errors"); errs && errs->is_array() && !errs->empty()) {
      std::string out;
      for (const auto& e : *errs) {
        if (!out.empty()) out += "; ";
        std::string code = GetString(e, "code"), msg = GetString(e, "message");
        out += msg.empty() ? code : (code.empty() ? msg : Lower(code) + ": " + msg);
      }
      return out;
    }
  }
  return body.size() > 200 ? body.substr(0, 200) : body;
}

}  // namespace

// ------------------------------------------------------------------ platform, parsing

Platform Platform::Host() {
  Platform p;
#if defined(__x86_64__)
  p.architecture = "amd64";
#elif defined(__aarch64__)
  p.architecture = "arm64";
  p.variant = "v8";
#elif defined(__arm__)
  p.architecture = "arm";
  p.variant = "v7";
#elif defined(__riscv)
  p.architecture = "riscv64";
#else
  p.architecture = "unknown";
#endif
  return p;
}

std::string Platform::String() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

bool Platform::Matches(const Json& p) const {
  if (!p.is_object()) return false;
  if (GetString(p, "os") != os || GetString(p, "architecture") != architecture) return false;
  std::string v = GetString(p, "variant");
  if (variant.empty() || v == variant) return true;
  // arm64 images often omit the (only) variant v8.
  return v.empty() && architecture == "arm64" && variant == "v8";
}

std::vector<AuthChallenge> ParseAuthChallenges(std::string_view h) {
  std::vector<AuthChallenge> out;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) ++i;
  };
  while (true) {
    skip_ws();
    if (i >= h.size()) break;
    size_t s = i;
    while (i < h.size() && h[i] != ' ' && h[i] != ',') ++i;
    AuthChallenge c;
    c.scheme = Lower(std::string(h.substr(s, i - s)));
    // Parameters: key=value or key="quoted, value", separated by commas.
    while (true) {
      skip_ws();
      size_t ks = i;
      while (i < h.size() && h[i] != '=' && h[i] != ' ' && h[i] != ',') ++i;
      if (i >= h.size() || h[i] != '=') {
        i = ks;  // next challenge's scheme (or end)
        break;
      }
      std::string key = Lower(std::string(h.substr(ks, i - ks)));
      ++i;  // '='
      std::string val;
      if (i < h.size() && h[i] == '"') {
        ++i;
        while (i < h.size() && h[i] != '"') {
          if (h[i] == '\\' && i + 1 < h.size()) ++i;
          val += h[i++];
        }
        if (i < h.size()) ++i;
      } else {
        while (i < h.size() && h[i] != ',' && h[i] != ' ') val += h[i++];
      }
      c.params[key] = val;
    }
    out.push_back(std::move(c));
  }
  return out;
}

Status ParseImageManifest(std::string_view raw, Descriptor* config, std::vector<Descriptor>* layers) {
  auto j = ParseJson(raw);
  if (!j.ok()) return InvalidError("malformed manifest: " + j.status().message());
  if (!j->is_object()) return InvalidError("malformed manifest: not an object");
  if (j->value("schemaVersion", 0) != 2)
    return InvalidError("unsupported manifest schemaVersion (only schema 2 images are supported)");
  auto desc = [](const Json& d, Descriptor* out) -> Status {
    out->media_type = GetString(d, "mediaType");
    out->digest = GetString(d, "digest");
    const Json* size = Find(d, "size");
    out->size = size && size->is_number_integer() ? size->get<int64_t>() : -1;
    if (!IsValidDigest(out->digest)) return InvalidError("malformed manifest: bad digest \"" + out->digest + "\"");
    return Status::Ok();
  };
  const Json* c = Find(*j, "config");
  if (!c || !c->is_object()) return InvalidError("malformed manifest: no config");
  RETURN_IF_ERROR(desc(*c, config));
  const Json* ls = Find(*j, "layers");
  if (!ls || !ls->is_array()) return InvalidError("malformed manifest: no layers");
  layers->clear();
  for (const auto& l : *ls) {
    Descriptor d;
    RETURN_IF_ERROR(desc(l, &d));
    layers->push_back(std::move(d));
  }
  return Status::Ok();
}

Result<Descriptor> SelectPlatform(const Json& index, const Platform& platform) {
  const Json* ms = Find(index, "manifests");
  if (!ms || !ms->is_array()) return InvalidError("malformed manifest list: no manifests");
  for (const auto& m : *ms) {
    if (!platform.Matches(m.value("platform", Json::object()))) continue;
    Descriptor d;
    d.media_type = GetString(m, "mediaType");
    d.digest = GetString(m, "digest");
    d.size = m.value("size", int64_t{-1});
    if (!IsValidDigest(d.digest)) return InvalidError("malformed manifest list: bad digest");
    return d;
  }
  return NotFoundError("no match for platform in manifest: " + platform.String() + " not found");
}

// ------------------------------------------------------------------ HTTP

struct RegistryClient::HttpResult {
  long code = 0;
  CURLcode curl = CURLE_OK;
  std::string error;                          // curl's error text
  std::map<std::string, std::string> headers;  // of the last response, lower-case names
  std::string body;                            // non-file responses and error bodies
  bool ok() const { return curl == CURLE_OK && (code == 200 || code == 206); }
  bool transient() const {
    if (curl != CURLE_OK) return curl != CURLE_COULDNT_RESOLVE_HOST && curl != CURLE_UNSUPPORTED_PROTOCOL;
    return code == 429 || code >= 500;
  }
  std::string Describe() const {
    if (curl != CURLE_OK) return error.empty() ? curl_easy_strerror(curl) : error;
    std::string t = RegistryErrorText(body);
    return "HTTP " + std::to_string(code) + (t.empty() ? "" : ": " + t);
  }
};

// A body going to a file (blob downloads) with resume support.
struct RegistryClient::Transfer {
  int fd = -1;
  int64_t offset = 0;      // bytes already in the file before this request
  int64_t written = 0;     // bytes written in this request
  bool truncated = false;  // a 200 answered our Range: restarted from 0
  std::string digest;
  int64_t total = -1;
  CURL* handle = nullptr;
  std::string error_body;
  Status io_error;
  std::chrono::steady_clock::time_point last_log{};
  const std::function<void(const std::string&, int64_t)>* hook = nullptr;
  const std::function<bool()>* cancelled = nullptr;  // Options::cancelled

  // Options::cancelled said so: the transfer ends with io_error, which FetchBlob never retries.
  bool Cancel() {
    if (!cancelled || !*cancelled || !(*cancelled)()) return false;
    if (io_error.ok()) io_error = InternalError("pull cancelled");
    return true;
  }
};

namespace {

struct CallCtx {
  CURL* h = nullptr;
  std::string* body = nullptr;
  void* transfer = nullptr;
  std::map<std::string, std::string>* headers = nullptr;
};

size_t HeaderCb(char* p, size_t size, size_t n, void* ud) {
  auto* c = static_cast<CallCtx*>(ud);
  std::string_view line(p, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    c->headers->clear();  // a new response (after a redirect or 100)
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    (*c->headers)[Lower(std::string(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
  }
  return size * n;
}

}  // namespace

RegistryClient::RegistryClient(Options options) : options_(std::move(options)) { GlobalInit(); }
RegistryClient::~RegistryClient() = default;

std::chrono::milliseconds RegistryClient::Backoff(int attempt) const {
  auto d = options_.initial_backoff;
  for (int i = 1; i < attempt && d < options_.max_backoff; ++i) d *= 2;
  return std::min(d, options_.max_backoff);
}

RegistryClient::HttpResult RegistryClient::Perform(const Endpoint& ep, const std::string& method,
                                                   const std::string& url,
                                                   const std::vector<std::string>& headers,
                                                   Transfer* t, const std::string* post_body) {
  HttpResult res;
  CURL* h = curl_easy_init();
  if (!h) {
    res.curl = CURLE_FAILED_INIT;
    res.error = "curl_easy_init failed";
    return res;
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* hl = nullptr;
  for (const auto& x : headers) hl = curl_slist_append(hl, x.c_str());
  if (t && t->offset > 0) hl = curl_slist_append(hl, ("Range: bytes=" + std::to_string(t->offset) + "-").c_str());
  CallCtx ctx{h, &res.body, t, &res.headers};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "tug/0.1");
  // A loopback endpoint tried over https first may be a plain HTTP server that never answers a
  // TLS hello: give up on it quickly (a loopback handshake takes milliseconds).
  long connect_timeout = options_.connect_timeout_seconds;
  if (ep.http_fallback && url.rfind("https://", 0) == 0) connect_timeout = std::min(connect_timeout, 2L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, connect_timeout);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, options_.stall_timeout_seconds);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, OpenSocketCloexec);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, HeaderCb);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &ctx);
  if (method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  if (method == "POST" && post_body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, post_body->c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(post_body->size()));
  }
  if (ep.config.insecure_skip_verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!ep.config.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ep.config.ca_file.c_str());
  if (!ep.config.cert_file.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, ep.config.cert_file.c_str());
  if (!ep.config.key_file.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, ep.config.key_file.c_str());

  auto write_cb = +[](char* p, size_t size, size_t n, void* ud) -> size_t {
    auto* c = static_cast<CallCtx*>(ud);
    size_t len = size * n;
    long code = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
    auto* tr = static_cast<Transfer*>(c->transfer);
    if (!tr || (code != 200 && code != 206)) {
      if (c->body->size() < (tr ? kMaxErrorBody : kMaxManifestBytes)) c->body->append(p, len);
      return len;
    }
    if (code == 200 && tr->offset > 0 && tr->written == 0 && !tr->truncated) {
      // The server ignored our Range: start over.
      if (::ftruncate(tr->fd, 0) != 0 || ::lseek(tr->fd, 0, SEEK_SET) != 0) {
        tr->io_error = InternalError(std::string("truncate: ") + ErrnoText(errno));
        return 0;
      }
      tr->offset = 0;
      tr->truncated = true;
    }
    size_t done = 0;
    while (done < len) {
      ssize_t w = ::write(tr->fd, p + done, len - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        tr->io_error = InternalError(std::string("write blob: ") + ErrnoText(errno));
        return 0;
      }
      done += static_cast<size_t>(w);
    }
    if (tr->Cancel()) return 0;
    tr->written += static_cast<int64_t>(len);
    int64_t have = tr->offset + tr->written;
    auto now = std::chrono::steady_clock::now();
    if (now - tr->last_log > std::chrono::seconds(2)) {
      if (tr->last_log.time_since_epoch().count() != 0)
        TUG_LOG(INFO, kLog) << "pull progress" << kv("digest", tr->digest) << kv("bytes", have)
                            << kv("total", tr->total);
      tr->last_log = now;
    }
    if (tr->hook && *tr->hook) (*tr->hook)(tr->digest, have);
    return len;
  };
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx);
  if (t && t->cancelled && *t->cancelled) {
    // Also while no data comes (a stalled registry): curl calls this about once a second.
    curl_xferinfo_callback progress = [](void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
      return static_cast<Transfer*>(ud)->Cancel() ? 1 : 0;
    };
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  }
  res.curl = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res.code);
  if (res.curl != CURLE_OK) res.error = errbuf[0] ? std::string(errbuf) : curl_easy_strerror(res.curl);
  if (t && !t->io_error.ok() && res.curl == CURLE_OK) res.curl = CURLE_WRITE_ERROR;
  curl_slist_free_all(hl);
  curl_easy_cleanup(h);
  return res;
}

Status RegistryClient::Authenticate(const Endpoint& ep, const std::string& repo, const Credentials& creds,
                                    const std::string& header) {
  auto challenges = ParseAuthChallenges(header);
  std::string key = ep.base_url + "|" + repo;
  for (const auto& c : challenges) {
    if (c.scheme == "basic") {
      if (creds.username.empty() && creds.password.empty())
        return UnauthorizedError("authorization failed: no basic auth credentials");
      std::lock_guard<std::mutex> l(mu_);
      auth_headers_[key] = "Authorization: Basic " + Base64Encode(creds.username + ":" + creds.password);
      return Status::Ok();
    }
    if (c.scheme != "bearer") continue;
    auto realm = c.params.find("realm");
    if (realm == c.params.end() || realm->second.empty())
      return UnauthorizedError("bearer challenge without realm");
    std::string service = c.params.count("service") ? c.params.at("service") : "";
    std::string scope = c.params.count("scope") ? c.params.at("scope") : "repository:" + repo + ":pull";
    Endpoint token_ep = ep;
    std::vector<std::string> hdrs;
    std::string url = realm->second;
    HttpResult r;
    if (!creds.identity_token.empty()) {
      // OAuth2 refresh-token grant (what `docker login` with an identity token uses).
      std::string form = "grant_type=refresh_token&client_id=tug&refresh_token=" + UrlEscape(creds.identity_token) +
                         "&service=" + UrlEscape(service) + "&scope=" + UrlEscape(scope);
      hdrs.push_back("Content-Type: application/x-www-form-urlencoded");
      r = Perform(token_ep, "POST", url, hdrs, nullptr, &form);
    } else {
      url += (url.find('?') == std::string::npos ? "?" : "&");
      if (!service.empty()) url += "service=" + UrlEscape(service) + "&";
      url += "scope=" + UrlEscape(scope);
      if (!creds.username.empty() || !creds.password.empty())
        hdrs.push_back("Authorization: Basic " + Base64Encode(creds.username + ":" + creds.password));
      r = Perform(token_ep, "GET", url, hdrs, nullptr);
    }
    if (r.curl != CURLE_OK) return UnavailableError("token endpoint " + realm->second + ": " + r.Describe());
    if (r.code == 401 || r.code == 403)
      return UnauthorizedError("token endpoint " + realm->second + " refused: " + r.Describe());
    if (r.code != 200) return UnavailableError("token endpoint " + realm->second + ": " + r.Describe());
    auto j = ParseJson(r.body);
    if (!j.ok()) return UnavailableError("token endpoint returned malformed JSON");
    std::string token = GetString(*j, "token");
    if (token.empty()) token = GetString(*j, "access_token");
    if (token.empty()) return UnauthorizedError("token endpoint returned no token");
    std::lock_guard<std::mutex> l(mu_);
    auth_headers_[key] = "Authorization: Bearer " + token;
    return Status::Ok();
  }
  return UnauthorizedError("unsupported authentication challenge: " + header);
}

RegistryClient::HttpResult RegistryClient::Authed(const Endpoint& ep, const std::string& repo,
                                                  const Credentials& creds, const std::string& url,
                                                  const std::vector<std::string>& headers, Transfer* t) {
  std::string key = ep.base_url + "|" + repo;
  for (int round = 0; round < 2; ++round) {
    std::vector<std::string> hdrs = headers;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (auto it = auth_headers_.find(key); it != auth_headers_.end()) hdrs.push_back(it->second);
    }
    HttpResult r = Perform(ep, "GET", url, hdrs, t);
    if (r.curl != CURLE_OK || r.code != 401 || round == 1) return r;
    auto www = r.headers.find("www-authenticate");
    if (www == r.headers.end()) return r;
    Status st = Authenticate(ep, repo, creds, www->second);
    if (!st.ok()) {
      HttpResult e = r;
      e.body = "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":" + Json(st.message()).dump() + "}]}";
      return e;
    }
  }
  return {};
}

// Returns {media type, bytes} of one manifest, with retries of transient failures.
Result<std::pair<std::string, std::string>> RegistryClient::GetManifest(Endpoint* ep, const std::string& repo,
                                                                        const Credentials& creds,
                                                                        const std::string& ref) {
  std::vector<std::string> hdrs = {std::string("Accept: ") + kMediaOciIndex + ", " + kMediaOciManifest + ", " +
                                   kMediaDockerList + ", " + kMediaDockerManifest};
  HttpResult r;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    std::string url = ep->base_url + "/v2/" + repo + "/manifests/" + ref;
    r = Authed(*ep, repo, creds, url, hdrs, nullptr);
    if (r.curl != CURLE_OK && ep->http_fallback && ep->base_url.rfind("https://", 0) == 0 &&
        (IsSslError(r.curl) || r.curl == CURLE_COULDNT_CONNECT || r.curl == CURLE_OPERATION_TIMEDOUT)) {
      // Loopback registries may speak plain HTTP (as Docker allows).
      ep->base_url = "http://" + ep->base_url.substr(8);
      ep->plain_http = true;
      --attempt;
      ep->http_fallback = false;
      continue;
    }
    if (r.ok()) break;
    if (!r.transient() || attempt == options_.max_attempts) break;
    TUG_LOG(WARNING, kLog) << "manifest request failed, retrying" << kv("url", url) << kv("error", r.Describe())
                           << kv("attempt", attempt);
    std::this_thread::sleep_for(Backoff(attempt));
  }
  std::string what = ep->base_url + "/v2/" + repo + "/manifests/" + ref;
  if (r.curl != CURLE_OK) return UnavailableError(what + ": " + r.Describe());
  if (r.code == 404) return NotFoundError(what + ": not found");
  if (r.code == 401) return UnauthorizedError(what + ": " + r.Describe());
  if (r.code == 403) return ForbiddenError(what + ": " + r.Describe());
  if (r.code != 200) return UnavailableError(what + ": " + r.Describe());
  std::string mt = r.headers.count("content-type") ? r.headers.at("content-type") : "";
  if (auto semi = mt.find(';'); semi != std::string::npos) mt = Trim(mt.substr(0, semi));
  if (mt.empty() || mt == "application/json" || mt == "text/plain") {
    auto j = ParseJson(r.body);
    if (j.ok()) {
      mt = GetString(*j, "mediaType");
      if (mt.empty() && Find(*j, "manifests")) mt = kMediaOciIndex;
      if (mt.empty() && Find(*j, "layers")) mt = kMediaOciManifest;
    }
  }
  return std::make_pair(mt, std::move(r.body));
}

Result<ResolvedManifest> RegistryClient::Resolve(const Reference& ref,
                                                 const std::map<std::string, Credentials>& keyring) {
  std::vector<Endpoint> endpoints = options_.registries.EndpointsFor(ref.domain);
  Status first_error;
  for (auto& ep : endpoints) {
    Credentials creds = ep.config.auth;
    if (creds.empty()) {
      if (auto c = LookupCredentials(keyring, ep.host)) creds = *c;
      else if (auto c2 = LookupCredentials(keyring, ref.domain)) creds = *c2;
    }
    auto got = GetManifest(&ep, ref.path, creds, ref.ManifestRef());
    if (!got.ok()) {
      TUG_VLOG(2, kLog) << "endpoint failed" << kv("image", ref.String()) << kv("endpoint", ep.base_url)
                        << kv("error", got.status().message());
      // The most telling error wins: "not found" or "unauthorized" over a later network error.
      if (first_error.ok() || (first_error.code() == StatusCode::kUnavailable &&
                               got.status().code() != StatusCode::kUnavailable))
        first_error = got.status();
      continue;
    }
    ResolvedManifest m;
    m.ref = ref;
    m.endpoint = ep;
    m.credentials = creds;
    auto [media_type, raw] = std::move(got).value();
    m.repo_digest = DigestOf(raw);
    if (!ref.digest.empty() && m.repo_digest != ref.digest)
      return InvalidError("manifest digest mismatch for " + ref.String() + ": got " + m.repo_digest);
    if (media_type == kMediaOciIndex || media_type == kMediaDockerList) {
      auto index = ParseJson(raw);
      if (!index.ok()) return InvalidError("malformed manifest list: " + index.status().message());
      ASSIGN_OR_RETURN(Descriptor d, SelectPlatform(*index, options_.platform));
      auto sub = GetManifest(&ep, ref.path, creds, d.digest);
      if (!sub.ok()) return sub.status();
      std::tie(media_type, raw) = std::move(sub).value();
      m.digest = DigestOf(raw);
      if (m.digest != d.digest)
        return InvalidError("manifest digest mismatch for " + ref.Repository() + "@" + d.digest + ": got " + m.digest);
    } else {
      m.digest = m.repo_digest;
    }
    if (media_type != kMediaOciManifest && media_type != kMediaDockerManifest)
      return InvalidError("unsupported manifest media type \"" + media_type + "\" for " + ref.String());
    m.media_type = media_type;
    m.raw = std::move(raw);
    RETURN_IF_ERROR(ParseImageManifest(m.raw, &m.config, &m.layers));
    TUG_LOG(INFO, kLog) << "resolved" << kv("image", ref.String()) << kv("digest", m.repo_digest)
                        << kv("endpoint", ep.base_url) << kv("layers", m.layers.size());
    return m;
  }
  if (first_error.code() == StatusCode::kNotFound)
    return NotFoundError("failed to resolve reference \"" + ref.String() + "\": " + ref.String() + ": not found");
  return Status(first_error.code(), "failed to resolve reference \"" + ref.String() + "\": " + first_error.message());
}

Status RegistryClient::FetchBlob(const ResolvedManifest& m, const Descriptor& d, const std::string& dest_path,
                                 const std::string& tmp_dir) {
  static std::atomic<uint64_t> counter{0};
  // "<pid>-..." so that a store opened later can tell leftovers of dead processes.
  std::string tmp = tmp_dir + "/" + std::to_string(::getpid()) + "-blob-" + DigestHex(d.digest).substr(0, 16) + "-" +
                    std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return InternalError("create " + tmp + ": " + ErrnoText(errno));
  auto fail = [&](Status st) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  };
  std::string url = m.endpoint.base_url + "/v2/" + m.ref.path + "/blobs/" + d.digest;
  Transfer t;
  t.fd = fd;
  t.digest = d.digest;
  t.total = d.size;
  t.hook = &options_.on_blob_bytes;
  t.cancelled = &options_.cancelled;
  HttpResult r;
  int restarts = 0;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    t.written = 0;
    t.truncated = false;
    if (t.offset > 0) TUG_LOG(INFO, kLog) << "resuming blob" << kv("digest", d.digest) << kv("from", t.offset);
    r = Authed(m.endpoint, m.ref.path, m.credentials, url, {}, &t);
    if (t.truncated) TUG_LOG(INFO, kLog) << "registry ignored the range; restarted blob" << kv("digest", d.digest);
    if (!t.io_error.ok()) return fail(t.io_error);
    t.offset += t.written;
    if (r.ok()) {
      if (d.size >= 0 && t.offset != d.size) {
        if (t.offset < d.size) {
          // Connection closed early without a curl error: resume.
          TUG_LOG(WARNING, kLog) << "blob transfer short, resuming" << kv("digest", d.digest)
                                 << kv("bytes", t.offset) << kv("total", d.size);
          std::this_thread::sleep_for(Backoff(attempt));
          continue;
        }
      } else {
        auto got = DigestOfFile(tmp);
        if (!got.ok()) return fail(got.status());
        if (*got == d.digest) break;
        (void)restarts;
      }
      // Too long or wrong content: never keep it; start over from scratch.
      ++restarts;
      TUG_LOG(WARNING, kLog) << "blob digest mismatch, discarding" << kv("digest", d.digest) << kv("bytes", t.offset);
      if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0)
        return fail(InternalError(std::string("truncate: ") + ErrnoText(errno)));
      t.offset = 0;
      if (attempt == options_.max_attempts || restarts >= 2)
        return fail(InvalidError("blob " + d.digest + " of " + m.ref.String() +
                                 ": digest mismatch (content does not match its digest)"));
      continue;
    }
    if (r.curl == CURLE_OK && r.code == 416) {
      // Our offset is past the end (the blob changed?): restart.
      if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0)
        return fail(InternalError(std::string("truncate: ") + ErrnoText(errno)));
      t.offset = 0;
      continue;
    }
    if (!r.transient()) break;
    if (attempt < options_.max_attempts) {
      TUG_LOG(WARNING, kLog) << "blob transfer failed, retrying" << kv("digest", d.digest) << kv("bytes", t.offset)
                             << kv("error", r.Describe()) << kv("attempt", attempt);
      std::this_thread::sleep_for(Backoff(attempt));
    }
  }
  if (!r.ok()) {
    std::string what = "blob " + d.digest + " of " + m.ref.String() + ": ";
    if (r.curl != CURLE_OK) return fail(UnavailableError(what + r.Describe()));
    if (r.code == 404) return fail(NotFoundError(what + "not found"));
    if (r.code == 401) return fail(UnauthorizedError(what + r.Describe()));
    if (r.code == 403) return fail(ForbiddenError(what + r.Describe()));
    return fail(UnavailableError(what + r.Describe()));
  }
  if (t.offset != d.size && d.size >= 0)
    return fail(UnavailableError("blob " + d.digest + ": incomplete after retries"));
  if (::fsync(fd) != 0) return fail(InternalError(std::string("fsync blob: ") + ErrnoText(errno)));
  ::close(fd);
  if (::rename(tmp.c_str(), dest_path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return InternalError("rename blob to " + dest_path + ": " + ErrnoText(e));
  }
  TUG_LOG(INFO, kLog) << "pulled blob" << kv("digest", d.digest) << kv("bytes", t.offset);
  return Status::Ok();
}

Result<std::string> RegistryClient::FetchBlobBytes(const ResolvedManifest& m, const Descriptor& d) {
  std::string url = m.endpoint.base_url + "/v2/" + m.ref.path + "/blobs/" + d.digest;
  HttpResult r;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    r = Authed(m.endpoint, m.ref.path, m.credentials, url, {}, nullptr);
    if (r.ok() || !r.transient()) break;
    if (attempt < options_.max_attempts) std::this_thread::sleep_for(Backoff(attempt));
  }
  std::string what = "blob " + d.digest + " of " + m.ref.String() + ": ";
  if (r.curl != CURLE_OK) return UnavailableError(what + r.Describe());
  if (r.code == 404) return NotFoundError(what + "not found");
  if (r.code != 200) return UnavailableError(what + r.Describe());
  if (DigestOf(r.body) != d.digest) return InvalidError(what + "digest mismatch (content does not match its digest)");
  return std::move(r.body);
}

}  // namespace tug::runtime::image
