// The endpointslice controller (upstream pkg/controller/endpointslice, --controllers name
// "endpointslice"): keeps discovery.k8s.io/v1 EndpointSlices for every Service that has a
// selector.
//
// Slices are created with generateName "<service>-", labels kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io (plus the Service's own
// labels and service.kubernetes.io/headless without a cluster IP), an ownerReference to the
// Service (controller, blockOwnerDeletion: the garbage collector deletes them with it), one
// addressType per Service IP family and one port set per slice. Each pod that has an IP and is
// not terminal is an endpoint {addresses, conditions {ready, serving, terminating}, nodeName,
// zone (the node's topology.kubernetes.io/zone), hostname, targetRef}; ready is serving and not
// terminating, or always with publishNotReadyAddresses. Pods on a node the cache does not know
// are left out and the Service retried, as upstream.
//
// Reconcile follows upstream's reconciler: existing slices keep their endpoints in place (changed
// endpoints are updated in place, gone ones removed, emptied slices deleted), new endpoints fill
// the slices already being updated (fullest first), then the unchanged slice that fits them most
// closely, then new slices of at most 100 endpoints; a create that would pair with a delete
// becomes an update of that slice. A Service without endpoints keeps one placeholder slice with
// no ports and no endpoints. Nothing is written when nothing changed. Written slices carry the
// endpoints.kubernetes.io/last-change-trigger-time annotation. A tracker of the slices this
// controller wrote (by resourceVersion) makes a sync wait until the informer has seen them, so a
// quick second sync never creates duplicates.
//
// Ownership and threading: see framework/controller.h.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "base/json.h"
#include "client/informer.h"
#include "controllers/framework/controller.h"

namespace tug::controllers::endpoints {

// Upstream --max-endpoints-per-slice default.
inline constexpr int kMaxEndpointsPerSlice = 100;

std::unique_ptr<framework::Controller> NewEndpointSliceController(const framework::ControllerContext& ctx);
// Same, with another slice capacity (tests).
std::unique_ptr<framework::Controller> NewEndpointSliceControllerForTest(const framework::ControllerContext& ctx,
                                                                         int max_endpoints_per_slice);

// What a reconcile decided: slices to create (no name, generateName set), to update (full
// documents, resourceVersion kept when the slice was updated in place) and to delete.
struct SlicePlan {
  std::vector<Json> create;
  std::vector<Json> update;
  std::vector<Json> remove;
  // Pods left out because their node is not known (the Service is retried).
  std::vector<std::string> missing_nodes;
};

// The plan for `service` over the pods its selector matches and the slices this controller
// manages for it (`existing`, none being deleted). `node` looks a node up by name (null when
// unknown). Pure and deterministic.
SlicePlan ReconcileSlices(const Json& service, const std::vector<client::ObjectPtr>& pods,
                          const std::function<client::ObjectPtr(const std::string&)>& node,
                          const std::vector<client::ObjectPtr>& existing, int max_endpoints_per_slice);

}  // namespace tug::controllers::endpoints
