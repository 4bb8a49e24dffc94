#include "controllers/garbagecollector/garbage_collector.h"

#include <gtest/gtest.h>

#include "controllers/testing/harness.h"

namespace tug::controllers::garbagecollector {
namespace {

using testing::AppsWorkload;
using testing::Harness;

Json ConfigMap(const std::string& name, Json owner_refs = nullptr, Json finalizers = nullptr) {
  Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}, {"data", {{"k", "v"}}}};
  if (!owner_refs.is_null()) cm["metadata"]["ownerReferences"] = owner_refs;
  if (!finalizers.is_null()) cm["metadata"]["finalizers"] = finalizers;
  return cm;
}

Json RefTo(const Json& owner, bool block = true) {
  return Json{{"apiVersion", GetString(owner, "apiVersion")}, {"kind", GetString(owner, "kind")},
              {"name", GetStringPath(owner, {"metadata", "name"})}, {"uid", GetStringPath(owner, {"metadata", "uid"})},
              {"blockOwnerDeletion", block}};
}

bool Gone(const Harness& h, const std::string& name) {
  auto r = h.c().Get(client::kConfigMaps, "default", name);
  return !r.ok() && r.status().code() == StatusCode::kNotFound;
}

// Creates owner + two dependents (one blocking, one not); returns the owner.
Json Family(Harness& h, const std::string& owner) {
  auto o = h.c().Create(client::kConfigMaps, "default", ConfigMap(owner));
  EXPECT_TRUE(o.ok());
  Json own = *o;
  own["apiVersion"] = "v1";
  own["kind"] = "ConfigMap";
  EXPECT_TRUE(h.c().Create(client::kConfigMaps, "default", ConfigMap(owner + "-dep1", Json::array({RefTo(own, true)}))).ok());
  EXPECT_TRUE(h.c().Create(client::kConfigMaps, "default", ConfigMap(owner + "-dep2", Json::array({RefTo(own, false)}))).ok());
  return own;
}

TEST(GarbageCollectorTest, BackgroundDeletesDependentsOfAGoneOwner) {
  Harness h({"garbagecollector"});
  Family(h, "bg");
  client::DeleteOptions opts;
  opts.propagation_policy = "Background";
  ASSERT_TRUE(h.c().Delete(client::kConfigMaps, "default", "bg", opts).ok());
  EXPECT_TRUE(Harness::WaitFor([&] { return Gone(h, "bg-dep1") && Gone(h, "bg-dep2"); }));
}

TEST(GarbageCollectorTest, DependentOfAnOwnerThatNeverExistedIsCollected) {
  Harness h({"garbagecollector"});
  Json ghost = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "ghost"}, {"uid", "no-such-uid"}}}};
  ASSERT_TRUE(h.c().Create(client::kConfigMaps, "default", ConfigMap("stray", Json::array({RefTo(ghost)}))).ok());
  EXPECT_TRUE(Harness::WaitFor([&] { return Gone(h, "stray"); }));
}

TEST(GarbageCollectorTest, LiveOwnerKeepsDependentAndDanglingRefIsDropped) {
  Harness h({"garbagecollector"});
  auto o = h.c().Create(client::kConfigMaps, "default", ConfigMap("alive"));
  ASSERT_TRUE(o.ok());
  Json own = *o;
  own["apiVersion"] = "v1";
  own["kind"] = "ConfigMap";
  Json ghost = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "ghost"}, {"uid", "no-such-uid"}}}};
  ASSERT_TRUE(h.c().Create(client::kConfigMaps, "default", ConfigMap("two-owners", Json::array({RefTo(own), RefTo(ghost)}))).ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json d = h.Get(client::kConfigMaps, "default", "two-owners");
    return !d.is_null() && d["metadata"]["ownerReferences"].size() == 1 &&
           d["metadata"]["ownerReferences"][0]["uid"] == own["metadata"]["uid"];
  })) << h.Get(client::kConfigMaps, "default", "two-owners").dump();
}

TEST(GarbageCollectorTest, OrphanRemovesReferencesAndKeepsDependents) {
  Harness h({"garbagecollector"});
  Family(h, "or");
  client::DeleteOptions opts;
  opts.propagation_policy = "Orphan";
  ASSERT_TRUE(h.c().Delete(client::kConfigMaps, "default", "or", opts).ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return Gone(h, "or"); })) << h.Get(client::kConfigMaps, "default", "or").dump();
  for (const char* n : {"or-dep1", "or-dep2"}) {
    Json d = h.Get(client::kConfigMaps, "default", n);
    ASSERT_FALSE(d.is_null()) << n;
    EXPECT_EQ(FindPath(d, {"metadata", "ownerReferences"}), nullptr) << d.dump();
  }
}

TEST(GarbageCollectorTest, ForegroundDeletesBlockingDependentsFirst) {
  Harness h({"garbagecollector"});
  Json own = Family(h, "fg");
  // dep1 blocks its owner and has a finalizer of its own, so it lingers while being deleted.
  ASSERT_TRUE(h.c().Patch(client::kConfigMaps, "default", "fg-dep1", client::PatchType::kMerge,
                          R"({"metadata":{"finalizers":["test.tug.dev/hold"]}})").ok());
  client::DeleteOptions opts;
  opts.propagation_policy = "Foreground";
  ASSERT_TRUE(h.c().Delete(client::kConfigMaps, "default", "fg", opts).ok());
  // The non-blocking dependent goes; the blocking one is being deleted; the owner waits.
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json d1 = h.Get(client::kConfigMaps, "default", "fg-dep1");
    return Gone(h, "fg-dep2") && !d1.is_null() && FindPath(d1, {"metadata", "deletionTimestamp"});
  })) << h.Get(client::kConfigMaps, "default", "fg-dep1").dump();
  Json owner = h.Get(client::kConfigMaps, "default", "fg");
  ASSERT_FALSE(owner.is_null());
  EXPECT_NE(FindPath(owner, {"metadata", "deletionTimestamp"}), nullptr);
  // Release the hold: the dependent goes, then the owner.
  ASSERT_TRUE(h.c().Patch(client::kConfigMaps, "default", "fg-dep1", client::PatchType::kMerge,
                          R"({"metadata":{"finalizers":null}})").ok());
  EXPECT_TRUE(Harness::WaitFor([&] { return Gone(h, "fg-dep1") && Gone(h, "fg"); }))
      << h.Get(client::kConfigMaps, "default", "fg").dump();
}

TEST(GarbageCollectorTest, DeletingADeploymentRemovesReplicaSetsAndPods) {
  Harness h({"deployment", "replicaset", "garbagecollector"});
  Json d = AppsWorkload("Deployment", "web", 2);
  ASSERT_TRUE(h.c().Create(client::kDeployments, "default", d).ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return h.LivePods("default", "app=web").size() == 2; }));
  client::DeleteOptions opts;
  opts.propagation_policy = "Background";
  ASSERT_TRUE(h.c().Delete(client::kDeployments, "default", "web", opts).ok());
  EXPECT_TRUE(Harness::WaitFor([&] {
    return h.List(client::kReplicaSets, "default").empty() && h.List(client::kPods, "default").empty();
  }));
}

TEST(GarbageCollectorTest, CascadeOrphanLeavesReplicaSetsAndPods) {
  Harness h({"deployment", "replicaset", "garbagecollector"});
  Json d = AppsWorkload("Deployment", "keep", 2);
  ASSERT_TRUE(h.c().Create(client::kDeployments, "default", d).ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return h.LivePods("default", "app=keep").size() == 2; }));
  client::DeleteOptions opts;
  opts.propagation_policy = "Orphan";
  ASSERT_TRUE(h.c().Delete(client::kDeployments, "default", "keep", opts).ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    auto g = h.c().Get(client::kDeployments, "default", "keep");
    if (g.ok()) return false;
    auto rss = h.List(client::kReplicaSets, "default", "app=keep");
    return rss.size() == 1 && !FindPath(rss[0], {"metadata", "ownerReferences"});
  }));
  EXPECT_EQ(h.LivePods("default", "app=keep").size(), 2u);
}

// Custom objects take part in both directions: a custom object owned by a ConfigMap, and a
// ConfigMap owned by a custom object (the CRD is created while the collector runs).
TEST(GarbageCollectorTest, CustomResourcesAsDependentsAndOwners) {
  Harness h({"garbagecollector"});
  const client::Resource gizmos = h.CreateSchemalessCrd("gc.example.com", "gizmos", "Gizmo");
  ASSERT_FALSE(::testing::Test::HasFailure());

  auto owner = h.c().Create(client::kConfigMaps, "default", ConfigMap("cm-owner"));
  ASSERT_TRUE(owner.ok());
  Json own = *owner;
  own["apiVersion"] = "v1";
  own["kind"] = "ConfigMap";
  Json dep = {{"apiVersion", "gc.example.com/v1"}, {"kind", "Gizmo"},
              {"metadata", {{"name", "owned"}, {"ownerReferences", Json::array({RefTo(own)})}}}};
  ASSERT_TRUE(h.c().Create(gizmos, "default", dep).ok());
  auto g = h.c().Create(gizmos, "default", Json{{"apiVersion", "gc.example.com/v1"}, {"kind", "Gizmo"}, {"metadata", {{"name", "boss"}}}});
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(h.c().Create(client::kConfigMaps, "default", ConfigMap("cm-of-gizmo", Json::array({RefTo(*g)}))).ok());

  // A live custom owner keeps its dependent.
  ASSERT_TRUE(h.c().Create(client::kConfigMaps, "default", ConfigMap("probe", Json::array({RefTo(own)}))).ok());
  client::DeleteOptions bg;
  bg.propagation_policy = "Background";
  ASSERT_TRUE(h.c().Delete(client::kConfigMaps, "default", "cm-owner", bg).ok());
  EXPECT_TRUE(Harness::WaitFor([&] {
    auto r = h.c().Get(gizmos, "default", "owned");
    return !r.ok() && r.status().code() == StatusCode::kNotFound && Gone(h, "probe");
  })) << h.Get(gizmos, "default", "owned").dump();
  EXPECT_FALSE(Gone(h, "cm-of-gizmo"));

  ASSERT_TRUE(h.c().Delete(gizmos, "default", "boss", bg).ok());
  EXPECT_TRUE(Harness::WaitFor([&] { return Gone(h, "cm-of-gizmo"); }));
}

}  // namespace
}  // namespace tug::controllers::garbagecollector
