// InterPodAffinity: required and preferred pod affinity / anti-affinity, both the incoming
// pod's terms and the required anti-affinity of pods already placed.
//  - Filter: the incoming pod's required affinity needs a matching pod in the node's domain of
//    every term (the first pod of a group may match itself); its required anti-affinity and the
//    existing pods' required anti-affinity forbid domains holding matching pods.
//  - Score: preferred terms of both sides (and existing pods' required affinity, weight 1) add
//    or subtract their weight for every matching pod in the node's domain; min-max normalized.
#include <limits>
#include <unordered_map>

#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;

constexpr int64_t kHardPodAffinityWeight = 1;

using TopoCounts = std::unordered_map<std::string, std::unordered_map<std::string, int64_t>>;  // key -> value -> n

// Whether `term` (owned by a pod in owner_ns) selects `target`.
bool TermMatches(const AffinityTerm& term, const std::string& owner_ns, const PodInfo& target,
                 const ClusterLister& lister) {
  bool ns_ok;
  if (term.namespaces.empty() && !term.namespace_selector) {
    ns_ok = target.ns == owner_ns;
  } else {
    ns_ok = std::find(term.namespaces.begin(), term.namespaces.end(), target.ns) != term.namespaces.end();
    if (!ns_ok && term.namespace_selector) {
      if (term.namespace_selector->Empty()) ns_ok = true;
      else ns_ok = term.namespace_selector->Matches(lister.NamespaceLabels(target.ns));
    }
  }
  return ns_ok && term.selector.Matches(target.labels);
}

bool MatchesAll(const std::vector<AffinityTerm>& terms, const std::string& owner_ns, const PodInfo& target,
                const ClusterLister& lister) {
  if (terms.empty()) return false;
  for (const auto& t : terms)
    if (!TermMatches(t, owner_ns, target, lister)) return false;
  return true;
}

int64_t Lookup(const TopoCounts& m, const NodeInfo& node, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return 0;
  bool found = false;
  std::string v(node.Label(key, &found));
  if (!found) return 0;
  auto jt = it->second.find(v);
  return jt == it->second.end() ? 0 : jt->second;
}

void Bump(TopoCounts& m, const NodeInfo& node, const std::string& key, int64_t d) {
  bool found = false;
  std::string v(node.Label(key, &found));
  if (found) m[key][v] += d;
}

struct FilterState final : StateData {
  TopoCounts existing_anti, affinity, anti;
  const ClusterLister* lister = nullptr;
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<FilterState>(*this); }
};

struct ScoreState final : StateData {
  TopoCounts scores;
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<ScoreState>(*this); }
};

class InterPodAffinity final : public PreFilterPlugin, public FilterPlugin, public PreScorePlugin,
                               public ScorePlugin {
 public:
  std::string_view Name() const override { return "InterPodAffinity"; }
  unsigned EventsToRegister() const override { return kNodeAdd | kNodeUpdate | kPodAdd | kPodUpdate | kPodDelete | kNamespaceChange; }

  // Accounts one existing pod on `node` into the filter state with sign d.
  void Account(FilterState& s, const PodInfo& pod, const PodInfo& existing, const NodeInfo& node, int64_t d) const {
    for (const auto& t : existing.required_anti_affinity)
      if (TermMatches(t, existing.ns, pod, *s.lister)) Bump(s.existing_anti, node, t.topology_key, d);
    if (MatchesAll(pod.required_affinity, pod.ns, existing, *s.lister))
      for (const auto& t : pod.required_affinity) Bump(s.affinity, node, t.topology_key, d);
    for (const auto& t : pod.required_anti_affinity)
      if (TermMatches(t, pod.ns, existing, *s.lister)) Bump(s.anti, node, t.topology_key, d);
  }

  PluginStatus PreFilter(CycleState& st, const PodInfo& pod, const Handle& h) const override {
    bool own = !pod.required_affinity.empty() || !pod.required_anti_affinity.empty();
    std::vector<const NodeInfo*> with_aff = h.NodesWithAffinityPods();
    bool existing = false;
    for (const NodeInfo* n : with_aff) existing = existing || n->pods_with_required_anti_affinity > 0;
    if (!own && !existing) return PluginStatus::Skip();
    auto s = std::make_unique<FilterState>();
    s->lister = &h.lister();
    if (own) {
      for (const NodeInfo* n : h.AllNodes())
        for (const PodInfoPtr& p : n->pods) Account(*s, pod, *p, *n, 1);
    } else {
      for (const NodeInfo* n : with_aff)
        for (const PodInfoPtr& p : n->pods)
          if (!p->required_anti_affinity.empty()) Account(*s, pod, *p, *n, 1);
    }
    st.Set(slot(), std::move(s));
    return {};
  }
  void AddPod(CycleState& st, const PodInfo& pod, const PodInfo& added, const NodeInfo& node) const override {
    if (auto* s = static_cast<FilterState*>(st.Get(slot()))) Account(*s, pod, added, node, 1);
  }
  void RemovePod(CycleState& st, const PodInfo& pod, const PodInfo& removed, const NodeInfo& node) const override {
    if (auto* s = static_cast<FilterState*>(st.Get(slot()))) Account(*s, pod, removed, node, -1);
  }

  PluginStatus Filter(const CycleState& st, const PodInfo& pod, const NodeInfo& node) const override {
    const auto* s = static_cast<const FilterState*>(st.Get(slot()));
    if (!s) return {};
    // Required affinity.
    if (!pod.required_affinity.empty()) {
      bool pods_exist = true;
      for (const auto& t : pod.required_affinity) {
        bool found = false;
        node.Label(t.topology_key, &found);
        if (!found) return PluginStatus(Code::kUnschedulableAndUnresolvable, "node(s) didn't match pod affinity rules");
        if (Lookup(s->affinity, node, t.topology_key) <= 0) pods_exist = false;
      }
      if (!pods_exist) {
        bool any = false;
        for (const auto& [k, m] : s->affinity)
          for (const auto& [v, n] : m) any = any || n > 0;
        if (any || !MatchesAll(pod.required_affinity, pod.ns, pod, *s->lister))
          return PluginStatus(Code::kUnschedulableAndUnresolvable, "node(s) didn't match pod affinity rules");
      }
    }
    for (const auto& t : pod.required_anti_affinity)
      if (Lookup(s->anti, node, t.topology_key) > 0)
        return PluginStatus(Code::kUnschedulable, "node(s) didn't match pod anti-affinity rules");
    for (const auto& [key, m] : s->existing_anti)
      if (Lookup(s->existing_anti, node, key) > 0)
        return PluginStatus(Code::kUnschedulable, "node(s) didn't satisfy existing pods anti-affinity rules");
    return {};
  }

  PluginStatus PreScore(CycleState& st, const PodInfo& pod, const std::vector<const NodeInfo*>&,
                        const Handle& h) const override {
    bool own = !pod.preferred_affinity.empty() || !pod.preferred_anti_affinity.empty();
    std::vector<const NodeInfo*> with_aff = h.NodesWithAffinityPods();
    if (!own && with_aff.empty()) return PluginStatus::Skip();
    auto s = std::make_unique<ScoreState>();
    const ClusterLister& lister = h.lister();
    auto process = [&](const NodeInfo& n, const PodInfo& e) {
      for (const auto& t : pod.preferred_affinity)
        if (TermMatches(t, pod.ns, e, lister)) Bump(s->scores, n, t.topology_key, t.weight);
      for (const auto& t : pod.preferred_anti_affinity)
        if (TermMatches(t, pod.ns, e, lister)) Bump(s->scores, n, t.topology_key, -t.weight);
      for (const auto& t : e.required_affinity)
        if (TermMatches(t, e.ns, pod, lister)) Bump(s->scores, n, t.topology_key, kHardPodAffinityWeight);
      for (const auto& t : e.preferred_affinity)
        if (TermMatches(t, e.ns, pod, lister)) Bump(s->scores, n, t.topology_key, t.weight);
      for (const auto& t : e.preferred_anti_affinity)
        if (TermMatches(t, e.ns, pod, lister)) Bump(s->scores, n, t.topology_key, -t.weight);
    };
    if (own) {
      for (const NodeInfo* n : h.AllNodes())
        for (const PodInfoPtr& p : n->pods) process(*n, *p);
    } else {
      for (const NodeInfo* n : with_aff)
        for (const PodInfoPtr& p : n->pods)
          if (p->HasAffinity()) process(*n, *p);
    }
    st.Set(slot(), std::move(s));
    return {};
  }

  int64_t Score(const CycleState& st, const PodInfo&, const NodeInfo& node) const override {
    const auto* s = static_cast<const ScoreState*>(st.Get(slot()));
    if (!s) return 0;
    int64_t sum = 0;
    for (const auto& [key, m] : s->scores) sum += Lookup(s->scores, node, key);
    return sum;
  }

  void NormalizeScore(const CycleState&, const PodInfo&, std::vector<NodeScore>& scores) const override {
    if (scores.empty()) return;
    int64_t min = std::numeric_limits<int64_t>::max(), max = std::numeric_limits<int64_t>::min();
    for (const auto& s : scores) {
      min = std::min(min, s.score);
      max = std::max(max, s.score);
    }
    int64_t diff = max - min;
    for (auto& s : scores) s.score = diff > 0 ? kMaxNodeScore * (s.score - min) / diff : 0;
  }
};
}  // namespace
std::unique_ptr<Plugin> NewInterPodAffinity(const PluginContext&) { return std::make_unique<InterPodAffinity>(); }
}  // namespace tug::scheduler::plugins
