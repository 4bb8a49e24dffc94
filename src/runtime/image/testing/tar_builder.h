// TarBuilder: builds layer tarballs in memory for tests (libarchive writer, pax format).
// Not thread-safe; test-only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tug::runtime::image::testing {

enum class Compression { kNone, kGzip, kZstd };

class TarBuilder {
 public:
  TarBuilder& File(const std::string& path, const std::string& content, int mode = 0644, int64_t uid = 0,
                   int64_t gid = 0, std::map<std::string, std::string> xattrs = {});
  TarBuilder& Dir(const std::string& path, int mode = 0755, int64_t uid = 0, int64_t gid = 0);
  TarBuilder& Symlink(const std::string& path, const std::string& target);
  TarBuilder& Hardlink(const std::string& path, const std::string& target);
  TarBuilder& CharDevice(const std::string& path, unsigned major, unsigned minor, int mode = 0666);
  // Serializes the archive. Aborts the test binary on libarchive errors.
  std::string Build(Compression c = Compression::kNone) const;
  // gzip of arbitrary bytes (a compressed layer from an uncompressed tar).
  static std::string Gzip(const std::string& bytes);

 private:
  struct Entry {
    std::string path, content, link;
    int type = 0, mode = 0;
    int64_t uid = 0, gid = 0;
    bool hardlink = false;
    unsigned major = 0, minor = 0;
    std::map<std::string, std::string> xattrs;
  };
  std::vector<Entry> entries_;
};

// n pseudo-random (incompressible) bytes, the same for the same seed.
std::string RandomBytes(size_t n, uint64_t seed);
// Entries of a directory (0 when it does not exist): "nothing left in tmp/".
size_t CountEntries(const std::string& dir);

}  // namespace tug::runtime::image::testing
