// VolumeBinding: pods using PersistentVolumeClaims.
//  - PreFilter: every claim must exist and not be terminating; an unbound claim must use a
//    StorageClass with volumeBindingMode WaitForFirstConsumer (delayed binding), otherwise the
//    pod waits for the claim to be bound ("pod has unbound immediate PersistentVolumeClaims").
//  - Filter: a bound claim's PV must exist and its spec.nodeAffinity must match the node; a
//    delayed claim needs either a provisioner allowed on the node (allowedTopologies) or an
//    available static PV of that class that fits (capacity, access modes, node affinity).
//  - PreBind: delayed claims get the volume.kubernetes.io/selected-node annotation, which is
//    what dynamic provisioners wait for. (tug has no PV binder yet; static PVs are not bound
//    to claims by the scheduler.)
#include <algorithm>

#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;

constexpr const char* kNoProvisioner = "kubernetes.io/no-provisioner";

struct Delayed {
  ObjectPtr pvc;
  ObjectPtr sc;
};

struct State final : StateData {
  std::vector<ObjectPtr> bound_pvs;  // null entries: the claim names a PV that does not exist
  std::vector<Delayed> delayed;
  std::vector<ObjectPtr> static_pvs;  // candidate PVs for delayed no-provisioner claims
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<State>(*this); }
};

std::string ClassOf(const Json& pvc) {
  std::string c = GetStringPath(pvc, {"spec", "storageClassName"});
  if (c.empty()) c = GetStringPath(pvc, {"metadata", "annotations", "volume.beta.kubernetes.io/storage-class"});
  return c;
}

bool PvNodeAffinityMatches(const Json& pv, const NodeInfo& node) {
  const Json* req = FindPath(pv, {"spec", "nodeAffinity", "required"});
  if (!req) return true;
  return NodeSelector::FromJson(req).Matches(node.labels, node.name);
}

bool AllowedTopologiesMatch(const Json& sc, const NodeInfo& node) {
  const Json* at = Find(sc, "allowedTopologies");
  if (!at || !at->is_array() || at->empty()) return true;
  for (const Json& term : *at) {
    const Json* exprs = Find(term, "matchLabelExpressions");
    bool ok = true;
    if (exprs && exprs->is_array())
      for (const Json& e : *exprs) {
        bool found = false;
        std::string_view v = node.Label(GetString(e, "key"), &found);
        const Json* vals = Find(e, "values");
        bool in = false;
        if (found && vals && vals->is_array())
          for (const Json& x : *vals)
            if (x.is_string() && x.get_ref<const std::string&>() == v) in = true;
        if (!in) { ok = false; break; }
      }
    if (ok) return true;
  }
  return false;
}

int64_t Storage(const Json* list) {
  if (!list) return 0;
  const Json* s = Find(*list, "storage");
  if (!s) return 0;
  return ParseQuantityScaled(*s, 1).value_or(0);
}

bool PvFits(const Json& pv, const Json& pvc, const std::string& cls, const NodeInfo& node) {
  if (FindPath(pv, {"spec", "claimRef"})) return false;
  std::string phase = GetStringPath(pv, {"status", "phase"});
  if (!phase.empty() && phase != "Available") return false;
  if (GetStringPath(pv, {"spec", "storageClassName"}) != cls) return false;
  if (Storage(FindPath(pv, {"spec", "capacity"})) < Storage(FindPath(pvc, {"spec", "resources", "requests"})))
    return false;
  const Json* want = FindPath(pvc, {"spec", "accessModes"});
  const Json* have = FindPath(pv, {"spec", "accessModes"});
  if (want && want->is_array())
    for (const Json& m : *want) {
      bool ok = false;
      if (have && have->is_array())
        for (const Json& h : *have) ok = ok || h == m;
      if (!ok) return false;
    }
  return PvNodeAffinityMatches(pv, node);
}

class VolumeBinding final : public PreFilterPlugin, public FilterPlugin, public PreBindPlugin {
 public:
  explicit VolumeBinding(PluginContext ctx) : ctx_(std::move(ctx)) {}
  std::string_view Name() const override { return "VolumeBinding"; }
  unsigned EventsToRegister() const override {
    return kNodeAdd | kNodeUpdate | kPvcChange | kPvChange | kStorageClassChange;
  }

  PluginStatus PreFilter(CycleState& st, const PodInfo& pod, const Handle& h) const override {
    if (pod.pvc_names.empty()) return PluginStatus::Skip();
    auto s = std::make_unique<State>();
    bool need_static = false;
    for (const std::string& name : pod.pvc_names) {
      ObjectPtr pvc = h.lister().GetPvc(pod.ns, name);
      if (!pvc)
        return PluginStatus(Code::kUnschedulableAndUnresolvable, "persistentvolumeclaim \"" + name + "\" not found");
      if (FindPath(*pvc, {"metadata", "deletionTimestamp"}))
        return PluginStatus(Code::kUnschedulableAndUnresolvable,
                            "persistentvolumeclaim \"" + name + "\" is being deleted");
      std::string vol = GetStringPath(*pvc, {"spec", "volumeName"});
      if (!vol.empty()) {
        s->bound_pvs.push_back(h.lister().GetPv(vol));
        continue;
      }
      ObjectPtr sc = h.lister().GetStorageClass(ClassOf(*pvc));
      if (!sc || GetString(*sc, "volumeBindingMode") != "WaitForFirstConsumer")
        return PluginStatus(Code::kUnschedulableAndUnresolvable, "pod has unbound immediate PersistentVolumeClaims");
      if (GetString(*sc, "provisioner") == kNoProvisioner) need_static = true;
      s->delayed.push_back({pvc, sc});
    }
    if (need_static) s->static_pvs = h.lister().ListPvs();
    st.Set(slot(), std::move(s));
    return {};
  }

  PluginStatus Filter(const CycleState& st, const PodInfo&, const NodeInfo& node) const override {
    const auto* s = static_cast<const State*>(st.Get(slot()));
    if (!s) return {};
    for (const ObjectPtr& pv : s->bound_pvs) {
      if (!pv)
        return PluginStatus(Code::kUnschedulableAndUnresolvable,
                            "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)");
      if (!PvNodeAffinityMatches(*pv, node))
        return PluginStatus(Code::kUnschedulableAndUnresolvable, "node(s) had volume node affinity conflict");
    }
    std::vector<const Json*> taken;
    for (const Delayed& d : s->delayed) {
      bool ok = false;
      if (GetString(*d.sc, "provisioner") != kNoProvisioner) {
        ok = AllowedTopologiesMatch(*d.sc, node);
      } else {
        std::string cls = ClassOf(*d.pvc);
        for (const ObjectPtr& pv : s->static_pvs)
          if (std::find(taken.begin(), taken.end(), pv.get()) == taken.end() && PvFits(*pv, *d.pvc, cls, node)) {
            taken.push_back(pv.get());
            ok = true;
            break;
          }
      }
      if (!ok)
        return PluginStatus(Code::kUnschedulableAndUnresolvable,
                            "node(s) didn't find available persistent volumes to bind");
    }
    return {};
  }

  PluginStatus PreBind(CycleState& st, const PodInfo& pod, const std::string& node) const override {
    const auto* s = static_cast<const State*>(st.Get(slot()));
    if (!s || !ctx_.select_pvc_node) return {};
    for (const Delayed& d : s->delayed) {
      if (GetString(*d.sc, "provisioner") == kNoProvisioner) continue;
      Status r = ctx_.select_pvc_node(pod.ns, GetStringPath(*d.pvc, {"metadata", "name"}), node);
      if (!r.ok()) return PluginStatus(Code::kError, r.message());
    }
    return {};
  }

 private:
  PluginContext ctx_;
};
}  // namespace
std::unique_ptr<Plugin> NewVolumeBinding(const PluginContext& ctx) { return std::make_unique<VolumeBinding>(ctx); }
}  // namespace tug::scheduler::plugins
