#include "scheduler/framework/types.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "api/quantity.h"
#include "base/clock.h"

namespace tug::scheduler::framework {

namespace {

const Json* Obj(const Json* j, std::string_view key) {
  if (!j || !j->is_object()) return nullptr;
  auto it = j->find(key);
  if (it == j->end() || it->is_null()) return nullptr;
  return &*it;
}
const Json* Arr(const Json* j, std::string_view key) {
  const Json* a = Obj(j, key);
  return a && a->is_array() ? a : nullptr;
}
std::string Str(const Json* j, std::string_view key) {
  const Json* s = Obj(j, key);
  return s && s->is_string() ? s->get<std::string>() : std::string();
}
int64_t Int(const Json* j, std::string_view key, int64_t def) {
  const Json* s = Obj(j, key);
  return s && s->is_number_integer() ? s->get<int64_t>() : def;
}

std::vector<std::string> Strings(const Json* arr) {
  std::vector<std::string> out;
  if (arr && arr->is_array())
    for (const Json& v : *arr)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace

// --- quantities ----------------------------------------------------------------------------

std::optional<int64_t> ParseQuantityScaled(const Json& q, int64_t scale) {
  auto parsed = api::ParseQuantityJson(q);
  if (!parsed.ok()) return std::nullopt;
  int exp10 = 0;  // scale 1000 (milli-units) is 10^-3
  for (int64_t s = scale; s >= 10; s /= 10) --exp10;
  std::optional<__int128> v = parsed->Scaled128(exp10);
  if (!v) return parsed->negative() ? INT64_MIN : INT64_MAX;  // out of 127 bits: clamp as below
  return static_cast<int64_t>(std::clamp<__int128>(*v, INT64_MIN, INT64_MAX));
}

void Resource::Add(const Resource& o) {
  milli_cpu += o.milli_cpu;
  memory += o.memory;
  ephemeral_storage += o.ephemeral_storage;
  allowed_pods += o.allowed_pods;
  for (const auto& [k, v] : o.scalar) scalar[k] += v;
}
void Resource::Sub(const Resource& o) {
  milli_cpu -= o.milli_cpu;
  memory -= o.memory;
  ephemeral_storage -= o.ephemeral_storage;
  allowed_pods -= o.allowed_pods;
  for (const auto& [k, v] : o.scalar) scalar[k] -= v;
}
void Resource::SetMax(const Resource& o) {
  milli_cpu = std::max(milli_cpu, o.milli_cpu);
  memory = std::max(memory, o.memory);
  ephemeral_storage = std::max(ephemeral_storage, o.ephemeral_storage);
  for (const auto& [k, v] : o.scalar) scalar[k] = std::max(scalar[k], v);
}
bool Resource::IsZero() const {
  if (milli_cpu || memory || ephemeral_storage) return false;
  for (const auto& [k, v] : scalar)
    if (v) return false;
  return true;
}
Resource Resource::FromList(const Json* list) {
  Resource r;
  if (!list || !list->is_object()) return r;
  for (auto it = list->begin(); it != list->end(); ++it) {
    const std::string& k = it.key();
    if (k == "cpu") {
      if (auto v = ParseQuantityScaled(*it, 1000)) r.milli_cpu = *v;
    } else if (k == "memory") {
      if (auto v = ParseQuantityScaled(*it, 1)) r.memory = *v;
    } else if (k == "ephemeral-storage") {
      if (auto v = ParseQuantityScaled(*it, 1)) r.ephemeral_storage = *v;
    } else if (k == "pods") {
      if (auto v = ParseQuantityScaled(*it, 1)) r.allowed_pods = *v;
    } else if (k == "storage") {
      // not a schedulable node resource
    } else {
      if (auto v = ParseQuantityScaled(*it, 1)) r.scalar[k] = *v;
    }
  }
  return r;
}

// --- selectors -----------------------------------------------------------------------------

LabelSelector LabelSelector::Nothing() {
  LabelSelector s;
  s.nothing_ = true;
  return s;
}

LabelSelector LabelSelector::FromMap(const Json* match_labels) {
  LabelSelector s;
  if (!match_labels || !match_labels->is_object() || match_labels->empty()) return Nothing();
  for (auto it = match_labels->begin(); it != match_labels->end(); ++it)
    if (it->is_string()) s.reqs_.push_back({Req::kIn, it.key(), {it->get<std::string>()}});
  return s;
}

LabelSelector LabelSelector::FromJson(const Json* sel, bool null_matches_all) {
  LabelSelector s;
  if (!sel || !sel->is_object()) {
    if (!null_matches_all) s.nothing_ = true;
    return s;
  }
  if (const Json* ml = Obj(sel, "matchLabels"); ml && ml->is_object())
    for (auto it = ml->begin(); it != ml->end(); ++it)
      if (it->is_string()) s.reqs_.push_back({Req::kIn, it.key(), {it->get<std::string>()}});
  if (const Json* me = Arr(sel, "matchExpressions"))
    for (const Json& e : *me) {
      std::string op = Str(&e, "operator");
      Req r;
      r.key = Str(&e, "key");
      r.values = Strings(Obj(&e, "values"));
      if (op == "In") r.op = Req::kIn;
      else if (op == "NotIn") r.op = Req::kNotIn;
      else if (op == "Exists") r.op = Req::kExists;
      else if (op == "DoesNotExist") r.op = Req::kDoesNotExist;
      else { s.nothing_ = true; continue; }  // invalid: upstream fails conversion → matches nothing
      s.reqs_.push_back(std::move(r));
    }
  return s;
}

void LabelSelector::Merge(const LabelSelector& o) {
  nothing_ = nothing_ || o.nothing_;
  reqs_.insert(reqs_.end(), o.reqs_.begin(), o.reqs_.end());
}

bool LabelSelector::Matches(const Json* labels) const {
  if (nothing_) return false;
  for (const Req& r : reqs_) {
    bool found = false;
    std::string v = LabelValue(labels, r.key, &found);
    switch (r.op) {
      case Req::kIn:
        if (!found || std::find(r.values.begin(), r.values.end(), v) == r.values.end()) return false;
        break;
      case Req::kNotIn:
        if (found && std::find(r.values.begin(), r.values.end(), v) != r.values.end()) return false;
        break;
      case Req::kExists:
        if (!found) return false;
        break;
      case Req::kDoesNotExist:
        if (found) return false;
        break;
    }
  }
  return true;
}

namespace {

std::vector<NodeSelectorRequirement> ParseReqs(const Json* arr, bool* invalid) {
  std::vector<NodeSelectorRequirement> out;
  if (!arr || !arr->is_array()) return out;
  for (const Json& e : *arr) {
    NodeSelectorRequirement r;
    r.key = Str(&e, "key");
    r.values = Strings(Obj(&e, "values"));
    std::string op = Str(&e, "operator");
    if (op == "In") r.op = NodeSelectorRequirement::kIn;
    else if (op == "NotIn") r.op = NodeSelectorRequirement::kNotIn;
    else if (op == "Exists") r.op = NodeSelectorRequirement::kExists;
    else if (op == "DoesNotExist") r.op = NodeSelectorRequirement::kDoesNotExist;
    else if (op == "Gt") r.op = NodeSelectorRequirement::kGt;
    else if (op == "Lt") r.op = NodeSelectorRequirement::kLt;
    else *invalid = true;
    out.push_back(std::move(r));
  }
  return out;
}

bool ReqMatches(const NodeSelectorRequirement& r, bool found, const std::string& v) {
  switch (r.op) {
    case NodeSelectorRequirement::kIn:
      return found && std::find(r.values.begin(), r.values.end(), v) != r.values.end();
    case NodeSelectorRequirement::kNotIn:
      return !found || std::find(r.values.begin(), r.values.end(), v) == r.values.end();
    case NodeSelectorRequirement::kExists: return found;
    case NodeSelectorRequirement::kDoesNotExist: return !found;
    case NodeSelectorRequirement::kGt:
    case NodeSelectorRequirement::kLt: {
      if (!found || r.values.size() != 1) return false;
      char* e1 = nullptr;
      char* e2 = nullptr;
      long long have = std::strtoll(v.c_str(), &e1, 10);
      long long want = std::strtoll(r.values[0].c_str(), &e2, 10);
      if (v.empty() || *e1 || r.values[0].empty() || *e2) return false;
      return r.op == NodeSelectorRequirement::kGt ? have > want : have < want;
    }
  }
  return false;
}

NodeSelectorTerm ParseTerm(const Json& t, bool* invalid) {
  NodeSelectorTerm term;
  term.match_expressions = ParseReqs(Arr(&t, "matchExpressions"), invalid);
  term.match_fields = ParseReqs(Arr(&t, "matchFields"), invalid);
  return term;
}

}  // namespace

bool NodeSelectorTerm::Matches(const Json* labels, std::string_view node_name) const {
  if (empty()) return false;  // an empty term matches no objects
  for (const auto& r : match_expressions) {
    bool found = false;
    std::string v = LabelValue(labels, r.key, &found);
    if (!ReqMatches(r, found, v)) return false;
  }
  for (const auto& r : match_fields) {
    if (r.key != "metadata.name") return false;
    if (!ReqMatches(r, true, std::string(node_name))) return false;
  }
  return true;
}

NodeSelector NodeSelector::FromJson(const Json* ns) {
  NodeSelector s;
  if (const Json* terms = Arr(ns, "nodeSelectorTerms"))
    for (const Json& t : *terms) {
      bool invalid = false;
      NodeSelectorTerm term = ParseTerm(t, &invalid);
      if (!invalid) s.terms.push_back(std::move(term));
    }
  return s;
}

bool NodeSelector::Matches(const Json* labels, std::string_view node_name) const {
  for (const auto& t : terms)
    if (t.Matches(labels, node_name)) return true;
  return false;
}

// --- taints, tolerations, ports --------------------------------------------------------------

bool Toleration::Tolerates(const Taint& t) const {
  if (!effect.empty() && effect != t.effect) return false;
  if (!key.empty() && key != t.key) return false;
  if (op == "Exists") return true;
  if (op.empty() || op == "Equal") return value == t.value;
  return false;
}

bool TolerationsTolerate(const std::vector<Toleration>& tols, const Taint& t) {
  for (const auto& tol : tols)
    if (tol.Tolerates(t)) return true;
  return false;
}

bool HostPort::Conflicts(const HostPort& o) const {
  if (port != o.port || protocol != o.protocol) return false;
  return ip == o.ip || ip == "0.0.0.0" || o.ip == "0.0.0.0";
}

// --- PodInfo -------------------------------------------------------------------------------

namespace {

void ContainerRequests(const Json& c, Resource* r, int64_t* nz_cpu, int64_t* nz_mem) {
  const Json* res = Obj(&c, "resources");
  *r = Resource::FromList(Obj(res, "requests"));
  *nz_cpu = r->milli_cpu ? r->milli_cpu : kDefaultMilliCpuRequest;
  *nz_mem = r->memory ? r->memory : kDefaultMemoryRequest;
  // A limit with no request means request = limit (defaulting does this at admission, but be safe).
  if (const Json* lim = Obj(res, "limits")) {
    Resource l = Resource::FromList(lim);
    const Json* req = Obj(res, "requests");
    if (!Obj(req, "cpu") && l.milli_cpu) r->milli_cpu = l.milli_cpu, *nz_cpu = l.milli_cpu;
    if (!Obj(req, "memory") && l.memory) r->memory = l.memory, *nz_mem = l.memory;
  }
}

std::vector<AffinityTerm> ParseAffinityTerms(const Json* arr, bool weighted) {
  std::vector<AffinityTerm> out;
  if (!arr || !arr->is_array()) return out;
  for (const Json& e : *arr) {
    const Json* t = weighted ? Obj(&e, "podAffinityTerm") : &e;
    if (!t) continue;
    AffinityTerm term;
    term.selector = LabelSelector::FromJson(Obj(t, "labelSelector"));
    term.namespaces = Strings(Obj(t, "namespaces"));
    if (const Json* nss = Obj(t, "namespaceSelector")) term.namespace_selector = LabelSelector::FromJson(nss);
    term.topology_key = Str(t, "topologyKey");
    term.weight = static_cast<int32_t>(Int(&e, "weight", 0));
    out.push_back(std::move(term));
  }
  return out;
}

void ParsePorts(const Json* containers, std::vector<HostPort>* out, bool sidecars_only) {
  if (!containers || !containers->is_array()) return;
  for (const Json& c : *containers) {
    if (sidecars_only && Str(&c, "restartPolicy") != "Always") continue;
    if (const Json* ports = Arr(&c, "ports"))
      for (const Json& p : *ports) {
        int64_t hp = Int(&p, "hostPort", 0);
        if (hp <= 0) continue;
        HostPort h;
        h.port = static_cast<int32_t>(hp);
        h.ip = Str(&p, "hostIP");
        if (h.ip.empty()) h.ip = "0.0.0.0";
        h.protocol = Str(&p, "protocol");
        if (h.protocol.empty()) h.protocol = "TCP";
        out->push_back(std::move(h));
      }
  }
}

}  // namespace

PodInfoPtr PodInfo::Build(ObjectPtr pod, bool keep_document) {
  auto info = std::make_shared<PodInfo>();
  const Json& p = *pod;
  const Json* meta = Obj(&p, "metadata");
  const Json* spec = Obj(&p, "spec");
  const Json* status = Obj(&p, "status");
  info->ns = Str(meta, "namespace");
  info->name = Str(meta, "name");
  info->uid = Str(meta, "uid");
  info->key = info->ns + "/" + info->name;
  info->labels = Obj(meta, "labels");
  info->terminating = Obj(meta, "deletionTimestamp") != nullptr;
  if (auto t = ParseRFC3339(Str(meta, "creationTimestamp")); t.ok())
    info->creation_unix = std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
  info->node_name = Str(spec, "nodeName");
  info->nominated_node_name = Str(status, "nominatedNodeName");
  info->scheduler_name = Str(spec, "schedulerName");
  if (info->scheduler_name.empty()) info->scheduler_name = std::string(kDefaultSchedulerName);
  if (const Json* pr = Obj(spec, "priority"); pr && pr->is_number_integer()) {
    info->priority = pr->get<int32_t>();
    info->has_priority = true;
  }
  info->priority_class_name = Str(spec, "priorityClassName");
  info->preempt_never = Str(spec, "preemptionPolicy") == "Never";

  // Requests: max(sum(containers) + sum(sidecars), max over init containers of (init + sidecars
  // started before it)) + overhead — the kubelet's admission arithmetic.
  Resource sum;
  int64_t nz_cpu = 0, nz_mem = 0;
  if (const Json* cs = Arr(spec, "containers"))
    for (const Json& c : *cs) {
      Resource r;
      int64_t a = 0, b = 0;
      ContainerRequests(c, &r, &a, &b);
      sum.Add(r);
      nz_cpu += a;
      nz_mem += b;
    }
  Resource init_max, sidecars;
  int64_t init_nz_cpu = 0, init_nz_mem = 0, side_nz_cpu = 0, side_nz_mem = 0;
  if (const Json* ics = Arr(spec, "initContainers"))
    for (const Json& c : *ics) {
      Resource r;
      int64_t a = 0, b = 0;
      ContainerRequests(c, &r, &a, &b);
      if (Str(&c, "restartPolicy") == "Always") {
        sidecars.Add(r);
        side_nz_cpu += a;
        side_nz_mem += b;
        init_max.SetMax(sidecars);
        init_nz_cpu = std::max(init_nz_cpu, side_nz_cpu);
        init_nz_mem = std::max(init_nz_mem, side_nz_mem);
      } else {
        Resource tmp = r;
        tmp.Add(sidecars);
        init_max.SetMax(tmp);
        init_nz_cpu = std::max(init_nz_cpu, a + side_nz_cpu);
        init_nz_mem = std::max(init_nz_mem, b + side_nz_mem);
      }
    }
  sum.Add(sidecars);
  sum.SetMax(init_max);
  nz_cpu = std::max(nz_cpu + side_nz_cpu, init_nz_cpu);
  nz_mem = std::max(nz_mem + side_nz_mem, init_nz_mem);
  if (const Json* oh = Obj(spec, "overhead")) {
    Resource o = Resource::FromList(oh);
    sum.Add(o);
    nz_cpu += o.milli_cpu;
    nz_mem += o.memory;
  }
  info->requests = std::move(sum);
  info->non_zero_cpu = nz_cpu;
  info->non_zero_memory = nz_mem;

  ParsePorts(Arr(spec, "containers"), &info->host_ports, false);
  ParsePorts(Arr(spec, "initContainers"), &info->host_ports, true);
  if (const Json* cs = Arr(spec, "containers"))
    for (const Json& c : *cs) info->images.push_back(Str(&c, "image"));

  if (const Json* tols = Arr(spec, "tolerations"))
    for (const Json& t : *tols)
      info->tolerations.push_back({Str(&t, "key"), Str(&t, "operator"), Str(&t, "value"), Str(&t, "effect")});

  info->node_selector = Obj(spec, "nodeSelector");
  const Json* aff = Obj(spec, "affinity");
  if (const Json* na = Obj(aff, "nodeAffinity")) {
    if (const Json* req = Obj(na, "requiredDuringSchedulingIgnoredDuringExecution"))
      info->required_node_affinity = NodeSelector::FromJson(req);
    if (const Json* pref = Arr(na, "preferredDuringSchedulingIgnoredDuringExecution"))
      for (const Json& e : *pref) {
        int32_t w = static_cast<int32_t>(Int(&e, "weight", 0));
        const Json* pt = Obj(&e, "preference");
        if (!w || !pt) continue;
        bool invalid = false;
        NodeSelectorTerm term = ParseTerm(*pt, &invalid);
        if (!invalid) info->preferred_node_affinity.push_back({w, std::move(term)});
      }
  }
  if (const Json* pa = Obj(aff, "podAffinity")) {
    info->required_affinity = ParseAffinityTerms(Arr(pa, "requiredDuringSchedulingIgnoredDuringExecution"), false);
    info->preferred_affinity = ParseAffinityTerms(Arr(pa, "preferredDuringSchedulingIgnoredDuringExecution"), true);
  }
  if (const Json* paa = Obj(aff, "podAntiAffinity")) {
    info->required_anti_affinity = ParseAffinityTerms(Arr(paa, "requiredDuringSchedulingIgnoredDuringExecution"), false);
    info->preferred_anti_affinity =
        ParseAffinityTerms(Arr(paa, "preferredDuringSchedulingIgnoredDuringExecution"), true);
  }

  if (const Json* tscs = Arr(spec, "topologySpreadConstraints"))
    for (const Json& t : *tscs) {
      TopologySpreadConstraint c;
      c.max_skew = static_cast<int32_t>(Int(&t, "maxSkew", 1));
      c.topology_key = Str(&t, "topologyKey");
      c.do_not_schedule = Str(&t, "whenUnsatisfiable") != "ScheduleAnyway";
      c.selector = LabelSelector::FromJson(Obj(&t, "labelSelector"));
      c.min_domains = static_cast<int32_t>(Int(&t, "minDomains", 1));
      c.honor_node_affinity = Str(&t, "nodeAffinityPolicy") != "Ignore";
      c.honor_node_taints = Str(&t, "nodeTaintsPolicy") == "Honor";
      // matchLabelKeys: the pod's own values for these keys join the selector.
      for (const std::string& k : Strings(Obj(&t, "matchLabelKeys"))) {
        bool found = false;
        std::string v = LabelValue(info->labels, k, &found);
        if (found) c.selector.AddRequirement({LabelSelector::Req::kIn, k, {v}});
      }
      info->spread_constraints.push_back(std::move(c));
    }

  if (const Json* vols = Arr(spec, "volumes"))
    for (const Json& v : *vols) {
      if (const Json* pvc = Obj(&v, "persistentVolumeClaim")) {
        std::string c = Str(pvc, "claimName");
        if (!c.empty()) info->pvc_names.push_back(c);
      } else if (Obj(&v, "ephemeral")) {
        info->pvc_names.push_back(info->name + "-" + Str(&v, "name"));
      }
    }
  if (keep_document) {
    info->pod = std::move(pod);
  } else {
    auto own = std::make_shared<Json>(Json::object());
    if (info->labels) (*own)["labels"] = *info->labels;
    if (info->node_selector) (*own)["nodeSelector"] = *info->node_selector;
    info->labels = Obj(own.get(), "labels");
    info->node_selector = Obj(own.get(), "nodeSelector");
    info->own = std::move(own);
  }
  return info;
}

Json PodInfo::Reference() const {
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}, {"namespace", ns}, {"uid", uid}}}};
}

PodInfoPtr PodInfo::WithNodeName(const std::string& node) const {
  auto copy = std::make_shared<PodInfo>(*this);
  copy->node_name = node;
  return copy;
}

// --- NodeInfo ------------------------------------------------------------------------------

void NodeInfo::SetNode(ObjectPtr n) {
  node = std::move(n);
  const Json* meta = Obj(node.get(), "metadata");
  const Json* spec = Obj(node.get(), "spec");
  name = Str(meta, "name");
  labels = Obj(meta, "labels");
  unschedulable = Obj(spec, "unschedulable") && Obj(spec, "unschedulable")->is_boolean() &&
                  Obj(spec, "unschedulable")->get<bool>();
  taints.clear();
  if (const Json* ts = Arr(spec, "taints"))
    for (const Json& t : *ts) taints.push_back({Str(&t, "key"), Str(&t, "value"), Str(&t, "effect")});
  const Json* status = Obj(node.get(), "status");
  const Json* alloc = Obj(status, "allocatable");
  if (!alloc) alloc = Obj(status, "capacity");
  allocatable = Resource::FromList(alloc);
  image_sizes.clear();
  if (const Json* imgs = Arr(status, "images"))
    for (const Json& img : *imgs) {
      int64_t size = Int(&img, "sizeBytes", 0);
      for (const std::string& n : Strings(Obj(&img, "names"))) image_sizes[n] = size;
    }
  ++generation;
}

void NodeInfo::AddPod(PodInfoPtr p) {
  requested.Add(p->requests);
  non_zero_cpu += p->non_zero_cpu;
  non_zero_memory += p->non_zero_memory;
  if (p->HasAffinity()) ++pods_with_affinity;
  if (!p->required_anti_affinity.empty()) ++pods_with_required_anti_affinity;
  used_ports.insert(used_ports.end(), p->host_ports.begin(), p->host_ports.end());
  pods.push_back(std::move(p));
  ++generation;
}

bool NodeInfo::RemovePod(const PodInfo& p) {
  for (size_t i = 0; i < pods.size(); ++i) {
    const PodInfo& q = *pods[i];
    bool same = !p.uid.empty() && !q.uid.empty() ? q.uid == p.uid : q.key == p.key;
    if (!same) continue;
    requested.Sub(q.requests);
    non_zero_cpu -= q.non_zero_cpu;
    non_zero_memory -= q.non_zero_memory;
    if (q.HasAffinity()) --pods_with_affinity;
    if (!q.required_anti_affinity.empty()) --pods_with_required_anti_affinity;
    for (const HostPort& hp : q.host_ports)
      for (size_t j = 0; j < used_ports.size(); ++j)
        if (used_ports[j].port == hp.port && used_ports[j].ip == hp.ip && used_ports[j].protocol == hp.protocol) {
          used_ports.erase(used_ports.begin() + static_cast<long>(j));
          break;
        }
    pods[i] = std::move(pods.back());
    pods.pop_back();
    ++generation;
    return true;
  }
  return false;
}

std::string_view NodeInfo::Label(std::string_view key, bool* found) const {
  *found = false;
  if (!labels || !labels->is_object()) return {};
  auto it = labels->find(key);
  if (it == labels->end() || !it->is_string()) return {};
  *found = true;
  return it->get_ref<const std::string&>();
}

bool MatchesNodeSelectorAndAffinity(const PodInfo& pod, const NodeInfo& node) {
  if (pod.node_selector && pod.node_selector->is_object()) {
    for (auto it = pod.node_selector->begin(); it != pod.node_selector->end(); ++it) {
      bool found = false;
      std::string_view v = node.Label(it.key(), &found);
      if (!found || !it->is_string() || v != it->get_ref<const std::string&>()) return false;
    }
  }
  if (pod.required_node_affinity && !pod.required_node_affinity->Matches(node.labels, node.name)) return false;
  return true;
}

bool ToleratesNodeTaints(const PodInfo& pod, const NodeInfo& node) {
  for (const Taint& t : node.taints) {
    if (t.effect != "NoSchedule" && t.effect != "NoExecute") continue;
    if (!TolerationsTolerate(pod.tolerations, t)) return false;
  }
  return true;
}

const Json* Labels(const Json& obj) { return Obj(Obj(&obj, "metadata"), "labels"); }

std::string LabelValue(const Json* labels, std::string_view key, bool* found) {
  *found = false;
  if (!labels || !labels->is_object()) return {};
  auto it = labels->find(key);
  if (it == labels->end() || !it->is_string()) return {};
  *found = true;
  return it->get<std::string>();
}

}  // namespace tug::scheduler::framework
