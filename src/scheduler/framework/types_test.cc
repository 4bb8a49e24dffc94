#include "scheduler/framework/types.h"

#include <gtest/gtest.h>

#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::framework {
namespace {

using testing::NodeBuilder;
using testing::PodBuilder;

TEST(Quantity, Parses) {
  struct Case {
    Json q;
    int64_t scale;
    std::optional<int64_t> want;
  } cases[] = {
      {"100m", 1000, 100}, {"1", 1000, 1000}, {"1.5", 1000, 1500}, {"0.1", 1000, 100},
      {"1Gi", 1, 1LL << 30}, {"200Mi", 1, 200LL << 20}, {"1k", 1, 1000}, {"1M", 1, 1000000},
      {"1e3", 1, 1000}, {"1E3", 1, 1000}, {"1u", 1000, 1}, {2, 1000, 2000}, {"abc", 1, std::nullopt},
      {"1Xi", 1, std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(ParseQuantityScaled(c.q, c.scale), c.want) << c.q.dump();
}

TEST(PodInfo, RequestsIncludeInitContainersSidecarsAndOverhead) {
  struct Case {
    const char* name;
    Json pod;
    int64_t cpu, mem;
  } cases[] = {
      {"containers sum", PodBuilder("a").Req("cpu", "100m").Req("memory", "1Gi").Container({{"cpu", "200m"}}),
       300, 1LL << 30},
      {"init larger wins", PodBuilder("b").Req("cpu", "100m").Init({{"cpu", "1"}}), 1000, 0},
      {"init smaller ignored", PodBuilder("c").Req("cpu", "500m").Init({{"cpu", "200m"}}), 500, 0},
      {"sidecar adds to containers", PodBuilder("d").Req("cpu", "500m").Init({{"cpu", "200m"}}, true), 700, 0},
      {"init after sidecar adds sidecar", PodBuilder("e").Req("cpu", "100m").Init({{"cpu", "200m"}}, true).Init({{"cpu", "1"}}),
       1200, 0},
      {"overhead", PodBuilder("f").Req("cpu", "100m").Overhead("cpu", "50m").Overhead("memory", "10Mi"), 150,
       10LL << 20},
  };
  for (const auto& c : cases) {
    PodInfoPtr p = PodInfo::Build(std::make_shared<const Json>(c.pod));
    EXPECT_EQ(p->requests.milli_cpu, c.cpu) << c.name;
    EXPECT_EQ(p->requests.memory, c.mem) << c.name;
  }
  // Non-zero defaults for scoring.
  PodInfoPtr be = PodBuilder("g").Info();
  EXPECT_EQ(be->requests.milli_cpu, 0);
  EXPECT_EQ(be->non_zero_cpu, kDefaultMilliCpuRequest);
  EXPECT_EQ(be->non_zero_memory, kDefaultMemoryRequest);
}

TEST(LabelSelector, Matches) {
  Json labels = {{"app", "web"}, {"tier", "fe"}};
  struct Case {
    Json sel;
    bool want;
  } cases[] = {
      {Json::object(), true},
      {{{"matchLabels", {{"app", "web"}}}}, true},
      {{{"matchLabels", {{"app", "db"}}}}, false},
      {{{"matchExpressions", {{{"key", "tier"}, {"operator", "In"}, {"values", {"fe", "be"}}}}}}, true},
      {{{"matchExpressions", {{{"key", "tier"}, {"operator", "NotIn"}, {"values", {"fe"}}}}}}, false},
      {{{"matchExpressions", {{{"key", "x"}, {"operator", "DoesNotExist"}}}}}, true},
      {{{"matchExpressions", {{{"key", "x"}, {"operator", "Exists"}}}}}, false},
  };
  for (const auto& c : cases) EXPECT_EQ(LabelSelector::FromJson(&c.sel).Matches(&labels), c.want) << c.sel.dump();
  EXPECT_FALSE(LabelSelector::FromJson(nullptr).Matches(&labels));
  EXPECT_TRUE(LabelSelector::FromJson(nullptr, true).Matches(&labels));
}

TEST(NodeSelector, Operators) {
  Json labels = {{"zone", "a"}, {"cores", "8"}};
  auto term = [](Json exprs) { return Json{{"nodeSelectorTerms", {{{"matchExpressions", exprs}}}}}; };
  struct Case {
    Json sel;
    bool want;
  } cases[] = {
      {term({{{"key", "zone"}, {"operator", "In"}, {"values", {"a"}}}}), true},
      {term({{{"key", "zone"}, {"operator", "NotIn"}, {"values", {"a"}}}}), false},
      {term({{{"key", "cores"}, {"operator", "Gt"}, {"values", {"4"}}}}), true},
      {term({{{"key", "cores"}, {"operator", "Lt"}, {"values", {"4"}}}}), false},
      {term({{{"key", "gpu"}, {"operator", "DoesNotExist"}}}), true},
      {Json{{"nodeSelectorTerms", {Json::object()}}}, false},  // empty term matches nothing
      {Json{{"nodeSelectorTerms", {{{"matchFields", {{{"key", "metadata.name"}, {"operator", "In"}, {"values", {"n1"}}}}}}}}},
       true},
  };
  for (const auto& c : cases) EXPECT_EQ(NodeSelector::FromJson(&c.sel).Matches(&labels, "n1"), c.want) << c.sel.dump();
}

TEST(NodeInfo, AddRemovePodKeepsTotals) {
  NodeInfo n;
  n.SetNode(std::make_shared<const Json>(NodeBuilder("n1").Build()));
  EXPECT_EQ(n.allocatable.milli_cpu, 4000);
  EXPECT_EQ(n.allocatable.allowed_pods, 110);
  PodInfoPtr a = PodBuilder("a").Req("cpu", "1").HostPort(80).Info();
  PodInfoPtr b = PodBuilder("b").Req("cpu", "500m").Info();
  n.AddPod(a);
  n.AddPod(b);
  EXPECT_EQ(n.requested.milli_cpu, 1500);
  EXPECT_EQ(n.used_ports.size(), 1u);
  EXPECT_TRUE(n.RemovePod(*a));
  EXPECT_EQ(n.requested.milli_cpu, 500);
  EXPECT_TRUE(n.used_ports.empty());
  EXPECT_FALSE(n.RemovePod(*a));
}

}  // namespace
}  // namespace tug::scheduler::framework
