// CNI: runs the standard container-network plugins (bridge + host-local IPAM, portmap,
// loopback) through the CNI exec protocol (spec 1.0.0): CNI_COMMAND ADD/DEL/CHECK/VERSION,
// CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH, CNI_ARGS in the environment, the network
// configuration on stdin, the result (or error) JSON on stdout.
//
// tug's pod network is one conflist (BuildConflist):
//   bridge "tug0" (isGateway, ipMasq, hairpinMode) with host-local IPAM over the node's pod
//   CIDR (Node.spec.podCIDR, e.g. 10.42.0.0/24; dataDir <data_dir>/ipam), then portmap
//   (hostPort, capability "portMappings"). Loopback ("lo") is attached separately, as the
//   kubelet's runtimes do.
// Every ADD result is cached at <data_dir>/results/<id>-<ifname>.json (config, result, port
// mappings, netns) so DEL after an agent restart sends the same config and prevResult, and
// GarbageCollect can release what belongs to sandboxes that no longer exist.
//
// Ownership: a Cni owns nothing but paths. Thread-safety: all methods are safe to call
// concurrently for different container ids (plugins lock their own state, e.g. host-local).
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace tug::network {

struct CniOptions {
  std::string plugin_dir = "/usr/lib/cni";
  std::string network_name = "tug";
  std::string bridge = "tug0";
  std::string pod_cidr;  // required
  std::string data_dir;  // required: ipam/ and results/ live here
  int mtu = 0;           // 0: plugin default
  bool ip_masq = true;
  bool hairpin_mode = true;
  std::chrono::milliseconds plugin_timeout = std::chrono::seconds(60);
};

struct CniPortMapping {
  std::string protocol = "tcp";
  int container_port = 0, host_port = 0;
  std::string host_ip;
};

struct AttachRequest {
  std::string container_id;  // the sandbox id
  std::string netns;         // path of the pod network namespace
  std::string ifname = "eth0";
  std::string pod_namespace, pod_name, pod_uid;
  std::vector<CniPortMapping> port_mappings;
};

struct AttachResult {
  std::string ip;  // primary address without prefix length
  std::string gateway;
  std::vector<std::string> ips;
  Json raw;  // the CNI result of the last plugin
};

// The conflist tug writes and runs.
Json BuildConflist(const CniOptions& o);

// Parses a CNI result: IPs (without prefix) of the interface inside `netns` (any, if no
// interface matches), and the gateway of the first one.
Result<AttachResult> ParseResult(const Json& result, const std::string& netns);

class Cni {
 public:
  // Validates options, creates the data dirs, and checks the plugins exist.
  static Result<std::unique_ptr<Cni>> New(CniOptions options);

  // loopback, then the conflist in order. On failure, undoes what was done (DEL) and
  // returns the plugin's error message.
  Result<AttachResult> Add(const AttachRequest& req);
  // The conflist in reverse order with the cached config/prevResult, then loopback. Tolerates
  // a missing netns and a never-added container. Idempotent.
  Status Del(const AttachRequest& req);
  Status Check(const AttachRequest& req);
  // CNI_COMMAND=VERSION of one plugin type ("bridge"): its supportedVersions document.
  Result<Json> Version(const std::string& plugin_type);
  // DEL for every cached attachment whose container id is not in `valid`, then removes
  // host-local IP reservations owned by ids not in `valid`.
  Status GarbageCollect(const std::set<std::string>& valid);

  const CniOptions& options() const { return o_; }
  std::string ResultCachePath(const std::string& id, const std::string& ifname) const;

 private:
  explicit Cni(CniOptions o) : o_(std::move(o)) {}
  // Runs one plugin; returns its stdout JSON (or {} for empty output).
  Result<Json> Exec(const std::string& command, const Json& net_conf, const AttachRequest& req,
                    const std::string& ifname);
  Status RemoveOrphanMasqRules(const std::set<std::string>& valid);
  Status DelWith(const Json& conflist, const Json& prev_result, const AttachRequest& req);

  CniOptions o_;
};

}  // namespace tug::network
