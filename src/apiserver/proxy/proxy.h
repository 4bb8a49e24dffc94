// The API server side of pods/log, pods/exec, pods/attach and pods/portforward: checks the pod
// (container choice, container state, node assignment) and proxies to the node's kubelet at
// https://<node InternalIP>:<status.daemonEndpoints.kubeletEndpoint.Port>.
//
// log: GET /containerLogs/{ns}/{pod}/{container}?<the log options> on the kubelet, streamed back
// chunked (kubectl logs -f). Kubelet errors become metav1.Status with the kubelet's message.
// exec/attach/portforward: need the transport to hand over upgraded connections, which it does
// not do yet; they are answered 400 "Upgrade request required" (see README in this folder).
//
// Redirects from the kubelet are never followed (a 3xx is an error).
//
// Ownership: a PodStreamProxy holds only its options; it is shared by all requests.
// Thread-safety: ServePodStream may be called from many threads at once; it blocks its caller
// for the whole stream (log follow), like a watch.
#pragma once

#include <string>

#include "apiserver/http.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::apiserver::proxy {

struct PodTarget {
  std::string ns;
  std::string pod;
  std::string subresource;  // "log", "exec", "attach", "portforward"
  Json pod_object;          // the pod as stored
  Json node_object;         // its node (may be null when the pod is not scheduled)
};

struct ProxyOptions {
  bool tls = true;  // false: plain HTTP to the kubelet (tests)
  // Client certificate presented to kubelets. For now the admin certificate from
  // apiserver/pki (PkiFiles::admin_cert/admin_key); a dedicated kubelet-client cert later.
  std::string client_cert_file, client_key_file;
  // CA to verify kubelet serving certificates; empty: not verified (kubelets self-sign today).
  std::string kubelet_ca_file;
  int connect_timeout_seconds = 10;
};

// Which container a request names: the `container` query parameter, or the pod's only
// container. BadRequest with upstream's messages otherwise.
Result<std::string> ChooseContainer(const Json& pod, const std::string& requested);
// The kubelet address "host:port" from the node object. BadRequest when it has none.
Result<std::pair<std::string, int>> KubeletAddress(const Json& node);
// Log preconditions on the container's status (waiting -> BadRequest "... is waiting to start: R").
Status CheckLogContainerState(const Json& pod, const std::string& container, bool previous);

class PodStreamProxy {
 public:
  explicit PodStreamProxy(ProxyOptions opts) : opts_(std::move(opts)) {}
  // Answers the request on w (always; errors as metav1.Status).
  void ServePodStream(const Request& req, const PodTarget& target, ResponseWriterPtr w) const;

 private:
  void ServeLog(const Request& req, const PodTarget& target, const std::string& container, ResponseWriterPtr w) const;
  ProxyOptions opts_;
};

}  // namespace tug::apiserver::proxy
