// The control loops `tug server` runs in-process: the controller manager and the scheduler.
// Each talks to this process's API handler through its own loopback client (as a remote
// component would over HTTPS, DESIGN.md §2). With --leader-elect each runs only while it holds
// its Lease (kube-system/kube-controller-manager, kube-system/kube-scheduler), so a second server
// on a shared store would stand by instead of acting twice; without it (the default: the
// embedded store has exactly one server) they start at once and an idle cluster writes nothing. Both read one shared informer cache
// (client::InformerFactory::NewScope), so each object is held once in the process; it is
// started by the first elected loop and stopped by Stop().
//
// Ownership: borrows the API handler (it must outlive Stop()). Thread-safety: Start/Stop from
// the composition root's thread.
#pragma once

#include <memory>
#include <string>

#include "apiserver/http.h"
#include "config.h"

namespace tug::cmd {

class ControlLoops {
 public:
  ControlLoops(apiserver::Handler& api, const Config& config);
  ~ControlLoops();
  ControlLoops(const ControlLoops&) = delete;
  ControlLoops& operator=(const ControlLoops&) = delete;

  // Starts the loops, or their elections with --leader-elect (asynchronously either way, so
  // /readyz does not wait for their informers to sync).
  void Start();
  // Stops the loops and releases the Leases. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tug::cmd
