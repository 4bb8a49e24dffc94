#include "controllers/namespace/namespace.h"

#include <gtest/gtest.h>

#include "controllers/testing/harness.h"

namespace tug::controllers::namespaces {
namespace {

using testing::Harness;

bool NamespaceGone(const Harness& h, const std::string& name) {
  auto r = h.c().Get(client::kNamespaces, "", name);
  return !r.ok() && r.status().code() == StatusCode::kNotFound;
}

void Populate(Harness& h, const std::string& ns) {
  ASSERT_TRUE(h.c().Create(client::kNamespaces, "", Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}).ok());
  ASSERT_TRUE(h.c().Create(client::kConfigMaps, ns, Json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "cm"}}}}).ok());
  ASSERT_TRUE(h.c().Create(client::kSecrets, ns, Json{{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", "s"}}}}).ok());
  Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}}},
              {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", "busybox"}}})}}}};
  ASSERT_TRUE(h.c().Create(client::kPods, ns, pod).ok());
}

TEST(NamespaceControllerTest, DeletionEmptiesAndRemovesTheNamespace) {
  Harness h({"namespace"});
  Populate(h, "t1");
  ASSERT_TRUE(h.c().Delete(client::kNamespaces, "", "t1").ok());
  EXPECT_TRUE(Harness::WaitFor([&] { return NamespaceGone(h, "t1"); }));
  EXPECT_TRUE(h.List(client::kConfigMaps, "t1").empty());
  EXPECT_TRUE(h.List(client::kPods, "t1").empty());
  EXPECT_TRUE(h.List(client::kSecrets, "t1").empty());
}

TEST(NamespaceControllerTest, ConditionsWhileContentWithFinalizersRemains) {
  Harness h({"namespace"});
  Populate(h, "t2");
  ASSERT_TRUE(h.c().Patch(client::kConfigMaps, "t2", "cm", client::PatchType::kMerge,
                          R"({"metadata":{"finalizers":["test.tug.dev/hold"]}})").ok());
  ASSERT_TRUE(h.c().Delete(client::kNamespaces, "", "t2").ok());
  auto cond = [&](const std::string& type) -> Json {
    Json ns = h.Get(client::kNamespaces, "", "t2");
    const Json* c = framework::FindCondition(ns, type);
    return c ? *c : Json();
  };
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json r = cond("NamespaceContentRemaining"), f = cond("NamespaceFinalizersRemaining");
    return GetString(r, "status") == "True" && GetString(f, "status") == "True";
  })) << h.Get(client::kNamespaces, "", "t2").dump();
  EXPECT_EQ(GetString(cond("NamespaceContentRemaining"), "reason"), "SomeResourcesRemain");
  EXPECT_EQ(GetString(cond("NamespaceContentRemaining"), "message"),
            "Some resources are remaining: configmaps. has 1 resource instances");
  EXPECT_EQ(GetString(cond("NamespaceFinalizersRemaining"), "message"),
            "Some content in the namespace has finalizers remaining: test.tug.dev/hold in 1 resource instances");
  EXPECT_EQ(GetString(cond("NamespaceDeletionDiscoveryFailure"), "reason"), "ResourcesDiscovered");
  EXPECT_EQ(GetString(cond("NamespaceDeletionContentFailure"), "reason"), "ContentDeleted");
  Json ns = h.Get(client::kNamespaces, "", "t2");
  EXPECT_EQ(GetStringPath(ns, {"status", "phase"}), "Terminating");
  ASSERT_TRUE(h.c().Patch(client::kConfigMaps, "t2", "cm", client::PatchType::kMerge, R"({"metadata":{"finalizers":null}})").ok());
  EXPECT_TRUE(Harness::WaitFor([&] { return NamespaceGone(h, "t2"); }));
}

// Custom objects are found through discovery: the CRD is created after the controller started.
TEST(NamespaceControllerTest, DeletionRemovesCustomObjects) {
  Harness h({"namespace"});
  const client::Resource things = h.CreateSchemalessCrd("ns.example.com", "things", "Thing");
  ASSERT_FALSE(::testing::Test::HasFailure());
  Populate(h, "t3");
  Json thing = {{"apiVersion", "ns.example.com/v1"}, {"kind", "Thing"}, {"metadata", {{"name", "x"}}}};
  ASSERT_TRUE(h.c().Create(things, "t3", thing).ok());
  thing["metadata"]["finalizers"] = Json::array({"test.tug.dev/hold"});
  thing["metadata"]["name"] = "held";
  ASSERT_TRUE(h.c().Create(things, "t3", thing).ok());
  ASSERT_TRUE(h.c().Delete(client::kNamespaces, "", "t3").ok());
  // The held object is marked deleted and reported; the other one is gone.
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json ns = h.Get(client::kNamespaces, "", "t3");
    const Json* c = framework::FindCondition(ns, "NamespaceContentRemaining");
    return c && GetString(*c, "message") == "Some resources are remaining: things.ns.example.com has 1 resource instances";
  })) << h.Get(client::kNamespaces, "", "t3").dump();
  EXPECT_TRUE(h.List(things, "t3").size() == 1);
  ASSERT_TRUE(h.c().Patch(things, "t3", "held", client::PatchType::kMerge, R"({"metadata":{"finalizers":null}})").ok());
  EXPECT_TRUE(Harness::WaitFor([&] { return NamespaceGone(h, "t3"); }));
  EXPECT_TRUE(h.List(things, "t3").empty());
}

}  // namespace
}  // namespace tug::controllers::namespaces
