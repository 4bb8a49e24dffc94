#include "apiserver/server/root_handler.h"

#include "base/json.h"

namespace tug::apiserver::server {
namespace {
constexpr const char* kTextPlain = "text/plain; charset=utf-8";
}  // namespace

std::string VersionJson(const VersionInfo& v) {
  Json j = Json::object();
  j["major"] = v.major;
  j["minor"] = v.minor;
  j["gitVersion"] = v.git_version;
  j["gitCommit"] = v.git_commit;
  j["gitTreeState"] = v.git_tree_state;
  j["buildDate"] = v.build_date;
  j["goVersion"] = v.go_version;
  j["compiler"] = v.compiler;
  j["platform"] = v.platform;
  return j.dump(2);
}

RootHandler::RootHandler(VersionInfo version) : version_(std::move(version)) {}

void RootHandler::SetApiHandler(Handler* h) { api_.store(h); }
void RootHandler::SetReady(bool ready) { ready_.store(ready); }
void RootHandler::SetShuttingDown() { shutting_down_.store(true); }

void RootHandler::AddHealthCheck(std::string name, Check check) {
  std::lock_guard<std::mutex> l(mu_);
  checks_.push_back(Named{std::move(name), std::move(check), false});
}

void RootHandler::AddReadyCheck(std::string name, Check check) {
  std::lock_guard<std::mutex> l(mu_);
  checks_.push_back(Named{std::move(name), std::move(check), true});
}

void RootHandler::ServeHealth(const Request& req, ResponseWriter& w, const std::string& endpoint,
                              const std::string& sub) {
  const bool readyz = endpoint == "readyz";
  std::vector<Named> checks;
  checks.push_back(Named{"ping", [] { return Status::Ok(); }, false});
  checks.push_back(Named{"log", [] { return Status::Ok(); }, false});
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& c : checks_)
      if (readyz || !c.ready_only) checks.push_back(c);
  }
  if (readyz) {
    checks.push_back(Named{"api-handler",
                           [this] {
                             return ready_.load() ? Status::Ok() : UnavailableError("API handler not ready");
                           },
                           true});
    checks.push_back(Named{"shutdown",
                           [this] {
                             return shutting_down_.load() ? UnavailableError("shutting down") : Status::Ok();
                           },
                           true});
  }
  // A single check: /readyz/<name>.
  if (!sub.empty()) {
    for (const auto& c : checks) {
      if (c.name != sub) continue;
      Status st = c.check();
      if (st.ok()) return w.Send(200, kTextPlain, "ok", {{"X-Content-Type-Options", "nosniff"}});
      return w.Send(500, kTextPlain, "internal server error: " + st.message() + "\n",
                    {{"X-Content-Type-Options", "nosniff"}});
    }
    return w.Send(404, kTextPlain, "404 page not found\n");
  }
  std::vector<std::string> excluded = req.QueryAll("exclude");
  std::string out;
  bool failed = false;
  for (const auto& c : checks) {
    bool skip = false;
    for (const auto& e : excluded) skip |= e == c.name;
    if (skip) {
      out += "[+]" + c.name + " excluded: ok\n";
      continue;
    }
    Status st = c.check();
    if (st.ok()) {
      out += "[+]" + c.name + " ok\n";
    } else {
      failed = true;
      out += "[-]" + c.name + " failed: reason withheld\n";
    }
  }
  if (failed) {
    out += endpoint + " check failed\n";
    return w.Send(500, kTextPlain, out, {{"X-Content-Type-Options", "nosniff"}});
  }
  if (!req.HasQuery("verbose")) return w.Send(200, kTextPlain, "ok", {{"X-Content-Type-Options", "nosniff"}});
  out += endpoint + " check passed\n";
  w.Send(200, kTextPlain, out, {{"X-Content-Type-Options", "nosniff"}});
}

bool RootHandler::HandlesInline(const Request& req) const {
  const std::string& p = req.path;
  if (p.rfind("/api/", 0) != 0 && p.rfind("/apis/", 0) != 0) return false;
  Handler* api = api_.load();
  return api && api->HandlesInline(req);
}

void RootHandler::Handle(Request req, ResponseWriterPtr w) {
  const std::string& p = req.path;
  for (const char* ep : {"healthz", "livez", "readyz"}) {
    std::string base = std::string("/") + ep;
    if (p == base || p == base + "/") return ServeHealth(req, *w, ep, "");
    if (p.size() > base.size() + 1 && p.compare(0, base.size() + 1, base + "/") == 0)
      return ServeHealth(req, *w, ep, p.substr(base.size() + 1));
  }
  if (p == "/version" || p == "/version/") {
    if (req.method != "GET" && req.method != "HEAD")
      return SendStatus(*w, Status(StatusCode::kMethodNotAllowed,
                                   "the server does not allow this method on the requested resource"));
    return w->Send(200, "application/json", VersionJson(version_));
  }
  if (Handler* api = api_.load()) return api->Handle(std::move(req), std::move(w));
  SendStatus(*w, NotFoundError("the server could not find the requested resource"));
}

}  // namespace tug::apiserver::server
