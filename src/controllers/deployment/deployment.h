// Deployment controller, as upstream's pkg/controller/deployment: owns ReplicaSets (claimed by
// selector + controllerRef) and rolls a Deployment's pod template out through them.
//
// Sync(ns/name): claim ReplicaSets; a deleting Deployment only gets status; paused conditions
// (DeploymentPaused / DeploymentResumed); paused or a scaling event (an active RS whose
// desired-replicas annotation differs from spec.replicas) → proportional scaling only (plus
// revisionHistoryLimit cleanup when paused); otherwise RollingUpdate (new RS scaled up within
// maxSurge, old RSs scaled down within maxUnavailable, unhealthy old replicas first) or Recreate
// (old RSs to 0, wait for their pods to go, then the new RS to full size). The new RS is named
// "<deployment>-<pod-template-hash>" and carries the revision annotations
// (deployment.kubernetes.io/revision, revision-history, desired-replicas, max-replicas); the
// Deployment gets the revision annotation and status replicas/updatedReplicas/readyReplicas/
// availableReplicas/unavailableReplicas/observedGeneration/collisionCount and the conditions
// Available (MinimumReplicasAvailable/Unavailable) and Progressing (NewReplicaSetCreated,
// FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded,
// ReplicaSetCreateError, DeploymentPaused, DeploymentResumed), so `kubectl rollout status`
// behaves as upstream. Events: ScalingReplicaSet ("Scaled up replica set web-5d4f to 3").
//
// `kubectl rollout undo` (client-side in kubectl ≥ 1.27: a JSON patch of spec.template) simply
// makes an older ReplicaSet's template current again: it is found by template equality and gets
// the next revision, its old revision moving to revision-history.
//
// Ownership and threading: see framework/controller.h.
#pragma once

#include <memory>

#include "controllers/framework/controller.h"

namespace tug::controllers::deployment {

std::unique_ptr<framework::Controller> NewDeploymentController(const framework::ControllerContext& ctx);

}  // namespace tug::controllers::deployment
