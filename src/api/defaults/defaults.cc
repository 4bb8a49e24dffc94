// Upstream defaulting over JSON; see defaults.h. Facts from k8s.io/kubernetes
// pkg/apis/{core,apps,batch,autoscaling,networking,rbac,storage,scheduling,discovery}/v1/defaults.go.
#include "api/defaults/defaults.h"

#include <string>

namespace tug::api::defaults {
namespace {

// Sets obj[key] = value when obj has no (or a null) key. obj must be an object.
void SetIfMissing(Json& obj, const char* key, Json value) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) obj[key] = std::move(value);
}
// Like SetIfMissing but also replaces an empty string (Go's "" zero value of a string field).
void SetIfEmpty(Json& obj, const char* key, Json value) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null() || (it->is_string() && it->get_ref<const std::string&>().empty()))
    obj[key] = std::move(value);
}
// The object at obj[key], created when missing; nullptr when present but not an object.
Json* Obj(Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    obj[key] = Json::object();
    return &obj[key];
  }
  return it->is_object() ? &*it : nullptr;
}
// The object at obj[key] only when present.
Json* Existing(Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? &*it : nullptr;
}
Json* ExistingArray(Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_array() ? &*it : nullptr;
}
std::string Str(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}
bool IsZeroIntOrString(const Json* v) {
  if (v == nullptr || v->is_null()) return true;
  if (v->is_number()) return v->get<double>() == 0;
  if (v->is_string()) return v->get_ref<const std::string&>().empty();
  return false;
}

// The tag of an image reference ("latest" when it has neither tag nor digest, "" with only
// a digest), as upstream parsers.ParseImageName.
std::string ImageTag(const std::string& image) {
  std::string ref = image;
  bool digest = false;
  if (size_t at = ref.find('@'); at != std::string::npos) {
    ref = ref.substr(0, at);
    digest = true;
  }
  size_t slash = ref.rfind('/');
  size_t colon = ref.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) return ref.substr(colon + 1);
  return digest ? "" : "latest";
}

void ObjectFieldSelector(Json& sel) { SetIfEmpty(sel, "apiVersion", "v1"); }

void HTTPGetAction(Json& a) {
  SetIfEmpty(a, "path", "/");
  SetIfEmpty(a, "scheme", "HTTP");
}

void LifecycleHandler(Json& h) {
  if (Json* g = Existing(h, "httpGet")) HTTPGetAction(*g);
}

void Probe(Json& p) {
  if (!p.is_object()) return;
  SetIfMissing(p, "timeoutSeconds", 1);
  SetIfMissing(p, "periodSeconds", 10);
  SetIfMissing(p, "successThreshold", 1);
  SetIfMissing(p, "failureThreshold", 3);
  if (Json* g = Existing(p, "httpGet")) HTTPGetAction(*g);
  if (Json* g = Existing(p, "grpc")) SetIfMissing(*g, "service", "");
}

void Container(Json& c, bool host_network) {
  if (!c.is_object()) return;
  if (!c.contains("imagePullPolicy") || Str(c, "imagePullPolicy").empty()) {
    c["imagePullPolicy"] = ImageTag(Str(c, "image")) == "latest" ? "Always" : "IfNotPresent";
  }
  SetIfEmpty(c, "terminationMessagePath", "/dev/termination-log");
  SetIfEmpty(c, "terminationMessagePolicy", "File");
  // Go always encodes the (non-pointer) ResourceRequirements struct.
  SetIfMissing(c, "resources", Json::object());
  if (Json* ports = ExistingArray(c, "ports")) {
    for (Json& p : *ports) {
      if (!p.is_object()) continue;
      SetIfEmpty(p, "protocol", "TCP");
      if (host_network && !p.contains("hostPort") && p.contains("containerPort")) p["hostPort"] = p["containerPort"];
    }
  }
  if (Json* env = ExistingArray(c, "env")) {
    for (Json& e : *env) {
      if (Json* from = Existing(e, "valueFrom"))
        if (Json* f = Existing(*from, "fieldRef")) ObjectFieldSelector(*f);
    }
  }
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"})
    if (Json* p = Existing(c, probe)) Probe(*p);
  if (Json* lc = Existing(c, "lifecycle")) {
    if (Json* h = Existing(*lc, "postStart")) LifecycleHandler(*h);
    if (Json* h = Existing(*lc, "preStop")) LifecycleHandler(*h);
  }
}

void Volume(Json& v) {
  if (!v.is_object()) return;
  // A volume with no source is an emptyDir (SetDefaults_Volume).
  bool has_source = false;
  for (auto it = v.begin(); it != v.end(); ++it)
    if (it.key() != "name" && !it.value().is_null()) has_source = true;
  if (!has_source) v["emptyDir"] = Json::object();
  for (const char* src : {"secret", "configMap", "downwardAPI", "projected"})
    if (Json* s = Existing(v, src)) SetIfMissing(*s, "defaultMode", 420);
  if (Json* s = Existing(v, "downwardAPI"))
    if (Json* items = ExistingArray(*s, "items"))
      for (Json& item : *items)
        if (Json* f = Existing(item, "fieldRef")) ObjectFieldSelector(*f);
  if (Json* s = Existing(v, "projected")) {
    if (Json* sources = ExistingArray(*s, "sources")) {
      for (Json& src : *sources) {
        if (Json* t = Existing(src, "serviceAccountToken")) SetIfMissing(*t, "expirationSeconds", 3600);
        if (Json* d = Existing(src, "downwardAPI"))
          if (Json* items = ExistingArray(*d, "items"))
            for (Json& item : *items)
              if (Json* f = Existing(item, "fieldRef")) ObjectFieldSelector(*f);
      }
    }
  }
  if (Json* s = Existing(v, "hostPath")) SetIfMissing(*s, "type", "");
  if (Json* s = Existing(v, "iscsi")) SetIfEmpty(*s, "iscsiInterface", "default");
  if (Json* s = Existing(v, "rbd")) {
    SetIfEmpty(*s, "pool", "rbd");
    SetIfEmpty(*s, "user", "admin");
    SetIfEmpty(*s, "keyring", "/etc/ceph/keyring");
  }
  if (Json* s = Existing(v, "azureDisk")) {
    SetIfMissing(*s, "cachingMode", "ReadWrite");
    SetIfMissing(*s, "fsType", "ext4");
    SetIfMissing(*s, "readOnly", false);
    SetIfMissing(*s, "kind", "Shared");
  }
  if (Json* s = Existing(v, "scaleIO")) {
    SetIfEmpty(*s, "storageMode", "ThinProvisioned");
    SetIfEmpty(*s, "fsType", "xfs");
  }
  if (Json* s = Existing(v, "ephemeral"))
    if (Json* t = Existing(*s, "volumeClaimTemplate"))
      if (Json* spec = Existing(*t, "spec")) PersistentVolumeClaimSpec(*spec);
}

// SetDefaults_Pod: requests default to limits for each resource with a limit and no request.
void RequestsFromLimits(Json& c) {
  Json* res = Existing(c, "resources");
  if (res == nullptr) return;
  Json* limits = Existing(*res, "limits");
  if (limits == nullptr || limits->empty()) return;
  Json* requests = Obj(*res, "requests");
  if (requests == nullptr) return;
  for (auto it = limits->begin(); it != limits->end(); ++it)
    if (!requests->contains(it.key())) (*requests)[it.key()] = it.value();
}

void PersistentVolumeClaim(Json& pvc) {
  if (!pvc.is_object()) return;
  if (Json* spec = Obj(pvc, "spec")) PersistentVolumeClaimSpec(*spec);
  if (Json* status = Obj(pvc, "status")) SetIfEmpty(*status, "phase", "Pending");
}

void Pod(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  PodSpec(*spec);
  // Set by upstream SetDefaults_Pod for pods only (not templates).
  SetIfMissing(*spec, "enableServiceLinks", true);
  for (const char* list : {"containers", "initContainers"})
    if (Json* cs = ExistingArray(*spec, list))
      for (Json& c : *cs)
        if (c.is_object()) RequestsFromLimits(c);
}

void ReplicationController(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  Json* tmpl = Existing(*spec, "template");
  if (tmpl != nullptr) {
    const Json* labels = nullptr;
    if (Json* m = Existing(*tmpl, "metadata")) labels = Existing(*m, "labels");
    if (labels != nullptr && !labels->empty()) {
      Json* sel = Existing(*spec, "selector");
      if (sel == nullptr || sel->empty()) (*spec)["selector"] = *labels;
      Json* meta = Obj(obj, "metadata");
      if (meta != nullptr) {
        Json* own = Existing(*meta, "labels");
        if (own == nullptr || own->empty()) (*meta)["labels"] = *labels;
      }
    }
    PodTemplateSpec(*tmpl);
  }
  SetIfMissing(*spec, "replicas", 1);
}

void Service(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  SetIfEmpty(*spec, "sessionAffinity", "None");
  if (Str(*spec, "sessionAffinity") == "ClientIP") {
    Json* cfg = Obj(*spec, "sessionAffinityConfig");
    if (cfg != nullptr) {
      Json* ip = Obj(*cfg, "clientIP");
      if (ip != nullptr) SetIfMissing(*ip, "timeoutSeconds", 10800);
    }
  }
  SetIfEmpty(*spec, "type", "ClusterIP");
  std::string type = Str(*spec, "type");
  if (Json* ports = ExistingArray(*spec, "ports")) {
    for (Json& p : *ports) {
      if (!p.is_object()) continue;
      SetIfEmpty(p, "protocol", "TCP");
      auto tp = p.find("targetPort");
      if (IsZeroIntOrString(tp == p.end() ? nullptr : &*tp) && p.contains("port")) p["targetPort"] = p["port"];
    }
  }
  if (type == "NodePort" || type == "LoadBalancer") SetIfEmpty(*spec, "externalTrafficPolicy", "Cluster");
  if (type != "ExternalName") SetIfMissing(*spec, "internalTrafficPolicy", "Cluster");
  if (type == "LoadBalancer") SetIfMissing(*spec, "allocateLoadBalancerNodePorts", true);
}

void Namespace(Json& obj) {
  // SetDefaults_Namespace: the kubernetes.io/metadata.name label mirrors the name.
  if (Json* meta = Existing(obj, "metadata")) {
    std::string name = Str(*meta, "name");
    if (!name.empty()) {
      Json* labels = Obj(*meta, "labels");
      if (labels != nullptr) (*labels)["kubernetes.io/metadata.name"] = name;
    }
  }
  // Namespace strategy PrepareForCreate + SetDefaults_NamespaceStatus.
  if (Json* spec = Obj(obj, "spec")) {
    Json* f = ExistingArray(*spec, "finalizers");
    if (f == nullptr) (*spec)["finalizers"] = Json::array({"kubernetes"});
  }
  if (Json* status = Obj(obj, "status")) SetIfEmpty(*status, "phase", "Active");
}

void Node(Json& obj) {
  Json* status = Existing(obj, "status");
  if (status == nullptr) return;
  Json* cap = Existing(*status, "capacity");
  if (cap != nullptr && !status->contains("allocatable")) (*status)["allocatable"] = *cap;
}

void PersistentVolume(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  SetIfEmpty(*spec, "persistentVolumeReclaimPolicy", "Retain");
  SetIfMissing(*spec, "volumeMode", "Filesystem");
  if (Json* hp = Existing(*spec, "hostPath")) SetIfMissing(*hp, "type", "");
  if (Json* status = Obj(obj, "status")) SetIfEmpty(*status, "phase", "Pending");
}

void LimitRange(Json& obj) {
  Json* spec = Existing(obj, "spec");
  if (spec == nullptr) return;
  Json* limits = ExistingArray(*spec, "limits");
  if (limits == nullptr) return;
  for (Json& item : *limits) {
    if (!item.is_object() || Str(item, "type") != "Container") continue;
    Json def = item.contains("default") && item["default"].is_object() ? item["default"] : Json::object();
    Json req = item.contains("defaultRequest") && item["defaultRequest"].is_object() ? item["defaultRequest"] : Json::object();
    if (Json* max = Existing(item, "max"))
      for (auto it = max->begin(); it != max->end(); ++it)
        if (!def.contains(it.key())) def[it.key()] = it.value();
    for (auto it = def.begin(); it != def.end(); ++it)
      if (!req.contains(it.key())) req[it.key()] = it.value();
    if (Json* min = Existing(item, "min"))
      for (auto it = min->begin(); it != min->end(); ++it)
        if (!req.contains(it.key())) req[it.key()] = it.value();
    // Empty maps are omitted on the wire (omitempty).
    if (!def.empty()) item["default"] = def;
    if (!req.empty()) item["defaultRequest"] = req;
  }
}

void PortsProtocol(Json& obj, const char* list) {
  if (Json* ports = ExistingArray(obj, list))
    for (Json& p : *ports)
      if (p.is_object()) SetIfEmpty(p, "protocol", "TCP");
}

void Endpoints(Json& obj) {
  if (Json* subsets = ExistingArray(obj, "subsets"))
    for (Json& s : *subsets)
      if (s.is_object()) PortsProtocol(s, "ports");
}

void TemplateOf(Json& spec) {
  if (Json* t = Existing(spec, "template")) PodTemplateSpec(*t);
}

void Deployment(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  SetIfMissing(*spec, "replicas", 1);
  Json* strategy = Obj(*spec, "strategy");
  if (strategy != nullptr) {
    SetIfEmpty(*strategy, "type", "RollingUpdate");
    if (Str(*strategy, "type") == "RollingUpdate") {
      Json* ru = Obj(*strategy, "rollingUpdate");
      if (ru != nullptr) {
        SetIfMissing(*ru, "maxUnavailable", "25%");
        SetIfMissing(*ru, "maxSurge", "25%");
      }
    }
  }
  SetIfMissing(*spec, "revisionHistoryLimit", 10);
  SetIfMissing(*spec, "progressDeadlineSeconds", 600);
  TemplateOf(*spec);
}

void ReplicaSet(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  SetIfMissing(*spec, "replicas", 1);
  TemplateOf(*spec);
}

void StatefulSet(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  SetIfEmpty(*spec, "podManagementPolicy", "OrderedReady");
  Json* us = Obj(*spec, "updateStrategy");
  if (us != nullptr) {
    SetIfEmpty(*us, "type", "RollingUpdate");
    if (Str(*us, "type") == "RollingUpdate") {
      Json* ru = Obj(*us, "rollingUpdate");
      if (ru != nullptr) SetIfMissing(*ru, "partition", 0);
    }
  }
  Json* retention = Obj(*spec, "persistentVolumeClaimRetentionPolicy");
  if (retention != nullptr) {
    SetIfEmpty(*retention, "whenDeleted", "Retain");
    SetIfEmpty(*retention, "whenScaled", "Retain");
  }
  SetIfMissing(*spec, "replicas", 1);
  SetIfMissing(*spec, "revisionHistoryLimit", 10);
  if (Json* vcts = ExistingArray(*spec, "volumeClaimTemplates"))
    for (Json& pvc : *vcts) PersistentVolumeClaim(pvc);
  TemplateOf(*spec);
}

void DaemonSet(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  Json* us = Obj(*spec, "updateStrategy");
  if (us != nullptr) {
    SetIfEmpty(*us, "type", "RollingUpdate");
    if (Str(*us, "type") == "RollingUpdate") {
      Json* ru = Obj(*us, "rollingUpdate");
      if (ru != nullptr) {
        SetIfMissing(*ru, "maxUnavailable", 1);
        SetIfMissing(*ru, "maxSurge", 0);
      }
    }
  }
  SetIfMissing(*spec, "revisionHistoryLimit", 10);
  TemplateOf(*spec);
}

void Job(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  auto missing = [&](const char* k) { return !spec->contains(k) || (*spec)[k].is_null(); };
  if (missing("completions") && missing("parallelism")) {
    (*spec)["completions"] = 1;
    (*spec)["parallelism"] = 1;
  }
  SetIfMissing(*spec, "parallelism", 1);
  if (missing("backoffLimit")) (*spec)["backoffLimit"] = missing("backoffLimitPerIndex") ? 6 : 2147483647;
  // Job labels default to the template's labels.
  if (Json* t = Existing(*spec, "template")) {
    if (Json* tm = Existing(*t, "metadata")) {
      if (Json* labels = Existing(*tm, "labels")) {
        Json* meta = Obj(obj, "metadata");
        if (meta != nullptr) {
          Json* own = Existing(*meta, "labels");
          if (own == nullptr || own->empty()) (*meta)["labels"] = *labels;
        }
      }
    }
  }
  SetIfMissing(*spec, "completionMode", "NonIndexed");
  SetIfMissing(*spec, "suspend", false);
  bool has_pfp = false;
  if (Json* pfp = Existing(*spec, "podFailurePolicy")) {
    has_pfp = true;
    if (Json* rules = ExistingArray(*pfp, "rules"))
      for (Json& r : *rules)
        if (Json* conds = ExistingArray(r, "onPodConditions"))
          for (Json& c : *conds)
            if (c.is_object()) SetIfEmpty(c, "status", "True");
  }
  SetIfMissing(*spec, "podReplacementPolicy", has_pfp ? "Failed" : "TerminatingOrFailed");
  SetIfMissing(*spec, "manualSelector", false);
  TemplateOf(*spec);
}

void CronJob(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  SetIfEmpty(*spec, "concurrencyPolicy", "Allow");
  SetIfMissing(*spec, "suspend", false);
  SetIfMissing(*spec, "successfulJobsHistoryLimit", 3);
  SetIfMissing(*spec, "failedJobsHistoryLimit", 1);
  if (Json* jt = Existing(*spec, "jobTemplate"))
    if (Json* js = Existing(*jt, "spec")) TemplateOf(*js);
}

Json ScalingPolicy(const char* type, int value, int period) {
  return Json{{"type", type}, {"value", value}, {"periodSeconds", period}};
}

void HorizontalPodAutoscaler(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  SetIfMissing(*spec, "minReplicas", 1);
  // autoscaling/v1 keeps targetCPUUtilizationPercentage unset; v2 defaults the metrics.
  std::string api_version = Str(obj, "apiVersion");
  if (api_version == "autoscaling/v1") return;
  Json* metrics = ExistingArray(*spec, "metrics");
  if (metrics == nullptr || metrics->empty()) {
    (*spec)["metrics"] = Json::array({Json{
        {"type", "Resource"},
        {"resource", Json{{"name", "cpu"}, {"target", Json{{"type", "Utilization"}, {"averageUtilization", 80}}}}}}});
  }
  if (Json* behavior = Existing(*spec, "behavior")) {
    Json* up = Obj(*behavior, "scaleUp");
    if (up != nullptr) {
      SetIfMissing(*up, "stabilizationWindowSeconds", 0);
      SetIfMissing(*up, "selectPolicy", "Max");
      if (ExistingArray(*up, "policies") == nullptr)
        (*up)["policies"] = Json::array({ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)});
    }
    Json* down = Obj(*behavior, "scaleDown");
    if (down != nullptr) {
      SetIfMissing(*down, "selectPolicy", "Max");
      if (ExistingArray(*down, "policies") == nullptr)
        (*down)["policies"] = Json::array({ScalingPolicy("Percent", 100, 15)});
    }
  }
}

void NetworkPolicy(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  for (const char* dir : {"ingress", "egress"})
    if (Json* rules = ExistingArray(*spec, dir))
      for (Json& r : *rules)
        if (r.is_object()) PortsProtocol(r, "ports");
  Json* types = ExistingArray(*spec, "policyTypes");
  if (types == nullptr || types->empty()) {
    Json t = Json::array({"Ingress"});
    Json* egress = ExistingArray(*spec, "egress");
    if (egress != nullptr && !egress->empty()) t.push_back("Egress");
    (*spec)["policyTypes"] = t;
  }
}

void RoleBindingSubjects(Json& obj) {
  if (Json* subjects = ExistingArray(obj, "subjects")) {
    for (Json& s : *subjects) {
      if (!s.is_object() || s.contains("apiGroup")) continue;
      std::string kind = Str(s, "kind");
      if (kind == "ServiceAccount") s["apiGroup"] = "";
      if (kind == "User" || kind == "Group") s["apiGroup"] = "rbac.authorization.k8s.io";
    }
  }
}

void StorageClass(Json& obj) {
  SetIfMissing(obj, "reclaimPolicy", "Delete");
  SetIfMissing(obj, "volumeBindingMode", "Immediate");
}

void PriorityClass(Json& obj) { SetIfMissing(obj, "preemptionPolicy", "PreemptLowerPriority"); }

std::string Base64(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Secret: stringData is write-only upstream (the v1 conversion merges it into data, where it
// wins over a data entry of the same key); type defaults to Opaque.
void Secret(Json& obj) {
  auto it = obj.find("stringData");
  if (it != obj.end()) {
    if (it->is_object() && !it->empty()) {
      Json* data = Obj(obj, "data");
      if (data != nullptr)
        for (auto kv = it->begin(); kv != it->end(); ++kv)
          if (kv.value().is_string()) (*data)[kv.key()] = Base64(kv.value().get<std::string>());
    }
    obj.erase("stringData");
  }
  SetIfEmpty(obj, "type", "Opaque");
}

void EndpointSlice(Json& obj) {
  if (Json* ports = ExistingArray(obj, "ports")) {
    for (Json& p : *ports) {
      if (!p.is_object()) continue;
      SetIfMissing(p, "name", "");
      SetIfMissing(p, "protocol", "TCP");
    }
  }
}

void CSIDriver(Json& obj) {
  Json* spec = Obj(obj, "spec");
  if (spec == nullptr) return;
  SetIfMissing(*spec, "attachRequired", true);
  SetIfMissing(*spec, "podInfoOnMount", false);
  SetIfMissing(*spec, "storageCapacity", false);
  SetIfMissing(*spec, "fsGroupPolicy", "ReadWriteOnceWithFSType");
  SetIfMissing(*spec, "requiresRepublish", false);
  SetIfMissing(*spec, "seLinuxMount", false);
  if (ExistingArray(*spec, "volumeLifecycleModes") == nullptr || (*spec)["volumeLifecycleModes"].empty())
    (*spec)["volumeLifecycleModes"] = Json::array({"Persistent"});
}

// admissionregistration v1 webhook defaults (SetDefaults_ValidatingWebhook / _MutatingWebhook,
// SetDefaults_Rule, SetDefaults_ServiceReference).
void WebhookConfiguration(Json& obj, bool mutating) {
  Json* hooks = ExistingArray(obj, "webhooks");
  if (hooks == nullptr) return;
  for (Json& h : *hooks) {
    if (!h.is_object()) continue;
    SetIfMissing(h, "failurePolicy", "Fail");
    SetIfMissing(h, "matchPolicy", "Equivalent");
    SetIfMissing(h, "namespaceSelector", Json::object());
    SetIfMissing(h, "objectSelector", Json::object());
    SetIfMissing(h, "timeoutSeconds", 10);
    if (mutating) SetIfMissing(h, "reinvocationPolicy", "Never");
    if (Json* rules = ExistingArray(h, "rules"))
      for (Json& r : *rules)
        if (r.is_object()) SetIfMissing(r, "scope", "*");
    if (Json* cc = Existing(h, "clientConfig"))
      if (Json* svc = Existing(*cc, "service")) SetIfMissing(*svc, "port", 443);
  }
}

}  // namespace

void PersistentVolumeClaimSpec(Json& spec) {
  if (!spec.is_object()) return;
  SetIfMissing(spec, "volumeMode", "Filesystem");
}

void PodSpec(Json& spec) {
  if (!spec.is_object()) return;
  SetIfEmpty(spec, "dnsPolicy", "ClusterFirst");
  SetIfEmpty(spec, "restartPolicy", "Always");
  SetIfMissing(spec, "securityContext", Json::object());
  SetIfMissing(spec, "terminationGracePeriodSeconds", 30);
  SetIfEmpty(spec, "schedulerName", "default-scheduler");
  bool host_network = spec.contains("hostNetwork") && spec["hostNetwork"].is_boolean() && spec["hostNetwork"].get<bool>();
  for (const char* list : {"containers", "initContainers", "ephemeralContainers"})
    if (Json* cs = ExistingArray(spec, list))
      for (Json& c : *cs) Container(c, host_network && std::string_view(list) != "ephemeralContainers");
  if (Json* vols = ExistingArray(spec, "volumes"))
    for (Json& v : *vols) Volume(v);
}

void PodTemplateSpec(Json& tmpl) {
  if (!tmpl.is_object()) return;
  if (Json* spec = Obj(tmpl, "spec")) PodSpec(*spec);
}

void Apply(std::string_view group, std::string_view kind, Json& obj) {
  if (!obj.is_object()) return;
  if (group.empty()) {
    if (kind == "Pod") return Pod(obj);
    if (kind == "PodTemplate") {
      if (Json* t = Existing(obj, "template")) PodTemplateSpec(*t);
      return;
    }
    if (kind == "ReplicationController") return ReplicationController(obj);
    if (kind == "Service") return Service(obj);
    if (kind == "Secret") return Secret(obj);
    if (kind == "Namespace") return Namespace(obj);
    if (kind == "Node") return Node(obj);
    if (kind == "PersistentVolume") return PersistentVolume(obj);
    if (kind == "PersistentVolumeClaim") return PersistentVolumeClaim(obj);
    if (kind == "LimitRange") return LimitRange(obj);
    if (kind == "Endpoints") return Endpoints(obj);
    return;  // ConfigMap, ServiceAccount, ResourceQuota, Event: no defaults upstream
  }
  if (group == "apps") {
    if (kind == "Deployment") return Deployment(obj);
    if (kind == "ReplicaSet") return ReplicaSet(obj);
    if (kind == "StatefulSet") return StatefulSet(obj);
    if (kind == "DaemonSet") return DaemonSet(obj);
    return;
  }
  if (group == "batch") {
    if (kind == "Job") return Job(obj);
    if (kind == "CronJob") return CronJob(obj);
    return;
  }
  if (group == "autoscaling" && kind == "HorizontalPodAutoscaler") return HorizontalPodAutoscaler(obj);
  if (group == "networking.k8s.io" && kind == "NetworkPolicy") return NetworkPolicy(obj);
  if (group == "rbac.authorization.k8s.io" && (kind == "RoleBinding" || kind == "ClusterRoleBinding"))
    return RoleBindingSubjects(obj);
  if (group == "storage.k8s.io" && kind == "StorageClass") return StorageClass(obj);
  if (group == "scheduling.k8s.io" && kind == "PriorityClass") return PriorityClass(obj);
  if (group == "discovery.k8s.io" && kind == "EndpointSlice") return EndpointSlice(obj);
  if (group == "storage.k8s.io" && kind == "CSIDriver") return CSIDriver(obj);
  if (group == "admissionregistration.k8s.io" && kind == "ValidatingWebhookConfiguration")
    return WebhookConfiguration(obj, false);
  if (group == "admissionregistration.k8s.io" && kind == "MutatingWebhookConfiguration")
    return WebhookConfiguration(obj, true);
  // networking Ingress/IngressClass, policy PDB, coordination Lease, events Event: none.
}

}  // namespace tug::api::defaults
