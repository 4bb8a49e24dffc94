// Issue 5 (owner: agent-wire): real pods on this machine, driven by the real kubectl.
//
//   BuiltinAgentE2E   `tug server` with its built-in agent (no --disable-agent): the node named
//                     by --node-name is Ready with the real kubelet port; `kubectl run` (1.27 and
//                     1.33) goes Running through the scheduler, pods reach each other by IP, a
//                     crashing pod goes CrashLoopBackOff, the kubelet port serves logs only to
//                     cluster-CA client certificates; 20 pods created and deleted leave no
//                     mount, netns, cgroup, veth or IP allocation; a SIGTERM'd server adopts
//                     its running pods on restart.
//   TokenAgentE2E     `tug server --disable-agent` + `tug agent --server URL --token TOKEN`
//                     (the server's agent-token): pods run; the agent killed with SIGKILL and
//                     restarted adopts its running container (same container ID, still Running)
//                     and removes the sandbox of a pod deleted while it was down.
//
// Needs root, runc, conmon, the CNI plugins, umoci, skopeo and docker-registry; skipped
// otherwise. Each test uses its own node name, bridge, pod CIDR, cgroup parent and temp dirs,
// and removes everything it created even when it fails (HostCleanup).
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.h"

namespace tug::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string SourceDir() { return TUG_SOURCE_DIR; }

// j at a JSON pointer ("/status/phase"), or null: const operator[] asserts on missing keys.
json At(const json& j, const std::string& ptr) {
  json::json_pointer p(ptr);
  return j.contains(p) ? j.at(p) : json(nullptr);
}

std::string ReadAll(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    out.push_back(it->path().filename().string());
  return out;
}

// Mount points under any of `prefixes` (from /proc/self/mountinfo), deepest first.
std::vector<std::string> MountsUnder(const std::vector<std::string>& prefixes) {
  std::vector<std::string> out;
  std::istringstream in(ReadAll("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, devno, root, mp;
    f >> id >> parent >> devno >> root >> mp;
    for (const auto& p : prefixes)
      if (!p.empty() && (mp == p || mp.rfind(p + "/", 0) == 0)) out.push_back(mp);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return out;
}

// cgroup directories named pod* below <hierarchy>/<parent> in every mounted hierarchy.
std::vector<std::string> PodCgroups(const std::string& parent) {
  std::vector<std::string> out;
  std::vector<std::string> roots = {"/sys/fs/cgroup" + parent};
  for (const auto& h : Entries("/sys/fs/cgroup")) roots.push_back("/sys/fs/cgroup/" + h + parent);
  for (const auto& r : roots) {
    std::error_code ec;
    if (!std::filesystem::is_directory(r, ec)) continue;
    for (auto it = std::filesystem::recursive_directory_iterator(r, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory() && it->path().filename().string().rfind("pod", 0) == 0) out.push_back(it->path());
  }
  return out;
}

// Removes (depth first) every cgroup directory <hierarchy>/<parent>.
void RemoveCgroupTree(const std::string& parent) {
  std::vector<std::string> roots = {"/sys/fs/cgroup" + parent};
  for (const auto& h : Entries("/sys/fs/cgroup")) roots.push_back("/sys/fs/cgroup/" + h + parent);
  for (const auto& r : roots) {
    std::error_code ec;
    if (!std::filesystem::is_directory(r, ec)) continue;
    std::vector<std::string> dirs;
    for (auto it = std::filesystem::recursive_directory_iterator(r, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory()) dirs.push_back(it->path());
    std::sort(dirs.begin(), dirs.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    dirs.push_back(r);
    for (const auto& d : dirs) ::rmdir(d.c_str());
  }
}

// What one node leaves on the host; all empty on a clean node.
struct Leftovers {
  std::vector<std::string> mounts, netns, cgroups, veths, ips, runc;
  bool empty() const {
    return mounts.empty() && netns.empty() && cgroups.empty() && veths.empty() && ips.empty() && runc.empty();
  }
  std::string Describe() const {
    std::string s;
    auto add = [&s](const char* what, const std::vector<std::string>& v) {
      for (const auto& x : v) s += std::string(what) + ": " + x + "\n";
    };
    add("mount", mounts);
    add("netns", netns);
    add("cgroup", cgroups);
    add("veth", veths);
    add("ip", ips);
    add("runc", runc);
    return s;
  }
};

// A node's environment: distinct names so parallel helpers never collide.
struct NodeEnv {
  std::string name, bridge, cluster_cidr, cgroup_parent;
  std::string data_dir;  // the agent's data dir
  std::string run_dir;
};

Leftovers Inspect(const NodeEnv& n) {
  Leftovers l;
  // Pod mounts: namespace pins under the run dir, overlay rootfs under the data dir.
  l.mounts = MountsUnder({n.run_dir, n.data_dir});
  for (const auto& e : Entries(n.run_dir + "/netns")) l.netns.push_back(e);
  l.cgroups = PodCgroups(n.cgroup_parent);
  auto r = ::tug::e2e::Run({"ip", "-o", "link", "show", "master", n.bridge});
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) l.veths.push_back(line.substr(0, line.find('\\')));
  for (const auto& net : Entries(n.data_dir + "/cni/ipam"))
    for (const auto& e : Entries(n.data_dir + "/cni/ipam/" + net))
      if (e.find('.') != std::string::npos && e.rfind("last_reserved_ip", 0) != 0) l.ips.push_back(net + "/" + e);
  auto rl = ::tug::e2e::Run({"runc", "--root", n.run_dir + "/runtime/runc", "list", "-q"});
  std::istringstream rin(rl.out);
  while (std::getline(rin, line))
    if (!line.empty()) l.runc.push_back(line);
  return l;
}

// Removes whatever a node left behind (after its agent stopped): containers, mounts, the
// bridge, the cgroup parent. Runs in TearDown whatever happened in the test.
void HostCleanup(const NodeEnv& n) {
  std::string root = n.run_dir + "/runtime/runc";
  auto rl = ::tug::e2e::Run({"runc", "--root", root, "list", "-q"});
  std::istringstream in(rl.out);
  std::string id;
  while (std::getline(in, id)) {
    if (id.empty()) continue;
    ::tug::e2e::Run({"runc", "--root", root, "kill", id, "KILL"});
    ::tug::e2e::Run({"runc", "--root", root, "delete", "-f", id});
  }
  for (const auto& m : MountsUnder({n.run_dir, n.data_dir})) ::tug::e2e::Run({"umount", "-l", m});
  ::tug::e2e::Run({"ip", "link", "del", n.bridge});
  RemoveCgroupTree(n.cgroup_parent);
}

// The registry with the busybox test images, once for the whole binary.
class Registry : public ::testing::Environment {
 public:
  void SetUp() override {
    if (geteuid() != 0) return;
    dir_ = MakeTempDir("tug-wire-reg");
    port_ = FreePort();
    auto r = ::tug::e2e::Run({SourceDir() + "/tools/test-images.sh", "--port", std::to_string(port_), "--dir", dir_}, "", {}, 300s);
    if (r.rc != 0) {
      error_ = r.out + r.err;
      port_ = 0;
    }
  }
  void TearDown() override {
    if (!dir_.empty()) {
      ::tug::e2e::Run({SourceDir() + "/tools/registry.sh", "stop", "--dir", dir_ + "/registry"});
      RemoveTree(dir_);
    }
  }
  static int port() { return port_; }
  static const std::string& error() { return error_; }

 private:
  std::string dir_;
  static inline int port_ = 0;
  static inline std::string error_;
};

::testing::Environment* const kRegistry = ::testing::AddGlobalTestEnvironment(new Registry);

void WriteMirror(const std::string& agent_data_dir) {
  std::filesystem::create_directories(agent_data_dir);
  std::ofstream(agent_data_dir + "/registries.yaml")
      << "mirrors:\n  docker.io:\n    endpoint:\n      - \"http://127.0.0.1:" << Registry::port() << "\"\n";
}

class AgentTestBase : public ::testing::Test {
 protected:
  void CheckPrerequisites() {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    for (const char* p : {"/usr/sbin/runc", "/usr/bin/conmon", "/usr/lib/cni/bridge"})
      if (access(p, X_OK) != 0) GTEST_SKIP() << "missing " << p;
    ASSERT_NE(Registry::port(), 0) << "test images: " << Registry::error();
  }

  RunResult Kubectl(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s,
                    const std::string& kubectl = "kubectl") {
    args.insert(args.begin(), kubectl);
    return ::tug::e2e::Run(args, "", {{"KUBECONFIG", server_->kubeconfig()}}, timeout);
  }

  json GetJson(const std::vector<std::string>& args) {
    auto r = Kubectl(args);
    if (r.rc != 0) return nullptr;
    auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json(nullptr) : j;
  }

  // Polls until pred(pod) holds; returns the last pod seen.
  template <typename Pred>
  json WaitPod(const std::string& name, Pred pred, std::chrono::seconds timeout = 90s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    json pod;
    while (std::chrono::steady_clock::now() < deadline) {
      pod = GetJson({"get", "pod", name, "-o", "json"});
      if (!pod.is_null() && pred(pod)) return pod;
      std::this_thread::sleep_for(250ms);  // polling interval, not a timing assumption
    }
    return pod;
  }

  static bool Running(const json& p) { return At(p, "/status/phase") == "Running"; }

  // Polls until there are no pods left (the agent removes the objects after killing them).
  bool WaitNoPods(std::chrono::seconds timeout = 120s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto l = GetJson({"get", "pods", "-o", "json"});
      if (!l.is_null() && l["items"].empty()) return true;
      std::this_thread::sleep_for(250ms);
    }
    return false;
  }

  // Polls until the node's leftovers are gone (teardown of a deleted pod finishes after the
  // object is removed... or before; either way it must end clean).
  Leftovers WaitClean(const NodeEnv& n, std::chrono::seconds timeout = 30s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    Leftovers l;
    while (std::chrono::steady_clock::now() < deadline) {
      l = Inspect(n);
      if (l.empty()) return l;
      std::this_thread::sleep_for(250ms);
    }
    return l;
  }

  // Pods are admitted once the namespace's default ServiceAccount exists (the controllers
  // create it shortly after start).
  void WaitDefaultServiceAccount() {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Kubectl({"get", "serviceaccount", "default"}).rc == 0) return;
      std::this_thread::sleep_for(250ms);
    }
  }

  void StopEverything() {
    if (server_ && server_->pid() > 0) {
      auto r = Kubectl({"delete", "pods", "--all", "--wait=true", "--timeout=60s"}, 90s);
      (void)r;
    }
    if (agent_) agent_->Stop();
    agent_.reset();
    if (server_) server_->Stop();
  }

  std::unique_ptr<TugServer> server_;
  std::unique_ptr<Background> agent_;
};

// ------------------------------------------------------------------ the built-in agent

class BuiltinAgentE2E : public AgentTestBase {
 protected:
  void SetUp() override {
    CheckPrerequisites();
    if (IsSkipped() || HasFatalFailure()) return;
    node_.name = "e2e-wire-a";
    node_.bridge = "tugwa0";
    node_.cluster_cidr = "10.231.0.0/16";
    node_.cgroup_parent = "/tug-e2e-wire-a";
    node_.run_dir = MakeTempDir("tug-wire-run");
    server_ = std::make_unique<TugServer>(std::vector<std::string>{
        "--disable-agent=false", "--node-name", node_.name, "--run-dir", node_.run_dir, "--kubelet-port", "0",
        "--cni-bridge", node_.bridge, "--cluster-cidr", node_.cluster_cidr, "--cgroup-parent", node_.cgroup_parent});
    node_.data_dir = server_->data_dir() + "/agent";
    WriteMirror(node_.data_dir);
    std::string why;
    ASSERT_TRUE(server_->Start(&why)) << why;
    ASSERT_TRUE(WaitForLog("node agent ready", 60s)) << server_->log();
    WaitDefaultServiceAccount();
  }

  void TearDown() override {
    StopEverything();
    if (!node_.run_dir.empty()) {
      HostCleanup(node_);
      RemoveTree(node_.run_dir);
    }
    server_.reset();  // removes the data dir (nothing is mounted there any more)
  }

  bool WaitForLog(const std::string& needle, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (server_->log().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  NodeEnv node_;
};

TEST_F(BuiltinAgentE2E, NodeReadyPodsRunWithOldAndNewKubectl) {
  auto node = GetJson({"get", "node", node_.name, "-o", "json"});
  ASSERT_FALSE(node.is_null());
  EXPECT_EQ(node["spec"].value("podCIDR", "").rfind("10.231.", 0), 0u) << node["spec"].dump();
  bool ready = false;
  for (const auto& c : node["status"]["conditions"])
    if (c["type"] == "Ready") ready = c["status"] == "True";
  EXPECT_TRUE(ready) << node["status"].dump(2);
  EXPECT_NE(node["status"]["capacity"].value("cpu", ""), "");
  EXPECT_NE(node["status"]["allocatable"].value("memory", ""), "");
  int kport = node["status"]["daemonEndpoints"]["kubeletEndpoint"].value("Port", 0);
  ASSERT_GT(kport, 0);
  EXPECT_NE(kport, 10250);  // --kubelet-port 0: the real (free) port is reported

  // kubectl run through the scheduler, with the oldest and newest kubectl.
  struct K {
    std::string pod, path;
  } kubectls[] = {{"b27", "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"},
                  {"b33", "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"}};
  for (const auto& k : kubectls) {
    std::string path = access(k.path.c_str(), X_OK) == 0 ? k.path : "kubectl";
    auto r = Kubectl({"run", k.pod, "--image=busybox", "--", "sh", "-c", "echo hello-from-" + k.pod + "; sleep 3600"},
                     60s, path);
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  for (const auto& k : kubectls) {
    auto pod = WaitPod(k.pod, Running);
    ASSERT_TRUE(Running(pod)) << pod.dump(2) << server_->log().substr(server_->log().size() > 8000 ? server_->log().size() - 8000 : 0);
    EXPECT_EQ(pod["spec"].value("nodeName", ""), node_.name);
    EXPECT_EQ(pod["status"].value("podIP", "").rfind("10.231.", 0), 0u);
    EXPECT_EQ(pod["status"]["containerStatuses"][0]["ready"], true);
  }
  for (const auto& k : kubectls) {
    std::string path = access(k.path.c_str(), X_OK) == 0 ? k.path : "kubectl";
    auto wide = Kubectl({"get", "pods", k.pod, "-o", "wide"}, 60s, path);
    ASSERT_EQ(wide.rc, 0) << wide.err;
    EXPECT_NE(wide.out.find(node_.name), std::string::npos) << wide.out;
    EXPECT_NE(wide.out.find("10.231."), std::string::npos) << wide.out;
    EXPECT_NE(wide.out.find("Running"), std::string::npos) << wide.out;
  }

  // The kubelet port: logs for a cluster-CA client certificate, nothing without one.
  std::string tls = server_->data_dir() + "/tls";
  std::string url = "https://127.0.0.1:" + std::to_string(kport) + "/containerLogs/default/b33/b33";
  auto with_cert = ::tug::e2e::Run({"curl", "-sS", "--max-time", "10", "--cacert", tls + "/ca.crt", "--cert", tls + "/admin.crt",
                        "--key", tls + "/admin.key", url});
  EXPECT_EQ(with_cert.rc, 0) << with_cert.err;
  EXPECT_NE(with_cert.out.find("hello-from-b33"), std::string::npos) << with_cert.out << with_cert.err;
  auto without = ::tug::e2e::Run({"curl", "-sS", "--max-time", "10", "--cacert", tls + "/ca.crt", url});
  EXPECT_EQ(without.out.find("hello-from-b33"), std::string::npos) << without.out;

  // Pod to pod by IP.
  ASSERT_EQ(Kubectl({"run", "web", "--image=busybox", "--", "httpd", "-f", "-p", "8080", "-h", "/etc"}).rc, 0);
  auto web = WaitPod("web", Running);
  ASSERT_TRUE(Running(web)) << web.dump(2);
  std::string web_ip = web["status"].value("podIP", "");
  ASSERT_EQ(Kubectl({"run", "client", "--image=busybox", "--restart=Never", "--", "wget", "-q", "-O", "-",
                     "http://" + web_ip + ":8080/hostname"}).rc, 0);
  auto client = WaitPod("client", [](const json& p) {
    auto ph = At(p, "/status/phase");
    return ph == "Succeeded" || ph == "Failed";
  });
  EXPECT_EQ(client["status"].value("phase", ""), "Succeeded") << client.dump(2);

  // Crash loop.
  ASSERT_EQ(Kubectl({"run", "crash", "--image=busybox", "--", "sh", "-c", "exit 3"}).rc, 0);
  auto crash = WaitPod("crash", [](const json& p) {
    return At(p, "/status/containerStatuses/0/state/waiting/reason") == "CrashLoopBackOff";
  }, 60s);
  ASSERT_TRUE(crash["status"]["containerStatuses"].is_array()) << crash.dump(2);
  EXPECT_EQ(crash["status"]["containerStatuses"][0]["state"]["waiting"].value("reason", ""), "CrashLoopBackOff")
      << crash.dump(2);
  EXPECT_EQ(At(crash, "/status/containerStatuses/0/lastState/terminated/exitCode"), 3) << crash.dump(2);

  // A restarted server (SIGTERM: the agent stops, containers keep running) adopts its pods.
  std::string cid = WaitPod("b33", Running)["status"]["containerStatuses"][0].value("containerID", "");
  ASSERT_FALSE(cid.empty());
  EXPECT_EQ(server_->Stop(), 0) << server_->log();
  EXPECT_FALSE(Inspect(node_).netns.empty());  // the pods' namespaces outlive the agent
  std::string why;
  ASSERT_TRUE(server_->Start(&why)) << why;
  ASSERT_TRUE(WaitForLog("node agent ready", 60s)) << server_->log();
  auto again = WaitPod("b33", Running);
  EXPECT_EQ(again["status"]["containerStatuses"][0].value("containerID", ""), cid) << again.dump(2);
  EXPECT_EQ(again["status"]["containerStatuses"][0].value("restartCount", -1), 0);
}

TEST_F(BuiltinAgentE2E, PodChurnLeavesNothingBehind) {
  constexpr int kPods = 20;
  std::string manifest;
  for (int i = 0; i < kPods; ++i)
    manifest += "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: churn-" + std::to_string(i) +
                "\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n"
                "    command: [\"sleep\", \"3600\"]\n";
  std::string file = node_.run_dir + "/churn.yaml";
  std::ofstream(file) << manifest;
  auto created = Kubectl({"apply", "-f", file});
  ASSERT_EQ(created.rc, 0) << created.err;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  int running = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto l = GetJson({"get", "pods", "-o", "json"});
    running = 0;
    if (!l.is_null())
      for (const auto& p : l["items"]) running += Running(p);
    if (running == kPods) break;
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(running, kPods) << Kubectl({"get", "pods", "-o", "wide"}).out;
  Leftovers during = Inspect(node_);
  EXPECT_EQ(during.netns.size(), size_t(kPods));
  EXPECT_EQ(during.ips.size(), size_t(kPods));
  EXPECT_EQ(during.veths.size(), size_t(kPods));

  auto del = Kubectl({"delete", "-f", file, "--wait=true", "--timeout=90s"}, 120s);
  EXPECT_EQ(del.rc, 0) << del.err;
  ASSERT_TRUE(WaitNoPods());
  Leftovers after = WaitClean(node_);
  EXPECT_TRUE(after.empty()) << after.Describe();
}

// ------------------------------------------------------------------ tug agent --token

class TokenAgentE2E : public AgentTestBase {
 protected:
  void SetUp() override {
    CheckPrerequisites();
    if (IsSkipped() || HasFatalFailure()) return;
    node_.name = "e2e-wire-b";
    node_.bridge = "tugwb0";
    node_.cluster_cidr = "10.232.0.0/16";
    node_.cgroup_parent = "/tug-e2e-wire-b";
    node_.run_dir = MakeTempDir("tug-wire-run");
    node_.data_dir = MakeTempDir("tug-wire-agent");
    WriteMirror(node_.data_dir);
    server_ = std::make_unique<TugServer>();  // --disable-agent
    std::string why;
    ASSERT_TRUE(server_->Start(&why)) << why;
    std::string token = ReadAll(server_->data_dir() + "/agent-token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
    ASSERT_GE(token.size(), 32u);
    struct stat st;
    ASSERT_EQ(stat((server_->data_dir() + "/agent-token").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    token_ = token;
    StartAgent();
    WaitDefaultServiceAccount();
  }

  void StartAgent() {
    agent_ = std::make_unique<Background>(std::vector<std::string>{
        TugBinary(), "agent", "--server", "https://127.0.0.1:" + std::to_string(server_->port()), "--token", token_,
        "--ca-file", server_->data_dir() + "/tls/ca.crt", "--node-name", node_.name, "--data-dir", node_.data_dir,
        "--run-dir", node_.run_dir, "--kubelet-port", "0", "--cni-bridge", node_.bridge, "--cluster-cidr",
        node_.cluster_cidr, "--cgroup-parent", node_.cgroup_parent});
    ASSERT_TRUE(agent_->WaitFor("agent ready", 60s)) << agent_->Output();
  }

  void TearDown() override {
    StopEverything();
    if (!node_.run_dir.empty() && !node_.data_dir.empty()) {
      HostCleanup(node_);
      RemoveTree(node_.run_dir);
      RemoveTree(node_.data_dir);
    }
    server_.reset();
  }

  // The pod runs on our node (no scheduler decision to wait for).
  RunResult RunPod(const std::string& name) {
    return Kubectl({"run", name, "--image=busybox", "--overrides",
                    R"({"apiVersion":"v1","spec":{"nodeName":")" + node_.name + R"(","terminationGracePeriodSeconds":1}})",
                    "--", "sleep", "3600"});
  }

  NodeEnv node_;
  std::string token_;
};

TEST_F(TokenAgentE2E, KillNineAdoptsRunningAndCleansVanished) {
  // A bad token is refused (the API server answers 401; the agent does not come up).
  {
    Background bad({TugBinary(), "agent", "--server", "https://127.0.0.1:" + std::to_string(server_->port()), "--token",
                    "not-the-token", "--node-name", "e2e-wire-bad", "--data-dir", node_.data_dir + "-bad", "--run-dir",
                    node_.run_dir + "/bad", "--kubelet-port", "0"});
    EXPECT_NE(bad.Wait(30s), 0) << bad.Output();
    RemoveTree(node_.data_dir + "-bad");
  }
  auto node = GetJson({"get", "node", node_.name, "-o", "json"});
  ASSERT_FALSE(node.is_null());
  EXPECT_GT(node["status"]["daemonEndpoints"]["kubeletEndpoint"].value("Port", 0), 0);

  ASSERT_EQ(RunPod("keep").rc, 0);
  ASSERT_EQ(RunPod("gone").rc, 0);
  auto keep = WaitPod("keep", Running);
  ASSERT_TRUE(Running(keep)) << keep.dump(2) << agent_->Output();
  auto gone = WaitPod("gone", Running);
  ASSERT_TRUE(Running(gone)) << gone.dump(2);
  std::string cid = keep["status"]["containerStatuses"][0].value("containerID", "");
  ASSERT_FALSE(cid.empty());
  ASSERT_EQ(Inspect(node_).netns.size(), 2u);

  // kill -9: nothing of the agent's cleanup runs. While it is down, "gone" vanishes from the API.
  kill(agent_->pid(), SIGKILL);
  agent_->Wait(10s);
  agent_.reset();
  auto del = Kubectl({"delete", "pod", "gone", "--force", "--grace-period=0"});
  ASSERT_EQ(del.rc, 0) << del.err;
  EXPECT_EQ(Inspect(node_).netns.size(), 2u);  // its sandbox is still on the host

  StartAgent();
  auto again = WaitPod("keep", [&](const json& p) {
    return Running(p) && At(p, "/status/containerStatuses/0/containerID") == cid;
  });
  EXPECT_TRUE(Running(again)) << again.dump(2);
  EXPECT_EQ(again["status"]["containerStatuses"][0].value("containerID", ""), cid) << again.dump(2);
  EXPECT_EQ(again["status"]["containerStatuses"][0].value("restartCount", -1), 0);
  // The vanished pod's sandbox, container, IP and veth are gone; the kept pod's remain.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  Leftovers l;
  while (std::chrono::steady_clock::now() < deadline) {
    l = Inspect(node_);
    if (l.netns.size() == 1 && l.ips.size() == 1 && l.veths.size() == 1 && l.runc.size() == 1) break;
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_EQ(l.netns.size(), 1u) << l.Describe();
  EXPECT_EQ(l.ips.size(), 1u) << l.Describe();
  EXPECT_EQ(l.veths.size(), 1u) << l.Describe();
  EXPECT_EQ(l.runc.size(), 1u) << l.Describe();

  auto d = Kubectl({"delete", "pod", "keep", "--wait=true", "--timeout=60s"}, 90s);
  EXPECT_EQ(d.rc, 0) << d.err;
  Leftovers after = WaitClean(node_);
  EXPECT_TRUE(after.empty()) << after.Describe();
}

}  // namespace
}  // namespace tug::e2e
