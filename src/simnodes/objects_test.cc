#include "simnodes/objects.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace tug::simnodes {
namespace {

using ::testing::HasSubstr;

SystemTime T(int64_t s) { return SystemTime{} + std::chrono::seconds(1'800'000'000 + s); }

const Json* Cond(const Json& conds, std::string_view type) {
  for (const Json& c : conds)
    if (GetString(c, "type") == type) return &c;
  return nullptr;
}

TEST(Addresses, DistinctAndOutsideServiceCidr) {
  std::set<std::string> ips, cidrs;
  for (uint32_t i = 0; i < 6000; ++i) {
    ips.insert(NodeIP(i));
    std::string c = PodCIDR(i);
    EXPECT_FALSE(c.rfind("10.43.", 0) == 0) << c;
    cidrs.insert(c);
  }
  EXPECT_EQ(ips.size(), 6000u);
  EXPECT_EQ(cidrs.size(), 6000u);
  EXPECT_EQ(NodeIP(0), "10.0.0.1");
  EXPECT_EQ(PodCIDR(0), "10.42.0.0/24");
  EXPECT_EQ(PodCIDR(256), "10.44.0.0/24");
  EXPECT_EQ(PodIP(1, 7), "10.42.1.7");
}

TEST(ParseLabels, Table) {
  struct Case {
    std::string in;
    bool ok;
    std::map<std::string, std::string> want;
  } cases[] = {
      {"", true, {}},
      {"a=b", true, {{"a", "b"}}},
      {"zone=z1,tier=,x=y", true, {{"zone", "z1"}, {"tier", ""}, {"x", "y"}}},
      {"novalue", false, {}},
      {"=v", false, {}},
  };
  for (const auto& c : cases) {
    auto r = ParseLabels(c.in);
    ASSERT_EQ(r.ok(), c.ok) << c.in;
    if (c.ok) {
      EXPECT_EQ(*r, c.want) << c.in;
    }
  }
}

TEST(ParseTaints, Table) {
  struct Case {
    std::string in;
    bool ok;
    Json want;
  } cases[] = {
      {"", true, Json::array()},
      {"dedicated=gpu:NoSchedule", true, Json::parse(R"([{"key":"dedicated","value":"gpu","effect":"NoSchedule"}])")},
      {"a:NoExecute,b=c:PreferNoSchedule", true,
       Json::parse(R"([{"key":"a","effect":"NoExecute"},{"key":"b","value":"c","effect":"PreferNoSchedule"}])")},
      {"a=b", false, nullptr},
      {"a=b:Sometimes", false, nullptr},
      {":NoSchedule", false, nullptr},
  };
  for (const auto& c : cases) {
    auto r = ParseTaints(c.in);
    ASSERT_EQ(r.ok(), c.ok) << c.in;
    if (c.ok) {
      EXPECT_EQ(*r, c.want) << c.in;
    }
  }
}

TEST(BuildNode, LooksLikeAKubeletsNode) {
  NodeShape shape;
  shape.cpu = "8";
  shape.memory = "32Gi";
  shape.labels = {{"zone", "z1"}};
  shape.taints = Json::parse(R"([{"key":"k","effect":"NoSchedule"}])");
  Json n = BuildNode("sim-3", 3, shape, T(0));
  EXPECT_EQ(n["kind"], "Node");
  EXPECT_EQ(n["metadata"]["name"], "sim-3");
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/hostname"], "sim-3");
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/os"], "linux");
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/arch"], "amd64");
  EXPECT_EQ(n["metadata"]["labels"]["zone"], "z1");
  EXPECT_EQ(n["spec"]["podCIDR"], "10.42.3.0/24");
  EXPECT_EQ(n["spec"]["taints"], shape.taints);
  const Json& st = n["status"];
  EXPECT_EQ(st["capacity"]["cpu"], "8");
  EXPECT_EQ(st["allocatable"]["memory"], "32Gi");
  EXPECT_EQ(st["capacity"]["pods"], "110");
  for (auto [type, status] : {std::pair{"Ready", "True"}, {"MemoryPressure", "False"}, {"DiskPressure", "False"},
                              {"PIDPressure", "False"}, {"NetworkUnavailable", "False"}}) {
    const Json* c = Cond(st["conditions"], type);
    ASSERT_NE(c, nullptr) << type;
    EXPECT_EQ((*c)["status"], status) << type;
    EXPECT_EQ((*c)["lastHeartbeatTime"], FormatRFC3339(T(0)));
  }
  EXPECT_EQ((*Cond(st["conditions"], "Ready"))["reason"], "KubeletReady");
  EXPECT_EQ(st["addresses"][0], Json::parse(R"({"type":"InternalIP","address":"10.0.0.4"})"));
  EXPECT_EQ(st["nodeInfo"]["kubeletVersion"], "v1.33.0");
  EXPECT_EQ(st["nodeInfo"]["operatingSystem"], "linux");
  EXPECT_EQ(st["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
  // Stable per name, different between names.
  EXPECT_EQ(st["nodeInfo"]["machineID"], BuildNode("sim-3", 3, shape, T(5))["status"]["nodeInfo"]["machineID"]);
  EXPECT_NE(st["nodeInfo"]["machineID"], BuildNode("sim-4", 4, shape, T(0))["status"]["nodeInfo"]["machineID"]);
}

TEST(NodeStatusStale, Table) {
  Json fresh = {{"status", BuildNodeStatus("n", 0, {}, T(0))}};
  Json unknown = fresh;
  for (Json& c : unknown["status"]["conditions"])
    if (c["type"] == "Ready") c["status"] = "Unknown";
  EXPECT_FALSE(NodeStatusStale(fresh, T(10), std::chrono::seconds(300)));
  EXPECT_TRUE(NodeStatusStale(fresh, T(300), std::chrono::seconds(300)));
  EXPECT_TRUE(NodeStatusStale(unknown, T(1), std::chrono::seconds(300)));
  EXPECT_TRUE(NodeStatusStale(Json::object(), T(1), std::chrono::seconds(300)));
}

TEST(BuildLease, OwnedByTheNode) {
  Json l = BuildLease("sim-0", "uid-1", 40, T(0));
  EXPECT_EQ(l["apiVersion"], "coordination.k8s.io/v1");
  EXPECT_EQ(l["metadata"]["namespace"], "kube-node-lease");
  EXPECT_EQ(l["spec"]["holderIdentity"], "sim-0");
  EXPECT_EQ(l["spec"]["leaseDurationSeconds"], 40);
  EXPECT_EQ(l["spec"]["renewTime"], FormatRFC3339Micro(T(0)));
  EXPECT_EQ(l["metadata"]["ownerReferences"][0]["kind"], "Node");
  EXPECT_EQ(l["metadata"]["ownerReferences"][0]["uid"], "uid-1");
  EXPECT_FALSE(BuildLease("sim-0", "", 40, T(0))["metadata"].contains("ownerReferences"));
}

Json TestPod() {
  return Json::parse(R"({
    "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1"},
    "spec": {"nodeName": "sim-0", "restartPolicy": "Never",
             "initContainers": [{"name": "init", "image": "busybox"},
                                {"name": "side", "image": "busybox", "restartPolicy": "Always"}],
             "containers": [{"name": "a", "image": "nginx:1.25"}, {"name": "b", "image": "reg:5000/x/y"}]},
    "status": {"phase": "Pending", "conditions": [
      {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
  })");
}

TEST(PodStatus, Pending) {
  PodRunInfo run{.host_ip = "10.0.0.1", .pod_ip = "", .started_at = T(0)};
  Json st = BuildPendingStatus(TestPod(), run, T(0));
  EXPECT_EQ(st["phase"], "Pending");
  EXPECT_EQ(st["hostIP"], "10.0.0.1");
  EXPECT_FALSE(st.contains("podIP"));
  EXPECT_EQ(st["startTime"], FormatRFC3339(T(0)));
  EXPECT_EQ((*Cond(st["conditions"], "Ready"))["reason"], "ContainersNotReady");
  EXPECT_EQ((*Cond(st["conditions"], "Ready"))["message"], "containers with unready status: [a b]");
  // An unchanged condition keeps its transition time.
  EXPECT_EQ((*Cond(st["conditions"], "PodScheduled"))["lastTransitionTime"], "2020-01-01T00:00:00Z");
  EXPECT_EQ(st["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
  EXPECT_EQ(st["containerStatuses"].size(), 2u);
}

TEST(PodStatus, Running) {
  Json pod = TestPod();
  pod["status"]["startTime"] = FormatRFC3339(T(-5));
  PodRunInfo run{.host_ip = "10.0.0.1", .pod_ip = "10.42.0.2", .started_at = T(1)};
  Json st = BuildRunningStatus(pod, run, T(2));
  EXPECT_EQ(st["phase"], "Running");
  EXPECT_EQ(st["podIP"], "10.42.0.2");
  EXPECT_EQ(st["podIPs"], Json::parse(R"([{"ip":"10.42.0.2"}])"));
  EXPECT_EQ(st["hostIPs"], Json::parse(R"([{"ip":"10.0.0.1"}])"));
  EXPECT_EQ(st["startTime"], FormatRFC3339(T(-5)));
  for (auto type : {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"})
    EXPECT_EQ((*Cond(st["conditions"], type))["status"], "True") << type;
  const Json& a = st["containerStatuses"][0];
  EXPECT_EQ(a["name"], "a");
  EXPECT_EQ(a["ready"], true);
  EXPECT_EQ(a["started"], true);
  EXPECT_EQ(a["restartCount"], 0);
  EXPECT_EQ(a["state"]["running"]["startedAt"], FormatRFC3339(T(1)));
  EXPECT_THAT(a["containerID"].get<std::string>(), ::testing::StartsWith("sim://"));
  EXPECT_THAT(a["imageID"].get<std::string>(), ::testing::StartsWith("nginx@sha256:"));
  EXPECT_THAT(st["containerStatuses"][1]["imageID"].get<std::string>(), ::testing::StartsWith("reg:5000/x/y@sha256:"));
  ASSERT_EQ(st["initContainerStatuses"].size(), 2u);
  EXPECT_EQ(st["initContainerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
  EXPECT_TRUE(st["initContainerStatuses"][1]["state"].contains("running"));
}

TEST(PodStatus, TerminatedTable) {
  struct Case {
    int code;
    std::string phase, reason, ready_reason;
  } cases[] = {{0, "Succeeded", "Completed", "PodCompleted"}, {3, "Failed", "Error", "PodFailed"}};
  for (const auto& c : cases) {
    PodRunInfo run{.host_ip = "10.0.0.1", .pod_ip = "10.42.0.2", .started_at = T(1)};
    Json st = BuildTerminatedStatus(TestPod(), run, T(6), c.code);
    EXPECT_EQ(st["phase"], c.phase);
    const Json& term = st["containerStatuses"][0]["state"]["terminated"];
    EXPECT_EQ(term["exitCode"], c.code);
    EXPECT_EQ(term["reason"], c.reason);
    EXPECT_EQ(term["startedAt"], FormatRFC3339(T(1)));
    EXPECT_EQ(term["finishedAt"], FormatRFC3339(T(6)));
    EXPECT_EQ(st["containerStatuses"][0]["ready"], false);
    EXPECT_EQ((*Cond(st["conditions"], "Ready"))["reason"], c.ready_reason);
    EXPECT_EQ((*Cond(st["conditions"], "Ready"))["status"], "False");
    EXPECT_TRUE(st["initContainerStatuses"][1]["state"].contains("terminated"));
  }
}

TEST(PodStatus, BackoffThenRestart) {
  PodRunInfo run{.host_ip = "10.0.0.1", .pod_ip = "10.42.0.2", .started_at = T(1), .restart_count = 0};
  Json st = BuildBackoffStatus(TestPod(), run, T(6), 2);
  EXPECT_EQ(st["phase"], "Running");
  EXPECT_EQ(st["containerStatuses"][0]["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_EQ(st["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 2);
  EXPECT_EQ((*Cond(st["conditions"], "Ready"))["status"], "False");
  run.restart_count = 1;
  run.started_at = T(20);
  Json again = BuildRunningStatus(TestPod(), run, T(20), 2);
  EXPECT_EQ(again["containerStatuses"][0]["restartCount"], 1);
  EXPECT_EQ(again["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 2);
  EXPECT_EQ(again["containerStatuses"][0]["lastState"]["terminated"]["containerID"],
            st["containerStatuses"][0]["containerID"]);
  EXPECT_NE(again["containerStatuses"][0]["containerID"], st["containerStatuses"][0]["containerID"]);
}

TEST(PodStatus, HostNetworkUsesHostIP) {
  Json pod = TestPod();
  pod["spec"]["hostNetwork"] = true;
  PodRunInfo run{.host_ip = "10.0.0.1", .pod_ip = "10.42.0.2", .started_at = T(1)};
  EXPECT_EQ(BuildRunningStatus(pod, run, T(1))["podIP"], "10.0.0.1");
}

TEST(SimExitCode, Table) {
  struct Case {
    Json annotation;
    int want;
  } cases[] = {{nullptr, 0}, {"0", 0}, {"3", 3}, {"255", 255}, {"256", 0}, {"-1", 0}, {"x", 0}, {"1x", 0}, {"", 0}};
  for (const auto& c : cases) {
    Json pod = TestPod();
    if (!c.annotation.is_null()) pod["metadata"]["annotations"]["tug.dev/sim-exit-code"] = c.annotation;
    EXPECT_EQ(SimExitCode(pod), c.want) << c.annotation;
  }
}

TEST(Ids, StableAndDistinct) {
  EXPECT_EQ(ContainerID("u", "a", 0), ContainerID("u", "a", 0));
  EXPECT_NE(ContainerID("u", "a", 0), ContainerID("u", "a", 1));
  EXPECT_NE(ContainerID("u", "a", 0), ContainerID("v", "a", 0));
  EXPECT_EQ(ContainerID("u", "a", 0).size(), 6u + 64u);
  EXPECT_THAT(ImageID("docker.io/library/busybox:1.36"), ::testing::StartsWith("docker.io/library/busybox@sha256:"));
  EXPECT_THAT(ImageID("busybox@sha256:abc"), ::testing::StartsWith("busybox@sha256:"));
}

}  // namespace
}  // namespace tug::simnodes
