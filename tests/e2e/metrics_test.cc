// Issue 5 item 8 (owner: metrics): `kubectl top` against tug — the kubelet's stats summary
// (src/kubelet/stats) read by the API server's metrics.k8s.io (src/apiserver/metrics).
//
//   MetricsE2E.TopNodeAndPod
//       `tug server --disable-agent` + `tug agent --token`: a busybox pod burning CPU shows up in
//       `kubectl top pod` (with --containers and -l) and the node in `kubectl top node`, with
//       kubectl 1.33 and 1.27; /apis/metrics.k8s.io/v1beta1 is in discovery.
//   MetricsNoAgentE2E.NotAvailableYet
//       a server without any node: `kubectl top node` says `error: metrics not available yet`
//       as upstream kubectl does against an empty NodeMetricsList (no root needed).
//
// The agent test needs root, runc, conmon, the CNI plugins and the test-image tools; skipped
// otherwise. Own node name, bridge, pod CIDR, cgroup parent and temp dirs; all removed in TearDown.
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

const std::vector<std::string> kKubectls = {"/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
                                            "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"};

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

// Polls `f` until it returns true or the deadline passes.
template <typename F>
bool Eventually(F f, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(500ms);  // polling interval
  }
  return f();
}

// The busybox test images in a local registry, once for the whole binary.
class Registry : public ::testing::Environment {
 public:
  void SetUp() override {
    if (geteuid() != 0) return;
    dir_ = MakeTempDir("tug-metrics-reg");
    port_ = FreePort();
    auto r = tug::e2e::Run({SourceDir() + "/tools/test-images.sh", "--port", std::to_string(port_), "--dir", dir_}, "", {}, 300s);
    if (r.rc != 0) {
      error_ = r.out + r.err;
      port_ = 0;
    }
  }
  void TearDown() override {
    if (!dir_.empty()) {
      tug::e2e::Run({SourceDir() + "/tools/registry.sh", "stop", "--dir", dir_ + "/registry"});
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

class MetricsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    for (const char* p : {"/usr/sbin/runc", "/usr/bin/conmon", "/usr/lib/cni/bridge"})
      if (access(p, X_OK) != 0) GTEST_SKIP() << "missing " << p;
    ASSERT_NE(Registry::port(), 0) << "test images: " << Registry::error();
    run_dir_ = MakeTempDir("tug-metrics-run");
    data_dir_ = MakeTempDir("tug-metrics-agent");
    std::ofstream(data_dir_ + "/registries.yaml")
        << "mirrors:\n  docker.io:\n    endpoint:\n      - \"http://127.0.0.1:" << Registry::port() << "\"\n";
    server_ = std::make_unique<TugServer>();  // --disable-agent
    std::string why;
    ASSERT_TRUE(server_->Start(&why)) << why;
    std::string token = ReadAll(server_->data_dir() + "/agent-token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
    agent_ = std::make_unique<Background>(std::vector<std::string>{
        TugBinary(), "agent", "--server", "https://127.0.0.1:" + std::to_string(server_->port()), "--token", token,
        "--ca-file", server_->data_dir() + "/tls/ca.crt", "--node-name", kNode, "--data-dir", data_dir_, "--run-dir",
        run_dir_, "--kubelet-port", "0", "--cni-bridge", kBridge, "--cluster-cidr", kClusterCidr, "--cgroup-parent",
        kCgroupParent});
    ASSERT_TRUE(agent_->WaitFor("agent ready", 60s)) << agent_->Output();
  }

  void TearDown() override {
    if (server_ && server_->pid() > 0 && agent_)
      Kubectl({"delete", "pods", "--all", "--grace-period=1", "--wait=true", "--timeout=60s"}, 90s);
    if (agent_) agent_->Stop();
    agent_.reset();
    if (!run_dir_.empty()) {
      std::string root = run_dir_ + "/runtime/runc";
      std::istringstream in(tug::e2e::Run({"runc", "--root", root, "list", "-q"}).out);
      std::string id;
      while (std::getline(in, id)) {
        if (id.empty()) continue;
        tug::e2e::Run({"runc", "--root", root, "kill", id, "KILL"});
        tug::e2e::Run({"runc", "--root", root, "delete", "-f", id});
      }
      for (const auto& m : MountsUnder({run_dir_, data_dir_})) tug::e2e::Run({"umount", "-l", m});
      tug::e2e::Run({"ip", "link", "del", kBridge});
      RemoveCgroupTree(kCgroupParent);
      RemoveTree(run_dir_);
      RemoveTree(data_dir_);
    }
    if (server_) server_->Stop();
    server_.reset();
  }

  RunResult Kubectl(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s,
                    const std::string& kubectl = "kubectl") {
    args.insert(args.begin(), kubectl);
    return tug::e2e::Run(args, "", {{"KUBECONFIG", server_->kubeconfig()}}, timeout);
  }

  std::string Tail() {
    std::string o = agent_ ? agent_->Output() : "";
    return o.substr(o.size() > 4000 ? o.size() - 4000 : 0);
  }

  static constexpr const char* kNode = "e2e-metrics";
  static constexpr const char* kBridge = "tugmx0";
  static constexpr const char* kClusterCidr = "10.234.0.0/16";
  static constexpr const char* kCgroupParent = "/tug-e2e-metrics";
  std::string run_dir_, data_dir_;
  std::unique_ptr<TugServer> server_;
  std::unique_ptr<Background> agent_;
};

// The row of `name` in kubectl top output, split into columns.
std::vector<std::string> Row(const std::string& out, const std::string& name) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::vector<std::string> cols;
    std::string c;
    while (f >> c) cols.push_back(c);
    if (!cols.empty() && cols[0] == name) return cols;
  }
  return {};
}

// "123m" -> 123; "2" -> 2000.
long MilliCores(const std::string& q) {
  if (!q.empty() && q.back() == 'm') return std::stol(q.substr(0, q.size() - 1));
  return std::stol(q) * 1000;
}

TEST_F(MetricsE2E, TopNodeAndPod) {
  std::string file = run_dir_ + "/burn.yaml";
  std::ofstream(file) << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: burn\n  labels:\n    app: burn\nspec:\n  nodeName: "
                      << kNode
                      << "\n  containers:\n  - name: burn\n    image: busybox\n"
                         "    command: [\"sh\", \"-c\", \"while true; do :; done\"]\n"
                         "  - name: idle\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n";
  auto ap = Kubectl({"apply", "-f", file});
  ASSERT_EQ(ap.rc, 0) << ap.err;
  ASSERT_TRUE(Eventually([&] { return Kubectl({"get", "pod", "burn", "-o", "jsonpath={.status.phase}"}).out == "Running"; }, 120s))
      << Tail();

  // Discovery lists the group (kubectl top checks it before asking).
  auto groups = Kubectl({"api-versions"});
  EXPECT_NE(groups.out.find("metrics.k8s.io/v1beta1"), std::string::npos) << groups.out;
  auto res = Kubectl({"api-resources", "--api-group=metrics.k8s.io"});
  EXPECT_NE(res.out.find("PodMetrics"), std::string::npos) << res.out << res.err;

  for (const auto& kubectl : kKubectls) {
    SCOPED_TRACE(kubectl);
    RunResult pod;
    std::vector<std::string> row;
    ASSERT_TRUE(Eventually(
        [&] {
          pod = Kubectl({"top", "pod", "burn"}, 30s, kubectl);
          row = Row(pod.out, "burn");
          return pod.rc == 0 && row.size() == 3;
        },
        90s))
        << pod.out << pod.err << Tail();
    EXPECT_NE(pod.out.find("CPU(cores)"), std::string::npos) << pod.out;
    // A shell spinning in a loop uses a good part of a core.
    EXPECT_GT(MilliCores(row[1]), 100) << pod.out;
    EXPECT_NE(row[2].find("Mi"), std::string::npos) << pod.out;

    auto containers = Kubectl({"top", "pod", "-l", "app=burn", "--containers"}, 30s, kubectl);
    ASSERT_EQ(containers.rc, 0) << containers.err;
    EXPECT_NE(containers.out.find("burn"), std::string::npos) << containers.out;
    EXPECT_NE(containers.out.find("idle"), std::string::npos) << containers.out;
    auto none = Kubectl({"top", "pod", "-l", "app=nothing"}, 30s, kubectl);
    EXPECT_NE(none.err.find("No resources found"), std::string::npos) << none.out << none.err;

    RunResult node;
    ASSERT_TRUE(Eventually(
        [&] {
          node = Kubectl({"top", "node"}, 30s, kubectl);
          return node.rc == 0 && Row(node.out, kNode).size() == 5;
        },
        60s))
        << node.out << node.err;
    auto nrow = Row(node.out, kNode);
    EXPECT_GT(MilliCores(nrow[1]), 100) << node.out;
    EXPECT_NE(nrow[2].find('%'), std::string::npos) << node.out;
    EXPECT_NE(nrow[4].find('%'), std::string::npos) << node.out;
  }

  // The raw API: PodMetrics with a window, NodeMetrics by name, NotFound as metrics-server.
  auto raw = Kubectl({"get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn"});
  ASSERT_EQ(raw.rc, 0) << raw.err;
  auto pm = json::parse(raw.out, nullptr, false);
  ASSERT_FALSE(pm.is_discarded()) << raw.out;
  EXPECT_EQ(pm["kind"], "PodMetrics");
  EXPECT_EQ(pm["metadata"]["labels"]["app"], "burn");
  EXPECT_TRUE(pm.contains("window"));
  EXPECT_EQ(pm["containers"].size(), 2u);
  auto missing = Kubectl({"get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope"});
  EXPECT_NE(missing.rc, 0);
  EXPECT_NE(missing.err.find("podmetrics.metrics.k8s.io \"default/nope\" not found"), std::string::npos) << missing.err;
}

TEST(MetricsNoAgentE2E, NotAvailableYet) {
  TugServer server;  // --disable-agent: no node, no kubelet
  std::string why;
  ASSERT_TRUE(server.Start(&why)) << why;
  for (const auto& kubectl : kKubectls) {
    SCOPED_TRACE(kubectl);
    auto r = tug::e2e::Run({kubectl, "top", "node"}, "", {{"KUBECONFIG", server.kubeconfig()}}, 60s);
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.err.find("error: metrics not available yet"), std::string::npos) << r.out << r.err;
    auto p = tug::e2e::Run({kubectl, "top", "pod"}, "", {{"KUBECONFIG", server.kubeconfig()}}, 60s);
    EXPECT_NE(p.err.find("No resources found in default namespace."), std::string::npos) << p.out << p.err;
  }
}

}  // namespace
}  // namespace tug::e2e
