// The scheduling framework: plugin interfaces for each extension point, a registry of named
// plugin factories (CONVENTIONS C10), and Framework, which runs one profile's plugins over a
// pod and a set of NodeInfos (kube-scheduler's framework, same extension points and codes).
//
//   Registry reg = plugins::DefaultRegistry();
//   auto fw = Framework::Create(reg, DefaultProfile(), handle).value();
//   CycleState st(fw->NumSlots());
//   PluginStatus s = fw->RunPreFilter(st, pod, nodes);
//   for each node: fw->RunFilter(st, pod, node) ...
//
// Ownership: Framework owns its plugins; it borrows the Handle (the scheduler owns both).
// Thread-safety: plugins are const after construction. Filter and Score may be called from
// several threads at once for different nodes within one cycle (they only read the CycleState
// written by PreFilter/PreScore, which run on the cycle's thread). Reserve/Permit/PreBind/Bind
// may run on binding threads concurrently with other cycles.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "scheduler/framework/types.h"

namespace tug::scheduler::framework {

// Plugin result codes, as upstream's framework.Code.
enum class Code {
  kSuccess,
  kError,
  kUnschedulable,                  // preemption might help
  kUnschedulableAndUnresolvable,   // preemption cannot help
  kWait,
  kSkip,
};

class PluginStatus {
 public:
  PluginStatus() = default;
  PluginStatus(Code c, std::string reason) : code_(c) { reasons_.push_back(std::move(reason)); }
  PluginStatus(Code c, std::vector<std::string> reasons) : code_(c), reasons_(std::move(reasons)) {}
  static PluginStatus Success() { return {}; }
  static PluginStatus Skip() { return PluginStatus(Code::kSkip, std::vector<std::string>{}); }

  Code code() const { return code_; }
  bool ok() const { return code_ == Code::kSuccess; }
  bool IsSkip() const { return code_ == Code::kSkip; }
  bool IsRejected() const { return code_ == Code::kUnschedulable || code_ == Code::kUnschedulableAndUnresolvable; }
  const std::vector<std::string>& reasons() const { return reasons_; }
  std::string Message() const;  // reasons joined by ", "
  const std::string& plugin() const { return plugin_; }
  PluginStatus& WithPlugin(std::string p) { plugin_ = std::move(p); return *this; }

 private:
  Code code_ = Code::kSuccess;
  std::vector<std::string> reasons_;
  std::string plugin_;
};

inline constexpr int64_t kMaxNodeScore = 100;

// Per-cycle plugin state: one slot per plugin (assigned by the Framework), written in
// PreFilter/PreScore and read in Filter/Score. Clone() copies it for preemption dry runs.
struct StateData {
  virtual ~StateData() = default;
  virtual std::unique_ptr<StateData> Clone() const = 0;
};

class CycleState {
 public:
  explicit CycleState(size_t slots = 0) : slots_(slots) {}
  StateData* Get(size_t slot) const { return slot < slots_.size() ? slots_[slot].get() : nullptr; }
  void Set(size_t slot, std::unique_ptr<StateData> d) {
    if (slot >= slots_.size()) slots_.resize(slot + 1);
    slots_[slot] = std::move(d);
  }
  CycleState Clone() const;
  // Plugins that were skipped in PreFilter/PreScore for this cycle.
  std::vector<bool> skip_filter, skip_score;
  // Set by RunPreFilter: the filter plugins that run for this pod, in order (RunFilter walks
  // this instead of testing skip_filter per plugin and node). Unset: every unskipped plugin.
  std::vector<const class FilterPlugin*> active_filters;
  bool active_filters_set = false;

 private:
  std::vector<std::unique_ptr<StateData>> slots_;
};

// What plugins may read about the cluster beyond the nodes of the cycle. The scheduler
// implements it over informers; tests implement it over maps. All return null/empty when absent.
class ClusterLister {
 public:
  virtual ~ClusterLister() = default;
  virtual ObjectPtr GetPvc(std::string_view ns, std::string_view name) const = 0;
  virtual ObjectPtr GetPv(std::string_view name) const = 0;
  virtual ObjectPtr GetStorageClass(std::string_view name) const = 0;
  virtual std::vector<ObjectPtr> ListPvs() const = 0;
  // Labels of a namespace (for namespaceSelector in pod affinity terms).
  virtual const Json* NamespaceLabels(std::string_view ns) const = 0;
  // Selector of the services / RCs / ReplicaSets / StatefulSets selecting the pod
  // (helper.DefaultSelector), for the default topology spread constraints.
  virtual LabelSelector DefaultSpreadSelector(const PodInfo& pod) const = 0;
};

// Handed to plugin factories: the cluster view, and all nodes of the current cycle.
class Handle {
 public:
  virtual ~Handle() = default;
  virtual const ClusterLister& lister() const = 0;
  // Every node known to the scheduler in this cycle (stable order), with its pods.
  virtual const std::vector<const NodeInfo*>& AllNodes() const = 0;
  // Nodes that have at least one pod with (anti-)affinity terms.
  virtual std::vector<const NodeInfo*> NodesWithAffinityPods() const = 0;
  // Pending pods nominated to this node by an earlier preemption (status.nominatedNodeName).
  // Filtering counts those with a priority >= the pod's as if they were already there.
  virtual std::vector<PodInfoPtr> NominatedPodsForNode(const std::string& node) const { return {}; }
  // False when no pod is nominated anywhere: a cycle then skips the per-node lookups above.
  virtual bool HasNominatedPods() const { return true; }
};

// --- plugin interfaces -----------------------------------------------------------------------

class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual std::string_view Name() const = 0;
  void SetSlot(size_t s) { slot_ = s; }
  size_t slot() const { return slot_; }
  // Cluster events that may make a pod rejected by this plugin schedulable (queue hints).
  enum Event : unsigned { kNodeAdd = 1, kNodeUpdate = 2, kNodeDelete = 4, kPodAdd = 8, kPodUpdate = 16,
                          kPodDelete = 32, kPvcChange = 64, kPvChange = 128, kStorageClassChange = 256,
                          kNamespaceChange = 512 };
  virtual unsigned EventsToRegister() const { return kNodeAdd | kNodeUpdate; }

 private:
  size_t slot_ = 0;
};

class PreFilterPlugin : public virtual Plugin {
 public:
  // May return Skip: the plugin's Filter is then not run for this pod.
  virtual PluginStatus PreFilter(CycleState& st, const PodInfo& pod, const Handle& h) const = 0;
  // Preemption dry runs: a pod was added to / removed from a node copy; update the state.
  virtual void AddPod(CycleState& st, const PodInfo& pod, const PodInfo& added, const NodeInfo& node) const {}
  virtual void RemovePod(CycleState& st, const PodInfo& pod, const PodInfo& removed, const NodeInfo& node) const {}
};
class FilterPlugin : public virtual Plugin {
 public:
  virtual PluginStatus Filter(const CycleState& st, const PodInfo& pod, const NodeInfo& node) const = 0;
};
struct NodeScore {
  const NodeInfo* node;
  int64_t score;
};
class PostFilterPlugin : public virtual Plugin {
 public:
  struct Result {
    std::string nominated_node;
  };
  // statuses: the filter verdict of every node (by name) from the failed cycle.
  virtual PluginStatus PostFilter(CycleState& st, const PodInfo& pod,
                                  const std::map<std::string, PluginStatus, std::less<>>& statuses,
                                  Result* result) const = 0;
};
class PreScorePlugin : public virtual Plugin {
 public:
  virtual PluginStatus PreScore(CycleState& st, const PodInfo& pod, const std::vector<const NodeInfo*>& nodes,
                                const Handle& h) const = 0;
};
class ScorePlugin : public virtual Plugin {
 public:
  virtual int64_t Score(const CycleState& st, const PodInfo& pod, const NodeInfo& node) const = 0;
  // Rescales the scores to [0, kMaxNodeScore]; default: none.
  virtual void NormalizeScore(const CycleState& st, const PodInfo& pod, std::vector<NodeScore>& scores) const {}
};
class ReservePlugin : public virtual Plugin {
 public:
  virtual PluginStatus Reserve(CycleState& st, const PodInfo& pod, const std::string& node) const = 0;
  virtual void Unreserve(CycleState& st, const PodInfo& pod, const std::string& node) const = 0;
};
class PermitPlugin : public virtual Plugin {
 public:
  virtual PluginStatus Permit(CycleState& st, const PodInfo& pod, const std::string& node) const = 0;
};
class PreBindPlugin : public virtual Plugin {
 public:
  virtual PluginStatus PreBind(CycleState& st, const PodInfo& pod, const std::string& node) const = 0;
};
class BindPlugin : public virtual Plugin {
 public:
  // Skip: let the next bind plugin bind.
  virtual PluginStatus Bind(CycleState& st, const PodInfo& pod, const std::string& node) const = 0;
};

// min-max helper for NormalizeScore (upstream helper.DefaultNormalizeScore).
void DefaultNormalizeScore(int64_t max_priority, bool reverse, std::vector<NodeScore>& scores);

// --- registry and profile --------------------------------------------------------------------

// Everything a factory may need: plugin args (JSON, as KubeSchedulerConfiguration's pluginConfig
// args) and services the scheduler provides (binding through the API).
struct PluginContext {
  Json args = Json::object();
  // Binds pod to node through the API (DefaultBinder uses it). Set by the scheduler.
  std::function<Status(const PodInfo& pod, const std::string& node)> bind;
  // Deletes a victim pod / nominates a node / records an event (DefaultPreemption).
  std::function<Status(const PodInfo& victim, const PodInfo& preemptor, const std::string& node)> evict;
  // Sets an annotation on a PVC (VolumeBinding PreBind for WaitForFirstConsumer claims).
  std::function<Status(const std::string& ns, const std::string& name, const std::string& node)> select_pvc_node;
  // The framework's own filter runner, for preemption dry runs.
  class Framework* framework = nullptr;
  const Handle* handle = nullptr;
};

using PluginFactory = std::function<std::unique_ptr<Plugin>(const PluginContext& ctx)>;

class Registry {
 public:
  // Registers a factory. A duplicate name is an AlreadyExists error (fatal at start-up).
  Status Register(std::string name, PluginFactory f);
  const PluginFactory* Find(std::string_view name) const;

 private:
  std::map<std::string, PluginFactory, std::less<>> factories_;
};

struct PluginConfig {
  std::string name;
  int32_t weight = 1;  // score weight
  Json args = Json::object();
};

struct Profile {
  std::string scheduler_name = std::string(kDefaultSchedulerName);
  std::vector<PluginConfig> plugins;   // in order; each is used at every extension point it implements
  int32_t percentage_of_nodes_to_score = 0;  // 0 = adaptive
};

// The default profile: upstream's default plugins and score weights.
Profile DefaultProfile();

// Diagnosis of a failed scheduling attempt: the per-node statuses and the failing PreFilter.
struct Diagnosis {
  std::map<std::string, PluginStatus, std::less<>> node_to_status;
  std::string pre_filter_msg;
  std::string post_filter_msg;
  std::vector<std::string> unschedulable_plugins;
};
// "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}. preemption: ..."
std::string FitErrorMessage(size_t num_all_nodes, const Diagnosis& d);

class Framework {
 public:
  // Builds the profile's plugins. Errors: NotFound for an unknown plugin name.
  static Result<std::unique_ptr<Framework>> Create(const Registry& reg, const Profile& profile, PluginContext ctx);

  size_t NumSlots() const { return plugins_.size(); }
  const Profile& profile() const { return profile_; }
  const Handle* handle() const { return ctx_.handle; }

  PluginStatus RunPreFilter(CycleState& st, const PodInfo& pod, const Handle& h) const;
  // Runs the filters in order and stops at the first rejection.
  PluginStatus RunFilter(const CycleState& st, const PodInfo& pod, const NodeInfo& node) const;
  void RunPreFilterAddPod(CycleState& st, const PodInfo& pod, const PodInfo& added, const NodeInfo& node) const;
  void RunPreFilterRemovePod(CycleState& st, const PodInfo& pod, const PodInfo& removed, const NodeInfo& node) const;
  PluginStatus RunPostFilter(CycleState& st, const PodInfo& pod,
                             const std::map<std::string, PluginStatus, std::less<>>& statuses,
                             PostFilterPlugin::Result* result) const;
  // PreScore + Score + NormalizeScore + weights: the total score of each node (same order).
  // par: score chunks of nodes on several threads (Score is const; NormalizeScore runs after).
  std::vector<int64_t> RunScore(CycleState& st, const PodInfo& pod, const std::vector<const NodeInfo*>& nodes,
                                const Handle& h, class Parallelizer* par = nullptr) const;
  PluginStatus RunReserve(CycleState& st, const PodInfo& pod, const std::string& node) const;
  void RunUnreserve(CycleState& st, const PodInfo& pod, const std::string& node) const;
  PluginStatus RunPermit(CycleState& st, const PodInfo& pod, const std::string& node) const;
  PluginStatus RunPreBind(CycleState& st, const PodInfo& pod, const std::string& node) const;
  PluginStatus RunBind(CycleState& st, const PodInfo& pod, const std::string& node) const;

  bool HasPostFilter() const { return !post_filter_.empty(); }
  // The union of EventsToRegister of the named plugins (all plugins when names is empty).
  unsigned EventsFor(const std::vector<std::string>& plugin_names) const;

 private:
  Framework() = default;
  Profile profile_;
  PluginContext ctx_;
  std::vector<std::unique_ptr<Plugin>> plugins_;
  std::vector<const PreFilterPlugin*> pre_filter_;
  std::vector<const FilterPlugin*> filter_;
  std::vector<const PostFilterPlugin*> post_filter_;
  std::vector<const PreScorePlugin*> pre_score_;
  std::vector<std::pair<const ScorePlugin*, int32_t>> score_;
  std::vector<const ReservePlugin*> reserve_;
  std::vector<const PermitPlugin*> permit_;
  std::vector<const PreBindPlugin*> pre_bind_;
  std::vector<const BindPlugin*> bind_;
};

}  // namespace tug::scheduler::framework
