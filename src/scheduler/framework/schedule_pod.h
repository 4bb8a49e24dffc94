// One scheduling decision for one pod (upstream's schedulePod): PreFilter, filter nodes until
// enough feasible ones are found (percentageOfNodesToScore, starting where the last cycle
// stopped), score them and pick the best (random among ties). Pure logic over the Handle's
// nodes; the caller holds whatever lock protects them. With a Parallelizer, Filter and Score run
// on chunks of nodes in parallel; the outcome is the same as the sequential one (the first
// feasible nodes in rotation order are kept; chunks filtered beyond them are discarded).
// Thread-safety: a ScheduleState is used by one scheduling thread at a time.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "scheduler/framework/framework.h"
#include "scheduler/framework/parallelizer.h"

namespace tug::scheduler::framework {

// Upstream's adaptive sample size: all nodes under 100; else max(100, n * p%), with
// p = 50 - n/125 (at least 5) when percentage is 0.
size_t NumFeasibleNodesToFind(size_t num_all_nodes, int32_t percentage);

struct ScheduleState {
  size_t next_start_index = 0;
  std::mt19937_64 rng{0x7567};
  Parallelizer* parallel = nullptr;  // borrowed; null: Filter and Score on the calling thread

  // Filter results of one chunk of nodes (positions in rotation order); kept across cycles so
  // their buffers are reused.
  struct FilterChunk {
    std::vector<uint32_t> feasible;
    std::vector<std::pair<uint32_t, PluginStatus>> rejected;
    bool has_error = false;
    uint32_t error_pos = 0;
    PluginStatus error;
  };
  std::vector<FilterChunk> chunks;
};

struct ScheduleResult {
  std::string node;       // chosen node ("" when none)
  size_t evaluated = 0;   // nodes filtered
  size_t feasible = 0;
  // Unschedulable / UnschedulableAndUnresolvable with the FitError message, or Error.
  PluginStatus status;
  bool fit_error = false;
  Diagnosis diagnosis;    // filled when fit_error
};

// Filter with the node's nominated pods of equal or higher priority added (when there are any),
// then without them; both must pass (upstream's RunFilterPluginsWithNominatedPods).
// any_nominated false (Handle::HasNominatedPods): only the plain filter runs.
PluginStatus FilterWithNominatedPods(const Framework& fw, const CycleState& st, const PodInfo& pod,
                                     const NodeInfo& node, const Handle& h, bool any_nominated = true);

ScheduleResult SchedulePod(const Framework& fw, CycleState& st, const PodInfo& pod, const Handle& h,
                           ScheduleState& ss);

}  // namespace tug::scheduler::framework
