#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace tug::e2e {
namespace {

std::vector<char*> MakeEnv(const std::map<std::string, std::string>& extra, std::vector<std::string>& storage) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    std::string s(*e);
    auto eq = s.find('=');
    if (eq != std::string::npos) merged[s.substr(0, eq)] = s.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) merged[k] = v;
  storage.clear();
  for (const auto& [k, v] : merged) storage.push_back(k + "=" + v);
  std::vector<char*> out;
  for (auto& s : storage) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<char*> MakeArgv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int WaitPid(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

RunResult Run(const std::vector<std::string>& argv, const std::string& stdin_text,
              const std::map<std::string, std::string>& env, std::chrono::milliseconds timeout) {
  RunResult res;
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) return res;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  std::vector<std::string> env_storage;
  auto envp = MakeEnv(env, env_storage);
  auto args = MakeArgv(argv);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    res.err = std::string("spawn failed: ") + strerror(rc);
    return res;
  }
  // Feed stdin, then read both outputs until EOF or timeout.
  size_t in_off = 0;
  int in_fd = in_pipe[1];
  if (stdin_text.empty()) {
    close(in_fd);
    in_fd = -1;
  } else {
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true, timed_out = false;
  while (out_open || err_open) {
    std::vector<pollfd> fds;
    if (out_open) fds.push_back({out_pipe[0], POLLIN, 0});
    if (err_open) fds.push_back({err_pipe[0], POLLIN, 0});
    if (in_fd >= 0) fds.push_back({in_fd, POLLOUT, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    if (poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (auto& p : fds) {
      if (!p.revents) continue;
      if (p.fd == in_fd) {
        ssize_t n = write(in_fd, stdin_text.data() + in_off, stdin_text.size() - in_off);
        if (n > 0) in_off += n;
        if (n < 0 || in_off == stdin_text.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[65536];
      ssize_t n = read(p.fd, buf, sizeof buf);
      if (n <= 0) {
        if (p.fd == out_pipe[0]) out_open = false;
        else err_open = false;
      } else if (p.fd == out_pipe[0]) {
        res.out.append(buf, n);
      } else {
        res.err.append(buf, n);
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out_pipe[0]);
  close(err_pipe[0]);
  if (timed_out) {
    kill(pid, SIGKILL);
    WaitPid(pid, std::chrono::seconds(10));
    res.rc = -2;
    return res;
  }
  res.rc = WaitPid(pid, std::chrono::seconds(30));
  return res;
}

Background::Background(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  char tmpl[] = "/tmp/tug-e2e-out-XXXXXX";
  int fd = mkostemp(tmpl, O_CLOEXEC);
  out_path_ = tmpl;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  std::vector<std::string> env_storage;
  auto envp = MakeEnv(env, env_storage);
  auto args = MakeArgv(argv);
  if (posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), envp.data()) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&fa);
  close(fd);
}

Background::~Background() {
  if (pid_ > 0 && exit_code_ == -1) {
    kill(pid_, SIGKILL);
    WaitPid(pid_, std::chrono::seconds(10));
  }
  unlink(out_path_.c_str());
}

std::string Background::Output() const { return ReadFile(out_path_); }

bool Background::WaitFor(const std::string& needle, std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Output().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Output().find(needle) != std::string::npos;
}

int Background::Stop() {
  if (pid_ <= 0 || exit_code_ != -1) return exit_code_;
  kill(pid_, SIGTERM);
  exit_code_ = WaitPid(pid_, std::chrono::seconds(20));
  if (exit_code_ == -2) {
    kill(pid_, SIGKILL);
    WaitPid(pid_, std::chrono::seconds(10));
  }
  return exit_code_;
}

int Background::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0 || exit_code_ != -1) return exit_code_;
  int rc = WaitPid(pid_, timeout);
  if (rc != -2) exit_code_ = rc;
  return rc;
}

std::string TugBinary() { return TUG_BINARY_PATH; }

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* d = mkdtemp(buf.data());
  return d ? std::string(d) : std::string();
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  if (!path.empty()) std::filesystem::remove_all(path, ec);
}

TugServer::TugServer(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {
  data_dir_ = MakeTempDir("tug-e2e");
  kubeconfig_ = data_dir_ + "/admin.kubeconfig";
  port_ = FreePort();
}

TugServer::~TugServer() {
  if (proc_) proc_->Stop();
  proc_.reset();
  RemoveTree(data_dir_);
}

bool TugServer::Start(std::string* why) {
  std::vector<std::string> argv = {TugBinary(), "server", "--data-dir", data_dir_, "--bind-address", "127.0.0.1",
                                   "--port", std::to_string(port_), "--disable-agent"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  proc_ = std::make_unique<Background>(argv);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (proc_->Wait(std::chrono::milliseconds(0)) != -2) {
      *why = "tug server exited early:\n" + proc_->Output();
      return false;
    }
    if (access(kubeconfig_.c_str(), R_OK) == 0) {
      auto r = Run({"kubectl", "--kubeconfig", kubeconfig_, "get", "--raw", "/readyz"}, "", {},
                   std::chrono::seconds(10));
      if (r.rc == 0 && r.out.find("ok") != std::string::npos) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  *why = "tug server not ready within 30s:\n" + proc_->Output();
  return false;
}

int TugServer::Stop() {
  if (!proc_) return -1;
  int rc = proc_->Stop();
  return rc;
}

void TugServer::Kill() {
  if (!proc_) return;
  kill(proc_->pid(), SIGKILL);
  proc_->Wait(std::chrono::seconds(10));
}

std::string TugServer::log() const { return proc_ ? proc_->Output() : ""; }

std::unique_ptr<Background> StartSimNodes(const TugServer& server, const std::vector<std::string>& args,
                                          std::string* why) {
  std::vector<std::string> argv = {TugBinary(), "simnodes", "--kubeconfig", server.kubeconfig()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto proc = std::make_unique<Background>(argv);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (proc->Output().find("simnodes ready:") != std::string::npos) return proc;
    if (proc->Wait(std::chrono::milliseconds(0)) != -2) {
      *why = "tug simnodes exited early:\n" + proc->Output();
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  *why = "tug simnodes not ready within 60s:\n" + proc->Output();
  return nullptr;
}

std::string LegacyKubectl() {
  const char* path = "/opt/tug/kubectl-1.20/kubectl";
  return access(path, X_OK) == 0 ? path : "";
}

std::vector<KubectlVersion> KubectlVersions() {
  std::vector<KubectlVersion> out;
  const std::string dir = "/usr/lib/google-cloud-sdk/bin/";
  if (access((dir + "kubectl.1.27").c_str(), X_OK) == 0) out.push_back({"v1_27", dir + "kubectl.1.27"});
  out.push_back({"default", "kubectl"});
  if (access((dir + "kubectl.1.33").c_str(), X_OK) == 0) out.push_back({"v1_33", dir + "kubectl.1.33"});
  return out;
}

}  // namespace tug::e2e
