// Disruption controller; see disruption_controller.h.
#include "controllers/disruption/disruption_controller.h"

#include <cmath>
#include <map>

#include "base/log.h"

namespace tug::controllers::disruption {
namespace {

using framework::GetInt;

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

// IntOrString against a total; percentages round up (upstream GetScaledValueFromIntOrPercent).
Result<int64_t> Scaled(const Json& v, int64_t total) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (!s.empty() && s.back() == '%') {
      double pct = std::atof(s.substr(0, s.size() - 1).c_str());
      return static_cast<int64_t>(std::ceil(pct * static_cast<double>(total) / 100.0));
    }
    char* end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (end && *end == '\0' && !s.empty()) return static_cast<int64_t>(n);
  }
  return InvalidError("invalid value for IntOrString: invalid type: string is not a percentage");
}

}  // namespace

DisruptionController::DisruptionController(const framework::ControllerContext& ctx) : Controller("disruption", ctx) {
  pdbs_ = &Informer(client::kPodDisruptionBudgets);
  pods_ = &Informer(client::kPods);
  rss_ = &Informer(client::kReplicaSets);
  deployments_ = &Informer(client::kDeployments);
  sts_ = &Informer(client::kStatefulSets);
  rcs_ = &Informer(client::kReplicationControllers);
  pdbs_->AddHandler(EnqueueHandler());
  pods_->AddHandler(client::EventHandler{
      .on_add = [this](const client::ObjectPtr& p) { OnPod(p); },
      .on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& p) { OnPod(p); },
      .on_delete = [this](const client::ObjectPtr& p) { OnPod(p); },
  });
  // Scale changes change expectedPods.
  auto all_in_ns = [this](const client::ObjectPtr& o) {
    for (const auto& pdb : pdbs_->List(Ns(*o))) Enqueue(*pdb);
  };
  client::EventHandler scale_handler{
      .on_add = all_in_ns,
      .on_update = [all_in_ns](const client::ObjectPtr&, const client::ObjectPtr& n) { all_in_ns(n); },
      .on_delete = all_in_ns};
  for (client::Informer* i : {rss_, deployments_, sts_, rcs_}) i->AddHandler(scale_handler);
}

DisruptionController::~DisruptionController() { Stop(); }

std::unique_ptr<framework::Controller> NewDisruptionController(const framework::ControllerContext& ctx) {
  return std::make_unique<DisruptionController>(ctx);
}

void DisruptionController::OnPod(const client::ObjectPtr& pod) {
  const Json* labels = FindPath(*pod, {"metadata", "labels"});
  for (const auto& pdb : pdbs_->List(Ns(*pod))) {
    auto sel = client::LabelSelector::FromJson(FindPath(*pdb, {"spec", "selector"}));
    if (sel.ok() && !sel->MatchesNothing() && sel->Matches(labels)) Enqueue(*pdb);
  }
}

Result<std::pair<std::string, int64_t>> DisruptionController::ControllerScale(const Json& pod) {
  const Json* ref = framework::GetControllerOf(pod);
  if (!ref) return NotFoundError("found no controllers for pod \"" + Name(pod) + "\"");
  std::string kind = GetString(*ref, "kind"), name = GetString(*ref, "name"), uid = GetString(*ref, "uid");
  std::string key = Ns(pod) + "/" + name;
  auto check = [&](const client::ObjectPtr& o) { return o && Uid(*o) == uid; };
  if (kind == "ReplicaSet") {
    client::ObjectPtr rs = rss_->Get(key);
    if (!check(rs)) return NotFoundError("found no controllers for pod \"" + Name(pod) + "\"");
    // A ReplicaSet of a Deployment scales with the Deployment.
    if (const Json* dref = framework::GetControllerOf(*rs); dref && GetString(*dref, "kind") == "Deployment") {
      client::ObjectPtr d = deployments_->Get(Ns(pod) + "/" + GetString(*dref, "name"));
      if (d && Uid(*d) == GetString(*dref, "uid")) return std::make_pair(Uid(*d), GetInt(*d, {"spec", "replicas"}, 1));
    }
    return std::make_pair(uid, GetInt(*rs, {"spec", "replicas"}, 1));
  }
  if (kind == "StatefulSet") {
    client::ObjectPtr s = sts_->Get(key);
    if (check(s)) return std::make_pair(uid, GetInt(*s, {"spec", "replicas"}, 1));
  }
  if (kind == "ReplicationController") {
    client::ObjectPtr rc = rcs_->Get(key);
    if (check(rc)) return std::make_pair(uid, GetInt(*rc, {"spec", "replicas"}, 1));
  }
  return NotFoundError("found no controllers for pod \"" + Name(pod) + "\"");
}

Status DisruptionController::Sync(const std::string& key) {
  client::ObjectPtr obj = pdbs_->Get(key);
  if (!obj) return Status::Ok();
  Json pdb = *obj;
  const SystemTime now = clock().Now();
  const Json& spec = pdb["spec"];
  auto selector = client::LabelSelector::FromJson(Find(spec, "selector"));
  std::vector<client::ObjectPtr> pods;
  if (selector.ok() && !selector->MatchesNothing() && !selector->Empty())
    pods = pods_->List(Ns(pdb), &*selector);

  std::string failure;
  int64_t expected = 0, desired = 0;
  const Json* min_available = Find(spec, "minAvailable");
  const Json* max_unavailable = Find(spec, "maxUnavailable");
  auto controllers_total = [&]() -> Result<int64_t> {
    std::map<std::string, int64_t> scales;
    for (const auto& p : pods) {
      auto s = ControllerScale(*p);
      if (!s.ok()) return s.status();
      scales[s->first] = s->second;
    }
    int64_t total = 0;
    for (const auto& [u, n] : scales) total += n;
    return total;
  };
  if (max_unavailable && !max_unavailable->is_null()) {
    auto total = controllers_total();
    if (!total.ok()) {
      failure = total.status().message();
    } else {
      expected = *total;
      auto mu = Scaled(*max_unavailable, expected);
      if (!mu.ok()) failure = mu.status().message();
      desired = std::max<int64_t>(expected - (mu.ok() ? *mu : 0), 0);
    }
  } else if (min_available && min_available->is_number_integer()) {
    expected = static_cast<int64_t>(pods.size());
    desired = min_available->get<int64_t>();
  } else if (min_available && min_available->is_string()) {
    auto total = controllers_total();
    if (!total.ok()) {
      failure = total.status().message();
    } else {
      expected = *total;
      auto ma = Scaled(*min_available, expected);
      if (!ma.ok()) failure = ma.status().message();
      desired = ma.ok() ? *ma : 0;
    }
  }

  int64_t healthy = 0;
  for (const auto& p : pods)
    if (!framework::IsBeingDeleted(*p) && framework::IsPodReady(*p)) ++healthy;

  Json& st = pdb["status"];
  if (!st.is_object()) st = Json::object();
  const Json old = st;
  st["observedGeneration"] = GetInt(pdb, {"metadata", "generation"}, 1);
  if (!failure.empty()) {
    recorder().Record(pdb, "Warning", "CalculateExpectedPodCountFailed",
                      "Failed to calculate the number of expected pods: " + failure);
    st["disruptionsAllowed"] = 0;
    st["currentHealthy"] = healthy;
    if (!st.contains("desiredHealthy")) st["desiredHealthy"] = 0;
    if (!st.contains("expectedPods")) st["expectedPods"] = 0;
    framework::SetCondition(pdb, "DisruptionAllowed", "False", "SyncFailed", failure, now, false);
  } else {
    int64_t allowed = (expected <= 0 || healthy - desired <= 0) ? 0 : healthy - desired;
    st["currentHealthy"] = healthy;
    st["desiredHealthy"] = desired;
    st["expectedPods"] = expected;
    st["disruptionsAllowed"] = allowed;
    if (allowed > 0)
      framework::SetCondition(pdb, "DisruptionAllowed", "True", "SufficientPods", "", now, false);
    else
      framework::SetCondition(pdb, "DisruptionAllowed", "False", "InsufficientPods", "", now, false);
  }
  // SetCondition keeps an unchanged condition; a message-only change must still be written.
  for (Json& c : st["conditions"])
    if (GetString(c, "type") == "DisruptionAllowed") c["observedGeneration"] = st["observedGeneration"];
  if (SameStatus(st, old)) return Status::Ok();
  auto r = client().UpdateStatus(client::kPodDisruptionBudgets, Ns(pdb), pdb);
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
  // A failed calculation is retried on the next relevant change (pod or controller event).
  return Status::Ok();
}

}  // namespace tug::controllers::disruption
