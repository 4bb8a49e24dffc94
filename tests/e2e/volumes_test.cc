// Issue 5 item 5 (owner: volumes): pod volumes on a real node — `tug server --disable-agent` +
// `tug agent` on this machine, driven by the real kubectl:
//
//   ConfigMapAndSecretShowDataAndFollowUpdates  configMap and secret files in the container;
//                                               an update of the ConfigMap appears in place
//   EmptyDirSharedAndMemoryIsTmpfs              two containers share an emptyDir; a Memory
//                                               emptyDir is a sized tmpfs; deleting the pod
//                                               leaves no mount
//   MissingConfigMapIsFailedMountUntilCreated   FailedMount event, ContainerCreating, then
//                                               Running once the ConfigMap exists
//   HostPathAndDownwardAPIAndSubPath            hostPath (DirectoryOrCreate) written by the pod,
//                                               downwardAPI labels, a configMap key by subPath
//   ProjectedServiceAccountToken                a projected token (needs the TokenRequest API)
//
// Container output is read from the CRI log files the agent writes. Needs root, runc, conmon
// and the CNI plugins; skipped otherwise. Own node name, bridge, cluster CIDR, cgroup parent and
// temp dirs; TearDown removes containers, mounts, the bridge and cgroups even after failures.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "node_env.h"

namespace tug::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

TestRegistry* const kRegistry = AddTestRegistry("tug-vol-reg");

class VolumesE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = NodePrerequisitesMissing(); !why.empty()) GTEST_SKIP() << why;
    auto help = ::tug::e2e::Run({TugBinary(), "agent", "--help"});
    if (help.out.find("--cni-bridge") == std::string::npos)
      GTEST_SKIP() << "tug agent has no --cni-bridge flag yet (needed to keep off other nodes' bridges)";
    ASSERT_NE(kRegistry->port(), 0) << "test images: " << kRegistry->error();
    node_ = {.name = "e2e-volumes", .bridge = "tugvol0", .cluster_cidr = "10.233.0.0/16",
             .cgroup_parent = "/tug-e2e-volumes", .data_dir = MakeTempDir("tug-vol-agent"),
             .run_dir = MakeTempDir("tug-vol-run")};
    host_dir_ = MakeTempDir("tug-vol-host");
    auto why = StartServerWithAgent(*kRegistry, node_, AgentAuth::kKubeconfig, server_, agent_);
    ASSERT_EQ(why, "");
  }

  void TearDown() override {
    StopNode(node_, server_, agent_);
    if (!host_dir_.empty()) RemoveTree(host_dir_);
  }

  RunResult Kubectl(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s,
                    const std::string& stdin_text = "") {
    return ::tug::e2e::Kubectl(*server_, std::move(args), stdin_text, timeout);
  }

  void Apply(const json& obj) {
    auto r = Kubectl({"apply", "-f", "-"}, 60s, obj.dump());
    ASSERT_EQ(r.rc, 0) << r.err << obj.dump();
  }

  json GetJson(const std::vector<std::string>& args) { return KubectlJson(*server_, args); }

  // Polls until pred(pod) holds; returns the last pod seen.
  json WaitPod(const std::string& name, const std::function<bool(const json&)>& pred, std::chrono::seconds timeout = 90s) {
    return ::tug::e2e::WaitPod(*server_, name, pred, timeout);
  }
  static bool Running(const json& p) { return p["status"].value("phase", "") == "Running"; }

  std::string PodDir(const json& pod) {
    return node_.data_dir + "/pods/default_" + pod["metadata"].value("name", "") + "_" + pod["metadata"].value("uid", "");
  }
  // The container's first CRI log file; polls until it contains `needle`.
  std::string WaitLog(const json& pod, const std::string& container, const std::string& needle,
                      std::chrono::seconds timeout = 60s) {
    std::string path = PodDir(pod) + "/" + container + "/0.log";
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string log;
    while (std::chrono::steady_clock::now() < deadline) {
      log = ReadAll(path);
      if (log.find(needle) != std::string::npos) return log;
      std::this_thread::sleep_for(250ms);
    }
    return log;
  }

  json Pod(const std::string& name, json containers, json volumes) {
    return json{{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", name}}}}},
                {"spec",
                 {{"nodeName", node_.name},
                  {"terminationGracePeriodSeconds", 1},
                  {"containers", containers},
                  {"volumes", volumes}}}};
  }
  static json Busybox(const std::string& name, const std::string& script, json mounts) {
    return json{{"name", name}, {"image", "busybox"}, {"command", {"sh", "-c", script}}, {"volumeMounts", mounts}};
  }

  void DeleteAndCheckNoMounts(const std::string& name, const std::string& pod_dir) {
    auto r = Kubectl({"delete", "pod", name, "--wait=true", "--timeout=60s"}, 90s);
    EXPECT_EQ(r.rc, 0) << r.err;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline && (!MountsUnder({pod_dir}).empty() || fs::exists(pod_dir)))
      std::this_thread::sleep_for(250ms);
    EXPECT_TRUE(MountsUnder({pod_dir}).empty()) << "leaked mounts under " << pod_dir;
    EXPECT_FALSE(fs::exists(pod_dir));
  }

  NodeEnv node_;
  std::string host_dir_;
  std::unique_ptr<TugServer> server_;
  std::unique_ptr<Background> agent_;
};

TEST_F(VolumesE2E, ConfigMapAndSecretShowDataAndFollowUpdates) {
  ASSERT_EQ(Kubectl({"create", "configmap", "cfg", "--from-literal=greeting=hello"}).rc, 0);
  ASSERT_EQ(Kubectl({"create", "secret", "generic", "sec", "--from-literal=password=hunter2"}).rc, 0);
  Apply(Pod("reader",
            json::array({Busybox("c",
                                 "cat /etc/cfg/greeting; echo; cat /etc/sec/password; echo; "
                                 "ls -lL /etc/sec/password; touch /etc/cfg/x 2>/dev/null || echo read-only; "
                                 "while true; do echo now=$(cat /etc/cfg/greeting); sleep 0.5; done",
                                 json::array({{{"name", "cfg"}, {"mountPath", "/etc/cfg"}},
                                              {{"name", "sec"}, {"mountPath", "/etc/sec"}}}))}),
            json::array({{{"name", "cfg"}, {"configMap", {{"name", "cfg"}}}},
                         {{"name", "sec"}, {"secret", {{"secretName", "sec"}, {"defaultMode", 0400}}}}})));
  auto pod = WaitPod("reader", Running);
  ASSERT_TRUE(Running(pod)) << pod.dump(2) << agent_->Output();
  std::string log = WaitLog(pod, "c", "now=hello");
  EXPECT_NE(log.find(" hello\n"), std::string::npos) << log;
  EXPECT_NE(log.find(" hunter2\n"), std::string::npos) << log;
  EXPECT_NE(log.find("-r--------"), std::string::npos) << "defaultMode 0400: " << log;
  EXPECT_NE(log.find("read-only"), std::string::npos) << log;
  // The atomic writer's layout on the host.
  std::string vol = PodDir(pod) + "/volumes/kubernetes.io~configmap/cfg";
  EXPECT_EQ(fs::read_symlink(vol + "/greeting").string(), "..data/greeting");
  // Update: the running container sees the new value without a restart.
  ASSERT_EQ(Kubectl({"patch", "configmap", "cfg", "-p", R"({"data":{"greeting":"bye"}})"}).rc, 0);
  log = WaitLog(pod, "c", "now=bye", 90s);
  EXPECT_NE(log.find("now=bye"), std::string::npos) << log;
  auto after = GetJson({"get", "pod", "reader", "-o", "json"});
  EXPECT_EQ(after["status"]["containerStatuses"][0].value("restartCount", -1), 0);
  DeleteAndCheckNoMounts("reader", PodDir(pod));
}

TEST_F(VolumesE2E, EmptyDirSharedAndMemoryIsTmpfs) {
  Apply(Pod("shared",
            json::array({Busybox("writer", "echo shared-data > /data/f; sleep 3600",
                                 json::array({{{"name", "data"}, {"mountPath", "/data"}}})),
                         Busybox("reader",
                                 "until cat /data/f; do sleep 0.2; done; grep ' /mem ' /proc/mounts; "
                                 "df -k /mem | tail -1; sleep 3600",
                                 json::array({{{"name", "data"}, {"mountPath", "/data"}},
                                              {{"name", "mem"}, {"mountPath", "/mem"}}}))}),
            json::array({{{"name", "data"}, {"emptyDir", json::object()}},
                         {{"name", "mem"}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "8Mi"}}}}})));
  auto pod = WaitPod("shared", Running);
  ASSERT_TRUE(Running(pod)) << pod.dump(2) << agent_->Output();
  std::string log = WaitLog(pod, "reader", "/mem");
  EXPECT_NE(log.find("shared-data"), std::string::npos) << log;
  EXPECT_NE(log.find("tmpfs /mem tmpfs"), std::string::npos) << log;
  EXPECT_NE(log.find(" 8192 "), std::string::npos) << "sizeLimit 8Mi: " << log;
  std::string mem = PodDir(pod) + "/volumes/kubernetes.io~empty-dir/mem";
  // (ServiceAccount admission may add a projected token volume: another tmpfs.)
  auto mounts = MountsUnder({PodDir(pod)});
  EXPECT_NE(std::find(mounts.begin(), mounts.end(), fs::canonical(mem).string()), mounts.end());
  DeleteAndCheckNoMounts("shared", PodDir(pod));
}

TEST_F(VolumesE2E, MissingConfigMapIsFailedMountUntilCreated) {
  Apply(Pod("waiting", json::array({Busybox("c", "cat /cfg/k; sleep 3600", json::array({{{"name", "cfg"}, {"mountPath", "/cfg"}}}))}),
            json::array({{{"name", "cfg"}, {"configMap", {{"name", "later"}}}}})));
  auto deadline = std::chrono::steady_clock::now() + 60s;
  json events;
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    events = GetJson({"get", "events", "--field-selector", "involvedObject.name=waiting", "-o", "json"});
    if (!events.is_null())
      for (const auto& e : events["items"])
        if (e.value("reason", "") == "FailedMount" &&
            e.value("message", "") == "MountVolume.SetUp failed for volume \"cfg\" : configmap \"later\" not found")
          seen = true;
    if (!seen) std::this_thread::sleep_for(250ms);
  }
  ASSERT_TRUE(seen) << events.dump(2) << agent_->Output();
  auto pod = GetJson({"get", "pod", "waiting", "-o", "json"});
  EXPECT_EQ(pod["status"].value("phase", ""), "Pending");
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["state"]["waiting"].value("reason", ""), "ContainerCreating")
      << pod.dump(2);
  ASSERT_EQ(Kubectl({"create", "configmap", "later", "--from-literal=k=finally"}).rc, 0);
  pod = WaitPod("waiting", Running);
  ASSERT_TRUE(Running(pod)) << pod.dump(2);
  EXPECT_NE(WaitLog(pod, "c", "finally").find("finally"), std::string::npos);
}

TEST_F(VolumesE2E, HostPathAndDownwardAPIAndSubPath) {
  ASSERT_EQ(Kubectl({"create", "configmap", "app", "--from-literal=app.conf=port=80"}).rc, 0);
  std::string host = host_dir_ + "/made/by/kubelet";
  Apply(Pod("mixed",
            json::array({Busybox("c",
                                 "echo from-pod > /host/out; cat /info/labels; echo; cat /etc/app.conf; echo; "
                                 "ls /etc | grep -c app.conf; sleep 3600",
                                 json::array({{{"name", "host"}, {"mountPath", "/host"}},
                                              {{"name", "info"}, {"mountPath", "/info"}},
                                              {{"name", "app"}, {"mountPath", "/etc/app.conf"}, {"subPath", "app.conf"}}}))}),
            json::array({{{"name", "host"}, {"hostPath", {{"path", host}, {"type", "DirectoryOrCreate"}}}},
                         {{"name", "info"},
                          {"downwardAPI",
                           {{"items", json::array({{{"path", "labels"}, {"fieldRef", {{"fieldPath", "metadata.labels"}}}}})}}}},
                         {{"name", "app"}, {"configMap", {{"name", "app"}}}}})));
  auto pod = WaitPod("mixed", Running);
  ASSERT_TRUE(Running(pod)) << pod.dump(2) << agent_->Output();
  std::string log = WaitLog(pod, "c", "port=80");
  EXPECT_NE(log.find("app=\"mixed\""), std::string::npos) << log;
  EXPECT_NE(log.find("port=80"), std::string::npos) << log;
  EXPECT_EQ(ReadAll(host + "/out"), "from-pod\n");
  // A bad hostPath type: FailedMount with kubelet's message.
  Apply(Pod("badhost", json::array({Busybox("c", "sleep 3600", json::array({{{"name", "h"}, {"mountPath", "/h"}}}))}),
            json::array({{{"name", "h"}, {"hostPath", {{"path", host_dir_ + "/nope"}, {"type", "Directory"}}}}})));
  auto deadline = std::chrono::steady_clock::now() + 60s;
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    auto events = GetJson({"get", "events", "--field-selector", "involvedObject.name=badhost", "-o", "json"});
    if (!events.is_null())
      for (const auto& e : events["items"])
        if (e.value("reason", "") == "FailedMount" &&
            e.value("message", "").find("hostPath type check failed: " + host_dir_ + "/nope is not a directory") !=
                std::string::npos)
          seen = true;
    if (!seen) std::this_thread::sleep_for(250ms);
  }
  EXPECT_TRUE(seen);
  DeleteAndCheckNoMounts("mixed", PodDir(pod));
}

TEST_F(VolumesE2E, ProjectedServiceAccountToken) {
  if (Kubectl({"create", "token", "default"}).rc != 0)
    GTEST_SKIP() << "the API server has no serviceaccounts/token (TokenRequest) yet";
  Apply(Pod("tok",
            json::array({Busybox("c", "cat /var/run/secrets/tokens/token; echo; echo end; sleep 3600",
                                 json::array({{{"name", "t"}, {"mountPath", "/var/run/secrets/tokens"}}}))}),
            json::array({{{"name", "t"},
                          {"projected",
                           {{"sources", json::array({{{"serviceAccountToken", {{"path", "token"}, {"expirationSeconds", 3600}}}},
                                                     {{"downwardAPI",
                                                       {{"items", json::array({{{"path", "namespace"},
                                                                                {"fieldRef", {{"fieldPath", "metadata.namespace"}}}}})}}}}})}}}}})));
  auto pod = WaitPod("tok", Running);
  ASSERT_TRUE(Running(pod)) << pod.dump(2) << agent_->Output();
  std::string log = WaitLog(pod, "c", "end");
  // A JWT: three base64url parts.
  auto pos = log.find(" eyJ");
  ASSERT_NE(pos, std::string::npos) << log;
  std::string jwt = log.substr(pos + 1, log.find('\n', pos) - pos - 1);
  EXPECT_EQ(std::count(jwt.begin(), jwt.end(), '.'), 2) << jwt;
}

}  // namespace
}  // namespace tug::e2e
