#include "api/conversion/conversion.h"

#include <gtest/gtest.h>

namespace tug::api::conversion {
namespace {

ResourceDef Res(std::string g, std::string v, std::string kind, std::string sg, std::string sv) {
  ResourceDef r;
  r.group = std::move(g);
  r.version = std::move(v);
  r.kind = std::move(kind);
  r.storage_group = std::move(sg);
  r.storage_version = std::move(sv);
  return r;
}

Json Parse(const char* s) { return *ParseJson(s); }

TEST(ConversionTest, StorageVersionIsUntouchedButForTypeMeta) {
  ResourceDef r = Res("apps", "v1", "Deployment", "apps", "v1");
  EXPECT_FALSE(NeedsConversion(r));
  Json o = Parse(R"({"metadata":{"name":"a"},"spec":{"rollbackTo":{"revision":1}}})");
  Json before = o;
  DefaultServed(r, o);
  ASSERT_TRUE(ToStorage(r, o).ok());
  EXPECT_EQ(o["apiVersion"], "apps/v1");
  EXPECT_EQ(o["spec"], before["spec"]);  // nothing converted for the storage version itself
}

struct DefaultCase {
  const char* name;
  ResourceDef res;
  const char* in;
  std::vector<std::pair<std::vector<std::string>, Json>> want;  // path -> value
};

TEST(ConversionTest, OldVersionDefaults) {
  const char* tmpl = R"({"metadata":{"name":"d"},"spec":{"template":{"metadata":{"labels":{"app":"x"}},"spec":{}}}})";
  std::vector<DefaultCase> cases = {
      {"extensions deployment", Res("extensions", "v1beta1", "Deployment", "apps", "v1"), tmpl,
       {{{"spec", "selector", "matchLabels", "app"}, "x"},
        {{"metadata", "labels", "app"}, "x"},
        {{"spec", "revisionHistoryLimit"}, 2147483647},
        {{"spec", "progressDeadlineSeconds"}, 2147483647},
        {{"spec", "strategy", "rollingUpdate", "maxSurge"}, 1},
        {{"spec", "strategy", "rollingUpdate", "maxUnavailable"}, 1}}},
      {"apps/v1beta1 deployment", Res("apps", "v1beta1", "Deployment", "apps", "v1"), tmpl,
       {{{"spec", "selector", "matchLabels", "app"}, "x"}, {{"spec", "revisionHistoryLimit"}, 2}}},
      {"apps/v1beta2 deployment keeps no selector", Res("apps", "v1beta2", "Deployment", "apps", "v1"), tmpl,
       {{{"spec", "selector"}, nullptr}}},
      {"extensions daemonset", Res("extensions", "v1beta1", "DaemonSet", "apps", "v1"), tmpl,
       {{{"spec", "updateStrategy", "type"}, "OnDelete"}, {{"spec", "selector", "matchLabels", "app"}, "x"}}},
      {"apps/v1beta1 statefulset", Res("apps", "v1beta1", "StatefulSet", "apps", "v1"), tmpl,
       {{{"spec", "updateStrategy", "type"}, "OnDelete"}}},
      {"extensions replicaset", Res("extensions", "v1beta1", "ReplicaSet", "apps", "v1"), tmpl,
       {{{"spec", "selector", "matchLabels", "app"}, "x"}}},
  };
  for (const auto& c : cases) {
    Json o = Parse(c.in);
    DefaultServed(c.res, o);
    for (const auto& [path, want] : c.want) {
      const Json* cur = &o;
      for (const auto& p : path) cur = cur && cur->is_object() && cur->contains(p) ? &(*cur)[p] : nullptr;
      if (want.is_null())
        EXPECT_EQ(cur, nullptr) << c.name;
      else
        EXPECT_TRUE(cur && *cur == want) << c.name << " " << path.back() << ": " << o.dump();
    }
  }
}

TEST(ConversionTest, DeploymentRoundTripKeepsFields) {
  ResourceDef r = Res("extensions", "v1beta1", "Deployment", "apps", "v1");
  Json o = Parse(R"({"apiVersion":"extensions/v1beta1","kind":"Deployment","metadata":{"name":"d"},
    "spec":{"replicas":2,"rollbackTo":{"revision":3},"paused":true,"x-unknown":1}})");
  ASSERT_TRUE(ToStorage(r, o).ok());
  EXPECT_EQ(o["apiVersion"], "apps/v1");
  EXPECT_FALSE(o["spec"].contains("rollbackTo"));
  EXPECT_EQ(o["spec"]["x-unknown"], 1);
  ASSERT_TRUE(FromStorage(r, o).ok());
  EXPECT_EQ(o["apiVersion"], "extensions/v1beta1");
  EXPECT_EQ(o["spec"]["replicas"], 2);
}

TEST(ConversionTest, IngressBackends) {
  ResourceDef r = Res("extensions", "v1beta1", "Ingress", "networking.k8s.io", "v1");
  Json o = Parse(R"({"spec":{"backend":{"serviceName":"def","servicePort":80},
    "rules":[{"host":"a","http":{"paths":[{"path":"/","backend":{"serviceName":"web","servicePort":"http"}},
                                          {"path":"/n","backend":{"serviceName":"web","servicePort":"8080"}}]}}]}})");
  DefaultServed(r, o);
  ASSERT_TRUE(ToStorage(r, o).ok());
  EXPECT_EQ(o["apiVersion"], "networking.k8s.io/v1");
  EXPECT_EQ(o["spec"]["defaultBackend"], Parse(R"({"service":{"name":"def","port":{"number":80}}})"));
  const Json& paths = o["spec"]["rules"][0]["http"]["paths"];
  EXPECT_EQ(paths[0]["backend"], Parse(R"({"service":{"name":"web","port":{"name":"http"}}})"));
  EXPECT_EQ(paths[1]["backend"]["service"]["port"]["number"], 8080);
  EXPECT_EQ(paths[0]["pathType"], "ImplementationSpecific");
  ASSERT_TRUE(FromStorage(r, o).ok());
  EXPECT_EQ(o["spec"]["backend"], Parse(R"({"serviceName":"def","servicePort":80})"));
  EXPECT_EQ(o["spec"]["rules"][0]["http"]["paths"][0]["backend"], Parse(R"({"serviceName":"web","servicePort":"http"})"));
  EXPECT_FALSE(o["spec"].contains("defaultBackend"));
}

TEST(ConversionTest, PdbEmptySelectorKeepsItsMeaning) {
  ResourceDef r = Res("policy", "v1beta1", "PodDisruptionBudget", "policy", "v1");
  Json o = Parse(R"({"spec":{"minAvailable":1,"selector":{}}})");
  ASSERT_TRUE(ToStorage(r, o).ok());
  EXPECT_EQ(o["spec"]["selector"]["matchExpressions"][0]["operator"], "Exists");  // selects nothing in v1
  ASSERT_TRUE(FromStorage(r, o).ok());
  EXPECT_EQ(o["spec"]["selector"], Json::object());
  // A v1 object selecting everything reads back in v1beta1 with the reserved DoesNotExist form.
  Json all = Parse(R"({"spec":{"selector":{}}})");
  ASSERT_TRUE(FromStorage(r, all).ok());
  EXPECT_EQ(all["spec"]["selector"]["matchExpressions"][0]["operator"], "DoesNotExist");
  ASSERT_TRUE(ToStorage(r, all).ok());
  EXPECT_EQ(all["spec"]["selector"], Json::object());
}

TEST(ConversionTest, HpaV1AndV2) {
  ResourceDef r = Res("autoscaling", "v1", "HorizontalPodAutoscaler", "autoscaling", "v2");
  Json o = Parse(R"({"metadata":{"name":"h"},"spec":{"maxReplicas":3,"targetCPUUtilizationPercentage":50,
    "scaleTargetRef":{"kind":"Deployment","name":"web"}},"status":{"currentCPUUtilizationPercentage":20,"currentReplicas":1}})");
  ASSERT_TRUE(ToStorage(r, o).ok());
  EXPECT_EQ(o["apiVersion"], "autoscaling/v2");
  EXPECT_FALSE(o["spec"].contains("targetCPUUtilizationPercentage"));
  EXPECT_EQ(o["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 50);
  EXPECT_EQ(o["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"], 20);

  // A v2 object with a memory metric and conditions reads in v1 with the annotations upstream uses.
  o["spec"]["metrics"].push_back(Parse(R"({"type":"Resource","resource":{"name":"memory","target":{"type":"AverageValue","averageValue":"100Mi"}}})"));
  o["status"]["conditions"] = Parse(R"([{"type":"AbleToScale","status":"True"}])");
  ASSERT_TRUE(FromStorage(r, o).ok());
  EXPECT_EQ(o["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(o["spec"]["targetCPUUtilizationPercentage"], 50);
  EXPECT_EQ(o["status"]["currentCPUUtilizationPercentage"], 20);
  EXPECT_FALSE(o["spec"].contains("metrics"));
  const Json& ann = o["metadata"]["annotations"];
  Json metrics = *ParseJson(ann["autoscaling.alpha.kubernetes.io/metrics"].get<std::string>());
  EXPECT_EQ(metrics[0]["resource"]["targetAverageValue"], "100Mi");
  EXPECT_TRUE(ann.contains("autoscaling.alpha.kubernetes.io/conditions"));
  // And back: nothing lost, annotations consumed.
  ASSERT_TRUE(ToStorage(r, o).ok());
  EXPECT_EQ(o["spec"]["metrics"].size(), 2u);
  EXPECT_EQ(o["status"]["conditions"][0]["type"], "AbleToScale");
  EXPECT_FALSE(o["metadata"].contains("annotations"));
}

TEST(ConversionTest, ScaleKinds) {
  Json s = Parse(R"({"apiVersion":"autoscaling/v1","kind":"Scale","spec":{"replicas":2},"status":{"replicas":2,"selector":"app=web,tier=fe"}})");
  ScaleFromAutoscaling({"apps", "v1beta1", "Scale"}, s);
  EXPECT_EQ(s["apiVersion"], "apps/v1beta1");
  EXPECT_EQ(s["status"]["targetSelector"], "app=web,tier=fe");
  EXPECT_EQ(s["status"]["selector"], Parse(R"({"app":"web","tier":"fe"})"));
  ScaleToAutoscaling(s);
  EXPECT_EQ(s["status"]["selector"], "app=web,tier=fe");
  Json set = Parse(R"j({"status":{"selector":"app in (a,b)"}})j");
  ScaleFromAutoscaling({"extensions", "v1beta1", "Scale"}, set);
  EXPECT_FALSE(set["status"].contains("selector"));  // not expressible as a map
  EXPECT_EQ(set["status"]["targetSelector"], "app in (a,b)");
}

TEST(ConversionTest, MalformedServicePortIsInvalid) {
  ResourceDef r = Res("extensions", "v1beta1", "Ingress", "networking.k8s.io", "v1");
  Json o = Parse(R"({"spec":{"backend":{"serviceName":"a","servicePort":{"x":1}}}})");
  EXPECT_EQ(ToStorage(r, o).code(), StatusCode::kInvalid);
}

}  // namespace
}  // namespace tug::api::conversion
