// DefaultBinder: binds through the API (POST pods/NAME/binding), via the scheduler-provided
// bind function in the PluginContext.
#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;
class DefaultBinder final : public BindPlugin {
 public:
  explicit DefaultBinder(PluginContext ctx) : ctx_(std::move(ctx)) {}
  std::string_view Name() const override { return "DefaultBinder"; }
  unsigned EventsToRegister() const override { return 0; }
  PluginStatus Bind(CycleState&, const PodInfo& pod, const std::string& node) const override {
    if (!ctx_.bind) return PluginStatus(Code::kError, "no binder configured");
    Status s = ctx_.bind(pod, node);
    if (!s.ok()) return PluginStatus(Code::kError, s.message());
    return {};
  }

 private:
  PluginContext ctx_;
};
}  // namespace
std::unique_ptr<Plugin> NewDefaultBinder(const PluginContext& ctx) { return std::make_unique<DefaultBinder>(ctx); }
}  // namespace tug::scheduler::plugins
