#include "kubelet/volumes/atomic_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <vector>

namespace tug::kubelet::volumes {
namespace {

namespace fs = std::filesystem;
constexpr const char* kDataDirName = "..data";
constexpr const char* kDataDirTmpName = "..data_tmp";

Status Errno(const std::string& what, const std::string& path) {
  return InternalError(what + " " + path + ": " + std::strerror(errno));
}

std::vector<std::string> SplitPath(const std::string& p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string TopLevel(const std::string& p) { return SplitPath(p).front(); }

Status WriteOne(const std::string& path, const FileProjection& f) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("open", path);
  size_t off = 0;
  while (off < f.data.size()) {
    ssize_t n = ::write(fd, f.data.data() + off, f.data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("write", path);
      ::close(fd);
      return s;
    }
    off += static_cast<size_t>(n);
  }
  // fchmod, not the open mode: the umask must not narrow what the pod asked for.
  if (::fchmod(fd, static_cast<mode_t>(f.mode & 07777)) != 0) {
    Status s = Errno("chmod", path);
    ::close(fd);
    return s;
  }
  if (::close(fd) != 0) return Errno("close", path);
  return Status::Ok();
}

Result<std::string> ReadOne(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Errno("open", path);
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// "..2026_11_25_23_30_00." + random suffix, as upstream's timestamped directory names.
Result<std::string> MakeTimestampedDir(const std::string& dir) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[64];
  std::strftime(stamp, sizeof stamp, "..%Y_%m_%d_%H_%M_%S.", &tm);
  std::string tmpl = dir + "/" + stamp + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) return Errno("mkdtemp", tmpl);
  std::string path(buf.data());
  if (::chmod(path.c_str(), 0755) != 0) return Errno("chmod", path);
  return path;
}

}  // namespace

Status ValidatePayloadPath(const std::string& path) {
  if (path.empty()) return InvalidError("invalid path: must not be empty");
  if (path.size() > 4096) return InvalidError("invalid path: must be less than or equal to 4096 characters");
  if (path[0] == '/') return InvalidError("invalid path: must be relative path: " + path);
  for (const auto& e : SplitPath(path)) {
    if (e.size() > 255) return InvalidError("invalid path: element must be at most 255 characters: " + path);
    if (e == "..") return InvalidError("invalid path: must not contain '..': " + path);
    if (e.rfind("..", 0) == 0) return InvalidError("invalid path: must not start with '..': " + path);
  }
  return Status::Ok();
}

Result<Payload> ReadCurrentPayload(const std::string& dir) {
  Payload out;
  char buf[4096];
  ssize_t n = ::readlink((dir + "/" + kDataDirName).c_str(), buf, sizeof buf - 1);
  if (n <= 0) return out;
  fs::path data = fs::path(dir) / std::string(buf, static_cast<size_t>(n));
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(data, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_symlink(ec) || !it->is_regular_file(ec)) continue;
    std::string rel = it->path().lexically_relative(data).string();
    ASSIGN_OR_RETURN(std::string content, ReadOne(it->path().string()));
    struct stat fst{};
    if (::stat(it->path().c_str(), &fst) != 0) return Errno("stat", it->path().string());
    out[rel] = FileProjection{std::move(content), static_cast<int>(fst.st_mode & 07777)};
  }
  if (ec) return InternalError("read " + data.string() + ": " + ec.message());
  return out;
}

Result<bool> WriteAtomic(const std::string& dir, const Payload& payload) {
  for (const auto& [p, f] : payload) RETURN_IF_ERROR(ValidatePayloadPath(p));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return InternalError("mkdir " + dir + ": " + ec.message());

  std::string data_link = dir + "/" + kDataDirName;
  std::string old_ts;
  {
    char buf[4096];
    ssize_t n = ::readlink(data_link.c_str(), buf, sizeof buf - 1);
    if (n > 0) old_ts.assign(buf, static_cast<size_t>(n));
  }
  std::set<std::string> new_top;
  for (const auto& [p, f] : payload) new_top.insert(TopLevel(p));
  Payload old;
  if (!old_ts.empty()) {
    ASSIGN_OR_RETURN(old, ReadCurrentPayload(dir));
    bool visible = true;
    for (const auto& t : new_top) {
      struct stat st{};
      if (::lstat((dir + "/" + t).c_str(), &st) != 0) visible = false;
    }
    if (old == payload && visible) return false;
  }

  ASSIGN_OR_RETURN(std::string ts_path, MakeTimestampedDir(dir));
  std::string ts_name = fs::path(ts_path).filename().string();
  auto fail = [&](Status s) -> Result<bool> {
    std::error_code ignore;
    fs::remove_all(ts_path, ignore);
    return s;
  };
  for (const auto& [p, f] : payload) {
    std::string full = ts_path + "/" + p;
    fs::create_directories(fs::path(full).parent_path(), ec);
    if (ec) return fail(InternalError("mkdir " + full + ": " + ec.message()));
    if (Status s = WriteOne(full, f); !s.ok()) return fail(s);
  }
  // Swap ..data: a new symlink renamed over the old one.
  std::string tmp_link = dir + "/" + kDataDirTmpName;
  ::unlink(tmp_link.c_str());
  if (::symlink(ts_name.c_str(), tmp_link.c_str()) != 0) return fail(Errno("symlink", tmp_link));
  if (::rename(tmp_link.c_str(), data_link.c_str()) != 0) {
    Status s = Errno("rename", tmp_link);
    ::unlink(tmp_link.c_str());
    return fail(s);
  }
  // User-visible names point through ..data, so they never change once created.
  for (const auto& t : new_top) {
    std::string link = dir + "/" + t;
    struct stat st{};
    if (::lstat(link.c_str(), &st) == 0) continue;
    if (::symlink((std::string(kDataDirName) + "/" + t).c_str(), link.c_str()) != 0) return Errno("symlink", link);
  }
  // Names that are gone from the payload.
  std::set<std::string> old_top;
  for (const auto& [p, f] : old) old_top.insert(TopLevel(p));
  for (const auto& t : old_top)
    if (!new_top.count(t)) ::unlink((dir + "/" + t).c_str());
  if (!old_ts.empty() && old_ts != ts_name && old_ts.rfind("..", 0) == 0 && old_ts.find('/') == std::string::npos)
    fs::remove_all(dir + "/" + old_ts, ec);
  return true;
}

}  // namespace tug::kubelet::volumes
