// Readers for the kernel files the kubelet's stats summary is built from: cgroup usage
// (cgroup v1 and v2), the node's /proc/stat, /proc/meminfo, /proc/vmstat and /proc/net/dev,
// and statvfs of a filesystem. Every reader takes its root directory, so tests point them at
// fixture trees.
//
// Which cgroup version: v2 when <root>/cgroup.controllers exists (the unified hierarchy),
// else v1 with one directory per controller (cpuacct may be mounted as "cpu,cpuacct").
// Memory figures follow the kubelet/cAdvisor rules: workingSet = usage - inactive_file
// (v1: total_inactive_file), never below zero; rss = v2 "anon" / v1 "total_rss".
//
// Ownership: values only. Thread-safety: stateless functions and immutable objects; safe from
// any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace tug::kubelet::stats {

struct CpuSample {
  uint64_t usage_core_ns = 0;  // cumulative CPU time
};

struct MemorySample {
  uint64_t usage_bytes = 0;
  uint64_t working_set_bytes = 0;
  uint64_t rss_bytes = 0;
  uint64_t page_faults = 0;
  uint64_t major_page_faults = 0;
  std::optional<uint64_t> limit_bytes;  // unset: no limit
};

struct CgroupSample {
  CpuSample cpu;
  MemorySample memory;
};

class CgroupReader {
 public:
  explicit CgroupReader(std::string root = "/sys/fs/cgroup");
  bool v2() const { return v2_; }
  // Usage of cgroup `path` ("/tug/pod<uid>/<id>"). NotFound when the cgroup does not exist.
  Result<CgroupSample> Read(const std::string& path) const;

 private:
  std::string Dir(const std::string& controller, const std::string& path) const;
  std::string root_;
  bool v2_ = false;
  std::string cpuacct_dir_ = "cpuacct";  // v1: the hierarchy that has cpuacct.usage
};

// "key value" lines (cgroup memory.stat, cpu.stat, /proc/vmstat): the value of `key`, if any.
std::optional<uint64_t> StatValue(const std::string& text, const std::string& key);

// ---- node (/proc)

struct NodeCpu {
  uint64_t usage_core_ns = 0;  // non-idle time of all CPUs (user nice system irq softirq steal)
  int64_t boot_time = 0;       // btime, seconds since the epoch
};
// Parses /proc/stat text. ticks_per_second: sysconf(_SC_CLK_TCK) (USER_HZ).
Result<NodeCpu> ParseProcStat(const std::string& text, long ticks_per_second);

struct NodeMemory {
  uint64_t total_bytes = 0, usage_bytes = 0, working_set_bytes = 0, rss_bytes = 0, available_bytes = 0;
};
// Parses /proc/meminfo text: usage = MemTotal - MemFree, workingSet = usage - Inactive(file),
// rss = AnonPages, available = MemTotal - workingSet (the kubelet's node availableBytes).
Result<NodeMemory> ParseMeminfo(const std::string& text);

struct InterfaceStats {
  std::string name;
  uint64_t rx_bytes = 0, rx_errors = 0, tx_bytes = 0, tx_errors = 0;
};
// Parses /proc/net/dev (or /proc/<pid>/net/dev) text; skips `lo` and, with skip_virtual, the
// host ends of pod veths and bridges cAdvisor ignores (veth*, docker*, cni*, tug*, flannel*).
std::vector<InterfaceStats> ParseNetDev(const std::string& text, bool skip_virtual);

struct FsSample {
  uint64_t capacity_bytes = 0, available_bytes = 0, used_bytes = 0;
  uint64_t inodes = 0, inodes_free = 0, inodes_used = 0;
};
// statvfs(path).
Result<FsSample> StatFs(const std::string& path);

// Reads a whole (small) file: NotFound when it does not exist.
Result<std::string> ReadSmallFile(const std::string& path);

}  // namespace tug::kubelet::stats
