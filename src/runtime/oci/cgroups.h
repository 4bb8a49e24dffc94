// Pod cgroups on cgroup v1 (one hierarchy per controller, as on this build host's hybrid
// layout) and cgroup v2 (unified), detected at run time from the filesystem type of the mount
// root. Paths are cgroup paths ("/tug/pod<uid>"), the same in every hierarchy, and match the
// cgroupsPath runc gets for containers ("/tug/pod<uid>/<container id>").
//
// Ownership: a Cgroups value owns nothing; it names directories in the cgroup filesystem.
// Thread-safety: stateless after construction; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/runtime.h"

namespace tug::runtime {

enum class CgroupVersion { kV1, kV2 };

class Cgroups {
 public:
  explicit Cgroups(std::string mount_root = "/sys/fs/cgroup");

  CgroupVersion version() const { return version_; }

  // Creates `path` (and its parents) where tug sets limits, enabling the v2 controllers on the
  // way down, and applies `r`. Existing directories are reused (idempotent).
  Status Create(const std::string& path, const Resources& r);
  Status Update(const std::string& path, const Resources& r);
  // Kills every process below `path` and removes it and its descendants in every hierarchy.
  // OK when it does not exist.
  Status Remove(const std::string& path);
  bool Exists(const std::string& path) const;
  // Names of the child cgroups of `path` (from the memory hierarchy on v1).
  std::vector<std::string> Children(const std::string& path) const;
  // OOM kills recorded for `path` (v1 memory.oom_control oom_kill, v2 memory.events oom_kill);
  // -1 when unknown.
  int64_t OomKillCount(const std::string& path) const;
  // Moves process `pid` into `path` in every hierarchy where `path` exists.
  Status AddProcess(const std::string& path, int pid);
  // Cumulative CPU time (v1 cpuacct.usage, v2 cpu.stat usage_usec); NotFound if absent.
  Result<uint64_t> CpuUsageNanos(const std::string& path) const;
  // Memory usage and working set (usage minus inactive file pages); NotFound if absent.
  Result<std::pair<uint64_t, uint64_t>> MemoryUsage(const std::string& path) const;
  // Host pids in `path` and below.
  std::vector<int> Pids(const std::string& path) const;

  // v2 cpu.weight from v1-style cpu shares (the conversion runc and the kubelet use).
  static uint64_t SharesToWeight(uint64_t shares);

 private:
  // Directories of `path` in every hierarchy (v1: one per mounted hierarchy; v2: one).
  std::vector<std::string> AllDirs(const std::string& path) const;
  std::string Dir(const std::string& controller, const std::string& path) const;

  std::string root_;
  CgroupVersion version_;
  std::vector<std::string> hierarchies_;  // v1 hierarchy dir names under root_
};

}  // namespace tug::runtime
