// Table rows and field selectors of the built-in kinds, against objects shaped like the ones
// a real cluster holds. Times are relative to a FakeClock.
#include <gtest/gtest.h>

#include "api/printers/tables.h"
#include "api/printers/util.h"
#include "api/strategy.h"
#include "base/testing/fake_clock.h"

namespace tug::api {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::hours;

class PrintersTest : public ::testing::Test {
 protected:
  std::string Ago(std::chrono::seconds d) const { return FormatRFC3339(clock_.Now() - d); }
  Json Meta(const std::string& name, std::chrono::seconds age) const {
    return Json{{"name", name}, {"namespace", "default"}, {"creationTimestamp", Ago(age)}};
  }
  testing::FakeClock clock_;
};

struct RowCase {
  std::string name;
  std::string group;
  std::string kind;
  Json obj;
  Json want;
};

TEST_F(PrintersTest, Rows) {
  const std::vector<RowCase> cases = {
      {"pod_running", "", "Pod",
       Json{{"metadata", Meta("web-1", minutes(5))},
            {"spec", {{"nodeName", "node-1"}, {"containers", Json::array({Json{{"name", "c"}, {"image", "busybox"}}})}}},
            {"status",
             {{"phase", "Running"},
              {"podIP", "10.42.0.5"},
              {"podIPs", Json::array({Json{{"ip", "10.42.0.5"}}})},
              {"conditions", Json::array({Json{{"type", "Ready"}, {"status", "True"}}})},
              {"containerStatuses",
               Json::array({Json{{"name", "c"}, {"ready", true}, {"restartCount", 0}, {"state", {{"running", {{"startedAt", Ago(minutes(4))}}}}}}})}}}},
       Json::array({"web-1", "1/1", "Running", "0", "5m", "10.42.0.5", "node-1", "<none>", "<none>"})},
      {"pod_crashloop", "", "Pod",
       Json{{"metadata", Meta("crash", minutes(30))},
            {"spec", {{"nodeName", "node-1"}, {"containers", Json::array({Json{{"name", "c"}, {"image", "busybox"}}})}}},
            {"status",
             {{"phase", "Running"},
              {"podIP", "10.42.0.6"},
              {"containerStatuses",
               Json::array({Json{{"name", "c"},
                                 {"ready", false},
                                 {"restartCount", 5},
                                 {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}, {"message", "back-off 2m40s"}}}}},
                                 {"lastState", {{"terminated", {{"exitCode", 1}, {"reason", "Error"}, {"finishedAt", Ago(minutes(2))}}}}}}})}}}},
       Json::array({"crash", "0/1", "CrashLoopBackOff", "5 (2m ago)", "30m", "10.42.0.6", "node-1", "<none>", "<none>"})},
      {"pod_terminating", "", "Pod",
       Json{{"metadata", {{"name", "old"}, {"creationTimestamp", Ago(hours(2))}, {"deletionTimestamp", Ago(seconds(3))}}},
            {"spec", {{"containers", Json::array({Json{{"name", "c"}}})}}},
            {"status",
             {{"phase", "Running"},
              {"containerStatuses", Json::array({Json{{"name", "c"}, {"ready", true}, {"state", {{"running", Json::object()}}}}})}}}},
       Json::array({"old", "1/1", "Terminating", "0", "120m", "<none>", "<none>", "<none>", "<none>"})},
      {"pod_completed", "", "Pod",
       Json{{"metadata", Meta("job-x", hours(3))},
            {"spec", {{"nodeName", "n"}, {"containers", Json::array({Json{{"name", "c"}}})}}},
            {"status",
             {{"phase", "Succeeded"},
              {"containerStatuses",
               Json::array({Json{{"name", "c"}, {"ready", false}, {"state", {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}}}}})}}}},
       Json::array({"job-x", "0/1", "Completed", "0", "3h", "<none>", "n", "<none>", "<none>"})},
      {"pod_init_running", "", "Pod",
       Json{{"metadata", Meta("init", seconds(20))},
            {"spec",
             {{"initContainers", Json::array({Json{{"name", "i1"}}, Json{{"name", "i2"}}})},
              {"containers", Json::array({Json{{"name", "c"}}})}}},
            {"status",
             {{"phase", "Pending"},
              {"initContainerStatuses",
               Json::array({Json{{"name", "i1"}, {"state", {{"running", Json::object()}}}},
                            Json{{"name", "i2"}, {"state", {{"waiting", {{"reason", "PodInitializing"}}}}}}})},
              {"containerStatuses", Json::array({Json{{"name", "c"}, {"state", {{"waiting", {{"reason", "PodInitializing"}}}}}}})}}}},
       Json::array({"init", "0/1", "Init:0/2", "0", "20s", "<none>", "<none>", "<none>", "<none>"})},
      {"pod_init_error", "", "Pod",
       Json{{"metadata", Meta("ie", seconds(20))},
            {"spec", {{"initContainers", Json::array({Json{{"name", "i1"}}})}, {"containers", Json::array({Json{{"name", "c"}}})}}},
            {"status",
             {{"phase", "Pending"},
              {"initContainerStatuses",
               Json::array({Json{{"name", "i1"}, {"restartCount", 2}, {"state", {{"terminated", {{"exitCode", 1}, {"reason", "Error"}}}}}}})}}}},
       Json::array({"ie", "0/1", "Init:Error", "2", "20s", "<none>", "<none>", "<none>", "<none>"})},
      {"pod_container_creating", "", "Pod",
       Json{{"metadata", Meta("cc", seconds(3))},
            {"spec", {{"nodeName", "n"}, {"readinessGates", Json::array({Json{{"conditionType", "x/ready"}}, Json{{"conditionType", "y"}}})},
                      {"containers", Json::array({Json{{"name", "a"}}, Json{{"name", "b"}}})}}},
            {"status",
             {{"phase", "Pending"},
              {"conditions", Json::array({Json{{"type", "x/ready"}, {"status", "True"}}})},
              {"containerStatuses", Json::array({Json{{"name", "a"}, {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}},
                                                 Json{{"name", "b"}, {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}}})}}}},
       Json::array({"cc", "0/2", "ContainerCreating", "0", "3s", "<none>", "n", "<none>", "1/2"})},
      {"pod_sidecar", "", "Pod",
       Json{{"metadata", Meta("sc", minutes(1))},
            {"spec", {{"initContainers", Json::array({Json{{"name", "proxy"}, {"restartPolicy", "Always"}}})},
                      {"containers", Json::array({Json{{"name", "app"}}})}}},
            {"status",
             {{"phase", "Running"},
              {"conditions", Json::array({Json{{"type", "Initialized"}, {"status", "True"}}, Json{{"type", "Ready"}, {"status", "True"}}})},
              {"initContainerStatuses", Json::array({Json{{"name", "proxy"}, {"started", true}, {"ready", true}, {"restartCount", 1},
                                                          {"state", {{"running", Json::object()}}}}})},
              {"containerStatuses", Json::array({Json{{"name", "app"}, {"ready", true}, {"state", {{"running", Json::object()}}}}})}}}},
       Json::array({"sc", "2/2", "Running", "1", "60s", "<none>", "<none>", "<none>", "<none>"})},
      {"pod_scheduling_gated", "", "Pod",
       Json{{"metadata", Meta("g", seconds(5))},
            {"spec", {{"containers", Json::array({Json{{"name", "c"}}})}}},
            {"status", {{"phase", "Pending"}, {"conditions", Json::array({Json{{"type", "PodScheduled"}, {"status", "False"}, {"reason", "SchedulingGated"}}})}}}},
       Json::array({"g", "0/1", "SchedulingGated", "0", "5s", "<none>", "<none>", "<none>", "<none>"})},
      {"service_clusterip", "", "Service",
       Json{{"metadata", Meta("kubernetes", hours(1))},
            {"spec", {{"type", "ClusterIP"}, {"clusterIP", "10.43.0.1"}, {"clusterIPs", Json::array({"10.43.0.1"})},
                      {"ports", Json::array({Json{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", 6443}}})}}}},
       Json::array({"kubernetes", "ClusterIP", "10.43.0.1", "<none>", "443/TCP", "60m", "<none>"})},
      {"service_nodeport", "", "Service",
       Json{{"metadata", Meta("web", minutes(7))},
            {"spec", {{"type", "NodePort"}, {"clusterIPs", Json::array({"10.43.0.12"})}, {"selector", {{"app", "web"}, {"tier", "fe"}}},
                      {"ports", Json::array({Json{{"port", 80}, {"nodePort", 30080}, {"protocol", "TCP"}},
                                             Json{{"port", 53}, {"nodePort", 30053}, {"protocol", "UDP"}}})}}}},
       Json::array({"web", "NodePort", "10.43.0.12", "<none>", "80:30080/TCP,53:30053/UDP", "7m", "app=web,tier=fe"})},
      {"service_lb_pending", "", "Service",
       Json{{"metadata", Meta("lb", seconds(10))},
            {"spec", {{"type", "LoadBalancer"}, {"clusterIPs", Json::array({"10.43.0.20"})},
                      {"ports", Json::array({Json{{"port", 80}, {"nodePort", 31000}, {"protocol", "TCP"}}})}}},
            {"status", {{"loadBalancer", Json::object()}}}},
       Json::array({"lb", "LoadBalancer", "10.43.0.20", "<pending>", "80:31000/TCP", "10s", "<none>"})},
      {"service_lb_ready", "", "Service",
       Json{{"metadata", Meta("lb", seconds(10))},
            {"spec", {{"type", "LoadBalancer"}, {"clusterIPs", Json::array({"10.43.0.20"})},
                      {"ports", Json::array({Json{{"port", 80}, {"nodePort", 31000}, {"protocol", "TCP"}}})}}},
            {"status", {{"loadBalancer", {{"ingress", Json::array({Json{{"ip", "192.168.1.10"}}, Json{{"ip", "192.168.1.11"}}})}}}}}},
       Json::array({"lb", "LoadBalancer", "10.43.0.20", "192.168.1.10,192.168.1.11", "80:31000/TCP", "10s", "<none>"})},
      {"service_externalname", "", "Service",
       Json{{"metadata", Meta("ext", seconds(10))}, {"spec", {{"type", "ExternalName"}, {"externalName", "example.com"}}}},
       Json::array({"ext", "ExternalName", "<none>", "example.com", "<none>", "10s", "<none>"})},
      {"deployment_mid_rollout", "apps", "Deployment",
       Json{{"metadata", Meta("web", minutes(3))},
            {"spec", {{"replicas", 3},
                      {"selector", {{"matchLabels", {{"app", "web"}}}}},
                      {"template", {{"spec", {{"containers", Json::array({Json{{"name", "nginx"}, {"image", "nginx:1.25"}},
                                                                          Json{{"name", "side"}, {"image", "busybox"}}})}}}}}}},
            {"status", {{"replicas", 4}, {"readyReplicas", 2}, {"updatedReplicas", 1}, {"availableReplicas", 2}}}},
       Json::array({"web", "2/3", 1, 2, "3m", "nginx,side", "nginx:1.25,busybox", "app=web"})},
      {"replicaset", "apps", "ReplicaSet",
       Json{{"metadata", Meta("web-7d", minutes(3))},
            {"spec", {{"replicas", 2},
                      {"selector", {{"matchLabels", {{"app", "web"}, {"pod-template-hash", "7d"}}},
                                    {"matchExpressions", Json::array({Json{{"key", "env"}, {"operator", "In"}, {"values", Json::array({"prod", "dev"})}}})}}},
                      {"template", {{"spec", {{"containers", Json::array({Json{{"name", "nginx"}, {"image", "nginx"}}})}}}}}}},
            {"status", {{"replicas", 2}, {"readyReplicas", 1}}}},
       Json::array({"web-7d", 2, 2, 1, "3m", "nginx", "nginx", "app=web,env in (dev,prod),pod-template-hash=7d"})},
      {"statefulset", "apps", "StatefulSet",
       Json{{"metadata", Meta("db", hours(5))}, {"spec", {{"replicas", 3}}}, {"status", {{"readyReplicas", 3}}}},
       Json::array({"db", "3/3", "5h", "", ""})},
      {"daemonset", "apps", "DaemonSet",
       Json{{"metadata", Meta("agent", hours(30))},
            {"spec", {{"selector", {{"matchLabels", {{"app", "agent"}}}}},
                      {"template", {{"spec", {{"nodeSelector", {{"kubernetes.io/os", "linux"}}},
                                              {"containers", Json::array({Json{{"name", "a"}, {"image", "agent:1"}}})}}}}}}},
            {"status", {{"desiredNumberScheduled", 3}, {"currentNumberScheduled", 3}, {"numberReady", 2}, {"updatedNumberScheduled", 3},
                        {"numberAvailable", 2}}}},
       Json::array({"agent", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "30h", "a", "agent:1", "app=agent"})},
      {"job_complete", "batch", "Job",
       Json{{"metadata", Meta("pi", minutes(2))},
            {"spec", {{"completions", 1}, {"parallelism", 1}, {"selector", {{"matchLabels", {{"batch.kubernetes.io/controller-uid", "u1"}}}}},
                      {"template", {{"spec", {{"containers", Json::array({Json{{"name", "pi"}, {"image", "perl"}}})}}}}}}},
            {"status", {{"succeeded", 1}, {"startTime", Ago(seconds(100))}, {"completionTime", Ago(seconds(90))},
                        {"conditions", Json::array({Json{{"type", "Complete"}, {"status", "True"}}})}}}},
       Json::array({"pi", "Complete", "1/1", "10s", "2m", "pi", "perl", "batch.kubernetes.io/controller-uid=u1"})},
      {"job_running_parallel", "batch", "Job",
       Json{{"metadata", Meta("work", minutes(1))},
            {"spec", {{"parallelism", 3}}},
            {"status", {{"active", 3}, {"startTime", Ago(seconds(50))}}}},
       Json::array({"work", "Running", "0/1 of 3", "50s", "60s", "", "", "<none>"})},
      {"cronjob", "batch", "CronJob",
       Json{{"metadata", Meta("hello", hours(1))},
            {"spec", {{"schedule", "*/1 * * * *"}, {"suspend", false},
                      {"jobTemplate", {{"spec", {{"template", {{"spec", {{"containers", Json::array({Json{{"name", "hello"}, {"image", "busybox"}}})}}}}}}}}}}},
            {"status", {{"active", Json::array({Json{{"name", "hello-1"}}})}, {"lastScheduleTime", Ago(seconds(30))}}}},
       Json::array({"hello", "*/1 * * * *", "<none>", "False", 1, "30s", "60m", "hello", "busybox", "<none>"})},
      {"node", "", "Node",
       Json{{"metadata", {{"name", "node-1"}, {"creationTimestamp", Ago(hours(24 * 3))},
                          {"labels", {{"node-role.kubernetes.io/control-plane", ""}, {"node-role.kubernetes.io/master", "true"}}}}},
            {"spec", {{"unschedulable", true}}},
            {"status", {{"conditions", Json::array({Json{{"type", "MemoryPressure"}, {"status", "False"}}, Json{{"type", "Ready"}, {"status", "True"}}})},
                        {"addresses", Json::array({Json{{"type", "InternalIP"}, {"address", "192.168.1.5"}}, Json{{"type", "Hostname"}, {"address", "node-1"}}})},
                        {"nodeInfo", {{"kubeletVersion", "v1.33.0-tug"}, {"osImage", "Debian GNU/Linux 12 (bookworm)"}, {"kernelVersion", "6.1.0"},
                                      {"containerRuntimeVersion", "runc://1.1.5"}}}}}},
       Json::array({"node-1", "Ready,SchedulingDisabled", "control-plane,master", "3d", "v1.33.0-tug", "192.168.1.5", "<none>",
                    "Debian GNU/Linux 12 (bookworm)", "6.1.0", "runc://1.1.5"})},
      {"node_not_ready", "", "Node",
       Json{{"metadata", {{"name", "n2"}, {"creationTimestamp", Ago(minutes(1))}}},
            {"status", {{"conditions", Json::array({Json{{"type", "Ready"}, {"status", "Unknown"}}})}}}},
       Json::array({"n2", "NotReady", "<none>", "60s", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"})},
      {"endpoints_more", "", "Endpoints",
       Json{{"metadata", Meta("web", minutes(1))},
            {"subsets", Json::array({Json{{"addresses", Json::array({Json{{"ip", "10.42.0.1"}}, Json{{"ip", "10.42.0.2"}}, Json{{"ip", "10.42.0.3"}},
                                                                     Json{{"ip", "10.42.0.4"}}})},
                                          {"ports", Json::array({Json{{"port", 8080}, {"protocol", "TCP"}}})}}})}},
       Json::array({"web", "10.42.0.1:8080,10.42.0.2:8080,10.42.0.3:8080 + 1 more...", "60s"})},
      {"endpoints_none", "", "Endpoints", Json{{"metadata", Meta("e", minutes(1))}}, Json::array({"e", "<none>", "60s"})},
      {"event", "", "Event",
       Json{{"metadata", Meta("web-1.17a", minutes(5))},
            {"involvedObject", {{"kind", "Pod"}, {"name", "web-1"}, {"namespace", "default"}, {"fieldPath", "spec.containers{c}"}}},
            {"reason", "Pulled"}, {"type", "Normal"}, {"message", "Successfully pulled image \"busybox\"\n"}, {"count", 3},
            {"firstTimestamp", Ago(minutes(5))}, {"lastTimestamp", Ago(seconds(40))},
            {"source", {{"component", "kubelet"}, {"host", "node-1"}}}},
       Json::array({"40s", "Normal", "Pulled", "pod/web-1", "spec.containers{c}", "kubelet, node-1", "Successfully pulled image \"busybox\"",
                    "5m", 3, "web-1.17a"})},
      {"event_microtime", "", "Event",
       Json{{"metadata", Meta("x.1", minutes(5))},
            {"involvedObject", {{"kind", "Node"}, {"name", "node-1"}}}, {"reason", "Starting"}, {"type", "Normal"}, {"message", "m"},
            {"eventTime", FormatRFC3339Micro(clock_.Now() - seconds(7))}, {"reportingController", "tug-proxy"}, {"reportingInstance", "node-1"}},
       Json::array({"7s", "Normal", "Starting", "node/node-1", "", "tug-proxy, node-1", "m", "7s", 1, "x.1"})},
      {"events_k8s_io", "events.k8s.io", "Event",
       Json{{"apiVersion", "events.k8s.io/v1"}, {"metadata", Meta("x.2", minutes(5))},
            {"regarding", {{"kind", "Pod"}, {"name", "p"}}}, {"reason", "Scheduled"}, {"type", "Normal"}, {"note", "assigned"},
            {"eventTime", FormatRFC3339Micro(clock_.Now() - seconds(9))}, {"reportingController", "default-scheduler"}},
       Json::array({"9s", "Normal", "Scheduled", "pod/p", "", "default-scheduler", "assigned", "9s", 1, "x.2"})},
      {"namespace", "", "Namespace",
       Json{{"metadata", {{"name", "kube-system"}, {"creationTimestamp", Ago(hours(49))}}}, {"status", {{"phase", "Active"}}}},
       Json::array({"kube-system", "Active", "2d1h"})},
      {"secret", "", "Secret",
       Json{{"metadata", Meta("s", seconds(5))}, {"type", "Opaque"}, {"data", {{"a", "YQ=="}, {"b", "Yg=="}}}},
       Json::array({"s", "Opaque", 2, "5s"})},
      {"configmap", "", "ConfigMap",
       Json{{"metadata", Meta("cm", seconds(5))}, {"data", {{"a", "1"}}}, {"binaryData", {{"b", "AA=="}}}},
       Json::array({"cm", 2, "5s"})},
      {"serviceaccount", "", "ServiceAccount", Json{{"metadata", Meta("default", seconds(5))}}, Json::array({"default", 0, "5s"})},
      {"pvc_bound", "", "PersistentVolumeClaim",
       Json{{"metadata", Meta("data", minutes(9))},
            {"spec", {{"volumeName", "pv-1"}, {"storageClassName", "local-path"}, {"volumeMode", "Filesystem"},
                      {"resources", {{"requests", {{"storage", "1Gi"}}}}}}},
            {"status", {{"phase", "Bound"}, {"accessModes", Json::array({"ReadWriteOnce"})}, {"capacity", {{"storage", "1Gi"}}}}}},
       Json::array({"data", "Bound", "pv-1", "1Gi", "RWO", "local-path", "<unset>", "9m", "Filesystem"})},
      {"pvc_pending", "", "PersistentVolumeClaim",
       Json{{"metadata", Meta("data", minutes(9))}, {"spec", {{"resources", {{"requests", {{"storage", "1Gi"}}}}}}}, {"status", {{"phase", "Pending"}}}},
       Json::array({"data", "Pending", "", "", "", "", "<unset>", "9m", "<unset>"})},
      {"pv", "", "PersistentVolume",
       Json{{"metadata", {{"name", "pv-1"}, {"creationTimestamp", Ago(minutes(9))}}},
            {"spec", {{"capacity", {{"storage", "5Gi"}}}, {"accessModes", Json::array({"ReadWriteMany", "ReadWriteOnce"})},
                      {"persistentVolumeReclaimPolicy", "Retain"}, {"claimRef", {{"namespace", "default"}, {"name", "data"}}},
                      {"storageClassName", "manual"}, {"volumeMode", "Filesystem"}}},
            {"status", {{"phase", "Bound"}}}},
       Json::array({"pv-1", "5Gi", "RWO,RWX", "Retain", "Bound", "default/data", "manual", "<unset>", "", "9m", "Filesystem"})},
      {"resourcequota", "", "ResourceQuota",
       Json{{"metadata", Meta("q", minutes(1))},
            {"status", {{"hard", {{"limits.cpu", "2"}, {"pods", "10"}, {"requests.cpu", "1"}}}, {"used", {{"pods", "3"}, {"requests.cpu", "500m"}}}}}},
       Json::array({"q", "pods: 3/10, requests.cpu: 500m/1", "limits.cpu: 0/2", "60s"})},
      {"hpa_v2", "autoscaling", "HorizontalPodAutoscaler",
       Json{{"metadata", Meta("web", minutes(1))},
            {"spec", {{"scaleTargetRef", {{"kind", "Deployment"}, {"name", "web"}, {"apiVersion", "apps/v1"}}}, {"minReplicas", 1}, {"maxReplicas", 5},
                      {"metrics", Json::array({Json{{"type", "Resource"}, {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", 50}}}}}},
                                               Json{{"type", "Resource"}, {"resource", {{"name", "memory"}, {"target", {{"type", "AverageValue"}, {"averageValue", "100Mi"}}}}}}})}}},
            {"status", {{"currentReplicas", 2}, {"desiredReplicas", 2},
                        {"currentMetrics", Json::array({Json{{"type", "Resource"}, {"resource", {{"name", "cpu"}, {"current", {{"averageUtilization", 20}}}}}}})}}}},
       Json::array({"web", "Deployment/web", "cpu: 20%/50%, memory: <unknown>/100Mi", "1", 5, 2, "60s"})},
      {"hpa_v1", "autoscaling", "HorizontalPodAutoscaler",
       Json{{"metadata", Meta("web", minutes(1))},
            {"spec", {{"scaleTargetRef", {{"kind", "Deployment"}, {"name", "web"}}}, {"maxReplicas", 5}, {"targetCPUUtilizationPercentage", 80}}},
            {"status", {{"currentReplicas", 0}, {"desiredReplicas", 0}}}},
       Json::array({"web", "Deployment/web", "cpu: <unknown>/80%", "<unset>", 5, 0, "60s"})},
      {"pdb", "policy", "PodDisruptionBudget",
       Json{{"metadata", Meta("p", minutes(1))}, {"spec", {{"minAvailable", "50%"}}}, {"status", {{"disruptionsAllowed", 1}}}},
       Json::array({"p", "50%", "N/A", 1, "60s"})},
      {"ingress", "networking.k8s.io", "Ingress",
       Json{{"metadata", Meta("i", minutes(1))},
            {"spec", {{"ingressClassName", "nginx"}, {"tls", Json::array({Json{{"hosts", Json::array({"a.example"})}}})},
                      {"rules", Json::array({Json{{"host", "a.example"}}, Json{{"host", "b.example"}}})}}},
            {"status", {{"loadBalancer", {{"ingress", Json::array({Json{{"ip", "192.168.1.5"}}})}}}}}},
       Json::array({"i", "nginx", "a.example,b.example", "192.168.1.5", "80, 443", "60s"})},
      {"networkpolicy", "networking.k8s.io", "NetworkPolicy",
       Json{{"metadata", Meta("deny", minutes(1))}, {"spec", {{"podSelector", Json::object()}}}}, Json::array({"deny", "<none>", "60s"})},
      {"rolebinding", "rbac.authorization.k8s.io", "RoleBinding",
       Json{{"metadata", Meta("rb", minutes(1))}, {"roleRef", {{"kind", "ClusterRole"}, {"name", "view"}, {"apiGroup", "rbac.authorization.k8s.io"}}},
            {"subjects", Json::array({Json{{"kind", "User"}, {"name", "alice"}}, Json{{"kind", "ServiceAccount"}, {"name", "sa"}, {"namespace", "ns"}},
                                      Json{{"kind", "User"}, {"name", "bob"}}})}},
       Json::array({"rb", "ClusterRole/view", "60s", "alice, bob", "", "ns/sa"})},
      {"role_created_at", "rbac.authorization.k8s.io", "Role",
       Json{{"metadata", {{"name", "r"}, {"creationTimestamp", "2026-11-25T18:05:35Z"}}}}, Json::array({"r", "2026-11-25T18:05:35Z"})},
      {"storageclass_default", "storage.k8s.io", "StorageClass",
       Json{{"metadata", {{"name", "local-path"}, {"creationTimestamp", Ago(hours(1))},
                          {"annotations", {{"storageclass.kubernetes.io/is-default-class", "true"}}}}},
            {"provisioner", "rancher.io/local-path"}, {"volumeBindingMode", "WaitForFirstConsumer"}},
       Json::array({"local-path (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", false, "60m"})},
      {"lease", "coordination.k8s.io", "Lease",
       Json{{"metadata", Meta("node-1", minutes(1))}, {"spec", {{"holderIdentity", "node-1"}}}}, Json::array({"node-1", "node-1", "60s"})},
      {"endpointslice", "discovery.k8s.io", "EndpointSlice",
       Json{{"metadata", Meta("web-abc", minutes(1))}, {"addressType", "IPv4"},
            {"ports", Json::array({Json{{"name", "http"}, {"port", 8080}}})},
            {"endpoints", Json::array({Json{{"addresses", Json::array({"10.42.0.1"})}}, Json{{"addresses", Json::array({"10.42.0.2"})}}})}},
       Json::array({"web-abc", "IPv4", "8080", "10.42.0.1,10.42.0.2", "60s"})},
      {"endpointslice_empty", "discovery.k8s.io", "EndpointSlice",
       Json{{"metadata", Meta("e", minutes(1))}, {"addressType", "IPv4"}}, Json::array({"e", "IPv4", "<unset>", "<unset>", "60s"})},
      {"priorityclass", "scheduling.k8s.io", "PriorityClass",
       Json{{"metadata", {{"name", "system-node-critical"}, {"creationTimestamp", Ago(hours(1))}}}, {"value", 2000001000},
            {"preemptionPolicy", "PreemptLowerPriority"}},
       Json::array({"system-node-critical", 2000001000, false, "60m", "PreemptLowerPriority"})},
      {"csr", "certificates.k8s.io", "CertificateSigningRequest",
       Json{{"metadata", {{"name", "csr-1"}, {"creationTimestamp", Ago(minutes(1))}}},
            {"spec", {{"signerName", "kubernetes.io/kube-apiserver-client"}, {"username", "admin"}, {"expirationSeconds", 86400}}},
            {"status", {{"conditions", Json::array({Json{{"type", "Approved"}, {"status", "True"}}})}, {"certificate", "LS0t"}}}},
       Json::array({"csr-1", "60s", "kubernetes.io/kube-apiserver-client", "admin", "24h", "Approved,Issued"})},
      {"controllerrevision", "apps", "ControllerRevision",
       Json{{"metadata", {{"name", "web-5d"}, {"creationTimestamp", Ago(minutes(1))},
                          {"ownerReferences", Json::array({Json{{"apiVersion", "apps/v1"}, {"kind", "StatefulSet"}, {"name", "web"}, {"controller", true}}})}}},
            {"revision", 2}},
       Json::array({"web-5d", "statefulset.apps/web", 2, "60s"})},
      {"webhooks", "admissionregistration.k8s.io", "ValidatingWebhookConfiguration",
       Json{{"metadata", {{"name", "w"}, {"creationTimestamp", Ago(minutes(1))}}}, {"webhooks", Json::array({Json::object(), Json::object()})}},
       Json::array({"w", 2, "60s"})},
      {"podtemplate", "", "PodTemplate",
       Json{{"metadata", Meta("t", minutes(1))},
            {"template", {{"metadata", {{"labels", {{"app", "x"}}}}}, {"spec", {{"containers", Json::array({Json{{"name", "c"}, {"image", "i"}}})}}}}}},
       Json::array({"t", "c", "i", "app=x"})},
      {"replicationcontroller", "", "ReplicationController",
       Json{{"metadata", Meta("rc", minutes(1))},
            {"spec", {{"replicas", 2}, {"selector", {{"app", "x"}}}, {"template", {{"spec", {{"containers", Json::array({Json{{"name", "c"}, {"image", "i"}}})}}}}}}},
            {"status", {{"replicas", 2}, {"readyReplicas", 2}}}},
       Json::array({"rc", 2, 2, 2, "60s", "c", "i", "app=x"})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Strategy& s = StrategyFor(c.group, c.kind);
    Json row = s.Row(c.obj, clock_.Now());
    EXPECT_EQ(row, c.want) << row.dump();
    EXPECT_EQ(row.size(), s.Columns().size());
    // A row rendered once with deferred times and resolved later is the same row (the API
    // server caches rows this way).
    std::string deferred = DumpJson(s.Row(c.obj, kDeferredNow));
    EXPECT_EQ(ResolveDeferredTimes(deferred, clock_.Now()), DumpJson(c.want));
  }
}

TEST(DeferredTimes, ResolvesMarkersAndLeavesOtherTextAlone) {
  SystemTime now{std::chrono::seconds(1000000)};
  EXPECT_EQ(ResolveDeferredTimes(R"x(["a","\u0001999700\u0002","5 (\u0001999880\u0002 ago)"])x", now),
            R"x(["a","5m","5 (2m ago)"])x");
  EXPECT_EQ(ResolveDeferredTimes("no markers", now), "no markers");
  EXPECT_EQ(ResolveDeferredTimes(R"x(["\u0001x\u0002","\u0001)x", now), R"x(["\u0001x\u0002","\u0001)x");
}

TEST_F(PrintersTest, PodColumns) {
  auto cols = StrategyFor("", "Pod").Columns();
  std::vector<std::string> names;
  std::vector<int> prio;
  for (const auto& c : cols) {
    names.push_back(c.name);
    prio.push_back(c.priority);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}));
  EXPECT_EQ(prio, (std::vector<int>{0, 0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(cols[0].format, "name");
  EXPECT_EQ(cols[3].type, "string");  // "5 (2m ago)"
  for (const auto& c : cols) EXPECT_FALSE(c.description.empty()) << c.name;
}

TEST_F(PrintersTest, IntegerColumnsHaveIntegerCells) {
  auto cols = StrategyFor("apps", "ReplicaSet").Columns();
  ASSERT_EQ(cols[1].name, "Desired");
  EXPECT_EQ(cols[1].type, "integer");
  auto job_cols = StrategyFor("batch", "Job").Columns();
  std::vector<std::string> names;
  for (const auto& c : job_cols) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"}));
}

// Every kind with a table produces one cell per column even for a bare object, and the cells
// are scalars.
TEST_F(PrintersTest, EveryKindRowMatchesColumns) {
  const std::pair<std::string, std::string> kinds[] = {
      {"", "Pod"}, {"", "PodTemplate"}, {"", "ReplicationController"}, {"", "Service"}, {"", "Endpoints"}, {"", "Node"},
      {"", "Event"}, {"", "Namespace"}, {"", "Secret"}, {"", "ConfigMap"}, {"", "ServiceAccount"}, {"", "PersistentVolume"},
      {"", "PersistentVolumeClaim"}, {"", "LimitRange"}, {"", "ResourceQuota"}, {"", "ComponentStatus"}, {"apps", "Deployment"},
      {"apps", "ReplicaSet"}, {"apps", "StatefulSet"}, {"apps", "DaemonSet"}, {"apps", "ControllerRevision"}, {"batch", "Job"},
      {"batch", "CronJob"}, {"autoscaling", "HorizontalPodAutoscaler"}, {"policy", "PodDisruptionBudget"},
      {"networking.k8s.io", "Ingress"}, {"networking.k8s.io", "IngressClass"}, {"networking.k8s.io", "NetworkPolicy"},
      {"rbac.authorization.k8s.io", "Role"}, {"rbac.authorization.k8s.io", "ClusterRole"}, {"rbac.authorization.k8s.io", "RoleBinding"},
      {"rbac.authorization.k8s.io", "ClusterRoleBinding"}, {"storage.k8s.io", "StorageClass"}, {"storage.k8s.io", "CSIDriver"},
      {"storage.k8s.io", "CSINode"}, {"storage.k8s.io", "VolumeAttachment"}, {"storage.k8s.io", "CSIStorageCapacity"},
      {"coordination.k8s.io", "Lease"}, {"discovery.k8s.io", "EndpointSlice"}, {"scheduling.k8s.io", "PriorityClass"},
      {"node.k8s.io", "RuntimeClass"}, {"certificates.k8s.io", "CertificateSigningRequest"},
      {"admissionregistration.k8s.io", "ValidatingWebhookConfiguration"}, {"admissionregistration.k8s.io", "MutatingWebhookConfiguration"},
      {"admissionregistration.k8s.io", "ValidatingAdmissionPolicy"}, {"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"},
      {"events.k8s.io", "Event"}, {"flowcontrol.apiserver.k8s.io", "FlowSchema"}, {"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"},
      {"apiextensions.k8s.io", "CustomResourceDefinition"}, {"apiregistration.k8s.io", "APIService"}, {"example.com", "Widget"}};
  for (const auto& [g, k] : kinds) {
    SCOPED_TRACE(g + "/" + k);
    EXPECT_NE(printers::TableFor(g, k) == nullptr, g != "example.com");
    const Strategy& s = StrategyFor(g, k);
    auto cols = s.Columns();
    Json obj = {{"metadata", {{"name", "x"}}}};
    Json row = s.Row(obj, clock_.Now());
    ASSERT_TRUE(row.is_array());
    EXPECT_EQ(row.size(), cols.size());
    for (const Json& cell : row) EXPECT_TRUE(cell.is_primitive()) << cell.dump();
    int name_cols = 0;
    for (size_t i = 0; i < cols.size(); ++i) {
      if (cols[i].format == "name" && cols[i].name == "Name") {
        name_cols++;
        EXPECT_EQ(row[i], "x");
      }
      EXPECT_TRUE(cols[i].type == "string" || cols[i].type == "integer" || cols[i].type == "boolean" || cols[i].type == "date" ||
                  cols[i].type == "number")
          << cols[i].name;
    }
    EXPECT_EQ(name_cols, 1);
  }
}

TEST_F(PrintersTest, GenericFallbackIsNameAndAge) {
  const Strategy& s = StrategyFor("example.com", "Widget");
  auto cols = s.Columns();
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[0].name, "Name");
  EXPECT_EQ(cols[0].format, "name");
  EXPECT_EQ(cols[1].name, "Age");
  EXPECT_EQ(s.Row(Json{{"metadata", Meta("w", hours(4))}}, clock_.Now()), Json::array({"w", "4h"}));
  EXPECT_EQ(s.Row(Json{{"metadata", {{"name", "w"}}}}, clock_.Now()), Json::array({"w", "<unknown>"}));
  EXPECT_FALSE(s.FieldValue(Json::object(), "spec.x").has_value());
}

TEST_F(PrintersTest, AgeCell) {
  EXPECT_EQ(AgeCell(Json{{"metadata", Meta("a", seconds(90))}}, clock_.Now()), "90s");
  EXPECT_EQ(AgeCell(Json{{"metadata", Meta("a", minutes(7) + seconds(3))}}, clock_.Now()), "7m3s");
  EXPECT_EQ(AgeCell(Json{{"metadata", Meta("a", hours(24 * 400))}}, clock_.Now()), "400d");
  EXPECT_EQ(AgeCell(Json::object(), clock_.Now()), "<unknown>");
  EXPECT_EQ(AgeCell(Json{{"metadata", {{"creationTimestamp", "garbage"}}}}, clock_.Now()), "<unknown>");
}

struct FieldCase {
  std::string group, kind;
  Json obj;
  std::string field;
  std::optional<std::string> want;
};

TEST_F(PrintersTest, FieldSelectors) {
  Json pod = {{"spec", {{"nodeName", "node-1"}, {"restartPolicy", "Always"}, {"schedulerName", "default-scheduler"},
                        {"serviceAccountName", "default"}, {"hostNetwork", true}}},
              {"status", {{"phase", "Running"}, {"podIPs", Json::array({Json{{"ip", "10.42.0.9"}}})}, {"nominatedNodeName", "n2"}}}};
  Json event = {{"involvedObject", {{"kind", "Pod"}, {"namespace", "default"}, {"name", "web"}, {"uid", "u-1"}, {"apiVersion", "v1"},
                                    {"resourceVersion", "12"}, {"fieldPath", "spec.containers{c}"}}},
                {"reason", "Pulled"}, {"type", "Normal"}, {"source", {{"component", "kubelet"}}}, {"reportingController", "kubelet"}};
  Json v1event = {{"apiVersion", "events.k8s.io/v1"}, {"regarding", {{"kind", "Pod"}, {"name", "p"}}}, {"reason", "R"},
                  {"deprecatedSource", {{"component", "sched"}}}};
  const std::vector<FieldCase> cases = {
      {"", "Pod", pod, "spec.nodeName", "node-1"},
      {"", "Pod", pod, "spec.restartPolicy", "Always"},
      {"", "Pod", pod, "spec.schedulerName", "default-scheduler"},
      {"", "Pod", pod, "spec.serviceAccountName", "default"},
      {"", "Pod", pod, "spec.hostNetwork", "true"},
      {"", "Pod", Json::object(), "spec.hostNetwork", "false"},
      {"", "Pod", Json::object(), "spec.nodeName", ""},
      {"", "Pod", pod, "status.phase", "Running"},
      {"", "Pod", pod, "status.podIP", "10.42.0.9"},
      {"", "Pod", pod, "status.nominatedNodeName", "n2"},
      {"", "Pod", pod, "spec.containers", std::nullopt},
      {"", "Pod", pod, "status.hostIP", std::nullopt},
      {"", "Event", event, "involvedObject.kind", "Pod"},
      {"", "Event", event, "involvedObject.namespace", "default"},
      {"", "Event", event, "involvedObject.name", "web"},
      {"", "Event", event, "involvedObject.uid", "u-1"},
      {"", "Event", event, "involvedObject.apiVersion", "v1"},
      {"", "Event", event, "involvedObject.resourceVersion", "12"},
      {"", "Event", event, "involvedObject.fieldPath", "spec.containers{c}"},
      {"", "Event", event, "involvedObject.other", std::nullopt},
      {"", "Event", event, "reason", "Pulled"},
      {"", "Event", event, "reportingComponent", "kubelet"},
      {"", "Event", event, "source", "kubelet"},
      {"", "Event", event, "type", "Normal"},
      {"", "Event", event, "message", std::nullopt},
      {"events.k8s.io", "Event", v1event, "involvedObject.name", "p"},
      {"events.k8s.io", "Event", v1event, "regarding.kind", "Pod"},
      {"events.k8s.io", "Event", v1event, "source", "sched"},
      // The REST layer probes support with an empty object.
      {"events.k8s.io", "Event", Json::object(), "regarding.kind", ""},
      {"events.k8s.io", "Event", Json::object(), "involvedObject.uid", ""},
      {"", "Event", Json::object(), "regarding.kind", std::nullopt},
      {"", "Secret", Json{{"type", "kubernetes.io/tls"}}, "type", "kubernetes.io/tls"},
      {"", "Namespace", Json{{"status", {{"phase", "Terminating"}}}}, "status.phase", "Terminating"},
      {"", "Node", Json{{"spec", {{"unschedulable", true}}}}, "spec.unschedulable", "true"},
      {"", "Node", Json::object(), "spec.unschedulable", "false"},
      {"", "Node", Json::object(), "status.phase", std::nullopt},
      {"apps", "ReplicaSet", Json{{"status", {{"replicas", 3}}}}, "status.replicas", "3"},
      {"", "ReplicationController", Json::object(), "status.replicas", "0"},
      {"batch", "Job", Json{{"status", {{"succeeded", 2}}}}, "status.successful", "2"},
      {"apps", "Deployment", Json::object(), "status.replicas", std::nullopt},
      {"", "ConfigMap", Json::object(), "data", std::nullopt},
      {"", "Service", Json{{"spec", {{"clusterIP", "None"}, {"type", "ClusterIP"}}}}, "spec.clusterIP", "None"},
      {"", "Service", Json{{"spec", {{"type", "NodePort"}}}}, "spec.type", "NodePort"},
      {"", "Service", Json::object(), "spec.ports", std::nullopt},
      {"certificates.k8s.io", "CertificateSigningRequest", Json{{"spec", {{"signerName", "x/y"}}}}, "spec.signerName", "x/y"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.group + "/" + c.kind + " " + c.field);
    EXPECT_EQ(StrategyFor(c.group, c.kind).FieldValue(c.obj, c.field), c.want);
  }
}

TEST(PrinterUtil, LabelSelectors) {
  using printers::FormatLabelSelector;
  Json empty = Json::object();
  EXPECT_EQ(FormatLabelSelector(nullptr), "<none>");
  EXPECT_EQ(FormatLabelSelector(&empty), "<none>");
  Json sel = {{"matchLabels", {{"b", "2"}, {"a", "1"}}},
              {"matchExpressions", Json::array({Json{{"key", "c"}, {"operator", "Exists"}}, Json{{"key", "a0"}, {"operator", "DoesNotExist"}},
                                                Json{{"key", "z"}, {"operator", "NotIn"}, {"values", Json::array({"y", "x"})}}})}};
  EXPECT_EQ(FormatLabelSelector(&sel), "a=1,!a0,b=2,c,z notin (x,y)");
  Json bad = {{"matchExpressions", Json::array({Json{{"key", "c"}, {"operator", "Bogus"}}})}};
  EXPECT_EQ(FormatLabelSelector(&bad), "<error>");
}

TEST(PrinterUtil, Quantities) {
  using printers::ParseQuantityNano;
  EXPECT_EQ(ParseQuantityNano("1"), (__int128)1000000000);
  EXPECT_EQ(ParseQuantityNano("500m"), (__int128)500000000);
  EXPECT_EQ(ParseQuantityNano("0.5"), (__int128)500000000);
  EXPECT_EQ(ParseQuantityNano("1Ki"), (__int128)1024 * 1000000000);
  EXPECT_EQ(ParseQuantityNano("1.5Gi"), (__int128)1610612736 * 1000000000);
  EXPECT_EQ(ParseQuantityNano("1e3"), ParseQuantityNano("1k"));
  EXPECT_EQ(ParseQuantityNano("128974848"), ParseQuantityNano("129e6").value() - (__int128)25152 * 1000000000);
  EXPECT_FALSE(ParseQuantityNano("abc").has_value());
  EXPECT_FALSE(ParseQuantityNano("1Qi").has_value());
  EXPECT_FALSE(ParseQuantityNano("").has_value());
}

}  // namespace
}  // namespace tug::api
