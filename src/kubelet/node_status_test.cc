#include "kubelet/node_status.h"

#include <gtest/gtest.h>

#include "client/testing/test_api_server.h"

namespace tug::kubelet {
namespace {

MachineInfo FakeMachine() {
  MachineInfo m;
  m.hostname = "box";
  m.cpus = 4;
  m.memory_bytes = int64_t(8) << 30;
  m.memory_available_bytes = int64_t(4) << 30;
  m.ephemeral_storage_bytes = int64_t(100) << 30;
  m.ephemeral_available_bytes = int64_t(50) << 30;
  m.pid_max = 4194304;
  m.pids_running = 300;
  m.internal_ip = "192.168.1.7";
  m.kernel_version = "6.1.0-test";
  m.os_image = "Debian GNU/Linux 12 (bookworm)";
  return m;
}

NodeStatusOptions Opts(const std::string& name) {
  NodeStatusOptions o;
  o.node_name = name;
  o.container_runtime_version = "runc://1.1.5";
  o.machine_info = [] { return Result<MachineInfo>(FakeMachine()); };
  o.images = [] { return Json::array({{{"names", {"docker.io/library/busybox:latest"}}, {"sizeBytes", 100}}}); };
  return o;
}

TEST(NodeStatusParse, Meminfo) {
  std::string mi = "MemTotal:       16303428 kB\nMemFree:         1000 kB\nMemAvailable:   8000000 kB\n";
  EXPECT_EQ(MeminfoBytes(mi, "MemTotal"), int64_t(16303428) * 1024);
  EXPECT_EQ(MeminfoBytes(mi, "MemAvailable"), int64_t(8000000) * 1024);
  EXPECT_EQ(MeminfoBytes(mi, "Mem"), -1);
  EXPECT_EQ(MeminfoBytes(mi, "SwapTotal"), -1);
}

TEST(NodeStatusParse, OsRelease) {
  EXPECT_EQ(OsReleasePrettyName("NAME=x\nPRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\n"), "Ubuntu 22.04.3 LTS");
  EXPECT_EQ(OsReleasePrettyName("PRETTY_NAME=Plain\n"), "Plain");
  EXPECT_EQ(OsReleasePrettyName("NAME=x\n"), "Linux");
}

TEST(NodeStatusParse, LowestFreePodCidr) {
  struct Case {
    const char* name;
    Json nodes;
    std::string want;
  } cases[] = {
      {"none", Json::array(), "10.42.0.0/24"},
      {"first used", Json::array({{{"metadata", {{"name", "a"}}}, {"spec", {{"podCIDR", "10.42.0.0/24"}}}}}),
       "10.42.1.0/24"},
      {"gap", Json::array({{{"metadata", {{"name", "a"}}}, {"spec", {{"podCIDR", "10.42.0.0/24"}}}},
                           {{"metadata", {{"name", "b"}}}, {"spec", {{"podCIDRs", {"10.42.2.0/24"}}}}}}),
       "10.42.1.0/24"},
      {"self ignored", Json::array({{{"metadata", {{"name", "me"}}}, {"spec", {{"podCIDR", "10.42.0.0/24"}}}}}),
       "10.42.0.0/24"},
  };
  for (const auto& c : cases) {
    auto r = LowestFreePodCidr(c.nodes, "me", "10.42.0.0/16");
    ASSERT_TRUE(r.ok()) << c.name;
    EXPECT_EQ(r.value(), c.want) << c.name;
  }
  Json full = Json::array();
  for (int i = 0; i < 256; ++i)
    full.push_back({{"metadata", {{"name", "n" + std::to_string(i)}}},
                    {"spec", {{"podCIDR", "10.42." + std::to_string(i) + ".0/24"}}}});
  EXPECT_EQ(LowestFreePodCidr(full, "me", "10.42.0.0/16").status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(LowestFreePodCidr(Json::array(), "me", "nonsense").ok());
}

TEST(NodeStatusBuild, CapacityConditionsInfo) {
  Json s = BuildNodeStatus(FakeMachine(), Opts("box"), SystemTime{} + std::chrono::hours(1));
  EXPECT_EQ(s["capacity"]["cpu"], "4");
  EXPECT_EQ(s["capacity"]["memory"], "8388608Ki");
  EXPECT_EQ(s["allocatable"]["memory"], std::to_string(8388608 - 102400) + "Ki");
  EXPECT_EQ(s["capacity"]["pods"], "110");
  EXPECT_EQ(s["nodeInfo"]["containerRuntimeVersion"], "runc://1.1.5");
  EXPECT_EQ(s["nodeInfo"]["kubeletVersion"], "v1.33.0+tug");
  EXPECT_EQ(s["nodeInfo"]["osImage"], "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(s["addresses"][0]["type"], "InternalIP");
  EXPECT_EQ(s["addresses"][0]["address"], "192.168.1.7");
  EXPECT_EQ(s["addresses"][1]["type"], "Hostname");
  ASSERT_EQ(s["conditions"].size(), 4u);
  EXPECT_EQ(s["conditions"][3]["type"], "Ready");
  EXPECT_EQ(s["conditions"][3]["status"], "True");
  EXPECT_EQ(s["conditions"][3]["reason"], "KubeletReady");
  EXPECT_EQ(s["conditions"][0]["reason"], "KubeletHasSufficientMemory");
  EXPECT_EQ(s["images"][0]["sizeBytes"], 100);

  MachineInfo low = FakeMachine();
  low.memory_available_bytes = 50 << 20;
  low.ephemeral_available_bytes = int64_t(5) << 30;
  Json p = BuildNodeStatus(low, Opts("box"), SystemTime{});
  EXPECT_EQ(p["conditions"][0]["status"], "True");
  EXPECT_EQ(p["conditions"][0]["reason"], "KubeletHasInsufficientMemory");
  EXPECT_EQ(p["conditions"][1]["status"], "True");
}

TEST(NodeStatusBuild, KubeletEndpointPort) {
  NodeStatusOptions o = Opts("box");
  EXPECT_EQ(BuildNodeStatus(FakeMachine(), o, SystemTime{})["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
  o.kubelet_port = 41234;
  EXPECT_EQ(BuildNodeStatus(FakeMachine(), o, SystemTime{})["daemonEndpoints"]["kubeletEndpoint"]["Port"], 41234);
}

TEST(NodeStatusBuild, TransitionTimesKept) {
  Json old = BuildNodeStatus(FakeMachine(), Opts("box"), SystemTime{} + std::chrono::hours(1));
  Json now = BuildNodeStatus(FakeMachine(), Opts("box"), SystemTime{} + std::chrono::hours(2));
  MergeConditionTimes(old, now);
  EXPECT_EQ(now["conditions"][3]["lastTransitionTime"], old["conditions"][3]["lastTransitionTime"]);
  EXPECT_NE(now["conditions"][3]["lastHeartbeatTime"], old["conditions"][3]["lastHeartbeatTime"]);
}

TEST(NodeStatusManagerTest, RegistersNodeLeaseAndCidrs) {
  client::testing::TestApiServer api;
  ASSERT_TRUE(api.ok());
  NodeStatusManager a(api.client(), Opts("node-a"));
  ASSERT_TRUE(a.Start().ok());
  EXPECT_EQ(a.pod_cidr(), "10.42.0.0/24");
  NodeStatusManager b(api.client(), Opts("node-b"));
  ASSERT_TRUE(b.Start().ok());
  EXPECT_EQ(b.pod_cidr(), "10.42.1.0/24");

  auto node = api.client().Get(client::kNodes, "", "node-a");
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  const Json& n = node.value();
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/hostname"], "node-a");
  EXPECT_EQ(n["metadata"]["labels"]["kubernetes.io/os"], "linux");
  EXPECT_EQ(n["spec"]["podCIDR"], "10.42.0.0/24");
  EXPECT_EQ(n["status"]["capacity"]["cpu"], "4");
  EXPECT_EQ(n["status"]["nodeInfo"]["containerRuntimeVersion"], "runc://1.1.5");
  ASSERT_TRUE(n["status"]["conditions"].is_array());
  bool ready = false;
  for (const Json& c : n["status"]["conditions"])
    if (c["type"] == "Ready") ready = c["status"] == "True";
  EXPECT_TRUE(ready);

  auto lease = api.client().Get(client::kLeases, "kube-node-lease", "node-a");
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(lease.value()["spec"]["holderIdentity"], "node-a");
  EXPECT_EQ(lease.value()["spec"]["leaseDurationSeconds"], 40);
  EXPECT_EQ(lease.value()["metadata"]["ownerReferences"][0]["kind"], "Node");
  std::string rv = GetStringPath(lease.value(), {"metadata", "resourceVersion"});
  ASSERT_TRUE(a.RenewLease().ok());
  auto lease2 = api.client().Get(client::kLeases, "kube-node-lease", "node-a");
  EXPECT_NE(GetStringPath(lease2.value(), {"metadata", "resourceVersion"}), rv);

  // A restarted agent adopts its Node and keeps the CIDR.
  a.Stop();
  NodeStatusManager a2(api.client(), Opts("node-a"));
  ASSERT_TRUE(a2.Start().ok());
  EXPECT_EQ(a2.pod_cidr(), "10.42.0.0/24");
  // Conditions others own survive our status updates.
  Json patch{{"status", {{"conditions", Json::array({{{"type", "NetworkUnavailable"}, {"status", "False"},
                                                       {"reason", "RouteCreated"}}})}}}};
  ASSERT_TRUE(api.client().Patch(client::kNodes, "", "node-a", client::PatchType::kStrategic, patch.dump(), "status").ok());
  ASSERT_TRUE(a2.SyncNodeStatus().ok());
  auto n2 = api.client().Get(client::kNodes, "", "node-a");
  int count = 0;
  for (const Json& c : n2.value()["status"]["conditions"]) count += c["type"] == "NetworkUnavailable";
  EXPECT_EQ(count, 1);
  EXPECT_EQ(n2.value()["status"]["conditions"].size(), 5u);
  // The kubelet port bound later is what the Node reports.
  a2.SetKubeletPort(40123);
  ASSERT_TRUE(a2.SyncNodeStatus().ok());
  auto n3 = api.client().Get(client::kNodes, "", "node-a");
  EXPECT_EQ(n3.value()["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"], 40123);
}

TEST(NodeStatusManagerTest, ExplicitPodCidrAndRealMachine) {
  client::testing::TestApiServer api;
  auto o = Opts("node-x");
  o.pod_cidr = "10.42.7.0/24";
  NodeStatusManager a(api.client(), o);
  ASSERT_TRUE(a.Start().ok());
  EXPECT_EQ(a.pod_cidr(), "10.42.7.0/24");
  auto m = ReadMachineInfo("/tmp");
  ASSERT_TRUE(m.ok());
  EXPECT_GT(m.value().cpus, 0);
  EXPECT_GT(m.value().memory_bytes, 0);
  EXPECT_FALSE(m.value().kernel_version.empty());
}

}  // namespace
}  // namespace tug::kubelet
