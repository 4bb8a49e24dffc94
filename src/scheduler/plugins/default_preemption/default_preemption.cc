// DefaultPreemption (PostFilter): when no node fits, find nodes where evicting lower-priority
// pods would make the pod fit, pick the cheapest such node, evict its victims and nominate it.
//  - Eligibility: preemptionPolicy Never, or a terminating lower-priority pod already on the
//    nominated node, means no preemption.
//  - Only nodes whose filter verdict was Unschedulable are tried (UnschedulableAndUnresolvable:
//    "Preemption is not helpful for scheduling").
//  - Victims per node: remove every lower-priority pod; if the pod then fits, add them back
//    highest priority first and keep each one that still lets the pod fit.
//  - Pick: lowest highest-victim priority, then lowest priority sum, then fewest victims.
// PodDisruptionBudgets are not consulted yet.
#include <algorithm>
#include <limits>

#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;

struct Candidate {
  const NodeInfo* node;
  std::vector<PodInfoPtr> victims;
};

class DefaultPreemption final : public PostFilterPlugin {
 public:
  explicit DefaultPreemption(PluginContext ctx) : ctx_(std::move(ctx)) {}
  std::string_view Name() const override { return "DefaultPreemption"; }
  unsigned EventsToRegister() const override { return 0; }

  PluginStatus PostFilter(CycleState& st, const PodInfo& pod,
                          const std::map<std::string, PluginStatus, std::less<>>& statuses,
                          Result* result) const override {
    const Framework* fw = ctx_.framework;
    const Handle* h = ctx_.handle;
    if (!fw || !h) return PluginStatus(Code::kError, "preemption is not configured");
    if (pod.preempt_never)
      return PluginStatus(Code::kUnschedulable, "preemption: not eligible due to preemptionPolicy=Never.");
    const std::vector<const NodeInfo*>& all = h->AllNodes();
    if (!pod.nominated_node_name.empty()) {
      for (const NodeInfo* n : all)
        if (n->name == pod.nominated_node_name) {
          const PluginStatus* s = FindStatus(statuses, n->name);
          if (s && s->code() == Code::kUnschedulableAndUnresolvable) break;
          for (const PodInfoPtr& p : n->pods)
            if (p->terminating && p->priority < pod.priority)
              return PluginStatus(Code::kUnschedulable,
                                  "preemption: not eligible due to a terminating pod on the nominated node.");
        }
    }

    Diagnosis diag;
    std::vector<Candidate> candidates;
    size_t potential = 0;
    for (const NodeInfo* n : all) {
      const PluginStatus* s = FindStatus(statuses, n->name);
      if (!s || s->code() != Code::kUnschedulable) continue;
      ++potential;
    }
    size_t want = std::max<size_t>(all.size() / 10, 100);
    for (const NodeInfo* n : all) {
      const PluginStatus* s = FindStatus(statuses, n->name);
      if (!s || s->code() != Code::kUnschedulable) {
        diag.node_to_status[n->name] =
            PluginStatus(Code::kUnschedulableAndUnresolvable, "Preemption is not helpful for scheduling");
        continue;
      }
      if (candidates.size() >= want) continue;
      std::vector<PodInfoPtr> victims;
      PluginStatus r = SelectVictims(st, pod, *n, &victims);
      if (r.ok()) candidates.push_back({n, std::move(victims)});
      else diag.node_to_status[n->name] = r;
    }
    (void)potential;
    if (candidates.empty()) {
      return PluginStatus(Code::kUnschedulable, "preemption: " + FitErrorMessage(all.size(), diag));
    }
    const Candidate* best = Pick(candidates);
    for (const PodInfoPtr& v : best->victims) {
      if (!ctx_.evict) break;
      Status e = ctx_.evict(*v, pod, best->node->name);
      if (!e.ok() && e.code() != StatusCode::kNotFound) return PluginStatus(Code::kError, e.message());
    }
    if (result) result->nominated_node = best->node->name;
    return {};
  }

 private:
  static const PluginStatus* FindStatus(const std::map<std::string, PluginStatus, std::less<>>& m,
                                        const std::string& n) {
    auto it = m.find(n);
    return it == m.end() ? nullptr : &it->second;
  }

  PluginStatus SelectVictims(const CycleState& st0, const PodInfo& pod, const NodeInfo& node0,
                             std::vector<PodInfoPtr>* victims) const {
    const Framework* fw = ctx_.framework;
    CycleState st = st0.Clone();
    NodeInfo node = node0;  // copy: the dry run edits it
    std::vector<PodInfoPtr> potential;
    for (const PodInfoPtr& p : node0.pods)
      if (p->priority < pod.priority) potential.push_back(p);
    if (potential.empty())
      return PluginStatus(Code::kUnschedulableAndUnresolvable, "No preemption victims found for incoming pod");
    for (const PodInfoPtr& p : potential) {
      node.RemovePod(*p);
      fw->RunPreFilterRemovePod(st, pod, *p, node);
    }
    PluginStatus fits = fw->RunFilter(st, pod, node);
    if (!fits.ok()) return fits;
    std::sort(potential.begin(), potential.end(), [](const PodInfoPtr& a, const PodInfoPtr& b) {
      if (a->priority != b->priority) return a->priority > b->priority;
      return a->creation_unix < b->creation_unix;
    });
    for (const PodInfoPtr& p : potential) {
      node.AddPod(p);
      fw->RunPreFilterAddPod(st, pod, *p, node);
      if (fw->RunFilter(st, pod, node).ok()) continue;  // reprieved
      node.RemovePod(*p);
      fw->RunPreFilterRemovePod(st, pod, *p, node);
      victims->push_back(p);
    }
    return {};
  }

  static const Candidate* Pick(const std::vector<Candidate>& cs) {
    const Candidate* best = nullptr;
    auto key = [](const Candidate& c) {
      int64_t highest = std::numeric_limits<int32_t>::min(), sum = 0;
      for (const auto& v : c.victims) {
        highest = std::max<int64_t>(highest, v->priority);
        sum += v->priority;
      }
      // A node that needs no victims (possible after a concurrent deletion) is best.
      if (c.victims.empty()) highest = std::numeric_limits<int64_t>::min();
      return std::tuple<int64_t, int64_t, size_t>(highest, sum, c.victims.size());
    };
    for (const Candidate& c : cs)
      if (!best || key(c) < key(*best)) best = &c;
    return best;
  }

  PluginContext ctx_;
};
}  // namespace
std::unique_ptr<Plugin> NewDefaultPreemption(const PluginContext& ctx) {
  return std::make_unique<DefaultPreemption>(ctx);
}
}  // namespace tug::scheduler::plugins
