// The controller framework: the base every controller in src/controllers/<name> builds on, as
// kube-controller-manager's controllers are built (shared informers -> event handlers enqueue
// keys -> a rate-limited workqueue -> N workers calling Sync(key)). CONVENTIONS C4/C7/C9.
//
//   class ReplicaSetController : public framework::Controller {
//    public:
//     explicit ReplicaSetController(const framework::ControllerContext& ctx)
//         : Controller("replicaset", ctx) {
//       rs_ = &Informer(client::kReplicaSets);
//       rs_->AddHandler(EnqueueHandler());                 // every add/update/delete -> key
//       Informer(client::kPods).AddHandler({...});         // map a pod to its owner's key
//     }
//    protected:
//     Status Sync(const std::string& key) override;      // level-triggered reconcile
//   };
//
// Sync's Status is the retry policy (C4): OK forgets the key's back-off; any error requeues it
// rate-limited (logged once here, at V2 for Conflict/NotFound/AlreadyExists, which are normal
// races, WARNING otherwise). A Sync that needs to look again later (minReadySeconds, progress
// deadlines) calls EnqueueAfter and returns OK.
//
// Ownership: a Controller borrows the Client, the InformerFactory and the Clock from its
// ControllerContext (they outlive it); it owns its WorkQueue, its EventRecorder and its worker
// threads. Lifecycle: construct (register informers and handlers), then the owner starts and syncs
// the InformerFactory, then Run(workers); Stop() shuts the queue down and joins the workers (a
// key in progress finishes). The destructor calls Stop().
// Thread-safety: Sync runs on the worker threads, never for the same key on two at once (the
// WorkQueue guarantees it); Enqueue* are safe from any thread (informer handlers call them).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "client/client.h"
#include "client/events.h"
#include "client/informer.h"
#include "client/workqueue.h"
#include "controllers/framework/controller_ref.h"
#include "controllers/framework/expectations.h"
#include "controllers/framework/pod_util.h"

namespace tug::controllers::framework {

// What every controller gets from the manager.
struct ControllerContext {
  const client::Client* client = nullptr;           // not owned; outlives the controller
  client::InformerFactory* informers = nullptr;     // shared by all controllers; not owned
  Clock* clock = nullptr;                           // null: RealClock()
  // The cluster CA bundle (PEM) published as kube-root-ca.crt (Options::root_ca_pem).
  std::string root_ca_pem;
  // Base delay of the workqueue's per-key back-off (tests shorten the max).
  std::chrono::milliseconds queue_base_delay{5};
  std::chrono::milliseconds queue_max_delay{1000 * 1000};
};

class Controller {
 public:
  // `name` is the controller's name ("replicaset"); events are recorded with component
  // "<name>-controller" as upstream ("replicaset-controller", "deployment-controller").
  Controller(std::string name, const ControllerContext& ctx);
  virtual ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts `workers` worker threads (>= 1). Call once, after the InformerFactory has synced.
  void Run(int workers);
  // Refuses new work, lets in-flight syncs finish, joins the workers. Idempotent.
  void Stop();

  const std::string& name() const { return name_; }
  // Keys queued and not yet picked up (tests and metrics).
  size_t QueueLen() const { return queue_.Len(); }

  // Runs Sync(key) once on the calling thread, with the queue's retry handling (tests).
  Status SyncForTest(const std::string& key) { return Sync(key); }

 protected:
  // Reconciles one object by key ("ns/name" or "name"). See the header comment for the policy.
  virtual Status Sync(const std::string& key) = 0;

  // The shared informer for a resource (created on first use; the factory starts it).
  client::Informer& Informer(const client::Resource& r);

  void Enqueue(const std::string& key) { queue_.Add(key); }
  void Enqueue(const Json& obj) { queue_.Add(client::KeyOf(obj)); }
  void EnqueueAfter(const std::string& key, std::chrono::milliseconds delay) { queue_.AddAfter(key, delay); }
  void EnqueueRateLimited(const std::string& key) { queue_.AddRateLimited(key); }
  // A handler that enqueues the object's own key on add, update and delete.
  client::EventHandler EnqueueHandler();

  const client::Client& client() const { return *client_; }
  client::EventRecorder& recorder() { return *recorder_; }
  Clock& clock() const { return *clock_; }
  client::WorkQueue& queue() { return queue_; }

 private:
  void Worker();

  std::string name_;
  const client::Client* client_;
  client::InformerFactory* informers_;
  Clock* clock_;
  client::WorkQueue queue_;
  std::unique_ptr<client::EventRecorder> recorder_;
  std::vector<std::jthread> workers_;
  std::atomic<bool> stopped_{false};
};

}  // namespace tug::controllers::framework
