// The controller manager: starts one shared InformerFactory and every enabled controller on it,
// as kube-controller-manager does, and stops them in reverse order (C8). The integrator runs it
// inside a Lease leader election (client/leader_election.h): StartControllers when elected,
// Stop() when the lease is lost.
//
//   ASSIGN_OR_RETURN(auto mgr, controllers::StartControllers(client, {.workers = 5}));
//   ...
//   mgr->Stop();
//
// Controllers are a registry of named factories (C10, manager.cc: kControllers); a name may be
// enabled or disabled with Options::enabled like `--controllers=*,-foo` upstream.
//
// Ownership: the manager borrows the Client (it must outlive the manager) and owns the factory
// (or its scope of Options::shared_informers) and the controllers. Thread-safety: Stop() from any one thread; idempotent.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "client/client.h"
#include "client/informer.h"

namespace tug::controllers {

namespace framework {
class Controller;
}

struct Options {
  int workers = 5;  // worker threads per controller (upstream's --concurrent-*-syncs default 5)
  // Controller names, upstream-style: "*" = every controller enabled by default, "foo" enables,
  // "-foo" disables. Empty = {"*"}.
  std::vector<std::string> enabled;
  Clock* clock = nullptr;  // null: RealClock()
  std::chrono::minutes informer_sync_timeout{2};
  // The cluster CA bundle (PEM), as kube-controller-manager's --root-ca-file: published in every
  // namespace as ConfigMap kube-root-ca.crt. Empty: that controller does not run.
  std::string root_ca_pem;
  // A process-wide informer factory shared with other components (the scheduler in `tug
  // server`): the manager then uses a scope over it (InformerFactory::NewScope), so each object
  // is cached once per process; its Stop() removes the controllers' handlers and leaves the
  // shared informers running. Null: the manager owns a factory on `client`. Borrowed; it must
  // outlive the manager, and its transform must keep what the controllers read.
  client::InformerFactory* shared_informers = nullptr;
};

class ControllerManager {
 public:
  ~ControllerManager();  // Stop()
  void Stop();
  // Names of the running controllers, in start order.
  std::vector<std::string> Running() const;

 private:
  friend Result<std::unique_ptr<ControllerManager>> StartControllers(const client::Client&, const Options&);
  ControllerManager() = default;
  std::unique_ptr<client::InformerFactory> informers_;
  std::vector<std::unique_ptr<framework::Controller>> controllers_;
  bool stopped_ = false;
};

// Every registered controller name (for flags and errors).
std::vector<std::string> KnownControllers();

// Starts the informer factory and every enabled controller; waits for the informers to sync.
// Errors: InvalidArgument-style BadRequest for an unknown controller name in opts.enabled;
// Unavailable when the informers do not sync within opts.informer_sync_timeout.
Result<std::unique_ptr<ControllerManager>> StartControllers(const client::Client& client, const Options& opts);

}  // namespace tug::controllers
