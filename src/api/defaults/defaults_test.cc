// Defaulting: each case is a client body (mostly what kubectl sends) and the object upstream
// Kubernetes stores for it (defaulting only; server-assigned fields such as clusterIP, uid
// and admission results are not part of defaulting). Every case is also checked for
// idempotence.
#include "api/defaults/defaults.h"

#include <gtest/gtest.h>

namespace tug::api::defaults {
namespace {

struct Case {
  const char* name;
  const char* group;
  const char* kind;
  const char* in;
  const char* want;
};

Json J(const char* s) { return Json::parse(s); }


const Case kCases[] = {
    {"deployment_kubectl_create", "apps", "Deployment",
     R"({"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","creationTimestamp":null,"labels":{"app":"web"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.25","resources":{}}]}},"strategy":{}},"status":{}})",
     R"({"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","creationTimestamp":null,"labels":{"app":"web"}},
         "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
           "template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},
             "spec":{"containers":[{"name":"nginx","image":"nginx:1.25","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],
               "restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler"}},
           "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}},
           "revisionHistoryLimit":10,"progressDeadlineSeconds":600},
         "status":{}})"},
    {"deployment_image_only_no_replicas_recreate", "apps", "Deployment",
     R"({"spec":{"selector":{"matchLabels":{"a":"b"}},"strategy":{"type":"Recreate"},"template":{"spec":{"containers":[{"name":"c","image":"busybox"}]}}}})",
     R"({"spec":{"replicas":1,"selector":{"matchLabels":{"a":"b"}},"strategy":{"type":"Recreate"},"revisionHistoryLimit":10,"progressDeadlineSeconds":600,
         "template":{"spec":{"containers":[{"name":"c","image":"busybox","imagePullPolicy":"Always","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],
           "restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler"}}}})"},
    {"pod_kubectl_run", "", "Pod",
     R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"pingpong","creationTimestamp":null,"labels":{"run":"pingpong"}},"spec":{"containers":[{"name":"pingpong","image":"alpine","args":["ping","8.8.8.8"],"resources":{}}],"restartPolicy":"Always","dnsPolicy":"ClusterFirst"},"status":{}})",
     R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"pingpong","creationTimestamp":null,"labels":{"run":"pingpong"}},
         "spec":{"containers":[{"name":"pingpong","image":"alpine","args":["ping","8.8.8.8"],"resources":{},"imagePullPolicy":"Always","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],
           "restartPolicy":"Always","dnsPolicy":"ClusterFirst","terminationGracePeriodSeconds":30,"securityContext":{},"schedulerName":"default-scheduler","enableServiceLinks":true},
         "status":{}})"},
    {"pod_ports_probes_volumes_env", "", "Pod",
     R"({"spec":{"hostNetwork":true,"containers":[{"name":"c","image":"r.io/x/app@sha256:abcd","ports":[{"containerPort":80}],
          "env":[{"name":"N","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}],
          "resources":{"limits":{"cpu":"1"}},
          "livenessProbe":{"httpGet":{"port":80}},"readinessProbe":{"exec":{"command":["true"]},"periodSeconds":5},
          "lifecycle":{"preStop":{"httpGet":{"port":81}}}}],
          "volumes":[{"name":"a"},{"name":"s","secret":{"secretName":"x"}},{"name":"m","configMap":{"name":"y","defaultMode":256}},
                     {"name":"h","hostPath":{"path":"/tmp"}},{"name":"p","projected":{"sources":[{"serviceAccountToken":{"path":"t"}}]}}]}})",
     R"({"spec":{"hostNetwork":true,"containers":[{"name":"c","image":"r.io/x/app@sha256:abcd","imagePullPolicy":"IfNotPresent","terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File",
          "ports":[{"containerPort":80,"hostPort":80,"protocol":"TCP"}],
          "env":[{"name":"N","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}}],
          "resources":{"limits":{"cpu":"1"},"requests":{"cpu":"1"}},
          "livenessProbe":{"httpGet":{"port":80,"path":"/","scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3},
          "readinessProbe":{"exec":{"command":["true"]},"timeoutSeconds":1,"periodSeconds":5,"successThreshold":1,"failureThreshold":3},
          "lifecycle":{"preStop":{"httpGet":{"port":81,"path":"/","scheme":"HTTP"}}}}],
          "volumes":[{"name":"a","emptyDir":{}},{"name":"s","secret":{"secretName":"x","defaultMode":420}},{"name":"m","configMap":{"name":"y","defaultMode":256}},
                     {"name":"h","hostPath":{"path":"/tmp","type":""}},{"name":"p","projected":{"defaultMode":420,"sources":[{"serviceAccountToken":{"path":"t","expirationSeconds":3600}}]}}],
          "restartPolicy":"Always","dnsPolicy":"ClusterFirst","terminationGracePeriodSeconds":30,"securityContext":{},"schedulerName":"default-scheduler","enableServiceLinks":true}})"},
    {"service_kubectl_expose", "", "Service",
     R"({"apiVersion":"v1","kind":"Service","metadata":{"labels":{"app":"app"},"name":"app"},"spec":{"ports":[{"port":80,"protocol":"TCP","targetPort":8080}],"selector":{"app":"app"}},"status":{"loadBalancer":{}}})",
     R"({"apiVersion":"v1","kind":"Service","metadata":{"labels":{"app":"app"},"name":"app"},
         "spec":{"ports":[{"port":80,"protocol":"TCP","targetPort":8080}],"selector":{"app":"app"},"type":"ClusterIP","sessionAffinity":"None","internalTrafficPolicy":"Cluster"},
         "status":{"loadBalancer":{}}})"},
    {"service_nodeport_target_defaults_to_port", "", "Service",
     R"({"spec":{"type":"NodePort","ports":[{"port":80}]}})",
     R"({"spec":{"type":"NodePort","ports":[{"port":80,"protocol":"TCP","targetPort":80}],"sessionAffinity":"None","externalTrafficPolicy":"Cluster","internalTrafficPolicy":"Cluster"}})"},
    {"service_loadbalancer_clientip", "", "Service",
     R"({"spec":{"type":"LoadBalancer","sessionAffinity":"ClientIP","ports":[{"port":443,"targetPort":"https"}]}})",
     R"({"spec":{"type":"LoadBalancer","sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":10800}},
         "ports":[{"port":443,"protocol":"TCP","targetPort":"https"}],"externalTrafficPolicy":"Cluster","internalTrafficPolicy":"Cluster","allocateLoadBalancerNodePorts":true}})"},
    {"service_externalname", "", "Service",
     R"({"spec":{"type":"ExternalName","externalName":"example.com"}})",
     R"({"spec":{"type":"ExternalName","externalName":"example.com","sessionAffinity":"None"}})"},
    {"secret_kubectl_create", "", "Secret",
     R"({"kind":"Secret","apiVersion":"v1","metadata":{"name":"s1","creationTimestamp":null},"data":{"pw":"czNjcmV0","user":"YWRtaW4="}})",
     R"({"kind":"Secret","apiVersion":"v1","metadata":{"name":"s1","creationTimestamp":null},"data":{"pw":"czNjcmV0","user":"YWRtaW4="},"type":"Opaque"})"},
    {"secret_string_data_merged", "", "Secret", R"({"data":{"a":"eA==","b":"eQ=="},"stringData":{"b":"hello","c":"hi!!"}})",
     R"({"data":{"a":"eA==","b":"aGVsbG8=","c":"aGkhIQ=="},"type":"Opaque"})"},
    {"secret_keeps_type", "", "Secret", R"({"type":"kubernetes.io/tls"})", R"({"type":"kubernetes.io/tls"})"},
    {"configmap_no_defaults", "", "ConfigMap", R"({"data":{"k":"v"}})", R"({"data":{"k":"v"}})"},
    {"namespace", "", "Namespace", R"({"metadata":{"name":"n"}})",
     R"({"metadata":{"name":"n","labels":{"kubernetes.io/metadata.name":"n"}},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}})"},
    {"pv", "", "PersistentVolume", R"({"spec":{"capacity":{"storage":"1Gi"},"hostPath":{"path":"/d"}}})",
     R"({"spec":{"capacity":{"storage":"1Gi"},"hostPath":{"path":"/d","type":""},"persistentVolumeReclaimPolicy":"Retain","volumeMode":"Filesystem"},"status":{"phase":"Pending"}})"},
    {"pvc", "", "PersistentVolumeClaim", R"({"spec":{"accessModes":["ReadWriteOnce"]}})",
     R"({"spec":{"accessModes":["ReadWriteOnce"],"volumeMode":"Filesystem"},"status":{"phase":"Pending"}})"},
    {"endpoints", "", "Endpoints", R"({"subsets":[{"ports":[{"port":80}]}]})", R"({"subsets":[{"ports":[{"port":80,"protocol":"TCP"}]}]})"},
    {"limitrange_container", "", "LimitRange", R"({"spec":{"limits":[{"type":"Container","max":{"cpu":"2"},"min":{"memory":"1Mi"}}]}})",
     R"({"spec":{"limits":[{"type":"Container","max":{"cpu":"2"},"min":{"memory":"1Mi"},"default":{"cpu":"2"},"defaultRequest":{"cpu":"2","memory":"1Mi"}}]}})"},
    {"replicationcontroller", "", "ReplicationController",
     R"({"spec":{"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i:1"}]}}}})",
     R"({"metadata":{"labels":{"a":"b"}},"spec":{"replicas":1,"selector":{"a":"b"},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i:1","imagePullPolicy":"IfNotPresent",)"
     R"("resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler"}}}})"},
    {"statefulset", "apps", "StatefulSet",
     R"({"spec":{"serviceName":"s","selector":{"matchLabels":{"a":"b"}},"template":{"spec":{"containers":[{"name":"c","image":"i:latest"}]}},"volumeClaimTemplates":[{"metadata":{"name":"d"},"spec":{"accessModes":["ReadWriteOnce"]}}]}})",
     R"({"spec":{"serviceName":"s","replicas":1,"revisionHistoryLimit":10,"podManagementPolicy":"OrderedReady","updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":0}},
         "persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Retain","whenScaled":"Retain"},"selector":{"matchLabels":{"a":"b"}},
         "template":{"spec":{"containers":[{"name":"c","image":"i:latest","imagePullPolicy":"Always","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler"}},
         "volumeClaimTemplates":[{"metadata":{"name":"d"},"spec":{"accessModes":["ReadWriteOnce"],"volumeMode":"Filesystem"},"status":{"phase":"Pending"}}]}})"},
    {"daemonset", "apps", "DaemonSet", R"({"spec":{}})",
     R"({"spec":{"revisionHistoryLimit":10,"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1,"maxSurge":0}}}})"},
    {"daemonset_ondelete", "apps", "DaemonSet", R"({"spec":{"updateStrategy":{"type":"OnDelete"}}})",
     R"({"spec":{"revisionHistoryLimit":10,"updateStrategy":{"type":"OnDelete"}}})"},
    {"replicaset", "apps", "ReplicaSet", R"({"spec":{}})", R"({"spec":{"replicas":1}})"},
    {"job", "batch", "Job",
     R"({"spec":{"template":{"metadata":{"labels":{"x":"y"}},"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"i:1"}]}}}})",
     R"({"metadata":{"labels":{"x":"y"}},"spec":{"completions":1,"parallelism":1,"backoffLimit":6,"completionMode":"NonIndexed","suspend":false,"podReplacementPolicy":"TerminatingOrFailed","manualSelector":false,
         "template":{"metadata":{"labels":{"x":"y"}},"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"i:1","imagePullPolicy":"IfNotPresent","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler"}}}})"},
    {"job_completions_set", "batch", "Job", R"({"spec":{"completions":5}})",
     R"({"spec":{"completions":5,"parallelism":1,"backoffLimit":6,"completionMode":"NonIndexed","suspend":false,"podReplacementPolicy":"TerminatingOrFailed","manualSelector":false}})"},
    {"cronjob", "batch", "CronJob",
     R"({"spec":{"schedule":"@hourly","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"i:1"}]}}}}}})",
     R"({"spec":{"schedule":"@hourly","concurrencyPolicy":"Allow","suspend":false,"successfulJobsHistoryLimit":3,"failedJobsHistoryLimit":1,
         "jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"i:1","imagePullPolicy":"IfNotPresent","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler"}}}}}})"},
    {"hpa_v2", "autoscaling", "HorizontalPodAutoscaler",
     R"({"apiVersion":"autoscaling/v2","spec":{"maxReplicas":5,"behavior":{"scaleDown":{"stabilizationWindowSeconds":60}}}})",
     R"({"apiVersion":"autoscaling/v2","spec":{"maxReplicas":5,"minReplicas":1,
         "metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":80}}}],
         "behavior":{"scaleDown":{"stabilizationWindowSeconds":60,"selectPolicy":"Max","policies":[{"type":"Percent","value":100,"periodSeconds":15}]},
                     "scaleUp":{"stabilizationWindowSeconds":0,"selectPolicy":"Max","policies":[{"type":"Pods","value":4,"periodSeconds":15},{"type":"Percent","value":100,"periodSeconds":15}]}}}})"},
    {"hpa_v1", "autoscaling", "HorizontalPodAutoscaler", R"({"apiVersion":"autoscaling/v1","spec":{"maxReplicas":5}})",
     R"({"apiVersion":"autoscaling/v1","spec":{"maxReplicas":5,"minReplicas":1}})"},
    {"ingress_no_pathtype_default", "networking.k8s.io", "Ingress",
     R"({"spec":{"rules":[{"http":{"paths":[{"path":"/","backend":{"service":{"name":"s","port":{"number":80}}}}]}}]}})",
     R"({"spec":{"rules":[{"http":{"paths":[{"path":"/","backend":{"service":{"name":"s","port":{"number":80}}}}]}}]}})"},
    {"networkpolicy_egress", "networking.k8s.io", "NetworkPolicy", R"({"spec":{"podSelector":{},"egress":[{"ports":[{"port":53}]}]}})",
     R"({"spec":{"podSelector":{},"egress":[{"ports":[{"port":53,"protocol":"TCP"}]}],"policyTypes":["Ingress","Egress"]}})"},
    {"networkpolicy_ingress_only", "networking.k8s.io", "NetworkPolicy", R"({"spec":{"podSelector":{}}})",
     R"({"spec":{"podSelector":{},"policyTypes":["Ingress"]}})"},
    {"rolebinding_subjects", "rbac.authorization.k8s.io", "RoleBinding",
     R"({"subjects":[{"kind":"User","name":"u"},{"kind":"ServiceAccount","name":"sa","namespace":"d"}]})",
     R"({"subjects":[{"kind":"User","name":"u","apiGroup":"rbac.authorization.k8s.io"},{"kind":"ServiceAccount","name":"sa","namespace":"d","apiGroup":""}]})"},
    {"storageclass", "storage.k8s.io", "StorageClass", R"({"provisioner":"p"})",
     R"({"provisioner":"p","reclaimPolicy":"Delete","volumeBindingMode":"Immediate"})"},
    {"priorityclass", "scheduling.k8s.io", "PriorityClass", R"({"value":5})", R"({"value":5,"preemptionPolicy":"PreemptLowerPriority"})"},
    {"endpointslice", "discovery.k8s.io", "EndpointSlice", R"({"addressType":"IPv4","ports":[{"port":80}]})",
     R"({"addressType":"IPv4","ports":[{"port":80,"name":"","protocol":"TCP"}]})"},
    {"lease_none", "coordination.k8s.io", "Lease", R"({"spec":{"holderIdentity":"a"}})", R"({"spec":{"holderIdentity":"a"}})"},
    {"csidriver", "storage.k8s.io", "CSIDriver", R"({"spec":{}})",
     R"({"spec":{"attachRequired":true,"podInfoOnMount":false,"storageCapacity":false,"fsGroupPolicy":"ReadWriteOnceWithFSType","requiresRepublish":false,"seLinuxMount":false,"volumeLifecycleModes":["Persistent"]}})"},
    {"mutating_webhook", "admissionregistration.k8s.io", "MutatingWebhookConfiguration",
     R"({"webhooks":[{"name":"w.example.com","sideEffects":"None","admissionReviewVersions":["v1"],"clientConfig":{"service":{"name":"s","namespace":"n"}},"rules":[{"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"]}]}]})",
     R"({"webhooks":[{"name":"w.example.com","sideEffects":"None","admissionReviewVersions":["v1"],"clientConfig":{"service":{"name":"s","namespace":"n","port":443}},
         "rules":[{"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"],"scope":"*"}],
         "failurePolicy":"Fail","matchPolicy":"Equivalent","namespaceSelector":{},"objectSelector":{},"timeoutSeconds":10,"reinvocationPolicy":"Never"}]})"},
    {"unknown_kind_untouched", "example.com", "Widget", R"({"spec":{"x":1}})", R"({"spec":{"x":1}})"},
};

TEST(DefaultsTest, MatchesUpstream) {
  for (const Case& c : kCases) {
    Json obj = J(c.in);
    Apply(c.group, c.kind, obj);
    EXPECT_EQ(obj, J(c.want)) << c.name << "\n got: " << obj.dump();
    Json again = obj;
    Apply(c.group, c.kind, again);
    EXPECT_EQ(again, obj) << c.name << " is not idempotent";
  }
}

TEST(DefaultsTest, ImagePullPolicyFromTag) {
  const std::pair<const char*, const char*> cases[] = {
      {"nginx", "Always"},
      {"nginx:latest", "Always"},
      {"nginx:1.25", "IfNotPresent"},
      {"localhost:5000/app", "Always"},
      {"localhost:5000/app:v1", "IfNotPresent"},
      {"app@sha256:0123", "IfNotPresent"},
      {"app:latest@sha256:0123", "Always"},
  };
  for (const auto& [image, want] : cases) {
    Json pod = {{"spec", {{"containers", Json::array({Json{{"name", "c"}, {"image", image}}})}}}};
    Apply("", "Pod", pod);
    EXPECT_EQ(pod["spec"]["containers"][0]["imagePullPolicy"], want) << image;
  }
}

TEST(DefaultsTest, NeverOverridesClientValues) {
  Json d = J(R"({"spec":{"replicas":0,"revisionHistoryLimit":2,"progressDeadlineSeconds":30,
      "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}},
      "template":{"spec":{"restartPolicy":"Never","dnsPolicy":"Default","terminationGracePeriodSeconds":0,
         "containers":[{"name":"c","image":"x","imagePullPolicy":"Never"}]}}}})");
  Apply("apps", "Deployment", d);
  EXPECT_EQ(d["spec"]["replicas"], 0);
  EXPECT_EQ(d["spec"]["revisionHistoryLimit"], 2);
  EXPECT_EQ(d["spec"]["progressDeadlineSeconds"], 30);
  EXPECT_EQ(d["spec"]["strategy"]["rollingUpdate"], J(R"({"maxSurge":1,"maxUnavailable":"25%"})"));
  EXPECT_EQ(d["spec"]["template"]["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(d["spec"]["template"]["spec"]["dnsPolicy"], "Default");
  EXPECT_EQ(d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 0);
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Never");
  // Templates do not get the pod-only enableServiceLinks.
  EXPECT_FALSE(d["spec"]["template"]["spec"].contains("enableServiceLinks"));
}

TEST(DefaultsTest, NonObjectInputIsIgnored) {
  Json a = Json::array({1, 2});
  Apply("apps", "Deployment", a);
  EXPECT_EQ(a, Json::array({1, 2}));
  Json weird = J(R"({"spec":{"containers":"nope","volumes":[1,"x"]}})");
  Apply("", "Pod", weird);
  EXPECT_EQ(weird["spec"]["containers"], "nope");
}

}  // namespace
}  // namespace tug::api::defaults
