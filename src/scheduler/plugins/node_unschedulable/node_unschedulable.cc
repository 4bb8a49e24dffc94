// NodeUnschedulable: rejects cordoned nodes (spec.unschedulable) unless the pod tolerates the
// node.kubernetes.io/unschedulable:NoSchedule taint.
#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;
class NodeUnschedulable final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "NodeUnschedulable"; }
  unsigned EventsToRegister() const override { return kNodeAdd | kNodeUpdate; }
  PluginStatus Filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    if (!node.unschedulable) return {};
    static const Taint kTaint{"node.kubernetes.io/unschedulable", "", "NoSchedule"};
    if (TolerationsTolerate(pod.tolerations, kTaint)) return {};
    return PluginStatus(Code::kUnschedulableAndUnresolvable, "node(s) were unschedulable");
  }
};
}  // namespace
std::unique_ptr<Plugin> NewNodeUnschedulable(const PluginContext&) { return std::make_unique<NodeUnschedulable>(); }
}  // namespace tug::scheduler::plugins
