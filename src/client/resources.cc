// The well-known resources (client.h). Checked against the built-in registry in client_test.
#include "client/client.h"

namespace tug::client {

const Resource kPods{"", "v1", "pods", "Pod", true};
const Resource kNodes{"", "v1", "nodes", "Node", false};
const Resource kNamespaces{"", "v1", "namespaces", "Namespace", false};
const Resource kServices{"", "v1", "services", "Service", true};
const Resource kEndpoints{"", "v1", "endpoints", "Endpoints", true};
const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
const Resource kSecrets{"", "v1", "secrets", "Secret", true};
const Resource kServiceAccounts{"", "v1", "serviceaccounts", "ServiceAccount", true};
const Resource kEvents{"", "v1", "events", "Event", true};
const Resource kPersistentVolumes{"", "v1", "persistentvolumes", "PersistentVolume", false};
const Resource kPersistentVolumeClaims{"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true};
const Resource kReplicationControllers{"", "v1", "replicationcontrollers", "ReplicationController", true};
const Resource kDeployments{"apps", "v1", "deployments", "Deployment", true};
const Resource kReplicaSets{"apps", "v1", "replicasets", "ReplicaSet", true};
const Resource kDaemonSets{"apps", "v1", "daemonsets", "DaemonSet", true};
const Resource kStatefulSets{"apps", "v1", "statefulsets", "StatefulSet", true};
const Resource kControllerRevisions{"apps", "v1", "controllerrevisions", "ControllerRevision", true};
const Resource kJobs{"batch", "v1", "jobs", "Job", true};
const Resource kCronJobs{"batch", "v1", "cronjobs", "CronJob", true};
const Resource kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
const Resource kEndpointSlices{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true};
const Resource kPodDisruptionBudgets{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true};
const Resource kHorizontalPodAutoscalers{"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
                                         true};
const Resource kPriorityClasses{"scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", false};
const Resource kStorageClasses{"storage.k8s.io", "v1", "storageclasses", "StorageClass", false};
const Resource kEventsV1{"events.k8s.io", "v1", "events", "Event", true};

}  // namespace tug::client
