#include "kubelet/stats/cgroup_stats.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>

namespace tug::kubelet::stats {
namespace {

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::string Clean(const std::string& path) {
  std::string p = path;
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (!p.empty() && p.front() != '/') p = "/" + p;
  return p;
}

std::optional<uint64_t> ReadU64(const std::string& file) {
  auto data = ReadSmallFile(file);
  if (!data.ok()) return std::nullopt;
  const char* s = data->c_str();
  while (*s == ' ' || *s == '\t') ++s;
  if (*s < '0' || *s > '9') return std::nullopt;  // "max" (v2 memory.max) and garbage
  return std::strtoull(s, nullptr, 10);
}

// cgroup v1 reports "no limit" as the largest page-aligned int64.
constexpr uint64_t kV1Unlimited = uint64_t{1} << 62;

}  // namespace

Result<std::string> ReadSmallFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFoundError(path + " not found");
    return InternalError("open " + path + ": " + std::strerror(errno));
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      // A cgroup removed while we read it answers ENODEV.
      if (e == ENODEV || e == ENOENT) return NotFoundError(path + " not found");
      return InternalError("read " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::optional<uint64_t> StatValue(const std::string& text, const std::string& key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    if (eol - pos > key.size() && text.compare(pos, key.size(), key) == 0 &&
        (text[pos + key.size()] == ' ' || text[pos + key.size()] == '\t')) {
      return std::strtoull(text.c_str() + pos + key.size() + 1, nullptr, 10);
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

CgroupReader::CgroupReader(std::string root) : root_(std::move(root)) {
  v2_ = Exists(root_ + "/cgroup.controllers");
  if (!v2_) {
    for (const char* d : {"cpuacct", "cpu,cpuacct", "cpuacct,cpu"}) {
      if (Exists(root_ + "/" + d)) {
        cpuacct_dir_ = d;
        break;
      }
    }
  }
}

std::string CgroupReader::Dir(const std::string& controller, const std::string& path) const {
  if (v2_) return root_ + Clean(path);
  return root_ + "/" + controller + Clean(path);
}

Result<CgroupSample> CgroupReader::Read(const std::string& path) const {
  CgroupSample s;
  std::string mem_dir = Dir("memory", path);
  if (v2_) {
    auto cpu = ReadSmallFile(mem_dir + "/cpu.stat");
    if (!cpu.ok()) return cpu.status().code() == StatusCode::kNotFound ? NotFoundError("cgroup " + path + " not found") : cpu.status();
    auto usec = StatValue(*cpu, "usage_usec");
    if (!usec) return InternalError("cgroup " + path + ": cpu.stat has no usage_usec");
    s.cpu.usage_core_ns = *usec * 1000;
  } else {
    auto ns = ReadU64(Dir(cpuacct_dir_, path) + "/cpuacct.usage");
    if (!ns) return NotFoundError("cgroup " + path + " not found");
    s.cpu.usage_core_ns = *ns;
  }
  auto usage = ReadU64(mem_dir + (v2_ ? "/memory.current" : "/memory.usage_in_bytes"));
  if (!usage) return NotFoundError("cgroup " + path + " not found (memory)");
  s.memory.usage_bytes = *usage;
  auto stat = ReadSmallFile(mem_dir + "/memory.stat");
  std::string st = stat.ok() ? *stat : std::string();
  uint64_t inactive = StatValue(st, v2_ ? "inactive_file" : "total_inactive_file").value_or(0);
  s.memory.working_set_bytes = inactive < *usage ? *usage - inactive : 0;
  s.memory.rss_bytes = StatValue(st, v2_ ? "anon" : "total_rss").value_or(0);
  s.memory.page_faults = StatValue(st, v2_ ? "pgfault" : "total_pgfault").value_or(0);
  s.memory.major_page_faults = StatValue(st, v2_ ? "pgmajfault" : "total_pgmajfault").value_or(0);
  auto limit = ReadU64(mem_dir + (v2_ ? "/memory.max" : "/memory.limit_in_bytes"));
  if (limit && *limit < kV1Unlimited) s.memory.limit_bytes = *limit;
  return s;
}

Result<NodeCpu> ParseProcStat(const std::string& text, long ticks_per_second) {
  if (ticks_per_second <= 0) return InvalidError("bad USER_HZ");
  NodeCpu out;
  bool have_cpu = false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "cpu") {
      // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
      uint64_t v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (auto& x : v)
        if (!(ls >> x)) break;
      uint64_t ticks = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
      out.usage_core_ns = ticks * (1000000000ULL / static_cast<uint64_t>(ticks_per_second));
      have_cpu = true;
    } else if (key == "btime") {
      ls >> out.boot_time;
    }
  }
  if (!have_cpu) return InternalError("/proc/stat has no cpu line");
  return out;
}

Result<NodeMemory> ParseMeminfo(const std::string& text) {
  // Lines are "Key:   value kB".
  std::map<std::string, uint64_t> kb;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    kb[line.substr(0, colon)] = std::strtoull(line.c_str() + colon + 1, nullptr, 10) * 1024;
  }
  auto get = [&](const char* k) -> std::optional<uint64_t> {
    auto it = kb.find(k);
    if (it == kb.end()) return std::nullopt;
    return it->second;
  };
  NodeMemory m;
  auto total = get("MemTotal"), free = get("MemFree");
  if (!total || !free) return InternalError("/proc/meminfo lacks MemTotal/MemFree");
  m.total_bytes = *total;
  m.usage_bytes = *total > *free ? *total - *free : 0;
  uint64_t inactive_file = get("Inactive(file)").value_or(0);
  m.working_set_bytes = m.usage_bytes > inactive_file ? m.usage_bytes - inactive_file : 0;
  m.rss_bytes = get("AnonPages").value_or(0);
  m.available_bytes = m.total_bytes - m.working_set_bytes;
  return m;
}

std::vector<InterfaceStats> ParseNetDev(const std::string& text, bool skip_virtual) {
  std::vector<InterfaceStats> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;  // the two header lines
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name.empty() || name == "lo") continue;
    if (skip_virtual) {
      bool skip = false;
      for (const char* p : {"veth", "docker", "cni", "tug", "flannel", "virbr", "br-"})
        skip |= name.rfind(p, 0) == 0;
      if (skip) continue;
    }
    // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets errs ...
    std::istringstream fs(line.substr(colon + 1));
    uint64_t f[16] = {};
    for (auto& x : f)
      if (!(fs >> x)) break;
    out.push_back(InterfaceStats{name, f[0], f[2], f[8], f[10]});
  }
  return out;
}

Result<FsSample> StatFs(const std::string& path) {
  struct statvfs v;
  if (::statvfs(path.c_str(), &v) != 0) {
    if (errno == ENOENT) return NotFoundError(path + " not found");
    return InternalError("statvfs " + path + ": " + std::strerror(errno));
  }
  FsSample s;
  uint64_t bs = v.f_frsize ? v.f_frsize : v.f_bsize;
  s.capacity_bytes = static_cast<uint64_t>(v.f_blocks) * bs;
  s.available_bytes = static_cast<uint64_t>(v.f_bavail) * bs;
  s.used_bytes = static_cast<uint64_t>(v.f_blocks - v.f_bfree) * bs;
  s.inodes = v.f_files;
  s.inodes_free = v.f_ffree;
  s.inodes_used = v.f_files >= v.f_ffree ? v.f_files - v.f_ffree : 0;
  return s;
}

}  // namespace tug::kubelet::stats
