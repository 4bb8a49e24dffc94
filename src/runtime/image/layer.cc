#include "runtime/image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "runtime/image/digest.h"

namespace tug::runtime::image {
namespace {

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ReadPtr = std::unique_ptr<archive, ReadDeleter>;
using WritePtr = std::unique_ptr<archive, WriteDeleter>;

// "./a//b/" -> "a/b"; rejects "..". Empty result means the root itself.
Result<std::string> CleanPath(std::string_view p) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view c = p.substr(i, j - i);
    if (c == "..") return InvalidError("layer entry \"" + std::string(p) + "\" escapes the layer directory");
    if (!c.empty() && c != ".") parts.push_back(c);
    i = j + 1;
  }
  std::string out;
  for (auto c : parts) {
    if (!out.empty()) out += '/';
    out += c;
  }
  return out;
}

// Every existing component of root/rel's parent must be a real directory, not a symlink.
Status CheckParents(const std::string& root, const std::string& rel) {
  std::string cur = root;
  size_t i = 0;
  while (true) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) break;
    cur += "/" + rel.substr(i, j - i);
    struct stat st;
    if (::lstat(cur.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::Ok();
      return InternalError("lstat " + cur + ": " + ErrnoText(errno));
    }
    if (S_ISLNK(st.st_mode)) return InvalidError("layer entry \"" + rel + "\" goes through a symlink");
    if (!S_ISDIR(st.st_mode)) return InvalidError("layer entry \"" + rel + "\": parent is not a directory");
    i = j + 1;
  }
  return Status::Ok();
}

Status MkdirAll(const std::string& root, const std::string& rel) {
  std::string cur = root;
  size_t i = 0;
  while (i <= rel.size() && !rel.empty()) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    cur += "/" + rel.substr(i, j - i);
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      return InternalError("mkdir " + cur + ": " + ErrnoText(errno));
    struct stat st;
    if (::lstat(cur.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return InvalidError("layer path " + cur + " is not a directory");
    i = j + 1;
  }
  return Status::Ok();
}

std::string ArchiveError(archive* a) {
  const char* e = archive_error_string(a);
  std::string text = e ? e : "unknown archive error";
  int err = archive_errno(a);
  if (err > 0 && err != EINVAL && err != EILSEQ) text += ": " + ErrnoText(err);
  return text;
}

// libarchive reports a failed write(2) as ARCHIVE_WARN ("Write failed"), which the lenient
// checks below would let through, leaving a short file in the layer: errors of the disk itself
// always fail the layer.
bool DiskError(archive* a) {
  int err = archive_errno(a);
  return err == ENOSPC || err == EDQUOT || err == EIO || err == EROFS || err == EFBIG;
}

ReadPtr OpenRead(const std::string& path, bool raw, Status* st) {
  ReadPtr a(archive_read_new());
  archive_read_support_filter_all(a.get());
  if (raw) {
    archive_read_support_format_raw(a.get());
  } else {
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    archive_read_support_format_empty(a.get());
  }
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 20) != ARCHIVE_OK) {
    *st = InvalidError("open " + path + ": " + ArchiveError(a.get()));
    return nullptr;
  }
  return a;
}

}  // namespace

std::string ErrnoText(int err) {
  std::string s = std::strerror(err);
  // "No space left on device" -> "no space left on device", as Go's syscall table spells it.
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

Result<std::string> ComputeDiffId(const std::string& blob_path) {
  if (::access(blob_path.c_str(), R_OK) != 0) return NotFoundError("no such blob: " + blob_path);
  Status st;
  ReadPtr a = OpenRead(blob_path, /*raw=*/true, &st);
  if (!a) return st;
  Sha256 h;
  archive_entry* e = nullptr;
  int r = archive_read_next_header(a.get(), &e);
  if (r == ARCHIVE_EOF) return h.Finish();
  if (r != ARCHIVE_OK) return InvalidError("read " + blob_path + ": " + ArchiveError(a.get()));
  const void* buf;
  size_t size;
  la_int64_t off;
  while ((r = archive_read_data_block(a.get(), &buf, &size, &off)) == ARCHIVE_OK) h.Update(buf, size);
  if (r != ARCHIVE_EOF) return InvalidError("decompress " + blob_path + ": " + ArchiveError(a.get()));
  return h.Finish();
}

Result<int64_t> UnpackLayer(const std::string& blob_path, const std::string& dest_in, const UnpackOptions& opt) {
  // libarchive's symlink check walks the whole path, so the destination must be canonical.
  char real[PATH_MAX];
  if (!::realpath(dest_in.c_str(), real)) return InternalError("realpath " + dest_in + ": " + ErrnoText(errno));
  const std::string dest = real;
  Status st;
  ReadPtr in = OpenRead(blob_path, /*raw=*/false, &st);
  if (!in) return st;
  WritePtr out(archive_write_disk_new());
  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
              ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK;
  if (opt.special_files) flags |= ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR;
  archive_write_disk_set_options(out.get(), flags);
  int64_t total = 0;
  archive_entry* e = nullptr;
  while (true) {
    int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return InvalidError("read layer " + blob_path + ": " + ArchiveError(in.get()));
    ASSIGN_OR_RETURN(std::string rel, CleanPath(archive_entry_pathname(e) ? archive_entry_pathname(e) : ""));
    if (rel.empty()) continue;  // the root directory itself
    RETURN_IF_ERROR(CheckParents(dest, rel));
    std::string parent = rel.find('/') == std::string::npos ? "" : rel.substr(0, rel.rfind('/'));
    std::string base = rel.substr(rel.rfind('/') == std::string::npos ? 0 : rel.rfind('/') + 1);
    if (opt.whiteouts && base.rfind(".wh.", 0) == 0) {
      RETURN_IF_ERROR(MkdirAll(dest, parent));
      std::string dir = parent.empty() ? dest : dest + "/" + parent;
      if (base == ".wh..wh..opq") {
        if (::lsetxattr(dir.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0)
          return InternalError("set opaque xattr on " + dir + ": " + ErrnoText(errno));
      } else if (base.rfind(".wh..wh.", 0) != 0) {
        std::string target = dir + "/" + base.substr(4);
        ::unlink(target.c_str());
        if (::mknod(target.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0)
          return InternalError("whiteout " + target + ": " + ErrnoText(errno));
      }
      continue;
    }
    mode_t type = archive_entry_filetype(e);
    if (!opt.special_files && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK &&
        !archive_entry_hardlink(e))
      continue;
    if (const char* hl = archive_entry_hardlink(e)) {
      ASSIGN_OR_RETURN(std::string target, CleanPath(hl));
      if (target.empty()) return InvalidError("layer entry \"" + rel + "\": bad hard link target");
      RETURN_IF_ERROR(CheckParents(dest, target));
      struct stat lst;
      std::string tpath = dest + "/" + target;
      if (::lstat(tpath.c_str(), &lst) != 0)
        return InvalidError("layer entry \"" + rel + "\": hard link target \"" + target + "\" does not exist");
      archive_entry_set_hardlink(e, tpath.c_str());
    }
    std::string full = dest + "/" + rel;
    archive_entry_set_pathname(e, full.c_str());
    r = archive_write_header(out.get(), e);
    if (r < ARCHIVE_OK && DiskError(out.get()))
      return InternalError("extract \"" + rel + "\": " + ArchiveError(out.get()));
    if (r < ARCHIVE_WARN) return InvalidError("extract \"" + rel + "\": " + ArchiveError(out.get()));
    if (archive_entry_size(e) > 0 && !archive_entry_hardlink(e)) {
      const void* buf;
      size_t size;
      la_int64_t off;
      while ((r = archive_read_data_block(in.get(), &buf, &size, &off)) == ARCHIVE_OK) {
        if (archive_write_data_block(out.get(), buf, size, off) < ARCHIVE_OK)
          return InternalError("write \"" + rel + "\": " + ArchiveError(out.get()));
      }
      if (r != ARCHIVE_EOF) return InvalidError("read layer " + blob_path + ": " + ArchiveError(in.get()));
      if (type == AE_IFREG) total += archive_entry_size(e);
    }
    int fr = archive_write_finish_entry(out.get());
    if (fr < ARCHIVE_WARN || (fr < ARCHIVE_OK && DiskError(out.get())))
      return InternalError("finish \"" + rel + "\": " + ArchiveError(out.get()));
  }
  int cr = archive_write_close(out.get());
  if (cr < ARCHIVE_WARN || (cr < ARCHIVE_OK && DiskError(out.get())))
    return InternalError("finish layer: " + ArchiveError(out.get()));
  return total;
}

}  // namespace tug::runtime::image
