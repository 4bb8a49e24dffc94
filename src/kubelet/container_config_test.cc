#include "kubelet/container_config.h"

#include <gtest/gtest.h>

namespace tug::kubelet {
namespace {

TEST(ContainerConfigTest, ParseQuantityMilli) {
  struct Case {
    std::string in;
    int64_t want;
  } cases[] = {{"100m", 100}, {"1", 1000}, {"0.5", 500}, {"2", 2000}, {"128Mi", int64_t(128) << 20 | 0},
               {"1Gi", int64_t(1) << 30}, {"1G", 1000000000}, {"1e3", 1000000}, {"1k", 1000000}};
  for (auto& c : cases) {
    if (c.in == "128Mi") c.want = (int64_t(128) << 20) * 1000;
    if (c.in == "1Gi") c.want = (int64_t(1) << 30) * 1000;
    if (c.in == "1G") c.want = int64_t(1000000000) * 1000;
    auto r = ParseQuantityMilli(c.in);
    ASSERT_TRUE(r.ok()) << c.in;
    EXPECT_EQ(r.value(), c.want) << c.in;
  }
  EXPECT_FALSE(ParseQuantityMilli("").ok());
  EXPECT_FALSE(ParseQuantityMilli("abc").ok());
  EXPECT_FALSE(ParseQuantityMilli("1Xi").ok());
}

Json PodWith(Json resources) {
  return Json{{"metadata", {{"name", "p"}, {"namespace", "ns"}, {"uid", "u1"}, {"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", Json::array({{{"name", "c"}, {"resources", resources}}})}}},
              {"status", {{"podIP", "10.42.0.9"}}}};
}

TEST(ContainerConfigTest, QosAndResources) {
  const int64_t node_mem = int64_t(8) << 30;
  struct Case {
    const char* name;
    Json res;
    std::string qos;
    uint64_t shares;
    int64_t quota;
    int64_t mem;
    int64_t oom;
  } cases[] = {
      {"best effort", Json::object(), "BestEffort", 2, 0, 0, 1000},
      {"guaranteed", {{"limits", {{"cpu", "500m"}, {"memory", "256Mi"}}}}, "Guaranteed", 512, 50000,
       int64_t(256) << 20, -997},
      {"burstable", {{"requests", {{"cpu", "250m"}, {"memory", "1Gi"}}}}, "Burstable", 256, 0, 0, 875},
  };
  for (const auto& c : cases) {
    Json pod = PodWith(c.res);
    EXPECT_EQ(QosClass(pod), c.qos) << c.name;
    auto r = ContainerResources(pod, pod["spec"]["containers"][0], node_mem);
    EXPECT_EQ(r.cpu_shares, c.shares) << c.name;
    EXPECT_EQ(r.cpu_quota_us, c.quota) << c.name;
    EXPECT_EQ(r.memory_limit_bytes, c.mem) << c.name;
    EXPECT_EQ(r.oom_score_adj, c.oom) << c.name;
  }
}

TEST(ContainerConfigTest, BuildEnv) {
  Json pod = PodWith({{"limits", {{"memory", "64Mi"}}}});
  Json& c = pod["spec"]["containers"][0];
  c["envFrom"] = Json::array({{{"configMapRef", {{"name", "cm"}}}, {"prefix", "CM_"}}});
  c["env"] = Json::array({
      {{"name", "A"}, {"value", "x"}},
      {{"name", "B"}, {"value", "$(A)-y-$$(A)"}},
      {{"name", "POD"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
      {{"name", "APP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.labels['app']"}}}}}},
      {{"name", "IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}},
      {{"name", "NODE"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "spec.nodeName"}}}}}},
      {{"name", "MEM"}, {"valueFrom", {{"resourceFieldRef", {{"resource", "limits.memory"}, {"divisor", "1Mi"}}}}}},
      {{"name", "S"}, {"valueFrom", {{"secretKeyRef", {{"name", "sec"}, {"key", "pw"}}}}}},
      {{"name", "CM_k"}, {"value", "override"}},
  });
  KeyLookup keys = [](const std::string& kind, const std::string& name, const std::string& key) -> Result<std::string> {
    if (kind == "Secret" && name == "sec" && key == "pw") return std::string("hunter2");
    return NotFoundError("no");
  };
  DataLookup data = [](const std::string& kind, const std::string& name)
      -> Result<std::vector<std::pair<std::string, std::string>>> {
    if (kind == "ConfigMap" && name == "cm") return std::vector<std::pair<std::string, std::string>>{{"k", "v"}};
    return NotFoundError("no");
  };
  auto env = BuildEnv(pod, c, "node1", "192.168.1.2", keys, data);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  std::map<std::string, std::string> m(env.value().begin(), env.value().end());
  EXPECT_EQ(env.value()[0].first, "CM_k");
  EXPECT_EQ(m["CM_k"], "override");
  EXPECT_EQ(m["B"], "x-y-$(A)");
  EXPECT_EQ(m["POD"], "p");
  EXPECT_EQ(m["APP"], "web");
  EXPECT_EQ(m["IP"], "10.42.0.9");
  EXPECT_EQ(m["NODE"], "node1");
  EXPECT_EQ(m["MEM"], "64");
  EXPECT_EQ(m["S"], "hunter2");

  c["env"] = Json::array({{{"name", "S"}, {"valueFrom", {{"secretKeyRef", {{"name", "missing"}, {"key", "pw"}}}}}}});
  EXPECT_FALSE(BuildEnv(pod, c, "n", "", keys, data).ok());
  c["env"][0]["valueFrom"]["secretKeyRef"]["optional"] = true;
  auto opt = BuildEnv(pod, c, "n", "", keys, data);
  ASSERT_TRUE(opt.ok());
  for (const auto& [k, v] : opt.value()) EXPECT_NE(k, "S");
}

}  // namespace
}  // namespace tug::kubelet
