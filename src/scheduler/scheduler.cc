#include "scheduler/scheduler.h"

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "client/events.h"
#include "client/informer.h"
#include "scheduler/cache/cache.h"
#include "scheduler/framework/schedule_pod.h"
#include "scheduler/plugins/registry.h"
#include "scheduler/queue/scheduling_queue.h"

namespace tug::scheduler {

namespace {

using framework::Code;
using framework::CycleState;
using framework::NodeInfo;
using framework::ObjectPtr;
using framework::Plugin;
using framework::PluginStatus;
using framework::PodInfo;
using framework::PodInfoPtr;

constexpr const char* kLog = "scheduler";

// CPU time of the calling thread (ns): what a cycle costs, whatever the host's load.
uint64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

bool Terminal(const Json& pod) {
  std::string phase = GetStringPath(pod, {"status", "phase"});
  return phase == "Succeeded" || phase == "Failed";
}

const Json* At(const Json& j, std::initializer_list<std::string_view> path) { return FindPath(j, path); }

bool SameJson(const Json* a, const Json* b) {
  if (!a || !b) return a == b;
  return *a == *b;
}

// Pod changes that can affect scheduling (status-only updates, including our own condition
// patches, do not).
bool SchedulingRelevantChange(const Json& o, const Json& n) {
  return !SameJson(At(o, {"spec"}), At(n, {"spec"})) || !SameJson(At(o, {"metadata", "labels"}), At(n, {"metadata", "labels"})) ||
         !SameJson(At(o, {"metadata", "annotations"}), At(n, {"metadata", "annotations"})) ||
         !SameJson(At(o, {"metadata", "deletionTimestamp"}), At(n, {"metadata", "deletionTimestamp"})) ||
         !SameJson(At(o, {"status", "nominatedNodeName"}), At(n, {"status", "nominatedNodeName"}));
}

bool NodeSchedulingChange(const Json& o, const Json& n) {
  return !SameJson(At(o, {"spec", "unschedulable"}), At(n, {"spec", "unschedulable"})) ||
         !SameJson(At(o, {"spec", "taints"}), At(n, {"spec", "taints"})) ||
         !SameJson(At(o, {"metadata", "labels"}), At(n, {"metadata", "labels"})) ||
         !SameJson(At(o, {"status", "allocatable"}), At(n, {"status", "allocatable"}));
}

class SchedulerImpl final : public Scheduler, public framework::Handle, public framework::ClusterLister {
 public:
  SchedulerImpl(const client::Client& c, SchedulerOptions opts)
      : client_(c), opts_(std::move(opts)), clock_(opts_.clock ? opts_.clock : &RealClock()) {}

  ~SchedulerImpl() override { Stop(); }

  Status Start() {
    if (opts_.profile.plugins.empty()) {
      std::string name = opts_.scheduler_name;
      int32_t pct = opts_.profile.percentage_of_nodes_to_score;
      opts_.profile = framework::DefaultProfile();
      opts_.profile.percentage_of_nodes_to_score = pct;
      opts_.profile.scheduler_name = name;
    }
    registry_ = plugins::DefaultRegistry();
    framework::PluginContext ctx;
    ctx.handle = this;
    ctx.bind = [this](const PodInfo& p, const std::string& node) { return BindPod(p, node); };
    ctx.evict = [this](const PodInfo& v, const PodInfo& by, const std::string& node) { return Evict(v, by, node); };
    ctx.select_pvc_node = [this](const std::string& ns, const std::string& name, const std::string& node) {
      Json patch = {{"metadata", {{"annotations", {{"volume.kubernetes.io/selected-node", node}}}}}};
      return client_.Patch(client::kPersistentVolumeClaims, ns, name, client::PatchType::kMerge, DumpJson(patch))
          .status();
    };
    auto fw = framework::Framework::Create(registry_, opts_.profile, ctx);
    if (!fw.ok()) return fw.status();
    fw_ = std::move(fw).value();

    queue::QueueOptions qo;
    qo.clock = clock_;
    qo.initial_backoff = opts_.initial_backoff;
    qo.max_backoff = opts_.max_backoff;
    qo.max_in_unschedulable = opts_.max_in_unschedulable;
    qo.events_for = [this](const std::vector<std::string>& plugins) { return fw_->EventsFor(plugins); };
    queue_ = std::make_unique<queue::SchedulingQueue>(std::move(qo));
    if (opts_.record_events) {
      client::EventSource src;
      src.component = "default-scheduler";
      src.clock = clock_;
      src.writers = std::max(1, opts_.bind_workers);  // one Scheduled event per binding: the same concurrency
      events_ = std::make_unique<client::EventRecorder>(client_, src);
    }

    if (opts_.shared_informers) {
      factory_ = opts_.shared_informers->NewScope();
    } else {
      factory_ = std::make_unique<client::InformerFactory>(client_);
      client::UseControlLoopCache(*factory_);  // as in `tug server`
    }
    pods_ = &factory_->For(client::kPods);
    nodes_ = &factory_->For(client::kNodes);
    pvcs_ = &factory_->For(client::kPersistentVolumeClaims);
    pvs_ = &factory_->For(client::kPersistentVolumes);
    classes_ = &factory_->For(client::kStorageClasses);
    pcs_ = &factory_->For(client::kPriorityClasses);
    nss_ = &factory_->For(client::kNamespaces);
    svcs_ = &factory_->For(client::kServices);
    rss_ = &factory_->For(client::kReplicaSets);
    sss_ = &factory_->For(client::kStatefulSets);
    rcs_ = &factory_->For(client::kReplicationControllers);

    pods_->AddHandler({.on_add = [this](const ObjectPtr& o) { OnPod(nullptr, o); },
                       .on_update = [this](const ObjectPtr& a, const ObjectPtr& b) { OnPod(a, b); },
                       .on_delete = [this](const ObjectPtr& o) { OnPodDelete(o); }});
    nodes_->AddHandler({.on_add = [this](const ObjectPtr& o) {
                          cache_.AddNode(o);
                          queue_->MoveAllToActiveOrBackoff(Plugin::kNodeAdd);
                        },
                        .on_update = [this](const ObjectPtr& a, const ObjectPtr& b) {
                          cache_.UpdateNode(b);
                          if (NodeSchedulingChange(*a, *b)) queue_->MoveAllToActiveOrBackoff(Plugin::kNodeUpdate);
                        },
                        .on_delete = [this](const ObjectPtr& o) {
                          cache_.RemoveNode(GetStringPath(*o, {"metadata", "name"}));
                        }});
    auto mover = [this](unsigned ev) {
      return client::EventHandler{.on_add = [this, ev](const ObjectPtr&) { queue_->MoveAllToActiveOrBackoff(ev); },
                                  .on_update = [this, ev](const ObjectPtr& a, const ObjectPtr& b) {
                                    if (a != b) queue_->MoveAllToActiveOrBackoff(ev);
                                  },
                                  .on_delete = nullptr};
    };
    pvcs_->AddHandler(mover(Plugin::kPvcChange));
    pvs_->AddHandler(mover(Plugin::kPvChange));
    classes_->AddHandler(mover(Plugin::kStorageClassChange));
    nss_->AddHandler(mover(Plugin::kNamespaceChange));

    factory_->Start();
    if (!factory_->WaitForSync(opts_.informer_sync_timeout)) {
      factory_->Stop();
      return UnavailableError("scheduler: informers did not sync");
    }
    int par = opts_.parallelism;
    // Half the hardware threads by default: the bindings and their events (API work in the same
    // process) need the rest. On 2 cores a helper cost more CPU in wake-ups than it saved (the
    // bench: ~10-15% more CPU per scheduled pod, no faster).
    if (par <= 0) par = static_cast<int>(std::min(16u, std::max(1u, std::thread::hardware_concurrency() / 2)));
    par_ = std::make_unique<framework::Parallelizer>(par);
    ss_.parallel = par_.get();
    running_ = true;
    for (int i = 0; i < std::max(1, opts_.bind_workers); ++i) workers_.emplace_back([this] { WorkerLoop(); });
    sched_thread_ = std::thread([this] { ScheduleLoop(); });
    TUG_LOG(INFO, kLog) << "started" << kv("scheduler", opts_.scheduler_name) << kv("nodes", cache_.NumNodes())
                        << kv("bind_workers", opts_.bind_workers) << kv("parallelism", par);
    return Status::Ok();
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> l(stop_mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    stopping_ = true;
    if (queue_) queue_->Close();
    if (sched_thread_.joinable()) sched_thread_.join();
    {
      std::lock_guard<std::mutex> l(work_mu_);
      work_closed_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_)
      if (t.joinable()) t.join();
    workers_.clear();
    if (factory_) factory_->Stop();
    events_.reset();  // flushes pending events
    if (running_) TUG_LOG(INFO, kLog) << "stopped" << kv("bound", bound_.load());
  }

  SchedulerStats Stats() const override {
    SchedulerStats s;
    s.attempts = attempts_.load();
    s.bound = bound_.load();
    s.unschedulable = unschedulable_.load();
    s.errors = errors_.load();
    s.preemptions = preemptions_.load();
    s.cycle_seconds = static_cast<double>(cycle_ns_.load()) / 1e9;
    s.cycle_cpu_seconds = static_cast<double>(cycle_cpu_ns_.load()) / 1e9;
    s.bind_seconds = static_cast<double>(bind_ns_.load()) / 1e9;
    return s;
  }

  // --- framework::Handle (called by the scheduling thread while it holds the cache lock) ----
  const framework::ClusterLister& lister() const override { return *this; }
  const std::vector<const NodeInfo*>& AllNodes() const override { return cache_.NodesLocked(); }
  std::vector<const NodeInfo*> NodesWithAffinityPods() const override { return cache_.NodesWithAffinityPodsLocked(); }
  bool HasNominatedPods() const override { return num_nominated_.load(std::memory_order_relaxed) > 0; }
  std::vector<PodInfoPtr> NominatedPodsForNode(const std::string& node) const override {
    std::lock_guard<std::mutex> l(nom_mu_);
    std::vector<PodInfoPtr> out;
    auto it = nominated_.find(node);
    if (it != nominated_.end())
      for (const auto& [k, p] : it->second) out.push_back(p);
    return out;
  }

  // --- framework::ClusterLister ---------------------------------------------------------------
  ObjectPtr GetPvc(std::string_view ns, std::string_view name) const override {
    return pvcs_->Get(std::string(ns) + "/" + std::string(name));
  }
  ObjectPtr GetPv(std::string_view name) const override { return pvs_->Get(name); }
  ObjectPtr GetStorageClass(std::string_view name) const override { return classes_->Get(name); }
  std::vector<ObjectPtr> ListPvs() const override {
    auto l = pvs_->List();
    return {l.begin(), l.end()};
  }
  const Json* NamespaceLabels(std::string_view ns) const override {
    // Pinned for the cycle: the informer may replace the object meanwhile.
    std::lock_guard<std::mutex> l(pin_mu_);
    auto it = pinned_ns_.find(std::string(ns));
    if (it == pinned_ns_.end()) it = pinned_ns_.emplace(std::string(ns), nss_->Get(ns)).first;
    return it->second ? framework::Labels(*it->second) : nullptr;
  }
  framework::LabelSelector DefaultSpreadSelector(const PodInfo& pod) const override {
    framework::LabelSelector sel;
    bool any = false;
    auto map_selectors = [&](client::Informer* inf, std::initializer_list<std::string_view> path) {
      for (const client::ObjectPtr& o : inf->List(pod.ns)) {
        const Json* m = FindPath(*o, path);
        if (!m || !m->is_object() || m->empty()) continue;
        framework::LabelSelector s = framework::LabelSelector::FromMap(m);
        if (!s.Matches(pod.labels)) continue;
        sel.Merge(s);
        any = true;
      }
    };
    map_selectors(svcs_, {"spec", "selector"});
    map_selectors(rcs_, {"spec", "selector"});
    for (client::Informer* inf : {rss_, sss_})
      for (const client::ObjectPtr& o : inf->List(pod.ns)) {
        const Json* m = FindPath(*o, {"spec", "selector"});
        if (!m) continue;
        framework::LabelSelector s = framework::LabelSelector::FromJson(m);
        if (s.Empty() || !s.Matches(pod.labels)) continue;
        sel.Merge(s);
        any = true;
      }
    return any ? sel : framework::LabelSelector::Nothing();
  }

 private:
  struct BindTask {
    queue::QueuedPod qp;
    PodInfoPtr assumed;
    std::unique_ptr<CycleState> state;
    std::string node;
  };

  bool Responsible(const Json& pod) const {
    std::string n = GetStringPath(pod, {"spec", "schedulerName"});
    return n.empty() ? opts_.scheduler_name == framework::kDefaultSchedulerName : n == opts_.scheduler_name;
  }

  // PodInfo with the priority resolved from the PriorityClass when spec.priority is unset.
  PodInfoPtr BuildPodInfo(const ObjectPtr& obj, bool keep_document = true) const {
    PodInfoPtr info = PodInfo::Build(obj, keep_document);
    if (info->has_priority) return info;
    int32_t prio = 0;
    bool never = info->preempt_never;
    bool explicit_policy = FindPath(*obj, {"spec", "preemptionPolicy"}) != nullptr;
    ObjectPtr pc;
    if (!info->priority_class_name.empty()) {
      pc = pcs_->Get(info->priority_class_name);
      if (!pc && info->priority_class_name == "system-node-critical") prio = 2000001000;
      if (!pc && info->priority_class_name == "system-cluster-critical") prio = 2000000000;
    } else {
      for (const client::ObjectPtr& c : pcs_->List())
        if (const Json* g = Find(*c, "globalDefault"); g && g->is_boolean() && g->get<bool>()) pc = c;
    }
    if (pc) {
      if (const Json* v = Find(*pc, "value"); v && v->is_number_integer()) prio = v->get<int32_t>();
      if (!explicit_policy) never = GetString(*pc, "preemptionPolicy") == "Never";
    }
    if (prio == 0 && never == info->preempt_never) return info;
    auto copy = std::make_shared<PodInfo>(*info);
    copy->priority = prio;
    copy->preempt_never = never;
    return copy;
  }

  // Tracks pods nominated to a node by preemption (node "" or pod null: not nominated).
  void SetNominated(const std::string& key, PodInfoPtr pod, const std::string& node) {
    std::lock_guard<std::mutex> l(nom_mu_);
    auto it = nominated_node_of_.find(key);
    if (it != nominated_node_of_.end()) {
      auto nit = nominated_.find(it->second);
      if (nit != nominated_.end()) {
        nit->second.erase(key);
        if (nit->second.empty()) nominated_.erase(nit);
      }
      nominated_node_of_.erase(it);
    }
    if (pod && !node.empty()) {
      nominated_[node][key] = std::move(pod);
      nominated_node_of_[key] = node;
    }
    num_nominated_.store(nominated_node_of_.size(), std::memory_order_relaxed);
  }

  void OnPod(const ObjectPtr& old_obj, const ObjectPtr& obj) {
    const Json& pod = *obj;
    std::string node = GetStringPath(pod, {"spec", "nodeName"});
    std::string key = GetStringPath(pod, {"metadata", "namespace"}) + "/" + GetStringPath(pod, {"metadata", "name"});
    if (!node.empty()) {
      const bool newly_assigned = !old_obj || GetStringPath(*old_obj, {"spec", "nodeName"}).empty();
      if (newly_assigned) {
        queue_->Delete(key);
        SetNominated(key, nullptr, "");
      }
      if (Terminal(pod)) {
        cache_.RemovePod(key);
        queue_->MoveAllToActiveOrBackoff(Plugin::kPodDelete);
        return;
      }
      // The cached pod follows the informer's copy on every update (as upstream's
      // cache.UpdatePod), also when nothing a plugin reads changed: holding the old document
      // kept two trees of every running pod (the bound version and the current one). Nor does
      // it keep the document: plugins read the PodInfo, and the informer's copy alone is enough
      // (it need not stay parsed). The cache applies it without waiting for a scheduling cycle.
      cache_.AddPod(BuildPodInfo(obj, /*keep_document=*/false));
      if (newly_assigned || SchedulingRelevantChange(*old_obj, pod))
        queue_->MoveAllToActiveOrBackoff(old_obj ? Plugin::kPodUpdate : Plugin::kPodAdd);
      return;
    }
    if (!Responsible(pod) || Terminal(pod) || FindPath(pod, {"metadata", "deletionTimestamp"})) {
      queue_->Delete(key);
      SetNominated(key, nullptr, "");
      return;
    }
    if (old_obj && !SchedulingRelevantChange(*old_obj, pod)) return;
    PodInfoPtr info = BuildPodInfo(obj);
    SetNominated(key, info, info->nominated_node_name);
    if (old_obj) queue_->Update(std::move(info));
    else queue_->Add(std::move(info));
  }

  void OnPodDelete(const ObjectPtr& obj) {
    std::string key = GetStringPath(*obj, {"metadata", "namespace"}) + "/" + GetStringPath(*obj, {"metadata", "name"});
    queue_->Delete(key);
    SetNominated(key, nullptr, "");
    if (!GetStringPath(*obj, {"spec", "nodeName"}).empty() || cache_.HasPod(key)) {
      cache_.RemovePod(key);
      queue_->MoveAllToActiveOrBackoff(Plugin::kPodDelete);
    }
  }

  // --- scheduling ----------------------------------------------------------------------------

  void ScheduleLoop() {
    pthread_setname_np(pthread_self(), "sched-loop");
    while (!stopping_) {
      std::optional<queue::QueuedPod> qp = queue_->Pop();
      if (!qp) break;
      auto t0 = std::chrono::steady_clock::now();
      uint64_t c0 = ThreadCpuNs();
      ScheduleOne(std::move(*qp));
      cycle_cpu_ns_ += ThreadCpuNs() - c0;
      cycle_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    }
  }

  void ScheduleOne(queue::QueuedPod qp) {
    const PodInfo& pod = *qp.pod;
    ObjectPtr cur = pods_->Get(pod.key);
    if (!cur || !GetStringPath(*cur, {"spec", "nodeName"}).empty() || FindPath(*cur, {"metadata", "deletionTimestamp"}) ||
        cache_.HasPod(pod.key)) {
      queue_->Done(pod.key);
      return;
    }
    attempts_++;
    auto st = std::make_unique<CycleState>(fw_->NumSlots());
    framework::ScheduleResult r;
    framework::PostFilterPlugin::Result pf;
    size_t num_nodes = 0;
    {
      auto lock = cache_.Lock();
      {
        std::lock_guard<std::mutex> l(pin_mu_);
        pinned_ns_.clear();
      }
      num_nodes = cache_.NodesLocked().size();
      r = framework::SchedulePod(*fw_, *st, pod, *this, ss_);
      if (r.fit_error && num_nodes > 0 && fw_->HasPostFilter()) {
        PluginStatus s = fw_->RunPostFilter(*st, pod, r.diagnosis.node_to_status, &pf);
        if (!s.ok()) r.diagnosis.post_filter_msg = s.Message();
      }
    }
    if (r.node.empty()) {
      HandleFailure(std::move(qp), cur, r, pf.nominated_node, num_nodes);
      return;
    }
    PodInfoPtr assumed = pod.WithNodeName(r.node);
    if (Status s = cache_.AssumePod(assumed); !s.ok()) {
      TUG_LOG(WARNING, kLog) << "assume failed" << kv("pod", pod.key) << kv("err", s.message());
      queue_->AddBackoff(std::move(qp));
      return;
    }
    SetNominated(pod.key, nullptr, "");  // the assumed pod itself now holds the space
    PluginStatus rs = fw_->RunReserve(*st, *assumed, r.node);
    if (rs.ok()) rs = fw_->RunPermit(*st, *assumed, r.node);
    if (!rs.ok()) {
      fw_->RunUnreserve(*st, *assumed, r.node);
      cache_.ForgetPod(pod.key);
      errors_++;
      Fail(std::move(qp), cur, "SchedulerError", rs.Message(), {}, /*unschedulable=*/false);
      return;
    }
    auto task = std::make_shared<BindTask>(BindTask{std::move(qp), assumed, std::move(st), r.node});
    Post([this, task] {
      auto t0 = std::chrono::steady_clock::now();
      Bind(*task);
      bind_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    });
  }

  void HandleFailure(queue::QueuedPod qp, const ObjectPtr& cur, const framework::ScheduleResult& r,
                     const std::string& nominated, size_t num_nodes) {
    if (!r.fit_error) {
      errors_++;
      Fail(std::move(qp), cur, "SchedulerError", r.status.Message(), {}, false);
      return;
    }
    unschedulable_++;
    std::string msg = num_nodes == 0 ? r.status.Message() : framework::FitErrorMessage(num_nodes, r.diagnosis);
    if (!nominated.empty()) {
      preemptions_++;
      auto copy = std::make_shared<PodInfo>(*qp.pod);
      copy->nominated_node_name = nominated;
      SetNominated(copy->key, copy, nominated);
    }
    qp.unschedulable_plugins = r.diagnosis.unschedulable_plugins;
    Fail(std::move(qp), cur, "Unschedulable", msg, nominated, true);
  }

  // Records the failure (event + PodScheduled=False condition) and requeues the pod.
  void Fail(queue::QueuedPod qp, const ObjectPtr& cur, const std::string& reason, const std::string& msg,
            const std::string& nominated, bool unschedulable) {
    TUG_VLOG(2, kLog) << "unable to schedule pod" << kv("pod", qp.pod->key) << kv("reason", reason) << kv("msg", msg);
    if (events_ && cur) events_->Record(*cur, "Warning", "FailedScheduling", msg);
    if (cur) {
      ObjectPtr pod = cur;
      Post([this, pod, reason, msg, nominated] { PatchCondition(*pod, reason, msg, nominated); });
    }
    if (unschedulable) queue_->AddUnschedulable(std::move(qp));
    else queue_->AddBackoff(std::move(qp));
  }

  void PatchCondition(const Json& snapshot, const std::string& reason, const std::string& msg,
                      const std::string& nominated) {
    std::string ns = GetStringPath(snapshot, {"metadata", "namespace"});
    std::string name = GetStringPath(snapshot, {"metadata", "name"});
    ObjectPtr latest = pods_->Get(ns + "/" + name);
    const Json& pod = latest ? *latest : snapshot;
    if (!GetStringPath(pod, {"spec", "nodeName"}).empty()) return;  // bound meanwhile
    std::string since = FormatRFC3339(clock_->Now());
    if (const Json* conds = FindPath(pod, {"status", "conditions"}); conds && conds->is_array())
      for (const Json& c : *conds) {
        if (GetString(c, "type") != "PodScheduled") continue;
        if (GetString(c, "status") == "False") {
          if (GetString(c, "reason") == reason && GetString(c, "message") == msg &&
              (nominated.empty() || GetStringPath(pod, {"status", "nominatedNodeName"}) == nominated))
            return;  // nothing changed
          since = GetString(c, "lastTransitionTime", since);
        }
      }
    Json cond = {{"type", "PodScheduled"}, {"status", "False"}, {"reason", reason}, {"message", msg},
                 {"lastProbeTime", nullptr}, {"lastTransitionTime", since}};
    Json patch = {{"status", {{"conditions", Json::array({cond})}}}};
    if (!nominated.empty()) patch["status"]["nominatedNodeName"] = nominated;
    auto res = client_.Patch(client::kPods, ns, name, client::PatchType::kStrategic, DumpJson(patch), "status");
    if (!res.ok() && res.status().code() != StatusCode::kNotFound)
      TUG_LOG(WARNING, kLog) << "pod condition update failed" << kv("pod", ns + "/" + name)
                             << kv("err", res.status().message());
  }

  // --- binding (worker threads) --------------------------------------------------------------

  void Post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> l(work_mu_);
      work_.push_back(std::move(fn));
    }
    work_cv_.notify_one();
  }

  void WorkerLoop() {
    pthread_setname_np(pthread_self(), "sched-bind");
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> l(work_mu_);
        work_cv_.wait(l, [&] { return work_closed_ || !work_.empty(); });
        if (work_.empty()) return;  // closed and drained
        fn = std::move(work_.front());
        work_.pop_front();
      }
      fn();
    }
  }

  void Bind(BindTask& t) {
    const PodInfo& pod = *t.assumed;
    PluginStatus s = fw_->RunPreBind(*t.state, pod, t.node);
    if (s.ok()) s = fw_->RunBind(*t.state, pod, t.node);
    if (s.ok()) {
      cache_.FinishBinding(pod.key);
      queue_->Done(pod.key);
      bound_++;
      TUG_VLOG(4, kLog) << "bound" << kv("pod", pod.key) << kv("node", t.node);
      if (events_)
        events_->Record(*pod.pod, "Normal", "Scheduled", "Successfully assigned " + pod.key + " to " + t.node);
      return;
    }
    fw_->RunUnreserve(*t.state, pod, t.node);
    cache_.ForgetPod(pod.key);
    ObjectPtr cur = pods_->Get(pod.key);
    if (!cur || !GetStringPath(*cur, {"spec", "nodeName"}).empty()) {
      queue_->Done(pod.key);  // deleted, or bound by someone else meanwhile
      return;
    }
    errors_++;
    TUG_LOG(WARNING, kLog) << "binding failed" << kv("pod", pod.key) << kv("node", t.node) << kv("err", s.Message());
    if (events_) events_->Record(*cur, "Warning", "FailedScheduling", "Binding rejected: " + s.Message());
    queue_->AddBackoff(std::move(t.qp));
  }

  Status BindPod(const PodInfo& pod, const std::string& node) {
    auto q = [](std::string_view s) { return DumpJson(Json(s)); };
    client::HttpRequest req;
    req.method = "POST";
    req.path = client::kPods.Path(pod.ns, pod.name, "binding");
    req.content_type = "application/json";
    req.body = R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":)" + q(pod.name) + R"(,"namespace":)" +
               q(pod.ns) + R"(,"uid":)" + q(pod.uid) + R"(},"target":{"apiVersion":"v1","kind":"Node","name":)" +
               q(node) + "}}";
    return client_.DoNoBody(req);  // the answer is a Success Status
  }

  Status Evict(const PodInfo& victim, const PodInfo& preemptor, const std::string& node) {
    if (events_)
      events_->Record(victim.pod ? *victim.pod : victim.Reference(), "Normal", "Preempted",
                      "Preempted by pod " + preemptor.uid + " on node " + node);
    Json cond = {{"type", "DisruptionTarget"}, {"status", "True"}, {"reason", "PreemptionByScheduler"},
                 {"message", opts_.scheduler_name + ": preempting to accommodate a higher priority pod"},
                 {"lastTransitionTime", FormatRFC3339(clock_->Now())}};
    Json patch = {{"status", {{"conditions", Json::array({cond})}}}};
    (void)client_.Patch(client::kPods, victim.ns, victim.name, client::PatchType::kStrategic, DumpJson(patch), "status");
    client::DeleteOptions d;
    d.precondition_uid = victim.uid;
    TUG_LOG(INFO, kLog) << "preempting" << kv("victim", victim.key) << kv("preemptor", preemptor.key) << kv("node", node);
    return client_.Delete(client::kPods, victim.ns, victim.name, d).status();
  }

  const client::Client& client_;
  SchedulerOptions opts_;
  Clock* clock_;
  framework::Registry registry_;
  std::unique_ptr<framework::Framework> fw_;
  std::unique_ptr<queue::SchedulingQueue> queue_;
  std::unique_ptr<client::EventRecorder> events_;
  std::unique_ptr<client::InformerFactory> factory_;
  client::Informer *pods_ = nullptr, *nodes_ = nullptr, *pvcs_ = nullptr, *pvs_ = nullptr, *classes_ = nullptr,
                   *pcs_ = nullptr, *nss_ = nullptr, *svcs_ = nullptr, *rss_ = nullptr, *sss_ = nullptr,
                   *rcs_ = nullptr;
  cache::Cache cache_;
  std::unique_ptr<framework::Parallelizer> par_;
  framework::ScheduleState ss_;  // scheduling thread only

  mutable std::mutex nom_mu_;
  std::map<std::string, std::map<std::string, PodInfoPtr>> nominated_;  // node -> pod key -> pod
  std::map<std::string, std::string> nominated_node_of_;                // pod key -> node
  std::atomic<size_t> num_nominated_{0};                                // nominated_node_of_.size()

  mutable std::mutex pin_mu_;
  mutable std::map<std::string, ObjectPtr> pinned_ns_;

  std::mutex work_mu_;
  std::condition_variable work_cv_;
  std::deque<std::function<void()>> work_;
  bool work_closed_ = false;
  std::vector<std::thread> workers_;
  std::thread sched_thread_;

  std::mutex stop_mu_;
  bool stopped_ = false;
  bool running_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> attempts_{0}, bound_{0}, unschedulable_{0}, errors_{0}, preemptions_{0};
  std::atomic<uint64_t> cycle_ns_{0}, cycle_cpu_ns_{0}, bind_ns_{0};
};

}  // namespace

Result<std::unique_ptr<Scheduler>> StartScheduler(const client::Client& client, SchedulerOptions opts) {
  auto s = std::make_unique<SchedulerImpl>(client, std::move(opts));
  RETURN_IF_ERROR(s->Start());
  return std::unique_ptr<Scheduler>(std::move(s));
}

}  // namespace tug::scheduler
