// Issue 5 items 3-4 (owner: probes): probes, lifecycle hooks, graceful termination and
// termination reasons with real pods: `tug server --disable-agent` + `tug agent --token`, pods
// bound to the agent's node by spec.nodeName, driven by the real kubectl.
//
//   ProbesE2E.LivenessRestartsReadinessFlipsHttpStartup
//       an always-failing exec liveness probe restarts the container (restartCount grows,
//       Unhealthy and Killing events with kubelet's messages); a readiness probe on a file a
//       loop creates and deletes flips the container's ready and the pod's Ready condition both
//       ways; httpGet startup + tcpSocket readiness against busybox httpd make it Ready.
//   ProbesE2E.OomPreStopGraceInitFailures
//       a pod over its memory limit is OOMKilled (exit 137); `kubectl delete pod` runs the
//       preStop hook (its output lands in the CRI log) and SIGKILLs after the grace period;
//       a failing postStart hook kills the container (FailedPostStartHook); a failing init
//       container fails a restartPolicy Never pod and crash-loops (Init:CrashLoopBackOff)
//       otherwise.
//
// Needs root, runc, conmon, the CNI plugins and the test-image tools; skipped otherwise. Own
// node name, bridge, pod CIDR, cgroup parent and temp dirs; everything is removed in TearDown.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
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

// The registry with the busybox test images, once for the whole binary.
TestRegistry* const kRegistry = AddTestRegistry("tug-probes-reg");

class ProbesE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = NodePrerequisitesMissing(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(kRegistry->port(), 0) << "test images: " << kRegistry->error();
    node_ = {.name = "e2e-probes", .bridge = "tugpr0", .cluster_cidr = "10.247.0.0/16",
             .cgroup_parent = "/tug-e2e-probes", .data_dir = MakeTempDir("tug-probes-agent"),
             .run_dir = MakeTempDir("tug-probes-run")};
    auto why = StartServerWithAgent(*kRegistry, node_, AgentAuth::kToken, server_, agent_);
    ASSERT_EQ(why, "");
  }

  void TearDown() override { StopNode(node_, server_, agent_, /*grace_seconds=*/1); }

  RunResult Kubectl(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s) {
    return ::tug::e2e::Kubectl(*server_, std::move(args), "", timeout);
  }

  json GetJson(const std::vector<std::string>& args) { return KubectlJson(*server_, args); }

  // Polls until pred(pod) holds; returns the last pod seen.
  json WaitPod(const std::string& name, const std::function<bool(const json&)>& pred, std::chrono::seconds timeout = 90s) {
    return ::tug::e2e::WaitPod(*server_, name, pred, timeout);
  }

  // Messages of the events of `reason` about pod `name`.
  std::vector<std::string> Events(const std::string& name, const std::string& reason) {
    std::vector<std::string> out;
    auto l = GetJson({"get", "events", "-o", "json"});
    if (l.is_null()) return out;
    for (const auto& e : l["items"])
      if (e["involvedObject"].value("name", "") == name && e.value("reason", "") == reason)
        out.push_back(e.value("message", ""));
    return out;
  }

  template <typename Pred>
  bool WaitEvent(const std::string& name, const std::string& reason, Pred pred, std::chrono::seconds timeout = 60s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& m : Events(name, reason))
        if (pred(m)) return true;
      std::this_thread::sleep_for(500ms);
    }
    return false;
  }

  void Apply(const std::string& name, const std::string& yaml) {
    std::string file = node_.run_dir + "/" + name + ".yaml";
    std::ofstream(file) << yaml;
    auto r = Kubectl({"apply", "-f", file});
    ASSERT_EQ(r.rc, 0) << r.err;
  }

  std::string PodHeader(const std::string& name, const std::string& extra_spec = "") {
    return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  nodeName: " + node_.name + "\n" + extra_spec;
  }

  static bool Condition(const json& pod, const std::string& type) {
    for (const auto& c : pod["status"].value("conditions", json::array()))
      if (c.value("type", "") == type) return c.value("status", "") == "True";
    return false;
  }
  static const json& Status0(const json& pod) {
    static const json empty = json::object();
    const auto& cs = pod["status"]["containerStatuses"];
    return cs.is_array() && !cs.empty() ? cs[0] : empty;
  }
  std::string Tail() {
    std::string o = agent_ ? agent_->Output() : "";
    return o.substr(o.size() > 6000 ? o.size() - 6000 : 0);
  }

  NodeEnv node_;
  std::unique_ptr<TugServer> server_;
  std::unique_ptr<Background> agent_;
};

TEST_F(ProbesE2E, LivenessRestartsReadinessFlipsHttpStartup) {
  Apply("live", PodHeader("live", "  terminationGracePeriodSeconds: 30\n") +
                    "  containers:\n  - name: live\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n"
                    "    livenessProbe:\n      exec:\n        command: [\"cat\", \"/tmp/healthy\"]\n"
                    "      periodSeconds: 1\n      failureThreshold: 2\n      terminationGracePeriodSeconds: 1\n");
  Apply("ready", PodHeader("ready") +
                     "  containers:\n  - name: ready\n    image: busybox\n"
                     "    command: [\"sh\", \"-c\", \"while true; do touch /tmp/ready; sleep 4; rm -f /tmp/ready; sleep 4; done\"]\n"
                     "    readinessProbe:\n      exec:\n        command: [\"cat\", \"/tmp/ready\"]\n"
                     "      periodSeconds: 1\n      timeoutSeconds: 5\n");
  Apply("web", PodHeader("web") +
                   "  containers:\n  - name: web\n    image: busybox\n"
                   "    command: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/etc\"]\n"
                   "    ports:\n    - name: http\n      containerPort: 8080\n"
                   "    startupProbe:\n      httpGet:\n        path: /hostname\n        port: http\n"
                   "      periodSeconds: 1\n      failureThreshold: 30\n"
                   "    readinessProbe:\n      tcpSocket:\n        port: 8080\n      periodSeconds: 1\n      timeoutSeconds: 5\n");

  // Liveness: killed and restarted, again and again.
  auto live = WaitPod("live", [](const json& p) { return Status0(p).value("restartCount", 0) >= 2; }, 120s);
  EXPECT_GE(Status0(live).value("restartCount", 0), 2) << live.dump(2) << Tail();
  EXPECT_TRUE(WaitEvent("live", "Unhealthy", [](const std::string& m) {
    return m.rfind("Liveness probe failed: ", 0) == 0 && m.find("/tmp/healthy") != std::string::npos;
  })) << Tail();
  EXPECT_TRUE(WaitEvent("live", "Killing", [](const std::string& m) {
    return m == "Container live failed liveness probe, will be restarted";
  }));
  // The probe's own grace period (1 s, raised to kubelet's 2 s minimum) applies, not the pod's 30 s:
  // sleep ignores SIGTERM as PID 1, so the kill is a SIGKILL (137) after ~2 s.
  const json& last = Status0(live)["lastState"]["terminated"];
  EXPECT_EQ(last.value("exitCode", 0), 137) << live.dump(2);
  EXPECT_EQ(last.value("reason", ""), "Error") << live.dump(2);

  // Readiness follows the file: Ready, then not, then Ready again; never restarted.
  bool saw_ready = false, saw_unready_after = false, saw_ready_again = false;
  auto deadline = std::chrono::steady_clock::now() + 90s;
  while (std::chrono::steady_clock::now() < deadline && !saw_ready_again) {
    auto p = GetJson({"get", "pod", "ready", "-o", "json"});
    if (!p.is_null() && p["status"].value("phase", "") == "Running") {
      bool r = Condition(p, "Ready");
      EXPECT_EQ(r, Condition(p, "ContainersReady"));
      EXPECT_EQ(r, Status0(p).value("ready", false));
      EXPECT_TRUE(Status0(p).value("started", false));
      if (r && !saw_ready) saw_ready = true;
      else if (!r && saw_ready) saw_unready_after = true;
      else if (r && saw_unready_after) saw_ready_again = true;
    }
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_TRUE(saw_ready && saw_unready_after && saw_ready_again) << saw_ready << saw_unready_after << Tail();
  auto ready = GetJson({"get", "pod", "ready", "-o", "json"});
  EXPECT_EQ(Status0(ready).value("restartCount", -1), 0);
  EXPECT_TRUE(WaitEvent("ready", "Unhealthy", [](const std::string& m) {
    return m.rfind("Readiness probe failed: ", 0) == 0;
  }));

  // httpGet startup (named port) then tcpSocket readiness.
  auto web = WaitPod("web", [](const json& p) { return Condition(p, "Ready"); });
  std::string web_events;
  for (const auto& m : Events("web", "Unhealthy")) web_events += m + "\n";
  EXPECT_TRUE(Condition(web, "Ready")) << web["status"].dump(2) << web_events << Tail();
  EXPECT_TRUE(Status0(web).value("started", false));
  EXPECT_EQ(Status0(web).value("restartCount", -1), 0);
  // kubectl's READY column agrees.
  auto wide = Kubectl({"get", "pod", "web"});
  EXPECT_NE(wide.out.find("1/1"), std::string::npos) << wide.out;
}

TEST_F(ProbesE2E, OomPreStopGraceInitFailures) {
  Apply("oom", PodHeader("oom", "  restartPolicy: Never\n") +
                   "  containers:\n  - name: oom\n    image: busybox\n"
                   "    command: [\"sh\", \"-c\", \"x=aaaaaaaaaaaaaaaa; while true; do x=\\\"$x$x\\\"; done\"]\n"
                   "    resources:\n      limits:\n        memory: 32Mi\n");
  Apply("stop", PodHeader("stop", "  terminationGracePeriodSeconds: 10\n") +
                    "  containers:\n  - name: stop\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n"
                    "    lifecycle:\n      preStop:\n        exec:\n"
                    "          command: [\"sh\", \"-c\", \"echo prestop-ran > /proc/1/fd/1; sleep 4\"]\n");
  Apply("hook", PodHeader("hook", "  restartPolicy: Never\n  terminationGracePeriodSeconds: 2\n") +
                    "  containers:\n  - name: hook\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n"
                    "    lifecycle:\n      postStart:\n        exec:\n          command: [\"sh\", \"-c\", \"exit 7\"]\n");
  Apply("initfail", PodHeader("initfail", "  restartPolicy: Never\n") +
                        "  initContainers:\n  - name: init\n    image: busybox\n    command: [\"sh\", \"-c\", \"exit 2\"]\n"
                        "  containers:\n  - name: app\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n");
  Apply("initloop", PodHeader("initloop") +
                        "  initContainers:\n  - name: init\n    image: busybox\n    command: [\"sh\", \"-c\", \"exit 2\"]\n"
                        "  containers:\n  - name: app\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n");

  // OOMKilled.
  auto oom = WaitPod("oom", [](const json& p) { return p["status"].value("phase", "") == "Failed"; });
  const json& term = Status0(oom)["state"]["terminated"];
  EXPECT_EQ(term.value("reason", ""), "OOMKilled") << oom.dump(2) << Tail();
  EXPECT_EQ(term.value("exitCode", 0), 137) << oom.dump(2);

  // Failing init container: Failed with Never, Init:CrashLoopBackOff otherwise.
  auto initfail = WaitPod("initfail", [](const json& p) { return p["status"].value("phase", "") == "Failed"; });
  EXPECT_EQ(initfail["status"].value("phase", ""), "Failed") << initfail.dump(2);
  EXPECT_EQ(initfail["status"]["initContainerStatuses"][0]["state"]["terminated"].value("exitCode", 0), 2);
  bool crash_loop = false;
  auto deadline = std::chrono::steady_clock::now() + 90s;
  while (!crash_loop && std::chrono::steady_clock::now() < deadline) {
    auto r = Kubectl({"get", "pod", "initloop"});
    crash_loop = r.out.find("Init:CrashLoopBackOff") != std::string::npos;
    if (!crash_loop) std::this_thread::sleep_for(500ms);
  }
  EXPECT_TRUE(crash_loop) << Kubectl({"get", "pod", "initloop", "-o", "yaml"}).out;

  // postStart failure: event, container killed.
  EXPECT_TRUE(WaitEvent("hook", "FailedPostStartHook", [](const std::string& m) {
    return m.find("Exec lifecycle hook ([sh -c exit 7]) for Container \"hook\"") == 0 &&
           m.find("exited with 7") != std::string::npos;
  })) << Tail();
  auto hook = WaitPod("hook", [](const json& p) { return Status0(p)["state"].contains("terminated"); });
  EXPECT_TRUE(Status0(hook)["state"].contains("terminated")) << hook.dump(2);
  EXPECT_EQ(hook["status"].value("phase", ""), "Failed") << hook.dump(2);

  // preStop on delete, then SIGKILL after the grace period (sleep ignores SIGTERM as PID 1).
  auto stop = WaitPod("stop", [](const json& p) { return p["status"].value("phase", "") == "Running"; });
  ASSERT_EQ(stop["status"].value("phase", ""), "Running") << stop.dump(2) << Tail();
  std::string uid = stop["metadata"].value("uid", "");
  std::string log = node_.data_dir + "/pods/default_stop_" + uid + "/stop/0.log";
  ASSERT_TRUE(std::filesystem::exists(log)) << log;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Kubectl({"delete", "pod", "stop", "--wait=false"}).rc, 0);
  bool prestop_logged = false;
  bool gone = false;
  deadline = t0 + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!prestop_logged) prestop_logged = ReadAll(log).find("prestop-ran") != std::string::npos;
    auto r = Kubectl({"get", "pod", "stop", "-o", "name"});
    if (r.rc != 0 && r.err.find("NotFound") != std::string::npos) {
      gone = true;
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(prestop_logged) << Tail();
  ASSERT_TRUE(gone);
  // preStop (~4 s) then the rest of the 10 s grace period before SIGKILL; not the default 30 s.
  EXPECT_GE(took, 9s);
  EXPECT_LT(took, 25s);
  EXPECT_TRUE(WaitEvent("stop", "Killing", [](const std::string& m) { return m == "Stopping container stop"; }));
}

}  // namespace
}  // namespace tug::e2e
