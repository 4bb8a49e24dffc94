// The runtime seam between the kubelet and the machinery that runs containers (a simplified
// CRI: pod sandboxes and the containers inside them).
//
// A pod sandbox is "pause-less": tug pins the pod's network, IPC and UTS namespaces with bind
// mounts (<ns_root>/netns/<id>, ipcns/<id>, utsns/<id>), creates the pod cgroup and a pod-wide
// /dev/shm, and asks the PodNetwork (CNI) for the pod's interfaces. Every container of the pod
// joins those namespaces and gets its own mount and PID namespaces.
//
// Ownership: the kubelet owns one Runtime (std::unique_ptr<Runtime>). The Runtime owns the
// PodNetwork it was given. Everything the runtime creates is recorded on disk under its state
// directory before it is created, so a restarted agent finds sandboxes and containers again
// (List*/Status read only disk and the kernel) and Cleanup() can remove what should not exist.
//
// Thread-safety: every method may be called from any thread. Calls on different sandboxes and
// containers run in parallel; calls on the same sandbox are serialized by the runtime.
//
// Errors: NotFound (no such sandbox/container), AlreadyExists, Invalid (bad config), Internal
// (runc, conmon, CNI or a syscall failed; the message carries their stderr), Timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace tug::runtime {

// ---------------------------------------------------------------- pod network (CNI) seam
// The runtime may include only base/ and runtime/, and the CNI library lives in network/, so
// the runtime declares what it needs and the kubelet (or cmd/) adapts network::Cni to it.

struct PortMapping {
  std::string protocol = "TCP";  // TCP, UDP, SCTP
  int32_t container_port = 0;
  int32_t host_port = 0;
  std::string host_ip;  // empty: all addresses
};

struct PodNetworkRequest {
  std::string sandbox_id;  // also the CNI container id
  std::string pod_namespace, pod_name, pod_uid;
  std::string netns_path;  // the pinned network namespace
  std::vector<PortMapping> port_mappings;
};

struct PodNetworkStatus {
  std::string ip;                // primary pod IP ("10.42.0.5")
  std::vector<std::string> ips;  // all IPs (dual-stack later)
  std::string gateway;
};

class PodNetwork {
 public:
  virtual ~PodNetwork() = default;
  // Attaches loopback and the pod interface (eth0) inside netns_path.
  virtual Result<PodNetworkStatus> SetUp(const PodNetworkRequest& req) = 0;
  // Detaches and releases the IP. Must succeed when the netns is already gone and when the
  // pod was never (or only partly) set up; idempotent.
  virtual Status TearDown(const PodNetworkRequest& req) = 0;
  // Releases every allocation (IPs, cached results, port maps) whose sandbox id is not in
  // `valid`: the crash-recovery sweep.
  virtual Status GarbageCollect(const std::set<std::string>& valid) = 0;
};

// ---------------------------------------------------------------- sandboxes

struct DnsConfig {
  std::vector<std::string> servers, searches, options;
};

// Linux resources, in the units of the OCI runtime spec.
struct Resources {
  uint64_t cpu_shares = 0;       // 0: unset (v2: converted to cpu.weight)
  int64_t cpu_quota_us = 0;      // 0: unlimited
  uint64_t cpu_period_us = 0;    // 0: 100000
  int64_t memory_limit_bytes = 0;  // 0: unlimited
  int64_t oom_score_adj = 0;
};

struct PodSandboxConfig {
  std::string uid, name, namespace_;
  uint32_t attempt = 0;
  std::string hostname;
  DnsConfig dns;  // recorded for the caller; /etc/resolv.conf is written by the caller
  std::vector<PortMapping> port_mappings;
  // Parent cgroup path, e.g. "/tug" or "/tug/burstable"; the pod cgroup is <parent>/pod<uid>.
  std::string cgroup_parent = "/tug";
  Resources resources;  // pod totals (cpu/memory) set on the pod cgroup
  std::map<std::string, std::string> labels, annotations;
  std::map<std::string, std::string> sysctls;  // namespaced sysctls applied to every container
  bool host_network = false, host_ipc = false;
  int64_t shm_size_bytes = 64 << 20;
  // RunPodSandbox returns once the namespaces, cgroup and /dev/shm exist and sets the network
  // up (CNI) in the background, so the caller can create containers meanwhile; StartContainer,
  // PodSandboxStatusOf and WaitPodSandboxNetwork wait for it. A failed network leaves the
  // sandbox NotReady. Not recorded: a sandbox whose network was still being set up when the
  // process died is NotReady after a restart.
  bool network_in_background = false;
};

enum class SandboxState { kReady, kNotReady };

struct PodSandboxStatus {
  std::string id;
  PodSandboxConfig config;
  SandboxState state = SandboxState::kNotReady;
  SystemTime created_at;
  std::string ip;
  std::vector<std::string> ips;
  std::string netns_path;   // empty with host_network
  std::string cgroup_path;  // "/tug/pod<uid>" (relative to each hierarchy's root)
};

// ---------------------------------------------------------------- containers

// The parts of the image's config that shape the process (OCI image config).
struct ImageConfig {
  std::vector<std::string> entrypoint, cmd, env;  // env as "K=V"
  std::string working_dir;
  std::string user;  // "uid", "uid:gid", "name", "name:group"
  std::string stop_signal;
};

struct Mount {
  enum class Type { kBind, kTmpfs };
  Type type = Type::kBind;
  std::string source;  // host path for bind
  std::string destination;
  bool read_only = false;
  // "private" (default), "rslave" (HostToContainer), "rshared" (Bidirectional)
  std::string propagation = "private";
  int64_t tmpfs_size_bytes = 0;  // tmpfs: 0 = kernel default
};

struct SecurityContext {
  std::optional<int64_t> run_as_user, run_as_group;
  std::vector<int64_t> supplemental_groups;
  bool read_only_rootfs = false;
  bool privileged = false;
  std::optional<bool> allow_privilege_escalation;  // false -> no_new_privs
  std::vector<std::string> capabilities_add, capabilities_drop;  // "NET_ADMIN", "ALL"
};

struct ContainerConfig {
  std::string name;
  uint32_t attempt = 0;
  // Image layer directories from the image store, top layer first (overlay lowerdir order).
  std::vector<std::string> rootfs_lowerdirs;
  std::string image;  // reference, recorded for status
  ImageConfig image_config;
  std::vector<std::string> command, args;  // Kubernetes semantics over the image's
  std::vector<std::pair<std::string, std::string>> env;
  std::string working_dir;
  std::vector<Mount> mounts;  // including /etc/hosts, /etc/resolv.conf, /etc/hostname
  Resources resources;
  SecurityContext security;
  std::string log_path;  // CRI log file, written by conmon (k8s-file driver)
  bool tty = false, stdin = false, stdin_once = false;
  std::map<std::string, std::string> labels, annotations;
};

enum class ContainerState { kCreated, kRunning, kExited, kUnknown };

struct ContainerStatus {
  std::string id, sandbox_id, name;
  uint32_t attempt = 0;
  std::string image;
  ContainerState state = ContainerState::kUnknown;
  int pid = 0;  // host pid of the container's init while running
  SystemTime created_at{}, started_at{}, finished_at{};
  int exit_code = 0;
  std::string reason;   // Completed, Error, OOMKilled (exited); empty otherwise
  std::string message;
  std::string log_path;
  std::map<std::string, std::string> labels, annotations;
};

// Usage from the cgroup (CRI ContainerStats / kubelet summary API fields).
struct ResourceStats {
  SystemTime timestamp{};
  uint64_t cpu_usage_ns = 0;              // cumulative CPU time
  uint64_t memory_usage_bytes = 0;        // v1 memory.usage_in_bytes, v2 memory.current
  uint64_t memory_working_set_bytes = 0;  // usage minus inactive file pages
};

struct ExecResult {
  int exit_code = 0;
  std::string stdout_data, stderr_data;
  bool timed_out = false;
};

// A running streaming exec. Owns its fds (close-on-exec) and reaps the process on Wait or
// destruction (destruction kills a process still running).
class ExecSession {
 public:
  virtual ~ExecSession() = default;
  // With tty: stdin_fd() == stdout_fd() == the pty master, stderr_fd() == -1.
  // Without tty: pipes; stdin_fd() is -1 when stdin was not requested.
  virtual int stdin_fd() const = 0;
  virtual int stdout_fd() const = 0;
  virtual int stderr_fd() const = 0;
  virtual void CloseStdin() = 0;
  virtual Status Resize(uint16_t rows, uint16_t cols) = 0;  // tty only
  // Waits for the exec'd process to end and returns its exit code.
  virtual Result<int> Wait() = 0;
};

struct ExecOptions {
  std::vector<std::string> cmd;
  bool tty = false, stdin = false;
};

// A connection to conmon's attach socket (SOCK_SEQPACKET): reads return packets whose first
// byte is the stream (2 = stdout, 3 = stderr) followed by data; writes are stdin bytes.
// Closing the write side (shutdown(SHUT_WR)) tells conmon the client's stdin ended: it closes the
// container's stdin when the container was created with stdin_once.
struct AttachConnection {
  int fd = -1;  // owned by the caller: close() when done
  bool tty = false, stdin_once = false;  // the container's ContainerConfig values
};

struct RuntimeVersion {
  std::string runtime_name = "runc", runtime_version, api_version = "v1";
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  virtual Result<RuntimeVersion> Version() = 0;

  // Pins namespaces, creates the pod cgroup and /dev/shm, sets up the network. On failure
  // everything done so far is undone. Returns the sandbox id.
  virtual Result<std::string> RunPodSandbox(const PodSandboxConfig& config) = 0;
  // Stops every container of the sandbox (with `timeout` each) and tears the network down.
  // Idempotent.
  virtual Status StopPodSandbox(const std::string& id,
                                std::chrono::seconds timeout = std::chrono::seconds(0)) = 0;
  // Stops it if needed, removes containers, namespaces, cgroup, state. NotFound is not an
  // error for the caller to retry on.
  virtual Status RemovePodSandbox(const std::string& id) = 0;
  virtual Result<PodSandboxStatus> PodSandboxStatusOf(const std::string& id) = 0;
  // Waits for a network set up in the background (network_in_background) and returns its
  // result (the CNI error when it failed); OK at once for any other sandbox.
  virtual Status WaitPodSandboxNetwork(const std::string& id) {
    (void)id;
    return Status::Ok();
  }
  virtual Result<std::vector<PodSandboxStatus>> ListPodSandboxes() = 0;

  virtual Result<std::string> CreateContainer(const std::string& sandbox_id,
                                              const ContainerConfig& config) = 0;
  virtual Status StartContainer(const std::string& id) = 0;
  // SIGTERM (or the image's stop signal), waits up to `timeout`, then SIGKILL. Idempotent.
  virtual Status StopContainer(const std::string& id, std::chrono::seconds timeout) = 0;
  // A shorter grace for the stop of `id` (the kubelet's shortened grace period on a second,
  // shorter delete): a StopContainer in flight on another thread, or one still to come, sends
  // SIGKILL at most `timeout` from now. Returns at once; true when a stop was in flight.
  virtual bool ShortenStop(const std::string& id, std::chrono::seconds timeout) {
    (void)id;
    (void)timeout;
    return false;
  }
  virtual Status RemoveContainer(const std::string& id) = 0;
  virtual Result<ContainerStatus> ContainerStatusOf(const std::string& id) = 0;
  // sandbox_id empty: all containers.
  virtual Result<std::vector<ContainerStatus>> ListContainers(const std::string& sandbox_id = "") = 0;

  // Usage of a container's cgroup (NotFound once removed) and of a pod's cgroup (its totals).
  virtual Result<ResourceStats> ContainerStatsOf(const std::string& id) = 0;
  virtual Result<ResourceStats> PodSandboxStatsOf(const std::string& id) = 0;

  virtual Result<ExecResult> ExecSync(const std::string& id, const std::vector<std::string>& cmd,
                                      std::chrono::milliseconds timeout) = 0;
  virtual Result<std::unique_ptr<ExecSession>> Exec(const std::string& id,
                                                    const ExecOptions& options) = 0;
  virtual Result<AttachConnection> Attach(const std::string& id) = 0;
  // Terminal resize of the container's own tty (conmon's control fifo).
  virtual Status ResizeContainerTerminal(const std::string& id, uint16_t rows, uint16_t cols) = 0;
  // Asks conmon to reopen the log file (after the caller renamed it for rotation).
  virtual Status ReopenContainerLog(const std::string& id) = 0;

  // Crash recovery: removes sandboxes whose ids are not in `keep` (all their containers,
  // namespaces, cgroups, network allocations) and every leftover the runtime recognises as
  // its own but has no state for (runc containers, overlay mounts, pinned namespaces, pod
  // cgroups under the managed parents, IPAM allocations).
  virtual Status Cleanup(const std::set<std::string>& keep) = 0;
};

}  // namespace tug::runtime
