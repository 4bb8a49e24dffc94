#include "control_loops.h"

#include <unistd.h>

#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "apiserver/pki/pki.h"
#include "base/log.h"
#include "client/client.h"
#include "client/informer.h"
#include "client/leader_election.h"
#include "client/loopback.h"
#include "controllers/manager.h"
#include "scheduler/scheduler.h"

namespace tug::cmd {
namespace {

constexpr const char* kComponent = "tug";

std::string Identity() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return std::string(host) + "_" + std::to_string(getpid());
}

// One control loop: a client, an elector (with --leader-elect) and the start/stop of the component it guards.
struct Loop {
  std::string name;
  std::unique_ptr<client::Client> client;
  std::unique_ptr<client::LeaderElector> elector;
  std::function<Status(const client::Client&)> start;
  std::function<void()> stop;
  std::thread thread;
};

}  // namespace

struct ControlLoops::Impl {
  Impl(apiserver::Handler& a, const Config& c) : api(a), config(c) {}
  apiserver::Handler& api;
  Config config;
  // One informer cache for both loops (DESIGN.md §4, one copy of each object per process): the
  // controller manager and the scheduler each take a scope over it. It starts with the first
  // elected loop and runs until Stop(); declared before the loops' components, destroyed after.
  std::unique_ptr<client::Client> informer_client;
  std::unique_ptr<client::InformerFactory> informers;
  std::vector<std::unique_ptr<Loop>> loops;
  std::unique_ptr<controllers::ControllerManager> manager;
  std::unique_ptr<scheduler::Scheduler> sched;
  std::mutex mu;
  bool stopped = false;

  void Add(std::string name, std::string user, std::function<Status(const client::Client&)> start,
           std::function<void()> stop) {
    auto l = std::make_unique<Loop>();
    l->name = std::move(name);
    l->client = std::make_unique<client::Client>(
        client::NewLoopbackTransport(api, apiserver::UserInfo{user, "", {"system:authenticated"}}));
    if (config.leader_elect) {
      client::LeaderElectionConfig lc;
      lc.name = l->name;
      lc.identity = Identity();
      l->elector = std::make_unique<client::LeaderElector>(*l->client, lc);
    }
    l->start = std::move(start);
    l->stop = std::move(stop);
    loops.push_back(std::move(l));
  }
};

ControlLoops::ControlLoops(apiserver::Handler& api, const Config& config)
    : impl_(std::make_unique<Impl>(api, config)) {
  Impl& m = *impl_;
  m.informer_client = std::make_unique<client::Client>(client::NewLoopbackTransport(
      api, apiserver::UserInfo{"system:tug-control-loops", "", {"system:authenticated"}}));
  m.informers = std::make_unique<client::InformerFactory>(*m.informer_client);
  // What every loop reads: managedFields are never read (and are a large part of each object),
  // nor are some pod spec fields; objects are kept as compact text, the ones in use parsed
  // (client/informer.h). The node agent has its own cache.
  client::UseControlLoopCache(*m.informers);
  if (!config.disable_controllers) {
    m.Add(
        "kube-controller-manager", "system:kube-controller-manager",
        [&m](const client::Client& c) -> Status {
          controllers::Options o;
          o.enabled = m.config.controllers;
          o.shared_informers = m.informers.get();
          // --root-ca-file: the cluster CA, published as kube-root-ca.crt in every namespace.
          if (auto ca = apiserver::pki::ReadFile(m.config.data_dir + "/tls/ca.crt"); ca.ok()) o.root_ca_pem = *ca;
          ASSIGN_OR_RETURN(auto mgr, controllers::StartControllers(c, o));
          std::lock_guard<std::mutex> lock(m.mu);
          m.manager = std::move(mgr);
          return Status::Ok();
        },
        [&m] {
          std::unique_ptr<controllers::ControllerManager> mgr;
          {
            std::lock_guard<std::mutex> lock(m.mu);
            mgr = std::move(m.manager);
          }
          if (mgr) mgr->Stop();
        });
  }
  if (!config.disable_scheduler) {
    m.Add(
        "kube-scheduler", "system:kube-scheduler",
        [&m](const client::Client& c) -> Status {
          scheduler::SchedulerOptions so;
          so.shared_informers = m.informers.get();
          ASSIGN_OR_RETURN(auto s, scheduler::StartScheduler(c, std::move(so)));
          std::lock_guard<std::mutex> lock(m.mu);
          m.sched = std::move(s);
          return Status::Ok();
        },
        [&m] {
          std::unique_ptr<scheduler::Scheduler> s;
          {
            std::lock_guard<std::mutex> lock(m.mu);
            s = std::move(m.sched);
          }
          if (s) s->Stop();
        });
  }
}

ControlLoops::~ControlLoops() { Stop(); }

void ControlLoops::Start() {
  for (auto& lp : impl_->loops) {
    Loop* l = lp.get();
    // Starts the component; `why` says what let it start (logged).
    auto run = [l](const char* why) {
      TUG_LOG(INFO, kComponent) << why << kv("component", l->name);
      Status st = l->start(*l->client);
      if (!st.ok()) TUG_LOG(ERROR, kComponent) << "start failed" << kv("component", l->name) << kv("err", st.ToString());
    };
    if (!l->elector) {  // no election: this server is the only one on its store
      l->thread = std::thread([run] { run("starting"); });
      continue;
    }
    l->thread = std::thread([l, run] {
      l->elector->Run([run] { run("elected; starting"); },
                      [l] {
                        TUG_LOG(INFO, kComponent) << "stopping" << kv("component", l->name);
                        l->stop();
                      });
    });
  }
}

void ControlLoops::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  for (auto& l : impl_->loops)
    if (l->elector) l->elector->Stop();
  for (auto& l : impl_->loops)
    if (l->thread.joinable()) l->thread.join();
  for (auto& l : impl_->loops) l->stop();  // without an elector, or in case it never called it
  impl_->informers->Stop();
}

}  // namespace tug::cmd
