// Node fit checks the DaemonSet controller makes before placing a daemon pod (upstream
// NodeShouldRunDaemonPod): node name, nodeSelector and required node affinity (matchExpressions
// on labels, matchFields on metadata.name), and taints against the pod's tolerations, plus the
// tolerations every daemon pod gets (AddOrUpdateDaemonPodTolerations) and the per-node affinity
// a daemon pod is created with (ReplaceDaemonSetPodNodeNameNodeAffinity).
//
// Thread-safety: free functions over immutable inputs.
#pragma once

#include <string>
#include <string_view>

#include "base/json.h"

namespace tug::controllers::daemonset {

// A v1.NodeSelector ({nodeSelectorTerms: [...]}) against a node: terms are ORed, requirements
// in a term ANDed; a term without requirements matches nothing.
bool NodeSelectorMatches(const Json& node_selector, const Json& node);
// pod.spec.nodeSelector and pod.spec.affinity.nodeAffinity.requiredDuringScheduling... both hold.
bool PodMatchesNodeAffinity(const Json& pod_spec, const Json& node);
// Whether one toleration tolerates one taint.
bool Tolerates(const Json& toleration, const Json& taint);
// Whether every taint of `node` with an effect accepted by `effect_filter` ("" = NoSchedule and
// NoExecute, or one effect) is tolerated by some toleration of the pod spec.
bool ToleratesTaints(const Json& pod_spec, const Json& node, std::string_view effect_filter = "");

// Adds the daemon pod tolerations (not-ready/unreachable NoExecute, disk/memory/pid-pressure and
// unschedulable NoSchedule, network-unavailable NoSchedule for hostNetwork pods) when missing.
void AddDaemonPodTolerations(Json& pod_spec);
// Sets spec.affinity.nodeAffinity.required... to exactly one term matching metadata.name = node.
void SetNodeNameAffinity(Json& pod_spec, const std::string& node_name);
// The node a daemon pod is for: spec.nodeName, else the metadata.name matchFields value of its
// required node affinity ("" when neither).
std::string TargetNodeName(const Json& pod);

struct NodeFit {
  bool should_run = false;       // a daemon pod should be created here
  bool should_continue = false;  // an existing daemon pod may stay
};
// `pod_spec` is the daemon pod's spec (template spec with the daemon tolerations added).
NodeFit NodeShouldRunDaemonPod(const Json& pod_spec, const Json& node);

}  // namespace tug::controllers::daemonset
