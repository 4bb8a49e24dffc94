// Validation: every case is an object (defaulted first, as the API server does) and the exact
// upstream error strings it must produce; valid objects must produce none.
#include "api/validation/validation.h"

#include <gtest/gtest.h>

#include "api/defaults/defaults.h"
#include "api/validation/cron.h"
#include "api/validation/helpers.h"

namespace tug::api::validation {
namespace {

Json J(const char* s) { return Json::parse(s); }

std::vector<std::string> Strings(const FieldErrors& errs) {
  std::vector<std::string> out;
  for (const FieldError& e : errs) out.push_back(e.ToString());
  return out;
}

struct Case {
  const char* name;
  const char* group;
  const char* kind;
  const char* obj;
  std::vector<std::string> want;  // exact, in order
};

constexpr const char* kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
constexpr const char* kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

std::string S(const std::string& a, const std::string& b) { return a + b; }

const std::vector<Case>& Cases() {
  static const std::vector<Case> kCases = {
      // ---- object meta ----
      {"meta_name_required", "", "ConfigMap", R"({"metadata":{"namespace":"d"}})",
       {"metadata.name: Required value: name or generateName is required"}},
      {"meta_generate_name_needs_name_assigned_first", "", "ConfigMap", R"({"metadata":{"generateName":"web-","namespace":"d"}})",
       {"metadata.name: Required value: name or generateName is required"}},
      {"meta_bad_subdomain", "", "ConfigMap", R"({"metadata":{"name":"Web_1","namespace":"d"}})",
       {S("metadata.name: Invalid value: \"Web_1\": ", kSubdomainMsg)}},
      {"meta_namespace_required", "", "ConfigMap", R"({"metadata":{"name":"c"}})", {"metadata.namespace: Required value"}},
      {"meta_namespace_forbidden_cluster_scoped", "", "Node", R"({"metadata":{"name":"n","namespace":"d"}})",
       {"metadata.namespace: Forbidden: not allowed on this type"}},
      {"meta_namespace_name_is_label", "", "Namespace", R"({"metadata":{"name":"a.b"}})",
       {"metadata.name: Invalid value: \"a.b\": must not contain dots"}},
      {"meta_bad_label_key_and_value", "", "ConfigMap",
       R"({"metadata":{"name":"c","namespace":"d","labels":{"-bad":"ok","k":"bad value"}}})",
       {"metadata.labels: Invalid value: \"-bad\": name part must consist of alphanumeric characters, '-', '_' or '.', "
        "and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
        "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        "metadata.labels: Invalid value: \"bad value\": a valid label must be an empty string or consist of "
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
        "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"}},
      {"meta_rbac_path_segment", "rbac.authorization.k8s.io", "ClusterRole", R"({"metadata":{"name":"system:a/b"}})",
       {"metadata.name: Invalid value: \"system:a/b\": may not contain '/'"}},
      {"meta_service_dns1035", "", "Service",
       R"({"metadata":{"name":"1web","namespace":"d"},"spec":{"ports":[{"port":80}]}})",
       {"metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric "
        "characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"}},

      // ---- pod ----
      {"pod_ok", "", "Pod", R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"busybox","ports":[{"containerPort":80,"name":"http"}]}]}})", {}},
      {"pod_containers_required", "", "Pod", R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[]}})",
       {"spec.containers: Required value"}},
      {"pod_container_name_image", "", "Pod",
       R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"","image":""},{"name":"A","image":"x"},{"name":"b","image":"x"},{"name":"b","image":"x"}]}})",
       {"spec.containers[0].name: Required value", "spec.containers[0].image: Required value",
        S("spec.containers[1].name: Invalid value: \"A\": ", kLabelMsg), "spec.containers[3].name: Duplicate value: \"b\""}},
      {"pod_ports", "", "Pod",
       R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"x","ports":[{"containerPort":70000},{"containerPort":0,"protocol":"ICMP"},{"containerPort":1,"hostPort":-2,"name":"Bad--"}]}]}})",
       {"spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        "spec.containers[0].ports[1].containerPort: Required value",
        "spec.containers[0].ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        "spec.containers[0].ports[2].name: Invalid value: \"Bad--\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        "spec.containers[0].ports[2].name: Invalid value: \"Bad--\": must not contain consecutive hyphens",
        "spec.containers[0].ports[2].name: Invalid value: \"Bad--\": must not begin or end with a hyphen",
        "spec.containers[0].ports[2].hostPort: Invalid value: -2: must be between 1 and 65535, inclusive"}},
      {"pod_restart_policy", "", "Pod",
       R"({"metadata":{"name":"p","namespace":"d"},"spec":{"restartPolicy":"Sometimes","containers":[{"name":"c","image":"x"}]}})",
       {"spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""}},
      {"pod_resources", "", "Pod",
       R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"2","memory":"1Gi"},"limits":{"cpu":"500m","memory":"12abc"}}}]}})",
       {"spec.containers[0].resources.limits[memory]: Invalid value: \"12abc\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        "spec.containers[0].resources.requests[cpu]: Invalid value: \"2\": must be less than or equal to cpu limit of 500m"}},
      {"pod_negative_request", "", "Pod",
       R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"-1"}}}]}})",
       {"spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": must be greater than or equal to 0"}},
      {"pod_volumes", "", "Pod",
       R"({"metadata":{"name":"p","namespace":"d"},"spec":{"volumes":[{"name":"v","emptyDir":{},"hostPath":{"path":"/x"}},{"name":"v","secret":{"secretName":"s"}}],
          "containers":[{"name":"c","image":"x","volumeMounts":[{"name":"w","mountPath":"/a"},{"name":"v","mountPath":""}]}]}})",
       {"spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type",
        "spec.volumes[1].name: Duplicate value: \"v\"",
        "spec.containers[0].volumeMounts[0].name: Not found: \"w\"",
        "spec.containers[0].volumeMounts[1].mountPath: Required value"}},
      {"pod_env_names", "", "Pod",
       R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"x","env":[{"name":""},{"name":"A=B"},{"name":"1.ok-name"}]}]}})",
       {"spec.containers[0].env[0].name: Required value",
        "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"}},

      // ---- workloads ----
      {"deployment_ok", "apps", "Deployment",
       R"({"metadata":{"name":"web","namespace":"d"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}})", {}},
      {"deployment_replicas_negative", "apps", "Deployment",
       R"({"metadata":{"name":"web","namespace":"d"},"spec":{"replicas":-1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}})",
       {"spec.replicas: Invalid value: -1: must be greater than or equal to 0"}},
      {"deployment_selector_mismatch", "apps", "Deployment",
       R"({"metadata":{"name":"web","namespace":"d"},"spec":{"selector":{"matchLabels":{"app":"y"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}})",
       {"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"}},
      {"deployment_selector_missing", "apps", "Deployment",
       R"({"metadata":{"name":"web","namespace":"d"},"spec":{"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}})",
       {"spec.selector: Required value"}},
      {"deployment_strategy", "apps", "Deployment",
       R"({"metadata":{"name":"web","namespace":"d"},"spec":{"strategy":{"rollingUpdate":{"maxSurge":0,"maxUnavailable":"0%"}},"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"x"}]}}}})",
       {"spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"0%\"}: may not be 0 when `maxSurge` is 0"}},
      {"deployment_bad_percent", "apps", "Deployment",
       R"({"metadata":{"name":"web","namespace":"d"},"spec":{"strategy":{"rollingUpdate":{"maxSurge":"abc","maxUnavailable":"120%"}},"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}})",
       {"spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"abc\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"120%\"}: must not be greater than 100%"}},
      {"replicaset_active_deadline", "apps", "ReplicaSet",
       R"({"metadata":{"name":"rs","namespace":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"activeDeadlineSeconds":5,"containers":[{"name":"c","image":"x"}]}}}})",
       {"spec.template.spec.activeDeadlineSeconds: Invalid value: 5: activeDeadlineSeconds in ReplicaSet is not Supported"}},
      {"statefulset_ok", "apps", "StatefulSet",
       R"({"metadata":{"name":"db","namespace":"d"},"spec":{"serviceName":"db","selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}},"volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}]}})", {}},
      {"statefulset_policy", "apps", "StatefulSet",
       R"({"metadata":{"name":"db","namespace":"d"},"spec":{"podManagementPolicy":"Random","selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}})",
       {"spec.podManagementPolicy: Unsupported value: \"Random\": supported values: \"OrderedReady\", \"Parallel\""}},
      {"daemonset_empty_selector", "apps", "DaemonSet",
       R"({"metadata":{"name":"ds","namespace":"d"},"spec":{"selector":{},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}})",
       {"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for daemonset"}},
      {"replicationcontroller_mismatch", "", "ReplicationController",
       R"({"metadata":{"name":"rc","namespace":"d"},"spec":{"selector":{"a":"c"},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}})",
       {"spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"b\"}: `selector` does not match template `labels`"}},
      {"job_ok", "batch", "Job",
       R"({"metadata":{"name":"j","namespace":"d"},"spec":{"selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"u"}},"template":{"metadata":{"labels":{"batch.kubernetes.io/controller-uid":"u"}},"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"x"}]}}}})", {}},
      {"job_restart_always", "batch", "Job",
       R"({"metadata":{"name":"j","namespace":"d"},"spec":{"parallelism":-1,"selector":{"matchLabels":{"u":"u"}},"template":{"metadata":{"labels":{"u":"u"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}})",
       {"spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
        "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""}},
      {"cronjob_ok", "batch", "CronJob",
       R"({"metadata":{"name":"cj","namespace":"d"},"spec":{"schedule":"*/5 * * * 1-5","timeZone":"Etc/UTC","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"x"}]}}}}}})", {}},
      {"cronjob_bad_schedule", "batch", "CronJob",
       R"({"metadata":{"name":"cj","namespace":"d"},"spec":{"schedule":"* * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"x"}]}}}}}})",
       {"spec.schedule: Invalid value: \"* * *\": expected exactly 5 fields, found 3: [* * *]"}},
      {"cronjob_tz_in_schedule", "batch", "CronJob",
       R"({"metadata":{"name":"cj","namespace":"d"},"spec":{"schedule":"CRON_TZ=UTC 0 * * * *","timeZone":"Mars/Base","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"x"}]}}}}}})",
       {"spec.schedule: Invalid value: \"CRON_TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        "spec.timeZone: Invalid value: \"Mars/Base\": unknown time zone Mars/Base"}},

      // ---- services ----
      {"service_ok", "", "Service", R"({"metadata":{"name":"s","namespace":"d"},"spec":{"ports":[{"port":80,"targetPort":8080}],"selector":{"app":"a"}}})", {}},
      {"service_headless_no_ports_ok", "", "Service", R"({"metadata":{"name":"s","namespace":"d"},"spec":{"clusterIP":"None"}})", {}},
      {"service_ports_required", "", "Service", R"({"metadata":{"name":"s","namespace":"d"},"spec":{}})", {"spec.ports: Required value"}},
      {"service_ports", "", "Service",
       R"({"metadata":{"name":"s","namespace":"d"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":80},{"port":0,"name":"a"},{"port":81,"name":"a"}]}})",
       {"spec.ports[0].name: Required value",
        "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[2].name: Duplicate value: \"a\""}},
      {"service_type", "", "Service", R"({"metadata":{"name":"s","namespace":"d"},"spec":{"type":"Magic","ports":[{"port":80}]}})",
       {"spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""}},
      {"service_nodeport_on_clusterip", "", "Service",
       R"({"metadata":{"name":"s","namespace":"d"},"spec":{"ports":[{"port":80,"nodePort":30001}]}})",
       {"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"}},

      // ---- config ----
      {"configmap_bad_key", "", "ConfigMap", R"({"metadata":{"name":"c","namespace":"d"},"data":{"a b":"x","..":"y"}})",
       {"data[..]: Invalid value: \"..\": must not be '..'",
        "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"}},
      {"secret_tls_keys", "", "Secret", R"({"metadata":{"name":"s","namespace":"d"},"type":"kubernetes.io/tls","data":{"tls.crt":"YQ=="}})",
       {"data[tls.key]: Required value"}},

      // ---- other kinds ----
      {"rolebinding", "rbac.authorization.k8s.io", "RoleBinding",
       R"({"metadata":{"name":"rb","namespace":"d"},"roleRef":{"apiGroup":"x","kind":"Thing","name":""},"subjects":[{"kind":"Robot","name":"r"}]})",
       {"roleRef.apiGroup: Unsupported value: \"x\": supported values: \"rbac.authorization.k8s.io\"",
        "roleRef.kind: Unsupported value: \"Thing\": supported values: \"Role\", \"ClusterRole\"", "roleRef.name: Required value",
        "subjects[0].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\""}},
      {"role_rules", "rbac.authorization.k8s.io", "Role",
       R"({"metadata":{"name":"r","namespace":"d"},"rules":[{"apiGroups":[""],"resources":["pods"]}]})",
       {"rules[0].verbs: Required value: verbs must contain at least one value"}},
      {"priorityclass_value", "scheduling.k8s.io", "PriorityClass", R"({"metadata":{"name":"high"},"value":2000000000})",
       {"value: Forbidden: maximum allowed value of a user defined priority is 1000000000"}},
      {"storageclass_provisioner", "storage.k8s.io", "StorageClass", R"({"metadata":{"name":"sc"},"volumeBindingMode":"Immediate"})",
       {"provisioner: Required value"}},
      {"hpa", "autoscaling", "HorizontalPodAutoscaler",
       R"({"apiVersion":"autoscaling/v2","metadata":{"name":"h","namespace":"d"},"spec":{"scaleTargetRef":{"kind":"Deployment"},"minReplicas":3,"maxReplicas":2}})",
       {"spec.scaleTargetRef.name: Required value",
        "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"}},
      {"hpa_min_zero", "autoscaling", "HorizontalPodAutoscaler",
       R"({"apiVersion":"autoscaling/v1","metadata":{"name":"h","namespace":"d"},"spec":{"scaleTargetRef":{"kind":"Deployment","name":"d"},"minReplicas":0,"maxReplicas":2}})",
       {"spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"}},
      {"lease", "coordination.k8s.io", "Lease", R"({"metadata":{"name":"l","namespace":"d"},"spec":{"leaseDurationSeconds":0}})",
       {"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"}},
      {"ingress_pathtype_required", "networking.k8s.io", "Ingress",
       R"({"metadata":{"name":"i","namespace":"d"},"spec":{"rules":[{"host":"a.example.com","http":{"paths":[{"path":"/","backend":{"service":{"name":"s","port":{"number":80}}}}]}}]}})",
       {"spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"}},
      {"pvc_requests", "", "PersistentVolumeClaim", R"({"metadata":{"name":"c","namespace":"d"},"spec":{}})",
       {"spec.accessModes: Required value: at least 1 access mode is required", "spec.resources[storage]: Required value"}},
      {"namespace_ok", "", "Namespace", R"({"metadata":{"name":"team-a"}})", {}},
      {"review_kinds_have_no_name", "authorization.k8s.io", "SelfSubjectAccessReview",
       R"({"spec":{"resourceAttributes":{"verb":"create","resource":"pods"}}})", {}},
  };
  return kCases;
}

TEST(ValidationTest, UpstreamMessages) {
  for (const Case& c : Cases()) {
    Json obj = J(c.obj);
    defaults::Apply(c.group, c.kind, obj);
    EXPECT_EQ(Strings(Validate(c.group, c.kind, obj)), c.want) << c.name;
  }
}

struct UpdateCase {
  const char* name;
  const char* group;
  const char* kind;
  const char* old_obj;
  const char* new_obj;
  std::vector<std::string> want;
};

TEST(ValidationTest, UpdateRules) {
  const UpdateCase cases[] = {
      {"meta_name_immutable", "", "ConfigMap", R"({"metadata":{"name":"a","namespace":"d","uid":"1"}})",
       R"({"metadata":{"name":"b","namespace":"d","uid":"1"}})", {"metadata.name: Invalid value: \"b\": field is immutable"}},
      {"deployment_selector_immutable", "apps", "Deployment",
       R"({"metadata":{"name":"a","namespace":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}}}})",
       R"({"metadata":{"name":"a","namespace":"d"},"spec":{"selector":{"matchLabels":{"a":"c"}}}})",
       {"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"a\":\"c\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"}},
      {"deployment_replicas_change_ok", "apps", "Deployment",
       R"({"metadata":{"name":"a","namespace":"d"},"spec":{"replicas":1,"selector":{"matchLabels":{"a":"b"}}}})",
       R"({"metadata":{"name":"a","namespace":"d"},"spec":{"replicas":3,"selector":{"matchLabels":{"a":"b"}}}})", {}},
      {"configmap_immutable", "", "ConfigMap", R"({"metadata":{"name":"a","namespace":"d"},"immutable":true,"data":{"k":"v"}})",
       R"({"metadata":{"name":"a","namespace":"d"},"immutable":true,"data":{"k":"w"}})",
       {"data: Forbidden: field is immutable when `immutable` is set"}},
      {"secret_immutable_unset", "", "Secret", R"({"metadata":{"name":"a","namespace":"d"},"immutable":true,"type":"Opaque"})",
       R"({"metadata":{"name":"a","namespace":"d"},"immutable":false,"type":"Opaque"})",
       {"immutable: Forbidden: field is immutable when `immutable` is set"}},
      {"service_clusterip_immutable", "", "Service",
       R"({"metadata":{"name":"a","namespace":"d"},"spec":{"clusterIP":"10.43.0.5","clusterIPs":["10.43.0.5"]}})",
       R"({"metadata":{"name":"a","namespace":"d"},"spec":{"clusterIP":"10.43.0.6","clusterIPs":["10.43.0.6"]}})",
       {"spec.clusterIPs[0]: Invalid value: []string{\"10.43.0.6\"}: may not change once set"}},
      {"service_clusterip_changed_alone", "", "Service",
       R"({"metadata":{"name":"a","namespace":"d"},"spec":{"clusterIP":"10.43.0.5","clusterIPs":["10.43.0.5"]}})",
       R"({"metadata":{"name":"a","namespace":"d"},"spec":{"clusterIP":"None","clusterIPs":["10.43.0.5"]}})",
       {"spec.clusterIPs[0]: Invalid value: []string{\"None\"}: may not change once set"}},
      {"rolebinding_roleref", "rbac.authorization.k8s.io", "RoleBinding",
       R"({"metadata":{"name":"a","namespace":"d"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"x"}})",
       R"({"metadata":{"name":"a","namespace":"d"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"y"}})",
       {"roleRef: Invalid value: map[string]string{\"apiGroup\":\"rbac.authorization.k8s.io\", \"kind\":\"Role\", \"name\":\"y\"}: cannot change roleRef"}},
      {"pod_image_change_ok", "", "Pod",
       R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"a"}]}})",
       R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"b"}]}})", {}},
      {"job_template_immutable", "batch", "Job",
       R"({"metadata":{"name":"j","namespace":"d"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"a"}]}}}})",
       R"({"metadata":{"name":"j","namespace":"d"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"b"}]}}}})",
       {"spec.template: Invalid value: map[string]interface {}{\"spec\":map[string]interface {}{\"containers\":[]interface {}{map[string]string{\"image\":\"b\", \"name\":\"c\"}}}}: field is immutable"}},
      {"priorityclass_value", "scheduling.k8s.io", "PriorityClass", R"({"metadata":{"name":"p"},"value":1})",
       R"({"metadata":{"name":"p"},"value":2})", {"value: Forbidden: may not be changed in an update."}},
  };
  for (const UpdateCase& c : cases) {
    EXPECT_EQ(Strings(ValidateUpdate(c.group, c.kind, J(c.new_obj), J(c.old_obj))), c.want) << c.name;
  }
}

TEST(ValidationTest, PodUpdateForbidden) {
  Json old = J(R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"a"}]}})");
  Json now = J(R"({"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","image":"a","args":["x"]}]}})");
  FieldErrors errs = ValidateUpdate("", "Pod", now, old);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].type, FieldError::Type::kForbidden);
  EXPECT_EQ(errs[0].field, "spec");
  EXPECT_EQ(errs[0].detail.rfind(
                "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
                "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
                "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n",
                0),
            0u);
}

TEST(ValidationTest, AnnotationsTooLong) {
  Json obj = J(R"({"metadata":{"name":"c","namespace":"d"}})");
  obj["metadata"]["annotations"]["big"] = std::string(256 * 1024, 'x');
  EXPECT_EQ(Strings(Validate("", "ConfigMap", obj)),
            std::vector<std::string>{"metadata.annotations: Too long: may not be more than 262144 bytes"});
}

TEST(ValidationTest, ConfigMapTooLarge) {
  Json obj = J(R"({"metadata":{"name":"c","namespace":"d"}})");
  obj["data"]["a"] = std::string((1 << 20) + 1, 'x');
  EXPECT_EQ(Strings(Validate("", "ConfigMap", obj)), std::vector<std::string>{": Too long: may not be more than 1048576 bytes"});
}

TEST(ValidationTest, CronSchedules) {
  const std::pair<const char*, const char*> cases[] = {
      {"@hourly", ""},
      {"@daily", ""},
      {"@every 1h30m", ""},
      {"0 0 1 jan,JUL *", ""},
      {"*/15 9-17 * * mon-fri", ""},
      {"0 0 * * 7", "end of range (7) above maximum (6): 7"},
      {"60 * * * *", "end of range (60) above maximum (59): 60"},
      {"x * * * *", "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"},
      {"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
      {"*/0 * * * *", "step of range should be a positive number: */0"},
      {"0 0 0 * *", "beginning of range (0) below minimum (1): 0"},
      {"@sometimes", "unrecognized descriptor: @sometimes"},
      {"", "empty spec string"},
      {"* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"},
  };
  for (const auto& [schedule, want] : cases) EXPECT_EQ(CronParseError(schedule), want) << schedule;
}

TEST(ValidationTest, QuantityParsing) {
  EXPECT_EQ(ParseQuantity("500m"), 0.5L);
  EXPECT_EQ(ParseQuantity("1000m"), ParseQuantity("1"));
  EXPECT_EQ(ParseQuantity("1.5Gi"), ParseQuantity("1536Mi"));
  EXPECT_EQ(ParseQuantity("-2k"), -2000.0L);
  EXPECT_EQ(ParseQuantity("1Gi"), 1073741824.0L);
  EXPECT_EQ(ParseQuantity("2"), 2.0L);
  EXPECT_TRUE(ParseQuantity("1e3").has_value());
  EXPECT_FALSE(ParseQuantity("1GB").has_value());
  EXPECT_FALSE(ParseQuantity("abc").has_value());
  EXPECT_FALSE(ParseQuantity("1..2").has_value());
}

TEST(ValidationTest, NameRules) {
  EXPECT_EQ(NameRule("", "Namespace"), "dns1123label");
  EXPECT_EQ(NameRule("apps", "Deployment"), "dns1123subdomain");
  EXPECT_EQ(NameRule("rbac.authorization.k8s.io", "Role"), "path-segment");
  EXPECT_TRUE(IsNamespaced("", "Pod"));
  EXPECT_FALSE(IsNamespaced("", "Node"));
  // generateName may end in '-'.
  EXPECT_TRUE(CheckName("dns1123subdomain", "web-", true).empty());
  EXPECT_FALSE(CheckName("dns1123subdomain", "web-", false).empty());
}

}  // namespace
}  // namespace tug::api::validation
