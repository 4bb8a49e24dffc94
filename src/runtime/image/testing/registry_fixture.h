// RegistryFixture: a real Debian docker-registry (distribution 2.x) on 127.0.0.1:<free port>
// with its storage in a temp dir, for tests. Push helpers speak the registry API directly so
// tests can publish any manifest (lists, odd layers). The destructor stops the registry and
// removes the dir. Test-only; not thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/status.h"

namespace tug::runtime::image::testing {

class RegistryFixture {
 public:
  // Path of the docker-registry binary, or empty when it is not installed.
  static std::string Binary();

  RegistryFixture();
  ~RegistryFixture();
  RegistryFixture(const RegistryFixture&) = delete;
  RegistryFixture& operator=(const RegistryFixture&) = delete;

  Status Start();  // on a free port the first time, the same port and storage afterwards
  void Kill();     // SIGKILL, as a registry that dies mid-transfer
  void Stop();     // SIGTERM and wait

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + host(); }
  const std::string& dir() const { return dir_; }
  // Where the registry keeps a blob's bytes (tests corrupt it).
  std::string BlobDataPath(const std::string& digest) const;

  // Uploads a blob; returns its digest.
  Result<std::string> PushBlob(const std::string& repo, const std::string& bytes);
  Status PushManifest(const std::string& repo, const std::string& ref, const std::string& media_type,
                      const std::string& bytes);
  // Pushes an image (config + layers) as a Docker v2 manifest; returns the manifest digest.
  // config_json's rootfs.diff_ids must match the layers.
  Result<std::string> PushImage(const std::string& repo, const std::string& tag, const std::string& config_json,
                                const std::vector<std::string>& layers_gzip_or_tar,
                                const std::string& layer_media_type);

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tug::runtime::image::testing
