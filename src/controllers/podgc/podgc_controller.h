// Pod garbage collector (upstream pod-garbage-collector, 1.33), one pass every gc_period:
// - terminated pods (Succeeded/Failed) beyond terminated_pod_threshold are deleted, oldest first
//   (threshold <= 0 disables this);
// - pods bound to a node that does not exist (absent for `quarantine`, then confirmed with a GET)
//   get phase Failed with condition DisruptionTarget (reason DeletionByPodGC) and are deleted;
// - pods being deleted that were never scheduled are force-deleted;
// - pods being deleted on a NotReady node tainted node.kubernetes.io/out-of-service are
//   force-deleted.
//
// Ownership: borrows the ControllerContext's client, informers and clock; owns the ticker.
// Thread-safety: as framework::Controller (one key, "gc").
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "controllers/framework/controller.h"

namespace tug::controllers::podgc {

struct PodGcOptions {
  int64_t terminated_pod_threshold = 12500;
  std::chrono::milliseconds gc_period{20000};  // 0: no ticker (tests call RunOnceForTest)
  std::chrono::milliseconds quarantine{40000};
};

class PodGcController : public framework::Controller {
 public:
  PodGcController(const framework::ControllerContext& ctx, PodGcOptions opts = {});
  ~PodGcController() override;
  Status RunOnceForTest() { return Sync("gc"); }

 protected:
  Status Sync(const std::string& key) override;

 private:
  Status ForceDelete(const Json& pod);
  // Each pass reads only the pods it may act on, through one index (kGcIndex in the .cc): a
  // settled cluster's pods are never all listed and walked every pass.
  Status GcTerminated();
  Status GcOrphaned();
  Status GcTerminating();

  PodGcOptions opts_;
  client::Informer* pods_;
  client::Informer* nodes_;
  std::map<std::string, SystemTime> missing_since_;  // node name -> first seen missing (worker only)
  std::jthread ticker_;
};

std::unique_ptr<framework::Controller> NewPodGcController(const framework::ControllerContext& ctx);

}  // namespace tug::controllers::podgc
