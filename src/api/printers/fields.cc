#include "api/printers/fields.h"

#include "api/printers/util.h"

namespace tug::api::printers {
namespace {

using Path = std::initializer_list<std::string_view>;

std::string BoolText(bool b) { return b ? "true" : "false"; }

std::optional<std::string> PodField(const Json& o, std::string_view f) {
  if (f == "spec.nodeName") return Str(o, {"spec", "nodeName"});
  if (f == "spec.restartPolicy") return Str(o, {"spec", "restartPolicy"});
  if (f == "spec.schedulerName") return Str(o, {"spec", "schedulerName"});
  if (f == "spec.serviceAccountName") return Str(o, {"spec", "serviceAccountName"});
  if (f == "spec.hostNetwork") return BoolText(Bool(o, {"spec", "hostNetwork"}));
  if (f == "status.phase") return Str(o, {"status", "phase"});
  if (f == "status.podIP") {
    const Json& ips = Arr(o, {"status", "podIPs"});
    if (!ips.empty()) return Str(ips[0], {"ip"});
    return Str(o, {"status", "podIP"});
  }
  if (f == "status.nominatedNodeName") return Str(o, {"status", "nominatedNodeName"});
  return std::nullopt;
}

// `v1group`: the request is for events.k8s.io, which also accepts its own field names.
std::optional<std::string> EventField(const Json& o, std::string_view f, bool v1group) {
  // The object's shape decides where values are read from.
  bool v1events = Has(o, {"regarding"}) || Has(o, {"note"}) || Str(o, {"apiVersion"}) == "events.k8s.io/v1";
  const char* inv = v1events ? "regarding" : "involvedObject";
  // involvedObject.* (core names; events.k8s.io also accepts regarding.*).
  std::string_view sub;
  if (f.rfind("involvedObject.", 0) == 0) sub = f.substr(15);
  else if (v1group && f.rfind("regarding.", 0) == 0) sub = f.substr(10);
  if (!sub.empty()) {
    if (sub == "kind" || sub == "namespace" || sub == "name" || sub == "uid" || sub == "apiVersion" || sub == "resourceVersion" ||
        sub == "fieldPath") {
      return Str(o, {inv, sub});
    }
    return std::nullopt;
  }
  if (f == "reason") return Str(o, {"reason"});
  if (f == "reportingComponent" || (v1group && f == "reportingController")) return Str(o, {"reportingController"});
  if (f == "source") return Str(o, {v1events ? "deprecatedSource" : "source", "component"});
  if (f == "type") return Str(o, {"type"});
  return std::nullopt;
}

}  // namespace

std::optional<std::string> FieldValueFor(std::string_view group, std::string_view kind, const Json& o, std::string_view f) {
  if (group.empty()) {
    if (kind == "Pod") return PodField(o, f);
    if (kind == "Event") return EventField(o, f, false);
    if (kind == "Secret" && f == "type") return Str(o, {"type"});
    if (kind == "Namespace" && f == "status.phase") return Str(o, {"status", "phase"});
    if (kind == "Node" && f == "spec.unschedulable") return BoolText(Bool(o, {"spec", "unschedulable"}));
    if (kind == "ReplicationController" && f == "status.replicas") return std::to_string(Int(o, {"status", "replicas"}));
    if (kind == "Service") {
      if (f == "spec.clusterIP") return Str(o, {"spec", "clusterIP"});
      if (f == "spec.type") return Str(o, {"spec", "type"});
    }
    return std::nullopt;
  }
  if (group == "events.k8s.io" && kind == "Event") return EventField(o, f, true);
  if (group == "apps" && kind == "ReplicaSet" && f == "status.replicas") return std::to_string(Int(o, {"status", "replicas"}));
  if (group == "batch" && kind == "Job" && f == "status.successful") return std::to_string(Int(o, {"status", "succeeded"}));
  if (group == "certificates.k8s.io" && kind == "CertificateSigningRequest" && f == "spec.signerName") {
    return Str(o, {"spec", "signerName"});
  }
  return std::nullopt;
}

}  // namespace tug::api::printers
