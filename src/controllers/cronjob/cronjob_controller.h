// The CronJob controller (batch/v1), with upstream kube-controller-manager 1.33 semantics:
// creates a Job named "<cronjob>-<scheduled time in unix minutes>" at each activation of
// spec.schedule (in spec.timeZone, else the controller's zone), honours suspend,
// concurrencyPolicy (Allow / Forbid / Replace) and startingDeadlineSeconds, records missed starts
// (TooManyMissedTimes when more than 100 were missed, MissSchedule when past the deadline), keeps
// status.active / lastScheduleTime / lastSuccessfulTime, and deletes finished Jobs beyond
// successfulJobsHistoryLimit / failedJobsHistoryLimit (oldest first). After each sync the
// CronJob is requeued for its next activation.
//
// Ownership: borrows the ControllerContext's client, informers and clock.
// Thread-safety: as framework::Controller.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "controllers/cronjob/cron_schedule.h"
#include "controllers/cronjob/time_zone.h"
#include "controllers/framework/controller.h"

namespace tug::controllers::cronjob {

inline constexpr char kScheduledTimestampAnnotation[] = "batch.kubernetes.io/cronjob-scheduled-timestamp";

struct CronJobOptions {
  // The zone for schedules without spec.timeZone (upstream: the controller process's local
  // zone). Null: "Local" (/etc/localtime, UTC when absent).
  std::shared_ptr<const TimeZone> default_zone;
};

class CronJobController : public framework::Controller {
 public:
  CronJobController(const framework::ControllerContext& ctx, CronJobOptions opts = {});
  ~CronJobController() override;

 protected:
  Status Sync(const std::string& key) override;

 private:
  // Returns how long until the CronJob needs another look (nullopt: only on changes).
  Result<std::optional<std::chrono::milliseconds>> SyncCronJob(Json& cj, const std::vector<client::ObjectPtr>& jobs,
                                                               bool& update_status);
  bool CleanupFinishedJobs(Json& cj, const std::vector<client::ObjectPtr>& jobs);
  bool DeleteJob(Json& cj, const Json& job);

  CronJobOptions opts_;
  client::Informer* cronjobs_;
  client::Informer* jobs_;
};

std::unique_ptr<framework::Controller> NewCronJobController(const framework::ControllerContext& ctx);

// --- pure helpers (exposed for tests) -------------------------------------------------------

// "<name>-<unix minutes>".
std::string JobNameFor(const std::string& cronjob_name, SystemTime scheduled);
// RFC 3339 with the zone's offset at t ("2026-11-25T12:00:00+01:00", "...Z" for UTC).
std::string FormatRFC3339In(SystemTime t, const TimeZone& zone);

// Upstream mostRecentScheduleTime: the latest activation in (earliest, now] and whether more
// than 100 were missed. `earliest` is lastScheduleTime or creationTimestamp, raised to
// now - startingDeadlineSeconds when that is later (and `use_deadline`).
struct MostRecent {
  SystemTime earliest;
  std::optional<SystemTime> most_recent;
  bool many_missed = false;
  std::string error;  // "time difference between two schedules is less than 1 second"
};
MostRecent MostRecentScheduleTime(const Json& cj, SystemTime now, const Schedule& sched, bool use_deadline);

}  // namespace tug::controllers::cronjob
