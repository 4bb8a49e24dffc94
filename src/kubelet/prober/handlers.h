// Probe and lifecycle-hook handlers, as kubelet runs them (pkg/probe/{exec,http,tcp,grpc} and
// the lifecycle handler runner): exec through the runtime, httpGet (HTTP/1.1, HTTPS without
// certificate verification), tcpSocket, grpc (grpc.health.v1.Health/Check over cleartext HTTP/2,
// a minimal h2c client written here) and the lifecycle `sleep` action.
//
// The handler JSON is the probe / lifecycle handler object of the pod spec (`exec`, `httpGet`,
// `tcpSocket`, `grpc`, `sleep`). Host defaults to the pod IP; ports may name a container port.
//
// Ownership: stateless functions; the ExecFn in the context is borrowed for the call.
// Thread-safety: every function may run concurrently with any other.
#pragma once

#include <chrono>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "runtime/runtime.h"

namespace tug::kubelet::prober {

// The kubelet version the User-Agent headers carry ("kube-probe/1.33", "kube-lifecycle/1.33").
inline constexpr const char* kKubeletMinorVersion = "1.33";

enum class ProbeResult { kUnknown, kSuccess, kFailure };
const char* ToString(ProbeResult r);

struct ProbeOutcome {
  ProbeResult result = ProbeResult::kUnknown;
  std::string output;  // the failure message (kubelet's "... probe failed: <output>"), or exec output
};

// Runs a command in a container (production: Runtime::ExecSync).
using ExecFn = std::function<Result<runtime::ExecResult>(const std::string& container_id,
                                                         const std::vector<std::string>& cmd,
                                                         std::chrono::milliseconds timeout)>;

struct HandlerContext {
  std::string container_id;
  std::string pod_ip;
  Json container;  // the container's spec (named ports)
  ExecFn exec;
};

// Resolves an httpGet/tcpSocket `port` (number, numeric string or container port name).
Result<int> ResolvePort(const Json& port, const Json& container);

// Runs the probe's handler once with its timeout (probe.timeoutSeconds, default 1 s).
ProbeOutcome RunProbe(const Json& probe, const HandlerContext& ctx);

// Runs a lifecycle handler (postStart/preStop): exec (non-zero exit is an error), httpGet (only
// a transport error fails; any status code succeeds), sleep (interruptible by `stop`).
// The error message is kubelet's ("Exec lifecycle hook ([cmd]) for Container ... failed ...").
// `pod_desc` is "name_namespace(uid)" for those messages.
Status RunLifecycleHandler(const Json& handler, const HandlerContext& ctx, const std::string& pod_desc,
                           std::chrono::milliseconds timeout, std::stop_token stop = {});

// ---- the primitives (exposed for tests)

struct HttpGetRequest {
  std::string scheme = "HTTP";  // HTTP or HTTPS
  std::string host;
  int port = 0;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;  // after defaults (User-Agent, Accept)
};
struct HttpGetResponse {
  int status = 0;
  std::string body;  // at most 10 KiB
};
Result<HttpGetResponse> HttpGet(const HttpGetRequest& req, std::chrono::milliseconds timeout);
// Probe semantics: 200-399 success, otherwise "HTTP probe failed with statuscode: N".
ProbeOutcome HttpProbe(const HttpGetRequest& req, std::chrono::milliseconds timeout);
ProbeOutcome TcpProbe(const std::string& host, int port, std::chrono::milliseconds timeout);
// grpc.health.v1.Health/Check for `service` over h2c; success iff SERVING.
ProbeOutcome GrpcProbe(const std::string& host, int port, const std::string& service,
                       std::chrono::milliseconds timeout);
ProbeOutcome ExecProbe(const ExecFn& exec, const std::string& container_id,
                       const std::vector<std::string>& cmd, std::chrono::milliseconds timeout);

// Builds the request of an httpGet action (probe or lifecycle) with kubelet's default headers.
Result<HttpGetRequest> BuildHttpGet(const Json& http_get, const HandlerContext& ctx, const std::string& user_agent);

}  // namespace tug::kubelet::prober
