#include "controllers/replicaset/replica_set.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "base/log.h"

namespace tug::controllers::replicaset {
namespace {

using client::ObjectPtr;
using framework::GetInt;

// --- deletion ranking ----------------------------------------------------------------------

int PhaseOrdinal(const Json& pod) {
  std::string p = GetStringPath(pod, {"status", "phase"});
  if (p == "Unknown") return 1;
  if (p == "Running") return 2;
  return 0;  // Pending, empty, anything else
}

std::optional<SystemTime> TimeAt(const Json& j, std::string_view field) {
  auto t = ParseRFC3339(GetString(j, field));
  if (!t.ok()) return std::nullopt;
  return *t;
}

std::optional<SystemTime> ReadyTime(const Json& pod) {
  const Json* c = framework::FindCondition(pod, "Ready");
  if (!c || GetString(*c, "status") != "True") return std::nullopt;
  return TimeAt(*c, "lastTransitionTime");
}

std::optional<SystemTime> CreationTime(const Json& pod) {
  const Json* m = Find(pod, "metadata");
  if (!m) return std::nullopt;
  return TimeAt(*m, "creationTimestamp");
}

int64_t MaxRestarts(const Json& pod) {
  int64_t m = 0;
  const Json* cs = FindPath(pod, {"status", "containerStatuses"});
  if (cs && cs->is_array())
    for (const Json& c : *cs) m = std::max(m, GetInt(c, {"restartCount"}));
  return m;
}

int64_t DeletionCost(const Json& pod) {
  std::string v = GetStringPath(pod, {"metadata", "annotations", "controller.kubernetes.io/pod-deletion-cost"});
  if (v.empty()) return 0;
  try {
    size_t pos = 0;
    long long n = std::stoll(v, &pos);
    if (pos != v.size() || n < INT32_MIN || n > INT32_MAX) return 0;
    return n;
  } catch (...) {
    return 0;
  }
}

// floor(log2(age in ns)); ages of zero or less rank 0.
int LogRank(SystemTime t, SystemTime now) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - t).count();
  if (ns <= 1) return 0;
  return static_cast<int>(std::floor(std::log2(static_cast<double>(ns))));
}

struct Ranked {
  ObjectPtr pod;
  int rank = 0;
  bool assigned = false;
  int phase = 0;
  bool ready = false;
  int64_t cost = 0;
  std::optional<SystemTime> ready_at, created;
  int64_t restarts = 0;
  std::string uid;
};

// Compares two optional times as upstream's afterOrZero + logarithmic buckets: true when `a`
// should be deleted before `b` (zero first, then more recent first; same bucket → uid order).
std::optional<bool> NewerFirst(const std::optional<SystemTime>& a, const std::optional<SystemTime>& b,
                               SystemTime now, const std::string& ua, const std::string& ub) {
  if (a == b) return std::nullopt;
  if (!a || !b) return !a;
  int ra = LogRank(*a, now), rb = LogRank(*b, now);
  if (ra == rb) return ua < ub;
  return ra < rb;
}

bool DeleteBefore(const Ranked& a, const Ranked& b, SystemTime now) {
  if (a.assigned != b.assigned) return !a.assigned;
  if (a.phase != b.phase) return a.phase < b.phase;
  if (a.ready != b.ready) return !a.ready;
  if (a.cost != b.cost) return a.cost < b.cost;
  if (a.rank != b.rank) return a.rank > b.rank;
  if (a.ready && b.ready)
    if (auto r = NewerFirst(a.ready_at, b.ready_at, now, a.uid, b.uid)) return *r;
  if (a.restarts != b.restarts) return a.restarts > b.restarts;
  if (auto r = NewerFirst(a.created, b.created, now, a.uid, b.uid)) return *r;
  return false;
}

// --- the controller ------------------------------------------------------------------------

struct KindSpec {
  std::string name;              // controller name
  const client::Resource* res;
  bool map_selector;             // ReplicationController: spec.selector is a label map
};

class ReplicaSetController final : public framework::Controller {
 public:
  ReplicaSetController(const framework::ControllerContext& ctx, KindSpec kind)
      : Controller(kind.name, ctx), kind_(std::move(kind)), exp_(&clock()) {
    rs_ = &Informer(*kind_.res);
    pods_ = &Informer(client::kPods);
    pod_index_ = framework::AddControllerUidIndex(*pods_, kind_.name);
    rs_index_ = framework::AddControllerUidIndex(*rs_, kind_.name);
    rs_->AddHandler(client::EventHandler{
        .on_add = [this](const ObjectPtr& o) { Enqueue(*o); },
        .on_update = [this](const ObjectPtr&, const ObjectPtr& n) { Enqueue(*n); },
        .on_delete = [this](const ObjectPtr& o) {
          exp_.Delete(client::KeyOf(*o));
          Enqueue(*o);
        },
    });
    pods_->AddHandler(client::EventHandler{
        .on_add = [this](const ObjectPtr& p) { OnPodAdd(p); },
        .on_update = [this](const ObjectPtr& o, const ObjectPtr& n) { OnPodUpdate(o, n); },
        .on_delete = [this](const ObjectPtr& p) { OnPodDelete(p); },
    });
  }

 protected:
  Status Sync(const std::string& key) override;

 private:
  Result<client::LabelSelector> SelectorOf(const Json& rs) const {
    const Json* sel = FindPath(rs, {"spec", "selector"});
    if (kind_.map_selector) {
      if (!sel || !sel->is_object() || sel->empty()) return client::LabelSelector::FromJson(nullptr, false);
      Json s = {{"matchLabels", *sel}};
      return client::LabelSelector::FromJson(&s, false);
    }
    return client::LabelSelector::FromJson(sel, false);
  }

  // The ReplicaSet a controller ref points at, if it is ours and the uid matches.
  ObjectPtr ResolveRef(const std::string& ns, const Json& ref) const {
    if (GetString(ref, "kind") != kind_.res->kind) return nullptr;
    ObjectPtr rs = rs_->Get(ns + "/" + GetString(ref, "name"));
    if (!rs || GetStringPath(*rs, {"metadata", "uid"}) != GetString(ref, "uid")) return nullptr;
    return rs;
  }

  void EnqueueMatching(const Json& pod) {
    std::string ns = GetStringPath(pod, {"metadata", "namespace"});
    const Json* labels = FindPath(pod, {"metadata", "labels"});
    if (!labels || labels->empty()) return;
    for (const ObjectPtr& rs : rs_->List(ns)) {
      auto sel = SelectorOf(*rs);
      if (sel.ok() && !sel->Empty() && sel->Matches(labels)) Enqueue(*rs);
    }
  }

  void OnPodAdd(const ObjectPtr& pod) {
    if (framework::IsBeingDeleted(*pod)) {
      OnPodDelete(pod);  // a restarted controller sees a pod pending graceful deletion
      return;
    }
    std::string ns = GetStringPath(*pod, {"metadata", "namespace"});
    if (const Json* ref = framework::GetControllerOf(*pod)) {
      if (ObjectPtr rs = ResolveRef(ns, *ref)) {
        std::string key = client::KeyOf(*rs);
        exp_.CreationObserved(key);
        Enqueue(key);
      }
      return;
    }
    EnqueueMatching(*pod);
  }

  void OnPodUpdate(const ObjectPtr& old_pod, const ObjectPtr& pod) {
    if (GetStringPath(*old_pod, {"metadata", "resourceVersion"}) == GetStringPath(*pod, {"metadata", "resourceVersion"}))
      return;  // periodic resync: nothing changed
    std::string ns = GetStringPath(*pod, {"metadata", "namespace"});
    if (framework::IsBeingDeleted(*pod) && !framework::IsBeingDeleted(*old_pod)) {
      // Graceful deletion started: for expectations this is the delete we were waiting for.
      OnPodDelete(pod);
      return;
    }
    const Json* old_ref = framework::GetControllerOf(*old_pod);
    const Json* ref = framework::GetControllerOf(*pod);
    if (old_ref && (!ref || GetString(*old_ref, "uid") != GetString(*ref, "uid")))
      if (ObjectPtr rs = ResolveRef(ns, *old_ref)) Enqueue(*rs);
    if (ref) {
      if (ObjectPtr rs = ResolveRef(ns, *ref)) {
        Enqueue(*rs);
        // A pod that just became ready becomes available minReadySeconds later: look again then.
        int64_t mrs = GetInt(*rs, {"spec", "minReadySeconds"});
        if (mrs > 0 && !framework::IsPodReady(*old_pod) && framework::IsPodReady(*pod))
          EnqueueAfter(client::KeyOf(*rs), std::chrono::seconds(mrs) + std::chrono::seconds(1));
      }
      return;
    }
    if (FindPath(*old_pod, {"metadata", "labels"}) != nullptr || FindPath(*pod, {"metadata", "labels"}) != nullptr)
      EnqueueMatching(*pod);
  }

  void OnPodDelete(const ObjectPtr& pod) {
    const Json* ref = framework::GetControllerOf(*pod);
    if (!ref) return;
    std::string ns = GetStringPath(*pod, {"metadata", "namespace"});
    if (ObjectPtr rs = ResolveRef(ns, *ref)) {
      std::string key = client::KeyOf(*rs);
      exp_.DeletionObserved(key, GetStringPath(*pod, {"metadata", "uid"}));
      Enqueue(key);
    }
  }

  // Active pods controlled by any ReplicaSet that shares this one's controller (Deployment).
  std::vector<ObjectPtr> RelatedPods(const Json& rs, const std::vector<ObjectPtr>& own) const {
    const Json* ref = framework::GetControllerOf(rs);
    if (!ref) return own;
    std::vector<ObjectPtr> out;
    for (const ObjectPtr& sib : rs_->ByIndex(rs_index_, GetString(*ref, "uid")))
      for (const ObjectPtr& p : pods_->ByIndex(pod_index_, GetStringPath(*sib, {"metadata", "uid"})))
        if (framework::IsPodActive(*p)) out.push_back(p);
    return out;
  }

  Status ManageReplicas(const std::string& key, const Json& rs, const std::vector<ObjectPtr>& pods);
  Status UpdateStatus(const Json& rs, const std::vector<ObjectPtr>& pods, const Status& manage_err);

  KindSpec kind_;
  framework::Expectations exp_;
  client::Informer* rs_;
  client::Informer* pods_;
  std::string pod_index_, rs_index_;
};

Status ReplicaSetController::Sync(const std::string& key) {
  ObjectPtr rs = rs_->Get(key);
  if (!rs) {
    exp_.Delete(key);
    return Status::Ok();
  }
  bool needs_sync = exp_.Satisfied(key);
  auto sel = SelectorOf(*rs);
  if (!sel.ok()) {
    // A bad selector is the object's problem, not a retryable error (upstream logs and drops it).
    TUG_LOG(WARNING, "replicaset") << "invalid selector" << kv("key", key) << kv("error", sel.status().ToString());
    return Status::Ok();
  }
  std::vector<ObjectPtr> candidates = framework::ClaimCandidates(*pods_, pod_index_, *rs);
  std::erase_if(candidates, [](const ObjectPtr& p) { return !framework::IsPodActive(*p); });
  Json ref = framework::MakeControllerRef(*rs, kind_.res->ApiVersion(), kind_.res->kind);
  auto claim = framework::ClaimObjects(client(), client::kPods, *rs, ref, *sel, candidates,
                                       framework::RecheckOwner(client(), *kind_.res, *rs));
  if (!claim.status.ok()) return claim.status;

  Status manage_err;
  if (needs_sync && !framework::IsBeingDeleted(*rs)) manage_err = ManageReplicas(key, *rs, claim.owned);
  Status st = UpdateStatus(*rs, claim.owned, manage_err);
  if (!manage_err.ok()) return manage_err;
  return st;
}

Status ReplicaSetController::ManageReplicas(const std::string& key, const Json& rs, const std::vector<ObjectPtr>& pods) {
  int64_t want = GetInt(rs, {"spec", "replicas"}, 1);
  int64_t diff = static_cast<int64_t>(pods.size()) - want;
  if (diff < 0) {
    int n = static_cast<int>(std::min<int64_t>(-diff, kBurstReplicas));
    exp_.ExpectCreations(key, n);
    TUG_VLOG(2, "replicaset") << "too few replicas" << kv("key", key) << kv("need", want) << kv("creating", n);
    const Json* tmpl = FindPath(rs, {"spec", "template"});
    Json empty = Json::object();
    Json ref = framework::MakeControllerRef(rs, kind_.res->ApiVersion(), kind_.res->kind);
    // Slow start: batches of 1, 2, 4, ...; a batch with a failure ends the sync, so a quota or
    // admission error costs one failed call, not hundreds.
    int done = 0, ok = 0;
    Status first_err;
    for (int batch = 1; done < n; batch *= 2) {
      int size = std::min(batch, n - done);
      int failed = 0;
      for (int i = 0; i < size; ++i) {
        auto created = framework::CreatePodFromTemplate(client(), tmpl ? *tmpl : empty, rs, ref);
        if (created.ok()) {
          ++ok;
          recorder().Record(rs, "Normal", "SuccessfulCreate",
                            "Created pod: " + GetStringPath(*created, {"metadata", "name"}));
        } else if (created.status().code() == StatusCode::kTimeout) {
          ++ok;  // may well have been created; the informer will tell
        } else if (framework::IsNamespaceTerminating(created.status())) {
          // Every create will fail the same way: nothing to do, nothing to report.
          for (int j = ok; j < n; ++j) exp_.CreationObserved(key);
          return Status::Ok();
        } else {
          ++failed;
          if (first_err.ok()) first_err = created.status();
          recorder().Record(rs, "Warning", "FailedCreate", "Error creating: " + created.status().message());
        }
      }
      done += size;
      if (failed > 0) break;
    }
    // Creations that never happened will never be observed.
    for (int i = ok; i < n; ++i) exp_.CreationObserved(key);
    return first_err;
  }
  if (diff > 0) {
    size_t n = static_cast<size_t>(std::min<int64_t>(diff, kBurstReplicas));
    TUG_VLOG(2, "replicaset") << "too many replicas" << kv("key", key) << kv("need", want) << kv("deleting", n);
    std::vector<ObjectPtr> victims = PodsToDelete(pods, RelatedPods(rs, pods), n, clock().Now());
    std::vector<std::string> uids;
    for (const ObjectPtr& p : victims) uids.push_back(GetStringPath(*p, {"metadata", "uid"}));
    exp_.ExpectDeletions(key, uids);
    Status first_err;
    for (const ObjectPtr& p : victims) {
      std::string name = GetStringPath(*p, {"metadata", "name"});
      client::DeleteOptions opts;
      opts.precondition_uid = GetStringPath(*p, {"metadata", "uid"});
      auto r = client().Delete(client::kPods, GetStringPath(*p, {"metadata", "namespace"}), name, opts);
      if (r.ok()) {
        recorder().Record(rs, "Normal", "SuccessfulDelete", "Deleted pod: " + name);
        continue;
      }
      exp_.DeletionObserved(key, opts.precondition_uid);
      if (r.status().code() == StatusCode::kNotFound) continue;
      if (first_err.ok()) first_err = r.status();
      recorder().Record(rs, "Warning", "FailedDelete", "Error deleting: " + r.status().message());
    }
    return first_err;
  }
  return Status::Ok();
}

void SetOrErase(Json& obj, const char* key, int64_t v) {
  if (v == 0)
    obj.erase(key);
  else
    obj[key] = v;
}

Status ReplicaSetController::UpdateStatus(const Json& rs, const std::vector<ObjectPtr>& pods, const Status& manage_err) {
  const Json* tl = FindPath(rs, {"spec", "template", "metadata", "labels"});
  int64_t min_ready = GetInt(rs, {"spec", "minReadySeconds"});
  SystemTime now = clock().Now();
  int64_t fully = 0, ready = 0, available = 0;
  for (const ObjectPtr& p : pods) {
    const Json* pl = FindPath(*p, {"metadata", "labels"});
    bool all = true;
    if (tl && tl->is_object())
      for (auto it = tl->begin(); it != tl->end(); ++it)
        if (!pl || !pl->contains(it.key()) || (*pl)[it.key()] != it.value()) all = false;
    if (all) ++fully;
    if (framework::IsPodReady(*p)) {
      ++ready;
      if (framework::IsPodAvailable(*p, min_ready, now)) ++available;
    }
  }
  auto apply = [&](Json& obj) {
    Json& st = obj["status"];
    if (!st.is_object()) st = Json::object();
    st["replicas"] = static_cast<int64_t>(pods.size());
    SetOrErase(st, "fullyLabeledReplicas", fully);
    SetOrErase(st, "readyReplicas", ready);
    SetOrErase(st, "availableReplicas", available);
    SetOrErase(st, "observedGeneration", GetInt(obj, {"metadata", "generation"}));
    const Json* failure = framework::FindCondition(obj, "ReplicaFailure");
    if (!manage_err.ok() && !failure) {
      int64_t diff = static_cast<int64_t>(pods.size()) - GetInt(obj, {"spec", "replicas"}, 1);
      std::string reason = diff < 0 ? "FailedCreate" : diff > 0 ? "FailedDelete" : "";
      framework::SetCondition(obj, "ReplicaFailure", "True", reason, manage_err.message(), clock().Now(), false);
    } else if (manage_err.ok() && failure) {
      framework::RemoveCondition(obj, "ReplicaFailure");
      if (obj["status"]["conditions"].empty()) obj["status"].erase("conditions");
    }
  };
  Json next = rs;
  apply(next);
  if (next == rs) {
    // Nothing to write; still look again when a ready pod will turn available.
  } else {
    auto r = client().UpdateStatus(*kind_.res, GetStringPath(rs, {"metadata", "namespace"}), next);
    if (!r.ok() && r.status().code() == StatusCode::kConflict) {
      // The cache is behind: apply the same status to the fresh object once.
      auto fresh = client().Get(*kind_.res, GetStringPath(rs, {"metadata", "namespace"}), GetStringPath(rs, {"metadata", "name"}));
      if (!fresh.ok()) return fresh.status();
      Json again = *fresh;
      apply(again);
      r = client().UpdateStatus(*kind_.res, GetStringPath(rs, {"metadata", "namespace"}), again);
    }
    if (!r.ok()) return r.status();
  }
  if (min_ready > 0 && ready == GetInt(rs, {"spec", "replicas"}, 1) && available != ready) {
    // Wake up when the next pod becomes available.
    std::optional<SystemTime> next_at;
    for (const ObjectPtr& p : pods) {
      auto at = framework::PodAvailableAt(*p, min_ready);
      if (at && *at > now && (!next_at || *at < *next_at)) next_at = *at;
    }
    auto delay = next_at ? std::chrono::duration_cast<std::chrono::milliseconds>(*next_at - now) + std::chrono::milliseconds(100)
                         : std::chrono::milliseconds(std::chrono::seconds(min_ready));
    EnqueueAfter(client::KeyOf(rs), delay);
  }
  return Status::Ok();
}

}  // namespace

std::vector<client::ObjectPtr> PodsToDelete(const std::vector<client::ObjectPtr>& pods,
                                            const std::vector<client::ObjectPtr>& related, size_t diff, SystemTime now) {
  if (diff >= pods.size()) return pods;
  std::map<std::string, int> per_node;
  for (const ObjectPtr& p : related) {
    std::string node = GetStringPath(*p, {"spec", "nodeName"});
    if (!node.empty()) ++per_node[node];
  }
  std::vector<Ranked> ranked;
  ranked.reserve(pods.size());
  for (const ObjectPtr& p : pods) {
    Ranked r;
    r.pod = p;
    std::string node = GetStringPath(*p, {"spec", "nodeName"});
    r.assigned = !node.empty();
    r.rank = r.assigned ? per_node[node] : 0;
    r.phase = PhaseOrdinal(*p);
    r.ready = framework::IsPodReady(*p);
    r.cost = DeletionCost(*p);
    r.ready_at = ReadyTime(*p);
    r.created = CreationTime(*p);
    r.restarts = MaxRestarts(*p);
    r.uid = GetStringPath(*p, {"metadata", "uid"});
    ranked.push_back(std::move(r));
  }
  std::stable_sort(ranked.begin(), ranked.end(), [now](const Ranked& a, const Ranked& b) { return DeleteBefore(a, b, now); });
  std::vector<ObjectPtr> out;
  for (size_t i = 0; i < diff; ++i) out.push_back(ranked[i].pod);
  return out;
}

std::unique_ptr<framework::Controller> NewReplicaSetController(const framework::ControllerContext& ctx) {
  return std::make_unique<ReplicaSetController>(ctx, KindSpec{"replicaset", &client::kReplicaSets, false});
}

std::unique_ptr<framework::Controller> NewReplicationControllerController(const framework::ControllerContext& ctx) {
  return std::make_unique<ReplicaSetController>(ctx, KindSpec{"replicationcontroller", &client::kReplicationControllers, true});
}

}  // namespace tug::controllers::replicaset
