"""Hand-written resource table for tug's built-in API (facts about a Kubernetes 1.33 server).

Each entry describes one served resource: group, version, kind, plural, scope, short names,
categories, verbs and subresources. Singular names are the lower-cased kind (as upstream
discovery reports them).
"""

FULL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
NO_DELETECOLLECTION = ["create", "delete", "get", "list", "patch", "update", "watch"]
CREATE = ["create"]
GPU = ["get", "patch", "update"]
PROXY = ["create", "delete", "get", "patch", "update"]


def status():
    return ("status", None, GPU)


def scale():
    return ("scale", ("autoscaling", "v1", "Scale"), GPU)


# Preferred order of API groups (as /apis lists them) and of versions in each group (first is
# the preferred version).
GROUPS = [
    ("", ["v1"]),
    ("apps", ["v1", "v1beta2", "v1beta1"]),
    ("events.k8s.io", ["v1"]),
    ("authentication.k8s.io", ["v1"]),
    ("authorization.k8s.io", ["v1"]),
    ("autoscaling", ["v2", "v1"]),
    ("batch", ["v1", "v1beta1"]),
    ("certificates.k8s.io", ["v1"]),
    ("networking.k8s.io", ["v1"]),
    ("policy", ["v1", "v1beta1"]),
    ("rbac.authorization.k8s.io", ["v1"]),
    ("storage.k8s.io", ["v1"]),
    ("admissionregistration.k8s.io", ["v1"]),
    ("apiextensions.k8s.io", ["v1"]),
    ("scheduling.k8s.io", ["v1"]),
    ("coordination.k8s.io", ["v1"]),
    ("node.k8s.io", ["v1"]),
    ("discovery.k8s.io", ["v1"]),
    ("flowcontrol.apiserver.k8s.io", ["v1"]),
    # Removed from Kubernetes long ago; tug still serves them (converted to and stored as the
    # current version) so that old manifests and tutorials work. Listed last so that the
    # current groups win when kubectl resolves a resource name such as "deployments".
    ("extensions", ["v1beta1"]),
]

# Group -> directory in kubernetes/api.
GROUP_DIRS = {
    "": "core",
    "apps": "apps",
    "events.k8s.io": "events",
    "authentication.k8s.io": "authentication",
    "authorization.k8s.io": "authorization",
    "autoscaling": "autoscaling",
    "batch": "batch",
    "certificates.k8s.io": "certificates",
    "networking.k8s.io": "networking",
    "policy": "policy",
    "rbac.authorization.k8s.io": "rbac",
    "storage.k8s.io": "storage",
    "admissionregistration.k8s.io": "admissionregistration",
    "scheduling.k8s.io": "scheduling",
    "coordination.k8s.io": "coordination",
    "node.k8s.io": "node",
    "discovery.k8s.io": "discovery",
    "flowcontrol.apiserver.k8s.io": "flowcontrol",
    "extensions": "extensions",
}

# Groups whose types live outside kubernetes/api: group -> proto package prefix.
GROUP_PACKAGES = {
    "apiextensions.k8s.io": "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions",
}


def package_of(group, version):
    """The proto package of a served group-version."""
    if group in GROUP_PACKAGES:
        return f"{GROUP_PACKAGES[group]}.{version}"
    return f"k8s.io.api.{GROUP_DIRS[group]}.{version}"


def R(group, version, kind, plural, namespaced=True, short=(), cats=(), verbs=FULL, subs=(),
      virtual=False, storage_version=None, storage_group=None):
    return {
        "storage_group": group if storage_group is None else storage_group,
        "group": group, "version": version, "kind": kind, "plural": plural,
        "namespaced": namespaced, "short": list(short), "cats": list(cats), "verbs": list(verbs),
        "subs": list(subs), "virtual": virtual, "storage_version": storage_version or version,
    }


PODS_SUBS = [
    ("attach", ("", "v1", "PodAttachOptions"), ["create", "get"]),
    ("binding", ("", "v1", "Binding"), CREATE),
    ("ephemeralcontainers", ("", "v1", "Pod"), GPU),
    ("eviction", ("policy", "v1", "Eviction"), CREATE),
    ("exec", ("", "v1", "PodExecOptions"), ["create", "get"]),
    ("log", ("", "v1", "Pod"), ["get"]),
    ("portforward", ("", "v1", "PodPortForwardOptions"), ["create", "get"]),
    ("proxy", ("", "v1", "PodProxyOptions"), PROXY),
    ("resize", ("", "v1", "Pod"), GPU),
    status(),
]

RESOURCES = [
    # core/v1
    R("", "v1", "Binding", "bindings", verbs=CREATE),
    R("", "v1", "ComponentStatus", "componentstatuses", namespaced=False, short=["cs"],
      verbs=["get", "list"]),
    R("", "v1", "ConfigMap", "configmaps", short=["cm"]),
    R("", "v1", "Endpoints", "endpoints", short=["ep"]),
    R("", "v1", "Event", "events", short=["ev"]),
    R("", "v1", "LimitRange", "limitranges", short=["limits"]),
    R("", "v1", "Namespace", "namespaces", namespaced=False, short=["ns"],
      verbs=NO_DELETECOLLECTION,
      subs=[("finalize", ("", "v1", "Namespace"), ["update"]), status()]),
    R("", "v1", "Node", "nodes", namespaced=False, short=["no"],
      subs=[("proxy", ("", "v1", "NodeProxyOptions"), PROXY), status()]),
    R("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=["pvc"], subs=[status()]),
    R("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=["pv"],
      subs=[status()]),
    R("", "v1", "Pod", "pods", short=["po"], cats=["all"], subs=PODS_SUBS),
    R("", "v1", "PodTemplate", "podtemplates"),
    R("", "v1", "ReplicationController", "replicationcontrollers", short=["rc"], cats=["all"],
      subs=[scale(), status()]),
    R("", "v1", "ResourceQuota", "resourcequotas", short=["quota"], subs=[status()]),
    R("", "v1", "Secret", "secrets"),
    R("", "v1", "ServiceAccount", "serviceaccounts", short=["sa"],
      subs=[("token", ("authentication.k8s.io", "v1", "TokenRequest"), CREATE)]),
    R("", "v1", "Service", "services", short=["svc"], cats=["all"],
      subs=[("proxy", ("", "v1", "ServiceProxyOptions"), PROXY), status()]),
    # apps/v1
    R("apps", "v1", "ControllerRevision", "controllerrevisions"),
    R("apps", "v1", "DaemonSet", "daemonsets", short=["ds"], cats=["all"], subs=[status()]),
    R("apps", "v1", "Deployment", "deployments", short=["deploy"], cats=["all"],
      subs=[scale(), status()]),
    R("apps", "v1", "ReplicaSet", "replicasets", short=["rs"], cats=["all"],
      subs=[scale(), status()]),
    R("apps", "v1", "StatefulSet", "statefulsets", short=["sts"], cats=["all"],
      subs=[scale(), status()]),
    # events.k8s.io/v1
    R("events.k8s.io", "v1", "Event", "events", short=["ev"]),
    # authentication.k8s.io/v1
    R("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", namespaced=False,
      verbs=CREATE, virtual=True),
    R("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", namespaced=False,
      verbs=CREATE, virtual=True),
    # authorization.k8s.io/v1
    R("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews",
      verbs=CREATE, virtual=True),
    R("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
      namespaced=False, verbs=CREATE, virtual=True),
    R("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
      namespaced=False, verbs=CREATE, virtual=True),
    R("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews",
      namespaced=False, verbs=CREATE, virtual=True),
    # autoscaling
    R("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=["hpa"],
      cats=["all"], subs=[status()]),
    R("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=["hpa"],
      cats=["all"], subs=[status()], storage_version="v2"),
    # batch/v1
    R("batch", "v1", "CronJob", "cronjobs", short=["cj"], cats=["all"], subs=[status()]),
    R("batch", "v1", "Job", "jobs", cats=["all"], subs=[status()]),
    # certificates.k8s.io/v1
    R("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
      namespaced=False, short=["csr"],
      subs=[("approval", ("certificates.k8s.io", "v1", "CertificateSigningRequest"), GPU),
            status()]),
    # networking.k8s.io/v1
    R("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    R("networking.k8s.io", "v1", "Ingress", "ingresses", short=["ing"], subs=[status()]),
    R("networking.k8s.io", "v1", "IPAddress", "ipaddresses", namespaced=False, short=["ip"]),
    R("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=["netpol"]),
    R("networking.k8s.io", "v1", "ServiceCIDR", "servicecidrs", namespaced=False,
      subs=[status()]),
    # policy/v1
    R("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=["pdb"],
      subs=[status()]),
    # rbac.authorization.k8s.io/v1
    R("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
      namespaced=False),
    R("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    R("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    R("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    # storage.k8s.io/v1
    R("storage.k8s.io", "v1", "CSIDriver", "csidrivers", namespaced=False),
    R("storage.k8s.io", "v1", "CSINode", "csinodes", namespaced=False),
    R("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities"),
    R("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False, short=["sc"]),
    R("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", namespaced=False,
      subs=[status()]),
    # admissionregistration.k8s.io/v1
    R("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
      "mutatingwebhookconfigurations", namespaced=False, cats=["api-extensions"]),
    R("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy",
      "validatingadmissionpolicies", namespaced=False, cats=["api-extensions"], subs=[status()]),
    R("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
      "validatingadmissionpolicybindings", namespaced=False, cats=["api-extensions"]),
    R("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
      "validatingwebhookconfigurations", namespaced=False, cats=["api-extensions"]),
    # apiextensions.k8s.io/v1
    R("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
      namespaced=False, short=["crd", "crds"], cats=["api-extensions"], subs=[status()]),
    # scheduling.k8s.io/v1
    R("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False,
      short=["pc"]),
    # coordination.k8s.io/v1
    R("coordination.k8s.io", "v1", "Lease", "leases"),
    # node.k8s.io/v1
    R("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", namespaced=False),
    # discovery.k8s.io/v1
    R("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    # flowcontrol.apiserver.k8s.io/v1
    R("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema", "flowschemas", namespaced=False,
      subs=[status()]),
    R("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration",
      "prioritylevelconfigurations", namespaced=False, subs=[status()]),
] + [
    # Old versions (see GROUPS): served and converted to/from the storage version. The extensions
    # group's resources have no category and no short name: `kubectl get all` would list apps'
    # objects twice, and kubectl warns about short names that match two groups.
    R(g, v, k, p, short=sn, cats=cats, subs=subs, storage_version="v1", storage_group=sg)
    for (g, v, k, p, sn, cats, subs, sg) in [
        ("apps", "v1beta1", "ControllerRevision", "controllerrevisions", [], [], [], "apps"),
        ("apps", "v1beta1", "Deployment", "deployments", ["deploy"], ["all"],
         [("scale", ("apps", "v1beta1", "Scale"), GPU), status()], "apps"),
        ("apps", "v1beta1", "StatefulSet", "statefulsets", ["sts"], ["all"],
         [("scale", ("apps", "v1beta1", "Scale"), GPU), status()], "apps"),
        ("apps", "v1beta2", "ControllerRevision", "controllerrevisions", [], [], [], "apps"),
        ("apps", "v1beta2", "DaemonSet", "daemonsets", ["ds"], ["all"], [status()], "apps"),
        ("apps", "v1beta2", "Deployment", "deployments", ["deploy"], ["all"],
         [("scale", ("apps", "v1beta2", "Scale"), GPU), status()], "apps"),
        ("apps", "v1beta2", "ReplicaSet", "replicasets", ["rs"], ["all"],
         [("scale", ("apps", "v1beta2", "Scale"), GPU), status()], "apps"),
        ("apps", "v1beta2", "StatefulSet", "statefulsets", ["sts"], ["all"],
         [("scale", ("apps", "v1beta2", "Scale"), GPU), status()], "apps"),
        ("batch", "v1beta1", "CronJob", "cronjobs", ["cj"], ["all"], [status()], "batch"),
        ("policy", "v1beta1", "PodDisruptionBudget", "poddisruptionbudgets", ["pdb"], [],
         [status()], "policy"),
        ("extensions", "v1beta1", "DaemonSet", "daemonsets", [], [], [status()], "apps"),
        ("extensions", "v1beta1", "Deployment", "deployments", [], [],
         [("scale", ("extensions", "v1beta1", "Scale"), GPU), status()], "apps"),
        ("extensions", "v1beta1", "Ingress", "ingresses", [], [], [status()],
         "networking.k8s.io"),
        ("extensions", "v1beta1", "NetworkPolicy", "networkpolicies", [], [], [],
         "networking.k8s.io"),
        ("extensions", "v1beta1", "ReplicaSet", "replicasets", [], [],
         [("scale", ("extensions", "v1beta1", "Scale"), GPU), status()], "apps"),
    ]
]

# meta.k8s.io/v1 kinds that every group-version also accepts (as upstream's AddToGroupVersion
# registers them), so a protobuf body such as DeleteOptions resolves under any group-version.
META_KINDS_EVERY_GV = ["Status", "WatchEvent", "DeleteOptions", "ListOptions", "GetOptions",
                       "CreateOptions", "UpdateOptions", "PatchOptions"]
# Kinds served in meta.k8s.io/v1 itself.
META_KINDS = META_KINDS_EVERY_GV + [
    "Table", "PartialObjectMetadata", "PartialObjectMetadataList", "APIVersions",
    "APIGroupList", "APIGroup", "APIResourceList"]
