// Client: REST paths, JSON encoding, error mapping and watch-stream decoding over a Transport.
#include "client/client.h"

#include <atomic>
#include <mutex>

#include "client/watch_decoder.h"

namespace tug::client {

std::string Resource::ApiVersion() const { return group.empty() ? version : group + "/" + version; }

std::string Resource::Path(std::string_view ns, std::string_view name, std::string_view subresource) const {
  std::string p;
  p.reserve(64);
  if (group.empty()) {
    p += "/api/";
  } else {
    p += "/apis/";
    p += group;
    p += '/';
  }
  p += version;
  if (namespaced && !ns.empty()) {
    p += "/namespaces/";
    p += ns;
  }
  p += '/';
  p += plural;
  if (!name.empty()) {
    p += '/';
    p += name;
    if (!subresource.empty()) {
      p += '/';
      p += subresource;
    }
  }
  return p;
}

std::string QueryEscape(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

namespace {

constexpr std::string_view kJsonType = "application/json";

void AddParam(std::string& q, std::string_view key, std::string_view value) {
  if (!q.empty()) q += '&';
  q += key;
  q += '=';
  q += QueryEscape(value);
}

std::string ListQuery(const ListOptions& o, bool watch) {
  std::string q;
  if (watch) AddParam(q, "watch", "true");
  if (!o.label_selector.empty()) AddParam(q, "labelSelector", o.label_selector);
  if (!o.field_selector.empty()) AddParam(q, "fieldSelector", o.field_selector);
  if (!o.resource_version.empty()) AddParam(q, "resourceVersion", o.resource_version);
  if (!o.resource_version_match.empty()) AddParam(q, "resourceVersionMatch", o.resource_version_match);
  if (o.limit > 0) AddParam(q, "limit", std::to_string(o.limit));
  if (!o.continue_token.empty()) AddParam(q, "continue", o.continue_token);
  if (o.allow_watch_bookmarks) AddParam(q, "allowWatchBookmarks", "true");
  if (o.timeout_seconds > 0) AddParam(q, "timeoutSeconds", std::to_string(o.timeout_seconds));
  return q;
}

StatusCode CodeFromReason(std::string_view reason) {
  static const std::pair<std::string_view, StatusCode> kReasons[] = {
      {"NotFound", StatusCode::kNotFound},
      {"AlreadyExists", StatusCode::kAlreadyExists},
      {"Conflict", StatusCode::kConflict},
      {"Invalid", StatusCode::kInvalid},
      {"BadRequest", StatusCode::kBadRequest},
      {"Unauthorized", StatusCode::kUnauthorized},
      {"Forbidden", StatusCode::kForbidden},
      {"MethodNotAllowed", StatusCode::kMethodNotAllowed},
      {"NotAcceptable", StatusCode::kNotAcceptable},
      {"Expired", StatusCode::kGone},
      {"Gone", StatusCode::kGone},
      {"RequestEntityTooLarge", StatusCode::kRequestEntityTooLarge},
      {"UnsupportedMediaType", StatusCode::kUnsupportedMediaType},
      {"TooManyRequests", StatusCode::kTooManyRequests},
      {"InternalError", StatusCode::kInternal},
      {"ServiceUnavailable", StatusCode::kUnavailable},
      {"Timeout", StatusCode::kTimeout},
      {"ServerTimeout", StatusCode::kTimeout},
  };
  for (const auto& [r, c] : kReasons)
    if (r == reason) return c;
  return StatusCode::kOk;
}

StatusCode CodeFromHttp(int code) {
  switch (code) {
    case 400: return StatusCode::kBadRequest;
    case 401: return StatusCode::kUnauthorized;
    case 403: return StatusCode::kForbidden;
    case 404: return StatusCode::kNotFound;
    case 405: return StatusCode::kMethodNotAllowed;
    case 406: return StatusCode::kNotAcceptable;
    case 409: return StatusCode::kConflict;
    case 410: return StatusCode::kGone;
    case 413: return StatusCode::kRequestEntityTooLarge;
    case 415: return StatusCode::kUnsupportedMediaType;
    case 422: return StatusCode::kInvalid;
    case 429: return StatusCode::kTooManyRequests;
    case 503: return StatusCode::kUnavailable;
    case 504: return StatusCode::kTimeout;
    default: return code >= 500 ? StatusCode::kInternal : StatusCode::kBadRequest;
  }
}

}  // namespace

Status StatusFromJson(const Json& j, int http_code) {
  StatusCode code = StatusCode::kOk;
  std::string reason = GetString(j, "reason");
  if (!reason.empty()) code = CodeFromReason(reason);
  if (code == StatusCode::kOk) {
    int c = http_code;
    if (const Json* jc = Find(j, "code"); jc && jc->is_number_integer()) c = jc->get<int>();
    code = CodeFromHttp(c);
  }
  Status st(code, GetString(j, "message"));
  if (const Json* d = Find(j, "details"); d && d->is_object()) {
    StatusDetails det;
    det.name = GetString(*d, "name");
    det.group = GetString(*d, "group");
    det.kind = GetString(*d, "kind");
    det.uid = GetString(*d, "uid");
    if (const Json* ra = Find(*d, "retryAfterSeconds"); ra && ra->is_number_integer())
      det.retry_after_seconds = ra->get<int>();
    if (const Json* causes = Find(*d, "causes"); causes && causes->is_array())
      for (const Json& c : *causes)
        if (c.is_object())
          det.causes.push_back({GetString(c, "reason"), GetString(c, "message"), GetString(c, "field")});
    st = st.WithDetails(std::move(det));
  }
  return st;
}

Status StatusFromResponse(const HttpResponse& resp) {
  if (resp.code >= 200 && resp.code < 300) return Status::Ok();
  auto j = ParseJson(resp.body);
  if (j.ok() && j->is_object() && GetString(*j, "kind") == "Status") return StatusFromJson(*j, resp.code);
  std::string msg = resp.body.empty() ? "the server responded with HTTP " + std::to_string(resp.code) : resp.body;
  if (msg.size() > 512) msg.resize(512);
  return Status(CodeFromHttp(resp.code), std::move(msg));
}

// ---------------------------------------------------------------------------------------------

Client::Client(std::shared_ptr<Transport> transport) : transport_(std::move(transport)) {}

Result<Json> Client::DoJson(const HttpRequest& req) const {
  ASSIGN_OR_RETURN(HttpResponse resp, transport_->Do(req));
  if (resp.code < 200 || resp.code >= 300) return StatusFromResponse(resp);
  if (resp.body.empty()) return Json::object();
  return ParseJson(resp.body);
}

Status Client::DoNoBody(const HttpRequest& req) const {
  ASSIGN_OR_RETURN(HttpResponse resp, transport_->Do(req));
  if (resp.code < 200 || resp.code >= 300) return StatusFromResponse(resp);
  return Status::Ok();
}

void Client::DoNoBodyAsync(const HttpRequest& req, std::function<void(Status)> done) const {
  transport_->DoAsync(req, [done = std::move(done)](Result<HttpResponse> r) {
    if (!r.ok()) return done(r.status());
    done(r->code < 200 || r->code >= 300 ? StatusFromResponse(*r) : Status::Ok());
  });
}

Result<Json> Client::Get(const Resource& r, std::string_view ns, std::string_view name) const {
  if (name.empty()) return BadRequestError("resource name may not be empty");
  HttpRequest req;
  req.path = r.Path(ns, name);
  return DoJson(req);
}

Result<Json> Client::List(const Resource& r, std::string_view ns, const ListOptions& opts) const {
  HttpRequest req;
  req.path = r.Path(ns);
  req.query = ListQuery(opts, false);
  return DoJson(req);
}

Result<Json> Client::ListAll(const Resource& r, std::string_view ns, const ListOptions& opts) const {
  ListOptions o = opts;
  ASSIGN_OR_RETURN(Json out, List(r, ns, o));
  while (true) {
    std::string cont = GetStringPath(out, {"metadata", "continue"});
    if (cont.empty()) break;
    o.continue_token = cont;
    // A continued list must not repeat the resourceVersion parameters.
    o.resource_version.clear();
    o.resource_version_match.clear();
    ASSIGN_OR_RETURN(Json page, List(r, ns, o));
    Json& items = out["items"];
    if (!items.is_array()) items = Json::array();
    if (Json* pi = page.contains("items") ? &page["items"] : nullptr; pi && pi->is_array())
      for (Json& it : *pi) items.push_back(std::move(it));
    out["metadata"] = page.contains("metadata") ? page["metadata"] : Json::object();
  }
  if (out.contains("metadata") && out["metadata"].is_object()) out["metadata"].erase("continue");
  return out;
}

namespace {

std::string NamespaceOf(const Resource& r, std::string_view ns, const Json& obj) {
  if (!r.namespaced) return "";
  if (!ns.empty()) return std::string(ns);
  return GetStringPath(obj, {"metadata", "namespace"});
}

}  // namespace

Result<Json> Client::Create(const Resource& r, std::string_view ns, const Json& obj) const {
  HttpRequest req;
  req.method = "POST";
  req.path = r.Path(NamespaceOf(r, ns, obj));
  req.content_type = kJsonType;
  req.body = DumpJson(obj);
  return DoJson(req);
}

Result<Json> Client::Update(const Resource& r, std::string_view ns, const Json& obj) const {
  std::string name = GetStringPath(obj, {"metadata", "name"});
  if (name.empty()) return BadRequestError("resource name may not be empty");
  HttpRequest req;
  req.method = "PUT";
  req.path = r.Path(NamespaceOf(r, ns, obj), name);
  req.content_type = kJsonType;
  req.body = DumpJson(obj);
  return DoJson(req);
}

Result<Json> Client::UpdateStatus(const Resource& r, std::string_view ns, const Json& obj) const {
  std::string name = GetStringPath(obj, {"metadata", "name"});
  if (name.empty()) return BadRequestError("resource name may not be empty");
  HttpRequest req;
  req.method = "PUT";
  req.path = r.Path(NamespaceOf(r, ns, obj), name, "status");
  req.content_type = kJsonType;
  req.body = DumpJson(obj);
  return DoJson(req);
}

Result<Json> Client::Patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                           std::string_view body, std::string_view subresource,
                           std::string_view field_manager) const {
  if (name.empty()) return BadRequestError("resource name may not be empty");
  HttpRequest req;
  req.method = "PATCH";
  req.path = r.Path(ns, name, subresource);
  switch (type) {
    case PatchType::kJson: req.content_type = "application/json-patch+json"; break;
    case PatchType::kMerge: req.content_type = "application/merge-patch+json"; break;
    case PatchType::kStrategic: req.content_type = "application/strategic-merge-patch+json"; break;
    case PatchType::kApply: req.content_type = "application/apply-patch+yaml"; break;
  }
  std::string fm(field_manager);
  if (fm.empty() && type == PatchType::kApply) fm = "tug";
  if (!fm.empty()) AddParam(req.query, "fieldManager", fm);
  if (type == PatchType::kApply) AddParam(req.query, "force", "true");
  req.body = std::string(body);
  return DoJson(req);
}

Result<Json> Client::Delete(const Resource& r, std::string_view ns, std::string_view name,
                            const DeleteOptions& opts) const {
  if (name.empty()) return BadRequestError("resource name may not be empty");
  HttpRequest req;
  req.method = "DELETE";
  req.path = r.Path(ns, name);
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  bool any = false;
  if (!opts.propagation_policy.empty()) {
    body["propagationPolicy"] = opts.propagation_policy;
    any = true;
  }
  if (opts.grace_period_seconds >= 0) {
    body["gracePeriodSeconds"] = opts.grace_period_seconds;
    any = true;
  }
  if (!opts.precondition_uid.empty()) {
    body["preconditions"]["uid"] = opts.precondition_uid;
    any = true;
  }
  if (!opts.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = opts.precondition_resource_version;
    any = true;
  }
  if (opts.dry_run) {
    body["dryRun"] = Json::array({"All"});
    any = true;
  }
  if (any) {
    req.content_type = kJsonType;
    req.body = DumpJson(body);
  }
  return DoJson(req);
}

Result<Json> Client::CreateSubresource(const Resource& r, std::string_view ns, std::string_view name,
                                       std::string_view subresource, const Json& body) const {
  if (name.empty()) return BadRequestError("resource name may not be empty");
  HttpRequest req;
  req.method = "POST";
  req.path = r.Path(ns, name, subresource);
  req.content_type = kJsonType;
  req.body = DumpJson(body);
  return DoJson(req);
}

// ---------------------------------------------------------------------------------------------
// Watch

namespace {

class WatchImpl : public Watch {
 public:
  explicit WatchImpl(std::unique_ptr<Stream> stream) : stream_(std::move(stream)) {}
  ~WatchImpl() override { Stop(); }
  void Stop() override {
    std::unique_ptr<Stream> s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      s = std::move(stream_);
    }
    if (s) s->Cancel();
    // Destroying the stream waits until the transport no longer calls back.
    s.reset();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<Stream> stream_;
};

}  // namespace

Result<std::unique_ptr<Watch>> Client::StartWatch(const Resource& r, std::string_view ns, const ListOptions& opts,
                                                  std::function<void(WatchEvent)> on_event,
                                                  std::function<void(Status)> on_end) const {
  HttpRequest req;
  req.path = r.Path(ns);
  req.query = ListQuery(opts, true);
  // Only touched on the transport's stream thread (callbacks of one stream are serialized).
  auto dec = std::make_shared<WatchDecoder>(std::move(on_event));
  auto on_head = [dec](int code, std::string_view ct) { dec->Head(code); };
  auto on_data = [dec](std::string_view data) { dec->Data(data); };
  auto end = [dec, on_end = std::move(on_end)](Status st) { on_end(dec->End(std::move(st))); };
  ASSIGN_OR_RETURN(std::unique_ptr<Stream> s, transport_->Open(req, on_head, on_data, end));
  return std::unique_ptr<Watch>(std::make_unique<WatchImpl>(std::move(s)));
}

// ---------------------------------------------------------------------------------------------

void WatchDecoder::Head(int code) {
  code_ = code;
  ok_ = code >= 200 && code < 300;
}

void WatchDecoder::Data(std::string_view data) {
  if (!ok_) {
    if (error_body_.size() < (1u << 20)) error_body_.append(data);
    return;
  }
  // Most chunks hold whole lines: decode in place and keep only the unfinished tail.
  size_t start = 0;
  if (!buf_.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      buf_.append(data);
      return;
    }
    buf_.append(data.substr(0, nl));
    Line(buf_);
    buf_.clear();
    start = nl + 1;
  }
  while (start < data.size()) {
    size_t nl = data.find('\n', start);
    if (nl == std::string_view::npos) {
      buf_.assign(data.substr(start));
      return;
    }
    Line(data.substr(start, nl - start));
    start = nl + 1;
  }
}

void WatchDecoder::Line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return;
  auto j = ParseJson(line);
  if (!j.ok() || !j->is_object()) {
    if (error_.ok()) error_ = InternalError("undecodable watch event: " + std::string(line.substr(0, 200)));
    return;
  }
  WatchEvent ev;
  std::string type = GetString(*j, "type");
  if (type == "ADDED") ev.type = WatchEvent::kAdded;
  else if (type == "MODIFIED") ev.type = WatchEvent::kModified;
  else if (type == "DELETED") ev.type = WatchEvent::kDeleted;
  else if (type == "BOOKMARK") ev.type = WatchEvent::kBookmark;
  else if (type == "ERROR") ev.type = WatchEvent::kError;
  else return;  // unknown event types are skipped, as client-go does
  auto it = j->find("object");
  if (it != j->end()) ev.object = std::move(*it);
  if (ev.type == WatchEvent::kError && error_.ok()) error_ = StatusFromJson(ev.object, 500);
  on_event_(std::move(ev));
}

Status WatchDecoder::End(Status st) {
  if (!ok_ && code_ != 0) return StatusFromResponse(HttpResponse{code_, "", std::move(error_body_)});
  if (!error_.ok()) return error_;
  return st;
}

}  // namespace tug::client
