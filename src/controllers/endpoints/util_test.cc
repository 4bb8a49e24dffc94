#include "controllers/endpoints/util.h"

#include <gtest/gtest.h>

#include "controllers/endpoints/test_objects.h"

namespace tug::controllers::endpoints {
namespace {

using testobj::Pod;
using testobj::PodState;

TEST(FindPortTest, ResolvesTargetPort) {
  Json pod = Pod("p", "web");
  pod["spec"]["initContainers"] = Json::array(
      {{{"name", "side"}, {"restartPolicy", "Always"}, {"ports", Json::array({{{"name", "metrics"}, {"containerPort", 9090}}})}},
       {{"name", "init"}, {"ports", Json::array({{{"name", "once"}, {"containerPort", 7070}}})}}});
  struct Case {
    std::string name;
    Json port;
    int want;  // -1: not found
  };
  std::vector<Case> cases = {
      {"number", {{"port", 80}, {"targetPort", 9000}}, 9000},
      {"absent target is the port", {{"port", 81}}, 81},
      {"numeric string", {{"port", 80}, {"targetPort", "8081"}}, 8081},
      {"named", {{"port", 80}, {"targetPort", "web"}}, 8080},
      {"named, protocol must match", {{"port", 80}, {"targetPort", "web"}, {"protocol", "UDP"}}, -1},
      {"unknown name", {{"port", 80}, {"targetPort", "nope"}}, -1},
      {"restartable init container", {{"port", 80}, {"targetPort", "metrics"}}, 9090},
      {"plain init container is not searched", {{"port", 80}, {"targetPort", "once"}}, -1},
  };
  for (const auto& c : cases) {
    auto got = FindPort(pod, c.port);
    if (c.want < 0) {
      EXPECT_FALSE(got.ok()) << c.name;
    } else {
      ASSERT_TRUE(got.ok()) << c.name << ": " << got.status().ToString();
      EXPECT_EQ(*got, c.want) << c.name;
    }
  }
}

TEST(ShouldPodBeInEndpointsTest, Table) {
  struct Case {
    std::string name;
    PodState st;
    bool include_terminating;
    bool want;
  };
  std::vector<Case> cases = {
      {"running", {}, false, true},
      {"not ready still listed", {.ready = false}, false, true},
      {"no IP", {.ip = ""}, false, false},
      {"succeeded", {.phase = "Succeeded"}, true, false},
      {"failed", {.phase = "Failed"}, true, false},
      {"terminating excluded", {.terminating = true}, false, false},
      {"terminating tolerated", {.terminating = true}, true, true},
  };
  for (const auto& c : cases) EXPECT_EQ(ShouldPodBeInEndpoints(Pod("p", "web", c.st), c.include_terminating), c.want) << c.name;
}

TEST(ServiceHelpersTest, SelectorFamiliesHostname) {
  Json svc = testobj::Service("web", "web");
  EXPECT_TRUE(ServiceSelector(svc).has_value());
  Json no_sel = svc;
  no_sel["spec"].erase("selector");
  EXPECT_FALSE(ServiceSelector(no_sel).has_value());
  no_sel["spec"]["selector"] = Json::object();
  EXPECT_FALSE(ServiceSelector(no_sel).has_value());

  EXPECT_EQ(ServiceFamilies(svc), std::vector<std::string>{"IPv4"});
  Json dual = svc;
  dual["spec"]["ipFamilies"] = Json::array({"IPv6", "IPv4"});
  EXPECT_EQ(ServiceFamilies(dual), (std::vector<std::string>{"IPv6", "IPv4"}));
  EXPECT_EQ(PrimaryFamily(dual), "IPv6");

  Json pod = Pod("p", "web");
  pod["status"]["podIPs"] = Json::array({{{"ip", "10.1.0.1"}}, {{"ip", "fd00::1"}}});
  EXPECT_EQ(PodIPOfFamily(pod, "IPv4"), "10.1.0.1");
  EXPECT_EQ(PodIPOfFamily(pod, "IPv6"), "fd00::1");

  EXPECT_FALSE(ShouldSetHostname(pod, svc));
  pod["spec"]["hostname"] = "web-0";
  pod["spec"]["subdomain"] = "web";
  EXPECT_TRUE(ShouldSetHostname(pod, svc));
  pod["spec"]["subdomain"] = "other";
  EXPECT_FALSE(ShouldSetHostname(pod, svc));

  EXPECT_FALSE(IsHeadless(svc));
  svc["spec"]["clusterIP"] = "None";
  EXPECT_TRUE(IsHeadless(svc));
}

TEST(TriggerTimeTrackerTest, EarliestChangeSinceLastSync) {
  TriggerTimeTracker t;
  Json svc = testobj::Service("web", "web");  // created 00:00:00
  auto a = testobj::Ptr(Pod("a", "web", {.ready_at = "2026-01-01T00:00:10Z"}));
  auto b = testobj::Ptr(Pod("b", "web", {.ready_at = "2026-01-01T00:00:20Z"}));
  // First sync: the Service itself is the earliest change.
  auto got = t.Compute(svc, {a, b});
  ASSERT_TRUE(got);
  EXPECT_EQ(FormatTriggerTime(*got), "2026-01-01T00:00:00Z");
  t.Commit("default/web");
  // Nothing changed: no trigger time.
  EXPECT_FALSE(t.Compute(svc, {a, b}));
  t.Commit("default/web");
  // b changed readiness later: its transition, again on the retry of a failed sync.
  auto b2 = testobj::Ptr(Pod("b", "web", {.ready = false, .ready_at = "2026-01-01T00:01:00Z"}));
  for (int attempt = 0; attempt < 2; ++attempt) {
    got = t.Compute(svc, {a, b2});
    ASSERT_TRUE(got) << attempt;
    EXPECT_EQ(FormatTriggerTime(*got), "2026-01-01T00:01:00Z");
  }
  t.Commit("default/web");
  EXPECT_FALSE(t.Compute(svc, {a, b2}));
  // A forgotten Service starts over.
  t.DeleteService("default/web");
  EXPECT_TRUE(t.Compute(svc, {a, b2}));
}

TEST(FormatTriggerTimeTest, FractionOnlyWhenPresent) {
  SystemTime t = *ParseRFC3339("2026-01-01T00:00:05Z");
  EXPECT_EQ(FormatTriggerTime(t), "2026-01-01T00:00:05Z");
  EXPECT_EQ(FormatTriggerTime(t + std::chrono::milliseconds(250)), "2026-01-01T00:00:05.25Z");
}

TEST(CanonicalTest, DropsEmpty) {
  Json a = Json::parse(R"({"a":[],"b":{},"c":null,"d":[{"e":[]}],"f":false})");
  EXPECT_EQ(Canonical(a), Json::parse(R"({"d":[{}],"f":false})"));
}

}  // namespace
}  // namespace tug::controllers::endpoints
