#include "kubelet/pod_workers.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "base/log.h"
#include "kubelet/container_config.h"
#include "kubelet/logs/container_log_manager.h"

namespace tug::kubelet {
namespace {

namespace fs = std::filesystem;
constexpr const char* kPodUidLabel = "io.kubernetes.pod.uid";
constexpr const char* kPodNameLabel = "io.kubernetes.pod.name";
constexpr const char* kPodNsLabel = "io.kubernetes.pod.namespace";
constexpr const char* kContainerNameLabel = "io.kubernetes.container.name";

std::vector<std::string> Strings(const Json& j, std::string_view key) {
  std::vector<std::string> out;
  if (const Json* a = Find(j, key); a && a->is_array())
    for (const Json& s : *a)
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

Status WriteFile(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return InternalError("cannot write " + tmp);
    f << data;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return InternalError("rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

std::string ReadFileOr(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool HasTag(const std::string& image) {
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  return image.find('@') != std::string::npos || (colon != std::string::npos && (slash == std::string::npos || colon > slash));
}

std::string PullPolicy(const Json& c) {
  std::string p = GetString(c, "imagePullPolicy");
  if (!p.empty()) return p;
  std::string image = GetString(c, "image");
  bool latest = !HasTag(image) || (image.size() > 7 && image.substr(image.size() - 7) == ":latest");
  return latest ? "Always" : "IfNotPresent";
}

std::string Base64Decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  int buf = 0, bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;
    buf = (buf << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

// Kubelet's minimum time between a container's stop signal and SIGKILL when it has a grace.
constexpr int64_t kMinStopWindowSeconds = 2;

// The grace period of a pod's kill: deletionGracePeriodSeconds, else the spec's
// terminationGracePeriodSeconds, else 30 s.
int64_t PodGrace(const Json& pod) {
  if (const Json* g = FindPath(pod, {"metadata", "deletionGracePeriodSeconds"}); g && g->is_number_integer())
    return std::max<int64_t>(g->get<int64_t>(), 0);
  if (const Json* g = FindPath(pod, {"spec", "terminationGracePeriodSeconds"}); g && g->is_number_integer())
    return std::max<int64_t>(g->get<int64_t>(), 0);
  return 30;
}

// The container (or init container) named `name` in the pod's spec.
const Json* ContainerSpec(const Json& pod, const std::string& name) {
  for (const char* field : {"containers", "initContainers"})
    if (const Json* list = FindPath(pod, {"spec", field}); list && list->is_array())
      for (const Json& c : *list)
        if (GetString(c, "name") == name) return &c;
  return nullptr;
}

// "name_namespace(uid)" as kubelet's format.Pod.
std::string PodDesc(const Json& pod) {
  return GetStringPath(pod, {"metadata", "name"}) + "_" + GetStringPath(pod, {"metadata", "namespace"}) + "(" +
         GetStringPath(pod, {"metadata", "uid"}) + ")";
}

}  // namespace

std::string ComputePhase(const std::string& restart_policy, const std::vector<std::string>& states,
                         const std::vector<int>& exit_codes, bool init_done) {
  if (!init_done) return "Pending";
  int waiting = 0, running = 0, succeeded = 0, failed = 0;
  for (size_t i = 0; i < states.size(); ++i) {
    if (states[i] == "running") ++running;
    else if (states[i] == "terminated") (exit_codes[i] == 0 ? succeeded : failed)++;
    else ++waiting;
  }
  if (waiting > 0) {
    // Containers restarting after having run keep the pod Running (upstream: lastState set).
    return "Pending";
  }
  if (running > 0) return "Running";
  if (restart_policy == "Always") return "Running";
  if (failed > 0 && restart_policy == "Never") return "Failed";
  if (failed > 0) return "Running";  // OnFailure: will be restarted
  return "Succeeded";
}

std::chrono::seconds CrashLoopDelay(int restarts) {
  if (restarts <= 0) return std::chrono::seconds(0);
  int64_t d = 10;
  for (int i = 1; i < restarts && d < 300; ++i) d *= 2;
  return std::chrono::seconds(std::min<int64_t>(d, 300));
}

std::string ResolvConf(const std::string& ns, const std::string& dns, const std::string& domain) {
  return "search " + ns + ".svc." + domain + " svc." + domain + " " + domain + "\nnameserver " + dns +
         "\noptions ndots:5\n";
}

PodWorkers::PodWorkers(const client::Client& client, runtime::Runtime& rt,
                       runtime::image::ImageStore& images, PodWorkersOptions opts)
    : client_(client),
      rt_(rt),
      images_(images),
      opts_(std::move(opts)),
      clock_(opts_.clock ? *opts_.clock : RealClock()),
      factory_(client),
      queue_(client::WorkQueueOptions{.base_delay = std::chrono::milliseconds(200),
                                      .max_delay = std::chrono::milliseconds(10000)}),
      events_(client, client::EventSource{.component = "kubelet", .host = opts_.node_name}) {
  prober::ProbeManagerOptions po;
  po.exec = [this](const std::string& id, const std::vector<std::string>& cmd, std::chrono::milliseconds timeout) {
    return rt_.ExecSync(id, cmd, timeout);
  };
  po.on_event = [this](const Json& pod, const std::string& type, const std::string& reason, const std::string& msg) {
    events_.Record(pod, type, reason, msg);
  };
  po.on_change = [this](const std::string& key) { queue_.Add(key); };
  po.clock = &clock_;
  probes_ = std::make_unique<prober::ProbeManager>(std::move(po));
}

PodWorkers::~PodWorkers() { Stop(); }

std::string PodWorkers::PodDir(const Json& pod) const {
  return opts_.pods_dir + "/" + GetStringPath(pod, {"metadata", "namespace"}) + "_" +
         GetStringPath(pod, {"metadata", "name"}) + "_" + GetStringPath(pod, {"metadata", "uid"});
}

Status PodWorkers::Start() {
  std::error_code ec;
  fs::create_directories(opts_.pods_dir, ec);
  {
    volumes::Sources vs;
    vs.config_map = [this](const std::string& ns, const std::string& n) { return client_.Get(client::kConfigMaps, ns, n); };
    vs.secret = [this](const std::string& ns, const std::string& n) { return client_.Get(client::kSecrets, ns, n); };
    vs.pvc = [this](const std::string& ns, const std::string& n) {
      return client_.Get(client::kPersistentVolumeClaims, ns, n);
    };
    vs.pv = [this](const std::string& n) { return client_.Get(client::kPersistentVolumes, "", n); };
    vs.token = [this](const std::string& ns, const std::string& sa, const Json& req) {
      return client_.CreateSubresource(client::kServiceAccounts, ns, sa, "token", req);
    };
    vs.parse_quantity_milli = [](const std::string& q) { return ParseQuantityMilli(q); };
    vs.storage_class = [this](const std::string& n) { return client_.Get(client::kStorageClasses, "", n); };
    vs.create_pv = [this](const Json& pv) { return client_.Create(client::kPersistentVolumes, "", pv); };
    vs.patch = [this](bool pv, const std::string& ns, const std::string& n, const Json& patch,
                      const std::string& sub) {
      return client_.Patch(pv ? client::kPersistentVolumes : client::kPersistentVolumeClaims, ns, n,
                           client::PatchType::kMerge, patch.dump(), sub);
    };
    volumes::Options vo;
    vo.node_cpu_milli = int64_t(std::max(1u, std::thread::hardware_concurrency())) * 1000;
    vo.node_memory_bytes = opts_.node_memory_bytes;
    vo.clock = opts_.clock;
    vo.node_name = opts_.node_name;
    // <data_dir>/storage beside <data_dir>/pods: the local-path provisioner's volumes.
    vo.storage_dir = fs::path(opts_.pods_dir).parent_path().string() + "/storage";
    volumes_ = std::make_unique<volumes::VolumeManager>(std::move(vs), vo);
    // The default StorageClass, as k3s ships it (another node may have created it already).
    if (auto sc = client_.Create(client::kStorageClasses, "", volumes::LocalPathStorageClass());
        !sc.ok() && sc.status().code() != StatusCode::kAlreadyExists)
      TUG_LOG(WARNING, "kubelet") << "cannot create StorageClass local-path" << kv("error", sc.status().ToString());
  }
  client::InformerOptions io;
  io.field_selector = "spec.nodeName=" + opts_.node_name;
  pods_ = &factory_.For(client::kPods, io);
  pods_->AddHandler({.on_add = [this](const client::ObjectPtr& o) { queue_.Add(client::KeyOf(*o)); },
                     .on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) {
                       queue_.Add(client::KeyOf(*o));
                     },
                     .on_delete = [this](const client::ObjectPtr& o) { queue_.Add(client::KeyOf(*o)); }});
  factory_.Start();
  if (!factory_.WaitForSync(std::chrono::seconds(60))) return UnavailableError("pod informer did not sync");
  // Adopt sandboxes of pods that still exist; everything else goes.
  std::set<std::string> uids;
  for (const auto& p : pods_->List()) uids.insert(GetStringPath(*p, {"metadata", "uid"}));
  ASSIGN_OR_RETURN(auto sandboxes, rt_.ListPodSandboxes());
  std::set<std::string> keep;
  for (const auto& s : sandboxes)
    if (uids.count(s.config.uid)) keep.insert(s.id);
  if (Status s = rt_.Cleanup(keep); !s.ok())
    TUG_LOG(WARNING, "kubelet") << "runtime cleanup failed" << kv("error", s.ToString());
  // Volumes (tmpfs mounts, directories) of pods that vanished while the agent was down.
  if (auto n = volumes_->CleanupOrphans(opts_.pods_dir, uids); !n.ok())
    TUG_LOG(WARNING, "kubelet") << "volume cleanup failed" << kv("error", n.status().ToString());
  TUG_LOG(INFO, "kubelet") << "pod workers started" << kv("adopted", keep.size())
                           << kv("removed", sandboxes.size() - keep.size());
  for (int i = 0; i < opts_.workers; ++i) threads_.emplace_back([this] { Worker(); });
  return Status::Ok();
}

void PodWorkers::Stop() {
  {
    std::lock_guard l(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  queue_.ShutDown();
  threads_.clear();  // joins the workers: no pod thread starts after this
  {
    // Pod threads finish their slow work (a termination waits out its grace period).
    std::unique_lock l(mu_);
    pod_threads_cv_.wait(l, [this] { return pod_threads_.empty(); });
  }
  ReapPodThreads();
  probes_.reset();   // joins the probe workers
  factory_.Stop();
}

void PodWorkers::Worker() {
  while (auto key = queue_.Get()) {
    ReapPodThreads();
    bool busy = false, terminating = false;
    {
      // The pod's own thread has it: noted, re-queued when that thread ends.
      std::lock_guard l(mu_);
      if (auto it = pod_threads_.find(*key); it != pod_threads_.end()) {
        it->second.requeue = true;
        busy = true;
        terminating = it->second.kill_grace > 0;
      }
    }
    if (busy) {
      if (terminating) MaybeShortenTermination(*key);
      queue_.Done(*key);
      continue;
    }
    bool hand_off = false;
    Status s = SyncPod(*key, false, hand_off);
    if (hand_off) {
      StartPodThread(*key);  // before Done: the next Get of the key finds the thread
      queue_.Forget(*key);
    } else {
      SyncDone(*key, s);
    }
    queue_.Done(*key);
  }
}

void PodWorkers::SyncDone(const std::string& key, const Status& s) {
  if (s.ok()) {
    queue_.Forget(key);
    return;
  }
  TUG_LOG(WARNING, "kubelet") << "pod sync failed" << kv("pod", key) << kv("error", s.ToString());
  queue_.AddRateLimited(key);
}

void PodWorkers::StartPodThread(const std::string& key) {
  std::lock_guard l(mu_);
  // The thread's first use of mu_ is at its end, after this entry is complete.
  pod_threads_[key].thread = std::thread([this, key] { PodThread(key); });
}

void PodWorkers::PodThread(const std::string& key) {
  bool unused = false;
  Status s = SyncPod(key, true, unused);
  bool requeue = false;
  {
    std::lock_guard l(mu_);
    auto node = pod_threads_.extract(key);
    requeue = node.mapped().requeue;
    finished_threads_.push_back(std::move(node.mapped().thread));
  }
  pod_threads_cv_.notify_all();
  SyncDone(key, s);
  if (requeue) queue_.Add(key);
}

void PodWorkers::ReapPodThreads() {
  std::vector<std::thread> done;
  {
    std::lock_guard l(mu_);
    done.swap(finished_threads_);
  }
  for (auto& t : done) t.join();  // each has left mu_ and is about to return
}

Result<std::string> PodWorkers::EnsureSandbox(const Json& pod) {
  std::string uid = GetStringPath(pod, {"metadata", "uid"});
  ASSIGN_OR_RETURN(auto sandboxes, rt_.ListPodSandboxes());
  uint32_t attempt = 0;
  for (const auto& s : sandboxes) {
    if (s.config.uid != uid) continue;
    if (s.state == runtime::SandboxState::kReady) return s.id;
    attempt = std::max(attempt, s.config.attempt + 1);
    (void)rt_.RemovePodSandbox(s.id);
  }
  const Json& spec = pod["spec"];
  std::string ns = GetStringPath(pod, {"metadata", "namespace"});
  std::string name = GetStringPath(pod, {"metadata", "name"});
  bool host_net = spec.value("hostNetwork", false);
  runtime::PodSandboxConfig cfg;
  cfg.uid = uid;
  cfg.name = name;
  cfg.namespace_ = ns;
  cfg.attempt = attempt;
  std::string hostname = GetString(spec, "hostname", name);
  if (hostname.size() > 63) hostname = hostname.substr(0, 63);
  cfg.hostname = host_net ? "" : hostname;
  cfg.host_network = host_net;
  cfg.host_ipc = spec.value("hostIPC", false);
  cfg.cgroup_parent = opts_.cgroup_parent;
  cfg.labels = {{kPodUidLabel, uid}, {kPodNameLabel, name}, {kPodNsLabel, ns}};
  std::string dns_policy = GetString(spec, "dnsPolicy", "ClusterFirst");
  if ((dns_policy == "ClusterFirst" && !host_net) || dns_policy == "ClusterFirstWithHostNet") {
    cfg.dns.servers = {opts_.cluster_dns};
    cfg.dns.searches = {ns + ".svc." + opts_.cluster_domain, "svc." + opts_.cluster_domain, opts_.cluster_domain};
    cfg.dns.options = {"ndots:5"};
  }
  for (const Json& c : spec.value("containers", Json::array()))
    for (const Json& p : c.value("ports", Json::array()))
      if (p.value("hostPort", 0) > 0)
        cfg.port_mappings.push_back({GetString(p, "protocol", "TCP"), p.value("containerPort", 0),
                                     p.value("hostPort", 0), GetString(p, "hostIP")});
  // Files the containers get bind-mounted (kubelet's etc-hosts and resolv.conf).
  std::string dir = PodDir(pod);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return InternalError("mkdir " + dir + ": " + ec.message());
  std::string resolv = cfg.dns.servers.empty() ? ReadFileOr("/etc/resolv.conf")
                                               : ResolvConf(ns, opts_.cluster_dns, opts_.cluster_domain);
  RETURN_IF_ERROR(WriteFile(dir + "/resolv.conf", resolv));
  RETURN_IF_ERROR(WriteFile(dir + "/hostname", (host_net ? std::string() : hostname) + "\n"));
  // The network (CNI) comes up while the first container is created; its start waits for it
  // (WritePodHosts then adds the pod IP to /etc/hosts).
  cfg.network_in_background = !host_net;
  ASSIGN_OR_RETURN(std::string id, rt_.RunPodSandbox(cfg));
  RETURN_IF_ERROR(WriteFile(dir + "/etc-hosts", HostsFile(pod, "")));
  TUG_LOG(INFO, "kubelet") << "sandbox started" << kv("pod", ns + "/" + name) << kv("id", id);
  return id;
}

std::string PodWorkers::HostsFile(const Json& pod, const std::string& ip) const {
  const Json& spec = pod["spec"];
  if (spec.value("hostNetwork", false)) return ReadFileOr("/etc/hosts");
  std::string ns = GetStringPath(pod, {"metadata", "namespace"});
  std::string hostname = GetString(spec, "hostname", GetStringPath(pod, {"metadata", "name"}));
  if (hostname.size() > 63) hostname = hostname.substr(0, 63);
  std::string hosts =
      "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
      "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";
  std::string sub = GetString(spec, "subdomain");
  std::string fqdn = sub.empty() ? "" : hostname + "." + sub + "." + ns + ".svc." + opts_.cluster_domain;
  if (!ip.empty()) hosts += ip + "\t" + (fqdn.empty() ? hostname : fqdn + "\t" + hostname) + "\n";
  for (const Json& ha : spec.value("hostAliases", Json::array())) {
    hosts += "\n# Entries added by HostAliases.\n" + GetString(ha, "ip");
    for (const auto& h : Strings(ha, "hostnames")) hosts += "\t" + h;
    hosts += "\n";
  }
  return hosts;
}

Status PodWorkers::WritePodHosts(const Json& pod, const std::string& sandbox_id) {
  if (Status net = rt_.WaitPodSandboxNetwork(sandbox_id); !net.ok()) {
    events_.Record(pod, "Warning", "FailedCreatePodSandBox", "Failed to create pod sandbox: " + net.message());
    return net;
  }
  if (pod["spec"].value("hostNetwork", false)) return Status::Ok();
  ASSIGN_OR_RETURN(auto sb, rt_.PodSandboxStatusOf(sandbox_id));
  std::string path = PodDir(pod) + "/etc-hosts", want = HostsFile(pod, sb.ip);
  if (ReadFileOr(path) == want) return Status::Ok();
  // In place: containers bind-mount this inode (a renamed replacement would not be seen).
  std::ofstream f(path, std::ios::trunc);
  f << want;
  f.flush();
  if (!f) return InternalError("cannot write " + path);
  return Status::Ok();
}

PodWorkers::PullStep PodWorkers::NextPullStep(const Json& c, PodState& st, std::string& present_id) {
  std::string policy = PullPolicy(c);
  auto have = images_.Get(GetString(c, "image"));
  present_id = have.ok() ? have.value().id : "";
  if (policy == "Never") return have.ok() ? PullStep::kUsePresent : PullStep::kNeverMissing;
  // IfNotPresent: any copy; Always: pulled once already for this pod incarnation (a restart
  // re-pulls only after a back-off).
  std::string name = GetString(c, "name");
  if (have.ok() && (policy == "IfNotPresent" || !st.image_ids[name].empty())) return PullStep::kUsePresent;
  auto it = st.pull_backoff.find(name);
  if (it != st.pull_backoff.end() && std::chrono::steady_clock::now() < it->second) return PullStep::kBackOff;
  return PullStep::kPull;
}

Status PodWorkers::EnsureImage(const Json& pod, const Json& c, PodState& st, std::string& image_id) {
  std::string image = GetString(c, "image");
  std::string name = GetString(c, "name");
  std::string present_id;
  switch (NextPullStep(c, st, present_id)) {
    case PullStep::kUsePresent:
      if (st.image_ids[name].empty())
        events_.Record(pod, "Normal", "Pulled", "Container image \"" + image + "\" already present on machine");
      image_id = present_id;
      st.image_ids[name] = image_id;
      return Status::Ok();
    case PullStep::kNeverMissing:
      st.waiting_reason[name] = "ErrImageNeverPull";
      st.waiting_message[name] = "Container image \"" + image + "\" is not present with pull policy of Never";
      events_.Record(pod, "Warning", "ErrImageNeverPull", st.waiting_message[name]);
      return InvalidError(st.waiting_message[name]);
    case PullStep::kBackOff:
      st.waiting_reason[name] = "ImagePullBackOff";
      st.waiting_message[name] = "Back-off pulling image \"" + image + "\"";
      events_.Record(pod, "Normal", "BackOff", st.waiting_message[name]);
      return UnavailableError(st.waiting_message[name]);
    case PullStep::kPull:
      break;
  }
  auto now = std::chrono::steady_clock::now();
  events_.Record(pod, "Normal", "Pulling", "Pulling image \"" + image + "\"");
  auto t0 = std::chrono::steady_clock::now();
  const std::string key = client::KeyOf(pod), uid = GetStringPath(pod, {"metadata", "uid"});
  runtime::image::PullOptions po;
  po.cancelled = [this, &key, &uid] { return PodLeaving(key, uid); };
  auto pulled = images_.Pull(image, po);
  if (!pulled.ok() && PodLeaving(key, uid)) {
    // Deleted while pulling: no ErrImagePull and no back-off; its termination comes next.
    return UnavailableError("image pull of \"" + image + "\" cancelled: pod " + key + " is being deleted");
  }
  if (!pulled.ok()) {
    int n = ++st.pull_failures[name];
    int64_t secs = std::min<int64_t>(300, int64_t(10) << std::min(n - 1, 5));
    st.pull_backoff[name] = now + std::chrono::seconds(secs);
    st.waiting_reason[name] = "ErrImagePull";
    st.waiting_message[name] = pulled.status().message();
    events_.Record(pod, "Warning", "Failed", "Failed to pull image \"" + image + "\": " + pulled.status().message());
    events_.Record(pod, "Warning", "Failed", "Error: ErrImagePull");
    return pulled.status();
  }
  st.pull_failures.erase(name);
  st.pull_backoff.erase(name);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char buf[64];
  snprintf(buf, sizeof buf, "%.3fs", secs);
  events_.Record(pod, "Normal", "Pulled",
                 "Successfully pulled image \"" + image + "\" in " + buf + ". Image size: " +
                     std::to_string(pulled.value().size) + " bytes.");
  image_id = pulled.value().id;
  st.image_ids[name] = image_id;
  return Status::Ok();
}

Result<std::string> PodWorkers::StartOneContainer(const Json& pod, const std::string& sandbox_id,
                                                  const Json& c, uint32_t attempt, PodState& st) {
  std::string name = GetString(c, "name");
  std::string image_id;
  RETURN_IF_ERROR(EnsureImage(pod, c, st, image_id));
  ASSIGN_OR_RETURN(auto layers, images_.LayerDirs(image_id));
  ASSIGN_OR_RETURN(auto icfg, images_.Config(image_id));
  runtime::ContainerConfig cfg;
  cfg.name = name;
  cfg.attempt = attempt;
  cfg.rootfs_lowerdirs = layers;
  cfg.image = GetString(c, "image");
  cfg.image_config = {icfg.entrypoint, icfg.cmd, icfg.env, icfg.working_dir, icfg.user, icfg.stop_signal};
  cfg.command = Strings(c, "command");
  cfg.args = Strings(c, "args");
  std::string ns = GetStringPath(pod, {"metadata", "namespace"});
  auto get_obj = [this, &ns](const std::string& kind, const std::string& name) -> Result<Json> {
    return client_.Get(kind == "Secret" ? client::kSecrets : client::kConfigMaps, ns, name);
  };
  auto data_of = [&](const std::string& kind, const Json& obj) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const char* field : {"data", "binaryData"})
      if (const Json* d = Find(obj, field); d && d->is_object())
        for (auto& [k, v] : d->items()) {
          std::string val = v.is_string() ? v.get<std::string>() : "";
          bool b64 = kind == "Secret" || std::string(field) == "binaryData";
          out.emplace_back(k, b64 ? Base64Decode(val) : val);
        }
    return out;
  };
  KeyLookup key_lookup = [&](const std::string& kind, const std::string& name,
                             const std::string& key) -> Result<std::string> {
    ASSIGN_OR_RETURN(Json obj, get_obj(kind, name));
    for (const auto& [k, v] : data_of(kind, obj))
      if (k == key) return v;
    return NotFoundError("key " + key + " not found");
  };
  DataLookup data_lookup = [&](const std::string& kind, const std::string& name)
      -> Result<std::vector<std::pair<std::string, std::string>>> {
    ASSIGN_OR_RETURN(Json obj, get_obj(kind, name));
    return data_of(kind, obj);
  };
  auto env = BuildEnv(pod, c, opts_.node_name, opts_.node_ip, key_lookup, data_lookup);
  if (!env.ok()) {
    st.waiting_reason[name] = "CreateContainerConfigError";
    st.waiting_message[name] = env.status().message();
    events_.Record(pod, "Warning", "Failed", "Error: " + env.status().message());
    return env.status();
  }
  cfg.env = std::move(env).value();
  cfg.resources = ContainerResources(pod, c, opts_.node_memory_bytes);
  if (const Json* sc = Find(c, "securityContext")) {
    const Json* psc = FindPath(pod, {"spec", "securityContext"});
    auto num = [&](const char* k) -> std::optional<int64_t> {
      if (const Json* v = Find(*sc, k); v && v->is_number_integer()) return v->get<int64_t>();
      if (psc)
        if (const Json* v = Find(*psc, k); v && v->is_number_integer()) return v->get<int64_t>();
      return std::nullopt;
    };
    cfg.security.run_as_user = num("runAsUser");
    cfg.security.run_as_group = num("runAsGroup");
    cfg.security.privileged = sc->value("privileged", false);
    cfg.security.read_only_rootfs = sc->value("readOnlyRootFilesystem", false);
    if (const Json* ape = Find(*sc, "allowPrivilegeEscalation"); ape && ape->is_boolean())
      cfg.security.allow_privilege_escalation = ape->get<bool>();
    cfg.security.capabilities_add = Strings(sc->value("capabilities", Json::object()), "add");
    cfg.security.capabilities_drop = Strings(sc->value("capabilities", Json::object()), "drop");
  } else if (const Json* psc = FindPath(pod, {"spec", "securityContext"})) {
    if (const Json* v = Find(*psc, "runAsUser"); v && v->is_number_integer()) cfg.security.run_as_user = v->get<int64_t>();
    if (const Json* v = Find(*psc, "runAsGroup"); v && v->is_number_integer()) cfg.security.run_as_group = v->get<int64_t>();
  }
  if (const Json* g = FindPath(pod, {"spec", "securityContext", "supplementalGroups"}); g && g->is_array())
    for (const Json& x : *g)
      if (x.is_number_integer()) cfg.security.supplemental_groups.push_back(x.get<int64_t>());
  cfg.working_dir = GetString(c, "workingDir");
  std::string dir = PodDir(pod);
  cfg.mounts.push_back({runtime::Mount::Type::kBind, dir + "/etc-hosts", "/etc/hosts"});
  cfg.mounts.push_back({runtime::Mount::Type::kBind, dir + "/resolv.conf", "/etc/resolv.conf"});
  cfg.mounts.push_back({runtime::Mount::Type::kBind, dir + "/hostname", "/etc/hostname"});
  auto volume_mounts = volumes_->ContainerMounts(pod, dir, c, cfg.env);
  if (!volume_mounts.ok()) {
    st.waiting_reason[name] = "CreateContainerConfigError";
    st.waiting_message[name] = volume_mounts.status().message();
    events_.Record(pod, "Warning", "Failed", "Error: " + volume_mounts.status().message());
    return volume_mounts.status();
  }
  for (auto& m : *volume_mounts) cfg.mounts.push_back(std::move(m));
  std::string log_dir = dir + "/" + name;
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  cfg.log_path = log_dir + "/" + std::to_string(attempt) + ".log";
  cfg.tty = c.value("tty", false);
  cfg.stdin = c.value("stdin", false);
  cfg.stdin_once = c.value("stdinOnce", false);
  cfg.labels = {{kPodUidLabel, GetStringPath(pod, {"metadata", "uid"})},
                {kPodNameLabel, GetStringPath(pod, {"metadata", "name"})},
                {kPodNsLabel, GetStringPath(pod, {"metadata", "namespace"})},
                {kContainerNameLabel, name}};
  auto id = rt_.CreateContainer(sandbox_id, cfg);
  if (!id.ok()) {
    st.waiting_reason[name] = "CreateContainerError";
    st.waiting_message[name] = id.status().message();
    events_.Record(pod, "Warning", "Failed", "Error: " + id.status().message());
    return id.status();
  }
  events_.Record(pod, "Normal", "Created", "Created container: " + name);
  if (Status s = WritePodHosts(pod, sandbox_id); !s.ok()) {
    // Never started: removed, so the next sync creates it again (after replacing the sandbox,
    // which is NotReady when its network failed).
    (void)rt_.RemoveContainer(id.value());
    return s;
  }
  if (Status s = rt_.StartContainer(id.value()); !s.ok()) {
    st.waiting_reason[name] = "RunContainerError";
    st.waiting_message[name] = s.message();
    events_.Record(pod, "Warning", "Failed", "Error: " + s.message());
    return s;
  }
  events_.Record(pod, "Normal", "Started", "Started container " + name);
  st.waiting_reason.erase(name);
  st.waiting_message.erase(name);
  if (const Json* hook = FindPath(c, {"lifecycle", "postStart"}); hook && hook->is_object()) {
    // As kubelet: the hook runs right after the start; its failure kills the container, which
    // the restart policy then handles.
    std::string ip = PodIP(pod, sandbox_id);
    prober::HandlerContext ctx{id.value(), ip, c,
                               [this](const std::string& cid, const std::vector<std::string>& cmd,
                                      std::chrono::milliseconds timeout) { return rt_.ExecSync(cid, cmd, timeout); }};
    Status hs = prober::RunLifecycleHandler(*hook, ctx, PodDesc(pod), std::chrono::minutes(2));
    if (!hs.ok()) {
      TUG_LOG(WARNING, "kubelet") << "postStart hook failed" << kv("pod", PodDesc(pod)) << kv("container", name)
                                  << kv("error", hs.message());
      events_.Record(pod, "Warning", "FailedPostStartHook", hs.message());
      KillContainer(pod, &c, id.value(), ip, PodGrace(pod), "FailedPostStartHook");
      return InternalError("PostStartHookError: " + hs.message());
    }
  }
  return id.value();
}

std::string PodWorkers::PodIP(const Json& pod, const std::string& sandbox_id) {
  if (FindPath(pod, {"spec", "hostNetwork"}) && pod["spec"].value("hostNetwork", false)) return opts_.node_ip;
  if (sandbox_id.empty()) return "";
  auto sb = rt_.PodSandboxStatusOf(sandbox_id);
  return sb.ok() ? sb->ip : "";
}

void PodWorkers::KillContainer(const Json& pod, const Json* spec, const std::string& container_id,
                               const std::string& pod_ip, int64_t grace_seconds, const std::string& message) {
  events_.Record(pod, "Normal", "Killing", message);
  int64_t left = grace_seconds;
  const Json* hook = spec ? FindPath(*spec, {"lifecycle", "preStop"}) : nullptr;
  if (hook && hook->is_object() && grace_seconds > 0) {
    auto t0 = std::chrono::steady_clock::now();
    prober::HandlerContext ctx{container_id, pod_ip, *spec,
                               [this](const std::string& cid, const std::vector<std::string>& cmd,
                                      std::chrono::milliseconds timeout) { return rt_.ExecSync(cid, cmd, timeout); }};
    Status hs = prober::RunLifecycleHandler(*hook, ctx, PodDesc(pod), std::chrono::seconds(grace_seconds));
    if (!hs.ok()) {
      TUG_LOG(WARNING, "kubelet") << "preStop hook failed" << kv("pod", PodDesc(pod)) << kv("error", hs.message());
      events_.Record(pod, "Warning", "FailedPreStopHook", hs.message());
    }
    left -= std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0).count();
  }
  // Always a short window for the stop signal after the hook (kubelet's minimum of 2 s).
  if (grace_seconds > 0) left = std::max(left, kMinStopWindowSeconds);
  if (Status s = rt_.StopContainer(container_id, std::chrono::seconds(left)); !s.ok())
    TUG_LOG(WARNING, "kubelet") << "stop container failed" << kv("id", container_id) << kv("error", s.ToString());
}

client::ObjectPtr PodWorkers::CurrentPod(const std::string& key, const std::string& uid) const {
  client::ObjectPtr obj = pods_->Get(key);
  if (obj && GetStringPath(*obj, {"metadata", "uid"}) != uid) return nullptr;  // recreated under its name
  return obj;
}

bool PodWorkers::PodLeaving(const std::string& key, const std::string& uid) const {
  client::ObjectPtr obj = CurrentPod(key, uid);
  return !obj || FindPath(*obj, {"metadata", "deletionTimestamp"});
}

int64_t PodWorkers::RequestedGrace(const std::string& key, const std::string& uid, int64_t current) const {
  client::ObjectPtr obj = CurrentPod(key, uid);
  int64_t grace = current;
  if (!obj) {
    grace = 1;  // removed from the API (a force delete): as a pod the agent no longer knows
  } else if (FindPath(*obj, {"metadata", "deletionTimestamp"})) {
    grace = PodGrace(*obj);
    if (grace > 0) grace = std::max(grace, kMinStopWindowSeconds);  // as KillContainer gives it
  }
  return std::min(grace, current);
}

void PodWorkers::MaybeShortenTermination(const std::string& key) {
  int64_t grace;
  std::string uid;
  {
    std::lock_guard l(mu_);
    auto it = pod_threads_.find(key);
    if (it == pod_threads_.end() || it->second.kill_grace <= 0) return;
    grace = it->second.kill_grace;
    uid = it->second.kill_uid;
  }
  int64_t shorter = RequestedGrace(key, uid, grace);
  if (shorter >= grace) return;
  {
    std::lock_guard l(mu_);
    if (auto it = pod_threads_.find(key); it != pod_threads_.end()) it->second.kill_grace = shorter;
  }
  auto sandboxes = rt_.ListPodSandboxes();
  if (!sandboxes.ok()) return;
  auto [ns, name] = client::SplitKey(key);
  for (const auto& sb : *sandboxes) {
    if (sb.config.namespace_ != ns || sb.config.name != name || sb.config.uid != uid) continue;
    auto ctrs = rt_.ListContainers(sb.id);
    if (!ctrs.ok()) continue;
    for (const auto& c : *ctrs) {
      if (c.state != runtime::ContainerState::kRunning) continue;
      rt_.ShortenStop(c.id, std::chrono::seconds(shorter));  // in flight, or for the stop to come
      TUG_LOG(INFO, "kubelet") << "termination grace shortened" << kv("pod", key) << kv("container", c.name)
                               << kv("grace_seconds", shorter);
    }
  }
}

Status PodWorkers::KillPod(const Json& pod, const std::string& sandbox_id, bool delete_object) {
  int64_t grace = PodGrace(pod);
  const std::string key = client::KeyOf(pod), uid = GetStringPath(pod, {"metadata", "uid"});
  {
    // A pod thread's termination may be shortened meanwhile (MaybeShortenTermination).
    std::lock_guard l(mu_);
    if (auto it = pod_threads_.find(key); it != pod_threads_.end()) {
      it->second.kill_grace = grace;
      it->second.kill_uid = uid;
    }
  }
  // A shorter grace asked for before the lines above found no termination to shorten.
  if (int64_t now = RequestedGrace(key, uid, grace); now < grace) {
    grace = now;
    std::lock_guard l(mu_);
    if (auto it = pod_threads_.find(key); it != pod_threads_.end()) it->second.kill_grace = grace;
  }
  if (!sandbox_id.empty()) {
    ASSIGN_OR_RETURN(auto ctrs, rt_.ListContainers(sandbox_id));
    std::string ip = PodIP(pod, sandbox_id);
    std::vector<std::jthread> killers;
    // In parallel, each with its preStop hook, as kubelet's killContainersWithSyncResult.
    for (const auto& c : ctrs) {
      if (c.state != runtime::ContainerState::kRunning) continue;
      const Json* spec = ContainerSpec(pod, c.name);
      killers.emplace_back([this, &pod, spec, id = c.id, name = c.name, ip, grace] {
        KillContainer(pod, spec, id, ip, grace, "Stopping container " + name);
      });
    }
    killers.clear();
    RETURN_IF_ERROR(rt_.StopPodSandbox(sandbox_id));
    Status s = rt_.RemovePodSandbox(sandbox_id);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  }
  // Volumes first: their tmpfs mounts live under the pod dir, and remove_all must not cross them.
  RETURN_IF_ERROR(volumes_->TearDownPod(pod, PodDir(pod)));
  std::error_code ec;
  fs::remove_all(PodDir(pod), ec);
  if (delete_object) {
    client::DeleteOptions d;
    d.grace_period_seconds = 0;
    d.precondition_uid = GetStringPath(pod, {"metadata", "uid"});
    auto r = client_.Delete(client::kPods, GetStringPath(pod, {"metadata", "namespace"}),
                            GetStringPath(pod, {"metadata", "name"}), d);
    if (!r.ok() && r.status().code() != StatusCode::kNotFound && r.status().code() != StatusCode::kConflict)
      return r.status();
  }
  return Status::Ok();
}

Status PodWorkers::SyncPod(const std::string& key, bool own_thread, bool& hand_off) {
  // A slow step ahead: leave it (and everything after it) to the pod's own thread.
  auto slow = [&] {
    if (own_thread) return false;
    hand_off = true;
    return true;
  };
  client::ObjectPtr obj = pods_->Get(key);
  // Pod gone from the API: remove any sandbox whose pod no longer exists.
  if (!obj) {
    std::set<std::string> uids;
    for (const auto& p : pods_->List()) uids.insert(GetStringPath(*p, {"metadata", "uid"}));
    ASSIGN_OR_RETURN(auto sandboxes, rt_.ListPodSandboxes());
    auto [ns, name] = client::SplitKey(key);
    for (const auto& s : sandboxes) {
      if (uids.count(s.config.uid) || s.config.namespace_ != ns || s.config.name != name) continue;
      if (slow()) return Status::Ok();
      // Its spec is gone with it: killed with upstream's grace for pods the kubelet no longer
      // knows (1 s), not the 30 s default.
      Json ghost{{"metadata", {{"namespace", ns}, {"name", name}, {"uid", s.config.uid}}}, {"kind", "Pod"},
                 {"apiVersion", "v1"}, {"spec", {{"terminationGracePeriodSeconds", 1}}}};
      probes_->RemovePod(s.config.uid);
      RETURN_IF_ERROR(KillPod(ghost, s.id, false));
      std::lock_guard l(mu_);
      state_.erase(s.config.uid);
    }
    return Status::Ok();
  }
  const Json& pod = *obj;
  std::string uid = GetStringPath(pod, {"metadata", "uid"});
  PodState* st;
  {
    std::lock_guard l(mu_);
    st = &state_[uid];
  }
  std::string phase = GetStringPath(pod, {"status", "phase"});
  std::string sandbox_id;
  ASSIGN_OR_RETURN(auto sandboxes, rt_.ListPodSandboxes());
  for (const auto& s : sandboxes)
    if (s.config.uid == uid && s.state == runtime::SandboxState::kReady) sandbox_id = s.id;

  if (FindPath(pod, {"metadata", "deletionTimestamp"})) {
    if (slow()) return Status::Ok();
    // Every sandbox of the pod, stopped ones (terminal pods) included.
    for (const auto& s : sandboxes)
      if (s.config.uid == uid && s.id != sandbox_id) RETURN_IF_ERROR(KillPod(pod, s.id, false));
    RETURN_IF_ERROR(KillPod(pod, sandbox_id, true));
    probes_->RemovePod(uid);
    std::lock_guard l(mu_);
    state_.erase(uid);
    return Status::Ok();
  }
  if (phase == "Succeeded" || phase == "Failed") {
    // Terminal pods keep their status; their containers are already stopped. Their volumes
    // go now, as kubelet unmounts the volumes of terminated pods.
    RETURN_IF_ERROR(volumes_->TearDownPod(pod, PodDir(pod)));
    probes_->RemovePod(uid);
    return Status::Ok();
  }
  if (sandbox_id.empty()) {
    auto id = EnsureSandbox(pod);
    if (!id.ok()) {
      events_.Record(pod, "Warning", "FailedCreatePodSandBox",
                     "Failed to create pod sandbox: " + id.status().message());
      return id.status();
    }
    sandbox_id = id.value();
  }
  // Volumes before any container (kubelet's WaitForAttachAndMount). A failure leaves the pod
  // ContainerCreating with a FailedMount event, retried at the next resync.
  if (Status vs = volumes_->SetUpPod(pod, PodDir(pod)); !vs.ok()) {
    events_.Record(pod, "Warning", "FailedMount", vs.message());
    RETURN_IF_ERROR(UpdateStatus(pod, sandbox_id, *st));
    queue_.AddAfter(key, opts_.resync_interval);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(auto ctrs, rt_.ListContainers(sandbox_id));
  auto latest = [&](const std::string& name) -> const runtime::ContainerStatus* {
    const runtime::ContainerStatus* best = nullptr;
    for (const auto& c : ctrs)
      if (c.name == name && (!best || c.attempt > best->attempt)) best = &c;
    return best;
  };
  std::string policy = GetStringPath(pod, {"spec", "restartPolicy"}, "Always");
  auto now = std::chrono::steady_clock::now();
  // Init containers, in order; each must exit 0 before the next.
  bool init_done = true;
  for (const Json& c : pod["spec"].value("initContainers", Json::array())) {
    std::string name = GetString(c, "name");
    const auto* cur = latest(name);
    if (cur && cur->state == runtime::ContainerState::kExited && cur->exit_code == 0) continue;
    init_done = false;
    if (cur && (cur->state == runtime::ContainerState::kRunning || cur->state == runtime::ContainerState::kCreated)) break;
    if (cur && policy == "Never") break;
    BackOff& b = st->backoff[name];
    if (cur && now < b.not_before) {
      if (st->waiting_reason[name] != "CrashLoopBackOff")
        events_.Record(pod, "Warning", "BackOff", "Back-off restarting failed container " + name + " in pod " + PodDesc(pod));
      st->waiting_reason[name] = "CrashLoopBackOff";
      st->waiting_message[name] = "back-off " + std::to_string(CrashLoopDelay(b.restarts).count()) +
                                  "s restarting failed container=" + name + " pod=" + PodDesc(pod);
      break;
    }
    if (SlowStart(c, *st) && slow()) break;
    uint32_t attempt = cur ? cur->attempt + 1 : 0;
    if (cur) {
      b.restarts++;
      b.not_before = now + CrashLoopDelay(b.restarts);
    }
    (void)StartOneContainer(pod, sandbox_id, c, attempt, *st);
    break;
  }
  if (init_done) {
    for (const Json& c : pod["spec"].value("containers", Json::array())) {
      std::string name = GetString(c, "name");
      const auto* cur = latest(name);
      BackOff& b = st->backoff[name];
      if (cur && cur->state == runtime::ContainerState::kRunning) {
        if (auto kind = probes_->FailedLiveness(uid, name, cur->id)) {
          if (slow()) break;
          // kubelet's computePodActions: kill (preStop, the probe's or the pod's grace period);
          // the restart policy restarts it on the next pass.
          std::string msg = "Container " + name + " failed " +
                            (*kind == prober::ProbeKind::kStartup ? "startup" : "liveness") + " probe";
          if (policy != "Never") msg += ", will be restarted";
          int64_t grace = probes_->ProbeGrace(uid, name, *kind).value_or(PodGrace(pod));
          KillContainer(pod, &c, cur->id, PodIP(pod, sandbox_id), grace, msg);
          queue_.Add(key);
          continue;
        }
        if (b.running_since == std::chrono::steady_clock::time_point{}) b.running_since = now;
        // Back-off resets after 10 min of running cleanly.
        if (now - b.running_since > std::chrono::minutes(10)) b.restarts = 0;
        continue;
      }
      b.running_since = {};
      if (cur && cur->state == runtime::ContainerState::kCreated) continue;
      if (cur && cur->state == runtime::ContainerState::kExited) {
        bool restart = policy == "Always" || (policy == "OnFailure" && cur->exit_code != 0);
        if (!restart) continue;
        if (b.not_before == std::chrono::steady_clock::time_point{} || now >= b.not_before) {
          if (b.not_before == std::chrono::steady_clock::time_point{}) {
            // As kubelet: the first restart is immediate, then 10 s, 20 s, ... up to 5 min.
            b.restarts++;
            b.not_before = now + CrashLoopDelay(b.restarts - 1);
            if (b.restarts > 1) {
              st->waiting_reason[name] = "CrashLoopBackOff";
              st->waiting_message[name] = "back-off " + std::to_string(CrashLoopDelay(b.restarts - 1).count()) +
                                          "s restarting failed container=" + name + " pod=" +
                                          GetStringPath(pod, {"metadata", "name"}) + "_" +
                                          GetStringPath(pod, {"metadata", "namespace"}) + "(" + uid + ")";
              events_.Record(pod, "Warning", "BackOff", "Back-off restarting failed container " + name +
                                                            " in pod " + GetStringPath(pod, {"metadata", "name"}) +
                                                            "_" + GetStringPath(pod, {"metadata", "namespace"}) +
                                                            "(" + uid + ")");
              continue;
            }
          }
          if (SlowStart(c, *st) && slow()) break;
          b.not_before = {};
          // Keep the last dead instance (lastState, logs of the previous run); drop older ones.
          for (const auto& x : ctrs)
            if (x.name == name && x.attempt < cur->attempt) {
              (void)logs::CleanContainerLogs(rt_, x.id);  // its log and rotated logs go with it
              (void)rt_.RemoveContainer(x.id);
            }
          (void)StartOneContainer(pod, sandbox_id, c, cur->attempt + 1, *st);
        }
        continue;
      }
      if (SlowStart(c, *st) && slow()) break;
      (void)StartOneContainer(pod, sandbox_id, c, 0, *st);
    }
  }
  RETURN_IF_ERROR(UpdateStatus(pod, sandbox_id, *st));
  // Handed off: the status shows the pod waiting (ContainerCreating) while its thread works.
  if (hand_off) return Status::Ok();
  queue_.AddAfter(key, opts_.resync_interval);
  return Status::Ok();
}

bool PodWorkers::SlowStart(const Json& c, PodState& st) {
  std::string unused;
  return NextPullStep(c, st, unused) == PullStep::kPull || FindPath(c, {"lifecycle", "postStart"});
}

Status PodWorkers::UpdateStatus(const Json& pod, const std::string& sandbox_id, PodState& st) {
  ASSIGN_OR_RETURN(auto sb, rt_.PodSandboxStatusOf(sandbox_id));
  ASSIGN_OR_RETURN(auto ctrs, rt_.ListContainers(sandbox_id));
  std::string now = FormatRFC3339(clock_.Now());
  std::string policy = GetStringPath(pod, {"spec", "restartPolicy"}, "Always");
  std::string uid = GetStringPath(pod, {"metadata", "uid"});
  {
    // Point the probe workers at the current instances of the app containers.
    std::vector<prober::ContainerInstance> insts;
    for (const Json& c : pod["spec"].value("containers", Json::array())) {
      prober::ContainerInstance in;
      in.name = GetString(c, "name");
      const runtime::ContainerStatus* cur = nullptr;
      for (const auto& x : ctrs)
        if (x.name == in.name && (!cur || x.attempt > cur->attempt)) cur = &x;
      if (cur) {
        in.id = cur->id;
        in.running = cur->state == runtime::ContainerState::kRunning;
        in.exited = cur->state == runtime::ContainerState::kExited;
        in.started_at = cur->started_at;
      }
      insts.push_back(std::move(in));
    }
    probes_->UpdatePod(pod, pod["spec"].value("hostNetwork", false) ? opts_.node_ip : sb.ip, insts);
  }
  auto statuses_for = [&](const Json& list, bool init, bool& all_ready, bool& all_done,
                          std::vector<std::string>& states, std::vector<int>& codes) {
    Json out = Json::array();
    all_ready = true;
    all_done = true;
    for (const Json& c : list) {
      std::string name = GetString(c, "name");
      const runtime::ContainerStatus* cur = nullptr;
      const runtime::ContainerStatus* prev = nullptr;
      for (const auto& x : ctrs) {
        if (x.name != name) continue;
        if (!cur || x.attempt > cur->attempt) {
          prev = cur;
          cur = &x;
        } else if (!prev || x.attempt > prev->attempt) {
          prev = &x;
        }
      }
      auto term = [&](const runtime::ContainerStatus& x) {
        Json t{{"exitCode", x.exit_code},
               {"reason", x.reason.empty() ? (x.exit_code == 0 ? "Completed" : "Error") : x.reason},
               {"startedAt", FormatRFC3339(x.started_at)},
               {"finishedAt", FormatRFC3339(x.finished_at)},
               {"containerID", "runc://" + x.id}};
        if (!x.message.empty()) t["message"] = x.message;
        return Json{{"terminated", t}};
      };
      Json s{{"name", name}, {"image", GetString(c, "image")}, {"imageID", st.image_ids[name]},
             {"restartCount", cur ? int(cur->attempt) : 0}, {"ready", false}, {"started", false},
             {"lastState", Json::object()}};
      std::string state = "waiting";
      int code = 0;
      if (cur) s["containerID"] = "runc://" + cur->id;
      if (prev) s["lastState"] = term(*prev);
      bool waiting_override = st.waiting_reason.count(name) > 0;
      if (cur && cur->state == runtime::ContainerState::kRunning && !waiting_override) {
        s["state"] = {{"running", {{"startedAt", FormatRFC3339(cur->started_at)}}}};
        // Started once the startup probe passed; ready once started and the readiness probe passed.
        bool started = init || probes_->Started(uid, name, cur->id);
        s["ready"] = !init && started && probes_->Ready(uid, name, cur->id);
        s["started"] = started;
        state = "running";
      } else if (cur && cur->state == runtime::ContainerState::kExited && !waiting_override) {
        s["state"] = term(*cur);
        state = "terminated";
        code = cur->exit_code;
      } else {
        std::string reason = waiting_override ? st.waiting_reason[name] : (init ? "PodInitializing" : "ContainerCreating");
        Json w{{"reason", reason}};
        if (st.waiting_message.count(name)) w["message"] = st.waiting_message[name];
        s["state"] = {{"waiting", w}};
        if (cur && cur->state == runtime::ContainerState::kExited) s["lastState"] = term(*cur);
      }
      all_ready = all_ready && state == "running";
      if (init) all_done = all_done && state == "terminated" && code == 0;
      states.push_back(state);
      codes.push_back(code);
      out.push_back(s);
    }
    return out;
  };
  bool init_ready, init_done, ready, unused;
  std::vector<std::string> istates, states;
  std::vector<int> icodes, codes;
  Json init_statuses = statuses_for(pod["spec"].value("initContainers", Json::array()), true, init_ready,
                                    init_done, istates, icodes);
  Json statuses = statuses_for(pod["spec"].value("containers", Json::array()), false, ready, unused, states, codes);
  ready = !statuses.empty();
  for (const Json& s : statuses) ready = ready && s.value("ready", false);
  std::string phase = ComputePhase(policy, states, codes, init_done);
  // A restarting container (waiting after a run) keeps a started pod Running.
  if (phase == "Pending" && init_done) {
    for (size_t i = 0; i < states.size(); ++i)
      if (states[i] == "waiting" && statuses[i]["lastState"].contains("terminated")) phase = "Running";
  }
  // A failed init container is never retried with restartPolicy Never: the pod has failed.
  if (!init_done && policy == "Never")
    for (size_t i = 0; i < istates.size(); ++i)
      if (istates[i] == "terminated" && icodes[i] != 0) phase = "Failed";
  bool terminal = phase == "Succeeded" || phase == "Failed";
  const Json* old = FindPath(pod, {"status"});
  auto cond = [&](const std::string& type, bool v, const std::string& reason = "") {
    Json c{{"type", type}, {"status", v ? "True" : "False"}, {"lastProbeTime", nullptr},
           {"lastTransitionTime", now}};
    if (!reason.empty()) c["reason"] = reason;
    if (old)
      for (const Json& oc : old->value("conditions", Json::array()))
        if (GetString(oc, "type") == type && GetString(oc, "status") == (v ? "True" : "False"))
          c["lastTransitionTime"] = oc.value("lastTransitionTime", Json(now));
    return c;
  };
  Json conds = Json::array();
  conds.push_back(cond("PodReadyToStartContainers", !terminal && sb.state == runtime::SandboxState::kReady));
  conds.push_back(cond("Initialized", init_done, init_done ? "" : "ContainersNotInitialized"));
  conds.push_back(cond("Ready", ready, ready ? "" : terminal ? "PodCompleted" : "ContainersNotReady"));
  conds.push_back(cond("ContainersReady", ready, ready ? "" : terminal ? "PodCompleted" : "ContainersNotReady"));
  conds.push_back(cond("PodScheduled", true));
  Json status{{"phase", phase},
              {"conditions", conds},
              {"hostIP", opts_.node_ip},
              {"hostIPs", Json::array({{{"ip", opts_.node_ip}}})},
              {"containerStatuses", statuses},
              {"qosClass", QosClass(pod)}};
  if (!init_statuses.empty()) status["initContainerStatuses"] = init_statuses;
  std::string ip = pod["spec"].value("hostNetwork", false) ? opts_.node_ip : sb.ip;
  if (!ip.empty()) {
    status["podIP"] = ip;
    status["podIPs"] = Json::array({{{"ip", ip}}});
  }
  status["startTime"] = old && old->contains("startTime") ? (*old)["startTime"] : Json(now);
  // Skip the write when nothing changed (ignoring timestamps we carried over).
  if (old) {
    Json cmp = *old;
    bool same = true;
    for (auto& [k, v] : status.items())
      if (!cmp.contains(k) || cmp[k] != v) same = false;
    if (same) return Status::Ok();
  }
  Json patch{{"status", status}};
  auto r = client_.Patch(client::kPods, GetStringPath(pod, {"metadata", "namespace"}),
                         GetStringPath(pod, {"metadata", "name"}), client::PatchType::kMerge, patch.dump(), "status");
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
  // A terminal pod's containers are done; stop the sandbox (network, namespaces) as kubelet does.
  if (terminal) (void)rt_.StopPodSandbox(sandbox_id);
  return Status::Ok();
}

}  // namespace tug::kubelet
