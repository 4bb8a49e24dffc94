// PodTopologySpread: spreads matching pods across topology domains.
//  - Filter (whenUnsatisfiable DoNotSchedule): skew = pods in the node's domain + (pod matches
//    itself) - global minimum must not exceed maxSkew; nodes without the key are rejected.
//  - Score (ScheduleAnyway, or the cluster default constraints when the pod has none:
//    hostname maxSkew 3 and zone maxSkew 5, with the selector of the Services / ReplicaSets /
//    StatefulSets / ReplicationControllers that select the pod): fewer matching pods in the
//    node's domain scores higher; counts weighted by log(domains + 2), then min-max reversed.
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;

constexpr const char* kHostname = "kubernetes.io/hostname";
constexpr const char* kZone = "topology.kubernetes.io/zone";

int CountMatching(const NodeInfo& node, const LabelSelector& sel, const std::string& ns) {
  int n = 0;
  for (const PodInfoPtr& p : node.pods)
    if (!p->terminating && p->ns == ns && sel.Matches(p->labels)) ++n;
  return n;
}

bool HasAllKeys(const NodeInfo& node, const std::vector<TopologySpreadConstraint>& cs) {
  for (const auto& c : cs) {
    bool found = false;
    node.Label(c.topology_key, &found);
    if (!found) return false;
  }
  return true;
}

bool NodeCounts(const PodInfo& pod, const TopologySpreadConstraint& c, const NodeInfo& node) {
  if (c.honor_node_affinity && !MatchesNodeSelectorAndAffinity(pod, node)) return false;
  if (c.honor_node_taints && !ToleratesNodeTaints(pod, node)) return false;
  return true;
}

struct FilterState final : StateData {
  std::vector<TopologySpreadConstraint> constraints;
  std::vector<std::unordered_map<std::string, int>> counts;  // per constraint: domain -> matching pods
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<FilterState>(*this); }
  int Min(size_t i) const {
    if (counts[i].size() < static_cast<size_t>(std::max(1, constraints[i].min_domains))) return 0;
    int m = std::numeric_limits<int>::max();
    for (const auto& [d, n] : counts[i]) m = std::min(m, n);
    return m == std::numeric_limits<int>::max() ? 0 : m;
  }
};

struct ScoreState final : StateData {
  std::vector<TopologySpreadConstraint> constraints;
  std::vector<std::unordered_map<std::string, int64_t>> counts;
  std::vector<double> weights;
  std::unordered_set<std::string> ignored;
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<ScoreState>(*this); }
};

class PodTopologySpread final : public PreFilterPlugin, public FilterPlugin, public PreScorePlugin,
                                public ScorePlugin {
 public:
  PodTopologySpread(std::vector<TopologySpreadConstraint> defaults, bool system_defaults)
      : defaults_(std::move(defaults)), system_defaults_(system_defaults) {}
  std::string_view Name() const override { return "PodTopologySpread"; }
  unsigned EventsToRegister() const override { return kNodeAdd | kNodeUpdate | kPodAdd | kPodUpdate | kPodDelete; }

  PluginStatus PreFilter(CycleState& st, const PodInfo& pod, const Handle& h) const override {
    auto s = std::make_unique<FilterState>();
    for (const auto& c : pod.spread_constraints)
      if (c.do_not_schedule) s->constraints.push_back(c);
    if (s->constraints.empty()) return PluginStatus::Skip();
    s->counts.resize(s->constraints.size());
    for (const NodeInfo* n : h.AllNodes()) {
      if (!HasAllKeys(*n, s->constraints)) continue;
      for (size_t i = 0; i < s->constraints.size(); ++i) {
        const auto& c = s->constraints[i];
        if (!NodeCounts(pod, c, *n)) continue;
        bool found = false;
        std::string v(n->Label(c.topology_key, &found));
        s->counts[i][v] += CountMatching(*n, c.selector, pod.ns);
      }
    }
    st.Set(slot(), std::move(s));
    return {};
  }

  void Update(CycleState& st, const PodInfo& pod, const PodInfo& other, const NodeInfo& node, int delta) const {
    auto* s = static_cast<FilterState*>(st.Get(slot()));
    if (!s || other.ns != pod.ns || other.terminating || !HasAllKeys(node, s->constraints)) return;
    for (size_t i = 0; i < s->constraints.size(); ++i) {
      const auto& c = s->constraints[i];
      if (!NodeCounts(pod, c, node) || !c.selector.Matches(other.labels)) continue;
      bool found = false;
      s->counts[i][std::string(node.Label(c.topology_key, &found))] += delta;
    }
  }
  void AddPod(CycleState& st, const PodInfo& pod, const PodInfo& added, const NodeInfo& node) const override {
    Update(st, pod, added, node, 1);
  }
  void RemovePod(CycleState& st, const PodInfo& pod, const PodInfo& removed, const NodeInfo& node) const override {
    Update(st, pod, removed, node, -1);
  }

  PluginStatus Filter(const CycleState& st, const PodInfo& pod, const NodeInfo& node) const override {
    const auto* s = static_cast<const FilterState*>(st.Get(slot()));
    if (!s) return {};
    for (size_t i = 0; i < s->constraints.size(); ++i) {
      const auto& c = s->constraints[i];
      bool found = false;
      std::string v(node.Label(c.topology_key, &found));
      if (!found)
        return PluginStatus(Code::kUnschedulableAndUnresolvable,
                            "node(s) didn't match pod topology spread constraints (missing required label)");
      int self = c.selector.Matches(pod.labels) ? 1 : 0;
      auto it = s->counts[i].find(v);
      int match = it == s->counts[i].end() ? 0 : it->second;
      if (match + self - s->Min(i) > c.max_skew)
        return PluginStatus(Code::kUnschedulable, "node(s) didn't match pod topology spread constraints");
    }
    return {};
  }

  PluginStatus PreScore(CycleState& st, const PodInfo& pod, const std::vector<const NodeInfo*>& nodes,
                        const Handle& h) const override {
    auto s = std::make_unique<ScoreState>();
    bool require_all = false;
    if (!pod.spread_constraints.empty()) {
      for (const auto& c : pod.spread_constraints)
        if (!c.do_not_schedule) s->constraints.push_back(c);
    } else if (!defaults_.empty()) {
      LabelSelector sel = h.lister().DefaultSpreadSelector(pod);
      if (sel.Empty() || sel.MatchesNothing()) return PluginStatus::Skip();
      for (auto c : defaults_) {
        c.selector = sel;
        s->constraints.push_back(std::move(c));
      }
      require_all = true;  // default constraints: nodes must carry every topology key
    }
    if (s->constraints.empty() || nodes.empty()) return PluginStatus::Skip();
    size_t nc = s->constraints.size();
    s->counts.resize(nc);
    std::vector<size_t> sizes(nc, 0);
    for (const NodeInfo* n : nodes) {
      if (require_all && !HasAllKeys(*n, s->constraints)) {
        s->ignored.insert(n->name);
        continue;
      }
      for (size_t i = 0; i < nc; ++i) {
        const auto& c = s->constraints[i];
        if (c.topology_key == kHostname) continue;
        bool found = false;
        std::string v(n->Label(c.topology_key, &found));
        if (!found) continue;
        if (s->counts[i].emplace(v, 0).second) ++sizes[i];
      }
    }
    s->weights.resize(nc);
    for (size_t i = 0; i < nc; ++i) {
      size_t sz = s->constraints[i].topology_key == kHostname ? nodes.size() - s->ignored.size() : sizes[i];
      s->weights[i] = std::log(static_cast<double>(sz + 2));
    }
    bool any_non_host = false;
    for (const auto& c : s->constraints) any_non_host = any_non_host || c.topology_key != kHostname;
    if (any_non_host)
      for (const NodeInfo* n : h.AllNodes()) {
        if (require_all && !HasAllKeys(*n, s->constraints)) continue;
        for (size_t i = 0; i < nc; ++i) {
          const auto& c = s->constraints[i];
          if (c.topology_key == kHostname || !NodeCounts(pod, c, *n)) continue;
          bool found = false;
          std::string v(n->Label(c.topology_key, &found));
          auto it = s->counts[i].find(v);
          if (it == s->counts[i].end()) continue;
          it->second += CountMatching(*n, c.selector, pod.ns);
        }
      }
    st.Set(slot(), std::move(s));
    return {};
  }

  int64_t Score(const CycleState& st, const PodInfo& pod, const NodeInfo& node) const override {
    const auto* s = static_cast<const ScoreState*>(st.Get(slot()));
    if (!s || s->ignored.count(node.name)) return 0;
    double score = 0;
    for (size_t i = 0; i < s->constraints.size(); ++i) {
      const auto& c = s->constraints[i];
      bool found = false;
      std::string v(node.Label(c.topology_key, &found));
      if (!found) continue;
      int64_t cnt;
      if (c.topology_key == kHostname) {
        cnt = CountMatching(node, c.selector, pod.ns);
      } else {
        auto it = s->counts[i].find(v);
        cnt = it == s->counts[i].end() ? 0 : it->second;
      }
      score += static_cast<double>(cnt) * s->weights[i] + static_cast<double>(c.max_skew - 1);
    }
    return static_cast<int64_t>(std::llround(score));
  }

  void NormalizeScore(const CycleState& st, const PodInfo&, std::vector<NodeScore>& scores) const override {
    const auto* s = static_cast<const ScoreState*>(st.Get(slot()));
    if (!s) return;
    int64_t min = std::numeric_limits<int64_t>::max(), max = 0;
    for (const auto& ns : scores) {
      if (s->ignored.count(ns.node->name)) continue;
      min = std::min(min, ns.score);
      max = std::max(max, ns.score);
    }
    for (auto& ns : scores) {
      if (s->ignored.count(ns.node->name)) {
        ns.score = 0;
      } else if (max == 0) {
        ns.score = kMaxNodeScore;
      } else {
        ns.score = kMaxNodeScore * (max + min - ns.score) / max;
      }
    }
  }

 private:
  std::vector<TopologySpreadConstraint> defaults_;
  bool system_defaults_;
};

}  // namespace

std::unique_ptr<Plugin> NewPodTopologySpread(const PluginContext& ctx) {
  std::string type = GetString(ctx.args, "defaultingType", "System");
  std::vector<TopologySpreadConstraint> defaults;
  if (type == "System") {
    TopologySpreadConstraint host;
    host.max_skew = 3;
    host.topology_key = kHostname;
    host.do_not_schedule = false;
    TopologySpreadConstraint zone;
    zone.max_skew = 5;
    zone.topology_key = kZone;
    zone.do_not_schedule = false;
    defaults = {host, zone};
  } else if (type == "List") {
    if (const Json* dc = Find(ctx.args, "defaultConstraints"); dc && dc->is_array())
      for (const Json& c : *dc) {
        TopologySpreadConstraint t;
        if (const Json* m = Find(c, "maxSkew"); m && m->is_number_integer()) t.max_skew = m->get<int32_t>();
        t.topology_key = GetString(c, "topologyKey");
        t.do_not_schedule = GetString(c, "whenUnsatisfiable") != "ScheduleAnyway";
        // Hard default constraints would need the Filter path; only soft ones are honoured.
        if (!t.do_not_schedule) defaults.push_back(std::move(t));
      }
  } else {
    return nullptr;
  }
  return std::make_unique<PodTopologySpread>(std::move(defaults), type == "System");
}

}  // namespace tug::scheduler::plugins
