// Tests for server-side apply and managed-fields tracking on the built-in schema (Deployments,
// ConfigMaps, Services), as upstream's structured-merge-diff behaves.
#include "api/apply/apply.h"

#include <gtest/gtest.h>

#include "api/apply/field_set.h"
#include "api/apply/typed.h"

namespace tug::api::apply {
namespace {

Json J(const char* s) { return Json::parse(s); }

class ApplyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto r = Registry::Builtin();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reg_ = new std::shared_ptr<const Registry>(*r);
  }
  static void TearDownTestSuite() {
    delete reg_;
    reg_ = nullptr;
  }
  const Registry& reg() { return **reg_; }
  const ResourceDef& Deploy() { return *reg().ByResource("apps", "v1", "deployments"); }
  const ResourceDef& ConfigMap() { return *reg().ByResource("", "v1", "configmaps"); }

  // Applies and expects success.
  Json MustApply(const Json* live, const Json& cfg, const std::string& mgr, bool force = false,
                 const std::string& now = "2026-11-25T10:00:00Z") {
    auto r = Apply(reg(), Deploy(), live, cfg, mgr, force, now);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->object : Json();
  }
  static const Json* Entry(const Json& obj, const std::string& mgr, const std::string& op = "") {
    const Json* mf = FindPath(obj, {"metadata", "managedFields"});
    if (!mf) return nullptr;
    for (const Json& e : *mf)
      if (GetString(e, "manager") == mgr && (op.empty() || GetString(e, "operation") == op)) return &e;
    return nullptr;
  }

  static std::shared_ptr<const Registry>* reg_;
};
std::shared_ptr<const Registry>* ApplyTest::reg_ = nullptr;

// A deployment with the given replicas and containers (name:image pairs), each with port 80
// and one env var.
Json Deployment(int replicas, std::vector<std::pair<std::string, std::string>> containers, Json labels = nullptr) {
  Json cs = Json::array();
  for (const auto& [n, img] : containers)
    cs.push_back({{"name", n}, {"image", img}, {"ports", {{{"containerPort", 80}}}},
                  {"env", {{{"name", "MODE"}, {"value", "prod"}}}}});
  Json d = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"},
            {"metadata", {{"name", "web"}, {"namespace", "default"}}},
            {"spec", {{"replicas", replicas},
                      {"selector", {{"matchLabels", {{"app", "web"}}}}},
                      {"template", {{"metadata", {{"labels", {{"app", "web"}}}}}, {"spec", {{"containers", cs}}}}}}}};
  if (!labels.is_null()) d["metadata"]["labels"] = labels;
  return d;
}

TEST_F(ApplyTest, FieldSetOfDeployment) {
  struct Case {
    const char* name;
    Json obj;
    Json want;
  };
  const Case cases[] = {
      {"replicas only", J(R"({"spec":{"replicas":2}})"), J(R"({"f:spec":{"f:replicas":{}}})")},
      {"atomic selector, granular labels",
       J(R"({"metadata":{"labels":{"a":"1"}},"spec":{"selector":{"matchLabels":{"app":"web"}}}})"),
       J(R"({"f:metadata":{"f:labels":{"f:a":{}}},"f:spec":{"f:selector":{}}})")},
      {"containers keyed by name, ports by containerPort+protocol (defaulted), env by name",
       J(R"({"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1",
            "ports":[{"containerPort":80}],"env":[{"name":"A","value":"1"}],"args":["x","y"]}]}}}})"),
       J(R"({"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},
            "f:args":{},"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:name":{},"f:value":{}}},"f:image":{},"f:name":{},
            "f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}})")},
      {"set list and empty struct",
       J(R"({"metadata":{"finalizers":["a","b"]},"spec":{"template":{"spec":{"volumes":[{"name":"v","emptyDir":{}}]}}}})"),
       J(R"({"f:metadata":{"f:finalizers":{"v:\"a\"":{},"v:\"b\"":{}}},"f:spec":{"f:template":{"f:spec":{
            "f:volumes":{"k:{\"name\":\"v\"}":{".":{},"f:emptyDir":{},"f:name":{}}}}}}})")},
  };
  for (const auto& c : cases) EXPECT_EQ(ToFieldSet(Deploy().type, c.obj).ToFieldsV1(), c.want) << c.name;
}

TEST_F(ApplyTest, CreateRecordsApplyEntry) {
  Json cfg = Deployment(2, {{"nginx", "nginx:1.25"}});
  auto r = Apply(reg(), Deploy(), nullptr, cfg, "kubectl", false, "2026-11-25T10:00:00Z");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->created);
  const Json* e = Entry(r->object, "kubectl");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(GetString(*e, "operation"), "Apply");
  EXPECT_EQ(GetString(*e, "apiVersion"), "apps/v1");
  EXPECT_EQ(GetString(*e, "fieldsType"), "FieldsV1");
  EXPECT_EQ(GetString(*e, "time"), "2026-11-25T10:00:00Z");
  EXPECT_FALSE(e->contains("subresource"));
  auto set = FieldSet::FromFieldsV1((*e)["fieldsV1"]);
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->Has({"f:spec", "f:replicas"}));
  EXPECT_TRUE(set->Has({"f:spec", "f:template", "f:spec", "f:containers", R"(k:{"name":"nginx"})", "f:image"}));
  EXPECT_FALSE(set->Has({"f:metadata", "f:name"}));  // never tracked
  EXPECT_EQ(r->object["spec"]["replicas"], 2);
  EXPECT_EQ(r->managed_fields, r->object["metadata"]["managedFields"]);
}

TEST_F(ApplyTest, ReapplyRemovesDroppedFields) {
  struct Case {
    const char* name;
    Json first, second;
    std::function<void(const Json&)> check;
  };
  const Case cases[] = {
      {"label removed", Deployment(2, {{"a", "img"}}, J(R"({"x":"1","y":"2"})")),
       Deployment(2, {{"a", "img"}}, J(R"({"x":"1"})")),
       [](const Json& o) {
         EXPECT_EQ(o["metadata"]["labels"], J(R"({"x":"1"})"));
       }},
      {"all labels removed: the map goes", Deployment(2, {{"a", "img"}}, J(R"({"x":"1"})")),
       Deployment(2, {{"a", "img"}}),
       [](const Json& o) { EXPECT_FALSE(o["metadata"].contains("labels")) << o["metadata"].dump(); }},
      {"container removed", Deployment(2, {{"a", "img"}, {"b", "img"}}), Deployment(2, {{"a", "img"}}),
       [](const Json& o) {
         ASSERT_EQ(o["spec"]["template"]["spec"]["containers"].size(), 1u);
         EXPECT_EQ(o["spec"]["template"]["spec"]["containers"][0]["name"], "a");
       }},
      {"env var removed", Deployment(2, {{"a", "img"}}),
       [] {
         Json d = Deployment(2, {{"a", "img"}});
         d["spec"]["template"]["spec"]["containers"][0].erase("env");
         return d;
       }(),
       [](const Json& o) { EXPECT_FALSE(o["spec"]["template"]["spec"]["containers"][0].contains("env")); }},
      {"replicas removed", Deployment(2, {{"a", "img"}}),
       [] {
         Json d = Deployment(2, {{"a", "img"}});
         d["spec"].erase("replicas");
         return d;
       }(),
       [](const Json& o) { EXPECT_FALSE(o["spec"].contains("replicas")); }},
      {"image changed", Deployment(2, {{"a", "img:1"}}), Deployment(2, {{"a", "img:2"}}),
       [](const Json& o) { EXPECT_EQ(o["spec"]["template"]["spec"]["containers"][0]["image"], "img:2"); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Json live = MustApply(nullptr, c.first, "mgr");
    // The server defaults fields nobody applied; they must survive the re-apply.
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent";
    Json out = MustApply(&live, c.second, "mgr");
    c.check(out);
    EXPECT_EQ(out["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    EXPECT_EQ(out["metadata"]["name"], "web");
    const Json* e = Entry(out, "mgr");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ((*e)["fieldsV1"], ToFieldSet(Deploy().type, [&] {
                                  Json v = c.second;
                                  v.erase("apiVersion");
                                  v.erase("kind");
                                  v["metadata"].erase("name");
                                  v["metadata"].erase("namespace");
                                  if (v["metadata"].empty()) v.erase("metadata");
                                  return v;
                                }()).ToFieldsV1());
  }
}

TEST_F(ApplyTest, IdenticalReapplyIsNoop) {
  Json live = MustApply(nullptr, Deployment(2, {{"a", "img"}}, J(R"({"x":"1"})")), "mgr", false, "t0");
  live["spec"]["strategy"] = {{"type", "RollingUpdate"}};  // defaulted by the server
  Json again = MustApply(&live, Deployment(2, {{"a", "img"}}, J(R"({"x":"1"})")), "mgr", false, "t1");
  EXPECT_EQ(again, live);  // same fields, same time: nothing to write
  Json changed = MustApply(&live, Deployment(3, {{"a", "img"}}, J(R"({"x":"1"})")), "mgr", false, "t2");
  EXPECT_EQ(GetString(changed["metadata"]["managedFields"][0], "time"), "t2");
}

TEST_F(ApplyTest, ConflictsAndForce) {
  Json live = MustApply(nullptr, Deployment(2, {{"a", "img:1"}}), "alice");
  struct Case {
    const char* name;
    Json cfg;
    bool force;
    std::string want_message;  // "" = success
  };
  const Case cases[] = {
      {"same values: shared", Deployment(2, {{"a", "img:1"}}), false, ""},
      {"one conflict", Deployment(3, {{"a", "img:1"}}), false,
       "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"},
      {"two conflicts", Deployment(3, {{"a", "img:2"}}), false,
       "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\n- "
       ".spec.template.spec.containers[name=\"a\"].image"},
      {"forced", Deployment(3, {{"a", "img:2"}}), true, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = Apply(reg(), Deploy(), &live, c.cfg, "bob", c.force, "2026-11-25T11:00:00Z");
    if (!c.want_message.empty()) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), StatusCode::kConflict);
      EXPECT_EQ(r.status().message(), c.want_message);
      ASSERT_NE(r.status().details(), nullptr);
      ASSERT_FALSE(r.status().details()->causes.empty());
      EXPECT_EQ(r.status().details()->causes[0].reason, "FieldManagerConflict");
      EXPECT_EQ(r.status().details()->causes[0].field, ".spec.replicas");
      EXPECT_EQ(r.status().details()->causes[0].message, "conflict with \"alice\"");
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto alice = FieldSet::FromFieldsV1((*Entry(r->object, "alice"))["fieldsV1"]);
    auto bob = FieldSet::FromFieldsV1((*Entry(r->object, "bob"))["fieldsV1"]);
    ASSERT_TRUE(alice.ok() && bob.ok());
    EXPECT_TRUE(bob->Has({"f:spec", "f:replicas"}));
    if (c.force) {
      EXPECT_EQ(r->object["spec"]["replicas"], 3);
      EXPECT_FALSE(alice->Has({"f:spec", "f:replicas"}));  // ownership moved
      EXPECT_TRUE(alice->Has({"f:spec", "f:template", "f:spec", "f:containers", R"(k:{"name":"a"})", "f:name"}));
    } else {
      EXPECT_TRUE(alice->Has({"f:spec", "f:replicas"}));  // shared
    }
  }
}

TEST_F(ApplyTest, SharedFieldSurvivesOneOwnerDroppingIt) {
  Json live = MustApply(nullptr, Deployment(2, {{"a", "img"}}, J(R"({"x":"1"})")), "alice");
  live = MustApply(&live, Deployment(2, {{"a", "img"}}, J(R"({"x":"1"})")), "bob");
  live = MustApply(&live, Deployment(2, {{"a", "img"}}), "alice");
  EXPECT_EQ(live["metadata"]["labels"], J(R"({"x":"1"})"));  // bob still owns it
  live = MustApply(&live, Deployment(2, {{"a", "img"}}), "bob");
  EXPECT_FALSE(live["metadata"].contains("labels"));
}

TEST_F(ApplyTest, MapListMergesByKeyAndKeepsOthersItems) {
  Json live = MustApply(nullptr, Deployment(2, {{"a", "img"}}), "alice");
  Json sidecar = Deployment(2, {{"sidecar", "proxy"}});
  live = MustApply(&live, sidecar, "bob");
  const Json& cs = live["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0]["name"], "a");
  EXPECT_EQ(cs[1]["name"], "sidecar");
  // Alice re-applies a changed image: bob's container stays.
  live = MustApply(&live, Deployment(2, {{"a", "img:2"}}), "alice");
  ASSERT_EQ(live["spec"]["template"]["spec"]["containers"].size(), 2u);
  EXPECT_EQ(live["spec"]["template"]["spec"]["containers"][0]["image"], "img:2");
}

TEST_F(ApplyTest, MergedListOrder) {
  struct Case {
    const char* name;
    std::vector<std::string> live, applied, want;
  };
  const Case cases[] = {
      {"appended", {"a", "b"}, {"a", "b", "c"}, {"a", "b", "c"}},
      {"applied order for shared items", {"a", "b"}, {"b", "a"}, {"b", "a"}},
      {"others' items keep their place", {"x", "a", "y"}, {"a", "c"}, {"x", "a", "y", "c"}},
  };
  for (const auto& c : cases) {
    std::vector<std::pair<std::string, std::string>> lc, ac;
    for (const auto& n : c.live) lc.push_back({n, "img"});
    for (const auto& n : c.applied) ac.push_back({n, "img"});
    Json live = MustApply(nullptr, Deployment(1, lc), "other");
    Json out = MustApply(&live, Deployment(1, ac), "me");
    std::vector<std::string> got;
    for (const Json& x : out["spec"]["template"]["spec"]["containers"]) got.push_back(x["name"]);
    EXPECT_EQ(got, c.want) << c.name;
  }
}

TEST_F(ApplyTest, StatusSubresourceApplyOwnsOnlyStatus) {
  Json live = MustApply(nullptr, Deployment(1, {{"a", "img"}}), "kubectl");
  Json cfg = Deployment(1, {{"a", "img"}});
  cfg["status"] = {{"replicas", 1}};
  ApplyOptions o;
  o.subresource = "status";
  auto r = Apply(reg(), Deploy(), &live, cfg, "ctrl", false, "t", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Json* e = Entry(r->object, "ctrl");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(GetString(*e, "subresource"), "status");
  EXPECT_EQ((*e)["fieldsV1"], J(R"({"f:status":{"f:replicas":{}}})"));
  // Main-resource appliers never own status (it has its own subresource).
  auto main_set = FieldSet::FromFieldsV1((*Entry(r->object, "kubectl"))["fieldsV1"]);
  ASSERT_TRUE(main_set.ok());
  EXPECT_FALSE(main_set->Has({"f:status"}));
}

TEST_F(ApplyTest, NullInConfigRemovesField) {
  Json live = MustApply(nullptr, Deployment(2, {{"a", "img"}}, J(R"({"x":"1","y":"2"})")), "m");
  Json cfg = Deployment(2, {{"a", "img"}}, J(R"({"x":"1","y":null})"));
  Json out = MustApply(&live, cfg, "m");
  EXPECT_EQ(out["metadata"]["labels"], J(R"({"x":"1"})"));
}

TEST_F(ApplyTest, AtomicListIsReplaced) {
  Json a = Deployment(1, {{"a", "img"}});
  a["spec"]["template"]["spec"]["containers"][0]["args"] = {"x", "y"};
  Json live = MustApply(nullptr, a, "alice");
  Json b = a;
  b["spec"]["template"]["spec"]["containers"][0]["args"] = {"z"};
  auto r = Apply(reg(), Deploy(), &live, b, "bob", false, "t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().details()->causes[0].field, ".spec.template.spec.containers[name=\"a\"].args");
  live = MustApply(&live, b, "alice");
  EXPECT_EQ(live["spec"]["template"]["spec"]["containers"][0]["args"], J(R"(["z"])"));
}

TEST_F(ApplyTest, ConflictWithUpdaterNamesVersion) {
  // Created by an Update (kubectl create), then replicas changed by kubectl scale.
  Json obj = Deployment(2, {{"a", "img"}});
  UpdateManagedFields(reg(), Deploy(), nullptr, obj, "kubectl-create", "Update", "", "t0");
  Json scaled = obj;
  scaled["spec"]["replicas"] = 5;
  UpdateManagedFields(reg(), Deploy(), &obj, scaled, "kubectl", "Update", "scale", "t1");
  auto r = Apply(reg(), Deploy(), &scaled, Deployment(3, {{"a", "img:2"}}), "ci", false, "t2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "Apply failed with 2 conflicts: conflicts with \"kubectl\" with subresource \"scale\" using apps/v1:\n"
            "- .spec.replicas\n"
            "conflicts with \"kubectl-create\" using apps/v1:\n"
            "- .spec.template.spec.containers[name=\"a\"].image");
}

TEST_F(ApplyTest, BadIntentIs400) {
  struct Case {
    const char* name;
    Json cfg;
    std::string url_name;
  };
  Json no_kind = Deployment(1, {{"a", "i"}});
  no_kind.erase("kind");
  Json no_version = Deployment(1, {{"a", "i"}});
  no_version.erase("apiVersion");
  Json old_version = Deployment(1, {{"a", "i"}});
  old_version["apiVersion"] = "apps/v1beta1";
  Json no_name = Deployment(1, {{"a", "i"}});
  no_name["metadata"].erase("name");
  Json with_mf = Deployment(1, {{"a", "i"}});
  with_mf["metadata"]["managedFields"] = Json::array();
  const Case cases[] = {
      {"not an object", J("[1]"), ""},   {"missing kind", no_kind, ""},
      {"missing apiVersion", no_version, ""}, {"other version", old_version, ""},
      {"missing name", no_name, ""},     {"name mismatch", Deployment(1, {{"a", "i"}}), "other"},
      {"managedFields set", with_mf, ""},
  };
  for (const auto& c : cases) {
    ApplyOptions o;
    o.name = c.url_name;
    auto r = Apply(reg(), Deploy(), nullptr, c.cfg, "m", false, "t", o);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kBadRequest) << c.name;
  }
}

TEST_F(ApplyTest, UpdateTracking) {
  Json obj = Deployment(2, {{"a", "img"}}, J(R"({"x":"1"})"));
  UpdateManagedFields(reg(), Deploy(), nullptr, obj, "kubectl-create", "Update", "", "t0");
  ASSERT_EQ(obj["metadata"]["managedFields"].size(), 1u);
  const Json* c = Entry(obj, "kubectl-create", "Update");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(GetString(*c, "time"), "t0");
  // A new map owns its node too (".": {}), as upstream's Update does.
  EXPECT_EQ((*c)["fieldsV1"]["f:metadata"]["f:labels"], J(R"({".":{},"f:x":{}})"));

  // kubectl-label takes the label it changes; kubectl-create keeps the rest.
  Json labeled = obj;
  labeled["metadata"]["labels"]["x"] = "2";
  UpdateManagedFields(reg(), Deploy(), &obj, labeled, "kubectl-label", "Update", "", "t1");
  auto create = FieldSet::FromFieldsV1((*Entry(labeled, "kubectl-create"))["fieldsV1"]);
  auto label = FieldSet::FromFieldsV1((*Entry(labeled, "kubectl-label"))["fieldsV1"]);
  ASSERT_TRUE(create.ok() && label.ok());
  EXPECT_TRUE(label->Has({"f:metadata", "f:labels", "f:x"}));
  EXPECT_FALSE(create->Has({"f:metadata", "f:labels", "f:x"}));
  EXPECT_TRUE(create->Has({"f:spec", "f:replicas"}));

  // Removing the label takes it from everyone; kubectl-label's entry becomes empty and goes.
  Json unlabeled = labeled;
  unlabeled["metadata"].erase("labels");
  UpdateManagedFields(reg(), Deploy(), &labeled, unlabeled, "kubectl-edit", "Update", "", "t2");
  EXPECT_EQ(Entry(unlabeled, "kubectl-label"), nullptr);
  EXPECT_EQ(Entry(unlabeled, "kubectl-edit"), nullptr);  // it only removed: owns nothing

  // Status writes are tracked under subresource "status" and only see status.
  Json with_status = unlabeled;
  with_status["status"] = {{"replicas", 2}};
  UpdateManagedFields(reg(), Deploy(), &unlabeled, with_status, "kube-controller-manager", "Update", "status", "t3");
  const Json* st = Entry(with_status, "kube-controller-manager");
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(GetString(*st, "subresource"), "status");
  EXPECT_EQ((*st)["fieldsV1"], J(R"({"f:status":{"f:replicas":{}}})"));

  // A no-op update adds no entry.
  Json same = with_status;
  UpdateManagedFields(reg(), Deploy(), &with_status, same, "noop", "Update", "", "t4");
  EXPECT_EQ(Entry(same, "noop"), nullptr);
  // Ordering: Apply entries first, then by time.
  Json applied = MustApply(&same, Deployment(2, {{"a", "img"}}), "ssa", false, "t5");
  EXPECT_EQ(GetString(applied["metadata"]["managedFields"][0], "manager"), "ssa");
}

TEST_F(ApplyTest, ClientProvidedManagedFieldsAreTheBase) {
  Json obj = Deployment(2, {{"a", "img"}});
  UpdateManagedFields(reg(), Deploy(), nullptr, obj, "kubectl-client-side-apply", "Update", "", "t0");
  // kubectl's csaupgrade: a JSON patch that renames the entry to an Apply entry of "kubectl".
  Json upgraded = obj;
  upgraded["metadata"]["managedFields"][0]["manager"] = "kubectl";
  upgraded["metadata"]["managedFields"][0]["operation"] = "Apply";
  UpdateManagedFields(reg(), Deploy(), &obj, upgraded, "kubectl", "Update", "", "t1");
  ASSERT_EQ(upgraded["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ(GetString(upgraded["metadata"]["managedFields"][0], "operation"), "Apply");
  EXPECT_EQ(Entry(upgraded, "kubectl-client-side-apply"), nullptr);
}

TEST_F(ApplyTest, ClientSideApplyMigration) {
  // What client-side `kubectl apply` leaves: the object, its annotation, and an Update entry.
  Json manifest = Deployment(2, {{"a", "img:1"}}, J(R"({"tier":"web"})"));
  Json obj = manifest;
  obj["metadata"]["annotations"] = {{std::string(kLastAppliedAnnotation), DumpJson(manifest) + "\n"}};
  UpdateManagedFields(reg(), Deploy(), nullptr, obj, "kubectl-client-side-apply", "Update", "", "t0");
  obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent";  // defaulted

  // The server-side apply changes replicas and the image and drops the label and the env var.
  Json next = Deployment(3, {{"a", "img:2"}});
  next["spec"]["template"]["spec"]["containers"][0].erase("env");
  auto r = Apply(reg(), Deploy(), &obj, next, "kubectl", false, "t1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Json& o = r->object;
  EXPECT_EQ(o["spec"]["replicas"], 3);
  EXPECT_EQ(o["spec"]["template"]["spec"]["containers"][0]["image"], "img:2");
  EXPECT_FALSE(o["spec"]["template"]["spec"]["containers"][0].contains("env"));
  EXPECT_FALSE(o["metadata"].contains("labels"));
  EXPECT_EQ(o["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(Entry(o, "kubectl-client-side-apply"), nullptr);
  ASSERT_NE(Entry(o, "kubectl", "Apply"), nullptr);
  // The annotation now records the server-side applied configuration.
  std::string la = GetStringPath(o, {"metadata", "annotations", std::string(kLastAppliedAnnotation)});
  auto parsed = ParseJson(la);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)["spec"]["replicas"], 3);

  // Another field manager does not get the upgrade: it conflicts with the client-side owner.
  auto other = Apply(reg(), Deploy(), &obj, next, "ci", false, "t1");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("conflicts with \"kubectl-client-side-apply\" using apps/v1:"),
            std::string::npos)
      << other.status().message();
}

TEST_F(ApplyTest, UntypedAndConfigMapData) {
  Json cm = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","b":"2"}})");
  auto r = Apply(reg(), ConfigMap(), nullptr, cm, "m1", false, "t");
  ASSERT_TRUE(r.ok());
  Json cm2 = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}})");
  auto r2 = Apply(reg(), ConfigMap(), &r->object, cm2, "m1", false, "t");
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->object["data"], J(R"({"a":"1"})"));
  Json cm3 = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"9"}})");
  auto r3 = Apply(reg(), ConfigMap(), &r2->object, cm3, "m2", false, "t");
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.status().message(), "Apply failed with 1 conflict: conflict with \"m1\": .data.a");
}

TEST(ManagerFromUserAgentTest, Prefix) {
  EXPECT_EQ(ManagerFromUserAgent("kubectl/v1.33.1 (linux/amd64) kubernetes/abc"), "kubectl");
  EXPECT_EQ(ManagerFromUserAgent("kube-controller-manager/v1.33"), "kube-controller-manager");
  EXPECT_EQ(ManagerFromUserAgent(std::string(200, 'x')).size(), 128u);
}

}  // namespace
}  // namespace tug::api::apply
