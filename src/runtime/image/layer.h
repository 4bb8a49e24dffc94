// Layer unpacking (libarchive): a layer blob (tar, tar+gzip, tar+zstd, tar+xz) becomes a
// directory that overlayfs can stack as a lowerdir.
//
// Whiteouts are turned into overlayfs's form, because each layer keeps its own directory:
//   <dir>/.wh.<name>     -> <dir>/<name> as a character device 0/0
//   <dir>/.wh..wh..opq   -> xattr trusted.overlay.opaque="y" on <dir>
// Other ".wh..wh." entries (AUFS bookkeeping) are dropped. Device nodes, hard links,
// symlinks, modes, ownership (numeric, never looked up on the host), times and xattrs are
// kept. An entry whose path or hard-link target would leave the layer directory ("..", or a
// path through a symlink) fails the whole layer.
//
// Needs root (mknod, chown, trusted.* xattrs) for real layers.
// Thread-safety: stateless functions; different destinations may be unpacked in parallel.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace tug::runtime::image {

// sha256 of the uncompressed stream (the OCI "diffID"). Errors: Invalid (not a known
// compression / corrupt stream), NotFound.
Result<std::string> ComputeDiffId(const std::string& blob_path);

// strerror(err) in the lower-case form Docker and containerd print ("no space left on device"),
// so pull errors read the same in events as upstream's.
std::string ErrnoText(int err);

struct UnpackOptions {
  // Layer semantics (whiteouts). False for plain archives (image tarballs being imported).
  bool whiteouts = true;
  // Device nodes, fifos and ownership. False extracts only files, dirs, links (imports).
  bool special_files = true;
};

// Unpacks into dest_dir (must exist). Returns the sum of regular file sizes.
// Errors: Invalid (corrupt archive, path escaping the directory), Internal (I/O; a full disk
// reads "...: no space left on device" and is never ignored, so a short file cannot pass).
Result<int64_t> UnpackLayer(const std::string& blob_path, const std::string& dest_dir,
                            const UnpackOptions& options = {});

}  // namespace tug::runtime::image
