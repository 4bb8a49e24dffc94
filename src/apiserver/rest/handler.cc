#include "apiserver/rest/handler.h"

#include <algorithm>
#include <cstdlib>

#include "api/codec.h"
#include "api/conversion/conversion.h"
#include "api/discovery.h"
#include "api/field_error.h"
#include "api/patch.h"
#include "api/apply/apply.h"
#include "apiserver/rest/internal.h"
#include "apiserver/rest/json_scan.h"
#include "base/log.h"

namespace tug::apiserver::rest {
namespace {

constexpr std::string_view kJson = "application/json";

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string MediaType(const std::string& ct) {
  std::string t = ct.substr(0, ct.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  std::transform(t.begin(), t.end(), t.begin(), ::tolower);
  return t;
}

StatusDetails Details(const std::string& name, const std::string& group, const std::string& kind) {
  StatusDetails d;
  d.name = name;
  d.group = group;
  d.kind = kind;
  return d;
}

Status ResourceNotFound() { return NotFoundError("the server could not find the requested resource"); }

Status MethodNotAllowed() {
  return Status(StatusCode::kMethodNotAllowed, "the server does not allow this method on the requested resource");
}

// stream-api: the connect subresources handed to Options::connector (rest.h Connector).
bool IsConnectSubresource(const std::string& resource, const std::string& sub) {
  if (sub == "proxy") return resource == "pods" || resource == "services" || resource == "nodes";
  return resource == "pods" && (sub == "log" || sub == "exec" || sub == "attach" || sub == "portforward");
}

bool ParseBool(const std::string& s) { return s == "true" || s == "1"; }

Result<int64_t> ParseInt(const std::string& s, const std::string& what) {
  if (s.empty()) return int64_t{0};
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end != '\0') return BadRequestError("invalid " + what + ": " + s);
  return int64_t{v};
}

Json& Meta(Json& obj) {
  Json& m = obj["metadata"];
  if (!m.is_object()) m = Json::object();
  return m;
}

std::string DefaultManager(const Request& req) {
  std::string ua = req.Header("User-Agent");
  std::string m = ua.substr(0, ua.find('/'));
  if (m.size() > 128) m.resize(128);
  return m;
}

// Everything of obj that is not metadata or status: a change here bumps generation.
Json SpecView(const Json& obj) {
  Json v = obj;
  if (v.is_object()) {
    v.erase("metadata");
    v.erase("status");
    v.erase("apiVersion");
    v.erase("kind");
  }
  return v;
}

std::string SelectorString(const Json& sel) {
  // LabelSelector {matchLabels, matchExpressions} or a plain map (ReplicationController).
  Labels l;
  std::string out;
  const Json* ml = Find(sel, "matchLabels");
  bool structured = ml || Find(sel, "matchExpressions");
  const Json& labels = structured ? (ml ? *ml : Json::object()) : sel;
  if (labels.is_object())
    for (auto it = labels.begin(); it != labels.end(); ++it)
      if (it.value().is_string()) l[it.key()] = it.value().get<std::string>();
  out = FormatLabels(l);
  if (const Json* me = Find(sel, "matchExpressions"); me && me->is_array()) {
    for (const auto& e : *me) {
      std::string key = GetString(e, "key"), op = GetString(e, "operator");
      std::string vals;
      if (const Json* vs = Find(e, "values"); vs && vs->is_array())
        for (const auto& v : *vs) vals += (vals.empty() ? "" : ",") + (v.is_string() ? v.get<std::string>() : "");
      std::string term;
      if (op == "In") term = key + " in (" + vals + ")";
      else if (op == "NotIn") term = key + " notin (" + vals + ")";
      else if (op == "Exists") term = key;
      else if (op == "DoesNotExist") term = "!" + key;
      if (!term.empty()) out += (out.empty() ? "" : ",") + term;
    }
  }
  return out;
}

bool HasFinalizers(const Json& obj) {
  const Json* f = FindPath(obj, {"metadata", "finalizers"});
  return f && f->is_array() && !f->empty();
}

// The garbage collector's finalizers for a delete (as upstream's generic registry): Orphan adds
// "orphan", Foreground adds "foregroundDeletion" (each removing the other); Background leaves
// them. Without a policy: the deprecated orphanDependents, then an existing "orphan"
// finalizer, then the resource's default (Orphan for the pre-apps/v1 workload versions and
// core/v1 ReplicationControllers, kept for old clients; Background otherwise).
Json GcFinalizers(const api::ResourceDef& res, const Json& obj, const Json& opts) {
  Json fins = Json::array();
  if (const Json* f = FindPath(obj, {"metadata", "finalizers"}); f && f->is_array()) fins = *f;
  auto has = [&](const char* name) { return std::find(fins.begin(), fins.end(), Json(name)) != fins.end(); };
  std::string policy = GetString(opts, "propagationPolicy");
  if (policy.empty()) {
    if (const Json* o = Find(opts, "orphanDependents"); o && o->is_boolean()) {
      policy = o->get<bool>() ? "Orphan" : "Background";
    } else if (has("orphan")) {
      policy = "Orphan";
    } else {
      bool old_workload = (res.group == "extensions" || (res.group == "apps" && res.version != "v1")) &&
                          (res.plural == "deployments" || res.plural == "replicasets" ||
                           res.plural == "daemonsets" || res.plural == "statefulsets");
      bool rc = res.group.empty() && res.plural == "replicationcontrollers";
      policy = old_workload || rc ? "Orphan" : "Background";
    }
  }
  auto set = [&](const char* add, const char* remove) {
    Json out = Json::array();
    for (const auto& f : fins)
      if (f != Json(remove)) out.push_back(f);
    if (!has(add)) out.push_back(add);
    fins = std::move(out);
  };
  if (policy == "Orphan") set("orphan", "foregroundDeletion");
  else if (policy == "Foreground") set("foregroundDeletion", "orphan");
  return fins;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// WatchStream: one HTTP watch response, registered with one WatchCache.

class WatchStream final : public CacheWatcher, public std::enable_shared_from_this<WatchStream> {
 public:
  WatchStream(RestHandlerImpl& h, Ctx c, ResponseWriterPtr w, LabelSelector ls, FieldSelector fs, bool table,
              std::string table_version, bool bookmarks, bool initial_end, int64_t from_rev,
              std::optional<std::chrono::steady_clock::time_point> deadline)
      : h_(h), c_(std::move(c)), w_(std::move(w)), ls_(std::move(ls)), fs_(std::move(fs)), table_(table),
        table_version_(std::move(table_version)), bookmarks_(bookmarks), initial_end_(initial_end),
        from_rev_(from_rev), deadline_(deadline) {}

  uint64_t id = 0;
  uint64_t cache_id = 0;
  WatchCache* cache = nullptr;
  std::chrono::steady_clock::time_point last_bookmark;

  bool Matches(const CachedObject& o) const {
    if (!c_.ns.empty() && o.ns != c_.ns) return false;
    if (!ls_.Matches(o.labels)) return false;
    return fs_.Empty() || h_.MatchesFields(c_, o, fs_);
  }

  bool OnEvent(const CacheEvent& ev) override {
    auto line = EventLine(ev);
    return !line || WriteLines({&line, 1});
  }

  // A store batch goes out at once: the lines are handed to the transport by reference.
  bool OnEvents(std::span<const CacheEvent> evs) override {
    std::vector<std::shared_ptr<const std::string>> lines;
    lines.reserve(evs.size());
    for (const CacheEvent& ev : evs)
      if (auto line = EventLine(ev)) lines.push_back(std::move(line));
    return lines.empty() || WriteLines(lines);
  }

  // The watch event line for ev when this watcher sees it (null if it does not). A line is
  // made once per event, event type and served version and shared by every watcher that sends
  // it (CacheEvent::SharedLine): the object's bytes are the cached ones for the stored version;
  // other served versions are converted once per event (CacheEvent::Served). Table watches
  // render their own line.
  std::shared_ptr<const std::string> EventLine(const CacheEvent& ev) {
    if (from_rev_ > 0 && ev.rv <= from_rev_) return nullptr;  // already seen by the client
    const char* type = nullptr;
    bool now = ev.obj && Matches(*ev.obj);
    bool before = ev.prev && Matches(*ev.prev);
    switch (ev.type) {
      case WatchEventType::kAdded: if (now) type = "ADDED"; break;
      case WatchEventType::kModified:
        if (now && before) type = "MODIFIED";
        else if (now) type = "ADDED";
        else if (before) type = "DELETED";
        break;
      case WatchEventType::kDeleted: if (ev.obj && Matches(*ev.obj)) type = "DELETED"; break;
    }
    if (!type) return nullptr;
    auto line = [type](std::string_view obj_json) {
      std::string out;
      out.reserve(obj_json.size() + 40);
      out.append("{\"type\":\"").append(type).append("\",\"object\":").append(obj_json).append("}\n");
      return out;
    };
    if (table_) {
      auto t = h_.TableFromCached(c_, {ev.obj}, std::to_string(ev.obj->rv), "", table_version_, "");
      if (!t.ok()) return nullptr;
      return std::make_shared<const std::string>(line(*t));
    }
    return ev.SharedLine(c_.served, type, [&] {
      if (c_.served) return line(ev.Served(c_.served, [&] { return h_.ServedBytes(c_, *ev.obj); }));
      std::string buf;
      return line(ev.obj->View(&buf));
    });
  }

  bool OnProgress(int64_t rev) override {
    if (!bookmarks_) return true;
    return SendBookmark(rev, false);
  }

  bool OnReplayDone(int64_t rev) override {
    if (initial_end_) return SendBookmark(rev, true);
    return true;
  }

  bool SendBookmark(int64_t rev, bool initial_end) {
    Json meta = {{"resourceVersion", std::to_string(rev)}};
    if (initial_end) meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
    const api::ResourceDef& served = RestHandlerImpl::Served(c_);
    Json obj = {{"kind", served.kind}, {"apiVersion", served.ApiVersion()}, {"metadata", meta}};
    return WriteLine("{\"type\":\"BOOKMARK\",\"object\":" + DumpJson(obj) + "}\n");
  }

  void MarkClosed() { closed_ = true; }

  bool WriteLines(std::span<const std::shared_ptr<const std::string>> lines) {
    if (closed_) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return false;
    if (!w_->WriteShared(lines)) {
      done_ = true;
      return false;
    }
    return true;
  }

  bool WriteLine(std::string line) {
    if (closed_) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return false;
    if (!w_->Write(std::move(line))) {
      done_ = true;
      return false;
    }
    return true;
  }

  void WriteError(const Status& st) {
    WriteLine("{\"type\":\"ERROR\",\"object\":" + StatusJson(st) + "}\n");
  }

  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    w_->Finish();
  }

  const Ctx& ctx() const { return c_; }
  bool Expired(std::chrono::steady_clock::time_point now) const { return deadline_ && now >= *deadline_; }
  bool bookmarks() const { return bookmarks_; }
  bool done() {
    if (closed_) return true;
    std::lock_guard<std::mutex> lock(mu_);
    return done_ || w_->Closed();
  }

 private:
  RestHandlerImpl& h_;
  Ctx c_;
  ResponseWriterPtr w_;
  LabelSelector ls_;
  FieldSelector fs_;
  bool table_;
  std::string table_version_;
  bool bookmarks_;
  bool initial_end_;
  int64_t from_rev_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::atomic<bool> closed_{false};
  std::mutex mu_;
  bool done_ = false;
};

// ---------------------------------------------------------------------------------------------

RestHandlerImpl::RestHandlerImpl(store::Store& store, std::shared_ptr<const api::Registry> reg, Options opts)
    : store_(store), reg_(std::move(reg)), opts_(std::move(opts)), clock_(opts_.clock ? opts_.clock : &RealClock()) {}

RestHandlerImpl::~RestHandlerImpl() { Stop(); }

Status RestHandlerImpl::Start() {
  ASSIGN_OR_RETURN(alloc_, ServiceAllocator::New(opts_.service_cidr));
  legacy_api_ = DumpJson(api::LegacyApiVersions(opts_.server_address));
  RETURN_IF_ERROR(EnsureCaches(*reg_));
  // Derive the allocated cluster IPs and node ports from the stored Services.
  if (const auto* svc = reg_->ByResource("", "v1", "services"))
    if (WatchCache* c = CacheFor(*svc))
      for (const auto& o : c->Snapshot(Prefix(*svc), nullptr))
        if (auto j = ParseJson(o->Bytes()); j.ok()) alloc_->MarkUsed(*j);
  RETURN_IF_ERROR(Bootstrap());
  if (opts_.namespace_deleter) ns_deleter_ = std::make_unique<NamespaceDeleter>([this](const std::string& ns) { return SweepNamespace(ns); });
  if (const auto* nsr = ns_deleter_ ? reg_->ByResource("", "v1", "namespaces") : nullptr)
    if (WatchCache* c = CacheFor(*nsr))
      for (const auto& o : c->Snapshot(Prefix(*nsr), nullptr))
        if (auto j = ParseJson(o->Bytes()); j.ok() && FindPath(*j, {"metadata", "deletionTimestamp"}))
          ns_deleter_->Enqueue(o->name);
  RETURN_IF_ERROR(StartCrds());  // serves the stored CRDs before the handler is ready
  if (opts_.start_timer_thread) timer_ = std::thread([this] { TimerLoop(); });
  ready_ = true;
  return Status::Ok();
}

void RestHandlerImpl::Stop() {
  if (stopped_.exchange(true)) return;
  ready_ = false;
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    timer_stop_ = true;
    timer_cv_.notify_all();
  }
  if (timer_.joinable()) timer_.join();
  if (ns_deleter_) ns_deleter_->Stop();
  if (crd_ctl_) crd_ctl_->Stop();
  // Take strong references first: the caches hold the only owning ones.
  std::vector<std::shared_ptr<WatchStream>> streams;
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    for (auto& [id, ws] : streams_)
      if (auto s = ws.lock()) streams.push_back(std::move(s));
    streams_.clear();
  }
  {
    std::lock_guard<std::mutex> lock(caches_mu_);
    for (auto& [p, c] : caches_) c->Stop();
  }
  for (auto& s : streams) s->Finish();
  // Creates still being committed call back into this handler: let them finish.
  std::unique_lock<std::mutex> lock(async_mu_);
  async_cv_.wait(lock, [this] { return async_writes_ == 0; });
}

void RestHandlerImpl::TimerLoop() {
  std::unique_lock<std::mutex> lock(timer_mu_);
  while (!timer_stop_) {
    timer_cv_.wait_for(lock, std::chrono::seconds(1));
    if (timer_stop_) break;
    lock.unlock();
    TickForTest();
    lock.lock();
  }
}

void RestHandlerImpl::TickForTest() {
  auto now = clock_->SteadyNow();
  std::vector<std::shared_ptr<WatchStream>> live;
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    for (auto it = streams_.begin(); it != streams_.end();) {
      auto s = it->second.lock();
      if (!s) { it = streams_.erase(it); continue; }
      live.push_back(std::move(s));
      ++it;
    }
  }
  for (auto& s : live) {
    if (s->Expired(now) || s->done()) {
      s->Finish();
      if (s->cache) s->cache->RemoveWatcher(s->cache_id);
      UnregisterStream(s->id);
      continue;
    }
    if (s->bookmarks() && now - s->last_bookmark >= opts_.bookmark_interval) {
      s->last_bookmark = now;
      // A bookmark at the cache revision, between dispatch rounds: the watcher has been given
      // every event up to it.
      if (!s->cache->CallBetweenEvents([&](int64_t rev) { return s->SendBookmark(rev, false); })) {
        s->cache->RemoveWatcher(s->cache_id);
        UnregisterStream(s->id);
      }
    }
  }
}

void RestHandlerImpl::SyncForTest() {
  // Every cache reaches the store's current revision (store progress notifications move caches
  // whose prefix saw no events), including writes made behind the handler's back.
  auto catch_up = [this] {
    const int64_t rev = store_.CurrentRevision();
    std::vector<WatchCache*> caches;
    {
      std::lock_guard<std::mutex> lock(caches_mu_);
      for (auto& [p, c] : caches_) caches.push_back(c.get());
    }
    for (WatchCache* c : caches) c->WaitForRevision(std::max(rev, c->LastWrite()), std::chrono::seconds(5));
  };
  catch_up();
  if (crd_ctl_) crd_ctl_->Drain();
  if (ns_deleter_) ns_deleter_->Drain();
  catch_up();
}

void RestHandlerImpl::NoteWrite(const api::ResourceDef& res, int64_t rev) {
  if (WatchCache* c = CacheFor(res)) c->NoteWrite(rev);
}

void RestHandlerImpl::EndWatchesIf(const std::function<bool(const Ctx&)>& pred) {
  std::vector<std::shared_ptr<WatchStream>> ending;
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    for (auto it = streams_.begin(); it != streams_.end();) {
      auto s = it->second.lock();
      if (s && !pred(s->ctx())) {
        ++it;
        continue;
      }
      if (s) ending.push_back(std::move(s));
      it = streams_.erase(it);
    }
  }
  for (auto& s : ending) {
    s->Finish();
    if (s->cache) s->cache->RemoveWatcher(s->cache_id);
  }
}

void RestHandlerImpl::RegisterStream(const std::shared_ptr<WatchStream>& s) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  streams_[s->id] = s;
}

void RestHandlerImpl::UnregisterStream(uint64_t id) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  streams_.erase(id);
}

std::string RestHandlerImpl::Key(const api::ResourceDef& res, const std::string& ns, const std::string& name) const {
  std::string k = Prefix(res);
  if (res.namespaced) k += ns + "/";
  return k + name;
}

std::string RestHandlerImpl::Prefix(const api::ResourceDef& res) const {
  return "/registry/" + (res.group.empty() ? std::string("core") : res.group) + "/" + res.plural + "/";
}

WatchCache* RestHandlerImpl::CacheFor(const api::ResourceDef& res) {
  std::lock_guard<std::mutex> lock(caches_mu_);
  auto it = caches_.find(Prefix(res));
  return it == caches_.end() ? nullptr : it->second.get();
}

std::string RestHandlerImpl::Now() const { return FormatRFC3339(clock_->Now()); }

std::string RestHandlerImpl::QualifiedResource(const api::ResourceDef& res) const {
  return res.group.empty() ? res.plural : res.plural + "." + res.group;
}

Status RestHandlerImpl::NotFound(const api::ResourceDef& res, const std::string& name) const {
  return NotFoundError(QualifiedResource(res) + " \"" + name + "\" not found")
      .WithDetails(Details(name, res.group, res.plural));
}

Status RestHandlerImpl::ConflictModified(const api::ResourceDef& res, const std::string& name) const {
  return ConflictError("Operation cannot be fulfilled on " + QualifiedResource(res) + " \"" + name +
                       "\": the object has been modified; please apply your changes to the latest version and try again")
      .WithDetails(Details(name, res.group, res.plural));
}

std::string RestHandlerImpl::ObjectJson(const Ctx& c, Json obj) const {
  if (c.served && api::conversion::FromStorage(*c.served, obj).ok()) {
    if (c.custom) c.custom->Default(obj);  // custom objects are defaulted on read too
    return DumpJson(obj);
  }
  obj["apiVersion"] = c.res->ApiVersion();
  obj["kind"] = c.res->kind;
  return DumpJson(obj);
}

std::string RestHandlerImpl::WrittenJson(const Ctx& c) const {
  // The stored bytes are the answer for the stored version (DecodeBody set apiVersion/kind);
  // another served version is converted from the object instead.
  if (c.served || !c.written.bytes) return "";
  auto o = MakeCachedObject(c.written.key, *c.written.bytes, c.written.rev);
  return o.ok() ? (*o)->Bytes() : "";
}

std::string RestHandlerImpl::ServedBytes(const Ctx& c, const CachedObject& o) const {
  std::string bytes = o.Bytes();
  if (!c.served) return bytes;
  auto j = ParseJson(bytes);
  if (!j.ok() || !api::conversion::FromStorage(*c.served, *j).ok()) return bytes;
  if (c.custom) c.custom->Default(*j);
  return DumpJson(*j);
}

Result<Json> RestHandlerImpl::DecodeObject(const Request& req, Ctx& c) {
  const api::ResourceDef& s = Served(c);
  ASSIGN_OR_RETURN(Json obj, DecodeBody(req, c, s.type, s.ApiVersion(), s.kind));
  if (c.served) {
    api::conversion::DefaultServed(*c.served, obj);
    RETURN_IF_ERROR(api::conversion::ToStorage(*c.served, obj));
  }
  return obj;
}

// ---------------------------------------------------------------------------------------------
// Dispatch

void RestHandlerImpl::Handle(Request req, ResponseWriterPtr w) {
  if (!ready_.load()) {
    SendStatus(*w, UnavailableError("the API server is not ready"));
    return;
  }
  std::vector<std::string> segs = Split(req.path);
  if (segs.empty()) {
    SendStatus(*w, ResourceNotFound());
    return;
  }
  if (segs[0] == "openapi") {
    HandleOpenApi(req, *w);
    return;
  }
  if (segs[0] == ".well-known" || segs[0] == "openid") {  // ServiceAccount issuer discovery (sa-tokens)
    if (req.method != "GET") return SendStatus(*w, MethodNotAllowed());
    auto doc = opts_.oidc_discovery ? opts_.oidc_discovery(req.path) : std::nullopt;
    if (!doc) return SendStatus(*w, ResourceNotFound());
    w->Send(200, doc->first, doc->second);
    return;
  }
  bool core = segs[0] == "api";
  if (!core && segs[0] != "apis") {
    SendStatus(*w, ResourceNotFound());
    return;
  }
  if (segs.size() == 1) {
    if (req.method != "GET") return SendStatus(*w, MethodNotAllowed());
    HandleDiscovery(req, *w, core);
    return;
  }
  HandleResource(req, w, core, std::move(segs));
}

bool RestHandlerImpl::HandlesInline(const Request& req) const {
  if (req.method != "POST" || !ready_.load()) return false;
  std::vector<std::string> segs = Split(req.path);
  size_t i;  // index of the version segment
  std::string group;
  if (segs.size() >= 3 && segs[0] == "api") {
    i = 1;
  } else if (segs.size() >= 4 && segs[0] == "apis") {
    group = segs[1];
    i = 2;
  } else {
    return false;
  }
  size_t rest = segs.size() - i - 1;  // segments after the version
  size_t res_at = rest == 1 ? i + 1 : (rest == 3 && segs[i + 1] == "namespaces") ? i + 3 : 0;
  if (res_at == 0) return false;  // not a collection: subresources, named objects
  std::shared_ptr<const ApiSnapshot> snap = Api();
  const api::ResourceDef* r = snap->reg->ByResource(group, segs[i], segs[res_at]);
  return r && !r->virtual_resource && r->namespaced == (rest == 3);
}

void RestHandlerImpl::HandleDiscovery(const Request& req, ResponseWriter& w, bool core) {
  std::string v = NegotiateDiscovery(req.Header("Accept"));
  auto snap = Api();
  if (!v.empty()) {
    // Aggregated discovery carries an ETag (it changes with the served CRDs); a matching
    // If-None-Match is answered 304, as upstream does.
    std::string key = (core ? "core/" : "apis/") + v;
    const std::string& etag = snap->etags.at(key);
    std::string ct = "application/json;g=apidiscovery.k8s.io;v=" + v + ";as=APIGroupDiscoveryList";
    if (req.Header("If-None-Match") == etag) return w.Send(304, ct, "", {{"ETag", etag}});
    w.Send(200, ct, snap->aggregated.at(key), {{"ETag", etag}});
    return;
  }
  w.Send(200, std::string(kJson), core ? legacy_api_ : snap->legacy_apis);
}

void RestHandlerImpl::HandleOpenApi(const Request& req, ResponseWriter& w) {
  if (req.method != "GET") return SendStatus(w, MethodNotAllowed());
  std::string p = req.path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == "/openapi/v2") {
    // kubectl 1.27 and older validate and compute patches from the v2 document, in gnostic
    // protobuf when they ask for it.
    auto snap = Api();
    const api::OpenApiV2& openapi_v2 = snap->OpenApiV2();
    const std::vector<std::pair<std::string, std::string>> hdrs = {{"ETag", "\"" + openapi_v2.hash + "\""}};
    if (req.Header("Accept").find("com.github.proto-openapi.spec.v2") != std::string::npos)
      w.Send(200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", openapi_v2.proto, hdrs);
    else
      w.Send(200, std::string(kJson), openapi_v2.json, hdrs);
    return;
  }
  auto snap = Api();
  const api::OpenApiV3& openapi = snap->OpenApiV3();
  if (p == "/openapi/v3") {
    w.Send(200, std::string(kJson), openapi.index);
    return;
  }
  const std::string prefix = "/openapi/v3/";
  if (p.rfind(prefix, 0) == 0) {
    auto it = openapi.documents.find(p.substr(prefix.size()));
    if (it != openapi.documents.end()) {
      w.Send(200, std::string(kJson), it->second, {{"Cache-Control", "public, immutable"}});
      return;
    }
  }
  SendStatus(w, ResourceNotFound());
}

void RestHandlerImpl::HandleResource(Request& req, const ResponseWriterPtr& w, bool core,
                                     std::vector<std::string> segs) {
  std::shared_ptr<const ApiSnapshot> snap = Api();
  const api::Registry& reg = *snap->reg;
  std::string group, version;
  size_t i = 1;
  if (core) {
    version = segs[1];
    i = 2;
  } else {
    group = segs[1];
    if (segs.size() == 2) {
      if (req.method != "GET") return SendStatus(*w, MethodNotAllowed());
      for (const auto& g : reg.Groups()) {
        if (g.name != group) continue;
        Json vs = Json::array();
        for (const auto& v : g.versions) vs.push_back({{"groupVersion", group + "/" + v}, {"version", v}});
        Json doc = {{"kind", "APIGroup"}, {"apiVersion", "v1"}, {"name", group}, {"versions", vs},
                    {"preferredVersion", vs.empty() ? Json::object() : vs[0]}};
        w->Send(200, std::string(kJson), DumpJson(doc));
        return;
      }
      return SendStatus(*w, ResourceNotFound());
    }
    version = segs[2];
    i = 3;
  }
  if (i == segs.size()) {
    if (req.method != "GET") return SendStatus(*w, MethodNotAllowed());
    auto list = api::ApiResourceList(reg, group, version);
    if (!list.ok()) return SendStatus(*w, ResourceNotFound());
    w->Send(200, std::string(kJson), DumpJson(*list));
    return;
  }
  std::vector<std::string> rest(segs.begin() + i, segs.end());
  bool watch_path = false;
  if (!rest.empty() && rest[0] == "watch") {
    watch_path = true;
    rest.erase(rest.begin());
  }
  Ctx c;
  c.api = snap;
  bool has_ns = false;
  if (!rest.empty() && rest[0] == "namespaces" && rest.size() > 1) {
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize") {
      c.ns = rest[1];
      has_ns = true;
      rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  if (core && version == "v1" && !watch_path && rest.size() >= 3 && IsConnectSubresource(rest[0], rest[2]) &&
      (rest.size() == 3 || rest[2] == "proxy")) {
    if (has_ns != (rest[0] != "nodes")) return SendStatus(*w, ResourceNotFound());
    if (!opts_.connector) return SendStatus(*w, UnavailableError("streaming and proxy subresources are not available"));
    ConnectRequest cr;
    cr.resource = rest[0];
    cr.name = rest[1];
    cr.subresource = rest[2];
    cr.ns = c.ns;
    if (cr.subresource == "proxy") {
      // The path after ".../proxy", trailing slash included (it matters to the backend).
      std::string prefix = "/api/v1/" + (has_ns ? "namespaces/" + c.ns + "/" : std::string()) + rest[0] + "/" +
                           rest[1] + "/proxy";
      if (req.path.rfind(prefix, 0) == 0) {
        cr.proxy_path = req.path.substr(prefix.size());
      } else {
        for (size_t k = 3; k < rest.size(); ++k) cr.proxy_path += "/" + rest[k];
      }
    }
    cr.get = [this](const std::string& resource, const std::string& ns, const std::string& name) -> Result<Json> {
      const api::ResourceDef* r = reg_->ByResource("", "v1", resource);
      if (!r) return ResourceNotFound();
      Ctx gc;
      gc.res = r;
      gc.name = name;
      ASSIGN_OR_RETURN(Loaded l, Load(gc, Key(*r, ns, name)));
      return std::move(l.obj);
    };
    opts_.connector->Connect(req, cr, w);
    return;
  }
  if (rest.empty() || rest.size() > 3) return SendStatus(*w, ResourceNotFound());
  c.res = reg.ByResource(group, version, rest[0]);
  if (!c.res) return SendStatus(*w, ResourceNotFound());
  if (has_ns && !c.res->namespaced) return SendStatus(*w, ResourceNotFound());
  if (rest.size() > 1) c.name = rest[1];
  if (rest.size() > 2) c.sub = rest[2];
  if (!c.sub.empty() && !c.res->Subresource(c.sub)) return SendStatus(*w, ResourceNotFound());
  if (c.res->namespaced && !has_ns && !c.name.empty()) return SendStatus(*w, ResourceNotFound());
  c.strat = &api::StrategyFor(c.res->group, c.res->kind);
  c.dry_run = false;
  for (const auto& d : req.QueryAll("dryRun")) {
    if (d == "All") c.dry_run = true;
    else if (!d.empty()) return SendStatus(*w, BadRequestError("Invalid dry run value: " + d));
  }
  c.field_manager = req.Query("fieldManager");
  if (c.field_manager.empty()) c.field_manager = DefaultManager(req);
  if (req.HasQuery("fieldValidation")) {
    c.field_validation = req.Query("fieldValidation");
    if (c.field_validation != "Strict" && c.field_validation != "Warn" && c.field_validation != "Ignore")
      return SendStatus(*w, BadRequestError("fieldValidation parameter unsupported: " + c.field_validation));
  }

  const std::string& m = req.method;
  std::string verb;
  bool watch = watch_path || ParseBool(req.Query("watch"));
  if (c.sub.empty()) {
    if (m == "GET") verb = c.name.empty() ? (watch ? "watch" : "list") : (watch ? "watch" : "get");
    else if (m == "POST") verb = c.name.empty() ? "create" : "";
    else if (m == "PUT") verb = c.name.empty() ? "" : "update";
    else if (m == "PATCH") verb = c.name.empty() ? "" : "patch";
    else if (m == "DELETE") verb = c.name.empty() ? "deletecollection" : "delete";
    if (verb.empty() || (!c.res->HasVerb(verb) && !(verb == "watch" && c.res->HasVerb("list"))))
      return SendStatus(*w, MethodNotAllowed());
  } else {
    const api::SubresourceDef* sd = c.res->Subresource(c.sub);
    if (m == "GET") verb = "get";
    else if (m == "PUT") verb = "update";
    else if (m == "PATCH") verb = "patch";
    else if (m == "POST") verb = "create";
    bool allowed = std::find(sd->verbs.begin(), sd->verbs.end(), verb) != sd->verbs.end();
    bool pod_post = c.res->group.empty() && c.res->plural == "pods" && verb == "create" &&
                    (c.sub == "binding" || c.sub == "eviction");
    bool ns_finalize = c.res->group.empty() && c.res->plural == "namespaces" && c.sub == "finalize" && verb == "update";
    bool sa_token = c.res->group.empty() && c.res->plural == "serviceaccounts" && c.sub == "token" &&
                    verb == "create" && opts_.token_request;
    if (!allowed || (c.sub != "status" && c.sub != "scale" && !pod_post && !ns_finalize && !sa_token))
      return SendStatus(*w, MethodNotAllowed());
  }

  if (api::conversion::NeedsConversion(*c.res)) {
    const api::ResourceDef* stored = api::conversion::StorageResource(reg, *c.res);
    if (!stored) stored = snap->UnservedStorage(*c.res);  // a CRD whose storage version is not served
    if (!stored) return SendStatus(*w, ResourceNotFound());
    c.served = c.res;
    c.res = stored;
    c.strat = &api::StrategyFor(c.res->group, c.res->kind);
  }
  if (Status st = PrepareCustom(c, verb); !st.ok()) return SendStatus(*w, st);

  if (watch && (verb == "watch")) {
    if (!c.name.empty()) {
      // A watch on one object is a watch with fieldSelector=metadata.name=<name>.
      std::string fs = req.Query("fieldSelector");
      fs = fs.empty() ? "metadata.name=" + c.name : fs + ",metadata.name=" + c.name;
      bool replaced = false;
      for (auto& [k, v] : req.query)
        if (k == "fieldSelector") { v = fs; replaced = true; }
      if (!replaced) req.query.emplace_back("fieldSelector", fs);
      c.name.clear();
    }
    Watch(req, c, w);
    return;
  }

  Result<Reply> r = Status::Ok();
  if (c.sub == "scale") r = c.custom ? CustomScale(req, c) : Scale(req, c);
  else if (c.sub == "binding" || c.sub == "eviction") r = PodAction(req, c);
  else if (c.sub == "token") {
    // TokenRequest (authentication.k8s.io/v1) for a ServiceAccount; apiserver/serviceaccount answers.
    r = [&]() -> Result<Reply> {
      ASSIGN_OR_RETURN(Json tr, DecodeBody(req, c, reg_->KindType("authentication.k8s.io", "v1", "TokenRequest"),
                                           "authentication.k8s.io/v1", "TokenRequest"));
      ASSIGN_OR_RETURN(Json out, opts_.token_request(c.ns, c.name, std::move(tr)));
      return Reply{201, DumpJson(out)};
    }();
  }
  else if (verb == "get") r = Get(req, c);
  else if (verb == "list") r = List(req, c);
  else if (verb == "create") return Create(req, c, w);  // answers itself (store write completes it)
  else if (verb == "update") r = Update(req, c);
  else if (verb == "patch") r = Patch(req, c);
  else if (verb == "delete") r = Delete(req, c);
  else if (verb == "deletecollection") r = DeleteCollection(req, c);
  SendReply(*w, c, std::move(r));
}

void RestHandlerImpl::SendReply(ResponseWriter& w, const Ctx& c, Result<Reply> r) {
  if (!r.ok()) {
    w.Send(HttpCodeOf(r.status().code()), std::string(kJson), StatusJson(r.status()));
    return;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& warn : c.warnings) {
    std::string esc;
    for (char ch : warn) {
      if (ch == '"' || ch == '\\') esc += '\\';
      esc += ch;
    }
    headers.emplace_back("Warning", "299 - \"" + esc + "\"");
  }
  w.Send(r->code, std::string(kJson), std::move(r->body), std::move(headers));
}

// ---------------------------------------------------------------------------------------------
// Reads

Result<RestHandlerImpl::Loaded> RestHandlerImpl::Load(const Ctx& c, const std::string& key) {
  auto kv = store_.Get(key);
  if (!kv.ok()) {
    if (kv.status().code() == StatusCode::kNotFound) return NotFound(*c.res, c.name);
    return kv.status();
  }
  ASSIGN_OR_RETURN(Json obj, ParseJson(*kv->value));
  Meta(obj)["resourceVersion"] = std::to_string(kv->mod_revision);
  return Loaded{std::move(obj), kv->mod_revision};
}

Result<std::string> RestHandlerImpl::TableJson(const Ctx& c, const std::vector<Json>& objs, const std::string& rv,
                                               const std::string& cont, const std::string& version,
                                               const std::string& include) const {
  std::string inc = include.empty() ? "Metadata" : include;
  if (inc != "Metadata" && inc != "Object" && inc != "None")
    return BadRequestError("includeObject: Unsupported value: \"" + inc + "\": supported values: \"None\", \"Metadata\", \"Object\"");
  Json cols = Json::array();
  for (const auto& col : c.strat->Columns())
    cols.push_back({{"name", col.name}, {"type", col.type}, {"format", col.format},
                    {"description", col.description}, {"priority", col.priority}});
  Json rows = Json::array();
  SystemTime now = clock_->Now();
  for (const auto& o : objs) {
    Json row = {{"cells", c.strat->Row(o, now)}};
    if (inc == "Object") {
      Json full = o;
      full["apiVersion"] = c.res->ApiVersion();
      full["kind"] = c.res->kind;
      row["object"] = full;
    } else if (inc == "Metadata") {
      row["object"] = {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/" + version},
                       {"metadata", o.contains("metadata") ? o["metadata"] : Json::object()}};
    }
    rows.push_back(std::move(row));
  }
  Json meta = {{"resourceVersion", rv}};
  if (!cont.empty()) meta["continue"] = cont;
  Json t = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/" + version}, {"metadata", meta},
            {"columnDefinitions", cols}, {"rows", rows}};
  return DumpJson(t);
}

namespace {

// The row of a snapshot, rendered on first use and kept with it (see CachedRow).
const CachedRow* RowOf(const api::Strategy& strat, const CachedObject& o) {
  if (const CachedRow* r = o.row.load(std::memory_order_acquire)) return r;
  std::string buf;
  std::string_view bytes = o.View(&buf);
  auto doc = ParseJson(bytes);
  if (!doc.ok()) return nullptr;
  auto row = std::make_unique<CachedRow>();
  row->cells = DumpJson(strat.Row(*doc, api::kDeferredNow));
  ForEachMember(bytes, Span{0, bytes.size()}, [&](std::string_view k, Span v) {
    if (k != "metadata") return true;
    row->meta_begin = v.begin;
    row->meta_end = v.end;
    return false;
  });
  const CachedRow* expected = nullptr;
  if (o.row.compare_exchange_strong(expected, row.get(), std::memory_order_acq_rel)) return row.release();
  return expected;  // another thread rendered it first
}

}  // namespace

Result<std::string> RestHandlerImpl::TableFromCached(const Ctx& c, const std::vector<CachedObjectPtr>& objs,
                                                     const std::string& rv, const std::string& cont,
                                                     const std::string& version, const std::string& include) const {
  std::string inc = include.empty() ? "Metadata" : include;
  if (inc == "Object" || c.custom) {
    std::vector<Json> docs;
    docs.reserve(objs.size());
    for (const auto& o : objs) {
      ASSIGN_OR_RETURN(Json d, ParseJson(o->Bytes()));
      docs.push_back(std::move(d));
    }
    return TableJson(c, docs, rv, cont, version, include);
  }
  if (inc != "Metadata" && inc != "None")
    return BadRequestError("includeObject: Unsupported value: \"" + inc + "\": supported values: \"None\", \"Metadata\", \"Object\"");
  // Same bytes TableJson would produce (keys in sorted order).
  Json cols = Json::array();
  for (const auto& col : c.strat->Columns())
    cols.push_back({{"name", col.name}, {"type", col.type}, {"format", col.format},
                    {"description", col.description}, {"priority", col.priority}});
  SystemTime now = clock_->Now();
  const std::string partial_head = "{\"apiVersion\":\"meta.k8s.io/" + version + "\",\"kind\":\"PartialObjectMetadata\",\"metadata\":";
  std::string out;
  size_t guess = 256;
  for (const auto& o : objs) guess += 64 + (inc == "Metadata" ? o->packed.size() / 2 : 0);
  out.reserve(guess);
  out += "{\"apiVersion\":\"meta.k8s.io/" + version + "\",\"columnDefinitions\":" + DumpJson(cols) +
         ",\"kind\":\"Table\",\"metadata\":{";
  if (!cont.empty()) out += "\"continue\":" + Json(cont).dump() + ",";
  out += "\"resourceVersion\":" + Json(rv).dump() + "},\"rows\":[";
  bool first = true;
  for (const auto& o : objs) {
    const CachedRow* row = RowOf(*c.strat, *o);
    if (!row) return InternalError("stored object " + o->key + " is not valid JSON");
    if (!first) out += ',';
    first = false;
    out += "{\"cells\":";
    api::AppendResolvedTimes(out, row->cells, now);
    if (inc == "Metadata") {
      out += ",\"object\":";
      out += partial_head;
      std::string buf;
      if (row->meta_end > row->meta_begin)
        out.append(o->View(&buf).substr(row->meta_begin, row->meta_end - row->meta_begin));
      else
        out += "{}";
      out += '}';
    }
    out += '}';
  }
  out += "]}";
  return out;
}

Result<RestHandlerImpl::Reply> RestHandlerImpl::Get(const Request& req, Ctx& c) {
  Negotiated n = NegotiateObject(req.Header("Accept"));
  if (!n.acceptable)
    return Status(StatusCode::kNotAcceptable, "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf");
  ASSIGN_OR_RETURN(Loaded l, Load(c, Key(*c.res, c.ns, c.name)));
  if (c.sub == "status") l.obj["apiVersion"] = c.res->ApiVersion();
  if (n.table) {
    ASSIGN_OR_RETURN(std::string t, TableJson(c, {l.obj}, std::to_string(l.mod_rev), "", n.table_version,
                                              req.Query("includeObject")));
    return Reply{200, std::move(t)};
  }
  return Reply{200, ObjectJson(c, std::move(l.obj))};
}

Status RestHandlerImpl::FieldSelectorSupported(const Ctx& c, const FieldSelector& fs) const {
  for (const auto& t : fs.Terms()) {
    if (t.field == "metadata.name" || t.field == "metadata.namespace") continue;
    if (!c.strat->FieldValue(Json::object(), t.field).has_value())
      return BadRequestError("field label not supported: " + t.field);
  }
  return Status::Ok();
}

bool RestHandlerImpl::MatchesFields(const Ctx& c, const CachedObject& o, const FieldSelector& fs) const {
  std::optional<Json> doc;
  for (const auto& t : fs.Terms()) {
    std::string v;
    if (t.field == "metadata.name") v = o.name;
    else if (t.field == "metadata.namespace") v = o.ns;
    else {
      if (!doc) {
        auto d = ParseJson(o.Bytes());
        if (!d.ok()) return false;
        doc = std::move(d).value();
      }
      v = c.strat->FieldValue(*doc, t.field).value_or("");
    }
    if ((v == t.value) == t.negate) return false;
  }
  return true;
}

Result<RestHandlerImpl::Reply> RestHandlerImpl::List(const Request& req, Ctx& c) {
  Negotiated n = NegotiateObject(req.Header("Accept"));
  if (!n.acceptable)
    return Status(StatusCode::kNotAcceptable, "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf");
  ASSIGN_OR_RETURN(LabelSelector ls, LabelSelector::Parse(req.Query("labelSelector")));
  ASSIGN_OR_RETURN(FieldSelector fs, FieldSelector::Parse(req.Query("fieldSelector")));
  RETURN_IF_ERROR(FieldSelectorSupported(c, fs));
  ASSIGN_OR_RETURN(int64_t limit, ParseInt(req.Query("limit"), "limit"));
  if (limit < 0) limit = 0;
  std::string rv_param = req.Query("resourceVersion");
  std::string rv_match = req.Query("resourceVersionMatch");
  if (!rv_match.empty() && rv_match != "NotOlderThan" && rv_match != "Exact")
    return BadRequestError("resourceVersionMatch: Unsupported value: \"" + rv_match + "\"");
  if (!rv_match.empty() && rv_param.empty())
    return BadRequestError("resourceVersionMatch is forbidden unless resourceVersion is provided");
  ASSIGN_OR_RETURN(int64_t rv, ParseInt(rv_param, "resourceVersion"));
  std::string cont = req.Query("continue");
  if (!cont.empty() && !rv_param.empty() && rv_param != "0")
    return BadRequestError("specifying resource version is not allowed when using continue");

  WatchCache* cache = CacheFor(*c.res);
  if (!cache) return InternalError("no watch cache for " + c.res->plural);
  std::string prefix = Prefix(*c.res) + (c.res->namespaced && !c.ns.empty() ? c.ns + "/" : "");

  std::vector<CachedObjectPtr> out;
  std::string next_token;
  int64_t list_rev = 0;
  auto matches = [&](const CachedObject& o) { return ls.Matches(o.labels) && (fs.Empty() || MatchesFields(c, o, fs)); };

  bool from_store = !cont.empty() || (rv_match == "Exact" && rv > 0);
  if (!from_store) {
    // Single API server: revisions after our own last write to this prefix carry no events for
    // it, so the cache is current once it has seen that write (the store's progress
    // notifications cover other writers).
    // A consistent list (no resourceVersion) is as of the store's current revision: the cache
    // catches up through the store's progress notifications even for a prefix nobody wrote
    // (else a never-written resource would list at revision 0 and a watch from there could
    // replay what it should not).
    int64_t want = rv_param.empty() ? std::max(cache->LastWrite(), store_.CurrentRevision())
                                    : (rv <= store_.CurrentRevision() ? std::min(rv, cache->LastWrite()) : rv);
    if (!cache->WaitForRevision(want, std::chrono::seconds(3))) {
      if (rv > store_.CurrentRevision()) return TimeoutError("Too large resource version: " + std::to_string(rv) + ", current: " + std::to_string(store_.CurrentRevision()));
    }
    auto snap = cache->Snapshot(prefix, &list_rev);
    if (rv_match == "Exact" && list_rev != rv) {
      from_store = true;
    } else {
      for (const auto& o : snap) {
        if (!matches(*o)) continue;
        if (limit > 0 && static_cast<int64_t>(out.size()) == limit) {
          next_token = EncodeContinue(out.back()->key, list_rev);
          break;
        }
        out.push_back(o);
      }
    }
  }
  if (from_store) {
    out.clear();
    next_token.clear();
    std::string start;
    int64_t at = rv;
    if (!cont.empty()) {
      RETURN_IF_ERROR(DecodeContinue(cont, &start, &at));
      if (start.rfind(prefix, 0) != 0) return BadRequestError("continue key is not valid: key does not match the request");
      if (at <= store_.CompactedRevision())
        return GoneError("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.");
    }
    list_rev = at;
    while (true) {
      store::ListOptions lo;
      lo.revision = at;
      lo.limit = limit > 0 ? std::max<int64_t>(limit, 64) : 0;
      lo.start_after = start;
      auto page = store_.List(prefix, lo);
      if (!page.ok()) {
        if (page.status().code() == StatusCode::kGone && !cont.empty())
          return GoneError("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.");
        return page.status();
      }
      list_rev = page->revision;
      bool full = false;
      for (const auto& kv : page->items) {
        start = kv.key;
        ASSIGN_OR_RETURN(CachedObjectPtr o, MakeCachedObject(kv.key, *kv.value, kv.mod_revision));
        if (!matches(*o)) continue;
        if (limit > 0 && static_cast<int64_t>(out.size()) == limit) {
          full = true;
          break;
        }
        out.push_back(std::move(o));
      }
      if (full) {
        next_token = EncodeContinue(out.back()->key, list_rev);
        break;
      }
      if (!page->more || page->items.empty()) break;
    }
  }

  std::string rvs = std::to_string(list_rev);
  if (n.table) {
    ASSIGN_OR_RETURN(std::string t, TableFromCached(c, out, rvs, next_token, n.table_version, req.Query("includeObject")));
    return Reply{200, std::move(t)};
  }
  // The list is a concatenation of the cached bytes: no per-item re-encoding.
  size_t total = 128;
  for (const auto& o : out) total += o->packed.size() + 1;
  std::string body;
  body.reserve(total);
  body += "{\"apiVersion\":\"" + Served(c).ApiVersion() + "\",\"items\":[";
  for (size_t k = 0; k < out.size(); ++k) {
    if (k) body += ',';
    if (c.served) body += ServedBytes(c, *out[k]);
    else out[k]->packed.AppendTo(&body);
  }
  body += "],\"kind\":\"" + Served(c).list_kind + "\",\"metadata\":{";
  if (!next_token.empty()) body += "\"continue\":\"" + next_token + "\",";
  body += "\"resourceVersion\":\"" + rvs + "\"}}";
  return Reply{200, std::move(body)};
}

void RestHandlerImpl::Watch(const Request& req, Ctx& c, const ResponseWriterPtr& w) {
  auto fail = [&](const Status& st) { SendStatus(*w, st); };
  Negotiated n = NegotiateObject(req.Header("Accept"));
  auto ls = LabelSelector::Parse(req.Query("labelSelector"));
  if (!ls.ok()) return fail(ls.status());
  auto fs = FieldSelector::Parse(req.Query("fieldSelector"));
  if (!fs.ok()) return fail(fs.status());
  if (Status st = FieldSelectorSupported(c, *fs); !st.ok()) return fail(st);
  auto rv = ParseInt(req.Query("resourceVersion"), "resourceVersion");
  if (!rv.ok()) return fail(rv.status());
  auto timeout = ParseInt(req.Query("timeoutSeconds"), "timeoutSeconds");
  if (!timeout.ok()) return fail(timeout.status());
  bool bookmarks = ParseBool(req.Query("allowWatchBookmarks"));
  bool send_initial = ParseBool(req.Query("sendInitialEvents"));
  WatchCache* cache = CacheFor(*c.res);
  if (!cache) return fail(InternalError("no watch cache for " + c.res->plural));
  int64_t from = *rv;
  if (send_initial) from = 0;
  if (from == 0) cache->WaitForRevision(cache->LastWrite(), std::chrono::seconds(3));
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (*timeout > 0) deadline = clock_->SteadyNow() + std::chrono::seconds(*timeout);
  auto s = std::make_shared<WatchStream>(*this, c, w, std::move(ls).value(), std::move(fs).value(), n.table,
                                         n.table_version, bookmarks, send_initial && bookmarks, from, deadline);
  s->id = next_stream_id_++;
  s->cache = cache;
  s->last_bookmark = clock_->SteadyNow();
  w->StartStream(200, std::string(kJson));
  int64_t start_rev = 0;
  auto id = cache->AddWatcher(from, s, &start_rev);
  if (!id.ok()) {
    s->WriteError(id.status());
    s->Finish();
    return;
  }
  s->cache_id = *id;
  RegisterStream(s);
  // Its CRD may have gone since the request started (EndWatchesIf ran before we registered).
  if (c.custom && !Api()->CustomStrategy(Served(c)))
    EndWatchesIf([&](const Ctx& other) { return &other == &s->ctx(); });
  std::weak_ptr<WatchStream> weak = s;
  // The transport may run this from inside Write (under the cache lock), so it only marks the
  // stream; the next event or timer tick removes it.
  w->OnClose([weak] {
    if (auto st = weak.lock()) st->MarkClosed();
  });
  if (stopped_.load()) s->Finish();
}

// ---------------------------------------------------------------------------------------------
// Writes

Status RestHandlerImpl::CheckFields(Json& obj, Ctx& c, const api::TypeDef* type, const std::vector<std::string>& dups,
                                    const std::string& kind, const std::string& version) {
  std::vector<std::string> problems;
  for (const auto& d : dups) problems.push_back("duplicate field \"" + d + "\"");
  if (c.custom) {
    // Custom objects: wrong types are validation errors (422) and unknown fields are pruned.
    for (const auto& f : c.custom->UnknownFields(obj)) problems.push_back("unknown field \"" + f + "\"");
  } else if (type) {
    auto check = api::NormalizeToSchema(obj, *type);
    if (!check.ok())
      return BadRequestError(kind + " in version \"" + version + "\" cannot be handled as a " + kind + ": " +
                             check.status().message());
    for (const auto& f : check->unknown_fields) problems.push_back("unknown field \"" + f + "\"");
  }
  if (problems.empty() || c.field_validation == "Ignore") return Status::Ok();
  if (c.field_validation == "Strict") {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : ", ") + p;
    return BadRequestError(kind + " in version \"" + version + "\" cannot be handled as a " + kind +
                           ": strict decoding error: " + msg);
  }
  for (const auto& p : problems) c.warnings.push_back(p);
  return Status::Ok();
}

Result<Json> RestHandlerImpl::DecodeBody(const Request& req, Ctx& c, const api::TypeDef* type,
                                         const std::string& want_api_version, const std::string& want_kind) {
  std::string ct = MediaType(req.Header("Content-Type"));
  std::vector<std::string> dups;
  Json obj;
  if (ct.empty() || ct == "application/json") {
    // Nearly every body repeats no key: a byte scan shows it, and the plain parser builds the
    // object. The duplicate-reporting decode keeps a key set and a path per object (~7% of a
    // scheduled pod's CPU: its Binding and its Event); it still answers every other body.
    std::optional<Json> plain;
    if (KeysDistinct(req.body))
      if (auto j = ParseJson(req.body); j.ok()) plain = std::move(j).value();
    if (plain) {
      obj = std::move(*plain);
    } else {
      ASSIGN_OR_RETURN(obj, api::DecodeJson(req.body, &dups));
    }
  } else if (ct == "application/yaml") {
    ASSIGN_OR_RETURN(obj, api::YamlToJson(req.body));
  } else if (ct == "application/vnd.kubernetes.protobuf") {
    ASSIGN_OR_RETURN(obj, api::DecodeProtobuf(*reg_, req.body));
  } else {
    return Status(StatusCode::kUnsupportedMediaType,
                  "the body of the request was in an unknown format - accepted media types include: "
                  "application/json, application/yaml, application/vnd.kubernetes.protobuf");
  }
  if (!obj.is_object()) return BadRequestError("the body of the request must be a JSON object");
  std::string av = GetString(obj, "apiVersion");
  std::string kind = GetString(obj, "kind");
  std::string version = want_api_version.substr(want_api_version.find('/') == std::string::npos ? 0 : want_api_version.find('/') + 1);
  if (!av.empty() && av != want_api_version)
    return BadRequestError("the API version in the data (" + av + ") does not match the expected API version (" +
                           want_api_version + ")");
  if (!kind.empty() && kind != want_kind)
    return BadRequestError(kind + " in version \"" + version + "\" cannot be handled as a " + want_kind +
                           ": no kind \"" + kind + "\" is registered for version \"" + want_api_version + "\"");
  obj["apiVersion"] = want_api_version;
  obj["kind"] = want_kind;
  RETURN_IF_ERROR(CheckFields(obj, c, type, dups, want_kind, version));
  return obj;
}

Status RestHandlerImpl::CheckNamespace(Ctx& c) {
  if (!c.res->namespaced) return Status::Ok();
  auto kv = store_.Get("/registry/core/namespaces/" + c.ns);
  if (!kv.ok()) {
    if (kv.status().code() == StatusCode::kNotFound)
      return NotFoundError("namespaces \"" + c.ns + "\" not found").WithDetails(Details(c.ns, "", "namespaces"));
    return kv.status();
  }
  // Parse the namespace only when its bytes can say it is terminating (this runs on every
  // create; almost no namespace is).
  const std::string& nsb = *kv->value;
  if (nsb.find("deletionTimestamp") == std::string::npos && nsb.find("Terminating") == std::string::npos)
    return Status::Ok();
  auto ns = ParseJson(nsb);
  if (ns.ok() && (FindPath(*ns, {"metadata", "deletionTimestamp"}) || GetStringPath(*ns, {"status", "phase"}) == "Terminating"))
    return ForbiddenError(QualifiedResource(*c.res) + " \"" + c.name +
                          "\" is forbidden: unable to create new content in namespace " + c.ns +
                          " because it is being terminated")
        .WithDetails(Details(c.name, c.res->group, c.res->plural));
  return Status::Ok();
}

namespace {
bool IsService(const api::ResourceDef& r) { return r.group.empty() && r.plural == "services"; }
bool IsNamespace(const api::ResourceDef& r) { return r.group.empty() && r.plural == "namespaces"; }
std::string QualifiedKind(const api::ResourceDef& r) { return r.group.empty() ? r.kind : r.kind + "." + r.group; }
}  // namespace

Result<RestHandlerImpl::PendingCreate> RestHandlerImpl::PrepareCreate(Ctx& c, Json obj) {
  Json& meta = Meta(obj);
  if (c.res->namespaced) {
    std::string body_ns = GetString(meta, "namespace");
    if (!body_ns.empty() && body_ns != c.ns)
      return BadRequestError("the namespace of the provided object does not match the namespace sent on the request");
    meta["namespace"] = c.ns;
  } else {
    meta.erase("namespace");
  }
  for (const char* f : {"resourceVersion", "uid", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
                        "generation", "creationTimestamp", "managedFields"})
    meta.erase(f);
  c.name = GetString(meta, "name");
  std::string gen = GetString(meta, "generateName");
  RETURN_IF_ERROR(CheckNamespace(c));
  // The uid exists before the strategy runs, as upstream assigns it before validation (the Job
  // strategy derives its generated selector from it).
  obj["metadata"]["uid"] = NewUid();
  c.strat->PrepareForCreate(obj);
  c.strat->Default(obj);  // the Namespace strategy adds the "kubernetes" finalizer and phase Active
  PendingCreate p;
  p.gen = gen;
  api::FieldErrors errs;
  p.svc = IsService(*c.res);
  if (p.svc) errs = alloc_->Allocate(obj, nullptr, &p.taken);
  auto validate = [&](Json& o) {
    api::FieldErrors e = c.strat->Validate(o);
    if (GetString(o["metadata"], "name").empty() && gen.empty() && e.empty())
      e.push_back(api::FieldError::Required("metadata.name", "name or generateName is required"));
    return e;
  };
  p.named = !c.name.empty();
  if (c.name.empty() && !gen.empty()) obj["metadata"]["name"] = gen + RandomNameSuffix();
  if (opts_.admit_create) {  // mutating admission (sa-tokens: ServiceAccount plugin)
    if (Status st = opts_.admit_create(c.res->group, c.res->plural, c.ns, obj); !st.ok()) {
      if (p.svc) alloc_->Undo(p.taken);
      return st;
    }
  }
  for (auto& e : validate(obj)) errs.push_back(std::move(e));
  if (!errs.empty()) {
    if (p.svc) alloc_->Undo(p.taken);
    return api::InvalidStatus(QualifiedKind(*c.res), c.res->group, c.res->kind,
                              c.name.empty() ? GetString(obj["metadata"], "name") : c.name, errs);
  }
  Json& m = obj["metadata"];
  m["creationTimestamp"] = Now();
  m["generation"] = 1;
  TrackManagedFields(c, nullptr, obj);
  p.obj = std::move(obj);
  return p;
}

std::shared_ptr<const std::string> RestHandlerImpl::CreateBytes(Ctx& c, PendingCreate& p) {
  c.name = GetString(p.obj["metadata"], "name");
  // Serialized once: these bytes are stored, and the create answers with them (plus the
  // resourceVersion spliced in) instead of encoding the object again.
  p.obj["metadata"].erase("resourceVersion");
  return std::make_shared<const std::string>(DumpJson(p.obj));
}

Json RestHandlerImpl::Created(Ctx& c, PendingCreate& p, std::shared_ptr<const std::string> bytes, int64_t rev) {
  NoteWrite(*c.res, rev);
  p.obj["metadata"]["resourceVersion"] = std::to_string(rev);
  c.written = {Key(*c.res, c.ns, c.name), std::move(bytes), rev};
  return std::move(p.obj);
}

Status RestHandlerImpl::CreateFailed(Ctx& c, PendingCreate& p, const Status& st, int attempt) {
  if (st.code() == StatusCode::kAlreadyExists && !p.named && !p.gen.empty() && attempt < 8) {
    p.obj["metadata"]["name"] = p.gen + RandomNameSuffix();
    return Status::Ok();
  }
  if (p.svc) alloc_->Undo(p.taken);
  if (st.code() == StatusCode::kAlreadyExists)
    return AlreadyExistsError(QualifiedResource(*c.res) + " \"" + c.name + "\" already exists")
        .WithDetails(Details(c.name, c.res->group, c.res->plural));
  return st;
}

Result<Json> RestHandlerImpl::CreateObject(Ctx& c, Json obj) {
  ASSIGN_OR_RETURN(PendingCreate p, PrepareCreate(c, std::move(obj)));
  if (c.dry_run) {
    if (p.svc) alloc_->Undo(p.taken);
    return std::move(p.obj);
  }
  for (int attempt = 0;; ++attempt) {
    auto bytes = CreateBytes(c, p);
    auto rev = store_.Create(Key(*c.res, c.ns, c.name), bytes);
    if (rev.ok()) return Created(c, p, std::move(bytes), *rev);
    RETURN_IF_ERROR(CreateFailed(c, p, rev.status(), attempt));  // OK: retry under a new name
  }
}

void RestHandlerImpl::CommitCreate(Ctx c, std::shared_ptr<PendingCreate> p, ResponseWriterPtr w, int attempt) {
  auto bytes = CreateBytes(c, *p);
  std::string key = Key(*c.res, c.ns, c.name);
  // The answer will be the stored bytes (WrittenJson) and no retry renames the object: the
  // parsed object is freed here, on the request's thread, not by the callback on the store's
  // single writer thread.
  if (!c.served && (p->named || p->gen.empty())) Json().swap(p->obj);
  {
    std::lock_guard<std::mutex> lock(async_mu_);
    ++async_writes_;
  }
  // The store calls back once the write is durable, usually on its writer thread: the response
  // goes from there straight to the connection, and no request thread waits for the commit.
  store_.CreateAsync(key, bytes, [this, c = std::move(c), p = std::move(p), w = std::move(w), bytes,
                                  attempt](Result<int64_t> rev) mutable {
    if (rev.ok()) {
      Json created = Created(c, *p, std::move(bytes), *rev);
      std::string body = WrittenJson(c);
      if (body.empty()) body = ObjectJson(c, std::move(created));
      SendReply(*w, c, Reply{201, std::move(body)});
    } else if (Status st = CreateFailed(c, *p, rev.status(), attempt); st.ok()) {
      CommitCreate(std::move(c), std::move(p), std::move(w), attempt + 1);
    } else {
      SendReply(*w, c, st);
    }
    std::lock_guard<std::mutex> lock(async_mu_);
    if (--async_writes_ == 0) async_cv_.notify_all();
  });
}

// Virtual resources (reviews, TokenReview): answered from the request, nothing stored.
Result<RestHandlerImpl::Reply> RestHandlerImpl::CreateVirtual(const Request& req, Ctx& c, Json obj) {
  if (opts_.virtual_create) {
    ASSIGN_OR_RETURN(Json out, opts_.virtual_create(obj, req.user));
    return Reply{201, ObjectJson(c, std::move(out))};
  }
  const std::string& k = c.res->kind;
  if (c.res->group == "authorization.k8s.io" &&
      (k == "SelfSubjectAccessReview" || k == "SubjectAccessReview" || k == "LocalSubjectAccessReview")) {
    obj["status"] = {{"allowed", true}};
  } else if (c.res->group == "authorization.k8s.io" && k == "SelfSubjectRulesReview") {
    obj["status"] = {{"resourceRules", Json::array({{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}}})},
                     {"nonResourceRules", Json::array({{{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}}})},
                     {"incomplete", false}};
  } else if (c.res->group == "authentication.k8s.io" && k == "SelfSubjectReview") {
    Json ui = {{"username", req.user.name}, {"groups", req.user.groups}};
    if (!req.user.uid.empty()) ui["uid"] = req.user.uid;
    if (!req.user.extra.empty()) ui["extra"] = req.user.extra;
    obj["status"] = {{"userInfo", ui}};
  } else if (c.res->group == "authentication.k8s.io" && k == "TokenReview" && opts_.token_review) {
    obj = opts_.token_review(std::move(obj));
  } else {
    return MethodNotAllowed();
  }
  Meta(obj)["creationTimestamp"] = nullptr;
  return Reply{201, ObjectJson(c, std::move(obj))};
}

void RestHandlerImpl::Create(const Request& req, Ctx& c, const ResponseWriterPtr& w) {
  auto obj = DecodeObject(req, c);
  if (!obj.ok()) return SendReply(*w, c, obj.status());
  if (c.res->virtual_resource) return SendReply(*w, c, CreateVirtual(req, c, std::move(obj).value()));
  auto p = PrepareCreate(c, std::move(obj).value());
  if (!p.ok()) return SendReply(*w, c, p.status());
  if (c.dry_run) {
    if (p->svc) alloc_->Undo(p->taken);
    return SendReply(*w, c, Reply{201, ObjectJson(c, std::move(p->obj))});
  }
  CommitCreate(c, std::make_shared<PendingCreate>(std::move(p).value()), w, 0);
}

Status RestHandlerImpl::DeleteStored(const api::ResourceDef& res, const std::string& key, const Json& obj,
                                     int64_t mod_rev, bool dry_run) {
  if (dry_run) return Status::Ok();
  auto r = store_.Delete(key, mod_rev);
  if (!r.ok()) return r.status();
  NoteWrite(res, r->mod_revision);
  if (IsService(res)) alloc_->Release(obj, nullptr);
  return Status::Ok();
}

Result<Json> RestHandlerImpl::UpdateObject(Ctx& c, const Json& old, int64_t mod_rev, Json obj, bool* wrote) {
  *wrote = false;
  c.written = {};
  Json& meta = Meta(obj);
  const Json& old_meta = old["metadata"];
  std::string body_name = GetString(meta, "name");
  if (!body_name.empty() && body_name != c.name)
    return BadRequestError("the name of the object (" + body_name + ") does not match the name on the URL (" + c.name + ")");
  if (c.res->namespaced) {
    std::string body_ns = GetString(meta, "namespace");
    if (!body_ns.empty() && body_ns != c.ns)
      return BadRequestError("the namespace of the provided object does not match the namespace sent on the request");
  }
  std::string body_rv = GetString(meta, "resourceVersion");
  if (!body_rv.empty() && body_rv != std::to_string(mod_rev)) return ConflictModified(*c.res, c.name);
  // System metadata is owned by the server.
  for (const char* f : {"name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp",
                        "deletionGracePeriodSeconds"}) {
    if (const Json* v = Find(old_meta, f)) meta[f] = *v;
    else meta.erase(f);
  }
  // managedFields: a client may send its own (kubectl's client-side -> server-side apply
  // upgrade does); absent means "keep", as upstream (TrackManagedFields picks the base).
  meta["resourceVersion"] = std::to_string(mod_rev);
  if (c.sub == "status") {
    c.strat->PrepareForStatusUpdate(obj, old);
    Json merged = old;
    if (obj.contains("status")) merged["status"] = obj["status"];
    else merged.erase("status");
    obj = std::move(merged);
  } else if (c.sub == "finalize") {
    // namespaces/NAME/finalize changes spec.finalizers only (the namespace controller's last step).
    Json merged = old;
    if (const Json* f = FindPath(obj, {"spec", "finalizers"}); f && f->is_array() && !f->empty())
      merged["spec"]["finalizers"] = *f;
    else if (merged.contains("spec") && merged["spec"].is_object())
      merged["spec"].erase("finalizers");
    obj = std::move(merged);
  } else {
    c.strat->PrepareForUpdate(obj, old);
  }
  if (c.sub != "finalize") c.strat->Default(obj);  // defaulting would re-add the finalizer
  ServiceAllocator::Taken taken;
  api::FieldErrors errs;
  bool svc = IsService(*c.res);
  if (svc) errs = alloc_->Allocate(obj, &old, &taken);
  for (auto& e : c.strat->Validate(obj)) errs.push_back(std::move(e));
  for (auto& e : c.strat->ValidateUpdate(obj, old)) errs.push_back(std::move(e));
  if (!errs.empty()) {
    if (svc) alloc_->Undo(taken);
    return api::InvalidStatus(QualifiedKind(*c.res), c.res->group, c.res->kind, c.name, errs);
  }
  obj["apiVersion"] = old.contains("apiVersion") ? old["apiVersion"] : Json(c.res->ApiVersion());
  obj["kind"] = c.res->kind;
  if (obj == old) return obj;  // no-op: nothing is written, resourceVersion stays
  // Custom resources without a status subresource count status changes too (upstream).
  bool status_changed = c.custom && !c.custom->has_status() && obj.value("status", Json()) != old.value("status", Json());
  if (c.sub != "status" && (SpecView(obj) != SpecView(old) || status_changed)) {
    int64_t g = old_meta.contains("generation") && old_meta["generation"].is_number_integer()
                    ? old_meta["generation"].get<int64_t>() : 0;
    obj["metadata"]["generation"] = g + 1;
  }
  TrackManagedFields(c, &old, obj);
  std::string key = Key(*c.res, c.ns, c.name);
  const Json* spec_fins = IsNamespace(*c.res) ? FindPath(obj, {"spec", "finalizers"}) : nullptr;
  bool spec_fin = spec_fins && spec_fins->is_array() && !spec_fins->empty();
  if (FindPath(obj, {"metadata", "deletionTimestamp"}) && !HasFinalizers(obj) && !spec_fin) {
    // The update that removes the last finalizer of a deleting object (for a namespace: also
    // the last spec.finalizers entry) deletes it.
    if (svc) alloc_->Undo(taken);
    Status st = DeleteStored(*c.res, key, old, mod_rev, c.dry_run);
    if (st.code() == StatusCode::kConflict) return ConflictModified(*c.res, c.name);
    RETURN_IF_ERROR(st);
    *wrote = !c.dry_run;
    return obj;
  }
  if (c.dry_run) {
    if (svc) alloc_->Undo(taken);
    return obj;
  }
  obj["metadata"].erase("resourceVersion");  // serialized once, as in CreateObject
  auto bytes = std::make_shared<const std::string>(DumpJson(obj));
  auto rev = store_.Update(key, bytes, mod_rev);
  if (!rev.ok()) {
    if (svc) alloc_->Undo(taken);
    if (rev.status().code() == StatusCode::kConflict) return ConflictModified(*c.res, c.name);
    if (rev.status().code() == StatusCode::kNotFound) return NotFound(*c.res, c.name);
    return rev.status();
  }
  NoteWrite(*c.res, *rev);
  if (svc) alloc_->Release(old, &obj);
  obj["metadata"]["resourceVersion"] = std::to_string(*rev);
  // (An object stored under an older apiVersion is answered through ObjectJson.)
  if (GetString(obj, "apiVersion") == c.res->ApiVersion()) c.written = {key, std::move(bytes), *rev};
  *wrote = true;
  return obj;
}

Result<RestHandlerImpl::Reply> RestHandlerImpl::Update(const Request& req, Ctx& c) {
  ASSIGN_OR_RETURN(Json obj, DecodeObject(req, c));
  std::string key = Key(*c.res, c.ns, c.name);
  bool unconditional = GetStringPath(obj, {"metadata", "resourceVersion"}).empty();
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(Loaded l, Load(c, key));
    bool wrote = false;
    auto r = UpdateObject(c, l.obj, l.mod_rev, obj, &wrote);
    if (!r.ok() && r.status().code() == StatusCode::kConflict && unconditional && attempt < 5) continue;
    if (!r.ok()) return r.status();
    if (std::string body = WrittenJson(c); !body.empty()) return Reply{200, std::move(body)};
    return Reply{200, ObjectJson(c, std::move(r).value())};
  }
}

Result<RestHandlerImpl::Reply> RestHandlerImpl::Patch(const Request& req, Ctx& c) {
  std::string ct = MediaType(req.Header("Content-Type"));
  bool apply = ct == "application/apply-patch+yaml";
  if (ct != "application/json-patch+json" && ct != "application/merge-patch+json" &&
      ct != "application/strategic-merge-patch+json" && !apply)
    return Status(StatusCode::kUnsupportedMediaType,
                  "the body of the request was in an unknown format - accepted media types include: "
                  "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, "
                  "application/strategic-merge-patch+json");
  if (c.custom && ct == "application/strategic-merge-patch+json")
    return Status(StatusCode::kUnsupportedMediaType,
                  "the body of the request was in an unknown format - accepted media types include: "
                  "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
  Json patch;
  if (apply) {
    c.operation = "Apply";
    if (req.Query("fieldManager").empty()) {
      api::FieldErrors errs{api::FieldError::Required("fieldManager", "is required for apply requests")};
      return api::InvalidStatus("PatchOptions.meta.k8s.io", "meta.k8s.io", "PatchOptions", "", errs);
    }
    ASSIGN_OR_RETURN(patch, api::YamlToJson(req.body));
  } else {
    ASSIGN_OR_RETURN(patch, ParseJson(req.body));
  }
  std::string key = Key(*c.res, c.ns, c.name);
  if (apply) return ApplyPatch(req, c, std::move(patch));
  for (int attempt = 0;; ++attempt) {
    auto l = Load(c, key);
    if (!l.ok()) return l.status();
    // The patch applies to the object in the version the client asked for.
    const api::ResourceDef& served = Served(c);
    Json base = l->obj;
    if (c.served) RETURN_IF_ERROR(api::conversion::FromStorage(served, base));
    base["apiVersion"] = served.ApiVersion();
    base["kind"] = served.kind;
    Result<Json> patched = Status::Ok();
    if (ct == "application/json-patch+json") patched = api::ApplyJsonPatch(base, patch);
    else if (ct == "application/merge-patch+json") patched = api::ApplyMergePatch(base, patch);
    else patched = api::ApplyStrategicMergePatch(base, patch, served.type);
    if (!patched.ok()) return patched.status();
    Json obj = std::move(patched).value();
    if (!obj.is_object()) return BadRequestError("the patched object is not a JSON object");
    RETURN_IF_ERROR(CheckFields(obj, c, served.type, {}, served.kind, served.version));
    if (c.served) {
      api::conversion::DefaultServed(served, obj);
      RETURN_IF_ERROR(api::conversion::ToStorage(served, obj));
    }
    bool wrote = false;
    auto r = UpdateObject(c, l->obj, l->mod_rev, std::move(obj), &wrote);
    if (!r.ok() && r.status().code() == StatusCode::kConflict && attempt < 5 &&
        GetStringPath(patch, {"metadata", "resourceVersion"}).empty())
      continue;
    if (!r.ok()) return r.status();
    if (std::string body = WrittenJson(c); !body.empty()) return Reply{200, std::move(body)};
    return Reply{200, ObjectJson(c, std::move(r).value())};
  }
}

void RestHandlerImpl::TrackManagedFields(Ctx& c, const Json* old, Json& obj) {
  if (c.operation == "Apply") {
    // Apply computed the entries; the strategy and the system metadata copy do not change them.
    if (c.apply_managed.is_array() && !c.apply_managed.empty()) obj["metadata"]["managedFields"] = c.apply_managed;
    else obj["metadata"].erase("managedFields");
    return;
  }
  const std::string& sub = c.managed_sub.empty() ? c.sub : c.managed_sub;
  std::string now = Now();
  // A create of a built-in kind (whose schema never changes) without client-given entries: its
  // one entry is a function of the object's shape, remembered per (resource, manager, shape).
  // Computing it was ~7% of a scheduled pod's CPU (its Event).
  const Json* meta = Find(obj, "metadata");
  bool memo = !old && sub.empty() && !c.custom && meta && meta->is_object() && !meta->contains("managedFields");
  std::string key;
  if (memo) {
    key = c.res->group + '/' + c.res->plural + '\x1f' + c.field_manager + '\x1f' + ManagedFieldsShape(obj);
    if (std::optional<Json> mf = create_managed_.Find(key, now)) {
      obj["metadata"]["managedFields"] = std::move(*mf);
      return;
    }
  }
  api::apply::UpdateManagedFields(RegOf(c), *c.res, old, obj, c.field_manager, "Update", sub, now);
  if (const Json* mf = FindPath(obj, {"metadata", "managedFields"});
      memo && mf && mf->is_array() && mf->size() == 1 && GetString((*mf)[0], "time") == now)
    create_managed_.Remember(std::move(key), *mf);
}

// Server-side apply (application/apply-patch+yaml): merge the manager's intent into the live
// object by the schema (api/apply), then the usual create/update path (defaulting, validation,
// preconditions) with the managedFields Apply computed.
Result<RestHandlerImpl::Reply> RestHandlerImpl::ApplyPatch(const Request& req, Ctx& c, Json config) {
  if (!config.is_object()) return BadRequestError("apply patch must be a JSON object");
  bool force = req.Query("force") == "true";
  RETURN_IF_ERROR(CheckFields(config, c, Served(c).type, {}, Served(c).kind, Served(c).version));
  // An old version's intent is applied as the stored version (field ownership is tracked there).
  if (c.served) RETURN_IF_ERROR(api::conversion::ToStorage(*c.served, config));
  std::string key = Key(*c.res, c.ns, c.name);
  for (int attempt = 0;; ++attempt) {
    auto l = Load(c, key);
    bool missing = !l.ok() && l.status().code() == StatusCode::kNotFound;
    if (!l.ok() && !(missing && c.sub.empty())) return l.status();
    Json live;
    if (!missing) {
      live = l->obj;
      live["apiVersion"] = c.res->ApiVersion();
      live["kind"] = c.res->kind;
    }
    ASSIGN_OR_RETURN(api::apply::ApplyResult ar,
                     api::apply::Apply(RegOf(c), *c.res, missing ? nullptr : &live, config, c.field_manager, force, Now(),
                                       {c.name, c.sub}));
    c.apply_managed = ar.managed_fields;
    if (missing) {
      Json obj = std::move(ar.object);
      Meta(obj)["name"] = c.name;
      auto created = CreateObject(c, std::move(obj));
      if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists && attempt < 5) continue;
      if (!created.ok()) return created.status();
      return Reply{201, ObjectJson(c, std::move(created).value())};
    }
    bool wrote = false;
    auto r = UpdateObject(c, l->obj, l->mod_rev, std::move(ar.object), &wrote);
    if (!r.ok() && r.status().code() == StatusCode::kConflict && attempt < 5 &&
        GetStringPath(config, {"metadata", "resourceVersion"}).empty())
      continue;
    if (!r.ok()) return r.status();
    return Reply{200, ObjectJson(c, std::move(r).value())};
  }
}

Result<RestHandlerImpl::Reply> RestHandlerImpl::Scale(const Request& req, Ctx& c) {
  std::string key = Key(*c.res, c.ns, c.name);
  auto to_scale = [&](const Json& obj) {
    const Json& m = obj["metadata"];
    Json meta = Json::object();
    for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"})
      if (const Json* v = Find(m, f)) meta[f] = *v;
    int64_t spec_r = 0, status_r = 0;
    if (const Json* r = FindPath(obj, {"spec", "replicas"}); r && r->is_number_integer()) spec_r = r->get<int64_t>();
    if (const Json* r = FindPath(obj, {"status", "replicas"}); r && r->is_number_integer()) status_r = r->get<int64_t>();
    Json status = {{"replicas", status_r}};
    if (const Json* sel = FindPath(obj, {"spec", "selector"}); sel && sel->is_object()) {
      std::string s = SelectorString(*sel);
      if (!s.empty()) status["selector"] = s;
    }
    return Json{{"kind", "Scale"}, {"apiVersion", "autoscaling/v1"}, {"metadata", meta},
                {"spec", {{"replicas", spec_r}}}, {"status", status}};
  };
  // Old group-versions answer with their own Scale kind (apps/v1beta1 Scale, ...).
  api::GroupVersionKind scale_gvk{"autoscaling", "v1", "Scale"};
  if (c.served)
    if (const api::SubresourceDef* sd = c.served->Subresource("scale")) scale_gvk = sd->response_kind;
  auto served_scale = [&](const Json& obj) {
    Json s = to_scale(obj);
    if (c.served) api::conversion::ScaleFromAutoscaling(scale_gvk, s);
    return s;
  };
  const api::TypeDef* scale_type = reg_->KindType(scale_gvk.group, scale_gvk.version, scale_gvk.kind);
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(Loaded l, Load(c, key));
    Json cur = served_scale(l.obj);
    if (req.method == "GET") return Reply{200, DumpJson(cur)};
    Json want;
    if (req.method == "PUT") {
      ASSIGN_OR_RETURN(want, DecodeBody(req, c, scale_type, scale_gvk.ApiVersion(), scale_gvk.kind));
    } else {
      std::string ct = MediaType(req.Header("Content-Type"));
      ASSIGN_OR_RETURN(Json patch, ParseJson(req.body));
      Result<Json> p = Status::Ok();
      if (ct == "application/json-patch+json") p = api::ApplyJsonPatch(cur, patch);
      else if (ct == "application/merge-patch+json") p = api::ApplyMergePatch(cur, patch);
      else if (ct == "application/strategic-merge-patch+json") p = api::ApplyStrategicMergePatch(cur, patch, scale_type);
      else return Status(StatusCode::kUnsupportedMediaType, "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json");
      if (!p.ok()) return p.status();
      want = std::move(p).value();
    }
    std::string want_rv = GetStringPath(want, {"metadata", "resourceVersion"});
    if (!want_rv.empty() && want_rv != std::to_string(l.mod_rev)) return ConflictModified(*c.res, c.name);
    const Json* rep = FindPath(want, {"spec", "replicas"});
    if (rep && !rep->is_number_integer()) return BadRequestError("spec.replicas must be an integer");
    int64_t replicas = rep ? rep->get<int64_t>() : 0;
    if (replicas < 0) {
      api::FieldErrors errs{api::FieldError::Invalid("spec.replicas", replicas, "must be greater than or equal to 0")};
      return api::InvalidStatus("Scale.autoscaling", "autoscaling", "Scale", c.name, errs);
    }
    Json obj = l.obj;
    obj["spec"]["replicas"] = replicas;
    bool wrote = false;
    Ctx upd = c;
    upd.sub = "";
    upd.managed_sub = "scale";  // written through the main resource, owned as upstream records it
    auto r = UpdateObject(upd, l.obj, l.mod_rev, std::move(obj), &wrote);
    if (!r.ok() && r.status().code() == StatusCode::kConflict && want_rv.empty() && attempt < 5) continue;
    if (!r.ok()) return r.status();
    return Reply{200, DumpJson(served_scale(*r))};
  }
}

Result<std::optional<Json>> RestHandlerImpl::DeleteOne(Ctx& c, const Json& opts) {
  std::string key = Key(*c.res, c.ns, c.name);
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(Loaded l, Load(c, key));
    const Json& m = l.obj["metadata"];
    if (const Json* pre = Find(opts, "preconditions"); pre && pre->is_object()) {
      std::string uid = GetString(*pre, "uid"), rv = GetString(*pre, "resourceVersion");
      std::string prefix = "Operation cannot be fulfilled on " + QualifiedResource(*c.res) + " \"" + c.name + "\": ";
      if (!uid.empty() && uid != GetString(m, "uid"))
        return ConflictError(prefix + "Precondition failed: UID in precondition: " + uid + ", UID in object meta: " + GetString(m, "uid"))
            .WithDetails(Details(c.name, c.res->group, c.res->plural));
      if (!rv.empty() && rv != std::to_string(l.mod_rev))
        return ConflictError(prefix + "Precondition failed: ResourceVersion in precondition: " + rv +
                             ", ResourceVersion in object meta: " + std::to_string(l.mod_rev))
            .WithDetails(Details(c.name, c.res->group, c.res->plural));
    }
    // Finalizers after this delete: the object's own plus the garbage collector's for the
    // propagation policy; any finalizer keeps the object (with a deletionTimestamp) until the
    // finalizers' owners remove them.
    Json fins = GcFinalizers(*c.res, l.obj, opts);
    AddCrdCleanupFinalizer(*c.res, l.obj, fins);
    const Json* cur_fins = FindPath(l.obj, {"metadata", "finalizers"});
    bool fins_changed = fins != (cur_fins && cur_fins->is_array() ? *cur_fins : Json::array());
    bool has_fins = !fins.empty();
    bool is_ns = c.res->group.empty() && c.res->plural == "namespaces";
    std::optional<int64_t> grace;
    if (const Json* g = Find(opts, "gracePeriodSeconds"); g && g->is_number_integer()) grace = g->get<int64_t>();
    bool graceful_pod = false;
    int64_t pod_grace = 0;
    const bool bound_pod =
        c.res->group.empty() && c.res->plural == "pods" && !GetStringPath(l.obj, {"spec", "nodeName"}).empty();
    if (bound_pod) {
      pod_grace = 30;
      if (const Json* t = FindPath(l.obj, {"spec", "terminationGracePeriodSeconds"}); t && t->is_number_integer())
        pod_grace = t->get<int64_t>();
      if (grace) pod_grace = *grace;
      std::string phase = GetStringPath(l.obj, {"status", "phase"});
      graceful_pod = pod_grace > 0 && phase != "Succeeded" && phase != "Failed";
    }
    if (is_ns) {
      if (c.name == "default" || c.name == "kube-system" || c.name == "kube-public")
        return ForbiddenError("namespaces \"" + c.name + "\" is forbidden: this namespace may not be deleted")
            .WithDetails(Details(c.name, "", "namespaces"));
    }
    if (is_ns || has_fins || graceful_pod) {
      bool already = FindPath(l.obj, {"metadata", "deletionTimestamp"}) != nullptr;
      // Already deleting, a pod asked for a shorter grace period (upstream's BeforeDelete): its
      // deletion is moved closer (the node agent shortens its termination), or with 0 and no
      // finalizers it is deleted now (`kubectl delete --force --grace-period=0`).
      std::optional<int64_t> shorter;
      if (already && bound_pod && grace) {
        const Json* cur = FindPath(l.obj, {"metadata", "deletionGracePeriodSeconds"});
        if (*grace < (cur && cur->is_number_integer() ? cur->get<int64_t>() : 0)) shorter = std::max<int64_t>(*grace, 0);
      }
      if (already && !fins_changed && !shorter) {
        if (is_ns && ns_deleter_ && !c.dry_run) ns_deleter_->Enqueue(c.name);
        return std::optional<Json>(l.obj);
      }
      if (shorter && *shorter == 0 && !has_fins) {
        RETURN_IF_ERROR(DeleteStored(*c.res, key, l.obj, l.mod_rev, c.dry_run));
        return std::optional<Json>();
      }
      Json obj = l.obj;
      Json& om = obj["metadata"];
      if (!already || shorter) {
        int64_t g = shorter ? *shorter : graceful_pod ? pod_grace : 0;
        om["deletionTimestamp"] = FormatRFC3339(clock_->Now() + std::chrono::seconds(g));
        om["deletionGracePeriodSeconds"] = g;
      }
      if (fins.empty()) om.erase("finalizers");
      else om["finalizers"] = fins;
      if (is_ns) {
        obj["status"]["phase"] = "Terminating";
        Json& fin = obj["spec"]["finalizers"];
        if (!fin.is_array()) fin = Json::array();
        if (std::find(fin.begin(), fin.end(), Json("kubernetes")) == fin.end()) fin.push_back("kubernetes");
      }
      if (c.dry_run) return std::optional<Json>(obj);
      Json stored = obj;
      om.erase("resourceVersion");
      stored["metadata"].erase("resourceVersion");
      auto rev = store_.Update(key, std::make_shared<const std::string>(DumpJson(stored)), l.mod_rev);
      if (!rev.ok()) {
        if (rev.status().code() == StatusCode::kConflict && attempt < 5) continue;
        return rev.status();
      }
      NoteWrite(*c.res, *rev);
      obj["metadata"]["resourceVersion"] = std::to_string(*rev);
      if (is_ns && ns_deleter_) ns_deleter_->Enqueue(c.name);
      return std::optional<Json>(obj);
    }
    Status st = DeleteStored(*c.res, key, l.obj, l.mod_rev, c.dry_run);
    if (st.code() == StatusCode::kConflict && attempt < 5) continue;
    if (st.code() == StatusCode::kNotFound) return NotFound(*c.res, c.name);
    RETURN_IF_ERROR(st);
    return std::optional<Json>();
  }
}

namespace {
Result<Json> DeleteOptionsOf(const Request& req) {
  Json opts = Json::object();
  if (!req.body.empty()) {
    ASSIGN_OR_RETURN(opts, ParseJson(req.body));
    if (!opts.is_object()) return BadRequestError("DeleteOptions must be a JSON object");
  }
  if (req.HasQuery("gracePeriodSeconds")) {
    ASSIGN_OR_RETURN(int64_t g, ParseInt(req.Query("gracePeriodSeconds"), "gracePeriodSeconds"));
    opts["gracePeriodSeconds"] = g;
  }
  if (req.HasQuery("propagationPolicy")) opts["propagationPolicy"] = req.Query("propagationPolicy");
  std::string p = GetString(opts, "propagationPolicy");
  if (!p.empty() && p != "Orphan" && p != "Background" && p != "Foreground")
    return BadRequestError("propagationPolicy: Unsupported value: \"" + p + "\": supported values: \"Foreground\", \"Background\", \"Orphan\"");
  if (const Json* dr = Find(opts, "dryRun"); dr && dr->is_array())
    for (const auto& d : *dr)
      if (d == "All") opts["_dryRun"] = true;
  return opts;
}
}  // namespace

Result<RestHandlerImpl::Reply> RestHandlerImpl::Delete(const Request& req, Ctx& c) {
  ASSIGN_OR_RETURN(Json opts, DeleteOptionsOf(req));
  if (opts.contains("_dryRun")) c.dry_run = true;
  ASSIGN_OR_RETURN(Loaded before, Load(c, Key(*c.res, c.ns, c.name)));
  ASSIGN_OR_RETURN(std::optional<Json> kept, DeleteOne(c, opts));
  if (kept) return Reply{200, ObjectJson(c, std::move(*kept))};
  return Reply{200, SuccessStatusJson(c.name, c.res->group, c.res->plural, GetStringPath(before.obj, {"metadata", "uid"}))};
}

Result<RestHandlerImpl::Reply> RestHandlerImpl::DeleteCollection(const Request& req, Ctx& c) {
  ASSIGN_OR_RETURN(Json opts, DeleteOptionsOf(req));
  if (opts.contains("_dryRun")) c.dry_run = true;
  Request list_req = req;
  list_req.headers.clear();
  for (auto it = list_req.query.begin(); it != list_req.query.end();)
    it = (it->first == "limit" || it->first == "continue") ? list_req.query.erase(it) : it + 1;
  ASSIGN_OR_RETURN(Reply listed, List(list_req, c));
  ASSIGN_OR_RETURN(Json list, ParseJson(listed.body));
  Json items = Json::array();
  for (const auto& item : list["items"]) {
    Ctx one = c;
    one.name = GetStringPath(item, {"metadata", "name"});
    one.ns = GetStringPath(item, {"metadata", "namespace"});
    auto r = DeleteOne(one, opts);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kNotFound) continue;
      return r.status();
    }
    items.push_back(*r ? **r : item);
  }
  list["items"] = items;
  return Reply{200, DumpJson(list)};
}

Result<RestHandlerImpl::Reply> RestHandlerImpl::PodAction(const Request& req, Ctx& c) {
  std::string key = Key(*c.res, c.ns, c.name);
  if (c.sub == "eviction") {
    ASSIGN_OR_RETURN(Json ev, DecodeBody(req, c, reg_->KindType("policy", "v1", "Eviction"), "policy/v1", "Eviction"));
    Json opts = ev.contains("deleteOptions") && ev["deleteOptions"].is_object() ? ev["deleteOptions"] : Json::object();
    Ctx del = c;
    del.sub.clear();
    ASSIGN_OR_RETURN(std::optional<Json> kept, DeleteOne(del, opts));
    (void)kept;
    Json st = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Success"}, {"code", 201}};
    return Reply{201, DumpJson(st)};
  }
  // binding: set spec.nodeName once, as the scheduler's bind does.
  ASSIGN_OR_RETURN(Json b, DecodeBody(req, c, reg_->KindType("", "v1", "Binding"), "v1", "Binding"));
  std::string node = GetStringPath(b, {"target", "name"});
  if (node.empty()) {
    api::FieldErrors errs{api::FieldError::Required("target.name", "")};
    return api::InvalidStatus("Binding", "", "Binding", c.name, errs);
  }
  for (int attempt = 0;; ++attempt) {
    auto kv = store_.Get(key);
    if (!kv.ok()) return kv.status().code() == StatusCode::kNotFound ? NotFound(*c.res, c.name) : kv.status();
    // The stored bytes of a pending pod are edited in place (no parse, no re-encode), also when
    // the binding names the pod's uid or resourceVersion (preconditions, as upstream's assignPod
    // allows; the scheduler always sends the uid) and they match. Any other shape is parsed,
    // which also finds the conflicts; so are bindings that carry annotations for the pod, and
    // pods with scheduling gates (which cannot be bound).
    const std::string want_uid = GetStringPath(b, {"metadata", "uid"});
    const std::string want_rv = GetStringPath(b, {"metadata", "resourceVersion"});
    const Json* annotations = FindPath(b, {"metadata", "annotations"});
    bool plain = !(annotations && annotations->is_object() && !annotations->empty()) &&
                 kv->value->find("\"schedulingGates\"") == std::string::npos;
    std::string now = Now();
    std::optional<std::string> bytes;
    std::string stored_uid;
    if (plain) bytes = SpliceBinding(*kv->value, node, now, &stored_uid);
    if (bytes && ((!want_uid.empty() && want_uid != stored_uid) ||
                  (!want_rv.empty() && want_rv != std::to_string(kv->mod_revision))))
      bytes.reset();  // a precondition fails (or the uid is escaped): the parse path answers
    if (!bytes) {
      ASSIGN_OR_RETURN(Json obj, ParseJson(*kv->value));
      auto conflict = [&](const std::string& why) {
        return ConflictError("Operation cannot be fulfilled on pods/binding \"" + c.name + "\": " + why)
            .WithDetails(Details(c.name, "", "pods/binding"));
      };
      if (std::string uid = GetStringPath(obj, {"metadata", "uid"}); !want_uid.empty() && uid != want_uid)
        return conflict("expected pod UID " + want_uid + " but got " + uid);
      if (std::string rv = std::to_string(kv->mod_revision); !want_rv.empty() && rv != want_rv)
        return conflict("expected pod resourceVersion " + want_rv + " but got " + rv);
      if (const Json* gates = FindPath(obj, {"spec", "schedulingGates"}); gates && gates->is_array() && !gates->empty())
        return InternalError("Internal error occurred: pod " + c.name + " has non-empty .spec.schedulingGates");
      if (std::string cur = GetStringPath(obj, {"spec", "nodeName"}); !cur.empty())
        return conflict("pod " + c.name + " is already assigned to node \"" + cur + "\"");
      if (FindPath(obj, {"metadata", "deletionTimestamp"}))
        return conflict("pod " + c.name + " is being deleted, cannot be assigned to a host");
      BindPodJson(obj, node, now);
      if (annotations && annotations->is_object())
        for (auto it = annotations->begin(); it != annotations->end(); ++it) Meta(obj)["annotations"][it.key()] = it.value();
      Meta(obj).erase("resourceVersion");
      bytes = DumpJson(obj);
    }
    if (c.dry_run) break;
    auto rev = store_.Update(key, std::make_shared<const std::string>(std::move(*bytes)), kv->mod_revision);
    if (!rev.ok() && rev.status().code() == StatusCode::kConflict && attempt < 5) continue;
    if (!rev.ok()) return rev.status();
    NoteWrite(*c.res, *rev);
    break;
  }
  static const std::string kSuccess =
      DumpJson({{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Success"}, {"code", 201}});
  return Reply{201, kSuccess};
}

// ---------------------------------------------------------------------------------------------
// Bootstrap objects and namespace deletion

Status RestHandlerImpl::EnsureObject(const std::string& group, const std::string& version, const std::string& plural,
                                     Json obj) {
  const api::ResourceDef* res = reg_->ByResource(group, version, plural);
  if (!res) return Status::Ok();  // the registry does not serve this kind
  Ctx c;
  c.res = res;
  c.strat = &api::StrategyFor(res->group, res->kind);
  c.ns = GetStringPath(obj, {"metadata", "namespace"});
  c.name = GetStringPath(obj, {"metadata", "name"});
  c.field_manager = "tug-apiserver";
  obj["apiVersion"] = res->ApiVersion();
  obj["kind"] = res->kind;
  auto existing = store_.Get(Key(*res, c.ns, c.name));
  if (existing.ok()) return Status::Ok();
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  auto r = CreateObject(c, std::move(obj));
  if (!r.ok() && r.status().code() != StatusCode::kAlreadyExists) {
    TUG_LOG(ERROR, "rest") << "bootstrap object failed" << kv("resource", plural) << kv("name", c.name)
                           << kv("err", r.status().ToString());
    return r.status();
  }
  return Status::Ok();
}

Status RestHandlerImpl::Bootstrap() {
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"})
    RETURN_IF_ERROR(EnsureObject("", "v1", "namespaces", {{"metadata", {{"name", ns}}}}));
  std::string host = opts_.server_address;
  int port = 6443;
  if (auto colon = host.rfind(':'); colon != std::string::npos) {
    port = std::atoi(host.c_str() + colon + 1);
    host = host.substr(0, colon);
  }
  Json svc = {{"metadata", {{"name", "kubernetes"}, {"namespace", "default"},
                            {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
              {"spec", {{"type", "ClusterIP"}, {"clusterIP", alloc_->FirstIP()}, {"sessionAffinity", "None"},
                        {"ports", Json::array({{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", port}}})}}}};
  RETURN_IF_ERROR(EnsureObject("", "v1", "services", svc));
  if (host.empty() || !ParseIPv4(host).ok()) return Status::Ok();  // no address to publish
  Json ep = {{"metadata", {{"name", "kubernetes"}, {"namespace", "default"},
                           {"labels", {{"endpointslice.kubernetes.io/skip-mirror", "true"}}}}},
             {"subsets", Json::array({{{"addresses", Json::array({{{"ip", host}}})},
                                       {"ports", Json::array({{{"name", "https"}, {"port", port}, {"protocol", "TCP"}}})}}})}};
  RETURN_IF_ERROR(EnsureObject("", "v1", "endpoints", ep));
  Json slice = {{"metadata", {{"name", "kubernetes"}, {"namespace", "default"},
                              {"labels", {{"kubernetes.io/service-name", "kubernetes"}}}}},
                {"addressType", "IPv4"},
                {"endpoints", Json::array({{{"addresses", Json::array({host})}, {"conditions", {{"ready", true}}}}})},
                {"ports", Json::array({{{"name", "https"}, {"port", port}, {"protocol", "TCP"}}})}};
  return EnsureObject("discovery.k8s.io", "v1", "endpointslices", slice);
}

Result<bool> RestHandlerImpl::SweepNamespace(const std::string& ns) {
  const api::ResourceDef* nsr = reg_->ByResource("", "v1", "namespaces");
  if (!nsr) return true;
  std::string ns_key = Key(*nsr, "", ns);
  auto kv = store_.Get(ns_key);
  if (!kv.ok()) return kv.status().code() == StatusCode::kNotFound ? Result<bool>(true) : Result<bool>(kv.status());
  ASSIGN_OR_RETURN(Json nsobj, ParseJson(*kv->value));
  if (!FindPath(nsobj, {"metadata", "deletionTimestamp"})) return true;
  int64_t remaining = 0;
  std::set<std::string> seen;
  std::shared_ptr<const ApiSnapshot> snap = Api();  // custom resources too
  for (const auto& r : snap->reg->Resources()) {
    if (!r->namespaced || r->virtual_resource) continue;
    std::string prefix = Prefix(*r) + ns + "/";
    if (!seen.insert(prefix).second) continue;
    ASSIGN_OR_RETURN(store::ListResult items, store_.List(prefix, {}));
    for (const auto& item : items.items) {
      auto obj = ParseJson(*item.value);
      if (!obj.ok()) continue;
      ++remaining;
      if (HasFinalizers(*obj)) {
        if (FindPath(*obj, {"metadata", "deletionTimestamp"})) continue;
        (*obj)["metadata"]["deletionTimestamp"] = Now();
        (*obj)["metadata"]["deletionGracePeriodSeconds"] = 0;
        auto up = store_.Update(item.key, std::make_shared<const std::string>(DumpJson(*obj)), item.mod_revision);
        if (up.ok()) NoteWrite(*r, *up);
        continue;
      }
      Status st = DeleteStored(*r, item.key, *obj, item.mod_revision, false);
      if (st.ok() || st.code() == StatusCode::kNotFound) --remaining;
    }
  }
  if (remaining > 0) return false;
  // Content is gone: drop the "kubernetes" finalizer, then the namespace itself.
  Json& fin = nsobj["spec"]["finalizers"];
  if (fin.is_array()) {
    Json keep = Json::array();
    for (const auto& f : fin)
      if (f != "kubernetes") keep.push_back(f);
    fin = keep;
  }
  if (!fin.is_array() || fin.empty()) nsobj["spec"].erase("finalizers");
  bool spec_fin = nsobj["spec"].contains("finalizers");
  if (!spec_fin && !HasFinalizers(nsobj)) {
    Status st = DeleteStored(*nsr, ns_key, nsobj, kv->mod_revision, false);
    if (st.code() == StatusCode::kConflict) return false;
    if (!st.ok() && st.code() != StatusCode::kNotFound) return st;
    return true;
  }
  auto up = store_.Update(ns_key, std::make_shared<const std::string>(DumpJson(nsobj)), kv->mod_revision);
  if (up.ok()) NoteWrite(*nsr, *up);
  if (!up.ok() && up.status().code() != StatusCode::kConflict) return up.status();
  return false;
}

Result<std::unique_ptr<RestHandler>> NewRestHandler(store::Store& store, std::shared_ptr<const api::Registry> registry,
                                                    Options opts) {
  auto h = std::make_unique<RestHandlerImpl>(store, std::move(registry), std::move(opts));
  RETURN_IF_ERROR(h->Start());
  return std::unique_ptr<RestHandler>(std::move(h));
}

}  // namespace tug::apiserver::rest
