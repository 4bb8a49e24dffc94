// SHA-256 content digests ("sha256:<hex>") of strings, files and streams (OpenSSL EVP).
// Thread-safety: Sha256 objects are single-threaded; the free functions are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tug::runtime::image {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t n);
  // "sha256:<64 hex>"; the object must not be used afterwards.
  std::string Finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string DigestOf(std::string_view data);
// Digest of a file's content. Errors: NotFound, Internal (read error).
Result<std::string> DigestOfFile(const std::string& path);
// "sha256:abc..." -> "abc..." (the part after the algorithm).
std::string DigestHex(std::string_view digest);

}  // namespace tug::runtime::image
