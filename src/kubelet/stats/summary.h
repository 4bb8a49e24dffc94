// The kubelet's stats summary (GET /stats/summary on the kubelet port, kubelet's
// statsapi.Summary JSON) and its Prometheus twin (GET /metrics/resource), built from cgroups
// (v1 or v2), /proc and statvfs. The API server's metrics.k8s.io reads the summary.
//
//   stats::SummaryCollector c(stats::PodListerFromRuntime(rt), {.node_name = "n1", ...});
//   c.Start();                      // samples every `interval` so CPU rates exist when asked
//   ASSIGN_OR_RETURN(Json s, c.Summary());
//
// CPU: usageCoreNanoSeconds is the cumulative counter; usageNanoCores is the rate between the
// current reading and a reference sample of the same cgroup at least `min_window` older. The
// reference moves forward once it is `interval` old, so the rate covers between min_window and
// about 2 x interval (cAdvisor's housekeeping window). A cgroup seen once only, or whose counter
// went backwards (a new cgroup of the same key), has no usageNanoCores yet, as kubelet's CRI
// stats provider. Memory: workingSetBytes = usage - inactive_file (cgroup_stats.h).
//
// Ownership: the collector owns its PodLister (which borrows the runtime: the runtime must
// outlive the collector) and its sampling thread.
// Thread-safety: Summary/ResourceMetrics/Sample may be called from any thread (serialized by
// one mutex); Start/Stop from one owner thread; Stop is called by the destructor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "kubelet/stats/cgroup_stats.h"
#include "runtime/runtime.h"

namespace tug::kubelet::stats {

// One running container of a pod, as the stats need it.
struct ContainerInfo {
  std::string name, id;
  std::string cgroup_path;  // "/tug/pod<uid>/<id>"
  std::string log_path;     // CRI log file ("" = unknown)
  SystemTime start_time{};
};

// One running pod.
struct PodInfo {
  std::string ns, name, uid;
  SystemTime start_time{};
  std::string cgroup_path;  // "/tug/pod<uid>"
  int net_pid = 0;          // a process in the pod's network namespace; 0 = none/host network
  std::vector<ContainerInfo> containers;
};

using PodLister = std::function<Result<std::vector<PodInfo>>()>;

// The ready sandboxes of `rt` and their running containers (container cgroups are
// <sandbox cgroup>/<container id>, runtime/oci/cgroups.h).
PodLister PodListerFromRuntime(runtime::Runtime& rt);

// usageNanoCores from successive cumulative readings, per key (see the header comment).
class CpuRateTracker {
 public:
  CpuRateTracker(std::chrono::nanoseconds min_window, std::chrono::nanoseconds interval)
      : min_window_(min_window), interval_(interval) {}
  std::optional<uint64_t> Update(const std::string& key, SystemTime now, uint64_t cumulative_ns);
  // Forgets every key not in `keep` (containers and pods that are gone).
  void Retain(const std::set<std::string>& keep);
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    SystemTime ref_time{};
    uint64_t ref_ns = 0;
    std::optional<uint64_t> rate;
  };
  std::chrono::nanoseconds min_window_, interval_;
  std::map<std::string, Entry> entries_;
};

struct CollectorOptions {
  std::string node_name;
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string proc_root = "/proc";
  std::string cgroup_parent = "/tug";  // all pods: the "pods" system container
  std::string root_fs_path = "/";      // node.fs: the filesystem of the agent's data dir
  std::string image_fs_path;           // node.runtime.imageFs; "" = root_fs_path
  std::chrono::milliseconds min_window{1000};
  std::chrono::milliseconds interval{10000};
  const Clock* clock = nullptr;  // nullptr: RealClock()
  long ticks_per_second = 0;     // USER_HZ; 0: sysconf(_SC_CLK_TCK)
};

class SummaryCollector {
 public:
  SummaryCollector(PodLister pods, CollectorOptions options);
  ~SummaryCollector();
  SummaryCollector(const SummaryCollector&) = delete;
  SummaryCollector& operator=(const SummaryCollector&) = delete;

  // The statsapi.Summary document. Fails only when the pod list cannot be read; missing
  // pieces (a cgroup that just went away, an unreadable /proc file) are left out.
  Result<Json> Summary();
  // The kubelet's /metrics/resource text (Prometheus exposition format 0.0.4).
  Result<std::string> ResourceMetrics();
  // Reads every cgroup once (keeps the rate references fresh).
  void Sample();

  // A thread that calls Sample() every `interval` until Stop().
  void Start();
  void Stop();

 private:
  Json CpuJson(const std::string& key, SystemTime now, uint64_t cumulative);
  Json MemoryJson(const MemorySample& m, SystemTime now);
  Json NodeJson(SystemTime now);
  Json NetworkJson(const std::vector<InterfaceStats>& ifs, SystemTime now);

  PodLister pods_;
  CollectorOptions o_;
  const Clock& clock_;
  CgroupReader cgroups_;
  std::mutex mu_;
  CpuRateTracker rates_;  // GUARDED_BY(mu_)
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stopping_ = false;  // GUARDED_BY(run_mu_)
  std::thread thread_;
};

// The kubelet server's GET endpoints over a collector (KubeletServerOptions::get_handlers):
// "/stats/summary" (JSON) and "/metrics/resource" (Prometheus text). The collector must outlive
// the server.
using Endpoint = std::function<Result<std::pair<std::string, std::string>>()>;
std::map<std::string, Endpoint> Endpoints(SummaryCollector& collector);

// Prometheus text from a Summary document (exposed for tests).
std::string ResourceMetricsText(const Json& summary);

}  // namespace tug::kubelet::stats
