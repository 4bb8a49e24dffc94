// Tables of the core ("") group: pods, services, nodes, events and the other v1 kinds.
#include <algorithm>
#include <map>
#include <set>

#include "api/printers/tables.h"
#include "api/printers/util.h"

namespace tug::api::printers {
namespace {


// ---- Pod -------------------------------------------------------------------------------

bool IsRestartableInit(const Json* c) { return c && Str(*c, {"restartPolicy"}) == "Always"; }

bool HasCondition(const Json& conditions, std::string_view type, std::string_view status) {
  for (const Json& c : conditions) {
    if (Str(c, {"type"}) == type) return Str(c, {"status"}) == status;
  }
  return false;
}

bool PodReadyCondition(const Json& conditions) {
  for (const Json& c : conditions) {
    if (Str(c, {"type"}) == "Ready" && Str(c, {"status"}) == "True") return true;
  }
  return false;
}

struct PodSummary {
  std::string reason;
  int ready = 0;
  int total = 0;
  int64_t restarts = 0;
  std::optional<SystemTime> last_restart;
};

void Later(std::optional<SystemTime>& cur, const Json& status) {
  auto t = Time(status, {"lastState", "terminated", "finishedAt"});
  if (t && (!cur || *cur < *t)) cur = t;
}

PodSummary SummarizePod(const Json& pod) {
  PodSummary s;
  const Json& spec = Obj(pod, {"spec"});
  const Json& status = Obj(pod, {"status"});
  const Json& init_specs = Arr(spec, {"initContainers"});
  s.total = static_cast<int>(Arr(spec, {"containers"}).size());
  std::string phase = Str(status, {"phase"});
  s.reason = phase;
  if (!Str(status, {"reason"}).empty()) s.reason = Str(status, {"reason"});
  for (const Json& c : Arr(status, {"conditions"})) {
    if (Str(c, {"type"}) == "PodScheduled" && Str(c, {"reason"}) == "SchedulingGated") s.reason = "SchedulingGated";
  }
  std::map<std::string, const Json*> inits;
  for (const Json& c : init_specs) {
    inits[Str(c, {"name"})] = &c;
    if (IsRestartableInit(&c)) s.total++;
  }
  auto init_spec = [&](const std::string& name) -> const Json* {
    auto it = inits.find(name);
    return it == inits.end() ? nullptr : it->second;
  };

  int64_t restartable_restarts = 0;
  std::optional<SystemTime> restartable_last;
  bool initializing = false;
  const Json& init_statuses = Arr(status, {"initContainerStatuses"});
  for (size_t i = 0; i < init_statuses.size(); ++i) {
    const Json& c = init_statuses[i];
    s.restarts += Int(c, {"restartCount"});
    Later(s.last_restart, c);
    bool restartable = IsRestartableInit(init_spec(Str(c, {"name"})));
    if (restartable) {
      restartable_restarts += Int(c, {"restartCount"});
      Later(restartable_last, c);
    }
    const Json* term = At(c, {"state", "terminated"});
    const Json* wait = At(c, {"state", "waiting"});
    if (term && term->is_object() && Int(*term, {"exitCode"}) == 0) continue;
    if (restartable && Bool(c, {"started"})) {
      if (Bool(c, {"ready"})) s.ready++;
      continue;
    }
    if (term && term->is_object()) {
      std::string r = Str(*term, {"reason"});
      if (r.empty()) {
        if (Int(*term, {"signal"}) != 0) s.reason = "Init:Signal:" + std::to_string(Int(*term, {"signal"}));
        else s.reason = "Init:ExitCode:" + std::to_string(Int(*term, {"exitCode"}));
      } else {
        s.reason = "Init:" + r;
      }
    } else if (wait && wait->is_object() && !Str(*wait, {"reason"}).empty() && Str(*wait, {"reason"}) != "PodInitializing") {
      s.reason = "Init:" + Str(*wait, {"reason"});
    } else {
      s.reason = "Init:" + std::to_string(i) + "/" + std::to_string(init_specs.size());
    }
    initializing = true;
    break;
  }

  if (!initializing || HasCondition(Arr(status, {"conditions"}), "Initialized", "True")) {
    s.restarts = restartable_restarts;
    s.last_restart = restartable_last;
    bool has_running = false;
    const Json& statuses = Arr(status, {"containerStatuses"});
    for (size_t k = statuses.size(); k-- > 0;) {
      const Json& c = statuses[k];
      s.restarts += Int(c, {"restartCount"});
      Later(s.last_restart, c);
      const Json* term = At(c, {"state", "terminated"});
      const Json* wait = At(c, {"state", "waiting"});
      const Json* run = At(c, {"state", "running"});
      bool has_term = term && term->is_object();
      if (wait && wait->is_object() && !Str(*wait, {"reason"}).empty()) {
        s.reason = Str(*wait, {"reason"});
      } else if (has_term && !Str(*term, {"reason"}).empty()) {
        s.reason = Str(*term, {"reason"});
      } else if (has_term) {
        if (Int(*term, {"signal"}) != 0) s.reason = "Signal:" + std::to_string(Int(*term, {"signal"}));
        else s.reason = "ExitCode:" + std::to_string(Int(*term, {"exitCode"}));
      } else if (Bool(c, {"ready"}) && run && run->is_object()) {
        has_running = true;
        s.ready++;
      }
    }
    if (s.reason == "Completed" && has_running) {
      s.reason = PodReadyCondition(Arr(status, {"conditions"})) ? "Running" : "NotReady";
    }
  }

  bool deleting = Has(pod, {"metadata", "deletionTimestamp"});
  if (deleting && Str(status, {"reason"}) == "NodeLost") {
    s.reason = "Unknown";
  } else if (deleting && phase != "Succeeded" && phase != "Failed") {
    s.reason = "Terminating";
  }
  return s;
}

Json PodRow(const Json& pod, SystemTime now) {
  PodSummary s = SummarizePod(pod);
  std::string restarts = std::to_string(s.restarts);
  if (s.restarts != 0 && s.last_restart) restarts += " (" + SinceTime(*s.last_restart, now) + " ago)";
  const Json& status = Obj(pod, {"status"});
  std::string ip;
  const Json& ips = Arr(status, {"podIPs"});
  if (!ips.empty()) ip = Str(ips[0], {"ip"});
  else ip = Str(status, {"podIP"});
  if (ip.empty()) ip = "<none>";
  std::string node = Str(pod, {"spec", "nodeName"});
  if (node.empty()) node = "<none>";
  std::string nominated = Str(status, {"nominatedNodeName"});
  if (nominated.empty()) nominated = "<none>";
  std::string gates = "<none>";
  const Json& rg = Arr(pod, {"spec", "readinessGates"});
  if (!rg.empty()) {
    int true_count = 0;
    for (const Json& g : rg) {
      std::string type = Str(g, {"conditionType"});
      for (const Json& c : Arr(status, {"conditions"})) {
        if (Str(c, {"type"}) == type) {
          if (Str(c, {"status"}) == "True") true_count++;
          break;
        }
      }
    }
    gates = std::to_string(true_count) + "/" + std::to_string(rg.size());
  }
  return Cells({Name(pod), std::to_string(s.ready) + "/" + std::to_string(s.total), s.reason, restarts, Age(pod, now), ip, node,
                nominated, gates});
}

// ---- PodTemplate, ReplicationController ----------------------------------------------------

Json PodTemplateRow(const Json& o, SystemTime) {
  std::string names, images;
  ContainerCells(Arr(o, {"template", "spec", "containers"}), &names, &images);
  return Cells({Name(o), names, images, FormatLabels(Obj(o, {"template", "metadata", "labels"}))});
}

Json ReplicationControllerRow(const Json& o, SystemTime now) {
  std::string names, images;
  ContainerCells(Arr(o, {"spec", "template", "spec", "containers"}), &names, &images);
  return Cells({Name(o), Int(o, {"spec", "replicas"}, 1), Int(o, {"status", "replicas"}), Int(o, {"status", "readyReplicas"}),
                Age(o, now), names, images, FormatLabels(Obj(o, {"spec", "selector"}))});
}

// ---- Service ---------------------------------------------------------------------------

std::string LoadBalancerIngress(const Json& ingress) {
  std::set<std::string> out;
  for (const Json& i : ingress) {
    if (!Str(i, {"ip"}).empty()) out.insert(Str(i, {"ip"}));
    else if (!Str(i, {"hostname"}).empty()) out.insert(Str(i, {"hostname"}));
  }
  return Join(std::vector<std::string>(out.begin(), out.end()), ",");  // wide: never clipped
}

std::vector<std::string> Strings(const Json& arr) {
  std::vector<std::string> v;
  for (const Json& s : arr) {
    if (s.is_string()) v.push_back(s.get<std::string>());
  }
  return v;
}

std::string ServiceExternalIP(const Json& svc) {
  std::string type = Str(svc, {"spec", "type"});
  std::vector<std::string> external = Strings(Arr(svc, {"spec", "externalIPs"}));
  if (type == "ClusterIP" || type == "NodePort") {
    return external.empty() ? "<none>" : Join(external, ",");
  }
  if (type == "LoadBalancer") {
    std::string lb = LoadBalancerIngress(Arr(svc, {"status", "loadBalancer", "ingress"}));
    if (!external.empty()) {
      std::vector<std::string> all;
      if (!lb.empty()) all.push_back(lb);
      for (auto& e : external) all.push_back(e);
      return Join(all, ",");
    }
    return lb.empty() ? "<pending>" : lb;
  }
  if (type == "ExternalName") return Str(svc, {"spec", "externalName"});
  return "<unknown>";
}

Json ServiceRow(const Json& o, SystemTime now) {
  std::string ip = "<none>";
  const Json& ips = Arr(o, {"spec", "clusterIPs"});
  if (!ips.empty() && ips[0].is_string()) ip = ips[0].get<std::string>();
  else if (!Str(o, {"spec", "clusterIP"}).empty()) ip = Str(o, {"spec", "clusterIP"});
  std::vector<std::string> ports;
  for (const Json& p : Arr(o, {"spec", "ports"})) {
    std::string proto = Str(p, {"protocol"});
    if (proto.empty()) proto = "TCP";
    int64_t node_port = Int(p, {"nodePort"});
    if (node_port > 0) ports.push_back(std::to_string(Int(p, {"port"})) + ":" + std::to_string(node_port) + "/" + proto);
    else ports.push_back(std::to_string(Int(p, {"port"})) + "/" + proto);
  }
  std::string port_cell = ports.empty() ? "<none>" : Join(ports, ",");
  return Cells({Name(o), Str(o, {"spec", "type"}), ip, ServiceExternalIP(o), port_cell, Age(o, now),
                FormatLabels(Obj(o, {"spec", "selector"}))});
}

// ---- Endpoints -------------------------------------------------------------------------

std::string HostPort(const std::string& ip, int64_t port) {
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + std::to_string(port);
  return ip + ":" + std::to_string(port);
}

std::string FormatEndpoints(const Json& ep) {
  const Json& subsets = Arr(ep, {"subsets"});
  if (subsets.empty()) return "<none>";
  std::vector<std::string> list;
  const size_t max = 3;
  bool more = false;
  size_t count = 0;
  for (const Json& ss : subsets) {
    const Json& addrs = Arr(ss, {"addresses"});
    const Json& ports = Arr(ss, {"ports"});
    if (ports.empty()) {
      count += addrs.size();
      for (const Json& a : addrs) {
        if (list.size() == max) {
          more = true;
          break;
        }
        list.push_back(Str(a, {"ip"}));
      }
      continue;
    }
    for (const Json& p : ports) {
      count += addrs.size();
      for (const Json& a : addrs) {
        if (list.size() == max) {
          more = true;
          break;
        }
        list.push_back(HostPort(Str(a, {"ip"}), Int(p, {"port"})));
      }
    }
  }
  std::string ret = Join(list, ",");
  if (more) return ret + " + " + std::to_string(count - max) + " more...";
  return ret;
}

Json EndpointsRow(const Json& o, SystemTime now) { return Cells({Name(o), FormatEndpoints(o), Age(o, now)}); }

// ---- Node ------------------------------------------------------------------------------

std::string NodeAddress(const Json& node, std::string_view type) {
  for (const Json& a : Arr(node, {"status", "addresses"})) {
    if (Str(a, {"type"}) == type) return Str(a, {"address"});
  }
  return "<none>";
}

Json NodeRow(const Json& o, SystemTime now) {
  std::vector<std::string> status;
  const Json* ready = nullptr;
  for (const Json& c : Arr(o, {"status", "conditions"})) {
    if (Str(c, {"type"}) == "Ready") ready = &c;  // the last one wins, as with upstream's map
  }
  if (ready) status.push_back(Str(*ready, {"status"}) == "True" ? "Ready" : "NotReady");
  if (status.empty()) status.push_back("Unknown");
  if (Bool(o, {"spec", "unschedulable"})) status.push_back("SchedulingDisabled");
  std::set<std::string> roles;
  const Json& labels = Obj(o, {"metadata", "labels"});
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    const std::string& k = it.key();
    static constexpr std::string_view kPrefix = "node-role.kubernetes.io/";
    if (k.rfind(kPrefix, 0) == 0) {
      if (k.size() > kPrefix.size()) roles.insert(k.substr(kPrefix.size()));
    } else if (k == "kubernetes.io/role" && it->is_string() && !it->get<std::string>().empty()) {
      roles.insert(it->get<std::string>());
    }
  }
  std::string role_cell = roles.empty() ? "<none>" : Join(std::vector<std::string>(roles.begin(), roles.end()), ",");
  auto or_unknown = [](std::string s) { return s.empty() ? std::string("<unknown>") : s; };
  return Cells({Name(o), Join(status, ","), role_cell, Age(o, now), Str(o, {"status", "nodeInfo", "kubeletVersion"}),
                NodeAddress(o, "InternalIP"), NodeAddress(o, "ExternalIP"), or_unknown(Str(o, {"status", "nodeInfo", "osImage"})),
                or_unknown(Str(o, {"status", "nodeInfo", "kernelVersion"})),
                or_unknown(Str(o, {"status", "nodeInfo", "containerRuntimeVersion"}))});
}

// ---- Event (core/v1 and events.k8s.io/v1 shapes) ------------------------------------------

std::string Trim(std::string s) {
  const char* ws = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

Json EventRow(const Json& o, SystemTime now) {
  // events.k8s.io/v1 names the same fields differently.
  bool v1events = Has(o, {"regarding"}) || Has(o, {"note"}) || Str(o, {"apiVersion"}) == "events.k8s.io/v1";
  const char* first_key = v1events ? "deprecatedFirstTimestamp" : "firstTimestamp";
  const char* last_key = v1events ? "deprecatedLastTimestamp" : "lastTimestamp";
  const char* count_key = v1events ? "deprecatedCount" : "count";
  const char* source_key = v1events ? "deprecatedSource" : "source";
  const char* involved_key = v1events ? "regarding" : "involvedObject";
  const char* message_key = v1events ? "note" : "message";

  std::string first = Has(o, {first_key}) ? Since(o, {first_key}, now) : Since(o, {"eventTime"}, now);
  std::string last = Has(o, {last_key}) ? Since(o, {last_key}, now) : first;
  int64_t count = Int(o, {count_key});
  if (Has(o, {"series"})) {
    last = Since(o, {"series", "lastObservedTime"}, now);
    count = Int(o, {"series", "count"});
  } else if (count == 0) {
    count = 1;
  }
  const Json& inv = Obj(o, {involved_key});
  std::string target = ToLower(Str(inv, {"kind"}));
  if (!Str(inv, {"name"}).empty()) target += "/" + Str(inv, {"name"});
  std::string component = Str(o, {source_key, "component"});
  if (component.empty()) component = Str(o, {"reportingController"});
  std::string host = Str(o, {source_key, "host"});
  if (host.empty()) host = Str(o, {"reportingInstance"});
  std::string source = host.empty() ? component : component + ", " + host;
  return Cells({last, Str(o, {"type"}), Str(o, {"reason"}), target, Str(inv, {"fieldPath"}), source, Trim(Str(o, {message_key})),
                first, count, Name(o)});
}

// ---- Namespace, Secret, ConfigMap, ServiceAccount -----------------------------------------

Json NamespaceRow(const Json& o, SystemTime now) { return Cells({Name(o), Str(o, {"status", "phase"}), Age(o, now)}); }

Json SecretRow(const Json& o, SystemTime now) {
  return Cells({Name(o), Str(o, {"type"}), static_cast<int64_t>(Obj(o, {"data"}).size()), Age(o, now)});
}

Json ConfigMapRow(const Json& o, SystemTime now) {
  return Cells({Name(o), static_cast<int64_t>(Obj(o, {"data"}).size() + Obj(o, {"binaryData"}).size()), Age(o, now)});
}

Json ServiceAccountRow(const Json& o, SystemTime now) {
  return Cells({Name(o), static_cast<int64_t>(Arr(o, {"secrets"}).size()), Age(o, now)});
}

// ---- PersistentVolume(Claim) -------------------------------------------------------------

constexpr std::string_view kBetaStorageClass = "volume.beta.kubernetes.io/storage-class";

std::string StorageClassOf(const Json& o) {
  const Json* a = At(o, {"metadata", "annotations", kBetaStorageClass});
  if (a && a->is_string()) return a->get<std::string>();
  return Str(o, {"spec", "storageClassName"});
}

std::string OrUnset(const Json& o, std::initializer_list<std::string_view> path) {
  const Json* v = At(o, path);
  if (!v || !v->is_string()) return "<unset>";
  return v->get<std::string>();
}

Json PersistentVolumeRow(const Json& o, SystemTime now) {
  std::string claim;
  if (Has(o, {"spec", "claimRef"})) claim = Str(o, {"spec", "claimRef", "namespace"}) + "/" + Str(o, {"spec", "claimRef", "name"});
  std::string phase = Str(o, {"status", "phase"});
  if (Has(o, {"metadata", "deletionTimestamp"})) phase = "Terminating";
  std::string size = QuantityText(At(o, {"spec", "capacity", "storage"}));
  if (size.empty()) size = "0";
  return Cells({Name(o), size, AccessModesString(Arr(o, {"spec", "accessModes"})), Str(o, {"spec", "persistentVolumeReclaimPolicy"}),
                phase, claim, StorageClassOf(o), OrUnset(o, {"spec", "volumeAttributesClassName"}), Str(o, {"status", "reason"}),
                Age(o, now), OrUnset(o, {"spec", "volumeMode"})});
}

Json PersistentVolumeClaimRow(const Json& o, SystemTime now) {
  std::string phase = Str(o, {"status", "phase"});
  if (Has(o, {"metadata", "deletionTimestamp"})) phase = "Terminating";
  std::string capacity, modes;
  if (!Str(o, {"spec", "volumeName"}).empty()) {
    modes = AccessModesString(Arr(o, {"status", "accessModes"}));
    capacity = QuantityText(At(o, {"status", "capacity", "storage"}));
    if (capacity.empty()) capacity = "0";
  }
  return Cells({Name(o), phase, Str(o, {"spec", "volumeName"}), capacity, modes, StorageClassOf(o),
                OrUnset(o, {"spec", "volumeAttributesClassName"}), Age(o, now), OrUnset(o, {"spec", "volumeMode"})});
}

// ---- ResourceQuota, ComponentStatus -------------------------------------------------------

Json ResourceQuotaRow(const Json& o, SystemTime now) {
  const Json& hard = Obj(o, {"status", "hard"});
  const Json& used = Obj(o, {"status", "used"});
  std::vector<std::string> requests, limits;
  for (auto it = hard.begin(); it != hard.end(); ++it) {  // sorted by resource name
    const std::string& name = it.key();
    std::string u = QuantityText(Find(used, name));
    if (u.empty()) u = "0";
    std::string text = name + ": " + u + "/" + QuantityText(&*it);
    if (name.rfind("limits.", 0) == 0) limits.push_back(text);
    else requests.push_back(text);
  }
  return Cells({Name(o), Join(requests, ", "), Join(limits, ", "), Age(o, now)});
}

Json ComponentStatusRow(const Json& o, SystemTime) {
  std::string status = "Unknown", message, error;
  for (const Json& c : Arr(o, {"conditions"})) {
    if (Str(c, {"type"}) == "Healthy") {
      status = Str(c, {"status"}) == "True" ? "Healthy" : "Unhealthy";
      message = Str(c, {"message"});
      error = Str(c, {"error"});
      break;
    }
  }
  return Cells({Name(o), status, message, error});
}

std::vector<TableColumn> ContainerColumns(int priority) {
  return {Column("Containers", "string", "Container names in the pod template.", priority),
          Column("Images", "string", "Container images in the pod template.", priority)};
}

}  // namespace

std::string PodStatusReason(const Json& pod) { return SummarizePod(pod).reason; }

void AddCoreTables(TableMap& m) {
  m.push_back({{"", "Pod"},
               {{NameColumn(), Column("Ready", "string", "Ready containers out of all containers."),
                 Column("Status", "string", "Summary of the pod's state."),
                 Column("Restarts", "string", "Container restarts, and how long ago the last one was."), AgeColumn(),
                 Column("IP", "string", "The pod's IP address.", 1), Column("Node", "string", "The node the pod runs on.", 1),
                 Column("Nominated Node", "string", "The node nominated by preemption.", 1),
                 Column("Readiness Gates", "string", "Readiness gates that are true out of all gates.", 1)},
                PodRow}});
  {
    std::vector<TableColumn> cols = {NameColumn()};
    for (auto& c : ContainerColumns(0)) cols.push_back(c);
    cols.push_back(Column("Pod Labels", "string", "Labels of the pod template."));
    m.push_back({{"", "PodTemplate"}, {cols, PodTemplateRow}});
  }
  {
    std::vector<TableColumn> cols = {NameColumn(), Column("Desired", "integer", "Wanted number of replicas."),
                                     Column("Current", "integer", "Existing replicas."),
                                     Column("Ready", "integer", "Ready replicas."), AgeColumn()};
    for (auto& c : ContainerColumns(1)) cols.push_back(c);
    cols.push_back(Column("Selector", "string", "Label selector of the pods.", 1));
    m.push_back({{"", "ReplicationController"}, {cols, ReplicationControllerRow}});
  }
  m.push_back({{"", "Service"},
               {{NameColumn(), Column("Type", "string", "How the service is exposed."),
                 Column("Cluster-IP", "string", "The service's cluster IP."),
                 Column("External-IP", "string", "External or load-balancer addresses."),
                 Column("Port(s)", "string", "Service ports (port[:nodePort]/protocol)."), AgeColumn(),
                 Column("Selector", "string", "Label selector of the backing pods.", 1)},
                ServiceRow}});
  m.push_back({{"", "Endpoints"}, {{NameColumn(), Column("Endpoints", "string", "Ready addresses with ports."), AgeColumn()}, EndpointsRow}});
  m.push_back({{"", "Node"},
               {{NameColumn(), Column("Status", "string", "Readiness and schedulability of the node."),
                 Column("Roles", "string", "Roles from node-role labels."), AgeColumn(),
                 Column("Version", "string", "Kubelet version."), Column("Internal-IP", "string", "First internal address.", 1),
                 Column("External-IP", "string", "First external address.", 1), Column("OS-Image", "string", "Operating system image.", 1),
                 Column("Kernel-Version", "string", "Kernel version.", 1),
                 Column("Container-Runtime", "string", "Container runtime and version.", 1)},
                NodeRow}});
  std::vector<TableColumn> event_cols = {
      Column("Last Seen", "string", "Time since the event last occurred."), Column("Type", "string", "Normal or Warning."),
      Column("Reason", "string", "Short machine-readable reason."), Column("Object", "string", "The object the event is about."),
      Column("Subobject", "string", "Field path within the object.", 1), Column("Source", "string", "Component that reported it.", 1),
      Column("Message", "string", "Human-readable description."), Column("First Seen", "string", "Time since the event first occurred.", 1),
      Column("Count", "string", "How many times it occurred.", 1)};
  TableColumn event_name = NameColumn();
  event_name.priority = 1;
  event_cols.push_back(event_name);
  m.push_back({{"", "Event"}, {event_cols, EventRow}});
  m.push_back({{"events.k8s.io", "Event"}, {event_cols, EventRow}});
  m.push_back({{"", "Namespace"}, {{NameColumn(), Column("Status", "string", "Phase of the namespace."), AgeColumn()}, NamespaceRow}});
  m.push_back({{"", "Secret"},
               {{NameColumn(), Column("Type", "string", "Secret type."), Column("Data", "string", "Number of data keys."), AgeColumn()},
                SecretRow}});
  m.push_back({{"", "ConfigMap"}, {{NameColumn(), Column("Data", "string", "Number of data keys."), AgeColumn()}, ConfigMapRow}});
  m.push_back({{"", "ServiceAccount"},
               {{NameColumn(), Column("Secrets", "string", "Number of referenced secrets."), AgeColumn()}, ServiceAccountRow}});
  m.push_back({{"", "PersistentVolume"},
               {{NameColumn(), Column("Capacity", "string", "Storage capacity."), Column("Access Modes", "string", "Access modes."),
                 Column("Reclaim Policy", "string", "What happens when released."), Column("Status", "string", "Phase of the volume."),
                 Column("Claim", "string", "Bound claim (namespace/name)."), Column("StorageClass", "string", "Storage class."),
                 Column("VolumeAttributesClass", "string", "Volume attributes class."), Column("Reason", "string", "Reason of the phase."),
                 AgeColumn(), Column("VolumeMode", "string", "Filesystem or Block.", 1)},
                PersistentVolumeRow}});
  m.push_back({{"", "PersistentVolumeClaim"},
               {{NameColumn(), Column("Status", "string", "Phase of the claim."), Column("Volume", "string", "Bound volume."),
                 Column("Capacity", "string", "Capacity of the bound volume."), Column("Access Modes", "string", "Access modes."),
                 Column("StorageClass", "string", "Storage class."), Column("VolumeAttributesClass", "string", "Volume attributes class."),
                 AgeColumn(), Column("VolumeMode", "string", "Filesystem or Block.", 1)},
                PersistentVolumeClaimRow}});
  m.push_back({{"", "LimitRange"}, {CreatedAtColumns(), CreatedAtRow}});
  m.push_back({{"", "ResourceQuota"},
               {{NameColumn(), Column("Request", "string", "Used/hard of request quotas."),
                 Column("Limit", "string", "Used/hard of limit quotas."), AgeColumn()},
                ResourceQuotaRow}});
  m.push_back({{"", "ComponentStatus"},
               {{NameColumn(), Column("Status", "string", "Health of the component."), Column("Message", "string", "Health message."),
                 Column("Error", "string", "Health error.")},
                ComponentStatusRow}});
}

}  // namespace tug::api::printers
