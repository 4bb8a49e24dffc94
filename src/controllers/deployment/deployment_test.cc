#include "controllers/deployment/deployment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "controllers/deployment/rollout.h"
#include "controllers/testing/harness.h"

namespace tug::controllers::deployment {
namespace {

using framework::GetInt;
using testing::Harness;

Json D(int replicas, Json strategy = nullptr) {
  Json d = {{"spec", {{"replicas", replicas}}}, {"metadata", {{"generation", 1}}}};
  if (!strategy.is_null()) d["spec"]["strategy"] = strategy;
  return d;
}

TEST(RolloutMathTest, ScaledValue) {
  struct Case {
    Json v;
    int64_t total;
    bool up;
    int64_t want;
  };
  std::vector<Case> cases = {{Json(3), 10, true, 3},   {Json("25%"), 10, true, 3}, {Json("25%"), 10, false, 2},
                             {Json("25%"), 3, true, 1}, {Json("25%"), 3, false, 0}, {Json("100%"), 7, false, 7},
                             {Json("0%"), 7, true, 0}};
  for (const auto& c : cases) {
    auto r = ScaledValue(&c.v, c.total, c.up);
    ASSERT_TRUE(r.ok()) << c.v.dump();
    EXPECT_EQ(*r, c.want) << c.v.dump() << " of " << c.total << (c.up ? " up" : " down");
  }
  Json bad = "25";
  EXPECT_FALSE(ScaledValue(&bad, 10, true).ok());
}

TEST(RolloutMathTest, Fenceposts) {
  struct Case {
    Json d;
    int64_t surge, unavailable;
  };
  auto ru = [](Json s, Json u) { return Json{{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", s}, {"maxUnavailable", u}}}}; };
  std::vector<Case> cases = {
      {D(4), 1, 1},                                // defaults 25% / 25%
      {D(10, ru("25%", "25%")), 3, 2},             // surge rounds up, unavailable down
      {D(3, ru(0, 0)), 0, 1},                      // both zero: one unavailable
      {D(3, ru(1, 0)), 1, 0},
      {D(3, ru(0, 5)), 0, 3},                      // unavailable capped at replicas
      {D(3, Json{{"type", "Recreate"}}), 0, 0},
      {D(0, ru(1, 1)), 1, 0},                      // nothing can be unavailable of zero
  };
  for (const auto& c : cases) {
    EXPECT_EQ(MaxSurge(c.d), c.surge) << c.d.dump();
    EXPECT_EQ(MaxUnavailable(c.d), c.unavailable) << c.d.dump();
  }
}

TEST(RolloutMathTest, NewReplicasWithinSurge) {
  auto ru = Json{{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}};
  Json d = D(4, ru);
  Json old_rs = {{"spec", {{"replicas", 4}}}};
  Json new_rs = {{"spec", {{"replicas", 0}}}};
  EXPECT_EQ(NewRSNewReplicas(d, {&old_rs, &new_rs}, new_rs), 1);
  new_rs["spec"]["replicas"] = 1;
  EXPECT_EQ(NewRSNewReplicas(d, {&old_rs, &new_rs}, new_rs), 1);  // at 5 = 4 + surge already
  old_rs["spec"]["replicas"] = 3;
  EXPECT_EQ(NewRSNewReplicas(d, {&old_rs, &new_rs}, new_rs), 2);
  EXPECT_EQ(NewRSNewReplicas(D(4, Json{{"type", "Recreate"}}), {&old_rs, &new_rs}, new_rs), 4);
}

TEST(RolloutMathTest, ProportionalShare) {
  Json d = D(20);  // 25% surge of 20 -> 5, max 25
  Json rs = {{"spec", {{"replicas", 4}}}, {"metadata", {{"annotations", {{kMaxReplicasAnnotation, "13"}}}}}};
  // 4 of an old max of 13, now 25: round(4*25/13) - 4 = 8 - 4 = 4.
  EXPECT_EQ(ReplicaSetProportion(rs, d, 12, 0), 4);
  EXPECT_EQ(ReplicaSetProportion(rs, d, 2, 0), 2);   // bounded by what is left to add
  EXPECT_EQ(ReplicaSetProportion(rs, D(0), -10, 0), -4);
}

TEST(RolloutMathTest, HashIsStableAndSafe) {
  Json t = {{"metadata", {{"labels", {{"app", "web"}}}}}, {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", "a"}}})}}}};
  std::string h1 = ComputeHash(t, std::nullopt);
  EXPECT_EQ(h1, ComputeHash(t, std::nullopt));
  EXPECT_NE(h1, ComputeHash(t, 1));
  Json t2 = t;
  t2["spec"]["containers"][0]["image"] = "b";
  EXPECT_NE(h1, ComputeHash(t2, std::nullopt));
  // The hash label itself does not change the hash.
  Json t3 = t;
  t3["metadata"]["labels"][kPodTemplateHashLabel] = h1;
  EXPECT_EQ(h1, ComputeHash(t3, std::nullopt));
  for (char ch : h1) EXPECT_NE(std::string("bcdfghjklmnpqrstvwxz2456789").find(ch), std::string::npos) << h1;
  EXPECT_EQ(SafeEncodeString("0123"), "4567");  // byte % 27 into upstream's alphabet
  EXPECT_TRUE(EqualIgnoreHash(t, t3));
  EXPECT_FALSE(EqualIgnoreHash(t, t2));
}

TEST(RolloutMathTest, RevisionAnnotations) {
  Json d = {{"spec", {{"replicas", 3}}}, {"metadata", {{"annotations", {{"team", "a"}, {kRevisionAnnotation, "9"}}}}}};
  Json rs = {{"metadata", Json::object()}, {"spec", {{"replicas", 0}}}};
  EXPECT_TRUE(SetNewReplicaSetAnnotations(d, rs, "1", false));
  EXPECT_EQ(rs["metadata"]["annotations"][kRevisionAnnotation], "1");
  EXPECT_EQ(rs["metadata"]["annotations"]["team"], "a");
  EXPECT_EQ(rs["metadata"]["annotations"][kDesiredReplicasAnnotation], "3");
  EXPECT_EQ(rs["metadata"]["annotations"][kMaxReplicasAnnotation], "4");
  EXPECT_FALSE(SetNewReplicaSetAnnotations(d, rs, "1", true));  // nothing new
  // Reused for a rollback: revision 1 -> 3, history keeps 1.
  EXPECT_TRUE(SetNewReplicaSetAnnotations(d, rs, "3", true));
  EXPECT_EQ(rs["metadata"]["annotations"][kRevisionAnnotation], "3");
  EXPECT_EQ(rs["metadata"]["annotations"][kRevisionHistoryAnnotation], "1");
  EXPECT_TRUE(SetNewReplicaSetAnnotations(d, rs, "5", true));
  EXPECT_EQ(rs["metadata"]["annotations"][kRevisionHistoryAnnotation], "1,3");
  // Never lowered.
  EXPECT_FALSE(SetNewReplicaSetAnnotations(d, rs, "2", true));
  EXPECT_EQ(rs["metadata"]["annotations"][kRevisionAnnotation], "5");
}

// --- against the in-process API server ------------------------------------------------------

Json Deployment(const std::string& name, int replicas, const std::string& image, Json strategy = nullptr) {
  Json d = testing::AppsWorkload("Deployment", name, replicas, image);
  if (!strategy.is_null()) d["spec"]["strategy"] = strategy;
  return d;
}

struct Observed {
  std::map<std::string, int64_t> rs_spec;  // rs name -> spec.replicas
  std::vector<Json> rss;
};

Observed ObserveRS(const Harness& h, const std::string& app) {
  Observed o;
  for (Json& rs : h.List(client::kReplicaSets, "default", "app=" + app)) {
    o.rs_spec[GetStringPath(rs, {"metadata", "name"})] = GetInt(rs, {"spec", "replicas"});
    o.rss.push_back(std::move(rs));
  }
  return o;
}

const Json* Cond(const Json& d, const std::string& type) { return framework::FindCondition(d, type); }

// `kubectl rollout status` success (kubectl's checks).
bool RolloutDone(const Json& d) {
  const Json* p = Cond(d, "Progressing");
  return GetInt(d, {"status", "observedGeneration"}) >= GetInt(d, {"metadata", "generation"}) &&
         !(p && GetString(*p, "reason") == kTimedOutReason) &&
         GetInt(d, {"status", "updatedReplicas"}) >= GetInt(d, {"spec", "replicas"}) &&
         GetInt(d, {"status", "replicas"}) <= GetInt(d, {"status", "updatedReplicas"}) &&
         GetInt(d, {"status", "availableReplicas"}) >= GetInt(d, {"status", "updatedReplicas"});
}

class DeploymentControllerTest : public ::testing::Test {
 protected:
  Harness h_{{"deployment", "replicaset"}};

  Json Get(const std::string& name) { return h_.Get(client::kDeployments, "default", name); }

  // Marks pods ready until the deployment's rollout is done.
  void DriveToDone(const std::string& name) {
    ASSERT_TRUE(Harness::WaitFor([&] {
      h_.MarkReady("default", "app=" + name);
      return RolloutDone(Get(name));
    })) << Get(name).dump();
  }
};

TEST_F(DeploymentControllerTest, CreatesReplicaSetAndPodsAndBecomesAvailable) {
  ASSERT_TRUE(h_.c().Create(client::kDeployments, "default", Deployment("web", 3, "busybox:1")).ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return h_.LivePods("default", "app=web").size() == 3; }));
  Observed o = ObserveRS(h_, "web");
  ASSERT_EQ(o.rss.size(), 1u);
  const Json& rs = o.rss[0];
  std::string hash = GetStringPath(rs, {"metadata", "labels", kPodTemplateHashLabel});
  ASSERT_FALSE(hash.empty());
  EXPECT_EQ(GetStringPath(rs, {"metadata", "name"}), "web-" + hash);
  EXPECT_EQ(GetStringPath(rs, {"spec", "selector", "matchLabels", kPodTemplateHashLabel}), hash);
  EXPECT_EQ(GetStringPath(rs, {"metadata", "annotations", kRevisionAnnotation}), "1");
  EXPECT_EQ(GetStringPath(rs, {"metadata", "annotations", kDesiredReplicasAnnotation}), "3");
  EXPECT_EQ(GetStringPath(rs, {"metadata", "annotations", kMaxReplicasAnnotation}), "4");
  EXPECT_EQ(GetString(*framework::GetControllerOf(rs), "kind"), "Deployment");
  for (const Json& p : h_.LivePods("default", "app=web"))
    EXPECT_EQ(GetStringPath(p, {"metadata", "labels", kPodTemplateHashLabel}), hash);

  // Not ready yet: Available False (3 - 0 unavailable allowed... 25% of 3 rounds down to 0).
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json x = Get("web");
    const Json* a = Cond(x, "Available");
    return a && GetString(*a, "status") == "False" && GetString(*a, "reason") == kMinimumReplicasUnavailable;
  })) << Get("web").dump();
  DriveToDone("web");
  Json d = Get("web");
  EXPECT_EQ(GetStringPath(d, {"metadata", "annotations", kRevisionAnnotation}), "1");
  EXPECT_EQ(GetInt(d, {"status", "replicas"}), 3);
  EXPECT_EQ(GetInt(d, {"status", "updatedReplicas"}), 3);
  EXPECT_EQ(GetInt(d, {"status", "availableReplicas"}), 3);
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json x = Get("web");
    const Json* a = Cond(x, "Available");
    const Json* p = Cond(x, "Progressing");
    return a && GetString(*a, "status") == "True" && GetString(*a, "reason") == kMinimumReplicasAvailable && p &&
           GetString(*p, "reason") == kNewRSAvailableReason &&
           GetString(*p, "message") == "ReplicaSet \"web-" + hash + "\" has successfully progressed.";
  })) << Get("web").dump();
}

TEST_F(DeploymentControllerTest, ScalesUpAndDown) {
  ASSERT_TRUE(h_.c().Create(client::kDeployments, "default", Deployment("web", 2, "busybox:1")).ok());
  DriveToDone("web");
  ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kMerge, R"({"spec":{"replicas":5}})").ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return h_.LivePods("default", "app=web").size() == 5; }));
  DriveToDone("web");
  Observed o = ObserveRS(h_, "web");
  ASSERT_EQ(o.rss.size(), 1u);  // scaling makes no new ReplicaSet
  EXPECT_EQ(GetStringPath(o.rss[0], {"metadata", "annotations", kDesiredReplicasAnnotation}), "5");
  ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kMerge, R"({"spec":{"replicas":1}})").ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return h_.LivePods("default", "app=web").size() == 1; }));
  DriveToDone("web");
  // Events as upstream words them.
  std::string rs_name = GetStringPath(o.rss[0], {"metadata", "name"});
  ASSERT_TRUE(Harness::WaitFor([&] {
    bool up = false, down = false;
    for (const Json& e : h_.List(client::kEvents, "default")) {
      std::string m = GetString(e, "message");
      if (m == "Scaled up replica set " + rs_name + " to 2") up = true;
      if (m == "Scaled down replica set " + rs_name + " to 1 from 5") down = true;
    }
    return up && down;
  }));
}

TEST_F(DeploymentControllerTest, RollingUpdateRespectsSurgeAndUnavailable) {
  Json strategy = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 1}}}};
  ASSERT_TRUE(h_.c().Create(client::kDeployments, "default", Deployment("web", 4, "busybox:1", strategy)).ok());
  DriveToDone("web");
  ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kStrategic,
                           R"({"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}}})").ok());
  // Step by step: at most replicas + maxSurge pods in the ReplicaSets' specs, and the ready
  // pods never fall below replicas - maxUnavailable; one pod turns ready per step.
  bool done = false;
  int steps = 0;
  while (!done && steps < 200) {
    ++steps;
    Observed o = ObserveRS(h_, "web");
    int64_t total = 0;
    for (const auto& [n, r] : o.rs_spec) total += r;
    ASSERT_LE(total, 5) << "step " << steps;
    int ready = 0;
    for (const Json& p : h_.LivePods("default", "app=web")) ready += framework::IsPodReady(p);
    ASSERT_GE(ready, 3) << "step " << steps;
    h_.MarkReady("default", "app=web", 1);
    Harness::WaitFor([&] { return false; }, std::chrono::milliseconds(20));
    done = RolloutDone(Get("web")) && GetStringPath(Get("web"), {"metadata", "annotations", kRevisionAnnotation}) == "2";
  }
  ASSERT_TRUE(done) << Get("web").dump();
  ASSERT_TRUE(Harness::WaitFor([&] {
    Observed o = ObserveRS(h_, "web");
    if (o.rss.size() != 2) return false;
    for (const Json& rs : o.rss) {
      std::string rev = GetStringPath(rs, {"metadata", "annotations", kRevisionAnnotation});
      if (rev == "2" && GetInt(rs, {"spec", "replicas"}) != 4) return false;
      if (rev == "1" && GetInt(rs, {"spec", "replicas"}) != 0) return false;
    }
    return h_.LivePods("default", "app=web").size() == 4;
  }));
  for (const Json& p : h_.LivePods("default", "app=web"))
    EXPECT_EQ(p["spec"]["containers"][0]["image"], "busybox:2");
}

TEST_F(DeploymentControllerTest, RollbackReusesTheOldReplicaSet) {
  ASSERT_TRUE(h_.c().Create(client::kDeployments, "default", Deployment("web", 2, "busybox:1")).ok());
  DriveToDone("web");
  ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kStrategic,
                           R"({"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}}})").ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    h_.MarkReady("default", "app=web");
    Json d = Get("web");
    return RolloutDone(d) && GetStringPath(d, {"metadata", "annotations", kRevisionAnnotation}) == "2";
  }));
  // What `kubectl rollout undo` sends: the revision-1 template without the hash label, and the
  // deployment's annotations, as one JSON patch.
  Json rev1;
  for (const Json& rs : ObserveRS(h_, "web").rss)
    if (GetStringPath(rs, {"metadata", "annotations", kRevisionAnnotation}) == "1") rev1 = rs;
  ASSERT_FALSE(rev1.is_null());
  std::string rev1_name = GetStringPath(rev1, {"metadata", "name"});
  Json tmpl = rev1["spec"]["template"];
  tmpl["metadata"]["labels"].erase(kPodTemplateHashLabel);
  Json d = Get("web");
  Json patch = Json::array({{{"op", "replace"}, {"path", "/spec/template"}, {"value", tmpl}},
                            {{"op", "replace"}, {"path", "/metadata/annotations"}, {"value", d["metadata"]["annotations"]}}});
  ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kJson, DumpJson(patch)).ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    h_.MarkReady("default", "app=web");
    Json x = Get("web");
    return RolloutDone(x) && GetStringPath(x, {"metadata", "annotations", kRevisionAnnotation}) == "3";
  })) << Get("web").dump();
  Observed o = ObserveRS(h_, "web");
  EXPECT_EQ(o.rss.size(), 2u);  // no third ReplicaSet
  Json back = h_.Get(client::kReplicaSets, "default", rev1_name);
  EXPECT_EQ(GetStringPath(back, {"metadata", "annotations", kRevisionAnnotation}), "3");
  EXPECT_EQ(GetStringPath(back, {"metadata", "annotations", kRevisionHistoryAnnotation}), "1");
  ASSERT_TRUE(Harness::WaitFor([&] { return GetInt(h_.Get(client::kReplicaSets, "default", rev1_name), {"spec", "replicas"}) == 2; }));
}

TEST_F(DeploymentControllerTest, RecreateScalesOldToZeroFirst) {
  ASSERT_TRUE(h_.c().Create(client::kDeployments, "default", Deployment("web", 2, "busybox:1", Json{{"type", "Recreate"}})).ok());
  DriveToDone("web");
  std::string old_name = GetStringPath(ObserveRS(h_, "web").rss[0], {"metadata", "name"});
  ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kStrategic,
                           R"({"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}}})").ok());
  // Until the old pods are gone, no new ReplicaSet has replicas.
  ASSERT_TRUE(Harness::WaitFor([&] {
    Observed o = ObserveRS(h_, "web");
    for (const auto& [n, r] : o.rs_spec) {
      if (n != old_name && r > 0) {
        EXPECT_LE(h_.LivePods("default", "app=web").size(), 2u);
      }
    }
    return o.rss.size() == 2 && o.rs_spec[old_name] == 0;
  }));
  DriveToDone("web");
  for (const Json& p : h_.LivePods("default", "app=web"))
    EXPECT_EQ(p["spec"]["containers"][0]["image"], "busybox:2");
}

TEST_F(DeploymentControllerTest, PauseResumeAndRestart) {
  ASSERT_TRUE(h_.c().Create(client::kDeployments, "default", Deployment("web", 1, "busybox:1")).ok());
  DriveToDone("web");
  ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kStrategic, R"({"spec":{"paused":true}})").ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json x = Get("web");
    const Json* p = Cond(x, "Progressing");
    return p && GetString(*p, "reason") == kPausedDeployReason && GetString(*p, "status") == "Unknown";
  }));
  ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kStrategic,
                           R"({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-25T20:00:00Z"}}}}})").ok());
  // Paused: the template change makes no ReplicaSet.
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json d = Get("web");
    return GetInt(d, {"status", "observedGeneration"}) == GetInt(d, {"metadata", "generation"});
  }));
  EXPECT_EQ(ObserveRS(h_, "web").rss.size(), 1u);
  ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kStrategic, R"({"spec":{"paused":null}})").ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    h_.MarkReady("default", "app=web");
    Json d = Get("web");
    return RolloutDone(d) && GetStringPath(d, {"metadata", "annotations", kRevisionAnnotation}) == "2";
  })) << Get("web").dump();
  EXPECT_EQ(ObserveRS(h_, "web").rss.size(), 2u);
  for (const Json& p : h_.LivePods("default", "app=web"))
    EXPECT_EQ(GetStringPath(p, {"metadata", "annotations", "kubectl.kubernetes.io/restartedAt"}), "2026-11-25T20:00:00Z");
}

TEST_F(DeploymentControllerTest, RestartResumesWithoutDuplicates) {
  ASSERT_TRUE(h_.c().Create(client::kDeployments, "default", Deployment("web", 3, "busybox:1")).ok());
  DriveToDone("web");
  h_.RestartControllers({"deployment", "replicaset"});
  ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kMerge, R"({"spec":{"replicas":4}})").ok());
  DriveToDone("web");
  EXPECT_EQ(h_.LivePods("default", "app=web").size(), 4u);
  EXPECT_EQ(ObserveRS(h_, "web").rss.size(), 1u);
  EXPECT_EQ(GetStringPath(Get("web"), {"metadata", "annotations", kRevisionAnnotation}), "1");
}

TEST_F(DeploymentControllerTest, ProgressDeadlineExceeded) {
  Json d = Deployment("stuck", 1, "busybox:1");
  d["spec"]["progressDeadlineSeconds"] = 1;
  ASSERT_TRUE(h_.c().Create(client::kDeployments, "default", d).ok());
  // The pod never turns ready: after the deadline, Progressing False ProgressDeadlineExceeded.
  ASSERT_TRUE(Harness::WaitFor(
      [&] {
        Json x = Get("stuck");
        const Json* p = Cond(x, "Progressing");
        return p && GetString(*p, "status") == "False" && GetString(*p, "reason") == kTimedOutReason;
      },
      std::chrono::seconds(8)))
      << Get("stuck").dump();
}

TEST_F(DeploymentControllerTest, RevisionHistoryLimitCleansUp) {
  Json d = Deployment("web", 1, "busybox:1");
  d["spec"]["revisionHistoryLimit"] = 1;
  ASSERT_TRUE(h_.c().Create(client::kDeployments, "default", d).ok());
  DriveToDone("web");
  for (int i = 2; i <= 4; ++i) {
    std::string patch = R"({"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:)" + std::to_string(i) + R"("}]}}}})";
    ASSERT_TRUE(h_.c().Patch(client::kDeployments, "default", "web", client::PatchType::kStrategic, patch).ok());
    ASSERT_TRUE(Harness::WaitFor([&] {
      h_.MarkReady("default", "app=web");
      Json x = Get("web");
      return RolloutDone(x) && GetStringPath(x, {"metadata", "annotations", kRevisionAnnotation}) == std::to_string(i);
    }));
  }
  // One old ReplicaSet kept, plus the current one.
  ASSERT_TRUE(Harness::WaitFor([&] { return ObserveRS(h_, "web").rss.size() == 2; })) << ObserveRS(h_, "web").rss.size();
}

}  // namespace
}  // namespace tug::controllers::deployment
