#include "kubelet/stats/summary.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "base/log.h"

namespace tug::kubelet::stats {
namespace {

constexpr const char* kComponent = "kubelet-stats";
// The interface the summary names as the pod's / node's network (kubelet's default).
constexpr const char* kDefaultInterface = "eth0";

Json FsJson(const FsSample& f, const std::string& time, bool with_used) {
  Json j = {{"time", time},
            {"availableBytes", f.available_bytes},
            {"capacityBytes", f.capacity_bytes},
            {"inodesFree", f.inodes_free},
            {"inodes", f.inodes}};
  if (with_used) {
    j["usedBytes"] = f.used_bytes;
    j["inodesUsed"] = f.inodes_used;
  }
  return j;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

// ---------------------------------------------------------------- pods from the runtime

PodLister PodListerFromRuntime(runtime::Runtime& rt) {
  return [&rt]() -> Result<std::vector<PodInfo>> {
    ASSIGN_OR_RETURN(auto sandboxes, rt.ListPodSandboxes());
    std::vector<PodInfo> out;
    for (const auto& sb : sandboxes) {
      if (sb.state != runtime::SandboxState::kReady || sb.cgroup_path.empty()) continue;
      PodInfo p;
      p.ns = sb.config.namespace_;
      p.name = sb.config.name;
      p.uid = sb.config.uid;
      p.start_time = sb.created_at;
      p.cgroup_path = sb.cgroup_path;
      auto ctrs = rt.ListContainers(sb.id);
      if (!ctrs.ok()) continue;  // removed meanwhile
      for (const auto& c : *ctrs) {
        if (c.state != runtime::ContainerState::kRunning) continue;
        if (p.net_pid == 0 && !sb.config.host_network) p.net_pid = c.pid;
        p.containers.push_back(ContainerInfo{c.name, c.id, sb.cgroup_path + "/" + c.id, c.log_path, c.started_at});
      }
      out.push_back(std::move(p));
    }
    return out;
  };
}

// ---------------------------------------------------------------- CPU rates

std::optional<uint64_t> CpuRateTracker::Update(const std::string& key, SystemTime now, uint64_t cumulative_ns) {
  auto [it, inserted] = entries_.try_emplace(key);
  Entry& e = it->second;
  if (inserted || cumulative_ns < e.ref_ns || now < e.ref_time) {
    // First reading, or a new cgroup under the same key: start over.
    e = Entry{now, cumulative_ns, std::nullopt};
    return std::nullopt;
  }
  auto dt = std::chrono::duration_cast<std::chrono::nanoseconds>(now - e.ref_time);
  if (dt >= min_window_ && dt.count() > 0) {
    long double rate = static_cast<long double>(cumulative_ns - e.ref_ns) * 1e9L / static_cast<long double>(dt.count());
    e.rate = static_cast<uint64_t>(rate);
    if (dt >= interval_) {
      e.ref_time = now;
      e.ref_ns = cumulative_ns;
    }
  }
  return e.rate;
}

void CpuRateTracker::Retain(const std::set<std::string>& keep) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (keep.count(it->first)) ++it;
    else it = entries_.erase(it);
  }
}

// ---------------------------------------------------------------- collector

SummaryCollector::SummaryCollector(PodLister pods, CollectorOptions options)
    : pods_(std::move(pods)),
      o_(std::move(options)),
      clock_(o_.clock ? *o_.clock : RealClock()),
      cgroups_(o_.cgroup_root),
      rates_(o_.min_window, o_.interval) {
  if (o_.ticks_per_second <= 0) o_.ticks_per_second = ::sysconf(_SC_CLK_TCK);
  if (o_.image_fs_path.empty()) o_.image_fs_path = o_.root_fs_path;
}

SummaryCollector::~SummaryCollector() { Stop(); }

void SummaryCollector::Start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> l(run_mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> l(run_mu_);
    for (;;) {
      l.unlock();
      Sample();
      l.lock();
      if (run_cv_.wait_for(l, o_.interval, [this] { return stopping_; })) return;
    }
  });
}

void SummaryCollector::Stop() {
  {
    std::lock_guard<std::mutex> l(run_mu_);
    stopping_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SummaryCollector::Sample() {
  auto s = Summary();
  if (!s.ok()) {
    TUG_VLOG(4, kComponent) << "stats sample failed" << kv("error", s.status().ToString());
  }
}

Json SummaryCollector::CpuJson(const std::string& key, SystemTime now, uint64_t cumulative) {
  Json j = {{"time", FormatRFC3339(now)}};
  if (auto rate = rates_.Update(key, now, cumulative)) j["usageNanoCores"] = *rate;
  j["usageCoreNanoSeconds"] = cumulative;
  return j;
}

Json SummaryCollector::MemoryJson(const MemorySample& m, SystemTime now) {
  Json j = {{"time", FormatRFC3339(now)}};
  if (m.limit_bytes) j["availableBytes"] = *m.limit_bytes > m.working_set_bytes ? *m.limit_bytes - m.working_set_bytes : 0;
  j["usageBytes"] = m.usage_bytes;
  j["workingSetBytes"] = m.working_set_bytes;
  j["rssBytes"] = m.rss_bytes;
  j["pageFaults"] = m.page_faults;
  j["majorPageFaults"] = m.major_page_faults;
  return j;
}

Json SummaryCollector::NetworkJson(const std::vector<InterfaceStats>& ifs, SystemTime now) {
  Json j = {{"time", FormatRFC3339(now)}};
  const InterfaceStats* def = nullptr;
  Json arr = Json::array();
  for (const auto& i : ifs) {
    if (i.name == kDefaultInterface || def == nullptr) def = &i;
    arr.push_back({{"name", i.name}, {"rxBytes", i.rx_bytes}, {"rxErrors", i.rx_errors},
                   {"txBytes", i.tx_bytes}, {"txErrors", i.tx_errors}});
  }
  for (const auto& i : ifs)
    if (i.name == kDefaultInterface) def = &i;
  if (def) {
    j["name"] = def->name;
    j["rxBytes"] = def->rx_bytes;
    j["rxErrors"] = def->rx_errors;
    j["txBytes"] = def->tx_bytes;
    j["txErrors"] = def->tx_errors;
  }
  j["interfaces"] = std::move(arr);
  return j;
}

Json SummaryCollector::NodeJson(SystemTime now) {
  const std::string t = FormatRFC3339(now);
  Json node = {{"nodeName", o_.node_name}};
  auto stat = ReadSmallFile(o_.proc_root + "/stat");
  std::optional<NodeCpu> cpu;
  if (stat.ok()) {
    auto c = ParseProcStat(*stat, o_.ticks_per_second);
    if (c.ok()) cpu = *c;
  }
  // The "pods" system container: every pod's cgroup parent.
  if (auto pods = cgroups_.Read(o_.cgroup_parent); pods.ok()) {
    Json sc = {{"name", "pods"}};
    if (cpu && cpu->boot_time > 0) sc["startTime"] = FormatRFC3339(SystemTime(std::chrono::seconds(cpu->boot_time)));
    sc["cpu"] = CpuJson("sys/pods", now, pods->cpu.usage_core_ns);
    sc["memory"] = MemoryJson(pods->memory, now);
    node["systemContainers"] = Json::array({std::move(sc)});
  }
  if (cpu && cpu->boot_time > 0) node["startTime"] = FormatRFC3339(SystemTime(std::chrono::seconds(cpu->boot_time)));
  if (cpu) node["cpu"] = CpuJson("node", now, cpu->usage_core_ns);
  if (auto mi = ReadSmallFile(o_.proc_root + "/meminfo"); mi.ok()) {
    if (auto m = ParseMeminfo(*mi); m.ok()) {
      MemorySample ms;
      ms.usage_bytes = m->usage_bytes;
      ms.working_set_bytes = m->working_set_bytes;
      ms.rss_bytes = m->rss_bytes;
      if (auto vm = ReadSmallFile(o_.proc_root + "/vmstat"); vm.ok()) {
        ms.page_faults = StatValue(*vm, "pgfault").value_or(0);
        ms.major_page_faults = StatValue(*vm, "pgmajfault").value_or(0);
      }
      ms.limit_bytes = m->total_bytes;  // availableBytes = capacity - workingSet
      node["memory"] = MemoryJson(ms, now);
    }
  }
  if (auto nd = ReadSmallFile(o_.proc_root + "/net/dev"); nd.ok()) node["network"] = NetworkJson(ParseNetDev(*nd, true), now);
  if (auto fs = StatFs(o_.root_fs_path); fs.ok()) node["fs"] = FsJson(*fs, t, true);
  if (auto ifs = StatFs(o_.image_fs_path); ifs.ok()) {
    Json image_fs = FsJson(*ifs, t, true);
    node["runtime"] = {{"imageFs", image_fs}, {"containerFs", image_fs}};
  }
  Json rl = {{"time", t}};
  if (auto pm = ReadSmallFile(o_.proc_root + "/sys/kernel/pid_max"); pm.ok()) rl["maxpid"] = std::strtoll(pm->c_str(), nullptr, 10);
  if (auto la = ReadSmallFile(o_.proc_root + "/loadavg"); la.ok()) {
    // "0.00 0.01 0.05 1/123 4567": running/total processes.
    size_t slash = la->find('/');
    if (slash != std::string::npos) rl["curproc"] = std::strtoll(la->c_str() + slash + 1, nullptr, 10);
  }
  node["rlimit"] = std::move(rl);
  return node;
}

Result<Json> SummaryCollector::Summary() {
  ASSIGN_OR_RETURN(auto pods, pods_());
  std::lock_guard<std::mutex> l(mu_);
  const SystemTime now = clock_.Now();
  const std::string t = FormatRFC3339(now);
  std::set<std::string> live = {"node", "sys/pods"};
  Json summary = {{"node", NodeJson(now)}};
  std::optional<FsSample> image_fs, root_fs;
  if (auto f = StatFs(o_.image_fs_path); f.ok()) image_fs = *f;
  if (auto f = StatFs(o_.root_fs_path); f.ok()) root_fs = *f;
  Json items = Json::array();
  for (const auto& p : pods) {
    auto pod_sample = cgroups_.Read(p.cgroup_path);
    if (!pod_sample.ok()) continue;  // gone, or not ours to read
    Json pj = {{"podRef", {{"name", p.name}, {"namespace", p.ns}, {"uid", p.uid}}},
               {"startTime", FormatRFC3339(p.start_time)}};
    Json containers = Json::array();
    uint64_t logs_total = 0;
    for (const auto& c : p.containers) {
      auto cs = cgroups_.Read(c.cgroup_path);
      if (!cs.ok()) continue;  // exited since the list was read
      std::string key = "ctr/" + p.uid + "/" + c.name;
      live.insert(key);
      Json cj = {{"name", c.name}, {"startTime", FormatRFC3339(c.start_time)}};
      cj["cpu"] = CpuJson(key, now, cs->cpu.usage_core_ns);
      cj["memory"] = MemoryJson(cs->memory, now);
      if (image_fs) cj["rootfs"] = FsJson(*image_fs, t, false);
      if (root_fs) {
        uint64_t log_bytes = FileSize(c.log_path);
        logs_total += log_bytes;
        Json lj = FsJson(*root_fs, t, false);
        lj["usedBytes"] = log_bytes;
        cj["logs"] = std::move(lj);
      }
      containers.push_back(std::move(cj));
    }
    pj["containers"] = std::move(containers);
    std::string pod_key = "pod/" + p.uid;
    live.insert(pod_key);
    pj["cpu"] = CpuJson(pod_key, now, pod_sample->cpu.usage_core_ns);
    pj["memory"] = MemoryJson(pod_sample->memory, now);
    if (p.net_pid > 0) {
      if (auto nd = ReadSmallFile(o_.proc_root + "/" + std::to_string(p.net_pid) + "/net/dev"); nd.ok())
        pj["network"] = NetworkJson(ParseNetDev(*nd, false), now);
    }
    if (root_fs) {
      Json es = {{"time", t}, {"availableBytes", root_fs->available_bytes}, {"capacityBytes", root_fs->capacity_bytes},
                 {"usedBytes", logs_total}, {"inodesFree", root_fs->inodes_free}, {"inodes", root_fs->inodes}};
      pj["ephemeral-storage"] = std::move(es);
    }
    pj["volume"] = Json::array();
    items.push_back(std::move(pj));
  }
  rates_.Retain(live);
  summary["pods"] = std::move(items);
  return summary;
}

Result<std::string> SummaryCollector::ResourceMetrics() {
  ASSIGN_OR_RETURN(Json s, Summary());
  return ResourceMetricsText(s);
}

std::map<std::string, Endpoint> Endpoints(SummaryCollector& c) {
  std::map<std::string, Endpoint> out;
  out["/stats/summary"] = [&c]() -> Result<std::pair<std::string, std::string>> {
    ASSIGN_OR_RETURN(Json s, c.Summary());
    return std::make_pair(std::string("application/json"), s.dump());
  };
  out["/metrics/resource"] = [&c]() -> Result<std::pair<std::string, std::string>> {
    ASSIGN_OR_RETURN(std::string text, c.ResourceMetrics());
    return std::make_pair(std::string("text/plain; version=0.0.4; charset=utf-8"), std::move(text));
  };
  return out;
}

// ---------------------------------------------------------------- /metrics/resource

namespace {
std::string Millis(const Json& j) {
  auto t = ParseRFC3339(j.value("time", std::string()));
  if (!t.ok()) return "";
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count());
}
std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

std::string ResourceMetricsText(const Json& summary) {
  struct Family {
    const char* name;
    const char* help;
    const char* type;
    std::string lines;
  };
  Family fam[] = {
      {"container_cpu_usage_seconds_total", "Cumulative CPU time used by the container, in core-seconds", "counter", ""},
      {"container_memory_working_set_bytes", "Working set of the container (usage minus inactive file pages), in bytes", "gauge", ""},
      {"container_start_time_seconds", "Start time of the container, in seconds since the Unix epoch", "gauge", ""},
      {"node_cpu_usage_seconds_total", "Cumulative CPU time used by the node, in core-seconds", "counter", ""},
      {"node_memory_working_set_bytes", "Working set of the node, in bytes", "gauge", ""},
      {"pod_cpu_usage_seconds_total", "Cumulative CPU time used by the pod, in core-seconds", "counter", ""},
      {"pod_memory_working_set_bytes", "Working set of the pod, in bytes", "gauge", ""},
      {"resource_scrape_error", "1 when an error occurred while collecting these metrics, else 0", "gauge", ""},
  };
  auto add = [&](int f, const std::string& labels, double v, const std::string& ms) {
    fam[f].lines += std::string(fam[f].name) + labels + " " + Num(v) + (ms.empty() ? "" : " " + ms) + "\n";
  };
  const Json& node = summary.value("node", Json::object());
  if (node.contains("cpu") && node["cpu"].contains("usageCoreNanoSeconds"))
    add(3, "", node["cpu"]["usageCoreNanoSeconds"].get<double>() / 1e9, Millis(node["cpu"]));
  if (node.contains("memory") && node["memory"].contains("workingSetBytes"))
    add(4, "", node["memory"]["workingSetBytes"].get<double>(), Millis(node["memory"]));
  for (const Json& p : summary.value("pods", Json::array())) {
    const Json& ref = p["podRef"];
    std::string pl = "namespace=\"" + Escape(ref.value("namespace", "")) + "\",pod=\"" + Escape(ref.value("name", "")) + "\"";
    for (const Json& c : p.value("containers", Json::array())) {
      std::string cl = "{container=\"" + Escape(c.value("name", "")) + "\"," + pl + "}";
      if (c.contains("cpu")) add(0, cl, c["cpu"].value("usageCoreNanoSeconds", 0.0) / 1e9, Millis(c["cpu"]));
      if (c.contains("memory")) add(1, cl, c["memory"].value("workingSetBytes", 0.0), Millis(c["memory"]));
      if (auto st = ParseRFC3339(c.value("startTime", std::string())); st.ok())
        add(2, cl, std::chrono::duration<double>(st->time_since_epoch()).count(), "");
    }
    if (p.contains("cpu")) add(5, "{" + pl + "}", p["cpu"].value("usageCoreNanoSeconds", 0.0) / 1e9, Millis(p["cpu"]));
    if (p.contains("memory")) add(6, "{" + pl + "}", p["memory"].value("workingSetBytes", 0.0), Millis(p["memory"]));
  }
  add(7, "", 0, "");
  std::string out;
  for (const auto& f : fam) {
    if (f.lines.empty()) continue;
    out += std::string("# HELP ") + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n" + f.lines;
  }
  return out;
}

}  // namespace tug::kubelet::stats
