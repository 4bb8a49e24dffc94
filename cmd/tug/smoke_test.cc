// End-to-end smoke test of the tug binary: start `tug server` on a free port in a temp dir,
// wait for /readyz, use admin.kubeconfig with the real kubectl, check the data-dir lock and
// the SIGTERM shutdown. Hermetic: temp dir, free port, every child reaped, dir removed.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A child process with stdout+stderr in a file.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& out_path) : out_(out_path) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);  // the child gets only stdio
    std::vector<char*> av;
    for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    if (posix_spawn(&pid_, av[0], &fa, nullptr, av.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }
  // Exit code, -1 for a signal, -2 when it did not exit in time.
  int Wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      std::this_thread::sleep_for(20ms);  // polling for exit, not timing anything
    }
    return -2;
  }
  bool Running() {
    int st = 0;
    return !reaped_ && ::waitpid(pid_, &st, WNOHANG) == 0;
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  std::string Output() const { return ReadAll(out_); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string out_;
};

struct RunResult {
  int rc;
  std::string out;
};

RunResult RunCmd(const std::vector<std::string>& argv, const std::string& out_path) {
  Child c(argv, out_path);
  int rc = c.Wait(60s);
  return {rc, c.Output()};
}

class SmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (std::filesystem::temp_directory_path() / "tug-smoke-XXXXXX").string();
    dir_ = mkdtemp(t.data());
    data_ = dir_ + "/data";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Child> StartServer(int port, const std::string& log, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {TUG_BINARY,  "server", "--data-dir", data_, "--bind-address", "127.0.0.1",
                                     "--port",    std::to_string(port), "--disable-agent"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Child>(argv, dir_ + "/" + log);
  }

  // Polls `kubectl get --raw /readyz` until it answers ok (the server is starting up).
  bool WaitReady(Child& server, const std::string& kubectl) {
    std::string kc = data_ + "/admin.kubeconfig";
    for (int i = 0; i < 300 && server.Running(); ++i) {
      if (std::filesystem::exists(kc)) {
        auto r = RunCmd({kubectl, "--kubeconfig", kc, "get", "--raw", "/readyz"}, dir_ + "/ready.out");
        if (r.rc == 0 && r.out == "ok") return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  std::string dir_, data_;
};

TEST_F(SmokeTest, ServeKubectlLockAndSigterm) {
  const std::string kubectl = "/usr/bin/kubectl";
  int port = FreePort();
  std::string tokens = dir_ + "/tokens.csv";
  std::ofstream(tokens) << "tok-e2e,alice,u1,\"dev,ops\"\n";
  auto server = StartServer(port, "server.log", {"--token-auth-file", tokens});
  ASSERT_GT(server->pid(), 0);
  ASSERT_TRUE(WaitReady(*server, kubectl)) << server->Output();
  std::string kc = data_ + "/admin.kubeconfig";

  // kubectl version through admin.kubeconfig (client cert auth, CA-verified TLS), with the
  // newest and the oldest kubectl available.
  std::vector<std::string> kubectls = {kubectl};
  for (const char* k : {"/usr/lib/google-cloud-sdk/bin/kubectl.1.27", "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"})
    if (std::filesystem::exists(k)) kubectls.push_back(k);
  for (const auto& k : kubectls) {
    auto v = RunCmd({k, "--kubeconfig", kc, "version"}, dir_ + "/version.out");
    EXPECT_EQ(v.rc, 0) << k << ": " << v.out;
    // 1.27 prints "Server Version: version.Info{...GitVersion:"v1.33.0+tug"...}".
    EXPECT_NE(v.out.find("Server Version: "), std::string::npos) << k << ": " << v.out;
    EXPECT_NE(v.out.find("v1.33.0+tug"), std::string::npos) << k << ": " << v.out;
  }
  auto verbose = RunCmd({kubectl, "--kubeconfig", kc, "get", "--raw", "/readyz?verbose"}, dir_ + "/verbose.out");
  EXPECT_EQ(verbose.rc, 0);
  EXPECT_NE(verbose.out.find("[+]ping ok"), std::string::npos) << verbose.out;
  EXPECT_NE(verbose.out.find("readyz check passed"), std::string::npos) << verbose.out;
  // Bearer tokens from --token-auth-file: a known one is accepted, an unknown one gets 401.
  std::vector<std::string> by_token = {kubectl, "--server", "https://127.0.0.1:" + std::to_string(port),
                                       "--certificate-authority", data_ + "/tls/ca.crt"};
  auto good = by_token, bad = by_token;
  good.insert(good.end(), {"--token", "tok-e2e", "get", "--raw", "/api"});
  bad.insert(bad.end(), {"--token", "bogus", "get", "--raw", "/api"});
  auto g = RunCmd(good, dir_ + "/good.out");
  // Authenticated: APIVersions from the REST handler (or NotFound where none is wired in).
  EXPECT_TRUE(g.rc == 0 || g.out.find("NotFound") != std::string::npos) << g.out;
  EXPECT_EQ(g.out.find("Unauthorized"), std::string::npos) << g.out;
  auto b = RunCmd(bad, dir_ + "/bad.out");
  EXPECT_NE(b.rc, 0);
  EXPECT_NE(b.out.find("Unauthorized"), std::string::npos) << b.out;

  // Every fd the server holds beyond stdio is close-on-exec (listening socket, epoll, lock file...).
  int checked = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(server->pid()) + "/fd")) {
    int fd = std::stoi(e.path().filename().string());
    if (fd <= 2) continue;
    std::string info = ReadAll("/proc/" + std::to_string(server->pid()) + "/fdinfo/" + std::to_string(fd));
    auto pos = info.find("flags:");
    ASSERT_NE(pos, std::string::npos);
    unsigned long flags = std::stoul(info.substr(pos + 6), nullptr, 8);
    EXPECT_TRUE(flags & O_CLOEXEC) << "fd " << fd << " -> " << std::filesystem::read_symlink(e.path());
    ++checked;
  }
  EXPECT_GE(checked, 3);

  // A second server on the same data dir refuses with one clear line.
  auto second = StartServer(FreePort(), "second.log");
  EXPECT_EQ(second->Wait(30s), 1);
  std::string err = second->Output();
  EXPECT_NE(err.find("already in use by another tug server (pid " + std::to_string(server->pid()) + ")"),
            std::string::npos)
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_TRUE(server->Running());

  // SIGTERM: clean shutdown, exit 0, each stop logged.
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(30s), 0);
  std::string log = server->Output();
  EXPECT_NE(log.find("stopped component=apiserver"), std::string::npos) << log;
  EXPECT_NE(log.find("shutdown complete"), std::string::npos) << log;

  // Restart on the same dir reuses the CA (the kubeconfig stays valid).
  std::string ca_before = ReadAll(data_ + "/tls/ca.crt");
  auto again = StartServer(port, "again.log");
  ASSERT_TRUE(WaitReady(*again, kubectl)) << again->Output();
  EXPECT_EQ(ReadAll(data_ + "/tls/ca.crt"), ca_before);
  again->Signal(SIGINT);
  EXPECT_EQ(again->Wait(30s), 0);
}

TEST_F(SmokeTest, BadInvocationsExit2WithOneLine) {
  struct Case {
    std::vector<std::string> argv;
    int rc;
    const char* needle;
  } cases[] = {
      {{TUG_BINARY, "frobnicate"}, 2, "unknown command \"frobnicate\""},
      {{TUG_BINARY, "--frob"}, 2, "unknown flag: --frob"},
      {{TUG_BINARY, "server", "--frob"}, 2, "unknown flag: --frob"},
      {{TUG_BINARY, "server", "--port", "x"}, 2, "invalid value \"x\" for flag --port"},
      {{TUG_BINARY, "--version"}, 0, "v1.33.0+tug"},
  };
  for (const auto& c : cases) {
    auto r = RunCmd(c.argv, dir_ + "/out");
    EXPECT_EQ(r.rc, c.rc) << c.argv[1];
    EXPECT_NE(r.out.find(c.needle), std::string::npos) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  }
}

TEST_F(SmokeTest, BadTokenFileIsAStartupError) {
  std::string tf = dir_ + "/tokens.csv";
  std::ofstream(tf) << "only,two\n";
  auto server = StartServer(FreePort(), "bad.log", {"--token-auth-file", tf});
  EXPECT_EQ(server->Wait(30s), 1);
  EXPECT_NE(server->Output().find("--token-auth-file"), std::string::npos) << server->Output();
}

}  // namespace
