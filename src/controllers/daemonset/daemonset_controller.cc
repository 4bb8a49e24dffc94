// DaemonSet controller; see daemonset_controller.h.
#include "controllers/daemonset/daemonset_controller.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "base/log.h"
#include "controllers/daemonset/history.h"
#include "controllers/daemonset/node_fit.h"

namespace tug::controllers::daemonset {
namespace {

using framework::GetInt;
using framework::IsBeingDeleted;

std::string Name(const Json& o) { return GetStringPath(o, {"metadata", "name"}); }
std::string Ns(const Json& o) { return GetStringPath(o, {"metadata", "namespace"}); }
std::string Uid(const Json& o) { return GetStringPath(o, {"metadata", "uid"}); }

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

bool OlderFirst(const client::ObjectPtr& a, const client::ObjectPtr& b) {
  std::string ta = GetStringPath(*a, {"metadata", "creationTimestamp"}), tb = GetStringPath(*b, {"metadata", "creationTimestamp"});
  if (ta != tb) return ta < tb;
  return Name(*a) < Name(*b);
}

// The daemon pod spec used for fit checks and creation.
Json DaemonPodSpec(const Json& ds) {
  const Json* s = FindPath(ds, {"spec", "template", "spec"});
  Json spec = s && s->is_object() ? *s : Json::object();
  AddDaemonPodTolerations(spec);
  return spec;
}

}  // namespace

int64_t ScaledValue(const Json* v, int64_t total, bool round_up) {
  if (!v || v->is_null()) return 0;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (!v->is_string()) return 0;
  std::string s = v->get<std::string>();
  if (s.empty()) return 0;
  if (s.back() == '%') {
    double pct = std::atof(s.substr(0, s.size() - 1).c_str());
    double x = pct * static_cast<double>(total) / 100.0;
    return static_cast<int64_t>(round_up ? std::ceil(x) : std::floor(x));
  }
  return std::atoll(s.c_str());
}

DaemonSetController::DaemonSetController(const framework::ControllerContext& ctx)
    : Controller("daemonset", ctx), expectations_(ctx.clock) {
  dss_ = &Informer(client::kDaemonSets);
  pods_ = &Informer(client::kPods);
  pod_index_ = framework::AddControllerUidIndex(*pods_, "daemonset");
  nodes_ = &Informer(client::kNodes);
  revisions_ = &Informer(client::kControllerRevisions);
  dss_->AddHandler(EnqueueHandler());
  pods_->AddHandler(client::EventHandler{
      .on_add = [this](const client::ObjectPtr& p) { OnPod(p, 0); },
      .on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& p) { OnPod(p, 1); },
      .on_delete = [this](const client::ObjectPtr& p) { OnPod(p, 2); },
  });
  // Any node change can change where daemon pods belong (labels, taints, new nodes).
  nodes_->AddHandler(client::EventHandler{
      .on_add = [this](const client::ObjectPtr&) { EnqueueAll(); },
      .on_update =
          [this](const client::ObjectPtr& o, const client::ObjectPtr& n) {
            if (FindPath(*o, {"metadata", "labels"}) == nullptr ? FindPath(*n, {"metadata", "labels"}) != nullptr
                                                                 : (*o)["metadata"].value("labels", Json()) != (*n)["metadata"].value("labels", Json()))
              return EnqueueAll();
            if ((*o).value("spec", Json()) != (*n).value("spec", Json())) EnqueueAll();
          },
      .on_delete = [this](const client::ObjectPtr&) { EnqueueAll(); },
  });
}

DaemonSetController::~DaemonSetController() { Stop(); }

std::unique_ptr<framework::Controller> NewDaemonSetController(const framework::ControllerContext& ctx) {
  return std::make_unique<DaemonSetController>(ctx);
}

void DaemonSetController::EnqueueAll() {
  for (const auto& d : dss_->List()) Enqueue(*d);
}

void DaemonSetController::OnPod(const client::ObjectPtr& pod, int ev) {
  const Json* ref = framework::GetControllerOf(*pod);
  if (!ref || GetString(*ref, "kind") != "DaemonSet") return;
  std::string key = Ns(*pod) + "/" + GetString(*ref, "name");
  if (ev == 0 && !IsBeingDeleted(*pod)) expectations_.CreationObserved(key);
  if (ev == 2 || IsBeingDeleted(*pod)) expectations_.DeletionObserved(key, Uid(*pod));
  Enqueue(key);
}

Status DaemonSetController::CreateOnNodes(const Json& ds, const std::string& key, const std::string& hash,
                                          const std::vector<std::string>& nodes) {
  if (nodes.empty()) return Status::Ok();
  Json tmpl = ds["spec"]["template"];
  tmpl["spec"] = DaemonPodSpec(ds);
  tmpl["metadata"]["labels"][kRevisionHashLabel] = hash;
  tmpl["metadata"]["labels"]["pod-template-generation"] = std::to_string(GetInt(ds, {"metadata", "generation"}, 1));
  Json ref = framework::MakeControllerRef(ds, "apps/v1", "DaemonSet");
  expectations_.ExpectCreations(key, static_cast<int>(nodes.size()));
  Status first;
  for (size_t i = 0; i < nodes.size(); ++i) {
    Json pod = framework::PodFromTemplate(tmpl, ds, ref);
    SetNodeNameAffinity(pod["spec"], nodes[i]);
    auto r = client().Create(client::kPods, Ns(ds), pod);
    if (!r.ok()) {
      for (size_t j = i; j < nodes.size(); ++j) expectations_.CreationObserved(key);
      if (r.status().code() != StatusCode::kForbidden)
        recorder().Record(ds, "Warning", "FailedCreate", "Error creating: " + r.status().message());
      first = r.status();
      break;
    }
    recorder().Record(ds, "Normal", "SuccessfulCreate", "Created pod: " + Name(*r));
  }
  return first;
}

Status DaemonSetController::DeletePods(const Json& ds, const std::string& key, const std::vector<client::ObjectPtr>& pods) {
  if (pods.empty()) return Status::Ok();
  std::vector<std::string> uids;
  for (const auto& p : pods) uids.push_back(Uid(*p));
  expectations_.ExpectDeletions(key, uids);
  Status first;
  for (const auto& p : pods) {
    client::DeleteOptions o;
    o.precondition_uid = Uid(*p);
    auto r = client().Delete(client::kPods, Ns(*p), Name(*p), o);
    if (!r.ok() && r.status().code() != StatusCode::kNotFound) {
      expectations_.DeletionObserved(key, Uid(*p));
      recorder().Record(ds, "Warning", "FailedDelete", "Error deleting: " + r.status().message());
      if (first.ok()) first = r.status();
      continue;
    }
    if (!r.ok()) expectations_.DeletionObserved(key, Uid(*p));
    recorder().Record(ds, "Normal", "SuccessfulDelete", "Deleted pod: " + Name(*p));
  }
  return first;
}

Status DaemonSetController::Sync(const std::string& key) {
  client::ObjectPtr obj = dss_->Get(key);
  if (!obj) {
    expectations_.Delete(key);
    return Status::Ok();
  }
  const Json& ds = *obj;
  const SystemTime now = clock().Now();
  auto selector = client::LabelSelector::FromJson(FindPath(ds, {"spec", "selector"}));
  if (!selector.ok()) {
    recorder().Record(ds, "Warning", "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.");
    return Status::Ok();
  }
  if (selector->Empty()) {
    recorder().Record(ds, "Warning", "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.");
    return Status::Ok();
  }

  // History: the revision of the current template.
  std::vector<client::ObjectPtr> owned_revs = OwnedRevisions(ds, revisions_->List(Ns(ds)));
  const Json& tmpl = ds["spec"]["template"];
  int64_t collisions = GetInt(ds, {"status", "collisionCount"});
  std::string hash = ComputeHash(tmpl, collisions);
  Json labels = FindPath(tmpl, {"metadata", "labels"}) ? tmpl["metadata"]["labels"] : Json::object();
  std::string current_revision_name;
  if (!IsBeingDeleted(ds)) {
    auto ensured = EnsureRevision(client(), ds, "apps/v1", "DaemonSet", TemplatePatch(tmpl), hash, labels, owned_revs);
    if (!ensured.ok()) {
      if (ensured.status().code() == StatusCode::kConflict) {
        Json bump = ds;
        bump["status"]["collisionCount"] = collisions + 1;
        auto r = client().UpdateStatus(client::kDaemonSets, Ns(ds), bump);
        if (!r.ok()) return r.status();
      }
      return ensured.status();
    }
    current_revision_name = Name(ensured->current);
    hash = GetStringPath(ensured->current, {"metadata", "labels", kRevisionHashLabel}, hash);
  }

  // Pods by node.
  Json ref = framework::MakeControllerRef(ds, "apps/v1", "DaemonSet");
  auto claim = framework::ClaimObjects(client(), client::kPods, ds, ref, *selector, framework::ClaimCandidates(*pods_, pod_index_, ds),
                                       framework::RecheckOwner(client(), client::kDaemonSets, ds));
  RETURN_IF_ERROR(claim.status);
  std::map<std::string, std::vector<client::ObjectPtr>> by_node;
  for (const auto& p : claim.owned) by_node[TargetNodeName(*p)].push_back(p);
  for (auto& [n, v] : by_node) std::sort(v.begin(), v.end(), OlderFirst);

  std::vector<client::ObjectPtr> nodes = nodes_->List();
  std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) { return Name(*a) < Name(*b); });
  const Json pod_spec = DaemonPodSpec(ds);
  std::map<std::string, NodeFit> fit;
  int64_t desired = 0;
  for (const auto& n : nodes) {
    fit[Name(*n)] = NodeShouldRunDaemonPod(pod_spec, *n);
    if (fit[Name(*n)].should_run) ++desired;
  }

  const bool deleting = IsBeingDeleted(ds);
  if (!deleting && expectations_.Satisfied(key)) {
    const bool surge_allowed = GetStringPath(ds, {"spec", "updateStrategy", "type"}, "RollingUpdate") == "RollingUpdate";
    int64_t max_surge = surge_allowed ? ScaledValue(FindPath(ds, {"spec", "updateStrategy", "rollingUpdate", "maxSurge"}), desired) : 0;
    std::vector<std::string> create;
    std::vector<client::ObjectPtr> remove;
    for (const auto& n : nodes) {
      std::string node = Name(*n);
      const NodeFit& f = fit[node];
      std::vector<client::ObjectPtr>& pods = by_node[node];
      std::vector<client::ObjectPtr> running;
      for (const auto& p : pods) {
        if (IsBeingDeleted(*p)) continue;
        if (GetStringPath(*p, {"status", "phase"}) == "Failed") {
          recorder().Record(ds, "Warning", "FailedDaemonPod",
                            "Found failed daemon pod " + Ns(*p) + "/" + Name(*p) + " on node " + node + ", will try to kill it");
          remove.push_back(p);
          continue;
        }
        running.push_back(p);
      }
      if (f.should_run && running.empty()) {
        create.push_back(node);
      } else if (f.should_continue && running.size() > 1) {
        // Keep the oldest pod; with surge, keep the oldest updated one and the oldest old one.
        client::ObjectPtr keep_new, keep_old;
        for (const auto& p : running) {
          bool updated = GetStringPath(*p, {"metadata", "labels", kRevisionHashLabel}) == hash;
          if (max_surge > 0 && updated && !keep_new) keep_new = p;
          else if (max_surge > 0 && !updated && !keep_old) keep_old = p;
          else if (max_surge == 0 && !keep_old) keep_old = p;
          else remove.push_back(p);
        }
      } else if (!f.should_continue) {
        for (const auto& p : running) remove.push_back(p);
      }
    }
    // Unscheduled pods for nodes that no longer exist.
    for (auto& [node, pods] : by_node) {
      if (fit.count(node)) continue;
      for (const auto& p : pods)
        if (GetStringPath(*p, {"spec", "nodeName"}).empty() && !IsBeingDeleted(*p)) remove.push_back(p);
    }

    // Rolling update.
    if (surge_allowed && create.empty() && remove.empty()) {
      int64_t max_unavailable = ScaledValue(FindPath(ds, {"spec", "updateStrategy", "rollingUpdate", "maxUnavailable"}), desired);
      if (max_surge == 0 && max_unavailable == 0) max_unavailable = 1;
      const int64_t min_ready = GetInt(ds, {"spec", "minReadySeconds"});
      auto available = [&](const client::ObjectPtr& p) { return framework::IsPodAvailable(*p, min_ready, now); };
      int64_t unavailable = 0, surging = 0;
      std::vector<client::ObjectPtr> allowed, candidates;
      std::vector<std::string> allowed_nodes, candidate_nodes;
      for (const auto& n : nodes) {
        std::string node = Name(*n);
        if (!fit[node].should_run && by_node[node].empty()) continue;
        client::ObjectPtr newp, oldp;
        bool dup = false;
        for (const auto& p : by_node[node]) {
          if (IsBeingDeleted(*p)) continue;
          bool updated = GetStringPath(*p, {"metadata", "labels", kRevisionHashLabel}) == hash;
          client::ObjectPtr& slot = updated ? newp : oldp;
          if (slot) dup = true;
          slot = p;
        }
        if (max_surge == 0) {
          if (dup || (!newp && !oldp) || (newp && oldp)) {
            ++unavailable;
          } else if (newp) {
            if (!available(newp)) ++unavailable;
          } else if (!available(oldp)) {
            allowed.push_back(oldp);
            ++unavailable;
          } else if (unavailable < max_unavailable) {
            candidates.push_back(oldp);
          }
        } else {
          if (dup) {
            ++surging;
          } else if (!oldp) {
          } else if (!newp) {
            if (!available(oldp))
              allowed_nodes.push_back(node);
            else if (surging < max_surge)
              candidate_nodes.push_back(node);
          } else if (!available(newp)) {
            ++surging;
          } else {
            allowed.push_back(oldp);  // the new pod is available: the old one goes
          }
        }
      }
      if (max_surge == 0) {
        int64_t room = std::clamp<int64_t>(max_unavailable - unavailable, 0, static_cast<int64_t>(candidates.size()));
        remove = allowed;
        remove.insert(remove.end(), candidates.begin(), candidates.begin() + room);
      } else {
        int64_t room = std::clamp<int64_t>(max_surge - surging, 0, static_cast<int64_t>(candidate_nodes.size()));
        remove = allowed;
        create = allowed_nodes;
        create.insert(create.end(), candidate_nodes.begin(), candidate_nodes.begin() + room);
      }
    }
    Status st1 = DeletePods(ds, key, remove);
    Status st2 = CreateOnNodes(ds, key, hash, create);
    RETURN_IF_ERROR(st1);
    RETURN_IF_ERROR(st2);
  }

  // History cleanup: keep revisions used by live pods and the current one.
  if (!deleting) {
    std::vector<std::string> keep = {current_revision_name};
    for (const auto& p : claim.owned) {
      std::string h = GetStringPath(*p, {"metadata", "labels", kRevisionHashLabel});
      for (const auto& r : owned_revs)
        if (GetStringPath(*r, {"metadata", "labels", kRevisionHashLabel}) == h) keep.push_back(Name(*r));
    }
    RETURN_IF_ERROR(TruncateHistory(client(), owned_revs, GetInt(ds, {"spec", "revisionHistoryLimit"}, 10), keep));
  }

  // Status.
  int64_t current = 0, misscheduled = 0, ready = 0, available = 0, updated = 0;
  const int64_t min_ready = GetInt(ds, {"spec", "minReadySeconds"});
  std::optional<SystemTime> next_check;
  for (const auto& n : nodes) {
    std::string node = Name(*n);
    std::vector<client::ObjectPtr> pods;
    for (const auto& p : by_node[node])
      pods.push_back(p);
    bool scheduled = !pods.empty();
    if (fit[node].should_run) {
      if (!scheduled) continue;
      ++current;
      const Json& p = *pods[0];
      if (framework::IsPodReady(p)) {
        ++ready;
        if (framework::IsPodAvailable(p, min_ready, now)) {
          ++available;
        } else if (auto at = framework::PodAvailableAt(p, min_ready)) {
          if (!next_check || *at < *next_check) next_check = *at;
        }
      }
      if (GetStringPath(p, {"metadata", "labels", kRevisionHashLabel}) == hash) ++updated;
    } else if (scheduled) {
      ++misscheduled;
    }
  }
  Json out = ds;
  Json& st = out["status"];
  if (!st.is_object()) st = Json::object();
  st["desiredNumberScheduled"] = desired;
  st["currentNumberScheduled"] = current;
  st["numberMisscheduled"] = misscheduled;
  st["numberReady"] = ready;
  st["numberAvailable"] = available;
  st["numberUnavailable"] = desired - available;
  st["updatedNumberScheduled"] = updated;
  st["observedGeneration"] = GetInt(ds, {"metadata", "generation"}, 1);
  if (available == 0) st.erase("numberAvailable");
  if (desired - available == 0) st.erase("numberUnavailable");
  if (updated == 0) st.erase("updatedNumberScheduled");
  if (!SameStatus(out["status"], ds.value("status", Json::object()))) {
    auto r = client().UpdateStatus(client::kDaemonSets, Ns(ds), out);
    if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
  }
  if (next_check)
    EnqueueAfter(key, std::chrono::duration_cast<std::chrono::milliseconds>(*next_check - now) + std::chrono::milliseconds(10));
  return Status::Ok();
}

}  // namespace tug::controllers::daemonset
