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

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "node_env.h"

namespace tug::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::vector<std::string> kKubectls = {"/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
                                            "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"};

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
TestRegistry* const kRegistry = AddTestRegistry("tug-metrics-reg");

class MetricsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = NodePrerequisitesMissing(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(kRegistry->port(), 0) << "test images: " << kRegistry->error();
    node_ = {.name = "e2e-metrics", .bridge = "tugmx0", .cluster_cidr = "10.234.0.0/16",
             .cgroup_parent = "/tug-e2e-metrics", .data_dir = MakeTempDir("tug-metrics-agent"),
             .run_dir = MakeTempDir("tug-metrics-run")};
    auto why = StartServerWithAgent(*kRegistry, node_, AgentAuth::kToken, server_, agent_);
    ASSERT_EQ(why, "");
  }

  void TearDown() override { StopNode(node_, server_, agent_, /*grace_seconds=*/1); }

  RunResult Kubectl(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s,
                    const std::string& kubectl = "kubectl") {
    return ::tug::e2e::Kubectl(*server_, std::move(args), "", timeout, kubectl);
  }

  std::string Tail() {
    std::string o = agent_ ? agent_->Output() : "";
    return o.substr(o.size() > 4000 ? o.size() - 4000 : 0);
  }

  NodeEnv node_;
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
  std::string file = node_.run_dir + "/burn.yaml";
  std::ofstream(file) << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: burn\n  labels:\n    app: burn\nspec:\n  nodeName: "
                      << node_.name
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
          return node.rc == 0 && Row(node.out, node_.name).size() == 5;
        },
        60s))
        << node.out << node.err;
    auto nrow = Row(node.out, node_.name);
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
