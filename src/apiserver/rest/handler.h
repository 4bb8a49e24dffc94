// RestHandlerImpl — the one implementation of RestHandler (rest.h). Split from rest.h so the
// public header stays small; see rest.h for ownership and threading.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "api/openapi.h"
#include "api/strategy.h"
#include "apiserver/rest/allocator.h"
#include "apiserver/rest/crds.h"
#include "apiserver/rest/internal.h"
#include "apiserver/rest/namespace_deleter.h"
#include "apiserver/rest/rest.h"
#include "apiserver/rest/selectors.h"
#include "apiserver/rest/watch_cache.h"

namespace tug::apiserver::rest {

class WatchStream;

// Everything about one request that the verbs need.
struct Ctx {
  // The resource as stored. When the request names another version (an old one such as
  // extensions/v1beta1, or autoscaling/v1 HPAs), `served` is that version: bodies are converted
  // to `res` on the way in and responses back to `served` (api/conversion).
  const api::ResourceDef* res = nullptr;
  const api::ResourceDef* served = nullptr;
  const api::Strategy* strat = nullptr;
  // The API snapshot the request started with (registry of built-in and custom resources); it
  // stays valid for the request even when CRDs change meanwhile.
  std::shared_ptr<const ApiSnapshot> api;
  // Set for custom resources (then also `strat`): the CRD's rules for the served version.
  const CustomResourceStrategy* custom = nullptr;
  std::string ns;
  std::string name;
  std::string sub;
  bool dry_run = false;
  std::string field_manager;
  std::string field_validation = "Warn";  // Strict | Warn | Ignore
  std::string operation = "Update";       // managedFields operation: Update | Apply
  Json apply_managed;                      // Apply: the managedFields computed by api::apply::Apply
  std::string managed_sub;                 // subresource recorded in managedFields when not `sub` (scale)
  std::vector<std::string> warnings;
  // What the last successful store write of this request wrote (bytes without resourceVersion),
  // so the response can reuse the serialized object (RestHandlerImpl::WrittenJson).
  struct Written {
    std::string key;
    std::shared_ptr<const std::string> bytes;
    int64_t rev = 0;
  } written;
};

class RestHandlerImpl final : public RestHandler {
 public:
  RestHandlerImpl(store::Store& store, std::shared_ptr<const api::Registry> reg, Options opts);
  ~RestHandlerImpl() override;

  Status Start();
  void Handle(Request req, ResponseWriterPtr w) override;
  // Creates of stored resources: everything before the store write works on memory, and the
  // write answers from the store's thread (Create), so they may run on an I/O thread.
  bool HandlesInline(const Request& req) const override;
  bool Ready() const override { return ready_.load(); }
  void Stop() override;
  void TickForTest() override;
  void SyncForTest() override;

 private:
  friend class WatchStream;
  // Dispatch.
  void HandleDiscovery(const Request& req, ResponseWriter& w, bool core);
  void HandleOpenApi(const Request& req, ResponseWriter& w);
  void HandleResource(Request& req, const ResponseWriterPtr& w, bool core, std::vector<std::string> segs);

  // Verbs. Each returns the HTTP code and response body or an error.
  struct Reply {
    int code = 200;
    std::string body;
  };
  Result<Reply> Get(const Request& req, Ctx& c);
  Result<Reply> List(const Request& req, Ctx& c);
  void Watch(const Request& req, Ctx& c, const ResponseWriterPtr& w);
  // Answers w itself: a store write completes the response from the store's thread
  // (Store::CreateAsync), so no request thread waits for the commit.
  void Create(const Request& req, Ctx& c, const ResponseWriterPtr& w);
  Result<Reply> CreateVirtual(const Request& req, Ctx& c, Json obj);
  Result<Reply> Update(const Request& req, Ctx& c);
  Result<Reply> Patch(const Request& req, Ctx& c);
  Result<Reply> Delete(const Request& req, Ctx& c);
  Result<Reply> DeleteCollection(const Request& req, Ctx& c);
  Result<Reply> Scale(const Request& req, Ctx& c);
  // POST pods/<name>/binding (sets spec.nodeName) and pods/<name>/eviction (deletes).
  Result<Reply> PodAction(const Request& req, Ctx& c);

  // Pipeline pieces.
  Result<Json> DecodeBody(const Request& req, Ctx& c, const api::TypeDef* type, const std::string& want_api_version,
                          const std::string& want_kind);
  Status CheckFields(Json& obj, Ctx& c, const api::TypeDef* type, const std::vector<std::string>& dups,
                     const std::string& kind, const std::string& version);
  Status CheckNamespace(Ctx& c);
  // Creates obj (already decoded) and waits for the store. Returns the stored object
  // (resourceVersion set).
  Result<Json> CreateObject(Ctx& c, Json obj);
  // A create between its checks and its store write.
  struct PendingCreate {
    Json obj;                        // defaulted, validated, managedFields set
    ServiceAllocator::Taken taken;   // Service IPs/ports it holds (svc)
    bool svc = false;
    bool named = false;              // the client named it (no generateName retries)
    std::string gen;                 // metadata.generateName
  };
  // The create pipeline up to the store write: namespace, strategy, admission, validation,
  // managedFields.
  Result<PendingCreate> PrepareCreate(Ctx& c, Json obj);
  // The bytes to store (sets c.name).
  std::shared_ptr<const std::string> CreateBytes(Ctx& c, PendingCreate& p);
  // After the store accepted the bytes at rev: the created object (c.written set).
  Json Created(Ctx& c, PendingCreate& p, std::shared_ptr<const std::string> bytes, int64_t rev);
  // After the store refused: OK when a generateName create should retry (a new name is set),
  // else the error to answer (what the create held is released).
  Status CreateFailed(Ctx& c, PendingCreate& p, const Status& st, int attempt);
  // Writes p asynchronously and answers w when the store calls back.
  void CommitCreate(Ctx c, std::shared_ptr<PendingCreate> p, ResponseWriterPtr w, int attempt);
  void SendReply(ResponseWriter& w, const Ctx& c, Result<Reply> r);
  // Updates from old (at mod_rev) to obj. *wrote tells whether the store changed.
  Result<Json> UpdateObject(Ctx& c, const Json& old, int64_t mod_rev, Json obj, bool* wrote);
  struct Loaded {
    Json obj;
    int64_t mod_rev = 0;
  };
  Result<Loaded> Load(const Ctx& c, const std::string& key);
  // Deletes key at mod_rev and releases what the object held.
  Status DeleteStored(const api::ResourceDef& res, const std::string& key, const Json& obj, int64_t mod_rev,
                      bool dry_run);
  // DELETE semantics for one object (finalizers, graceful pods, namespaces). Returns the
  // response object (the object when it stays, else null) .
  Result<std::optional<Json>> DeleteOne(Ctx& c, const Json& opts);

  std::string Key(const api::ResourceDef& res, const std::string& ns, const std::string& name) const;
  std::string Prefix(const api::ResourceDef& res) const;
  WatchCache* CacheFor(const api::ResourceDef& res);
  void NoteWrite(const api::ResourceDef& res, int64_t rev);
  std::string Now() const;
  std::string QualifiedResource(const api::ResourceDef& res) const;
  Status NotFound(const api::ResourceDef& res, const std::string& name) const;
  Status ConflictModified(const api::ResourceDef& res, const std::string& name) const;
  std::string ObjectJson(const Ctx& c, Json obj) const;
  // The resource version the client asked for (c.served, else c.res).
  static const api::ResourceDef& Served(const Ctx& c) { return c.served ? *c.served : *c.res; }
  // A cached object's bytes in the version the client asked for.
  // The response body for c.written (stored bytes with the resourceVersion spliced in), or ""
  // when it cannot be used (another served version; nothing written).
  std::string WrittenJson(const Ctx& c) const;
  std::string ServedBytes(const Ctx& c, const CachedObject& o) const;
  // Decodes a create/update body in the served version and converts it to the stored one.
  Result<Json> DecodeObject(const Request& req, Ctx& c);
  Result<std::string> TableJson(const Ctx& c, const std::vector<Json>& objs, const std::string& rv,
                                const std::string& cont, const std::string& version, const std::string& include) const;
  // The same Table from cached snapshots: each object's row is rendered once per snapshot
  // (CachedObject::row) and the response is a concatenation.
  Result<std::string> TableFromCached(const Ctx& c, const std::vector<CachedObjectPtr>& objs, const std::string& rv,
                                      const std::string& cont, const std::string& version,
                                      const std::string& include) const;
  Status FieldSelectorSupported(const Ctx& c, const FieldSelector& fs) const;
  // managedFields of a write: Apply keeps what api::apply computed; other writes are tracked as
  // an "Update" by c.field_manager.
  void TrackManagedFields(Ctx& c, const Json* old, Json& obj);
  Result<Reply> ApplyPatch(const Request& req, Ctx& c, Json config);
  bool MatchesFields(const Ctx& c, const CachedObject& o, const FieldSelector& fs) const;

  // CustomResourceDefinitions (crds.cc): the current API snapshot, the registry of a request,
  // watch caches for newly served resources, the per-request custom-resource setup, the CRD
  // controller's reconcile (status, served registry, instance cleanup) and custom scale.
  std::shared_ptr<const ApiSnapshot> Api() const;
  const api::Registry& RegOf(const Ctx& c) const;
  Status EnsureCaches(const api::Registry& reg);
  Status StartCrds();
  Status PrepareCustom(Ctx& c, const std::string& verb);
  bool ReconcileCrds();
  Result<Reply> CustomScale(const Request& req, Ctx& c);

  // Bootstrap and namespace deletion.
  Status Bootstrap();
  Status EnsureObject(const std::string& group, const std::string& version, const std::string& plural, Json obj);
  Result<bool> SweepNamespace(const std::string& ns);

  void TimerLoop();
  void RegisterStream(const std::shared_ptr<WatchStream>& s);
  // Ends (and unregisters) every open watch whose request context matches pred: the watches of
  // custom resources that are no longer served.
  void EndWatchesIf(const std::function<bool(const Ctx&)>& pred);
  void UnregisterStream(uint64_t id);

  store::Store& store_;
  std::shared_ptr<const api::Registry> reg_;  // the built-in registry (never swapped)
  Options opts_;
  Clock* clock_;
  std::unique_ptr<ServiceAllocator> alloc_;
  ManagedFieldsMemo create_managed_;  // managedFields of built-in creates, by shape (internal.h)
  // Caches are added when CRDs are established and live until Stop() (a recreated CRD reuses
  // its prefix's cache), so WatchCache pointers stay valid.
  mutable std::mutex caches_mu_;
  std::map<std::string, std::unique_ptr<WatchCache>, std::less<>> caches_;  // by prefix; GUARDED_BY(caches_mu_)
  std::string legacy_api_;
  // Discovery and OpenAPI of the served registry (OpenAPI built on first use), swapped whole.
  mutable std::mutex api_mu_;
  std::shared_ptr<const ApiSnapshot> api_;  // GUARDED_BY(api_mu_)
  std::mutex crd_reconcile_mu_;
  std::string published_crds_;  // GUARDED_BY(crd_reconcile_mu_): the CRD set api_ serves
  std::unique_ptr<CrdController> crd_ctl_;
  uint64_t crd_watch_id_ = 0;
  // Instance caches of terminating CRDs watched by the CRD controller: prefix -> watcher id.
  std::map<std::string, uint64_t> cleanup_watches_;  // GUARDED_BY(crd_reconcile_mu_)
  std::unique_ptr<NamespaceDeleter> ns_deleter_;

  std::mutex streams_mu_;
  std::map<uint64_t, std::weak_ptr<WatchStream>> streams_;  // GUARDED_BY(streams_mu_)
  std::atomic<uint64_t> next_stream_id_{1};

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;
  std::thread timer_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopped_{false};
  // Store writes whose callbacks have not run yet; Stop() waits for them (they use `this`).
  std::mutex async_mu_;
  std::condition_variable async_cv_;
  int64_t async_writes_ = 0;  // GUARDED_BY(async_mu_)
};

}  // namespace tug::apiserver::rest
