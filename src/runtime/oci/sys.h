// Small Linux helpers for the OCI runtime: owned fds, child processes started with only the fds
// they need (every other fd is closed in the child; CVE-2024-21626), file I/O, random ids.
//
// Ownership: UniqueFd owns one fd. Thread-safety: all functions are reentrant; Spawn uses
// fork+exec with async-signal-safe code only between them, so it is safe in threaded programs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace tug::runtime {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) { Reset(); fd_ = std::exchange(o.fd_, -1); }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset();
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct SpawnOptions {
  std::vector<std::string> argv;
  std::optional<std::vector<std::string>> env;  // nullopt: inherit
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // -1: /dev/null
  std::vector<int> extra_fds;  // become fds 3, 4, ... in the child (inheritable there)
  std::string cwd;
  bool new_session = false;
  bool controlling_tty = false;  // with new_session: stdin becomes the controlling terminal
};

// Starts a child; returns its pid. The child gets exactly stdin/out/err and extra_fds.
Result<pid_t> Spawn(const SpawnOptions& opts);

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out, err;
  bool timed_out = false;
};

// Runs argv to completion, feeding `input` on stdin and capturing stdout/stderr. On timeout the
// child is SIGKILLed and timed_out is set. Fails only when the process cannot be started.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::minutes(2),
                                 const std::string& input = "",
                                 std::optional<std::vector<std::string>> env = std::nullopt);

// Waits for a child pid (EINTR-safe); returns the raw wait status.
Result<int> WaitPid(pid_t pid);

Result<std::string> ReadFile(const std::string& path);
// Writes atomically (temp file + fsync-less rename; state lives on tmpfs or is re-derivable).
Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode = 0644);
Status WriteFile(const std::string& path, const std::string& data);  // no create, no truncate
Status MakeDirs(const std::string& path, mode_t mode = 0755);
// rm -rf that never crosses into a mounted filesystem (refuses with an error instead).
Status RemoveAll(const std::string& path);
bool PathExists(const std::string& path);
std::vector<std::string> ListDir(const std::string& path);  // names, no . and ..

// Hex string from getrandom(2).
std::string RandomHex(size_t bytes);
// True when path is a mount point in this mount namespace (per /proc/self/mountinfo).
bool IsMountPoint(const std::string& path);
// Mount points at or under `prefix` from /proc/self/mountinfo, deepest first.
std::vector<std::string> MountsUnder(const std::string& prefix);
// umount2(MNT_DETACH), ignoring EINVAL/ENOENT (not mounted).
Status Unmount(const std::string& path);

// Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), 0 if gone.
uint64_t ProcessStartTime(pid_t pid);
// The state letter of a process (field 3 of /proc/<pid>/stat: 'R', 'S', 'Z', ...), '\0' if gone.
char ProcessState(pid_t pid);
// The children of a process's main thread (/proc/<pid>/task/<pid>/children); empty if gone.
std::vector<pid_t> ChildPids(pid_t pid);
bool ProcessAlive(pid_t pid, uint64_t start_time);
std::string ErrnoMessage(const std::string& what);

}  // namespace tug::runtime
