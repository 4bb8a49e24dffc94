// Simulated-node objects: the Node, Lease and pod-status documents a kubelet would write, built
// as JSON (pure functions, no I/O), for `tug simnodes` (simnodes.h).
//
// Field names, condition types, reasons and messages follow upstream's kubelet (1.33) so the
// controllers, the scheduler and kubectl see what they would see on a real node.
// Ownership: values only. Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::simnodes {

// What every simulated node reports (the machine's shape).
struct NodeShape {
  std::string cpu = "4";
  std::string memory = "16Gi";
  std::string pods = "110";
  std::string ephemeral_storage = "100Gi";
  std::string kubelet_version = "v1.33.0";
  std::map<std::string, std::string> labels;  // extra labels (--labels)
  Json taints = Json::array();                // spec.taints (--taints)
};

// Addresses of node number `index` (global, so several simnodes processes never collide):
// InternalIP 10.0.<index/254>.<index%254+1>, pod CIDR 10.<42+index/256 (skipping 43, the
// service CIDR)>.<index%256>.0/24. Indexes up to 54,000 are distinct.
std::string NodeIP(uint32_t index);
std::string PodCIDR(uint32_t index);
// The pod IP with host number `host` (2..254) in node `index`'s CIDR.
std::string PodIP(uint32_t index, uint8_t host);

// Parses "--labels k=v,k2=v2". Errors: BadRequest naming the bad item.
Result<std::map<std::string, std::string>> ParseLabels(std::string_view text);
// Parses "--taints key=value:Effect,key:Effect" (kubectl taint / kubelet --register-with-taints
// syntax). Errors: BadRequest naming the bad item (missing or unknown effect).
Result<Json> ParseTaints(std::string_view text);

// The Node object to create: metadata (labels kubernetes.io/hostname|os|arch and their beta
// twins, plus shape.labels), spec (podCIDR(s), taints) and a full status.
Json BuildNode(const std::string& name, uint32_t index, const NodeShape& shape, SystemTime now);
// The Node status a kubelet posts: capacity/allocatable, the five conditions (Ready True, the
// pressure conditions False, NetworkUnavailable False), addresses, daemonEndpoints, nodeInfo.
Json BuildNodeStatus(const std::string& name, uint32_t index, const NodeShape& shape, SystemTime now);
// Whether a node's current status needs a kubelet report: Ready is not True (e.g. the node
// lifecycle controller marked it Unknown) or the Ready heartbeat is older than `max_age`.
bool NodeStatusStale(const Json& node, SystemTime now, std::chrono::seconds max_age);

// The node's Lease in kube-node-lease (holderIdentity = node, leaseDurationSeconds, renewTime,
// owned by the Node when its uid is known).
Json BuildLease(const std::string& node_name, std::string_view node_uid, int lease_duration_seconds,
                SystemTime now);

// Pod status documents (the `status` object only; callers wrap it in a patch).
struct PodRunInfo {
  std::string host_ip;
  std::string pod_ip;
  SystemTime started_at;  // when the containers started (state.running.startedAt)
  int restart_count = 0;
};
// Accepted, containers being created: phase Pending, hostIP, startTime, PodReadyToStartContainers
// False, Initialized True, ContainersReady/Ready False (ContainersNotReady), waiting
// ContainerCreating.
Json BuildPendingStatus(const Json& pod, const PodRunInfo& run, SystemTime now);
// Every container running, started and ready; init containers Completed; all conditions True.
// `last_exit_code` (when set) goes into each container's lastState.terminated (a restart).
Json BuildRunningStatus(const Json& pod, const PodRunInfo& run, SystemTime now,
                        std::optional<int> last_exit_code = std::nullopt);
// A container of an OnFailure pod exited with `exit_code` and waits to restart: phase stays
// Running, Ready False, state.waiting CrashLoopBackOff, lastState.terminated.
Json BuildBackoffStatus(const Json& pod, const PodRunInfo& run, SystemTime now, int exit_code);
// Every container exited with `exit_code`: phase Succeeded (0) or Failed, state.terminated with
// reason Completed or Error, Ready/ContainersReady False (PodCompleted / PodFailed).
Json BuildTerminatedStatus(const Json& pod, const PodRunInfo& run, SystemTime now, int exit_code);

// The exit code a simulated pod's containers end with: annotation tug.dev/sim-exit-code (an
// integer 0..255), 0 when absent or unparseable.
int SimExitCode(const Json& pod);

// "sim://<64 hex>": a stable container id for (pod uid, container, restart).
std::string ContainerID(std::string_view pod_uid, std::string_view container, int restart);
// "<image repository>@sha256:<64 hex>": a stable image id for an image reference.
std::string ImageID(std::string_view image);

}  // namespace tug::simnodes
