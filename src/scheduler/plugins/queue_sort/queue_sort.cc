// PrioritySort: the queue-sort plugin (higher spec.priority first, then earlier enqueue time).
// The scheduling queue implements the ordering; the plugin exists so profiles name it as
// upstream's do.
#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
class PrioritySort final : public framework::Plugin {
 public:
  std::string_view Name() const override { return "PrioritySort"; }
  unsigned EventsToRegister() const override { return 0; }
};
}  // namespace
std::unique_ptr<Plugin> NewPrioritySort(const PluginContext&) { return std::make_unique<PrioritySort>(); }
}  // namespace tug::scheduler::plugins
