// ImageStore: the node's images — pull, import, list, remove, garbage collection — and what
// the runtime needs to build a container's root filesystem.
//
// On disk, under <data-dir>/images/ (format: images.md beside this file):
//   blobs/sha256/<hex>       manifests, configs and compressed layers, stored once by digest
//   layers/<diffID hex>/fs   a layer unpacked once (whiteouts in overlayfs form; layer.h)
//   layers/<diffID hex>/size its unpacked byte count
//   images.json              image records: id (config digest) -> names, manifest, layers
//   lock                     flock(2) serializing metadata changes between processes
//   tmp/<pid>-...            downloads and unpacks in progress (renamed into place when whole)
// A blob or layer appears under its final name only complete and verified (rename), so a
// crash or a killed registry never leaves a corrupt one; leftovers in tmp/ of dead processes
// are removed when a store is opened. `tug images import` and the agent may use the same
// store at the same time.
//
// Image names are normalized references (reference.h): "docker.io/library/busybox:latest".
// A name or id argument may be any reference form ("busybox", "busybox:1.36",
// "repo@sha256:..."), an image id ("sha256:<hex>") or an unambiguous id prefix (>= 12 hex).
//
// Ownership: the agent owns one ImageStore (std::unique_ptr). Thread-safety: all methods may be
// called concurrently; pulls of the same layer are de-duplicated within a process.
//
// Errors: NotFound (no such image / not in registry), Invalid (bad reference, digest mismatch,
// malformed archive), Unauthorized/Forbidden (registry refused), Unavailable (registry
// unreachable), Internal (local I/O, disk full).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "runtime/image/registry_client.h"

namespace tug::runtime::image {

// The parts of the OCI image config that shape a container's process (field meanings as in
// the OCI image spec). `raw` is the whole "config" object for anything else.
struct ImageConfig {
  std::vector<std::string> entrypoint, cmd, env;  // env as "K=V"
  std::string working_dir;
  std::string user;  // "uid", "uid:gid", "name", "name:group"
  std::string stop_signal;
  std::vector<std::string> exposed_ports;  // "80/tcp"
  std::map<std::string, std::string> labels;
  Json raw = Json::object();
};

struct ImageInfo {
  std::string id;                         // "sha256:<config digest hex>"
  std::vector<std::string> repo_tags;     // "docker.io/library/busybox:latest"
  std::vector<std::string> repo_digests;  // "docker.io/library/busybox@sha256:..."
  int64_t size = 0;                       // bytes of its blobs (config + compressed layers)
  SystemTime last_used{};
};

struct PullOptions {
  // Credentials by registry host, e.g. from imagePullSecrets (ParseDockerConfig).
  std::map<std::string, Credentials> keyring;
  // Polled while the pull runs (between layers and during downloads, at least once a second):
  // true ends it with an error ("pull cancelled"), keeping the layers already complete — e.g.
  // the kubelet's pod was deleted meanwhile. Another pull waiting for the same layer then
  // fetches it itself.
  std::function<bool()> cancelled;
};

struct ImportOptions {
  // For OCI archives whose ref.name annotation is a bare tag ("1.0"): the repository to
  // put in front of it. Without it such images are kept by id only.
  std::string base_name;
};

// kubelet's imageGCHighThresholdPercent / imageGCLowThresholdPercent.
struct GcPolicy {
  int high_threshold_percent = 85;
  int low_threshold_percent = 80;
};

struct DiskStats {
  uint64_t capacity_bytes = 0;
  uint64_t available_bytes = 0;
};

struct GcResult {
  int usage_percent = 0;
  bool triggered = false;         // usage was at or above the high threshold
  int64_t wanted_bytes = 0;       // to get down to the low threshold
  int64_t freed_bytes = 0;
  std::vector<std::string> removed;  // image ids
};

class ImageStore {
 public:
  virtual ~ImageStore() = default;

  // Pulls (or refreshes) an image from its registry and records it under the reference's
  // name(s). Layers already present are not downloaded again.
  virtual Result<ImageInfo> Pull(std::string_view ref, const PullOptions& options = {}) = 0;
  // Loads a `docker save` tarball or an OCI image layout archive. Returns the images loaded.
  virtual Result<std::vector<ImageInfo>> Import(const std::string& archive_path,
                                                const ImportOptions& options = {}) = 0;
  // The image a name or id refers to. Errors: NotFound.
  virtual Result<ImageInfo> Get(std::string_view name_or_id) = 0;
  // Every image, for the node's status.images list and `tug images ls`.
  virtual Result<std::vector<ImageInfo>> List() = 0;
  // By name: removes the name (and the image with its last name); by id: the image and all
  // its names. Layers and blobs no other image uses are deleted. Errors: NotFound.
  virtual Status Remove(std::string_view name_or_id) = 0;
  // The image's unpacked layer directories, top layer first (overlayfs lowerdir order).
  // Marks the image used now (GC evicts least recently used first). Errors: NotFound.
  virtual Result<std::vector<std::string>> LayerDirs(std::string_view image) = 0;
  virtual Result<ImageConfig> Config(std::string_view image) = 0;
  // When disk usage of the images filesystem is at or above policy.high, removes images not
  // in `in_use` (names or ids), least recently used first, until usage would be at
  // policy.low. Errors: Internal when not enough could be freed (what could be freed is).
  virtual Result<GcResult> GarbageCollect(const GcPolicy& policy, const std::set<std::string>& in_use) = 0;
};

struct ImageStoreOptions {
  // Registry settings. When load_registries_file is set, <data-dir>/registries.yaml replaces
  // options.registries at every pull (so edits apply without a restart).
  RegistryClient::Options registry;
  bool load_registries_file = true;
  // Disk usage of the filesystem holding path (statvfs); tests inject their own.
  std::function<Result<DiskStats>(const std::string& path)> disk_stats;
  Clock* clock = nullptr;  // RealClock() when null
  // GC leaves layers and blobs that no image references alone while younger than this: they
  // may belong to another process's pull that has not recorded its image yet.
  std::chrono::seconds orphan_grace{60};
};

// Opens (creating if needed) the store under <data_dir>/images. Errors: Internal.
Result<std::unique_ptr<ImageStore>> OpenImageStore(const std::string& data_dir, ImageStoreOptions options = {});

// The node's status.images list as the kubelet reports it: images sorted by size (largest
// first), at most max_images of them, each {"names": [repo digests..., repo tags...] (at most
// 5), "sizeBytes": n}; images without any name are left out.
Json NodeImagesStatus(const std::vector<ImageInfo>& images, size_t max_images = 50);

// Parses an OCI image config document. Errors: Invalid.
Result<ImageConfig> ParseImageConfig(std::string_view config_json);

}  // namespace tug::runtime::image
