#include "client/events.h"

#include <gtest/gtest.h>

#include "base/testing/fake_clock.h"
#include "client/testing/test_api_server.h"

namespace tug::client {
namespace {

using namespace std::chrono_literals;

class EventsTest : public ::testing::Test {
 protected:
  std::vector<Json> Events(const std::string& ns) {
    auto l = api_.client().List(kEvents, ns);
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    if (!l.ok()) return {};
    std::vector<Json> out;
    for (const auto& e : (*l)["items"]) out.push_back(e);
    std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) {
      return GetStringPath(a, {"metadata", "name"}) < GetStringPath(b, {"metadata", "name"});
    });
    return out;
  }

  testing::TestApiServer api_;
  tug::testing::FakeClock clock_;
  const Json pod_ = {{"apiVersion", "v1"},
                     {"kind", "Pod"},
                     {"metadata", {{"name", "web-1"}, {"namespace", "default"}, {"uid", "u-1"}, {"resourceVersion", "7"}}}};
};

TEST_F(EventsTest, CreatesAnEventWithTheUpstreamShape) {
  EventRecorder rec(api_.client(), {.component = "kubelet", .host = "node-1", .clock = &clock_});
  rec.Record(pod_, "Warning", "BackOff", "Back-off restarting failed container");
  rec.Flush();
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), 1u);
  const Json& e = evs[0];
  std::string name = GetStringPath(e, {"metadata", "name"});
  EXPECT_EQ(name.rfind("web-1.", 0), 0u) << name;
  EXPECT_GT(name.size(), 7u);
  EXPECT_EQ(e["involvedObject"]["kind"], "Pod");
  EXPECT_EQ(e["involvedObject"]["name"], "web-1");
  EXPECT_EQ(e["involvedObject"]["namespace"], "default");
  EXPECT_EQ(e["involvedObject"]["uid"], "u-1");
  EXPECT_EQ(e["involvedObject"]["apiVersion"], "v1");
  EXPECT_EQ(e["reason"], "BackOff");
  EXPECT_EQ(e["message"], "Back-off restarting failed container");
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["source"]["component"], "kubelet");
  EXPECT_EQ(e["source"]["host"], "node-1");
  EXPECT_EQ(e["reportingComponent"], "kubelet");
  EXPECT_EQ(e["firstTimestamp"], FormatRFC3339(clock_.Now()));
  EXPECT_EQ(e["lastTimestamp"], e["firstTimestamp"]);
}

TEST_F(EventsTest, AggregatesRepeatsWithinTenMinutes) {
  EventRecorder rec(api_.client(), {.component = "deployment-controller", .clock = &clock_});
  Json dep = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"metadata", {{"name", "web"}, {"namespace", "default"}}}};
  std::string first = FormatRFC3339(clock_.Now());
  rec.Record(dep, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5d4 to 3");
  clock_.Advance(2min);
  rec.Record(dep, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5d4 to 3");
  clock_.Advance(2min);
  std::string third = FormatRFC3339(clock_.Now());
  rec.Record(dep, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5d4 to 3");
  rec.Record(dep, "Normal", "ScalingReplicaSet", "Scaled down replica set web-5d4 to 1");  // another message
  rec.Flush();
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), 2u);
  const Json* up = nullptr;
  for (const auto& e : evs)
    if (e["message"] == "Scaled up replica set web-5d4 to 3") up = &e;
  ASSERT_NE(up, nullptr);
  EXPECT_EQ((*up)["count"], 3);
  EXPECT_EQ((*up)["firstTimestamp"], first);
  EXPECT_EQ((*up)["lastTimestamp"], third);
  EXPECT_FALSE(up->contains("source") && (*up)["source"].contains("host"));

  // After more than 10 minutes the same event starts a new Event.
  clock_.Advance(11min);
  rec.Record(dep, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5d4 to 3");
  rec.Flush();
  EXPECT_EQ(Events("default").size(), 3u);
}

TEST_F(EventsTest, ClusterScopedObjectsAndDeletedEvents) {
  EventRecorder rec(api_.client(), {.component = "node-controller", .clock = &clock_});
  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}, {"uid", "nu"}}}};
  rec.Record(node, "Normal", "RegisteredNode", "Node n1 event: Registered Node n1 in Controller");
  rec.Flush();
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_FALSE(evs[0]["involvedObject"].contains("namespace"));
  // The Event was deleted (e.g. by TTL): a repeat creates a new one.
  ASSERT_TRUE(api_.client().Delete(kEvents, "default", GetStringPath(evs[0], {"metadata", "name"})).ok());
  clock_.Advance(1min);
  rec.Record(node, "Normal", "RegisteredNode", "Node n1 event: Registered Node n1 in Controller");
  rec.Flush();
  evs = Events("default");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0]["count"], 1);
}

TEST_F(EventsTest, DestructorFlushes) {
  {
    EventRecorder rec(api_.client(), {.component = "x", .clock = &clock_});
    for (int i = 0; i < 5; ++i) rec.Record(pod_, "Normal", "R" + std::to_string(i), "m");
  }
  EXPECT_EQ(Events("default").size(), 5u);
}

}  // namespace
}  // namespace tug::client
