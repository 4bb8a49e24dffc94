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
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "node_env.h"

namespace tug::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// j at a JSON pointer ("/status/phase"), or null: const operator[] asserts on missing keys.
json At(const json& j, const std::string& ptr) {
  json::json_pointer p(ptr);
  return j.contains(p) ? j.at(p) : json(nullptr);
}

TestRegistry* const kRegistry = AddTestRegistry("tug-wire-reg");

class AgentTestBase : public ::testing::Test {
 protected:
  void CheckPrerequisites() {
    if (auto why = NodePrerequisitesMissing(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(kRegistry->port(), 0) << "test images: " << kRegistry->error();
  }

  RunResult Kubectl(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s,
                    const std::string& kubectl = "kubectl") {
    return ::tug::e2e::Kubectl(*server_, std::move(args), "", timeout, kubectl);
  }

  json GetJson(const std::vector<std::string>& args) { return KubectlJson(*server_, args); }

  // Polls until pred(pod) holds; returns the last pod seen.
  json WaitPod(const std::string& name, const std::function<bool(const json&)>& pred, std::chrono::seconds timeout = 90s) {
    return ::tug::e2e::WaitPod(*server_, name, pred, timeout);
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

  // Pods are admitted once the namespace's default ServiceAccount exists (the controllers
  // create it shortly after start).
  void WaitDefaultServiceAccount() {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Kubectl({"get", "serviceaccount", "default"}).rc == 0) return;
      std::this_thread::sleep_for(250ms);
    }
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
    server_ = std::make_unique<TugServer>(BuiltinAgentFlags(node_));
    node_.data_dir = AgentDataDir(*server_);
    kRegistry->WriteMirror(node_.data_dir);
    std::string why;
    ASSERT_TRUE(server_->Start(&why)) << why;
    ASSERT_TRUE(WaitForLog("node agent ready", 60s)) << server_->log();
    WaitDefaultServiceAccount();
  }

  void TearDown() override { StopNode(node_, server_, agent_); }

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

TEST_F(BuiltinAgentE2E, ForceDeleteCutsAGracePeriodInFlight) {
  // A container that ignores SIGTERM, with a 120 s grace period: `kubectl delete` starts a
  // 120 s termination; `kubectl delete --force --grace-period=0` during it ends it at once,
  // as on real Kubernetes (the kubelet honours a shortened grace period).
  std::string file = node_.run_dir + "/stubborn.yaml";
  std::ofstream(file) << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: stubborn\nspec:\n"
                         "  terminationGracePeriodSeconds: 120\n  containers:\n  - name: c\n    image: busybox\n"
                         "    command: [\"sh\", \"-c\", \"trap '' TERM; while true; do sleep 1; done\"]\n";
  auto created = Kubectl({"apply", "-f", file});
  ASSERT_EQ(created.rc, 0) << created.err;
  auto pod = WaitPod("stubborn", Running);
  ASSERT_TRUE(Running(pod)) << pod.dump(2);
  std::this_thread::sleep_for(500ms);  // let sh install its trap

  auto first = Kubectl({"delete", "pod", "stubborn", "--wait=false"});
  ASSERT_EQ(first.rc, 0) << first.err;
  // The agent is inside the termination (it records Killing just before the stop signal).
  auto killing = [&] {
    auto events = GetJson({"get", "events", "-o", "json"});
    if (events.is_null()) return false;
    for (const auto& e : events["items"])
      if (e.value("reason", "") == "Killing" && At(e, "/involvedObject/name") == "stubborn") return true;
    return false;
  };
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!killing() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(killing()) << Kubectl({"get", "events"}).out;
  std::this_thread::sleep_for(1s);  // well into the 120 s grace

  auto t0 = std::chrono::steady_clock::now();
  auto force = Kubectl({"delete", "pod", "stubborn", "--force", "--grace-period=0"});
  ASSERT_EQ(force.rc, 0) << force.err;
  // The container, its sandbox and network go within WaitClean's 30 s, not after 120 s.
  Leftovers after = WaitClean(node_);
  EXPECT_TRUE(after.empty()) << after.Describe() << server_->log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 60s);
  EXPECT_NE(server_->log().find("termination grace shortened"), std::string::npos);
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
    kRegistry->WriteMirror(node_.data_dir);
    server_ = std::make_unique<TugServer>();  // --disable-agent
    std::string why;
    ASSERT_TRUE(server_->Start(&why)) << why;
    ASSERT_GE(AgentToken(*server_).size(), 32u);
    struct stat st;
    ASSERT_EQ(stat((server_->data_dir() + "/agent-token").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    StartAgent();
    WaitDefaultServiceAccount();
  }

  void StartAgent() {
    agent_ = std::make_unique<Background>(TokenAgentArgv(*server_, node_));
    ASSERT_TRUE(agent_->WaitFor("agent ready", 60s)) << agent_->Output();
  }

  void TearDown() override { StopNode(node_, server_, agent_); }

  // The pod runs on our node (no scheduler decision to wait for).
  RunResult RunPod(const std::string& name) {
    return Kubectl({"run", name, "--image=busybox", "--overrides",
                    R"({"apiVersion":"v1","spec":{"nodeName":")" + node_.name + R"(","terminationGracePeriodSeconds":1}})",
                    "--", "sleep", "3600"});
  }

  NodeEnv node_;
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
