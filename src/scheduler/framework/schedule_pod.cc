#include "scheduler/framework/schedule_pod.h"

#include <algorithm>
#include <atomic>
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
                                     const NodeInfo& node, const Handle& h, bool any_nominated) {
  if (!any_nominated) return fw.RunFilter(st, pod, node);
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

  // Looked up once per cycle: with no nominated pods (the common case) filtering a node is just
  // the filter plugins.
  const bool any_nominated = h.HasNominatedPods();
  // A nominated node (set by an earlier preemption) is tried first.
  if (!pod.nominated_node_name.empty()) {
    for (const NodeInfo* n : nodes)
      if (n->name == pod.nominated_node_name) {
        if (FilterWithNominatedPods(fw, st, pod, *n, h, any_nominated).ok()) {
          r.node = n->name;
          r.evaluated = r.feasible = 1;
          return r;
        }
        break;
      }
  }

  const size_t num = nodes.size();
  const size_t want = NumFeasibleNodesToFind(num, fw.profile().percentage_of_nodes_to_score);
  const size_t start = ss.next_start_index % num;
  // Filter chunk by chunk (position p in rotation order is node (start + p) % num) until `want`
  // feasible nodes are found; chunks are handed out in order, so the ones that ran are a prefix.
  constexpr size_t kChunk = 32;
  const size_t num_chunks = (num + kChunk - 1) / kChunk;
  if (ss.chunks.size() < num_chunks) ss.chunks.resize(num_chunks);
  std::atomic<size_t> found{0};
  const CycleState& cst = st;
  auto filter_chunk = [&](size_t c) {
    ScheduleState::FilterChunk& ch = ss.chunks[c];
    ch.feasible.clear();
    ch.rejected.clear();
    ch.has_error = false;
    size_t end = std::min(num, (c + 1) * kChunk);
    for (size_t p = c * kChunk; p < end; ++p) {
      PluginStatus s = FilterWithNominatedPods(fw, cst, pod, *nodes[(start + p) % num], h, any_nominated);
      if (s.ok()) {
        ch.feasible.push_back(static_cast<uint32_t>(p));
      } else if (s.code() == Code::kError) {
        ch.has_error = true;
        ch.error_pos = static_cast<uint32_t>(p);
        ch.error = std::move(s);
        return false;
      } else {
        ch.rejected.emplace_back(static_cast<uint32_t>(p), std::move(s));
      }
    }
    return found.fetch_add(ch.feasible.size(), std::memory_order_relaxed) + ch.feasible.size() < want;
  };
  size_t ran = 0;
  if (ss.parallel && ss.parallel->parallelism() > 1) {
    ran = ss.parallel->Until(num_chunks, filter_chunk);
  } else {
    while (ran < num_chunks && filter_chunk(ran++)) {
    }
  }
  // Merge the chunks in order, stopping at the want-th feasible node, as a sequential loop would.
  std::vector<const NodeInfo*> feasible;
  feasible.reserve(std::min(want, num));
  std::vector<std::pair<const NodeInfo*, PluginStatus>> rejected;
  size_t evaluated = 0;
  for (size_t c = 0; c < ran; ++c) {
    ScheduleState::FilterChunk& ch = ss.chunks[c];
    size_t cut = std::min(num, (c + 1) * kChunk);  // first position not taken from this chunk
    if (feasible.size() + ch.feasible.size() >= want) cut = ch.feasible[want - feasible.size() - 1] + 1;
    if (ch.has_error && ch.error_pos < cut) {
      r.status = std::move(ch.error);
      return r;
    }
    for (uint32_t p : ch.feasible) {
      if (p >= cut) break;
      feasible.push_back(nodes[(start + p) % num]);
    }
    for (auto& [p, s] : ch.rejected) {
      if (p >= cut) break;
      rejected.emplace_back(nodes[(start + p) % num], std::move(s));
    }
    evaluated = cut;
    if (feasible.size() >= want) break;
  }
  r.evaluated = evaluated;
  ss.next_start_index = (start + evaluated) % num;
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
  std::vector<int64_t> scores = fw.RunScore(st, pod, feasible, h, ss.parallel);
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
