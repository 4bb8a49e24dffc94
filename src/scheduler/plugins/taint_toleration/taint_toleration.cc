// TaintToleration: Filter rejects nodes with a NoSchedule/NoExecute taint the pod does not
// tolerate; Score prefers nodes with fewer untolerated PreferNoSchedule taints.
#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;

struct PreScoreState final : StateData {
  std::vector<Toleration> prefer_tolerations;  // tolerations with effect PreferNoSchedule or empty
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<PreScoreState>(*this); }
};

class TaintTolerationPlugin final : public FilterPlugin, public PreScorePlugin, public ScorePlugin {
 public:
  std::string_view Name() const override { return "TaintToleration"; }
  unsigned EventsToRegister() const override { return kNodeAdd | kNodeUpdate; }

  PluginStatus Filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    for (const Taint& t : node.taints) {
      if (t.effect != "NoSchedule" && t.effect != "NoExecute") continue;
      if (TolerationsTolerate(pod.tolerations, t)) continue;
      return PluginStatus(Code::kUnschedulableAndUnresolvable,
                          "node(s) had untolerated taint {" + t.key + ": " + t.value + "}");
    }
    return {};
  }

  PluginStatus PreScore(CycleState& st, const PodInfo& pod, const std::vector<const NodeInfo*>&,
                        const Handle&) const override {
    auto s = std::make_unique<PreScoreState>();
    for (const Toleration& t : pod.tolerations)
      if (t.effect.empty() || t.effect == "PreferNoSchedule") s->prefer_tolerations.push_back(t);
    st.Set(slot(), std::move(s));
    return {};
  }

  int64_t Score(const CycleState& st, const PodInfo&, const NodeInfo& node) const override {
    const auto* s = static_cast<const PreScoreState*>(st.Get(slot()));
    int64_t n = 0;
    for (const Taint& t : node.taints)
      if (t.effect == "PreferNoSchedule" && !(s && TolerationsTolerate(s->prefer_tolerations, t))) ++n;
    return n;
  }

  void NormalizeScore(const CycleState&, const PodInfo&, std::vector<NodeScore>& scores) const override {
    DefaultNormalizeScore(kMaxNodeScore, true, scores);
  }
};
}  // namespace
std::unique_ptr<Plugin> NewTaintToleration(const PluginContext&) { return std::make_unique<TaintTolerationPlugin>(); }
}  // namespace tug::scheduler::plugins
