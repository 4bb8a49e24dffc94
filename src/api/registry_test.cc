// Tests for api::Registry: lookups on the built-in schema, FromJson error handling, load time,
// and that the checked-in kube.json is what tools/schemagen produces.
#include "api/schema.h"

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace tug::api {
namespace internal {
extern const char kKubeSchemaJson[];
extern const unsigned long kKubeSchemaJsonSize;
}  // namespace internal
namespace {

std::shared_ptr<const Registry> Builtin() {
  auto reg = Registry::Builtin();
  EXPECT_TRUE(reg.ok()) << reg.status().ToString();
  return reg.ok() ? *reg : nullptr;
}

TEST(RegistryTest, DeploymentResource) {
  auto reg = Builtin();
  ASSERT_NE(reg, nullptr);
  const ResourceDef* d = reg->ByResource("apps", "v1", "deployments");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->kind, "Deployment");
  EXPECT_EQ(d->list_kind, "DeploymentList");
  EXPECT_EQ(d->singular, "deployment");
  EXPECT_TRUE(d->namespaced);
  EXPECT_EQ(d->short_names, std::vector<std::string>{"deploy"});
  EXPECT_EQ(d->categories, std::vector<std::string>{"all"});
  EXPECT_TRUE(d->HasVerb("deletecollection"));
  EXPECT_FALSE(d->HasVerb("proxy"));
  const SubresourceDef* scale = d->Subresource("scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->response_kind, (GroupVersionKind{"autoscaling", "v1", "Scale"}));
  EXPECT_EQ(scale->verbs, (std::vector<std::string>{"get", "patch", "update"}));
  ASSERT_NE(d->Subresource("status"), nullptr);
  EXPECT_EQ(d->Subresource("status")->response_kind, d->Gvk());
  EXPECT_EQ(d->type, reg->Type("io.k8s.api.apps.v1.Deployment"));
  EXPECT_EQ(reg->ByKind("apps", "v1", "Deployment"), d);
  EXPECT_EQ(reg->ByApiVersionKind("apps/v1", "Deployment"), d);
}

TEST(RegistryTest, DeploymentFields) {
  auto reg = Builtin();
  ASSERT_NE(reg, nullptr);
  const TypeDef* spec = reg->Type("io.k8s.api.apps.v1.DeploymentSpec");
  ASSERT_NE(spec, nullptr);
  const FieldDef* replicas = spec->Field("replicas");
  ASSERT_NE(replicas, nullptr);
  EXPECT_EQ(replicas->kind, Kind::kInt32);
  EXPECT_EQ(replicas->proto_tag, 1);
  EXPECT_EQ(replicas->container, Container::kNone);
  EXPECT_FALSE(replicas->required);
  EXPECT_EQ(spec->FieldByTag(1), replicas);
  const FieldDef* strategy = spec->Field("strategy");
  ASSERT_NE(strategy, nullptr);
  EXPECT_EQ(strategy->patch_strategy, "retainKeys");
  const FieldDef* tmpl = spec->Field("template");
  ASSERT_NE(tmpl, nullptr);
  EXPECT_TRUE(tmpl->required);
  EXPECT_EQ(tmpl->type, reg->Type("io.k8s.api.core.v1.PodTemplateSpec"));

  const TypeDef* pod_spec = reg->Type("io.k8s.api.core.v1.PodSpec");
  ASSERT_NE(pod_spec, nullptr);
  const FieldDef* containers = pod_spec->Field("containers");
  ASSERT_NE(containers, nullptr);
  EXPECT_EQ(containers->container, Container::kList);
  EXPECT_EQ(containers->kind, Kind::kObject);
  EXPECT_EQ(containers->patch_merge_key, "name");
  EXPECT_EQ(containers->patch_strategy, "merge");
  EXPECT_EQ(containers->list_type, ListType::kMap);
  EXPECT_EQ(containers->list_map_keys, std::vector<std::string>{"name"});
  EXPECT_EQ(containers->proto_tag, 2);
  const FieldDef* restart = pod_spec->Field("restartPolicy");
  ASSERT_NE(restart, nullptr);
  EXPECT_EQ(restart->enum_values, (std::vector<std::string>{"Always", "Never", "OnFailure"}));
  const FieldDef* node_selector = pod_spec->Field("nodeSelector");
  ASSERT_NE(node_selector, nullptr);
  EXPECT_EQ(node_selector->container, Container::kMap);
  EXPECT_EQ(node_selector->kind, Kind::kString);
  EXPECT_TRUE(node_selector->map_atomic);
}

TEST(RegistryTest, SpecialKinds) {
  auto reg = Builtin();
  ASSERT_NE(reg, nullptr);
  struct Case {
    const char* type;
    const char* field;
    Kind kind;
    Container container;
  };
  const Case cases[] = {
      {"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "creationTimestamp", Kind::kTime,
       Container::kNone},
      {"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "labels", Kind::kString,
       Container::kMap},
      {"io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry", "fieldsV1", Kind::kJSON,
       Container::kNone},
      {"io.k8s.api.core.v1.ContainerPort", "containerPort", Kind::kInt32, Container::kNone},
      {"io.k8s.api.core.v1.ServicePort", "targetPort", Kind::kIntOrString, Container::kNone},
      {"io.k8s.api.core.v1.ResourceRequirements", "limits", Kind::kQuantity, Container::kMap},
      {"io.k8s.api.core.v1.Secret", "data", Kind::kBytes, Container::kMap},
      {"io.k8s.api.events.v1.Event", "eventTime", Kind::kMicroTime, Container::kNone},
      {"io.k8s.api.apps.v1.ControllerRevision", "data", Kind::kRawExtension, Container::kNone},
      {"io.k8s.api.coordination.v1.LeaseSpec", "leaseDurationSeconds", Kind::kInt32,
       Container::kNone},
      {"io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent", "object", Kind::kRawExtension,
       Container::kNone},
      {"io.k8s.apimachinery.pkg.apis.meta.v1.Table", "rows", Kind::kObject, Container::kList},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.type) + "." + c.field);
    const TypeDef* t = reg->Type(c.type);
    ASSERT_NE(t, nullptr);
    const FieldDef* f = t->Field(c.field);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->kind, c.kind);
    EXPECT_EQ(f->container, c.container);
  }
}

TEST(RegistryTest, InlinedFields) {
  auto reg = Builtin();
  ASSERT_NE(reg, nullptr);
  const TypeDef* volume = reg->Type("io.k8s.api.core.v1.Volume");
  ASSERT_NE(volume, nullptr);
  const FieldDef* source = volume->FieldByTag(2);
  ASSERT_NE(source, nullptr);
  EXPECT_TRUE(source->inlined);
  EXPECT_EQ(source->type, reg->Type("io.k8s.api.core.v1.VolumeSource"));
  // JSON lookups see through the inlined member; its own name is not a JSON field.
  EXPECT_EQ(volume->Field("volumeSource"), nullptr);
  const FieldDef* cm = volume->Field("configMap");
  ASSERT_NE(cm, nullptr);
  EXPECT_EQ(cm, source->type->Field("configMap"));
  EXPECT_NE(volume->Field("name"), nullptr);
}

TEST(RegistryTest, ListWrapper) {
  auto reg = Builtin();
  ASSERT_NE(reg, nullptr);
  const TypeDef* extra = reg->Type("io.k8s.api.authentication.v1.ExtraValue");
  ASSERT_NE(extra, nullptr);
  EXPECT_TRUE(extra->list_wrapper);
  ASSERT_EQ(extra->fields.size(), 1u);
  EXPECT_EQ(extra->fields[0].container, Container::kList);
  const TypeDef* pod = reg->Type("io.k8s.api.core.v1.Pod");
  ASSERT_NE(pod, nullptr);
  EXPECT_FALSE(pod->list_wrapper);
}

TEST(RegistryTest, ResourceTable) {
  auto reg = Builtin();
  ASSERT_NE(reg, nullptr);
  struct Case {
    const char* group;
    const char* version;
    const char* plural;
    const char* kind;
    bool namespaced;
    const char* short_name;  // first short name, "" for none
  };
  const Case cases[] = {
      {"", "v1", "pods", "Pod", true, "po"},
      {"", "v1", "services", "Service", true, "svc"},
      {"", "v1", "namespaces", "Namespace", false, "ns"},
      {"", "v1", "nodes", "Node", false, "no"},
      {"", "v1", "persistentvolumes", "PersistentVolume", false, "pv"},
      {"", "v1", "bindings", "Binding", true, ""},
      {"", "v1", "componentstatuses", "ComponentStatus", false, "cs"},
      {"apps", "v1", "statefulsets", "StatefulSet", true, "sts"},
      {"batch", "v1", "cronjobs", "CronJob", true, "cj"},
      {"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, "hpa"},
      {"autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, "hpa"},
      {"networking.k8s.io", "v1", "ingresses", "Ingress", true, "ing"},
      {"networking.k8s.io", "v1", "ingressclasses", "IngressClass", false, ""},
      {"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, "pdb"},
      {"rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, ""},
      {"storage.k8s.io", "v1", "storageclasses", "StorageClass", false, "sc"},
      {"coordination.k8s.io", "v1", "leases", "Lease", true, ""},
      {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, ""},
      {"events.k8s.io", "v1", "events", "Event", true, "ev"},
      {"scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", false, "pc"},
      {"node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", false, ""},
      {"certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest",
       false, "csr"},
      {"admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
       "ValidatingWebhookConfiguration", false, ""},
      {"authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false,
       ""},
      {"authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview",
       true, ""},
      {"authentication.k8s.io", "v1", "tokenreviews", "TokenReview", false, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.plural);
    const ResourceDef* r = reg->ByResource(c.group, c.version, c.plural);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->kind, c.kind);
    EXPECT_EQ(r->namespaced, c.namespaced);
    if (*c.short_name) {
      ASSERT_FALSE(r->short_names.empty());
      EXPECT_EQ(r->short_names[0], c.short_name);
    } else {
      EXPECT_TRUE(r->short_names.empty());
    }
    ASSERT_NE(r->type, nullptr);
    EXPECT_EQ(reg->KindType(c.group, c.version, c.kind), r->type);
  }
  const ResourceDef* ssar = reg->ByResource("authorization.k8s.io", "v1", "selfsubjectaccessreviews");
  EXPECT_TRUE(ssar->virtual_resource);
  EXPECT_EQ(ssar->verbs, std::vector<std::string>{"create"});
  EXPECT_EQ(reg->ByResource("autoscaling", "v1", "horizontalpodautoscalers")->storage_version, "v2");
  EXPECT_EQ(reg->ByResource("", "v1", "pods")->storage_version, "v1");
  EXPECT_EQ(reg->ByResource("", "v1", "pods")->Subresource("eviction")->response_kind,
            (GroupVersionKind{"policy", "v1", "Eviction"}));
  EXPECT_EQ(reg->ByResource("", "v1", "serviceaccounts")->Subresource("token")->response_kind,
            (GroupVersionKind{"authentication.k8s.io", "v1", "TokenRequest"}));
  EXPECT_EQ(reg->ByResource("apps", "v1", "nosuch"), nullptr);
  EXPECT_EQ(reg->ByApiVersionKind("v1", "Pod"), reg->ByResource("", "v1", "pods"));
  EXPECT_EQ(reg->ByApiVersionKind("v2", "Pod"), nullptr);
}

TEST(RegistryTest, KindTypesForProtobufBodies) {
  auto reg = Builtin();
  ASSERT_NE(reg, nullptr);
  struct Case {
    const char* group;
    const char* version;
    const char* kind;
    const char* type;
  };
  const Case cases[] = {
      {"autoscaling", "v1", "Scale", "io.k8s.api.autoscaling.v1.Scale"},
      {"policy", "v1", "Eviction", "io.k8s.api.policy.v1.Eviction"},
      {"", "v1", "Binding", "io.k8s.api.core.v1.Binding"},
      {"", "v1", "DeleteOptions", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"},
      {"apps", "v1", "DeleteOptions", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"},
      {"", "v1", "Status", "io.k8s.apimachinery.pkg.apis.meta.v1.Status"},
      {"authentication.k8s.io", "v1", "TokenRequest", "io.k8s.api.authentication.v1.TokenRequest"},
      {"", "v1", "PodExecOptions", "io.k8s.api.core.v1.PodExecOptions"},
      {"meta.k8s.io", "v1", "Table", "io.k8s.apimachinery.pkg.apis.meta.v1.Table"},
      {"meta.k8s.io", "v1", "PartialObjectMetadata",
       "io.k8s.apimachinery.pkg.apis.meta.v1.PartialObjectMetadata"},
      {"apps", "v1", "DeploymentList", "io.k8s.api.apps.v1.DeploymentList"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.kind);
    const TypeDef* t = reg->KindType(c.group, c.version, c.kind);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->name, c.type);
  }
  EXPECT_EQ(reg->KindType("apps", "v1", "Pod"), nullptr);
  // Kinds carry apiVersion and kind, which are JSON-only (no protobuf number).
  const TypeDef* scale = reg->KindType("autoscaling", "v1", "Scale");
  ASSERT_NE(scale->Field("kind"), nullptr);
  EXPECT_EQ(scale->Field("kind")->proto_tag, 0);
}

TEST(RegistryTest, EveryFieldResolves) {
  auto reg = Builtin();
  ASSERT_NE(reg, nullptr);
  for (const auto& r : reg->Resources()) {
    SCOPED_TRACE(r->plural);
    ASSERT_NE(r->type, nullptr);
    EXPECT_FALSE(r->verbs.empty());
    if (!r->virtual_resource && r->HasVerb("list")) {
      EXPECT_NE(reg->KindType(r->group, r->version, r->list_kind), nullptr) << r->list_kind;
    }
  }
  const TypeDef* pod = reg->Type("io.k8s.api.core.v1.Pod");
  ASSERT_NE(pod, nullptr);
  EXPECT_FALSE(pod->description.empty());
  // Fields without a hand-written description get the neutral fallback.
  const FieldDef* pds = reg->Type("io.k8s.api.apps.v1.DeploymentSpec")->Field("progressDeadlineSeconds");
  ASSERT_NE(pds, nullptr);
  EXPECT_EQ(pds->description, "progressDeadlineSeconds of the DeploymentSpec.");
}

TEST(RegistryTest, FromJsonErrors) {
  struct Case {
    const char* name;
    const char* text;
  };
  const Case cases[] = {
      {"not json", "{"},
      {"no format", R"({"types":[]})"},
      {"bad format", R"({"format":2,"types":[]})"},
      {"unknown field type", R"({"format":1,"types":[{"n":"a.A","f":[{"n":"x","t":1,"k":"a.B"}]}]})"},
      {"duplicate type", R"({"format":1,"types":[{"n":"a.A","f":[]},{"n":"a.A","f":[]}]})"},
      {"bad list type",
       R"({"format":1,"types":[{"n":"a.A","f":[{"n":"x","t":1,"k":"string","c":"list","lt":"bag"}]}]})"},
      {"resource with unknown type",
       R"({"format":1,"types":[],"resources":[{"g":"","v":"v1","k":"A","p":"as","t":"a.A"}]})"},
      {"subresource with unknown kind",
       R"({"format":1,"types":[{"n":"a.A","f":[]}],"resources":[{"g":"","v":"v1","k":"A","p":"as","t":"a.A","sub":[["scale","x","v1","Scale",["get"]]]}]})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto reg = Registry::FromJson(c.text);
    EXPECT_FALSE(reg.ok());
  }
  auto ok = Registry::FromJson(
      R"({"format":1,"groups":[["x.io",["v1"]]],"types":[{"n":"a.A","f":[{"n":"n","t":1,"k":"string"}]}],)"
      R"("resources":[{"g":"x.io","v":"v1","k":"A","p":"as","s":"a","ns":0,"verbs":["get"],"t":"a.A"}]})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  const ResourceDef* r = (*ok)->ByResource("x.io", "v1", "as");
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->namespaced);
  EXPECT_EQ(r->list_kind, "AList");
  EXPECT_EQ((*ok)->KindType("x.io", "v1", "A"), r->type);
}

TEST(RegistryTest, LoadTime) {
  // Not a timing assertion (DESIGN §8): reports how long a fresh load of the built-in
  // schema takes, so regressions are visible in the test log.
  auto builtin = Builtin();
  ASSERT_NE(builtin, nullptr);
  // CPU time of this thread: wall time is meaningless on a shared, loaded machine.
  auto cpu_us = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  };
  const int kRounds = 5;
  long long start = cpu_us();
  for (int i = 0; i < kRounds; ++i) {
    auto reg = Registry::FromJson(
        std::string_view(internal::kKubeSchemaJson, internal::kKubeSchemaJsonSize));
    ASSERT_TRUE(reg.ok());
    EXPECT_EQ((*reg)->Resources().size(), builtin->Resources().size());
  }
  std::printf("schema load: %lld us CPU per load\n", (cpu_us() - start) / kRounds);
}

// The checked-in kube.json must be exactly what the generator produces from the upstream
// mirror. CI machines have no mirror: skip there.
TEST(RegistryTest, CheckedInSchemaMatchesGenerator) {
  namespace fs = std::filesystem;
  const char* mirror_env = std::getenv("TUG_MIRROR");
  fs::path mirror = mirror_env ? mirror_env : "/work/.mirror";
  if (!fs::exists(mirror / "kubernetes+api" / "repo") ||
      !fs::exists(mirror / "kubernetes+apimachinery" / "repo")) {
    GTEST_SKIP() << "upstream mirror not present at " << mirror;
  }
  fs::path root = TUG_SOURCE_DIR;  // not __FILE__: ccache's base dir makes it relative
  fs::path gen = root / "tools" / "schemagen" / "schemagen.py";
  fs::path json = root / "src" / "api" / "schema" / "kube.json";
  ASSERT_TRUE(fs::exists(gen)) << gen;
  std::string cmd = "python3 '" + gen.string() + "' --mirror '" + mirror.string() +
                    "' --check '" + json.string() + "'";
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << "kube.json is stale; run tools/schemagen/schemagen.py";
}

}  // namespace

}  // namespace tug::api
