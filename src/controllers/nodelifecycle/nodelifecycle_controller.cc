// Node lifecycle controller; see nodelifecycle_controller.h.
#include "controllers/nodelifecycle/nodelifecycle_controller.h"

#include <algorithm>
#include <condition_variable>

#include "base/log.h"

namespace tug::controllers::nodelifecycle {
namespace {

using framework::FindCondition;

constexpr char kPodIndex[] = "nodelifecycle.nodeName";

std::string Name(const Json& o) { return GetStringPath(o, {"metadata", "name"}); }
std::string Ns(const Json& o) { return GetStringPath(o, {"metadata", "namespace"}); }

bool Tolerates(const Json& tol, const Json& taint) {
  std::string effect = GetString(tol, "effect");
  if (!effect.empty() && effect != GetString(taint, "effect")) return false;
  std::string key = GetString(tol, "key");
  std::string op = GetString(tol, "operator", "Equal");
  if (key.empty()) return op == "Exists";
  if (key != GetString(taint, "key")) return false;
  if (op == "Exists") return true;
  return GetString(tol, "value") == GetString(taint, "value");
}

bool IsTerminal(const Json& pod) {
  std::string ph = GetStringPath(pod, {"status", "phase"});
  return ph == "Succeeded" || ph == "Failed";
}

}  // namespace

std::optional<SystemTime> EvictionTime(const Json& pod, const Json& node, int64_t default_toleration_seconds) {
  const Json* taints = FindPath(node, {"spec", "taints"});
  if (!taints || !taints->is_array()) return std::nullopt;
  const Json* pod_tols = FindPath(pod, {"spec", "tolerations"});
  // The DefaultTolerationSeconds admission plugin gives every pod without its own toleration for
  // the not-ready/unreachable NoExecute taints one for `default_toleration_seconds`; apply the
  // same here so the outcome is upstream's whether or not the API server added them.
  Json tols_holder = pod_tols && pod_tols->is_array() ? *pod_tols : Json::array();
  if (default_toleration_seconds >= 0) {
    for (const char* key : {kNotReadyTaint, kUnreachableTaint}) {
      Json probe = {{"key", key}, {"effect", "NoExecute"}};
      bool has = false;
      for (const Json& t : tols_holder) has = has || Tolerates(t, probe);
      if (!has)
        tols_holder.push_back({{"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"},
                               {"tolerationSeconds", default_toleration_seconds}});
    }
  }
  const Json* tols = &tols_holder;
  // Upstream's taint manager: every NoExecute taint must be tolerated (else evict now); then the
  // smallest tolerationSeconds among the tolerations used (none set: stay forever), counted
  // from when the newest NoExecute taint was added.
  bool any = false, bounded = false;
  int64_t min_secs = INT64_MAX;
  SystemTime start{};
  for (const Json& t : *taints) {
    if (GetString(t, "effect") != "NoExecute") continue;
    any = true;
    if (auto added = ParseRFC3339(GetString(t, "timeAdded")); added.ok() && *added > start) start = *added;
    bool matched = false;
    if (tols && tols->is_array()) {
      for (const Json& tol : *tols) {
        if (!Tolerates(tol, t)) continue;
        matched = true;
        const Json* ts = Find(tol, "tolerationSeconds");
        if (ts && ts->is_number_integer()) {
          bounded = true;
          min_secs = std::min<int64_t>(min_secs, std::max<int64_t>(ts->get<int64_t>(), 0));
        }
      }
    }
    if (!matched) return SystemTime{};
  }
  if (!any || !bounded) return std::nullopt;
  return start + std::chrono::seconds(min_secs);
}

NodeLifecycleController::NodeLifecycleController(const framework::ControllerContext& ctx, NodeLifecycleOptions opts)
    : Controller("node-lifecycle", ctx), opts_(opts) {
  nodes_ = &Informer(client::kNodes);
  leases_ = &Informer(client::kLeases);
  pods_ = &Informer(client::kPods);
  pods_->AddIndexer(kPodIndex, [](const Json& p) {
    std::string n = GetStringPath(p, {"spec", "nodeName"});
    return n.empty() ? std::vector<std::string>{} : std::vector<std::string>{n};
  });
  nodes_->AddHandler(EnqueueHandler());
  auto on_lease = [this](const client::ObjectPtr& l) {
    if (Ns(*l) == "kube-node-lease") Enqueue(Name(*l));
  };
  leases_->AddHandler(client::EventHandler{
      .on_add = on_lease, .on_update = [on_lease](const client::ObjectPtr&, const client::ObjectPtr& n) { on_lease(n); }, .on_delete = nullptr});
  // A pod landing on a tainted node must be checked against its taints.
  auto on_pod = [this](const client::ObjectPtr& p) {
    std::string n = GetStringPath(*p, {"spec", "nodeName"});
    if (!n.empty()) Enqueue(n);
  };
  pods_->AddHandler(client::EventHandler{
      .on_add = on_pod, .on_update = [on_pod](const client::ObjectPtr&, const client::ObjectPtr& n) { on_pod(n); }, .on_delete = nullptr});
  if (opts_.node_monitor_period.count() > 0) {
    ticker_ = std::jthread([this](std::stop_token st) {
      std::mutex m;
      std::condition_variable_any cv;
      while (!st.stop_requested()) {
        std::unique_lock<std::mutex> l(m);
        cv.wait_for(l, st, opts_.node_monitor_period, [] { return false; });
        if (st.stop_requested()) break;
        EnqueueAllNodes();
      }
    });
  }
}

NodeLifecycleController::~NodeLifecycleController() {
  ticker_.request_stop();
  if (ticker_.joinable()) ticker_.join();
  Stop();
}

std::unique_ptr<framework::Controller> NewNodeLifecycleController(const framework::ControllerContext& ctx) {
  return std::make_unique<NodeLifecycleController>(ctx);
}

void NodeLifecycleController::EnqueueAllNodes() {
  for (const auto& n : nodes_->List()) Enqueue(Name(*n));
}

Status NodeLifecycleController::Sync(const std::string& key) {
  client::ObjectPtr obj = nodes_->Get(key);
  if (!obj) {
    std::lock_guard<std::mutex> l(mu_);
    observed_.erase(key);
    return Status::Ok();
  }
  Json node = *obj;
  bool changed = false;
  RETURN_IF_ERROR(UpdateHealth(node, changed));
  if (changed) {
    auto r = client().UpdateStatus(client::kNodes, "", node);
    if (!r.ok()) return r.status();
    node = *r;
    const Json* ready = FindCondition(node, "Ready");
    if (ready && GetString(*ready, "status") != "True") {
      recorder().Record(node, "Normal", "NodeNotReady", "Node " + key + " status is now: NodeNotReady");
      RETURN_IF_ERROR(MarkPodsNotReady(node));
    }
  }
  RETURN_IF_ERROR(ReconcileTaints(node));
  return EvictPods(node);
}

Status NodeLifecycleController::UpdateHealth(Json& node, bool& changed) {
  const std::string name = Name(node);
  const SystemTime now = clock().Now();
  client::ObjectPtr lease = leases_->Get("kube-node-lease/" + name);
  std::string renew = lease ? GetStringPath(*lease, {"spec", "renewTime"}) : "";
  const Json* ready = FindCondition(node, "Ready");
  std::string hb = ready ? GetString(*ready, "lastHeartbeatTime") : "";
  SystemTime probe;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = observed_.find(name);
    if (it == observed_.end()) {
      // First sight: count from now (upstream uses the creation time only for brand-new nodes).
      auto created = ParseRFC3339(GetStringPath(node, {"metadata", "creationTimestamp"}));
      SystemTime start = now;
      if (!ready && created.ok() && *created < now) start = *created;
      it = observed_.emplace(name, Observed{renew, hb, start}).first;
    } else if (it->second.lease_renew != renew || it->second.ready_heartbeat != hb) {
      it->second = Observed{renew, hb, now};
    }
    probe = it->second.probe;
  }
  if (now < probe + opts_.node_monitor_grace_period) {
    EnqueueAfter(name, std::chrono::duration_cast<std::chrono::milliseconds>(probe + opts_.node_monitor_grace_period - now) +
                           std::chrono::milliseconds(10));
    return Status::Ok();
  }
  // The kubelet is silent: every condition it owns becomes Unknown.
  const std::string ts = FormatRFC3339(now);
  Json& conds = node["status"]["conditions"];
  if (!conds.is_array()) conds = Json::array();
  if (!ready) {
    conds.push_back({{"type", "Ready"},
                     {"status", "Unknown"},
                     {"reason", "NodeStatusNeverUpdated"},
                     {"message", "Kubelet never posted node status."},
                     {"lastHeartbeatTime", GetStringPath(node, {"metadata", "creationTimestamp"})},
                     {"lastTransitionTime", ts}});
    changed = true;
  }
  for (const char* type : {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
    bool found = false;
    for (Json& c : conds) {
      if (GetString(c, "type") != type) continue;
      found = true;
      if (GetString(c, "status") == "Unknown") break;
      c["status"] = "Unknown";
      c["reason"] = "NodeStatusUnknown";
      c["message"] = "Kubelet stopped posting node status.";
      c["lastTransitionTime"] = ts;
      changed = true;
    }
    if (!found && std::string(type) != "Ready") {
      conds.push_back({{"type", type},
                       {"status", "Unknown"},
                       {"reason", "NodeStatusNeverUpdated"},
                       {"message", "Kubelet never posted node status."},
                       {"lastHeartbeatTime", GetStringPath(node, {"metadata", "creationTimestamp"})},
                       {"lastTransitionTime", ts}});
      changed = true;
    }
  }
  if (changed)
    TUG_LOG(INFO, "node-lifecycle") << "node stopped posting status" << kv("node", name);
  return Status::Ok();
}

Status NodeLifecycleController::ReconcileTaints(const Json& node) {
  const Json* ready = FindCondition(node, "Ready");
  std::string status = ready ? GetString(*ready, "status") : "";
  std::string want;  // the taint key this node should carry
  if (status == "False") want = kNotReadyTaint;
  if (status == "Unknown") want = kUnreachableTaint;
  const Json* taints = FindPath(node, {"spec", "taints"});
  Json kept = Json::array();
  bool have_ns = false, have_ne = false, changed = false;
  if (taints && taints->is_array()) {
    for (const Json& t : *taints) {
      std::string k = GetString(t, "key");
      if (k == kNotReadyTaint || k == kUnreachableTaint) {
        std::string eff = GetString(t, "effect");
        if (k != want || (eff != "NoSchedule" && eff != "NoExecute")) {
          changed = true;
          continue;
        }
        if (eff == "NoSchedule") have_ns = true;
        if (eff == "NoExecute") have_ne = true;
      }
      kept.push_back(t);
    }
  }
  const std::string now = FormatRFC3339(clock().Now());
  if (!want.empty()) {
    if (!have_ns) {
      kept.push_back({{"key", want}, {"effect", "NoSchedule"}, {"timeAdded", now}});
      changed = true;
    }
    if (!have_ne) {
      kept.push_back({{"key", want}, {"effect", "NoExecute"}, {"timeAdded", now}});
      changed = true;
    }
  }
  if (!changed) return Status::Ok();
  // Optimistic concurrency on the node's resourceVersion; a conflict retries the whole sync.
  Json patch = {{"metadata", {{"resourceVersion", GetStringPath(node, {"metadata", "resourceVersion"})}}},
                {"spec", {{"taints", kept.empty() ? Json(nullptr) : kept}}}};
  auto r = client().Patch(client::kNodes, "", Name(node), client::PatchType::kMerge, DumpJson(patch));
  return r.status();
}

Status NodeLifecycleController::MarkPodsNotReady(const Json& node) {
  Status first;
  const std::string now = FormatRFC3339(clock().Now());
  for (const auto& p : pods_->ByIndex(kPodIndex, Name(node))) {
    if (IsTerminal(*p)) continue;
    const Json* ready = framework::FindCondition(*p, "Ready");
    if (!ready || GetString(*ready, "status") == "False") continue;
    // Only status and lastTransitionTime change (the condition's other fields stay).
    Json cond = *ready;
    cond["status"] = "False";
    cond["lastTransitionTime"] = now;
    auto r = framework::PatchPodStatus(client(), *p, {{"conditions", Json::array({std::move(cond)})}},
                                       /*if_unchanged=*/true);
    if (!r.ok() && r.status().code() != StatusCode::kNotFound) {
      if (first.ok()) first = r.status();
      continue;
    }
    recorder().Record(*p, "Warning", "NodeNotReady", "Node is not ready");
  }
  return first;
}

Status NodeLifecycleController::EvictPods(const Json& node) {
  // Only a NoExecute taint evicts: a node without one (nearly every sync) needs no look at its
  // pods.
  bool no_execute = false;
  if (const Json* taints = FindPath(node, {"spec", "taints"}); taints && taints->is_array())
    for (const Json& t : *taints) no_execute = no_execute || GetString(t, "effect") == "NoExecute";
  if (!no_execute) return Status::Ok();
  const SystemTime now = clock().Now();
  std::optional<SystemTime> next;
  Status first;
  for (const auto& p : pods_->ByIndex(kPodIndex, Name(node))) {
    if (framework::IsBeingDeleted(*p)) continue;
    auto when = EvictionTime(*p, node, opts_.default_toleration_seconds);
    if (!when) continue;
    if (*when > now) {
      if (!next || *when < *next) next = *when;
      continue;
    }
    // As upstream: a DisruptionTarget condition first, then the delete.
    const Json& pod = *p;
    if (!IsTerminal(pod)) {
      Json cond = framework::MakeCondition("DisruptionTarget", "True", "DeletionByTaintManager",
                                          "Taint manager: deleting due to NoExecute taint", now);
      auto u = framework::PatchPodStatus(client(), pod, {{"conditions", Json::array({std::move(cond)})}});
      if (!u.ok() && u.status().code() == StatusCode::kNotFound) continue;
    }
    recorder().Record(pod, "Normal", "TaintManagerEviction", "Marking for deletion Pod " + Ns(pod) + "/" + Name(pod));
    client::DeleteOptions o;
    o.precondition_uid = GetStringPath(pod, {"metadata", "uid"});
    auto r = client().Delete(client::kPods, Ns(pod), Name(pod), o);
    if (!r.ok() && r.status().code() != StatusCode::kNotFound && first.ok()) first = r.status();
  }
  if (next) EnqueueAfter(Name(node), std::chrono::duration_cast<std::chrono::milliseconds>(*next - now) + std::chrono::milliseconds(10));
  return first;
}

}  // namespace tug::controllers::nodelifecycle
