#include "api/printers/prepare.h"

#include <map>
#include <set>

#include "api/printers/util.h"
#include "base/clock.h"

namespace tug::api::printers {
namespace {

using GK = std::pair<std::string_view, std::string_view>;

// Kinds with a status subresource, and the status a create starts from (upstream clears the
// status; fields that Go always serializes appear as zero values).
const std::map<GK, Json>& CreateStatus() {
  static const auto* m = new std::map<GK, Json>{
      {{"", "Pod"}, Json::object()},  // computed in PrepareForCreate
      {{"", "ReplicationController"}, Json{{"replicas", 0}}},
      {{"", "Service"}, Json{{"loadBalancer", Json::object()}}},
      {{"", "Node"}, Json()},  // null: keep the client's status (the kubelet registers with one)
      {{"", "Namespace"}, Json{{"phase", "Active"}}},
      {{"", "PersistentVolume"}, Json{{"phase", "Pending"}}},
      {{"", "PersistentVolumeClaim"}, Json{{"phase", "Pending"}}},
      {{"", "ResourceQuota"}, Json::object()},
      {{"apps", "Deployment"}, Json::object()},
      {{"apps", "ReplicaSet"}, Json{{"replicas", 0}}},
      {{"apps", "StatefulSet"}, Json{{"replicas", 0}, {"availableReplicas", 0}}},
      {{"apps", "DaemonSet"},
       Json{{"currentNumberScheduled", 0}, {"numberMisscheduled", 0}, {"desiredNumberScheduled", 0}, {"numberReady", 0}}},
      {{"batch", "Job"}, Json::object()},
      {{"batch", "CronJob"}, Json::object()},
      {{"autoscaling", "HorizontalPodAutoscaler"}, Json{{"desiredReplicas", 0}}},
      {{"policy", "PodDisruptionBudget"},
       Json{{"disruptionsAllowed", 0}, {"currentHealthy", 0}, {"desiredHealthy", 0}, {"expectedPods", 0}}},
      {{"networking.k8s.io", "Ingress"}, Json{{"loadBalancer", Json::object()}}},
      {{"networking.k8s.io", "ServiceCIDR"}, Json::object()},
      {{"storage.k8s.io", "VolumeAttachment"}, Json{{"attached", false}}},
      {{"certificates.k8s.io", "CertificateSigningRequest"}, Json::object()},
      {{"flowcontrol.apiserver.k8s.io", "FlowSchema"}, Json::object()},
      {{"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"}, Json::object()},
      {{"admissionregistration.k8s.io", "ValidatingAdmissionPolicy"}, Json::object()},
  };
  return *m;
}

Json& Meta(Json& obj) {
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  return obj["metadata"];
}

void CopyKey(Json& dst, const Json& src, const char* key) {
  if (src.is_object() && src.contains(key)) dst[key] = src[key];
  else if (dst.is_object()) dst.erase(key);
}

// ---- Pod ---------------------------------------------------------------------------------

void AddQuantities(std::map<std::string, __int128>& acc, const Json& list, std::set<std::string>* found) {
  if (!list.is_object()) return;
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (it.key() != "cpu" && it.key() != "memory") continue;
    auto q = QuantityNano(&*it);
    if (!q || *q <= 0) continue;
    acc[it.key()] += *q;
    if (found) found->insert(it.key());
  }
}

void PreparePodCreate(Json& pod) {
  Json status = Json::object();
  status["phase"] = "Pending";
  status["qosClass"] = PodQOSClass(pod);
  if (!Arr(pod, {"spec", "schedulingGates"}).empty()) {
    status["conditions"] = Json::array({Json{{"type", "PodScheduled"},
                                             {"status", "False"},
                                             {"reason", "SchedulingGated"},
                                             {"message", "Scheduling is blocked due to non-empty scheduling gates"},
                                             {"lastProbeTime", nullptr},
                                             {"lastTransitionTime", nullptr}}});
  }
  pod["status"] = std::move(status);
}

// ---- Job -----------------------------------------------------------------------------------

// Upstream generateSelector: unless spec.manualSelector is true, select the pods by the
// controller-uid label and label the template with job-name and controller-uid (legacy and
// batch.kubernetes.io/ forms). Needs metadata.uid.
void GenerateJobSelector(Json& job) {
  if (Bool(job, {"spec", "manualSelector"})) return;
  std::string uid = Str(job, {"metadata", "uid"});
  std::string name = Str(job, {"metadata", "name"});
  if (uid.empty()) return;
  Json& spec = job["spec"];
  if (!spec.is_object()) return;
  Json& tmpl = spec["template"];
  if (!tmpl.is_object()) tmpl = Json::object();
  Json& tmeta = tmpl["metadata"];
  if (!tmeta.is_object()) tmeta = Json::object();
  Json& labels = tmeta["labels"];
  if (!labels.is_object()) labels = Json::object();
  for (const char* k : {"job-name", "batch.kubernetes.io/job-name"}) {
    if (!labels.contains(k)) labels[k] = name;
  }
  for (const char* k : {"controller-uid", "batch.kubernetes.io/controller-uid"}) {
    if (!labels.contains(k)) labels[k] = uid;
  }
  Json& sel = spec["selector"];
  if (!sel.is_object()) sel = Json::object();
  Json& ml = sel["matchLabels"];
  if (!ml.is_object()) ml = Json::object();
  if (!ml.contains("batch.kubernetes.io/controller-uid")) ml["batch.kubernetes.io/controller-uid"] = uid;
}

// ---- Namespace -------------------------------------------------------------------------------

void CanonicalizeNamespace(Json& ns) {
  std::string name = Str(ns, {"metadata", "name"});
  if (name.empty()) return;
  Json& meta = Meta(ns);
  if (!meta["labels"].is_object()) meta["labels"] = Json::object();
  meta["labels"]["kubernetes.io/metadata.name"] = name;
}

constexpr const char* kDaemonSetTemplateGeneration = "deprecated.daemonset.template.generation";

bool IsAppsWorkload(std::string_view group, std::string_view kind) {
  return group == "apps" && (kind == "Deployment" || kind == "ReplicaSet" || kind == "StatefulSet" || kind == "DaemonSet");
}

}  // namespace

bool HasStatusSubresource(std::string_view group, std::string_view kind) { return CreateStatus().count({group, kind}) > 0; }

std::string PodQOSClass(const Json& pod) {
  std::map<std::string, __int128> requests, limits;
  bool guaranteed = true;
  auto visit = [&](const Json& containers) {
    for (const Json& c : containers) {
      const Json& req = Obj(c, {"resources", "requests"});
      const Json& lim = Obj(c, {"resources", "limits"});
      // A limit without a request is a request of the same size (SetDefaults_Pod).
      Json effective = req;
      for (auto it = lim.begin(); it != lim.end(); ++it) {
        if (!effective.contains(it.key())) effective[it.key()] = *it;
      }
      AddQuantities(requests, effective, nullptr);
      std::set<std::string> found;
      AddQuantities(limits, lim, &found);
      if (!found.count("cpu") || !found.count("memory")) guaranteed = false;
    }
  };
  visit(Arr(pod, {"spec", "containers"}));
  visit(Arr(pod, {"spec", "initContainers"}));
  if (requests.empty() && limits.empty()) return "BestEffort";
  if (guaranteed) {
    for (const auto& [name, req] : requests) {
      auto it = limits.find(name);
      if (it == limits.end() || it->second != req) {
        guaranteed = false;
        break;
      }
    }
  }
  if (guaranteed && requests.size() == limits.size()) return "Guaranteed";
  return "Burstable";
}

void PrepareForCreate(std::string_view group, std::string_view kind, Json& obj) {
  if (!obj.is_object()) return;
  auto it = CreateStatus().find({group, kind});
  if (it != CreateStatus().end() && !it->second.is_null()) obj["status"] = it->second;
  if (group.empty() && kind == "Pod") {
    PreparePodCreate(obj);
  } else if (group.empty() && kind == "Namespace") {
    Json& spec = obj["spec"];
    if (!spec.is_object()) spec = Json::object();
    Json& fin = spec["finalizers"];
    if (!fin.is_array()) fin = Json::array();
    bool has = false;
    for (const Json& f : fin) has = has || (f.is_string() && f.get<std::string>() == "kubernetes");
    if (!has) fin.push_back("kubernetes");
    CanonicalizeNamespace(obj);
  } else if (group.empty() && kind == "PersistentVolume") {
    obj["status"]["lastPhaseTransitionTime"] = FormatRFC3339(RealClock().Now());
  } else if (group.empty() && kind == "Node") {
    if (obj.contains("spec") && obj["spec"].is_object()) obj["spec"].erase("configSource");
    if (obj.contains("status") && obj["status"].is_object()) obj["status"].erase("config");
  } else if (group == "apps" && kind == "DaemonSet") {
    Json& meta = Meta(obj);
    if (!meta["annotations"].is_object()) meta["annotations"] = Json::object();
    meta["annotations"][kDaemonSetTemplateGeneration] = "1";
  } else if (group == "batch" && kind == "Job") {
    GenerateJobSelector(obj);
  } else if (group == "autoscaling" && kind == "HorizontalPodAutoscaler" && Has(obj, {"spec", "targetCPUUtilizationPercentage"})) {
    obj["status"] = Json{{"currentReplicas", 0}, {"desiredReplicas", 0}};  // autoscaling/v1 shape
  }
}

void PrepareForUpdate(std::string_view group, std::string_view kind, Json& obj, const Json& old) {
  if (!obj.is_object()) return;
  if (HasStatusSubresource(group, kind)) CopyKey(obj, old, "status");
  if (group.empty() && kind == "Namespace") {
    Json& spec = obj["spec"];
    if (!spec.is_object()) spec = Json::object();
    const Json* old_fin = At(old, {"spec", "finalizers"});
    if (old_fin) spec["finalizers"] = *old_fin;
    else spec.erase("finalizers");
    CanonicalizeNamespace(obj);
  } else if (group == "apps" && kind == "DaemonSet") {
    // The template generation counts template changes (upstream spec.templateGeneration,
    // carried in apps/v1 as an annotation).
    int64_t gen = 1;
    std::string old_gen = Str(old, {"metadata", "annotations", kDaemonSetTemplateGeneration});
    if (!old_gen.empty()) gen = std::strtoll(old_gen.c_str(), nullptr, 10);
    const Json* nt = At(obj, {"spec", "template"});
    const Json* ot = At(old, {"spec", "template"});
    bool changed = (nt == nullptr) != (ot == nullptr) || (nt && ot && *nt != *ot);
    if (changed) gen++;
    Json& meta = Meta(obj);
    if (!meta["annotations"].is_object()) meta["annotations"] = Json::object();
    meta["annotations"][kDaemonSetTemplateGeneration] = std::to_string(gen);
  }
}

void PrepareForStatusUpdate(std::string_view group, std::string_view kind, Json& obj, const Json& old) {
  if (!obj.is_object() || !old.is_object()) return;
  Json result = old;
  CopyKey(result, obj, "status");
  Json& meta = Meta(result);
  const Json& new_meta = Obj(obj, {"metadata"});
  for (const char* key : {"labels", "annotations", "finalizers", "ownerReferences", "managedFields", "resourceVersion"}) {
    CopyKey(meta, new_meta, key);
  }
  const Json& old_meta = Obj(old, {"metadata"});
  if (IsAppsWorkload(group, kind)) CopyKey(meta, old_meta, "labels");
  if (group.empty() && kind == "Pod") CopyKey(meta, old_meta, "ownerReferences");
  if (group.empty() && kind == "PersistentVolume" && Str(result, {"status", "phase"}) != Str(old, {"status", "phase"})) {
    result["status"]["lastPhaseTransitionTime"] = FormatRFC3339(RealClock().Now());
  }
  obj = std::move(result);
}

}  // namespace tug::api::printers
