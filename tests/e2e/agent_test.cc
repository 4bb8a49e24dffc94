// Issue 5 (owner: kubelet): `tug server --disable-agent` + `tug agent` on this machine, driven by
// the real kubectl: a busybox pod goes Running, pods reach each other by IP, a crashing pod
// goes CrashLoopBackOff, and deleted pods leave nothing behind. Needs root, runc, conmon and the
// CNI plugins; skipped otherwise.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.h"

namespace tug::e2e {
namespace {

using namespace std::chrono_literals;

std::string SourceDir() {
  // tests/e2e/agent_test.cc -> repo root
  return TUG_SOURCE_DIR;  // __FILE__ is relative under ccache's base dir
}

class AgentE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    for (const char* p : {"/usr/sbin/runc", "/usr/bin/conmon", "/usr/lib/cni/bridge"})
      if (access(p, X_OK) != 0) GTEST_SKIP() << "missing " << p;
    agent_dir_ = MakeTempDir("tug-agent-e2e");
    run_dir_ = MakeTempDir("tug-agent-run");
    reg_dir_ = MakeTempDir("tug-agent-reg");
    reg_port_ = FreePort();
    auto r = ::tug::e2e::Run({SourceDir() + "/tools/test-images.sh", "--data-dir", agent_dir_, "--port",
                  std::to_string(reg_port_), "--dir", reg_dir_},
                 "", {}, 300s);
    ASSERT_EQ(r.rc, 0) << r.out << r.err;
    server_ = std::make_unique<TugServer>(std::vector<std::string>{"--disable-agent"});
    std::string why;
    ASSERT_TRUE(server_->Start(&why)) << why;
    agent_ = std::make_unique<Background>(std::vector<std::string>{
        TugBinary(), "agent", "--kubeconfig", server_->kubeconfig(), "--data-dir", agent_dir_,
        "--run-dir", run_dir_, "--node-name", "e2e-node"});
    ASSERT_TRUE(agent_->WaitFor("agent ready", 60s)) << agent_->Output();
  }

  void TearDown() override {
    if (server_ && agent_) {
      Kubectl({"delete", "pods", "--all", "--wait=true", "--timeout=90s"}, 120s);
    }
    if (agent_) agent_->Stop();
    server_.reset();
    if (reg_port_) ::tug::e2e::Run({SourceDir() + "/tools/registry.sh", "stop", "--dir", reg_dir_});
    for (const auto& d : {agent_dir_, run_dir_, reg_dir_})
      if (!d.empty()) {
        ::tug::e2e::Run({"umount", "-R", "-l", d});
        RemoveTree(d);
      }
  }

  RunResult Kubectl(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s) {
    args.insert(args.begin(), "kubectl");
    return ::tug::e2e::Run(args, "", {{"KUBECONFIG", server_->kubeconfig()}}, timeout);
  }

  nlohmann::json GetPod(const std::string& name) {
    auto r = Kubectl({"get", "pod", name, "-o", "json"});
    if (r.rc != 0) return nullptr;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  // Polls until pred(pod) holds; returns the last pod seen.
  template <typename Pred>
  nlohmann::json WaitPod(const std::string& name, Pred pred, std::chrono::seconds timeout = 90s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    nlohmann::json pod;
    while (std::chrono::steady_clock::now() < deadline) {
      pod = GetPod(name);
      if (!pod.is_null() && !pod.is_discarded() && pred(pod)) return pod;
      std::this_thread::sleep_for(500ms);  // polling interval, not a timing assumption
    }
    return pod;
  }

  std::string agent_dir_, run_dir_, reg_dir_;
  int reg_port_ = 0;
  std::unique_ptr<TugServer> server_;
  std::unique_ptr<Background> agent_;
};

// Disabled until the agent runs inside `tug server` and this test has passed in CI once: it was
// committed at the end of session 2 without a run (see the closing note).
TEST_F(AgentE2E, DISABLED_NodeRegistersAndPodsRun) {
  auto nodes = Kubectl({"get", "node", "e2e-node", "-o", "json"});
  ASSERT_EQ(nodes.rc, 0) << nodes.err;
  auto node = nlohmann::json::parse(nodes.out);
  EXPECT_FALSE(node["spec"].value("podCIDR", "").empty());
  EXPECT_EQ(node["status"]["nodeInfo"]["kubeletVersion"], "v1.33.0+tug");

  ASSERT_EQ(Kubectl({"run", "b", "--image=busybox", "--overrides",
                     R"({"apiVersion":"v1","spec":{"nodeName":"e2e-node"}})", "--", "sleep", "3600"}).rc, 0);
  auto pod = WaitPod("b", [](const nlohmann::json& p) { return p["status"].value("phase", "") == "Running"; });
  ASSERT_EQ(pod["status"].value("phase", ""), "Running") << pod.dump(2) << agent_->Output();
  std::string ip = pod["status"].value("podIP", "");
  ASSERT_FALSE(ip.empty());
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["ready"], true);

  // A second pod reaches the first by IP (nc listener in b is not there: use a web server).
  ASSERT_EQ(Kubectl({"run", "web", "--image=busybox", "--overrides", R"({"apiVersion":"v1","spec":{"nodeName":"e2e-node"}})",
                     "--", "httpd", "-f", "-p", "8080", "-h", "/etc"}).rc, 0);
  auto web = WaitPod("web", [](const nlohmann::json& p) { return p["status"].value("phase", "") == "Running"; });
  ASSERT_EQ(web["status"].value("phase", ""), "Running") << web.dump(2);
  std::string web_ip = web["status"].value("podIP", "");
  ASSERT_EQ(Kubectl({"run", "client", "--image=busybox", "--restart=Never", "--overrides",
                     R"({"apiVersion":"v1","spec":{"nodeName":"e2e-node"}})", "--", "wget", "-q", "-O", "-",
                     "http://" + web_ip + ":8080/hostname"}).rc, 0);
  auto client = WaitPod("client", [](const nlohmann::json& p) {
    auto ph = p["status"].value("phase", "");
    return ph == "Succeeded" || ph == "Failed";
  });
  EXPECT_EQ(client["status"].value("phase", ""), "Succeeded") << client.dump(2);

  // Crash loop.
  ASSERT_EQ(Kubectl({"run", "crash", "--image=busybox", "--overrides", R"({"apiVersion":"v1","spec":{"nodeName":"e2e-node"}})",
                     "--", "sh", "-c", "exit 3"}).rc, 0);
  auto crash = WaitPod("crash", [](const nlohmann::json& p) {
    const auto& cs = p["status"]["containerStatuses"];
    return cs.is_array() && !cs.empty() && cs[0]["state"].contains("waiting") &&
           cs[0]["state"]["waiting"].value("reason", "") == "CrashLoopBackOff";
  }, 120s);
  ASSERT_TRUE(crash["status"]["containerStatuses"].is_array()) << crash.dump(2);
  EXPECT_EQ(crash["status"]["containerStatuses"][0]["state"]["waiting"].value("reason", ""), "CrashLoopBackOff")
      << crash.dump(2);
  EXPECT_EQ(crash["status"]["containerStatuses"][0]["lastState"]["terminated"].value("exitCode", 0), 3);

  // Deletion: the agent kills the containers and removes the pod object.
  auto del = Kubectl({"delete", "pod", "b", "--timeout=60s"}, 90s);
  EXPECT_EQ(del.rc, 0) << del.err;
}

}  // namespace
}  // namespace tug::e2e
