// Tests for the OpenAPI v3 documents: the properties kubectl relies on (kubectl-wire.md §4).
#include "api/openapi.h"

#include <cstdio>
#include <map>
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

namespace tug::api {
namespace {

// A tiny protobuf reader for checking the v2 encoding: the length-delimited fields of one
// message, by field number.
std::multimap<int, std::string> ProtoFields(std::string_view msg) {
  std::multimap<int, std::string> out;
  size_t i = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    int shift = 0;
    while (i < msg.size()) {
      uint8_t b = static_cast<uint8_t>(msg[i++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) break;
      shift += 7;
    }
    return v;
  };
  while (i < msg.size()) {
    uint64_t key = varint();
    int field = static_cast<int>(key >> 3);
    int wire = static_cast<int>(key & 7);
    if (wire == 0) {
      out.emplace(field, std::to_string(varint()));
    } else if (wire == 2) {
      uint64_t len = varint();
      EXPECT_LE(i + len, msg.size());
      out.emplace(field, std::string(msg.substr(i, len)));
      i += len;
    } else {
      ADD_FAILURE() << "unexpected wire type " << wire;
      break;
    }
  }
  return out;
}

std::string One(const std::multimap<int, std::string>& m, int field) {
  auto it = m.find(field);
  return it == m.end() ? "" : it->second;
}

TEST(OpenApiV2Test, JsonDocument) {
  auto reg = Registry::Builtin();
  ASSERT_TRUE(reg.ok());
  OpenApiV2 v2 = BuildOpenApiV2(**reg);
  auto doc = ParseJson(v2.json);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["swagger"], "2.0");
  const Json& patch = (*doc)["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
  bool field_validation = false;
  for (const Json& p : patch["parameters"]) {
    if (p["name"] == "fieldValidation" && p["in"] == "query" && p["type"] == "string") field_validation = true;
  }
  EXPECT_TRUE(field_validation);
  EXPECT_NE(std::find(patch["consumes"].begin(), patch["consumes"].end(),
                      "application/strategic-merge-patch+json"),
            patch["consumes"].end());
  const Json& defs = (*doc)["definitions"];
  EXPECT_EQ(defs["io.k8s.api.core.v1.Pod"]["properties"]["spec"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.PodSpec");
  EXPECT_EQ(defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["x-kubernetes-patch-merge-key"],
            "name");
  // DeleteOptions collects the group-version-kinds of every document.
  EXPECT_GT(defs["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]["x-kubernetes-group-version-kind"].size(),
            10u);
  EXPECT_EQ(v2.json.find("#/components/schemas/"), std::string::npos);
  EXPECT_FALSE(v2.hash.empty());
}

TEST(OpenApiV2Test, ProtobufDocument) {
  auto reg = Registry::Builtin();
  ASSERT_TRUE(reg.ok());
  OpenApiV2 v2 = BuildOpenApiV2(**reg);
  auto doc = ProtoFields(v2.proto);
  EXPECT_EQ(One(doc, 1), "2.0");
  auto paths = ProtoFields(One(doc, 8));
  bool found = false;
  for (auto [it, end] = paths.equal_range(2); it != end; ++it) {
    auto named = ProtoFields(it->second);
    if (One(named, 1) != "/apis/apps/v1/namespaces/{namespace}/deployments/{name}") continue;
    found = true;
    auto item = ProtoFields(One(named, 2));
    auto patch = ProtoFields(One(item, 8));
    ASSERT_FALSE(patch.empty());
    bool gvk = false;
    for (auto [e, eend] = patch.equal_range(13); e != eend; ++e) {
      auto ext = ProtoFields(e->second);
      if (One(ext, 1) == "x-kubernetes-group-version-kind") {
        gvk = One(ProtoFields(One(ext, 2)), 2).find("\"kind\":\"Deployment\"") != std::string::npos;
      }
    }
    EXPECT_TRUE(gvk);
    bool field_validation = false;
    for (auto [p, pend] = patch.equal_range(8); p != pend; ++p) {
      auto param = ProtoFields(One(ProtoFields(p->second), 1));
      auto non_body = ProtoFields(One(param, 2));
      auto query = ProtoFields(One(non_body, 3));
      if (One(query, 4) == "fieldValidation") field_validation = true;
    }
    EXPECT_TRUE(field_validation);
  }
  EXPECT_TRUE(found);
  auto defs = ProtoFields(One(doc, 9));
  bool pod = false;
  for (auto [it, end] = defs.equal_range(1); it != end; ++it) {
    auto named = ProtoFields(it->second);
    if (One(named, 1) != "io.k8s.api.core.v1.Pod") continue;
    pod = true;
    auto schema = ProtoFields(One(named, 2));
    EXPECT_EQ(One(ProtoFields(One(schema, 22)), 1), "object");
    EXPECT_FALSE(One(schema, 25).empty());  // properties
  }
  EXPECT_TRUE(pod);
}

}  // namespace
}  // namespace tug::api
