#include "kubelet/container_config.h"

#include <cmath>
#include <map>

#include "api/quantity.h"

namespace tug::kubelet {
namespace {

int64_t Get(const Json& c, const char* section, const char* res) {
  const Json* v = FindPath(c, {"resources", section, res});
  if (!v) return -1;
  std::string s = v->is_string() ? v->get<std::string>() : v->dump();
  auto q = ParseQuantityMilli(s);
  return q.ok() ? q.value() : -1;
}

std::string FieldRef(const Json& pod, const std::string& path, const std::string& node_name,
                     const std::string& node_ip, bool& ok) {
  ok = true;
  if (path == "metadata.name") return GetStringPath(pod, {"metadata", "name"});
  if (path == "metadata.namespace") return GetStringPath(pod, {"metadata", "namespace"});
  if (path == "metadata.uid") return GetStringPath(pod, {"metadata", "uid"});
  if (path == "spec.nodeName") return node_name;
  if (path == "spec.serviceAccountName") return GetStringPath(pod, {"spec", "serviceAccountName"});
  if (path == "status.hostIP") return node_ip;
  if (path == "status.hostIPs") return node_ip;
  if (path == "status.podIP" || path == "status.podIPs") return GetStringPath(pod, {"status", "podIP"});
  for (const char* m : {"metadata.labels['", "metadata.annotations['"}) {
    std::string p = m;
    if (path.rfind(p, 0) == 0 && path.size() > p.size() + 2) {
      std::string key = path.substr(p.size(), path.size() - p.size() - 2);
      return GetStringPath(pod, {"metadata", p.find("labels") != std::string::npos ? "labels" : "annotations", key});
    }
  }
  ok = false;
  return "";
}

std::string Expand(const std::string& in, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '(') {
      auto end = in.find(')', i + 2);
      if (end == std::string::npos) {
        out += in.substr(i);
        break;
      }
      std::string name = in.substr(i + 2, end - i - 2);
      auto it = vars.find(name);
      out += it != vars.end() ? it->second : "$(" + name + ")";
      i = end;
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace

Result<int64_t> ParseQuantityMilli(const std::string& q) {
  auto parsed = api::ParseQuantity(q);
  if (!parsed.ok()) return parsed.status();
  if (auto m = parsed->MilliValue()) return *m;
  return InvalidError("quantity " + q + " is too large");
}

std::string QosClass(const Json& pod) {
  bool any = false, guaranteed = true;
  auto visit = [&](const Json& c) {
    for (const char* r : {"cpu", "memory"}) {
      int64_t req = Get(c, "requests", r), lim = Get(c, "limits", r);
      if (req >= 0 || lim >= 0) any = true;
      if (lim < 0 || (req >= 0 && req != lim)) guaranteed = false;
    }
  };
  const Json& spec = pod.value("spec", Json::object());
  for (const Json& c : spec.value("containers", Json::array())) visit(c);
  for (const Json& c : spec.value("initContainers", Json::array())) visit(c);
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

runtime::Resources ContainerResources(const Json& pod, const Json& c, int64_t node_memory_bytes) {
  runtime::Resources r;
  int64_t cpu_req = Get(c, "requests", "cpu"), cpu_lim = Get(c, "limits", "cpu");
  int64_t mem_req = Get(c, "requests", "memory"), mem_lim = Get(c, "limits", "memory");
  if (cpu_req < 0 && cpu_lim >= 0) cpu_req = cpu_lim;  // API defaulting: request = limit
  if (mem_req < 0 && mem_lim >= 0) mem_req = mem_lim;
  // MilliCPUToShares: min 2 shares.
  r.cpu_shares = cpu_req <= 0 ? 2 : std::max<int64_t>(2, cpu_req * 1024 / 1000);
  if (cpu_lim > 0) {
    r.cpu_period_us = 100000;
    r.cpu_quota_us = std::max<int64_t>(1000, cpu_lim * 100000 / 1000);
  }
  if (mem_lim > 0) r.memory_limit_bytes = mem_lim / 1000;
  std::string qos = QosClass(pod);
  if (qos == "Guaranteed") {
    r.oom_score_adj = -997;
  } else if (qos == "BestEffort") {
    r.oom_score_adj = 1000;
  } else {
    int64_t mem_req_bytes = std::max<int64_t>(0, mem_req / 1000);
    int64_t adj = node_memory_bytes > 0 ? 1000 - (1000 * mem_req_bytes) / node_memory_bytes : 1000;
    r.oom_score_adj = std::clamp<int64_t>(adj, 2, 999);
  }
  return r;
}

Result<std::vector<std::pair<std::string, std::string>>> BuildEnv(const Json& pod, const Json& c,
                                                                   const std::string& node_name,
                                                                   const std::string& node_ip,
                                                                   const KeyLookup& key_lookup,
                                                                   const DataLookup& data_lookup) {
  std::vector<std::pair<std::string, std::string>> out;
  std::map<std::string, std::string> vars;
  auto set = [&](const std::string& k, const std::string& v) {
    for (auto& p : out)
      if (p.first == k) {
        p.second = v;
        vars[k] = v;
        return;
      }
    out.emplace_back(k, v);
    vars[k] = v;
  };
  for (const Json& ef : c.value("envFrom", Json::array())) {
    std::string prefix = GetString(ef, "prefix");
    for (const char* kind : {"configMapRef", "secretRef"}) {
      const Json* ref = Find(ef, kind);
      if (!ref) continue;
      bool optional = ref->value("optional", false);
      std::string k = std::string(kind) == "configMapRef" ? "ConfigMap" : "Secret";
      auto data = data_lookup(k, GetString(*ref, "name"));
      if (!data.ok()) {
        if (optional) continue;
        return InvalidError(std::string(k == "ConfigMap" ? "configmap" : "secret") + " \"" +
                            GetString(*ref, "name") + "\" not found");
      }
      for (const auto& [key, v] : data.value()) set(prefix + key, v);
    }
  }
  for (const Json& e : c.value("env", Json::array())) {
    std::string name = GetString(e, "name");
    if (e.contains("value")) {
      set(name, Expand(GetString(e, "value"), vars));
      continue;
    }
    const Json* vf = Find(e, "valueFrom");
    if (!vf) {
      set(name, "");
      continue;
    }
    if (const Json* fr = Find(*vf, "fieldRef")) {
      bool ok;
      std::string v = FieldRef(pod, GetString(*fr, "fieldPath"), node_name, node_ip, ok);
      if (!ok) return InvalidError("unsupported fieldPath " + GetString(*fr, "fieldPath"));
      set(name, v);
    } else if (const Json* rf = Find(*vf, "resourceFieldRef")) {
      std::string res = GetString(*rf, "resource");
      std::string cname = GetString(*rf, "containerName", GetString(c, "name"));
      const Json* target = &c;
      if (const Json* cs = FindPath(pod, {"spec", "containers"}); cs && cs->is_array())
        for (const Json& x : *cs)
          if (GetString(x, "name") == cname) target = &x;
      auto dot = res.find('.');
      std::string section = res.substr(0, dot), rname = res.substr(dot + 1);
      int64_t milli = Get(*target, section.c_str(), rname.c_str());
      int64_t divisor = 1000;
      if (const Json* d = Find(*rf, "divisor")) {
        auto dv = ParseQuantityMilli(d->is_string() ? d->get<std::string>() : d->dump());
        if (dv.ok() && dv.value() > 0) divisor = dv.value();
      }
      if (milli < 0) {
        // Unset limits default to the node's allocatable; requests to 0 (kubelet's behaviour).
        milli = 0;
      }
      set(name, std::to_string((milli + divisor - 1) / divisor));
    } else {
      for (const char* kind : {"configMapKeyRef", "secretKeyRef"}) {
        const Json* ref = Find(*vf, kind);
        if (!ref) continue;
        std::string k = std::string(kind) == "configMapKeyRef" ? "ConfigMap" : "Secret";
        auto v = key_lookup(k, GetString(*ref, "name"), GetString(*ref, "key"));
        if (!v.ok()) {
          if (ref->value("optional", false)) break;
          if (v.status().message().find("key") != std::string::npos)
            return InvalidError("couldn't find key " + GetString(*ref, "key") + " in " + k + " " +
                                GetStringPath(pod, {"metadata", "namespace"}) + "/" + GetString(*ref, "name"));
          return InvalidError(std::string(k == "ConfigMap" ? "configmap" : "secret") + " \"" +
                              GetString(*ref, "name") + "\" not found");
        }
        set(name, v.value());
      }
    }
  }
  return out;
}

}  // namespace tug::kubelet
