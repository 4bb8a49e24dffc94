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
namespace fs = std::filesystem;

constexpr const char* kNode = "e2e-volumes";
constexpr const char* kBridge = "tugvol0";
constexpr const char* kClusterCidr = "10.233.0.0/16";
constexpr const char* kCgroupParent = "/tug-e2e-volumes";

std::string ReadAll(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
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

void RemoveCgroups(const std::string& parent) {
  std::vector<std::string> roots = {"/sys/fs/cgroup" + parent};
  std::error_code ec;
  for (auto it = fs::directory_iterator("/sys/fs/cgroup", ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    roots.push_back(it->path().string() + parent);
  for (const auto& r : roots) {
    std::error_code e;
    if (!fs::is_directory(r, e)) continue;
    std::vector<std::string> dirs;
    for (auto it = fs::recursive_directory_iterator(r, e); !e && it != fs::recursive_directory_iterator(); it.increment(e))
      if (it->is_directory()) dirs.push_back(it->path());
    std::sort(dirs.begin(), dirs.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    dirs.push_back(r);
    for (const auto& d : dirs) ::rmdir(d.c_str());
  }
}

class Registry : public ::testing::Environment {
 public:
  void SetUp() override {
    if (geteuid() != 0) return;
    dir_ = MakeTempDir("tug-vol-reg");
    port_ = FreePort();
    auto r = Run({std::string(TUG_SOURCE_DIR) + "/tools/test-images.sh", "--port", std::to_string(port_), "--dir", dir_},
                 "", {}, 300s);
    if (r.rc != 0) {
      error_ = r.out + r.err;
      port_ = 0;
    }
  }
  void TearDown() override {
    if (dir_.empty()) return;
    Run({std::string(TUG_SOURCE_DIR) + "/tools/registry.sh", "stop", "--dir", dir_ + "/registry"});
    RemoveTree(dir_);
  }
  static inline int port_ = 0;
  static inline std::string error_;

 private:
  std::string dir_;
};

::testing::Environment* const kRegistry = ::testing::AddGlobalTestEnvironment(new Registry);

class VolumesE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    for (const char* p : {"/usr/sbin/runc", "/usr/bin/conmon", "/usr/lib/cni/bridge"})
      if (access(p, X_OK) != 0) GTEST_SKIP() << "missing " << p;
    auto help = ::tug::e2e::Run({TugBinary(), "agent", "--help"});
    if (help.out.find("--cni-bridge") == std::string::npos)
      GTEST_SKIP() << "tug agent has no --cni-bridge flag yet (needed to keep off other nodes' bridges)";
    ASSERT_NE(Registry::port_, 0) << "test images: " << Registry::error_;
    data_dir_ = MakeTempDir("tug-vol-agent");
    run_dir_ = MakeTempDir("tug-vol-run");
    host_dir_ = MakeTempDir("tug-vol-host");
    std::ofstream(data_dir_ + "/registries.yaml")
        << "mirrors:\n  docker.io:\n    endpoint:\n      - \"http://127.0.0.1:" << Registry::port_ << "\"\n";
    server_ = std::make_unique<TugServer>();  // --disable-agent
    std::string why;
    ASSERT_TRUE(server_->Start(&why)) << why;
    agent_ = std::make_unique<Background>(std::vector<std::string>{
        TugBinary(), "agent", "--kubeconfig", server_->kubeconfig(), "--node-name", kNode, "--data-dir", data_dir_,
        "--run-dir", run_dir_, "--cni-bridge", kBridge, "--cluster-cidr", kClusterCidr, "--cgroup-parent",
        kCgroupParent, "--kubelet-port", "0"});
    ASSERT_TRUE(agent_->WaitFor("agent ready", 60s)) << agent_->Output();
  }

  void TearDown() override {
    if (server_ && agent_) Kubectl({"delete", "pods", "--all", "--wait=true", "--timeout=60s"}, 90s);
    if (agent_) agent_->Stop();
    agent_.reset();
    if (!run_dir_.empty()) {
      std::string root = run_dir_ + "/runtime/runc";
      std::istringstream in(::tug::e2e::Run({"runc", "--root", root, "list", "-q"}).out);
      std::string id;
      while (std::getline(in, id)) {
        if (id.empty()) continue;
        ::tug::e2e::Run({"runc", "--root", root, "kill", id, "KILL"});
        ::tug::e2e::Run({"runc", "--root", root, "delete", "-f", id});
      }
      for (const auto& m : MountsUnder({run_dir_, data_dir_})) ::tug::e2e::Run({"umount", "-l", m});
      ::tug::e2e::Run({"ip", "link", "del", kBridge});
      RemoveCgroups(kCgroupParent);
    }
    server_.reset();
    for (const auto& d : {data_dir_, run_dir_, host_dir_})
      if (!d.empty()) RemoveTree(d);
  }

  RunResult Kubectl(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s,
                    const std::string& stdin_text = "") {
    args.insert(args.begin(), "kubectl");
    return ::tug::e2e::Run(args, stdin_text, {{"KUBECONFIG", server_->kubeconfig()}}, timeout);
  }

  void Apply(const json& obj) {
    auto r = Kubectl({"apply", "-f", "-"}, 60s, obj.dump());
    ASSERT_EQ(r.rc, 0) << r.err << obj.dump();
  }

  json GetJson(const std::vector<std::string>& args) {
    auto r = Kubectl(args);
    if (r.rc != 0) return nullptr;
    auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json(nullptr) : j;
  }

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
  static bool Running(const json& p) { return p["status"].value("phase", "") == "Running"; }

  std::string PodDir(const json& pod) {
    return data_dir_ + "/pods/default_" + pod["metadata"].value("name", "") + "_" + pod["metadata"].value("uid", "");
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
                 {{"nodeName", kNode},
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

  std::string data_dir_, run_dir_, host_dir_;
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
