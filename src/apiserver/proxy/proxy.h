// The API server side of the connect subresources (rest.h Connector):
//
//  pods/log                      GET /containerLogs/{ns}/{pod}/{container}?<log options> on the
//                                node's kubelet, streamed back chunked (kubectl logs -f).
//  pods/exec, pods/attach,       HTTP/1.1 upgrade requests (WebSocket or SPDY/3.1) forwarded to
//  pods/portforward              the kubelet (/exec/{ns}/{pod}/{c}, /attach/..., /portForward/
//                                {ns}/{pod}, same query). Only once the kubelet answered 101 is the
//                                client's connection taken over (ResponseWriter::Hijack), the 101
//                                relayed, and bytes spliced both ways until either side closes —
//                                protocol-agnostic (CVE-2018-1002105: never tunnel before a 101). A
//                                non-101 answer is relayed as a normal response (kubectl prints
//                                "unable to upgrade connection: <body>").
//  {pods,services,nodes}/        plain HTTP proxied to a pod IP, a ready endpoint of the service
//  NAME[:PORT]/proxy/PATH        (Endpoints subsets), or the kubelet (https).
//
// The kubelet is https://<node InternalIP>:<status.daemonEndpoints.kubeletEndpoint.Port>
// (default 10250), dialled with the API server's client certificate. Redirects from backends are
// never followed (CVE-2020-8559).
//
// Ownership: a PodStreamProxy holds only its options; it is shared by all requests.
// Thread-safety: Connect/ServePodStream may be called from many threads at once; each call blocks
// its caller for the whole stream or upgraded session (like a watch) and may use one extra thread
// per upgraded session (the second splice direction) plus one for the backend connection's I/O.
#pragma once

#include <string>
#include <utility>

#include "apiserver/http.h"
#include "apiserver/rest/rest.h"
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
  // After one direction of an upgraded session ended, how long the other may go on before both
  // are closed.
  int upgrade_linger_seconds = 5;
};

// Which container a request names: the `container` query parameter, or the pod's only
// container. BadRequest with upstream's messages otherwise.
Result<std::string> ChooseContainer(const Json& pod, const std::string& requested);
// The kubelet address "host:port" from the node object. BadRequest when it has none.
Result<std::pair<std::string, int>> KubeletAddress(const Json& node);
// Log preconditions on the container's status (waiting -> BadRequest "... is waiting to start: R").
Status CheckLogContainerState(const Json& pod, const std::string& container, bool previous);

// "[scheme:]name[:port]" as in proxy paths (upstream's SplitSchemeNamePort): scheme is "" or
// "http"/"https". False when malformed.
bool SplitSchemeNamePort(const std::string& id, std::string* scheme, std::string* name, std::string* port);

// Where a proxy request goes.
struct ProxyLocation {
  std::string scheme = "http";  // "http" or "https"
  std::string host;
  int port = 80;
};
// pods/[scheme:]NAME[:PORT]/proxy: the pod IP and the port (default: the first declared
// container port, else the scheme's). BadRequest "address not allowed" without a pod IP.
Result<ProxyLocation> PodProxyLocation(const Json& pod, const std::string& scheme, const std::string& port);
// services/[scheme:]NAME[:PORT]/proxy: a ready address of the Endpoints (null: none yet) whose
// port has the service port's name. ServiceUnavailable with upstream's messages otherwise
// (`no endpoints available for service "web"`, `no service port 81 found for service "web"`).
Result<ProxyLocation> ServiceProxyLocation(const Json& service, const Json& endpoints, const std::string& id,
                                           const std::string& scheme, const std::string& port);

class PodStreamProxy final : public rest::Connector {
 public:
  explicit PodStreamProxy(ProxyOptions opts) : opts_(std::move(opts)) {}
  // rest::Connector: loads what the subresource needs through c.get and answers on w.
  void Connect(const Request& req, const rest::ConnectRequest& c, ResponseWriterPtr w) override;
  // pods/{log,exec,attach,portforward} with the pod and node already loaded. Answers on w (always;
  // errors as metav1.Status).
  void ServePodStream(const Request& req, const PodTarget& target, ResponseWriterPtr w) const;

 private:
  void ServeLog(const Request& req, const PodTarget& target, const std::string& container, ResponseWriterPtr w) const;
  // Forwards an upgrade request to host:port (kubelet, TLS per opts_) at `target`.
  void ServeUpgrade(const Request& req, const std::string& host, int port, const std::string& target,
                    ResponseWriterPtr w) const;
  // Plain HTTP proxy to loc at path (+ the request's query).
  void ServeProxy(const Request& req, const ProxyLocation& loc, bool client_cert, const std::string& path,
                  const std::string& what, ResponseWriterPtr w) const;
  ProxyOptions opts_;
};

}  // namespace tug::apiserver::proxy
