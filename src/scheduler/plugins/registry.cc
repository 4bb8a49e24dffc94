#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {

framework::Registry DefaultRegistry() {
  framework::Registry r;
  struct Entry {
    const char* name;
    framework::PluginFactory f;
  };
  const Entry entries[] = {
      {"PrioritySort", NewPrioritySort},
      {"NodeUnschedulable", NewNodeUnschedulable},
      {"NodeName", NewNodeName},
      {"TaintToleration", NewTaintToleration},
      {"NodeAffinity", NewNodeAffinity},
      {"NodePorts", NewNodePorts},
      {"NodeResourcesFit", NewNodeResourcesFit},
      {"NodeResourcesBalancedAllocation", NewNodeResourcesBalancedAllocation},
      {"VolumeBinding", NewVolumeBinding},
      {"PodTopologySpread", NewPodTopologySpread},
      {"InterPodAffinity", NewInterPodAffinity},
      {"DefaultPreemption", NewDefaultPreemption},
      {"ImageLocality", NewImageLocality},
      {"DefaultBinder", NewDefaultBinder},
  };
  for (const Entry& e : entries) {
    Status s = r.Register(e.name, e.f);
    // Names are compile-time constants; a duplicate is a programming error.
    if (!s.ok()) abort();
  }
  return r;
}

}  // namespace tug::scheduler::plugins
