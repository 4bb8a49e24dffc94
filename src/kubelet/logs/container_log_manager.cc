#include "kubelet/logs/container_log_manager.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include "api/quantity.h"
#include "base/log.h"

namespace tug::kubelet::logs {
namespace {

constexpr const char* kLog = "kubelet-logs";
constexpr std::string_view kGz = ".gz";
constexpr std::string_view kTmp = ".tmp";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

std::pair<std::string, std::string> SplitPath(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// Names in `dir` (without "." and ".."); empty when it cannot be read.
std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") out.emplace_back(n);
  }
  ::closedir(d);
  return out;
}

// Every "<log>.*" beside `log` (full paths, unsorted): upstream's glob.
std::vector<std::string> FilesWithPrefix(const std::string& log) {
  auto [dir, base] = SplitPath(log);
  std::vector<std::string> out;
  for (auto& name : ListDir(dir))
    if (name.size() > base.size() + 1 && name.compare(0, base.size() + 1, base + ".") == 0)
      out.push_back(dir + "/" + name);
  return out;
}

// A leftover of an interrupted rotation: a temporary file, or a file whose compressed copy
// is complete (the removal after the compression did not happen).
bool Unused(const std::string& f, const std::set<std::string>& all) {
  if (EndsWith(f, kTmp)) return true;
  if (EndsWith(f, kGz)) return false;
  return all.count(f + std::string(kGz)) > 0;
}

Status RemoveFile(const std::string& f) {
  if (::unlink(f.c_str()) != 0 && errno != ENOENT) return InternalError(Errno("remove", f));
  return Status::Ok();
}

bool WriteAll(int fd, const unsigned char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Streams `in` through gzip into `out`.
Status Gzip(int in, int out, const std::string& what) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return InternalError("gzip " + what + ": deflateInit2 failed");
  std::vector<unsigned char> ibuf(1 << 16), obuf(1 << 16);
  Status st;
  for (bool eof = false; !eof && st.ok();) {
    ssize_t n = ::read(in, ibuf.data(), ibuf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = InternalError(Errno("read", what));
      break;
    }
    eof = n == 0;
    z.next_in = ibuf.data();
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = obuf.data();
      z.avail_out = static_cast<uInt>(obuf.size());
      deflate(&z, eof ? Z_FINISH : Z_NO_FLUSH);
      size_t have = obuf.size() - z.avail_out;
      if (!WriteAll(out, obuf.data(), have)) {
        st = InternalError(Errno("write compressed", what));
        break;
      }
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  return st;
}

// "<f>" -> "<f>.gz", then removes "<f>". The compressed data goes to an unnamed file that gets
// its name only when complete (O_TMPFILE + linkat), so a crash leaves no partial ".gz"; where
// O_TMPFILE is not supported, "<f>.gz.tmp" is renamed instead (step 1 removes a stale one).
Status CompressLog(const std::string& f) {
  int in = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return InternalError(Errno("open", f));
  struct stat sb {};
  ::fstat(in, &sb);
  mode_t mode = sb.st_mode & 07777;
  std::string gz = f + std::string(kGz), tmp;
  int out = ::open(SplitPath(f).first.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
  if (out < 0) {
    tmp = gz + std::string(kTmp);
    out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  }
  if (out < 0) {
    Status st = InternalError(Errno("create compressed log for", f));
    ::close(in);
    return st;
  }
  Status st = Gzip(in, out, f);
  ::close(in);
  if (st.ok()) {
    if (tmp.empty()) {
      std::string proc = "/proc/self/fd/" + std::to_string(out);
      if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, gz.c_str(), AT_SYMLINK_FOLLOW) != 0)
        st = InternalError(Errno("link", gz));
    } else if (::rename(tmp.c_str(), gz.c_str()) != 0) {
      st = InternalError(Errno("rename to", gz));
    }
  }
  ::close(out);
  if (!st.ok()) {
    if (!tmp.empty()) ::unlink(tmp.c_str());
    return st;
  }
  return RemoveFile(f);
}

// "<base>.YYYYMMDD-HHMMSS" (optionally ".gz", ".tmp"): the name of a rotated file; sets base.
bool IsRotatedName(std::string_view name, std::string* base) {
  if (EndsWith(name, kTmp)) name.remove_suffix(kTmp.size());
  if (EndsWith(name, kGz)) name.remove_suffix(kGz.size());
  constexpr size_t kStamp = 15;  // YYYYMMDD-HHMMSS
  if (name.size() < kStamp + 2 || name[name.size() - kStamp - 1] != '.') return false;
  std::string_view stamp = name.substr(name.size() - kStamp);
  for (size_t i = 0; i < kStamp; ++i)
    if (i == 8 ? stamp[i] != '-' : (stamp[i] < '0' || stamp[i] > '9')) return false;
  *base = std::string(name.substr(0, name.size() - kStamp - 1));
  return true;
}

}  // namespace

Status ValidatePolicy(const RotatePolicy& policy) {
  if (policy.max_files < 2)
    return InvalidError("invalid value \"" + std::to_string(policy.max_files) +
                        "\" for flag --container-log-max-files: must be at least 2");
  if (policy.max_size_bytes <= 0)
    return InvalidError("invalid value \"" + std::to_string(policy.max_size_bytes) +
                        "\" for flag --container-log-max-size: must be greater than 0");
  return Status::Ok();
}

Result<int64_t> ParseByteQuantity(std::string_view q) {
  auto bad = [&](const std::string& why) { return InvalidError("invalid quantity \"" + std::string(q) + "\": " + why); };
  auto parsed = api::ParseQuantity(q);
  if (!parsed.ok()) return bad(parsed.status().message() + " (e.g. 10Mi)");
  if (parsed->negative() || parsed->IsZero()) return bad("must be greater than 0");
  std::optional<int64_t> v = parsed->Value();
  if (!v) return bad("too large");
  if (static_cast<long double>(*v) != parsed->ToLongDouble()) return bad("not a whole number of bytes");
  return *v;
}

std::string RotatedSuffix(SystemTime t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, ".%Y%m%d-%H%M%S", &tm);
  return buf;
}

std::vector<std::string> RotatedLogs(const std::string& log) {
  auto all = FilesWithPrefix(log);
  std::set<std::string> set(all.begin(), all.end());
  std::vector<std::string> out;
  for (auto& f : all)
    if (!Unused(f, set)) out.push_back(f);
  std::sort(out.begin(), out.end());
  return out;
}

Status RotateLog(const std::string& log, const RotatePolicy& policy, SystemTime now,
                 const std::function<Status()>& reopen) {
  std::string rotated = log + RotatedSuffix(now);
  if (::access(rotated.c_str(), F_OK) == 0) return AlreadyExistsError(rotated + " already exists");
  // 1. Leftovers of an interrupted rotation.
  auto all = FilesWithPrefix(log);
  std::set<std::string> set(all.begin(), all.end());
  std::vector<std::string> inuse;
  for (auto& f : all) {
    if (Unused(f, set)) {
      RETURN_IF_ERROR(RemoveFile(f));
    } else {
      inuse.push_back(f);
    }
  }
  // 2. Room for the file about to be rotated: the current file plus max_files - 2 rotated ones
  //    stay, removed oldest first (a reader of the newest is not cut off).
  std::sort(inuse.begin(), inuse.end());
  size_t keep = static_cast<size_t>(std::max(policy.max_files - 2, 0));
  size_t drop = inuse.size() > keep ? inuse.size() - keep : 0;
  for (size_t i = 0; i < drop; ++i) RETURN_IF_ERROR(RemoveFile(inuse[i]));
  inuse.erase(inuse.begin(), inuse.begin() + static_cast<ptrdiff_t>(drop));
  // 3. Older rotated files compressed.
  for (const auto& f : inuse)
    if (!EndsWith(f, kGz)) RETURN_IF_ERROR(CompressLog(f));
  // 4. The current file becomes the newest rotated one; the writer starts a new one.
  if (::rename(log.c_str(), rotated.c_str()) != 0) return InternalError(Errno("rotate", log));
  if (Status s = reopen(); !s.ok()) {
    // Renamed back so that the next pass can try again.
    if (::rename(rotated.c_str(), log.c_str()) != 0)
      TUG_LOG(ERROR, kLog) << "cannot rename the rotated log back" << kv("log", log) << kv("rotated", rotated)
                           << kv("err", std::strerror(errno));
    return s;
  }
  return Status::Ok();
}

Status RemoveLogFiles(const std::string& log) {
  Status first = RemoveFile(log);
  for (const auto& f : FilesWithPrefix(log))
    if (Status s = RemoveFile(f); !s.ok() && first.ok()) first = s;
  return first;
}

Status CleanContainerLogs(runtime::Runtime& runtime, const std::string& container_id) {
  ASSIGN_OR_RETURN(auto st, runtime.ContainerStatusOf(container_id));
  if (st.log_path.empty()) return Status::Ok();
  return RemoveLogFiles(st.log_path);
}

ContainerLogManager::ContainerLogManager(runtime::Runtime& runtime, Options options)
    : runtime_(runtime), options_(options), clock_(options.clock ? options.clock : &RealClock()) {}

ContainerLogManager::~ContainerLogManager() { Stop(); }

void ContainerLogManager::Start() {
  TUG_LOG(INFO, kLog) << "container log rotation" << kv("maxSize", options_.policy.max_size_bytes)
                      << kv("maxFiles", options_.policy.max_files)
                      << kv("intervalMs", options_.monitor_interval.count());
  thread_ = std::jthread([this](std::stop_token st) { Loop(st); });
}

void ContainerLogManager::Stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

void ContainerLogManager::Loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    RotateLogs();
    std::unique_lock<std::mutex> l(wake_mu_);
    wake_.wait_for(l, stop, options_.monitor_interval, [] { return false; });
  }
}

int ContainerLogManager::RotateLogs() {
  std::lock_guard<std::mutex> l(mu_);
  auto list = runtime_.ListContainers("");
  if (!list.ok()) {
    TUG_LOG(WARNING, kLog) << "cannot list containers" << kv("err", list.status().ToString());
    return 0;
  }
  int rotated = 0;
  for (const auto& c : *list) {
    // A container that no longer runs writes nothing more: its file stays whole.
    if (c.state != runtime::ContainerState::kRunning || c.log_path.empty()) continue;
    struct stat sb {};
    if (::stat(c.log_path.c_str(), &sb) != 0) {
      if (errno != ENOENT) {
        TUG_LOG(WARNING, kLog) << "cannot stat container log" << kv("id", c.id) << kv("path", c.log_path)
                               << kv("err", std::strerror(errno));
        continue;
      }
      // Renamed by a rotation whose reopen never happened (the agent died in between).
      if (Status s = runtime_.ReopenContainerLog(c.id); !s.ok() || ::stat(c.log_path.c_str(), &sb) != 0) {
        TUG_VLOG(4, kLog) << "container log missing and not reopened" << kv("id", c.id) << kv("path", c.log_path);
        continue;
      }
    }
    if (sb.st_size < options_.policy.max_size_bytes) continue;
    Status s = RotateLog(c.log_path, options_.policy, clock_->Now(),
                         [&] { return runtime_.ReopenContainerLog(c.id); });
    if (s.ok()) {
      ++rotated;
      TUG_VLOG(4, kLog) << "rotated" << kv("container", c.name) << kv("id", c.id) << kv("size", sb.st_size);
    } else if (s.code() == StatusCode::kAlreadyExists) {
      TUG_VLOG(4, kLog) << "rotation postponed" << kv("id", c.id) << kv("why", s.message());
    } else {
      TUG_LOG(WARNING, kLog) << "log rotation failed" << kv("container", c.name) << kv("id", c.id)
                             << kv("path", c.log_path) << kv("err", s.ToString());
    }
  }
  RemoveOrphanedRotatedLogs(*list);
  return rotated;
}

void ContainerLogManager::RemoveOrphanedRotatedLogs(const std::vector<runtime::ContainerStatus>& containers) {
  // Only rotated names are candidates: this manager made them, so a container created since
  // the list was taken cannot own one yet.
  std::set<std::string> logs, dirs;
  for (const auto& c : containers) {
    if (c.log_path.empty()) continue;
    logs.insert(c.log_path);
    dirs.insert(SplitPath(c.log_path).first);
  }
  for (const auto& dir : dirs) {
    for (const auto& name : ListDir(dir)) {
      std::string base;
      if (!IsRotatedName(name, &base) || logs.count(dir + "/" + base)) continue;
      TUG_VLOG(4, kLog) << "removing rotated log of a removed container" << kv("path", dir + "/" + name);
      if (Status s = RemoveFile(dir + "/" + name); !s.ok())
        TUG_LOG(WARNING, kLog) << "cannot remove rotated log" << kv("err", s.ToString());
    }
  }
}

Status ContainerLogManager::Clean(const std::string& container_id) {
  std::lock_guard<std::mutex> l(mu_);
  return CleanContainerLogs(runtime_, container_id);
}

}  // namespace tug::kubelet::logs
