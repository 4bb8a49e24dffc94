// Tests for the discovery documents built from the built-in registry (kubectl-wire.md §1).
#include "api/discovery.h"

#include <gtest/gtest.h>

namespace tug::api {
namespace {

std::shared_ptr<const Registry> Reg() {
  auto reg = Registry::Builtin();
  EXPECT_TRUE(reg.ok());
  return *reg;
}

const Json* FindByKey(const Json& arr, std::string_view key, std::string_view value) {
  for (const Json& e : arr) {
    if (GetString(e, key) == value) return &e;
  }
  return nullptr;
}

TEST(DiscoveryTest, LegacyApiVersions) {
  Json j = LegacyApiVersions("10.0.0.1:6443");
  EXPECT_EQ(j["kind"], "APIVersions");
  EXPECT_EQ(j["versions"], Json::array({"v1"}));
  EXPECT_EQ(j["serverAddressByClientCIDRs"][0]["serverAddress"], "10.0.0.1:6443");
}

TEST(DiscoveryTest, ApiGroupList) {
  Json j = ApiGroupList(*Reg());
  EXPECT_EQ(j["kind"], "APIGroupList");
  EXPECT_EQ(j["apiVersion"], "v1");
  EXPECT_EQ(FindByKey(j["groups"], "name", ""), nullptr);  // core lives under /api
  const Json* apps = FindByKey(j["groups"], "name", "apps");
  ASSERT_NE(apps, nullptr);
  EXPECT_EQ((*apps)["preferredVersion"]["groupVersion"], "apps/v1");
  const Json* as = FindByKey(j["groups"], "name", "autoscaling");
  ASSERT_NE(as, nullptr);
  EXPECT_EQ((*as)["preferredVersion"]["version"], "v2");
  ASSERT_EQ((*as)["versions"].size(), 2u);
  EXPECT_EQ((*as)["versions"][1]["groupVersion"], "autoscaling/v1");
  EXPECT_EQ(j["groups"][0]["name"], "apps");  // upstream order, apps first among ours
}

TEST(DiscoveryTest, ApiResourceListApps) {
  auto res = ApiResourceList(*Reg(), "apps", "v1");
  ASSERT_TRUE(res.ok());
  const Json& j = *res;
  EXPECT_EQ(j["kind"], "APIResourceList");
  EXPECT_EQ(j["groupVersion"], "apps/v1");
  const Json* d = FindByKey(j["resources"], "name", "deployments");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ((*d)["singularName"], "deployment");
  EXPECT_EQ((*d)["namespaced"], true);
  EXPECT_EQ((*d)["kind"], "Deployment");
  EXPECT_EQ((*d)["shortNames"], Json::array({"deploy"}));
  EXPECT_EQ((*d)["categories"], Json::array({"all"}));
  EXPECT_FALSE(d->contains("group"));
  const Json* scale = FindByKey(j["resources"], "name", "deployments/scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ((*scale)["kind"], "Scale");
  EXPECT_EQ((*scale)["group"], "autoscaling");
  EXPECT_EQ((*scale)["version"], "v1");
  EXPECT_EQ((*scale)["verbs"], Json::array({"get", "patch", "update"}));
  const Json* status = FindByKey(j["resources"], "name", "deployments/status");
  ASSERT_NE(status, nullptr);
  EXPECT_FALSE(status->contains("group"));  // same group-version: omitted
  // Sorted by name.
  std::string prev;
  for (const Json& r : j["resources"]) {
    EXPECT_LT(prev, r["name"].get<std::string>());
    prev = r["name"];
  }
}

TEST(DiscoveryTest, ApiResourceListCore) {
  auto res = ApiResourceList(*Reg(), "", "v1");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ((*res)["groupVersion"], "v1");
  const Json* eviction = FindByKey((*res)["resources"], "name", "pods/eviction");
  ASSERT_NE(eviction, nullptr);
  EXPECT_EQ((*eviction)["group"], "policy");
  EXPECT_EQ((*eviction)["kind"], "Eviction");
  const Json* ns = FindByKey((*res)["resources"], "name", "namespaces");
  ASSERT_NE(ns, nullptr);
  EXPECT_EQ((*ns)["namespaced"], false);
  for (const char* name : {"pods/log", "pods/exec", "pods/portforward", "pods/attach",
                           "pods/binding", "pods/proxy", "services/proxy", "nodes/proxy",
                           "serviceaccounts/token", "namespaces/finalize", "bindings",
                           "componentstatuses", "replicationcontrollers/scale"}) {
    EXPECT_NE(FindByKey((*res)["resources"], "name", name), nullptr) << name;
  }
}

TEST(DiscoveryTest, ApiResourceListUnknown) {
  struct Case {
    const char* group;
    const char* version;
  };
  for (const Case& c : {Case{"apps", "v2"}, Case{"nosuch.io", "v1"}, Case{"", "v2"}}) {
    auto res = ApiResourceList(*Reg(), c.group, c.version);
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.status().code(), StatusCode::kNotFound);
  }
}

TEST(DiscoveryTest, AggregatedCore) {
  for (const char* version : {"v2", "v2beta1"}) {
    SCOPED_TRACE(version);
    Json j = AggregatedDiscovery(*Reg(), true, version);
    EXPECT_EQ(j["kind"], "APIGroupDiscoveryList");
    EXPECT_EQ(j["apiVersion"], std::string("apidiscovery.k8s.io/") + version);
    ASSERT_EQ(j["items"].size(), 1u);
    const Json& core = j["items"][0];
    EXPECT_FALSE(core["metadata"].contains("name"));
    ASSERT_EQ(core["versions"].size(), 1u);
    EXPECT_EQ(core["versions"][0]["version"], "v1");
    EXPECT_EQ(core["versions"][0]["freshness"], "Current");
    const Json* pods = FindByKey(core["versions"][0]["resources"], "resource", "pods");
    ASSERT_NE(pods, nullptr);
    EXPECT_EQ((*pods)["scope"], "Namespaced");
    EXPECT_EQ((*pods)["singularResource"], "pod");
    EXPECT_EQ((*pods)["responseKind"], (Json{{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}));
    EXPECT_EQ((*pods)["shortNames"], Json::array({"po"}));
    EXPECT_EQ((*pods)["categories"], Json::array({"all"}));
    const Json* ev = FindByKey((*pods)["subresources"], "subresource", "eviction");
    ASSERT_NE(ev, nullptr);
    EXPECT_EQ((*ev)["responseKind"]["group"], "policy");
    EXPECT_EQ((*ev)["verbs"], Json::array({"create"}));
    const Json* nodes = FindByKey(core["versions"][0]["resources"], "resource", "nodes");
    ASSERT_NE(nodes, nullptr);
    EXPECT_EQ((*nodes)["scope"], "Cluster");
  }
}

TEST(DiscoveryTest, AggregatedGroups) {
  Json j = AggregatedDiscovery(*Reg(), false, "v2");
  const Json* apps = nullptr;
  const Json* autoscaling = nullptr;
  for (const Json& item : j["items"]) {
    ASSERT_TRUE(item["metadata"].contains("name"));
    if (item["metadata"]["name"] == "apps") apps = &item;
    if (item["metadata"]["name"] == "autoscaling") autoscaling = &item;
  }
  ASSERT_NE(apps, nullptr);
  ASSERT_NE(autoscaling, nullptr);
  EXPECT_EQ((*autoscaling)["versions"][0]["version"], "v2");  // preferred first
  const Json* deploy = FindByKey((*apps)["versions"][0]["resources"], "resource", "deployments");
  ASSERT_NE(deploy, nullptr);
  const Json* scale = FindByKey((*deploy)["subresources"], "subresource", "scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ((*scale)["responseKind"],
            (Json{{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}}));
  EXPECT_EQ((*scale)["verbs"], Json::array({"get", "patch", "update"}));
  // Every "all" resource kubectl expands in `get all` is listable.
  size_t all = 0;
  for (const Json& item : j["items"]) {
    for (const Json& v : item["versions"]) {
      for (const Json& r : v["resources"]) {
        if (r.contains("categories") && r["categories"].front() == "all") {
          ++all;
          EXPECT_NE(std::find(r["verbs"].begin(), r["verbs"].end(), "list"), r["verbs"].end());
        }
      }
    }
  }
  // 4 apps/v1 + 2 apps/v1beta1 + 4 apps/v1beta2 + 2 batch/v1 + batch/v1beta1 CronJob + hpa in
  // autoscaling v2 and v1 (core ones are under /api; extensions/v1beta1 is in no category).
  EXPECT_EQ(all, 15u);
}

}  // namespace
}  // namespace tug::api
