// The generic REST layer of the API server: one Handler that serves every /api, /apis and
// /openapi path, generic over the resource Registry (DESIGN.md §4, kubectl-wire.md).
//
//   auto h = rest::NewRestHandler(store, registry, {.server_address = "10.0.0.5:6443"});
//   server.SetHandler(h->get());   // transport calls Handle() on worker threads
//   ...
//   (*h)->Stop();                  // ends every watch stream, stops background work
//
// Ownership: the handler borrows the Store (which must outlive it) and shares the Registry.
// It owns one WatchCache per resource (one store Watch each), a bookmark/timeout timer thread
// and the namespace-content deleter thread; Stop() (or the destructor) joins them.
// Thread-safety: Handle() may be called concurrently from any number of threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "api/schema.h"
#include "apiserver/http.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "store/store.h"

namespace tug::apiserver::rest {

// Added by stream-api: the connect-style subresources (upstream's rest.Connecter) that the REST
// layer routes but does not answer itself: pods/{log,exec,attach,portforward} and
// {pods,services,nodes}/{name}/proxy[/{path}]. Implemented by apiserver/proxy.
struct ConnectRequest {
  std::string resource;     // "pods", "services" or "nodes" (core/v1)
  std::string subresource;  // "log", "exec", "attach", "portforward" or "proxy"
  std::string ns;           // "" for nodes
  std::string name;         // as in the path; for proxy it may be "[scheme:]name[:port]"
  std::string proxy_path;   // proxy only: the decoded path after ".../proxy" ("" or "/...")
  // Reads a core/v1 object as stored (resource plural, namespace or "", name); NotFound with the
  // REST layer's message (`pods "x" not found`).
  std::function<Result<Json>(const std::string& resource, const std::string& ns, const std::string& name)> get;
};

class Connector {
 public:
  virtual ~Connector() = default;
  // Answers on w, always. May block for a whole stream (log -f, exec) and may take the
  // connection over (ResponseWriter::Hijack) for upgrade requests.
  virtual void Connect(const Request& req, const ConnectRequest& c, ResponseWriterPtr w) = 0;
};

struct Options {
  std::string server_address;  // "ip:port" for /api (serverAddressByClientCIDRs) and the
                               // default/kubernetes Endpoints
  std::string service_cidr = "10.43.0.0/16";
  Clock* clock = nullptr;      // null: RealClock()
  // Added by rest: how often watchers with allowWatchBookmarks get a BOOKMARK.
  std::chrono::seconds bookmark_interval{60};
  // Added by rest: answers a create of a virtual (never stored) resource such as
  // SelfSubjectAccessReview: gets the decoded object and the user, returns it with status set.
  // Null: there is no authorizer yet, so access reviews answer as an AlwaysAllow authorizer
  // would (allowed: true; rules review: everything) and other virtual kinds are 405.
  std::function<Result<Json>(const Json& obj, const UserInfo& user)> virtual_create;
  // Added by rest: false disables the background timer thread (tests drive TickForTest()).
  bool start_timer_thread = true;
  // Empties namespaces being deleted from inside the REST layer. `tug server` turns it off when
  // the namespace controller (src/controllers/namespace) runs; tests of the REST layer alone
  // keep it.
  bool namespace_deleter = true;

  // Added by sa-tokens (apiserver/serviceaccount::Install sets them; null = off):
  // Mutating admission on create, after defaulting and name generation, before validation
  // (ServiceAccount admission for pods, legacy token secrets). An error fails the create as is.
  std::function<Status(const std::string& group, const std::string& resource, const std::string& ns, Json& obj)>
      admit_create;
  // POST serviceaccounts/NAME/token: the decoded TokenRequest in, the answered one out. Null: 405.
  std::function<Result<Json>(const std::string& ns, const std::string& name, Json request)> token_request;
  // POST tokenreviews: the decoded TokenReview in, with status out. Null: 405.
  std::function<Json(Json review)> token_review;
  // GET /.well-known/openid-configuration and /openid/v1/jwks: {content type, body}; nullopt: 404.
  std::function<std::optional<std::pair<std::string, std::string>>(const std::string& path)> oidc_discovery;
  // Added by stream-api: answers the connect subresources (see Connector). Null: they are
  // answered 503 ServiceUnavailable.
  std::shared_ptr<Connector> connector;
};

class RestHandler : public Handler {
 public:
  virtual bool Ready() const = 0;
  // Ends every watch stream and stops background work; later requests get 503.
  virtual void Stop() = 0;
  // Test hooks: run the bookmark/timeout timer once (with the injected clock), and wait until
  // every watch cache has caught up with the store and the namespace deleter is idle.
  virtual void TickForTest() = 0;
  virtual void SyncForTest() = 0;
};

// Builds the handler: starts one watch-cache feed per resource from the store, creates the
// bootstrap objects on first start (namespaces default, kube-system, kube-public,
// kube-node-lease; Service "kubernetes" in default with clusterIP <first service IP> port
// 443 and its Endpoints/EndpointSlice pointing at the server address), then is Ready.
Result<std::unique_ptr<RestHandler>> NewRestHandler(store::Store& store,
                                                    std::shared_ptr<const api::Registry> registry,
                                                    Options opts);

}  // namespace tug::apiserver::rest
