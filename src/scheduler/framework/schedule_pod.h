// One scheduling decision for one pod (upstream's schedulePod): PreFilter, filter nodes until
// enough feasible ones are found (percentageOfNodesToScore, starting where the last cycle
// stopped), score them and pick the best (random among ties). Pure logic over the Handle's
// nodes; the caller holds whatever lock protects them.
// Thread-safety: a ScheduleState is used by one scheduling thread at a time.
#pragma once

#include <random>
#include <string>

#include "scheduler/framework/framework.h"

namespace tug::scheduler::framework {

// Upstream's adaptive sample size: all nodes under 100; else max(100, n * p%), with
// p = 50 - n/125 (at least 5) when percentage is 0.
size_t NumFeasibleNodesToFind(size_t num_all_nodes, int32_t percentage);

struct ScheduleState {
  size_t next_start_index = 0;
  std::mt19937_64 rng{0x7567};
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
PluginStatus FilterWithNominatedPods(const Framework& fw, const CycleState& st, const PodInfo& pod,
                                     const NodeInfo& node, const Handle& h);

ScheduleResult SchedulePod(const Framework& fw, CycleState& st, const PodInfo& pod, const Handle& h,
                           ScheduleState& ss);

}  // namespace tug::scheduler::framework
