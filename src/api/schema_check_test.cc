// Tests for NormalizeToSchema against the real built-in schema (Registry::Builtin) and a
// hand-built type.
#include <gtest/gtest.h>

#include "api/codec.h"

namespace tug::api {
namespace {

const Registry& Reg() {
  static std::shared_ptr<const Registry> reg = [] {
    auto r = Registry::Builtin();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : nullptr;
  }();
  return *reg;
}

const TypeDef& Kind(const char* api_version, const char* kind) {
  const ResourceDef* rd = Reg().ByApiVersionKind(api_version, kind);
  EXPECT_NE(rd, nullptr) << kind;
  return *rd->type;
}

// The body kubectl 1.31 sends for `create deployment web --image=nginx:1.25 --replicas=2`.
constexpr const char* kCreateDeployment =
    R"({"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","creationTimestamp":null,"labels":{"app":"web"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.25","resources":{}}]}},"strategy":{}},"status":{}})";

TEST(SchemaCheckTest, KubectlCreateDeploymentBody) {
  Json obj = Json::parse(kCreateDeployment);
  auto r = NormalizeToSchema(obj, Kind("apps/v1", "Deployment"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->unknown_fields.empty());
  EXPECT_FALSE(obj["metadata"].contains("creationTimestamp"));  // null == absent
  EXPECT_EQ(obj["spec"]["template"]["spec"]["containers"][0]["resources"], Json::object());
  EXPECT_EQ(obj["status"], Json::object());
  EXPECT_EQ(obj["apiVersion"], "apps/v1");
}

TEST(SchemaCheckTest, EmptyOmitEmptyMapsAndListsAreDropped) {
  // After `kubectl label cm x tier-` removes the last label, upstream stores no "labels" key.
  Json obj = Json::parse(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{},"finalizers":[]},"data":{}})");
  auto r = NormalizeToSchema(obj, Kind("v1", "ConfigMap"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(obj["metadata"].contains("labels"));
  EXPECT_FALSE(obj["metadata"].contains("finalizers"));
  EXPECT_FALSE(obj.contains("data"));
  // Structs are never dropped by omitempty: an empty securityContext stays {}.
  Json pod = Json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"securityContext":{},"containers":[{"name":"a","image":"b","resources":{}}]}})");
  ASSERT_TRUE(NormalizeToSchema(pod, Kind("v1", "Pod")).ok());
  EXPECT_EQ(pod["spec"]["securityContext"], Json::object());
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"], Json::object());
  // Zero values of omitempty non-pointer scalars vanish; pointer fields keep their zero.
  Json d = Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":0,"paused":false,"selector":{},"template":{"spec":{"hostNetwork":false,"containers":[]}}},"status":{"replicas":0,"readyReplicas":0}})");
  ASSERT_TRUE(NormalizeToSchema(d, Kind("apps/v1", "Deployment")).ok());
  EXPECT_EQ(d["spec"]["replicas"], 0);
  EXPECT_FALSE(d["spec"].contains("paused"));
  EXPECT_FALSE(d["spec"]["template"]["spec"].contains("hostNetwork"));
  EXPECT_EQ(d["status"], Json::object());
}

TEST(SchemaCheckTest, UnknownFieldsAreRemovedAndListed) {
  Json obj = Json::parse(kCreateDeployment);
  obj["spec"]["foo"] = 1;
  obj["spec"]["template"]["spec"]["containers"][0]["bar"] = {{"x", 1}};
  obj["metadata"]["nmae"] = "typo";
  auto r = NormalizeToSchema(obj, Kind("apps/v1", "Deployment"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string> want = {"metadata.nmae", "spec.foo", "spec.template.spec.containers[0].bar"};
  std::vector<std::string> got = r->unknown_fields;
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
  EXPECT_FALSE(obj["spec"].contains("foo"));
  EXPECT_FALSE(obj["spec"]["template"]["spec"]["containers"][0].contains("bar"));
}

TEST(SchemaCheckTest, InlinedMembersAreKnown) {
  // Volume.volumeSource and Probe.handler are Go-inlined: their members sit in the parent.
  Json pod = Json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{
      "volumes":[{"name":"d","emptyDir":{}}],
      "containers":[{"name":"c","image":"i","livenessProbe":{"httpGet":{"path":"/","port":"http"},"periodSeconds":3}}]}})");
  auto r = NormalizeToSchema(pod, Kind("v1", "Pod"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->unknown_fields.empty()) << ::testing::PrintToString(r->unknown_fields);
  EXPECT_EQ(pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"], "http");
}

struct TypeCase {
  const char* name;
  const char* api_version;
  const char* kind;
  const char* body;
  const char* error;  // substring; nullptr = accepted
};

TEST(SchemaCheckTest, Types) {
  const TypeCase cases[] = {
      {"ReplicasString", "apps/v1", "Deployment", R"({"spec":{"replicas":"3"}})",
       "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"},
      {"ReplicasTooBig", "apps/v1", "Deployment", R"({"spec":{"replicas":3000000000}})",
       "cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32"},
      {"ReplicasFraction", "apps/v1", "Deployment", R"({"spec":{"replicas":1.5}})", "cannot unmarshal number 1.5"},
      {"ReplicasIntegralFloat", "apps/v1", "Deployment", R"({"spec":{"replicas":2.0}})", nullptr},
      {"LabelsNotMap", "v1", "Pod", R"({"metadata":{"labels":["a"]}})", "cannot unmarshal array"},
      {"ContainersNotList", "v1", "Pod", R"({"spec":{"containers":{"name":"x"}}})",
       "Go struct field PodSpec.spec.containers of type []v1.Container"},
      {"ImageNumber", "v1", "Pod", R"({"spec":{"containers":[{"name":"c","image":5}]}})",
       "Go struct field Container.spec.containers.image of type string"},
      {"BoolAsString", "v1", "Pod", R"({"spec":{"hostNetwork":"true"}})", "of type bool"},
      {"TargetPortInt", "v1", "Service", R"({"spec":{"ports":[{"port":80,"targetPort":8080}]}})", nullptr},
      {"TargetPortName", "v1", "Service", R"({"spec":{"ports":[{"port":80,"targetPort":"http"}]}})", nullptr},
      {"TargetPortBool", "v1", "Service", R"({"spec":{"ports":[{"port":80,"targetPort":true}]}})", "cannot unmarshal bool"},
      {"QuantityNumber", "v1", "Pod", R"({"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":0.5,"memory":128}}}]}})",
       nullptr},
      {"QuantityBad", "v1", "Pod", R"({"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"lots"}}}]}})",
       "quantities must match"},
      {"TimeBad", "v1", "Pod", R"({"metadata":{"creationTimestamp":"yesterday"}})", "parsing time"},
      {"TimeGood", "v1", "Pod", R"({"metadata":{"creationTimestamp":"2024-01-01T01:02:03+01:00"}})", nullptr},
      {"NullEverywhere", "v1", "Pod", R"({"metadata":null,"spec":{"containers":null,"nodeSelector":{"a":null}}})", nullptr},
      {"TopLevelArray", "v1", "Pod", R"([1])", "into Go value of type v1.Pod"},
      {"SecretDataNotBase64", "v1", "Secret", R"({"data":{"k":"!!"}})", "base64"},
      {"SecretDataBase64", "v1", "Secret", R"({"data":{"k":"aGk="}})", nullptr},
      {"KindNotString", "v1", "Pod", R"({"kind":1})", "cannot unmarshal number"},
  };
  for (const auto& c : cases) {
    Json obj = Json::parse(c.body);
    auto r = NormalizeToSchema(obj, Kind(c.api_version, c.kind));
    if (c.error == nullptr) {
      EXPECT_TRUE(r.ok()) << c.name << ": " << r.status().ToString();
    } else {
      ASSERT_FALSE(r.ok()) << c.name;
      EXPECT_EQ(r.status().code(), StatusCode::kBadRequest) << c.name;
      EXPECT_NE(r.status().message().find(c.error), std::string::npos) << c.name << ": " << r.status().message();
    }
  }
}

TEST(SchemaCheckTest, Normalizes) {
  Json pod = Json::parse(R"({"metadata":{"creationTimestamp":"2024-01-01T01:02:03.5+01:00","labels":{"a":null}},
      "spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":0.5,"memory":128},"requests":{"memory":1e3}}}],"terminationGracePeriodSeconds":30.0}})");
  auto r = NormalizeToSchema(pod, Kind("v1", "Pod"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(pod["metadata"]["creationTimestamp"], "2024-01-01T00:02:03Z");
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"]["limits"]["cpu"], "0.5");
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"]["limits"]["memory"], "128");
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"]["requests"]["memory"], "1000");
  EXPECT_TRUE(pod["spec"]["terminationGracePeriodSeconds"].is_number_integer());
  EXPECT_EQ(pod["metadata"]["labels"]["a"], "");  // a null map value is the zero value
}

TEST(SchemaCheckTest, JsonSubtreesAreVerbatim) {
  Json cm = Json::parse(R"({"metadata":{"managedFields":[{"manager":"kubectl","operation":"Apply",
      "fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:k":{}},"weird":[1,null]}}]}})");
  Json before = cm["metadata"]["managedFields"][0]["fieldsV1"];
  auto r = NormalizeToSchema(cm, Kind("v1", "ConfigMap"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->unknown_fields.empty());
  EXPECT_EQ(cm["metadata"]["managedFields"][0]["fieldsV1"], before);
}

TEST(SchemaCheckTest, DurationsAndHandBuiltTypes) {
  TypeDef t;
  t.name = "io.example.v1.Thing";
  FieldDef d;
  d.name = "timeout";
  d.kind = Kind::kDuration;
  FieldDef mt;
  mt.name = "at";
  mt.kind = Kind::kMicroTime;
  t.fields = {d, mt};
  Json obj = {{"timeout", "90m"}, {"at", "2024-05-06T07:08:09.123456789Z"}};
  auto r = NormalizeToSchema(obj, t);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(obj["timeout"], "1h30m0s");
  EXPECT_EQ(obj["at"], "2024-05-06T07:08:09.123456Z");
  Json bad = {{"timeout", "soon"}};
  EXPECT_FALSE(NormalizeToSchema(bad, t).ok());
}

}  // namespace
}  // namespace tug::api
