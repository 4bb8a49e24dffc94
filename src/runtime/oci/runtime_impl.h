// The production Runtime: pinned pod namespaces + pod cgroups + CNI (through PodNetwork) for
// sandboxes; overlayfs rootfs + OCI bundle + conmon-monitored runc for containers, as CRI-O
// does. On-disk layout and recovery rules: src/runtime/oci/FORMAT.md.
//
// Ownership: owns the PodNetwork. Processes it starts (conmon, and through it runc and the
// container) outlive the runtime on purpose: an agent restart must not touch running containers.
// Thread-safety: see runtime.h (per-sandbox and per-container locks; sandbox before container).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "runtime/runtime.h"

namespace tug::runtime {

struct RuntimeOptions {
  std::string state_dir = "/run/tug/runtime";       // bundles, exit files, runc root, sockets
  std::string storage_dir = "/var/lib/tug/runtime";  // overlay upper/work dirs (disk-backed)
  std::string ns_root = "/run/tug";                 // netns/, ipcns/, utsns/
  std::string runc_path = "/usr/sbin/runc";
  std::string conmon_path = "/usr/bin/conmon";
  std::string cgroup_mount = "/sys/fs/cgroup";
  // Parent cgroups under which Cleanup() removes pod cgroups ("pod*") that have no sandbox.
  std::vector<std::string> managed_cgroup_parents = {"/tug"};
  // conmon --log-size-max: when a container's log would exceed it, conmon starts the file over
  // (0 = unlimited). Rotation that keeps old files is the kubelet's job via ReopenContainerLog.
  int64_t log_size_max_bytes = 0;
  Clock* clock = nullptr;  // nullptr: RealClock()
};

// `network` may be null: sandboxes then get a network namespace with no interfaces configured.
Result<std::unique_ptr<Runtime>> NewOciRuntime(RuntimeOptions options,
                                               std::unique_ptr<PodNetwork> network);

}  // namespace tug::runtime
