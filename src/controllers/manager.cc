#include "controllers/manager.h"

#include <functional>
#include <set>

#include "base/log.h"
#include "controllers/framework/controller.h"
// ---- controller headers (one line each) ----
#include "controllers/deployment/deployment.h"
#include "controllers/garbagecollector/garbage_collector.h"
#include "controllers/namespace/namespace.h"
#include "controllers/replicaset/replica_set.h"
#include "controllers/serviceaccount/service_account.h"
#include "controllers/rootcacert/root_ca_cert.h"
#include "controllers/endpoints/endpoints_controller.h"
#include "controllers/endpoints/endpointslice_controller.h"
// ---- ctrl-b: include your headers here ----
#include "controllers/cronjob/cronjob_controller.h"
#include "controllers/daemonset/daemonset_controller.h"
#include "controllers/disruption/disruption_controller.h"
#include "controllers/hpa/hpa_controller.h"
#include "controllers/job/job_controller.h"
#include "controllers/nodelifecycle/nodelifecycle_controller.h"
#include "controllers/podgc/podgc_controller.h"
#include "controllers/statefulset/statefulset_controller.h"

namespace tug::controllers {
namespace {

using Factory = std::function<Result<std::unique_ptr<framework::Controller>>(const framework::ControllerContext&)>;

// Adapts a factory that cannot fail.
Factory Wrap(std::unique_ptr<framework::Controller> (*f)(const framework::ControllerContext&)) {
  return [f](const framework::ControllerContext& ctx) -> Result<std::unique_ptr<framework::Controller>> { return f(ctx); };
}

struct Registration {
  const char* name;   // upstream's controller name where there is one ("replicaset", "garbagecollector")
  Factory factory;
  bool enabled_by_default = true;
};

// The registry of named factories (C10). Start order is table order. One line per controller.
const std::vector<Registration>& Registry() {
  static const std::vector<Registration> kControllers = {
      // ---- ctrl-a ----
      {"replicaset", Wrap(replicaset::NewReplicaSetController)},
      {"replicationcontroller", Wrap(replicaset::NewReplicationControllerController)},
      {"deployment", Wrap(deployment::NewDeploymentController)},
      {"garbagecollector", [](const framework::ControllerContext& c) { return garbagecollector::NewGarbageCollector(c); }},
      {"namespace", [](const framework::ControllerContext& c) { return namespaces::NewNamespaceController(c); }},
      {"serviceaccount", Wrap(serviceaccount::NewServiceAccountController)},
      {"root-ca-cert-publisher", Wrap(rootcacert::NewRootCaCertPublisher)},  // sa-tokens
      {"endpoints", Wrap(endpoints::NewEndpointsController)},
      {"endpointslice", Wrap(endpoints::NewEndpointSliceController)},
      // ---- ctrl-b: add {"name", factory} lines here ----
      {"job", Wrap(job::NewJobController)},  // includes ttl-after-finished
      {"cronjob", Wrap(cronjob::NewCronJobController)},
      {"daemonset", Wrap(daemonset::NewDaemonSetController)},
      {"statefulset", Wrap(statefulset::NewStatefulSetController)},
      {"nodelifecycle", Wrap(nodelifecycle::NewNodeLifecycleController)},  // includes taint-eviction
      {"podgc", Wrap(podgc::NewPodGcController)},
      {"disruption", Wrap(disruption::NewDisruptionController)},
      {"horizontalpodautoscaling", Wrap(hpa::NewHpaController)},
  };
  return kControllers;
}

// Upstream's --controllers semantics: "*" enables the defaults, "foo" enables, "-foo" disables.
Result<std::set<std::string>> Enabled(const std::vector<std::string>& spec) {
  std::set<std::string> known;
  for (const auto& r : Registry()) known.insert(r.name);
  std::vector<std::string> s = spec.empty() ? std::vector<std::string>{"*"} : spec;
  std::set<std::string> on;
  bool star = false;
  for (const std::string& e : s) {
    if (e == "*") {
      star = true;
      continue;
    }
    std::string n = e[0] == '-' ? e.substr(1) : e;
    if (!known.count(n)) return BadRequestError("unknown controller \"" + n + "\"");
  }
  for (const auto& r : Registry()) {
    bool want = star && r.enabled_by_default;
    for (const std::string& e : s) {
      if (e == r.name) want = true;
      if (e == std::string("-") + r.name) want = false;
    }
    if (want) on.insert(r.name);
  }
  return on;
}

}  // namespace

std::vector<std::string> KnownControllers() {
  std::vector<std::string> out;
  for (const auto& r : Registry()) out.push_back(r.name);
  return out;
}

ControllerManager::~ControllerManager() { Stop(); }

void ControllerManager::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // Reverse start order (C8): controllers' workers first, then the informers they read. The
  // controllers are destroyed only after the informers stopped: their handlers capture them.
  for (auto it = controllers_.rbegin(); it != controllers_.rend(); ++it) {
    TUG_LOG(INFO, "controllers") << "stopping controller" << kv("controller", (*it)->name());
    (*it)->Stop();
  }
  if (informers_) informers_->Stop();
  controllers_.clear();
  informers_.reset();
}

std::vector<std::string> ControllerManager::Running() const {
  std::vector<std::string> out;
  for (const auto& c : controllers_) out.push_back(c->name());
  return out;
}

Result<std::unique_ptr<ControllerManager>> StartControllers(const client::Client& client, const Options& opts) {
  ASSIGN_OR_RETURN(std::set<std::string> on, Enabled(opts.enabled));
  std::unique_ptr<ControllerManager> m(new ControllerManager());
  if (opts.shared_informers) {
    m->informers_ = opts.shared_informers->NewScope();
  } else {
    m->informers_ = std::make_unique<client::InformerFactory>(client);
    client::UseControlLoopCache(*m->informers_);  // as in `tug server`
  }
  framework::ControllerContext ctx{
      .client = &client, .informers = m->informers_.get(), .clock = opts.clock, .root_ca_pem = opts.root_ca_pem};
  for (const auto& r : Registry()) {
    if (!on.count(r.name)) continue;
    auto c = r.factory(ctx);
    if (!c.ok()) {
      TUG_LOG(ERROR, "controllers") << "cannot create controller" << kv("controller", r.name)
                                    << kv("error", c.status().ToString());
      return c.status();
    }
    if (!*c) continue;  // not configured here (root-ca-cert-publisher without a CA)
    m->controllers_.push_back(std::move(*c));
  }
  m->informers_->Start();
  if (!m->informers_->WaitForSync(opts.informer_sync_timeout)) {
    return UnavailableError("controller informers did not sync");
  }
  for (auto& c : m->controllers_) c->Run(opts.workers);
  return m;
}

}  // namespace tug::controllers
