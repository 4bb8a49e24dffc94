// Tests for api::crd: registries with CRDs, CRD validation, custom-object validation,
// defaulting/pruning, printer columns and status.
#include "api/crd/crd.h"

#include <gtest/gtest.h>

#include "api/discovery.h"
#include "api/openapi.h"

#include <string>
#include <vector>

namespace tug::api::crd {
namespace {

Json CronTabCrd() {
  return Json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {
      "group": "stable.example.com", "scope": "Namespaced",
      "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"],
                "categories": ["all"]},
      "versions": [
        {"name": "v1", "served": true, "storage": true,
         "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                   "statusReplicasPath": ".status.replicas"}},
         "additionalPrinterColumns": [
           {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
           {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
           {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready"},
           {"name": "First", "type": "string", "jsonPath": ".spec.items[0]"},
           {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
         "schema": {"openAPIV3Schema": {"type": "object", "properties": {
           "spec": {"type": "object", "required": ["cronSpec"], "properties": {
             "cronSpec": {"type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$",
                          "description": "The cron schedule."},
             "image": {"type": "string", "maxLength": 10, "minLength": 2},
             "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
             "mode": {"type": "string", "enum": ["a", "b"]},
             "port": {"x-kubernetes-int-or-string": true},
             "ratio": {"type": "number", "exclusiveMaximum": true, "maximum": 1.5},
             "items": {"type": "array", "maxItems": 2, "uniqueItems": true, "items": {"type": "string"}},
             "labels": {"type": "object", "additionalProperties": {"type": "string"}},
             "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
             "when": {"type": "string", "format": "date-time", "nullable": true}}},
           "status": {"type": "object", "properties": {"replicas": {"type": "integer"},
                                                       "ready": {"type": "boolean"}}}}}}},
        {"name": "v2", "served": true, "storage": false,
         "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
        {"name": "v0", "served": false, "storage": false,
         "schema": {"openAPIV3Schema": {"type": "object"}}}]
    }})");
}

std::shared_ptr<const Registry> Builtin() {
  auto r = Registry::Builtin();
  EXPECT_TRUE(r.ok()) << r.status().message();
  return *r;
}

std::vector<std::string> Strings(const FieldErrors& errs) {
  std::vector<std::string> out;
  for (const FieldError& e : errs) out.push_back(e.ToString());
  return out;
}

TEST(WithCrds, AddsServedVersions) {
  auto builtin = Builtin();
  auto reg = WithCrds(*builtin, {CronTabCrd()});
  ASSERT_TRUE(reg.ok()) << reg.status().message();
  const ResourceDef* v1 = (*reg)->ByResource("stable.example.com", "v1", "crontabs");
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->kind, "CronTab");
  EXPECT_EQ(v1->list_kind, "CronTabList");
  EXPECT_EQ(v1->singular, "crontab");
  EXPECT_TRUE(v1->namespaced);
  EXPECT_EQ(v1->short_names, std::vector<std::string>{"ct"});
  EXPECT_EQ(v1->categories, std::vector<std::string>{"all"});
  EXPECT_TRUE(v1->HasVerb("watch"));
  ASSERT_NE(v1->Subresource("status"), nullptr);
  ASSERT_NE(v1->Subresource("scale"), nullptr);
  EXPECT_EQ(v1->Subresource("scale")->response_kind.kind, "Scale");
  EXPECT_EQ(v1->storage_version, "v1");
  ASSERT_NE(v1->type, nullptr);
  EXPECT_EQ(v1->type->name, "com.example.stable.v1.CronTab");
  const FieldDef* spec = v1->type->Field("spec");
  ASSERT_NE(spec, nullptr);
  ASSERT_EQ(spec->kind, Kind::kObject);
  const FieldDef* cron = spec->type->Field("cronSpec");
  ASSERT_NE(cron, nullptr);
  EXPECT_TRUE(cron->required);
  EXPECT_EQ(cron->description, "The cron schedule.");
  EXPECT_EQ(spec->type->Field("replicas")->kind, Kind::kInt64);
  EXPECT_EQ(spec->type->Field("port")->kind, Kind::kIntOrString);
  EXPECT_EQ(spec->type->Field("items")->container, Container::kList);
  EXPECT_EQ(spec->type->Field("labels")->container, Container::kMap);
  EXPECT_EQ(spec->type->Field("free")->kind, Kind::kJSON);
  EXPECT_EQ(spec->type->Field("mode")->enum_values, (std::vector<std::string>{"a", "b"}));
  const FieldDef* md = v1->type->Field("metadata");
  ASSERT_NE(md, nullptr);
  EXPECT_EQ(md->type, (*reg)->Type("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));

  const ResourceDef* v2 = (*reg)->ByKind("stable.example.com", "v2", "CronTab");
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->storage_version, "v1");
  EXPECT_EQ(v2->Subresource("status"), nullptr);
  EXPECT_EQ((*reg)->ByResource("stable.example.com", "v0", "crontabs"), nullptr);
  bool found = false;
  for (const GroupDef& g : (*reg)->Groups()) {
    if (g.name == "stable.example.com") {
      found = true;
      EXPECT_EQ(g.versions, (std::vector<std::string>{"v2", "v1"}));
    }
  }
  EXPECT_TRUE(found);
  // Built-ins survive the copy, with their types re-pointed into the new registry.
  const ResourceDef* pods = (*reg)->ByResource("", "v1", "pods");
  ASSERT_NE(pods, nullptr);
  EXPECT_EQ(pods->type, (*reg)->Type(pods->type->name));
  EXPECT_NE(pods->type, builtin->ByResource("", "v1", "pods")->type);
  EXPECT_EQ(builtin->ByResource("stable.example.com", "v1", "crontabs"), nullptr);
  EXPECT_EQ((*reg)->KindType("stable.example.com", "v1", "CronTab"), v1->type);
}

TEST(WithCrds, ServedThroughGenericDiscoveryAndOpenApi) {
  auto builtin = Builtin();
  // The CRD kind itself is a built-in resource (generated by schemagen).
  const ResourceDef* crds = builtin->ByResource("apiextensions.k8s.io", "v1", "customresourcedefinitions");
  ASSERT_NE(crds, nullptr);
  EXPECT_FALSE(crds->namespaced);
  EXPECT_EQ(crds->short_names, (std::vector<std::string>{"crd", "crds"}));
  EXPECT_NE(crds->Subresource("status"), nullptr);
  auto reg = WithCrds(*builtin, {CronTabCrd()});
  ASSERT_TRUE(reg.ok());
  auto list = ApiResourceList(**reg, "stable.example.com", "v1");
  ASSERT_TRUE(list.ok()) << list.status().message();
  std::string dump = list->dump();
  EXPECT_NE(dump.find("\"crontabs\""), std::string::npos) << dump;
  EXPECT_NE(dump.find("crontabs/status"), std::string::npos) << dump;
  EXPECT_NE(ApiGroupList(**reg).dump().find("stable.example.com"), std::string::npos);
  OpenApiV3 v3 = BuildOpenApiV3(**reg);
  ASSERT_EQ(v3.documents.count("apis/stable.example.com/v1"), 1u);
  const std::string& doc = v3.documents["apis/stable.example.com/v1"];
  EXPECT_NE(doc.find("cronSpec"), std::string::npos);
  EXPECT_NE(doc.find("The cron schedule."), std::string::npos);
  EXPECT_NE(BuildOpenApiV2(**reg).json.find("com.example.stable.v1.CronTab"), std::string::npos);
}

TEST(WithCrds, ClusterScopeAndConflicts) {
  auto builtin = Builtin();
  Json c = CronTabCrd();
  c["spec"]["scope"] = "Cluster";
  auto reg = WithCrds(*builtin, {c});
  ASSERT_TRUE(reg.ok());
  EXPECT_FALSE((*reg)->ByResource("stable.example.com", "v1", "crontabs")->namespaced);
  // The same CRD twice collides.
  EXPECT_FALSE(WithCrds(*builtin, {c, c}).ok());
  // A CRD shadowing a built-in resource is refused.
  Json d = CronTabCrd();
  d["spec"]["group"] = "apps";
  d["spec"]["names"]["plural"] = "deployments";
  d["spec"]["names"]["kind"] = "Deployment";
  EXPECT_FALSE(WithCrds(*builtin, {d}).ok());
}

struct ObjCase {
  const char* name;
  const char* spec;  // JSON of .spec
  std::vector<std::string> want;
};

TEST(ValidateCustomObject, Table) {
  CrdVersionSchema s = SchemaFor(CronTabCrd(), "v1");
  const ObjCase cases[] = {
      {"valid", R"({"cronSpec": "* * * * */5", "replicas": 3, "port": "http", "ratio": 1.2})", {}},
      {"int-or-string int", R"({"cronSpec": "* * * * *", "port": 80})", {}},
      {"type", R"({"cronSpec": "* * * * *", "replicas": "three"})",
       {R"(spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string")"}},
      {"required", R"({"replicas": 2})", {"spec.cronSpec: Required value"}},
      {"pattern", R"({"cronSpec": "bad"})",
       {R"(spec.cronSpec: Invalid value: "bad": spec.cronSpec in body should match '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$')"}},
      {"bounds", R"({"cronSpec": "* * * * *", "replicas": 11, "ratio": 1.5})",
       {"spec.ratio: Invalid value: 1.5: spec.ratio in body should be less than 1.5",
        "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"}},
      {"minimum", R"({"cronSpec": "* * * * *", "replicas": 0})",
       {"spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"}},
      {"enum", R"({"cronSpec": "* * * * *", "mode": "c"})",
       {R"(spec.mode: Unsupported value: "c": supported values: "a", "b")"}},
      {"lengths", R"({"cronSpec": "* * * * *", "image": "x"})",
       {R"(spec.image: Invalid value: "x": spec.image in body should be at least 2 chars long)"}},
      {"too long", R"({"cronSpec": "* * * * *", "image": "abcdefghijk"})",
       {"spec.image: Too long: may not be more than 10 bytes"}},
      {"items", R"({"cronSpec": "* * * * *", "items": ["a", "a", "b"]})",
       {"spec.items: Too many: 3: must have at most 2 items", R"(spec.items[1]: Duplicate value: "a")"}},
      {"item type", R"({"cronSpec": "* * * * *", "items": [1]})",
       {R"(spec.items[0]: Invalid value: "integer": spec.items[0] in body must be of type string: "integer")"}},
      {"map values", R"({"cronSpec": "* * * * *", "labels": {"a": 1}})",
       {R"(spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer")"}},
      {"int-or-string bad", R"({"cronSpec": "* * * * *", "port": true})",
       {R"(spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean")"}},
      {"nullable", R"({"cronSpec": "* * * * *", "when": null})", {}},
      {"format", R"({"cronSpec": "* * * * *", "when": "yesterday"})",
       {R"(spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday")"}},
      {"null not nullable", R"({"cronSpec": null})",
       {R"(spec.cronSpec: Invalid value: "null": spec.cronSpec in body must be of type string: "null")"}},
  };
  for (const ObjCase& c : cases) {
    Json obj = {{"apiVersion", "stable.example.com/v1"}, {"kind", "CronTab"}, {"metadata", {{"name", "x"}}},
                {"spec", Json::parse(c.spec)}};
    EXPECT_EQ(Strings(ValidateCustomObject(s, obj)), c.want) << c.name;
  }
}

TEST(DefaultAndPrune, DefaultsAndPrunes) {
  CrdVersionSchema s = SchemaFor(CronTabCrd(), "v1");
  Json obj = Json::parse(R"({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
    "metadata": {"name": "x", "labels": {"a": "b"}}, "extra": 1,
    "spec": {"cronSpec": "* * * * *", "unknown": true, "free": {"anything": {"goes": 1}},
             "labels": {"k": "v"}}, "status": {"ready": true, "junk": 2}})");
  DefaultAndPrune(s, obj);
  Json want = Json::parse(R"({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
    "metadata": {"name": "x", "labels": {"a": "b"}},
    "spec": {"cronSpec": "* * * * *", "replicas": 1, "free": {"anything": {"goes": 1}},
             "labels": {"k": "v"}}, "status": {"ready": true}})");
  EXPECT_EQ(obj, want) << obj.dump();
  // Preserve-unknown-fields at the root keeps everything.
  Json any = Json::parse(R"({"apiVersion": "stable.example.com/v2", "kind": "CronTab", "x": {"y": 1}})");
  Json before = any;
  DefaultAndPrune(SchemaFor(CronTabCrd(), "v2"), any);
  EXPECT_EQ(any, before);
}

struct CrdCase {
  const char* name;
  void (*mutate)(Json&);
  std::vector<std::string> want;
};

TEST(ValidateCrd, Table) {
  const CrdCase cases[] = {
      {"valid", [](Json&) {}, {}},
      {"name mismatch", [](Json& c) { c["metadata"]["name"] = "other.stable.example.com"; },
       {R"(metadata.name: Invalid value: "other.stable.example.com": must be spec.names.plural+"."+spec.group)"}},
      {"two storage versions", [](Json& c) { c["spec"]["versions"][1]["storage"] = true; },
       {"spec.versions: Invalid value: "}},
      {"scope", [](Json& c) { c["spec"]["scope"] = "Global"; },
       {R"(spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced")"}},
      {"conversion", [](Json& c) { c["spec"]["conversion"] = {{"strategy", "Webhook"}}; },
       {R"(spec.conversion.strategy: Unsupported value: "Webhook": supported values: "None")"}},
      {"no type",
       [](Json& c) { c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["image"].erase("type"); },
       {"spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[image].type: Required value: must not be empty for specified object fields"}},
      {"properties and additionalProperties",
       [](Json& c) {
         c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["additionalProperties"] = {{"type", "string"}};
       },
       {"spec.versions[0].schema.openAPIV3Schema.properties[spec].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"}},
      {"metadata fields",
       [](Json& c) {
         c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["metadata"] =
             Json::parse(R"({"type": "object", "properties": {"labels": {"type": "object"}}})");
       },
       {"spec.versions[0].schema.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"}},
      {"root type", [](Json& c) { c["spec"]["versions"][2]["schema"]["openAPIV3Schema"]["type"] = "string"; },
       {R"(spec.versions[2].schema.openAPIV3Schema.type: Invalid value: "string": must be object at the root)"}},
      {"int-or-string with type",
       [](Json& c) {
         c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["port"]["type"] = "string";
       },
       {R"(spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[port].type: Invalid value: "string": must be empty if x-kubernetes-int-or-string is true)"}},
      {"missing schema", [](Json& c) { c["spec"]["versions"][1].erase("schema"); },
       {"spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required"}},
      {"bad column", [](Json& c) { c["spec"]["versions"][0]["additionalPrinterColumns"][0]["type"] = "float"; },
       {R"(spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: "float": supported values: "integer", "number", "string", "boolean", "date")"}},
      {"group without dot",
       [](Json& c) {
         c["spec"]["group"] = "example";
         c["metadata"]["name"] = "crontabs.example";
       },
       {R"(spec.group: Invalid value: "example": should be a domain with at least one dot)"}},
  };
  for (const CrdCase& c : cases) {
    Json crd = CronTabCrd();
    c.mutate(crd);
    std::vector<std::string> got = Strings(ValidateCrd(crd));
    ASSERT_EQ(got.size(), c.want.size()) << c.name << ": " << ::testing::PrintToString(got);
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].substr(0, c.want[i].size()), c.want[i]) << c.name;
    }
  }
}

TEST(ValidateCrdUpdate, Immutable) {
  Json old = CronTabCrd();
  Json c = old;
  EXPECT_TRUE(ValidateCrdUpdate(c, old).empty());
  c["spec"]["scope"] = "Cluster";
  EXPECT_EQ(Strings(ValidateCrdUpdate(c, old)),
            std::vector<std::string>{R"(spec.scope: Invalid value: "Cluster": field is immutable)"});
}

TEST(CrdRow, Columns) {
  CrdColumns cols = ColumnsFor(CronTabCrd(), "v1");
  ASSERT_EQ(cols.size(), 5u);
  SystemTime now = *ParseRFC3339("2026-01-01T00:10:00Z");
  Json obj = Json::parse(R"({"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"cronSpec": "* * * * */5", "replicas": 3, "items": ["x", "y"]}, "status": {"ready": true}})");
  EXPECT_EQ(CrdRow(cols, obj, now), Json::parse(R"(["a", "* * * * */5", 3, true, "x", "10m"])"));
  Json bare = Json::parse(R"({"metadata": {"name": "b", "creationTimestamp": "garbage"}, "spec": {"replicas": 2.0}})");
  EXPECT_EQ(CrdRow(cols, bare, now), Json::parse(R"(["b", null, 2, null, null, "<invalid>"])"));
  // Default columns: Age only.
  CrdColumns def = ColumnsFor(CronTabCrd(), "v2");
  ASSERT_EQ(def.size(), 1u);
  EXPECT_EQ(def[0].name, "Age");
  EXPECT_EQ(TableColumns(def).front().name, "Name");
  EXPECT_EQ(CrdRow(def, obj, now), Json::parse(R"(["a", "10m"])"));
}

TEST(EvalJsonPath, Subset) {
  Json obj = Json::parse(R"({"a": {"b.c": [1, {"d": "e"}]}})");
  EXPECT_EQ(*EvalJsonPath(obj, ".a['b.c'][1].d"), "e");
  EXPECT_EQ(*EvalJsonPath(obj, "{.a.b\\.c[0]}"), 1);
  EXPECT_EQ(EvalJsonPath(obj, ".a.x"), nullptr);
  EXPECT_EQ(EvalJsonPath(obj, ".a['b.c'][5]"), nullptr);
}

TEST(CrdStatusFor, EstablishedAndConflicts) {
  auto builtin = Builtin();
  SystemTime now = *ParseRFC3339("2026-01-01T00:00:00Z");
  Json crd = CronTabCrd();
  Json st = CrdStatusFor(crd, *builtin, now);
  ASSERT_EQ(st["conditions"].size(), 2u);
  EXPECT_EQ(st["conditions"][0]["type"], "NamesAccepted");
  EXPECT_EQ(st["conditions"][0]["reason"], "NoConflicts");
  EXPECT_EQ(st["conditions"][1]["type"], "Established");
  EXPECT_EQ(st["conditions"][1]["reason"], "InitialNamesAccepted");
  EXPECT_EQ(st["conditions"][1]["lastTransitionTime"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(st["acceptedNames"]["listKind"], "CronTabList");
  EXPECT_EQ(st["storedVersions"], Json::parse(R"(["v1"])"));
  crd["status"] = st;
  EXPECT_TRUE(IsEstablished(crd));
  // Unchanged status keeps its transition time; registering the CRD itself is no conflict.
  auto reg = WithCrds(*builtin, {crd});
  ASSERT_TRUE(reg.ok());
  Json again = CrdStatusFor(crd, **reg, now + std::chrono::hours(1));
  EXPECT_EQ(again["conditions"][1]["lastTransitionTime"], "2026-01-01T00:00:00Z");
  // Another CRD in the same group wanting the plural of a different kind conflicts.
  Json other = CronTabCrd();
  other["spec"]["names"]["kind"] = "Other";
  other.erase("status");
  Json ost = CrdStatusFor(other, **reg, now);
  EXPECT_EQ(ost["conditions"][0]["status"], "False");
  EXPECT_EQ(ost["conditions"][0]["message"], "\"crontabs\" is already in use");
  EXPECT_EQ(ost["conditions"][1]["reason"], "NotAccepted");
  other["status"] = ost;
  EXPECT_FALSE(IsEstablished(other));
}

}  // namespace
}  // namespace tug::api::crd
