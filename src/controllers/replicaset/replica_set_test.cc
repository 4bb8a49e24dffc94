#include "controllers/replicaset/replica_set.h"

#include <gtest/gtest.h>

#include "client/informer.h"
#include "client/testing/test_api_server.h"
#include "controllers/testing/harness.h"

namespace tug::controllers::replicaset {
namespace {

using testing::AppsWorkload;
using testing::Harness;

client::ObjectPtr Pod(std::string name, std::string node, std::string phase, bool ready, int restarts = 0,
                      std::string created = "2026-01-01T00:00:00Z", std::string ready_at = "2026-01-01T00:00:00Z") {
  Json p = {{"metadata", {{"name", name}, {"uid", "uid-" + name}, {"creationTimestamp", created}}},
            {"spec", Json::object()},
            {"status", {{"phase", phase}}}};
  if (!node.empty()) p["spec"]["nodeName"] = node;
  if (ready)
    p["status"]["conditions"] = Json::array({{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", ready_at}}});
  if (restarts) p["status"]["containerStatuses"] = Json::array({{{"name", "c"}, {"restartCount", restarts}}});
  return std::make_shared<const Json>(std::move(p));
}

std::vector<std::string> Names(const std::vector<client::ObjectPtr>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(GetStringPath(*p, {"metadata", "name"}));
  return out;
}

TEST(PodsToDeleteTest, RanksLikeUpstream) {
  SystemTime now = *ParseRFC3339("2026-06-01T00:00:00Z");
  struct Case {
    std::string name;
    std::vector<client::ObjectPtr> pods;
    size_t diff;
    std::vector<std::string> want;
  };
  std::vector<Case> cases = {
      {"unscheduled before scheduled", {Pod("a", "n1", "Running", true), Pod("b", "", "Pending", false)}, 1, {"b"}},
      {"pending before running", {Pod("a", "n1", "Running", false), Pod("b", "n1", "Pending", false)}, 1, {"b"}},
      {"not ready before ready", {Pod("a", "n1", "Running", true), Pod("b", "n1", "Running", false)}, 1, {"b"}},
      {"doubled-up node first",
       {Pod("a", "n1", "Running", true), Pod("b", "n2", "Running", true), Pod("c", "n2", "Running", true)}, 1, {"b"}},
      {"more restarts first", {Pod("a", "n1", "Running", false, 1), Pod("b", "n2", "Running", false, 5)}, 1, {"b"}},
      {"recently ready first",
       {Pod("a", "n1", "Running", true, 0, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        Pod("b", "n2", "Running", true, 0, "2026-01-01T00:00:00Z", "2026-05-31T23:59:00Z")},
       1, {"b"}},
      {"younger first",
       {Pod("a", "n1", "Running", false, 0, "2026-01-01T00:00:00Z"), Pod("b", "n2", "Running", false, 0, "2026-05-31T23:00:00Z")},
       1, {"b"}},
      {"all when diff covers them", {Pod("a", "n1", "Running", true), Pod("b", "n2", "Running", true)}, 5, {"a", "b"}},
  };
  for (const auto& c : cases) {
    auto got = PodsToDelete(c.pods, c.pods, c.diff, now);
    EXPECT_EQ(Names(got), c.want) << c.name;
  }
}

TEST(PodsToDeleteTest, DeletionCostAnnotation) {
  SystemTime now = *ParseRFC3339("2026-06-01T00:00:00Z");
  Json a = *Pod("a", "n1", "Running", true);
  Json b = *Pod("b", "n2", "Running", true);
  a["metadata"]["annotations"]["controller.kubernetes.io/pod-deletion-cost"] = "100";
  b["metadata"]["annotations"]["controller.kubernetes.io/pod-deletion-cost"] = "-5";
  std::vector<client::ObjectPtr> pods = {std::make_shared<const Json>(a), std::make_shared<const Json>(b)};
  EXPECT_EQ(Names(PodsToDelete(pods, pods, 1, now)), std::vector<std::string>{"b"});
}

Json ReplicaSet(const std::string& name, int replicas) { return AppsWorkload("ReplicaSet", name, replicas); }

TEST(ReplicaSetControllerTest, CreatesPodsAndReportsStatus) {
  Harness h({"replicaset"});
  ASSERT_TRUE(h.c().Create(client::kReplicaSets, "default", ReplicaSet("web", 3)).ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return h.LivePods("default", "app=web").size() == 3; }));
  for (const Json& p : h.LivePods("default", "app=web")) {
    EXPECT_EQ(GetStringPath(p, {"metadata", "generateName"}), "web-");
    const Json* ref = framework::GetControllerOf(p);
    ASSERT_NE(ref, nullptr);
    EXPECT_EQ(GetString(*ref, "kind"), "ReplicaSet");
    EXPECT_EQ(GetString(*ref, "name"), "web");
  }
  EXPECT_EQ(h.MarkReady("default", "app=web"), 3);
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json rs = h.Get(client::kReplicaSets, "default", "web");
    return framework::GetInt(rs, {"status", "availableReplicas"}) == 3 &&
           framework::GetInt(rs, {"status", "readyReplicas"}) == 3 &&
           framework::GetInt(rs, {"status", "fullyLabeledReplicas"}) == 3 &&
           framework::GetInt(rs, {"status", "replicas"}) == 3 &&
           framework::GetInt(rs, {"status", "observedGeneration"}) == framework::GetInt(rs, {"metadata", "generation"});
  })) << h.Get(client::kReplicaSets, "default", "web").dump();

  // Scale down prefers the not-ready pod.
  Json one = h.LivePods("default", "app=web")[0];
  one["status"]["conditions"][0]["status"] = "False";
  ASSERT_TRUE(h.c().UpdateStatus(client::kPods, "default", one).ok());
  // Wait until the controller has seen it (its status counts 2 ready), then scale down.
  ASSERT_TRUE(Harness::WaitFor([&] {
    return framework::GetInt(h.Get(client::kReplicaSets, "default", "web"), {"status", "readyReplicas"}) == 2;
  }));
  ASSERT_TRUE(h.c().Patch(client::kReplicaSets, "default", "web", client::PatchType::kMerge, R"({"spec":{"replicas":2}})").ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return h.LivePods("default", "app=web").size() == 2; }));
  for (const Json& p : h.LivePods("default", "app=web"))
    EXPECT_NE(GetStringPath(p, {"metadata", "name"}), GetStringPath(one, {"metadata", "name"}));

  // A deleted pod is replaced.
  std::string victim = GetStringPath(h.LivePods("default", "app=web")[0], {"metadata", "name"});
  ASSERT_TRUE(h.c().Delete(client::kPods, "default", victim).ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    auto pods = h.LivePods("default", "app=web");
    if (pods.size() != 2) return false;
    for (const Json& p : pods)
      if (GetStringPath(p, {"metadata", "name"}) == victim) return false;
    return true;
  }));
}

TEST(ReplicaSetControllerTest, AdoptsOrphansAndReleasesMismatches) {
  Harness h({"replicaset"});
  // Two orphans with matching labels exist before the ReplicaSet.
  for (const char* n : {"orphan-1", "orphan-2"}) {
    Json p = {{"apiVersion", "v1"}, {"kind", "Pod"},
              {"metadata", {{"name", n}, {"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", "busybox"}}})}}}};
    ASSERT_TRUE(h.c().Create(client::kPods, "default", p).ok());
  }
  // The controller's cache must hold the orphans before it sees the ReplicaSet (else it may
  // create three pods first and then keep any three of five, all created in the same second):
  // a restarted manager lists them while it syncs.
  h.RestartControllers({"replicaset"});
  ASSERT_TRUE(h.c().Create(client::kReplicaSets, "default", ReplicaSet("web", 3)).ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    auto pods = h.LivePods("default", "app=web");
    if (pods.size() != 3) return false;
    for (const Json& p : pods)
      if (!framework::GetControllerOf(p)) return false;
    return true;
  }));
  Json o1 = h.Get(client::kPods, "default", "orphan-1");
  ASSERT_NE(framework::GetControllerOf(o1), nullptr) << o1.dump();
  EXPECT_EQ(GetString(*framework::GetControllerOf(o1), "name"), "web");

  // Relabel an owned pod: it is released and replaced.
  ASSERT_TRUE(h.c().Patch(client::kPods, "default", "orphan-1", client::PatchType::kMerge,
                          R"({"metadata":{"labels":{"app":"other"}}})").ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json p = h.Get(client::kPods, "default", "orphan-1");
    return !p.is_null() && framework::GetControllerOf(p) == nullptr && h.LivePods("default", "app=web").size() == 3;
  }));
}

// Expectations: two syncs back to back, before the informer saw the first one's pods, create
// the replicas once.
TEST(ReplicaSetControllerTest, ExpectationsPreventDuplicatesWithSlowInformer) {
  client::testing::TestApiServer api;
  client::InformerFactory f(api.client());
  framework::ControllerContext ctx{.client = &api.client(), .informers = &f, .clock = nullptr};
  auto rsc = NewReplicaSetController(ctx);
  f.Start();
  ASSERT_TRUE(f.WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(api.client().Create(client::kReplicaSets, "default", ReplicaSet("web", 4)).ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return f.For(client::kReplicaSets).Get("default/web") != nullptr; }));
  // The controller's workers are not running: drive Sync by hand, twice, immediately.
  ASSERT_TRUE(rsc->SyncForTest("default/web").ok());
  ASSERT_TRUE(rsc->SyncForTest("default/web").ok());
  auto l = api.client().List(client::kPods, "default");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ((*l)["items"].size(), 4u);
  // Once the informer has seen them, a further sync changes nothing.
  ASSERT_TRUE(Harness::WaitFor([&] { return f.For(client::kPods).List("default").size() == 4; }));
  ASSERT_TRUE(rsc->SyncForTest("default/web").ok());
  l = api.client().List(client::kPods, "default");
  EXPECT_EQ((*l)["items"].size(), 4u);
  f.Stop();
}

TEST(ReplicationControllerTest, SameCodeForReplicationControllers) {
  Harness h({"replicationcontroller"});
  Json rc = {{"apiVersion", "v1"},
             {"kind", "ReplicationController"},
             {"metadata", {{"name", "legacy"}}},
             {"spec",
              {{"replicas", 2},
               {"selector", {{"app", "legacy"}}},
               {"template",
                {{"metadata", {{"labels", {{"app", "legacy"}}}}},
                 {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", "busybox"}}})}}}}}}}};
  ASSERT_TRUE(h.c().Create(client::kReplicationControllers, "default", rc).ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return h.LivePods("default", "app=legacy").size() == 2; }));
  Json p = h.LivePods("default", "app=legacy")[0];
  EXPECT_EQ(GetString(*framework::GetControllerOf(p), "kind"), "ReplicationController");
  ASSERT_TRUE(Harness::WaitFor([&] {
    return framework::GetInt(h.Get(client::kReplicationControllers, "default", "legacy"), {"status", "replicas"}) == 2;
  }));
}

}  // namespace
}  // namespace tug::controllers::replicaset
