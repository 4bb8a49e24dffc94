// Tests for the OpenAPI v3 documents: the properties kubectl relies on (kubectl-wire.md §4).
#include "api/openapi.h"

#include <cstdio>
#include <ctime>

#include <gtest/gtest.h>

namespace tug::api {
namespace {

const OpenApiV3& Docs() {
  static const OpenApiV3 docs = [] {
    auto reg = Registry::Builtin();
    EXPECT_TRUE(reg.ok());
    return BuildOpenApiV3(**reg);
  }();
  return docs;
}

Json Doc(const std::string& key) {
  auto it = Docs().documents.find(key);
  EXPECT_NE(it, Docs().documents.end()) << key;
  if (it == Docs().documents.end()) return Json();
  auto j = ParseJson(it->second);
  EXPECT_TRUE(j.ok());
  return *j;
}

bool HasParam(const Json& op, std::string_view name) {
  for (const Json& p : op["parameters"]) {
    if (p["name"] == name) return true;
  }
  return false;
}

TEST(OpenApiTest, IndexListsEveryGroupVersion) {
  auto index = ParseJson(Docs().index);
  ASSERT_TRUE(index.ok());
  for (const char* key : {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/autoscaling/v2",
                          "apis/autoscaling/v1", "apis/networking.k8s.io/v1", "apis/policy/v1",
                          "apis/rbac.authorization.k8s.io/v1", "apis/storage.k8s.io/v1",
                          "apis/authorization.k8s.io/v1", "apis/authentication.k8s.io/v1"}) {
    SCOPED_TRACE(key);
    const Json* p = FindPath(*index, {"paths", key, "serverRelativeURL"});
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(Docs().hashes.count(key));
    EXPECT_EQ(p->get<std::string>(),
              std::string("/openapi/v3/") + key + "?hash=" + Docs().hashes.at(key));
    EXPECT_TRUE(Docs().documents.count(key));
  }
  EXPECT_EQ((*index)["paths"].size(), Docs().documents.size());
}

TEST(OpenApiTest, BuildCost) {
  // Reported, not asserted (DESIGN §8): CPU time of building every document.
  auto reg = Registry::Builtin();
  ASSERT_TRUE(reg.ok());
  auto cpu_us = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  };
  long long start = cpu_us();
  OpenApiV3 docs = BuildOpenApiV3(**reg);
  size_t bytes = 0;
  for (const auto& [k, d] : docs.documents) bytes += d.size();
  std::printf("openapi v3: %zu documents, %zu bytes, %lld us CPU\n", docs.documents.size(), bytes,
              cpu_us() - start);
  EXPECT_GT(bytes, 0u);
}

TEST(OpenApiTest, Deterministic) {
  auto reg = Registry::Builtin();
  ASSERT_TRUE(reg.ok());
  OpenApiV3 again = BuildOpenApiV3(**reg);
  EXPECT_EQ(again.index, Docs().index);
  EXPECT_EQ(again.hashes, Docs().hashes);
  EXPECT_EQ(again.documents, Docs().documents);
  // Different documents hash differently.
  EXPECT_NE(Docs().hashes.at("api/v1"), Docs().hashes.at("apis/apps/v1"));
}

TEST(OpenApiTest, PatchOperationForApply) {
  struct Case {
    const char* doc;
    const char* path;
    const char* group;
    const char* kind;
  };
  const Case cases[] = {
      {"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "apps",
       "Deployment"},
      {"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "", "Pod"},
      {"api/v1", "/api/v1/namespaces/{name}", "", "Namespace"},
      {"api/v1", "/api/v1/nodes/{name}", "", "Node"},
      {"apis/networking.k8s.io/v1", "/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}",
       "networking.k8s.io", "Ingress"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    Json doc = Doc(c.doc);
    EXPECT_EQ(doc["openapi"], "3.0.0");
    const Json* op = FindPath(doc, {"paths", c.path, "patch"});
    ASSERT_NE(op, nullptr);
    EXPECT_EQ((*op)["x-kubernetes-group-version-kind"],
              (Json{{"group", c.group}, {"kind", c.kind}, {"version", "v1"}}));
    for (const char* p : {"fieldValidation", "dryRun", "fieldManager", "force"}) {
      EXPECT_TRUE(HasParam(*op, p)) << p;
    }
    const Json& content = (*op)["requestBody"]["content"];
    for (const char* mt : {"application/json-patch+json", "application/merge-patch+json",
                           "application/strategic-merge-patch+json", "application/apply-patch+yaml"}) {
      EXPECT_TRUE(content.contains(mt)) << mt;
    }
  }
}

TEST(OpenApiTest, ResourcePaths) {
  Json doc = Doc("apis/apps/v1");
  const Json& paths = doc["paths"];
  EXPECT_TRUE(paths["/apis/apps/v1/namespaces/{namespace}/deployments"].contains("get"));
  EXPECT_TRUE(paths["/apis/apps/v1/namespaces/{namespace}/deployments"].contains("post"));
  EXPECT_TRUE(paths["/apis/apps/v1/namespaces/{namespace}/deployments"].contains("delete"));
  EXPECT_TRUE(paths["/apis/apps/v1/deployments"].contains("get"));  // all namespaces
  const Json& item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
  for (const char* m : {"get", "put", "patch", "delete"}) EXPECT_TRUE(item.contains(m)) << m;
  const Json& scale = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
  EXPECT_EQ(scale["patch"]["x-kubernetes-group-version-kind"]["kind"], "Scale");
  EXPECT_TRUE(doc["components"]["schemas"].contains("io.k8s.api.autoscaling.v1.Scale"));
  EXPECT_TRUE(paths.contains("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"));
  Json core = Doc("api/v1");
  // Cluster-scoped resources have no namespace segment; namespaces cannot deletecollection.
  EXPECT_TRUE(core["paths"].contains("/api/v1/nodes"));
  EXPECT_FALSE(core["paths"]["/api/v1/namespaces"].contains("delete"));
  EXPECT_TRUE(core["paths"].contains("/api/v1/namespaces/{namespace}/pods/{name}/eviction"));
  Json authz = Doc("apis/authorization.k8s.io/v1");
  EXPECT_TRUE(authz["paths"]["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"].contains("post"));
}

TEST(OpenApiTest, SchemasForExplainAndMerge) {
  Json doc = Doc("api/v1");
  const Json& schemas = doc["components"]["schemas"];
  const Json& pod = schemas["io.k8s.api.core.v1.Pod"];
  EXPECT_EQ(pod["x-kubernetes-group-version-kind"],
            Json::array({{{"group", ""}, {"kind", "Pod"}, {"version", "v1"}}}));
  EXPECT_FALSE(pod["description"].get<std::string>().empty());
  EXPECT_EQ(pod["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.PodSpec");
  const Json& spec = schemas["io.k8s.api.core.v1.PodSpec"];
  EXPECT_EQ(spec["required"], Json::array({"containers"}));
  struct Merge {
    const char* type;
    const char* field;
    const char* key;
  };
  for (const Merge& m : {Merge{"io.k8s.api.core.v1.PodSpec", "containers", "name"},
                         Merge{"io.k8s.api.core.v1.PodSpec", "volumes", "name"},
                         Merge{"io.k8s.api.core.v1.Container", "ports", "containerPort"},
                         Merge{"io.k8s.api.core.v1.Container", "env", "name"}}) {
    SCOPED_TRACE(m.field);
    const Json& f = schemas[m.type]["properties"][m.field];
    EXPECT_EQ(f["type"], "array");
    EXPECT_EQ(f["x-kubernetes-patch-merge-key"], m.key);
    EXPECT_NE(f["x-kubernetes-patch-strategy"].get<std::string>().find("merge"), std::string::npos);
    EXPECT_EQ(f["x-kubernetes-list-type"], "map");
  }
  EXPECT_EQ(schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["nodeSelector"]["x-kubernetes-map-type"],
            "atomic");
  EXPECT_EQ(schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"]["x-kubernetes-list-map-keys"],
            Json::array({"containerPort", "protocol"}));
  // Inlined members are flattened: Volume has configMap, not volumeSource.
  const Json& volume = schemas["io.k8s.api.core.v1.Volume"]["properties"];
  EXPECT_TRUE(volume.contains("configMap"));
  EXPECT_FALSE(volume.contains("volumeSource"));
  // IntOrString and enums.
  EXPECT_EQ(schemas["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString");
  EXPECT_EQ(schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["x-kubernetes-int-or-string"], true);
  EXPECT_EQ(schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["restartPolicy"]["enum"],
            Json::array({"Always", "Never", "OnFailure"}));
  // Referenced meta types are present, and DeleteOptions lists its group-version.
  EXPECT_TRUE(schemas.contains("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
  EXPECT_TRUE(schemas.contains("io.k8s.apimachinery.pkg.apis.meta.v1.Time"));
  EXPECT_EQ(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]["x-kubernetes-group-version-kind"][0]["kind"],
            "DeleteOptions");
  // Every $ref in every document resolves within that document.
  for (const auto& [key, text] : Docs().documents) {
    SCOPED_TRACE(key);
    auto d = ParseJson(text);
    ASSERT_TRUE(d.ok());
    const Json& s = (*d)["components"]["schemas"];
    std::vector<const Json*> stack{&*d};
    size_t refs = 0;
    while (!stack.empty()) {
      const Json* j = stack.back();
      stack.pop_back();
      if (j->is_object()) {
        for (auto it = j->begin(); it != j->end(); ++it) {
          if (it.key() == "$ref") {
            ++refs;
            std::string ref = it.value();
            ASSERT_EQ(ref.rfind("#/components/schemas/", 0), 0u);
            EXPECT_TRUE(s.contains(ref.substr(21))) << ref;
          } else {
            stack.push_back(&it.value());
          }
        }
      } else if (j->is_array()) {
        for (const Json& e : *j) stack.push_back(&e);
      }
    }
    EXPECT_GT(refs, 0u);
  }
}

}  // namespace
}  // namespace tug::api
