// The in-tree scheduler plugins and the default registry (name → factory, CONVENTIONS C10).
// Each plugin lives in plugins/<name>/ and exposes only its factory here.
// Thread-safety: see framework.h (plugins are immutable after construction).
#pragma once

#include <memory>

#include "scheduler/framework/framework.h"

namespace tug::scheduler::plugins {

using framework::Plugin;
using framework::PluginContext;

std::unique_ptr<Plugin> NewPrioritySort(const PluginContext& ctx);
std::unique_ptr<Plugin> NewNodeUnschedulable(const PluginContext& ctx);
std::unique_ptr<Plugin> NewNodeName(const PluginContext& ctx);
std::unique_ptr<Plugin> NewTaintToleration(const PluginContext& ctx);
std::unique_ptr<Plugin> NewNodeAffinity(const PluginContext& ctx);
std::unique_ptr<Plugin> NewNodePorts(const PluginContext& ctx);
// args: {"scoringStrategy":{"type":"LeastAllocated"|"MostAllocated","resources":[{"name":"cpu","weight":1},...]}}
std::unique_ptr<Plugin> NewNodeResourcesFit(const PluginContext& ctx);
std::unique_ptr<Plugin> NewNodeResourcesBalancedAllocation(const PluginContext& ctx);
std::unique_ptr<Plugin> NewVolumeBinding(const PluginContext& ctx);
// args: {"defaultingType":"System"|"List","defaultConstraints":[...]}
std::unique_ptr<Plugin> NewPodTopologySpread(const PluginContext& ctx);
std::unique_ptr<Plugin> NewInterPodAffinity(const PluginContext& ctx);
std::unique_ptr<Plugin> NewDefaultPreemption(const PluginContext& ctx);
std::unique_ptr<Plugin> NewImageLocality(const PluginContext& ctx);
std::unique_ptr<Plugin> NewDefaultBinder(const PluginContext& ctx);

// All of the above under their upstream names.
framework::Registry DefaultRegistry();

}  // namespace tug::scheduler::plugins
