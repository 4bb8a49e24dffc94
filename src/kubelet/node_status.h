// Node registration, node status and the node Lease heartbeat (upstream kubelet's
// kubelet_node_status.go and nodelease): registers the Node named after this machine, keeps
// status (capacity/allocatable, addresses, nodeInfo, conditions, images) current, renews the
// Lease kube-node-lease/<node> every lease_renew_interval, and gives the Node a podCIDR when it
// has none (there is no node-IPAM controller yet: the lowest free /24 of cluster_cidr).
//
// Ownership: borrows the Client (must outlive the manager); owns its thread.
// Thread-safety: Start/Stop from one thread; everything else runs on the manager's thread.
// Stop() joins the thread; it never deletes the Node or the Lease.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "client/client.h"

namespace tug::kubelet {

// What the node reports about the machine it runs on.
struct MachineInfo {
  std::string hostname;
  int64_t cpus = 0;
  int64_t memory_bytes = 0;          // MemTotal
  int64_t memory_available_bytes = 0;  // MemAvailable
  int64_t ephemeral_storage_bytes = 0;  // size of the filesystem holding the data dir
  int64_t ephemeral_available_bytes = 0;
  int64_t pid_max = 0;
  int64_t pids_running = 0;
  std::string internal_ip;  // the first non-loopback IPv4 address
  std::string kernel_version, os_image, architecture = "amd64", operating_system = "linux";
  std::string machine_id, system_uuid, boot_id;
};

// Reads /proc, /etc and the interfaces. Missing optional files leave fields empty.
Result<MachineInfo> ReadMachineInfo(const std::string& data_dir);

// Parses the value of a "Key:   N kB" line of /proc/meminfo-formatted text (bytes; -1 if absent).
int64_t MeminfoBytes(const std::string& meminfo, const std::string& key);
// PRETTY_NAME from os-release text ("Linux" when absent).
std::string OsReleasePrettyName(const std::string& os_release);
// The lowest /24 inside `cluster_cidr` (a /16, e.g. "10.42.0.0/16") that no node in `nodes`
// (a NodeList's items) uses in spec.podCIDR/podCIDRs, skipping node `self`.
// Errors: Invalid (bad cidr), Unavailable (all used).
Result<std::string> LowestFreePodCidr(const Json& nodes, const std::string& self,
                                      const std::string& cluster_cidr);

struct NodeStatusOptions {
  std::string node_name;
  std::string pod_cidr;              // "" = keep the Node's, or allocate one
  std::string cluster_cidr = "10.42.0.0/16";
  std::string node_ip;               // "" = MachineInfo::internal_ip
  std::string data_dir = "/var/lib/tug";
  std::string container_runtime_version = "runc://unknown";
  std::string kubelet_version = "v1.33.0+tug";
  int64_t max_pods = 110;
  int kubelet_port = 10250;  // status.daemonEndpoints.kubeletEndpoint.Port
  std::map<std::string, std::string> extra_labels;
  std::chrono::seconds status_interval{10};
  std::chrono::seconds lease_renew_interval{10};
  int32_t lease_duration_seconds = 40;
  // Node.status.images (client of runtime::image::NodeImagesStatus); null = [] .
  std::function<Json()> images;
  // Overrides ReadMachineInfo (tests).
  std::function<Result<MachineInfo>()> machine_info;
  Clock* clock = nullptr;
};

// Builds the status object the node reports (no lastTransitionTime carry-over; see
// MergeConditions). Exposed for tests.
Json BuildNodeStatus(const MachineInfo& m, const NodeStatusOptions& o, SystemTime now);
// Keeps lastTransitionTime of conditions whose status did not change since `old_status`.
void MergeConditionTimes(const Json& old_status, Json& new_status);

class NodeStatusManager {
 public:
  NodeStatusManager(const client::Client& client, NodeStatusOptions options);
  ~NodeStatusManager();

  // Registers the Node (creating or adopting it), sets the podCIDR, posts the first status and
  // Lease, then starts the periodic thread. Errors from the first registration are returned.
  Status Start();
  void Stop();
  // Posts status now (also from the thread every status_interval).
  Status SyncNodeStatus();
  Status RenewLease();
  void SetContainerRuntimeVersion(std::string v);
  // The port the kubelet server bound (reported from the next status sync on).
  void SetKubeletPort(int port);
  // The Node's podCIDR after Start().
  std::string pod_cidr() const;

 private:
  Status RegisterNode();
  Status EnsurePodCidr(Json& node);
  void Loop(std::stop_token st);

  const client::Client& client_;
  NodeStatusOptions opts_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::string pod_cidr_;
  std::condition_variable_any cv_;
  std::jthread thread_;
};

}  // namespace tug::kubelet
