#include "runtime/oci/cgroups.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cerrno>
#include <chrono>
#include <sstream>
#include <thread>

#include "runtime/oci/sys.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace tug::runtime {

namespace {
bool IsCgroup2(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

std::string Clean(const std::string& path) {
  std::string p = path;
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (!p.empty() && p.front() != '/') p = "/" + p;
  return p;
}

int64_t ReadKey(const std::string& file, const std::string& key) {
  auto data = ReadFile(file);
  if (!data.ok()) return -1;
  std::istringstream in(*data);
  std::string k;
  int64_t v;
  while (in >> k >> v)
    if (k == key) return v;
  return -1;
}
}  // namespace

Cgroups::Cgroups(std::string mount_root) : root_(std::move(mount_root)) {
  version_ = IsCgroup2(root_) ? CgroupVersion::kV2 : CgroupVersion::kV1;
  if (version_ == CgroupVersion::kV1) {
    for (const auto& name : ListDir(root_)) {
      std::string p = root_ + "/" + name;
      struct stat st;
      if (lstat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;  // skip cpu -> cpu,cpuacct links
      hierarchies_.push_back(name);
    }
  }
}

std::string Cgroups::Dir(const std::string& controller, const std::string& path) const {
  if (version_ == CgroupVersion::kV2) return root_ + Clean(path);
  return root_ + "/" + controller + Clean(path);
}

std::vector<std::string> Cgroups::AllDirs(const std::string& path) const {
  if (version_ == CgroupVersion::kV2) return {root_ + Clean(path)};
  std::vector<std::string> out;
  for (const auto& h : hierarchies_) out.push_back(root_ + "/" + h + Clean(path));
  return out;
}

uint64_t Cgroups::SharesToWeight(uint64_t shares) {
  if (shares == 0) return 0;
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

Status Cgroups::Create(const std::string& path, const Resources& r) {
  std::string p = Clean(path);
  if (p.empty() || p == "/") return InvalidError("cgroup path must not be the root");
  if (version_ == CgroupVersion::kV2) {
    // Enable the controllers at each level above the new cgroup (no processes live there).
    std::string cur;
    std::istringstream parts(p.substr(1));
    std::string part;
    std::vector<std::string> levels;
    while (std::getline(parts, part, '/')) levels.push_back(part);
    for (size_t i = 0; i < levels.size(); ++i) {
      std::string dir = root_ + cur;
      for (const char* c : {"+cpu", "+memory", "+pids", "+io", "+cpuset", "+hugetlb"})
        WriteFile(dir + "/cgroup.subtree_control", c).IgnoreError();  // absent controllers fail
      cur += "/" + levels[i];
      RETURN_IF_ERROR(MakeDirs(root_ + cur));
    }
  } else {
    for (const char* c : {"cpu", "cpuacct", "memory", "pids"}) {
      if (std::find(hierarchies_.begin(), hierarchies_.end(), c) == hierarchies_.end()) continue;
      RETURN_IF_ERROR(MakeDirs(Dir(c, p)));
    }
  }
  return Update(p, r);
}

Status Cgroups::Update(const std::string& path, const Resources& r) {
  std::string p = Clean(path);
  if (version_ == CgroupVersion::kV2) {
    std::string d = Dir("", p);
    if (r.memory_limit_bytes > 0)
      RETURN_IF_ERROR(WriteFile(d + "/memory.max", std::to_string(r.memory_limit_bytes)));
    if (r.cpu_shares > 0)
      RETURN_IF_ERROR(WriteFile(d + "/cpu.weight", std::to_string(SharesToWeight(r.cpu_shares))));
    uint64_t period = r.cpu_period_us ? r.cpu_period_us : 100000;
    if (r.cpu_quota_us > 0)
      RETURN_IF_ERROR(WriteFile(d + "/cpu.max",
                                std::to_string(r.cpu_quota_us) + " " + std::to_string(period)));
    return Status::Ok();
  }
  if (r.memory_limit_bytes > 0)
    RETURN_IF_ERROR(WriteFile(Dir("memory", p) + "/memory.limit_in_bytes",
                              std::to_string(r.memory_limit_bytes)));
  if (r.cpu_shares > 0)
    RETURN_IF_ERROR(WriteFile(Dir("cpu", p) + "/cpu.shares", std::to_string(r.cpu_shares)));
  if (r.cpu_quota_us > 0) {
    uint64_t period = r.cpu_period_us ? r.cpu_period_us : 100000;
    RETURN_IF_ERROR(WriteFile(Dir("cpu", p) + "/cpu.cfs_period_us", std::to_string(period)));
    RETURN_IF_ERROR(WriteFile(Dir("cpu", p) + "/cpu.cfs_quota_us", std::to_string(r.cpu_quota_us)));
  }
  return Status::Ok();
}

bool Cgroups::Exists(const std::string& path) const {
  for (const auto& d : AllDirs(path))
    if (PathExists(d)) return true;
  return false;
}

std::vector<std::string> Cgroups::Children(const std::string& path) const {
  std::string d = version_ == CgroupVersion::kV2 ? Dir("", path) : Dir("memory", path);
  std::vector<std::string> out;
  for (const auto& name : ListDir(d)) {
    struct stat st;
    if (lstat((d + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(name);
  }
  return out;
}

int64_t Cgroups::OomKillCount(const std::string& path) const {
  if (version_ == CgroupVersion::kV2) return ReadKey(Dir("", path) + "/memory.events", "oom_kill");
  return ReadKey(Dir("memory", path) + "/memory.oom_control", "oom_kill");
}

Status Cgroups::AddProcess(const std::string& path, int pid) {
  bool any = false;
  for (const auto& d : AllDirs(path)) {
    if (!PathExists(d)) continue;
    RETURN_IF_ERROR(WriteFile(d + "/cgroup.procs", std::to_string(pid)));
    any = true;
  }
  return any ? Status::Ok() : NotFoundError("cgroup " + path + " not found");
}

Result<uint64_t> Cgroups::CpuUsageNanos(const std::string& path) const {
  if (version_ == CgroupVersion::kV2) {
    int64_t us = ReadKey(Dir("", path) + "/cpu.stat", "usage_usec");
    if (us < 0) return NotFoundError("cgroup " + path + " not found");
    return static_cast<uint64_t>(us) * 1000;
  }
  auto data = ReadFile(Dir("cpuacct", path) + "/cpuacct.usage");
  if (!data.ok()) return NotFoundError("cgroup " + path + " not found");
  return static_cast<uint64_t>(std::strtoull(data->c_str(), nullptr, 10));
}

Result<std::pair<uint64_t, uint64_t>> Cgroups::MemoryUsage(const std::string& path) const {
  std::string usage_file, stat_file, inactive_key;
  if (version_ == CgroupVersion::kV2) {
    usage_file = Dir("", path) + "/memory.current";
    stat_file = Dir("", path) + "/memory.stat";
    inactive_key = "inactive_file";
  } else {
    usage_file = Dir("memory", path) + "/memory.usage_in_bytes";
    stat_file = Dir("memory", path) + "/memory.stat";
    inactive_key = "total_inactive_file";
  }
  auto data = ReadFile(usage_file);
  if (!data.ok()) return NotFoundError("cgroup " + path + " not found");
  uint64_t usage = std::strtoull(data->c_str(), nullptr, 10);
  int64_t inactive = ReadKey(stat_file, inactive_key);
  uint64_t ws = inactive > 0 && static_cast<uint64_t>(inactive) < usage ? usage - static_cast<uint64_t>(inactive) : usage;
  return std::make_pair(usage, ws);
}

std::vector<int> Cgroups::Pids(const std::string& path) const {
  std::vector<int> out;
  std::vector<std::string> stack = AllDirs(path);
  while (!stack.empty()) {
    std::string d = stack.back();
    stack.pop_back();
    auto procs = ReadFile(d + "/cgroup.procs");
    if (procs.ok()) {
      std::istringstream in(*procs);
      int pid;
      while (in >> pid) out.push_back(pid);
    }
    for (const auto& name : ListDir(d)) {
      struct stat st;
      std::string c = d + "/" + name;
      if (lstat(c.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) stack.push_back(c);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Status Cgroups::Remove(const std::string& path) {
  std::string p = Clean(path);
  if (p.empty() || p == "/") return InvalidError("refusing to remove the root cgroup");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    // v1 freezer would make this race-free; killing repeatedly until empty is enough for
    // leftovers (no new processes are started in a cgroup being removed).
    for (int pid : Pids(p)) kill(pid, SIGKILL);
    bool all_gone = true;
    std::string last_err;
    for (const auto& top : AllDirs(p)) {
      if (!PathExists(top)) continue;
      // Depth-first: collect descendants, remove deepest first.
      std::vector<std::string> dirs{top};
      for (size_t i = 0; i < dirs.size(); ++i)
        for (const auto& name : ListDir(dirs[i])) {
          std::string c = dirs[i] + "/" + name;
          struct stat st;
          if (lstat(c.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) dirs.push_back(c);
        }
      for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
        if (rmdir(it->c_str()) != 0 && errno != ENOENT) {
          all_gone = false;
          last_err = ErrnoMessage("rmdir " + *it);
        }
      }
    }
    if (all_gone) return Status::Ok();
    if (std::chrono::steady_clock::now() > deadline) return InternalError(last_err);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace tug::runtime
