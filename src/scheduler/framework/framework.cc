#include "scheduler/framework/framework.h"

#include <algorithm>

#include "scheduler/framework/parallelizer.h"

namespace tug::scheduler::framework {

std::string PluginStatus::Message() const {
  std::string out;
  for (const auto& r : reasons_) {
    if (!out.empty()) out += ", ";
    out += r;
  }
  return out;
}

CycleState CycleState::Clone() const {
  CycleState c(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i]) c.slots_[i] = slots_[i]->Clone();
  c.skip_filter = skip_filter;
  c.active_filters = active_filters;
  c.active_filters_set = active_filters_set;
  c.skip_score = skip_score;
  return c;
}

void DefaultNormalizeScore(int64_t max_priority, bool reverse, std::vector<NodeScore>& scores) {
  int64_t max_count = 0;
  for (const auto& s : scores) max_count = std::max(max_count, s.score);
  if (max_count == 0) {
    if (reverse)
      for (auto& s : scores) s.score = max_priority;
    return;
  }
  for (auto& s : scores) {
    int64_t v = max_priority * s.score / max_count;
    s.score = reverse ? max_priority - v : v;
  }
}

Status Registry::Register(std::string name, PluginFactory f) {
  if (factories_.count(name)) return AlreadyExistsError("scheduler plugin \"" + name + "\" registered twice");
  factories_.emplace(std::move(name), std::move(f));
  return Status::Ok();
}

const PluginFactory* Registry::Find(std::string_view name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

Profile DefaultProfile() {
  Profile p;
  // Upstream's default plugin set (v1 KubeSchedulerConfiguration defaults) and score weights.
  p.plugins = {
      {"PrioritySort", 1, Json::object()},
      {"NodeUnschedulable", 1, Json::object()},
      {"NodeName", 1, Json::object()},
      {"TaintToleration", 3, Json::object()},
      {"NodeAffinity", 2, Json::object()},
      {"NodePorts", 1, Json::object()},
      {"NodeResourcesFit", 1, Json::object()},
      {"VolumeBinding", 1, Json::object()},
      {"PodTopologySpread", 2, Json::object()},
      {"InterPodAffinity", 2, Json::object()},
      {"DefaultPreemption", 1, Json::object()},
      {"NodeResourcesBalancedAllocation", 1, Json::object()},
      {"ImageLocality", 1, Json::object()},
      {"DefaultBinder", 1, Json::object()},
  };
  return p;
}

std::string FitErrorMessage(size_t num_all_nodes, const Diagnosis& d) {
  std::string msg = "0/" + std::to_string(num_all_nodes) + " nodes are available:";
  if (!d.pre_filter_msg.empty()) {
    msg += " " + d.pre_filter_msg + ".";
  } else {
    std::map<std::string, int> hist;
    for (const auto& [node, st] : d.node_to_status)
      for (const auto& r : st.reasons()) hist[r]++;
    std::vector<std::string> parts;
    for (const auto& [r, n] : hist) parts.push_back(std::to_string(n) + " " + r);
    std::sort(parts.begin(), parts.end());
    std::string joined;
    for (const auto& p : parts) {
      if (!joined.empty()) joined += ", ";
      joined += p;
    }
    msg += " " + joined + ".";
  }
  if (!d.post_filter_msg.empty()) msg += " " + d.post_filter_msg;
  return msg;
}

Result<std::unique_ptr<Framework>> Framework::Create(const Registry& reg, const Profile& profile, PluginContext ctx) {
  std::unique_ptr<Framework> fw(new Framework());
  fw->profile_ = profile;
  fw->ctx_ = std::move(ctx);
  fw->ctx_.framework = fw.get();
  for (const auto& pc : profile.plugins) {
    const PluginFactory* f = reg.Find(pc.name);
    if (!f) return NotFoundError("scheduler plugin \"" + pc.name + "\" is not registered");
    PluginContext c = fw->ctx_;
    c.args = pc.args;
    std::unique_ptr<Plugin> p = (*f)(c);
    if (!p) return InvalidError("scheduler plugin \"" + pc.name + "\": factory failed (bad args?)");
    p->SetSlot(fw->plugins_.size());
    if (auto* x = dynamic_cast<const PreFilterPlugin*>(p.get())) fw->pre_filter_.push_back(x);
    if (auto* x = dynamic_cast<const FilterPlugin*>(p.get())) fw->filter_.push_back(x);
    if (auto* x = dynamic_cast<const PostFilterPlugin*>(p.get())) fw->post_filter_.push_back(x);
    if (auto* x = dynamic_cast<const PreScorePlugin*>(p.get())) fw->pre_score_.push_back(x);
    if (auto* x = dynamic_cast<const ScorePlugin*>(p.get())) fw->score_.push_back({x, pc.weight});
    if (auto* x = dynamic_cast<const ReservePlugin*>(p.get())) fw->reserve_.push_back(x);
    if (auto* x = dynamic_cast<const PermitPlugin*>(p.get())) fw->permit_.push_back(x);
    if (auto* x = dynamic_cast<const PreBindPlugin*>(p.get())) fw->pre_bind_.push_back(x);
    if (auto* x = dynamic_cast<const BindPlugin*>(p.get())) fw->bind_.push_back(x);
    fw->plugins_.push_back(std::move(p));
  }
  // Cheap, most selective filters first: the profile's order already puts them first (as
  // upstream's default order does); nothing to reorder here.
  return fw;
}

PluginStatus Framework::RunPreFilter(CycleState& st, const PodInfo& pod, const Handle& h) const {
  st.skip_filter.assign(plugins_.size(), false);
  st.active_filters_set = false;
  for (const PreFilterPlugin* p : pre_filter_) {
    PluginStatus s = p->PreFilter(st, pod, h);
    if (s.IsSkip()) {
      st.skip_filter[p->slot()] = true;
      continue;
    }
    if (!s.ok()) return s.WithPlugin(std::string(p->Name()));
  }
  st.active_filters.clear();
  for (const FilterPlugin* p : filter_)
    if (!st.skip_filter[p->slot()]) st.active_filters.push_back(p);
  st.active_filters_set = true;
  return {};
}

PluginStatus Framework::RunFilter(const CycleState& st, const PodInfo& pod, const NodeInfo& node) const {
  const bool listed = st.active_filters_set;
  for (const FilterPlugin* p : listed ? st.active_filters : filter_) {
    if (!listed && p->slot() < st.skip_filter.size() && st.skip_filter[p->slot()]) continue;
    PluginStatus s = p->Filter(st, pod, node);
    if (!s.ok()) {
      // An Error from a filter is kept as is; the cycle aborts on it.
      return s.WithPlugin(std::string(p->Name()));
    }
  }
  return {};
}

void Framework::RunPreFilterAddPod(CycleState& st, const PodInfo& pod, const PodInfo& added, const NodeInfo& node) const {
  for (const PreFilterPlugin* p : pre_filter_)
    if (!(p->slot() < st.skip_filter.size() && st.skip_filter[p->slot()])) p->AddPod(st, pod, added, node);
}
void Framework::RunPreFilterRemovePod(CycleState& st, const PodInfo& pod, const PodInfo& removed,
                                      const NodeInfo& node) const {
  for (const PreFilterPlugin* p : pre_filter_)
    if (!(p->slot() < st.skip_filter.size() && st.skip_filter[p->slot()])) p->RemovePod(st, pod, removed, node);
}

PluginStatus Framework::RunPostFilter(CycleState& st, const PodInfo& pod,
                                      const std::map<std::string, PluginStatus, std::less<>>& statuses,
                                      PostFilterPlugin::Result* result) const {
  PluginStatus last(Code::kUnschedulable, std::vector<std::string>{});
  for (const PostFilterPlugin* p : post_filter_) {
    PluginStatus s = p->PostFilter(st, pod, statuses, result);
    if (s.ok()) return s;
    if (s.code() == Code::kError) return s.WithPlugin(std::string(p->Name()));
    last = s;
  }
  return last;
}

std::vector<int64_t> Framework::RunScore(CycleState& st, const PodInfo& pod, const std::vector<const NodeInfo*>& nodes,
                                         const Handle& h, Parallelizer* par) const {
  std::vector<int64_t> total(nodes.size(), 0);
  st.skip_score.assign(plugins_.size(), false);
  for (const PreScorePlugin* p : pre_score_) {
    PluginStatus s = p->PreScore(st, pod, nodes, h);
    if (s.IsSkip() || !s.ok()) st.skip_score[p->slot()] = true;
  }
  std::vector<std::pair<const ScorePlugin*, int32_t>> active;
  for (const auto& pw : score_)
    if (!st.skip_score[pw.first->slot()]) active.push_back(pw);
  if (active.empty()) return total;
  // Raw scores of every active plugin (one row each), computed node chunk by node chunk, then
  // normalized and weighted plugin by plugin.
  std::vector<std::vector<NodeScore>> raw(active.size(), std::vector<NodeScore>(nodes.size()));
  constexpr size_t kChunk = 64;
  size_t chunks = (nodes.size() + kChunk - 1) / kChunk;
  const CycleState& cst = st;
  auto score_chunk = [&](size_t c) {
    size_t end = std::min(nodes.size(), (c + 1) * kChunk);
    for (size_t k = 0; k < active.size(); ++k)
      for (size_t i = c * kChunk; i < end; ++i) raw[k][i] = {nodes[i], active[k].first->Score(cst, pod, *nodes[i])};
    return true;
  };
  if (par && chunks > 1) {
    par->Until(chunks, score_chunk);
  } else {
    for (size_t c = 0; c < chunks; ++c) score_chunk(c);
  }
  for (size_t k = 0; k < active.size(); ++k) {
    active[k].first->NormalizeScore(st, pod, raw[k]);
    for (size_t i = 0; i < nodes.size(); ++i) total[i] += raw[k][i].score * active[k].second;
  }
  return total;
}

PluginStatus Framework::RunReserve(CycleState& st, const PodInfo& pod, const std::string& node) const {
  for (const ReservePlugin* p : reserve_) {
    PluginStatus s = p->Reserve(st, pod, node);
    if (!s.ok()) return s.WithPlugin(std::string(p->Name()));
  }
  return {};
}
void Framework::RunUnreserve(CycleState& st, const PodInfo& pod, const std::string& node) const {
  for (auto it = reserve_.rbegin(); it != reserve_.rend(); ++it) (*it)->Unreserve(st, pod, node);
}
PluginStatus Framework::RunPermit(CycleState& st, const PodInfo& pod, const std::string& node) const {
  for (const PermitPlugin* p : permit_) {
    PluginStatus s = p->Permit(st, pod, node);
    if (!s.ok()) return s.WithPlugin(std::string(p->Name()));
  }
  return {};
}
PluginStatus Framework::RunPreBind(CycleState& st, const PodInfo& pod, const std::string& node) const {
  for (const PreBindPlugin* p : pre_bind_) {
    PluginStatus s = p->PreBind(st, pod, node);
    if (!s.ok()) return s.WithPlugin(std::string(p->Name()));
  }
  return {};
}
PluginStatus Framework::RunBind(CycleState& st, const PodInfo& pod, const std::string& node) const {
  for (const BindPlugin* p : bind_) {
    PluginStatus s = p->Bind(st, pod, node);
    if (s.IsSkip()) continue;
    if (!s.ok()) return s.WithPlugin(std::string(p->Name()));
    return s;
  }
  return PluginStatus(Code::kError, "no bind plugin bound the pod");
}

unsigned Framework::EventsFor(const std::vector<std::string>& names) const {
  unsigned ev = 0;
  for (const auto& p : plugins_)
    if (names.empty() || std::find(names.begin(), names.end(), p->Name()) != names.end()) ev |= p->EventsToRegister();
  return ev;
}

}  // namespace tug::scheduler::framework
