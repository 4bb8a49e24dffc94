#include "runtime/oci/runtime_impl.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <map>
#include <set>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "base/json.h"
#include "base/log.h"
#include "runtime/oci/cgroups.h"
#include "runtime/oci/namespaces.h"
#include "runtime/oci/spec.h"
#include "runtime/oci/sys.h"

namespace tug::runtime {

namespace {

constexpr const char* kLog = "runtime";
constexpr const char* kMonitorLost = "monitor-lost";  // bundle file: why the exit file is tug's
constexpr const char* kStartError = "start-error";    // bundle file: runc start failed (its message)

int64_t ToNanos(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
SystemTime FromNanos(int64_t n) {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(std::chrono::nanoseconds(n)));
}

Json StringMap(const std::map<std::string, std::string>& m) {
  Json j = Json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}
std::map<std::string, std::string> ReadStringMap(const Json& j, const char* key) {
  std::map<std::string, std::string> m;
  if (auto* o = Find(j, key); o && o->is_object())
    for (auto it = o->begin(); it != o->end(); ++it)
      if (it.value().is_string()) m[it.key()] = it.value().get<std::string>();
  return m;
}
std::vector<std::string> ReadStrings(const Json& j, const char* key) {
  std::vector<std::string> v;
  if (auto* a = Find(j, key); a && a->is_array())
    for (const auto& e : *a)
      if (e.is_string()) v.push_back(e.get<std::string>());
  return v;
}
template <typename T>
T Num(const Json& j, const char* key, T def = 0) {
  if (auto* v = Find(j, key); v && v->is_number()) return v->get<T>();
  return def;
}

Json ResourcesJson(const Resources& r) {
  return {{"cpuShares", r.cpu_shares}, {"cpuQuota", r.cpu_quota_us},
          {"cpuPeriod", r.cpu_period_us}, {"memoryLimit", r.memory_limit_bytes},
          {"oomScoreAdj", r.oom_score_adj}};
}
Resources ResourcesFrom(const Json& j) {
  Resources r;
  r.cpu_shares = Num<uint64_t>(j, "cpuShares");
  r.cpu_quota_us = Num<int64_t>(j, "cpuQuota");
  r.cpu_period_us = Num<uint64_t>(j, "cpuPeriod");
  r.memory_limit_bytes = Num<int64_t>(j, "memoryLimit");
  r.oom_score_adj = Num<int64_t>(j, "oomScoreAdj");
  return r;
}

Json PortsJson(const std::vector<PortMapping>& ports) {
  Json a = Json::array();
  for (const auto& p : ports)
    a.push_back({{"protocol", p.protocol}, {"containerPort", p.container_port},
                 {"hostPort", p.host_port}, {"hostIP", p.host_ip}});
  return a;
}
std::vector<PortMapping> PortsFrom(const Json& j) {
  std::vector<PortMapping> out;
  if (!j.is_array()) return out;
  for (const auto& e : j) {
    PortMapping p;
    p.protocol = GetString(e, "protocol", "TCP");
    p.container_port = Num<int32_t>(e, "containerPort");
    p.host_port = Num<int32_t>(e, "hostPort");
    p.host_ip = GetString(e, "hostIP");
    out.push_back(p);
  }
  return out;
}

Json SandboxConfigJson(const PodSandboxConfig& c) {
  return {{"uid", c.uid}, {"name", c.name}, {"namespace", c.namespace_}, {"attempt", c.attempt},
          {"hostname", c.hostname},
          {"dns", {{"servers", c.dns.servers}, {"searches", c.dns.searches}, {"options", c.dns.options}}},
          {"portMappings", PortsJson(c.port_mappings)}, {"cgroupParent", c.cgroup_parent},
          {"resources", ResourcesJson(c.resources)}, {"labels", StringMap(c.labels)},
          {"annotations", StringMap(c.annotations)}, {"sysctls", StringMap(c.sysctls)},
          {"hostNetwork", c.host_network}, {"hostIPC", c.host_ipc}, {"shmSize", c.shm_size_bytes}};
}
PodSandboxConfig SandboxConfigFrom(const Json& j) {
  PodSandboxConfig c;
  c.uid = GetString(j, "uid");
  c.name = GetString(j, "name");
  c.namespace_ = GetString(j, "namespace");
  c.attempt = Num<uint32_t>(j, "attempt");
  c.hostname = GetString(j, "hostname");
  if (auto* d = Find(j, "dns")) {
    c.dns.servers = ReadStrings(*d, "servers");
    c.dns.searches = ReadStrings(*d, "searches");
    c.dns.options = ReadStrings(*d, "options");
  }
  if (auto* p = Find(j, "portMappings")) c.port_mappings = PortsFrom(*p);
  c.cgroup_parent = GetString(j, "cgroupParent", "/tug");
  if (auto* r = Find(j, "resources")) c.resources = ResourcesFrom(*r);
  c.labels = ReadStringMap(j, "labels");
  c.annotations = ReadStringMap(j, "annotations");
  c.sysctls = ReadStringMap(j, "sysctls");
  if (auto* v = Find(j, "hostNetwork"); v && v->is_boolean()) c.host_network = v->get<bool>();
  if (auto* v = Find(j, "hostIPC"); v && v->is_boolean()) c.host_ipc = v->get<bool>();
  c.shm_size_bytes = Num<int64_t>(j, "shmSize", 64 << 20);
  return c;
}

int ParseSignal(const std::string& s) {
  if (s.empty()) return SIGTERM;
  if (std::all_of(s.begin(), s.end(), ::isdigit)) return std::stoi(s);
  std::string n = s;
  std::transform(n.begin(), n.end(), n.begin(), ::toupper);
  if (n.rfind("SIG", 0) == 0) n = n.substr(3);
  static const std::map<std::string, int> k = {
      {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},   {"QUIT", SIGQUIT},
      {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH},
      {"STOP", SIGSTOP}, {"PWR", SIGPWR}};
  auto it = k.find(n);
  return it == k.end() ? SIGTERM : it->second;
}

bool ValidId(const std::string& id) {
  return !id.empty() && id.size() <= 64 &&
         std::all_of(id.begin(), id.end(), [](char c) { return std::isxdigit(c) && !std::isupper(c); });
}

// A pidfd for `pid` if it is still the process started at `start_time`.
UniqueFd OpenPidfd(int pid, uint64_t start_time) {
  if (pid <= 0) return UniqueFd();
  UniqueFd fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) return fd;
  // Checked after opening: if the pid was reused before pidfd_open we see another start time.
  if (!ProcessAlive(pid, start_time)) return UniqueFd();
  return fd;
}

bool WaitPidfd(int pidfd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    pollfd p{pidfd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    int r = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

template <typename Pred>
bool PollUntil(std::chrono::milliseconds timeout, Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delay = std::chrono::milliseconds(1);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(50));
  }
  return true;
}

// A streaming exec: runc exec with pipes or a pty.
class ExecSessionImpl : public ExecSession {
 public:
  ExecSessionImpl(pid_t pid, UniqueFd in, UniqueFd out, UniqueFd err, bool tty)
      : pid_(pid), in_(std::move(in)), out_(std::move(out)), err_(std::move(err)), tty_(tty) {}
  ~ExecSessionImpl() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      (void)WaitPid(pid_);
    }
  }
  int stdin_fd() const override { return tty_ ? out_.get() : in_.get(); }
  int stdout_fd() const override { return out_.get(); }
  int stderr_fd() const override { return err_.get(); }
  void CloseStdin() override {
    if (tty_) {
      char eot = 4;  // ^D ends input of a line-disciplined terminal
      (void)!::write(out_.get(), &eot, 1);
    } else {
      in_.Reset();
    }
  }
  Status Resize(uint16_t rows, uint16_t cols) override {
    if (!tty_) return BadRequestError("exec session has no terminal");
    winsize ws{rows, cols, 0, 0};
    if (ioctl(out_.get(), TIOCSWINSZ, &ws) != 0) return InternalError(ErrnoMessage("TIOCSWINSZ"));
    return Status::Ok();
  }
  Result<int> Wait() override {
    if (pid_ <= 0) return InternalError("already waited");
    ASSIGN_OR_RETURN(int st, WaitPid(pid_));
    pid_ = -1;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
  }

 private:
  pid_t pid_;
  UniqueFd in_, out_, err_;
  bool tty_;
};

class OciRuntime : public Runtime {
 public:
  OciRuntime(RuntimeOptions o, std::unique_ptr<PodNetwork> net)
      : o_(std::move(o)), net_(std::move(net)), cg_(o_.cgroup_mount),
        clock_(o_.clock ? o_.clock : &RealClock()) {}
  ~OciRuntime() override {
    // Background network setups finish (and their threads are joined) before net_ goes.
    std::map<std::string, std::shared_future<Status>> pending;
    {
      std::lock_guard<std::mutex> l(net_mu_);
      pending.swap(pending_net_);
    }
    for (auto& [id, f] : pending) f.wait();
  }

  Status Init() {
    for (const char* d : {"sandboxes", "containers", "exits", "runc", "sockets"})
      RETURN_IF_ERROR(MakeDirs(o_.state_dir + "/" + d, 0711));
    RETURN_IF_ERROR(MakeDirs(o_.storage_dir + "/containers", 0711));
    if (access(o_.runc_path.c_str(), X_OK) != 0) return InvalidError("runc not found at " + o_.runc_path);
    if (access(o_.conmon_path.c_str(), X_OK) != 0) return InvalidError("conmon not found at " + o_.conmon_path);
    TUG_LOG(INFO, kLog) << "runtime ready" << kv("state", o_.state_dir)
                        << kv("cgroup", cg_.version() == CgroupVersion::kV2 ? "v2" : "v1");
    return Status::Ok();
  }

  Result<RuntimeVersion> Version() override {
    ASSIGN_OR_RETURN(auto r, RunCommand({o_.runc_path, "--version"}, std::chrono::seconds(10)));
    RuntimeVersion v;
    std::istringstream in(r.out);
    std::string w;
    in >> w >> w >> v.runtime_version;  // "runc version X"
    return v;
  }

  // ------------------------------------------------------------------ sandboxes

  Result<std::string> RunPodSandbox(const PodSandboxConfig& config) override {
    std::string id = RandomHex(32);
    std::string uid = config.uid.empty() ? id : config.uid;
    if (uid.find('/') != std::string::npos || uid.find("..") != std::string::npos)
      return InvalidError("invalid pod uid " + uid);
    auto lock = Lock(id);
    SandboxRecord rec;
    rec.id = id;
    rec.config = config;
    rec.created_at = clock_->Now();
    std::string parent = config.cgroup_parent.empty() ? "/tug" : config.cgroup_parent;
    if (parent.front() != '/') parent = "/" + parent;
    rec.cgroup = parent + "/pod" + uid;
    RETURN_IF_ERROR(MakeDirs(SandboxDir(id), 0711));
    // Recorded before anything is created, so a crash in between leaves a record to clean.
    RETURN_IF_ERROR(SaveSandbox(rec));
    Status st = SetUpSandbox(rec);
    if (!st.ok()) {
      TUG_LOG(WARNING, kLog) << "sandbox setup failed" << kv("id", id) << kv("err", st.ToString());
      RemoveSandboxLocked(id).IgnoreError();
      return st;
    }
    TUG_VLOG(2, kLog) << "sandbox ready" << kv("pod", config.namespace_ + "/" + config.name)
                      << kv("id", id) << kv("ip", rec.ip);
    return id;
  }

  Status StopPodSandbox(const std::string& id, std::chrono::seconds timeout) override {
    if (!ValidId(id)) return NotFoundError("sandbox " + id + " not found");
    auto lock = Lock(id);
    return StopSandboxLocked(id, timeout);
  }

  Status RemovePodSandbox(const std::string& id) override {
    if (!ValidId(id)) return NotFoundError("sandbox " + id + " not found");
    auto lock = Lock(id);
    Status st = RemoveSandboxLocked(id);
    if (st.ok()) Forget(id);
    return st;
  }

  Result<PodSandboxStatus> PodSandboxStatusOf(const std::string& id) override {
    if (!ValidId(id)) return NotFoundError("sandbox " + id + " not found");
    AwaitNetwork(id).IgnoreError();  // the IP, or NotReady when the network failed
    ASSIGN_OR_RETURN(auto rec, LoadSandbox(id));
    return ToStatus(rec);
  }

  Status WaitPodSandboxNetwork(const std::string& id) override {
    if (!ValidId(id)) return NotFoundError("sandbox " + id + " not found");
    return AwaitNetwork(id);
  }

  Result<std::vector<PodSandboxStatus>> ListPodSandboxes() override {
    std::vector<PodSandboxStatus> out;
    for (const auto& id : ListDir(o_.state_dir + "/sandboxes")) {
      auto rec = LoadSandbox(id);
      if (rec.ok()) out.push_back(ToStatus(*rec));
    }
    return out;
  }

  // ------------------------------------------------------------------ containers

  Result<std::string> CreateContainer(const std::string& sandbox_id,
                                      const ContainerConfig& config) override {
    if (!ValidId(sandbox_id)) return NotFoundError("sandbox " + sandbox_id + " not found");
    if (config.rootfs_lowerdirs.empty()) return InvalidError("container has no rootfs layers");
    for (const auto& l : config.rootfs_lowerdirs)
      if (l.empty() || l[0] != '/' || l.find_first_of(":,") != std::string::npos)
        return InvalidError("invalid layer directory " + l);
    auto lock = Lock(sandbox_id);
    ASSIGN_OR_RETURN(auto sb, LoadSandbox(sandbox_id));
    if (!sb.ready) return InvalidError("sandbox " + sandbox_id + " is not ready");

    ContainerRecord c;
    c.id = RandomHex(32);
    c.sandbox_id = sandbox_id;
    c.name = config.name;
    c.attempt = config.attempt;
    c.image = config.image;
    c.log_path = config.log_path;
    c.labels = config.labels;
    c.annotations = config.annotations;
    c.created_at = clock_->Now();
    c.stop_signal = config.image_config.stop_signal;
    c.cgroup = sb.cgroup + "/" + c.id;
    c.tty = config.tty;
    c.stdin_once = config.stdin_once;
    auto clock = Lock(c.id);
    RETURN_IF_ERROR(MakeDirs(Bundle(c.id), 0711));
    RETURN_IF_ERROR(SaveContainer(c));  // first, so a crash leaves a record to clean
    Status st = CreateContainerLocked(sb, c, config);
    if (!st.ok()) {
      TUG_LOG(WARNING, kLog) << "create container failed" << kv("name", config.name)
                             << kv("err", st.ToString());
      RemoveContainerLocked(c.id).IgnoreError();
      if (auto why = ProcessStartFailure(st)) {
        // runc sets the process up at create: a missing executable or a bad working dir fails
        // there. Like containerd, report it as the start failing (Exited 128, StartError) so
        // the kubelet shows RunContainerError and restarts per policy with back-off; the
        // record is kept (no rootfs, no process) until the kubelet removes it.
        c.created = false;
        Status kept = MakeDirs(Bundle(c.id), 0711);
        if (kept.ok()) kept = SaveContainer(c);
        if (kept.ok()) kept = WriteFileAtomic(Bundle(c.id) + "/" + kStartError, *why);
        if (kept.ok()) kept = WriteFileAtomic(ExitFile(c.id), "128");
        if (kept.ok()) return c.id;
        RemoveContainerLocked(c.id).IgnoreError();
      }
      return st;
    }
    TUG_VLOG(2, kLog) << "container created" << kv("name", config.name) << kv("id", c.id)
                      << kv("pid", c.pid);
    return c.id;
  }

  Status StartContainer(const std::string& id) override {
    if (!ValidId(id)) return NotFoundError("container " + id + " not found");
    auto lock = Lock(id);
    ASSIGN_OR_RETURN(auto c, LoadContainer(id));
    if (c.started) return InvalidError("container " + id + " already started");
    if (auto failed = ReadFile(Bundle(id) + "/" + kStartError); failed.ok()) return InternalError(*failed);
    // The pod's network may still be coming up (network_in_background): the process must not
    // run before its interfaces exist.
    if (Status net = AwaitNetwork(c.sandbox_id); !net.ok())
      return Status(net.code(), "pod network: " + net.message());
    // Taken before runc start: the process may run and exit before runc returns.
    SystemTime started_at = clock_->Now();
    ASSIGN_OR_RETURN(auto r, RunCommand(Runc({"start", id}), std::chrono::seconds(60)));
    if (r.exit_code != 0) {
      std::string why = Trim(r.err.empty() ? r.out : r.err);
      if (why.empty())
        why = r.signal ? "killed by signal " + std::to_string(r.signal) : "exit status " + std::to_string(r.exit_code);
      // Never leave a container that will not start waiting in "created": end runc's init and
      // report the container exited (128, StartError, as containerd does), so the kubelet
      // restarts it per restartPolicy instead of waiting for it forever.
      why = "runc start: " + why;
      Status marked = WriteFileAtomic(Bundle(id) + "/" + kStartError, why);
      if (!marked.ok()) TUG_LOG(WARNING, kLog) << "record start error" << kv("id", id) << kv("err", marked.ToString());
      StopContainerLocked(id, std::chrono::seconds(0)).IgnoreError();
      return InternalError(why);
    }
    c.started = true;
    c.started_at = started_at;
    return SaveContainer(c);
  }

  Status StopContainer(const std::string& id, std::chrono::seconds timeout) override {
    if (!ValidId(id)) return NotFoundError("container " + id + " not found");
    auto lock = Lock(id);
    return StopContainerLocked(id, timeout);
  }

  bool ShortenStop(const std::string& id, std::chrono::seconds timeout) override {
    std::lock_guard<std::mutex> l(stops_mu_);
    TightenStopDeadlineLocked(id, std::chrono::steady_clock::now() + std::max(timeout, std::chrono::seconds(0)));
    return stopping_.count(id) > 0;
  }

  // Under stops_mu_: the SIGKILL deadline of `id`'s stop becomes `deadline`, unless it is
  // already earlier.
  void TightenStopDeadlineLocked(const std::string& id, std::chrono::steady_clock::time_point deadline) {
    auto [it, added] = stop_deadlines_.try_emplace(id, deadline);
    if (!added) it->second = std::min(it->second, deadline);
  }

  Status RemoveContainer(const std::string& id) override {
    if (!ValidId(id)) return NotFoundError("container " + id + " not found");
    auto lock = Lock(id);
    Status st = RemoveContainerLocked(id);
    if (st.ok()) Forget(id);
    std::lock_guard<std::mutex> l(stops_mu_);
    stop_deadlines_.erase(id);  // a ShortenStop for a stop that never waited
    return st;
  }

  Result<ContainerStatus> ContainerStatusOf(const std::string& id) override {
    if (!ValidId(id)) return NotFoundError("container " + id + " not found");
    ASSIGN_OR_RETURN(auto c, LoadContainer(id));
    SettleLostMonitor(c);
    return ToStatus(c);
  }

  Result<std::vector<ContainerStatus>> ListContainers(const std::string& sandbox_id) override {
    std::vector<ContainerStatus> out;
    for (const auto& id : ListDir(o_.state_dir + "/containers")) {
      auto c = LoadContainer(id);
      if (!c.ok()) continue;
      if (!sandbox_id.empty() && c->sandbox_id != sandbox_id) continue;
      SettleLostMonitor(*c);
      out.push_back(ToStatus(*c));
    }
    return out;
  }

  Result<ResourceStats> ContainerStatsOf(const std::string& id) override {
    if (!ValidId(id)) return NotFoundError("container " + id + " not found");
    ASSIGN_OR_RETURN(auto c, LoadContainer(id));
    return StatsOf(c.cgroup);
  }

  Result<ResourceStats> PodSandboxStatsOf(const std::string& id) override {
    if (!ValidId(id)) return NotFoundError("sandbox " + id + " not found");
    ASSIGN_OR_RETURN(auto rec, LoadSandbox(id));
    return StatsOf(rec.cgroup);
  }

  // ------------------------------------------------------------------ exec / attach

  Result<ExecResult> ExecSync(const std::string& id, const std::vector<std::string>& cmd,
                              std::chrono::milliseconds timeout) override {
    if (!ValidId(id)) return NotFoundError("container " + id + " not found");
    if (cmd.empty()) return InvalidError("exec: empty command");
    ASSIGN_OR_RETURN(auto c, LoadContainer(id));
    if (ToStatus(c).state != ContainerState::kRunning)
      return InvalidError("container " + id + " is not running");
    std::string pidfile = Bundle(id) + "/exec-" + RandomHex(6) + ".pid";
    std::vector<std::string> args = {"exec", "--pid-file", pidfile, id};
    args.insert(args.end(), cmd.begin(), cmd.end());
    auto r = RunCommand(Runc(args), timeout);
    auto pid_text = ReadFile(pidfile);
    ::unlink(pidfile.c_str());
    if (!r.ok()) return r.status();
    ExecResult out;
    out.stdout_data = std::move(r->out);
    out.stderr_data = std::move(r->err);
    out.exit_code = r->exit_code >= 0 ? r->exit_code : 128 + r->signal;
    if (r->timed_out) {
      // runc was killed; the process it started inside the container must not outlive the probe.
      if (pid_text.ok()) {
        int pid = std::atoi(pid_text->c_str());
        if (pid > 0) kill(pid, SIGKILL);
      }
      out.timed_out = true;
      out.exit_code = -1;
    }
    return out;
  }

  Result<std::unique_ptr<ExecSession>> Exec(const std::string& id, const ExecOptions& opt) override {
    if (!ValidId(id)) return NotFoundError("container " + id + " not found");
    if (opt.cmd.empty()) return InvalidError("exec: empty command");
    ASSIGN_OR_RETURN(auto c, LoadContainer(id));
    if (ToStatus(c).state != ContainerState::kRunning)
      return InvalidError("container " + id + " is not running");
    if (opt.tty) return ExecTty(id, opt);
    int in[2] = {-1, -1}, out[2], err[2];
    if ((opt.stdin && pipe2(in, O_CLOEXEC)) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
      return InternalError(ErrnoMessage("pipe2"));
    UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
    std::vector<std::string> args = {"exec", id};
    args.insert(args.end(), opt.cmd.begin(), opt.cmd.end());
    SpawnOptions so;
    so.argv = Runc(args);
    so.stdin_fd = in_r.get();
    so.stdout_fd = out_w.get();
    so.stderr_fd = err_w.get();
    ASSIGN_OR_RETURN(pid_t pid, Spawn(so));
    return std::unique_ptr<ExecSession>(std::make_unique<ExecSessionImpl>(
        pid, std::move(in_w), std::move(out_r), std::move(err_r), false));
  }

  Result<AttachConnection> Attach(const std::string& id) override {
    if (!ValidId(id)) return NotFoundError("container " + id + " not found");
    ASSIGN_OR_RETURN(auto c, LoadContainer(id));
    // Connect through /proc/self/fd to stay within sun_path's 108 bytes for long state dirs.
    UniqueFd dir(::open(Bundle(id).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return InternalError(ErrnoMessage("open bundle"));
    std::string path = "/proc/self/fd/" + std::to_string(dir.get()) + "/attach";
    UniqueFd s(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!s) return InternalError(ErrnoMessage("socket"));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      return InternalError(ErrnoMessage("connect attach socket"));
    return AttachConnection{s.Release(), c.tty, c.stdin_once};
  }

  Status ResizeContainerTerminal(const std::string& id, uint16_t rows, uint16_t cols) override {
    return WriteCtl(id, "1 " + std::to_string(rows) + " " + std::to_string(cols) + "\n");
  }
  Status ReopenContainerLog(const std::string& id) override { return WriteCtl(id, "2 0 0\n"); }

  // ------------------------------------------------------------------ cleanup

  Status Cleanup(const std::set<std::string>& keep) override {
    Status first;
    auto note = [&first](Status s) {
      if (!s.ok()) {
        TUG_LOG(WARNING, kLog) << "cleanup" << kv("err", s.ToString());
        if (first.ok()) first = s;
      }
    };
    // 1. Sandboxes that should not exist (with their containers).
    std::set<std::string> sandboxes;
    for (const auto& id : ListDir(o_.state_dir + "/sandboxes")) {
      if (keep.count(id)) { sandboxes.insert(id); continue; }
      TUG_LOG(INFO, kLog) << "cleanup: removing sandbox" << kv("id", id);
      auto lock = Lock(id);
      note(RemoveSandboxLocked(id));
    }
    // 2. Containers whose sandbox is gone.
    for (const auto& id : ListDir(o_.state_dir + "/containers")) {
      auto c = LoadContainer(id);
      if (c.ok() && sandboxes.count(c->sandbox_id)) continue;
      TUG_LOG(INFO, kLog) << "cleanup: removing container" << kv("id", id);
      auto lock = Lock(id);
      note(RemoveContainerLocked(id));
    }
    std::set<std::string> containers;
    for (const auto& id : ListDir(o_.state_dir + "/containers")) containers.insert(id);
    // 3. runc containers with no record (state deleted): kill and delete.
    auto listed = RunCommand(Runc({"list", "-q"}), std::chrono::seconds(30));
    if (listed.ok()) {
      std::istringstream in(listed->out);
      std::string id;
      while (in >> id)
        if (!containers.count(id)) {
          TUG_LOG(INFO, kLog) << "cleanup: deleting runc container" << kv("id", id);
          auto r = RunCommand(Runc({"delete", "--force", id}), std::chrono::seconds(30));
          if (r.ok() && r->exit_code != 0) note(InternalError("runc delete " + id + ": " + Trim(r->err)));
        }
    }
    // 4. Mounts under the state dir that belong to no record (overlay rootfs, pod shm).
    for (const auto& m : MountsUnder(o_.state_dir)) {
      std::string rel = m.substr(o_.state_dir.size());
      std::istringstream parts(rel);
      std::string empty, kind, id;
      std::getline(parts, empty, '/');
      std::getline(parts, kind, '/');
      std::getline(parts, id, '/');
      bool owned = (kind == "containers" && containers.count(id)) ||
                   (kind == "sandboxes" && sandboxes.count(id));
      if (!owned) note(Unmount(m));
    }
    for (const char* kind : {"containers", "sandboxes"})
      for (const auto& id : ListDir(o_.state_dir + "/" + kind)) {
        bool owned = std::string(kind) == "containers" ? containers.count(id) : sandboxes.count(id);
        if (!owned) note(RemoveAll(o_.state_dir + "/" + kind + "/" + id));
      }
    // 5. Pinned namespaces with no sandbox: release their network, then unpin.
    std::set<std::string> ns_ids;
    for (const char* kind : {"netns", "ipcns", "utsns"})
      for (const auto& id : ListDir(o_.ns_root + "/" + kind))
        if (ValidId(id) && !sandboxes.count(id)) ns_ids.insert(id);
    for (const auto& id : ns_ids) {
      TUG_LOG(INFO, kLog) << "cleanup: unpinning namespaces" << kv("id", id);
      if (net_ && PathExists(o_.ns_root + "/netns/" + id)) {
        PodNetworkRequest req;
        req.sandbox_id = id;
        req.netns_path = o_.ns_root + "/netns/" + id;
        note(net_->TearDown(req));
      }
      note(UnpinNamespaces(o_.ns_root, id));
    }
    // 6. Pod cgroups under the managed parents with no sandbox.
    std::set<std::string> live_cgroups;
    for (const auto& id : sandboxes) {
      auto rec = LoadSandbox(id);
      if (rec.ok()) live_cgroups.insert(rec->cgroup);
    }
    for (const auto& parent : o_.managed_cgroup_parents)
      for (const auto& child : cg_.Children(parent)) {
        std::string p = parent + "/" + child;
        if (child.rfind("pod", 0) != 0 || live_cgroups.count(p)) continue;
        TUG_LOG(INFO, kLog) << "cleanup: removing cgroup" << kv("path", p);
        note(cg_.Remove(p));
      }
    // 7. Network allocations (IPs, cached results) of sandboxes that are gone.
    if (net_) note(net_->GarbageCollect(sandboxes));
    // 8. Overlay upper/work dirs, exit files and socket links with no container.
    for (const auto& id : ListDir(o_.storage_dir + "/containers"))
      if (!containers.count(id)) note(RemoveAll(o_.storage_dir + "/containers/" + id));
    for (const auto& id : ListDir(o_.state_dir + "/exits"))
      if (!containers.count(id)) ::unlink((o_.state_dir + "/exits/" + id).c_str());
    for (const auto& id : ListDir(o_.state_dir + "/sockets"))
      if (!containers.count(id)) ::unlink((o_.state_dir + "/sockets/" + id).c_str());
    return first;
  }

 private:
  struct SandboxRecord {
    std::string id;
    PodSandboxConfig config;
    bool ready = false;
    SystemTime created_at{};
    std::string ip, gateway;
    std::vector<std::string> ips;
    std::string netns, ipcns, utsns, shm, cgroup;
    bool network_up = false;
    bool network_pending = false;  // set up in the background, not finished yet
  };
  struct ContainerRecord {
    std::string id, sandbox_id, name, image, log_path, stop_signal, cgroup;
    uint32_t attempt = 0;
    std::map<std::string, std::string> labels, annotations;
    SystemTime created_at{}, started_at{};
    bool created = false, started = false, tty = false, stdin_once = false;
    int pid = 0, conmon_pid = 0;
    uint64_t pid_start = 0, conmon_start = 0;
  };

  // ---- locking: one mutex per id, created on demand and forgotten when the object is removed
  // (ids are random and never reused). The holder keeps the mutex alive while it is locked.
  struct IdLock {
    std::shared_ptr<std::mutex> mu;
    std::unique_lock<std::mutex> lock;
  };
  IdLock Lock(const std::string& id) {
    std::shared_ptr<std::mutex> m;
    {
      std::lock_guard<std::mutex> g(locks_mu_);
      auto& slot = locks_[id];
      if (!slot) slot = std::make_shared<std::mutex>();
      m = slot;
    }
    std::unique_lock<std::mutex> l(*m);
    return IdLock{std::move(m), std::move(l)};
  }
  // As Lock, but gives up at once when another call holds the id.
  std::optional<IdLock> TryLock(const std::string& id) {
    std::shared_ptr<std::mutex> m;
    {
      std::lock_guard<std::mutex> g(locks_mu_);
      auto& slot = locks_[id];
      if (!slot) slot = std::make_shared<std::mutex>();
      m = slot;
    }
    std::unique_lock<std::mutex> l(*m, std::try_to_lock);
    if (!l.owns_lock()) return std::nullopt;
    return IdLock{std::move(m), std::move(l)};
  }
  void Forget(const std::string& id) {
    std::lock_guard<std::mutex> g(locks_mu_);
    locks_.erase(id);
  }

  // ---- paths
  static std::string ConmonCgroup(const ContainerRecord& c) {
    return c.cgroup.substr(0, c.cgroup.rfind('/')) + "/conmon";
  }
  std::string SandboxDir(const std::string& id) const { return o_.state_dir + "/sandboxes/" + id; }
  std::string Bundle(const std::string& id) const { return o_.state_dir + "/containers/" + id; }
  std::string ExitFile(const std::string& id) const { return o_.state_dir + "/exits/" + id; }
  std::string Storage(const std::string& id) const { return o_.storage_dir + "/containers/" + id; }
  std::vector<std::string> Runc(std::vector<std::string> args) const {
    std::vector<std::string> v = {o_.runc_path, "--root", o_.state_dir + "/runc"};
    v.insert(v.end(), args.begin(), args.end());
    return v;
  }
  static std::string Trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  // ---- records
  Status SaveSandbox(const SandboxRecord& r) {
    Json j = {{"id", r.id}, {"config", SandboxConfigJson(r.config)}, {"ready", r.ready},
              {"createdAt", ToNanos(r.created_at)}, {"ip", r.ip}, {"ips", r.ips},
              {"gateway", r.gateway}, {"netns", r.netns}, {"ipcns", r.ipcns}, {"utsns", r.utsns},
              {"shm", r.shm}, {"cgroup", r.cgroup}, {"networkUp", r.network_up},
              {"networkPending", r.network_pending}};
    return WriteFileAtomic(SandboxDir(r.id) + "/sandbox.json", j.dump(), 0600);
  }
  Result<SandboxRecord> LoadSandbox(const std::string& id) {
    auto data = ReadFile(SandboxDir(id) + "/sandbox.json");
    if (!data.ok()) return NotFoundError("sandbox " + id + " not found");
    ASSIGN_OR_RETURN(Json j, ParseJson(*data));
    SandboxRecord r;
    r.id = GetString(j, "id");
    if (auto* c = Find(j, "config")) r.config = SandboxConfigFrom(*c);
    if (auto* v = Find(j, "ready"); v && v->is_boolean()) r.ready = v->get<bool>();
    if (auto* v = Find(j, "networkUp"); v && v->is_boolean()) r.network_up = v->get<bool>();
    if (auto* v = Find(j, "networkPending"); v && v->is_boolean()) r.network_pending = v->get<bool>();
    r.created_at = FromNanos(Num<int64_t>(j, "createdAt"));
    r.ip = GetString(j, "ip");
    r.ips = ReadStrings(j, "ips");
    r.gateway = GetString(j, "gateway");
    r.netns = GetString(j, "netns");
    r.ipcns = GetString(j, "ipcns");
    r.utsns = GetString(j, "utsns");
    r.shm = GetString(j, "shm");
    r.cgroup = GetString(j, "cgroup");
    return r;
  }
  Status SaveContainer(const ContainerRecord& c) {
    Json j = {{"id", c.id}, {"sandboxId", c.sandbox_id}, {"name", c.name}, {"attempt", c.attempt},
              {"image", c.image}, {"logPath", c.log_path}, {"stopSignal", c.stop_signal},
              {"cgroup", c.cgroup}, {"labels", StringMap(c.labels)},
              {"annotations", StringMap(c.annotations)}, {"createdAt", ToNanos(c.created_at)},
              {"startedAt", ToNanos(c.started_at)}, {"created", c.created}, {"started", c.started},
              {"tty", c.tty}, {"stdinOnce", c.stdin_once}, {"pid", c.pid}, {"pidStart", c.pid_start},
              {"conmonPid", c.conmon_pid}, {"conmonStart", c.conmon_start}};
    return WriteFileAtomic(Bundle(c.id) + "/meta.json", j.dump(), 0600);
  }
  Result<ContainerRecord> LoadContainer(const std::string& id) {
    auto data = ReadFile(Bundle(id) + "/meta.json");
    if (!data.ok()) return NotFoundError("container " + id + " not found");
    ASSIGN_OR_RETURN(Json j, ParseJson(*data));
    ContainerRecord c;
    c.id = GetString(j, "id");
    c.sandbox_id = GetString(j, "sandboxId");
    c.name = GetString(j, "name");
    c.attempt = Num<uint32_t>(j, "attempt");
    c.image = GetString(j, "image");
    c.log_path = GetString(j, "logPath");
    c.stop_signal = GetString(j, "stopSignal");
    c.cgroup = GetString(j, "cgroup");
    c.labels = ReadStringMap(j, "labels");
    c.annotations = ReadStringMap(j, "annotations");
    c.created_at = FromNanos(Num<int64_t>(j, "createdAt"));
    c.started_at = FromNanos(Num<int64_t>(j, "startedAt"));
    auto b = [&j](const char* k) { auto* v = Find(j, k); return v && v->is_boolean() && v->get<bool>(); };
    c.created = b("created");
    c.started = b("started");
    c.tty = b("tty");
    c.stdin_once = b("stdinOnce");
    c.pid = Num<int>(j, "pid");
    c.pid_start = Num<uint64_t>(j, "pidStart");
    c.conmon_pid = Num<int>(j, "conmonPid");
    c.conmon_start = Num<uint64_t>(j, "conmonStart");
    return c;
  }

  PodSandboxStatus ToStatus(const SandboxRecord& r) const {
    PodSandboxStatus s;
    s.id = r.id;
    s.config = r.config;
    s.state = r.ready ? SandboxState::kReady : SandboxState::kNotReady;
    if (r.network_pending) {
      // Pending in this process: ready for containers to be created. Pending in a process that
      // died: the setup never finished.
      std::lock_guard<std::mutex> l(net_mu_);
      if (!pending_net_.count(r.id)) s.state = SandboxState::kNotReady;
    }
    s.created_at = r.created_at;
    s.ip = r.ip;
    s.ips = r.ips;
    s.netns_path = r.netns;
    s.cgroup_path = r.cgroup;
    return s;
  }

  // The message of a create that failed because the container's process could not be started
  // (runc: "unable to start container process: exec: ..."), without runc's log decoration.
  static std::optional<std::string> ProcessStartFailure(const Status& st) {
    const std::string& m = st.message();
    if (m.find("unable to start container process") == std::string::npos) return std::nullopt;
    auto at = m.find("msg=\"");
    if (at == std::string::npos) return m;
    std::string out;
    for (size_t i = at + 5; i < m.size() && m[i] != '"'; ++i) {
      if (m[i] == '\\' && i + 1 < m.size()) ++i;
      out += m[i];
    }
    return out;
  }

  // conmon gone without an exit file (killed or crashed): nobody watches the container any more,
  // copies its output or will record its exit. As CRI-O, the container then counts as exited;
  // a process still running is killed first, so that the restart the kubelet does next never
  // runs beside an orphan writing to nowhere. The exit file written here makes that final (a
  // stable finishedAt), and kMonitorLost keeps the reason for ToStatus. Skipped while another
  // call works on the container (it will be settled by a later status call).
  void SettleLostMonitor(const ContainerRecord& c) {
    if (!c.created || c.conmon_pid <= 0 || PathExists(ExitFile(c.id))) return;
    if (ProcessAlive(c.conmon_pid, c.conmon_start)) return;
    auto lock = TryLock(c.id);
    if (!lock) return;
    // conmon writes the exit file and then exits: look again now that it is surely gone.
    if (PathExists(ExitFile(c.id)) || !PathExists(Bundle(c.id))) return;
    int code = 255;  // exit code unknown
    std::string what = "container monitor (conmon) died; exit code unknown";
    if (UniqueFd pidfd = OpenPidfd(c.pid, c.pid_start)) {
      syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
      if (!WaitPidfd(pidfd.get(), std::chrono::seconds(10))) {
        TUG_LOG(WARNING, kLog) << "container of a dead conmon does not die" << kv("id", c.id) << kv("pid", c.pid);
        return;
      }
      code = 128 + SIGKILL;
      what = "container monitor (conmon) died; the container was killed";
    }
    TUG_LOG(WARNING, kLog) << "conmon died" << kv("id", c.id) << kv("name", c.name) << kv("conmon_pid", c.conmon_pid)
                           << kv("exit_code", code);
    Status st = WriteFileAtomic(Bundle(c.id) + "/" + kMonitorLost, what);
    if (st.ok()) st = WriteFileAtomic(ExitFile(c.id), std::to_string(code));
    if (!st.ok()) TUG_LOG(WARNING, kLog) << "record lost conmon" << kv("id", c.id) << kv("err", st.ToString());
  }

  ContainerStatus ToStatus(const ContainerRecord& c) const {
    ContainerStatus s;
    s.id = c.id;
    s.sandbox_id = c.sandbox_id;
    s.name = c.name;
    s.attempt = c.attempt;
    s.image = c.image;
    s.created_at = c.created_at;
    s.started_at = c.started_at;
    s.log_path = c.log_path;
    s.labels = c.labels;
    s.annotations = c.annotations;
    struct stat st;
    if (stat(ExitFile(c.id).c_str(), &st) == 0) {
      s.state = ContainerState::kExited;
      auto code = ReadFile(ExitFile(c.id));
      s.exit_code = code.ok() ? std::atoi(code->c_str()) : -1;
      s.finished_at = SystemTime(std::chrono::duration_cast<SystemTime::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
      // File times come from the kernel's coarse clock and can trail started_at slightly.
      if (s.finished_at < s.started_at) s.finished_at = s.started_at;
      bool oom = PathExists(Bundle(c.id) + "/oom") || cg_.OomKillCount(c.cgroup) > 0;
      s.reason = oom ? "OOMKilled" : s.exit_code == 0 ? "Completed" : "Error";
      if (auto lost = ReadFile(Bundle(c.id) + "/" + kMonitorLost); lost.ok()) s.message = *lost;
      if (auto failed = ReadFile(Bundle(c.id) + "/" + kStartError); failed.ok()) {
        s.exit_code = 128;
        s.reason = "StartError";
        s.message = *failed;
      }
      if (!c.started) s.started_at = SystemTime{};
      return s;
    }
    if (!c.created) {
      s.state = ContainerState::kUnknown;
      return s;
    }
    bool alive = ProcessAlive(c.pid, c.pid_start);
    bool conmon_alive = ProcessAlive(c.conmon_pid, c.conmon_start);
    if (alive || conmon_alive) {
      // conmon alive and the process gone: the exit file is being written; still running.
      s.state = c.started ? ContainerState::kRunning : ContainerState::kCreated;
      s.pid = alive ? c.pid : 0;
      return s;
    }
    // Both gone and no exit file, and SettleLostMonitor could not record it yet.
    s.state = ContainerState::kExited;
    s.exit_code = 255;
    s.reason = "Error";
    s.message = "container monitor (conmon) died; exit code unknown";
    s.finished_at = clock_->Now();
    return s;
  }

  Result<ResourceStats> StatsOf(const std::string& cgroup) const {
    ResourceStats st;
    st.timestamp = clock_->Now();
    ASSIGN_OR_RETURN(st.cpu_usage_ns, cg_.CpuUsageNanos(cgroup));
    ASSIGN_OR_RETURN(auto mem, cg_.MemoryUsage(cgroup));
    st.memory_usage_bytes = mem.first;
    st.memory_working_set_bytes = mem.second;
    return st;
  }

  // ---- sandbox internals (caller holds the sandbox lock)
  Status SetUpSandbox(SandboxRecord& rec) {
    const auto& cfg = rec.config;
    bool own_net = !cfg.host_network, own_ipc = !cfg.host_ipc, own_uts = !cfg.host_network;
    ASSIGN_OR_RETURN(auto ns, PinNamespaces(o_.ns_root, rec.id, own_net, own_ipc, own_uts,
                                            cfg.hostname));
    rec.netns = ns.net;
    rec.ipcns = ns.ipc;
    rec.utsns = ns.uts;
    RETURN_IF_ERROR(SaveSandbox(rec));
    if (own_ipc) {
      std::string shm = SandboxDir(rec.id) + "/shm";
      RETURN_IF_ERROR(MakeDirs(shm, 0755));
      std::string opts = "mode=1777,size=" + std::to_string(cfg.shm_size_bytes > 0 ? cfg.shm_size_bytes : 64 << 20);
      if (mount("shm", shm.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts.c_str()) != 0)
        return InternalError(ErrnoMessage("mount shm"));
      rec.shm = shm;
    }
    RETURN_IF_ERROR(cg_.Create(rec.cgroup, cfg.resources));
    RETURN_IF_ERROR(cg_.Create(rec.cgroup + "/conmon", Resources{}));
    if (own_net && net_) {
      rec.network_up = true;  // recorded first: a crash during SetUp must still tear down
      if (cfg.network_in_background) {
        rec.network_pending = true;
        rec.ready = true;
        RETURN_IF_ERROR(SaveSandbox(rec));
        SetUpNetworkInBackground(rec);
        return Status::Ok();
      }
      RETURN_IF_ERROR(SaveSandbox(rec));
      ASSIGN_OR_RETURN(auto st, net_->SetUp(NetRequest(rec)));
      rec.ip = st.ip;
      rec.ips = st.ips;
      rec.gateway = st.gateway;
    }
    rec.ready = true;
    return SaveSandbox(rec);
  }

  // CNI ADD on its own thread. Its result goes into the record under net_mu_; every other
  // writer of the record (stop, remove) waits for it first (AwaitNetwork), so they never race.
  void SetUpNetworkInBackground(const SandboxRecord& rec) {
    std::string id = rec.id;
    std::shared_future<Status> f =
        std::async(std::launch::async, [this, id, req = NetRequest(rec)]() -> Status {
          auto st = net_->SetUp(req);
          std::lock_guard<std::mutex> l(net_mu_);
          auto r = LoadSandbox(id);
          if (!r.ok()) return st.ok() ? r.status() : st.status();
          r->network_pending = false;
          if (st.ok()) {
            r->ip = st->ip;
            r->ips = st->ips;
            r->gateway = st->gateway;
          } else {
            r->ready = false;
            TUG_LOG(WARNING, kLog) << "sandbox network setup failed" << kv("id", id)
                                   << kv("err", st.status().ToString());
          }
          Status saved = SaveSandbox(*r);
          if (!st.ok()) return st.status();
          if (saved.ok()) {
            TUG_VLOG(2, kLog) << "sandbox network ready" << kv("pod", r->config.namespace_ + "/" + r->config.name)
                              << kv("id", id) << kv("ip", r->ip);
          }
          return saved;
        }).share();
    std::lock_guard<std::mutex> l(net_mu_);
    pending_net_[id] = std::move(f);
  }

  // Waits for the sandbox's background network setup, if any, and returns its result. A
  // success is forgotten (its thread joined); a failure stays until the sandbox is removed.
  Status AwaitNetwork(const std::string& id) {
    std::shared_future<Status> f;
    {
      std::lock_guard<std::mutex> l(net_mu_);
      auto it = pending_net_.find(id);
      if (it == pending_net_.end()) return Status::Ok();
      f = it->second;
    }
    Status st = f.get();
    if (st.ok()) {
      std::lock_guard<std::mutex> l(net_mu_);
      pending_net_.erase(id);
    }
    return st;
  }
  void ForgetNetwork(const std::string& id) {
    std::shared_future<Status> f;  // destroyed outside the lock (joins a finished thread)
    std::lock_guard<std::mutex> l(net_mu_);
    if (auto it = pending_net_.find(id); it != pending_net_.end()) {
      f = std::move(it->second);
      pending_net_.erase(it);
    }
  }

  PodNetworkRequest NetRequest(const SandboxRecord& rec) const {
    PodNetworkRequest req;
    req.sandbox_id = rec.id;
    req.pod_namespace = rec.config.namespace_;
    req.pod_name = rec.config.name;
    req.pod_uid = rec.config.uid;
    req.netns_path = rec.netns;
    req.port_mappings = rec.config.port_mappings;
    return req;
  }

  Status StopSandboxLocked(const std::string& id, std::chrono::seconds timeout) {
    AwaitNetwork(id).IgnoreError();  // its result is in the record: torn down below either way
    ASSIGN_OR_RETURN(auto rec, LoadSandbox(id));
    // Containers get their grace periods concurrently, as the kubelet kills a pod's containers.
    auto ids = ContainerIdsOf(id);
    std::vector<Status> results(ids.size());
    {
      std::vector<std::jthread> stoppers;
      for (size_t i = 0; i < ids.size(); ++i)
        stoppers.emplace_back([this, &ids, &results, i, timeout] {
          auto lock = Lock(ids[i]);
          results[i] = StopContainerLocked(ids[i], timeout);
        });
    }
    for (const auto& s : results)
      if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
    if (rec.network_up && net_) {
      RETURN_IF_ERROR(net_->TearDown(NetRequest(rec)));
      rec.network_up = false;
    }
    rec.ready = false;
    return SaveSandbox(rec);
  }

  Status RemoveSandboxLocked(const std::string& id) {
    auto rec = LoadSandbox(id);
    if (!rec.ok()) {
      // No record: still release the network (while the netns exists, so the plugins can
      // find the pod's addresses) and remove anything named after the id.
      if (net_ && PathExists(o_.ns_root + "/netns/" + id)) {
        PodNetworkRequest req;
        req.sandbox_id = id;
        req.netns_path = o_.ns_root + "/netns/" + id;
        RETURN_IF_ERROR(net_->TearDown(req));
      }
      UnpinNamespaces(o_.ns_root, id).IgnoreError();
      RemoveAll(SandboxDir(id)).IgnoreError();
      return Status::Ok();
    }
    RETURN_IF_ERROR(StopSandboxLocked(id, std::chrono::seconds(0)));
    for (const auto& cid : ContainerIdsOf(id)) {
      auto lock = Lock(cid);
      RETURN_IF_ERROR(RemoveContainerLocked(cid));
      Forget(cid);
    }
    if (!rec->shm.empty()) RETURN_IF_ERROR(Unmount(rec->shm));
    RETURN_IF_ERROR(UnpinNamespaces(o_.ns_root, id));
    if (!rec->cgroup.empty()) RETURN_IF_ERROR(cg_.Remove(rec->cgroup));
    for (const auto& m : MountsUnder(SandboxDir(id))) RETURN_IF_ERROR(Unmount(m));
    RETURN_IF_ERROR(RemoveAll(SandboxDir(id)));
    ForgetNetwork(id);
    TUG_VLOG(2, kLog) << "sandbox removed" << kv("id", id);
    return Status::Ok();
  }

  std::vector<std::string> ContainerIdsOf(const std::string& sandbox_id) {
    std::vector<std::string> out;
    for (const auto& id : ListDir(o_.state_dir + "/containers")) {
      auto c = LoadContainer(id);
      if (c.ok() && c->sandbox_id == sandbox_id) out.push_back(id);
    }
    return out;
  }

  // ---- container internals (caller holds the container lock)
  Status CreateContainerLocked(const SandboxRecord& sb, ContainerRecord& c,
                               const ContainerConfig& config) {
    std::string bundle = Bundle(c.id), rootfs = bundle + "/rootfs";
    std::string upper = Storage(c.id) + "/upper", work = Storage(c.id) + "/work";
    RETURN_IF_ERROR(MakeDirs(rootfs, 0755));
    RETURN_IF_ERROR(MakeDirs(upper, 0755));
    RETURN_IF_ERROR(MakeDirs(work, 0700));
    std::string lower;
    for (const auto& l : config.rootfs_lowerdirs) lower += (lower.empty() ? "" : ":") + l;
    std::string opts = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
    if (opts.size() >= 4096) return InvalidError("too many image layers for one overlay mount");
    if (mount("overlay", rootfs.c_str(), "overlay", 0, opts.c_str()) != 0)
      return InternalError(ErrnoMessage("mount overlay rootfs"));
    ASSIGN_OR_RETURN(auto user, ResolveUser(rootfs, config));
    SpecInput in;
    in.container = &config;
    in.sandbox = &sb.config;
    in.netns_path = sb.netns;
    in.ipcns_path = sb.ipcns;
    in.utsns_path = sb.utsns;
    in.shm_path = sb.shm;
    in.cgroups_path = c.cgroup;
    in.user = user;
    in.cgroup_namespace = cg_.version() == CgroupVersion::kV2;
    ASSIGN_OR_RETURN(Json spec, BuildSpec(in));
    RETURN_IF_ERROR(WriteFileAtomic(bundle + "/config.json", spec.dump(), 0600));
    if (!c.log_path.empty()) {
      auto slash = c.log_path.rfind('/');
      if (slash != std::string::npos && slash > 0) RETURN_IF_ERROR(MakeDirs(c.log_path.substr(0, slash)));
    }
    return StartConmon(c, config);
  }

  Status StartConmon(ContainerRecord& c, const ContainerConfig& config) {
    std::string bundle = Bundle(c.id);
    std::vector<std::string> argv = {
        o_.conmon_path, "--api-version", "1",
        "-c", c.id, "-u", c.id, "-n", config.name.empty() ? c.id : config.name,
        "-r", o_.runc_path, "--runtime-arg", "--root=" + o_.state_dir + "/runc",
        "-b", bundle, "-p", bundle + "/pidfile", "-P", bundle + "/conmon.pid",
        "--exit-dir", o_.state_dir + "/exits", "--socket-dir-path", o_.state_dir + "/sockets",
        "--persist-dir", bundle, "--log-level", "error"};
    argv.push_back("-l");
    argv.push_back("k8s-file:" + (c.log_path.empty() ? bundle + "/container.log" : c.log_path));
    if (o_.log_size_max_bytes > 0) {
      argv.push_back("--log-size-max");
      argv.push_back(std::to_string(o_.log_size_max_bytes));
    }
    if (config.tty) argv.push_back("-t");
    if (config.stdin) {
      argv.push_back("-i");
      if (!config.stdin_once) argv.push_back("--leave-stdin-open");
    }
    int p[2], q[2];
    if (pipe2(p, O_CLOEXEC) != 0 || pipe2(q, O_CLOEXEC) != 0) return InternalError(ErrnoMessage("pipe2"));
    UniqueFd sync_r(p[0]), sync_w(p[1]), start_r(q[0]), start_w(q[1]);
    UniqueFd log_fd(::open((bundle + "/conmon.log").c_str(),
                           O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    SpawnOptions so;
    so.argv = argv;
    std::vector<std::string> env = {"_OCI_SYNCPIPE=3", "_OCI_STARTPIPE=4",
                                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    so.env = env;
    so.extra_fds = {sync_w.get(), start_r.get()};
    so.stdout_fd = log_fd.get();
    so.stderr_fd = log_fd.get();
    so.cwd = bundle;  // conmon writes its "oom" marker relative to its cwd
    ASSIGN_OR_RETURN(pid_t pid, Spawn(so));
    sync_w.Reset();
    start_r.Reset();
    // conmon waits on the start pipe before it forks anything: move it into the pod's
    // "conmon" cgroup first, so it is accounted to the pod and is not in the agent's cgroup
    // (an agent restarted by systemd must not take the monitors with it).
    Status moved = cg_.AddProcess(ConmonCgroup(c), pid);
    if (!moved.ok()) TUG_LOG(WARNING, kLog) << "conmon cgroup" << kv("err", moved.ToString());
    if (::write(start_w.get(), "0", 1) != 1) TUG_LOG(WARNING, kLog) << ErrnoMessage("start pipe");
    start_w.Reset();
    // conmon's first process forks the monitor and exits at once.
    (void)WaitPid(pid);
    // The monitor reports {"data": <container pid>} or {"data": -1, "message": ...}.
    std::string msg;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::chrono::steady_clock::time_point runc_dead_since{};  // {}: runc not seen dead
    while (msg.find('\n') == std::string::npos) {
      pollfd pf{sync_r.get(), POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return TimeoutError("conmon did not report the container pid");
      int r = poll(&pf, 1, static_cast<int>(std::min<int64_t>(left.count(), 500)));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        UnblockConmonAfterRuncDied(bundle, &runc_dead_since);
        continue;
      }
      if (r < 0) continue;
      char buf[4096];
      ssize_t n = ::read(sync_r.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      msg.append(buf, static_cast<size_t>(n));
    }
    auto conmon_pid_text = ReadFile(bundle + "/conmon.pid");
    if (conmon_pid_text.ok()) {
      c.conmon_pid = std::atoi(conmon_pid_text->c_str());
      c.conmon_start = ProcessStartTime(c.conmon_pid);
    }
    auto line = msg.substr(0, msg.find('\n'));
    auto parsed = ParseJson(line);
    if (!parsed.ok() || !Find(*parsed, "data")) {
      auto log = ReadFile(bundle + "/conmon.log");
      std::string why = Trim(log.ok() && !Trim(*log).empty() ? *log : msg);
      // A killed conmon or runc reports nothing: say so rather than leave the reason empty.
      if (why.empty()) why = "conmon or runc exited without reporting the container (killed?)";
      return InternalError("conmon failed: " + why);
    }
    int cpid = Num<int>(*parsed, "data", -1);
    if (cpid <= 0) return InternalError("runc create: " + Trim(GetString(*parsed, "message")));
    c.pid = cpid;
    c.pid_start = ProcessStartTime(cpid);
    c.created = true;
    return SaveContainer(c);
  }

  // A runc killed in the middle of `create` can leave its `runc init` behind (waiting on the exec
  // fifo, reparented to conmon, its subreaper) holding the pipe conmon reads runc's output from:
  // conmon then never reports. Seen from here: conmon's runtime child stays a zombie while
  // nothing is reported. After 2 s of that, the other children of conmon (the orphaned init) are
  // killed, so conmon reads EOF, reaps runc and reports the failure.
  static void UnblockConmonAfterRuncDied(const std::string& bundle,
                                         std::chrono::steady_clock::time_point* dead_since) {
    auto pid_text = ReadFile(bundle + "/conmon.pid");
    if (!pid_text.ok()) return;
    pid_t conmon = std::atoi(pid_text->c_str());
    if (conmon <= 0) return;
    std::vector<pid_t> alive;
    bool zombie = false;
    for (pid_t child : ChildPids(conmon)) {
      char state = ProcessState(child);
      if (state == 'Z') {
        zombie = true;
      } else if (state != '\0') {
        alive.push_back(child);
      }
    }
    if (!zombie) {
      *dead_since = {};
      return;
    }
    auto now = std::chrono::steady_clock::now();
    if (*dead_since == std::chrono::steady_clock::time_point{}) *dead_since = now;
    if (now - *dead_since < std::chrono::seconds(2)) return;
    for (pid_t child : alive) {
      TUG_LOG(WARNING, kLog) << "runc exited without conmon reporting; killing its orphaned child"
                             << kv("conmon", conmon) << kv("pid", child);
      ::kill(child, SIGKILL);
    }
  }

  // Waits for the process behind `pidfd` to exit within the stop's grace, which ShortenStop
  // may shorten meanwhile (checked every 100 ms). False: the grace ran out first.
  bool WaitForStop(const std::string& id, int pidfd, std::chrono::seconds timeout) {
    using Clock = std::chrono::steady_clock;
    {
      std::lock_guard<std::mutex> l(stops_mu_);
      TightenStopDeadlineLocked(id, Clock::now() + timeout);  // a ShortenStop before may be earlier
      stopping_.insert(id);
    }
    bool exited = false;
    for (;;) {
      Clock::time_point deadline;
      {
        std::lock_guard<std::mutex> l(stops_mu_);
        deadline = stop_deadlines_[id];
      }
      auto now = Clock::now();
      if (now >= deadline) break;
      auto slice = std::min<Clock::duration>(deadline - now, std::chrono::milliseconds(100));
      if (WaitPidfd(pidfd, std::chrono::ceil<std::chrono::milliseconds>(slice))) {
        exited = true;
        break;
      }
    }
    std::lock_guard<std::mutex> l(stops_mu_);
    stop_deadlines_.erase(id);
    stopping_.erase(id);
    return exited;
  }

  Status StopContainerLocked(const std::string& id, std::chrono::seconds timeout) {
    ASSIGN_OR_RETURN(auto c, LoadContainer(id));
    if (PathExists(ExitFile(id)) || !c.created) return Status::Ok();
    UniqueFd pidfd = OpenPidfd(c.pid, c.pid_start);
    if (pidfd) {
      // A created-but-not-started container is only runc's init waiting: kill it outright.
      int sig = c.started ? ParseSignal(c.stop_signal) : SIGKILL;
      if (timeout.count() <= 0) sig = SIGKILL;
      syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0);
      if (sig != SIGKILL && !WaitForStop(id, pidfd.get(), timeout)) {
        TUG_VLOG(2, kLog) << "stop timeout, killing" << kv("id", id);
        syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
      }
      WaitPidfd(pidfd.get(), std::chrono::seconds(10));
    }
    // conmon records the exit code right after reaping the process.
    if (ProcessAlive(c.conmon_pid, c.conmon_start))
      PollUntil(std::chrono::seconds(10), [&] {
        return PathExists(ExitFile(id)) || !ProcessAlive(c.conmon_pid, c.conmon_start);
      });
    return Status::Ok();
  }

  Status RemoveContainerLocked(const std::string& id) {
    auto c = LoadContainer(id);
    if (c.ok()) RETURN_IF_ERROR(StopContainerLocked(id, std::chrono::seconds(0)));
    // runc removes its state and the container cgroup; --force kills what is left.
    auto r = RunCommand(Runc({"delete", "--force", id}), std::chrono::seconds(30));
    if (r.ok() && r->exit_code != 0 && r->err.find("does not exist") == std::string::npos &&
        r->err.find("not exist") == std::string::npos)
      TUG_LOG(WARNING, kLog) << "runc delete" << kv("id", id) << kv("err", Trim(r->err));
    if (c.ok()) {
      if (ProcessAlive(c->conmon_pid, c->conmon_start)) {
        PollUntil(std::chrono::seconds(2), [&] { return !ProcessAlive(c->conmon_pid, c->conmon_start); });
        UniqueFd cfd = OpenPidfd(c->conmon_pid, c->conmon_start);
        if (cfd) syscall(SYS_pidfd_send_signal, cfd.get(), SIGKILL, nullptr, 0);
      }
      if (!c->cgroup.empty()) RETURN_IF_ERROR(cg_.Remove(c->cgroup));
    }
    for (const auto& m : MountsUnder(Bundle(id))) RETURN_IF_ERROR(Unmount(m));
    RETURN_IF_ERROR(RemoveAll(Bundle(id)));
    RETURN_IF_ERROR(RemoveAll(Storage(id)));
    ::unlink(ExitFile(id).c_str());
    ::unlink((o_.state_dir + "/sockets/" + id).c_str());
    return Status::Ok();
  }

  Status WriteCtl(const std::string& id, const std::string& msg) {
    if (!ValidId(id)) return NotFoundError("container " + id + " not found");
    UniqueFd fd(::open((Bundle(id) + "/ctl").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT || errno == ENXIO) return NotFoundError("container " + id + " has no monitor");
      return InternalError(ErrnoMessage("open ctl"));
    }
    if (::write(fd.get(), msg.data(), msg.size()) != static_cast<ssize_t>(msg.size()))
      return InternalError(ErrnoMessage("write ctl"));
    return Status::Ok();
  }

  Result<std::unique_ptr<ExecSession>> ExecTty(const std::string& id, const ExecOptions& opt) {
    // runc in the foreground with a terminal relays between its own stdio and the container's
    // console, and forwards window-size changes of its stdin terminal. Its stdio is the slave
    // side of a pty we own, so the session's fd is the master.
    UniqueFd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master || grantpt(master.get()) != 0 || unlockpt(master.get()) != 0)
      return InternalError(ErrnoMessage("openpt"));
    char name[128];
    if (ptsname_r(master.get(), name, sizeof(name)) != 0) return InternalError(ErrnoMessage("ptsname"));
    UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) return InternalError(ErrnoMessage("open pty slave"));
    std::vector<std::string> args = {"exec", "--tty", id};
    args.insert(args.end(), opt.cmd.begin(), opt.cmd.end());
    SpawnOptions so;
    so.argv = Runc(args);
    so.stdin_fd = slave.get();
    so.stdout_fd = slave.get();
    so.stderr_fd = slave.get();
    so.new_session = true;
    so.controlling_tty = true;
    ASSIGN_OR_RETURN(pid_t pid, Spawn(so));
    slave.Reset();
    return std::unique_ptr<ExecSession>(std::make_unique<ExecSessionImpl>(
        pid, UniqueFd(), std::move(master), UniqueFd(), true));
  }

  RuntimeOptions o_;
  std::unique_ptr<PodNetwork> net_;
  Cgroups cg_;
  Clock* clock_;
  std::mutex locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;
  // The SIGKILL deadline of each stop waiting out its grace, or set by ShortenStop for a stop
  // to come, by container id; `stopping_`: the ids whose stop waits now.
  std::mutex stops_mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> stop_deadlines_;
  std::set<std::string> stopping_;
  // Network setups running in the background (network_in_background), by sandbox id; also
  // serializes their record updates. Mutable: ToStatus (const) asks whether one is pending.
  mutable std::mutex net_mu_;
  std::map<std::string, std::shared_future<Status>> pending_net_;
};

}  // namespace

Result<std::unique_ptr<Runtime>> NewOciRuntime(RuntimeOptions options,
                                               std::unique_ptr<PodNetwork> network) {
  auto rt = std::make_unique<OciRuntime>(std::move(options), std::move(network));
  RETURN_IF_ERROR(rt->Init());
  return std::unique_ptr<Runtime>(std::move(rt));
}

}  // namespace tug::runtime
