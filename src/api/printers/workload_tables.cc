// Tables of the workload kinds: apps (Deployment, ReplicaSet, StatefulSet, DaemonSet,
// ControllerRevision), batch (Job, CronJob), autoscaling (HPA v1 and v2 shapes) and policy (PDB).
#include "api/printers/tables.h"
#include "api/printers/util.h"

namespace tug::api::printers {
namespace {


std::vector<TableColumn> With(std::vector<TableColumn> cols, bool selector) {
  cols.push_back(Column("Containers", "string", "Container names in the pod template.", 1));
  cols.push_back(Column("Images", "string", "Container images in the pod template.", 1));
  if (selector) cols.push_back(Column("Selector", "string", "Label selector of the pods.", 1));
  return cols;
}

Json DeploymentRow(const Json& o, SystemTime now) {
  std::string names, images;
  ContainerCells(Arr(o, {"spec", "template", "spec", "containers"}), &names, &images);
  bool invalid = false;
  std::string selector = LabelSelectorString(At(o, {"spec", "selector"}), &invalid);
  if (invalid) selector = "<invalid>";
  return Cells({Name(o), std::to_string(Int(o, {"status", "readyReplicas"})) + "/" + std::to_string(Int(o, {"spec", "replicas"}, 1)),
                Int(o, {"status", "updatedReplicas"}), Int(o, {"status", "availableReplicas"}), Age(o, now), names, images, selector});
}

Json ReplicaSetRow(const Json& o, SystemTime now) {
  std::string names, images;
  ContainerCells(Arr(o, {"spec", "template", "spec", "containers"}), &names, &images);
  return Cells({Name(o), Int(o, {"spec", "replicas"}, 1), Int(o, {"status", "replicas"}), Int(o, {"status", "readyReplicas"}),
                Age(o, now), names, images, FormatLabelSelector(At(o, {"spec", "selector"}))});
}

Json StatefulSetRow(const Json& o, SystemTime now) {
  std::string names, images;
  ContainerCells(Arr(o, {"spec", "template", "spec", "containers"}), &names, &images);
  return Cells({Name(o), std::to_string(Int(o, {"status", "readyReplicas"})) + "/" + std::to_string(Int(o, {"spec", "replicas"}, 1)),
                Age(o, now), names, images});
}

Json DaemonSetRow(const Json& o, SystemTime now) {
  std::string names, images;
  ContainerCells(Arr(o, {"spec", "template", "spec", "containers"}), &names, &images);
  return Cells({Name(o), Int(o, {"status", "desiredNumberScheduled"}), Int(o, {"status", "currentNumberScheduled"}),
                Int(o, {"status", "numberReady"}), Int(o, {"status", "updatedNumberScheduled"}), Int(o, {"status", "numberAvailable"}),
                FormatLabels(Obj(o, {"spec", "template", "spec", "nodeSelector"})), Age(o, now), names, images,
                FormatLabelSelector(At(o, {"spec", "selector"}))});
}

Json ControllerRevisionRow(const Json& o, SystemTime now) {
  std::string controller = "<none>";
  for (const Json& ref : Arr(o, {"metadata", "ownerReferences"})) {
    if (!Bool(ref, {"controller"})) continue;
    std::string api_version = Str(ref, {"apiVersion"});
    std::string group;
    size_t slash = api_version.find('/');
    if (slash != std::string::npos) group = api_version.substr(0, slash);
    std::string kind = Str(ref, {"kind"});
    std::string gk = group.empty() ? kind : kind + "." + group;
    controller = gk.empty() ? Str(ref, {"name"}) : ToLower(gk) + "/" + Str(ref, {"name"});
    break;
  }
  return Cells({Name(o), controller, Int(o, {"revision"}), Age(o, now)});
}

bool JobCondition(const Json& job, std::string_view type) {
  for (const Json& c : Arr(job, {"status", "conditions"})) {
    if (Str(c, {"type"}) == type) return Str(c, {"status"}) == "True";
  }
  return false;
}

Json JobRow(const Json& o, SystemTime now) {
  int64_t succeeded = Int(o, {"status", "succeeded"});
  std::string completions;
  if (Has(o, {"spec", "completions"})) {
    completions = std::to_string(succeeded) + "/" + std::to_string(Int(o, {"spec", "completions"}));
  } else {
    int64_t parallelism = Int(o, {"spec", "parallelism"});
    completions = std::to_string(succeeded) + "/1";
    if (parallelism > 1) completions += " of " + std::to_string(parallelism);
  }
  std::string duration;
  auto start = Time(o, {"status", "startTime"});
  auto done = Time(o, {"status", "completionTime"});
  if (start && !done) duration = SinceTime(*start, now);
  else if (start && done) duration = SinceTime(*start, *done);
  std::string status;
  if (JobCondition(o, "Complete")) status = "Complete";
  else if (JobCondition(o, "Failed")) status = "Failed";
  else if (Has(o, {"metadata", "deletionTimestamp"})) status = "Terminating";
  else if (JobCondition(o, "Suspended")) status = "Suspended";
  else if (JobCondition(o, "FailureTarget")) status = "FailureTarget";
  else status = "Running";
  std::string names, images;
  ContainerCells(Arr(o, {"spec", "template", "spec", "containers"}), &names, &images);
  return Cells({Name(o), status, completions, duration, Age(o, now), names, images, FormatLabelSelector(At(o, {"spec", "selector"}))});
}

std::string BoolPtr(const Json& o, std::initializer_list<std::string_view> path) {
  const Json* v = At(o, path);
  if (!v || !v->is_boolean()) return "<unset>";
  return v->get<bool>() ? "True" : "False";
}

Json CronJobRow(const Json& o, SystemTime now) {
  std::string last = "<none>";
  if (Has(o, {"status", "lastScheduleTime"})) last = Since(o, {"status", "lastScheduleTime"}, now);
  std::string tz = "<none>";
  if (At(o, {"spec", "timeZone"}) && At(o, {"spec", "timeZone"})->is_string()) tz = Str(o, {"spec", "timeZone"});
  std::string names, images;
  ContainerCells(Arr(o, {"spec", "jobTemplate", "spec", "template", "spec", "containers"}), &names, &images);
  return Cells({Name(o), Str(o, {"spec", "schedule"}), tz, BoolPtr(o, {"spec", "suspend"}),
                static_cast<int64_t>(Arr(o, {"status", "active"}).size()), last, Age(o, now), names, images,
                FormatLabelSelector(At(o, {"spec", "jobTemplate", "spec", "selector"}))});
}

// ---- HorizontalPodAutoscaler -------------------------------------------------------------

std::string Pct(int64_t v) { return std::to_string(v) + "%"; }

// One "current/target" entry per metric (upstream formatHPAMetrics), at most two shown.
std::string FormatHPAMetrics(const Json& specs, const Json& statuses) {
  if (specs.empty()) return "<none>";
  std::vector<std::string> list;
  size_t count = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const Json& spec = specs[i];
    const Json* st = i < statuses.size() ? &statuses[i] : nullptr;
    std::string type = Str(spec, {"type"});
    auto cur_has = [&](std::initializer_list<std::string_view> p) { return st && At(*st, p) && !At(*st, p)->is_null(); };
    if (type == "External" || type == "Object") {
      const char* key = type == "External" ? "external" : "object";
      if (Has(spec, {key, "target", "averageValue"})) {
        std::string current = "<unknown>";
        if (cur_has({key, "current", "averageValue"})) current = QuantityText(At(*st, {key, "current", "averageValue"}));
        list.push_back(current + "/" + QuantityText(At(spec, {key, "target", "averageValue"})) + " (avg)");
      } else {
        std::string current = "<unknown>";
        if (cur_has({key})) current = QuantityText(At(*st, {key, "current", "value"}));
        list.push_back(current + "/" + QuantityText(At(spec, {key, "target", "value"})));
      }
    } else if (type == "Pods") {
      std::string current = "<unknown>";
      if (cur_has({"pods"})) current = QuantityText(At(*st, {"pods", "current", "averageValue"}));
      list.push_back(current + "/" + QuantityText(At(spec, {"pods", "target", "averageValue"})));
    } else if (type == "Resource" || type == "ContainerResource") {
      const char* key = type == "Resource" ? "resource" : "containerResource";
      std::string name = Str(spec, {key, "name"});
      if (Has(spec, {key, "target", "averageValue"})) {
        std::string current = "<unknown>";
        if (cur_has({key})) current = QuantityText(At(*st, {key, "current", "averageValue"}));
        list.push_back(name + ": " + current + "/" + QuantityText(At(spec, {key, "target", "averageValue"})));
      } else {
        std::string current = "<unknown>";
        if (cur_has({key, "current", "averageUtilization"})) current = Pct(Int(*st, {key, "current", "averageUtilization"}));
        std::string target = "<auto>";
        if (Has(spec, {key, "target", "averageUtilization"})) target = Pct(Int(spec, {key, "target", "averageUtilization"}));
        list.push_back(name + ": " + current + "/" + target);
      }
    } else {
      list.push_back("<unknown type>");
    }
    count++;
  }
  const size_t max = 2;
  if (count > max) {
    list.resize(max);
    return Join(list, ", ") + " + " + std::to_string(count - max) + " more...";
  }
  return Join(list, ", ");
}

Json HPARow(const Json& o, SystemTime now) {
  Json specs = Arr(o, {"spec", "metrics"});
  Json statuses = Arr(o, {"status", "currentMetrics"});
  // autoscaling/v1 shape: one CPU utilization target.
  if (Has(o, {"spec", "targetCPUUtilizationPercentage"})) {
    specs = Json::array({Json{{"type", "Resource"},
                              {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"},
                                                                          {"averageUtilization", Int(o, {"spec", "targetCPUUtilizationPercentage"})}}}}}}});
    if (Has(o, {"status", "currentCPUUtilizationPercentage"})) {
      statuses = Json::array({Json{{"type", "Resource"},
                                   {"resource", {{"name", "cpu"}, {"current", {{"averageUtilization", Int(o, {"status", "currentCPUUtilizationPercentage"})}}}}}}});
    }
  }
  std::string reference = Str(o, {"spec", "scaleTargetRef", "kind"}) + "/" + Str(o, {"spec", "scaleTargetRef", "name"});
  std::string min_pods = "<unset>";
  if (Has(o, {"spec", "minReplicas"})) min_pods = std::to_string(Int(o, {"spec", "minReplicas"}));
  return Cells({Name(o), reference, FormatHPAMetrics(specs, statuses), min_pods, Int(o, {"spec", "maxReplicas"}),
                Int(o, {"status", "currentReplicas"}), Age(o, now)});
}

Json PDBRow(const Json& o, SystemTime now) {
  std::string min = Has(o, {"spec", "minAvailable"}) ? IntOrString(At(o, {"spec", "minAvailable"})) : "N/A";
  std::string max = Has(o, {"spec", "maxUnavailable"}) ? IntOrString(At(o, {"spec", "maxUnavailable"})) : "N/A";
  return Cells({Name(o), min, max, Int(o, {"status", "disruptionsAllowed"}), Age(o, now)});
}

}  // namespace

void AddWorkloadTables(TableMap& m) {
  m.push_back({{"apps", "Deployment"},
               {With({NameColumn(), Column("Ready", "string", "Ready replicas out of wanted replicas."),
                      Column("Up-to-date", "string", "Replicas at the newest template."),
                      Column("Available", "string", "Replicas available to users."), AgeColumn()},
                     true),
                DeploymentRow}});
  m.push_back({{"apps", "ReplicaSet"},
               {With({NameColumn(), Column("Desired", "integer", "Wanted number of replicas."),
                      Column("Current", "integer", "Existing replicas."), Column("Ready", "integer", "Ready replicas."), AgeColumn()},
                     true),
                ReplicaSetRow}});
  m.push_back({{"apps", "StatefulSet"},
               {With({NameColumn(), Column("Ready", "string", "Ready replicas out of wanted replicas."), AgeColumn()}, false),
                StatefulSetRow}});
  m.push_back({{"apps", "DaemonSet"},
               {With({NameColumn(), Column("Desired", "integer", "Nodes that should run the pod."),
                      Column("Current", "integer", "Nodes running the pod."), Column("Ready", "integer", "Nodes with a ready pod."),
                      Column("Up-to-date", "integer", "Nodes running the newest template."),
                      Column("Available", "integer", "Nodes with an available pod."),
                      Column("Node Selector", "string", "Node selector of the pod template."), AgeColumn()},
                     true),
                DaemonSetRow}});
  m.push_back({{"apps", "ControllerRevision"},
               {{NameColumn(), Column("Controller", "string", "Owning controller (kind.group/name)."),
                 Column("Revision", "string", "Revision number."), AgeColumn()},
                ControllerRevisionRow}});
  m.push_back({{"batch", "Job"},
               {With({NameColumn(), Column("Status", "string", "Summary of the job's state."),
                      Column("Completions", "string", "Succeeded pods out of wanted completions."),
                      Column("Duration", "string", "How long the job ran."), AgeColumn()},
                     true),
                JobRow}});
  m.push_back({{"batch", "CronJob"},
               {With({NameColumn(), Column("Schedule", "string", "Cron schedule."), Column("Timezone", "string", "Time zone of the schedule."),
                      Column("Suspend", "boolean", "Whether new runs are suspended."), Column("Active", "integer", "Running jobs."),
                      Column("Last Schedule", "string", "Time since the last run was scheduled."), AgeColumn()},
                     true),
                CronJobRow}});
  m.push_back({{"autoscaling", "HorizontalPodAutoscaler"},
               {{NameColumn(), Column("Reference", "string", "The scaled object (kind/name)."),
                 Column("Targets", "string", "Current and target metric values."), Column("MinPods", "string", "Lower replica bound."),
                 Column("MaxPods", "string", "Upper replica bound."), Column("Replicas", "string", "Current replicas."), AgeColumn()},
                HPARow}});
  m.push_back({{"policy", "PodDisruptionBudget"},
               {{NameColumn(), Column("Min Available", "string", "Pods that must stay available."),
                 Column("Max Unavailable", "string", "Pods that may be unavailable."),
                 Column("Allowed Disruptions", "integer", "Disruptions allowed right now."), AgeColumn()},
                PDBRow}});
}

}  // namespace tug::api::printers
