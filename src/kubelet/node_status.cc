#include "kubelet/node_status.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "base/log.h"

namespace tug::kubelet {
namespace {

constexpr int64_t kMemoryEvictionHard = 100 << 20;  // eviction-hard memory.available<100Mi
constexpr int kNodefsEvictionPercent = 10;          // eviction-hard nodefs.available<10%

std::string ReadFileOr(const std::string& path, std::string def = "") {
  std::ifstream f(path);
  if (!f) return def;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

std::string FirstIpv4() {
  struct ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return "";
  std::string out;
  for (auto* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    if (i->ifa_flags & IFF_LOOPBACK) continue;
    if (!(i->ifa_flags & IFF_UP)) continue;
    std::string name = i->ifa_name;
    // Our own bridge and veths carry pod addresses, not the node's.
    if (name.rfind("cni", 0) == 0 || name.rfind("veth", 0) == 0 || name.rfind("tug", 0) == 0) continue;
    char buf[INET_ADDRSTRLEN];
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) {
      out = buf;
      break;
    }
  }
  freeifaddrs(ifs);
  return out;
}

std::string Quantity(int64_t bytes) {
  if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + "Ki";
  return std::to_string(bytes);
}

Json Condition(const std::string& type, bool status, const std::string& reason,
               const std::string& message, const std::string& now) {
  return Json{{"type", type},
              {"status", status ? "True" : "False"},
              {"lastHeartbeatTime", now},
              {"lastTransitionTime", now},
              {"reason", reason},
              {"message", message}};
}

Result<uint32_t> ParseIpv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return InvalidError("bad IPv4 address " + s);
  return ntohl(a.s_addr);
}

std::string FormatIpv4(uint32_t v) {
  in_addr a{htonl(v)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

}  // namespace

int64_t MeminfoBytes(const std::string& meminfo, const std::string& key) {
  std::istringstream in(meminfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream ls(line.substr(key.size() + 1));
    int64_t v = 0;
    std::string unit;
    ls >> v >> unit;
    return unit == "kB" ? v * 1024 : v;
  }
  return -1;
}

std::string OsReleasePrettyName(const std::string& os_release) {
  std::istringstream in(os_release);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string v = line.substr(12);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
      v = v.substr(1, v.size() - 2);
    return v;
  }
  return "Linux";
}

Result<std::string> LowestFreePodCidr(const Json& nodes, const std::string& self,
                                      const std::string& cluster_cidr) {
  auto slash = cluster_cidr.find('/');
  if (slash == std::string::npos) return InvalidError("bad cluster CIDR " + cluster_cidr);
  ASSIGN_OR_RETURN(uint32_t base, ParseIpv4(cluster_cidr.substr(0, slash)));
  int prefix = std::atoi(cluster_cidr.c_str() + slash + 1);
  if (prefix < 8 || prefix > 24) return InvalidError("cluster CIDR prefix must be /8../24: " + cluster_cidr);
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  base &= mask;
  std::set<uint32_t> used;
  auto note = [&](const std::string& cidr) {
    auto s = cidr.find('/');
    auto ip = ParseIpv4(cidr.substr(0, s));
    if (ip.ok()) used.insert(ip.value() & 0xffffff00u);
  };
  if (nodes.is_array()) {
    for (const Json& n : nodes) {
      if (GetStringPath(n, {"metadata", "name"}) == self) continue;
      const Json* spec = Find(n, "spec");
      if (!spec) continue;
      if (auto c = GetString(*spec, "podCIDR"); !c.empty()) note(c);
      if (const Json* cs = Find(*spec, "podCIDRs"); cs && cs->is_array())
        for (const Json& c : *cs)
          if (c.is_string()) note(c.get<std::string>());
    }
  }
  uint32_t count = 1u << (24 - prefix);
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t net = base + (i << 8);
    if (!used.count(net)) return FormatIpv4(net) + "/24";
  }
  return UnavailableError("no free /24 left in " + cluster_cidr);
}

Result<MachineInfo> ReadMachineInfo(const std::string& data_dir) {
  MachineInfo m;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return InternalError("gethostname failed");
  m.hostname = host;
  std::transform(m.hostname.begin(), m.hostname.end(), m.hostname.begin(), ::tolower);
  m.cpus = sysconf(_SC_NPROCESSORS_ONLN);
  std::string meminfo = ReadFileOr("/proc/meminfo");
  m.memory_bytes = MeminfoBytes(meminfo, "MemTotal");
  m.memory_available_bytes = MeminfoBytes(meminfo, "MemAvailable");
  if (m.memory_bytes <= 0) return InternalError("cannot read MemTotal from /proc/meminfo");
  struct statvfs vfs{};
  std::string dir = data_dir;
  // The data dir may not exist yet: measure the nearest existing parent.
  while (statvfs(dir.c_str(), &vfs) != 0 && dir.size() > 1) {
    auto p = dir.find_last_of('/');
    dir = p == 0 || p == std::string::npos ? "/" : dir.substr(0, p);
  }
  m.ephemeral_storage_bytes = int64_t(vfs.f_blocks) * int64_t(vfs.f_frsize);
  m.ephemeral_available_bytes = int64_t(vfs.f_bavail) * int64_t(vfs.f_frsize);
  m.pid_max = std::atoll(ReadFileOr("/proc/sys/kernel/pid_max", "0").c_str());
  std::istringstream loadavg(ReadFileOr("/proc/loadavg"));
  std::string a, b, c, procs;
  loadavg >> a >> b >> c >> procs;
  if (auto s = procs.find('/'); s != std::string::npos) m.pids_running = std::atoll(procs.c_str() + s + 1);
  m.internal_ip = FirstIpv4();
  struct utsname u{};
  if (uname(&u) == 0) {
    m.kernel_version = u.release;
    std::string machine = u.machine;
    m.architecture = machine == "x86_64" ? "amd64" : machine == "aarch64" ? "arm64" : machine;
  }
  m.os_image = OsReleasePrettyName(ReadFileOr("/etc/os-release"));
  m.machine_id = Trim(ReadFileOr("/etc/machine-id"));
  m.system_uuid = Trim(ReadFileOr("/sys/class/dmi/id/product_uuid"));
  m.boot_id = Trim(ReadFileOr("/proc/sys/kernel/random/boot_id"));
  return m;
}

Json BuildNodeStatus(const MachineInfo& m, const NodeStatusOptions& o, SystemTime now) {
  std::string ts = FormatRFC3339(now);
  int64_t eph_alloc = m.ephemeral_storage_bytes - m.ephemeral_storage_bytes * kNodefsEvictionPercent / 100;
  Json capacity{{"cpu", std::to_string(m.cpus)},
                {"memory", Quantity(m.memory_bytes)},
                {"pods", std::to_string(o.max_pods)},
                {"ephemeral-storage", Quantity(m.ephemeral_storage_bytes)},
                {"hugepages-1Gi", "0"},
                {"hugepages-2Mi", "0"}};
  Json allocatable = capacity;
  allocatable["memory"] = Quantity(std::max<int64_t>(0, m.memory_bytes - kMemoryEvictionHard));
  allocatable["ephemeral-storage"] = std::to_string(std::max<int64_t>(0, eph_alloc));

  bool mem_pressure = m.memory_available_bytes >= 0 && m.memory_available_bytes < kMemoryEvictionHard;
  bool disk_pressure = m.ephemeral_storage_bytes > 0 &&
                       m.ephemeral_available_bytes * 100 < m.ephemeral_storage_bytes * kNodefsEvictionPercent;
  // kubelet's PID pressure threshold: fewer than 10% of pid_max left.
  bool pid_pressure = m.pid_max > 0 && (m.pid_max - m.pids_running) * 10 < m.pid_max;
  Json conditions = Json::array();
  conditions.push_back(mem_pressure
                           ? Condition("MemoryPressure", true, "KubeletHasInsufficientMemory",
                                       "kubelet has insufficient memory available", ts)
                           : Condition("MemoryPressure", false, "KubeletHasSufficientMemory",
                                       "kubelet has sufficient memory available", ts));
  conditions.push_back(disk_pressure ? Condition("DiskPressure", true, "KubeletHasDiskPressure",
                                                 "kubelet has disk pressure", ts)
                                     : Condition("DiskPressure", false, "KubeletHasNoDiskPressure",
                                                 "kubelet has no disk pressure", ts));
  conditions.push_back(pid_pressure ? Condition("PIDPressure", true, "KubeletHasInsufficientPID",
                                                "kubelet has insufficient PID available", ts)
                                    : Condition("PIDPressure", false, "KubeletHasSufficientPID",
                                                "kubelet has sufficient PID available", ts));
  conditions.push_back(Condition("Ready", true, "KubeletReady", "kubelet is posting ready status", ts));

  std::string ip = o.node_ip.empty() ? m.internal_ip : o.node_ip;
  Json addresses = Json::array();
  if (!ip.empty()) addresses.push_back({{"type", "InternalIP"}, {"address", ip}});
  addresses.push_back({{"type", "Hostname"}, {"address", m.hostname}});

  Json status{{"capacity", capacity},
              {"allocatable", allocatable},
              {"conditions", conditions},
              {"addresses", addresses},
              {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", o.kubelet_port}}}}},
              {"nodeInfo",
               {{"machineID", m.machine_id},
                {"systemUUID", m.system_uuid},
                {"bootID", m.boot_id},
                {"kernelVersion", m.kernel_version},
                {"osImage", m.os_image},
                {"containerRuntimeVersion", o.container_runtime_version},
                {"kubeletVersion", o.kubelet_version},
                {"kubeProxyVersion", ""},
                {"operatingSystem", m.operating_system},
                {"architecture", m.architecture}}},
              {"images", o.images ? o.images() : Json::array()}};
  return status;
}

void MergeConditionTimes(const Json& old_status, Json& new_status) {
  const Json* old_conds = Find(old_status, "conditions");
  if (!old_conds || !old_conds->is_array()) return;
  for (Json& c : new_status["conditions"]) {
    for (const Json& oc : *old_conds) {
      if (GetString(oc, "type") != GetString(c, "type")) continue;
      if (GetString(oc, "status") == GetString(c, "status") && oc.contains("lastTransitionTime"))
        c["lastTransitionTime"] = oc["lastTransitionTime"];
    }
  }
}

NodeStatusManager::NodeStatusManager(const client::Client& client, NodeStatusOptions options)
    : client_(client), opts_(std::move(options)), clock_(opts_.clock ? *opts_.clock : RealClock()) {
  if (!opts_.machine_info) {
    std::string dir = opts_.data_dir;
    opts_.machine_info = [dir] { return ReadMachineInfo(dir); };
  }
}

NodeStatusManager::~NodeStatusManager() { Stop(); }

std::string NodeStatusManager::pod_cidr() const {
  std::lock_guard l(mu_);
  return pod_cidr_;
}

Status NodeStatusManager::RegisterNode() {
  ASSIGN_OR_RETURN(MachineInfo m, opts_.machine_info());
  Json labels{{"kubernetes.io/hostname", opts_.node_name},
              {"kubernetes.io/os", m.operating_system},
              {"kubernetes.io/arch", m.architecture},
              {"beta.kubernetes.io/os", m.operating_system},
              {"beta.kubernetes.io/arch", m.architecture}};
  for (const auto& [k, v] : opts_.extra_labels) labels[k] = v;
  Json node{{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata",
             {{"name", opts_.node_name},
              {"labels", labels},
              {"annotations", {{"node.alpha.kubernetes.io/ttl", "0"},
                               {"volumes.kubernetes.io/controller-managed-attach-detach", "true"}}}}},
            {"spec", Json::object()}};
  if (!opts_.pod_cidr.empty()) {
    node["spec"]["podCIDR"] = opts_.pod_cidr;
    node["spec"]["podCIDRs"] = Json::array({opts_.pod_cidr});
  }
  auto created = client_.Create(client::kNodes, "", node);
  Json current;
  if (created.ok()) {
    current = std::move(created).value();
    TUG_LOG(INFO, "kubelet") << "registered node" << kv("node", opts_.node_name);
  } else if (created.status().code() == StatusCode::kAlreadyExists) {
    // Adopt the existing Node: make sure our labels are there (kubelet reconciles them).
    Json patch{{"metadata", {{"labels", labels}}}};
    ASSIGN_OR_RETURN(current, client_.Patch(client::kNodes, "", opts_.node_name, client::PatchType::kMerge,
                                            patch.dump()));
    TUG_LOG(INFO, "kubelet") << "node already registered; adopting it" << kv("node", opts_.node_name);
  } else {
    return created.status();
  }
  return EnsurePodCidr(current);
}

Status NodeStatusManager::EnsurePodCidr(Json& node) {
  std::string have = GetStringPath(node, {"spec", "podCIDR"});
  if (have.empty() && !opts_.pod_cidr.empty()) have = opts_.pod_cidr;
  // Race between nodes allocating at once: patch with the resourceVersion we listed at and
  // re-check afterwards; a loser sees the winner's CIDR and picks the next one.
  for (int attempt = 0; have.empty() || GetStringPath(node, {"spec", "podCIDR"}) != have; ++attempt) {
    if (attempt > 10) return UnavailableError("could not allocate a pod CIDR");
    if (have.empty()) {
      ASSIGN_OR_RETURN(Json list, client_.ListAll(client::kNodes, ""));
      ASSIGN_OR_RETURN(have, LowestFreePodCidr(list["items"], opts_.node_name, opts_.cluster_cidr));
    }
    Json patch{{"spec", {{"podCIDR", have}, {"podCIDRs", Json::array({have})}}}};
    auto r = client_.Patch(client::kNodes, "", opts_.node_name, client::PatchType::kMerge, patch.dump());
    if (!r.ok()) return r.status();
    node = std::move(r).value();
    // Someone else may have taken the same /24 at the same time: check.
    ASSIGN_OR_RETURN(Json list, client_.ListAll(client::kNodes, ""));
    bool clash = false;
    for (const Json& n : list["items"]) {
      if (GetStringPath(n, {"metadata", "name"}) == opts_.node_name) continue;
      if (GetStringPath(n, {"spec", "podCIDR"}) == have &&
          GetStringPath(n, {"metadata", "name"}) < opts_.node_name)
        clash = true;
    }
    if (clash && opts_.pod_cidr.empty()) {
      TUG_LOG(WARNING, "kubelet") << "pod CIDR taken concurrently; choosing another" << kv("cidr", have);
      have.clear();
      node["spec"].erase("podCIDR");
    }
  }
  TUG_LOG(INFO, "kubelet") << "node pod CIDR" << kv("node", opts_.node_name) << kv("cidr", have);
  std::lock_guard l(mu_);
  pod_cidr_ = have;
  return Status::Ok();
}

void NodeStatusManager::SetContainerRuntimeVersion(std::string v) {
  std::lock_guard l(mu_);
  opts_.container_runtime_version = std::move(v);
}

void NodeStatusManager::SetKubeletPort(int port) {
  std::lock_guard l(mu_);
  opts_.kubelet_port = port;
}

Status NodeStatusManager::SyncNodeStatus() {
  ASSIGN_OR_RETURN(MachineInfo m, opts_.machine_info());
  Json status;
  {
    std::lock_guard l(mu_);
    status = BuildNodeStatus(m, opts_, clock_.Now());
  }
  ASSIGN_OR_RETURN(Json node, client_.Get(client::kNodes, "", opts_.node_name));
  if (const Json* old = Find(node, "status")) MergeConditionTimes(*old, status);
  // Strategic merge: conditions merge by type, so conditions others own (NetworkUnavailable)
  // stay; addresses and images are replaced as kubelet does.
  Json patch{{"status", status}};
  auto r = client_.Patch(client::kNodes, "", opts_.node_name, client::PatchType::kStrategic, patch.dump(), "status");
  if (!r.ok()) return r.status();
  return Status::Ok();
}

Status NodeStatusManager::RenewLease() {
  std::string now = FormatRFC3339Micro(clock_.Now());
  auto got = client_.Get(client::kLeases, "kube-node-lease", opts_.node_name);
  if (got.ok()) {
    Json lease = std::move(got).value();
    lease["spec"]["holderIdentity"] = opts_.node_name;
    lease["spec"]["leaseDurationSeconds"] = opts_.lease_duration_seconds;
    lease["spec"]["renewTime"] = now;
    auto r = client_.Update(client::kLeases, "kube-node-lease", lease);
    return r.ok() ? Status::Ok() : r.status();
  }
  if (got.status().code() != StatusCode::kNotFound) return got.status();
  Json lease{{"apiVersion", "coordination.k8s.io/v1"},
             {"kind", "Lease"},
             {"metadata", {{"name", opts_.node_name}, {"namespace", "kube-node-lease"}}},
             {"spec",
              {{"holderIdentity", opts_.node_name},
               {"leaseDurationSeconds", opts_.lease_duration_seconds},
               {"renewTime", now}}}};
  if (auto node = client_.Get(client::kNodes, "", opts_.node_name); node.ok()) {
    lease["metadata"]["ownerReferences"] =
        Json::array({{{"apiVersion", "v1"},
                      {"kind", "Node"},
                      {"name", opts_.node_name},
                      {"uid", GetStringPath(node.value(), {"metadata", "uid"})}}});
  }
  auto r = client_.Create(client::kLeases, "kube-node-lease", lease);
  return r.ok() ? Status::Ok() : r.status();
}

Status NodeStatusManager::Start() {
  RETURN_IF_ERROR(RegisterNode());
  RETURN_IF_ERROR(SyncNodeStatus());
  RETURN_IF_ERROR(RenewLease());
  thread_ = std::jthread([this](std::stop_token st) { Loop(st); });
  return Status::Ok();
}

void NodeStatusManager::Stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

void NodeStatusManager::Loop(std::stop_token st) {
  auto next_status = clock_.SteadyNow() + opts_.status_interval;
  auto next_lease = clock_.SteadyNow() + opts_.lease_renew_interval;
  std::mutex m;
  while (!st.stop_requested()) {
    auto wake = std::min(next_status, next_lease);
    {
      std::unique_lock l(m);
      cv_.wait_until(l, st, wake, [] { return false; });
    }
    if (st.stop_requested()) break;
    auto now = clock_.SteadyNow();
    if (now >= next_lease) {
      if (Status s = RenewLease(); !s.ok())
        TUG_LOG(WARNING, "kubelet") << "lease renewal failed" << kv("error", s.ToString());
      next_lease = now + opts_.lease_renew_interval;
    }
    if (now >= next_status) {
      if (Status s = SyncNodeStatus(); !s.ok())
        TUG_LOG(WARNING, "kubelet") << "node status update failed" << kv("error", s.ToString());
      next_status = now + opts_.status_interval;
    }
  }
}

}  // namespace tug::kubelet
