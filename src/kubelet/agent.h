// The node agent's kubelet core: registers the Node (NodeStatusManager), runs the pods bound to
// it (PodWorkers) on the OCI runtime with CNI networking and the node's image store.
//
//   ASSIGN_OR_RETURN(auto agent, kubelet::StartAgent(client, {.node_name = "n1", ...}));
//   ...
//   agent->Stop();   // containers keep running; a new agent adopts them
//
// Ownership: the Agent borrows the Client (it must outlive the Agent) and owns the runtime,
// image store, node status manager and pod workers.
// Thread-safety: Stop() from one thread; Stop is idempotent and called by the destructor.
#pragma once

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
  int workers = 4;
};

class Agent {
 public:
  virtual ~Agent() = default;
  // Stops the workers and heartbeats; never stops or removes containers.
  virtual void Stop() = 0;
  virtual const std::string& node_name() const = 0;
};

Result<std::unique_ptr<Agent>> StartAgent(const client::Client& client, AgentOptions options);

}  // namespace tug::kubelet
