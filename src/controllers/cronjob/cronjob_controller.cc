// CronJob controller; see cronjob_controller.h.
#include "controllers/cronjob/cronjob_controller.h"

#include <algorithm>
#include <cstdio>

#include "base/log.h"

namespace tug::controllers::cronjob {
namespace {

using framework::FindCondition;
using framework::GetInt;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Name(const Json& o) { return GetStringPath(o, {"metadata", "name"}); }
std::string Ns(const Json& o) { return GetStringPath(o, {"metadata", "namespace"}); }
std::string Uid(const Json& o) { return GetStringPath(o, {"metadata", "uid"}); }

int64_t Unix(SystemTime t) { return std::chrono::floor<seconds>(t.time_since_epoch()).count(); }

// The finished condition type of a Job ("Complete" / "Failed"), or "".
std::string FinishedCondition(const Json& job) {
  for (const char* type : {"Complete", "Failed"}) {
    const Json* c = FindCondition(job, type);
    if (c && GetString(*c, "status") == "True") return type;
  }
  return "";
}

bool InActiveList(const Json& cj, const std::string& uid) {
  const Json* a = FindPath(cj, {"status", "active"});
  if (!a || !a->is_array()) return false;
  for (const Json& r : *a)
    if (GetString(r, "uid") == uid) return true;
  return false;
}

bool InActiveListByName(const Json& cj, const std::string& name) {
  const Json* a = FindPath(cj, {"status", "active"});
  if (!a || !a->is_array()) return false;
  for (const Json& r : *a)
    if (GetString(r, "name") == name) return true;
  return false;
}

void DeleteFromActiveList(Json& cj, const std::string& uid) {
  Json* a = cj.contains("status") && cj["status"].contains("active") ? &cj["status"]["active"] : nullptr;
  if (!a || !a->is_array()) return;
  Json keep = Json::array();
  for (const Json& r : *a)
    if (GetString(r, "uid") != uid) keep.push_back(r);
  if (keep.empty())
    cj["status"].erase("active");
  else
    *a = keep;
}

// Go's time.RFC1123Z: "Mon, 02 Jan 2006 15:04:05 -0700" (in UTC here, as upstream formats it).
std::string FormatRFC1123Z(SystemTime t) {
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  CivilTime c = TimeZone::Utc()->ToCivil(Unix(t));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02lld %s %04lld %02lld:%02lld:%02lld +0000", kDays[c.weekday], (long long)c.day,
                kMonths[c.month - 1], (long long)c.year, (long long)c.hour, (long long)c.minute, (long long)c.second);
  return buf;
}

}  // namespace

std::string JobNameFor(const std::string& cronjob_name, SystemTime scheduled) {
  int64_t u = Unix(scheduled);
  int64_t minutes = u >= 0 ? u / 60 : -((-u + 59) / 60);
  return cronjob_name + "-" + std::to_string(minutes);
}

std::string FormatRFC3339In(SystemTime t, const TimeZone& zone) {
  int64_t u = Unix(t);
  int32_t off = zone.OffsetAt(u);
  CivilTime c = zone.ToCivil(u);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld", (long long)c.year, (long long)c.month,
                        (long long)c.day, (long long)c.hour, (long long)c.minute, (long long)c.second);
  std::string out(buf, static_cast<size_t>(n));
  if (off == 0) return out + "Z";
  int32_t a = off < 0 ? -off : off;
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  return out + buf;
}

MostRecent MostRecentScheduleTime(const Json& cj, SystemTime now, const Schedule& sched, bool use_deadline) {
  MostRecent out;
  SystemTime earliest{};
  if (auto t = ParseRFC3339(GetStringPath(cj, {"metadata", "creationTimestamp"})); t.ok()) earliest = *t;
  if (auto t = ParseRFC3339(GetStringPath(cj, {"status", "lastScheduleTime"})); t.ok()) earliest = *t;
  const Json* sds = FindPath(cj, {"spec", "startingDeadlineSeconds"});
  if (use_deadline && sds && sds->is_number_integer()) {
    SystemTime deadline = now - seconds(sds->get<int64_t>());
    if (deadline > earliest) earliest = deadline;
  }
  out.earliest = earliest;
  std::optional<SystemTime> t1 = sched.Next(earliest);
  if (!t1 || now < *t1) return out;
  std::optional<SystemTime> t2 = sched.Next(*t1);
  if (!t2 || now < *t2) {
    out.most_recent = t1;
    return out;
  }
  int64_t between = duration_cast<seconds>(*t2 - *t1 + milliseconds(500)).count();
  if (between < 1) {
    out.error = "time difference between two schedules is less than 1 second";
    return out;
  }
  int64_t elapsed = duration_cast<seconds>(now - *t1).count();
  int64_t missed = elapsed / between + 1;
  // Start one interval early and let the schedule find the exact activations (irregular
  // schedules such as "30 6-16/4 * * 1-5").
  SystemTime potential = *t1 + seconds((missed - 1 - 1) * between);
  std::optional<SystemTime> most;
  for (auto t = sched.Next(potential); t && *t <= now; t = sched.Next(*t)) most = t;
  out.most_recent = most;
  out.many_missed = missed > 100;
  return out;
}

CronJobController::CronJobController(const framework::ControllerContext& ctx, CronJobOptions opts)
    : Controller("cronjob", ctx), opts_(std::move(opts)) {
  if (!opts_.default_zone) {
    auto local = TimeZone::Load("Local");
    opts_.default_zone = local.ok() ? *local : TimeZone::Utc();
  }
  cronjobs_ = &Informer(client::kCronJobs);
  jobs_ = &Informer(client::kJobs);
  cronjobs_->AddHandler(EnqueueHandler());
  auto on_job = [this](const client::ObjectPtr& j) {
    const Json* ref = framework::GetControllerOf(*j);
    if (ref && GetString(*ref, "kind") == "CronJob") Enqueue(Ns(*j) + "/" + GetString(*ref, "name"));
  };
  jobs_->AddHandler(client::EventHandler{
      .on_add = on_job,
      .on_update = [on_job](const client::ObjectPtr&, const client::ObjectPtr& n) { on_job(n); },
      .on_delete = on_job,
  });
}

CronJobController::~CronJobController() { Stop(); }

std::unique_ptr<framework::Controller> NewCronJobController(const framework::ControllerContext& ctx) {
  return std::make_unique<CronJobController>(ctx);
}

Status CronJobController::Sync(const std::string& key) {
  client::ObjectPtr obj = cronjobs_->Get(key);
  if (!obj) return Status::Ok();
  Json cj = *obj;
  std::vector<client::ObjectPtr> jobs;
  for (const auto& j : jobs_->List(Ns(cj)))
    if (framework::IsControlledBy(*j, cj)) jobs.push_back(j);

  bool update_status = false;
  auto requeue = SyncCronJob(cj, jobs, update_status);
  if (CleanupFinishedJobs(cj, jobs)) update_status = true;
  if (update_status) {
    auto r = client().UpdateStatus(client::kCronJobs, Ns(cj), cj);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kNotFound) return Status::Ok();
      return r.status();
    }
  }
  if (!requeue.ok()) return requeue.status();
  if (*requeue) EnqueueAfter(key, **requeue);
  return Status::Ok();
}

Result<std::optional<milliseconds>> CronJobController::SyncCronJob(Json& cj, const std::vector<client::ObjectPtr>& jobs,
                                                                   bool& update_status) {
  const SystemTime now = clock().Now();
  if (!cj.contains("status") || !cj["status"].is_object()) cj["status"] = Json::object();

  // Reconcile the active list with the Jobs we see.
  std::set<std::string> children;
  for (const auto& jp : jobs) {
    const Json& j = *jp;
    children.insert(Uid(j));
    bool found = InActiveList(cj, Uid(j));
    std::string finished = FinishedCondition(j);
    if (!found && finished.empty()) {
      // Created by us right before a crash, or by someone else: upstream reports and leaves it.
      auto fresh = client().Get(client::kCronJobs, Ns(cj), Name(cj));
      if (fresh.ok() && InActiveList(*fresh, Uid(j))) {
        cj["status"] = (*fresh)["status"];
        continue;
      }
      recorder().Record(cj, "Warning", "UnexpectedJob", "Saw a job that the controller did not create or forgot: " + Name(j));
    } else if (found && !finished.empty()) {
      DeleteFromActiveList(cj, Uid(j));
      recorder().Record(cj, "Normal", "SawCompletedJob", "Saw completed job: " + Name(j) + ", condition: " + finished);
      update_status = true;
    }
    if (finished == "Complete") {
      auto done = ParseRFC3339(GetStringPath(j, {"status", "completionTime"}));
      auto last = ParseRFC3339(GetStringPath(cj, {"status", "lastSuccessfulTime"}));
      if (done.ok() && (!last.ok() || *done > *last)) {
        cj["status"]["lastSuccessfulTime"] = FormatRFC3339(*done);
        update_status = true;
      }
    }
  }
  if (const Json* a = FindPath(cj, {"status", "active"}); a && a->is_array()) {
    Json refs = *a;
    for (const Json& r : refs) {
      if (children.count(GetString(r, "uid"))) continue;
      // The informer may be behind: ask the API server before calling the job missing.
      auto got = client().Get(client::kJobs, GetString(r, "namespace", Ns(cj)), GetString(r, "name"));
      if (!got.ok() && got.status().code() == StatusCode::kNotFound) {
        recorder().Record(cj, "Normal", "MissingJob", "Active job went missing: " + GetString(r, "name"));
        DeleteFromActiveList(cj, GetString(r, "uid"));
        update_status = true;
      } else if (!got.ok()) {
        return got.status();
      }
    }
  }

  if (framework::IsBeingDeleted(cj)) return std::optional<milliseconds>{};

  std::shared_ptr<const TimeZone> zone = opts_.default_zone;
  const Json* tzj = FindPath(cj, {"spec", "timeZone"});
  if (tzj && tzj->is_string()) {
    auto z = TimeZone::Load(tzj->get<std::string>());
    if (!z.ok()) {
      recorder().Record(cj, "Warning", "UnknownTimeZone",
                        "invalid timeZone: \"" + tzj->get<std::string>() + "\": " + z.status().message());
      return std::optional<milliseconds>{};
    }
    zone = *z;
  }
  const Json* suspend = FindPath(cj, {"spec", "suspend"});
  if (suspend && suspend->is_boolean() && suspend->get<bool>()) return std::optional<milliseconds>{};

  std::string schedule = GetStringPath(cj, {"spec", "schedule"});
  if (schedule.find("TZ") != std::string::npos) {
    recorder().Record(cj, "Warning", "UnsupportedSchedule",
                      "CRON_TZ or TZ used in schedule \"" + schedule +
                          "\" is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details");
  }
  auto sched = Schedule::Parse(schedule, zone);
  if (!sched.ok()) {
    recorder().Record(cj, "Warning", "UnparseableSchedule",
                      "unparseable schedule: \"" + schedule + "\" : " + sched.status().message());
    return std::optional<milliseconds>{};
  }

  // When to look again: the next activation after the most recent one (plus 100 ms).
  auto next_in = [&]() -> std::optional<milliseconds> {
    MostRecent mr = MostRecentScheduleTime(cj, now, *sched, false);
    SystemTime base = mr.most_recent.value_or(mr.earliest);
    auto next = sched->Next(base);
    if (!next) return std::nullopt;
    auto d = duration_cast<milliseconds>(*next - now) + milliseconds(100);
    return d < milliseconds(0) ? milliseconds(100) : d;
  };

  MostRecent mr = MostRecentScheduleTime(cj, now, *sched, true);
  if (!mr.error.empty()) {
    recorder().Record(cj, "Warning", "InvalidSchedule", "invalid schedule: " + schedule + " : " + mr.error);
    return std::optional<milliseconds>{};
  }
  if (mr.many_missed) {
    recorder().Record(cj, "Warning", "TooManyMissedTimes",
                      "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew");
    TUG_LOG(INFO, "cronjob") << "too many missed times" << kv("cronjob", Ns(cj) + "/" + Name(cj));
  }
  if (!mr.most_recent) return next_in();
  SystemTime scheduled = *mr.most_recent;

  const Json* sds = FindPath(cj, {"spec", "startingDeadlineSeconds"});
  if (sds && sds->is_number_integer() && scheduled + seconds(sds->get<int64_t>()) < now) {
    recorder().Record(cj, "Warning", "MissSchedule", "Missed scheduled time to start a job: " + FormatRFC1123Z(scheduled));
    return next_in();
  }
  std::string job_name = JobNameFor(Name(cj), scheduled);
  if (InActiveListByName(cj, job_name) || GetStringPath(cj, {"status", "lastScheduleTime"}) == FormatRFC3339(scheduled))
    return next_in();

  // A Job is started on the latest status only: a cached copy older than our own last status
  // write would miss the active Job (a second one under Forbid) or the schedule already done.
  if (auto fresh = client().Get(client::kCronJobs, Ns(cj), Name(cj));
      fresh.ok() && GetStringPath(*fresh, {"metadata", "resourceVersion"}) != GetStringPath(cj, {"metadata", "resourceVersion"}))
    return UnavailableError("cronjob " + Ns(cj) + "/" + Name(cj) + " changed since it was cached; syncing again");
  std::string policy = GetStringPath(cj, {"spec", "concurrencyPolicy"}, "Allow");
  const Json* active = FindPath(cj, {"status", "active"});
  bool has_active = active && active->is_array() && !active->empty();
  if (policy == "Forbid" && has_active) {
    recorder().Record(cj, "Normal", "JobAlreadyActive",
                      "Not starting job because prior execution is running and concurrency policy is Forbid");
    return next_in();
  }
  if (policy == "Replace" && has_active) {
    Json refs = *active;
    for (const Json& r : refs) {
      auto got = client().Get(client::kJobs, GetString(r, "namespace", Ns(cj)), GetString(r, "name"));
      if (!got.ok()) {
        if (got.status().code() == StatusCode::kNotFound) {
          DeleteFromActiveList(cj, GetString(r, "uid"));
          update_status = true;
          continue;
        }
        return got.status();
      }
      if (!DeleteJob(cj, *got)) return InternalError("could not replace job " + Ns(*got) + "/" + Name(*got));
      update_status = true;
    }
  }

  // The Job, from the template.
  Json job = {{"apiVersion", "batch/v1"}, {"kind", "Job"}};
  Json meta = {{"name", job_name}, {"namespace", Ns(cj)}};
  const Json* tmeta = FindPath(cj, {"spec", "jobTemplate", "metadata"});
  if (tmeta && tmeta->is_object()) {
    if (const Json* l = Find(*tmeta, "labels"); l && l->is_object()) meta["labels"] = *l;
    if (const Json* a = Find(*tmeta, "annotations"); a && a->is_object()) meta["annotations"] = *a;
  }
  const TimeZone& ann_zone = (tzj && tzj->is_string()) ? *zone : *TimeZone::Utc();
  meta["annotations"][kScheduledTimestampAnnotation] = FormatRFC3339In(scheduled, ann_zone);
  meta["ownerReferences"] = Json::array({framework::MakeControllerRef(cj, "batch/v1", "CronJob")});
  job["metadata"] = meta;
  const Json* tspec = FindPath(cj, {"spec", "jobTemplate", "spec"});
  job["spec"] = tspec && tspec->is_object() ? *tspec : Json::object();
  auto created = client().Create(client::kJobs, Ns(cj), job);
  bool adopted = false;
  if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists) {
    // Created by an earlier sync whose status write then lost a race (it read a stale cached
    // CronJob): the Job is ours, so record it now; else this schedule would retry forever.
    auto existing = client().Get(client::kJobs, Ns(cj), job_name);
    if (existing.ok() && framework::IsControlledBy(*existing, cj)) {
      created = std::move(existing);
      adopted = true;
    }
    TUG_LOG(INFO, "cronjob") << "job already exists" << kv("cronjob", Ns(cj) + "/" + Name(cj)) << kv("job", job_name)
                             << kv("ours", adopted);
  }
  if (!created.ok()) {
    if (created.status().code() != StatusCode::kForbidden && created.status().code() != StatusCode::kAlreadyExists)
      recorder().Record(cj, "Warning", "FailedCreate", "Error creating job: " + created.status().message());
    return created.status();
  }
  if (!adopted) recorder().Record(cj, "Normal", "SuccessfulCreate", "Created job " + Name(*created));
  Json ref = {{"kind", "Job"},
              {"namespace", Ns(*created)},
              {"name", Name(*created)},
              {"uid", Uid(*created)},
              {"apiVersion", "batch/v1"},
              {"resourceVersion", GetStringPath(*created, {"metadata", "resourceVersion"})}};
  if (!cj["status"].contains("active") || !cj["status"]["active"].is_array()) cj["status"]["active"] = Json::array();
  if (!InActiveList(cj, Uid(*created))) cj["status"]["active"].push_back(ref);
  cj["status"]["lastScheduleTime"] = FormatRFC3339(scheduled);
  update_status = true;
  return next_in();
}

bool CronJobController::DeleteJob(Json& cj, const Json& job) {
  client::DeleteOptions o;
  o.propagation_policy = "Background";
  auto r = client().Delete(client::kJobs, Ns(job), Name(job), o);
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) {
    recorder().Record(cj, "Warning", "FailedDelete", "Deleted job: " + r.status().message());
    return false;
  }
  DeleteFromActiveList(cj, Uid(job));
  recorder().Record(cj, "Normal", "SuccessfulDelete", "Deleted job " + Name(job));
  return true;
}

bool CronJobController::CleanupFinishedJobs(Json& cj, const std::vector<client::ObjectPtr>& jobs) {
  const Json* sl = FindPath(cj, {"spec", "successfulJobsHistoryLimit"});
  const Json* fl = FindPath(cj, {"spec", "failedJobsHistoryLimit"});
  bool has_s = sl && sl->is_number_integer(), has_f = fl && fl->is_number_integer();
  if (!has_s && !has_f) return false;
  std::vector<client::ObjectPtr> ok, bad;
  for (const auto& j : jobs) {
    std::string f = FinishedCondition(*j);
    if (f == "Complete") ok.push_back(j);
    if (f == "Failed") bad.push_back(j);
  }
  bool changed = false;
  auto remove_oldest = [&](std::vector<client::ObjectPtr>& v, int64_t limit) {
    if (static_cast<int64_t>(v.size()) <= limit) return;
    // Oldest by status.startTime first; a job that never started counts as oldest.
    std::stable_sort(v.begin(), v.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) {
      std::string sa = GetStringPath(*a, {"status", "startTime"}), sb = GetStringPath(*b, {"status", "startTime"});
      if (sa.empty() != sb.empty()) return sa.empty();
      return sa < sb;
    });
    size_t n = v.size() - static_cast<size_t>(std::max<int64_t>(limit, 0));
    for (size_t i = 0; i < n; ++i)
      if (DeleteJob(cj, *v[i])) changed = true;
  };
  if (has_s) remove_oldest(ok, sl->get<int64_t>());
  if (has_f) remove_oldest(bad, fl->get<int64_t>());
  return changed;
}

}  // namespace tug::controllers::cronjob
