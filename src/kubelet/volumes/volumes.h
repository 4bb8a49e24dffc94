// Pod volumes on the node, as upstream kubelet's volume manager and in-tree plugins do them:
//
//   emptyDir      <pod_dir>/volumes/kubernetes.io~empty-dir/<name>, mode 0777; medium Memory
//                 is a tmpfs mounted there (size = sizeLimit)
//   hostPath      the host path itself, after the type check of spec.hostPath.type
//                 (DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice,
//                 BlockDevice, "": a missing path is created as a directory, as containerd does)
//   configMap, secret, downwardAPI, projected
//                 <pod_dir>/volumes/kubernetes.io~{configmap,secret,downward-api,projected}/<name>,
//                 written by the atomic writer (atomic_writer.h); secret and projected volumes
//                 live on a tmpfs when the agent can mount. Re-rendered at most every
//                 refresh_interval while the pod runs (object changes appear in place); a failed
//                 refresh keeps the old contents. Projected serviceAccountToken sources come from
//                 the TokenRequest API and are renewed at 80% of their lifetime.
//   persistentVolumeClaim
//                 a Bound claim whose PersistentVolume is hostPath or local: that path.
//
// Containers get bind mounts (ContainerMounts) with readOnly, subPath/subPathExpr and
// mountPropagation; API-data volumes are always read-only, as upstream.
//
// The only host mounts are tmpfs under <pod_dir>/volumes; TearDownPod unmounts them, and
// CleanupOrphans does the same for pod directories whose pod is gone (agent restart).
//
// Errors from SetUpPod carry upstream's FailedMount event text:
//   MountVolume.SetUp failed for volume "<name>" : <cause>
//
// Ownership: the VolumeManager owns its per-pod bookkeeping and borrows nothing (Sources are
// callbacks). Thread-safety: every method may be called from any thread; calls for one pod
// must be serialized by the caller (the pod worker is).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "kubelet/volumes/atomic_writer.h"
#include "runtime/runtime.h"

namespace tug::kubelet::volumes {

// Where objects come from (the agent wires these to the API client). Each lookup returns the
// object or NotFound.
struct Sources {
  std::function<Result<Json>(const std::string& ns, const std::string& name)> config_map, secret, pvc;
  std::function<Result<Json>(const std::string& name)> pv;
  // POST serviceaccounts/<sa>/token in `ns` with the TokenRequest `request`; the answer.
  std::function<Result<Json>(const std::string& ns, const std::string& sa, const Json& request)> token;
  // A Kubernetes quantity in milli-units (kubelet::ParseQuantityMilli).
  std::function<Result<int64_t>(const std::string& quantity)> parse_quantity_milli;
  // Local-path provisioning (all three, or none to switch it off): StorageClass by name,
  // PV create, and a JSON merge patch of a PV (pv = true, ns "") or PVC; subresource "" or
  // "status".
  std::function<Result<Json>(const std::string& name)> storage_class;
  std::function<Result<Json>(const Json& pv)> create_pv;
  std::function<Result<Json>(bool pv, const std::string& ns, const std::string& name, const Json& patch,
                             const std::string& subresource)>
      patch;
};

// The built-in dynamic provisioner, as k3s's local-path-provisioner: a claim of a StorageClass
// whose provisioner is kLocalPathProvisioner, used by a pod bound to this node (and selected
// for it by the scheduler, when annotated), gets a PV "pvc-<claim uid>" — a hostPath directory
// <storage_dir>/pvc-<uid>_<ns>_<name> with node affinity to this node — and both are bound.
inline constexpr const char* kLocalPathProvisioner = "rancher.io/local-path";
// The default StorageClass `local-path` (WaitForFirstConsumer, reclaimPolicy Delete).
Json LocalPathStorageClass();

struct Options {
  // Node allocatable: what resourceFieldRef reports for a limit the container does not set.
  int64_t node_cpu_milli = 0;
  int64_t node_memory_bytes = 0;
  int64_t node_ephemeral_storage_bytes = 0;
  std::chrono::milliseconds refresh_interval{5000};
  std::string node_name;    // for local-path PVs' node affinity
  std::string storage_dir;  // local-path volumes ("" = provisioning off)
  // tmpfs for secret/projected volumes (needs CAP_SYS_ADMIN; off: plain directories).
  bool secrets_on_tmpfs = true;
  Clock* clock = nullptr;
};

// Upstream fieldpath.FormatMap: sorted `key="value"` lines (Go %q quoting), no final newline.
std::string FormatMap(const Json& map);

// Mount points at or below `dir` (from /proc/self/mountinfo), deepest first.
std::vector<std::string> MountsUnder(const std::string& dir);

// Unmounts every mount point at or below `dir` (lazily when busy). Errors: Internal.
Status UnmountAllUnder(const std::string& dir);

class VolumeManager {
 public:
  VolumeManager(Sources sources, Options options);

  // Makes every volume of `pod` ready under `pod_dir` (idempotent; refreshes API-data
  // volumes). Errors: the first volume that failed, with the FailedMount message.
  Status SetUpPod(const Json& pod, const std::string& pod_dir);

  // The bind mounts for `container`'s volumeMounts (SetUpPod must have succeeded). `env` is
  // the container's environment, for subPathExpr. Errors: Invalid (unknown volume, bad
  // subPath, Bidirectional without privileged), Internal.
  Result<std::vector<runtime::Mount>> ContainerMounts(
      const Json& pod, const std::string& pod_dir, const Json& container,
      const std::vector<std::pair<std::string, std::string>>& env = {});

  // Unmounts and removes <pod_dir>/volumes; forgets the pod. Idempotent.
  Status TearDownPod(const Json& pod, const std::string& pod_dir);

  // For every <pods_dir>/<ns>_<name>_<uid> whose uid is not in live_uids: unmounts what is
  // mounted below it and removes it. Returns how many directories went.
  Result<int> CleanupOrphans(const std::string& pods_dir, const std::set<std::string>& live_uids);

  // The host directory of an emptyDir/configMap/secret/downwardAPI/projected volume.
  static std::string VolumeDir(const std::string& pod_dir, const std::string& plugin, const std::string& name);

 private:
  struct Token {
    std::string token;
    std::chrono::system_clock::time_point refresh_at{};
  };
  struct VolumeState {
    bool set_up = false;
    std::chrono::steady_clock::time_point last_refresh{};
    std::string host_path;                // hostPath / persistentVolumeClaim
    bool read_only = false;               // forced (API data, PVC readOnly)
    std::map<std::string, Token> tokens;  // projected: by file path
  };
  using PodVolumes = std::map<std::string, VolumeState>;

  Status SetUpVolume(const Json& pod, const std::string& pod_dir, const Json& volume, VolumeState& vs);
  // The files of a configMap/secret/downwardAPI/projected volume; `mode` gets defaultMode.
  Result<Payload> ApiDataPayload(const Json& pod, const Json& volume, VolumeState& vs);
  Result<Payload> ProjectedPayload(const Json& pod, const Json& projected, VolumeState& vs);
  // Provisions and binds an unbound local-path claim; returns the bound PVC (or the Status
  // explaining why it stays unbound).
  Result<Json> ProvisionLocalPath(const Json& pvc);
  Result<std::string> ResourceValue(const Json& pod, const Json& ref);
  Status MountTmpfs(const std::string& path, int64_t size_bytes);

  Sources sources_;
  Options opts_;
  Clock& clock_;
  std::mutex mu_;
  std::map<std::string, PodVolumes> pods_;  // by pod uid; entries only change under mu_
};

}  // namespace tug::kubelet::volumes
