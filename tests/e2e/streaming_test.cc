// Issue 5 item 7 and issue 4 item 5 (owner: stream-api): the streaming subresources and the proxy
// paths through `tug server` with its built-in agent, driven by the real kubectl 1.27 and 1.33:
// logs (-f, --tail, --since, --since-time, --previous, -c, -l, --timestamps, --all-containers,
// --prefix, --limit-bytes; -f, --tail and --previous across log rotation by size), exec (plain, -i with stdin, -it through a pty, exit codes), attach, cp
// both ways, port-forward, and pods/services/nodes proxy (get --raw and kubectl proxy).
//
// kubectl 1.27 speaks SPDY for exec/attach/cp/port-forward and 1.31+ tunnels port-forward over
// WebSocket: those need the kubelet's SPDY and port-forward (stream-kubelet). Until the kubelet
// serves them, the cases that need them are skipped with a message saying so.
//
// Needs root, runc, conmon, the CNI plugins, umoci, skopeo and docker-registry; skipped otherwise.
// One server and a handful of pods serve every test (started once per binary); its node name,
// bridge, cluster CIDR and cgroup parent are this file's own, and everything it created is
// removed at the end even when tests fail.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "node_env.h"

namespace tug::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// The server, its registry and the pods every test uses; set up once per binary.
class Cluster : public ::testing::Environment {
 public:
  void SetUp() override {
    if (auto why = NodePrerequisitesMissing({"/usr/bin/script"}); !why.empty()) return Skip(why);
    if (!registry_.Start()) return Fail("test images: " + registry_.error());
    node_ = {.name = "e2e-stream", .bridge = "tugst0", .cluster_cidr = "10.232.0.0/16",
             .cgroup_parent = "/tug-e2e-stream", .data_dir = "", .run_dir = MakeTempDir("tug-stream-run")};
    // Small logs rotate quickly (LogRotation); the other pods' logs stay far below the size.
    auto flags = BuiltinAgentFlags(node_);
    for (const char* f : {"--container-log-max-size=64Ki", "--container-log-max-files=3",
                          "--container-log-monitor-interval=1s"})
      flags.push_back(f);
    server_ = std::make_unique<TugServer>(flags);
    node_.data_dir = AgentDataDir(*server_);
    registry_.WriteMirror(node_.data_dir);
    std::string why;
    if (!server_->Start(&why)) return Fail("server: " + why);
    auto deadline = std::chrono::steady_clock::now() + 90s;
    while (server_->log().find("node agent ready") == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return Fail("agent did not start: " + server_->log());
      std::this_thread::sleep_for(100ms);
    }
    auto a = Kubectl({"apply", "-f", "-"}, kPods);
    if (a.rc != 0) return Fail("pods: " + a.out + a.err);
    for (const char* p : {"b", "web", "multi", "ticker", "att"})
      if (!WaitPod(p, [](const json& j) { return j["status"].value("phase", "") == "Running"; }))
        return Fail(std::string("pod ") + p + " did not run: " + Kubectl({"get", "pod", p, "-o", "yaml"}).out);
    ready_ = true;
  }

  void TearDown() override {
    std::unique_ptr<Background> no_agent;  // the server runs the agent
    StopNode(node_, server_, no_agent);
    registry_.Stop();
  }

  static RunResult Kubectl(std::vector<std::string> args, const std::string& in = "",
                           std::chrono::milliseconds timeout = 60s, const std::string& kubectl = "kubectl") {
    return ::tug::e2e::Kubectl(*server_, std::move(args), in, timeout, kubectl);
  }
  static bool WaitPod(const std::string& name, const std::function<bool(const json&)>& pred,
                      std::chrono::seconds timeout = 120s) {
    auto pod = ::tug::e2e::WaitPod(*server_, name, pred, timeout);
    return !pod.is_null() && pred(pod);
  }
  static json Pod(const std::string& name) { return KubectlJson(*server_, {"get", "pod", name, "-o", "json"}); }

  static inline std::unique_ptr<TugServer> server_;
  static inline NodeEnv node_;
  static inline bool ready_ = false;
  static inline std::string skip_, error_;

 private:
  void Skip(const std::string& why) { skip_ = why; }
  void Fail(const std::string& why) { error_ = why; }

  static constexpr const char* kPods = R"(
apiVersion: v1
kind: Pod
metadata: {name: b}
spec:
  containers:
  - {name: b, image: busybox, command: [sh, -c, "echo line1; echo line2; echo line3; exec sleep 3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - {name: web, image: busybox, command: [httpd, -f, -p, "8080", -h, /etc], ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: multi, labels: {app: multi}}
spec:
  containers:
  - {name: one, image: busybox, command: [sh, -c, "echo from-one; exec sleep 3600"]}
  - {name: two, image: busybox, command: [sh, -c, "echo from-two; exec sleep 3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  containers:
  - {name: ticker, image: busybox, command: [sh, -c, "i=0; while true; do echo tick$i; i=$((i+1)); sleep 1; done"]}
---
apiVersion: v1
kind: Pod
metadata: {name: att}
spec:
  containers:
  - {name: att, image: busybox, stdin: true, command: [sh, -c, "while read l; do echo got:$l; done"]}
)";

  TestRegistry registry_{"tug-stream-reg"};
};

::testing::Environment* const kCluster = ::testing::AddGlobalTestEnvironment(new Cluster);

struct Version {
  std::string name, path;
};
void PrintTo(const Version& v, std::ostream* os) { *os << v.name; }

class StreamingE2E : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override {
    if (!Cluster::skip_.empty()) GTEST_SKIP() << Cluster::skip_;
    ASSERT_TRUE(Cluster::error_.empty()) << Cluster::error_;
    ASSERT_TRUE(Cluster::ready_);
    if (access(GetParam().path.c_str(), X_OK) != 0) GTEST_SKIP() << "no " << GetParam().path;
  }
  RunResult K(std::vector<std::string> args, const std::string& in = "", std::chrono::milliseconds t = 60s) {
    return Cluster::Kubectl(std::move(args), in, t, GetParam().path);
  }
  bool Old() const { return GetParam().name == "1.27"; }
  // SPDY (kubectl 1.27 exec/attach/cp, every port-forward before 1.31) is the kubelet's to
  // serve; skip with a clear message while it answers "Upgrade request required"/501.
  void SkipIfKubeletLacks(const RunResult& r, const std::string& what) {
    std::string all = r.out + r.err;
    if (r.rc != 0 && (all.find("Upgrade request required") != std::string::npos ||
                      all.find("not implemented") != std::string::npos ||
                      all.find("unsupported upgrade") != std::string::npos ||
                      all.find("no supported subprotocol") != std::string::npos))
      GTEST_SKIP() << what << " is not served by the kubelet yet (stream-kubelet): " << all;
  }
};

TEST_P(StreamingE2E, Logs) {
  auto r = K({"logs", "b"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "line1\nline2\nline3\n");
  r = K({"logs", "b", "--tail=1"});
  EXPECT_EQ(r.out, "line3\n") << r.err;
  r = K({"logs", "b", "--limit-bytes=5"});
  EXPECT_EQ(r.out, "line1") << r.err;
  r = K({"logs", "b", "--since=1h"});
  EXPECT_EQ(r.out, "line1\nline2\nline3\n") << r.err;
  r = K({"logs", "b", "--timestamps", "--tail=1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(r.out.size() > 25 && r.out[4] == '-' && r.out[10] == 'T' && r.out.find(" line3\n") != std::string::npos)
      << r.out;
  // Several containers: -c, --all-containers, --prefix; a missing -c is upstream's error.
  r = K({"logs", "multi", "-c", "two"});
  EXPECT_EQ(r.out, "from-two\n") << r.err;
  r = K({"logs", "multi", "--all-containers", "--prefix"});
  EXPECT_NE(r.out.find("[pod/multi/one] from-one"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("[pod/multi/two] from-two"), std::string::npos) << r.out << r.err << "rc=" << r.rc;
  r = K({"logs", "multi", "-c", "nope"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("container nope is not valid for pod multi"), std::string::npos) << r.err;
  // -l: kubectl lists the pods, then reads each one's log.
  r = K({"logs", "-l", "app=multi", "-c", "one"});
  EXPECT_EQ(r.out, "from-one\n") << r.err;
  // --previous without a previous run.
  r = K({"logs", "b", "--previous"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("previous terminated container \"b\" in pod \"b\" not found"), std::string::npos) << r.err;
}

// A --since-time past 2262 (the end of int64 nanoseconds) once wrapped round to the past in the
// kubelet and selected every line.
TEST_P(StreamingE2E, LogsSinceTimeInTheFutureIsEmpty) {
  auto r = K({"logs", "b", "--since-time=2999-01-01T00:00:00Z"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_P(StreamingE2E, LogsFollowStreams) {
  Background f({GetParam().path, "--kubeconfig", Cluster::server_->kubeconfig(), "logs", "-f", "ticker", "--tail=1"});
  // New lines arrive while the request is open (the ticker prints one a second).
  ASSERT_TRUE(f.WaitFor("tick", 30s)) << f.Output();
  std::string seen = f.Output();
  size_t n = std::count(seen.begin(), seen.end(), '\n');
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string o = f.Output();
    if (static_cast<size_t>(std::count(o.begin(), o.end(), '\n')) >= n + 2) break;
    std::this_thread::sleep_for(100ms);
  }
  std::string o = f.Output();
  EXPECT_GE(static_cast<size_t>(std::count(o.begin(), o.end(), '\n')), n + 2) << o;
  f.Stop();
}

TEST_P(StreamingE2E, ExecAndExitCodes) {
  auto r = K({"exec", "b", "--", "ls", "/"});
  SkipIfKubeletLacks(r, "exec over SPDY");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* d : {"bin", "etc", "proc"}) EXPECT_NE(r.out.find(std::string(d) + "\n"), std::string::npos) << r.out;
  r = K({"exec", "b", "--", "sh", "-c", "exit 3"});
  EXPECT_EQ(r.rc, 3) << r.err;
  r = K({"exec", "b", "--", "sh", "-c", "echo out; echo err >&2"});
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  // stdin
  r = K({"exec", "-i", "b", "--", "sh", "-c", "tr a-z A-Z"}, "hello stdin\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "HELLO STDIN\n");
  // Errors before the upgrade, as upstream words them.
  r = K({"exec", "b", "-c", "nope", "--", "true"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("container nope is not valid for pod b"), std::string::npos) << r.err;
  r = K({"exec", "nosuchpod", "--", "true"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("pods \"nosuchpod\" not found"), std::string::npos) << r.err;
}

TEST_P(StreamingE2E, ExecWithTtyThroughAPty) {
  std::string cmd = GetParam().path + " --kubeconfig " + Cluster::server_->kubeconfig() +
                    " exec -it b -- sh -c 'tty; echo tty-ok; exit 4'";
  auto r = ::tug::e2e::Run({"script", "-qec", cmd, "/dev/null"}, "", {}, 60s);
  SkipIfKubeletLacks(r, "exec -t over SPDY");
  EXPECT_NE(r.out.find("/dev/pts/"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("tty-ok"), std::string::npos) << r.out;
  EXPECT_EQ(r.rc, 4) << r.out << r.err;
}

// `kubectl attach -i` ends when its stdin ends, while the container (stdin, not stdinOnce) keeps
// running: the kubelet ends the session as CRI-O and containerd do. The harness kills a kubectl
// still running after 120 s (rc -2): that is the lost end, never a slow machine.
TEST_P(StreamingE2E, AttachEndsWithStdin) {
  std::string tag = GetParam().name;
  auto r = K({"attach", "-i", "att", "-c", "att"}, "one-" + tag + "\ntwo-" + tag + "\n", 120s);
  SkipIfKubeletLacks(r, "attach over SPDY");
  EXPECT_NE(r.rc, -2) << "kubectl attach did not end when its stdin ended: " << r.out << r.err;
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  // The container read both lines. Its answers are in its log: the attach stream itself may end
  // before they are written (upstream runtimes close it as soon as stdin ends).
  std::string log;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    log = K({"logs", "att"}).out;
    if (log.find("got:two-" + tag) != std::string::npos) break;
    std::this_thread::sleep_for(250ms);  // polling interval
  }
  EXPECT_NE(log.find("got:one-" + tag + "\ngot:two-" + tag + "\n"), std::string::npos) << log;
  // Still the same running container: the session did not end because the container did.
  auto pod = Cluster::Pod("att");
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["state"].contains("running"), true) << pod.dump(2);
  EXPECT_EQ(pod["status"]["containerStatuses"][0].value("restartCount", -1), 0) << pod.dump(2);
}

// stdinOnce: the end of the client's stdin closes the container's stdin (conmon), and the session
// lasts until the container's output ends, so nothing it wrote is cut off.
TEST_P(StreamingE2E, AttachStdinOnceClosesContainerStdin) {
  std::string name = "att-once-" + std::string(Old() ? "old" : "new");
  std::string pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
                    "}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: c, image: busybox, stdin: true, "
                    "stdinOnce: true, command: [sh, -c, \"while read l; do echo got:$l; done; echo stdin-closed\"]}\n";
  ASSERT_EQ(K({"apply", "-f", "-"}, pod).rc, 0);
  ASSERT_TRUE(Cluster::WaitPod(name, [](const json& j) { return j["status"].value("phase", "") == "Running"; }))
      << Cluster::Pod(name).dump(2);
  auto r = K({"attach", "-i", name, "-c", "c"}, "x\n", 120s);
  SkipIfKubeletLacks(r, "attach over SPDY");
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("got:x\nstdin-closed\n"), std::string::npos) << r.out << r.err;
  EXPECT_TRUE(Cluster::WaitPod(name, [](const json& j) { return j["status"].value("phase", "") == "Succeeded"; }, 60s))
      << Cluster::Pod(name).dump(2);
  K({"delete", "pod", name, "--wait=false"});
}

TEST_P(StreamingE2E, CopyBothWays) {
  std::string dir = MakeTempDir("tug-stream-cp");
  std::string src = dir + "/in.txt", back = dir + "/back.txt";
  std::string content;
  for (int i = 0; i < 2000; ++i) content += "row " + std::to_string(i) + " of the copied file\n";
  std::ofstream(src) << content;
  std::string remote = "/tmp/cp-" + GetParam().name;
  auto r = K({"cp", src, "b:" + remote});
  if (r.rc != 0) SkipIfKubeletLacks(r, "cp (exec over SPDY)");
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  auto wc = K({"exec", "b", "--", "wc", "-c", remote});
  EXPECT_NE(wc.out.find(std::to_string(content.size())), std::string::npos) << wc.out << wc.err;
  r = K({"cp", "b:" + remote, back});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  std::ifstream in(back);
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str(), content);
  RemoveTree(dir);
}

TEST_P(StreamingE2E, PortForward) {
  int port = FreePort();
  Background pf({GetParam().path, "--kubeconfig", Cluster::server_->kubeconfig(), "port-forward", "pod/web",
                 std::to_string(port) + ":8080"});
  ASSERT_TRUE(pf.WaitFor("Forwarding from", 30s)) << pf.Output();
  // The stream to the kubelet opens with the first local connection.
  auto r = ::tug::e2e::Run({"curl", "-sS", "--max-time", "20", "http://127.0.0.1:" + std::to_string(port) + "/hostname"}, "", {}, 30s);
  std::string out = pf.Output();
  pf.Stop();
  if (r.rc != 0) SkipIfKubeletLacks(RunResult{1, out, r.err}, "port-forward");
  ASSERT_EQ(r.rc, 0) << r.err << out;
  EXPECT_EQ(r.out, "web\n") << out;
}

TEST_P(StreamingE2E, ProxySubresources) {
  auto web = Cluster::Pod("web");
  std::string ip = web["status"].value("podIP", "");
  ASSERT_FALSE(ip.empty());
  // pods/NAME:PORT/proxy
  auto r = K({"get", "--raw", "/api/v1/namespaces/default/pods/web:8080/proxy/hostname"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "web\n");
  // The default port is the first declared container port.
  r = K({"get", "--raw", "/api/v1/namespaces/default/pods/web/proxy/hostname"});
  EXPECT_EQ(r.out, "web\n") << r.err;
  // nodes/NAME/proxy reaches the kubelet.
  r = K({"get", "--raw", "/api/v1/nodes/" + Cluster::node_.name + "/proxy/healthz"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "ok");
  // services: 503 without endpoints, proxied to a ready endpoint once there is one.
  std::string svc = "websvc-" + std::string(Old() ? "old" : "new");
  ASSERT_EQ(K({"create", "service", "clusterip", svc, "--tcp=80:8080"}).rc, 0);
  r = K({"get", "--raw", "/api/v1/namespaces/default/services/" + svc + ":80/proxy/hostname"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("no endpoints available for service"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(svc), std::string::npos) << r.err;
  std::string eps = R"({"apiVersion":"v1","kind":"Endpoints","metadata":{"name":")" + svc +
                    R"("},"subsets":[{"addresses":[{"ip":")" + ip + R"("}],"ports":[{"name":"80-8080","port":8080}]}]})";
  auto c = K({"apply", "-f", "-"}, eps);
  ASSERT_EQ(c.rc, 0) << c.err;
  r = K({"get", "--raw", "/api/v1/namespaces/default/services/" + svc + ":80/proxy/hostname"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "web\n");
  // kubectl proxy, then plain HTTP through it.
  int port = FreePort();
  Background proxy({GetParam().path, "--kubeconfig", Cluster::server_->kubeconfig(), "proxy", "--port",
                    std::to_string(port)});
  ASSERT_TRUE(proxy.WaitFor("Starting to serve", 30s)) << proxy.Output();
  auto curl = ::tug::e2e::Run({"curl", "-sS", "--max-time", "20",
                   "http://127.0.0.1:" + std::to_string(port) + "/api/v1/namespaces/default/services/" + svc +
                       ":80/proxy/hostname"});
  EXPECT_EQ(curl.rc, 0) << curl.err;
  EXPECT_EQ(curl.out, "web\n");
  proxy.Stop();
  K({"delete", "service", svc});
  K({"delete", "endpoints", svc});
}

// Log rotation by size (kubelet/logs; the server runs with 64Ki, 3 files, a 1 s interval): a
// container writing ~100 numbered lines every 0.1 s. Its log dir never holds more than 3 files,
// rotated files older than the newest are gzip'd, `kubectl logs -f` started before the rotations
// receives every line across them (consecutive numbers), --tail reads the current file, and
// --previous the previous instance's.
class LogRotationE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Cluster::skip_.empty()) GTEST_SKIP() << Cluster::skip_;
    ASSERT_TRUE(Cluster::error_.empty()) << Cluster::error_;
    ASSERT_TRUE(Cluster::ready_);
  }
  void TearDown() override {
    if (Cluster::ready_) Cluster::Kubectl({"delete", "pod", "spew", "--grace-period=1", "--ignore-not-found"});
  }
  // The numbers of "spew <n> ..." lines; false (and the offending line) when a line is not one.
  static bool Numbers(const std::string& out, std::vector<long>& nums, std::string* bad) {
    for (const auto& l : Lines(out)) {
      if (l.empty()) continue;
      if (l.rfind("spew ", 0) != 0) {
        *bad = l;
        return false;
      }
      nums.push_back(std::stol(l.substr(5)));
    }
    return true;
  }
  static ::testing::AssertionResult Consecutive(const std::string& out, size_t min_lines) {
    std::vector<long> nums;
    std::string bad;
    if (!Numbers(out, nums, &bad)) return ::testing::AssertionFailure() << "not a spew line: " << bad;
    if (nums.size() < min_lines) return ::testing::AssertionFailure() << nums.size() << " lines, want " << min_lines;
    for (size_t i = 1; i < nums.size(); ++i)
      if (nums[i] != nums[i - 1] + 1)
        return ::testing::AssertionFailure() << "line " << nums[i - 1] << " is followed by " << nums[i];
    return ::testing::AssertionSuccess();
  }
};

TEST_F(LogRotationE2E, FollowTailAndPreviousAcrossRotations) {
  auto a = Cluster::Kubectl({"apply", "-f", "-"}, R"(
apiVersion: v1
kind: Pod
metadata: {name: spew}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: spew
    image: busybox
    command: [sh, -c, 'i=0; while [ ! -e /spew-stop ]; do seq $i $((i+99)) | sed "s/.*/spew & ......................................../"; i=$((i+100)); sleep 0.1; done; echo spew-done']
)");
  ASSERT_EQ(a.rc, 0) << a.err;
  ASSERT_TRUE(Cluster::WaitPod("spew", [](const json& j) { return j["status"].value("phase", "") == "Running"; }))
      << Cluster::Kubectl({"get", "pod", "spew", "-o", "yaml"}).out;
  std::string uid = Cluster::Pod("spew")["metadata"].value("uid", "");
  std::string dir = Cluster::node_.data_dir + "/pods/default_spew_" + uid + "/spew";
  Background follow({"/usr/bin/kubectl", "--kubeconfig", Cluster::server_->kubeconfig(), "logs", "-f", "spew", "--tail=1"});
  ASSERT_TRUE(follow.WaitFor("spew ", 30s)) << follow.Output();

  // Watch the directory through at least 3 rotations.
  std::set<std::string> rotated_seen;
  size_t most = 0;
  std::string worst, gz;
  auto deadline = std::chrono::steady_clock::now() + 90s;
  while (rotated_seen.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    auto files = Entries(dir);
    std::sort(files.begin(), files.end());
    std::string listing;
    for (const auto& f : files) listing += f + " ";
    if (files.size() > most) {
      most = files.size();
      worst = listing;
    }
    std::vector<std::string> rotated;
    for (const auto& f : files)
      if (f.rfind("0.log.", 0) == 0) rotated.push_back(f);
    // Oldest first: all but the newest compressed (a compression in progress shows <f> and
    // <f>.gz for a moment; <f>.gz sorts after <f>).
    for (size_t i = 0; i + 1 < rotated.size(); ++i) {
      bool compressing = rotated[i] + ".gz" == rotated[i + 1];
      EXPECT_TRUE(rotated[i].ends_with(".gz") || compressing) << listing;
    }
    for (const auto& f : rotated) {
      rotated_seen.insert(f.ends_with(".gz") ? f.substr(0, f.size() - 3) : f);
      if (f.ends_with(".gz")) gz = f;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(rotated_seen.size(), 3u) << "rotations seen; last listing of " << dir << ": " << Entries(dir).size();
  EXPECT_LE(most, 3u) << worst;
  ASSERT_FALSE(gz.empty());
  // A compressed file is the CRI log, gzip'd.
  auto z = ::tug::e2e::Run({"/bin/sh", "-c", "gzip -dc " + dir + "/" + gz + " 2>/dev/null | head -1; exit 0"});
  EXPECT_NE(z.out.find(" stdout F spew "), std::string::npos) << z.out << z.err;

  // The follower gets past the newest rotation: the current file's first line reaches it, with
  // no line lost or repeated on the way.
  std::string first;
  size_t at = std::string::npos;
  for (auto until = std::chrono::steady_clock::now() + 10s;
       at == std::string::npos && std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(50ms)) {
    first = ReadAll(dir + "/0.log").substr(0, 200);  // empty right after a rotation
    at = first.find(" F spew ");
  }
  ASSERT_NE(at, std::string::npos) << first;
  std::string marker = first.substr(at + 3, first.find(' ', at + 8) - at - 3) + " ";
  EXPECT_TRUE(follow.WaitFor(marker, 60s)) << marker;
  follow.Stop();
  EXPECT_TRUE(Consecutive(follow.Output(), 500));

  // --tail reads the end of the current file.
  auto t = Cluster::Kubectl({"logs", "spew", "--tail=5"});
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_TRUE(Consecutive(t.out, 5)) << t.out;
  EXPECT_EQ(std::count(t.out.begin(), t.out.end(), '\n'), 5) << t.out;

  // The instance ends (restarted at once); --previous shows its last words.
  auto e = Cluster::Kubectl({"exec", "spew", "--", "touch", "/spew-stop"});
  ASSERT_EQ(e.rc, 0) << e.err;
  ASSERT_TRUE(Cluster::WaitPod("spew", [](const json& j) {
    const json& cs = j["status"].value("containerStatuses", json::array());
    return !cs.empty() && cs[0].value("restartCount", 0) >= 1 && cs[0]["state"].contains("running");
  }));
  auto p = Cluster::Kubectl({"logs", "spew", "--previous", "--tail=2"});
  ASSERT_EQ(p.rc, 0) << p.err;
  // As upstream, --tail reads the instance's current log file: when a rotation came just
  // before its end, that file holds only the last line.
  EXPECT_TRUE(p.out == "spew-done\n" || (p.out.ends_with("\nspew-done\n") && p.out.rfind("spew ", 0) == 0)) << p.out;
}

INSTANTIATE_TEST_SUITE_P(Kubectl, StreamingE2E,
                         ::testing::Values(Version{"1.27", "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"},
                                           Version{"1.33", "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"}),
                         [](const auto& info) { return info.param.name == "1.27" ? std::string("v1_27") : "v1_33"; });

}  // namespace
}  // namespace tug::e2e
