#include "simnodes/objects.h"

#include <charconv>
#include <cstdio>
#include <functional>

namespace tug::simnodes {
namespace {

// 64 hex digits derived from `seed` (not cryptographic; only needs to be stable and spread).
std::string Hex64(std::string_view seed) {
  std::string out;
  out.reserve(64);
  uint64_t h = std::hash<std::string_view>{}(seed);
  for (int i = 0; i < 4; ++i) {
    // splitmix64 steps give four different words from one hash.
    h += 0x9e3779b97f4a7c15ULL;
    uint64_t z = h;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(z));
    out += buf;
  }
  return out;
}

Json Condition(std::string_view type, bool status, std::string_view reason, std::string_view message,
               const std::string& heartbeat, const std::string& transition) {
  Json c = {{"type", type}, {"status", status ? "True" : "False"}, {"lastTransitionTime", transition}};
  if (!heartbeat.empty()) c["lastHeartbeatTime"] = heartbeat;
  if (!reason.empty()) c["reason"] = reason;
  if (!message.empty()) c["message"] = message;
  return c;
}

// The pod's existing condition of `type`, to keep its lastTransitionTime while its status does
// not change (as the kubelet's status manager does).
std::string TransitionTime(const Json& pod, std::string_view type, bool status, const std::string& now) {
  if (const Json* conds = FindPath(pod, {"status", "conditions"}); conds && conds->is_array()) {
    for (const Json& c : *conds) {
      if (GetString(c, "type") != type) continue;
      if (GetString(c, "status") == (status ? "True" : "False")) {
        std::string t = GetString(c, "lastTransitionTime");
        if (!t.empty()) return t;
      }
      break;
    }
  }
  return now;
}

Json PodCondition(const Json& pod, std::string_view type, bool status, std::string_view reason,
                  std::string_view message, const std::string& now) {
  Json c = {{"type", type}, {"status", status ? "True" : "False"},
            {"lastTransitionTime", TransitionTime(pod, type, status, now)}, {"lastProbeTime", nullptr}};
  if (!reason.empty()) c["reason"] = reason;
  if (!message.empty()) c["message"] = message;
  return c;
}

const Json& Containers(const Json& pod, std::string_view field) {
  static const Json kEmpty = Json::array();
  const Json* c = FindPath(pod, {"spec", field});
  return c && c->is_array() ? *c : kEmpty;
}

std::string UnreadyMessage(const Json& pod) {
  std::string names;
  for (const Json& c : Containers(pod, "containers")) {
    if (!names.empty()) names += ' ';
    names += GetString(c, "name");
  }
  return "containers with unready status: [" + names + "]";
}

std::string StartTime(const Json& pod, const std::string& now) {
  std::string t = GetStringPath(pod, {"status", "startTime"});
  return t.empty() ? now : t;
}

// Fields every status document shares: IPs, start time, QoS left as the API server set it.
void CommonStatus(Json& st, const Json& pod, const PodRunInfo& run, const std::string& now) {
  st["hostIP"] = run.host_ip;
  st["hostIPs"] = Json::array({{{"ip", run.host_ip}}});
  bool host_network = false;
  if (const Json* hn = FindPath(pod, {"spec", "hostNetwork"}); hn && hn->is_boolean()) host_network = hn->get<bool>();
  std::string ip = host_network ? run.host_ip : run.pod_ip;
  if (!ip.empty()) {
    st["podIP"] = ip;
    st["podIPs"] = Json::array({{{"ip", ip}}});
  }
  st["startTime"] = StartTime(pod, now);
}

Json ContainerBase(const Json& pod, const Json& c, int restart) {
  std::string image = GetString(c, "image");
  return {{"name", GetString(c, "name")},
          {"image", image},
          {"imageID", ImageID(image)},
          {"containerID", ContainerID(GetStringPath(pod, {"metadata", "uid"}), GetString(c, "name"), restart)},
          {"restartCount", restart}};
}

Json Terminated(const Json& pod, const Json& c, int restart, int exit_code, const std::string& started,
                const std::string& finished) {
  return {{"exitCode", exit_code},
          {"reason", exit_code == 0 ? "Completed" : "Error"},
          {"startedAt", started},
          {"finishedAt", finished},
          {"containerID", ContainerID(GetStringPath(pod, {"metadata", "uid"}), GetString(c, "name"), restart)}};
}

bool IsSidecar(const Json& c) { return GetString(c, "restartPolicy") == "Always"; }

// Init containers as they look once the pod's main containers run: each regular one terminated
// Completed, each sidecar (restartPolicy Always) running.
Json InitStatuses(const Json& pod, const std::string& started) {
  Json out = Json::array();
  for (const Json& c : Containers(pod, "initContainers")) {
    Json s = ContainerBase(pod, c, 0);
    if (IsSidecar(c)) {
      s["state"] = {{"running", {{"startedAt", started}}}};
      s["ready"] = true;
      s["started"] = true;
    } else {
      s["state"] = {{"terminated", Terminated(pod, c, 0, 0, started, started)}};
      s["ready"] = true;
      s["started"] = false;
    }
    s["lastState"] = Json::object();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

std::string NodeIP(uint32_t index) {
  return "10.0." + std::to_string(index / 254) + "." + std::to_string(index % 254 + 1);
}

std::string PodCIDR(uint32_t index) {
  uint32_t second = 42 + index / 256;
  if (second >= 43) ++second;  // 10.43.0.0/16 is the service CIDR
  return "10." + std::to_string(second) + "." + std::to_string(index % 256) + ".0/24";
}

std::string PodIP(uint32_t index, uint8_t host) {
  std::string cidr = PodCIDR(index);
  return cidr.substr(0, cidr.size() - 4) + std::to_string(host);  // drop "0/24"
}

Result<std::map<std::string, std::string>> ParseLabels(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) return BadRequestError("invalid label \"" + std::string(item) + "\": want key=value");
    out[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
  }
  return out;
}

Result<Json> ParseTaints(std::string_view text) {
  Json out = Json::array();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    size_t colon = item.rfind(':');
    if (colon == std::string_view::npos) return BadRequestError("invalid taint \"" + std::string(item) + "\": want key[=value]:Effect");
    std::string_view effect = item.substr(colon + 1);
    if (effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute")
      return BadRequestError("invalid taint effect \"" + std::string(effect) + "\" in \"" + std::string(item) +
                             "\": want NoSchedule, PreferNoSchedule or NoExecute");
    std::string_view kvp = item.substr(0, colon);
    size_t eq = kvp.find('=');
    std::string_view key = kvp.substr(0, eq);
    if (key.empty()) return BadRequestError("invalid taint \"" + std::string(item) + "\": empty key");
    Json t = {{"key", key}, {"effect", effect}};
    if (eq != std::string_view::npos && eq + 1 < kvp.size()) t["value"] = kvp.substr(eq + 1);
    out.push_back(std::move(t));
  }
  return out;
}

Json BuildNode(const std::string& name, uint32_t index, const NodeShape& shape, SystemTime now) {
  Json labels = {{"kubernetes.io/hostname", name},  {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},   {"beta.kubernetes.io/os", "linux"},
                 {"beta.kubernetes.io/arch", "amd64"}};
  for (const auto& [k, v] : shape.labels) labels[k] = v;
  Json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata",
                {{"name", name},
                 {"labels", labels},
                 {"annotations", {{"node.alpha.kubernetes.io/ttl", "0"}, {"tug.dev/simulated", "true"}}}}},
               {"spec", {{"podCIDR", PodCIDR(index)}, {"podCIDRs", Json::array({PodCIDR(index)})}}},
               {"status", BuildNodeStatus(name, index, shape, now)}};
  if (shape.taints.is_array() && !shape.taints.empty()) node["spec"]["taints"] = shape.taints;
  return node;
}

Json BuildNodeStatus(const std::string& name, uint32_t index, const NodeShape& shape, SystemTime now) {
  std::string t = FormatRFC3339(now);
  Json resources = {{"cpu", shape.cpu},
                    {"memory", shape.memory},
                    {"pods", shape.pods},
                    {"ephemeral-storage", shape.ephemeral_storage},
                    {"hugepages-1Gi", "0"},
                    {"hugepages-2Mi", "0"}};
  std::string id = Hex64(name).substr(0, 32);
  return {
      {"capacity", resources},
      {"allocatable", resources},
      {"conditions",
       Json::array({Condition("NetworkUnavailable", false, "RouteCreated", "RouteController created a route", t, t),
                    Condition("MemoryPressure", false, "KubeletHasSufficientMemory",
                              "kubelet has sufficient memory available", t, t),
                    Condition("DiskPressure", false, "KubeletHasNoDiskPressure", "kubelet has no disk pressure", t, t),
                    Condition("PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available",
                              t, t),
                    Condition("Ready", true, "KubeletReady", "kubelet is posting ready status", t, t)})},
      {"addresses", Json::array({{{"type", "InternalIP"}, {"address", NodeIP(index)}},
                                 {{"type", "Hostname"}, {"address", name}}})},
      {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", 10250}}}}},
      {"nodeInfo",
       {{"machineID", id},
        {"systemUUID", id.substr(0, 8) + "-" + id.substr(8, 4) + "-" + id.substr(12, 4) + "-" + id.substr(16, 4) + "-" +
                           id.substr(20, 12)},
        {"bootID", Hex64(name + "/boot").substr(0, 32)},
        {"kernelVersion", "6.1.0-sim"},
        {"osImage", "tug simulated node"},
        {"containerRuntimeVersion", "sim://1.0.0"},
        {"kubeletVersion", shape.kubelet_version},
        {"kubeProxyVersion", shape.kubelet_version},
        {"operatingSystem", "linux"},
        {"architecture", "amd64"}}},
  };
}

bool NodeStatusStale(const Json& node, SystemTime now, std::chrono::seconds max_age) {
  const Json* conds = FindPath(node, {"status", "conditions"});
  if (!conds || !conds->is_array()) return true;
  for (const Json& c : *conds) {
    if (GetString(c, "type") != "Ready") continue;
    if (GetString(c, "status") != "True") return true;
    auto hb = ParseRFC3339(GetString(c, "lastHeartbeatTime"));
    return !hb.ok() || now - *hb >= max_age;
  }
  return true;
}

Json BuildLease(const std::string& node_name, std::string_view node_uid, int lease_duration_seconds,
                SystemTime now) {
  Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", node_name}, {"namespace", "kube-node-lease"}}},
                {"spec",
                 {{"holderIdentity", node_name},
                  {"leaseDurationSeconds", lease_duration_seconds},
                  {"renewTime", FormatRFC3339Micro(now)}}}};
  if (!node_uid.empty())
    lease["metadata"]["ownerReferences"] =
        Json::array({{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node_name}, {"uid", node_uid}}});
  return lease;
}

Json BuildPendingStatus(const Json& pod, const PodRunInfo& run, SystemTime now) {
  std::string t = FormatRFC3339(now);
  std::string unready = UnreadyMessage(pod);
  Json st = {{"phase", "Pending"}};
  CommonStatus(st, pod, run, t);
  st["conditions"] = Json::array({PodCondition(pod, "PodReadyToStartContainers", false, "", "", t),
                                   PodCondition(pod, "Initialized", true, "", "", t),
                                   PodCondition(pod, "Ready", false, "ContainersNotReady", unready, t),
                                   PodCondition(pod, "ContainersReady", false, "ContainersNotReady", unready, t),
                                   PodCondition(pod, "PodScheduled", true, "", "", t)});
  Json cs = Json::array();
  for (const Json& c : Containers(pod, "containers")) {
    cs.push_back({{"name", GetString(c, "name")},
                  {"image", GetString(c, "image")},
                  {"imageID", ""},
                  {"ready", false},
                  {"started", false},
                  {"restartCount", 0},
                  {"lastState", Json::object()},
                  {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}});
  }
  st["containerStatuses"] = std::move(cs);
  return st;
}

Json BuildRunningStatus(const Json& pod, const PodRunInfo& run, SystemTime now, std::optional<int> last_exit_code) {
  std::string t = FormatRFC3339(now);
  std::string started = FormatRFC3339(run.started_at);
  Json st = {{"phase", "Running"}};
  CommonStatus(st, pod, run, t);
  st["conditions"] = Json::array({PodCondition(pod, "PodReadyToStartContainers", true, "", "", t),
                                   PodCondition(pod, "Initialized", true, "", "", t),
                                   PodCondition(pod, "Ready", true, "", "", t),
                                   PodCondition(pod, "ContainersReady", true, "", "", t),
                                   PodCondition(pod, "PodScheduled", true, "", "", t)});
  Json cs = Json::array();
  for (const Json& c : Containers(pod, "containers")) {
    Json s = ContainerBase(pod, c, run.restart_count);
    s["ready"] = true;
    s["started"] = true;
    s["state"] = {{"running", {{"startedAt", started}}}};
    s["lastState"] = Json::object();
    if (last_exit_code)
      s["lastState"] = {{"terminated", Terminated(pod, c, run.restart_count - 1, *last_exit_code, started, started)}};
    cs.push_back(std::move(s));
  }
  st["containerStatuses"] = std::move(cs);
  Json init = InitStatuses(pod, started);
  if (!init.empty()) st["initContainerStatuses"] = std::move(init);
  return st;
}

Json BuildBackoffStatus(const Json& pod, const PodRunInfo& run, SystemTime now, int exit_code) {
  std::string t = FormatRFC3339(now);
  std::string started = FormatRFC3339(run.started_at);
  std::string unready = UnreadyMessage(pod);
  Json st = {{"phase", "Running"}};
  CommonStatus(st, pod, run, t);
  st["conditions"] = Json::array({PodCondition(pod, "PodReadyToStartContainers", true, "", "", t),
                                   PodCondition(pod, "Initialized", true, "", "", t),
                                   PodCondition(pod, "Ready", false, "ContainersNotReady", unready, t),
                                   PodCondition(pod, "ContainersReady", false, "ContainersNotReady", unready, t),
                                   PodCondition(pod, "PodScheduled", true, "", "", t)});
  Json cs = Json::array();
  for (const Json& c : Containers(pod, "containers")) {
    Json s = ContainerBase(pod, c, run.restart_count);
    s["ready"] = false;
    s["started"] = false;
    s["state"] = {{"waiting",
                   {{"reason", "CrashLoopBackOff"},
                    {"message", "back-off restarting failed container " + GetString(c, "name") + " in pod " +
                                    GetStringPath(pod, {"metadata", "name"}) + "_" +
                                    GetStringPath(pod, {"metadata", "namespace"}) + "(" +
                                    GetStringPath(pod, {"metadata", "uid"}) + ")"}}}};
    s["lastState"] = {{"terminated", Terminated(pod, c, run.restart_count, exit_code, started, t)}};
    cs.push_back(std::move(s));
  }
  st["containerStatuses"] = std::move(cs);
  Json init = InitStatuses(pod, started);
  if (!init.empty()) st["initContainerStatuses"] = std::move(init);
  return st;
}

Json BuildTerminatedStatus(const Json& pod, const PodRunInfo& run, SystemTime now, int exit_code) {
  std::string t = FormatRFC3339(now);
  std::string started = FormatRFC3339(run.started_at);
  const char* reason = exit_code == 0 ? "PodCompleted" : "PodFailed";
  Json st = {{"phase", exit_code == 0 ? "Succeeded" : "Failed"}};
  CommonStatus(st, pod, run, t);
  st["conditions"] = Json::array({PodCondition(pod, "PodReadyToStartContainers", false, "", "", t),
                                   PodCondition(pod, "Initialized", true, "PodCompleted", "", t),
                                   PodCondition(pod, "Ready", false, reason, "", t),
                                   PodCondition(pod, "ContainersReady", false, reason, "", t),
                                   PodCondition(pod, "PodScheduled", true, "", "", t)});
  Json cs = Json::array();
  for (const Json& c : Containers(pod, "containers")) {
    Json s = ContainerBase(pod, c, run.restart_count);
    s["ready"] = false;
    s["started"] = false;
    s["state"] = {{"terminated", Terminated(pod, c, run.restart_count, exit_code, started, t)}};
    s["lastState"] = Json::object();
    cs.push_back(std::move(s));
  }
  st["containerStatuses"] = std::move(cs);
  Json init = InitStatuses(pod, started);
  // Sidecars stop with the pod.
  for (Json& s : init)
    if (s["state"].contains("running"))
      s["state"] = {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}, {"startedAt", started}, {"finishedAt", t},
                                    {"containerID", s["containerID"]}}}};
  if (!init.empty()) st["initContainerStatuses"] = std::move(init);
  return st;
}

int SimExitCode(const Json& pod) {
  std::string v = GetStringPath(pod, {"metadata", "annotations", "tug.dev/sim-exit-code"});
  int code = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), code);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || code < 0 || code > 255) return 0;
  return code;
}

std::string ContainerID(std::string_view pod_uid, std::string_view container, int restart) {
  return "sim://" + Hex64(std::string(pod_uid) + "/" + std::string(container) + "/" + std::to_string(restart));
}

std::string ImageID(std::string_view image) {
  std::string_view repo = image.substr(0, image.find('@'));
  // Strip a tag (a ':' after the last '/').
  size_t slash = repo.rfind('/');
  size_t colon = repo.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) repo = repo.substr(0, colon);
  return std::string(repo) + "@sha256:" + Hex64(image);
}

}  // namespace tug::simnodes
