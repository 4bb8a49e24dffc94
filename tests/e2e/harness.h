// End-to-end harness: starts real `tug server` processes on free ports in temp dirs and runs
// the real kubectl against them (DESIGN.md §7).
//
// Ownership: a TugServer owns its process and temp data dir; the destructor stops the process
// (SIGTERM, then SIGKILL after a bound) and removes the dir. Not thread-safe: one test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace tug::e2e {

struct RunResult {
  int rc = -1;
  std::string out;
  std::string err;
};

// Runs argv with optional stdin text and extra environment; waits up to `timeout`.
// A command that does not finish in time is killed and reported with rc = -2.
RunResult Run(const std::vector<std::string>& argv, const std::string& stdin_text = "",
              const std::map<std::string, std::string>& env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A child process whose output goes to a file, for long-running commands (e.g. kubectl get -w).
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  // Output so far.
  std::string Output() const;
  // Waits until Output() contains `needle` (polling), up to timeout. Returns whether it did.
  bool WaitFor(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  // Sends SIGTERM and waits; returns the exit code.
  int Stop();
  // Waits for exit without signalling; -2 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string out_path_;
  int exit_code_ = -1;
};

// Path of the tug binary under test (set at build time).
std::string TugBinary();
// A free TCP port on 127.0.0.1.
int FreePort();
// A fresh temp dir (removed by RemoveTree).
std::string MakeTempDir(const std::string& prefix);
void RemoveTree(const std::string& path);

class TugServer {
 public:
  explicit TugServer(std::vector<std::string> extra_args = {});
  ~TugServer();
  TugServer(const TugServer&) = delete;
  TugServer& operator=(const TugServer&) = delete;

  // Starts the server (on the same data dir and port as before, if restarted) and waits until
  // /readyz answers ok. Returns false (and fills `why`) if it did not come up.
  bool Start(std::string* why);
  // SIGTERM and wait; returns the exit code.
  int Stop();
  // SIGKILL and wait.
  void Kill();

  const std::string& data_dir() const { return data_dir_; }
  const std::string& kubeconfig() const { return kubeconfig_; }
  int port() const { return port_; }
  // The server's process id (-1 when not started).
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }
  std::string log() const;

 private:
  std::vector<std::string> extra_args_;
  std::string data_dir_;
  std::string kubeconfig_;
  int port_ = 0;
  std::unique_ptr<Background> proc_;
};

// Starts `tug simnodes --kubeconfig <server's> <args...>` and waits (up to 60 s) until it printed
// that its nodes are registered. Returns null (and fills `why`) when it did not come up.
std::unique_ptr<Background> StartSimNodes(const TugServer& server, const std::vector<std::string>& args,
                                          std::string* why);

// kubectl binaries to test with: the default one plus the oldest and newest shipped.
struct KubectlVersion {
  std::string name;  // "1.27", "default", "1.33"
  std::string path;
};
std::vector<KubectlVersion> KubectlVersions();
// kubectl 1.20 (Debian's kubernetes-client, unpacked by tools/deps.sh to
// /opt/tug/kubectl-1.20/kubectl); "" when it is not there.
std::string LegacyKubectl();
// gtest prints the parameter as its name (ctest shows it next to each test).
inline void PrintTo(const KubectlVersion& v, std::ostream* os) { *os << v.name; }

}  // namespace tug::e2e
