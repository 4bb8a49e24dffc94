#include "api/conversion/conversion.h"

#include <functional>
#include <map>
#include <string>
#include <tuple>

namespace tug::api::conversion {
namespace {

constexpr int64_t kMaxInt32 = 2147483647;

// Annotations upstream's autoscaling/v1 conversion keeps the v2-only parts of an HPA in.
constexpr const char* kHpaMetrics = "autoscaling.alpha.kubernetes.io/metrics";
constexpr const char* kHpaCurrentMetrics = "autoscaling.alpha.kubernetes.io/current-metrics";
constexpr const char* kHpaConditions = "autoscaling.alpha.kubernetes.io/conditions";
constexpr const char* kHpaBehavior = "autoscaling.alpha.kubernetes.io/behavior";

// policy/v1beta1 treats an empty selector as "no pods", policy/v1 as "all pods"; upstream keeps
// the old meaning across versions with a selector on this reserved label key.
constexpr const char* kPdbEmptySelectorKey = "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match";

bool IsEmptyObject(const Json* j) { return j == nullptr || j->is_null() || (j->is_object() && j->empty()); }

Json& Annotations(Json& obj) {
  Json& meta = obj["metadata"];
  if (!meta.is_object()) meta = Json::object();
  Json& a = meta["annotations"];
  if (!a.is_object()) a = Json::object();
  return a;
}

void EraseAnnotation(Json& obj, const char* key) {
  Json* meta = obj.contains("metadata") ? &obj["metadata"] : nullptr;
  if (!meta || !meta->is_object() || !meta->contains("annotations")) return;
  Json& a = (*meta)["annotations"];
  if (!a.is_object()) return;
  a.erase(key);
  if (a.empty()) meta->erase("annotations");
}

// Reads a JSON-valued annotation; null when absent or malformed.
Json AnnotationJson(const Json& obj, const char* key) {
  const Json* v = FindPath(obj, {"metadata", "annotations", key});
  if (!v || !v->is_string()) return nullptr;
  auto parsed = ParseJson(v->get<std::string>());
  return parsed.ok() ? *parsed : Json(nullptr);
}

// ---- workloads: defaults of the old versions ------------------------------------------------

// Old workload versions default the selector and the object's labels from the template's labels.
void DefaultSelectorAndLabels(Json& obj) {
  const Json* labels = FindPath(obj, {"spec", "template", "metadata", "labels"});
  if (!labels || !labels->is_object() || labels->empty()) return;
  Json& spec = obj["spec"];
  if (IsEmptyObject(Find(spec, "selector"))) spec["selector"] = {{"matchLabels", *labels}};
  const Json* own = FindPath(obj, {"metadata", "labels"});
  if (IsEmptyObject(own)) obj["metadata"]["labels"] = *labels;
}

void DefaultIfMissing(Json& parent, const char* key, Json value) {
  if (!parent.contains(key) || parent[key].is_null()) parent[key] = std::move(value);
}

void DefaultDeployment(const ResourceDef& res, Json& obj) {
  bool ext = res.group == "extensions";
  bool beta1 = res.group == "apps" && res.version == "v1beta1";
  if (!ext && !beta1) return;
  DefaultSelectorAndLabels(obj);
  Json& spec = obj["spec"];
  if (!spec.is_object()) return;
  Json& strategy = spec["strategy"];
  if (!strategy.is_object()) strategy = Json::object();
  DefaultIfMissing(strategy, "type", "RollingUpdate");
  if (ext && strategy["type"] == "RollingUpdate") {
    Json& ru = strategy["rollingUpdate"];
    if (!ru.is_object()) ru = Json::object();
    DefaultIfMissing(ru, "maxUnavailable", 1);
    DefaultIfMissing(ru, "maxSurge", 1);
  }
  DefaultIfMissing(spec, "revisionHistoryLimit", ext ? kMaxInt32 : 2);
  if (ext) DefaultIfMissing(spec, "progressDeadlineSeconds", kMaxInt32);
}

void DefaultDaemonSet(const ResourceDef& res, Json& obj) {
  if (res.group != "extensions") return;
  DefaultSelectorAndLabels(obj);
  Json& spec = obj["spec"];
  if (!spec.is_object()) return;
  Json& us = spec["updateStrategy"];
  if (!us.is_object()) us = Json::object();
  DefaultIfMissing(us, "type", "OnDelete");
}

void DefaultReplicaSet(const ResourceDef& res, Json& obj) {
  if (res.group == "extensions") DefaultSelectorAndLabels(obj);
}

void DefaultStatefulSet(const ResourceDef& res, Json& obj) {
  if (!(res.group == "apps" && res.version == "v1beta1")) return;
  DefaultSelectorAndLabels(obj);
  Json& spec = obj["spec"];
  if (!spec.is_object()) return;
  Json& us = spec["updateStrategy"];
  if (!us.is_object()) us = Json::object();
  DefaultIfMissing(us, "type", "OnDelete");
}

void DefaultIngress(const ResourceDef&, Json& obj) {
  Json* rules = obj.contains("spec") && obj["spec"].is_object() && obj["spec"].contains("rules") ? &obj["spec"]["rules"]
                                                                                                : nullptr;
  if (!rules || !rules->is_array()) return;
  for (Json& rule : *rules) {
    if (!rule.is_object() || !rule.contains("http") || !rule["http"].is_object()) continue;
    Json& paths = rule["http"]["paths"];
    if (!paths.is_array()) continue;
    for (Json& p : paths)
      if (p.is_object()) DefaultIfMissing(p, "pathType", "ImplementationSpecific");
  }
}

// ---- workloads: conversions -------------------------------------------------------------------

// Fields the old workload versions have and apps/v1 dropped.
void DropOldWorkloadFields(Json& obj) {
  if (Json* spec = obj.contains("spec") && obj["spec"].is_object() ? &obj["spec"] : nullptr) {
    spec->erase("rollbackTo");
    spec->erase("templateGeneration");
  }
}

// ---- Ingress ----------------------------------------------------------------------------------

// extensions/v1beta1 {serviceName, servicePort} -> networking.k8s.io/v1 {service{name, port}}.
Status BackendToV1(Json& b) {
  if (!b.is_object()) return Status::Ok();
  if (!b.contains("serviceName") && !b.contains("servicePort")) return Status::Ok();
  Json svc = Json::object();
  if (b.contains("serviceName")) svc["name"] = b["serviceName"];
  if (b.contains("servicePort")) {
    const Json& p = b["servicePort"];
    if (p.is_number_integer()) {
      svc["port"] = {{"number", p}};
    } else if (p.is_string()) {
      // An int-or-string holding digits is a number.
      const std::string s = p.get<std::string>();
      bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
      if (digits && s.size() < 10)
        svc["port"] = {{"number", std::stoi(s)}};
      else
        svc["port"] = {{"name", s}};
    } else {
      return InvalidError("spec.backend.servicePort: Invalid value: must be an integer or a string");
    }
  }
  b.erase("serviceName");
  b.erase("servicePort");
  b["service"] = std::move(svc);
  return Status::Ok();
}

void BackendFromV1(Json& b) {
  if (!b.is_object() || !b.contains("service") || !b["service"].is_object()) return;
  Json svc = b["service"];
  b.erase("service");
  if (svc.contains("name")) b["serviceName"] = svc["name"];
  if (const Json* port = Find(svc, "port"); port && port->is_object()) {
    if (port->contains("number")) b["servicePort"] = (*port)["number"];
    else if (port->contains("name")) b["servicePort"] = (*port)["name"];
  }
}

template <typename F>
void ForEachIngressBackend(Json& obj, F&& f) {
  if (!obj.contains("spec") || !obj["spec"].is_object()) return;
  Json& spec = obj["spec"];
  for (const char* k : {"backend", "defaultBackend"})
    if (spec.contains(k)) f(spec[k]);
  if (!spec.contains("rules") || !spec["rules"].is_array()) return;
  for (Json& rule : spec["rules"]) {
    if (!rule.is_object() || !rule.contains("http") || !rule["http"].is_object()) continue;
    Json& paths = rule["http"]["paths"];
    if (!paths.is_array()) continue;
    for (Json& p : paths)
      if (p.is_object() && p.contains("backend")) f(p["backend"]);
  }
}

Status IngressToV1(Json& obj) {
  Status st = Status::Ok();
  ForEachIngressBackend(obj, [&](Json& b) {
    if (st.ok()) st = BackendToV1(b);
  });
  RETURN_IF_ERROR(st);
  if (obj.contains("spec") && obj["spec"].is_object() && obj["spec"].contains("backend")) {
    obj["spec"]["defaultBackend"] = obj["spec"]["backend"];
    obj["spec"].erase("backend");
  }
  return Status::Ok();
}

void IngressFromV1(Json& obj) {
  ForEachIngressBackend(obj, [](Json& b) { BackendFromV1(b); });
  if (obj.contains("spec") && obj["spec"].is_object() && obj["spec"].contains("defaultBackend")) {
    obj["spec"]["backend"] = obj["spec"]["defaultBackend"];
    obj["spec"].erase("defaultBackend");
  }
}

// ---- PodDisruptionBudget ----------------------------------------------------------------------

Json ReservedSelector(const char* op) {
  return {{"matchExpressions", Json::array({{{"key", kPdbEmptySelectorKey}, {"operator", op}}})}};
}

bool IsReservedSelector(const Json& sel, const char* op) { return sel == ReservedSelector(op); }

void PdbToV1(Json& obj) {
  if (!obj.contains("spec") || !obj["spec"].is_object()) return;
  Json& spec = obj["spec"];
  if (!spec.contains("selector") || spec["selector"].is_null()) return;
  Json& sel = spec["selector"];
  if (IsReservedSelector(sel, "DoesNotExist")) {
    sel = Json::object();  // v1beta1's "all pods" is v1's empty selector
  } else if (sel.is_object() && sel.empty()) {
    sel = ReservedSelector("Exists");  // v1beta1's empty selector selects nothing
  }
}

void PdbFromV1(Json& obj) {
  if (!obj.contains("spec") || !obj["spec"].is_object()) return;
  Json& spec = obj["spec"];
  if (!spec.contains("selector") || spec["selector"].is_null()) return;
  Json& sel = spec["selector"];
  if (IsReservedSelector(sel, "Exists")) {
    sel = Json::object();
  } else if (sel.is_object() && sel.empty()) {
    sel = ReservedSelector("DoesNotExist");
  }
}

// ---- HorizontalPodAutoscaler (autoscaling/v1 <-> v2) ------------------------------------------

// autoscaling/v1's MetricSpec (kept in an annotation) from a v2 MetricSpec, and back.
Json MetricSpecToV1(const Json& m) {
  std::string type = GetString(m, "type");
  Json out = {{"type", type}};
  auto target = [](const Json& src) { return Find(src, "target") ? src["target"] : Json::object(); };
  if (type == "Resource" || type == "ContainerResource") {
    const char* key = type == "Resource" ? "resource" : "containerResource";
    const Json& r = m.contains(key) ? m[key] : Json::object();
    Json o = {{"name", r.value("name", "")}};
    if (r.contains("container")) o["container"] = r["container"];
    Json t = target(r);
    if (t.contains("averageUtilization")) o["targetAverageUtilization"] = t["averageUtilization"];
    if (t.contains("averageValue")) o["targetAverageValue"] = t["averageValue"];
    out[key] = o;
  } else if (type == "Pods") {
    const Json& p = m.contains("pods") ? m["pods"] : Json::object();
    Json o = {{"metricName", GetStringPath(p, {"metric", "name"})}};
    if (const Json* s = FindPath(p, {"metric", "selector"})) o["selector"] = *s;
    Json t = target(p);
    if (t.contains("averageValue")) o["targetAverageValue"] = t["averageValue"];
    out["pods"] = o;
  } else if (type == "Object") {
    const Json& p = m.contains("object") ? m["object"] : Json::object();
    Json o = {{"metricName", GetStringPath(p, {"metric", "name"})}};
    if (p.contains("describedObject")) o["target"] = p["describedObject"];
    if (const Json* s = FindPath(p, {"metric", "selector"})) o["selector"] = *s;
    Json t = target(p);
    if (t.contains("value")) o["targetValue"] = t["value"];
    if (t.contains("averageValue")) o["averageValue"] = t["averageValue"];
    out["object"] = o;
  } else if (type == "External") {
    const Json& p = m.contains("external") ? m["external"] : Json::object();
    Json o = {{"metricName", GetStringPath(p, {"metric", "name"})}};
    if (const Json* s = FindPath(p, {"metric", "selector"})) o["metricSelector"] = *s;
    Json t = target(p);
    if (t.contains("value")) o["targetValue"] = t["value"];
    if (t.contains("averageValue")) o["targetAverageValue"] = t["averageValue"];
    out["external"] = o;
  }
  return out;
}

Json MetricSpecFromV1(const Json& m) {
  std::string type = GetString(m, "type");
  Json out = {{"type", type}};
  if (type == "Resource" || type == "ContainerResource") {
    const char* key = type == "Resource" ? "resource" : "containerResource";
    const Json& r = m.contains(key) ? m[key] : Json::object();
    Json o = {{"name", r.value("name", "")}};
    if (r.contains("container")) o["container"] = r["container"];
    if (r.contains("targetAverageUtilization"))
      o["target"] = {{"type", "Utilization"}, {"averageUtilization", r["targetAverageUtilization"]}};
    else if (r.contains("targetAverageValue"))
      o["target"] = {{"type", "AverageValue"}, {"averageValue", r["targetAverageValue"]}};
    out[key] = o;
  } else if (type == "Pods") {
    const Json& p = m.contains("pods") ? m["pods"] : Json::object();
    Json metric = {{"name", p.value("metricName", "")}};
    if (p.contains("selector")) metric["selector"] = p["selector"];
    out["pods"] = {{"metric", metric}, {"target", {{"type", "AverageValue"}, {"averageValue", p.value("targetAverageValue", Json("0"))}}}};
  } else if (type == "Object") {
    const Json& p = m.contains("object") ? m["object"] : Json::object();
    Json metric = {{"name", p.value("metricName", "")}};
    if (p.contains("selector")) metric["selector"] = p["selector"];
    Json o = {{"metric", metric}};
    if (p.contains("target")) o["describedObject"] = p["target"];
    if (p.contains("averageValue"))
      o["target"] = {{"type", "AverageValue"}, {"averageValue", p["averageValue"]}};
    else
      o["target"] = {{"type", "Value"}, {"value", p.value("targetValue", Json("0"))}};
    out["object"] = o;
  } else if (type == "External") {
    const Json& p = m.contains("external") ? m["external"] : Json::object();
    Json metric = {{"name", p.value("metricName", "")}};
    if (p.contains("metricSelector")) metric["selector"] = p["metricSelector"];
    Json o = {{"metric", metric}};
    if (p.contains("targetAverageValue"))
      o["target"] = {{"type", "AverageValue"}, {"averageValue", p["targetAverageValue"]}};
    else
      o["target"] = {{"type", "Value"}, {"value", p.value("targetValue", Json("0"))}};
    out["external"] = o;
  }
  return out;
}

bool IsCpuUtilization(const Json& m) {
  return GetString(m, "type") == "Resource" && GetStringPath(m, {"resource", "name"}) == "cpu" &&
         GetStringPath(m, {"resource", "target", "type"}) == "Utilization";
}

void HpaToV2(Json& obj) {
  Json& spec = obj["spec"];
  if (!spec.is_object()) spec = Json::object();
  Json metrics = Json::array();
  Json extra = AnnotationJson(obj, kHpaMetrics);
  if (extra.is_array())
    for (const Json& m : extra) metrics.push_back(MetricSpecFromV1(m));
  if (spec.contains("targetCPUUtilizationPercentage") && !spec["targetCPUUtilizationPercentage"].is_null()) {
    metrics.push_back({{"type", "Resource"},
                       {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", spec["targetCPUUtilizationPercentage"]}}}}}});
  }
  spec.erase("targetCPUUtilizationPercentage");
  if (!metrics.empty()) spec["metrics"] = metrics;
  if (Json b = AnnotationJson(obj, kHpaBehavior); b.is_object()) spec["behavior"] = b;

  Json& status = obj["status"];
  if (status.is_object()) {
    Json current = Json::array();
    Json cm = AnnotationJson(obj, kHpaCurrentMetrics);
    if (cm.is_array()) current = cm;
    if (status.contains("currentCPUUtilizationPercentage") && !status["currentCPUUtilizationPercentage"].is_null()) {
      current.push_back({{"type", "Resource"},
                         {"resource", {{"name", "cpu"}, {"current", {{"averageUtilization", status["currentCPUUtilizationPercentage"]}}}}}});
    }
    status.erase("currentCPUUtilizationPercentage");
    if (!current.empty()) status["currentMetrics"] = current;
    if (Json conds = AnnotationJson(obj, kHpaConditions); conds.is_array()) status["conditions"] = conds;
  } else {
    obj.erase("status");
  }
  for (const char* a : {kHpaMetrics, kHpaCurrentMetrics, kHpaConditions, kHpaBehavior}) EraseAnnotation(obj, a);
}

void HpaToV1(Json& obj) {
  Json& spec = obj["spec"];
  if (!spec.is_object()) spec = Json::object();
  Json others = Json::array();
  if (spec.contains("metrics") && spec["metrics"].is_array()) {
    for (const Json& m : spec["metrics"]) {
      if (IsCpuUtilization(m) && !spec.contains("targetCPUUtilizationPercentage"))
        spec["targetCPUUtilizationPercentage"] = m["resource"]["target"].value("averageUtilization", Json(nullptr));
      else
        others.push_back(MetricSpecToV1(m));
    }
  }
  spec.erase("metrics");
  if (!others.empty()) Annotations(obj)[kHpaMetrics] = DumpJson(others);
  if (spec.contains("behavior")) {
    if (!spec["behavior"].is_null()) Annotations(obj)[kHpaBehavior] = DumpJson(spec["behavior"]);
    spec.erase("behavior");
  }
  if (obj.contains("status") && obj["status"].is_object()) {
    Json& status = obj["status"];
    Json rest = Json::array();
    if (status.contains("currentMetrics") && status["currentMetrics"].is_array()) {
      for (const Json& m : status["currentMetrics"]) {
        if (GetString(m, "type") == "Resource" && GetStringPath(m, {"resource", "name"}) == "cpu" &&
            FindPath(m, {"resource", "current", "averageUtilization"}))
          status["currentCPUUtilizationPercentage"] = m["resource"]["current"]["averageUtilization"];
        else
          rest.push_back(m);
      }
    }
    status.erase("currentMetrics");
    if (!rest.empty()) Annotations(obj)[kHpaCurrentMetrics] = DumpJson(rest);
    if (status.contains("conditions")) {
      if (status["conditions"].is_array() && !status["conditions"].empty())
        Annotations(obj)[kHpaConditions] = DumpJson(status["conditions"]);
      status.erase("conditions");
    }
  }
}

// ---- the table --------------------------------------------------------------------------------

struct Converter {
  std::function<void(const ResourceDef&, Json&)> defaults;   // may be empty
  std::function<Status(Json&)> to_storage;                   // may be empty: fields are identical
  std::function<void(Json&)> from_storage;                   // may be empty
};

// Keyed by the served (group, kind); the storage side is the ResourceDef's storage group-version.
const std::map<std::pair<std::string, std::string>, Converter>& Converters() {
  static const auto* table = [] {
    auto* m = new std::map<std::pair<std::string, std::string>, Converter>;
    auto workload = [](std::function<void(const ResourceDef&, Json&)> d) {
      return Converter{std::move(d),
                       [](Json& o) {
                         DropOldWorkloadFields(o);
                         return Status::Ok();
                       },
                       nullptr};
    };
    for (const char* g : {"apps", "extensions"}) {
      (*m)[{g, "Deployment"}] = workload(DefaultDeployment);
      (*m)[{g, "DaemonSet"}] = workload(DefaultDaemonSet);
      (*m)[{g, "ReplicaSet"}] = workload(DefaultReplicaSet);
    }
    (*m)[{"apps", "StatefulSet"}] = workload(DefaultStatefulSet);
    (*m)[{"extensions", "Ingress"}] = {DefaultIngress, IngressToV1, IngressFromV1};
    (*m)[{"policy", "PodDisruptionBudget"}] = {nullptr,
                                               [](Json& o) {
                                                 PdbToV1(o);
                                                 return Status::Ok();
                                               },
                                               PdbFromV1};
    (*m)[{"autoscaling", "HorizontalPodAutoscaler"}] = {nullptr,
                                                        [](Json& o) {
                                                          HpaToV2(o);
                                                          return Status::Ok();
                                                        },
                                                        HpaToV1};
    return m;
  }();
  return *table;
}

const Converter* ConverterFor(const ResourceDef& res) {
  auto it = Converters().find({res.group, res.kind});
  return it == Converters().end() ? nullptr : &it->second;
}

std::string StorageApiVersion(const ResourceDef& res) {
  return res.storage_group.empty() ? res.storage_version : res.storage_group + "/" + res.storage_version;
}

}  // namespace

const ResourceDef* StorageResource(const Registry& reg, const ResourceDef& res) {
  if (res.IsStorageVersion()) return &res;
  return reg.ByResource(res.storage_group, res.storage_version, res.plural);
}

void DefaultServed(const ResourceDef& res, Json& obj) {
  if (!NeedsConversion(res) || !obj.is_object()) return;
  if (const Converter* c = ConverterFor(res); c && c->defaults) c->defaults(res, obj);
}

Status ToStorage(const ResourceDef& res, Json& obj) {
  if (!obj.is_object()) return InvalidError("object must be a JSON object");
  if (NeedsConversion(res))
    if (const Converter* c = ConverterFor(res); c && c->to_storage) RETURN_IF_ERROR(c->to_storage(obj));
  obj["apiVersion"] = StorageApiVersion(res);
  obj["kind"] = res.kind;
  return Status::Ok();
}

Status FromStorage(const ResourceDef& res, Json& obj) {
  if (!obj.is_object()) return InvalidError("object must be a JSON object");
  if (NeedsConversion(res))
    if (const Converter* c = ConverterFor(res); c && c->from_storage) c->from_storage(obj);
  obj["apiVersion"] = res.ApiVersion();
  obj["kind"] = res.kind;
  return Status::Ok();
}

void ScaleFromAutoscaling(const GroupVersionKind& want, Json& scale) {
  scale["apiVersion"] = want.ApiVersion();
  scale["kind"] = want.kind;
  if (want.group == "autoscaling") return;
  Json& status = scale["status"];
  if (!status.is_object()) return;
  std::string sel = status.contains("selector") && status["selector"].is_string() ? status["selector"].get<std::string>() : "";
  status.erase("selector");
  if (sel.empty()) return;
  status["targetSelector"] = sel;
  // The map form exists only for selectors made of equality requirements.
  Json labels = Json::object();
  size_t start = 0;
  while (start <= sel.size()) {
    size_t end = sel.find(',', start);
    std::string part = sel.substr(start, end == std::string::npos ? std::string::npos : end - start);
    size_t eq = part.find('=');
    if (eq == std::string::npos || part.find_first_of("!()") != std::string::npos) return;
    std::string k = part.substr(0, eq), v = part.substr(eq + 1);
    if (!v.empty() && v[0] == '=') v = v.substr(1);
    labels[k] = v;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  status["selector"] = labels;
}

void ScaleToAutoscaling(Json& scale) {
  scale["apiVersion"] = "autoscaling/v1";
  scale["kind"] = "Scale";
  if (scale.contains("status") && scale["status"].is_object()) {
    Json& status = scale["status"];
    if (status.contains("targetSelector")) {
      status["selector"] = status["targetSelector"];
      status.erase("targetSelector");
    } else {
      status.erase("selector");
    }
  }
}

}  // namespace tug::api::conversion
