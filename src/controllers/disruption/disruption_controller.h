// The disruption controller (policy/v1 PodDisruptionBudget status), with upstream 1.33
// semantics: expectedPods (the pod count for an integer minAvailable, else the summed scale of
// the pods' controllers: Deployment via its ReplicaSet, ReplicaSet, ReplicationController,
// StatefulSet), desiredHealthy (minAvailable, or expected minus maxUnavailable, percentages
// rounded up), currentHealthy (Ready pods not being deleted), disruptionsAllowed, the
// DisruptionAllowed condition (SufficientPods / InsufficientPods / SyncFailed) and
// observedGeneration. A pod without a scalable controller makes the budget fail safe
// (disruptionsAllowed 0, event CalculateExpectedPodCountFailed).
//
// Ownership: borrows the ControllerContext's client, informers and clock.
// Thread-safety: as framework::Controller.
#pragma once

#include <memory>
#include <string>

#include "controllers/framework/controller.h"

namespace tug::controllers::disruption {

class DisruptionController : public framework::Controller {
 public:
  explicit DisruptionController(const framework::ControllerContext& ctx);
  ~DisruptionController() override;

 protected:
  Status Sync(const std::string& key) override;

 private:
  void OnPod(const client::ObjectPtr& pod);
  // The scale (replicas) of the controller owning `pod`, keyed by that controller's uid.
  Result<std::pair<std::string, int64_t>> ControllerScale(const Json& pod);

  client::Informer* pdbs_;
  client::Informer* pods_;
  client::Informer* rss_;
  client::Informer* deployments_;
  client::Informer* sts_;
  client::Informer* rcs_;
};

std::unique_ptr<framework::Controller> NewDisruptionController(const framework::ControllerContext& ctx);

}  // namespace tug::controllers::disruption
