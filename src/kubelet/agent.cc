#include "kubelet/agent.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/log.h"
#include "kubelet/cni_pod_network.h"
#include "kubelet/logs/container_log_manager.h"
#include "kubelet/node_status.h"
#include "kubelet/pod_workers.h"
#include "kubelet/server/kubelet_server.h"
#include "kubelet/serving_cert.h"
#include "kubelet/stats/summary.h"
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
    if (server_) server_->Stop();
    if (logs_) logs_->Stop();
    if (stats_) stats_->Stop();
    if (workers_) workers_->Stop();
    if (node_) node_->Stop();
  }
  const std::string& node_name() const override { return name_; }
  int kubelet_port() const override { return server_ ? server_->port() : 0; }

  std::string name_;
  bool stopped_ = false;
  std::unique_ptr<runtime::image::ImageStore> images_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::unique_ptr<NodeStatusManager> node_;
  std::unique_ptr<PodWorkers> workers_;
  std::unique_ptr<logs::ContainerLogManager> logs_;  // borrows runtime_: destroyed before it
  std::unique_ptr<stats::SummaryCollector> stats_;  // serves /stats/summary: outlives server_
  std::unique_ptr<server::KubeletServer> server_;  // stops first, destroyed first
};

// Which runtime container a (namespace, pod, container) names: the pod's ready sandbox (or
// its newest), then the container of that name with the highest attempt (previous: the one
// before it). The runtime's records are the truth, so this also works for adopted containers.
Status WriteClientCa(const std::string& path, const std::string& pem) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return InternalError("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return InternalError("cannot write " + path);
  return Status::Ok();
}

Result<server::ContainerTarget> ResolveContainer(runtime::Runtime& rt, const std::string& ns,
                                                 const std::string& pod, const std::string& container,
                                                 bool previous) {
  ASSIGN_OR_RETURN(auto sandboxes, rt.ListPodSandboxes());
  std::vector<const runtime::PodSandboxStatus*> mine;
  for (const auto& s : sandboxes)
    if (s.config.namespace_ == ns && s.config.name == pod) mine.push_back(&s);
  if (mine.empty()) return NotFoundError("pod \"" + pod + "\" in namespace \"" + ns + "\" is not running on this node");
  std::sort(mine.begin(), mine.end(), [](const auto* a, const auto* b) {
    bool ra = a->state == runtime::SandboxState::kReady, rb = b->state == runtime::SandboxState::kReady;
    if (ra != rb) return ra;
    return a->created_at > b->created_at;
  });
  std::vector<runtime::ContainerStatus> found;
  std::string sandbox_id;
  for (const auto* s : mine) {
    ASSIGN_OR_RETURN(auto ctrs, rt.ListContainers(s->id));
    for (auto& c : ctrs)
      if (c.name == container) found.push_back(std::move(c));
    if (!found.empty()) {
      sandbox_id = s->id;
      break;
    }
  }
  if (found.empty()) return NotFoundError("container \"" + container + "\" in pod \"" + pod + "\" is not available");
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.attempt > b.attempt; });
  size_t idx = previous ? 1 : 0;
  if (idx >= found.size())
    return BadRequestError("previous terminated container \"" + container + "\" in pod \"" + pod + "\" not found");
  return server::ContainerTarget{found[idx].id, found[idx].log_path, sandbox_id};
}

}  // namespace

Result<std::unique_ptr<Agent>> StartAgent(const client::Client& client, AgentOptions o) {
  logs::RotatePolicy log_policy{o.container_log_max_size, o.container_log_max_files};
  RETURN_IF_ERROR(logs::ValidatePolicy(log_policy));
  if (o.container_log_monitor_interval.count() <= 0)
    return InvalidError("invalid value for flag --container-log-monitor-interval: must be greater than 0");
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
  ro.runc_path = o.runc_path;
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
  agent->logs_ = std::make_unique<logs::ContainerLogManager>(
      *agent->runtime_, logs::ContainerLogManager::Options{.policy = log_policy,
                                                           .monitor_interval = o.container_log_monitor_interval});
  agent->logs_->Start();

  // The kubelet port, once the runtime it serves exists; the Node then reports the real port.
  if (o.kubelet_port >= 0 && o.ca_cert_pem.empty()) {
    TUG_LOG(WARNING, "kubelet") << "no cluster CA: the kubelet port is not started (kubectl logs/exec will not "
                                   "reach this node; give the agent the CA with --ca-file or a kubeconfig)";
  } else if (o.kubelet_port >= 0) {
    ServingCertOptions sc;
    sc.dir = o.data_dir + "/pki";
    sc.node_name = o.node_name;
    sc.ips = {po.node_ip};
    sc.ca_cert_pem = o.ca_cert_pem;
    sc.ca_key_pem = o.ca_key_pem;
    ASSIGN_OR_RETURN(ServingCertFiles cert, EnsureServingCert(sc));
    std::string client_ca = o.data_dir + "/pki/client-ca.crt";
    RETURN_IF_ERROR(WriteClientCa(client_ca, o.ca_cert_pem));
    server::KubeletServerOptions ko;
    ko.bind_address = o.kubelet_bind_address;
    ko.port = o.kubelet_port;
    ko.cert_file = cert.cert_file;
    ko.key_file = cert.key_file;
    ko.client_ca_file = client_ca;
    ko.runtime = agent->runtime_.get();
    runtime::Runtime* rt = agent->runtime_.get();
    ko.resolve = [rt](const std::string& ns, const std::string& pod, const std::string& c, bool previous) {
      return ResolveContainer(*rt, ns, pod, c, previous);
    };
    // /stats/summary and /metrics/resource (metrics.k8s.io and kubectl top read them).
    stats::CollectorOptions sco;
    sco.node_name = o.node_name;
    sco.cgroup_parent = o.cgroup_parent;
    sco.root_fs_path = o.data_dir;
    sco.image_fs_path = o.data_dir;
    agent->stats_ = std::make_unique<stats::SummaryCollector>(stats::PodListerFromRuntime(*rt), sco);
    agent->stats_->Start();
    ko.get_handlers = stats::Endpoints(*agent->stats_);
    auto srv = server::StartKubeletServer(ko);
    if (!srv.ok())
      return Status(srv.status().code(), "kubelet port " + o.kubelet_bind_address + ":" +
                                             std::to_string(o.kubelet_port) + ": " + srv.status().message());
    agent->server_ = std::move(srv).value();
    agent->node_->SetKubeletPort(agent->server_->port());
    if (Status s = agent->node_->SyncNodeStatus(); !s.ok())
      TUG_LOG(WARNING, "kubelet") << "node status update failed" << kv("error", s.ToString());
    TUG_LOG(INFO, "kubelet") << "kubelet port serving" << kv("port", agent->server_->port())
                             << kv("cert", cert.self_signed ? "self-signed" : "cluster CA");
  }
  TUG_LOG(INFO, "kubelet") << "agent started" << kv("node", o.node_name) << kv("podCIDR", cidr)
                           << kv("kubeletPort", agent->kubelet_port());
  return std::unique_ptr<Agent>(std::move(agent));
}

}  // namespace tug::kubelet
