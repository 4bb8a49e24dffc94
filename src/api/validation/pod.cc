// Pod spec validation; see pod.h. Facts (rules, messages, supported values) from upstream
// pkg/apis/core/validation/validation.go.
#include "api/validation/pod.h"

#include <cctype>
#include <map>
#include <set>

#include "api/validation/helpers.h"

namespace tug::api::validation {
namespace {

// Volume source fields of core/v1 VolumeSource, in upstream's checking order.
constexpr const char* kVolumeSources[] = {
    "hostPath", "emptyDir", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
    "scaleIO", "storageos", "projected", "csi", "ephemeral", "image"};

void ValidateVolumes(const Json& vols, const std::string& path, std::set<std::string>& names, FieldErrors& errs) {
  for (size_t i = 0; i < vols.size(); ++i) {
    const Json& v = vols[i];
    std::string ip = Index(path, i);
    std::string name = StrOr(Find(v, "name"));
    if (name.empty()) {
      errs.push_back(FieldError::Required(Child(ip, "name")));
    } else {
      for (std::string& m : IsDNS1123Label(name)) errs.push_back(FieldError::Invalid(Child(ip, "name"), name, m));
      if (!names.insert(name).second) errs.push_back(FieldError::Duplicate(Child(ip, "name"), name));
    }
    int count = 0;
    for (const char* src : kVolumeSources) {
      const Json* s = Find(v, src);
      if (s == nullptr || s->is_null()) continue;
      if (++count > 1) errs.push_back(FieldError::Forbidden(Child(ip, src), "may not specify more than 1 volume type"));
    }
    if (count == 0) errs.push_back(FieldError::Required(ip, "must specify a volume type"));
    for (const char* src : {"secret", "configMap", "downwardAPI", "projected"}) {
      const Json* mode = FindPath(v, {src, "defaultMode"});
      if (mode != nullptr && mode->is_number() && (IntOr(mode, 0) < 0 || IntOr(mode, 0) > 0777)) {
        errs.push_back(FieldError::Invalid(Child(Child(ip, src), "defaultMode"), *mode,
                                           "must be a number between 0 and 0777 (octal), both inclusive"));
      }
    }
    if (const Json* pvc = Find(v, "persistentVolumeClaim"); pvc != nullptr && pvc->is_object()) {
      if (StrOr(Find(*pvc, "claimName")).empty())
        errs.push_back(FieldError::Required(Child(Child(ip, "persistentVolumeClaim"), "claimName")));
    }
    if (const Json* hp = Find(v, "hostPath"); hp != nullptr && hp->is_object()) {
      if (StrOr(Find(*hp, "path")).empty()) errs.push_back(FieldError::Required(Child(Child(ip, "hostPath"), "path")));
    }
  }
}

void ValidatePorts(const Json& ports, const std::string& path, FieldErrors& errs) {
  std::set<std::string> names;
  for (size_t i = 0; i < ports.size(); ++i) {
    const Json& p = ports[i];
    std::string ip = Index(path, i);
    std::string name = StrOr(Find(p, "name"));
    if (!name.empty()) {
      for (std::string& m : IsValidPortName(name)) errs.push_back(FieldError::Invalid(Child(ip, "name"), name, m));
      if (!names.insert(name).second) errs.push_back(FieldError::Duplicate(Child(ip, "name"), name));
    }
    const Json* cp = Find(p, "containerPort");
    if (cp == nullptr || IntOr(cp, 0) == 0) {
      errs.push_back(FieldError::Required(Child(ip, "containerPort")));
    } else {
      for (std::string& m : IsValidPortNum(IntOr(cp, 0))) errs.push_back(FieldError::Invalid(Child(ip, "containerPort"), *cp, m));
    }
    const Json* hp = Find(p, "hostPort");
    if (hp != nullptr && IntOr(hp, 0) != 0)
      for (std::string& m : IsValidPortNum(IntOr(hp, 0))) errs.push_back(FieldError::Invalid(Child(ip, "hostPort"), *hp, m));
    std::string proto = StrOr(Find(p, "protocol"));
    if (proto.empty()) {
      errs.push_back(FieldError::Required(Child(ip, "protocol")));
    } else if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
      errs.push_back(FieldError::NotSupported(Child(ip, "protocol"), proto, {"SCTP", "TCP", "UDP"}));
    }
  }
}

void ValidateResources(const Json& res, const std::string& path, FieldErrors& errs) {
  const Json& limits = ObjAt(res, "limits");
  const Json& requests = ObjAt(res, "requests");
  ValidateResourceList(limits, Child(path, "limits"), errs);
  ValidateResourceList(requests, Child(path, "requests"), errs);
  for (auto it = requests.begin(); it != requests.end(); ++it) {
    const Json* lim = Find(limits, it.key());
    if (lim == nullptr) continue;
    std::string rq = StrOr(&it.value(), it.value().dump());
    std::string lq = StrOr(lim, lim->dump());
    auto r = ParseQuantity(rq);
    auto l = ParseQuantity(lq);
    if (r && l && *r > *l) {
      errs.push_back(FieldError::Invalid(Key(Child(path, "requests"), it.key()), rq,
                                         "must be less than or equal to " + it.key() + " limit of " + lq));
    }
  }
}

void ValidateProbe(const Json& probe, const std::string& path, bool liveness_or_startup, FieldErrors& errs) {
  if (!probe.is_object()) return;
  int handlers = 0;
  for (const char* h : {"exec", "httpGet", "tcpSocket", "grpc"}) {
    const Json* v = Find(probe, h);
    if (v == nullptr || v->is_null()) continue;
    if (++handlers > 1) errs.push_back(FieldError::Forbidden(Child(path, h), "may not specify more than 1 handler type"));
  }
  if (handlers == 0) errs.push_back(FieldError::Required(path, "must specify a handler type"));
  for (const char* f : {"initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"})
    ValidateNonnegative(Find(probe, f), Child(path, f), errs);
  const Json* st = Find(probe, "successThreshold");
  if (liveness_or_startup && st != nullptr && IntOr(st, 1) != 1)
    errs.push_back(FieldError::Invalid(Child(path, "successThreshold"), *st, "must be 1"));
  if (const Json* g = Find(probe, "httpGet"); g != nullptr && g->is_object()) {
    const Json* port = Find(*g, "port");
    std::string pp = Child(Child(path, "httpGet"), "port");
    if (port != nullptr && port->is_number()) {
      for (std::string& m : IsValidPortNum(IntOr(port, 0))) errs.push_back(FieldError::Invalid(pp, *port, m));
    } else if (port != nullptr && port->is_string()) {
      for (std::string& m : IsValidPortName(port->get<std::string>())) errs.push_back(FieldError::Invalid(pp, *port, m));
    } else {
      errs.push_back(FieldError::Required(pp));
    }
    std::string scheme = StrOr(Find(*g, "scheme"), "HTTP");
    if (scheme != "HTTP" && scheme != "HTTPS")
      errs.push_back(FieldError::NotSupported(Child(Child(path, "httpGet"), "scheme"), scheme, {"HTTP", "HTTPS"}));
  }
}

void ValidateContainers(const Json& containers, const std::string& path, const std::set<std::string>& volumes,
                        std::set<std::string>& names, bool init, FieldErrors& errs) {
  for (size_t i = 0; i < containers.size(); ++i) {
    const Json& c = containers[i];
    std::string ip = Index(path, i);
    std::string name = StrOr(Find(c, "name"));
    if (name.empty()) {
      errs.push_back(FieldError::Required(Child(ip, "name")));
    } else {
      for (std::string& m : IsDNS1123Label(name)) errs.push_back(FieldError::Invalid(Child(ip, "name"), name, m));
      if (!names.insert(name).second) errs.push_back(FieldError::Duplicate(Child(ip, "name"), name));
    }
    std::string image = StrOr(Find(c, "image"));
    if (image.empty()) {
      errs.push_back(FieldError::Required(Child(ip, "image")));
    } else if (std::isspace(static_cast<unsigned char>(image.front())) ||
               std::isspace(static_cast<unsigned char>(image.back()))) {
      errs.push_back(FieldError::Invalid(Child(ip, "image"), image, "must not have leading or trailing whitespace"));
    }
    std::string pull = StrOr(Find(c, "imagePullPolicy"));
    if (pull.empty()) {
      errs.push_back(FieldError::Required(Child(ip, "imagePullPolicy")));
    } else if (pull != "Always" && pull != "IfNotPresent" && pull != "Never") {
      errs.push_back(FieldError::NotSupported(Child(ip, "imagePullPolicy"), pull, {"Always", "IfNotPresent", "Never"}));
    }
    std::string tmp = StrOr(Find(c, "terminationMessagePolicy"));
    if (tmp.empty()) {
      errs.push_back(FieldError::Required(Child(ip, "terminationMessagePolicy"),
                                          "must be 'File' or 'FallbackToLogsOnError'"));
    } else if (tmp != "File" && tmp != "FallbackToLogsOnError") {
      errs.push_back(FieldError::NotSupported(Child(ip, "terminationMessagePolicy"), tmp, {"File", "FallbackToLogsOnError"}));
    }
    ValidatePorts(ArrAt(c, "ports"), Child(ip, "ports"), errs);
    const Json& env = ArrAt(c, "env");
    for (size_t j = 0; j < env.size(); ++j) {
      std::string ep = Index(Child(ip, "env"), j);
      std::string en = StrOr(Find(env[j], "name"));
      if (en.empty()) {
        errs.push_back(FieldError::Required(Child(ep, "name")));
      } else {
        for (std::string& m : IsRelaxedEnvVarName(en)) errs.push_back(FieldError::Invalid(Child(ep, "name"), en, m));
      }
      if (!StrOr(Find(env[j], "value")).empty() && Find(env[j], "valueFrom") != nullptr &&
          !Find(env[j], "valueFrom")->is_null()) {
        errs.push_back(FieldError::Invalid(Child(ep, "valueFrom"), "", "may not be specified when `value` is not empty"));
      }
    }
    const Json& mounts = ArrAt(c, "volumeMounts");
    std::set<std::string> mount_paths;
    for (size_t j = 0; j < mounts.size(); ++j) {
      std::string mp = Index(Child(ip, "volumeMounts"), j);
      std::string mn = StrOr(Find(mounts[j], "name"));
      if (mn.empty()) {
        errs.push_back(FieldError::Required(Child(mp, "name")));
      } else if (!volumes.count(mn)) {
        errs.push_back(FieldError::NotFound(Child(mp, "name"), mn));
      }
      std::string path_v = StrOr(Find(mounts[j], "mountPath"));
      if (path_v.empty()) {
        errs.push_back(FieldError::Required(Child(mp, "mountPath")));
      } else if (!mount_paths.insert(path_v).second) {
        errs.push_back(FieldError::Invalid(Child(mp, "mountPath"), path_v, "must be unique"));
      }
    }
    ValidateResources(ObjAt(c, "resources"), Child(ip, "resources"), errs);
    bool sidecar = init && StrOr(Find(c, "restartPolicy")) == "Always";
    if (!init || sidecar) {
      for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
        const Json* p = Find(c, probe);
        if (p != nullptr && p->is_object()) ValidateProbe(*p, Child(ip, probe), std::string_view(probe) != "readinessProbe", errs);
      }
    } else {
      for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
        const Json* p = Find(c, probe);
        if (p != nullptr && !p->is_null())
          errs.push_back(FieldError::Forbidden(Child(ip, probe), "may not be set for init containers without restartPolicy=Always"));
      }
    }
  }
}

}  // namespace

void ValidatePodSpec(const Json& spec, const std::string& path, FieldErrors& errs) {
  std::set<std::string> volumes;
  ValidateVolumes(ArrAt(spec, "volumes"), Child(path, "volumes"), volumes, errs);
  std::set<std::string> names;
  const Json& containers = ArrAt(spec, "containers");
  if (containers.empty()) errs.push_back(FieldError::Required(Child(path, "containers")));
  ValidateContainers(ArrAt(spec, "initContainers"), Child(path, "initContainers"), volumes, names, true, errs);
  ValidateContainers(containers, Child(path, "containers"), volumes, names, false, errs);

  std::string restart = StrOr(Find(spec, "restartPolicy"));
  if (restart.empty()) {
    errs.push_back(FieldError::Required(Child(path, "restartPolicy")));
  } else if (restart != "Always" && restart != "OnFailure" && restart != "Never") {
    errs.push_back(FieldError::NotSupported(Child(path, "restartPolicy"), restart, {"Always", "OnFailure", "Never"}));
  }
  std::string dns = StrOr(Find(spec, "dnsPolicy"));
  if (dns.empty()) {
    errs.push_back(FieldError::Required(Child(path, "dnsPolicy")));
  } else if (dns != "ClusterFirst" && dns != "ClusterFirstWithHostNet" && dns != "Default" && dns != "None") {
    errs.push_back(FieldError::NotSupported(Child(path, "dnsPolicy"), dns,
                                            {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"}));
  }
  if (dns == "None" && ObjAt(spec, "dnsConfig").empty())
    errs.push_back(FieldError::Required(Child(path, "dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None"));
  ValidateLabels(ObjAt(spec, "nodeSelector"), Child(path, "nodeSelector"), errs);
  std::string sa = StrOr(Find(spec, "serviceAccountName"));
  if (!sa.empty())
    for (std::string& m : IsDNS1123Subdomain(sa)) errs.push_back(FieldError::Invalid(Child(path, "serviceAccountName"), sa, m));
  if (const Json* ads = Find(spec, "activeDeadlineSeconds"); ads != nullptr && ads->is_number()) {
    long long v = IntOr(ads, 0);
    if (v < 1 || v > 2147483647)
      errs.push_back(FieldError::Invalid(Child(path, "activeDeadlineSeconds"), *ads, InclusiveRangeError(1, 2147483647)));
  }
  for (const char* f : {"hostname", "subdomain"}) {
    std::string v = StrOr(Find(spec, f));
    if (!v.empty())
      for (std::string& m : IsDNS1123Label(v)) errs.push_back(FieldError::Invalid(Child(path, f), v, m));
  }
  const Json& tolerations = ArrAt(spec, "tolerations");
  for (size_t i = 0; i < tolerations.size(); ++i) {
    std::string op = StrOr(Find(tolerations[i], "operator"), "Equal");
    std::string tp = Index(Child(path, "tolerations"), i);
    if (op != "Equal" && op != "Exists")
      errs.push_back(FieldError::NotSupported(Child(tp, "operator"), op, {"Equal", "Exists"}));
    std::string effect = StrOr(Find(tolerations[i], "effect"));
    if (!effect.empty() && effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute")
      errs.push_back(FieldError::NotSupported(Child(tp, "effect"), effect, {"NoExecute", "NoSchedule", "PreferNoSchedule"}));
  }
}

void ValidatePodTemplateSpec(const Json& tmpl, const std::string& path, FieldErrors& errs) {
  const Json& meta = ObjAt(tmpl, "metadata");
  ValidateLabels(ObjAt(meta, "labels"), Child(Child(path, "metadata"), "labels"), errs);
  ValidateAnnotations(ObjAt(meta, "annotations"), Child(Child(path, "metadata"), "annotations"), errs);
  ValidatePodSpec(ObjAt(tmpl, "spec"), Child(path, "spec"), errs);
}

void ValidatePodSpecUpdate(const Json& spec, const Json& old_spec, FieldErrors& errs) {
  Json munged = spec;
  // Images may change: take the old ones for the comparison (when the container lists line up).
  for (const char* list : {"containers", "initContainers"}) {
    const Json& olds = ArrAt(old_spec, list);
    auto it = munged.find(list);
    if (it == munged.end() || !it->is_array() || it->size() != olds.size()) continue;
    for (size_t i = 0; i < olds.size(); ++i) {
      if (!(*it)[i].is_object()) continue;
      const Json* oi = Find(olds[i], "image");
      if (oi != nullptr) (*it)[i]["image"] = *oi;
      else (*it)[i].erase("image");
    }
  }
  // activeDeadlineSeconds may be set or lowered (not removed or raised).
  const Json* nads = Find(spec, "activeDeadlineSeconds");
  const Json* oads = Find(old_spec, "activeDeadlineSeconds");
  if (nads != nullptr && nads->is_number() && (oads == nullptr || oads->is_null() || IntOr(nads, 0) <= IntOr(oads, 0))) {
    if (oads != nullptr) munged["activeDeadlineSeconds"] = *oads;
    else munged.erase("activeDeadlineSeconds");
  }
  // Tolerations may only be added.
  const Json& nt = ArrAt(spec, "tolerations");
  const Json& ot = ArrAt(old_spec, "tolerations");
  bool superset = true;
  for (const Json& t : ot) {
    bool found = false;
    for (const Json& n : nt)
      if (n == t) found = true;
    if (!found) superset = false;
  }
  if (superset) {
    if (old_spec.contains("tolerations")) munged["tolerations"] = old_spec["tolerations"];
    else munged.erase("tolerations");
  }
  // terminationGracePeriodSeconds may go from negative to 1.
  const Json* ntg = Find(spec, "terminationGracePeriodSeconds");
  const Json* otg = Find(old_spec, "terminationGracePeriodSeconds");
  if (ntg != nullptr && otg != nullptr && IntOr(otg, 0) < 0 && IntOr(ntg, 0) == 1) munged["terminationGracePeriodSeconds"] = *otg;
  // Scheduling gates may only be removed.
  if (ArrAt(spec, "schedulingGates").size() <= ArrAt(old_spec, "schedulingGates").size()) {
    if (old_spec.contains("schedulingGates")) munged["schedulingGates"] = old_spec["schedulingGates"];
    else munged.erase("schedulingGates");
  }
  if (munged == old_spec) return;
  // A short diff in place of upstream's cmp.Diff: the top-level fields that differ.
  std::string diff = "  core.PodSpec{\n";
  std::set<std::string> keys;
  for (auto it = munged.begin(); it != munged.end(); ++it) keys.insert(it.key());
  for (auto it = old_spec.begin(); it != old_spec.end(); ++it) keys.insert(it.key());
  for (const std::string& k : keys) {
    const Json* a = Find(old_spec, k);
    const Json* b = Find(munged, k);
    if (a != nullptr && b != nullptr && *a == *b) continue;
    if (a != nullptr) diff += "-\t" + k + ": " + DumpJson(*a) + ",\n";
    if (b != nullptr) diff += "+\t" + k + ": " + DumpJson(*b) + ",\n";
  }
  diff += "  }\n";
  errs.push_back(FieldError::Forbidden(
      "spec",
      "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
      "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
      "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n" +
          diff));
}

}  // namespace tug::api::validation
