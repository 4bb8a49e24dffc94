// The scheduler: assigns pending pods (spec.schedulerName "default-scheduler", the default) to
// nodes, as kube-scheduler does.
//
//   client::Client c(client::NewLoopbackTransport(*rest, {"system:kube-scheduler", "", {}}));
//   auto s = scheduler::StartScheduler(c, {}).value();   // informers synced, loop running
//   ...
//   s->Stop();                                           // or destroy it
//
// Pieces: informers (pods, nodes, PVCs, PVs, StorageClasses, PriorityClasses, namespaces,
// services, ReplicaSets, StatefulSets, ReplicationControllers) feed the cache (nodes + assigned
// and assumed pods) and the scheduling queue. One scheduling thread pops a pod, runs the
// framework under the cache lock (filter on a rotating sample of nodes, score, pick), assumes
// the pod on the chosen node, and hands the binding to a small pool of bind threads (POST
// pods/NAME/binding), so many bindings are in flight while the next pods are scheduled. A
// failed binding forgets the assumption and requeues the pod with back-off. An unschedulable
// pod runs PostFilter (preemption), gets a FailedScheduling event and its PodScheduled=False
// condition (reason Unschedulable), and waits for a relevant cluster event.
//
// Priority: pods whose spec.priority is unset (tug's API server has no Priority admission
// plugin yet) get the value of their spec.priorityClassName (or of the globalDefault
// PriorityClass, or 0) from the PriorityClass informer.
//
// Ownership: the Scheduler borrows the Client (it must outlive the Scheduler) and owns its
// informers, queue, cache and threads. Thread-safety: Stop and the accessors may be called from
// any thread. Stop refuses new work, waits for bindings in flight, and joins every thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "client/client.h"
#include "client/informer.h"
#include "scheduler/framework/framework.h"

namespace tug::scheduler {

struct SchedulerOptions {
  std::string scheduler_name = "default-scheduler";
  // Empty plugin list: framework::DefaultProfile().
  framework::Profile profile;
  // Bind requests in flight at once.
  int bind_workers = 16;
  // Threads that filter and score the nodes of one cycle, the scheduling thread included
  // (upstream's parallelism, 16). 0: min(16, hardware threads / 2), at least 1; 1: all on the
  // scheduling thread.
  int parallelism = 0;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{10000};
  std::chrono::milliseconds max_in_unschedulable{5 * 60 * 1000};
  bool record_events = true;
  std::chrono::milliseconds informer_sync_timeout{60000};
  Clock* clock = nullptr;  // null: RealClock()
  // A process-wide informer factory shared with other components (the controller manager in
  // `tug server`): the scheduler then uses a scope over it (InformerFactory::NewScope), so each
  // object is cached once per process. Null: the scheduler owns a factory on its client.
  // Borrowed; it must outlive the scheduler, and its transform must keep what the scheduler reads.
  client::InformerFactory* shared_informers = nullptr;
};

struct SchedulerStats {
  uint64_t attempts = 0;       // scheduling cycles run
  uint64_t bound = 0;          // successful bindings
  uint64_t unschedulable = 0;  // cycles that ended with a fit error
  uint64_t errors = 0;         // cycles or bindings that ended with an error
  uint64_t preemptions = 0;    // pods nominated after evicting victims
  double cycle_seconds = 0;    // wall time spent in scheduling cycles (scheduling thread)
  double cycle_cpu_seconds = 0;  // CPU time of the scheduling thread in those cycles
  double bind_seconds = 0;     // wall time spent binding, summed over bind threads
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void Stop() = 0;
  virtual SchedulerStats Stats() const = 0;
};

// Starts informers, waits for their sync, and starts the scheduling and bind threads.
// Errors: Unavailable when the informers do not sync in time; Invalid/NotFound for a bad
// profile (unknown plugin, bad args).
Result<std::unique_ptr<Scheduler>> StartScheduler(const client::Client& client, SchedulerOptions opts);

}  // namespace tug::scheduler
