// metrics.k8s.io/v1beta1 in the API server (what metrics-server serves upstream), so that
// `kubectl top node|pod` and the HPA controller work:
//   GET /apis/metrics.k8s.io                          APIGroup
//   GET /apis/metrics.k8s.io/v1beta1                  APIResourceList (nodes, pods: get, list)
//   GET /apis/metrics.k8s.io/v1beta1/nodes[/{name}]   NodeMetricsList / NodeMetrics
//   GET /apis/metrics.k8s.io/v1beta1/[namespaces/{ns}/]pods[/{name}]  PodMetricsList / PodMetrics
//   (labelSelector and, for lists, fieldSelector apply to the nodes/pods themselves)
// Usage comes from each Ready node's kubelet `GET /stats/summary` (HTTPS with a client
// certificate, as apiserver/proxy), cached per node for `cache_ttl`. A node or pod whose kubelet
// does not answer, or that has no CPU rate yet, is left out of lists and is NotFound by name
// (`podmetrics.metrics.k8s.io "ns/name" not found`), as metrics-server; kubectl then prints
// `error: metrics not available yet`.
//
// MetricsHandler sits in front of the API handler, as kube-aggregator does: it serves the paths
// above, adds the group to the discovery documents the API handler serves for GET /apis (legacy
// APIGroupList and aggregated apidiscovery v2/v2beta1), and passes every other request through.
// Nodes and pods are read through the API handler with the caller's identity.
//
// Ownership: the API handler is borrowed and must outlive the MetricsHandler.
// Thread-safety: Handle may be called concurrently; the summary cache is guarded by a mutex and
// kubelets are asked in parallel, each with a timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "apiserver/http.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::apiserver::metrics {

struct MetricsOptions {
  bool tls = true;  // false: plain HTTP to kubelets (tests)
  // Client certificate presented to kubelets (for now the admin certificate, as apiserver/proxy).
  std::string client_cert_file, client_key_file;
  // CA to verify kubelet serving certificates; empty: not verified (kubelets may self-sign).
  std::string kubelet_ca_file;
  std::chrono::milliseconds kubelet_timeout{5000};
  // How long a node's summary (or its failure) is reused.
  std::chrono::milliseconds cache_ttl{5000};
  // The `window` reported: the kubelet's CPU sampling interval (kubelet/stats).
  std::chrono::seconds window{10};
  const Clock* clock = nullptr;  // nullptr: RealClock()
};

// Quantities in metrics-server's canonical forms: CPU from nanocores ("123456789n", "250m",
// "2"), memory from bytes ("10240Ki", "5Mi", "1000").
std::string FormatCpuNanos(uint64_t nanocores);
std::string FormatBytes(uint64_t bytes);

// Adds metrics.k8s.io/v1beta1 to a GET /apis discovery document: an APIGroupList or an
// APIGroupDiscoveryList (v2 or v2beta1). Other documents are returned unchanged.
Json AddMetricsGroup(Json discovery);

// GET https://<kubelet>/stats/summary for a node object (address and port as apiserver/proxy).
Result<Json> FetchSummary(const Json& node, const MetricsOptions& opts);

class MetricsHandler final : public Handler {
 public:
  MetricsHandler(Handler& api, MetricsOptions opts);
  void Handle(Request req, ResponseWriterPtr w) override;
  // The API handler's answer for every path outside metrics.k8s.io (added by apiperf).
  bool HandlesInline(const Request& req) const override;

 private:
  struct Cached {
    std::chrono::steady_clock::time_point fetched;
    std::shared_ptr<const Result<Json>> summary;
  };
  void ServeDiscovery(Request req, ResponseWriterPtr w);
  void ServeMetrics(const Request& req, ResponseWriter& w, const std::vector<std::string>& segs);
  Result<Json> ApiGet(const Request& from, const std::string& path, const std::string& query);
  // Summaries for the given nodes (by name), fetched in parallel where the cache is stale.
  std::map<std::string, std::shared_ptr<const Result<Json>>> Summaries(const std::vector<Json>& nodes);
  Result<Json> NodeMetrics(const Request& req, const std::string& name);
  Result<Json> PodMetrics(const Request& req, const std::string& ns, const std::string& name);

  Handler& api_;
  MetricsOptions o_;
  const Clock& clock_;
  std::mutex fetch_mu_;  // one refresh at a time: concurrent requests wait for it, not repeat it
  std::mutex mu_;
  std::map<std::string, Cached> cache_;  // GUARDED_BY(mu_), by node name
};

}  // namespace tug::apiserver::metrics
