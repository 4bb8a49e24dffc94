#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::testing {

using namespace framework;

PodBuilder::PodBuilder(std::string name, std::string ns) {
  j_ = {{"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "uid-" + ns + "-" + name},
                      {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
        {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", "busybox"}}})}}},
        {"status", {{"phase", "Pending"}}}};
}
PodBuilder& PodBuilder::Uid(std::string uid) { j_["metadata"]["uid"] = uid; return *this; }
PodBuilder& PodBuilder::Label(std::string k, std::string v) { j_["metadata"]["labels"][k] = v; return *this; }
PodBuilder& PodBuilder::Req(std::string r, std::string q) {
  j_["spec"]["containers"][0]["resources"]["requests"][r] = q;
  return *this;
}
PodBuilder& PodBuilder::Container(std::map<std::string, std::string> requests) {
  Json c = {{"name", "c" + std::to_string(j_["spec"]["containers"].size())}, {"image", "busybox"}};
  for (auto& [k, v] : requests) c["resources"]["requests"][k] = v;
  j_["spec"]["containers"].push_back(c);
  return *this;
}
PodBuilder& PodBuilder::Init(std::map<std::string, std::string> requests, bool sidecar) {
  Json c = {{"name", "i" + std::to_string(j_["spec"].value("initContainers", Json::array()).size())},
            {"image", "busybox"}};
  for (auto& [k, v] : requests) c["resources"]["requests"][k] = v;
  if (sidecar) c["restartPolicy"] = "Always";
  j_["spec"]["initContainers"].push_back(c);
  return *this;
}
PodBuilder& PodBuilder::Overhead(std::string r, std::string q) { j_["spec"]["overhead"][r] = q; return *this; }
PodBuilder& PodBuilder::HostPort(int port, std::string protocol, std::string ip) {
  Json p = {{"containerPort", port}, {"hostPort", port}, {"protocol", protocol}};
  if (!ip.empty()) p["hostIP"] = ip;
  j_["spec"]["containers"][0]["ports"].push_back(p);
  return *this;
}
PodBuilder& PodBuilder::NodeSelector(std::string k, std::string v) { j_["spec"]["nodeSelector"][k] = v; return *this; }
PodBuilder& PodBuilder::Toleration(std::string key, std::string op, std::string value, std::string effect) {
  Json t = Json::object();
  if (!key.empty()) t["key"] = key;
  if (!op.empty()) t["operator"] = op;
  if (!value.empty()) t["value"] = value;
  if (!effect.empty()) t["effect"] = effect;
  j_["spec"]["tolerations"].push_back(t);
  return *this;
}
PodBuilder& PodBuilder::Priority(int32_t p) { j_["spec"]["priority"] = p; return *this; }
PodBuilder& PodBuilder::PreemptNever() { j_["spec"]["preemptionPolicy"] = "Never"; return *this; }
PodBuilder& PodBuilder::NodeName(std::string n) { j_["spec"]["nodeName"] = n; return *this; }
PodBuilder& PodBuilder::Nominated(std::string n) { j_["status"]["nominatedNodeName"] = n; return *this; }
PodBuilder& PodBuilder::SchedulerName(std::string n) { j_["spec"]["schedulerName"] = n; return *this; }
PodBuilder& PodBuilder::Affinity(Json a) { j_["spec"]["affinity"] = std::move(a); return *this; }
PodBuilder& PodBuilder::Spread(Json c) { j_["spec"]["topologySpreadConstraints"].push_back(std::move(c)); return *this; }
PodBuilder& PodBuilder::Pvc(std::string claim) {
  j_["spec"]["volumes"].push_back({{"name", "v-" + claim}, {"persistentVolumeClaim", {{"claimName", claim}}}});
  return *this;
}
PodBuilder& PodBuilder::Image(std::string image) { j_["spec"]["containers"][0]["image"] = image; return *this; }
PodBuilder& PodBuilder::Terminating() { j_["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"; return *this; }
PodBuilder& PodBuilder::Created(std::string t) { j_["metadata"]["creationTimestamp"] = t; return *this; }
PodInfoPtr PodBuilder::Info() const { return PodInfo::Build(std::make_shared<const Json>(j_)); }

NodeBuilder::NodeBuilder(std::string name, std::string cpu, std::string memory, int pods) {
  j_ = {{"apiVersion", "v1"},
        {"kind", "Node"},
        {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
        {"spec", Json::object()},
        {"status", {{"allocatable", {{"cpu", cpu}, {"memory", memory}, {"pods", std::to_string(pods)}}},
                    {"capacity", {{"cpu", cpu}, {"memory", memory}, {"pods", std::to_string(pods)}}}}}};
}
NodeBuilder& NodeBuilder::Label(std::string k, std::string v) { j_["metadata"]["labels"][k] = v; return *this; }
NodeBuilder& NodeBuilder::Taint(std::string key, std::string value, std::string effect) {
  Json t = {{"key", key}, {"effect", effect}};
  if (!value.empty()) t["value"] = value;
  j_["spec"]["taints"].push_back(t);
  return *this;
}
NodeBuilder& NodeBuilder::Unschedulable() { j_["spec"]["unschedulable"] = true; return *this; }
NodeBuilder& NodeBuilder::Allocatable(std::string r, std::string q) { j_["status"]["allocatable"][r] = q; return *this; }
NodeBuilder& NodeBuilder::Image(std::string name, int64_t size) {
  j_["status"]["images"].push_back({{"names", {name}}, {"sizeBytes", size}});
  return *this;
}

void FakeLister::AddPvc(Json pvc) {
  std::string k = GetStringPath(pvc, {"metadata", "namespace"}) + "/" + GetStringPath(pvc, {"metadata", "name"});
  pvcs[k] = std::make_shared<const Json>(std::move(pvc));
}
void FakeLister::AddPv(Json pv) {
  std::string k = GetStringPath(pv, {"metadata", "name"});
  pvs[k] = std::make_shared<const Json>(std::move(pv));
}
void FakeLister::AddClass(Json sc) {
  std::string k = GetStringPath(sc, {"metadata", "name"});
  classes[k] = std::make_shared<const Json>(std::move(sc));
}
ObjectPtr FakeLister::GetPvc(std::string_view ns, std::string_view name) const {
  auto it = pvcs.find(std::string(ns) + "/" + std::string(name));
  return it == pvcs.end() ? nullptr : it->second;
}
ObjectPtr FakeLister::GetPv(std::string_view name) const {
  auto it = pvs.find(std::string(name));
  return it == pvs.end() ? nullptr : it->second;
}
ObjectPtr FakeLister::GetStorageClass(std::string_view name) const {
  auto it = classes.find(std::string(name));
  return it == classes.end() ? nullptr : it->second;
}
std::vector<ObjectPtr> FakeLister::ListPvs() const {
  std::vector<ObjectPtr> out;
  for (auto& [k, v] : pvs) out.push_back(v);
  return out;
}
const Json* FakeLister::NamespaceLabels(std::string_view ns) const {
  auto it = namespace_labels.find(std::string(ns));
  return it == namespace_labels.end() ? nullptr : &it->second;
}
LabelSelector FakeLister::DefaultSpreadSelector(const PodInfo&) const { return default_selector; }

NodeInfo& FakeCluster::AddNode(Json node) {
  nodes_.emplace_back();
  nodes_.back().SetNode(std::make_shared<const Json>(std::move(node)));
  all_.push_back(&nodes_.back());
  return nodes_.back();
}
NodeInfo* FakeCluster::Node(const std::string& name) {
  for (auto& n : nodes_)
    if (n.name == name) return &n;
  return nullptr;
}
void FakeCluster::AddPod(Json pod) {
  PodInfoPtr p = PodInfo::Build(std::make_shared<const Json>(std::move(pod)));
  NodeInfo* n = Node(p->node_name);
  if (n) n->AddPod(p);
}
std::vector<const NodeInfo*> FakeCluster::NodesWithAffinityPods() const {
  std::vector<const NodeInfo*> out;
  for (const NodeInfo* n : all_)
    if (n->pods_with_affinity > 0) out.push_back(n);
  return out;
}

std::unique_ptr<Framework> MakeFramework(const FakeCluster& cluster, std::vector<PluginConfig> plugins,
                                         PluginContext ctx) {
  static const Registry reg = plugins::DefaultRegistry();
  Profile p;
  p.plugins = std::move(plugins);
  ctx.handle = &cluster;
  auto fw = Framework::Create(reg, p, std::move(ctx));
  if (!fw.ok()) return nullptr;
  return std::move(fw).value();
}

std::unique_ptr<Framework> MakeDefaultFramework(const FakeCluster& cluster, PluginContext ctx) {
  static const Registry reg = plugins::DefaultRegistry();
  ctx.handle = &cluster;
  auto fw = Framework::Create(reg, DefaultProfile(), std::move(ctx));
  if (!fw.ok()) return nullptr;
  return std::move(fw).value();
}

PluginStatus FilterOn(const Framework& fw, FakeCluster& c, const Json& pod, const std::string& node) {
  PodInfoPtr p = PodInfo::Build(std::make_shared<const Json>(pod));
  CycleState st(fw.NumSlots());
  PluginStatus s = fw.RunPreFilter(st, *p, c);
  if (!s.ok()) return s;
  NodeInfo* n = c.Node(node);
  if (!n) return PluginStatus(Code::kError, "no node " + node);
  return fw.RunFilter(st, *p, *n);
}

ScheduleResult Schedule(const Framework& fw, FakeCluster& c, const Json& pod) {
  PodInfoPtr p = PodInfo::Build(std::make_shared<const Json>(pod));
  CycleState st(fw.NumSlots());
  ScheduleState ss;
  return SchedulePod(fw, st, *p, c, ss);
}

std::map<std::string, int64_t> Scores(const Framework& fw, FakeCluster& c, const Json& pod) {
  PodInfoPtr p = PodInfo::Build(std::make_shared<const Json>(pod));
  CycleState st(fw.NumSlots());
  std::map<std::string, int64_t> out;
  if (!fw.RunPreFilter(st, *p, c).ok()) return out;
  std::vector<const NodeInfo*> nodes = c.AllNodes();
  std::vector<int64_t> s = fw.RunScore(st, *p, nodes, c);
  for (size_t i = 0; i < nodes.size(); ++i) out[nodes[i]->name] = s[i];
  return out;
}

}  // namespace tug::scheduler::testing
