// Atomic writer for API-data volumes (configMap, secret, downwardAPI, projected), with the
// on-disk layout upstream kubelet uses so that a reader never sees a half-written file or a
// mix of old and new files:
//
//   <dir>/..2026_11_25_23_30_00.123456/   the payload, one timestamped directory per version
//   <dir>/..data -> ..2026_11_25_23_30_00.123456   swapped with rename(2) (atomic)
//   <dir>/<key>  -> ..data/<key>           one user-visible symlink per top-level path element
//
// A write that changes nothing (same paths, data and modes) leaves the directory alone.
//
// Thread-safety: none; callers serialize writes to one directory (the pod worker does).
// Errors: Invalid (bad payload path), Internal (a syscall failed; the message names it).
#pragma once

#include <map>
#include <string>

#include "base/status.h"

namespace tug::kubelet::volumes {

struct FileProjection {
  std::string data;
  int mode = 0644;
  bool operator==(const FileProjection&) const = default;
};

// Relative path ("a/b/key") -> contents.
using Payload = std::map<std::string, FileProjection>;

// Checks a payload path as upstream validatePath: relative, not empty, no ".." element, no
// element starting with "..", at most 4096 bytes and 255 per element.
Status ValidatePayloadPath(const std::string& path);

// Makes `dir` hold exactly `payload` (see above). Creates `dir` when missing. Returns true
// when the contents changed.
Result<bool> WriteAtomic(const std::string& dir, const Payload& payload);

// The payload currently visible through <dir>/..data (empty when never written).
Result<Payload> ReadCurrentPayload(const std::string& dir);

}  // namespace tug::kubelet::volumes
