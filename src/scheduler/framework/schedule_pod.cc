#include "scheduler/framework/schedule_pod.h"

#include <algorithm>
#include <set>

namespace tug::scheduler::framework {

size_t NumFeasibleNodesToFind(size_t n, int32_t percentage) {
  constexpr size_t kMinFeasible = 100;
  if (n < kMinFeasible) return n;
  int64_t pct = percentage;
  if (pct <= 0) {
    pct = 50 - static_cast<int64_t>(n) / 125;
    if (pct < 5) pct = 5;
  }
  if (pct >= 100) return n;
  size_t num = n * static_cast<size_t>(pct) / 100;
  return std::max(num, kMinFeasible);
}

namespace {

void FailAll(ScheduleResult& r, const std::vector<const NodeInfo*>& nodes, const PluginStatus& s) {
  for (const NodeInfo* n : nodes) r.diagnosis.node_to_status[n->name] = s;
}

}  // namespace

PluginStatus FilterWithNominatedPods(const Framework& fw, const CycleState& st, const PodInfo& pod,
                                     const NodeInfo& node, const Handle& h) {
  std::vector<PodInfoPtr> nominated = h.NominatedPodsForNode(node.name);
  bool any = false;
  for (const PodInfoPtr& p : nominated) any = any || (p->key != pod.key && p->priority >= pod.priority);
  if (any) {
    CycleState with = st.Clone();
    NodeInfo copy = node;
    for (const PodInfoPtr& p : nominated) {
      if (p->key == pod.key || p->priority < pod.priority) continue;
      copy.AddPod(p);
      fw.RunPreFilterAddPod(with, pod, *p, copy);
    }
    PluginStatus s = fw.RunFilter(with, pod, copy);
    if (!s.ok()) return s;
  }
  return fw.RunFilter(st, pod, node);
}

ScheduleResult SchedulePod(const Framework& fw, CycleState& st, const PodInfo& pod, const Handle& h,
                           ScheduleState& ss) {
  ScheduleResult r;
  const std::vector<const NodeInfo*>& nodes = h.AllNodes();
  if (nodes.empty()) {
    r.fit_error = true;
    r.status = PluginStatus(Code::kUnschedulableAndUnresolvable, "no nodes available to schedule pods");
    return r;
  }
  PluginStatus pre = fw.RunPreFilter(st, pod, h);
  if (!pre.ok()) {
    if (pre.code() == Code::kError) {
      r.status = pre;
      return r;
    }
    r.fit_error = true;
    r.diagnosis.pre_filter_msg = pre.Message();
    r.diagnosis.unschedulable_plugins.push_back(pre.plugin());
    FailAll(r, nodes, pre);
    r.status = PluginStatus(pre.code(), FitErrorMessage(nodes.size(), r.diagnosis));
    return r;
  }

  // A nominated node (set by an earlier preemption) is tried first.
  if (!pod.nominated_node_name.empty()) {
    for (const NodeInfo* n : nodes)
      if (n->name == pod.nominated_node_name) {
        if (FilterWithNominatedPods(fw, st, pod, *n, h).ok()) {
          r.node = n->name;
          r.evaluated = r.feasible = 1;
          return r;
        }
        break;
      }
  }

  size_t want = NumFeasibleNodesToFind(nodes.size(), fw.profile().percentage_of_nodes_to_score);
  std::vector<const NodeInfo*> feasible;
  feasible.reserve(std::min(want, nodes.size()));
  std::vector<std::pair<const NodeInfo*, PluginStatus>> rejected;
  size_t start = ss.next_start_index % nodes.size();
  size_t i = 0;
  for (; i < nodes.size() && feasible.size() < want; ++i) {
    const NodeInfo* n = nodes[(start + i) % nodes.size()];
    PluginStatus s = FilterWithNominatedPods(fw, st, pod, *n, h);
    if (s.ok()) {
      feasible.push_back(n);
    } else if (s.code() == Code::kError) {
      r.status = s;
      return r;
    } else {
      rejected.emplace_back(n, std::move(s));
    }
  }
  r.evaluated = i;
  ss.next_start_index = (start + i) % nodes.size();
  r.feasible = feasible.size();

  if (feasible.empty()) {
    r.fit_error = true;
    std::set<std::string> plugins;
    for (auto& [n, s] : rejected) {
      plugins.insert(s.plugin());
      r.diagnosis.node_to_status[n->name] = std::move(s);
    }
    r.diagnosis.unschedulable_plugins.assign(plugins.begin(), plugins.end());
    r.status = PluginStatus(Code::kUnschedulable, FitErrorMessage(nodes.size(), r.diagnosis));
    return r;
  }
  if (feasible.size() == 1) {
    r.node = feasible[0]->name;
    return r;
  }
  std::vector<int64_t> scores = fw.RunScore(st, pod, feasible, h);
  // Highest total; ties broken uniformly at random (reservoir sampling), as upstream.
  int64_t best = scores[0];
  size_t best_i = 0, ties = 1;
  for (size_t k = 1; k < scores.size(); ++k) {
    if (scores[k] > best) {
      best = scores[k];
      best_i = k;
      ties = 1;
    } else if (scores[k] == best) {
      ++ties;
      if (std::uniform_int_distribution<size_t>(0, ties - 1)(ss.rng) == 0) best_i = k;
    }
  }
  r.node = feasible[best_i]->name;
  return r;
}

}  // namespace tug::scheduler::framework
