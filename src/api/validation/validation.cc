// Per-kind validation; see validation.h. Facts (rules, messages, supported values) from
// upstream pkg/apis/{core,apps,batch,autoscaling,networking,policy,rbac,storage,scheduling,
// coordination,discovery}/validation.
#include "api/validation/validation.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <set>
#include <string>

#include "api/validation/cron.h"
#include "api/validation/helpers.h"
#include "api/validation/pod.h"

namespace tug::api::validation {
namespace {

using Errs = FieldErrors;

bool IsNull(const Json* v) { return v == nullptr || v->is_null(); }

void NotSupportedIfNot(const Json& obj, const char* key, const std::string& path, std::vector<std::string> allowed,
                       Errs& errs, bool required = false) {
  const Json* v = Find(obj, key);
  std::string s = StrOr(v);
  if (s.empty()) {
    if (required) errs.push_back(FieldError::Required(path));
    return;
  }
  for (const std::string& a : allowed)
    if (a == s) return;
  errs.push_back(FieldError::NotSupported(path, s, std::move(allowed)));
}

// Upstream passes intstr.IntOrString values, which Go prints as structs.
FieldError InvalidIntOrString(const std::string& path, const Json& v, std::string detail) {
  FieldError e = FieldError::Invalid(path, v, std::move(detail));
  if (v.is_string()) {
    e.go_value = "intstr.IntOrString{Type:1, IntVal:0, StrVal:" + GoQuote(v.get<std::string>()) + "}";
  } else if (v.is_number()) {
    e.go_value = "intstr.IntOrString{Type:0, IntVal:" + std::to_string(IntOr(&v, 0)) + ", StrVal:\"\"}";
  }
  return e;
}

// intstr: an int >= 0 or a percent string; upstream ValidatePositiveIntOrPercent.
void ValidateIntOrPercent(const Json* v, const std::string& path, Errs& errs) {
  if (IsNull(v)) return;
  if (v->is_string()) {
    for (std::string& m : IsValidPercent(v->get<std::string>())) errs.push_back(InvalidIntOrString(path, *v, m));
  } else {
    ValidateNonnegative(v, path, errs);
  }
}
// Value of an int-or-percent for "both zero" checks: -1 when not zero-or-known.
bool IsZeroIntOrPercent(const Json* v) {
  if (IsNull(v)) return false;
  if (v->is_number()) return v->get<double>() == 0;
  if (v->is_string()) return v->get<std::string>() == "0%";
  return false;
}
void NotMoreThan100Percent(const Json* v, const std::string& path, Errs& errs) {
  if (IsNull(v) || !v->is_string()) return;
  std::string s = v->get<std::string>();
  if (IsValidPercent(s).empty() && std::stoll(s.substr(0, s.size() - 1)) > 100)
    errs.push_back(InvalidIntOrString(path, *v, "must not be greater than 100%"));
}

// Selector + template of a controller (ReplicaSet, Deployment, StatefulSet, DaemonSet, Job).
// kind_word: the word of upstream's "empty selector is invalid for <word>"; owner: the kind
// named in the activeDeadlineSeconds message ("" for Jobs, which allow restartPolicy other
// than Always and activeDeadlineSeconds).
void ValidateSelectorAndTemplate(const Json& spec, const std::string& kind_word, const std::string& owner, Errs& errs) {
  const bool require_always = !owner.empty();
  const Json* sel = Find(spec, "selector");
  if (IsNull(sel)) {
    errs.push_back(FieldError::Required("spec.selector"));
  } else {
    ValidateLabelSelector(*sel, "spec.selector", errs);
    if (SelectorEmpty(*sel))
      errs.push_back(InvalidSelector("spec.selector", *sel, "empty selector is invalid for " + kind_word));
  }
  const Json* tmpl = Find(spec, "template");
  if (IsNull(tmpl)) {
    errs.push_back(FieldError::Required("spec.template"));
    return;
  }
  const Json& labels = ObjAt(ObjAt(*tmpl, "metadata"), "labels");
  if (!IsNull(sel) && !SelectorEmpty(*sel) && !SelectorMatches(*sel, labels))
    errs.push_back(FieldError::Invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"));
  ValidatePodTemplateSpec(*tmpl, "spec.template", errs);
  if (require_always) {
    std::string rp = GetStringPath(*tmpl, {"spec", "restartPolicy"});
    if (!rp.empty() && rp != "Always")
      errs.push_back(FieldError::NotSupported("spec.template.spec.restartPolicy", rp, {"Always"}));
    const Json* ads = FindPath(*tmpl, {"spec", "activeDeadlineSeconds"});
    if (!IsNull(ads)) {
      std::string msg = "activeDeadlineSeconds in " + owner + " is not Supported";
      // ReplicaSet/Deployment report it as Invalid, the other workloads as Forbidden.
      if (owner == "ReplicaSet") errs.push_back(FieldError::Invalid("spec.template.spec.activeDeadlineSeconds", *ads, msg));
      else errs.push_back(FieldError::Forbidden("spec.template.spec.activeDeadlineSeconds", msg));
    }
  }
}

// ---- core --------------------------------------------------------------------------------

void ValidateReplicationController(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  ValidateNonnegative(Find(spec, "replicas"), "spec.replicas", errs);
  ValidateNonnegative(Find(spec, "minReadySeconds"), "spec.minReadySeconds", errs);
  const Json& sel = ObjAt(spec, "selector");
  if (sel.empty()) errs.push_back(FieldError::Required("spec.selector"));
  ValidateLabels(sel, "spec.selector", errs);
  const Json* tmpl = Find(spec, "template");
  if (IsNull(tmpl)) {
    errs.push_back(FieldError::Required("spec.template"));
    return;
  }
  const Json& labels = ObjAt(ObjAt(*tmpl, "metadata"), "labels");
  if (!sel.empty() && !SelectorMatches(Json{{"matchLabels", sel}}, labels))
    errs.push_back(FieldError::Invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"));
  ValidatePodTemplateSpec(*tmpl, "spec.template", errs);
  std::string rp = GetStringPath(*tmpl, {"spec", "restartPolicy"});
  if (!rp.empty() && rp != "Always") errs.push_back(FieldError::NotSupported("spec.template.spec.restartPolicy", rp, {"Always"}));
}

bool ValidIP(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

void ValidateService(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  std::string type = StrOr(Find(spec, "type"), "ClusterIP");
  std::string cluster_ip = StrOr(Find(spec, "clusterIP"));
  bool headless = cluster_ip == "None";
  NotSupportedIfNot(spec, "type", "spec.type", {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}, errs);
  const Json& ports = ArrAt(spec, "ports");
  if (type == "ExternalName") {
    std::string en = StrOr(Find(spec, "externalName"));
    if (en.empty()) {
      errs.push_back(FieldError::Required("spec.externalName"));
    } else {
      std::string host = en.back() == '.' ? en.substr(0, en.size() - 1) : en;
      for (std::string& m : IsDNS1123Subdomain(host)) errs.push_back(FieldError::Invalid("spec.externalName", host, m));
    }
  } else if (ports.empty() && !headless) {
    errs.push_back(FieldError::Required("spec.ports"));
  }
  // clusterIP format/range and nodePort range are checked by the API server's allocator
  // (apiserver/rest/allocator), as upstream's registry does; checking them here too would
  // report every such error twice.
  std::set<std::string> names;
  for (size_t i = 0; i < ports.size(); ++i) {
    const Json& p = ports[i];
    std::string ip = Index("spec.ports", i);
    std::string name = StrOr(Find(p, "name"));
    if (name.empty()) {
      if (ports.size() > 1) errs.push_back(FieldError::Required(Child(ip, "name")));
    } else {
      for (std::string& m : IsDNS1123Label(name)) errs.push_back(FieldError::Invalid(Child(ip, "name"), name, m));
      if (!names.insert(name).second) errs.push_back(FieldError::Duplicate(Child(ip, "name"), name));
    }
    const Json* port = Find(p, "port");
    for (std::string& m : IsValidPortNum(IntOr(port, 0)))
      errs.push_back(FieldError::Invalid(Child(ip, "port"), port ? *port : Json(0), m));
    NotSupportedIfNot(p, "protocol", Child(ip, "protocol"), {"SCTP", "TCP", "UDP"}, errs, true);
    const Json* tp = Find(p, "targetPort");
    if (tp != nullptr && tp->is_number() && IntOr(tp, 0) != 0) {
      for (std::string& m : IsValidPortNum(IntOr(tp, 0))) errs.push_back(FieldError::Invalid(Child(ip, "targetPort"), *tp, m));
    } else if (tp != nullptr && tp->is_string() && !tp->get<std::string>().empty()) {
      for (std::string& m : IsValidPortName(tp->get<std::string>()))
        errs.push_back(FieldError::Invalid(Child(ip, "targetPort"), *tp, m));
    }
    const Json* np = Find(p, "nodePort");
    if (!IsNull(np) && IntOr(np, 0) != 0) {
      if (type == "ClusterIP" || type == "ExternalName")
        errs.push_back(FieldError::Forbidden(Child(ip, "nodePort"), "may not be used when `type` is '" + type + "'"));
    }
  }
  NotSupportedIfNot(spec, "sessionAffinity", "spec.sessionAffinity", {"ClientIP", "None"}, errs);
  ValidateLabels(ObjAt(spec, "selector"), "spec.selector", errs);
  const Json* etp = Find(spec, "externalTrafficPolicy");
  if (!IsNull(etp) && !StrOr(etp).empty()) {
    if (type != "NodePort" && type != "LoadBalancer") {
      errs.push_back(FieldError::Invalid("spec.externalTrafficPolicy", *etp,
                                         "may only be set when `type` is 'NodePort' or 'LoadBalancer'"));
    } else {
      NotSupportedIfNot(spec, "externalTrafficPolicy", "spec.externalTrafficPolicy", {"Cluster", "Local"}, errs);
    }
  }
  NotSupportedIfNot(spec, "internalTrafficPolicy", "spec.internalTrafficPolicy", {"Cluster", "Local"}, errs);
}

void ValidateServiceUpdate(const Json& obj, const Json& old, Errs& errs) {
  std::string old_ip = GetStringPath(old, {"spec", "clusterIP"});
  std::string new_ip = GetStringPath(obj, {"spec", "clusterIP"});
  std::string new_type = GetStringPath(obj, {"spec", "type"});
  std::string old_type = GetStringPath(old, {"spec", "type"});
  // A set clusterIP may not change unless the service moves to or from ExternalName.
  if (!old_ip.empty() && new_ip != old_ip && new_type != "ExternalName" && old_type != "ExternalName") {
    // Upstream reports the new clusterIPs list; a body that only changed clusterIP (apply,
    // patch) still carries the old list, so rebuild it from clusterIP then.
    const Json* ips = FindPath(obj, {"spec", "clusterIPs"});
    Json value = Json::array({new_ip});
    if (ips != nullptr && ips->is_array() && !ips->empty() && (*ips)[0] == new_ip) value = *ips;
    errs.push_back(FieldError::Invalid("spec.clusterIPs[0]", value, "may not change once set"));
  }
}

constexpr size_t kMaxDataSize = 1 << 20;  // core.MaxSecretSize

size_t Base64DecodedLen(const std::string& s) {
  size_t pad = 0;
  if (!s.empty() && s.back() == '=') ++pad;
  if (s.size() > 1 && s[s.size() - 2] == '=') ++pad;
  return s.size() / 4 * 3 + (s.size() % 4 ? (s.size() % 4) * 3 / 4 : 0) - pad;
}

void ValidateConfigMap(const Json& obj, Errs& errs) {
  const Json& data = ObjAt(obj, "data");
  const Json& binary = ObjAt(obj, "binaryData");
  size_t total = 0;
  for (auto it = data.begin(); it != data.end(); ++it) {
    for (std::string& m : IsConfigMapKey(it.key())) errs.push_back(FieldError::Invalid(Key("data", it.key()), it.key(), m));
    if (binary.contains(it.key()))
      errs.push_back(FieldError::Invalid(Key("data", it.key()), it.key(), "duplicate of key present in binaryData"));
    total += StrOr(&it.value()).size();
  }
  for (auto it = binary.begin(); it != binary.end(); ++it) {
    for (std::string& m : IsConfigMapKey(it.key()))
      errs.push_back(FieldError::Invalid(Key("binaryData", it.key()), it.key(), m));
    if (data.contains(it.key()))
      errs.push_back(FieldError::Invalid(Key("binaryData", it.key()), it.key(), "duplicate of key present in data"));
    total += Base64DecodedLen(StrOr(&it.value()));
  }
  if (total > kMaxDataSize) errs.push_back(FieldError::TooLong("", "", kMaxDataSize));
}

void ValidateSecret(const Json& obj, Errs& errs) {
  const Json& data = ObjAt(obj, "data");
  size_t total = 0;
  for (auto it = data.begin(); it != data.end(); ++it) {
    for (std::string& m : IsConfigMapKey(it.key())) errs.push_back(FieldError::Invalid(Key("data", it.key()), it.key(), m));
    total += Base64DecodedLen(StrOr(&it.value()));
  }
  // stringData is merged into data by the codec upstream; count it too when still present.
  for (auto it = ObjAt(obj, "stringData").begin(); it != ObjAt(obj, "stringData").end(); ++it) {
    for (std::string& m : IsConfigMapKey(it.key())) errs.push_back(FieldError::Invalid(Key("data", it.key()), it.key(), m));
    total += StrOr(&it.value()).size();
  }
  if (total > kMaxDataSize) errs.push_back(FieldError::TooLong("data", "", kMaxDataSize));
  std::string type = StrOr(Find(obj, "type"));
  auto has = [&](const char* k) { return data.contains(k) || ObjAt(obj, "stringData").contains(k); };
  if (type == "kubernetes.io/service-account-token") {
    if (GetStringPath(obj, {"metadata", "annotations", "kubernetes.io/service-account.name"}).empty())
      errs.push_back(FieldError::Required("metadata.annotations[kubernetes.io/service-account.name]"));
  } else if (type == "kubernetes.io/dockercfg") {
    if (!has(".dockercfg")) errs.push_back(FieldError::Required("data[.dockercfg]"));
  } else if (type == "kubernetes.io/dockerconfigjson") {
    if (!has(".dockerconfigjson")) errs.push_back(FieldError::Required("data[.dockerconfigjson]"));
  } else if (type == "kubernetes.io/basic-auth") {
    if (!has("username") && !has("password")) {
      errs.push_back(FieldError::Required("data[username]"));
      errs.push_back(FieldError::Required("data[password]"));
    }
  } else if (type == "kubernetes.io/ssh-auth") {
    if (!has("ssh-privatekey")) errs.push_back(FieldError::Required("data[ssh-privatekey]"));
  } else if (type == "kubernetes.io/tls") {
    if (!has("tls.key")) errs.push_back(FieldError::Required("data[tls.key]"));
    if (!has("tls.crt")) errs.push_back(FieldError::Required("data[tls.crt]"));
  }
}

bool Immutable(const Json& obj) {
  const Json* v = Find(obj, "immutable");
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

void ValidateImmutableData(const Json& obj, const Json& old, std::initializer_list<const char*> fields, Errs& errs) {
  if (!Immutable(old)) return;
  if (!Immutable(obj)) errs.push_back(FieldError::Forbidden("immutable", "field is immutable when `immutable` is set"));
  for (const char* f : fields) {
    if (ObjAt(obj, f) != ObjAt(old, f))
      errs.push_back(FieldError::Forbidden(f, "field is immutable when `immutable` is set"));
  }
}

void ValidateNode(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  const Json& taints = ArrAt(spec, "taints");
  for (size_t i = 0; i < taints.size(); ++i) {
    std::string tp = Index("spec.taints", i);
    std::string key = StrOr(Find(taints[i], "key"));
    for (std::string& m : IsQualifiedName(key)) errs.push_back(FieldError::Invalid(Child(tp, "key"), key, m));
    NotSupportedIfNot(taints[i], "effect", Child(tp, "effect"), {"NoSchedule", "PreferNoSchedule", "NoExecute"}, errs, true);
  }
  std::string cidr = StrOr(Find(spec, "podCIDR"));
  if (!cidr.empty()) {
    size_t slash = cidr.find('/');
    if (slash == std::string::npos || !ValidIP(cidr.substr(0, slash)))
      errs.push_back(FieldError::Invalid("spec.podCIDRs[0]", cidr,
                                         "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"));
  }
}

constexpr const char* kPVSources[] = {"hostPath", "gcePersistentDisk", "awsElasticBlockStore", "nfs", "iscsi",
                                      "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc",
                                      "azureFile", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
                                      "portworxVolume", "scaleIO", "local", "storageos", "csi"};

void ValidatePersistentVolume(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  if (ArrAt(spec, "accessModes").empty()) errs.push_back(FieldError::Required("spec.accessModes"));
  for (const Json& m : ArrAt(spec, "accessModes")) {
    std::string s = StrOr(&m);
    if (s != "ReadOnlyMany" && s != "ReadWriteMany" && s != "ReadWriteOnce" && s != "ReadWriteOncePod")
      errs.push_back(FieldError::NotSupported("spec.accessModes", s, {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"}));
  }
  if (ObjAt(spec, "capacity").empty()) {
    errs.push_back(FieldError::Required("spec.capacity"));
  } else {
    ValidateResourceList(ObjAt(spec, "capacity"), "spec.capacity", errs);
  }
  NotSupportedIfNot(spec, "persistentVolumeReclaimPolicy", "spec.persistentVolumeReclaimPolicy", {"Delete", "Recycle", "Retain"}, errs);
  int count = 0;
  for (const char* src : kPVSources) {
    const Json* s = Find(spec, src);
    if (IsNull(s)) continue;
    if (++count > 1) errs.push_back(FieldError::Forbidden(Child("spec", src), "may not specify more than 1 volume type"));
  }
  if (count == 0) errs.push_back(FieldError::Required("spec", "must specify a volume type"));
  NotSupportedIfNot(spec, "volumeMode", "spec.volumeMode", {"Block", "Filesystem"}, errs);
}

void ValidatePVCSpec(const Json& spec, const std::string& path, Errs& errs) {
  const Json& modes = ArrAt(spec, "accessModes");
  if (modes.empty()) errs.push_back(FieldError::Required(Child(path, "accessModes"), "at least 1 access mode is required"));
  for (const Json& m : modes) {
    std::string s = StrOr(&m);
    if (s != "ReadOnlyMany" && s != "ReadWriteMany" && s != "ReadWriteOnce" && s != "ReadWriteOncePod")
      errs.push_back(FieldError::NotSupported(Child(path, "accessModes"), s, {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"}));
  }
  const Json& requests = ObjAt(ObjAt(spec, "resources"), "requests");
  if (!requests.contains("storage")) {
    errs.push_back(FieldError::Required(Key(Child(path, "resources"), "storage")));
  } else {
    ValidateResourceList(requests, Child(Child(path, "resources"), "requests"), errs);
    auto q = ParseQuantity(StrOr(Find(requests, "storage")));
    if (q && *q <= 0)
      errs.push_back(FieldError::Invalid(Key(Child(Child(path, "resources"), "requests"), "storage"),
                                         StrOr(Find(requests, "storage")), "must be greater than zero"));
  }
  NotSupportedIfNot(spec, "volumeMode", Child(path, "volumeMode"), {"Block", "Filesystem"}, errs);
  if (const Json* sel = Find(spec, "selector"); !IsNull(sel)) ValidateLabelSelector(*sel, Child(path, "selector"), errs);
}

void ValidatePVCUpdate(const Json& obj, const Json& old, Errs& errs) {
  Json a = ObjAt(obj, "spec");
  Json b = ObjAt(old, "spec");
  // Requests (resize) and volumeAttributesClassName may change; everything else is fixed.
  for (Json* s : {&a, &b}) {
    if (s->contains("resources") && (*s)["resources"].is_object()) (*s)["resources"].erase("requests");
    s->erase("volumeAttributesClassName");
    if (s->contains("resources") && (*s)["resources"].empty()) s->erase("resources");
  }
  // volumeName may be set once (binding).
  if (!b.contains("volumeName")) a.erase("volumeName");
  if (a != b) {
    errs.push_back(FieldError::Forbidden(
        "spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"));
  }
}

void ValidateResourceQuota(const Json& obj, Errs& errs) {
  ValidateResourceList(ObjAt(ObjAt(obj, "spec"), "hard"), "spec.hard", errs);
  const Json& scopes = ArrAt(ObjAt(obj, "spec"), "scopes");
  for (const Json& s : scopes) {
    std::string v = StrOr(&s);
    static const std::vector<std::string> kScopes = {"BestEffort", "CrossNamespacePodAffinity", "NotBestEffort",
                                                     "NotTerminating", "PriorityClass", "Terminating"};
    bool ok = false;
    for (const std::string& k : kScopes) ok |= k == v;
    if (!ok) errs.push_back(FieldError::NotSupported("spec.scopes", v, kScopes));
  }
}

void ValidateLimitRange(const Json& obj, Errs& errs) {
  const Json& limits = ArrAt(ObjAt(obj, "spec"), "limits");
  for (size_t i = 0; i < limits.size(); ++i) {
    std::string ip = Index("spec.limits", i);
    std::string type = StrOr(Find(limits[i], "type"));
    if (type.empty()) errs.push_back(FieldError::Required(Child(ip, "type")));
    for (const char* f : {"max", "min", "default", "defaultRequest", "maxLimitRequestRatio"})
      ValidateResourceList(ObjAt(limits[i], f), Child(ip, f), errs);
    if (type == "Pod" && !ObjAt(limits[i], "default").empty())
      errs.push_back(FieldError::Forbidden(Child(ip, "default"), "may not be specified when `type` is 'Pod'"));
    if (type == "Pod" && !ObjAt(limits[i], "defaultRequest").empty())
      errs.push_back(FieldError::Forbidden(Child(ip, "defaultRequest"), "may not be specified when `type` is 'Pod'"));
  }
}

void ValidateEndpointPorts(const Json& ports, const std::string& path, bool require_name_when_many, Errs& errs) {
  for (size_t i = 0; i < ports.size(); ++i) {
    std::string ip = Index(path, i);
    std::string name = StrOr(Find(ports[i], "name"));
    if (!name.empty())
      for (std::string& m : IsDNS1123Label(name)) errs.push_back(FieldError::Invalid(Child(ip, "name"), name, m));
    else if (require_name_when_many && ports.size() > 1)
      errs.push_back(FieldError::Required(Child(ip, "name")));
    const Json* port = Find(ports[i], "port");
    if (!IsNull(port))
      for (std::string& m : IsValidPortNum(IntOr(port, 0))) errs.push_back(FieldError::Invalid(Child(ip, "port"), *port, m));
    NotSupportedIfNot(ports[i], "protocol", Child(ip, "protocol"), {"SCTP", "TCP", "UDP"}, errs);
  }
}

void ValidateEndpoints(const Json& obj, Errs& errs) {
  const Json& subsets = ArrAt(obj, "subsets");
  for (size_t i = 0; i < subsets.size(); ++i) {
    std::string sp = Index("subsets", i);
    if (ArrAt(subsets[i], "addresses").empty() && ArrAt(subsets[i], "notReadyAddresses").empty())
      errs.push_back(FieldError::Required(sp, "must specify `addresses` or `notReadyAddresses`"));
    for (const char* list : {"addresses", "notReadyAddresses"}) {
      const Json& addrs = ArrAt(subsets[i], list);
      for (size_t j = 0; j < addrs.size(); ++j) {
        std::string ip = StrOr(Find(addrs[j], "ip"));
        if (!ValidIP(ip))
          errs.push_back(FieldError::Invalid(Child(Index(Child(sp, list), j), "ip"), ip,
                                             "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
      }
    }
    ValidateEndpointPorts(ArrAt(subsets[i], "ports"), Child(sp, "ports"), true, errs);
  }
}

// ---- apps ----------------------------------------------------------------------------------

void ValidateDeployment(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  ValidateNonnegative(Find(spec, "replicas"), "spec.replicas", errs);
  ValidateSelectorAndTemplate(spec, "deployment", "ReplicaSet", errs);
  const Json& strategy = ObjAt(spec, "strategy");
  std::string type = StrOr(Find(strategy, "type"));
  if (type == "Recreate") {
    if (!IsNull(Find(strategy, "rollingUpdate")))
      errs.push_back(FieldError::Forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"));
  } else if (type == "RollingUpdate") {
    const Json& ru = ObjAt(strategy, "rollingUpdate");
    const Json* mu = Find(ru, "maxUnavailable");
    const Json* ms = Find(ru, "maxSurge");
    ValidateIntOrPercent(mu, "spec.strategy.rollingUpdate.maxUnavailable", errs);
    ValidateIntOrPercent(ms, "spec.strategy.rollingUpdate.maxSurge", errs);
    if (IsZeroIntOrPercent(mu) && IsZeroIntOrPercent(ms))
      errs.push_back(InvalidIntOrString("spec.strategy.rollingUpdate.maxUnavailable", *mu, "may not be 0 when `maxSurge` is 0"));
    NotMoreThan100Percent(mu, "spec.strategy.rollingUpdate.maxUnavailable", errs);
  } else if (type.empty()) {
    errs.push_back(FieldError::Required("spec.strategy.type"));
  } else {
    errs.push_back(FieldError::NotSupported("spec.strategy.type", type, {"Recreate", "RollingUpdate"}));
  }
  ValidateNonnegative(Find(spec, "revisionHistoryLimit"), "spec.revisionHistoryLimit", errs);
  ValidateNonnegative(Find(spec, "minReadySeconds"), "spec.minReadySeconds", errs);
  const Json* pds = Find(spec, "progressDeadlineSeconds");
  ValidateNonnegative(pds, "spec.progressDeadlineSeconds", errs);
  if (!IsNull(pds) && IntOr(pds, 0) <= IntOr(Find(spec, "minReadySeconds"), 0))
    errs.push_back(FieldError::Invalid("spec.progressDeadlineSeconds", *pds, "must be greater than minReadySeconds"));
}

void ValidateReplicaSet(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  ValidateNonnegative(Find(spec, "replicas"), "spec.replicas", errs);
  ValidateNonnegative(Find(spec, "minReadySeconds"), "spec.minReadySeconds", errs);
  ValidateSelectorAndTemplate(spec, "deployment", "ReplicaSet", errs);
}

void ValidateStatefulSet(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  NotSupportedIfNot(spec, "podManagementPolicy", "spec.podManagementPolicy", {"OrderedReady", "Parallel"}, errs, true);
  const Json& us = ObjAt(spec, "updateStrategy");
  std::string type = StrOr(Find(us, "type"));
  if (type == "OnDelete") {
    if (!IsNull(Find(us, "rollingUpdate")))
      errs.push_back(FieldError::Invalid("spec.updateStrategy.rollingUpdate", Find(us, "rollingUpdate") ? *Find(us, "rollingUpdate") : Json(),
                                         "only allowed for updateStrategy 'RollingUpdate'"));
  } else if (type == "RollingUpdate") {
    ValidateNonnegative(FindPath(us, {"rollingUpdate", "partition"}), "spec.updateStrategy.rollingUpdate.partition", errs);
  } else if (type.empty()) {
    errs.push_back(FieldError::Required("spec.updateStrategy"));
  } else {
    errs.push_back(FieldError::NotSupported("spec.updateStrategy.type", type, {"OnDelete", "RollingUpdate"}));
  }
  const Json& policy = ObjAt(spec, "persistentVolumeClaimRetentionPolicy");
  NotSupportedIfNot(policy, "whenDeleted", "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", {"Retain", "Delete"}, errs);
  NotSupportedIfNot(policy, "whenScaled", "spec.persistentVolumeClaimRetentionPolicy.whenScaled", {"Retain", "Delete"}, errs);
  ValidateNonnegative(Find(spec, "replicas"), "spec.replicas", errs);
  ValidateNonnegative(Find(spec, "minReadySeconds"), "spec.minReadySeconds", errs);
  ValidateNonnegative(Find(spec, "revisionHistoryLimit"), "spec.revisionHistoryLimit", errs);
  ValidateSelectorAndTemplate(spec, "statefulset", "StatefulSet", errs);
  const Json& vcts = ArrAt(spec, "volumeClaimTemplates");
  for (size_t i = 0; i < vcts.size(); ++i)
    ValidatePVCSpec(ObjAt(vcts[i], "spec"), Child(Index("spec.volumeClaimTemplates", i), "spec"), errs);
}

void ValidateStatefulSetUpdate(const Json& obj, const Json& old, Errs& errs) {
  Json a = ObjAt(obj, "spec");
  Json b = ObjAt(old, "spec");
  for (const char* f : {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                        "minReadySeconds"}) {
    a.erase(f);
    b.erase(f);
  }
  if (a != b) {
    errs.push_back(FieldError::Forbidden(
        "spec",
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
  }
}

void ValidateDaemonSet(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  ValidateSelectorAndTemplate(spec, "daemonset", "DaemonSet", errs);
  const Json& us = ObjAt(spec, "updateStrategy");
  std::string type = StrOr(Find(us, "type"));
  if (type == "RollingUpdate") {
    const Json& ru = ObjAt(us, "rollingUpdate");
    const Json* mu = Find(ru, "maxUnavailable");
    const Json* ms = Find(ru, "maxSurge");
    ValidateIntOrPercent(mu, "spec.updateStrategy.rollingUpdate.maxUnavailable", errs);
    ValidateIntOrPercent(ms, "spec.updateStrategy.rollingUpdate.maxSurge", errs);
    if (IsZeroIntOrPercent(mu) && IsZeroIntOrPercent(ms))
      errs.push_back(InvalidIntOrString("spec.updateStrategy.rollingUpdate.maxUnavailable", *mu, "may not be 0 when `maxSurge` is 0"));
    NotMoreThan100Percent(mu, "spec.updateStrategy.rollingUpdate.maxUnavailable", errs);
  } else if (type.empty()) {
    errs.push_back(FieldError::Required("spec.updateStrategy.type"));
  } else if (type != "OnDelete") {
    errs.push_back(FieldError::NotSupported("spec.updateStrategy.type", type, {"OnDelete", "RollingUpdate"}));
  }
  ValidateNonnegative(Find(spec, "minReadySeconds"), "spec.minReadySeconds", errs);
  ValidateNonnegative(Find(spec, "revisionHistoryLimit"), "spec.revisionHistoryLimit", errs);
}

void ValidateSelectorImmutable(const Json& obj, const Json& old, Errs& errs) {
  const Json* now = FindPath(obj, {"spec", "selector"});
  const Json* before = FindPath(old, {"spec", "selector"});
  Json n = now != nullptr ? *now : Json();
  Json o = before != nullptr ? *before : Json();
  if (n != o) errs.push_back(InvalidSelector("spec.selector", n, kImmutable));
}

// ---- batch ---------------------------------------------------------------------------------

void ValidateJobTemplateRestart(const Json& tmpl, const std::string& path, Errs& errs) {
  std::string rp = GetStringPath(tmpl, {"spec", "restartPolicy"});
  if (rp != "OnFailure" && rp != "Never")
    errs.push_back(FieldError::NotSupported(path + ".spec.restartPolicy", rp, {"OnFailure", "Never"}));
}

void ValidateJobSpecCommon(const Json& spec, const std::string& path, Errs& errs) {
  for (const char* f : {"parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"})
    ValidateNonnegative(Find(spec, f), Child(path, f), errs);
  const Json* ads = Find(spec, "activeDeadlineSeconds");
  if (!IsNull(ads) && IntOr(ads, 0) == 0)
    errs.push_back(FieldError::Invalid(Child(path, "activeDeadlineSeconds"), *ads, "must be greater than 0"));
  std::string mode = StrOr(Find(spec, "completionMode"));
  if (!mode.empty() && mode != "NonIndexed" && mode != "Indexed")
    errs.push_back(FieldError::NotSupported(Child(path, "completionMode"), mode, {"NonIndexed", "Indexed"}));
  if (mode == "Indexed" && IsNull(Find(spec, "completions")))
    errs.push_back(FieldError::Required(Child(path, "completions"), "when completion mode is Indexed"));
  std::string prp = StrOr(Find(spec, "podReplacementPolicy"));
  if (!prp.empty() && prp != "TerminatingOrFailed" && prp != "Failed")
    errs.push_back(FieldError::NotSupported(Child(path, "podReplacementPolicy"), prp, {"Failed", "TerminatingOrFailed"}));
}

void ValidateJob(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  ValidateJobSpecCommon(spec, "spec", errs);
  ValidateSelectorAndTemplate(spec, "job", "", errs);
  if (const Json* t = Find(spec, "template"); !IsNull(t)) ValidateJobTemplateRestart(*t, "spec.template", errs);
}

bool JobStarted(const Json& old) {
  const Json* st = FindPath(old, {"status", "startTime"});
  return !IsNull(st);
}

void ValidateJobUpdate(const Json& obj, const Json& old, Errs& errs) {
  ValidateSelectorImmutable(obj, old, errs);
  ValidateImmutable(FindPath(obj, {"spec", "completionMode"}), FindPath(old, {"spec", "completionMode"}),
                    "spec.completionMode", errs);
  // The template is immutable, except that a suspended Job that never started may change
  // its scheduling directives (upstream allows labels, annotations, nodeSelector,
  // tolerations, affinity, schedulingGates).
  const Json* t = FindPath(obj, {"spec", "template"});
  const Json* o = FindPath(old, {"spec", "template"});
  bool suspended = FindPath(old, {"spec", "suspend"}) != nullptr && FindPath(old, {"spec", "suspend"})->is_boolean() &&
                   FindPath(old, {"spec", "suspend"})->get<bool>();
  if (suspended && !JobStarted(old) && t != nullptr && o != nullptr) {
    Json a = *t, b = *o;
    for (Json* x : {&a, &b}) {
      if (x->contains("metadata")) {
        (*x)["metadata"].erase("labels");
        (*x)["metadata"].erase("annotations");
      }
      if (x->contains("spec"))
        for (const char* f : {"nodeSelector", "tolerations", "affinity", "schedulingGates"}) (*x)["spec"].erase(f);
    }
    if (a != b) errs.push_back(FieldError::Invalid("spec.template", *t, kImmutable));
  } else {
    ValidateImmutable(t, o, "spec.template", errs);
  }
  const Json* nc = FindPath(obj, {"spec", "completions"});
  const Json* oc = FindPath(old, {"spec", "completions"});
  if (GetStringPath(obj, {"spec", "completionMode"}) != "Indexed") ValidateImmutable(nc, oc, "spec.completions", errs);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void ValidateCronJob(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  std::string name = GetStringPath(obj, {"metadata", "name"});
  if (name.size() > 52) errs.push_back(FieldError::Invalid("metadata.name", name, "must be no more than 52 characters"));
  std::string schedule = StrOr(Find(spec, "schedule"));
  if (schedule.empty()) {
    errs.push_back(FieldError::Required("spec.schedule"));
  } else {
    if (std::string err = CronParseError(schedule); !err.empty())
      errs.push_back(FieldError::Invalid("spec.schedule", schedule, err));
    if (schedule.find("TZ") != std::string::npos)
      errs.push_back(FieldError::Invalid("spec.schedule", schedule,
                                         "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"));
  }
  if (const Json* tz = Find(spec, "timeZone"); !IsNull(tz)) {
    std::string zone = StrOr(tz);
    std::string lower = zone;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (zone.empty()) {
      errs.push_back(FieldError::Invalid("spec.timeZone", zone, "timeZone must be nil or non-empty string"));
    } else if (lower == "local") {
      errs.push_back(FieldError::Invalid("spec.timeZone", zone,
                                         "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"));
    } else {
      struct stat st;
      bool known = zone == "UTC" ||
                   (zone.find("..") == std::string::npos && zone.front() != '/' &&
                    stat(("/usr/share/zoneinfo/" + zone).c_str(), &st) == 0 && S_ISREG(st.st_mode));
      if (!known) errs.push_back(FieldError::Invalid("spec.timeZone", zone, "unknown time zone " + zone));
    }
  }
  NotSupportedIfNot(spec, "concurrencyPolicy", "spec.concurrencyPolicy", {"Allow", "Forbid", "Replace"}, errs, true);
  for (const char* f : {"startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"})
    ValidateNonnegative(Find(spec, f), Child("spec", f), errs);
  const Json& jt = ObjAt(spec, "jobTemplate");
  const Json& js = ObjAt(jt, "spec");
  ValidateLabels(ObjAt(ObjAt(jt, "metadata"), "labels"), "spec.jobTemplate.metadata.labels", errs);
  ValidateJobSpecCommon(js, "spec.jobTemplate.spec", errs);
  const Json* t = Find(js, "template");
  if (IsNull(t)) {
    errs.push_back(FieldError::Required("spec.jobTemplate.spec.template"));
  } else {
    ValidatePodTemplateSpec(*t, "spec.jobTemplate.spec.template", errs);
    ValidateJobTemplateRestart(*t, "spec.jobTemplate.spec.template", errs);
  }
  (void)Trim;
}

// ---- other groups --------------------------------------------------------------------------

void ValidateHPA(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  const Json& ref = ObjAt(spec, "scaleTargetRef");
  for (const char* f : {"kind", "name"}) {
    std::string v = StrOr(Find(ref, f));
    std::string p = std::string("spec.scaleTargetRef.") + f;
    if (v.empty()) {
      errs.push_back(FieldError::Required(p));
    } else {
      for (std::string& m : IsValidPathSegmentName(v)) errs.push_back(FieldError::Invalid(p, v, m));
    }
  }
  const Json* min = Find(spec, "minReplicas");
  if (!IsNull(min) && IntOr(min, 0) < 1)
    errs.push_back(FieldError::Invalid("spec.minReplicas", *min, "must be greater than or equal to 1"));
  const Json* max = Find(spec, "maxReplicas");
  long long maxv = IntOr(max, 0);
  if (maxv < 1) errs.push_back(FieldError::Invalid("spec.maxReplicas", max ? *max : Json(0), "must be greater than 0"));
  if (!IsNull(min) && maxv < IntOr(min, 1))
    errs.push_back(FieldError::Invalid("spec.maxReplicas", max ? *max : Json(0), "must be greater than or equal to `minReplicas`"));
  const Json* cpu = Find(spec, "targetCPUUtilizationPercentage");
  if (!IsNull(cpu) && IntOr(cpu, 0) < 1)
    errs.push_back(FieldError::Invalid("spec.targetCPUUtilizationPercentage", *cpu, "must be greater than 0"));
}

void ValidateIngressBackend(const Json& b, const std::string& path, Errs& errs) {
  const Json* svc = Find(b, "service");
  const Json* res = Find(b, "resource");
  if (!IsNull(svc) && !IsNull(res)) {
    errs.push_back(FieldError::Invalid(path, b, "cannot set both resource and service backends"));
    return;
  }
  if (IsNull(svc) && IsNull(res)) {
    errs.push_back(FieldError::Invalid(path, b, "resource or service backend is required"));
    return;
  }
  if (!IsNull(svc)) {
    std::string sp = Child(path, "service");
    std::string name = StrOr(Find(*svc, "name"));
    if (name.empty()) {
      errs.push_back(FieldError::Required(Child(sp, "name")));
    } else {
      for (std::string& m : IsDNS1035Label(name)) errs.push_back(FieldError::Invalid(Child(sp, "name"), name, m));
    }
    const Json& port = ObjAt(*svc, "port");
    bool has_name = !StrOr(Find(port, "name")).empty();
    bool has_number = IntOr(Find(port, "number"), 0) != 0;
    std::string pp = Child(sp, "port");
    if (has_name && has_number) {
      errs.push_back(FieldError::Invalid(pp, port, "cannot set both port name & port number"));
    } else if (has_name) {
      for (std::string& m : IsValidPortName(StrOr(Find(port, "name")))) errs.push_back(FieldError::Invalid(Child(pp, "name"), port["name"], m));
    } else if (has_number) {
      for (std::string& m : IsValidPortNum(IntOr(Find(port, "number"), 0)))
        errs.push_back(FieldError::Invalid(Child(pp, "number"), port["number"], m));
    } else {
      errs.push_back(FieldError::Required(pp, "port name or number is required"));
    }
  }
}

void ValidateIngress(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  const Json& rules = ArrAt(spec, "rules");
  const Json* def = Find(spec, "defaultBackend");
  if (rules.empty() && IsNull(def))
    errs.push_back(FieldError::Invalid("spec", rules, "either `defaultBackend` or `rules` must be specified"));
  if (!IsNull(def)) ValidateIngressBackend(*def, "spec.defaultBackend", errs);
  for (size_t i = 0; i < rules.size(); ++i) {
    std::string rp = Index("spec.rules", i);
    std::string host = StrOr(Find(rules[i], "host"));
    if (!host.empty()) {
      if (ValidIP(host)) {
        errs.push_back(FieldError::Invalid(Child(rp, "host"), host, "must be a DNS name, not an IP address"));
      } else if (host.rfind("*.", 0) == 0) {
        for (std::string& m : IsDNS1123Subdomain(host.substr(2)))
          errs.push_back(FieldError::Invalid(Child(rp, "host"), host, m));
      } else {
        for (std::string& m : IsDNS1123Subdomain(host)) errs.push_back(FieldError::Invalid(Child(rp, "host"), host, m));
      }
    }
    const Json* http = Find(rules[i], "http");
    if (IsNull(http)) continue;
    const Json& paths = ArrAt(*http, "paths");
    std::string hp = Child(Child(rp, "http"), "paths");
    if (paths.empty()) errs.push_back(FieldError::Required(hp));
    for (size_t j = 0; j < paths.size(); ++j) {
      std::string pp = Index(hp, j);
      std::string type = StrOr(Find(paths[j], "pathType"));
      std::string path = StrOr(Find(paths[j], "path"));
      if (type.empty()) {
        errs.push_back(FieldError::Required(Child(pp, "pathType"), "pathType must be specified"));
      } else if (type != "Exact" && type != "Prefix" && type != "ImplementationSpecific") {
        errs.push_back(FieldError::NotSupported(Child(pp, "pathType"), type, {"Exact", "ImplementationSpecific", "Prefix"}));
      }
      if ((type == "Exact" || type == "Prefix") && (path.empty() || path[0] != '/'))
        errs.push_back(FieldError::Invalid(Child(pp, "path"), path, "must be an absolute path"));
      if (type == "ImplementationSpecific" && !path.empty() && path[0] != '/')
        errs.push_back(FieldError::Invalid(Child(pp, "path"), path, "must be an absolute path"));
      ValidateIngressBackend(ObjAt(paths[j], "backend"), Child(pp, "backend"), errs);
    }
  }
}

void ValidateNetworkPolicy(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  ValidateLabelSelector(ObjAt(spec, "podSelector"), "spec.podSelector", errs);
  const Json& types = ArrAt(spec, "policyTypes");
  for (size_t i = 0; i < types.size(); ++i) {
    std::string t = StrOr(&types[i]);
    if (t != "Ingress" && t != "Egress")
      errs.push_back(FieldError::NotSupported(Index("spec.policyTypes", i), t, {"Ingress", "Egress"}));
  }
  if (types.size() > 2) errs.push_back(FieldError::Invalid("spec.policyTypes", types, "may not have more than 2 values"));
  for (const char* dir : {"ingress", "egress"}) {
    const Json& rules = ArrAt(spec, dir);
    for (size_t i = 0; i < rules.size(); ++i) {
      const Json& ports = ArrAt(rules[i], "ports");
      for (size_t j = 0; j < ports.size(); ++j) {
        std::string pp = Index(Child(Index(Child("spec", dir), i), "ports"), j);
        NotSupportedIfNot(ports[j], "protocol", Child(pp, "protocol"), {"SCTP", "TCP", "UDP"}, errs);
      }
    }
  }
}

void ValidatePDB(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  const Json* min = Find(spec, "minAvailable");
  const Json* max = Find(spec, "maxUnavailable");
  if (!IsNull(min) && !IsNull(max))
    errs.push_back(FieldError::Invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"));
  ValidateIntOrPercent(min, "spec.minAvailable", errs);
  NotMoreThan100Percent(min, "spec.minAvailable", errs);
  ValidateIntOrPercent(max, "spec.maxUnavailable", errs);
  NotMoreThan100Percent(max, "spec.maxUnavailable", errs);
  if (const Json* sel = Find(spec, "selector"); !IsNull(sel)) ValidateLabelSelector(*sel, "spec.selector", errs);
  NotSupportedIfNot(spec, "unhealthyPodEvictionPolicy", "spec.unhealthyPodEvictionPolicy", {"AlwaysAllow", "IfHealthyBudget"}, errs);
}

constexpr const char* kRBACGroup = "rbac.authorization.k8s.io";

void ValidatePolicyRules(const Json& obj, bool namespaced, Errs& errs) {
  const Json& rules = ArrAt(obj, "rules");
  for (size_t i = 0; i < rules.size(); ++i) {
    std::string rp = Index("rules", i);
    const Json& r = rules[i];
    if (ArrAt(r, "verbs").empty()) errs.push_back(FieldError::Required(Child(rp, "verbs"), "verbs must contain at least one value"));
    const Json& urls = ArrAt(r, "nonResourceURLs");
    if (!urls.empty()) {
      if (namespaced) {
        errs.push_back(FieldError::Invalid(Child(rp, "nonResourceURLs"), urls, "namespaced rules cannot apply to non-resource URLs"));
      }
      if (!ArrAt(r, "apiGroups").empty() || !ArrAt(r, "resources").empty() || !ArrAt(r, "resourceNames").empty())
        errs.push_back(FieldError::Invalid(Child(rp, "nonResourceURLs"), urls,
                                           "rules cannot apply to both regular resources and non-resource URLs"));
      continue;
    }
    if (ArrAt(r, "apiGroups").empty())
      errs.push_back(FieldError::Required(Child(rp, "apiGroups"), "resource rules must supply at least one api group"));
    if (ArrAt(r, "resources").empty())
      errs.push_back(FieldError::Required(Child(rp, "resources"), "resource rules must supply at least one resource"));
  }
}

void ValidateRoleBinding(const Json& obj, bool namespaced, Errs& errs) {
  const Json& ref = ObjAt(obj, "roleRef");
  std::string group = StrOr(Find(ref, "apiGroup"));
  if (group != kRBACGroup) errs.push_back(FieldError::NotSupported("roleRef.apiGroup", group, {kRBACGroup}));
  std::string kind = StrOr(Find(ref, "kind"));
  if (namespaced) {
    if (kind != "Role" && kind != "ClusterRole") errs.push_back(FieldError::NotSupported("roleRef.kind", kind, {"Role", "ClusterRole"}));
  } else if (kind != "ClusterRole") {
    errs.push_back(FieldError::NotSupported("roleRef.kind", kind, {"ClusterRole"}));
  }
  std::string name = StrOr(Find(ref, "name"));
  if (name.empty()) {
    errs.push_back(FieldError::Required("roleRef.name"));
  } else {
    for (std::string& m : IsValidPathSegmentName(name)) errs.push_back(FieldError::Invalid("roleRef.name", name, m));
  }
  const Json& subjects = ArrAt(obj, "subjects");
  for (size_t i = 0; i < subjects.size(); ++i) {
    std::string sp = Index("subjects", i);
    const Json& s = subjects[i];
    std::string sname = StrOr(Find(s, "name"));
    std::string skind = StrOr(Find(s, "kind"));
    std::string sgroup = StrOr(Find(s, "apiGroup"));
    if (sname.empty()) errs.push_back(FieldError::Required(Child(sp, "name")));
    if (skind == "ServiceAccount") {
      if (!sname.empty())
        for (std::string& m : IsDNS1123Subdomain(sname)) errs.push_back(FieldError::Invalid(Child(sp, "name"), sname, m));
      if (!sgroup.empty()) errs.push_back(FieldError::NotSupported(Child(sp, "apiGroup"), sgroup, {""}));
      if (!namespaced && StrOr(Find(s, "namespace")).empty()) errs.push_back(FieldError::Required(Child(sp, "namespace")));
    } else if (skind == "User" || skind == "Group") {
      if (sgroup != kRBACGroup) errs.push_back(FieldError::NotSupported(Child(sp, "apiGroup"), sgroup, {kRBACGroup}));
    } else {
      errs.push_back(FieldError::NotSupported(Child(sp, "kind"), skind, {"ServiceAccount", "User", "Group"}));
    }
  }
}

void ValidatePriorityClass(const Json& obj, Errs& errs) {
  std::string name = GetStringPath(obj, {"metadata", "name"});
  long long value = IntOr(Find(obj, "value"), 0);
  bool system = name == "system-node-critical" || name == "system-cluster-critical";
  if (!system && name.rfind("system-", 0) == 0)
    errs.push_back(FieldError::Forbidden("metadata.name", "priority class names with 'system-' prefix are reserved"));
  if (!system && value > 1000000000)
    errs.push_back(FieldError::Forbidden("value", "maximum allowed value of a user defined priority is 1000000000"));
  NotSupportedIfNot(obj, "preemptionPolicy", "preemptionPolicy", {"Never", "PreemptLowerPriority"}, errs);
}

void ValidateStorageClass(const Json& obj, Errs& errs) {
  std::string prov = StrOr(Find(obj, "provisioner"));
  if (prov.empty()) {
    errs.push_back(FieldError::Required("provisioner"));
  } else {
    for (std::string& m : IsQualifiedName(prov)) errs.push_back(FieldError::Invalid("provisioner", prov, m));
  }
  NotSupportedIfNot(obj, "reclaimPolicy", "reclaimPolicy", {"Delete", "Retain"}, errs);
  NotSupportedIfNot(obj, "volumeBindingMode", "volumeBindingMode", {"Immediate", "WaitForFirstConsumer"}, errs, true);
}

void ValidateStorageClassUpdate(const Json& obj, const Json& old, Errs& errs) {
  if (ObjAt(obj, "parameters") != ObjAt(old, "parameters"))
    errs.push_back(FieldError::Forbidden("parameters", "updates to parameters are forbidden."));
  if (StrOr(Find(obj, "provisioner")) != StrOr(Find(old, "provisioner")))
    errs.push_back(FieldError::Forbidden("provisioner", "updates to provisioner are forbidden."));
  if (StrOr(Find(obj, "reclaimPolicy")) != StrOr(Find(old, "reclaimPolicy")))
    errs.push_back(FieldError::Forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."));
  ValidateImmutable(Find(obj, "volumeBindingMode"), Find(old, "volumeBindingMode"), "volumeBindingMode", errs);
}

void ValidateLease(const Json& obj, Errs& errs) {
  const Json& spec = ObjAt(obj, "spec");
  const Json* d = Find(spec, "leaseDurationSeconds");
  if (!IsNull(d) && IntOr(d, 0) <= 0) errs.push_back(FieldError::Invalid("spec.leaseDurationSeconds", *d, "must be greater than 0"));
  ValidateNonnegative(Find(spec, "leaseTransitions"), "spec.leaseTransitions", errs);
}

void ValidateEndpointSlice(const Json& obj, Errs& errs) {
  std::string at = StrOr(Find(obj, "addressType"));
  if (at.empty()) {
    errs.push_back(FieldError::Required("addressType"));
  } else if (at != "IPv4" && at != "IPv6" && at != "FQDN") {
    errs.push_back(FieldError::NotSupported("addressType", at, {"FQDN", "IPv4", "IPv6"}));
  }
  const Json& eps = ArrAt(obj, "endpoints");
  for (size_t i = 0; i < eps.size(); ++i) {
    const Json& addrs = ArrAt(eps[i], "addresses");
    std::string ap = Child(Index("endpoints", i), "addresses");
    if (addrs.empty()) errs.push_back(FieldError::Required(ap, "must contain at least 1 address"));
    for (size_t j = 0; j < addrs.size(); ++j) {
      std::string a = StrOr(&addrs[j]);
      if ((at == "IPv4" || at == "IPv6") && !ValidIP(a))
        errs.push_back(FieldError::Invalid(Index(ap, j), a, "must be a valid IP address"));
    }
  }
  ValidateEndpointPorts(ArrAt(obj, "ports"), "ports", false, errs);
}

void ValidateIngressClass(const Json& obj, Errs& errs) {
  std::string c = GetStringPath(obj, {"spec", "controller"});
  if (c.empty()) errs.push_back(FieldError::Required("spec.controller"));
  else if (c.size() > 250) errs.push_back(FieldError::TooLong("spec.controller", c, 250));
}

bool Is(std::string_view g, std::string_view k, std::string_view group, std::string_view kind) {
  return g == group && k == kind;
}

}  // namespace

std::string_view NameRule(std::string_view group, std::string_view kind) {
  if (group.empty() && kind == "Namespace") return "dns1123label";
  // Service names become DNS labels: upstream requires an RFC 1035 label.
  if (group.empty() && kind == "Service") return "dns1035label";
  if (group == "rbac.authorization.k8s.io") return "path-segment";
  if (group == "autoscaling" && kind == "HorizontalPodAutoscaler") return "path-segment";
  return "dns1123subdomain";
}

bool IsNamespaced(std::string_view group, std::string_view kind) {
  static const std::set<std::pair<std::string_view, std::string_view>> kClusterScoped = {
      {"", "Namespace"},
      {"", "Node"},
      {"", "PersistentVolume"},
      {"", "ComponentStatus"},
      {"rbac.authorization.k8s.io", "ClusterRole"},
      {"rbac.authorization.k8s.io", "ClusterRoleBinding"},
      {"storage.k8s.io", "StorageClass"},
      {"storage.k8s.io", "CSIDriver"},
      {"storage.k8s.io", "CSINode"},
      {"storage.k8s.io", "VolumeAttachment"},
      {"storage.k8s.io", "VolumeAttributesClass"},
      {"scheduling.k8s.io", "PriorityClass"},
      {"networking.k8s.io", "IngressClass"},
      {"networking.k8s.io", "IPAddress"},
      {"networking.k8s.io", "ServiceCIDR"},
      {"node.k8s.io", "RuntimeClass"},
      {"apiextensions.k8s.io", "CustomResourceDefinition"},
      {"apiregistration.k8s.io", "APIService"},
      {"admissionregistration.k8s.io", "MutatingWebhookConfiguration"},
      {"admissionregistration.k8s.io", "ValidatingWebhookConfiguration"},
      {"admissionregistration.k8s.io", "ValidatingAdmissionPolicy"},
      {"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"},
      {"authentication.k8s.io", "TokenReview"},
      {"authentication.k8s.io", "SelfSubjectReview"},
      {"authorization.k8s.io", "SubjectAccessReview"},
      {"authorization.k8s.io", "SelfSubjectAccessReview"},
      {"authorization.k8s.io", "SelfSubjectRulesReview"},
      {"certificates.k8s.io", "CertificateSigningRequest"},
      {"flowcontrol.apiserver.k8s.io", "FlowSchema"},
      {"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"},
  };
  return !kClusterScoped.count({group, kind});
}

FieldErrors Validate(std::string_view group, std::string_view kind, const Json& obj) {
  // Review kinds (TokenReview, SubjectAccessReview, ...) are never stored and have no name.
  if (group == "authorization.k8s.io" || group == "authentication.k8s.io") return {};
  FieldErrors errs = ValidateObjectMeta(obj, IsNamespaced(group, kind), NameRule(group, kind));
  if (!obj.is_object()) return errs;
  if (group.empty()) {
    if (kind == "Pod") ValidatePodSpec(ObjAt(obj, "spec"), "spec", errs);
    else if (kind == "PodTemplate") ValidatePodTemplateSpec(ObjAt(obj, "template"), "template", errs);
    else if (kind == "ReplicationController") ValidateReplicationController(obj, errs);
    else if (kind == "Service") ValidateService(obj, errs);
    else if (kind == "ConfigMap") ValidateConfigMap(obj, errs);
    else if (kind == "Secret") ValidateSecret(obj, errs);
    else if (kind == "Node") ValidateNode(obj, errs);
    else if (kind == "PersistentVolume") ValidatePersistentVolume(obj, errs);
    else if (kind == "PersistentVolumeClaim") ValidatePVCSpec(ObjAt(obj, "spec"), "spec", errs);
    else if (kind == "ResourceQuota") ValidateResourceQuota(obj, errs);
    else if (kind == "LimitRange") ValidateLimitRange(obj, errs);
    else if (kind == "Endpoints") ValidateEndpoints(obj, errs);
  } else if (group == "apps") {
    if (kind == "Deployment") ValidateDeployment(obj, errs);
    else if (kind == "ReplicaSet") ValidateReplicaSet(obj, errs);
    else if (kind == "StatefulSet") ValidateStatefulSet(obj, errs);
    else if (kind == "DaemonSet") ValidateDaemonSet(obj, errs);
  } else if (group == "batch") {
    if (kind == "Job") ValidateJob(obj, errs);
    else if (kind == "CronJob") ValidateCronJob(obj, errs);
  } else if (Is(group, kind, "autoscaling", "HorizontalPodAutoscaler")) {
    ValidateHPA(obj, errs);
  } else if (Is(group, kind, "networking.k8s.io", "Ingress")) {
    ValidateIngress(obj, errs);
  } else if (Is(group, kind, "networking.k8s.io", "IngressClass")) {
    ValidateIngressClass(obj, errs);
  } else if (Is(group, kind, "networking.k8s.io", "NetworkPolicy")) {
    ValidateNetworkPolicy(obj, errs);
  } else if (Is(group, kind, "policy", "PodDisruptionBudget")) {
    ValidatePDB(obj, errs);
  } else if (group == kRBACGroup) {
    if (kind == "Role") ValidatePolicyRules(obj, true, errs);
    else if (kind == "ClusterRole") ValidatePolicyRules(obj, false, errs);
    else if (kind == "RoleBinding") ValidateRoleBinding(obj, true, errs);
    else if (kind == "ClusterRoleBinding") ValidateRoleBinding(obj, false, errs);
  } else if (Is(group, kind, "scheduling.k8s.io", "PriorityClass")) {
    ValidatePriorityClass(obj, errs);
  } else if (Is(group, kind, "storage.k8s.io", "StorageClass")) {
    ValidateStorageClass(obj, errs);
  } else if (Is(group, kind, "coordination.k8s.io", "Lease")) {
    ValidateLease(obj, errs);
  } else if (Is(group, kind, "discovery.k8s.io", "EndpointSlice")) {
    ValidateEndpointSlice(obj, errs);
  }
  return errs;
}

FieldErrors ValidateUpdate(std::string_view group, std::string_view kind, const Json& obj, const Json& old) {
  FieldErrors errs = ValidateObjectMetaUpdate(obj, old);
  if (!obj.is_object() || !old.is_object()) return errs;
  if (group.empty()) {
    if (kind == "Pod") ValidatePodSpecUpdate(ObjAt(obj, "spec"), ObjAt(old, "spec"), errs);
    else if (kind == "Service") ValidateServiceUpdate(obj, old, errs);
    else if (kind == "ConfigMap") ValidateImmutableData(obj, old, {"data", "binaryData"}, errs);
    else if (kind == "Secret") {
      ValidateImmutableData(obj, old, {"data"}, errs);
      ValidateImmutable(Find(obj, "type"), Find(old, "type"), "type", errs);
    } else if (kind == "PersistentVolumeClaim") ValidatePVCUpdate(obj, old, errs);
    else if (kind == "ReplicationController") {
      // no immutable fields upstream beyond metadata
    }
  } else if (group == "apps") {
    if (kind == "Deployment" || kind == "ReplicaSet" || kind == "DaemonSet") ValidateSelectorImmutable(obj, old, errs);
    else if (kind == "StatefulSet") ValidateStatefulSetUpdate(obj, old, errs);
  } else if (group == "batch" && kind == "Job") {
    ValidateJobUpdate(obj, old, errs);
  } else if (group == kRBACGroup && (kind == "RoleBinding" || kind == "ClusterRoleBinding")) {
    if (ObjAt(obj, "roleRef") != ObjAt(old, "roleRef"))
      errs.push_back(FieldError::Invalid("roleRef", ObjAt(obj, "roleRef"), "cannot change roleRef"));
  } else if (Is(group, kind, "scheduling.k8s.io", "PriorityClass")) {
    if (IntOr(Find(obj, "value"), 0) != IntOr(Find(old, "value"), 0))
      errs.push_back(FieldError::Forbidden("value", "may not be changed in an update."));
    ValidateImmutable(Find(obj, "preemptionPolicy"), Find(old, "preemptionPolicy"), "preemptionPolicy", errs);
  } else if (Is(group, kind, "storage.k8s.io", "StorageClass")) {
    ValidateStorageClassUpdate(obj, old, errs);
  } else if (Is(group, kind, "networking.k8s.io", "IngressClass")) {
    ValidateImmutable(FindPath(obj, {"spec", "controller"}), FindPath(old, {"spec", "controller"}), "spec.controller", errs);
  } else if (Is(group, kind, "discovery.k8s.io", "EndpointSlice")) {
    ValidateImmutable(Find(obj, "addressType"), Find(old, "addressType"), "addressType", errs);
  }
  return errs;
}

}  // namespace tug::api::validation
