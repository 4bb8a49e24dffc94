// NodeAffinity: Filter enforces spec.nodeSelector and requiredDuringScheduling node affinity;
// Score sums the weights of matching preferredDuringScheduling terms (normalized to 0..100).
#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;

class NodeAffinityPlugin final : public PreFilterPlugin, public FilterPlugin, public PreScorePlugin,
                                 public ScorePlugin {
 public:
  std::string_view Name() const override { return "NodeAffinity"; }
  unsigned EventsToRegister() const override { return kNodeAdd | kNodeUpdate; }

  PluginStatus PreFilter(CycleState&, const PodInfo& pod, const Handle&) const override {
    bool has_selector = pod.node_selector && pod.node_selector->is_object() && !pod.node_selector->empty();
    if (!has_selector && !pod.required_node_affinity) return PluginStatus::Skip();
    // A required affinity with no usable terms matches no node at all.
    return {};
  }

  PluginStatus Filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    if (MatchesNodeSelectorAndAffinity(pod, node)) return {};
    return PluginStatus(Code::kUnschedulableAndUnresolvable, "node(s) didn't match Pod's node affinity/selector");
  }

  PluginStatus PreScore(CycleState&, const PodInfo& pod, const std::vector<const NodeInfo*>&,
                        const Handle&) const override {
    return pod.preferred_node_affinity.empty() ? PluginStatus::Skip() : PluginStatus();
  }

  int64_t Score(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    int64_t sum = 0;
    for (const auto& t : pod.preferred_node_affinity)
      if (t.term.Matches(node.labels, node.name)) sum += t.weight;
    return sum;
  }

  void NormalizeScore(const CycleState&, const PodInfo&, std::vector<NodeScore>& scores) const override {
    DefaultNormalizeScore(kMaxNodeScore, false, scores);
  }
};
}  // namespace
std::unique_ptr<Plugin> NewNodeAffinity(const PluginContext&) { return std::make_unique<NodeAffinityPlugin>(); }
}  // namespace tug::scheduler::plugins
