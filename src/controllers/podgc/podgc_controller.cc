// Pod garbage collector; see podgc_controller.h.
#include "controllers/podgc/podgc_controller.h"

#include <algorithm>
#include <condition_variable>
#include <set>

#include "base/log.h"

namespace tug::controllers::podgc {
namespace {

std::string Name(const Json& o) { return GetStringPath(o, {"metadata", "name"}); }
std::string Ns(const Json& o) { return GetStringPath(o, {"metadata", "namespace"}); }
std::string Phase(const Json& p) { return GetStringPath(p, {"status", "phase"}); }
bool IsTerminated(const Json& p) { return Phase(p) == "Succeeded" || Phase(p) == "Failed"; }

// The pods index of this controller: "terminating" (being deleted), "terminated" (Succeeded or
// Failed, not being deleted), and "node/<name>" for every pod bound to a node.
constexpr char kGcIndex[] = "podgc";
constexpr char kTerminating[] = "terminating";
constexpr char kTerminated[] = "terminated";
constexpr std::string_view kNodePrefix = "node/";

std::vector<std::string> GcIndexValues(const Json& p) {
  std::vector<std::string> v;
  if (framework::IsBeingDeleted(p)) v.push_back(kTerminating);
  else if (IsTerminated(p)) v.push_back(kTerminated);
  if (std::string n = GetStringPath(p, {"spec", "nodeName"}); !n.empty()) v.push_back(std::string(kNodePrefix) + n);
  return v;
}

}  // namespace

PodGcController::PodGcController(const framework::ControllerContext& ctx, PodGcOptions opts)
    : Controller("pod-garbage-collector", ctx), opts_(opts) {
  pods_ = &Informer(client::kPods);
  pods_->AddIndexer(kGcIndex, GcIndexValues);
  nodes_ = &Informer(client::kNodes);
  if (opts_.gc_period.count() > 0) {
    ticker_ = std::jthread([this](std::stop_token st) {
      std::mutex m;
      std::condition_variable_any cv;
      while (!st.stop_requested()) {
        std::unique_lock<std::mutex> l(m);
        cv.wait_for(l, st, opts_.gc_period, [] { return false; });
        if (!st.stop_requested()) Enqueue(std::string("gc"));
      }
    });
  }
}

PodGcController::~PodGcController() {
  ticker_.request_stop();
  if (ticker_.joinable()) ticker_.join();
  Stop();
}

std::unique_ptr<framework::Controller> NewPodGcController(const framework::ControllerContext& ctx) {
  return std::make_unique<PodGcController>(ctx);
}

Status PodGcController::ForceDelete(const Json& pod) {
  client::DeleteOptions o;
  o.grace_period_seconds = 0;
  o.precondition_uid = GetStringPath(pod, {"metadata", "uid"});
  auto r = client().Delete(client::kPods, Ns(pod), Name(pod), o);
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
  TUG_VLOG(2, "podgc") << "deleted pod" << kv("pod", Ns(pod) + "/" + Name(pod));
  return Status::Ok();
}

Status PodGcController::Sync(const std::string&) {
  Status a = GcTerminated();
  Status b = GcOrphaned();
  Status c = GcTerminating();
  RETURN_IF_ERROR(a);
  RETURN_IF_ERROR(b);
  return c;
}

Status PodGcController::GcTerminated() {
  if (opts_.terminated_pod_threshold <= 0) return Status::Ok();
  std::vector<client::ObjectPtr> done = pods_->ByIndex(kGcIndex, kTerminated);
  int64_t excess = static_cast<int64_t>(done.size()) - opts_.terminated_pod_threshold;
  if (excess <= 0) return Status::Ok();
  std::sort(done.begin(), done.end(), [](const client::ObjectPtr& x, const client::ObjectPtr& y) {
    std::string a = GetStringPath(*x, {"metadata", "creationTimestamp"}), b = GetStringPath(*y, {"metadata", "creationTimestamp"});
    if (a != b) return a < b;
    return Name(*x) < Name(*y);
  });
  TUG_LOG(INFO, "podgc") << "garbage collecting terminated pods" << kv("count", excess)
                         << kv("threshold", opts_.terminated_pod_threshold);
  Status first;
  for (int64_t i = 0; i < excess; ++i) {
    Status st = ForceDelete(*done[static_cast<size_t>(i)]);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Status PodGcController::GcOrphaned() {
  const SystemTime now = clock().Now();
  std::set<std::string> referenced;  // nodes that pods are bound to and the cache does not have
  for (const std::string& v : pods_->IndexValues(kGcIndex)) {
    if (!v.starts_with(kNodePrefix)) continue;
    std::string n = v.substr(kNodePrefix.size());
    if (!nodes_->Get(n)) referenced.insert(std::move(n));
  }
  // Forget nodes that came back or are no longer referenced.
  for (auto it = missing_since_.begin(); it != missing_since_.end();)
    it = referenced.count(it->first) ? std::next(it) : missing_since_.erase(it);
  std::set<std::string> gone;
  for (const std::string& n : referenced) {
    auto [it, fresh] = missing_since_.emplace(n, now);
    if (now - it->second < opts_.quarantine) {
      EnqueueAfter("gc", std::chrono::duration_cast<std::chrono::milliseconds>(it->second + opts_.quarantine - now) +
                             std::chrono::milliseconds(10));
      continue;
    }
    // The informer might lag: the API server decides.
    auto r = client().Get(client::kNodes, "", n);
    if (!r.ok() && r.status().code() == StatusCode::kNotFound) gone.insert(n);
  }
  std::vector<client::ObjectPtr> orphans;
  for (const std::string& n : gone)
    for (auto& p : pods_->ByIndex(kGcIndex, std::string(kNodePrefix) + n)) orphans.push_back(std::move(p));
  Status first;
  for (const auto& p : orphans) {
    std::string n = GetStringPath(*p, {"spec", "nodeName"});
    TUG_LOG(INFO, "podgc") << "deleting orphaned pod" << kv("pod", Ns(*p) + "/" + Name(*p)) << kv("node", n);
    if (!IsTerminated(*p)) {
      Json status = {{"phase", "Failed"},
                     {"conditions", Json::array({framework::MakeCondition("DisruptionTarget", "True", "DeletionByPodGC",
                                                                         "PodGC: node no longer exists", now)})}};
      auto u = framework::PatchPodStatus(client(), *p, std::move(status));
      if (!u.ok() && u.status().code() != StatusCode::kNotFound) {
        if (first.ok()) first = u.status();
        continue;
      }
    }
    Status st = ForceDelete(*p);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Status PodGcController::GcTerminating() {
  std::set<std::string> out_of_service;
  for (const auto& n : nodes_->List()) {
    const Json* ready = framework::FindCondition(*n, "Ready");
    if (ready && GetString(*ready, "status") == "True") continue;
    const Json* taints = FindPath(*n, {"spec", "taints"});
    if (!taints || !taints->is_array()) continue;
    for (const Json& t : *taints)
      if (GetString(t, "key") == "node.kubernetes.io/out-of-service" && GetString(t, "effect") == "NoExecute")
        out_of_service.insert(Name(*n));
  }
  Status first;
  for (const auto& p : pods_->ByIndex(kGcIndex, kTerminating)) {
    std::string n = GetStringPath(*p, {"spec", "nodeName"});
    if (!n.empty() && !out_of_service.count(n)) continue;
    Status st = ForceDelete(*p);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace tug::controllers::podgc
