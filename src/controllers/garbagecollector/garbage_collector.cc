#include "controllers/garbagecollector/garbage_collector.h"

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "api/schema.h"
#include "base/log.h"

namespace tug::controllers::garbagecollector {
namespace {

using client::ObjectPtr;

constexpr char kOrphanFinalizer[] = "orphan";
constexpr char kForegroundFinalizer[] = "foregroundDeletion";
constexpr char kOwnerIndex[] = "garbagecollector/owner-uid";

// group, plural: the collections whose objects carry ownerReferences in practice.
const std::vector<std::pair<std::string, std::string>> kWatched = {
    {"", "pods"},
    {"", "replicationcontrollers"},
    {"", "services"},
    {"", "endpoints"},
    {"", "configmaps"},
    {"", "secrets"},
    {"", "serviceaccounts"},
    {"", "persistentvolumeclaims"},
    {"apps", "replicasets"},
    {"apps", "deployments"},
    {"apps", "daemonsets"},
    {"apps", "statefulsets"},
    {"apps", "controllerrevisions"},
    {"batch", "jobs"},
    {"batch", "cronjobs"},
    {"discovery.k8s.io", "endpointslices"},
    {"coordination.k8s.io", "leases"},
    {"policy", "poddisruptionbudgets"},
    {"autoscaling", "horizontalpodautoscalers"},
    {"", "podtemplates"},
    {"", "resourcequotas"},
    {"", "limitranges"},
    {"networking.k8s.io", "ingresses"},
    {"networking.k8s.io", "networkpolicies"},
    {"rbac.authorization.k8s.io", "roles"},
    {"rbac.authorization.k8s.io", "rolebindings"},
};

client::Resource ToResource(const api::ResourceDef& d) {
  return client::Resource{d.group, d.version, d.plural, d.kind, d.namespaced};
}

bool HasFinalizer(const Json& obj, std::string_view f) {
  const Json* fs = FindPath(obj, {"metadata", "finalizers"});
  if (!fs || !fs->is_array()) return false;
  for (const Json& x : *fs)
    if (x.is_string() && x.get<std::string>() == f) return true;
  return false;
}

std::string Uid(const Json& o) { return GetStringPath(o, {"metadata", "uid"}); }
std::string Ns(const Json& o) { return GetStringPath(o, {"metadata", "namespace"}); }
std::string Name(const Json& o) { return GetStringPath(o, {"metadata", "name"}); }

const client::Resource kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                             false};

// The collection a CRD serves its objects from: the storage version when it is served, else the
// first served version (conversion strategy None: every version holds the same objects).
std::optional<client::Resource> CustomResourceOf(const Json& crd) {
  const Json* spec = Find(crd, "spec");
  if (!spec) return std::nullopt;
  bool established = false;
  if (const Json* cs = FindPath(crd, {"status", "conditions"}); cs && cs->is_array())
    for (const Json& c : *cs)
      if (GetString(c, "type") == "Established" && GetString(c, "status") == "True") established = true;
  if (!established || framework::IsBeingDeleted(crd)) return std::nullopt;
  std::string version;
  if (const Json* vs = Find(*spec, "versions"); vs && vs->is_array()) {
    for (const Json& v : *vs) {
      const Json* served = Find(v, "served");
      if (!served || !served->is_boolean() || !served->get<bool>()) continue;
      const Json* storage = Find(v, "storage");
      if (version.empty() || (storage && storage->is_boolean() && storage->get<bool>())) version = GetString(v, "name");
    }
  }
  client::Resource r{GetString(*spec, "group"), version, GetStringPath(*spec, {"names", "plural"}),
                     GetStringPath(*spec, {"names", "kind"}), GetString(*spec, "scope") != "Cluster"};
  if (r.group.empty() || r.version.empty() || r.plural.empty() || r.kind.empty()) return std::nullopt;
  return r;
}

class GarbageCollector final : public framework::Controller {
 public:
  GarbageCollector(const framework::ControllerContext& ctx, std::shared_ptr<const api::Registry> reg)
      : Controller("garbagecollector", ctx), registry_(std::move(reg)) {
    for (const auto& [group, plural] : kWatched) {
      const api::ResourceDef* def = nullptr;
      for (const auto& r : registry_->Resources())
        if (r->group == group && r->plural == plural && r->IsStorageVersion()) {
          def = r.get();
          break;
        }
      if (def) AddWatched(ToResource(*def));
    }
    // Custom resources are watched from the moment their CRD is established (upstream finds
    // them by periodic discovery; the CRD informer tells us at once).
    auto on_crd = [this](const ObjectPtr& crd) {
      if (auto r = CustomResourceOf(*crd)) AddWatched(*r);
    };
    Informer(kCrds).AddHandler(client::EventHandler{
        .on_add = on_crd,
        .on_update = [on_crd](const ObjectPtr&, const ObjectPtr& n) { on_crd(n); },
        .on_delete = {},
    });
  }

 protected:
  Status Sync(const std::string& key) override;

 private:
  struct Watched {
    std::string id;  // "group/plural"
    client::Resource res;
    client::Informer* informer = nullptr;
  };

  // Starts watching a collection (once per group/plural): informer, owner-uid index, handlers.
  void AddWatched(const client::Resource& res) {
    std::string id = res.group + "/" + res.plural;
    Watched* w = nullptr;
    {
      std::lock_guard<std::mutex> l(watched_mu_);
      if (by_id_.count(id)) return;
      auto owned = std::make_unique<Watched>();
      owned->id = id;
      owned->res = res;
      owned->informer = &Informer(res);
      w = owned.get();
      watched_.push_back(std::move(owned));
      by_id_[id] = w;
      by_group_kind_[res.group + "/" + res.kind] = w;
    }
    if (!res.group.empty() && !registry_->ByResource(res.group, res.version, res.plural)) {
      TUG_VLOG(2, "garbagecollector") << "watching custom resource" << kv("resource", res.plural + "." + res.group);
    }
    w->informer->AddIndexer(kOwnerIndex, [](const Json& obj) {
      std::vector<std::string> uids;
      if (const Json* refs = FindPath(obj, {"metadata", "ownerReferences"}); refs && refs->is_array())
        for (const Json& r : *refs) uids.push_back(GetString(r, "uid"));
      return uids;
    });
    w->informer->AddHandler(client::EventHandler{
        .on_add = [this, w](const ObjectPtr& o) { OnChange(*w, nullptr, *o); },
        .on_update = [this, w](const ObjectPtr& old, const ObjectPtr& o) { OnChange(*w, old.get(), *o); },
        .on_delete = [this, w](const ObjectPtr& o) { OnDelete(*w, *o); },
    });
  }

  // Every watched collection (the list only grows; entries live as long as the collector).
  std::vector<const Watched*> AllWatched() const {
    std::lock_guard<std::mutex> l(watched_mu_);
    std::vector<const Watched*> out;
    for (const auto& w : watched_) out.push_back(w.get());
    return out;
  }

  static std::string KeyFor(const Watched& w, const Json& obj) { return w.id + "|" + client::KeyOf(obj); }

  // The collection of an ownerReference's apiVersion/kind (built-in through the registry,
  // custom through the established CRDs), and its watched entry when watched (else null).
  std::optional<client::Resource> OwnerResource(const std::string& api_version, const std::string& kind,
                                                const Watched** watched) const {
    *watched = nullptr;
    if (const api::ResourceDef* def = registry_->ByApiVersionKind(api_version, kind)) {
      std::lock_guard<std::mutex> l(watched_mu_);
      if (auto it = by_id_.find(def->group + "/" + def->plural); it != by_id_.end()) *watched = it->second;
      return ToResource(*def);
    }
    std::string group = api_version.find('/') == std::string::npos ? "" : api_version.substr(0, api_version.find('/'));
    std::lock_guard<std::mutex> l(watched_mu_);
    auto it = by_group_kind_.find(group + "/" + kind);
    if (it == by_group_kind_.end()) return std::nullopt;
    *watched = it->second;
    return it->second->res;
  }

  void EnqueueOwners(const Json& obj) {
    const Json* refs = FindPath(obj, {"metadata", "ownerReferences"});
    if (!refs || !refs->is_array()) return;
    for (const Json& r : *refs) {
      const Watched* w = nullptr;
      if (!OwnerResource(GetString(r, "apiVersion"), GetString(r, "kind"), &w) || !w) continue;
      Enqueue(w->id + "|" + (w->res.namespaced ? Ns(obj) + "/" : "") + GetString(r, "name"));
    }
  }

  void EnqueueDependents(const std::string& uid) {
    for (const Watched* w : AllWatched())
      for (const ObjectPtr& d : w->informer->ByIndex(kOwnerIndex, uid)) Enqueue(KeyFor(*w, *d));
  }

  void OnChange(const Watched& w, const Json* old, const Json& obj) {
    if (old && GetStringPath(*old, {"metadata", "resourceVersion"}) == GetStringPath(obj, {"metadata", "resourceVersion"}))
      return;
    bool deleting = framework::IsBeingDeleted(obj);
    bool has_refs = FindPath(obj, {"metadata", "ownerReferences"}) != nullptr;
    if (has_refs || (deleting && (HasFinalizer(obj, kOrphanFinalizer) || HasFinalizer(obj, kForegroundFinalizer))))
      Enqueue(KeyFor(w, obj));
    // An owner that started foreground deletion: its dependents must go now.
    if (deleting && HasFinalizer(obj, kForegroundFinalizer) &&
        !(old && framework::IsBeingDeleted(*old) && HasFinalizer(*old, kForegroundFinalizer)))
      EnqueueDependents(Uid(obj));
    // Owners losing a dependent reference may be waiting for exactly that.
    if (old) EnqueueOwners(*old);
  }

  void OnDelete(const Watched&, const Json& obj) {
    {
      std::lock_guard<std::mutex> l(absent_mu_);
      NoteAbsentLocked(Uid(obj));
    }
    EnqueueDependents(Uid(obj));
    EnqueueOwners(obj);  // a foreground owner may be waiting for this dependent
  }

  void NoteAbsentLocked(const std::string& uid) {
    if (uid.empty() || absent_.count(uid)) return;
    absent_.insert(uid);
    absent_order_.push_back(uid);
    if (absent_order_.size() > 10000) {
      absent_.erase(absent_order_.front());
      absent_order_.pop_front();
    }
  }

  enum class OwnerState { kSolid, kDangling, kWaiting };
  Result<OwnerState> Classify(const Json& dependent, const Json& ref);
  // `live`: obj was just read from the API server (else it is the informer's copy).
  Status AttemptToDelete(const Watched& w, const Json& obj, bool live = false);
  Status OrphanDependents(const Watched& w, const Json& owner);
  Status ProcessDeletingDependents(const Watched& w, const Json& owner);
  Status RemoveFinalizer(const Watched& w, const Json& owner, std::string_view finalizer);
  Status PatchOwnerRefs(const Watched& w, const Json& obj, const Json& patch_refs);
  // DELETE with the uid and, when given, the resourceVersion as preconditions.
  Status DeleteObject(const Watched& w, const Json& obj, const std::string& policy, const std::string& resource_version);

  std::shared_ptr<const api::Registry> registry_;
  mutable std::mutex watched_mu_;
  std::vector<std::unique_ptr<Watched>> watched_;       // GUARDED_BY(watched_mu_); append-only
  std::map<std::string, Watched*> by_id_;               // GUARDED_BY(watched_mu_): "group/plural"
  std::map<std::string, Watched*> by_group_kind_;       // GUARDED_BY(watched_mu_): "group/Kind"
  std::mutex absent_mu_;
  std::set<std::string> absent_;     // uids known to be gone (upstream's absentOwnerCache)
  std::deque<std::string> absent_order_;
};

Result<GarbageCollector::OwnerState> GarbageCollector::Classify(const Json& dependent, const Json& ref) {
  std::string uid = GetString(ref, "uid");
  {
    std::lock_guard<std::mutex> l(absent_mu_);
    if (absent_.count(uid)) return OwnerState::kDangling;
  }
  const Watched* w = nullptr;
  std::optional<client::Resource> res = OwnerResource(GetString(ref, "apiVersion"), GetString(ref, "kind"), &w);
  if (!res) {
    // An owner kind this server does not serve: never collect on a guess.
    return NotFoundError("unknown owner kind " + GetString(ref, "apiVersion") + "/" + GetString(ref, "kind"));
  }
  std::string ns = res->namespaced ? Ns(dependent) : "";
  if (res->namespaced && ns.empty()) return OwnerState::kDangling;  // a namespaced owner of a cluster-scoped object
  ObjectPtr cached;
  if (w) cached = w->informer->Get((ns.empty() ? "" : ns + "/") + GetString(ref, "name"));
  Json owner;
  if (cached && Uid(*cached) == uid) {
    owner = *cached;
  } else {
    // The cache may lag (a dependent seen before its owner): ask the API server.
    auto live = client().Get(*res, ns, GetString(ref, "name"));
    if (!live.ok()) {
      if (live.status().code() != StatusCode::kNotFound) return live.status();
      std::lock_guard<std::mutex> l(absent_mu_);
      NoteAbsentLocked(uid);
      return OwnerState::kDangling;
    }
    if (Uid(*live) != uid) {
      std::lock_guard<std::mutex> l(absent_mu_);
      NoteAbsentLocked(uid);
      return OwnerState::kDangling;
    }
    owner = std::move(*live);
  }
  if (framework::IsBeingDeleted(owner) && HasFinalizer(owner, kForegroundFinalizer)) return OwnerState::kWaiting;
  return OwnerState::kSolid;
}

Status GarbageCollector::PatchOwnerRefs(const Watched& w, const Json& obj, const Json& patch_refs) {
  Json patch = {{"metadata", {{"ownerReferences", patch_refs}, {"uid", Uid(obj)}}}};
  auto r = client().Patch(w.res, Ns(obj), Name(obj), client::PatchType::kStrategic, DumpJson(patch));
  if (!r.ok() && r.status().code() == StatusCode::kNotFound) return Status::Ok();
  return r.status();
}

Status GarbageCollector::DeleteObject(const Watched& w, const Json& obj, const std::string& policy,
                                      const std::string& resource_version) {
  TUG_VLOG(2, "garbagecollector") << "deleting" << kv("resource", w.id) << kv("object", client::KeyOf(obj))
                                  << kv("propagationPolicy", policy);
  client::DeleteOptions opts;
  opts.precondition_uid = Uid(obj);
  opts.precondition_resource_version = resource_version;
  opts.propagation_policy = policy;
  auto r = client().Delete(w.res, Ns(obj), Name(obj), opts);
  if (!r.ok() && (r.status().code() == StatusCode::kNotFound || r.status().code() == StatusCode::kConflict))
    return Status::Ok();  // gone, or replaced by another object of the same name
  return r.status();
}

Status GarbageCollector::AttemptToDelete(const Watched& w, const Json& obj, bool live) {
  const Json* refs = FindPath(obj, {"metadata", "ownerReferences"});
  if (!refs || !refs->is_array() || refs->empty()) return Status::Ok();
  std::vector<const Json*> solid, dangling, waiting;
  for (const Json& r : *refs) {
    auto st = Classify(obj, r);
    if (!st.ok()) {
      if (st.status().code() == StatusCode::kNotFound) {
        solid.push_back(&r);  // unknown kind: treat as alive
        continue;
      }
      return st.status();
    }
    (*st == OwnerState::kSolid ? solid : *st == OwnerState::kDangling ? dangling : waiting).push_back(&r);
  }
  if (!solid.empty()) {
    if (dangling.empty() && waiting.empty()) return Status::Ok();
    // Keep the object for its live owner; forget the others.
    Json patch_refs = Json::array();
    for (const Json* r : dangling) patch_refs.push_back({{"$patch", "delete"}, {"uid", GetString(*r, "uid")}});
    for (const Json* r : waiting) patch_refs.push_back({{"$patch", "delete"}, {"uid", GetString(*r, "uid")}});
    return PatchOwnerRefs(w, obj, patch_refs);
  }
  // About to delete: decide on the object as it is now, not as the cache saw it (an orphaning
  // owner may have just removed its reference), and delete only that version.
  std::string rv = GetStringPath(obj, {"metadata", "resourceVersion"});
  if (!live) {
    auto fresh = client().Get(w.res, Ns(obj), Name(obj));
    if (!fresh.ok()) return fresh.status().code() == StatusCode::kNotFound ? Status::Ok() : fresh.status();
    if (Uid(*fresh) != Uid(obj)) return Status::Ok();
    if (GetStringPath(*fresh, {"metadata", "resourceVersion"}) != rv) return AttemptToDelete(w, *fresh, true);
  }
  bool has_dependents = false;
  for (const Watched* x : AllWatched())
    if (!x->informer->ByIndex(kOwnerIndex, Uid(obj)).empty()) has_dependents = true;
  if (!waiting.empty() && has_dependents) {
    // Our owner waits for us, and we have dependents of our own: delete in the foreground too,
    // so the chain unwinds from the leaves.
    return DeleteObject(w, obj, "Foreground", rv);
  }
  std::string policy = HasFinalizer(obj, kOrphanFinalizer)        ? "Orphan"
                       : HasFinalizer(obj, kForegroundFinalizer) ? "Foreground"
                                                                  : "Background";
  return DeleteObject(w, obj, policy, rv);
}

Status GarbageCollector::RemoveFinalizer(const Watched& w, const Json& owner, std::string_view finalizer) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto fresh = client().Get(w.res, Ns(owner), Name(owner));
    if (!fresh.ok()) return fresh.status().code() == StatusCode::kNotFound ? Status::Ok() : fresh.status();
    if (Uid(*fresh) != Uid(owner) || !HasFinalizer(*fresh, finalizer)) return Status::Ok();
    Json next = *fresh;
    Json kept = Json::array();
    for (const Json& f : next["metadata"]["finalizers"])
      if (!(f.is_string() && f.get<std::string>() == finalizer)) kept.push_back(f);
    next["metadata"]["finalizers"] = kept;
    auto r = client().Update(w.res, Ns(owner), next);
    if (r.ok() || r.status().code() == StatusCode::kNotFound) {
      TUG_VLOG(2, "garbagecollector") << "removed finalizer" << kv("object", client::KeyOf(owner))
                                      << kv("finalizer", std::string(finalizer));
      return Status::Ok();
    }
    if (r.status().code() != StatusCode::kConflict) return r.status();
  }
  return ConflictError("removing finalizer " + std::string(finalizer) + " from " + client::KeyOf(owner) + ": too many conflicts");
}

// The dependents come from the API server, not from the informers: the finalizer goes once it
// is removed, and a dependent created just before the owner's deletion may not have reached this
// collector's informer yet (informers of different kinds are not ordered with each other). Missing
// it would leave a reference to an absent owner, and the dependent would be collected instead of
// orphaned. Orphaning is rare and user-driven, so a LIST per watched kind is affordable.
Status GarbageCollector::OrphanDependents(const Watched& w, const Json& owner) {
  std::string uid = Uid(owner);
  Json unref = Json::array({Json{{"$patch", "delete"}, {"uid", uid}}});
  std::string ns = w.res.namespaced ? Ns(owner) : "";
  for (const Watched* x : AllWatched()) {
    if (!ns.empty() && !x->res.namespaced) continue;  // a namespaced owner has no cluster-scoped dependents
    auto list = client().ListAll(x->res, ns);
    if (!list.ok()) {
      if (list.status().code() == StatusCode::kNotFound) continue;  // the kind went away (a deleted CRD)
      return list.status();
    }
    const Json* items = Find(*list, "items");
    if (!items || !items->is_array()) continue;
    for (const Json& d : *items) {
      const Json* refs = FindPath(d, {"metadata", "ownerReferences"});
      if (!refs || !refs->is_array()) continue;
      bool owned = false;
      for (const Json& r : *refs) owned = owned || GetString(r, "uid") == uid;
      if (!owned) continue;
      RETURN_IF_ERROR(PatchOwnerRefs(*x, d, unref));
    }
  }
  return RemoveFinalizer(w, owner, kOrphanFinalizer);
}

Status GarbageCollector::ProcessDeletingDependents(const Watched& w, const Json& owner) {
  std::string uid = Uid(owner);
  bool blocked = false;
  for (const Watched* x : AllWatched()) {
    for (const ObjectPtr& d : x->informer->ByIndex(kOwnerIndex, uid)) {
      const Json* refs = FindPath(*d, {"metadata", "ownerReferences"});
      for (const Json& r : *refs) {
        if (GetString(r, "uid") != uid) continue;
        const Json* b = Find(r, "blockOwnerDeletion");
        if (b && b->is_boolean() && b->get<bool>()) blocked = true;
      }
      // Every dependent goes (its own sync decides how); those already going are left alone.
      if (!framework::IsBeingDeleted(*d)) Enqueue(KeyFor(*x, *d));
    }
  }
  if (blocked) return Status::Ok();  // dependent deletions re-enqueue this owner
  return RemoveFinalizer(w, owner, kForegroundFinalizer);
}

Status GarbageCollector::Sync(const std::string& key) {
  size_t bar = key.find('|');
  if (bar == std::string::npos) return Status::Ok();
  std::string id = key.substr(0, bar), okey = key.substr(bar + 1);
  const Watched* w = nullptr;
  {
    std::lock_guard<std::mutex> l(watched_mu_);
    if (auto it = by_id_.find(id); it != by_id_.end()) w = it->second;
  }
  if (!w) return Status::Ok();
  ObjectPtr obj = w->informer->Get(okey);
  if (!obj) return Status::Ok();
  if (framework::IsBeingDeleted(*obj)) {
    if (HasFinalizer(*obj, kOrphanFinalizer)) return OrphanDependents(*w, *obj);
    if (HasFinalizer(*obj, kForegroundFinalizer)) return ProcessDeletingDependents(*w, *obj);
    return Status::Ok();  // being deleted already
  }
  return AttemptToDelete(*w, *obj);
}

}  // namespace

std::vector<std::string> WatchedResources() {
  std::vector<std::string> out;
  for (const auto& [g, p] : kWatched) out.push_back(g + "/" + p);
  return out;
}

Result<std::unique_ptr<framework::Controller>> NewGarbageCollector(const framework::ControllerContext& ctx) {
  ASSIGN_OR_RETURN(auto reg, api::Registry::Builtin());
  return std::unique_ptr<framework::Controller>(std::make_unique<GarbageCollector>(ctx, std::move(reg)));
}

}  // namespace tug::controllers::garbagecollector
