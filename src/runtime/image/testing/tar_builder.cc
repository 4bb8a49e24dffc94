#include "runtime/image/testing/tar_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <cstdlib>

namespace tug::runtime::image::testing {

TarBuilder& TarBuilder::File(const std::string& path, const std::string& content, int mode, int64_t uid,
                             int64_t gid, std::map<std::string, std::string> xattrs) {
  entries_.push_back({path, content, "", AE_IFREG, mode, uid, gid, false, 0, 0, std::move(xattrs)});
  return *this;
}
TarBuilder& TarBuilder::Dir(const std::string& path, int mode, int64_t uid, int64_t gid) {
  entries_.push_back({path, "", "", AE_IFDIR, mode, uid, gid, false, 0, 0, {}});
  return *this;
}
TarBuilder& TarBuilder::Symlink(const std::string& path, const std::string& target) {
  entries_.push_back({path, "", target, AE_IFLNK, 0777, 0, 0, false, 0, 0, {}});
  return *this;
}
TarBuilder& TarBuilder::Hardlink(const std::string& path, const std::string& target) {
  entries_.push_back({path, "", target, AE_IFREG, 0644, 0, 0, true, 0, 0, {}});
  return *this;
}
TarBuilder& TarBuilder::CharDevice(const std::string& path, unsigned major, unsigned minor, int mode) {
  entries_.push_back({path, "", "", AE_IFCHR, mode, 0, 0, false, major, minor, {}});
  return *this;
}

std::string TarBuilder::Build(Compression c) const {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (c == Compression::kGzip) archive_write_add_filter_gzip(a);
  if (c == Compression::kZstd) archive_write_add_filter_zstd(a);
  archive_write_set_bytes_in_last_block(a, 1);
  auto writer = +[](archive*, void* ud, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(ud)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  if (archive_write_open(a, &out, nullptr, writer, nullptr) != ARCHIVE_OK) {
    std::fprintf(stderr, "tar builder: %s\n", archive_error_string(a));
    std::abort();
  }
  for (const auto& e : entries_) {
    archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.path.c_str());
    archive_entry_set_uid(en, e.uid);
    archive_entry_set_gid(en, e.gid);
    archive_entry_set_mtime(en, 1700000000, 0);
    if (e.hardlink) {
      archive_entry_set_filetype(en, AE_IFREG);
      archive_entry_set_perm(en, e.mode);
      archive_entry_set_hardlink(en, e.link.c_str());
      archive_entry_set_size(en, 0);
    } else {
      archive_entry_set_filetype(en, e.type);
      archive_entry_set_perm(en, e.mode);
      if (e.type == AE_IFLNK) archive_entry_set_symlink(en, e.link.c_str());
      if (e.type == AE_IFCHR) archive_entry_set_rdev(en, makedev(e.major, e.minor));
      archive_entry_set_size(en, e.type == AE_IFREG ? static_cast<la_int64_t>(e.content.size()) : 0);
    }
    for (const auto& [k, v] : e.xattrs) archive_entry_xattr_add_entry(en, k.c_str(), v.data(), v.size());
    if (archive_write_header(a, en) != ARCHIVE_OK) {
      std::fprintf(stderr, "tar builder: %s\n", archive_error_string(a));
      std::abort();
    }
    if (!e.hardlink && e.type == AE_IFREG && !e.content.empty())
      archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

std::string TarBuilder::Gzip(const std::string& bytes) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_raw(a);
  archive_write_add_filter_gzip(a);
  archive_write_set_bytes_in_last_block(a, 1);
  auto writer = +[](archive*, void* ud, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(ud)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  archive_write_open(a, &out, nullptr, writer, nullptr);
  archive_entry* en = archive_entry_new();
  archive_entry_set_filetype(en, AE_IFREG);
  archive_entry_set_pathname(en, "data");
  archive_write_header(a, en);
  archive_write_data(a, bytes.data(), bytes.size());
  archive_entry_free(en);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

size_t CountEntries(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir, ec)) ++n;
  return n;
}

}  // namespace tug::runtime::image::testing
