// NodeResourcesFit and NodeResourcesBalancedAllocation.
//
// Fit: Filter checks the pod's effective request (containers, init containers, sidecars,
// overhead) against allocatable minus what assigned/assumed pods request, and the pod count.
// Score: LeastAllocated (default) or MostAllocated over the configured resources (cpu and
// memory, weight 1 each), using the non-zero defaults (100m / 200Mi) for unset requests.
// BalancedAllocation: prefers nodes whose cpu and memory fractions stay close to each other.
#include <algorithm>
#include <cmath>

#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;

enum class Kind { kCpu, kMemory, kEphemeral, kScalar };

struct ResourceWeight {
  std::string name;
  int64_t weight = 1;
  Kind kind = Kind::kScalar;  // resolved once, so the score loop never compares names
};

int64_t Allocatable(const NodeInfo& n, const ResourceWeight& r) {
  switch (r.kind) {
    case Kind::kCpu: return n.allocatable.milli_cpu;
    case Kind::kMemory: return n.allocatable.memory;
    case Kind::kEphemeral: return n.allocatable.ephemeral_storage;
    case Kind::kScalar: break;
  }
  auto it = n.allocatable.scalar.find(r.name);
  return it == n.allocatable.scalar.end() ? 0 : it->second;
}

// Requested on the node plus the pod; `non_zero` uses the scoring defaults for cpu/memory.
int64_t RequestedWithPod(const NodeInfo& n, const PodInfo& p, const ResourceWeight& r, bool non_zero) {
  switch (r.kind) {
    case Kind::kCpu:
      return non_zero ? n.non_zero_cpu + p.non_zero_cpu : n.requested.milli_cpu + p.requests.milli_cpu;
    case Kind::kMemory:
      return non_zero ? n.non_zero_memory + p.non_zero_memory : n.requested.memory + p.requests.memory;
    case Kind::kEphemeral: return n.requested.ephemeral_storage + p.requests.ephemeral_storage;
    case Kind::kScalar: break;
  }
  int64_t have = 0, want = 0;
  if (auto it = n.requested.scalar.find(r.name); it != n.requested.scalar.end()) have = it->second;
  if (auto it = p.requests.scalar.find(r.name); it != p.requests.scalar.end()) want = it->second;
  return have + want;
}

class NodeResourcesFit final : public PreFilterPlugin, public FilterPlugin, public ScorePlugin {
 public:
  NodeResourcesFit(bool most_allocated, std::vector<ResourceWeight> res)
      : most_allocated_(most_allocated), resources_(std::move(res)) {}
  std::string_view Name() const override { return "NodeResourcesFit"; }
  unsigned EventsToRegister() const override { return kNodeAdd | kNodeUpdate | kPodDelete | kPodUpdate; }

  PluginStatus PreFilter(CycleState&, const PodInfo&, const Handle&) const override { return {}; }

  PluginStatus Filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    std::vector<std::string> reasons;
    if (static_cast<int64_t>(node.pods.size()) + 1 > node.allocatable.allowed_pods) reasons.push_back("Too many pods");
    const Resource& want = pod.requests;
    if (want.milli_cpu > 0 && want.milli_cpu > node.allocatable.milli_cpu - node.requested.milli_cpu)
      reasons.push_back("Insufficient cpu");
    if (want.memory > 0 && want.memory > node.allocatable.memory - node.requested.memory)
      reasons.push_back("Insufficient memory");
    if (want.ephemeral_storage > 0 &&
        want.ephemeral_storage > node.allocatable.ephemeral_storage - node.requested.ephemeral_storage)
      reasons.push_back("Insufficient ephemeral-storage");
    for (const auto& [name, qty] : want.scalar) {
      if (qty <= 0) continue;
      int64_t alloc = 0, used = 0;
      if (auto it = node.allocatable.scalar.find(name); it != node.allocatable.scalar.end()) alloc = it->second;
      if (auto it = node.requested.scalar.find(name); it != node.requested.scalar.end()) used = it->second;
      if (qty > alloc - used) reasons.push_back("Insufficient " + name);
    }
    if (reasons.empty()) return {};
    return PluginStatus(Code::kUnschedulable, std::move(reasons));
  }

  int64_t Score(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    int64_t total = 0, weights = 0;
    for (const ResourceWeight& rw : resources_) {
      int64_t cap = Allocatable(node, rw);
      if (cap == 0) continue;
      int64_t req = RequestedWithPod(node, pod, rw, true);
      int64_t s;
      if (most_allocated_) {
        s = std::min(req, cap) * kMaxNodeScore / cap;
      } else {
        s = req > cap ? 0 : (cap - req) * kMaxNodeScore / cap;
      }
      total += s * rw.weight;
      weights += rw.weight;
    }
    return weights ? total / weights : 0;
  }

 private:
  bool most_allocated_;
  std::vector<ResourceWeight> resources_;
};

class BalancedAllocation final : public PreScorePlugin, public ScorePlugin {
 public:
  explicit BalancedAllocation(std::vector<ResourceWeight> res) : resources_(std::move(res)) {}
  std::string_view Name() const override { return "NodeResourcesBalancedAllocation"; }
  unsigned EventsToRegister() const override { return 0; }

  PluginStatus PreScore(CycleState&, const PodInfo& pod, const std::vector<const NodeInfo*>&,
                        const Handle&) const override {
    // A best-effort pod changes no fraction: skip (upstream does the same).
    for (const ResourceWeight& rw : resources_) {
      NodeInfo empty;
      if (RequestedWithPod(empty, pod, rw, false) > 0) return {};
    }
    return PluginStatus::Skip();
  }

  int64_t Score(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    double fr[8];
    size_t n = 0;
    for (const ResourceWeight& rw : resources_) {
      if (n == 8) break;
      int64_t cap = Allocatable(node, rw);
      if (cap == 0) continue;
      double f = static_cast<double>(RequestedWithPod(node, pod, rw, false)) / static_cast<double>(cap);
      fr[n++] = std::min(f, 1.0);
    }
    double sd = 0;
    if (n == 2) {
      sd = std::fabs(fr[0] - fr[1]) / 2;
    } else if (n > 2) {
      double mean = 0;
      for (size_t i = 0; i < n; ++i) mean += fr[i];
      mean /= static_cast<double>(n);
      double var = 0;
      for (size_t i = 0; i < n; ++i) var += (fr[i] - mean) * (fr[i] - mean);
      sd = std::sqrt(var / static_cast<double>(n));
    }
    return static_cast<int64_t>((1 - sd) * static_cast<double>(kMaxNodeScore));
  }

 private:
  std::vector<ResourceWeight> resources_;
};

std::vector<ResourceWeight> ParseResources(const Json& args, const Json* strategy) {
  std::vector<ResourceWeight> out;
  const Json* res = nullptr;
  if (strategy && strategy->is_object()) res = Find(*strategy, "resources");
  if (!res) res = Find(args, "resources");
  if (res && res->is_array())
    for (const Json& r : *res) {
      ResourceWeight w{GetString(r, "name"), 1, Kind::kScalar};
      if (const Json* wt = Find(r, "weight"); wt && wt->is_number_integer()) w.weight = wt->get<int64_t>();
      if (!w.name.empty() && w.weight > 0) out.push_back(std::move(w));
    }
  if (out.empty()) out = {{"cpu", 1, Kind::kScalar}, {"memory", 1, Kind::kScalar}};
  for (ResourceWeight& w : out)
    w.kind = w.name == "cpu" ? Kind::kCpu : w.name == "memory" ? Kind::kMemory
             : w.name == "ephemeral-storage" ? Kind::kEphemeral : Kind::kScalar;
  return out;
}

}  // namespace

std::unique_ptr<Plugin> NewNodeResourcesFit(const PluginContext& ctx) {
  const Json* strategy = Find(ctx.args, "scoringStrategy");
  std::string type = strategy ? GetString(*strategy, "type", "LeastAllocated") : "LeastAllocated";
  if (type != "LeastAllocated" && type != "MostAllocated") return nullptr;
  return std::make_unique<NodeResourcesFit>(type == "MostAllocated", ParseResources(ctx.args, strategy));
}

std::unique_ptr<Plugin> NewNodeResourcesBalancedAllocation(const PluginContext& ctx) {
  return std::make_unique<BalancedAllocation>(ParseResources(ctx.args, nullptr));
}

}  // namespace tug::scheduler::plugins
