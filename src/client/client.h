// The client library's core: how any tug component (controllers, scheduler, node agent,
// simnodes) talks to the API server, the same way in-process and remote (DESIGN.md §2).
//
//   auto t = client::NewHttpsTransport(client::LoadKubeconfig(path).value());   // remote
//   auto t = client::NewLoopbackTransport(rest_handler, {"system:kube-controller-manager"});
//   client::Client c(std::move(t));
//   ASSIGN_OR_RETURN(Json pod, c.Get(client::kPods, "default", "web-1"));
//
// A Transport moves one HTTP request/response or one streamed response; Client builds the
// Kubernetes REST paths, encodes JSON, and turns non-2xx answers into Status values carrying
// the server's reason/code/message (and details). Watches deliver decoded events on the
// transport's thread.
//
// Ownership: Client shares its Transport. A Watch handle owns its stream; destroying it (or
// Stop()) ends the stream and waits until no callback is running.
// Thread-safety: Transport and Client are safe for concurrent use from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace tug::client {

// One collection of the API: group/version/plural, e.g. {"apps","v1","deployments","Deployment"}.
struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "pods"
  std::string kind;     // "Pod"
  bool namespaced = true;

  // "v1" or "apps/v1".
  std::string ApiVersion() const;
  // "/api/v1/namespaces/NS/pods/NAME/SUB" (ns ignored when cluster-scoped, "" = all namespaces).
  std::string Path(std::string_view ns = "", std::string_view name = "",
                   std::string_view subresource = "") const;
};

// Well-known resources (client/resources.cc).
extern const Resource kPods, kNodes, kNamespaces, kServices, kEndpoints, kConfigMaps, kSecrets,
    kServiceAccounts, kEvents, kPersistentVolumes, kPersistentVolumeClaims,
    kReplicationControllers, kDeployments, kReplicaSets, kDaemonSets, kStatefulSets,
    kControllerRevisions, kJobs, kCronJobs, kLeases, kEndpointSlices, kPodDisruptionBudgets,
    kHorizontalPodAutoscalers, kPriorityClasses, kStorageClasses, kEventsV1;

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;        // "" = most recent; "0" = any
  std::string resource_version_match;  // "", "NotOlderThan", "Exact"
  int64_t limit = 0;
  std::string continue_token;
  bool allow_watch_bookmarks = false;
  int timeout_seconds = 0;             // watch: server-side timeout (0 = server default)
};

struct DeleteOptions {
  std::string propagation_policy;      // "", "Orphan", "Background", "Foreground"
  int64_t grace_period_seconds = -1;   // -1 = not set
  std::string precondition_uid;
  std::string precondition_resource_version;
  bool dry_run = false;
};

enum class PatchType { kJson, kMerge, kStrategic, kApply };

struct WatchEvent {
  enum Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = kAdded;
  Json object;  // the object (for kError: the metav1.Status)
};

// --- Transport -----------------------------------------------------------------------------

struct HttpRequest {
  std::string method = "GET";
  std::string path;   // "/api/v1/namespaces/default/pods" (not percent-encoded)
  std::string query;  // "labelSelector=a%3Db&limit=5" (already encoded), no '?'
  std::string content_type;  // for the body; "" when none
  std::string accept = "application/json";
  std::string body;
};

struct HttpResponse {
  int code = 0;
  std::string content_type;
  std::string body;
};

// A streamed response in progress. Destroying it cancels the stream and waits until the
// transport no longer calls its callbacks.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual void Cancel() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // One request, whole response. A non-2xx answer is a response, not an error; errors are for
  // requests that got no HTTP answer (connection refused, TLS failure): Unavailable.
  virtual Result<HttpResponse> Do(const HttpRequest& req) = 0;
  // The same request with its answer (or error) passed to `done`, exactly once, on whichever
  // thread finishes it, possibly before DoAsync returns. This default answers on the caller's
  // thread, i.e. waits like Do(); a transport that Pipelines() returns at once, so one thread
  // can keep many requests in flight (the loopback transport answers from the thread that
  // finishes the request, e.g. the store's group commit). `done` must not block.
  virtual void DoAsync(const HttpRequest& req, std::function<void(Result<HttpResponse>)> done) { done(Do(req)); }
  // Whether DoAsync returns before the answer.
  virtual bool Pipelines() const { return false; }
  // A streamed response (watch, log follow). `on_head` gets the status code and content type
  // once (a non-2xx code is followed by the whole error body through on_data), `on_data` gets
  // body bytes in arrival order (chunk boundaries are arbitrary), `on_end` is called exactly once
  // when the stream ends (OK when the server finished it; Unavailable on connection loss;
  // not called after Cancel()).
  virtual Result<std::unique_ptr<Stream>> Open(const HttpRequest& req,
                                               std::function<void(int code, std::string_view content_type)> on_head,
                                               std::function<void(std::string_view data)> on_data,
                                               std::function<void(Status)> on_end) = 0;
};

// Where and how to reach an API server (a kubeconfig's current context, or explicit).
struct Config {
  std::string server;       // "https://127.0.0.1:6443"
  std::string ca_pem;       // PEM of the CA that signs the serving cert ("" = system roots)
  std::string cert_pem;     // client certificate (PEM), optional
  std::string key_pem;      // its private key (PEM)
  std::string token;        // bearer token, optional
  bool insecure_skip_verify = false;
  std::string user_agent = "tug";
  std::chrono::milliseconds timeout{30000};  // per non-streaming request
};

// Reads a kubeconfig (YAML or JSON) and returns its current context's cluster and user
// (certificate-authority-data / client-certificate-data / client-key-data / token, and the
// file-path variants). Errors: NotFound (no file), BadRequest (unparseable, no context).
Result<Config> LoadKubeconfig(const std::string& path);

// HTTPS (or plain http://) with connection reuse; safe for many concurrent callers.
std::shared_ptr<Transport> NewHttpsTransport(Config config);

// --- Client --------------------------------------------------------------------------------

class Watch {
 public:
  virtual ~Watch() = default;
  // Ends the watch; no callback runs after Stop() returns (unless called from a callback).
  virtual void Stop() = 0;
};

class Client {
 public:
  explicit Client(std::shared_ptr<Transport> transport);

  Transport& transport() const { return *transport_; }

  Result<Json> Get(const Resource& r, std::string_view ns, std::string_view name) const;
  // Returns the list object ({"kind":"PodList","metadata":{"resourceVersion":..},"items":[..]}).
  Result<Json> List(const Resource& r, std::string_view ns, const ListOptions& opts = {}) const;
  // All pages of a list (follows `continue`); same shape as List.
  Result<Json> ListAll(const Resource& r, std::string_view ns, const ListOptions& opts = {}) const;
  Result<Json> Create(const Resource& r, std::string_view ns, const Json& obj) const;
  // PUT of obj (its metadata.name and, if set, metadata.resourceVersion as precondition).
  Result<Json> Update(const Resource& r, std::string_view ns, const Json& obj) const;
  Result<Json> UpdateStatus(const Resource& r, std::string_view ns, const Json& obj) const;
  Result<Json> Patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                     std::string_view body, std::string_view subresource = "",
                     std::string_view field_manager = "") const;
  // DELETE; returns the server's answer (the object, when it stays with a deletionTimestamp, or a
  // Status).
  Result<Json> Delete(const Resource& r, std::string_view ns, std::string_view name,
                      const DeleteOptions& opts = {}) const;
  // POST to a subresource (pods/binding, pods/eviction, serviceaccounts/token).
  Result<Json> CreateSubresource(const Resource& r, std::string_view ns, std::string_view name,
                                 std::string_view subresource, const Json& body) const;
  // Starts a watch (opts.resource_version is where it starts). Events arrive in order on a
  // transport thread; `on_end` runs once when the stream ends (Gone for a 410 / Expired error
  // event, Unavailable on connection loss, OK on a server-side timeout).
  Result<std::unique_ptr<Watch>> StartWatch(const Resource& r, std::string_view ns, const ListOptions& opts,
                                            std::function<void(WatchEvent)> on_event,
                                            std::function<void(Status)> on_end) const;

  // Raw request with Client's error mapping (non-2xx → Status from the metav1.Status body).
  Result<Json> DoJson(const HttpRequest& req) const;
  // The same error mapping for a request whose answer the caller does not read (a pod binding,
  // an Event create): a 2xx body is not parsed.
  Status DoNoBody(const HttpRequest& req) const;
  // DoNoBody through Transport::DoAsync: `done` gets the Status on the thread that finished
  // the request (see there; it must not block).
  void DoNoBodyAsync(const HttpRequest& req, std::function<void(Status)> done) const;

 private:
  std::shared_ptr<Transport> transport_;
};

// Turns a non-2xx answer into a Status: reason/code/message/details from a metav1.Status body,
// or a Status built from the HTTP code when the body is not one.
Status StatusFromResponse(const HttpResponse& resp);

// URL query encoding of one component.
std::string QueryEscape(std::string_view s);

}  // namespace tug::client
