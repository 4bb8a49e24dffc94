// Lease-based leader election on a coordination.k8s.io/v1 Lease, as client-go's: the holder
// renews every retry period; others take over after leaseDurationSeconds without renewal.
//
//   client::LeaderElector le(client, {.ns = "kube-system", .name = "kube-controller-manager",
//                                     .identity = hostname});
//   le.Run([&] { start controllers }, [&] { stop them });   // returns after Stop()
//
// Thread-safety: Run on one thread; Stop from any. Ownership: borrows the Client.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "client/client.h"

namespace tug::client {

struct LeaderElectionConfig {
  std::string ns = "kube-system";
  std::string name;
  std::string identity;
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};
  std::chrono::seconds retry_period{2};
};

class LeaderElector {
 public:
  LeaderElector(const Client& client, LeaderElectionConfig config);
  ~LeaderElector();
  // Blocks: campaigns, calls on_started_leading when elected (on a new thread), keeps renewing,
  // calls on_stopped_leading when the lease is lost or on Stop(). Returns after Stop().
  void Run(std::function<void()> on_started_leading, std::function<void()> on_stopped_leading);
  void Stop();
  bool IsLeader() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tug::client
