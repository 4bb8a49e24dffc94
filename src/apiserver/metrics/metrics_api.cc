#include "apiserver/metrics/metrics_api.h"

#include <curl/curl.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <future>
#include <set>

#include "base/log.h"

namespace tug::apiserver::metrics {
namespace {

constexpr const char* kComponent = "metrics-api";
constexpr const char* kGroup = "metrics.k8s.io";
constexpr const char* kVersion = "v1beta1";
constexpr const char* kGroupVersion = "metrics.k8s.io/v1beta1";
constexpr const char* kJson = "application/json";

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string PctEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

const Json* Find(const Json& j, std::initializer_list<const char*> path) {
  const Json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string Str(const Json& j, std::initializer_list<const char*> path) {
  const Json* v = Find(j, path);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

bool NodeReady(const Json& node) {
  const Json* conds = Find(node, {"status", "conditions"});
  if (!conds || !conds->is_array()) return false;
  for (const Json& c : *conds)
    if (c.is_object() && c.value("type", "") == "Ready") return c.value("status", "") == "True";
  return false;
}

// A ResponseWriter that records what the API handler answers, for calls made on behalf of a
// request (reading nodes and pods, discovery to extend).
class CaptureWriter final : public ResponseWriter {
 public:
  void Send(int code, std::string content_type, std::string body,
            std::vector<std::pair<std::string, std::string>> extra_headers) override {
    std::unique_lock<std::mutex> l(mu_);
    code_ = code;
    content_type_ = std::move(content_type);
    body_ = std::move(body);
    headers_ = std::move(extra_headers);
    Complete(l);
  }
  void StartStream(int code, std::string content_type) override {
    std::lock_guard<std::mutex> l(mu_);
    code_ = code;
    content_type_ = std::move(content_type);
  }
  bool Write(std::string chunk) override {
    std::lock_guard<std::mutex> l(mu_);
    body_ += chunk;
    return !done_;
  }
  void Finish() override {
    std::unique_lock<std::mutex> l(mu_);
    Complete(l);
  }
  void OnClose(std::function<void()> cb) override {
    std::unique_lock<std::mutex> l(mu_);
    if (!done_) {
      on_close_.push_back(std::move(cb));
      return;
    }
    l.unlock();
    cb();
  }
  bool Closed() const override {
    std::lock_guard<std::mutex> l(mu_);
    return done_;
  }
  // Waits for the answer; false on timeout (the writer then counts as closed).
  bool Wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    if (cv_.wait_for(l, timeout, [this] { return done_; })) return true;
    Complete(l);
    return false;
  }
  // Read after Wait() returned true (no writer touches them then).
  int code() const { return code_; }
  const std::string& content_type() const { return content_type_; }
  std::string& body() { return body_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }

 private:
  // Marks the response complete and runs the OnClose callbacks outside the lock (`l` holds mu_
  // on entry and is released).
  void Complete(std::unique_lock<std::mutex>& l) {
    if (done_) return;
    done_ = true;
    cv_.notify_all();
    std::vector<std::function<void()>> cbs = std::move(on_close_);
    on_close_.clear();
    l.unlock();
    for (auto& cb : cbs) cb();
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  int code_ = 0;
  std::string content_type_, body_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::vector<std::function<void()>> on_close_;
};

Json ResourceEntryLegacy(const char* name, bool namespaced, const char* kind) {
  return Json{{"name", name}, {"singularName", ""}, {"namespaced", namespaced}, {"kind", kind},
              {"verbs", Json::array({"get", "list"})}};
}

Json ResourceEntryAggregated(const char* name, bool namespaced, const char* kind) {
  return Json{{"resource", name},
              {"responseKind", {{"group", kGroup}, {"version", kVersion}, {"kind", kind}}},
              {"scope", namespaced ? "Namespaced" : "Cluster"},
              {"singularResource", ""},
              {"verbs", Json::array({"get", "list"})}};
}

Json GroupVersionEntry() { return Json{{"groupVersion", kGroupVersion}, {"version", kVersion}}; }

Json ApiGroup() {
  return Json{{"kind", "APIGroup"},
              {"apiVersion", "v1"},
              {"name", kGroup},
              {"versions", Json::array({GroupVersionEntry()})},
              {"preferredVersion", GroupVersionEntry()}};
}

Json ApiResourceList() {
  return Json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", kGroupVersion},
              {"resources", Json::array({ResourceEntryLegacy("nodes", false, "NodeMetrics"),
                                         ResourceEntryLegacy("pods", true, "PodMetrics")})}};
}

std::string WindowString(std::chrono::seconds w) { return std::to_string(w.count()) + "s"; }

// CPU and memory of a summary entry that has both a CPU rate and a working set.
std::optional<Json> Usage(const Json& entry) {
  const Json* cpu = Find(entry, {"cpu", "usageNanoCores"});
  const Json* mem = Find(entry, {"memory", "workingSetBytes"});
  if (!cpu || !cpu->is_number_unsigned() || !mem || !mem->is_number_unsigned()) return std::nullopt;
  return Json{{"cpu", FormatCpuNanos(cpu->get<uint64_t>())}, {"memory", FormatBytes(mem->get<uint64_t>())}};
}

Json ObjectMeta(const Json& obj, const std::string& now, bool namespaced) {
  Json m = {{"name", Str(obj, {"metadata", "name"})}};
  if (namespaced) m["namespace"] = Str(obj, {"metadata", "namespace"});
  m["creationTimestamp"] = now;
  if (const Json* labels = Find(obj, {"metadata", "labels"}); labels && labels->is_object() && !labels->empty())
    m["labels"] = *labels;
  return m;
}

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// The proxy's KubeletAddress rules (InternalIP, then ExternalIP, then Hostname; port from
// daemonEndpoints, default 10250).
Result<std::pair<std::string, int>> KubeletAddressOf(const Json& node) {
  std::string host;
  if (const Json* addrs = Find(node, {"status", "addresses"}); addrs && addrs->is_array()) {
    for (const char* want : {"InternalIP", "ExternalIP", "Hostname"}) {
      for (const auto& a : *addrs)
        if (a.is_object() && a.value("type", "") == want && a.contains("address") && a["address"].is_string()) {
          host = a["address"].get<std::string>();
          break;
        }
      if (!host.empty()) break;
    }
  }
  if (host.empty()) return UnavailableError("node " + Str(node, {"metadata", "name"}) + " has no address");
  int port = 10250;
  if (const Json* p = Find(node, {"status", "daemonEndpoints", "kubeletEndpoint", "Port"});
      p && p->is_number_integer() && p->get<int>() > 0)
    port = p->get<int>();
  return std::make_pair(host, port);
}

}  // namespace

// ---------------------------------------------------------------- quantities

std::string FormatCpuNanos(uint64_t n) {
  if (n == 0) return "0";
  static const char* suffix[] = {"n", "u", "m", ""};
  int i = 0;
  while (i < 3 && n % 1000 == 0) {
    n /= 1000;
    ++i;
  }
  return std::to_string(n) + suffix[i];
}

std::string FormatBytes(uint64_t b) {
  if (b == 0) return "0";
  static const char* suffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  int i = 0;
  while (i < 6 && b % 1024 == 0) {
    b /= 1024;
    ++i;
  }
  return std::to_string(b) + suffix[i];
}

// ---------------------------------------------------------------- discovery

Json AddMetricsGroup(Json d) {
  if (!d.is_object()) return d;
  std::string kind = d.value("kind", "");
  if (kind == "APIGroupList" && d.contains("groups") && d["groups"].is_array()) {
    for (const Json& g : d["groups"])
      if (g.value("name", "") == kGroup) return d;
    Json g = ApiGroup();
    g.erase("kind");
    g.erase("apiVersion");
    d["groups"].push_back(std::move(g));
  } else if (kind == "APIGroupDiscoveryList" && d.contains("items") && d["items"].is_array()) {
    for (const Json& g : d["items"])
      if (Str(g, {"metadata", "name"}) == kGroup) return d;
    Json resources = Json::array({ResourceEntryAggregated("nodes", false, "NodeMetrics"),
                                  ResourceEntryAggregated("pods", true, "PodMetrics")});
    d["items"].push_back(Json{{"metadata", {{"name", kGroup}, {"creationTimestamp", nullptr}}},
                              {"versions", Json::array({Json{{"version", kVersion},
                                                             {"resources", std::move(resources)},
                                                             {"freshness", "Current"}}})}});
  }
  return d;
}

// ---------------------------------------------------------------- kubelet client

Result<Json> FetchSummary(const Json& node, const MetricsOptions& opts) {
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  ASSIGN_OR_RETURN(auto addr, KubeletAddressOf(node));
  std::string host = addr.first.find(':') != std::string::npos ? "[" + addr.first + "]" : addr.first;
  std::string url = std::string(opts.tls ? "https" : "http") + "://" + host + ":" + std::to_string(addr.second) + "/stats/summary";
  std::unique_ptr<CURL, void (*)(CURL*)> c(curl_easy_init(), curl_easy_cleanup);
  if (!c) return InternalError("curl_easy_init failed");
  std::string body;
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(opts.kubelet_timeout.count()));
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.kubelet_timeout.count()));
  curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c.get(), CURLOPT_PROXY, "");  // never through an environment proxy
  if (opts.tls) {
    if (!opts.client_cert_file.empty()) {
      curl_easy_setopt(c.get(), CURLOPT_SSLCERT, opts.client_cert_file.c_str());
      curl_easy_setopt(c.get(), CURLOPT_SSLKEY, opts.client_key_file.c_str());
    }
    if (!opts.kubelet_ca_file.empty()) {
      curl_easy_setopt(c.get(), CURLOPT_CAINFO, opts.kubelet_ca_file.c_str());
    } else {
      curl_easy_setopt(c.get(), CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(c.get(), CURLOPT_SSL_VERIFYHOST, 0L);
    }
  }
  CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) return UnavailableError("kubelet " + url + ": " + curl_easy_strerror(rc));
  long code = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) {
    if (body.size() > 200) body.resize(200);
    return UnavailableError("kubelet " + url + " answered " + std::to_string(code) + ": " + body);
  }
  auto j = ParseJson(body);
  if (!j.ok()) return UnavailableError("kubelet " + url + ": bad summary: " + j.status().message());
  return j;
}

// ---------------------------------------------------------------- handler

MetricsHandler::MetricsHandler(Handler& api, MetricsOptions opts)
    : api_(api), o_(std::move(opts)), clock_(o_.clock ? *o_.clock : RealClock()) {}

void MetricsHandler::Handle(Request req, ResponseWriterPtr w) {
  std::string p = req.path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == "/apis" && req.method == "GET") return ServeDiscovery(std::move(req), std::move(w));
  std::vector<std::string> segs = Split(p);
  if (segs.size() >= 2 && segs[0] == "apis" && segs[1] == kGroup) {
    if (req.method != "GET")
      return SendStatus(*w, Status(StatusCode::kMethodNotAllowed,
                                   "the server does not allow this method on the requested resource"));
    return ServeMetrics(req, *w, segs);
  }
  api_.Handle(std::move(req), std::move(w));
}

bool MetricsHandler::HandlesInline(const Request& req) const {
  std::string group_prefix = std::string("/apis/") + kGroup;
  if (req.path.rfind(group_prefix, 0) == 0 || req.path == "/apis" || req.path == "/apis/") return false;
  return api_.HandlesInline(req);
}

void MetricsHandler::ServeDiscovery(Request req, ResponseWriterPtr w) {
  // The document changes here, so the API handler's ETag would be wrong: ask without
  // If-None-Match and answer without an ETag.
  std::erase_if(req.headers, [](const auto& h) {
    std::string n = h.first;
    std::transform(n.begin(), n.end(), n.begin(), ::tolower);
    return n == "if-none-match";
  });
  auto cap = std::make_shared<CaptureWriter>();
  api_.Handle(std::move(req), cap);
  if (!cap->Wait(std::chrono::seconds(30))) return SendStatus(*w, TimeoutError("discovery timed out"));
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& h : cap->headers()) {
    std::string n = h.first;
    std::transform(n.begin(), n.end(), n.begin(), ::tolower);
    if (n != "etag") headers.push_back(h);
  }
  if (cap->code() == 200 && cap->content_type().find("json") != std::string::npos) {
    auto doc = ParseJson(cap->body());
    if (doc.ok()) return w->Send(200, cap->content_type(), AddMetricsGroup(std::move(doc).value()).dump(), headers);
  }
  w->Send(cap->code(), cap->content_type(), std::move(cap->body()), headers);
}

Result<Json> MetricsHandler::ApiGet(const Request& from, const std::string& path, const std::string& query_key) {
  Request r;
  r.method = "GET";
  r.path = path;
  for (const char* k : {"labelSelector", "fieldSelector"}) {
    if (query_key.empty() || !from.HasQuery(k)) continue;
    std::string v = from.Query(k);
    r.query.emplace_back(k, v);
    r.raw_query += (r.raw_query.empty() ? "" : "&") + std::string(k) + "=" + PctEncode(v);
  }
  r.headers = {{"Accept", kJson}};
  r.user = from.user;
  r.remote_addr = from.remote_addr;
  auto cap = std::make_shared<CaptureWriter>();
  api_.Handle(std::move(r), cap);
  if (!cap->Wait(std::chrono::seconds(30))) return TimeoutError("reading " + path + " timed out");
  auto j = ParseJson(cap->body());
  if (cap->code() != 200) {
    std::string msg = j.ok() && j->is_object() ? j->value("message", cap->body()) : cap->body();
    StatusCode code = StatusCode::kInternal;
    for (StatusCode c : {StatusCode::kNotFound, StatusCode::kBadRequest, StatusCode::kForbidden, StatusCode::kUnauthorized,
                         StatusCode::kUnavailable, StatusCode::kTimeout, StatusCode::kInvalid})
      if (HttpCodeOf(c) == cap->code() && (c != StatusCode::kInvalid || cap->code() == 422)) {
        code = c;
        break;
      }
    return Status(code, msg);
  }
  return j;
}

std::map<std::string, std::shared_ptr<const Result<Json>>> MetricsHandler::Summaries(const std::vector<Json>& nodes) {
  std::lock_guard<std::mutex> fl(fetch_mu_);
  std::map<std::string, std::shared_ptr<const Result<Json>>> out;
  std::vector<const Json*> stale;
  auto now = clock_.SteadyNow();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const Json& n : nodes) {
      std::string name = Str(n, {"metadata", "name"});
      auto it = cache_.find(name);
      if (it != cache_.end() && now - it->second.fetched < o_.cache_ttl) out[name] = it->second.summary;
      else stale.push_back(&n);
    }
  }
  std::vector<std::pair<std::string, std::future<Result<Json>>>> pending;
  for (const Json* n : stale)
    pending.emplace_back(Str(*n, {"metadata", "name"}),
                         std::async(std::launch::async, [node = *n, this] { return FetchSummary(node, o_); }));
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [name, f] : pending) {
    auto r = std::make_shared<const Result<Json>>(f.get());
    if (!r->ok()) {
      TUG_VLOG(2, kComponent) << "node summary unavailable" << kv("node", name) << kv("error", r->status().message());
    }
    cache_[name] = Cached{now, r};
    out[name] = r;
  }
  // Forget nodes that were not asked for in a long while (deleted nodes).
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (now - it->second.fetched > 10 * o_.cache_ttl + std::chrono::minutes(1)) it = cache_.erase(it);
    else ++it;
  }
  return out;
}

Result<Json> MetricsHandler::NodeMetrics(const Request& req, const std::string& name) {
  std::vector<Json> nodes;
  if (!name.empty()) {
    auto node = ApiGet(req, "/api/v1/nodes/" + name, "");
    if (!node.ok()) {
      if (node.status().code() == StatusCode::kNotFound) return NotFoundError("nodemetrics.metrics.k8s.io \"" + name + "\" not found");
      return node.status();
    }
    nodes.push_back(std::move(node).value());
  } else {
    ASSIGN_OR_RETURN(Json list, ApiGet(req, "/api/v1/nodes", "q"));
    for (auto& n : list.value("items", Json::array())) nodes.push_back(std::move(n));
  }
  std::vector<Json> ready;
  for (auto& n : nodes)
    if (NodeReady(n)) ready.push_back(std::move(n));
  auto summaries = Summaries(ready);
  const std::string now = FormatRFC3339(clock_.Now());
  Json items = Json::array();
  for (const Json& n : ready) {
    auto it = summaries.find(Str(n, {"metadata", "name"}));
    if (it == summaries.end() || !it->second->ok()) continue;
    const Json& sn = (**it->second).value("node", Json::object());
    auto usage = Usage(sn);
    if (!usage) continue;
    items.push_back(Json{{"metadata", ObjectMeta(n, now, false)},
                         {"timestamp", Str(sn, {"cpu", "time"})},
                         {"window", WindowString(o_.window)},
                         {"usage", std::move(*usage)}});
  }
  if (!name.empty()) {
    if (items.empty()) return NotFoundError("nodemetrics.metrics.k8s.io \"" + name + "\" not found");
    Json one = std::move(items[0]);
    Json out = {{"kind", "NodeMetrics"}, {"apiVersion", kGroupVersion}};
    out.update(one);
    return out;
  }
  return Json{{"kind", "NodeMetricsList"}, {"apiVersion", kGroupVersion}, {"metadata", Json::object()}, {"items", std::move(items)}};
}

Result<Json> MetricsHandler::PodMetrics(const Request& req, const std::string& ns, const std::string& name) {
  std::vector<Json> pods;
  auto not_found = [&] { return NotFoundError("podmetrics.metrics.k8s.io \"" + ns + "/" + name + "\" not found"); };
  if (!name.empty()) {
    auto pod = ApiGet(req, "/api/v1/namespaces/" + ns + "/pods/" + name, "");
    if (!pod.ok()) return pod.status().code() == StatusCode::kNotFound ? not_found() : pod.status();
    pods.push_back(std::move(pod).value());
  } else {
    ASSIGN_OR_RETURN(Json list, ApiGet(req, ns.empty() ? "/api/v1/pods" : "/api/v1/namespaces/" + ns + "/pods", "q"));
    for (auto& p : list.value("items", Json::array())) pods.push_back(std::move(p));
  }
  std::set<std::string> node_names;
  for (const Json& p : pods)
    if (std::string n = Str(p, {"spec", "nodeName"}); !n.empty()) node_names.insert(n);
  std::vector<Json> nodes;
  if (!node_names.empty()) {
    // All nodes, read as the API server itself: a user allowed to read pods metrics need not
    // be allowed to read nodes.
    Request self;
    self.user.name = "system:apiserver";
    self.user.groups = {"system:masters"};
    ASSIGN_OR_RETURN(Json list, ApiGet(self, "/api/v1/nodes", ""));
    for (auto& n : list.value("items", Json::array()))
      if (node_names.count(Str(n, {"metadata", "name"})) && NodeReady(n)) nodes.push_back(std::move(n));
  }
  auto summaries = Summaries(nodes);
  // (namespace/name) -> the summary's pod entry.
  std::map<std::string, const Json*> by_pod;
  for (const auto& [node, s] : summaries) {
    if (!s->ok()) continue;
    if (const Json* ps = Find(**s, {"pods"}); ps && ps->is_array())
      for (const Json& e : *ps) by_pod[Str(e, {"podRef", "namespace"}) + "/" + Str(e, {"podRef", "name"})] = &e;
  }
  const std::string now = FormatRFC3339(clock_.Now());
  Json items = Json::array();
  for (const Json& p : pods) {
    auto it = by_pod.find(Str(p, {"metadata", "namespace"}) + "/" + Str(p, {"metadata", "name"}));
    if (it == by_pod.end()) continue;
    const Json& e = *it->second;
    std::string uid = Str(p, {"metadata", "uid"}), euid = Str(e, {"podRef", "uid"});
    if (!uid.empty() && !euid.empty() && uid != euid) continue;  // an older pod of the same name
    Json containers = Json::array();
    bool complete = true;
    std::string ts;
    for (const Json& c : e.value("containers", Json::array())) {
      auto usage = Usage(c);
      if (!usage) {
        complete = false;  // metrics-server leaves out pods with incomplete container metrics
        break;
      }
      if (ts.empty()) ts = Str(c, {"cpu", "time"});
      containers.push_back(Json{{"name", c.value("name", "")}, {"usage", std::move(*usage)}});
    }
    if (!complete || containers.empty()) continue;
    items.push_back(Json{{"metadata", ObjectMeta(p, now, true)},
                         {"timestamp", ts},
                         {"window", WindowString(o_.window)},
                         {"containers", std::move(containers)}});
  }
  if (!name.empty()) {
    if (items.empty()) return not_found();
    Json out = {{"kind", "PodMetrics"}, {"apiVersion", kGroupVersion}};
    out.update(items[0]);
    return out;
  }
  return Json{{"kind", "PodMetricsList"}, {"apiVersion", kGroupVersion}, {"metadata", Json::object()}, {"items", std::move(items)}};
}

void MetricsHandler::ServeMetrics(const Request& req, ResponseWriter& w, const std::vector<std::string>& segs) {
  // segs: apis, metrics.k8s.io[, v1beta1[, ...]]
  if (segs.size() == 2) return w.Send(200, kJson, ApiGroup().dump());
  if (segs[2] != kVersion) return SendStatus(w, NotFoundError("the server could not find the requested resource"));
  if (segs.size() == 3) return w.Send(200, kJson, ApiResourceList().dump());
  if (req.Query("watch") == "true" || req.Query("watch") == "1")
    return SendStatus(w, Status(StatusCode::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
  Result<Json> r = NotFoundError("the server could not find the requested resource");
  size_t n = segs.size();
  if (segs[3] == "nodes" && n <= 5) {
    r = NodeMetrics(req, n == 5 ? segs[4] : "");
  } else if (segs[3] == "pods" && n == 4) {
    r = PodMetrics(req, "", "");
  } else if (segs[3] == "namespaces" && n >= 6 && n <= 7 && segs[5] == "pods") {
    r = PodMetrics(req, segs[4], n == 7 ? segs[6] : "");
  }
  if (!r.ok()) return SendStatus(w, r.status());
  w.Send(200, kJson, r->dump());
}

}  // namespace tug::apiserver::metrics
