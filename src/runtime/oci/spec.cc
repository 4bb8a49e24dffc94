#include "runtime/oci/spec.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <sstream>

#include "runtime/oci/sys.h"

namespace tug::runtime {

const std::vector<std::string>& DefaultCapabilities() {
  // containerd's default set (CRI-O's minus the four it later dropped).
  static const std::vector<std::string> k = {
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",  "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",     "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",   "CAP_AUDIT_WRITE"};
  return k;
}

const std::vector<std::string>& AllCapabilities() {
  static const std::vector<std::string> k = {
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
      "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
      "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
      "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
      "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
      "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
      "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
      "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
      "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
  return k;
}

namespace {
std::string CapName(std::string c) {
  std::transform(c.begin(), c.end(), c.begin(), ::toupper);
  if (c.rfind("CAP_", 0) != 0) c = "CAP_" + c;
  return c;
}
}  // namespace

std::vector<std::string> EffectiveCapabilities(const SecurityContext& s) {
  if (s.privileged) return AllCapabilities();
  std::vector<std::string> caps = DefaultCapabilities();
  auto has_all = [](const std::vector<std::string>& v) {
    return std::any_of(v.begin(), v.end(), [](const std::string& x) {
      std::string u = x;
      std::transform(u.begin(), u.end(), u.begin(), ::toupper);
      return u == "ALL";
    });
  };
  // Upstream order: drop first, then add (so "drop ALL, add NET_BIND_SERVICE" works).
  if (has_all(s.capabilities_drop)) {
    caps.clear();
  } else {
    for (const auto& d : s.capabilities_drop) {
      std::string n = CapName(d);
      caps.erase(std::remove(caps.begin(), caps.end(), n), caps.end());
    }
  }
  if (has_all(s.capabilities_add)) return AllCapabilities();
  for (const auto& a : s.capabilities_add) {
    std::string n = CapName(a);
    if (std::find(caps.begin(), caps.end(), n) == caps.end()) caps.push_back(n);
  }
  return caps;
}

std::vector<std::string> ResolveArgv(const ContainerConfig& c) {
  std::vector<std::string> argv;
  if (!c.command.empty()) {
    argv = c.command;
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    return argv;
  }
  argv = c.image_config.entrypoint;
  const auto& rest = c.args.empty() ? c.image_config.cmd : c.args;
  argv.insert(argv.end(), rest.begin(), rest.end());
  return argv;
}

std::vector<std::string> MergeEnv(const ContainerConfig& c, const std::string& hostname) {
  std::vector<std::string> out;
  auto set = [&out](const std::string& k, const std::string& v) {
    for (auto& e : out)
      if (e.compare(0, k.size() + 1, k + "=") == 0) { e = k + "=" + v; return; }
    out.push_back(k + "=" + v);
  };
  set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (const auto& e : c.image_config.env) {
    auto eq = e.find('=');
    if (eq == std::string::npos) continue;
    set(e.substr(0, eq), e.substr(eq + 1));
  }
  if (!hostname.empty()) set("HOSTNAME", hostname);
  for (const auto& [k, v] : c.env) set(k, v);
  return out;
}

namespace {

// Reads a file inside rootfs without following links out of it.
Result<std::string> ReadInRoot(const std::string& rootfs, const std::string& rel) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return InternalError(ErrnoMessage("open " + rootfs));
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, root.get(), rel.c_str(), &how, sizeof(how)));
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(rel + " not found in rootfs");
    return InternalError(ErrnoMessage("open " + rel + " in rootfs"));
  }
  UniqueFd f(fd);
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(f.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > (4 << 20)) break;
  }
  return data;
}

std::vector<std::vector<std::string>> ColonFile(const std::string& data) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(data);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::string cur;
    for (char ch : line) {
      if (ch == ':') { f.push_back(cur); cur.clear(); } else cur.push_back(ch);
    }
    f.push_back(cur);
    rows.push_back(std::move(f));
  }
  return rows;
}

bool ParseId(const std::string& s, uint32_t* out) {
  if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), ::isdigit)) return false;
  uint64_t v = std::stoull(s);
  if (v > 0xffffffffULL) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

Result<ProcessUser> ResolveUser(const std::string& rootfs, const ContainerConfig& c) {
  ProcessUser u;
  std::string user_part = c.image_config.user, group_part;
  if (auto colon = user_part.find(':'); colon != std::string::npos) {
    group_part = user_part.substr(colon + 1);
    user_part = user_part.substr(0, colon);
  }
  auto passwd_data = ReadInRoot(rootfs, "etc/passwd");
  auto passwd = passwd_data.ok() ? ColonFile(*passwd_data) : std::vector<std::vector<std::string>>{};
  auto group_data = ReadInRoot(rootfs, "etc/group");
  auto groups = group_data.ok() ? ColonFile(*group_data) : std::vector<std::vector<std::string>>{};

  std::string username;
  bool have_primary_gid = false;
  if (c.security.run_as_user) {
    if (*c.security.run_as_user < 0 || *c.security.run_as_user > 0xffffffffLL)
      return InvalidError("runAsUser out of range");
    u.uid = static_cast<uint32_t>(*c.security.run_as_user);
  } else if (!user_part.empty() && !ParseId(user_part, &u.uid)) {
    bool found = false;
    for (const auto& row : passwd)
      if (row.size() >= 4 && row[0] == user_part && ParseId(row[2], &u.uid)) {
        found = ParseId(row[3], &u.gid);
        have_primary_gid = found;
        found = true;
        break;
      }
    if (!found) return InvalidError("unable to find user " + user_part + ": no matching entries in passwd file");
  }
  for (const auto& row : passwd) {
    uint32_t id;
    if (row.size() >= 4 && ParseId(row[2], &id) && id == u.uid) {
      username = row[0];
      if (!have_primary_gid) have_primary_gid = ParseId(row[3], &u.gid);
      break;
    }
  }
  if (c.security.run_as_group) {
    if (*c.security.run_as_group < 0 || *c.security.run_as_group > 0xffffffffLL)
      return InvalidError("runAsGroup out of range");
    u.gid = static_cast<uint32_t>(*c.security.run_as_group);
  } else if (!group_part.empty() && !ParseId(group_part, &u.gid)) {
    bool found = false;
    for (const auto& row : groups)
      if (row.size() >= 3 && row[0] == group_part && ParseId(row[2], &u.gid)) { found = true; break; }
    if (!found) return InvalidError("unable to find group " + group_part + ": no matching entries in group file");
  } else if (!have_primary_gid && group_part.empty()) {
    u.gid = 0;
  }
  std::set<uint32_t> extra;
  if (!username.empty()) {
    for (const auto& row : groups) {
      if (row.size() < 4) continue;
      std::istringstream members(row[3]);
      std::string m;
      uint32_t gid;
      while (std::getline(members, m, ','))
        if (m == username && ParseId(row[2], &gid)) extra.insert(gid);
    }
  }
  for (int64_t g : c.security.supplemental_groups)
    if (g >= 0 && g <= 0xffffffffLL) extra.insert(static_cast<uint32_t>(g));
  u.additional_gids.assign(extra.begin(), extra.end());
  return u;
}

namespace {

Json MountJson(const std::string& dest, const std::string& type, const std::string& source,
               std::vector<std::string> options) {
  return Json{{"destination", dest}, {"type", type}, {"source", source}, {"options", options}};
}

}  // namespace

Result<Json> BuildSpec(const SpecInput& in) {
  if (!in.container || !in.sandbox) return InvalidError("spec: missing container or sandbox");
  const ContainerConfig& c = *in.container;
  const PodSandboxConfig& sb = *in.sandbox;
  const bool priv = c.security.privileged;

  std::vector<std::string> argv = ResolveArgv(c);
  if (argv.empty()) return InvalidError("no command specified");
  std::string cwd = !c.working_dir.empty() ? c.working_dir
                    : !c.image_config.working_dir.empty() ? c.image_config.working_dir : "/";
  if (cwd[0] != '/') return InvalidError("workingDir must be an absolute path: " + cwd);
  if (cwd.rfind("/proc/self/fd", 0) == 0 || cwd.rfind("/proc/thread-self/fd", 0) == 0)
    return InvalidError("workingDir must not be under /proc/self/fd: " + cwd);

  Json process = {
      {"terminal", c.tty},
      {"user", {{"uid", in.user.uid}, {"gid", in.user.gid}}},
      {"args", argv},
      {"env", MergeEnv(c, sb.hostname)},
      {"cwd", cwd},
  };
  if (!in.user.additional_gids.empty()) process["user"]["additionalGids"] = in.user.additional_gids;
  auto caps = EffectiveCapabilities(c.security);
  process["capabilities"] = {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
  if (c.security.allow_privilege_escalation && !*c.security.allow_privilege_escalation && !priv)
    process["noNewPrivileges"] = true;
  if (c.resources.oom_score_adj != 0) process["oomScoreAdj"] = c.resources.oom_score_adj;

  Json mounts = Json::array();
  mounts.push_back(MountJson("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(MountJson("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}));
  mounts.push_back(MountJson("/dev/pts", "devpts", "devpts",
                             {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}));
  mounts.push_back(MountJson("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(MountJson("/sys", "sysfs", "sysfs",
                             {"nosuid", "noexec", "nodev", priv ? "rw" : "ro"}));
  mounts.push_back(MountJson("/sys/fs/cgroup", "cgroup", "cgroup",
                             {"nosuid", "noexec", "nodev", "relatime", priv ? "rw" : "ro"}));
  if (!in.shm_path.empty())
    mounts.push_back(MountJson("/dev/shm", "bind", in.shm_path, {"rbind", "rprivate", "rw"}));
  else
    mounts.push_back(MountJson("/dev/shm", "tmpfs", "shm",
                               {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}));
  for (const auto& m : c.mounts) {
    if (m.destination.empty() || m.destination[0] != '/')
      return InvalidError("mount destination must be absolute: " + m.destination);
    // A caller mount replaces a default at the same place.
    for (auto it = mounts.begin(); it != mounts.end();) {
      if ((*it)["destination"] == m.destination) it = mounts.erase(it); else ++it;
    }
    if (m.type == Mount::Type::kTmpfs) {
      std::vector<std::string> opts = {"nosuid", "nodev", "mode=1777"};
      if (m.tmpfs_size_bytes > 0) opts.push_back("size=" + std::to_string(m.tmpfs_size_bytes));
      if (m.read_only) opts.push_back("ro");
      mounts.push_back(MountJson(m.destination, "tmpfs", "tmpfs", opts));
    } else {
      std::string prop = m.propagation == "rshared" || m.propagation == "shared" ? "rshared"
                         : m.propagation == "rslave" || m.propagation == "slave" ? "rslave"
                                                                                : "rprivate";
      mounts.push_back(MountJson(m.destination, "bind", m.source,
                                 {"rbind", prop, m.read_only ? "ro" : "rw"}));
    }
  }

  Json namespaces = Json::array({{{"type", "pid"}}, {{"type", "mount"}}});
  if (!in.netns_path.empty()) namespaces.push_back({{"type", "network"}, {"path", in.netns_path}});
  if (!in.ipcns_path.empty()) namespaces.push_back({{"type", "ipc"}, {"path", in.ipcns_path}});
  if (!in.utsns_path.empty()) namespaces.push_back({{"type", "uts"}, {"path", in.utsns_path}});
  if (in.cgroup_namespace && !priv) namespaces.push_back({{"type", "cgroup"}});

  Json resources = Json::object();
  resources["devices"] = Json::array({{{"allow", priv}, {"access", "rwm"}}});
  Json cpu = Json::object();
  if (c.resources.cpu_shares) cpu["shares"] = c.resources.cpu_shares;
  if (c.resources.cpu_quota_us > 0) {
    cpu["quota"] = c.resources.cpu_quota_us;
    cpu["period"] = c.resources.cpu_period_us ? c.resources.cpu_period_us : 100000;
  }
  if (!cpu.empty()) resources["cpu"] = cpu;
  if (c.resources.memory_limit_bytes > 0)
    resources["memory"] = {{"limit", c.resources.memory_limit_bytes}};

  Json linux = {
      {"namespaces", namespaces},
      {"resources", resources},
      {"cgroupsPath", in.cgroups_path},
  };
  if (!priv) {
    linux["maskedPaths"] = {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                            "/sys/devices/virtual/powercap"};
    linux["readonlyPaths"] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"};
  }
  if (!sb.sysctls.empty()) linux["sysctl"] = sb.sysctls;

  Json spec = {
      {"ociVersion", "1.0.2-dev"},
      {"process", process},
      {"root", {{"path", "rootfs"}, {"readonly", c.security.read_only_rootfs}}},
      {"mounts", mounts},
      {"linux", linux},
  };
  if (!in.utsns_path.empty() && !sb.hostname.empty()) spec["hostname"] = sb.hostname;
  Json ann = Json::object();
  for (const auto& [k, v] : c.annotations) ann[k] = v;
  if (!ann.empty()) spec["annotations"] = ann;
  return spec;
}

}  // namespace tug::runtime
