#include "controllers/endpoints/util.h"

#include <algorithm>

#include "controllers/framework/controller_ref.h"
#include "controllers/framework/pod_util.h"

namespace tug::controllers::endpoints {

std::optional<client::LabelSelector> ServiceSelector(const Json& service) {
  const Json* sel = FindPath(service, {"spec", "selector"});
  if (!sel || !sel->is_object() || sel->empty()) return std::nullopt;
  Json s = {{"matchLabels", *sel}};
  auto parsed = client::LabelSelector::FromJson(&s, false);
  if (!parsed.ok()) return std::nullopt;  // a map of label values the API server validated
  return std::move(*parsed);
}

bool ShouldPodBeInEndpoints(const Json& pod, bool include_terminating) {
  std::string phase = GetStringPath(pod, {"status", "phase"});
  if (phase == "Succeeded" || phase == "Failed") return false;
  const Json* ips = FindPath(pod, {"status", "podIPs"});
  if (GetStringPath(pod, {"status", "podIP"}).empty() && (!ips || !ips->is_array() || ips->empty())) return false;
  if (!include_terminating && framework::IsBeingDeleted(pod)) return false;
  return true;
}

bool ShouldSetHostname(const Json& pod, const Json& service) {
  return !GetStringPath(pod, {"spec", "hostname"}).empty() &&
         GetStringPath(pod, {"spec", "subdomain"}) == GetStringPath(service, {"metadata", "name"}) &&
         GetStringPath(pod, {"metadata", "namespace"}) == GetStringPath(service, {"metadata", "namespace"});
}

namespace {
bool IsV6(std::string_view ip) { return ip.find(':') != std::string_view::npos; }
}  // namespace

std::string PodIPOfFamily(const Json& pod, std::string_view family) {
  bool want_v6 = family == "IPv6";
  if (const Json* ips = FindPath(pod, {"status", "podIPs"}); ips && ips->is_array()) {
    for (const Json& e : *ips) {
      std::string ip = GetString(e, "ip");
      if (!ip.empty() && IsV6(ip) == want_v6) return ip;
    }
  }
  std::string ip = GetStringPath(pod, {"status", "podIP"});
  if (!ip.empty() && IsV6(ip) == want_v6) return ip;
  return "";
}

std::vector<std::string> ServiceFamilies(const Json& service) {
  std::vector<std::string> out;
  if (const Json* f = FindPath(service, {"spec", "ipFamilies"}); f && f->is_array())
    for (const Json& e : *f)
      if (e.is_string() && (e == "IPv4" || e == "IPv6") &&
          std::find(out.begin(), out.end(), e.get<std::string>()) == out.end())
        out.push_back(e.get<std::string>());
  if (out.empty()) {
    std::string ip = GetStringPath(service, {"spec", "clusterIP"});
    out.push_back(!ip.empty() && ip != "None" && IsV6(ip) ? "IPv6" : "IPv4");
  }
  return out;
}

std::string PrimaryFamily(const Json& service) { return ServiceFamilies(service).front(); }

std::string PortProtocol(const Json& service_port) { return GetString(service_port, "protocol", "TCP"); }

Result<int> FindPort(const Json& pod, const Json& service_port) {
  const Json* target = Find(service_port, "targetPort");
  if (!target || target->is_null()) target = Find(service_port, "port");
  if (target && target->is_number_integer()) return target->get<int>();
  if (!target || !target->is_string()) return NotFoundError("service port has no targetPort");
  std::string name = target->get<std::string>();
  // A numeric string is a number (IntOrString decoded from YAML/JSON as a string).
  if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::stoi(name);
  std::string proto = PortProtocol(service_port);
  auto search = [&](const Json* containers, bool sidecars_only) -> std::optional<int> {
    if (!containers || !containers->is_array()) return std::nullopt;
    for (const Json& c : *containers) {
      if (sidecars_only && GetString(c, "restartPolicy") != "Always") continue;
      const Json* ports = Find(c, "ports");
      if (!ports || !ports->is_array()) continue;
      for (const Json& p : *ports)
        if (GetString(p, "name") == name && GetString(p, "protocol", "TCP") == proto) {
          const Json* cp = Find(p, "containerPort");
          if (cp && cp->is_number_integer()) return cp->get<int>();
        }
    }
    return std::nullopt;
  };
  if (auto p = search(FindPath(pod, {"spec", "containers"}), false)) return *p;
  if (auto p = search(FindPath(pod, {"spec", "initContainers"}), true)) return *p;
  return NotFoundError("no suitable port for manifest: " + GetStringPath(pod, {"metadata", "uid"}));
}

bool IsHeadless(const Json& service) {
  std::string ip = GetStringPath(service, {"spec", "clusterIP"});
  return ip.empty() || ip == "None";
}

std::set<std::string> ServicesForPod(const client::Informer& services, const Json& pod, const Json* old_pod) {
  std::set<std::string> out;
  std::string ns = GetStringPath(pod, {"metadata", "namespace"});
  const Json* labels = FindPath(pod, {"metadata", "labels"});
  const Json* old_labels = old_pod ? FindPath(*old_pod, {"metadata", "labels"}) : nullptr;
  if (!labels && !old_labels) return out;  // a selector is never empty: nothing matches
  for (const client::ObjectPtr& svc : services.List(ns)) {
    auto sel = ServiceSelector(*svc);
    if (!sel) continue;
    if ((labels && sel->Matches(labels)) || (old_labels && sel->Matches(old_labels))) out.insert(client::KeyOf(*svc));
  }
  return out;
}

client::EventHandler PodToServicesHandler(const client::Informer& services,
                                          std::function<void(const std::string&)> enqueue) {
  auto each = [&services, enqueue](const Json& pod, const Json* old_pod) {
    for (const std::string& k : ServicesForPod(services, pod, old_pod)) enqueue(k);
  };
  return client::EventHandler{
      .on_add = [each](const client::ObjectPtr& p) { each(*p, nullptr); },
      .on_update =
          [each](const client::ObjectPtr& o, const client::ObjectPtr& n) {
            if (GetStringPath(*o, {"metadata", "resourceVersion"}) == GetStringPath(*n, {"metadata", "resourceVersion"}))
              return;  // resync: nothing changed
            each(*n, o.get());
          },
      .on_delete = [each](const client::ObjectPtr& p) { each(*p, nullptr); },
  };
}

namespace {
std::optional<SystemTime> TimeOf(const Json* v) {
  if (!v || !v->is_string()) return std::nullopt;
  auto t = ParseRFC3339(v->get<std::string>());
  if (!t.ok()) return std::nullopt;
  return *t;
}
}  // namespace

std::optional<SystemTime> TriggerTimeTracker::Compute(const Json& service, const std::vector<client::ObjectPtr>& pods) {
  std::string key = client::KeyOf(service);
  State prev;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = states_.find(key); it != states_.end()) prev = it->second;
  }
  std::optional<SystemTime> min_changed;
  auto consider = [&](SystemTime t) {
    if (!min_changed || t < *min_changed) min_changed = t;
  };
  State next;
  for (const client::ObjectPtr& pod : pods) {
    const Json* ready = framework::FindCondition(*pod, "Ready");
    auto t = ready ? TimeOf(Find(*ready, "lastTransitionTime")) : std::nullopt;
    if (!t) continue;
    std::string name = GetStringPath(*pod, {"metadata", "name"});
    next.pods[name] = *t;
    auto old = prev.pods.find(name);
    if (old == prev.pods.end() || *t > old->second) consider(*t);
  }
  next.service = TimeOf(FindPath(service, {"metadata", "creationTimestamp"}));
  if (next.service && (!prev.service || *next.service > *prev.service)) consider(*next.service);
  std::lock_guard<std::mutex> l(mu_);
  pending_[key] = std::move(next);
  return min_changed;
}

void TriggerTimeTracker::Commit(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_.find(key);
  if (it == pending_.end()) return;
  states_[key] = std::move(it->second);
  pending_.erase(it);
}

void TriggerTimeTracker::DeleteService(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  states_.erase(key);
  pending_.erase(key);
}

Json Canonical(const Json& j) {
  if (j.is_object()) {
    Json out = Json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      Json v = Canonical(it.value());
      if (v.is_null() || ((v.is_array() || v.is_object()) && v.empty())) continue;
      out[it.key()] = std::move(v);
    }
    return out;
  }
  if (j.is_array()) {
    Json out = Json::array();
    for (const Json& e : j) out.push_back(Canonical(e));
    return out;
  }
  return j;
}

std::string FormatTriggerTime(SystemTime t) {
  auto whole = std::chrono::time_point_cast<std::chrono::seconds>(t);
  if (whole == t) return FormatRFC3339(t);
  // Go's RFC3339Nano drops trailing zeros of the fraction.
  std::string s = FormatRFC3339Micro(t);
  auto z = s.rfind('Z');
  size_t end = z;
  while (end > 0 && s[end - 1] == '0') --end;
  if (end > 0 && s[end - 1] == '.') --end;
  return s.substr(0, end) + s.substr(z);
}

}  // namespace tug::controllers::endpoints
