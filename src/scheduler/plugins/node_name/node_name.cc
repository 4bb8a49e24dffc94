// NodeName: a pod that names a node (spec.nodeName) fits only that node. Pods with nodeName are
// normally never queued (they are bound already); this covers pods handed to the framework
// directly (preemption, tests).
#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;
class NodeName final : public FilterPlugin {
 public:
  std::string_view Name() const override { return "NodeName"; }
  unsigned EventsToRegister() const override { return kNodeAdd; }
  PluginStatus Filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    if (pod.node_name.empty() || pod.node_name == node.name) return {};
    return PluginStatus(Code::kUnschedulableAndUnresolvable, "node(s) didn't match the requested node name");
  }
};
}  // namespace
std::unique_ptr<Plugin> NewNodeName(const PluginContext&) { return std::make_unique<NodeName>(); }
}  // namespace tug::scheduler::plugins
