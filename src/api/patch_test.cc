// Tests for JSON patch, merge patch and strategic merge patch, with the patches kubectl sends.
#include <gtest/gtest.h>

#include "api/patch.h"

namespace tug::api {
namespace {

Json J(const char* s) { return Json::parse(s); }

FieldDef Str(const char* name) {
  FieldDef f;
  f.name = name;
  return f;
}
FieldDef Int(const char* name) {
  FieldDef f;
  f.name = name;
  f.kind = Kind::kInt32;
  return f;
}
FieldDef Obj(const char* name, const TypeDef* t) {
  FieldDef f;
  f.name = name;
  f.kind = Kind::kObject;
  f.type = t;
  return f;
}
FieldDef List(FieldDef f, const char* strategy = "", const char* key = "") {
  f.container = Container::kList;
  f.patch_strategy = strategy;
  f.patch_merge_key = key;
  return f;
}
FieldDef Map(FieldDef f) {
  f.container = Container::kMap;
  return f;
}

// A hand-built slice of the Deployment schema with the patch metadata upstream declares.
struct Schema {
  TypeDef port, container, host_path, empty_dir, volume, pod_spec, meta, template_, spec, deployment;
  Schema() {
    port.name = "io.k8s.api.core.v1.ContainerPort";
    port.fields = {Str("name"), Int("containerPort"), Str("protocol")};
    container.name = "io.k8s.api.core.v1.Container";
    container.fields = {Str("name"), Str("image"), List(Str("args")),
                        List(Obj("ports", &port), "merge", "containerPort"),
                        List(Obj("env", &port), "merge", "name")};
    host_path.name = "io.k8s.api.core.v1.HostPathVolumeSource";
    host_path.fields = {Str("path")};
    empty_dir.name = "io.k8s.api.core.v1.EmptyDirVolumeSource";
    empty_dir.fields = {Str("medium")};
    volume.name = "io.k8s.api.core.v1.Volume";
    volume.fields = {Str("name"), Obj("hostPath", &host_path), Obj("emptyDir", &empty_dir)};
    pod_spec.name = "io.k8s.api.core.v1.PodSpec";
    pod_spec.fields = {List(Obj("containers", &container), "merge", "name"),
                       List(Obj("volumes", &volume), "merge,retainKeys", "name"), Map(Str("nodeSelector")),
                       Str("restartPolicy")};
    meta.name = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
    meta.fields = {Str("name"), Map(Str("labels")), Map(Str("annotations")), List(Str("finalizers"), "merge")};
    template_.name = "io.k8s.api.core.v1.PodTemplateSpec";
    template_.fields = {Obj("metadata", &meta), Obj("spec", &pod_spec)};
    spec.name = "io.k8s.api.apps.v1.DeploymentSpec";
    FieldDef paused = Str("paused");
    paused.kind = Kind::kBool;
    spec.fields = {Int("replicas"), Obj("template", &template_), paused};
    deployment.name = "io.k8s.api.apps.v1.Deployment";
    deployment.fields = {Obj("metadata", &meta), Obj("spec", &spec)};
  }
};

const Schema& S() {
  static const Schema* s = new Schema();
  return *s;
}

const char* kDeploy = R"({
  "apiVersion":"apps/v1","kind":"Deployment",
  "metadata":{"name":"app","labels":{"app":"app"},"finalizers":["a","b"],
              "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"old"}},
  "spec":{"replicas":1,"template":{"metadata":{"labels":{"app":"app"}},
    "spec":{"containers":[{"name":"main","image":"nginx:1.25","args":["-a"],
                           "ports":[{"containerPort":80,"protocol":"TCP"}]},
                          {"name":"side","image":"busybox"}],
            "volumes":[{"name":"data","hostPath":{"path":"/x"}}],
            "nodeSelector":{"disk":"ssd","zone":"a"}}}}})";

struct SmpCase {
  const char* name;
  const char* patch;
  const char* want;  // expected value of `at` in the result
  std::vector<std::string> at;
  bool typed = true;
};

class SmpTest : public ::testing::TestWithParam<SmpCase> {};

TEST_P(SmpTest, Applies) {
  const SmpCase& c = GetParam();
  auto r = ApplyStrategicMergePatch(J(kDeploy), J(c.patch), c.typed ? &S().deployment : nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Json* got = &*r;
  for (const auto& k : c.at) {
    if (got->is_array()) {
      size_t i = std::stoul(k);
      ASSERT_LT(i, got->size()) << got->dump();
      got = &(*got)[i];
      continue;
    }
    ASSERT_TRUE(got->is_object() && got->contains(k)) << "missing " << k << " in " << got->dump();
    got = &(*got)[k];
  }
  EXPECT_EQ(*got, J(c.want)) << got->dump();
}

INSTANTIATE_TEST_SUITE_P(
    Kubectl, SmpTest,
    ::testing::Values(
        SmpCase{"ApplyUpdateSetElementOrder",
                R"({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"new"}},
                    "spec":{"replicas":3,"template":{"spec":{"$setElementOrder/containers":[{"name":"main"},{"name":"side"}],
                    "containers":[{"image":"nginx:1.27","name":"main"}]}}}})",
                R"([{"name":"main","image":"nginx:1.27","args":["-a"],"ports":[{"containerPort":80,"protocol":"TCP"}]},
                    {"name":"side","image":"busybox"}])",
                {"spec", "template", "spec", "containers"}},
        SmpCase{"RolloutPause", R"({"spec":{"paused":true}})", "true", {"spec", "paused"}},
        SmpCase{"RolloutRestart",
                R"({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}}}}})",
                R"({"labels":{"app":"app"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}})",
                {"spec", "template", "metadata"}},
        SmpCase{"NullDeletesKey", R"({"spec":{"template":{"spec":{"nodeSelector":{"zone":null}}}}})",
                R"({"disk":"ssd"})", {"spec", "template", "spec", "nodeSelector"}},
        SmpCase{"NullForMissingKeyIsIgnored", R"({"spec":{"template":{"spec":{"newmap":{"a":null,"b":1}}}}})",
                R"({"b":1})", {"spec", "template", "spec", "newmap"}},
        SmpCase{"ReplaceList",
                R"({"spec":{"template":{"spec":{"containers":[{"$patch":"replace"},{"name":"only","image":"x"}]}}}})",
                R"([{"name":"only","image":"x"}])", {"spec", "template", "spec", "containers"}},
        SmpCase{"ReplaceMap", R"({"spec":{"template":{"spec":{"nodeSelector":{"$patch":"replace","new":"1"}}}}})",
                R"({"new":"1"})", {"spec", "template", "spec", "nodeSelector"}},
        SmpCase{"DeleteMap", R"({"spec":{"template":{"spec":{"nodeSelector":{"$patch":"delete"}}}}})", R"({})",
                {"spec", "template", "spec", "nodeSelector"}},
        SmpCase{"RetainKeysSwitchesVolumeSource",
                R"({"spec":{"template":{"spec":{"volumes":[{"name":"data","emptyDir":{},"$retainKeys":["emptyDir","name"]}]}}}})",
                R"([{"name":"data","emptyDir":{}}])", {"spec", "template", "spec", "volumes"}},
        SmpCase{"DeleteFromPrimitiveList", R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})", R"(["b"])",
                {"metadata", "finalizers"}},
        SmpCase{"PrimitiveMergeListUnion", R"({"metadata":{"finalizers":["c","a"]}})", R"(["c","a","b"])",
                {"metadata", "finalizers"}},
        SmpCase{"NonMergeListReplaced",
                R"({"spec":{"template":{"spec":{"containers":[{"name":"main","args":["-b"]}]}}}})", R"(["-b"])",
                {"spec", "template", "spec", "containers", "0", "args"}},
        SmpCase{"NestedMergeByContainerPort",
                R"({"spec":{"template":{"spec":{"containers":[{"name":"main","ports":[{"containerPort":80,"name":"http"},{"containerPort":443}]}]}}}})",
                R"([{"containerPort":80,"protocol":"TCP","name":"http"},{"containerPort":443}])",
                {"spec", "template", "spec", "containers", "0", "ports"}},
        SmpCase{"UntypedReplacesLists",
                R"({"spec":{"template":{"spec":{"containers":[{"name":"x"}]}}}})", R"([{"name":"x"}])",
                {"spec", "template", "spec", "containers"}, false},
        SmpCase{"UntypedHonoursDirectives", R"({"spec":{"template":{"spec":{"nodeSelector":{"$patch":"replace","n":"1"}}}}})",
                R"({"n":"1"})", {"spec", "template", "spec", "nodeSelector"}, false}),
    [](const ::testing::TestParamInfo<SmpCase>& i) { return std::string(i.param.name); });

// Cases whose expectation is the list of container names (`at` empty above): checked here.
TEST(SmpTest, ContainerOrderCases) {
  struct C {
    const char* patch;
    std::vector<std::string> names;
  } cases[] = {
      {R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"main"},{"name":"side"}],"containers":[{"image":"busybox:2","name":"side"}]}}}})",
       {"main", "side"}},
      {R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"side"},{"name":"main"}]}}}})",
       {"side", "main"}},
      {R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"init"},{"name":"main"},{"name":"side"}],"containers":[{"image":"x","name":"init"}]}}}})",
       {"init", "main", "side"}},
      // Without $setElementOrder, upstream puts patch items ahead of server-only items when
      // the live order says nothing about them (mergeSortedSlice).
      {R"({"spec":{"template":{"spec":{"containers":[{"image":"x","name":"extra"}]}}}})", {"extra", "main", "side"}},
      {R"({"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"side"}]}}}})", {"main"}},
  };
  for (const auto& c : cases) {
    auto r = ApplyStrategicMergePatch(J(kDeploy), J(c.patch), &S().deployment);
    ASSERT_TRUE(r.ok()) << c.patch << ": " << r.status().ToString();
    std::vector<std::string> names;
    for (const auto& el : (*r)["spec"]["template"]["spec"]["containers"]) names.push_back(el["name"]);
    EXPECT_EQ(names, c.names) << c.patch;
  }
}

TEST(SmpTest, SetImageChangesOnlyTheImage) {
  auto r = ApplyStrategicMergePatch(
      J(kDeploy),
      J(R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"main"},{"name":"side"}],"containers":[{"image":"busybox:2","name":"side"}]}}}})"),
      &S().deployment);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["spec"]["template"]["spec"]["containers"][1], J(R"({"name":"side","image":"busybox:2"})"));
  EXPECT_EQ((*r)["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.25");
}

TEST(SmpTest, RolloutResumeRemovesPaused) {
  Json doc = J(kDeploy);
  doc["spec"]["paused"] = true;
  auto r = ApplyStrategicMergePatch(doc, J(R"({"spec":{"paused":null}})"), &S().deployment);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)["spec"].contains("paused"));
  EXPECT_EQ((*r)["spec"]["replicas"], 1);
}

TEST(SmpTest, Errors) {
  const char* bad[] = {
      R"({"spec":{"template":{"spec":{"containers":[{"image":"no-name"}]}}}})",          // no merge key
      R"({"spec":{"template":{"spec":{"nodeSelector":{"$patch":"bogus"}}}}})",           // unknown directive
      R"({"spec":{"template":{"spec":{"volumes":[{"name":"data","emptyDir":{},"$retainKeys":["name"]}]}}}})",
      R"({"spec":{"template":{"spec":{"$setElementOrder/containers":{"name":"main"}}}}})",  // not a list
      R"({"spec":{"template":{"spec":{"containers":[{"name":"main"},[1]]}}}})",             // list of lists
  };
  for (const char* p : bad) {
    auto r = ApplyStrategicMergePatch(J(kDeploy), J(p), &S().deployment);
    EXPECT_FALSE(r.ok()) << p;
    if (!r.ok()) { EXPECT_EQ(r.status().code(), StatusCode::kBadRequest) << p; }
  }
  EXPECT_FALSE(ApplyStrategicMergePatch(J(kDeploy), J("[1]"), nullptr).ok());
}

// ---------------------------------------------------------------------------------------------

TEST(JsonPatchTest, RolloutUndo) {
  Json patch = J(R"([{"op":"replace","path":"/spec/template","value":{"metadata":{"labels":{"app":"app"}},"spec":{"containers":[{"name":"main","image":"nginx:1.24"}]}}},
                     {"op":"replace","path":"/metadata/annotations","value":{"deployment.kubernetes.io/revision":"3"}}])");
  auto r = ApplyJsonPatch(J(kDeploy), patch);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["spec"]["template"]["spec"]["containers"], J(R"([{"name":"main","image":"nginx:1.24"}])"));
  EXPECT_EQ((*r)["metadata"]["annotations"], J(R"({"deployment.kubernetes.io/revision":"3"})"));
  EXPECT_EQ((*r)["spec"]["replicas"], 1);
}

TEST(JsonPatchTest, Table) {
  struct C {
    const char* doc;
    const char* patch;
    const char* want;  // nullptr: error expected
    StatusCode code = StatusCode::kOk;
  } cases[] = {
      {R"({"a":[1,2]})", R"([{"op":"add","path":"/a/-","value":3}])", R"({"a":[1,2,3]})"},
      {R"({"a":[1,2]})", R"([{"op":"add","path":"/a/0","value":0}])", R"({"a":[0,1,2]})"},
      {R"({"a":[1,2]})", R"([{"op":"add","path":"/a/3","value":0}])", nullptr, StatusCode::kInvalid},
      {R"({})", R"([{"op":"add","path":"/a~1b~0c","value":1}])", R"({"a/b~c":1})"},
      {R"({"a":1})", R"([{"op":"replace","path":"/b","value":2}])", nullptr, StatusCode::kInvalid},
      {R"({"a":1})", R"([{"op":"replace","path":"","value":[1]}])", R"([1])"},
      {R"({"a":1,"b":2})", R"([{"op":"remove","path":"/a"}])", R"({"b":2})"},
      {R"({"a":1})", R"([{"op":"remove","path":"/z"}])", nullptr, StatusCode::kInvalid},
      {R"({"a":{"x":1},"b":{}})", R"([{"op":"move","from":"/a/x","path":"/b/y"}])", R"({"a":{},"b":{"y":1}})"},
      {R"({"a":{"x":1}})", R"([{"op":"move","from":"/a","path":"/a/x/y"}])", nullptr, StatusCode::kInvalid},
      {R"({"a":[1]})", R"([{"op":"copy","from":"/a","path":"/b"}])", R"({"a":[1],"b":[1]})"},
      {R"({"a":"x"})", R"([{"op":"test","path":"/a","value":"x"},{"op":"add","path":"/b","value":1}])",
       R"({"a":"x","b":1})"},
      {R"({"a":"x"})", R"([{"op":"test","path":"/a","value":"y"}])", nullptr, StatusCode::kInvalid},
      {R"({"a":1})", R"([{"op":"frobnicate","path":"/a"}])", nullptr, StatusCode::kBadRequest},
      {R"({"a":1})", R"([{"path":"/a"}])", nullptr, StatusCode::kBadRequest},
      {R"({"a":1})", R"({"op":"add"})", nullptr, StatusCode::kBadRequest},
      {R"({"a":1})", R"([{"op":"add","path":"a","value":1}])", nullptr, StatusCode::kBadRequest},
      {R"({"a":1})", R"([{"op":"add","path":"/~2","value":1}])", nullptr, StatusCode::kBadRequest},
      {R"({"a":[1]})", R"([{"op":"add","path":"/a/01","value":1}])", nullptr, StatusCode::kInvalid},
  };
  for (const auto& c : cases) {
    auto r = ApplyJsonPatch(J(c.doc), J(c.patch));
    if (c.want == nullptr) {
      ASSERT_FALSE(r.ok()) << c.patch;
      EXPECT_EQ(r.status().code(), c.code) << c.patch << " " << r.status().ToString();
    } else {
      ASSERT_TRUE(r.ok()) << c.patch << " " << r.status().ToString();
      EXPECT_EQ(*r, J(c.want)) << c.patch;
    }
  }
}

TEST(JsonPatchTest, CopyAmplificationIsBounded) {
  Json ops = Json::array();
  for (int i = 0; i < 64; ++i) ops.push_back({{"op", "copy"}, {"from", ""}, {"path", "/x" + std::to_string(i)}});
  Json doc = {{"seed", std::string(1000, 'a')}};
  auto r = ApplyJsonPatch(doc, ops);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kRequestEntityTooLarge);
}

TEST(MergePatchTest, Table) {
  struct C {
    const char* doc;
    const char* patch;
    const char* want;
  } cases[] = {
      // kubectl label / annotate / scale
      {R"({"metadata":{"labels":{"a":"1","b":"2"}}})", R"({"metadata":{"labels":{"c":"3","a":null}}})",
       R"({"metadata":{"labels":{"b":"2","c":"3"}}})"},
      {R"({"spec":{"replicas":1,"x":[1,2]}})", R"({"spec":{"replicas":5}})", R"({"spec":{"replicas":5,"x":[1,2]}})"},
      // RFC 7386 appendix A
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"a":"b"})", R"(["c"])", R"(["c"])"},
      {R"({"a":"foo"})", R"(null)", R"(null)"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const auto& c : cases) {
    auto r = ApplyMergePatch(J(c.doc), J(c.patch));
    ASSERT_TRUE(r.ok()) << c.patch;
    EXPECT_EQ(*r, J(c.want)) << c.doc << " + " << c.patch;
  }
}

}  // namespace
}  // namespace tug::api
