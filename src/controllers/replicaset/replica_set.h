// ReplicaSet controller (and ReplicationController through the same code, parameterised by the
// kind): keeps spec.replicas active pods for every ReplicaSet, as upstream's
// pkg/controller/replicaset does.
//
// Sync(ns/name): claim pods (adopt orphans matching the selector, release owned pods that no
// longer match), then — only when earlier creates/deletes have been observed (Expectations) —
// create the missing pods in slow-start batches (1, 2, 4, ...; at most 500 per sync) or delete
// the surplus, preferring unscheduled < scheduled, Pending < Unknown < Running, not ready < ready,
// lower pod-deletion-cost, more pods on the same node, ready for less time, more restarts,
// younger. Then status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas
// (minReadySeconds), observedGeneration and the ReplicaFailure condition (FailedCreate /
// FailedDelete).
//
// Ownership and threading: see framework/controller.h.
#pragma once

#include <memory>
#include <vector>

#include "base/clock.h"
#include "client/informer.h"
#include "controllers/framework/controller.h"

namespace tug::controllers::replicaset {

std::unique_ptr<framework::Controller> NewReplicaSetController(const framework::ControllerContext& ctx);
std::unique_ptr<framework::Controller> NewReplicationControllerController(const framework::ControllerContext& ctx);

// The `diff` pods of `pods` to delete first (upstream getPodsToDelete with ActivePodsWithRanks).
// `related` are the active pods of every ReplicaSet owned by the same controller (the rank of a
// pod is how many related pods share its node).
std::vector<client::ObjectPtr> PodsToDelete(const std::vector<client::ObjectPtr>& pods,
                                            const std::vector<client::ObjectPtr>& related, size_t diff,
                                            SystemTime now);

// Upstream's burstReplicas: at most this many creates or deletes per sync.
inline constexpr int kBurstReplicas = 500;

}  // namespace tug::controllers::replicaset
