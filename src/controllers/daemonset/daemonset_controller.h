// The DaemonSet controller (apps/v1), with upstream kube-controller-manager 1.33 semantics: one
// daemon pod on every node the template fits (node name, nodeSelector, required node affinity,
// taints against the pod's tolerations plus the daemon tolerations). Pods are created with a
// node affinity for their node (not spec.nodeName; the scheduler binds them), labelled
// controller-revision-hash and pod-template-generation. Updates follow the strategy:
// RollingUpdate with maxUnavailable / maxSurge (ints or percentages of the desired count), or
// OnDelete. Templates are recorded as ControllerRevisions (`kubectl rollout history|undo`).
// Status: desired/current/ready/available/unavailable/updated/numberMisscheduled,
// observedGeneration.
//
// Ownership: borrows the ControllerContext's client, informers and clock.
// Thread-safety: as framework::Controller.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "controllers/framework/controller.h"

namespace tug::controllers::daemonset {

class DaemonSetController : public framework::Controller {
 public:
  explicit DaemonSetController(const framework::ControllerContext& ctx);
  ~DaemonSetController() override;

 protected:
  Status Sync(const std::string& key) override;

 private:
  void OnPod(const client::ObjectPtr& pod, int ev);  // 0 add, 1 update, 2 delete
  void EnqueueAll();
  Status CreateOnNodes(const Json& ds, const std::string& key, const std::string& hash,
                       const std::vector<std::string>& nodes);
  Status DeletePods(const Json& ds, const std::string& key, const std::vector<client::ObjectPtr>& pods);

  client::Informer* dss_;
  client::Informer* pods_;
  std::string pod_index_;  // pods by controller uid (and orphans by namespace)
  client::Informer* nodes_;
  client::Informer* revisions_;
  framework::Expectations expectations_;
};

std::unique_ptr<framework::Controller> NewDaemonSetController(const framework::ControllerContext& ctx);

// An IntOrString (int, "N" or "N%") scaled against `total` (percentages round up, as upstream's
// GetScaledValueFromIntOrPercent(..., true)). Invalid values count as 0.
int64_t ScaledValue(const Json* v, int64_t total, bool round_up = true);

}  // namespace tug::controllers::daemonset
