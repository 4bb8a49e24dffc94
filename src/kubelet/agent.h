// The node agent's kubelet core: registers the Node (NodeStatusManager), runs the pods bound to
// it (PodWorkers) on the OCI runtime with CNI networking and the node's image store, and serves
// the kubelet HTTPS port (kubelet/server: logs, exec, attach) that the API server proxies to.
//
//   ASSIGN_OR_RETURN(auto agent, kubelet::StartAgent(client, {.node_name = "n1", ...}));
//   ...
//   agent->Stop();   // containers keep running; a new agent adopts them
//
// Ownership: the Agent borrows the Client (it must outlive the Agent) and owns the runtime,
// image store, node status manager and pod workers.
// Thread-safety: Stop() from one thread; Stop is idempotent and called by the destructor.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "client/client.h"

namespace tug::kubelet {

struct AgentOptions {
  std::string node_name;           // "" = the host name (lower case)
  std::string data_dir = "/var/lib/tug/agent";  // images/, pods/, cni/, runtime storage
  std::string pod_cidr;            // "" = Node.spec.podCIDR, or allocate the lowest free /24
  std::string cluster_cidr = "10.42.0.0/16";
  std::string node_ip;             // "" = first non-loopback IPv4
  std::string cluster_dns = "10.43.0.10";
  std::string cluster_domain = "cluster.local";
  // Runtime state (tmpfs-like) and namespace pin dirs.
  std::string runtime_state_dir = "/run/tug/runtime";
  std::string ns_root = "/run/tug";
  std::string cni_plugin_dir = "/usr/lib/cni";
  std::string cni_bridge = "tug0";
  std::string cgroup_parent = "/tug";
  std::string runc_path = "/usr/sbin/runc";  // the OCI runtime binary (`--runc`)
  // Container log rotation (kubelet/logs; KubeletConfiguration containerLogMaxSize,
  // containerLogMaxFiles, containerLogMonitorInterval). StartAgent rejects max files < 2 and
  // a size <= 0.
  int64_t container_log_max_size = 10 << 20;
  int container_log_max_files = 5;
  std::chrono::milliseconds container_log_monitor_interval{10000};
  int workers = 4;
  // The kubelet HTTPS server. Port 0: a free port (tests); -1: not started. The Node's
  // status.daemonEndpoints.kubeletEndpoint.Port is the port actually bound.
  int kubelet_port = 10250;
  std::string kubelet_bind_address = "0.0.0.0";
  // The cluster CA (PEM). Clients of the kubelet port must present a certificate it signed (the
  // API server uses the admin client certificate). Empty: the kubelet port is not started (it
  // would serve exec to anyone), with a warning.
  std::string ca_cert_pem;
  // The CA's key (PEM), only where the agent runs beside the CA (inside `tug server`): the
  // serving certificate is then signed by the cluster CA; otherwise it is self-signed.
  std::string ca_key_pem;
};

class Agent {
 public:
  virtual ~Agent() = default;
  // Stops the workers and heartbeats; never stops or removes containers.
  virtual void Stop() = 0;
  virtual const std::string& node_name() const = 0;
  // The kubelet HTTPS port bound (0 when not started).
  virtual int kubelet_port() const = 0;
};

Result<std::unique_ptr<Agent>> StartAgent(const client::Client& client, AgentOptions options);

}  // namespace tug::kubelet
