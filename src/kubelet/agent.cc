#include "kubelet/agent.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "base/log.h"
#include "kubelet/cni_pod_network.h"
#include "kubelet/node_status.h"
#include "kubelet/pod_workers.h"
#include "runtime/image/image_store.h"
#include "runtime/oci/runtime_impl.h"

namespace tug::kubelet {
namespace {

class AgentImpl : public Agent {
 public:
  ~AgentImpl() override { Stop(); }
  void Stop() override {
    if (stopped_) return;
    stopped_ = true;
    TUG_LOG(INFO, "kubelet") << "agent stopping (containers keep running)" << kv("node", name_);
    if (workers_) workers_->Stop();
    if (node_) node_->Stop();
  }
  const std::string& node_name() const override { return name_; }

  std::string name_;
  bool stopped_ = false;
  std::unique_ptr<runtime::image::ImageStore> images_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::unique_ptr<NodeStatusManager> node_;
  std::unique_ptr<PodWorkers> workers_;
};

}  // namespace

Result<std::unique_ptr<Agent>> StartAgent(const client::Client& client, AgentOptions o) {
  auto agent = std::make_unique<AgentImpl>();
  if (o.node_name.empty()) {
    ASSIGN_OR_RETURN(MachineInfo m, ReadMachineInfo(o.data_dir));
    o.node_name = m.hostname;
  }
  agent->name_ = o.node_name;
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) return InternalError("cannot create " + o.data_dir + ": " + ec.message());
  ASSIGN_OR_RETURN(agent->images_, runtime::image::OpenImageStore(o.data_dir));
  auto* images = agent->images_.get();

  // The node first: its podCIDR configures CNI.
  NodeStatusOptions ns;
  ns.node_name = o.node_name;
  ns.pod_cidr = o.pod_cidr;
  ns.cluster_cidr = o.cluster_cidr;
  ns.node_ip = o.node_ip;
  ns.data_dir = o.data_dir;
  ns.images = [images] {
    auto l = images->List();
    return l.ok() ? runtime::image::NodeImagesStatus(l.value()) : Json::array();
  };
  agent->node_ = std::make_unique<NodeStatusManager>(client, ns);
  // Start() registers the node and allocates the CIDR (CNI needs it, and the runtime needs
  // CNI); the runtime version follows once the runtime exists.
  RETURN_IF_ERROR(agent->node_->Start());
  std::string cidr = agent->node_->pod_cidr();

  network::CniOptions co;
  co.plugin_dir = o.cni_plugin_dir;
  co.bridge = o.cni_bridge;
  co.pod_cidr = cidr;
  co.data_dir = o.data_dir + "/cni";
  ASSIGN_OR_RETURN(auto cni, network::Cni::New(co));
  runtime::RuntimeOptions ro;
  ro.state_dir = o.runtime_state_dir;
  ro.storage_dir = o.data_dir + "/runtime";
  ro.ns_root = o.ns_root;
  ro.managed_cgroup_parents = {o.cgroup_parent};
  ASSIGN_OR_RETURN(agent->runtime_,
                   runtime::NewOciRuntime(ro, std::make_unique<CniPodNetwork>(std::move(cni))));
  if (auto v = agent->runtime_->Version(); v.ok()) {
    agent->node_->SetContainerRuntimeVersion(v.value().runtime_name + "://" + v.value().runtime_version);
    if (Status s = agent->node_->SyncNodeStatus(); !s.ok())
      TUG_LOG(WARNING, "kubelet") << "node status update failed" << kv("error", s.ToString());
  }

  PodWorkersOptions po;
  po.node_name = o.node_name;
  {
    auto m = ReadMachineInfo(o.data_dir);
    po.node_ip = !o.node_ip.empty() ? o.node_ip : m.ok() ? m.value().internal_ip : "";
    po.node_memory_bytes = m.ok() ? m.value().memory_bytes : 0;
  }
  po.pods_dir = o.data_dir + "/pods";
  po.cluster_dns = o.cluster_dns;
  po.cluster_domain = o.cluster_domain;
  po.cgroup_parent = o.cgroup_parent;
  po.workers = o.workers;
  agent->workers_ = std::make_unique<PodWorkers>(client, *agent->runtime_, *images, po);
  RETURN_IF_ERROR(agent->workers_->Start());
  TUG_LOG(INFO, "kubelet") << "agent started" << kv("node", o.node_name) << kv("podCIDR", cidr);
  return std::unique_ptr<Agent>(std::move(agent));
}

}  // namespace tug::kubelet
