#include "runtime/oci/sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace tug::runtime {

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string ErrnoMessage(const std::string& what) { return what + ": " + std::strerror(errno); }

namespace {

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Child side of Spawn: only async-signal-safe calls.
[[noreturn]] void ChildExec(const SpawnOptions& o, char* const* argv, char* const* envp,
                            int devnull, int err_pipe) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    signal(s, SIG_DFL);
  }
  if (o.new_session) setsid();
  // Move every source fd above the targets first so dup2 never clobbers a later source.
  int base = 100 + static_cast<int>(o.extra_fds.size());
  int srcs[3] = {o.stdin_fd, o.stdout_fd, o.stderr_fd};
  int moved[3];
  for (int i = 0; i < 3; ++i) moved[i] = fcntl(srcs[i] >= 0 ? srcs[i] : devnull, F_DUPFD, base);
  int ex_moved[64];
  size_t n_extra = std::min<size_t>(o.extra_fds.size(), 64);
  for (size_t i = 0; i < n_extra; ++i) ex_moved[i] = fcntl(o.extra_fds[i], F_DUPFD, base);
  int err_moved = fcntl(err_pipe, F_DUPFD_CLOEXEC, base);
  for (int i = 0; i < 3; ++i) dup2(moved[i], i);
  for (size_t i = 0; i < n_extra; ++i) dup2(ex_moved[i], 3 + static_cast<int>(i));
  if (o.new_session && o.controlling_tty) ioctl(0, TIOCSCTTY, 0);
  int keep_to = 3 + static_cast<int>(n_extra);
  int err_fd = dup2(err_moved, keep_to);
  fcntl(err_fd, F_SETFD, FD_CLOEXEC);
  syscall(SYS_close_range, keep_to + 1, ~0U, 0);
  if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) {
    int e = errno;
    (void)!write(err_fd, &e, sizeof(e));
    _exit(127);
  }
  execve(argv[0], argv, envp);
  int e = errno;
  (void)!write(err_fd, &e, sizeof(e));
  _exit(127);
}

}  // namespace

Result<pid_t> Spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return InvalidError("spawn: empty argv");
  if (o.extra_fds.size() > 64) return InvalidError("spawn: too many fds");
  auto argv = CStrings(o.argv);
  std::vector<std::string> env_strs;
  if (o.env) env_strs = *o.env;
  auto envp = CStrings(env_strs);
  char* const* envpp = o.env ? envp.data() : environ;
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull) return InternalError(ErrnoMessage("open /dev/null"));
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return InternalError(ErrnoMessage("pipe2"));
  UniqueFd err_r(p[0]), err_w(p[1]);
  pid_t pid = fork();
  if (pid < 0) return InternalError(ErrnoMessage("fork"));
  if (pid == 0) ChildExec(o, argv.data(), envpp, devnull.get(), err_w.get());
  err_w.Reset();
  int child_errno = 0;
  ssize_t n;
  do n = ::read(err_r.get(), &child_errno, sizeof(child_errno));
  while (n < 0 && errno == EINTR);
  if (n == sizeof(child_errno)) {
    (void)WaitPid(pid);
    return InternalError("exec " + o.argv[0] + ": " + std::strerror(child_errno));
  }
  return pid;
}

Result<int> WaitPid(pid_t pid) {
  int st = 0;
  for (;;) {
    pid_t r = waitpid(pid, &st, 0);
    if (r == pid) return st;
    if (r < 0 && errno == EINTR) continue;
    return InternalError(ErrnoMessage("waitpid"));
  }
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout, const std::string& input,
                                 std::optional<std::vector<std::string>> env) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
    return InternalError(ErrnoMessage("pipe2"));
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  SpawnOptions o;
  o.argv = argv;
  o.env = std::move(env);
  o.stdin_fd = in_r.get();
  o.stdout_fd = out_w.get();
  o.stderr_fd = err_w.get();
  ASSIGN_OR_RETURN(pid_t pid, Spawn(o));
  in_r.Reset();
  out_w.Reset();
  err_w.Reset();
  fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  CommandResult res;
  size_t in_off = 0;
  if (input.empty()) in_w.Reset();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out_r || err_r) {
    pollfd fds[3];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out_r) { idx_out = n; fds[n++] = {out_r.get(), POLLIN, 0}; }
    if (err_r) { idx_err = n; fds[n++] = {err_r.get(), POLLIN, 0}; }
    if (in_w) { idx_in = n; fds[n++] = {in_w.get(), POLLOUT, 0}; }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      res.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    int r = poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    char buf[16384];
    auto drain = [&](int idx, UniqueFd& fd, std::string& dst) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t k = ::read(fd.get(), buf, sizeof(buf));
      if (k > 0) dst.append(buf, static_cast<size_t>(k));
      else if (k == 0 || (errno != EINTR && errno != EAGAIN)) fd.Reset();
    };
    drain(idx_out, out_r, res.out);
    drain(idx_err, err_r, res.err);
    if (idx_in >= 0 && (fds[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t k = ::write(in_w.get(), input.data() + in_off, input.size() - in_off);
      if (k > 0) in_off += static_cast<size_t>(k);
      if ((k < 0 && errno != EAGAIN && errno != EINTR) || in_off >= input.size()) in_w.Reset();
    }
  }
  in_w.Reset();
  ASSIGN_OR_RETURN(int st, WaitPid(pid));
  if (WIFEXITED(st)) res.exit_code = WEXITSTATUS(st);
  if (WIFSIGNALED(st)) res.signal = WTERMSIG(st);
  return res;
}

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return NotFoundError(path + " not found");
    return InternalError(ErrnoMessage("open " + path));
  }
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InternalError(ErrnoMessage("read " + path));
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp." + RandomHex(4);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return InternalError(ErrnoMessage("create " + tmp));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::unlink(tmp.c_str());
      return InternalError(ErrnoMessage("write " + tmp));
    }
    off += static_cast<size_t>(n);
  }
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return InternalError(ErrnoMessage("rename " + path));
  }
  return Status::Ok();
}

Status WriteFile(const std::string& path, const std::string& data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return NotFoundError(path + " not found");
    return InternalError(ErrnoMessage("open " + path));
  }
  ssize_t n = ::write(fd.get(), data.data(), data.size());
  if (n != static_cast<ssize_t>(data.size())) return InternalError(ErrnoMessage("write " + path));
  return Status::Ok();
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return Status::Ok();
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
      return InternalError(ErrnoMessage("mkdir " + cur));
  }
  return Status::Ok();
}

namespace {
Status RemoveAllAt(int at, const std::string& name, const std::string& display, dev_t dev) {
  struct stat st;
  if (fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return InternalError(ErrnoMessage("stat " + display));
  }
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != dev) return InternalError("refusing to remove mounted " + display);
    int fd = openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return InternalError(ErrnoMessage("open " + display));
    DIR* d = fdopendir(fd);
    if (!d) { ::close(fd); return InternalError(ErrnoMessage("fdopendir " + display)); }
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    Status result;
    for (const auto& n : names) {
      Status s = RemoveAllAt(::dirfd(d), n, display + "/" + n, dev);
      if (!s.ok() && result.ok()) result = s;
    }
    closedir(d);
    if (!result.ok()) return result;
    if (unlinkat(at, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      return InternalError(ErrnoMessage("rmdir " + display));
    return Status::Ok();
  }
  if (unlinkat(at, name.c_str(), 0) != 0 && errno != ENOENT)
    return InternalError(ErrnoMessage("unlink " + display));
  return Status::Ok();
}
}  // namespace

Status RemoveAll(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return InternalError(ErrnoMessage("stat " + path));
  }
  return RemoveAllAt(AT_FDCWD, path, path, st.st_dev);
}

bool PathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(raw.data() + got, bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

namespace {
// Mount points from /proc/self/mountinfo (field 5), with octal escapes decoded.
std::vector<std::string> AllMounts() {
  std::vector<std::string> out;
  auto data = ReadFile("/proc/self/mountinfo");
  if (!data.ok()) return out;
  std::istringstream in(*data);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string f[5];
    for (auto& x : f) ls >> x;
    std::string mp;
    for (size_t i = 0; i < f[4].size(); ++i) {
      if (f[4][i] == '\\' && i + 3 < f[4].size()) {
        mp.push_back(static_cast<char>(std::stoi(f[4].substr(i + 1, 3), nullptr, 8)));
        i += 3;
      } else {
        mp.push_back(f[4][i]);
      }
    }
    out.push_back(mp);
  }
  return out;
}
}  // namespace

bool IsMountPoint(const std::string& path) {
  for (const auto& m : AllMounts())
    if (m == path) return true;
  return false;
}

std::vector<std::string> MountsUnder(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& m : AllMounts())
    if (m == prefix || m.rfind(prefix + "/", 0) == 0) out.push_back(m);
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return a.size() > b.size();
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Status Unmount(const std::string& path) {
  // A path can be mounted over more than once; unmount until it is not a mount point.
  for (int i = 0; i < 16; ++i) {
    if (umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
      if (errno == EINVAL || errno == ENOENT) return Status::Ok();
      return InternalError(ErrnoMessage("umount " + path));
    }
  }
  return Status::Ok();
}

namespace {
// The fields of /proc/<pid>/stat from #3 (state) on; "" if the process is gone. comm may
// contain spaces and parens: fields restart after the last ')'.
std::string StatFieldsAfterComm(pid_t pid) {
  if (pid <= 0) return "";
  auto data = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!data.ok()) return "";
  size_t p = data->rfind(')');
  if (p == std::string::npos || p + 2 >= data->size()) return "";
  return data->substr(p + 2);
}
}  // namespace

char ProcessState(pid_t pid) {
  std::string fields = StatFieldsAfterComm(pid);
  return fields.empty() ? '\0' : fields[0];
}

std::vector<pid_t> ChildPids(pid_t pid) {
  std::vector<pid_t> out;
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  if (!text.ok()) return out;
  std::istringstream in(*text);
  for (pid_t child; in >> child;) out.push_back(child);
  return out;
}

uint64_t ProcessStartTime(pid_t pid) {
  std::string fields = StatFieldsAfterComm(pid);
  if (fields.empty()) return 0;
  std::istringstream in(fields);
  std::string field;
  // After ')' the first field is #3 (state); starttime is #22.
  for (int i = 3; i <= 22; ++i) {
    if (!(in >> field)) return 0;
    if (i == 3 && field == "Z") return 0;  // a zombie has exited
  }
  return std::stoull(field);
}

bool ProcessAlive(pid_t pid, uint64_t start_time) {
  uint64_t st = ProcessStartTime(pid);
  return st != 0 && (start_time == 0 || st == start_time);
}

}  // namespace tug::runtime
