// NodePorts: a pod's hostPorts (protocol, hostIP, port) must be free on the node; 0.0.0.0
// conflicts with every address.
#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;
class NodePortsPlugin final : public PreFilterPlugin, public FilterPlugin {
 public:
  std::string_view Name() const override { return "NodePorts"; }
  unsigned EventsToRegister() const override { return kNodeAdd | kPodDelete; }
  PluginStatus PreFilter(CycleState&, const PodInfo& pod, const Handle&) const override {
    return pod.host_ports.empty() ? PluginStatus::Skip() : PluginStatus();
  }
  PluginStatus Filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    for (const HostPort& want : pod.host_ports)
      for (const HostPort& used : node.used_ports)
        if (want.Conflicts(used))
          return PluginStatus(Code::kUnschedulable, "node(s) didn't have free ports for the requested pod ports");
    return {};
  }
};
}  // namespace
std::unique_ptr<Plugin> NewNodePorts(const PluginContext&) { return std::make_unique<NodePortsPlugin>(); }
}  // namespace tug::scheduler::plugins
