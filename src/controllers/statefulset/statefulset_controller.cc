// StatefulSet controller; see statefulset_controller.h.
#include "controllers/statefulset/statefulset_controller.h"

#include <algorithm>
#include <map>

#include "base/log.h"
#include "controllers/daemonset/history.h"

namespace tug::controllers::statefulset {
namespace {

using daemonset::kRevisionHashLabel;
using framework::GetInt;
using framework::IsBeingDeleted;

std::string Name(const Json& o) { return GetStringPath(o, {"metadata", "name"}); }
std::string Ns(const Json& o) { return GetStringPath(o, {"metadata", "namespace"}); }
std::string Uid(const Json& o) { return GetStringPath(o, {"metadata", "uid"}); }
std::string Phase(const Json& p) { return GetStringPath(p, {"status", "phase"}); }

// Status equality as the API server stores it: omitted zero values (0, "", false, {}, [], null)
// equal absent ones, so a status write that only adds zeros is not a change.
Json PruneZeros(const Json& j) {
  if (j.is_object()) {
    Json out = Json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      Json v = PruneZeros(it.value());
      bool zero = v.is_null() || (v.is_number() && v == 0) || (v.is_string() && v.get<std::string>().empty()) ||
                  (v.is_boolean() && !v.get<bool>()) || (v.is_object() && v.empty()) || (v.is_array() && v.empty());
      if (!zero) out[it.key()] = v;
    }
    return out;
  }
  if (j.is_array()) {
    Json out = Json::array();
    for (const Json& v : j) out.push_back(PruneZeros(v));
    return out;
  }
  return j;
}
bool SameStatus(const Json& a, const Json& b) { return PruneZeros(a) == PruneZeros(b); }

bool IsCreated(const Json& p) { return !Phase(p).empty(); }
bool IsRunningAndReady(const Json& p) { return Phase(p) == "Running" && framework::IsPodReady(p); }
bool IsFailedOrSucceeded(const Json& p) { return Phase(p) == "Failed" || Phase(p) == "Succeeded"; }
std::string RevisionOf(const Json& p) { return GetStringPath(p, {"metadata", "labels", kRevisionHashLabel}); }

}  // namespace

int64_t OrdinalOf(const std::string& set, const std::string& pod) {
  if (pod.size() <= set.size() + 1 || pod.compare(0, set.size(), set) != 0 || pod[set.size()] != '-') return -1;
  std::string rest = pod.substr(set.size() + 1);
  if (rest.empty() || rest.size() > 9) return -1;
  for (char c : rest)
    if (c < '0' || c > '9') return -1;
  if (rest.size() > 1 && rest[0] == '0') return -1;
  return std::stoll(rest);
}

std::vector<Json> ClaimsFor(const Json& set, int64_t ordinal) {
  std::vector<Json> out;
  const Json* tpls = FindPath(set, {"spec", "volumeClaimTemplates"});
  if (!tpls || !tpls->is_array()) return out;
  std::string pod = Name(set) + "-" + std::to_string(ordinal);
  for (const Json& t : *tpls) {
    Json pvc = {{"apiVersion", "v1"}, {"kind", "PersistentVolumeClaim"}};
    Json meta = Json::object();
    if (const Json* m = Find(t, "metadata"); m && m->is_object()) {
      if (const Json* l = Find(*m, "labels"); l && l->is_object()) meta["labels"] = *l;
      if (const Json* a = Find(*m, "annotations"); a && a->is_object()) meta["annotations"] = *a;
    }
    // Upstream adds the set's selector labels to each claim.
    if (const Json* ml = FindPath(set, {"spec", "selector", "matchLabels"}); ml && ml->is_object())
      for (auto it = ml->begin(); it != ml->end(); ++it) meta["labels"][it.key()] = it.value();
    meta["name"] = GetStringPath(t, {"metadata", "name"}) + "-" + pod;
    meta["namespace"] = Ns(set);
    pvc["metadata"] = meta;
    pvc["spec"] = t.value("spec", Json::object());
    out.push_back(pvc);
  }
  return out;
}

Json NewStatefulSetPod(const Json& set, int64_t ordinal, const std::string& revision) {
  Json ref = framework::MakeControllerRef(set, "apps/v1", "StatefulSet");
  Json pod = framework::PodFromTemplate(set["spec"]["template"], set, ref);
  std::string name = Name(set) + "-" + std::to_string(ordinal);
  pod["metadata"].erase("generateName");
  pod["metadata"]["name"] = name;
  pod["metadata"]["labels"][kPodNameLabel] = name;
  pod["metadata"]["labels"][kPodIndexLabel] = std::to_string(ordinal);
  pod["metadata"]["labels"][kRevisionHashLabel] = revision;
  pod["spec"]["hostname"] = name;
  std::string svc = GetStringPath(set, {"spec", "serviceName"});
  if (!svc.empty()) pod["spec"]["subdomain"] = svc;
  // One volume per claim template, replacing a template volume of the same name.
  const Json* tpls = FindPath(set, {"spec", "volumeClaimTemplates"});
  if (tpls && tpls->is_array() && !tpls->empty()) {
    Json vols = Json::array();
    std::set<std::string> claimed;
    for (const Json& t : *tpls) claimed.insert(GetStringPath(t, {"metadata", "name"}));
    if (pod["spec"].contains("volumes") && pod["spec"]["volumes"].is_array())
      for (const Json& v : pod["spec"]["volumes"])
        if (!claimed.count(GetString(v, "name"))) vols.push_back(v);
    for (const Json& t : *tpls) {
      std::string tn = GetStringPath(t, {"metadata", "name"});
      vols.push_back({{"name", tn}, {"persistentVolumeClaim", {{"claimName", tn + "-" + name}}}});
    }
    pod["spec"]["volumes"] = vols;
  }
  return pod;
}

StatefulSetController::StatefulSetController(const framework::ControllerContext& ctx) : Controller("statefulset", ctx) {
  sets_ = &Informer(client::kStatefulSets);
  pods_ = &Informer(client::kPods);
  pod_index_ = framework::AddControllerUidIndex(*pods_, "statefulset");
  revisions_ = &Informer(client::kControllerRevisions);
  pvcs_ = &Informer(client::kPersistentVolumeClaims);
  sets_->AddHandler(EnqueueHandler());
  pods_->AddHandler(client::EventHandler{
      .on_add = [this](const client::ObjectPtr& p) { OnPod(p); },
      .on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& p) { OnPod(p); },
      .on_delete = [this](const client::ObjectPtr& p) { OnPod(p); },
  });
}

StatefulSetController::~StatefulSetController() { Stop(); }

std::unique_ptr<framework::Controller> NewStatefulSetController(const framework::ControllerContext& ctx) {
  return std::make_unique<StatefulSetController>(ctx);
}

void StatefulSetController::OnPod(const client::ObjectPtr& pod) {
  const Json* ref = framework::GetControllerOf(*pod);
  if (ref && GetString(*ref, "kind") == "StatefulSet") Enqueue(Ns(*pod) + "/" + GetString(*ref, "name"));
}

Status StatefulSetController::CreatePod(const Json& set, const Json& tmpl_set, const std::string& revision, int64_t ordinal) {
  Json pod = NewStatefulSetPod(tmpl_set, ordinal, revision);
  // Claims first; an existing claim (from an earlier pod of this ordinal) is reused.
  for (const Json& pvc : ClaimsFor(set, ordinal)) {
    if (pvcs_->Get(Ns(set) + "/" + Name(pvc))) continue;
    auto r = client().Create(client::kPersistentVolumeClaims, Ns(set), pvc);
    if (!r.ok() && r.status().code() != StatusCode::kAlreadyExists) {
      recorder().Record(set, "Warning", "FailedCreate",
                        "create Claim " + Name(pvc) + " for Pod " + Name(pod) + " in StatefulSet " + Name(set) + " failed error: " +
                            r.status().message());
      return r.status();
    }
    if (r.ok()) {
      recorder().Record(set, "Normal", "SuccessfulCreate",
                        "create Claim " + Name(pvc) + " Pod " + Name(pod) + " in StatefulSet " + Name(set) + " success");
    }
  }
  auto r = client().Create(client::kPods, Ns(set), pod);
  if (!r.ok()) {
    if (r.status().code() != StatusCode::kAlreadyExists)
      recorder().Record(set, "Warning", "FailedCreate",
                        "create Pod " + Name(pod) + " in StatefulSet " + Name(set) + " failed error: " + r.status().message());
    return r.status();
  }
  recorder().Record(set, "Normal", "SuccessfulCreate", "create Pod " + Name(pod) + " in StatefulSet " + Name(set) + " successful");
  return Status::Ok();
}

Status StatefulSetController::DeletePod(const Json& set, const Json& pod, const std::string& why) {
  client::DeleteOptions o;
  o.precondition_uid = Uid(pod);
  auto r = client().Delete(client::kPods, Ns(pod), Name(pod), o);
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) {
    recorder().Record(set, "Warning", "FailedDelete",
                      "delete Pod " + Name(pod) + " in StatefulSet " + Name(set) + " failed error: " + r.status().message());
    return r.status();
  }
  if (!why.empty()) {
    TUG_VLOG(2, "statefulset") << why << kv("pod", Ns(pod) + "/" + Name(pod));
  }
  recorder().Record(set, "Normal", "SuccessfulDelete", "delete Pod " + Name(pod) + " in StatefulSet " + Name(set) + " successful");
  return Status::Ok();
}

Status StatefulSetController::Sync(const std::string& key) {
  client::ObjectPtr obj = sets_->Get(key);
  if (!obj) return Status::Ok();
  const Json& set = *obj;
  const SystemTime now = clock().Now();
  ASSIGN_OR_RETURN(client::LabelSelector selector, client::LabelSelector::FromJson(FindPath(set, {"spec", "selector"})));
  const std::string name = Name(set);

  // Revisions: the update revision is the current template; the current revision is the one
  // status names (when it still exists), else the update revision.
  std::vector<client::ObjectPtr> owned_revs = daemonset::OwnedRevisions(set, revisions_->List(Ns(set)));
  const Json& tmpl = set["spec"]["template"];
  int64_t collisions = GetInt(set, {"status", "collisionCount"});
  Json data = daemonset::TemplatePatch(tmpl);
  std::string hash = daemonset::ComputeHash(data, collisions);
  Json labels = FindPath(tmpl, {"metadata", "labels"}) ? tmpl["metadata"]["labels"] : Json::object();
  if (IsBeingDeleted(set)) return Status::Ok();
  auto ensured = daemonset::EnsureRevision(client(), set, "apps/v1", "StatefulSet", data, hash, labels, owned_revs);
  if (!ensured.ok()) {
    if (ensured.status().code() == StatusCode::kConflict) {
      Json bump = set;
      bump["status"]["collisionCount"] = collisions + 1;
      auto r = client().UpdateStatus(client::kStatefulSets, Ns(set), bump);
      if (!r.ok()) return r.status();
    }
    return ensured.status();
  }
  const std::string update_rev = Name(ensured->current);
  std::string current_rev = GetStringPath(set, {"status", "currentRevision"});
  Json current_set = set;  // the set as of the current revision (for pods below the partition)
  {
    bool found = false;
    for (const auto& r : owned_revs) {
      if (Name(*r) != current_rev) continue;
      found = true;
      if (const Json* t = FindPath(*r, {"data", "spec", "template"}); t && t->is_object()) {
        Json tt = *t;
        tt.erase("$patch");
        current_set["spec"]["template"] = tt;
      }
    }
    if (!found || current_rev == update_rev) {
      current_rev = update_rev;
      current_set = set;
    }
  }

  // Pods of the set, by ordinal.
  Json ref = framework::MakeControllerRef(set, "apps/v1", "StatefulSet");
  std::vector<client::ObjectPtr> candidates;
  for (const auto& p : framework::ClaimCandidates(*pods_, pod_index_, set))
    if (OrdinalOf(name, Name(*p)) >= 0) candidates.push_back(p);
  auto claim = framework::ClaimObjects(client(), client::kPods, set, ref, selector, candidates,
                                       framework::RecheckOwner(client(), client::kStatefulSets, set));
  RETURN_IF_ERROR(claim.status);
  const int64_t start = GetInt(set, {"spec", "ordinals", "start"}, 0);
  const int64_t replicas = GetInt(set, {"spec", "replicas"}, 1);
  const bool monotonic = GetStringPath(set, {"spec", "podManagementPolicy"}, "OrderedReady") != "Parallel";
  const std::string strategy = GetStringPath(set, {"spec", "updateStrategy", "type"}, "RollingUpdate");
  const int64_t partition = GetInt(set, {"spec", "updateStrategy", "rollingUpdate", "partition"}, 0);
  const int64_t min_ready = GetInt(set, {"spec", "minReadySeconds"});
  std::map<int64_t, client::ObjectPtr> by_ord;
  std::vector<client::ObjectPtr> condemned;  // ordinals outside [start, start+replicas)
  for (const auto& p : claim.owned) {
    int64_t ord = OrdinalOf(name, Name(*p));
    if (ord >= start && ord < start + replicas)
      by_ord[ord] = p;
    else
      condemned.push_back(p);
  }
  std::sort(condemned.begin(), condemned.end(),
            [&](const auto& a, const auto& b) { return OrdinalOf(name, Name(*a)) < OrdinalOf(name, Name(*b)); });

  // The revision a new pod for `ord` gets (newVersionedStatefulSetPod).
  auto revision_for = [&](int64_t ord) -> std::pair<const Json*, std::string> {
    if (strategy == "RollingUpdate" && ord < start + partition) return {&current_set, current_rev};
    return {&set, update_rev};
  };

  // Status is computed from what exists before this round's changes, as upstream does.
  auto compute_status = [&]() {
    Json st = set.value("status", Json::object());
    int64_t n = 0, ready = 0, available = 0, cur = 0, upd = 0;
    for (const auto& p : claim.owned) {
      if (IsCreated(*p)) ++n;
      if (IsRunningAndReady(*p)) {
        ++ready;
        if (framework::IsPodAvailable(*p, min_ready, now)) ++available;
      }
      if (IsCreated(*p) && !IsBeingDeleted(*p)) {
        if (RevisionOf(*p) == current_rev) ++cur;
        if (RevisionOf(*p) == update_rev) ++upd;
      }
    }
    st["observedGeneration"] = GetInt(set, {"metadata", "generation"}, 1);
    st["replicas"] = n;
    st["readyReplicas"] = ready;
    st["availableReplicas"] = available;
    st["currentReplicas"] = cur;
    st["updatedReplicas"] = upd;
    st["currentRevision"] = current_rev;
    st["updateRevision"] = update_rev;
    st["collisionCount"] = collisions;
    // A finished rolling update makes the update revision current.
    if (strategy == "RollingUpdate" && upd == replicas && ready == replicas) {
      st["currentReplicas"] = upd;
      st["currentRevision"] = update_rev;
    }
    for (const char* f : {"readyReplicas", "availableReplicas", "currentReplicas", "updatedReplicas"})
      if (st[f] == 0) st.erase(f);
    return st;
  };
  Json status = compute_status();

  Status err = [&]() -> Status {
    // Replace failed pods; create missing ones; wait for unhealthy ones (OrderedReady).
    for (int64_t ord = start; ord < start + replicas; ++ord) {
      auto it = by_ord.find(ord);
      if (it != by_ord.end() && IsFailedOrSucceeded(*it->second) && !IsBeingDeleted(*it->second)) {
        recorder().Record(set, "Warning", "RecreatingFailedPod",
                          "StatefulSet " + Ns(set) + "/" + name + " is recreating failed Pod " + Name(*it->second));
        RETURN_IF_ERROR(DeletePod(set, *it->second, "recreating failed pod"));
        if (monotonic) return Status::Ok();
        continue;
      }
      if (it == by_ord.end()) {
        auto [src, rev] = revision_for(ord);
        RETURN_IF_ERROR(CreatePod(set, *src, rev, ord));
        if (monotonic) return Status::Ok();
        continue;
      }
      const Json& p = *it->second;
      if (IsBeingDeleted(p) && monotonic) return Status::Ok();
      if (!IsRunningAndReady(p) && monotonic) return Status::Ok();
      if (monotonic && !framework::IsPodAvailable(p, min_ready, now)) {
        if (auto at = framework::PodAvailableAt(p, min_ready))
          EnqueueAfter(key, std::chrono::duration_cast<std::chrono::milliseconds>(*at - now) + std::chrono::milliseconds(10));
        return Status::Ok();
      }
      // Identity labels (someone may have edited them).
      std::string pn = Name(p);
      if (GetStringPath(p, {"metadata", "labels", kPodNameLabel}) != pn ||
          GetStringPath(p, {"metadata", "labels", kPodIndexLabel}) != std::to_string(ord)) {
        Json patch = {{"metadata", {{"labels", {{kPodNameLabel, pn}, {kPodIndexLabel, std::to_string(ord)}}}}}};
        auto r = client().Patch(client::kPods, Ns(p), pn, client::PatchType::kMerge, DumpJson(patch));
        if (!r.ok()) return r.status();
      }
    }
    // Scale down, highest ordinal first.
    for (auto it = condemned.rbegin(); it != condemned.rend(); ++it) {
      const Json& p = **it;
      if (IsBeingDeleted(p)) {
        if (monotonic) return Status::Ok();
        continue;
      }
      if (monotonic && !IsRunningAndReady(p)) {
        // Only the first unhealthy pod may go while others are unhealthy.
        bool lower_unhealthy = false;
        for (const auto& [o, q] : by_ord)
          if (!IsRunningAndReady(*q)) lower_unhealthy = true;
        if (lower_unhealthy) return Status::Ok();
      }
      RETURN_IF_ERROR(DeletePod(set, p, "scaling down"));
      if (monotonic) return Status::Ok();
    }
    if (strategy == "OnDelete") return Status::Ok();
    // Rolling update: the highest ordinal not on the update revision goes first.
    for (int64_t ord = start + replicas - 1; ord >= start + partition; --ord) {
      auto it = by_ord.find(ord);
      if (it == by_ord.end()) return Status::Ok();
      const Json& p = *it->second;
      if (RevisionOf(p) != update_rev && !IsBeingDeleted(p)) {
        TUG_VLOG(2, "statefulset") << "terminating pod for update" << kv("pod", Ns(p) + "/" + Name(p));
        return DeletePod(set, p, "terminating pod for update");
      }
      if (!IsRunningAndReady(p) || IsBeingDeleted(p)) return Status::Ok();
    }
    return Status::Ok();
  }();

  // History beyond revisionHistoryLimit (the current and update revisions stay).
  if (err.ok()) {
    std::vector<std::string> keep = {current_rev, update_rev, GetString(status, "currentRevision")};
    for (const auto& p : claim.owned) keep.push_back(RevisionOf(*p));
    err = daemonset::TruncateHistory(client(), owned_revs, GetInt(set, {"spec", "revisionHistoryLimit"}, 10), keep);
  }

  if (!SameStatus(status, set.value("status", Json::object()))) {
    Json out = set;
    out["status"] = status;
    auto r = client().UpdateStatus(client::kStatefulSets, Ns(set), out);
    if (!r.ok() && r.status().code() != StatusCode::kNotFound && err.ok()) err = r.status();
  }
  return err;
}

}  // namespace tug::controllers::statefulset
