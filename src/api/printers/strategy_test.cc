// PrepareForCreate / PrepareForUpdate / PrepareForStatusUpdate of the built-in strategies,
// pod QoS classes, and StrategyFor's lookup.
#include <gtest/gtest.h>

#include "api/printers/prepare.h"
#include "api/strategy.h"

namespace tug::api {
namespace {

Json Container(Json requests, Json limits) {
  Json c = {{"name", "c"}, {"image", "busybox"}};
  Json res = Json::object();
  if (!requests.is_null()) res["requests"] = requests;
  if (!limits.is_null()) res["limits"] = limits;
  c["resources"] = res;
  return c;
}

struct QosCase {
  std::string name;
  Json containers;
  Json init_containers;
  std::string want;
};

TEST(PodQOS, Classes) {
  const std::vector<QosCase> cases = {
      {"no_resources", Json::array({Json{{"name", "c"}}}), Json(), "BestEffort"},
      {"empty_resources", Json::array({Container(Json(), Json())}), Json(), "BestEffort"},
      {"zero_requests", Json::array({Container(Json{{"cpu", "0"}}, Json())}), Json(), "BestEffort"},
      {"requests_only", Json::array({Container(Json{{"cpu", "100m"}}, Json())}), Json(), "Burstable"},
      {"equal", Json::array({Container(Json{{"cpu", "100m"}, {"memory", "64Mi"}}, Json{{"cpu", "0.1"}, {"memory", "64Mi"}})}), Json(),
       "Guaranteed"},
      {"limits_only", Json::array({Container(Json(), Json{{"cpu", "1"}, {"memory", "1Gi"}})}), Json(), "Guaranteed"},
      {"limit_cpu_only", Json::array({Container(Json(), Json{{"cpu", "1"}})}), Json(), "Burstable"},
      {"unequal", Json::array({Container(Json{{"cpu", "100m"}, {"memory", "64Mi"}}, Json{{"cpu", "200m"}, {"memory", "64Mi"}})}), Json(),
       "Burstable"},
      {"one_container_besteffort",
       Json::array({Container(Json(), Json{{"cpu", "1"}, {"memory", "1Gi"}}), Json{{"name", "d"}}}), Json(), "Burstable"},
      {"ephemeral_storage_ignored", Json::array({Container(Json{{"ephemeral-storage", "1Gi"}}, Json())}), Json(), "BestEffort"},
      {"init_container_counts", Json::array({Container(Json(), Json{{"cpu", "1"}, {"memory", "1Gi"}})}),
       Json::array({Container(Json{{"cpu", "1"}}, Json())}), "Burstable"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Json pod = {{"spec", {{"containers", c.containers}}}};
    if (!c.init_containers.is_null()) pod["spec"]["initContainers"] = c.init_containers;
    EXPECT_EQ(printers::PodQOSClass(pod), c.want);
  }
}

TEST(StrategyPrepare, PodCreateSetsPendingAndQOS) {
  Json pod = {{"metadata", {{"name", "p"}, {"namespace", "default"}}},
              {"spec", {{"containers", Json::array({Container(Json(), Json{{"cpu", "1"}, {"memory", "1Gi"}})})}}},
              {"status", {{"phase", "Running"}, {"podIP", "1.2.3.4"}}}};
  StrategyFor("", "Pod").PrepareForCreate(pod);
  EXPECT_EQ(pod["status"], (Json{{"phase", "Pending"}, {"qosClass", "Guaranteed"}}));
}

TEST(StrategyPrepare, PodCreateWithSchedulingGates) {
  Json pod = {{"spec", {{"schedulingGates", Json::array({Json{{"name", "example.com/gate"}}})}, {"containers", Json::array({Json{{"name", "c"}}})}}}};
  StrategyFor("", "Pod").PrepareForCreate(pod);
  ASSERT_EQ(pod["status"]["conditions"].size(), 1u);
  EXPECT_EQ(pod["status"]["conditions"][0]["reason"], "SchedulingGated");
  EXPECT_EQ(pod["status"]["conditions"][0]["status"], "False");
  EXPECT_EQ(pod["status"]["qosClass"], "BestEffort");
}

struct CreateCase {
  std::string group, kind;
  Json want_status;  // null: status must be absent/unchanged
};

TEST(StrategyPrepare, CreateResetsStatus) {
  const std::vector<CreateCase> cases = {
      {"apps", "Deployment", Json::object()},
      {"apps", "ReplicaSet", Json{{"replicas", 0}}},
      {"apps", "StatefulSet", Json{{"replicas", 0}, {"availableReplicas", 0}}},
      {"apps", "DaemonSet", Json{{"currentNumberScheduled", 0}, {"numberMisscheduled", 0}, {"desiredNumberScheduled", 0}, {"numberReady", 0}}},
      {"batch", "Job", Json::object()},
      {"batch", "CronJob", Json::object()},
      {"", "Service", Json{{"loadBalancer", Json::object()}}},
      {"", "ReplicationController", Json{{"replicas", 0}}},
      {"", "Namespace", Json{{"phase", "Active"}}},
      {"", "PersistentVolumeClaim", Json{{"phase", "Pending"}}},
      {"policy", "PodDisruptionBudget", Json{{"disruptionsAllowed", 0}, {"currentHealthy", 0}, {"desiredHealthy", 0}, {"expectedPods", 0}}},
      {"autoscaling", "HorizontalPodAutoscaler", Json{{"desiredReplicas", 0}}},
      {"networking.k8s.io", "Ingress", Json{{"loadBalancer", Json::object()}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.group + "/" + c.kind);
    Json obj = {{"metadata", {{"name", "x"}}}, {"spec", Json::object()}, {"status", {{"replicas", 7}, {"phase", "Bogus"}}}};
    StrategyFor(c.group, c.kind).PrepareForCreate(obj);
    EXPECT_EQ(obj["status"], c.want_status);
  }
}

TEST(StrategyPrepare, CreateKeepsStatusWithoutSubresourceAndForNodes) {
  Json node = {{"metadata", {{"name", "n"}}}, {"status", {{"capacity", {{"cpu", "2"}}}, {"config", {{"x", 1}}}}}};
  StrategyFor("", "Node").PrepareForCreate(node);
  EXPECT_EQ(node["status"], (Json{{"capacity", {{"cpu", "2"}}}}));
  Json cm = {{"metadata", {{"name", "c"}}}, {"data", {{"a", "b"}}}};
  Json before = cm;
  StrategyFor("", "ConfigMap").PrepareForCreate(cm);
  EXPECT_EQ(cm, before);
}

TEST(StrategyPrepare, PersistentVolumeCreate) {
  Json pv = {{"metadata", {{"name", "pv"}}}, {"status", {{"phase", "Bound"}}}};
  StrategyFor("", "PersistentVolume").PrepareForCreate(pv);
  EXPECT_EQ(pv["status"]["phase"], "Pending");
  EXPECT_TRUE(pv["status"]["lastPhaseTransitionTime"].is_string());
}

TEST(StrategyPrepare, NamespaceCreateAddsFinalizerAndNameLabel) {
  Json ns = {{"metadata", {{"name", "team-a"}}}, {"spec", {{"finalizers", Json::array({"example.com/x"})}}}};
  StrategyFor("", "Namespace").PrepareForCreate(ns);
  EXPECT_EQ(ns["spec"]["finalizers"], Json::array({"example.com/x", "kubernetes"}));
  EXPECT_EQ(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team-a");
  Json again = ns;
  StrategyFor("", "Namespace").PrepareForCreate(again);
  EXPECT_EQ(again, ns);
}

TEST(StrategyPrepare, UpdateKeepsOldStatus) {
  for (auto [g, k] : std::vector<std::pair<std::string, std::string>>{{"apps", "Deployment"}, {"", "Pod"}, {"", "Service"}, {"batch", "Job"}, {"", "Node"}}) {
    SCOPED_TRACE(g + "/" + k);
    Json old = {{"metadata", {{"name", "x"}}}, {"spec", {{"replicas", 1}}}, {"status", {{"replicas", 1}, {"readyReplicas", 1}}}};
    Json obj = {{"metadata", {{"name", "x"}}}, {"spec", {{"replicas", 3}}}, {"status", {{"replicas", 99}}}};
    StrategyFor(g, k).PrepareForUpdate(obj, old);
    EXPECT_EQ(obj["status"], old["status"]);
    EXPECT_EQ(obj["spec"]["replicas"], 3);
  }
  // Without a status subresource the update is taken as sent.
  Json old_cm = {{"data", {{"a", "1"}}}};
  Json cm = {{"data", {{"a", "2"}}}, {"status", {{"x", 1}}}};
  StrategyFor("", "ConfigMap").PrepareForUpdate(cm, old_cm);
  EXPECT_EQ(cm["status"]["x"], 1);
  // Old object without status: the new status is dropped.
  Json old_dep = {{"spec", {{"replicas", 1}}}};
  Json dep = {{"spec", {{"replicas", 2}}}, {"status", {{"replicas", 5}}}};
  StrategyFor("apps", "Deployment").PrepareForUpdate(dep, old_dep);
  EXPECT_FALSE(dep.contains("status"));
}

TEST(StrategyPrepare, NamespaceUpdateKeepsFinalizers) {
  Json old = {{"metadata", {{"name", "ns"}}}, {"spec", {{"finalizers", Json::array({"kubernetes"})}}}, {"status", {{"phase", "Active"}}}};
  Json obj = {{"metadata", {{"name", "ns"}}}, {"spec", {{"finalizers", Json::array()}}}, {"status", {{"phase", "Terminating"}}}};
  StrategyFor("", "Namespace").PrepareForUpdate(obj, old);
  EXPECT_EQ(obj["spec"]["finalizers"], Json::array({"kubernetes"}));
  EXPECT_EQ(obj["status"]["phase"], "Active");
}

TEST(StrategyPrepare, StatusUpdateKeepsSpecAndSystemMetadata) {
  Json old = {{"metadata", {{"name", "web"}, {"uid", "u1"}, {"generation", 4}, {"resourceVersion", "10"}, {"labels", {{"app", "web"}}},
                            {"annotations", {{"a", "1"}}}, {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
              {"spec", {{"replicas", 3}}},
              {"status", {{"replicas", 1}}}};
  Json obj = {{"metadata", {{"name", "web"}, {"uid", "other"}, {"generation", 9}, {"resourceVersion", "10"}, {"labels", {{"app", "changed"}}},
                            {"annotations", {{"a", "2"}}}}},
              {"spec", {{"replicas", 100}}},
              {"status", {{"replicas", 3}, {"readyReplicas", 3}}}};
  Json svc_obj = obj;
  StrategyFor("apps", "Deployment").PrepareForStatusUpdate(obj, old);
  EXPECT_EQ(obj["spec"], old["spec"]);
  EXPECT_EQ(obj["status"], (Json{{"replicas", 3}, {"readyReplicas", 3}}));
  EXPECT_EQ(obj["metadata"]["uid"], "u1");
  EXPECT_EQ(obj["metadata"]["generation"], 4);
  EXPECT_EQ(obj["metadata"]["creationTimestamp"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(obj["metadata"]["labels"]["app"], "web");   // apps workloads keep old labels
  EXPECT_EQ(obj["metadata"]["annotations"]["a"], "2");  // annotations may change

  StrategyFor("", "Service").PrepareForStatusUpdate(svc_obj, old);
  EXPECT_EQ(svc_obj["spec"], old["spec"]);
  EXPECT_EQ(svc_obj["metadata"]["labels"]["app"], "changed");
}

TEST(StrategyPrepare, PodStatusUpdateKeepsOwnerReferences) {
  Json old = {{"metadata", {{"name", "p"}, {"ownerReferences", Json::array({Json{{"name", "rs"}}})}, {"deletionTimestamp", "2026-01-01T00:00:00Z"}}},
              {"spec", {{"nodeName", "n1"}}}, {"status", {{"phase", "Pending"}}}};
  Json obj = {{"metadata", {{"name", "p"}}}, {"spec", {{"nodeName", "n2"}}}, {"status", {{"phase", "Running"}}}};
  StrategyFor("", "Pod").PrepareForStatusUpdate(obj, old);
  EXPECT_EQ(obj["metadata"]["ownerReferences"], old["metadata"]["ownerReferences"]);
  EXPECT_EQ(obj["metadata"]["deletionTimestamp"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(obj["spec"]["nodeName"], "n1");
  EXPECT_EQ(obj["status"]["phase"], "Running");
}

TEST(StrategyPrepare, JobSelectorGenerated) {
  Json job = {{"metadata", {{"name", "pi"}, {"uid", "1234"}}},
              {"spec", {{"template", {{"spec", {{"containers", Json::array({Json{{"name", "pi"}}})}}}}}}}};
  StrategyFor("batch", "Job").PrepareForCreate(job);
  EXPECT_EQ(job["spec"]["selector"], (Json{{"matchLabels", {{"batch.kubernetes.io/controller-uid", "1234"}}}}));
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"],
            (Json{{"batch.kubernetes.io/controller-uid", "1234"}, {"batch.kubernetes.io/job-name", "pi"}, {"controller-uid", "1234"}, {"job-name", "pi"}}));
  Json manual = {{"metadata", {{"name", "m"}, {"uid", "1"}}}, {"spec", {{"manualSelector", true}, {"selector", {{"matchLabels", {{"a", "b"}}}}}}}};
  StrategyFor("batch", "Job").PrepareForCreate(manual);
  EXPECT_EQ(manual["spec"]["selector"], (Json{{"matchLabels", {{"a", "b"}}}}));
}

TEST(StrategyPrepare, DaemonSetTemplateGeneration) {
  Json ds = {{"metadata", {{"name", "d"}}}, {"spec", {{"template", {{"spec", {{"containers", Json::array({Json{{"image", "a"}}})}}}}}}}};
  StrategyFor("apps", "DaemonSet").PrepareForCreate(ds);
  EXPECT_EQ(ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "1");
  Json same = ds;
  StrategyFor("apps", "DaemonSet").PrepareForUpdate(same, ds);
  EXPECT_EQ(same["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "1");
  Json changed = ds;
  changed["spec"]["template"]["spec"]["containers"][0]["image"] = "b";
  StrategyFor("apps", "DaemonSet").PrepareForUpdate(changed, ds);
  EXPECT_EQ(changed["metadata"]["annotations"]["deprecated.daemonset.template.generation"], "2");
}

TEST(StrategyFor, KnownAndUnknownKinds) {
  EXPECT_NE(&StrategyFor("apps", "Deployment"), &StrategyFor("", "Pod"));
  EXPECT_EQ(&StrategyFor("example.com", "Widget"), &StrategyFor("other.io", "Thing"));
  EXPECT_EQ(&StrategyFor("apps", "Deployment"), &StrategyFor("apps", "Deployment"));
  EXPECT_NE(&StrategyFor("", "Deployment"), &StrategyFor("apps", "Deployment"));
  EXPECT_TRUE(printers::HasStatusSubresource("apps", "Deployment"));
  EXPECT_FALSE(printers::HasStatusSubresource("", "ConfigMap"));
}

TEST(StrategyFor, GenericValidatesMetadata) {
  // A custom resource without a name fails metadata validation.
  FieldErrors errs = StrategyFor("example.com", "Widget").Validate(Json{{"metadata", {{"namespace", "default"}}}});
  EXPECT_FALSE(errs.empty());
  EXPECT_TRUE(StrategyFor("example.com", "Widget").Validate(Json{{"metadata", {{"name", "w"}, {"namespace", "default"}}}}).empty());
}

TEST(StrategyFor, BuiltinDelegatesValidation) {
  // Metadata and kind rules come from api/validation: a pod without a name or containers fails.
  EXPECT_FALSE(StrategyFor("", "Pod").Validate(Json{{"metadata", {{"namespace", "default"}}}, {"spec", {{"containers", Json::array()}}}}).empty());
}

}  // namespace
}  // namespace tug::api
