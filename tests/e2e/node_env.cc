#include "node_env.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace tug::e2e {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string SourceDir() { return TUG_SOURCE_DIR; }

// <parent> in the unified hierarchy and in every hierarchy mounted below /sys/fs/cgroup.
std::vector<std::string> CgroupRoots(const std::string& parent) {
  std::vector<std::string> roots = {"/sys/fs/cgroup" + parent};
  for (const auto& h : Entries("/sys/fs/cgroup")) roots.push_back("/sys/fs/cgroup/" + h + parent);
  return roots;
}

// Every directory below `root` (not `root` itself); empty when it is not a directory.
std::vector<std::string> SubDirs(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_directory(ec)) out.push_back(it->path());
  return out;
}

void SortDeepestFirst(std::vector<std::string>& paths) {
  std::sort(paths.begin(), paths.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::vector<std::string> RuncContainers(const NodeEnv& n) {
  std::vector<std::string> out;
  for (auto& id : Lines(Run({"runc", "--root", n.run_dir + "/runtime/runc", "list", "-q"}).out))
    if (!id.empty()) out.push_back(id);
  return out;
}

class RegistryEnvironment : public ::testing::Environment {
 public:
  explicit RegistryEnvironment(TestRegistry* r) : registry_(r) {}
  void SetUp() override { registry_->Start(); }
  void TearDown() override { registry_->Stop(); }

 private:
  TestRegistry* registry_;
};

// "a.b.c.d" as a number; false when it is not one.
bool ParseIPv4(const std::string& s, uint32_t& out) {
  unsigned a, b, c, d;
  char end;
  if (std::sscanf(s.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &end) != 4 || a > 255 || b > 255 || c > 255 || d > 255)
    return false;
  out = (a << 24) | (b << 16) | (c << 8) | d;
  return true;
}

// Whether address `ip` ("10.92.0.5" or "10.92.0.5/32") lies in `cidr` ("10.92.0.0/16").
bool InCidr(const std::string& ip, const std::string& cidr) {
  uint32_t addr, base;
  auto slash = cidr.find('/');
  if (slash == std::string::npos || !ParseIPv4(ip.substr(0, ip.find('/')), addr) ||
      !ParseIPv4(cidr.substr(0, slash), base))
    return false;
  int len = std::atoi(cidr.c_str() + slash + 1);
  uint32_t mask = len <= 0 ? 0 : len >= 32 ? ~0u : ~0u << (32 - len);
  return (addr & mask) == (base & mask);
}

}  // namespace

std::vector<std::string> MasqueradeRules(const std::string& cidr) {
  std::vector<std::string> out;
  if (cidr.empty()) return out;
  for (const auto& line : Lines(Run({"iptables-save", "-t", "nat"}).out)) {
    // -A POSTROUTING -s 10.92.0.5/32 -m comment --comment "name: ... id: ..." -j CNI-<hex>
    if (line.rfind("-A POSTROUTING -s ", 0) != 0 || line.find(" -j CNI-") == std::string::npos) continue;
    std::string src = line.substr(18, line.find(' ', 18) - 18);
    if (InCidr(src, cidr)) out.push_back(line);
  }
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    out.push_back(it->path().filename().string());
  return out;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

std::vector<std::string> MountsUnder(const std::vector<std::string>& prefixes) {
  std::vector<std::string> out;
  for (const auto& line : Lines(ReadAll("/proc/self/mountinfo"))) {
    std::istringstream f(line);
    std::string id, parent, devno, root, mp;
    f >> id >> parent >> devno >> root >> mp;
    for (const auto& p : prefixes)
      if (!p.empty() && (mp == p || mp.rfind(p + "/", 0) == 0)) out.push_back(mp);
  }
  SortDeepestFirst(out);
  return out;
}

std::vector<std::string> PodCgroups(const std::string& parent) {
  std::vector<std::string> out;
  for (const auto& r : CgroupRoots(parent))
    for (const auto& d : SubDirs(r))
      if (fs::path(d).filename().string().rfind("pod", 0) == 0) out.push_back(d);
  return out;
}

void RemoveCgroupTree(const std::string& parent) {
  for (const auto& r : CgroupRoots(parent)) {
    std::error_code ec;
    if (!fs::is_directory(r, ec)) continue;
    std::vector<std::string> dirs = SubDirs(r);
    SortDeepestFirst(dirs);
    dirs.push_back(r);
    for (const auto& d : dirs) ::rmdir(d.c_str());
  }
}

std::string NodePrerequisitesMissing(const std::vector<std::string>& extra_tools) {
  if (geteuid() != 0) return "needs root";
  std::vector<std::string> tools = {"/usr/sbin/runc", "/usr/bin/conmon", "/usr/lib/cni/bridge"};
  tools.insert(tools.end(), extra_tools.begin(), extra_tools.end());
  for (const auto& p : tools)
    if (access(p.c_str(), X_OK) != 0) return "missing " + p;
  return "";
}

std::string AgentDataDir(const TugServer& server) { return server.data_dir() + "/agent"; }

std::vector<std::string> BuiltinAgentFlags(const NodeEnv& n) {
  return {"--disable-agent=false", "--node-name", n.name,         "--run-dir",      n.run_dir,
          "--kubelet-port",        "0",           "--cni-bridge", n.bridge,         "--cluster-cidr",
          n.cluster_cidr,          "--cgroup-parent", n.cgroup_parent};
}

std::string AgentToken(const TugServer& server) {
  std::string token = ReadAll(server.data_dir() + "/agent-token");
  while (!token.empty() && token.back() == '\n') token.pop_back();
  return token;
}

namespace {
// The flags every agent form shares: the node's identity, dirs and network.
std::vector<std::string> AgentNodeFlags(const NodeEnv& n) {
  return {"--node-name",    n.name,  "--data-dir",     n.data_dir,     "--run-dir",       n.run_dir,
          "--kubelet-port", "0",     "--cni-bridge",   n.bridge,       "--cluster-cidr",  n.cluster_cidr,
          "--cgroup-parent", n.cgroup_parent};
}
}  // namespace

std::vector<std::string> TokenAgentArgv(const TugServer& server, const NodeEnv& n) {
  std::vector<std::string> argv = {TugBinary(), "agent", "--server", "https://127.0.0.1:" + std::to_string(server.port()),
                                   "--token", AgentToken(server), "--ca-file", server.data_dir() + "/tls/ca.crt"};
  auto f = AgentNodeFlags(n);
  argv.insert(argv.end(), f.begin(), f.end());
  return argv;
}

std::vector<std::string> KubeconfigAgentArgv(const TugServer& server, const NodeEnv& n) {
  std::vector<std::string> argv = {TugBinary(), "agent", "--kubeconfig", server.kubeconfig()};
  auto f = AgentNodeFlags(n);
  argv.insert(argv.end(), f.begin(), f.end());
  return argv;
}

RunResult Kubectl(const TugServer& server, std::vector<std::string> args, const std::string& in,
                  std::chrono::milliseconds timeout, const std::string& kubectl) {
  args.insert(args.begin(), kubectl);
  return Run(args, in, {{"KUBECONFIG", server.kubeconfig()}}, timeout);
}

nlohmann::json KubectlJson(const TugServer& server, const std::vector<std::string>& args) {
  auto r = Kubectl(server, args);
  if (r.rc != 0) return nullptr;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

nlohmann::json WaitPod(const TugServer& server, const std::string& name,
                       const std::function<bool(const nlohmann::json&)>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  nlohmann::json pod;
  while (std::chrono::steady_clock::now() < deadline) {
    pod = KubectlJson(server, {"get", "pod", name, "-o", "json"});
    if (!pod.is_null() && pred(pod)) return pod;
    std::this_thread::sleep_for(250ms);  // polling interval, not a timing assumption
  }
  return pod;
}

void DeleteAllPods(const TugServer& server, int grace_seconds) {
  std::vector<std::string> args = {"delete", "pods", "--all"};
  if (grace_seconds >= 0) args.push_back("--grace-period=" + std::to_string(grace_seconds));
  args.insert(args.end(), {"--wait=true", "--timeout=60s"});
  Kubectl(server, args, "", 90s);
}

bool Leftovers::empty() const {
  return mounts.empty() && netns.empty() && cgroups.empty() && veths.empty() && ips.empty() && runc.empty() &&
         masquerade.empty();
}

std::string Leftovers::Describe() const {
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
  add("iptables", masquerade);
  return s;
}

Leftovers Inspect(const NodeEnv& n) {
  Leftovers l;
  // Pod mounts: namespace pins under the run dir, overlay rootfs under the data dir.
  l.mounts = MountsUnder({n.run_dir, n.data_dir});
  l.netns = Entries(n.run_dir + "/netns");
  l.cgroups = PodCgroups(n.cgroup_parent);
  for (const auto& line : Lines(Run({"ip", "-o", "link", "show", "master", n.bridge}).out))
    if (!line.empty()) l.veths.push_back(line.substr(0, line.find('\\')));
  for (const auto& net : Entries(n.data_dir + "/cni/ipam"))
    for (const auto& e : Entries(n.data_dir + "/cni/ipam/" + net))
      if (e.find('.') != std::string::npos && e.rfind("last_reserved_ip", 0) != 0) l.ips.push_back(net + "/" + e);
  l.runc = RuncContainers(n);
  l.masquerade = MasqueradeRules(n.cluster_cidr);
  return l;
}

Leftovers WaitClean(const NodeEnv& n, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Leftovers l;
  while (std::chrono::steady_clock::now() < deadline) {
    l = Inspect(n);
    if (l.empty()) return l;
    std::this_thread::sleep_for(250ms);  // polling interval, not a timing assumption
  }
  return l;
}

void HostCleanup(const NodeEnv& n) {
  if (!n.run_dir.empty()) {
    std::string root = n.run_dir + "/runtime/runc";
    for (const auto& id : RuncContainers(n)) {
      Run({"runc", "--root", root, "kill", id, "KILL"});
      Run({"runc", "--root", root, "delete", "-f", id});
    }
  }
  for (const auto& m : MountsUnder({n.run_dir, n.data_dir})) Run({"umount", "-l", m});
  // The pods' masquerade rules (the bridge plugin's ipMasq) and their CNI-<hex> chains.
  if (auto rules = MasqueradeRules(n.cluster_cidr); !rules.empty()) {
    std::string restore = "*nat\n";
    for (const auto& r : rules) restore += "-D" + r.substr(2) + "\n";
    Run({"iptables-restore", "--noflush", "-w"}, restore + "COMMIT\n");
    for (const auto& r : rules) {
      std::string chain = r.substr(r.rfind(" -j ") + 4);
      Run({"iptables", "-w", "-t", "nat", "-F", chain});
      Run({"iptables", "-w", "-t", "nat", "-X", chain});
    }
  }
  if (!n.bridge.empty()) Run({"ip", "link", "del", n.bridge});
  if (!n.cgroup_parent.empty()) RemoveCgroupTree(n.cgroup_parent);
}

void RemoveNodeDirs(const NodeEnv& n) {
  for (const auto& d : {n.run_dir, n.data_dir})
    if (!d.empty()) RemoveTree(d);
}

std::string StartServerWithAgent(const TestRegistry& registry, const NodeEnv& n, AgentAuth auth,
                                 std::unique_ptr<TugServer>& server, std::unique_ptr<Background>& agent) {
  registry.WriteMirror(n.data_dir);
  server = std::make_unique<TugServer>();  // --disable-agent
  std::string why;
  if (!server->Start(&why)) return "tug server: " + why;
  agent = std::make_unique<Background>(auth == AgentAuth::kToken ? TokenAgentArgv(*server, n)
                                                                 : KubeconfigAgentArgv(*server, n));
  if (!agent->WaitFor("agent ready", 60s)) return "tug agent did not start:\n" + agent->Output();
  return "";
}

void StopNode(const NodeEnv& n, std::unique_ptr<TugServer>& server, std::unique_ptr<Background>& agent,
              int grace_seconds) {
  bool builtin = server && !n.data_dir.empty() && n.data_dir == AgentDataDir(*server);
  if (server && server->pid() > 0 && (agent || builtin)) DeleteAllPods(*server, grace_seconds);
  if (agent) agent->Stop();
  agent.reset();
  if (server) server->Stop();
  HostCleanup(n);
  RemoveNodeDirs(n);
  server.reset();
}

bool TestRegistry::Start() {
  if (port_ != 0) return true;
  if (geteuid() != 0) {
    error_ = "needs root";
    return false;
  }
  dir_ = MakeTempDir(prefix_);
  int port = FreePort();
  auto r = Run({SourceDir() + "/tools/test-images.sh", "--port", std::to_string(port), "--dir", dir_}, "", {}, 300s);
  if (r.rc != 0) {
    error_ = r.out + r.err;
    return false;
  }
  port_ = port;
  return true;
}

void TestRegistry::Stop() {
  if (dir_.empty()) return;
  Run({SourceDir() + "/tools/registry.sh", "stop", "--dir", dir_ + "/registry"});
  RemoveTree(dir_);
  dir_.clear();
  port_ = 0;
}

void TestRegistry::WriteMirror(const std::string& agent_data_dir) const {
  fs::create_directories(agent_data_dir);
  std::ofstream(agent_data_dir + "/registries.yaml")
      << "mirrors:\n  docker.io:\n    endpoint:\n      - \"http://127.0.0.1:" << port_ << "\"\n";
}

TestRegistry* AddTestRegistry(const std::string& temp_prefix) {
  auto* registry = new TestRegistry(temp_prefix);  // lives as long as the test binary
  ::testing::AddGlobalTestEnvironment(new RegistryEnvironment(registry));
  return registry;
}

}  // namespace tug::e2e
