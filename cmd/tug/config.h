// `tug server` configuration and flag parsing (composition root, C1/C8).
//
// Flags: --data-dir DIR (/var/lib/tug), --bind-address IP (0.0.0.0), --port N (6443),
// --disable-agent, --disable-controller-manager, --disable-scheduler, --controllers LIST,
// --leader-elect, --token-auth-file FILE, -v N / --v N, and the built-in agent's --node-name,
// --node-ip, --pod-cidr, --cluster-cidr, --run-dir, --kubelet-port, --cni-bridge,
// --cgroup-parent, and the node runtime flags that `tug agent` shares (NodeRuntimeFlags). Both
// `--flag value` and `--flag=value`.
// Thread-safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace tug::cmd {

// Flags of the node agent that `tug server` (for its built-in agent) and `tug agent` share:
// --runc PATH, --container-log-max-size QUANTITY, --container-log-max-files N,
// --container-log-monitor-interval DURATION (kubelet's containerLog* settings).
struct NodeRuntimeFlags {
  std::string runc_path = "/usr/sbin/runc";
  int64_t container_log_max_size = 10 << 20;  // 10Mi
  int container_log_max_files = 5;
  std::chrono::milliseconds container_log_monitor_interval{10000};
};
bool IsNodeRuntimeFlag(const std::string& name);
// Parses one of them into f. Errors: BadRequest with a one-line message ("invalid value \"1\"
// for flag --container-log-max-files: must be at least 2").
Status ParseNodeRuntimeFlag(const std::string& name, const std::string& value, NodeRuntimeFlags& f);
// Their lines for --help.
std::string NodeRuntimeFlagsUsage();

struct Config {
  std::string data_dir = "/var/lib/tug";
  std::string bind_address = "0.0.0.0";
  int port = 6443;
  bool disable_agent = false;
  bool disable_controllers = false;  // --disable-controller-manager (as k3s)
  bool disable_scheduler = false;    // --disable-scheduler
  // --leader-elect: the controller manager and the scheduler run only while they hold their
  // kube-system Lease. Off by default: the embedded store belongs to exactly one server (the
  // data-dir lock), so an election would only add a Lease write every 2 s to an idle cluster.
  bool leader_elect = false;
  // --controllers: upstream-style list ("*", "foo", "-foo"); empty = every default controller.
  std::vector<std::string> controllers;
  std::string token_auth_file;
  int verbosity = 2;
  // The built-in node agent (unless disable_agent); its data lives in <data_dir>/agent.
  std::string node_name;                      // "" = the host name, lower case
  std::string node_ip;                        // "" = first non-loopback IPv4
  std::string pod_cidr;                       // "" = Node.spec.podCIDR or the lowest free /24
  std::string cluster_cidr = "10.42.0.0/16";
  std::string run_dir = "/run/tug";           // runtime state and namespace pins
  int kubelet_port = 10250;                   // 0 = a free port
  std::string cni_bridge = "tug0";
  std::string cgroup_parent = "/tug";
  NodeRuntimeFlags node_runtime;
};

// What a command line asked for.
struct ParsedServerArgs {
  Config config;
  bool help = false;
};

// Parses the arguments after `tug server`. Errors: BadRequest with a one-line message
// ("unknown flag: --foo", "flag needs an argument: --port", "invalid value ...").
Result<ParsedServerArgs> ParseServerFlags(const std::vector<std::string>& args);

// Usage text for `tug server --help`.
std::string ServerUsage();

}  // namespace tug::cmd
