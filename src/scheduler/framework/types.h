// Scheduler data model: precomputed views of pods and nodes (PodInfo, NodeInfo) built once from
// the pod/node JSON documents, so the filter and score loops never re-parse JSON.
//
// PodInfo and NodeInfo keep the source document (shared, immutable snapshot) and derive the
// numbers the plugins need: summed resource requests, host ports, tolerations, parsed affinity
// terms and topology spread constraints. Nothing here writes a document back (DESIGN.md: no
// lossy decode + write back); the scheduler only ever sends bindings and small status patches.
//
// Ownership: PodInfo is immutable after Build and shared (PodInfoPtr). NodeInfo is owned by the
// scheduler cache (or copied for preemption dry runs) and holds PodInfoPtrs of its pods.
// Thread-safety: PodInfo is immutable; NodeInfo is a plain value guarded by whoever owns it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"

namespace tug::scheduler::framework {

using ObjectPtr = std::shared_ptr<const Json>;

inline constexpr std::string_view kDefaultSchedulerName = "default-scheduler";
inline constexpr int64_t kDefaultMilliCpuRequest = 100;                // non-zero default for scoring
inline constexpr int64_t kDefaultMemoryRequest = 200LL * 1024 * 1024;  // 200Mi

// Resource amounts: cpu in millicores, memory/ephemeral-storage in bytes, extended resources
// (and hugepages) in their integer unit.
struct Resource {
  int64_t milli_cpu = 0;
  int64_t memory = 0;
  int64_t ephemeral_storage = 0;
  int64_t allowed_pods = 0;  // only meaningful for allocatable
  std::map<std::string, int64_t, std::less<>> scalar;

  void Add(const Resource& o);
  void Sub(const Resource& o);
  void SetMax(const Resource& o);
  bool IsZero() const;
  // Parses a core/v1 ResourceList ({"cpu":"500m","memory":"1Gi",...}). Unparseable values are
  // ignored (the API server validated them).
  static Resource FromList(const Json* list);
};

// Parses a resource.Quantity ("100m", "1Gi", "2", "1e3") scaled by `scale` and rounded up
// (cpu: scale 1000 → millicores). nullopt when it does not parse.
std::optional<int64_t> ParseQuantityScaled(const Json& q, int64_t scale);

// metav1.LabelSelector semantics (matchLabels + matchExpressions In/NotIn/Exists/DoesNotExist).
class LabelSelector {
 public:
  struct Req {
    enum Op { kIn, kNotIn, kExists, kDoesNotExist } op;
    std::string key;
    std::vector<std::string> values;
  };
  // null/absent selector: matches nothing (pod affinity, spread constraints) unless
  // `null_matches_all`. An empty object {} matches everything.
  static LabelSelector FromJson(const Json* selector, bool null_matches_all = false);
  static LabelSelector FromMap(const Json* match_labels);  // service / RC selectors
  static LabelSelector Nothing();
  bool Matches(const Json* labels) const;
  bool MatchesNothing() const { return nothing_; }
  bool Empty() const { return !nothing_ && reqs_.empty(); }
  void AddRequirement(Req r) { reqs_.push_back(std::move(r)); }
  // Appends all requirements of `o` (AND).
  void Merge(const LabelSelector& o);

 private:
  std::vector<Req> reqs_;
  bool nothing_ = false;
};

// core/v1 NodeSelector requirement/term matching (node affinity, PV node affinity).
struct NodeSelectorRequirement {
  enum Op { kIn, kNotIn, kExists, kDoesNotExist, kGt, kLt } op = kIn;
  std::string key;
  std::vector<std::string> values;
};
struct NodeSelectorTerm {
  std::vector<NodeSelectorRequirement> match_expressions;  // on labels
  std::vector<NodeSelectorRequirement> match_fields;       // on metadata.name only
  bool Matches(const Json* node_labels, std::string_view node_name) const;
  bool empty() const { return match_expressions.empty() && match_fields.empty(); }
};
// A list of terms (ORed); an empty list matches nothing.
struct NodeSelector {
  std::vector<NodeSelectorTerm> terms;
  static NodeSelector FromJson(const Json* node_selector);  // {"nodeSelectorTerms":[...]}
  bool Matches(const Json* node_labels, std::string_view node_name) const;
};

struct Toleration {
  std::string key, op /* "Equal" | "Exists" */, value, effect;
  bool Tolerates(const struct Taint& t) const;
};
struct Taint {
  std::string key, value, effect;
};
bool TolerationsTolerate(const std::vector<Toleration>& tols, const Taint& t);

struct HostPort {
  std::string ip;  // "0.0.0.0" when unset
  std::string protocol;
  int32_t port = 0;
  bool Conflicts(const HostPort& o) const;
};

// One pod (anti-)affinity term with its namespaces resolved lazily by the plugin.
struct AffinityTerm {
  LabelSelector selector;
  std::vector<std::string> namespaces;   // explicit list
  std::optional<LabelSelector> namespace_selector;  // present when set in the term
  std::string topology_key;
  int32_t weight = 0;                    // preferred terms only
};

struct TopologySpreadConstraint {
  int32_t max_skew = 1;
  std::string topology_key;
  bool do_not_schedule = true;  // whenUnsatisfiable
  LabelSelector selector;
  int32_t min_domains = 1;
  bool honor_node_affinity = true;   // nodeAffinityPolicy (default Honor)
  bool honor_node_taints = false;    // nodeTaintsPolicy (default Ignore)
};

struct PodInfo;
using PodInfoPtr = std::shared_ptr<const PodInfo>;

// Everything the plugins read about one pod, computed once.
struct PodInfo {
  // The pod's document; null for a pod the cache holds as bound (Build without the document):
  // plugins read the fields below, and a running pod's document stays in the informer alone.
  ObjectPtr pod;
  std::string ns, name, uid, key;  // key "ns/name"
  const Json* labels = nullptr;    // into *pod, or into *own without the document (may be null)
  std::string node_name;           // spec.nodeName
  std::string nominated_node_name; // status.nominatedNodeName
  std::string scheduler_name;
  int32_t priority = 0;
  bool has_priority = false;       // spec.priority was set
  std::string priority_class_name;
  bool preempt_never = false;      // preemptionPolicy Never
  bool terminating = false;        // deletionTimestamp set
  int64_t creation_unix = 0;

  Resource requests;               // effective pod request incl. init containers and overhead
  int64_t non_zero_cpu = 0, non_zero_memory = 0;  // with defaults for unset requests (scoring)
  std::vector<HostPort> host_ports;
  std::vector<Toleration> tolerations;

  const Json* node_selector = nullptr;             // spec.nodeSelector map
  std::optional<NodeSelector> required_node_affinity;
  struct PreferredNodeTerm { int32_t weight; NodeSelectorTerm term; };
  std::vector<PreferredNodeTerm> preferred_node_affinity;

  std::vector<AffinityTerm> required_affinity, required_anti_affinity;
  std::vector<AffinityTerm> preferred_affinity, preferred_anti_affinity;
  bool HasAffinity() const {
    return !required_affinity.empty() || !required_anti_affinity.empty() || !preferred_affinity.empty() ||
           !preferred_anti_affinity.empty();
  }

  std::vector<TopologySpreadConstraint> spread_constraints;  // explicit ones only
  std::vector<std::string> pvc_names;                        // claims used (incl. ephemeral)
  std::vector<std::string> images;

  // metadata.labels and spec.nodeSelector when built without the document.
  std::shared_ptr<const Json> own;

  // keep_document false: `pod` is left null, labels and nodeSelector are copied into `own`.
  static PodInfoPtr Build(ObjectPtr pod, bool keep_document = true);
  // A minimal document naming the pod (apiVersion, kind, name, namespace, uid), e.g. for an
  // event about a pod held without its document.
  Json Reference() const;
  // Same pod with spec.nodeName set (an assumed pod); shares the document otherwise.
  PodInfoPtr WithNodeName(const std::string& node) const;
};

// A node and the pods assigned (or assumed) to it.
struct NodeInfo {
  ObjectPtr node;
  std::string name;
  const Json* labels = nullptr;
  bool unschedulable = false;
  std::vector<Taint> taints;
  Resource allocatable;
  Resource requested;
  int64_t non_zero_cpu = 0, non_zero_memory = 0;
  std::vector<PodInfoPtr> pods;
  int pods_with_affinity = 0;           // pods with any (anti-)affinity term
  int pods_with_required_anti_affinity = 0;
  std::vector<HostPort> used_ports;
  std::map<std::string, int64_t, std::less<>> image_sizes;  // from status.images
  uint64_t generation = 0;

  // Replaces the node document (labels, taints, allocatable); keeps the pods.
  void SetNode(ObjectPtr n);
  void AddPod(PodInfoPtr p);
  // Removes by uid (or key when uid empty); false when absent.
  bool RemovePod(const PodInfo& p);
  std::string_view Label(std::string_view key, bool* found) const;
};

// spec.nodeSelector and required node affinity both match the node.
bool MatchesNodeSelectorAndAffinity(const PodInfo& pod, const NodeInfo& node);
// The node's taints with NoSchedule/NoExecute effect are all tolerated by the pod.
bool ToleratesNodeTaints(const PodInfo& pod, const NodeInfo& node);

// Helpers over raw documents.
const Json* Labels(const Json& obj);
std::string LabelValue(const Json* labels, std::string_view key, bool* found);

}  // namespace tug::scheduler::framework
