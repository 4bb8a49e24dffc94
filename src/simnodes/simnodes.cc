#include "simnodes/simnodes.h"

#include <algorithm>
#include <charconv>

#include "base/log.h"

namespace tug::simnodes {
namespace {

constexpr const char* kComponent = "simnodes";
constexpr const char* kLeaseNamespace = "kube-node-lease";
constexpr std::chrono::milliseconds kCrashBackoffMax{300'000};

using Steady = std::chrono::steady_clock;

bool IsCode(const Status& st, StatusCode c) { return st.code() == c; }

// Keeps each condition's lastTransitionTime from `old_node` while its status is unchanged, so a
// heartbeat report does not look like a transition.
void KeepTransitionTimes(Json& status, const Json& old_node) {
  const Json* old_conds = FindPath(old_node, {"status", "conditions"});
  if (!old_conds || !old_conds->is_array()) return;
  for (Json& c : status["conditions"]) {
    for (const Json& o : *old_conds) {
      if (GetString(o, "type") == GetString(c, "type") && GetString(o, "status") == GetString(c, "status") &&
          o.contains("lastTransitionTime"))
        c["lastTransitionTime"] = o["lastTransitionTime"];
    }
  }
}

// Whether every regular container of a pod is already running (a pod started by an earlier
// simnodes process, adopted as running).
bool AllContainersRunning(const Json& pod) {
  const Json* cs = FindPath(pod, {"status", "containerStatuses"});
  if (!cs || !cs->is_array() || cs->empty()) return false;
  for (const Json& s : *cs)
    if (!FindPath(s, {"state", "running"})) return false;
  return true;
}

}  // namespace

SimNodes::SimNodes(const client::Client& client, Options opts)
    : client_(client), opts_(std::move(opts)), clock_(opts_.clock ? *opts_.clock : RealClock()) {}

SimNodes::~SimNodes() { Stop(); }

std::string SimNodes::NodeName(uint32_t local_index) const {
  return opts_.name_prefix + std::to_string(opts_.first_index + local_index);
}

int SimNodes::LocalIndex(std::string_view node_name) const {
  if (node_name.size() <= opts_.name_prefix.size() || node_name.substr(0, opts_.name_prefix.size()) != opts_.name_prefix)
    return -1;
  std::string_view digits = node_name.substr(opts_.name_prefix.size());
  if (digits.size() > 1 && digits[0] == '0') return -1;  // "sim-01" is not node 1
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || p != digits.data() + digits.size()) return -1;
  if (n < opts_.first_index || n >= uint64_t(opts_.first_index) + uint64_t(opts_.count)) return -1;
  return static_cast<int>(n - opts_.first_index);
}

Steady::time_point SimNodes::SteadyNow() const { return clock_.SteadyNow(); }
SystemTime SimNodes::Now() const { return clock_.Now(); }

Stats SimNodes::stats() const {
  return {nodes_registered_.load(), lease_renewals_.load(), pods_started_.load(), pods_terminated_.load(),
          pods_deleted_.load(),     request_errors_.load()};
}

Status SimNodes::Start(std::chrono::milliseconds timeout) {
  if (opts_.count <= 0) return BadRequestError("--count must be at least 1");
  if (opts_.workers <= 0) opts_.workers = 1;
  const auto deadline = Steady::now() + timeout;
  {
    std::lock_guard lock(mu_);
    nodes_.assign(opts_.count, NodeState{});
  }
  // Errors back off from 50 ms to 10 s: a restarting API server should not wait minutes.
  queue_ = std::make_unique<client::WorkQueue>(client::WorkQueueOptions{
      .base_delay = std::chrono::milliseconds(50), .max_delay = std::chrono::seconds(10), .clock = opts_.clock});
  informers_ = std::make_unique<client::InformerFactory>(client_);
  // Only bound pods; the index finds a node's pods when it (re-)registers.
  client::InformerOptions bound;
  bound.field_selector = "spec.nodeName!=";
  pods_ = &informers_->For(client::kPods, bound);
  pods_->AddIndexer("nodeName", [](const Json& pod) {
    std::string n = GetStringPath(pod, {"spec", "nodeName"});
    return n.empty() ? std::vector<std::string>{} : std::vector<std::string>{n};
  });
  pods_->AddHandler({.on_add = [this](const client::ObjectPtr& p) { OnPodEvent(p); },
                     .on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& p) { OnPodEvent(p); },
                     .on_delete = [this](const client::ObjectPtr& p) { OnPodEvent(p); }});
  for (int i = 0; i < opts_.workers; ++i) workers_.emplace_back([this] { Worker(); });
  for (int i = 0; i < opts_.count; ++i) queue_->Add("n/" + std::to_string(i));
  informers_->Start();

  // Registration progress, then the informer.
  while (nodes_registered_.load() < static_cast<uint64_t>(opts_.count)) {
    if (Steady::now() >= deadline)
      return TimeoutError("registered " + std::to_string(nodes_registered_.load()) + " of " +
                          std::to_string(opts_.count) + " nodes before the deadline");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
  if (!informers_->WaitForSync(std::max(left, std::chrono::milliseconds(1))))
    return TimeoutError("the pod informer did not sync before the deadline");
  TUG_LOG(INFO, kComponent) << "nodes registered" << kv("count", opts_.count)
                            << kv("first", NodeName(0)) << kv("last", NodeName(opts_.count - 1));
  return Status::Ok();
}

void SimNodes::Stop() {
  if (stopped_.exchange(true)) return;
  if (queue_) queue_->ShutDown();
  workers_.clear();  // joins
  if (informers_) informers_->Stop();
  informers_.reset();
  pods_ = nullptr;
}

void SimNodes::OnPodEvent(const client::ObjectPtr& pod) {
  if (!pod || stopped_.load()) return;
  if (LocalIndex(GetStringPath(*pod, {"spec", "nodeName"})) < 0) return;
  queue_->Add("p/" + client::KeyOf(*pod));
}

void SimNodes::Worker() {
  while (auto key = queue_->Get()) {
    Status st = Sync(*key);
    if (st.ok()) {
      queue_->Forget(*key);
    } else {
      ++request_errors_;
      TUG_VLOG(2, kComponent) << "sync failed, retrying" << kv("key", *key) << kv("error", st.ToString());
      queue_->AddRateLimited(*key);
    }
    queue_->Done(*key);
  }
}

Status SimNodes::Sync(const std::string& key) {
  if (key.size() > 2 && key[0] == 'n') {
    uint32_t i = 0;
    std::from_chars(key.data() + 2, key.data() + key.size(), i);
    return SyncNode(i);
  }
  if (key.size() > 2 && key[0] == 'p') return SyncPod(key.substr(2));
  return Status::Ok();
}

// --- nodes -----------------------------------------------------------------------------------

Status SimNodes::RegisterNode(uint32_t i, NodeState& st) {
  const std::string name = NodeName(i);
  const uint32_t index = opts_.first_index + i;
  auto created = client_.Create(client::kNodes, "", BuildNode(name, index, opts_.shape, Now()));
  Json node;
  if (created.ok()) {
    node = std::move(created).value();
  } else if (IsCode(created.status(), StatusCode::kAlreadyExists)) {
    // Re-registration (a restarted simulator): the kubelet keeps the Node and reconciles labels.
    Json labels = BuildNode(name, index, opts_.shape, Now())["metadata"]["labels"];
    Json patch = {{"metadata", {{"labels", labels}}}};
    auto patched = client_.Patch(client::kNodes, "", name, client::PatchType::kMerge, DumpJson(patch));
    if (!patched.ok()) return patched.status();
    node = std::move(patched).value();
  } else {
    return created.status();
  }
  st.uid = GetStringPath(node, {"metadata", "uid"});
  // Status goes through the status subresource whatever create kept of it.
  Json status = BuildNodeStatus(name, index, opts_.shape, Now());
  KeepTransitionTimes(status, node);
  auto s = client_.Patch(client::kNodes, "", name, client::PatchType::kMerge, DumpJson(Json{{"status", status}}),
                         "status");
  if (!s.ok()) return s.status();
  auto lease = client_.Create(client::kLeases, kLeaseNamespace,
                              BuildLease(name, st.uid, opts_.lease_duration_seconds, Now()));
  if (!lease.ok() && IsCode(lease.status(), StatusCode::kAlreadyExists)) {
    Json patch = {{"spec", {{"holderIdentity", name}, {"renewTime", FormatRFC3339Micro(Now())}}}};
    auto p = client_.Patch(client::kLeases, kLeaseNamespace, name, client::PatchType::kMerge, DumpJson(patch));
    if (!p.ok()) return p.status();
  } else if (!lease.ok()) {
    return lease.status();
  }
  return Status::Ok();
}

Status SimNodes::SyncNode(uint32_t i) {
  if (i >= static_cast<uint32_t>(opts_.count)) return Status::Ok();
  NodeState st;
  {
    std::lock_guard lock(mu_);
    st = nodes_[i];
  }
  const std::string name = NodeName(i);
  auto now = SteadyNow();
  bool newly_registered = false;
  if (!st.registered) {
    RETURN_IF_ERROR(RegisterNode(i, st));
    st.registered = true;
    newly_registered = true;
    // Spread the renewals of nodes registered together over the interval.
    auto spread = opts_.lease_renew_interval * (i % 64) / 64;
    st.next_lease = now + opts_.lease_renew_interval - std::chrono::duration_cast<Steady::duration>(spread) / 2;
    st.next_status_check = now + opts_.status_check_interval + std::chrono::duration_cast<Steady::duration>(spread);
  }
  bool gone = false;
  if (now >= st.next_lease) {
    Json patch = {{"spec", {{"holderIdentity", name}, {"renewTime", FormatRFC3339Micro(Now())}}}};
    auto p = client_.Patch(client::kLeases, kLeaseNamespace, name, client::PatchType::kMerge, DumpJson(patch));
    if (!p.ok() && IsCode(p.status(), StatusCode::kNotFound)) {
      // The Lease was removed (e.g. garbage-collected with a deleted Node): recreate it only
      // while the Node exists.
      auto node = client_.Get(client::kNodes, "", name);
      if (!node.ok() && IsCode(node.status(), StatusCode::kNotFound)) {
        gone = true;
      } else if (!node.ok()) {
        return node.status();
      } else {
        st.uid = GetStringPath(*node, {"metadata", "uid"});
        auto c = client_.Create(client::kLeases, kLeaseNamespace,
                                BuildLease(name, st.uid, opts_.lease_duration_seconds, Now()));
        if (!c.ok() && !IsCode(c.status(), StatusCode::kAlreadyExists)) return c.status();
      }
    } else if (!p.ok()) {
      return p.status();
    }
    ++lease_renewals_;
    st.next_lease = now + opts_.lease_renew_interval;
  }
  if (!gone && now >= st.next_status_check) {
    auto node = client_.Get(client::kNodes, "", name);
    if (!node.ok() && IsCode(node.status(), StatusCode::kNotFound)) {
      gone = true;
    } else if (!node.ok()) {
      return node.status();
    } else if (NodeStatusStale(*node, Now(), opts_.status_report_interval)) {
      Json status = BuildNodeStatus(name, opts_.first_index + i, opts_.shape, Now());
      KeepTransitionTimes(status, *node);
      auto s = client_.Patch(client::kNodes, "", name, client::PatchType::kMerge,
                             DumpJson(Json{{"status", status}}), "status");
      if (!s.ok()) return s.status();
      TUG_VLOG(2, kComponent) << "node status reported" << kv("node", name);
    }
    st.next_status_check = now + opts_.status_check_interval;
  }
  {
    std::lock_guard lock(mu_);
    // next_ip is owned by pod syncs; keep theirs.
    st.next_ip = nodes_[i].next_ip;
    nodes_[i] = st;
  }
  if (gone) {
    // As a kubelet whose Node was deleted: stop heartbeating it (a restart re-registers).
    TUG_LOG(WARNING, kComponent) << "node was deleted; no longer renewing its lease" << kv("node", name);
    return Status::Ok();
  }
  if (newly_registered) {
    ++nodes_registered_;
    // Pods bound before the node was (re-)registered.
    if (pods_)
      for (const auto& p : pods_->ByIndex("nodeName", name)) queue_->Add("p/" + client::KeyOf(*p));
  }
  auto next = std::min(st.next_lease, st.next_status_check);
  queue_->AddAfter("n/" + std::to_string(i),
                   std::chrono::duration_cast<std::chrono::milliseconds>(std::max(next - now, Steady::duration::zero())));
  return Status::Ok();
}

// --- pods ------------------------------------------------------------------------------------

Status SimNodes::PatchPodStatus(const Json& pod, const Json& status) {
  // The uid makes the patch a precondition: never write a same-named successor pod's status.
  Json body = {{"metadata", {{"uid", GetStringPath(pod, {"metadata", "uid"})}}}, {"status", status}};
  // Conditions merge by type: a reason or message the new condition no longer has is deleted
  // (null), as the kubelet's two-way patch does, or "Ready: True" would keep "containers with
  // unready status" from before.
  if (Json& st = body["status"]; st.is_object() && st.contains("conditions") && st["conditions"].is_array())
    for (Json& c : st["conditions"]) {
      const Json* old = nullptr;
      if (const Json* olds = FindPath(pod, {"status", "conditions"}); olds && olds->is_array())
        for (const Json& o : *olds)
          if (GetString(o, "type") == GetString(c, "type")) old = &o;
      if (!old) continue;
      for (const char* k : {"reason", "message"})
        if (old->contains(k) && !c.contains(k)) c[k] = nullptr;
    }
  auto r = client_.Patch(client::kPods, GetStringPath(pod, {"metadata", "namespace"}),
                         GetStringPath(pod, {"metadata", "name"}), client::PatchType::kStrategic, DumpJson(body),
                         "status");
  if (r.ok() || IsCode(r.status(), StatusCode::kNotFound)) return Status::Ok();
  // A uid mismatch: the pod was replaced; its successor gets its own events.
  if (IsCode(r.status(), StatusCode::kConflict) && r.status().message().find("UID") != std::string::npos)
    return Status::Ok();
  return r.status();
}

Status SimNodes::SyncPod(const std::string& pod_key) {
  const std::string queue_key = "p/" + pod_key;
  client::ObjectPtr pod_ptr = pods_ ? pods_->Get(pod_key) : nullptr;
  const int node = pod_ptr ? LocalIndex(GetStringPath(*pod_ptr, {"spec", "nodeName"})) : -1;
  PodState ps;
  bool node_ready = false;
  {
    std::lock_guard lock(mu_);
    if (!pod_ptr || node < 0) {
      pod_states_.erase(pod_key);
      return Status::Ok();
    }
    node_ready = nodes_[node].registered;
    auto it = pod_states_.find(pod_key);
    if (it != pod_states_.end()) ps = it->second;
  }
  // The node's registration re-queues its pods.
  if (!node_ready) return Status::Ok();
  const Json& pod = *pod_ptr;
  const std::string uid = GetStringPath(pod, {"metadata", "uid"});
  if (ps.uid != uid) {
    ps = PodState{};
    ps.uid = uid;
  }
  const auto now = SteadyNow();
  auto commit = [&] {
    std::lock_guard lock(mu_);
    pod_states_[pod_key] = ps;
  };
  auto requeue_at = [&](Steady::time_point due) {
    queue_->AddAfter(queue_key,
                     std::chrono::duration_cast<std::chrono::milliseconds>(std::max(due - now, Steady::duration::zero())) +
                         std::chrono::milliseconds(1));
  };

  if (FindPath(pod, {"metadata", "deletionTimestamp"})) {
    if (!ps.delete_scheduled) {
      int64_t grace = 30;
      if (const Json* g = FindPath(pod, {"metadata", "deletionGracePeriodSeconds"}); g && g->is_number_integer())
        grace = g->get<int64_t>();
      ps.delete_scheduled = true;
      ps.delete_due = now + std::min<Steady::duration>(std::chrono::seconds(std::max<int64_t>(grace, 0)), opts_.kill_delay);
    }
    if (now < ps.delete_due) {
      commit();
      requeue_at(ps.delete_due);
      return Status::Ok();
    }
    client::DeleteOptions del;
    del.grace_period_seconds = 0;
    del.precondition_uid = uid;
    auto r = client_.Delete(client::kPods, GetStringPath(pod, {"metadata", "namespace"}),
                            GetStringPath(pod, {"metadata", "name"}), del);
    if (!r.ok() && !IsCode(r.status(), StatusCode::kNotFound) && !IsCode(r.status(), StatusCode::kConflict))
      return r.status();
    ++pods_deleted_;
    commit();
    return Status::Ok();
  }

  const std::string phase = GetStringPath(pod, {"status", "phase"});
  if (phase == "Succeeded" || phase == "Failed") {
    ps.stage = Stage::kDone;
    commit();
    return Status::Ok();
  }
  const std::string policy = GetStringPath(pod, {"spec", "restartPolicy"}, "Always");
  const bool exits = policy == "Never" || policy == "OnFailure";
  PodRunInfo run;
  run.host_ip = NodeIP(opts_.first_index + node);

  if (ps.stage == Stage::kNew) {
    if (phase == "Running" && AllContainersRunning(pod)) {
      // Started by an earlier simulator process: adopt it as running from now on.
      ps.stage = Stage::kRunning;
      ps.pod_ip = GetStringPath(pod, {"status", "podIP"});
      ps.started_at = Now();
      ps.due = now + opts_.run_time;
    } else {
      {
        std::lock_guard lock(mu_);
        uint8_t& next = nodes_[node].next_ip;
        ps.pod_ip = PodIP(opts_.first_index + node, next);
        next = next >= 254 ? 2 : next + 1;
      }
      ps.due = now + opts_.startup_delay;
      if (opts_.startup_delay.count() > 0) {
        run.pod_ip = "";  // no IP before the sandbox exists
        RETURN_IF_ERROR(PatchPodStatus(pod, BuildPendingStatus(pod, run, Now())));
      }
      ps.stage = Stage::kStarting;
    }
  }
  run.pod_ip = ps.pod_ip;
  run.restart_count = ps.restarts;
  if (ps.stage == Stage::kStarting && now >= ps.due) {
    run.started_at = Now();
    RETURN_IF_ERROR(PatchPodStatus(pod, BuildRunningStatus(pod, run, Now())));
    ++pods_started_;
    ps.started_at = run.started_at;
    ps.stage = Stage::kRunning;
    ps.due = now + opts_.run_time;
  } else if (ps.stage == Stage::kRunning && exits && now >= ps.due) {
    run.started_at = ps.started_at;
    int code = SimExitCode(pod);
    if (code != 0 && policy == "OnFailure") {
      RETURN_IF_ERROR(PatchPodStatus(pod, BuildBackoffStatus(pod, run, Now(), code)));
      auto backoff = std::min<std::chrono::milliseconds>(opts_.crash_backoff * (1 << std::min(ps.restarts, 5)), kCrashBackoffMax);
      ps.stage = Stage::kBackoff;
      ps.last_exit = code;
      ps.due = now + backoff;
    } else {
      RETURN_IF_ERROR(PatchPodStatus(pod, BuildTerminatedStatus(pod, run, Now(), code)));
      ++pods_terminated_;
      ps.stage = Stage::kDone;
    }
  } else if (ps.stage == Stage::kBackoff && now >= ps.due) {
    run.restart_count = ps.restarts + 1;
    run.started_at = Now();
    RETURN_IF_ERROR(PatchPodStatus(pod, BuildRunningStatus(pod, run, Now(), ps.last_exit)));
    ps.restarts++;
    ps.started_at = run.started_at;
    ps.stage = Stage::kRunning;
    ps.due = now + opts_.run_time;
  }
  commit();
  if (ps.stage == Stage::kStarting || ps.stage == Stage::kBackoff || (ps.stage == Stage::kRunning && exits))
    requeue_at(ps.due);
  return Status::Ok();
}

}  // namespace tug::simnodes
