// Shared pieces of the endpoints and endpointslice controllers (upstream
// pkg/controller/util/endpoint and pkg/controller/util/endpointslice): which pods of a Service
// belong in its endpoints, how a Service port resolves to a pod's port, which Services select a
// pod, and the last-change-trigger-time tracker.
//
// Ownership: free functions over immutable documents; TriggerTimeTracker owns its map.
// Thread-safety: free functions are pure; TriggerTimeTracker is safe from any thread (calls for
// one service are serialized by the workqueue, as upstream assumes).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "client/informer.h"

namespace tug::controllers::endpoints {

// Annotation and label names (core/v1 and discovery/v1 constants).
inline constexpr char kLastChangeTriggerTime[] = "endpoints.kubernetes.io/last-change-trigger-time";
inline constexpr char kOverCapacity[] = "endpoints.kubernetes.io/over-capacity";
inline constexpr char kHeadlessLabel[] = "service.kubernetes.io/headless";
inline constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
inline constexpr char kManagedByLabel[] = "endpointslice.kubernetes.io/managed-by";
inline constexpr char kSliceControllerName[] = "endpointslice-controller.k8s.io";
inline constexpr char kZoneLabel[] = "topology.kubernetes.io/zone";

// The Service's spec.selector as a label selector; nullopt when the Service has none (absent or
// empty: such Services get no endpoints from the controllers, users manage them).
std::optional<client::LabelSelector> ServiceSelector(const Json& service);

// Upstream ShouldPodBeInEndpoints: not terminal (Succeeded/Failed), has an IP, and — unless
// `include_terminating` — no deletionTimestamp.
bool ShouldPodBeInEndpoints(const Json& pod, bool include_terminating);

// Upstream ShouldSetHostname: the pod's spec.hostname is set and its spec.subdomain names the
// Service (same namespace).
bool ShouldSetHostname(const Json& pod, const Json& service);

// The pod's IP of `family` ("IPv4" or "IPv6") from status.podIPs (or status.podIP); "" if none.
std::string PodIPOfFamily(const Json& pod, std::string_view family);
// The Service's first IP family ("IPv4" unless spec.ipFamilies starts with IPv6).
std::string PrimaryFamily(const Json& service);
// The address types the Service gets slices for: its spec.ipFamilies, IPv4 when none.
std::vector<std::string> ServiceFamilies(const Json& service);

// Upstream FindPort: the port number a Service port's targetPort means for this pod. A number
// is itself (absent: the Service port); a name is looked up in the containers' ports (and in
// restartable init containers) with the Service port's protocol. NotFound when the pod has no
// port of that name.
Result<int> FindPort(const Json& pod, const Json& service_port);

// A Service port's protocol (TCP when absent).
std::string PortProtocol(const Json& service_port);

// True when the Service has no cluster IP ("None" or absent).
bool IsHeadless(const Json& service);

// Keys ("ns/name") of the Services in `services` (the pod's namespace) whose selector matches the
// labels of `pod` or of `old_pod` (when given): the services an event for the pod can change.
std::set<std::string> ServicesForPod(const client::Informer& services, const Json& pod, const Json* old_pod);

// The pod handler both controllers use: every pod add/delete and every real update (not a
// resync) enqueues, through `enqueue`, the keys of the Services selecting the old or new pod.
// `services` must outlive the handler.
client::EventHandler PodToServicesHandler(const client::Informer& services,
                                          std::function<void(const std::string&)> enqueue);

// Upstream's TriggerTimeTracker: the earliest change among the pods and the Service since the
// controller's previous sync of that Service, for the last-change-trigger-time annotation. A pod
// change is its Ready condition's lastTransitionTime, a Service change its creationTimestamp.
class TriggerTimeTracker {
 public:
  // The earliest trigger time that changed since the last committed sync of this Service;
  // nullopt when nothing changed. The state seen is staged until Commit.
  std::optional<SystemTime> Compute(const Json& service, const std::vector<client::ObjectPtr>& pods);
  // The sync that called Compute succeeded (written or nothing to write): its state becomes the
  // base of the next Compute. A failed sync does not commit, so its retry reports the same
  // change (upstream records at once, and a retried write loses the annotation).
  void Commit(const std::string& key);
  void DeleteService(const std::string& key);

 private:
  struct State {
    std::map<std::string, SystemTime> pods;  // pod name -> trigger time
    std::optional<SystemTime> service;
  };
  std::mutex mu_;
  std::map<std::string, State> states_;   // GUARDED_BY(mu_)
  std::map<std::string, State> pending_;  // GUARDED_BY(mu_)
};

// The comparison form of a document: nulls and empty arrays/objects dropped, as the API server
// omits them, so a computed document compares equal to its stored copy.
Json Canonical(const Json& j);

// The annotation value for a trigger time (RFC 3339; fractional seconds only when present).
std::string FormatTriggerTime(SystemTime t);

}  // namespace tug::controllers::endpoints
