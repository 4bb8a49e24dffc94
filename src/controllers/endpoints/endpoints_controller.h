// The endpoints controller (upstream pkg/controller/endpoint, --controllers name "endpoints"):
// keeps one core/v1 Endpoints object per Service that has a selector, named as the Service and
// carrying its labels (plus service.kubernetes.io/headless for a Service without a cluster IP).
//
// Sync(ns/name): Service gone -> delete its Endpoints. No selector (or ExternalName) -> leave
// alone (users manage those). Otherwise every pod the selector matches that has an IP, is not
// terminal and (unless spec.publishNotReadyAddresses) not terminating contributes, per Service
// port, an address {ip, nodeName, hostname, targetRef} under `addresses` (Ready, or
// publishNotReadyAddresses) or `notReadyAddresses`, with the port {name, port, protocol,
// appProtocol} resolved from targetPort (a named port is looked up per pod; a pod without it is
// skipped for that port). Addresses are then grouped by port set (upstream RepackSubsets) and
// sorted. Nothing is written when subsets and labels are unchanged; otherwise the
// endpoints.kubernetes.io/last-change-trigger-time annotation is set (or removed) and, above
// 1000 addresses, the subsets are truncated and endpoints.kubernetes.io/over-capacity=truncated
// set. Endpoints whose Service no longer exists are removed once at start (upstream's
// checkLeftoverEndpoints), and a deleted Endpoints object is recreated.
//
// Triggers: Service add/update/delete, Pod add/update/delete (mapped to the Services whose
// selector matches the old or new labels), Endpoints delete.
// Ownership and threading: see framework/controller.h.
#pragma once

#include <memory>
#include <vector>

#include "base/json.h"
#include "client/informer.h"
#include "controllers/framework/controller.h"

namespace tug::controllers::endpoints {

std::unique_ptr<framework::Controller> NewEndpointsController(const framework::ControllerContext& ctx);

// The Endpoints subsets for `service` over `pods` (the pods its selector matches, any order):
// filtered, resolved, repacked by port set and sorted as described above. Deterministic.
Json ComputeSubsets(const Json& service, const std::vector<client::ObjectPtr>& pods);

// Upstream's maxCapacity: addresses kept in one Endpoints object.
inline constexpr int kMaxEndpointsCapacity = 1000;

// Truncates `subsets` to kMaxEndpointsCapacity addresses as upstream truncateEndpoints does
// (ready addresses first; each subset keeps its proportional share, rounded up). Returns true when
// it truncated.
bool TruncateSubsets(Json& subsets);

}  // namespace tug::controllers::endpoints
