// The HorizontalPodAutoscaler controller (autoscaling/v2), with upstream 1.33 semantics: every
// sync period it reads the target's scale subresource (Deployment, ReplicaSet, StatefulSet,
// ReplicationController), reads Resource metrics (cpu/memory, Utilization or AverageValue)
// from the resource metrics API (metrics.k8s.io/v1beta1 PodMetrics), computes the desired
// replicas (usage ratio with upstream's 0.1 tolerance, clamped to min/maxReplicas), scales
// the target through its scale subresource, and keeps status (currentReplicas,
// desiredReplicas, currentMetrics, lastScaleTime) and the AbleToScale / ScalingActive /
// ScalingLimited conditions.
//
// While no metrics API is served, a sync sets ScalingActive=False with reason
// FailedGetResourceMetric and upstream's message ("the HPA was unable to compute the replica
// count: failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch
// metrics from resource metrics API: the server could not find the requested resource (get
// pods.metrics.k8s.io)") and records the FailedGetResourceMetric and
// FailedComputeMetricsReplicas events.
//
// Ownership: borrows the ControllerContext's client, informers and clock.
// Thread-safety: as framework::Controller.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "controllers/framework/controller.h"

namespace tug::controllers::hpa {

struct HpaOptions {
  std::chrono::milliseconds sync_period{15000};  // upstream --horizontal-pod-autoscaler-sync-period
  double tolerance = 0.1;
};

class HpaController : public framework::Controller {
 public:
  HpaController(const framework::ControllerContext& ctx, HpaOptions opts = {});
  ~HpaController() override;

 protected:
  Status Sync(const std::string& key) override;

 private:
  HpaOptions opts_;
  client::Informer* hpas_;
  client::Informer* pods_;
};

std::unique_ptr<framework::Controller> NewHpaController(const framework::ControllerContext& ctx);

}  // namespace tug::controllers::hpa
