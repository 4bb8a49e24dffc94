#include "controllers/deployment/deployment.h"

#include <algorithm>
#include <climits>

#include "base/log.h"
#include "controllers/deployment/rollout.h"

namespace tug::controllers::deployment {
namespace {

using client::ObjectPtr;
using framework::GetInt;
using RSPtr = std::shared_ptr<Json>;  // a mutable copy of a ReplicaSet for the length of one sync
using RSList = std::vector<RSPtr>;

std::vector<const Json*> Ptrs(const RSList& l) {
  std::vector<const Json*> out;
  for (const RSPtr& p : l)
    if (p) out.push_back(p.get());
  return out;
}

std::string Name(const Json& o) { return GetStringPath(o, {"metadata", "name"}); }
std::string Ns(const Json& o) { return GetStringPath(o, {"metadata", "namespace"}); }
std::string Created(const Json& o) { return GetStringPath(o, {"metadata", "creationTimestamp"}); }

// Older first; same second → by name (upstream ReplicaSetsByCreationTimestamp).
bool OlderFirst(const RSPtr& a, const RSPtr& b) {
  std::string ca = Created(*a), cb = Created(*b);
  if (ca != cb) return ca < cb;
  return Name(*a) < Name(*b);
}

bool HasProgressDeadline(const Json& d) {
  const Json* p = FindPath(d, {"spec", "progressDeadlineSeconds"});
  return p && p->is_number_integer() && p->get<int64_t>() != INT32_MAX;
}

void SetOrErase(Json& obj, const char* key, int64_t v) {
  if (v == 0)
    obj.erase(key);
  else
    obj[key] = v;
}

void TidyConditions(Json& d) {
  if (d.contains("status") && d["status"].is_object() && d["status"].contains("conditions") &&
      d["status"]["conditions"].is_array() && d["status"]["conditions"].empty())
    d["status"].erase("conditions");
}

class DeploymentController final : public framework::Controller {
 public:
  explicit DeploymentController(const framework::ControllerContext& ctx) : Controller("deployment", ctx) {
    d_ = &Informer(client::kDeployments);
    rs_ = &Informer(client::kReplicaSets);
    pods_ = &Informer(client::kPods);
    rs_index_ = framework::AddControllerUidIndex(*rs_, "deployment");
    pod_index_ = framework::AddControllerUidIndex(*pods_, "deployment");
    d_->AddHandler(EnqueueHandler());
    rs_->AddHandler(client::EventHandler{
        .on_add = [this](const ObjectPtr& rs) { OnRS(nullptr, rs); },
        .on_update = [this](const ObjectPtr& o, const ObjectPtr& n) { OnRS(o, n); },
        .on_delete = [this](const ObjectPtr& rs) {
          if (const Json* ref = framework::GetControllerOf(*rs))
            if (ObjectPtr d = Resolve(Ns(*rs), *ref)) Enqueue(*d);
        },
    });
    pods_->AddHandler(client::EventHandler{
        .on_add = {},
        .on_update = {},
        .on_delete = [this](const ObjectPtr& pod) {
          // Recreate waits for old pods to be gone: a pod deletion may unblock it.
          const Json* ref = framework::GetControllerOf(*pod);
          if (!ref || GetString(*ref, "kind") != "ReplicaSet") return;
          ObjectPtr rs = rs_->Get(Ns(*pod) + "/" + GetString(*ref, "name"));
          if (!rs) return;
          if (const Json* dref = framework::GetControllerOf(*rs))
            if (ObjectPtr d = Resolve(Ns(*rs), *dref); d && GetStringPath(*d, {"spec", "strategy", "type"}) == "Recreate")
              Enqueue(*d);
        },
    });
  }

 protected:
  Status Sync(const std::string& key) override;

 private:
  ObjectPtr Resolve(const std::string& ns, const Json& ref) const {
    if (GetString(ref, "kind") != "Deployment") return nullptr;
    ObjectPtr d = d_->Get(ns + "/" + GetString(ref, "name"));
    if (!d || GetStringPath(*d, {"metadata", "uid"}) != GetString(ref, "uid")) return nullptr;
    return d;
  }

  void OnRS(const ObjectPtr& old_rs, const ObjectPtr& rs) {
    std::string ns = Ns(*rs);
    if (old_rs && GetStringPath(*old_rs, {"metadata", "resourceVersion"}) == GetStringPath(*rs, {"metadata", "resourceVersion"}))
      return;
    const Json* ref = framework::GetControllerOf(*rs);
    if (old_rs) {
      const Json* old_ref = framework::GetControllerOf(*old_rs);
      if (old_ref && (!ref || GetString(*old_ref, "uid") != GetString(*ref, "uid")))
        if (ObjectPtr d = Resolve(ns, *old_ref)) Enqueue(*d);
    }
    if (ref) {
      if (ObjectPtr d = Resolve(ns, *ref)) Enqueue(*d);
      return;
    }
    // An orphan: every Deployment that selects it may adopt it.
    const Json* labels = FindPath(*rs, {"metadata", "labels"});
    for (const ObjectPtr& d : d_->List(ns)) {
      auto sel = client::LabelSelector::FromJson(FindPath(*d, {"spec", "selector"}), false);
      if (sel.ok() && !sel->Empty() && sel->Matches(labels)) Enqueue(*d);
    }
  }

  Result<RSList> ClaimReplicaSets(const Json& d, const client::LabelSelector& sel);
  Status UpdateDeploymentStatus(Json& d);
  Status SetDeploymentRevision(Json& d, const std::string& revision);
  Result<std::pair<RSPtr, RSList>> AllReplicaSetsAndSyncRevision(Json& d, const RSList& rs_list, bool create);
  Result<RSPtr> NewReplicaSet(Json& d, const RSList& rs_list, const RSList& old_rss, bool create);
  Result<bool> ScaleReplicaSet(RSPtr& rs, int64_t new_scale, const Json& d, const std::string& op);
  Result<bool> ScaleAndRecord(RSPtr& rs, int64_t new_scale, const Json& d);
  Status Scale(Json& d, RSPtr new_rs, RSList old_rss);
  Status SyncScale(Json& d, const RSList& rs_list);
  Status Cleanup(const RSList& old_rss, const Json& d);
  Json CalculateStatus(const RSList& all, const RSPtr& new_rs, const Json& d);
  Status SyncDeploymentStatus(const RSList& all, const RSPtr& new_rs, Json& d);
  Status SyncRolloutStatus(const RSList& all, const RSPtr& new_rs, Json& d);
  void RequeueStuck(const Json& d, const Json& new_status);
  Status CheckPausedConditions(Json& d);
  Status RolloutRolling(Json& d, const RSList& rs_list);
  Status RolloutRecreate(Json& d, const RSList& rs_list);
  Result<bool> ReconcileNewReplicaSet(const RSList& all, RSPtr& new_rs, const Json& d);
  Result<bool> ReconcileOldReplicaSets(const RSList& all, RSList old_rss, const RSPtr& new_rs, const Json& d);
  bool OldPodsRunning(const RSPtr& new_rs, const RSList& old_rss);

  client::Informer* d_;
  client::Informer* rs_;
  client::Informer* pods_;
  std::string rs_index_, pod_index_;
};

Result<RSList> DeploymentController::ClaimReplicaSets(const Json& d, const client::LabelSelector& sel) {
  std::vector<ObjectPtr> candidates = framework::ClaimCandidates(*rs_, rs_index_, d);
  Json ref = framework::MakeControllerRef(d, "apps/v1", "Deployment");
  auto claim = framework::ClaimObjects(client(), client::kReplicaSets, d, ref, sel, candidates,
                                       framework::RecheckOwner(client(), client::kDeployments, d));
  if (!claim.status.ok()) return claim.status;
  RSList out;
  for (const ObjectPtr& o : claim.owned) {
    auto p = std::make_shared<Json>(*o);
    // An adopted RS carries the ref only on the server so far; mirror it so later reads agree.
    if (!framework::IsControlledBy(*p, d)) {
      Json& refs = (*p)["metadata"]["ownerReferences"];
      if (!refs.is_array()) refs = Json::array();
      refs.push_back(ref);
    }
    out.push_back(std::move(p));
  }
  return out;
}

Status DeploymentController::SetDeploymentRevision(Json& d, const std::string& revision) {
  if (revision.empty() || GetStringPath(d, {"metadata", "annotations", kRevisionAnnotation}) == revision)
    return Status::Ok();
  // Upstream writes the annotation with the status update (its status strategy keeps metadata
  // changes); a metadata-only patch of the main resource works whatever the status strategy does
  // and does not change the generation. The uid guards against a re-created namespace/name.
  Json patch = {{"metadata", {{"annotations", {{kRevisionAnnotation, revision}}}, {"uid", GetStringPath(d, {"metadata", "uid"})}}}};
  auto r = client().Patch(client::kDeployments, Ns(d), Name(d), client::PatchType::kMerge, DumpJson(patch));
  if (!r.ok()) return r.status();
  // Keep status changes made in this sync but not yet written.
  Json status = d.contains("status") ? d["status"] : Json();
  d = std::move(*r);
  if (!status.is_null()) d["status"] = std::move(status);
  return Status::Ok();
}

Status DeploymentController::UpdateDeploymentStatus(Json& d) {
  TidyConditions(d);
  auto r = client().UpdateStatus(client::kDeployments, Ns(d), d);
  if (!r.ok()) return r.status();
  d = std::move(*r);
  return Status::Ok();
}

Result<RSPtr> DeploymentController::NewReplicaSet(Json& d, const RSList& rs_list, const RSList& old_rss, bool create) {
  const Json empty = Json::object();
  const Json* dt = FindPath(d, {"spec", "template"});
  const Json& d_template = dt ? *dt : empty;
  RSPtr existing;
  {
    RSList sorted = rs_list;
    std::sort(sorted.begin(), sorted.end(), OlderFirst);
    for (const RSPtr& rs : sorted) {
      const Json* t = FindPath(*rs, {"spec", "template"});
      if (EqualIgnoreHash(t ? *t : empty, d_template)) {
        existing = rs;
        break;
      }
    }
  }
  int64_t max_old = 0;
  for (const RSPtr& rs : old_rss) max_old = std::max(max_old, Revision(*rs));
  std::string new_revision = std::to_string(max_old + 1);
  int64_t min_ready = GetInt(d, {"spec", "minReadySeconds"});

  if (existing) {
    Json copy = *existing;
    bool ann = SetNewReplicaSetAnnotations(d, copy, new_revision, true);
    bool mrs = GetInt(copy, {"spec", "minReadySeconds"}) != min_ready;
    if (ann || mrs) {
      SetOrErase(copy["spec"], "minReadySeconds", min_ready);
      auto r = client().Update(client::kReplicaSets, Ns(copy), copy);
      if (!r.ok()) return r.status();
      *existing = std::move(*r);
    }
    bool needs_update = false;
    RETURN_IF_ERROR(SetDeploymentRevision(d, GetStringPath(*existing, {"metadata", "annotations", kRevisionAnnotation})));
    if (HasProgressDeadline(d) && !framework::FindCondition(d, "Progressing")) {
      framework::SetCondition(d, "Progressing", "True", kFoundNewRSReason,
                              "Found new replica set \"" + Name(*existing) + "\"", clock().Now(), true);
      needs_update = true;
    }
    if (needs_update) RETURN_IF_ERROR(UpdateDeploymentStatus(d));
    return existing;
  }
  if (!create) return RSPtr();

  // A new ReplicaSet for the current template.
  const Json* cc = FindPath(d, {"status", "collisionCount"});
  std::optional<int64_t> collision;
  if (cc && cc->is_number_integer()) collision = cc->get<int64_t>();
  std::string hash = ComputeHash(d_template, collision);
  Json tmpl = d_template;
  tmpl["metadata"]["labels"][kPodTemplateHashLabel] = hash;
  Json selector = FindPath(d, {"spec", "selector"}) ? *FindPath(d, {"spec", "selector"}) : Json::object();
  selector["matchLabels"][kPodTemplateHashLabel] = hash;
  auto rs = std::make_shared<Json>(Json{
      {"apiVersion", "apps/v1"},
      {"kind", "ReplicaSet"},
      {"metadata",
       {{"name", Name(d) + "-" + hash},
        {"namespace", Ns(d)},
        {"ownerReferences", Json::array({framework::MakeControllerRef(d, "apps/v1", "Deployment")})},
        {"labels", tmpl["metadata"]["labels"]}}},
      {"spec", {{"replicas", 0}, {"selector", selector}, {"template", tmpl}}},
  });
  if (min_ready > 0) (*rs)["spec"]["minReadySeconds"] = min_ready;
  RSList all = old_rss;
  all.push_back(rs);
  int64_t new_replicas = NewRSNewReplicas(d, Ptrs(all), *rs);
  (*rs)["spec"]["replicas"] = new_replicas;
  SetNewReplicaSetAnnotations(d, *rs, new_revision, false);

  bool already_exists = false;
  RSPtr created;
  auto r = client().Create(client::kReplicaSets, Ns(d), *rs);
  if (r.ok()) {
    created = std::make_shared<Json>(std::move(*r));
  } else if (r.status().code() == StatusCode::kAlreadyExists) {
    auto got = client().Get(client::kReplicaSets, Ns(d), Name(*rs));
    if (!got.ok()) return got.status();
    const Json* t = FindPath(*got, {"spec", "template"});
    if (framework::IsControlledBy(*got, d) && EqualIgnoreHash(t ? *t : empty, d_template)) {
      created = std::make_shared<Json>(std::move(*got));
      already_exists = true;
    } else {
      // A hash collision: bump collisionCount so the next sync computes another name.
      int64_t next = collision ? *collision + 1 : 1;
      d["status"]["collisionCount"] = next;
      TUG_VLOG(2, "deployment") << "hash collision" << kv("deployment", Ns(d) + "/" + Name(d)) << kv("collisionCount", next);
      Status st = UpdateDeploymentStatus(d);
      if (!st.ok()) return st;
      return r.status();
    }
  } else {
    std::string msg = "Failed to create new replica set \"" + Name(*rs) + "\": " + r.status().message();
    if (HasProgressDeadline(d)) {
      framework::SetCondition(d, "Progressing", "False", kFailedRSCreateReason, msg, clock().Now(), true);
      UpdateDeploymentStatus(d).IgnoreError();  // the create error is what gets retried
    }
    recorder().Record(d, "Warning", "FailedCreate", msg);
    return r.status();
  }
  if (!already_exists && new_replicas > 0)
    recorder().Record(d, "Normal", "ScalingReplicaSet",
                      "Scaled up replica set " + Name(*created) + " to " + std::to_string(new_replicas));
  bool needs_update = false;
  RETURN_IF_ERROR(SetDeploymentRevision(d, new_revision));
  if (!already_exists && HasProgressDeadline(d)) {
    framework::SetCondition(d, "Progressing", "True", kNewReplicaSetReason,
                            "Created new replica set \"" + Name(*created) + "\"", clock().Now(), true);
    needs_update = true;
  }
  if (needs_update) RETURN_IF_ERROR(UpdateDeploymentStatus(d));
  return created;
}

Result<std::pair<RSPtr, RSList>> DeploymentController::AllReplicaSetsAndSyncRevision(Json& d, const RSList& rs_list,
                                                                                     bool create) {
  // Old = every RS whose template is not the current one.
  const Json empty = Json::object();
  const Json* dt = FindPath(d, {"spec", "template"});
  RSPtr current;
  {
    RSList sorted = rs_list;
    std::sort(sorted.begin(), sorted.end(), OlderFirst);
    for (const RSPtr& rs : sorted) {
      const Json* t = FindPath(*rs, {"spec", "template"});
      if (EqualIgnoreHash(t ? *t : empty, dt ? *dt : empty)) {
        current = rs;
        break;
      }
    }
  }
  RSList old_rss;
  for (const RSPtr& rs : rs_list)
    if (rs != current) old_rss.push_back(rs);
  ASSIGN_OR_RETURN(RSPtr new_rs, NewReplicaSet(d, rs_list, old_rss, create));
  return std::make_pair(new_rs, old_rss);
}

Result<bool> DeploymentController::ScaleReplicaSet(RSPtr& rs, int64_t new_scale, const Json& d, const std::string& op) {
  int64_t old_scale = Replicas(*rs);
  bool size_needs = old_scale != new_scale;
  int64_t desired = Replicas(d), max = desired + MaxSurge(d);
  bool ann_needs = ReplicasAnnotationsNeedUpdate(*rs, desired, max);
  if (!size_needs && !ann_needs) return false;
  Json copy = *rs;
  copy["spec"]["replicas"] = new_scale;
  SetReplicasAnnotations(copy, desired, max);
  auto r = client().Update(client::kReplicaSets, Ns(copy), copy);
  if (!r.ok()) return r.status();
  rs = std::make_shared<Json>(std::move(*r));
  if (size_needs)
    recorder().Record(d, "Normal", "ScalingReplicaSet",
                      "Scaled " + op + " replica set " + Name(*rs) + " to " + std::to_string(new_scale) + " from " +
                          std::to_string(old_scale));
  return size_needs;
}

Result<bool> DeploymentController::ScaleAndRecord(RSPtr& rs, int64_t new_scale, const Json& d) {
  if (Replicas(*rs) == new_scale) return false;
  return ScaleReplicaSet(rs, new_scale, d, Replicas(*rs) < new_scale ? "up" : "down");
}

Status DeploymentController::Scale(Json& d, RSPtr new_rs, RSList old_rss) {
  int64_t want = Replicas(d);
  // One active (or no active: the newest) RS takes the whole count.
  {
    RSList olds = old_rss;
    std::sort(olds.begin(), olds.end(), [](const RSPtr& a, const RSPtr& b) { return OlderFirst(b, a); });
    RSList active;
    for (const RSPtr& rs : olds)
      if (Replicas(*rs) > 0) active.push_back(rs);
    if (new_rs && Replicas(*new_rs) > 0) active.push_back(new_rs);
    RSPtr target;
    if (active.empty() && (new_rs || !olds.empty())) target = new_rs ? new_rs : olds.front();
    if (active.size() == 1) target = active.front();
    if (target) {
      if (Replicas(*target) == want) return Status::Ok();
      auto r = ScaleAndRecord(target, want, d);
      return r.status();
    }
  }
  // A saturated new RS: every old one goes to zero.
  if (new_rs && IntAnnotation(*new_rs, kDesiredReplicasAnnotation) == want && Replicas(*new_rs) == want &&
      GetInt(*new_rs, {"status", "availableReplicas"}) == want) {
    for (RSPtr& rs : old_rss) {
      if (Replicas(*rs) == 0) continue;
      auto r = ScaleAndRecord(rs, 0, d);
      if (!r.ok()) return r.status();
    }
    return Status::Ok();
  }
  if (!IsRollingUpdate(d)) return Status::Ok();
  // Proportional scaling across the active RSs of a rollout in progress.
  RSList all;
  for (const RSPtr& rs : old_rss)
    if (Replicas(*rs) > 0) all.push_back(rs);
  if (new_rs && Replicas(*new_rs) > 0) all.push_back(new_rs);
  int64_t all_replicas = SpecReplicas(Ptrs(all));
  int64_t allowed = want > 0 ? want + MaxSurge(d) : 0;
  int64_t to_add = allowed - all_replicas;
  std::string op;
  if (to_add > 0) {
    // Bigger first; same size: newer first.
    std::sort(all.begin(), all.end(), [](const RSPtr& a, const RSPtr& b) {
      if (Replicas(*a) != Replicas(*b)) return Replicas(*a) > Replicas(*b);
      return OlderFirst(b, a);
    });
    op = "up";
  } else if (to_add < 0) {
    // Bigger first; same size: older first.
    std::sort(all.begin(), all.end(), [](const RSPtr& a, const RSPtr& b) {
      if (Replicas(*a) != Replicas(*b)) return Replicas(*a) > Replicas(*b);
      return OlderFirst(a, b);
    });
    op = "down";
  }
  int64_t added = 0;
  std::vector<int64_t> sizes;
  for (const RSPtr& rs : all) {
    if (to_add != 0) {
      int64_t p = ReplicaSetProportion(*rs, d, to_add, added);
      sizes.push_back(Replicas(*rs) + p);
      added += p;
    } else {
      sizes.push_back(Replicas(*rs));
    }
  }
  for (size_t i = 0; i < all.size(); ++i) {
    if (i == 0 && to_add != 0) {
      sizes[0] += to_add - added;  // leftovers go to the largest
      if (sizes[0] < 0) sizes[0] = 0;
    }
    auto r = ScaleReplicaSet(all[i], sizes[i], d, op);
    if (!r.ok()) return r.status();
  }
  return Status::Ok();
}

Status DeploymentController::Cleanup(const RSList& old_rss, const Json& d) {
  const Json* lim = FindPath(d, {"spec", "revisionHistoryLimit"});
  if (!lim || !lim->is_number_integer()) return Status::Ok();
  RSList cleanable;
  for (const RSPtr& rs : old_rss)
    if (rs && !framework::IsBeingDeleted(*rs)) cleanable.push_back(rs);
  int64_t diff = static_cast<int64_t>(cleanable.size()) - lim->get<int64_t>();
  if (diff <= 0) return Status::Ok();
  std::sort(cleanable.begin(), cleanable.end(), [](const RSPtr& a, const RSPtr& b) {
    if (Revision(*a) != Revision(*b)) return Revision(*a) < Revision(*b);
    return OlderFirst(a, b);
  });
  for (int64_t i = 0; i < diff; ++i) {
    const Json& rs = *cleanable[i];
    if (GetInt(rs, {"status", "replicas"}) != 0 || Replicas(rs) != 0 ||
        GetInt(rs, {"metadata", "generation"}) > GetInt(rs, {"status", "observedGeneration"}) ||
        framework::IsBeingDeleted(rs))
      continue;
    TUG_VLOG(2, "deployment") << "cleaning up old replica set" << kv("rs", Ns(rs) + "/" + Name(rs));
    client::DeleteOptions opts;
    opts.precondition_uid = GetStringPath(rs, {"metadata", "uid"});
    auto r = client().Delete(client::kReplicaSets, Ns(rs), Name(rs), opts);
    if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
  }
  return Status::Ok();
}

Json DeploymentController::CalculateStatus(const RSList& all, const RSPtr& new_rs, const Json& d) {
  const Json* old = Find(d, "status");
  Json st = old && old->is_object() ? *old : Json::object();
  auto ptrs = Ptrs(all);
  int64_t available = AvailableReplicas(ptrs);
  int64_t unavailable = std::max<int64_t>(0, SpecReplicas(ptrs) - available);
  SetOrErase(st, "observedGeneration", GetInt(d, {"metadata", "generation"}));
  SetOrErase(st, "replicas", StatusReplicas(ptrs));
  SetOrErase(st, "updatedReplicas", new_rs ? GetInt(*new_rs, {"status", "replicas"}) : 0);
  SetOrErase(st, "readyReplicas", ReadyReplicas(ptrs));
  SetOrErase(st, "availableReplicas", available);
  SetOrErase(st, "unavailableReplicas", unavailable);
  Json holder = {{"status", st}};
  if (available >= Replicas(d) - MaxUnavailable(d))
    framework::SetCondition(holder, "Available", "True", kMinimumReplicasAvailable, "Deployment has minimum availability.",
                            clock().Now(), true);
  else
    framework::SetCondition(holder, "Available", "False", kMinimumReplicasUnavailable,
                            "Deployment does not have minimum availability.", clock().Now(), true);
  return holder["status"];
}

Status DeploymentController::SyncDeploymentStatus(const RSList& all, const RSPtr& new_rs, Json& d) {
  Json nd = d;
  nd["status"] = CalculateStatus(all, new_rs, d);
  if (nd == d) return Status::Ok();
  d = std::move(nd);
  return UpdateDeploymentStatus(d);
}

void DeploymentController::RequeueStuck(const Json& d, const Json& new_status) {
  const Json* cur = framework::FindCondition(d, "Progressing");
  if (!HasProgressDeadline(d) || !cur) return;
  if (DeploymentComplete(d, new_status) || GetString(*cur, "reason") == kTimedOutReason) return;
  auto from = ParseRFC3339(GetString(*cur, "lastUpdateTime"));
  if (!from.ok()) return;
  auto deadline = *from + std::chrono::seconds(GetInt(d, {"spec", "progressDeadlineSeconds"}));
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock().Now());
  if (after < std::chrono::seconds(1)) {
    EnqueueRateLimited(client::KeyOf(d));
    return;
  }
  EnqueueAfter(client::KeyOf(d), after + std::chrono::seconds(1));
}

Status DeploymentController::SyncRolloutStatus(const RSList& all, const RSPtr& new_rs, Json& d) {
  Json nd = d;
  nd["status"] = CalculateStatus(all, new_rs, d);
  if (!HasProgressDeadline(d)) framework::RemoveCondition(nd, "Progressing");
  const Json* cur = framework::FindCondition(d, "Progressing");
  bool complete_rollout = GetInt(nd, {"status", "replicas"}) == GetInt(nd, {"status", "updatedReplicas"}) && cur &&
                          GetString(*cur, "reason") == kNewRSAvailableReason;
  SystemTime now = clock().Now();
  if (HasProgressDeadline(d) && !complete_rollout) {
    std::string subject = new_rs ? "ReplicaSet \"" + Name(*new_rs) + "\"" : "Deployment \"" + Name(d) + "\"";
    if (DeploymentComplete(d, nd["status"])) {
      framework::SetCondition(nd, "Progressing", "True", kNewRSAvailableReason, subject + " has successfully progressed.",
                              now, true);
    } else if (DeploymentProgressing(d, nd["status"])) {
      // Progress refreshes lastUpdateTime even with the same reason (that is what the deadline
      // is measured from); lastTransitionTime stays while the status stays True.
      std::optional<Json> keep_transition;
      if (cur && GetString(*cur, "status") == "True") keep_transition = (*cur)["lastTransitionTime"];
      framework::RemoveCondition(nd, "Progressing");
      framework::SetCondition(nd, "Progressing", "True", kReplicaSetUpdatedReason, subject + " is progressing.", now, true);
      if (keep_transition)
        for (Json& c : nd["status"]["conditions"])
          if (GetString(c, "type") == "Progressing") c["lastTransitionTime"] = *keep_transition;
    } else if (const Json* c = framework::FindCondition(nd, "Progressing");
               c && GetString(*c, "reason") != kNewRSAvailableReason) {
      bool timed_out = GetString(*c, "reason") == kTimedOutReason;
      if (!timed_out) {
        auto from = ParseRFC3339(GetString(*c, "lastUpdateTime"));
        timed_out = from.ok() && *from + std::chrono::seconds(GetInt(d, {"spec", "progressDeadlineSeconds"})) < now;
      }
      if (timed_out)
        framework::SetCondition(nd, "Progressing", "False", kTimedOutReason, subject + " has timed out progressing.", now,
                                true);
    }
  }
  // The first ReplicaFailure of the new RS (else of an old one) becomes the Deployment's.
  const Json* failure = nullptr;
  if (new_rs) failure = framework::FindCondition(*new_rs, "ReplicaFailure");
  for (const RSPtr& rs : all)
    if (!failure && rs && rs != new_rs) failure = framework::FindCondition(*rs, "ReplicaFailure");
  if (failure) {
    Json holder = nd;
    if (framework::SetCondition(nd, "ReplicaFailure", GetString(*failure, "status"), GetString(*failure, "reason"),
                                GetString(*failure, "message"), now, true)) {
      for (Json& c : nd["status"]["conditions"])
        if (GetString(c, "type") == "ReplicaFailure" && failure->contains("lastTransitionTime")) {
          c["lastTransitionTime"] = (*failure)["lastTransitionTime"];
          c["lastUpdateTime"] = (*failure)["lastTransitionTime"];
        }
    }
  } else {
    framework::RemoveCondition(nd, "ReplicaFailure");
  }
  TidyConditions(nd);
  if (nd == d) {
    RequeueStuck(d, nd["status"]);
    return Status::Ok();
  }
  d = std::move(nd);
  return UpdateDeploymentStatus(d);
}

Status DeploymentController::CheckPausedConditions(Json& d) {
  if (!HasProgressDeadline(d)) return Status::Ok();
  const Json* cur = framework::FindCondition(d, "Progressing");
  if (cur && GetString(*cur, "reason") == kTimedOutReason) return Status::Ok();
  bool paused_cond = cur && GetString(*cur, "reason") == kPausedDeployReason;
  bool paused = FindPath(d, {"spec", "paused"}) && FindPath(d, {"spec", "paused"})->is_boolean() &&
                FindPath(d, {"spec", "paused"})->get<bool>();
  if (paused && !paused_cond)
    framework::SetCondition(d, "Progressing", "Unknown", kPausedDeployReason, "Deployment is paused", clock().Now(), true);
  else if (!paused && paused_cond)
    framework::SetCondition(d, "Progressing", "Unknown", kResumedDeployReason, "Deployment is resumed", clock().Now(), true);
  else
    return Status::Ok();
  return UpdateDeploymentStatus(d);
}

Status DeploymentController::SyncScale(Json& d, const RSList& rs_list) {
  ASSIGN_OR_RETURN(auto rss, AllReplicaSetsAndSyncRevision(d, rs_list, false));
  auto [new_rs, old_rss] = rss;
  RETURN_IF_ERROR(Scale(d, new_rs, old_rss));
  bool paused = FindPath(d, {"spec", "paused"}) && FindPath(d, {"spec", "paused"})->is_boolean() &&
                FindPath(d, {"spec", "paused"})->get<bool>();
  // Re-read what Scale wrote: the informer has not caught up, so take the RSs from the API.
  RSList all = old_rss;
  if (new_rs) all.push_back(new_rs);
  for (RSPtr& rs : all) {
    auto fresh = client().Get(client::kReplicaSets, Ns(*rs), Name(*rs));
    if (fresh.ok()) rs = std::make_shared<Json>(std::move(*fresh));
  }
  if (paused) RETURN_IF_ERROR(Cleanup(old_rss, d));
  RSPtr nrs = new_rs ? all.back() : nullptr;
  return SyncDeploymentStatus(all, nrs, d);
}

Result<bool> DeploymentController::ReconcileNewReplicaSet(const RSList& all, RSPtr& new_rs, const Json& d) {
  int64_t want = Replicas(d);
  if (Replicas(*new_rs) == want) return false;
  if (Replicas(*new_rs) > want) return ScaleAndRecord(new_rs, want, d);
  int64_t count = NewRSNewReplicas(d, Ptrs(all), *new_rs);
  return ScaleAndRecord(new_rs, count, d);
}

Result<bool> DeploymentController::ReconcileOldReplicaSets(const RSList& all, RSList old_rss, const RSPtr& new_rs,
                                                           const Json& d) {
  int64_t old_pods = SpecReplicas(Ptrs(old_rss));
  if (old_pods == 0) return false;
  int64_t all_pods = SpecReplicas(Ptrs(all));
  int64_t min_available = Replicas(d) - MaxUnavailable(d);
  int64_t new_unavailable = Replicas(*new_rs) - GetInt(*new_rs, {"status", "availableReplicas"});
  int64_t max_scaled_down = all_pods - min_available - new_unavailable;
  if (max_scaled_down <= 0) return false;

  // Unhealthy old replicas first: they cannot make availability worse and would block progress.
  std::sort(old_rss.begin(), old_rss.end(), OlderFirst);
  int64_t cleaned = 0;
  for (RSPtr& rs : old_rss) {
    if (cleaned >= max_scaled_down) break;
    int64_t r = Replicas(*rs), avail = GetInt(*rs, {"status", "availableReplicas"});
    if (r == 0 || r == avail) continue;
    int64_t n = std::min(max_scaled_down - cleaned, r - avail);
    auto s = ScaleAndRecord(rs, r - n, d);
    if (!s.ok()) return s.status();
    cleaned += n;
  }
  // Then healthy ones, as far as maxUnavailable allows.
  RSList all2 = old_rss;
  all2.push_back(new_rs);
  int64_t available = AvailableReplicas(Ptrs(all2));
  int64_t scaled = 0;
  if (available > min_available) {
    int64_t total = available - min_available;
    for (RSPtr& rs : old_rss) {
      if (scaled >= total) break;
      int64_t r = Replicas(*rs);
      if (r == 0) continue;
      int64_t n = std::min(r, total - scaled);
      auto s = ScaleAndRecord(rs, r - n, d);
      if (!s.ok()) return s.status();
      scaled += n;
    }
  }
  return cleaned + scaled > 0;
}

Status DeploymentController::RolloutRolling(Json& d, const RSList& rs_list) {
  ASSIGN_OR_RETURN(auto rss, AllReplicaSetsAndSyncRevision(d, rs_list, true));
  RSPtr new_rs = rss.first;
  RSList old_rss = rss.second;
  auto all_of = [&] {
    RSList all = old_rss;
    all.push_back(new_rs);
    return all;
  };
  ASSIGN_OR_RETURN(bool up, ReconcileNewReplicaSet(all_of(), new_rs, d));
  if (up) return SyncRolloutStatus(all_of(), new_rs, d);
  RSList active_old;
  for (const RSPtr& rs : old_rss)
    if (Replicas(*rs) > 0) active_old.push_back(rs);
  ASSIGN_OR_RETURN(bool down, ReconcileOldReplicaSets(all_of(), active_old, new_rs, d));
  // As upstream, the status is computed from the RSs as read at the start of the sync; the
  // RS updates just written come back through the informer and trigger the next sync.
  if (down) return SyncRolloutStatus(all_of(), new_rs, d);
  if (DeploymentComplete(d, d.contains("status") ? d["status"] : Json::object())) RETURN_IF_ERROR(Cleanup(old_rss, d));
  return SyncRolloutStatus(all_of(), new_rs, d);
}

bool DeploymentController::OldPodsRunning(const RSPtr& new_rs, const RSList& old_rss) {
  if (StatusReplicas(Ptrs(old_rss)) > 0) return true;
  for (const RSPtr& rs : old_rss) {
    if (new_rs && GetStringPath(*rs, {"metadata", "uid"}) == GetStringPath(*new_rs, {"metadata", "uid"})) continue;
    for (const ObjectPtr& p : pods_->ByIndex(pod_index_, GetStringPath(*rs, {"metadata", "uid"}))) {
      std::string phase = GetStringPath(*p, {"status", "phase"});
      if (phase != "Failed" && phase != "Succeeded") return true;
    }
  }
  return false;
}

Status DeploymentController::RolloutRecreate(Json& d, const RSList& rs_list) {
  ASSIGN_OR_RETURN(auto rss, AllReplicaSetsAndSyncRevision(d, rs_list, false));
  RSPtr new_rs = rss.first;
  RSList old_rss = rss.second;
  auto all_of = [&] {
    RSList all = old_rss;
    if (new_rs) all.push_back(new_rs);
    return all;
  };
  bool scaled_down = false;
  for (RSPtr& rs : old_rss) {
    if (Replicas(*rs) == 0) continue;
    ASSIGN_OR_RETURN(bool s, ScaleAndRecord(rs, 0, d));
    scaled_down = scaled_down || s;
  }
  if (scaled_down) return SyncRolloutStatus(all_of(), new_rs, d);
  if (OldPodsRunning(new_rs, old_rss)) return SyncRolloutStatus(all_of(), new_rs, d);
  if (!new_rs) {
    ASSIGN_OR_RETURN(auto again, AllReplicaSetsAndSyncRevision(d, rs_list, true));
    new_rs = again.first;
    old_rss = again.second;
  }
  ASSIGN_OR_RETURN(bool up, ScaleAndRecord(new_rs, Replicas(d), d));
  (void)up;
  if (DeploymentComplete(d, d.contains("status") ? d["status"] : Json::object())) RETURN_IF_ERROR(Cleanup(old_rss, d));
  return SyncRolloutStatus(all_of(), new_rs, d);
}

Status DeploymentController::Sync(const std::string& key) {
  ObjectPtr cached = d_->Get(key);
  if (!cached) return Status::Ok();
  Json d = *cached;
  if (!FindPath(d, {"metadata", "annotations"}) || !d["metadata"]["annotations"].is_object())
    d["metadata"]["annotations"] = Json::object();
  auto sel = client::LabelSelector::FromJson(FindPath(d, {"spec", "selector"}), false);
  if (!sel.ok()) {
    TUG_LOG(WARNING, "deployment") << "invalid selector" << kv("key", key) << kv("error", sel.status().ToString());
    return Status::Ok();
  }
  if (sel->Empty()) {
    recorder().Record(d, "Warning", "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.");
    if (GetInt(d, {"status", "observedGeneration"}) < GetInt(d, {"metadata", "generation"})) {
      d["status"]["observedGeneration"] = GetInt(d, {"metadata", "generation"});
      return UpdateDeploymentStatus(d);
    }
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(RSList rs_list, ClaimReplicaSets(d, *sel));
  if (framework::IsBeingDeleted(d)) {
    ASSIGN_OR_RETURN(auto rss, AllReplicaSetsAndSyncRevision(d, rs_list, false));
    RSList all = rss.second;
    if (rss.first) all.push_back(rss.first);
    return SyncDeploymentStatus(all, rss.first, d);
  }
  RETURN_IF_ERROR(CheckPausedConditions(d));
  const Json* paused = FindPath(d, {"spec", "paused"});
  if (paused && paused->is_boolean() && paused->get<bool>()) return SyncScale(d, rs_list);

  // A scaling event: an active RS was sized for another spec.replicas.
  {
    ASSIGN_OR_RETURN(auto rss, AllReplicaSetsAndSyncRevision(d, rs_list, false));
    RSList all = rss.second;
    if (rss.first) all.push_back(rss.first);
    for (const RSPtr& rs : all) {
      if (Replicas(*rs) <= 0) continue;
      auto desired = IntAnnotation(*rs, kDesiredReplicasAnnotation);
      if (desired && *desired != Replicas(d)) return SyncScale(d, rs_list);
    }
  }
  if (GetStringPath(d, {"spec", "strategy", "type"}) == "Recreate") return RolloutRecreate(d, rs_list);
  return RolloutRolling(d, rs_list);
}

}  // namespace

std::unique_ptr<framework::Controller> NewDeploymentController(const framework::ControllerContext& ctx) {
  return std::make_unique<DeploymentController>(ctx);
}

}  // namespace tug::controllers::deployment
