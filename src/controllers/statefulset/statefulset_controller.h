// The StatefulSet controller (apps/v1), with upstream kube-controller-manager 1.33 semantics:
// pods "<set>-<ordinal>" (from spec.ordinals.start) with stable hostname/subdomain, labels
// statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index and controller-revision-hash
// (the revision's name), one PVC per volumeClaimTemplate and ordinal ("<tpl>-<set>-<ordinal>",
// created before the pod and kept afterwards). podManagementPolicy OrderedReady creates pods in
// ordinal order, each after its predecessors are Running and Ready, and removes them highest
// first; Parallel does both at once. RollingUpdate (with partition) replaces pods from the
// highest ordinal down, one at a time; OnDelete only when pods are deleted. Status: replicas,
// readyReplicas, availableReplicas, currentReplicas, updatedReplicas, currentRevision,
// updateRevision, collisionCount, observedGeneration.
//
// Ownership: borrows the ControllerContext's client, informers and clock.
// Thread-safety: as framework::Controller.
#pragma once

#include <memory>
#include <string>

#include "controllers/framework/controller.h"

namespace tug::controllers::statefulset {

inline constexpr char kPodNameLabel[] = "statefulset.kubernetes.io/pod-name";
inline constexpr char kPodIndexLabel[] = "apps.kubernetes.io/pod-index";

class StatefulSetController : public framework::Controller {
 public:
  explicit StatefulSetController(const framework::ControllerContext& ctx);
  ~StatefulSetController() override;

 protected:
  Status Sync(const std::string& key) override;

 private:
  void OnPod(const client::ObjectPtr& pod);
  Status CreatePod(const Json& set, const Json& tmpl_set, const std::string& revision, int64_t ordinal);
  Status DeletePod(const Json& set, const Json& pod, const std::string& why);

  client::Informer* sets_;
  client::Informer* pods_;
  std::string pod_index_;  // pods by controller uid (and orphans by namespace)
  client::Informer* revisions_;
  client::Informer* pvcs_;
};

std::unique_ptr<framework::Controller> NewStatefulSetController(const framework::ControllerContext& ctx);

// "<set>-<ordinal>" -> ordinal, or -1 when the name does not belong to the set.
int64_t OrdinalOf(const std::string& set_name, const std::string& pod_name);
// The pod for `ordinal` from a StatefulSet (its spec.template, volumeClaimTemplates, serviceName).
Json NewStatefulSetPod(const Json& set, int64_t ordinal, const std::string& revision);
// The PVCs the pod for `ordinal` uses.
std::vector<Json> ClaimsFor(const Json& set, int64_t ordinal);

}  // namespace tug::controllers::statefulset
