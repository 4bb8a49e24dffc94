#include "controllers/framework/pod_util.h"

namespace tug::controllers::framework {

Json PodFromTemplate(const Json& tmpl, const Json& owner, const Json& controller_ref) {
  Json pod = Json::object();
  pod["apiVersion"] = "v1";
  pod["kind"] = "Pod";
  Json meta = Json::object();
  if (const Json* tm = Find(tmpl, "metadata"); tm && tm->is_object()) {
    for (const char* f : {"labels", "annotations", "finalizers"})
      if (const Json* v = Find(*tm, f); v && !v->is_null()) meta[f] = *v;
  }
  meta["generateName"] = GetStringPath(owner, {"metadata", "name"}) + "-";
  std::string ns = GetStringPath(owner, {"metadata", "namespace"});
  if (!ns.empty()) meta["namespace"] = ns;
  if (!controller_ref.is_null()) meta["ownerReferences"] = Json::array({controller_ref});
  pod["metadata"] = std::move(meta);
  if (const Json* spec = Find(tmpl, "spec"); spec && spec->is_object())
    pod["spec"] = *spec;
  else
    pod["spec"] = Json::object();
  return pod;
}

Result<Json> CreatePodFromTemplate(const client::Client& c, const Json& tmpl, const Json& owner, const Json& controller_ref) {
  Json pod = PodFromTemplate(tmpl, owner, controller_ref);
  if (!Find(pod["metadata"], "labels") || pod["metadata"]["labels"].empty())
    return InvalidError("unable to create pods, no labels");
  return c.Create(client::kPods, GetStringPath(owner, {"metadata", "namespace"}), pod);
}

bool IsNamespaceTerminating(const Status& st) {
  if (st.code() != StatusCode::kForbidden) return false;
  if (const StatusDetails* d = st.details())
    for (const StatusCause& c : d->causes)
      if (c.reason == "NamespaceTerminating") return true;
  return st.message().find("because it is being terminated") != std::string::npos;
}

bool IsPodActive(const Json& pod) {
  std::string phase = GetStringPath(pod, {"status", "phase"});
  if (phase == "Succeeded" || phase == "Failed") return false;
  const Json* dt = FindPath(pod, {"metadata", "deletionTimestamp"});
  return !dt || dt->is_null();
}

const Json* FindCondition(const Json& obj, std::string_view type) {
  const Json* conds = FindPath(obj, {"status", "conditions"});
  if (!conds || !conds->is_array()) return nullptr;
  for (const Json& c : *conds)
    if (GetString(c, "type") == type) return &c;
  return nullptr;
}

bool IsPodReady(const Json& pod) {
  const Json* c = FindCondition(pod, "Ready");
  return c && GetString(*c, "status") == "True";
}

std::optional<SystemTime> PodAvailableAt(const Json& pod, int64_t min_ready_seconds) {
  const Json* c = FindCondition(pod, "Ready");
  if (!c || GetString(*c, "status") != "True") return std::nullopt;
  if (min_ready_seconds <= 0) return SystemTime{};
  auto t = ParseRFC3339(GetString(*c, "lastTransitionTime"));
  // A Ready condition without a transition time counts as ready since forever (nothing better).
  if (!t.ok()) return SystemTime{};
  return *t + std::chrono::seconds(min_ready_seconds);
}

bool IsPodAvailable(const Json& pod, int64_t min_ready_seconds, SystemTime now) {
  auto at = PodAvailableAt(pod, min_ready_seconds);
  return at && *at <= now;
}

Json MakeCondition(std::string_view type, std::string_view status, std::string_view reason, std::string_view message,
                   SystemTime now) {
  return {{"type", std::string(type)},
          {"status", std::string(status)},
          {"reason", std::string(reason)},
          {"message", std::string(message)},
          {"lastTransitionTime", FormatRFC3339(now)}};
}

bool SetCondition(Json& obj, std::string_view type, std::string_view status, std::string_view reason,
                  std::string_view message, SystemTime now, bool with_update_time) {
  Json& st = obj["status"];
  if (!st.is_object()) st = Json::object();
  Json& conds = st["conditions"];
  if (!conds.is_array()) conds = Json::array();
  Json n = MakeCondition(type, status, reason, message, now);
  if (with_update_time) n["lastUpdateTime"] = n["lastTransitionTime"];
  for (auto it = conds.begin(); it != conds.end(); ++it) {
    if (GetString(*it, "type") != type) continue;
    // Upstream: the same status and reason is no change at all (message included).
    if (GetString(*it, "status") == status && GetString(*it, "reason") == reason) return false;
    if (GetString(*it, "status") == status && Find(*it, "lastTransitionTime"))
      n["lastTransitionTime"] = (*it)["lastTransitionTime"];
    conds.erase(it);
    break;
  }
  // As upstream, the changed condition moves to the end of the list.
  conds.push_back(std::move(n));
  return true;
}

bool RemoveCondition(Json& obj, std::string_view type) {
  Json* conds = obj.contains("status") && obj["status"].is_object() && obj["status"].contains("conditions")
                    ? &obj["status"]["conditions"] : nullptr;
  if (!conds || !conds->is_array()) return false;
  for (auto it = conds->begin(); it != conds->end(); ++it) {
    if (GetString(*it, "type") == type) {
      conds->erase(it);
      return true;
    }
  }
  return false;
}

Result<Json> PatchPodStatus(const client::Client& c, const Json& pod, Json status, bool if_unchanged) {
  Json patch = {{"status", std::move(status)}};
  if (if_unchanged) patch["metadata"] = {{"resourceVersion", GetStringPath(pod, {"metadata", "resourceVersion"})}};
  return c.Patch(client::kPods, GetStringPath(pod, {"metadata", "namespace"}), GetStringPath(pod, {"metadata", "name"}),
                 client::PatchType::kStrategic, DumpJson(patch), "status");
}

int64_t GetInt(const Json& obj, std::initializer_list<std::string_view> path, int64_t def) {
  const Json* v = FindPath(obj, path);
  if (!v || !v->is_number()) return def;
  if (v->is_number_integer()) return v->get<int64_t>();
  return static_cast<int64_t>(v->get<double>());
}

}  // namespace tug::controllers::framework
