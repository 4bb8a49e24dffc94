// Job controller; see job_controller.h.
#include "controllers/job/job_controller.h"

#include <algorithm>
#include <cstdio>

#include "base/log.h"

namespace tug::controllers::job {
namespace {

using framework::FindCondition;
using framework::GetInt;
using framework::IsBeingDeleted;

constexpr char kManagedByDefault[] = "kubernetes.io/job-controller";
constexpr char kJobNameIndex[] = "job/controller-name";
constexpr char kReasonBackoff[] = "BackoffLimitExceeded";
constexpr char kMsgBackoff[] = "Job has reached the specified backoff limit";
constexpr char kReasonDeadline[] = "DeadlineExceeded";
constexpr char kMsgDeadline[] = "Job was active longer than specified deadline";
constexpr char kReasonPolicy[] = "PodFailurePolicy";
constexpr char kReasonCompletions[] = "CompletionsReached";
constexpr char kMsgCompletions[] = "Reached expected number of succeeded pods";

// Status equality as the API server stores it: omitted zero values (0, "", false, {}, [], null)
// equal absent ones, so a status write that only adds zeros is not a change.
Json PruneZeros(const Json& j) {
  if (j.is_object()) {
    Json out = Json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      Json v = PruneZeros(it.value());
      bool zero = v.is_null() || (v.is_number() && v == 0) || (v.is_string() && v.get<std::string>().empty()) ||
                  (v.is_boolean() && !v.get<bool>()) || (v.is_object() && v.empty()) || (v.is_array() && v.empty());
      if (!zero) out[it.key()] = v;
    }
    return out;
  }
  if (j.is_array()) {
    Json out = Json::array();
    for (const Json& v : j) out.push_back(PruneZeros(v));
    return out;
  }
  return j;
}
bool SameStatus(const Json& a, const Json& b) { return PruneZeros(a) == PruneZeros(b); }

bool HasFinalizer(const Json& pod) {
  const Json* f = FindPath(pod, {"metadata", "finalizers"});
  if (!f || !f->is_array()) return false;
  for (const Json& s : *f)
    if (s.is_string() && s.get<std::string>() == kTrackingFinalizer) return true;
  return false;
}

std::string Phase(const Json& pod) { return GetStringPath(pod, {"status", "phase"}); }
std::string Uid(const Json& o) { return GetStringPath(o, {"metadata", "uid"}); }
std::string Name(const Json& o) { return GetStringPath(o, {"metadata", "name"}); }
std::string Ns(const Json& o) { return GetStringPath(o, {"metadata", "namespace"}); }

bool ConditionTrue(const Json& obj, std::string_view type) {
  const Json* c = FindCondition(obj, type);
  return c && GetString(*c, "status") == "True";
}

std::vector<std::string> StringList(const Json* j) {
  std::vector<std::string> out;
  if (j && j->is_array())
    for (const Json& s : *j)
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

// Upstream's onlyReplaceFailedPods: with podReplacementPolicy Failed (the default when a
// podFailurePolicy is set) terminating pods still occupy their slot.
bool OnlyReplaceFailed(const Json& job) {
  if (GetStringPath(job, {"spec", "podReplacementPolicy"}) == "Failed") return true;
  const Json* pfp = FindPath(job, {"spec", "podFailurePolicy"});
  return pfp && !pfp->is_null();
}

// Upstream isPodFailed.
bool IsPodFailed(const Json& pod, const Json& job) {
  if (OnlyReplaceFailed(job)) return Phase(pod) == "Failed";
  if (Phase(pod) == "Failed") return true;
  return IsBeingDeleted(pod) && Phase(pod) != "Succeeded";
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

// --- pure helpers ---------------------------------------------------------------------------

std::string FormatIndexes(const std::set<int64_t>& ix) {
  std::string out;
  auto it = ix.begin();
  while (it != ix.end()) {
    int64_t first = *it, last = *it;
    auto next = std::next(it);
    while (next != ix.end() && *next == last + 1) last = *next++;
    if (!out.empty()) out += ",";
    out += std::to_string(first);
    if (last > first) out += "-" + std::to_string(last);
    it = next;
  }
  return out;
}

std::set<int64_t> ParseIndexes(std::string_view s, int64_t completions) {
  std::set<int64_t> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t comma = s.find(',', i);
    std::string part(s.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i));
    i = comma == std::string_view::npos ? s.size() : comma + 1;
    long long a = 0, b = 0;
    if (std::sscanf(part.c_str(), "%lld-%lld", &a, &b) == 2) {
    } else if (std::sscanf(part.c_str(), "%lld", &a) == 1) {
      b = a;
    } else {
      continue;
    }
    for (long long x = a; x <= b && x < completions; ++x)
      if (x >= 0) out.insert(x);
  }
  return out;
}

int64_t CompletionIndex(const Json& pod) {
  std::string v = GetStringPath(pod, {"metadata", "annotations", kCompletionIndexAnnotation});
  if (v.empty()) v = GetStringPath(pod, {"metadata", "labels", kCompletionIndexAnnotation});
  if (v.empty() || v.size() > 9) return -1;
  for (char c : v)
    if (c < '0' || c > '9') return -1;
  if (v.size() > 1 && v[0] == '0') return -1;
  return std::stoll(v);
}

std::optional<PolicyMatch> MatchPodFailurePolicy(const Json& policy, const Json& pod) {
  const Json* rules = Find(policy, "rules");
  if (!rules || !rules->is_array()) return std::nullopt;
  std::string pod_ref = Ns(pod) + "/" + Name(pod);
  for (size_t i = 0; i < rules->size(); ++i) {
    const Json& rule = (*rules)[i];
    std::string action = GetString(rule, "action");
    std::string match_msg;
    bool matched = false;
    if (const Json* ec = Find(rule, "onExitCodes"); ec && ec->is_object()) {
      std::string container = GetString(*ec, "containerName");
      bool in = GetString(*ec, "operator") == "In";
      std::set<int64_t> values;
      if (const Json* vs = Find(*ec, "values"); vs && vs->is_array())
        for (const Json& v : *vs)
          if (v.is_number_integer()) values.insert(v.get<int64_t>());
      for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
        const Json* st = FindPath(pod, {"status", list});
        if (!st || !st->is_array() || matched) continue;
        for (const Json& cs : *st) {
          const Json* term = FindPath(cs, {"state", "terminated"});
          if (!term || !term->is_object()) continue;
          std::string cname = GetString(cs, "name");
          if (!container.empty() && cname != container) continue;
          int64_t code = GetInt(*term, {"exitCode"});
          if (code == 0) continue;  // successful containers never match
          bool hit = in ? values.count(code) > 0 : values.count(code) == 0;
          if (hit) {
            matched = true;
            match_msg = "Container " + cname + " for pod " + pod_ref + " failed with exit code " + std::to_string(code) +
                        " matching " + action + " rule at index " + std::to_string(i);
            break;
          }
        }
      }
    } else if (const Json* pcs = Find(rule, "onPodConditions"); pcs && pcs->is_array()) {
      for (const Json& pc : *pcs) {
        std::string type = GetString(pc, "type");
        std::string want = GetString(pc, "status", "True");
        const Json* c = FindCondition(pod, type);
        if (c && GetString(*c, "status") == want) {
          matched = true;
          match_msg = "Pod " + pod_ref + " has condition " + type + " matching " + action + " rule at index " + std::to_string(i);
          break;
        }
      }
    }
    if (!matched) continue;
    PolicyMatch m;
    m.action = action;
    m.count_failed = action != "Ignore";
    m.message = match_msg;
    return m;
  }
  return std::nullopt;
}

std::optional<SystemTime> PodFinishTime(const Json& pod) {
  std::optional<SystemTime> best;
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const Json* st = FindPath(pod, {"status", list});
    if (!st || !st->is_array()) continue;
    for (const Json& cs : *st) {
      auto t = ParseRFC3339(GetStringPath(cs, {"state", "terminated", "finishedAt"}));
      if (t.ok() && (!best || *t > *best)) best = *t;
    }
  }
  if (best) return best;
  if (const Json* c = FindCondition(pod, "Ready")) {
    auto t = ParseRFC3339(GetString(*c, "lastTransitionTime"));
    if (t.ok()) return *t;
  }
  return std::nullopt;
}

// --- controller -----------------------------------------------------------------------------

JobController::JobController(const framework::ControllerContext& ctx, JobOptions opts)
    : Controller("job", ctx), opts_(opts), expectations_(ctx.clock) {
  jobs_ = &Informer(client::kJobs);
  pods_ = &Informer(client::kPods);
  pod_index_ = framework::AddControllerUidIndex(*pods_, "job");
  // A deleted Job's pods by its namespace and name (its uid is gone with it).
  pods_->AddIndexer(kJobNameIndex, [](const Json& pod) -> std::vector<std::string> {
    const Json* ref = framework::GetControllerOf(pod);
    if (!ref || GetString(*ref, "kind") != "Job") return {};
    return {GetStringPath(pod, {"metadata", "namespace"}) + "/" + GetString(*ref, "name")};
  });
  jobs_->AddHandler(EnqueueHandler());
  pods_->AddHandler(client::EventHandler{
      .on_add = [this](const client::ObjectPtr& p) { OnPod(p, PodEvent::kAdd); },
      .on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& p) { OnPod(p, PodEvent::kUpdate); },
      .on_delete = [this](const client::ObjectPtr& p) { OnPod(p, PodEvent::kDelete); },
  });
}

JobController::~JobController() { Stop(); }

std::unique_ptr<framework::Controller> NewJobController(const framework::ControllerContext& ctx) {
  return std::make_unique<JobController>(ctx);
}

void JobController::OnPod(const client::ObjectPtr& pod, PodEvent ev) {
  const Json* ref = framework::GetControllerOf(*pod);
  if (!ref || GetString(*ref, "kind") != "Job") return;
  std::string key = Ns(*pod) + "/" + GetString(*ref, "name");
  std::string uid = Uid(*pod);
  if (ev == PodEvent::kAdd && !IsBeingDeleted(*pod)) expectations_.CreationObserved(key);
  if (ev == PodEvent::kDelete || IsBeingDeleted(*pod)) expectations_.DeletionObserved(key, uid);
  Enqueue(key);
}

void JobController::NoteWritten(const std::string& key, const Json& written) {
  uint64_t rv = std::strtoull(GetStringPath(written, {"metadata", "resourceVersion"}).c_str(), nullptr, 10);
  std::lock_guard<std::mutex> l(mu_);
  uint64_t& w = written_rv_[key];
  w = std::max(w, rv);
}

Status JobController::Sync(const std::string& key) {
  client::ObjectPtr job = jobs_->Get(key);
  if (!job) {
    expectations_.Delete(key);
    {
      std::lock_guard<std::mutex> l(mu_);
      backoff_.erase(key);
      removing_.erase(key);
      written_rv_.erase(key);
    }
    auto [ns, name] = client::SplitKey(key);
    return CleanupOrphanPods(ns, name);
  }
  return SyncJob(*job, key);
}

Status JobController::CleanupOrphanPods(const std::string& ns, const std::string& name) {
  // Pods whose Job is gone keep the tracking finalizer forever unless someone removes it.
  Status first;
  for (const client::ObjectPtr& p : pods_->ByIndex(kJobNameIndex, ns + "/" + name)) {
    const Json* ref = framework::GetControllerOf(*p);
    if (!ref || GetString(*ref, "kind") != "Job" || GetString(*ref, "name") != name || !HasFinalizer(*p)) continue;
    Status st = RemoveFinalizer(*p);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Status JobController::RemoveFinalizer(const Json& pod) {
  Json patch = {{"metadata", {{"$deleteFromPrimitiveList/finalizers", Json::array({kTrackingFinalizer})}, {"uid", Uid(pod)}}}};
  auto r = client().Patch(client::kPods, Ns(pod), Name(pod), client::PatchType::kStrategic, DumpJson(patch));
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
  return Status::Ok();
}

Status JobController::DeletePod(const Json& job, const Json& pod) {
  client::DeleteOptions o;
  o.precondition_uid = Uid(pod);
  auto r = client().Delete(client::kPods, Ns(pod), Name(pod), o);
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) {
    recorder().Record(job, "Warning", "FailedDelete", "Error deleting: " + r.status().message());
    return r.status();
  }
  recorder().Record(job, "Normal", "SuccessfulDelete", "Deleted pod: " + Name(pod));
  return Status::Ok();
}

Status JobController::DeletePods(const Json& job, const std::string& key, const std::vector<client::ObjectPtr>& pods) {
  if (pods.empty()) return Status::Ok();
  std::vector<std::string> uids;
  for (const auto& p : pods) uids.push_back(Uid(*p));
  expectations_.ExpectDeletions(key, uids);
  Status first;
  for (const auto& p : pods) {
    Status st = DeletePod(job, *p);
    if (!st.ok()) {
      expectations_.DeletionObserved(key, Uid(*p));
      if (first.ok()) first = st;
    }
  }
  return first;
}

Status JobController::CreatePods(const Json& job, const std::string& key, int count, const std::vector<int64_t>& indexes) {
  Json tmpl = job["spec"]["template"];
  Json ref = framework::MakeControllerRef(job, "batch/v1", "Job");
  expectations_.ExpectCreations(key, count);
  Status first;
  for (int i = 0; i < count; ++i) {
    Json pod = framework::PodFromTemplate(tmpl, job, ref);
    Json& meta = pod["metadata"];
    if (!meta.contains("finalizers") || !meta["finalizers"].is_array()) meta["finalizers"] = Json::array();
    meta["finalizers"].push_back(kTrackingFinalizer);
    if (i < static_cast<int>(indexes.size())) {
      std::string ix = std::to_string(indexes[i]);
      meta["annotations"][kCompletionIndexAnnotation] = ix;
      meta["labels"][kCompletionIndexAnnotation] = ix;
      meta["generateName"] = Name(job) + "-" + ix + "-";
      Json& spec = pod["spec"];
      if (GetString(spec, "hostname").empty()) spec["hostname"] = Name(job) + "-" + ix;
      Json env = {{"name", "JOB_COMPLETION_INDEX"},
                  {"valueFrom", {{"fieldRef", {{"fieldPath", std::string("metadata.annotations['") + kCompletionIndexAnnotation + "']"}}}}}};
      for (const char* list : {"initContainers", "containers"}) {
        if (!spec.contains(list) || !spec[list].is_array()) continue;
        for (Json& c : spec[list]) {
          bool has = false;
          if (c.contains("env") && c["env"].is_array())
            for (const Json& e : c["env"]) has = has || GetString(e, "name") == "JOB_COMPLETION_INDEX";
          if (!has) c["env"].push_back(env);
        }
      }
    }
    auto r = client().Create(client::kPods, Ns(job), pod);
    if (!r.ok()) {
      expectations_.CreationObserved(key);
      // A terminating namespace refuses creates; nothing to report.
      if (r.status().code() != StatusCode::kForbidden)
        recorder().Record(job, "Warning", "FailedCreate", "Error creating: " + r.status().message());
      if (first.ok()) first = r.status();
      // Upstream stops the batch on the first error (slow start).
      for (int j = i + 1; j < count; ++j) expectations_.CreationObserved(key);
      break;
    }
    recorder().Record(job, "Normal", "SuccessfulCreate", "Created pod: " + Name(*r));
  }
  return first;
}

Status JobController::HandleTtl(const Json& job, const std::string& key) {
  const Json* ttl = FindPath(job, {"spec", "ttlSecondsAfterFinished"});
  if (!ttl || !ttl->is_number_integer() || IsBeingDeleted(job)) return Status::Ok();
  std::optional<SystemTime> finished;
  for (const char* type : {"Complete", "Failed"}) {
    const Json* c = FindCondition(job, type);
    if (c && GetString(*c, "status") == "True") {
      auto t = ParseRFC3339(GetString(*c, "lastTransitionTime"));
      if (t.ok()) finished = *t;
    }
  }
  if (!finished) {
    auto t = ParseRFC3339(GetStringPath(job, {"status", "completionTime"}));
    if (t.ok()) finished = *t;
  }
  if (!finished) return Status::Ok();
  SystemTime expire = *finished + std::chrono::seconds(ttl->get<int64_t>());
  SystemTime now = clock().Now();
  if (now < expire) {
    EnqueueAfter(key, std::chrono::duration_cast<std::chrono::milliseconds>(expire - now) + std::chrono::milliseconds(100));
    return Status::Ok();
  }
  TUG_VLOG(2, "job") << "deleting finished job after its TTL" << kv("job", key);
  client::DeleteOptions o;
  o.propagation_policy = "Foreground";
  o.precondition_uid = Uid(job);
  auto r = client().Delete(client::kJobs, Ns(job), Name(job), o);
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
  return Status::Ok();
}

Status JobController::SyncJob(const Json& job_in, const std::string& key) {
  std::string managed_by = GetStringPath(job_in, {"spec", "managedBy"});
  if (!managed_by.empty() && managed_by != kManagedByDefault) return Status::Ok();
  const SystemTime now = clock().Now();
  Json job = job_in;
  const bool finished = ConditionTrue(job, "Complete") || ConditionTrue(job, "Failed");

  // Pods of this job: claim by selector as upstream (orphans with matching labels are adopted).
  ASSIGN_OR_RETURN(client::LabelSelector selector, client::LabelSelector::FromJson(FindPath(job, {"spec", "selector"})));
  Json ref = framework::MakeControllerRef(job, "batch/v1", "Job");
  std::vector<client::ObjectPtr> candidates = framework::ClaimCandidates(*pods_, pod_index_, job);
  std::vector<client::ObjectPtr> pods;
  if (finished || IsBeingDeleted(job)) {
    for (const auto& p : candidates)
      if (framework::IsControlledBy(*p, job)) pods.push_back(p);
    // Every pod was accounted for before the terminal condition; drop leftover finalizers.
    Status first;
    for (const auto& p : pods) {
      if (!HasFinalizer(*p)) continue;
      Status st = RemoveFinalizer(*p);
      if (!st.ok() && first.ok()) first = st;
    }
    RETURN_IF_ERROR(first);
    return finished ? HandleTtl(job, key) : Status::Ok();
  }
  if (!expectations_.Satisfied(key)) return Status::Ok();  // a pod add will requeue us
  {
    // Counting from a job older than our own last status write would miss pods counted there
    // (their finalizers are gone); the informer delivers our write and requeues the job.
    std::lock_guard<std::mutex> l(mu_);
    auto it = written_rv_.find(key);
    if (it != written_rv_.end()) {
      uint64_t cached = std::strtoull(GetStringPath(job, {"metadata", "resourceVersion"}).c_str(), nullptr, 10);
      if (cached < it->second) return Status::Ok();
    }
  }
  auto claim = framework::ClaimObjects(client(), client::kPods, job, ref, selector, candidates,
                                       framework::RecheckOwner(client(), client::kJobs, job));
  RETURN_IF_ERROR(claim.status);
  pods = std::move(claim.owned);

  const Json& spec = job["spec"];
  if (!job.contains("status") || !job["status"].is_object()) job["status"] = Json::object();
  const Json old_status = job["status"];
  Json& status = job["status"];
  const bool indexed = GetString(spec, "completionMode") == "Indexed";
  const Json* completions_j = Find(spec, "completions");
  const bool has_completions = completions_j && completions_j->is_number_integer();
  const int64_t completions = has_completions ? completions_j->get<int64_t>() : 0;
  const int64_t parallelism = GetInt(spec, {"parallelism"}, 1);
  const int64_t backoff_limit = GetInt(spec, {"backoffLimit"}, 6);
  const Json* pfp = Find(spec, "podFailurePolicy");
  const bool has_pfp = pfp && pfp->is_object();
  const bool suspended = Find(spec, "suspend") && spec["suspend"].is_boolean() && spec["suspend"].get<bool>();
  const bool only_failed = OnlyReplaceFailed(job);

  Json& uncounted = status["uncountedTerminatedPods"];
  if (!uncounted.is_object()) uncounted = Json::object();
  std::vector<std::string> unc_s = StringList(Find(uncounted, "succeeded"));
  std::vector<std::string> unc_f = StringList(Find(uncounted, "failed"));
  std::set<std::string> unc_s_set(unc_s.begin(), unc_s.end()), unc_f_set(unc_f.begin(), unc_f.end());
  int64_t succeeded = GetInt(status, {"succeeded"}) + static_cast<int64_t>(unc_s.size());
  int64_t failed = GetInt(status, {"failed"}) + static_cast<int64_t>(unc_f.size());
  std::set<int64_t> succeeded_ix = indexed ? ParseIndexes(GetString(status, "completedIndexes"), completions) : std::set<int64_t>{};

  // Finalizer removals we issued: forget those the cache now shows done (pod gone or finalizer
  // removed). Judged against the same cache snapshot this sync uses, so a handler running ahead
  // of the cache can never make a pod look countable twice.
  std::set<std::string> removing;
  {
    std::map<std::string, const Json*> by_uid;
    for (const auto& p : pods) by_uid[Uid(*p)] = p.get();
    std::lock_guard<std::mutex> l(mu_);
    std::set<std::string>& r = removing_[key];
    for (auto it = r.begin(); it != r.end();) {
      auto f = by_uid.find(*it);
      it = (f == by_uid.end() || !HasFinalizer(*f->second)) ? r.erase(it) : std::next(it);
    }
    removing = r;
  }

  // Interim conditions already decided in an earlier sync.
  std::string fail_reason, fail_msg;
  bool success_met = ConditionTrue(job, "SuccessCriteriaMet");
  if (const Json* ft = FindCondition(job, "FailureTarget"); ft && GetString(*ft, "status") == "True") {
    fail_reason = GetString(*ft, "reason");
    fail_msg = GetString(*ft, "message");
  }

  // Phase 1: terminated pods still carrying the finalizer are recorded as uncounted.
  std::vector<client::ObjectPtr> finalize;
  BackoffRecord rec;
  {
    std::lock_guard<std::mutex> l(mu_);
    rec = backoff_[key];
  }
  std::optional<std::string> policy_fail_msg;
  for (const auto& p : pods) {
    if (!HasFinalizer(*p) || removing.count(Uid(*p))) continue;
    const std::string phase = Phase(*p);
    const bool considered_failed = IsPodFailed(*p, job);
    // A failing job counts its deleted pods as failed even when only Failed pods are replaced
    // (they never reach a terminal phase without a kubelet).
    const bool done = phase == "Succeeded" || phase == "Failed" || considered_failed ||
                      (!fail_reason.empty() && IsBeingDeleted(*p));
    if (!done) continue;
    finalize.push_back(p);
    const std::string uid = Uid(*p);
    if (phase == "Succeeded" && !unc_f_set.count(uid)) {
      if (indexed) {
        int64_t ix = CompletionIndex(*p);
        if (ix >= 0 && ix < completions) succeeded_ix.insert(ix);
      } else if (!unc_s_set.count(uid)) {
        unc_s.push_back(uid);
        unc_s_set.insert(uid);
        ++succeeded;
      }
      rec.failures_after_success = 0;
    } else if (phase != "Succeeded" && !unc_f_set.count(uid)) {
      int64_t ix = CompletionIndex(*p);
      if (indexed && (ix < 0 || ix >= completions)) continue;
      bool count = true;
      if (has_pfp && phase == "Failed") {
        if (auto m = MatchPodFailurePolicy(*pfp, *p)) {
          count = m->count_failed;
          if (m->action == "FailJob" && !policy_fail_msg) policy_fail_msg = m->message;
        }
      }
      if (count) {
        unc_f.push_back(uid);
        unc_f_set.insert(uid);
        ++failed;
        rec.failures_after_success++;
        SystemTime ft = PodFinishTime(*p).value_or(now);
        if (ft > rec.last_failure) rec.last_failure = ft;
      } else {
        // Ignored failures are not counted; their uid still must not be seen twice.
        unc_f_set.insert(uid);
      }
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    backoff_[key] = rec;
  }
  if (indexed) succeeded = static_cast<int64_t>(succeeded_ix.size());

  // Active / terminating / ready, as the informer sees them.
  std::vector<client::ObjectPtr> active;
  int64_t terminating = 0;
  for (const auto& p : pods) {
    const std::string phase = Phase(*p);
    if (phase == "Succeeded" || phase == "Failed") continue;
    if (IsBeingDeleted(*p)) {
      ++terminating;
      continue;
    }
    active.push_back(p);
  }

  // Failure decisions, in upstream's order.
  if (fail_reason.empty() && !success_met) {
    bool on_failure = GetStringPath(spec, {"template", "spec", "restartPolicy"}) == "OnFailure";
    int64_t restarts = 0;
    if (on_failure) {
      for (const auto& p : active)
        for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
          const Json* st = FindPath(*p, {"status", list});
          if (st && st->is_array())
            for (const Json& cs : *st) restarts += GetInt(cs, {"restartCount"});
        }
    }
    bool past_on_failure = on_failure && (backoff_limit == 0 ? restarts > 0 : restarts + failed >= backoff_limit && restarts > 0);
    const Json* ads = Find(spec, "activeDeadlineSeconds");
    auto start = ParseRFC3339(GetString(status, "startTime"));
    if (policy_fail_msg) {
      fail_reason = kReasonPolicy;
      fail_msg = *policy_fail_msg;
    } else if (failed > backoff_limit || past_on_failure) {
      fail_reason = kReasonBackoff;
      fail_msg = kMsgBackoff;
    } else if (ads && ads->is_number_integer() && start.ok() && !suspended &&
               now - *start >= std::chrono::seconds(ads->get<int64_t>())) {
      fail_reason = kReasonDeadline;
      fail_msg = kMsgDeadline;
    } else if (ads && ads->is_number_integer() && start.ok() && !suspended) {
      auto left = *start + std::chrono::seconds(ads->get<int64_t>()) - now;
      EnqueueAfter(key, std::chrono::duration_cast<std::chrono::milliseconds>(left) + std::chrono::milliseconds(10));
    }
  }

  Status first_err;
  auto note = [&](Status st) {
    if (!st.ok() && first_err.ok()) first_err = st;
  };
  bool suspend_changed = false;

  if (!fail_reason.empty()) {
    // The job failed: stop everything still running.
    note(DeletePods(job, key, active));
    terminating += static_cast<int64_t>(active.size());
    active.clear();
    framework::SetCondition(job, "FailureTarget", "True", fail_reason, fail_msg, now, true);
  } else if (!success_met) {
    // Suspend / resume.
    if (suspended) {
      if (!ConditionTrue(job, "Suspended")) {
        framework::SetCondition(job, "Suspended", "True", "JobSuspended", "Job suspended", now, true);
        suspend_changed = true;
        recorder().Record(job, "Normal", "Suspended", "Job suspended");
      }
    } else if (const Json* sc = FindCondition(job, "Suspended"); sc && GetString(*sc, "status") == "True") {
      framework::SetCondition(job, "Suspended", "False", "JobResumed", "Job resumed", now, true);
      suspend_changed = true;
      // A resumed job's active deadline counts from the resume.
      status["startTime"] = FormatRFC3339(now);
      recorder().Record(job, "Normal", "Resumed", "Job resumed");
    }
    if (!suspended && !status.contains("startTime")) status["startTime"] = FormatRFC3339(now);

    // How many pods should run.
    int64_t want = 0;
    if (!suspended) {
      if (!has_completions) {
        want = succeeded > 0 ? static_cast<int64_t>(active.size()) : parallelism;
      } else {
        want = std::clamp<int64_t>(completions - succeeded, 0, parallelism);
      }
    }
    std::vector<client::ObjectPtr> to_delete;
    if (indexed) {
      // One active pod per pending index; duplicates, out-of-range and completed indexes go.
      std::set<int64_t> seen;
      std::vector<client::ObjectPtr> keep;
      for (const auto& p : active) {
        int64_t ix = CompletionIndex(*p);
        if (ix < 0 || ix >= completions || succeeded_ix.count(ix) || seen.count(ix)) {
          to_delete.push_back(p);
        } else {
          seen.insert(ix);
          keep.push_back(p);
        }
      }
      active = keep;
    }
    if (static_cast<int64_t>(active.size()) > want) {
      // Remove not-ready pods first, then the newest.
      std::vector<client::ObjectPtr> order = active;
      std::stable_sort(order.begin(), order.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) {
        bool ra = framework::IsPodReady(*a), rb = framework::IsPodReady(*b);
        if (ra != rb) return !ra;
        return GetStringPath(*a, {"metadata", "creationTimestamp"}) > GetStringPath(*b, {"metadata", "creationTimestamp"});
      });
      size_t n = active.size() - static_cast<size_t>(want);
      std::set<const Json*> gone;
      for (size_t i = 0; i < n; ++i) {
        to_delete.push_back(order[i]);
        gone.insert(order[i].get());
      }
      std::vector<client::ObjectPtr> keep;
      for (const auto& p : active)
        if (!gone.count(p.get())) keep.push_back(p);
      active = keep;
    }
    note(DeletePods(job, key, to_delete));
    terminating += static_cast<int64_t>(to_delete.size());

    int64_t occupied = static_cast<int64_t>(active.size()) + (only_failed ? terminating : 0);
    if (occupied < want && first_err.ok()) {
      SystemTime retry_at{};
      if (rec.failures_after_success > 0) {
        auto delay = opts_.pod_failure_backoff;
        for (int i = 1; i < rec.failures_after_success && delay < opts_.max_pod_failure_backoff; ++i) delay *= 2;
        delay = std::min(delay, opts_.max_pod_failure_backoff);
        retry_at = rec.last_failure + delay;
      }
      if (retry_at > now) {
        EnqueueAfter(key, std::chrono::duration_cast<std::chrono::milliseconds>(retry_at - now) + std::chrono::milliseconds(10));
      } else {
        int64_t diff = std::min<int64_t>(want - occupied, opts_.max_pods_per_sync);
        std::vector<int64_t> indexes;
        if (indexed) {
          std::set<int64_t> busy;
          for (const auto& p : pods)
            if (Phase(*p) != "Succeeded" && Phase(*p) != "Failed" && (!IsBeingDeleted(*p) || only_failed))
              busy.insert(CompletionIndex(*p));
          for (int64_t ix = 0; ix < completions && static_cast<int64_t>(indexes.size()) < diff; ++ix)
            if (!succeeded_ix.count(ix) && !busy.count(ix)) indexes.push_back(ix);
          diff = static_cast<int64_t>(indexes.size());
        }
        if (diff > 0) {
          Status st = CreatePods(job, key, static_cast<int>(diff), indexes);
          note(st);
          // Count what the informer will show; a failed create is retried rate-limited.
          if (st.ok()) active.resize(active.size() + static_cast<size_t>(diff));
        }
      }
    }

    // Success.
    bool complete;
    if (indexed)
      complete = static_cast<int64_t>(succeeded_ix.size()) >= completions;
    else if (!has_completions)
      complete = succeeded > 0 && active.empty();
    else
      complete = succeeded >= completions;
    if (complete && !suspended) {
      std::vector<client::ObjectPtr> running;
      for (const auto& p : active)
        if (p) running.push_back(p);
      note(DeletePods(job, key, running));
      terminating += static_cast<int64_t>(running.size());
      active.clear();
      framework::SetCondition(job, "SuccessCriteriaMet", "True", kReasonCompletions, kMsgCompletions, now, true);
      success_met = true;
    }
  }

  int64_t ready = 0;
  for (const auto& p : active)
    if (p && framework::IsPodReady(*p)) ++ready;
  status["active"] = static_cast<int64_t>(active.size());
  status["ready"] = ready;
  status["terminating"] = terminating;
  if (indexed) status["completedIndexes"] = FormatIndexes(succeeded_ix);
  auto set_uncounted = [&] {
    Json u = Json::object();
    if (!unc_s.empty()) u["succeeded"] = unc_s;
    if (!unc_f.empty()) u["failed"] = unc_f;
    status["uncountedTerminatedPods"] = u;
  };
  set_uncounted();
  // succeeded/failed hold only pods whose finalizer is gone; uncounted ones are added in phase 3.
  status["succeeded"] = indexed ? succeeded : succeeded - static_cast<int64_t>(unc_s.size());
  status["failed"] = failed - static_cast<int64_t>(unc_f.size());
  if (status["succeeded"] == 0 && !old_status.contains("succeeded")) status.erase("succeeded");
  if (status["failed"] == 0 && !old_status.contains("failed")) status.erase("failed");

  auto write = [&]() -> Status {
    if (SameStatus(job["status"], old_status) && !suspend_changed) return Status::Ok();
    auto r = client().UpdateStatus(client::kJobs, Ns(job), job);
    if (!r.ok()) return r.status();
    job["metadata"]["resourceVersion"] = GetStringPath(*r, {"metadata", "resourceVersion"});
    NoteWritten(key, *r);
    return Status::Ok();
  };
  // Phase 1 write: uncounted pods are durable before any finalizer goes.
  RETURN_IF_ERROR(write());

  // Phase 2: remove finalizers of the recorded pods.
  std::set<std::string> released;
  for (const auto& p : finalize) {
    Status st = RemoveFinalizer(*p);
    if (st.ok()) {
      released.insert(Uid(*p));
      std::lock_guard<std::mutex> l(mu_);
      removing_[key].insert(Uid(*p));
    } else {
      note(st);
    }
  }

  // Phase 3: uncounted pods whose finalizer is gone (now, or before a crash) become counted.
  std::set<std::string> still_tracked;
  for (const auto& p : pods)
    if (HasFinalizer(*p) && !released.count(Uid(*p))) still_tracked.insert(Uid(*p));
  int64_t moved_s = 0, moved_f = 0;
  auto move = [&](std::vector<std::string>& v, int64_t& moved) {
    std::vector<std::string> keep;
    for (const auto& uid : v) {
      if (still_tracked.count(uid))
        keep.push_back(uid);
      else
        ++moved;
    }
    v = keep;
  };
  move(unc_s, moved_s);
  move(unc_f, moved_f);
  const Json old2 = job["status"];
  set_uncounted();
  if (!indexed) status["succeeded"] = GetInt(status, {"succeeded"}) + moved_s;
  status["failed"] = GetInt(status, {"failed"}) + moved_f;
  if (status["succeeded"] == 0 && !old_status.contains("succeeded")) status.erase("succeeded");
  if (status["failed"] == 0 && !old_status.contains("failed")) status.erase("failed");

  // Terminal condition once every pod is accounted for and nothing runs any more.
  // (upstream 1.33 delays Complete/Failed until no pod of the job is left terminating).
  bool all_done = unc_s.empty() && unc_f.empty() && active.empty() && terminating == 0;
  if (all_done) {
    for (const auto& p : pods)
      if (!released.count(Uid(*p)) && HasFinalizer(*p)) all_done = false;
  }
  if (all_done && !ConditionTrue(job, "Complete") && !ConditionTrue(job, "Failed")) {
    if (const Json* ft = FindCondition(job, "FailureTarget"); ft && GetString(*ft, "status") == "True") {
      // Copy first: SetCondition may grow the conditions array and leave `ft` dangling.
      const std::string reason = GetString(*ft, "reason"), message = GetString(*ft, "message");
      framework::SetCondition(job, "Failed", "True", reason, message, now, true);
      recorder().Record(job, "Warning", reason, message);
    } else if (success_met) {
      framework::SetCondition(job, "Complete", "True", kReasonCompletions, kMsgCompletions, now, true);
      status["completionTime"] = FormatRFC3339(now);
      recorder().Record(job, "Normal", "Completed", "Job completed");
    }
  }
  if (!SameStatus(job["status"], old2)) {
    auto r = client().UpdateStatus(client::kJobs, Ns(job), job);
    if (!r.ok())
      note(r.status());
    else
      NoteWritten(key, *r);
  }
  if (ConditionTrue(job, "Complete") || ConditionTrue(job, "Failed")) note(HandleTtl(job, key));
  return first_err;
}

}  // namespace tug::controllers::job
