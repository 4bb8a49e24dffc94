// Production copy of runtime/oci/testing/cni_pod_network.h. Adapts network::Cni to the runtime's PodNetwork seam. runtime/ and network/ may not include
// each other (tools/check_imports.sh), so production wiring belongs to the kubelet or cmd/,
// which may include both; tests and benchmarks use this copy.
// Ownership: owns the Cni. Thread-safety: as network::Cni (concurrent calls for different ids).
#pragma once

#include <memory>
#include <set>
#include <string>

#include "network/cni/cni.h"
#include "runtime/runtime.h"

namespace tug::kubelet {

class CniPodNetwork : public runtime::PodNetwork {
 public:
  explicit CniPodNetwork(std::unique_ptr<network::Cni> cni) : cni_(std::move(cni)) {}
  Result<runtime::PodNetworkStatus> SetUp(const runtime::PodNetworkRequest& r) override {
    ASSIGN_OR_RETURN(auto res, cni_->Add(Convert(r)));
    return runtime::PodNetworkStatus{res.ip, res.ips, res.gateway};
  }
  Status TearDown(const runtime::PodNetworkRequest& r) override { return cni_->Del(Convert(r)); }
  Status GarbageCollect(const std::set<std::string>& valid) override {
    return cni_->GarbageCollect(valid);
  }

 private:
  static network::AttachRequest Convert(const runtime::PodNetworkRequest& r) {
    network::AttachRequest a;
    a.container_id = r.sandbox_id;
    a.netns = r.netns_path;
    a.pod_namespace = r.pod_namespace;
    a.pod_name = r.pod_name;
    a.pod_uid = r.pod_uid;
    for (const auto& p : r.port_mappings)
      a.port_mappings.push_back({p.protocol, p.container_port, p.host_port, p.host_ip});
    return a;
  }
  std::unique_ptr<network::Cni> cni_;
};

}  // namespace tug::kubelet
