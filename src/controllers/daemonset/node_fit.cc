// Node fit checks; see node_fit.h.
#include "controllers/daemonset/node_fit.h"

#include <cstdlib>

namespace tug::controllers::daemonset {
namespace {

bool ParseInt(const std::string& s, long long* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtoll(s.c_str(), &end, 10);
  return end && *end == '\0';
}

bool RequirementMatches(const Json& req, const Json* values_source, bool is_field) {
  std::string key = GetString(req, "key");
  std::string op = GetString(req, "operator");
  const Json* vals = Find(req, "values");
  bool has = false;
  std::string value;
  if (values_source && values_source->is_object()) {
    if (const Json* v = Find(*values_source, key); v && v->is_string()) {
      has = true;
      value = v->get<std::string>();
    }
  }
  (void)is_field;
  auto in_values = [&] {
    if (!vals || !vals->is_array()) return false;
    for (const Json& v : *vals)
      if (v.is_string() && v.get<std::string>() == value) return true;
    return false;
  };
  if (op == "In") return has && in_values();
  if (op == "NotIn") return !has || !in_values();
  if (op == "Exists") return has;
  if (op == "DoesNotExist") return !has;
  if (op == "Gt" || op == "Lt") {
    if (!has || !vals || !vals->is_array() || vals->size() != 1 || !(*vals)[0].is_string()) return false;
    long long a, b;
    if (!ParseInt(value, &a) || !ParseInt((*vals)[0].get<std::string>(), &b)) return false;
    return op == "Gt" ? a > b : a < b;
  }
  return false;
}

}  // namespace

bool NodeSelectorMatches(const Json& sel, const Json& node) {
  const Json* terms = Find(sel, "nodeSelectorTerms");
  if (!terms || !terms->is_array()) return false;
  const Json* labels = FindPath(node, {"metadata", "labels"});
  Json fields = {{"metadata.name", GetStringPath(node, {"metadata", "name"})}};
  for (const Json& term : *terms) {
    const Json* exprs = Find(term, "matchExpressions");
    const Json* flds = Find(term, "matchFields");
    bool any = (exprs && exprs->is_array() && !exprs->empty()) || (flds && flds->is_array() && !flds->empty());
    if (!any) continue;
    bool ok = true;
    if (exprs && exprs->is_array())
      for (const Json& r : *exprs) ok = ok && RequirementMatches(r, labels, false);
    if (flds && flds->is_array())
      for (const Json& r : *flds) ok = ok && RequirementMatches(r, &fields, true);
    if (ok) return true;
  }
  return false;
}

bool PodMatchesNodeAffinity(const Json& spec, const Json& node) {
  if (const Json* ns = Find(spec, "nodeSelector"); ns && ns->is_object()) {
    const Json* labels = FindPath(node, {"metadata", "labels"});
    for (auto it = ns->begin(); it != ns->end(); ++it) {
      const Json* v = labels && labels->is_object() ? Find(*labels, it.key()) : nullptr;
      if (!v || !v->is_string() || !it.value().is_string() || v->get<std::string>() != it.value().get<std::string>())
        return false;
    }
  }
  const Json* req = FindPath(spec, {"affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"});
  if (req && req->is_object()) return NodeSelectorMatches(*req, node);
  return true;
}

bool Tolerates(const Json& tol, const Json& taint) {
  std::string effect = GetString(tol, "effect");
  if (!effect.empty() && effect != GetString(taint, "effect")) return false;
  std::string key = GetString(tol, "key");
  std::string op = GetString(tol, "operator", "Equal");
  if (key.empty()) return op == "Exists";
  if (key != GetString(taint, "key")) return false;
  if (op == "Exists") return true;
  if (op == "Equal" || op.empty()) return GetString(tol, "value") == GetString(taint, "value");
  return false;
}

bool ToleratesTaints(const Json& spec, const Json& node, std::string_view filter) {
  const Json* taints = FindPath(node, {"spec", "taints"});
  if (!taints || !taints->is_array()) return true;
  const Json* tols = Find(spec, "tolerations");
  for (const Json& t : *taints) {
    std::string effect = GetString(t, "effect");
    if (filter.empty() ? (effect != "NoSchedule" && effect != "NoExecute") : effect != filter) continue;
    bool ok = false;
    if (tols && tols->is_array())
      for (const Json& tol : *tols) ok = ok || Tolerates(tol, t);
    if (!ok) return false;
  }
  return true;
}

void AddDaemonPodTolerations(Json& spec) {
  struct T {
    const char* key;
    const char* effect;
  };
  std::vector<T> add = {{"node.kubernetes.io/not-ready", "NoExecute"},
                        {"node.kubernetes.io/unreachable", "NoExecute"},
                        {"node.kubernetes.io/disk-pressure", "NoSchedule"},
                        {"node.kubernetes.io/memory-pressure", "NoSchedule"},
                        {"node.kubernetes.io/pid-pressure", "NoSchedule"},
                        {"node.kubernetes.io/unschedulable", "NoSchedule"}};
  const Json* hn = Find(spec, "hostNetwork");
  if (hn && hn->is_boolean() && hn->get<bool>()) add.push_back({"node.kubernetes.io/network-unavailable", "NoSchedule"});
  if (!spec.contains("tolerations") || !spec["tolerations"].is_array()) spec["tolerations"] = Json::array();
  Json& tols = spec["tolerations"];
  for (const T& t : add) {
    // Upstream's AddOrUpdateTolerationInPodSpec: an existing toleration with the same key and
    // effect is replaced (kept at its position), otherwise appended.
    Json want = {{"key", t.key}, {"operator", "Exists"}, {"effect", t.effect}};
    bool found = false;
    for (Json& have : tols) {
      if (GetString(have, "key") == t.key && GetString(have, "effect") == t.effect) {
        have = want;
        found = true;
      }
    }
    if (!found) tols.push_back(want);
  }
}

void SetNodeNameAffinity(Json& spec, const std::string& node_name) {
  Json term = {{"matchFields", Json::array({{{"key", "metadata.name"}, {"operator", "In"}, {"values", {node_name}}}})}};
  if (!spec.contains("affinity") || !spec["affinity"].is_object()) spec["affinity"] = Json::object();
  Json& na = spec["affinity"]["nodeAffinity"];
  if (!na.is_object()) na = Json::object();
  Json& req = na["requiredDuringSchedulingIgnoredDuringExecution"];
  if (!req.is_object()) req = Json::object();
  req["nodeSelectorTerms"] = Json::array({term});
}

std::string TargetNodeName(const Json& pod) {
  std::string n = GetStringPath(pod, {"spec", "nodeName"});
  if (!n.empty()) return n;
  const Json* terms = FindPath(pod, {"spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"});
  if (!terms || !terms->is_array()) return "";
  for (const Json& t : *terms) {
    const Json* f = Find(t, "matchFields");
    if (!f || !f->is_array()) continue;
    for (const Json& r : *f) {
      const Json* vals = Find(r, "values");
      if (GetString(r, "key") == "metadata.name" && GetString(r, "operator") == "In" && vals && vals->is_array() &&
          vals->size() == 1 && (*vals)[0].is_string())
        return (*vals)[0].get<std::string>();
    }
  }
  return "";
}

NodeFit NodeShouldRunDaemonPod(const Json& spec, const Json& node) {
  NodeFit f;
  std::string want_node = GetString(spec, "nodeName");
  if (!want_node.empty() && want_node != GetStringPath(node, {"metadata", "name"})) return f;
  if (!PodMatchesNodeAffinity(spec, node)) return f;
  if (!ToleratesTaints(spec, node)) {
    // Untolerated NoSchedule taints keep new pods off; only NoExecute ones evict running ones.
    f.should_continue = ToleratesTaints(spec, node, "NoExecute");
    return f;
  }
  f.should_run = f.should_continue = true;
  return f;
}

}  // namespace tug::controllers::daemonset
