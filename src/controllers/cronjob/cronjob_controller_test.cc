#include "controllers/cronjob/cronjob_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "client/informer.h"
#include "client/testing/test_api_server.h"

namespace tug::controllers::cronjob {
namespace {

using namespace std::chrono_literals;

// Items of a list answer, by value (ranging over a member of a temporary would dangle).
Json Items(const Result<Json>& r) { return r.ok() ? r.value().value("items", Json::array()) : Json::array(); }


class TestCronJobController : public CronJobController {
 public:
  using CronJobController::CronJobController;
  void Poke(const std::string& key) { Enqueue(key); }
};

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

// 2026-11-25T10:00:30Z: half a minute past a whole minute.
const SystemTime kStart = ParseRFC3339("2026-11-25T10:00:30Z").value();

class CronJobControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client::testing::TestApiServerOptions o;
    o.use_fake_clock = true;
    api_ = std::make_unique<client::testing::TestApiServer>(o);
    ASSERT_TRUE(api_->ok());
    api_->clock().Advance(kStart - api_->clock().Now());
    informers_ = std::make_unique<client::InformerFactory>(api_->client());
    framework::ControllerContext ctx{.client = &api_->client(), .informers = informers_.get(), .clock = &api_->clock()};
    ctrl_ = std::make_unique<TestCronJobController>(ctx, CronJobOptions{.default_zone = TimeZone::Utc()});
    informers_->Start();
    ASSERT_TRUE(informers_->WaitForSync(10s));
    ctrl_->Run(1);
  }
  void TearDown() override {
    ctrl_.reset();
    informers_.reset();
  }
  const client::Client& c() { return api_->client(); }

  void CreateCronJob(Json spec) {
    Json cj = {{"apiVersion", "batch/v1"}, {"kind", "CronJob"}, {"metadata", {{"name", "hello"}, {"namespace", "default"}}}};
    spec["jobTemplate"] = {{"metadata", {{"labels", {{"app", "hello"}}}}},
                           {"spec", {{"template", {{"spec", {{"restartPolicy", "OnFailure"}, {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}}}}}};
    cj["spec"] = spec;
    auto r = c().Create(client::kCronJobs, "default", cj);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  Json Cj() { return c().Get(client::kCronJobs, "default", "hello").value(); }
  std::vector<Json> Jobs() {
    std::vector<Json> out;
    for (const Json& j : Items(c().List(client::kJobs, "default")))
      if (!j["metadata"].contains("deletionTimestamp")) out.push_back(j);
    return out;
  }
  std::vector<std::string> JobNames() {
    std::vector<std::string> out;
    for (const Json& j : Jobs()) out.push_back(j["metadata"]["name"]);
    std::sort(out.begin(), out.end());
    return out;
  }
  bool HasEvent(const std::string& reason) {
    auto r = c().List(client::kEvents, "default");
    if (!r.ok()) return false;
    for (const Json& e : (*r)["items"])
      if (GetString(e, "reason") == reason) return true;
    return false;
  }
  void Tick(std::chrono::seconds d) {
    api_->clock().Advance(d);
    ctrl_->Poke("default/hello");
  }
  // Marks a Job finished as the job controller would.
  void FinishJob(const std::string& name, const std::string& type) {
    Json j = c().Get(client::kJobs, "default", name).value();
    std::string now = FormatRFC3339(api_->clock().Now());
    j["status"]["startTime"] = now;
    j["status"]["conditions"] = Json::array(
        {{{"type", type == "Complete" ? "SuccessCriteriaMet" : "FailureTarget"}, {"status", "True"}, {"lastTransitionTime", now}},
         {{"type", type}, {"status", "True"}, {"lastTransitionTime", now}}});
    if (type == "Complete") j["status"]["completionTime"] = now;
    ASSERT_TRUE(c().UpdateStatus(client::kJobs, "default", j).ok());
  }

  std::unique_ptr<client::testing::TestApiServer> api_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<TestCronJobController> ctrl_;
};

std::string MinuteName(const char* t) { return JobNameFor("hello", ParseRFC3339(t).value()); }

TEST_F(CronJobControllerTest, CreatesJobsOnSchedule) {
  CreateCronJob({{"schedule", "*/1 * * * *"}});
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(Jobs().empty());
  Tick(31s);  // 10:01:01
  ASSERT_TRUE(WaitFor([&] { return Jobs().size() == 1; }));
  Json j = Jobs()[0];
  EXPECT_EQ(j["metadata"]["name"], MinuteName("2026-11-25T10:01:00Z"));
  EXPECT_EQ(j["metadata"]["name"], "hello-29926681");
  EXPECT_EQ(j["metadata"]["labels"]["app"], "hello");
  EXPECT_EQ(j["metadata"]["annotations"][kScheduledTimestampAnnotation], "2026-11-25T10:01:00Z");
  EXPECT_EQ(j["metadata"]["ownerReferences"][0]["kind"], "CronJob");
  EXPECT_EQ(j["spec"]["template"]["spec"]["restartPolicy"], "OnFailure");
  ASSERT_TRUE(WaitFor([&] { return Cj()["status"].contains("lastScheduleTime"); }));
  Json st = Cj()["status"];
  EXPECT_EQ(st["lastScheduleTime"], "2026-11-25T10:01:00Z");
  ASSERT_EQ(st["active"].size(), 1u);
  EXPECT_EQ(st["active"][0]["name"], j["metadata"]["name"]);
  EXPECT_TRUE(WaitFor([&] { return HasEvent("SuccessfulCreate"); }));

  // Allow: the next minute starts another one while the first still runs.
  Tick(60s);
  ASSERT_TRUE(WaitFor([&] { return Jobs().size() == 2; }));
  // A finished job leaves the active list and sets lastSuccessfulTime.
  FinishJob(MinuteName("2026-11-25T10:01:00Z"), "Complete");
  ASSERT_TRUE(WaitFor([&] { return Cj()["status"].contains("lastSuccessfulTime") && Cj()["status"]["active"].size() == 1; }))
      << Cj().dump();
  EXPECT_TRUE(WaitFor([&] { return HasEvent("SawCompletedJob"); }));
}

TEST_F(CronJobControllerTest, ForbidSkipsWhileActive) {
  CreateCronJob({{"schedule", "* * * * *"}, {"concurrencyPolicy", "Forbid"}});
  Tick(31s);
  ASSERT_TRUE(WaitFor([&] { return Jobs().size() == 1 && Cj()["status"].contains("active"); }));
  Tick(60s);
  ASSERT_TRUE(WaitFor([&] { return HasEvent("JobAlreadyActive"); }));
  EXPECT_EQ(Jobs().size(), 1u);
  std::string first = JobNames()[0];
  FinishJob(first, "Complete");
  // The skipped 10:02 start is still due (no startingDeadlineSeconds): it runs once the first
  // job is done, and becomes the only active one.
  ASSERT_TRUE(WaitFor([&] {
    Json st = Cj()["status"];
    return Jobs().size() == 2 && st.contains("active") && st["active"].size() == 1 && st["active"][0]["name"] != first;
  })) << Cj()["status"].dump();
  EXPECT_EQ(JobNames()[1], MinuteName("2026-11-25T10:02:00Z"));
  Tick(60s);
  ASSERT_TRUE(WaitFor([&] { return HasEvent("JobAlreadyActive"); }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(Jobs().size(), 2u);
}

TEST_F(CronJobControllerTest, ReplaceDeletesTheRunningJob) {
  CreateCronJob({{"schedule", "* * * * *"}, {"concurrencyPolicy", "Replace"}});
  Tick(31s);
  ASSERT_TRUE(WaitFor([&] { return Jobs().size() == 1 && Cj()["status"].contains("active"); }));
  std::string first = JobNames()[0];
  Tick(60s);
  ASSERT_TRUE(WaitFor([&] { return Jobs().size() == 1 && JobNames()[0] != first; })) << Jobs().size();
  EXPECT_TRUE(WaitFor([&] { return HasEvent("SuccessfulDelete"); }));
  ASSERT_TRUE(WaitFor([&] { return Cj()["status"]["active"].size() == 1 && Cj()["status"]["active"][0]["name"] == JobNames()[0]; }));
}

TEST_F(CronJobControllerTest, SuspendedCreatesNothing) {
  CreateCronJob({{"schedule", "* * * * *"}, {"suspend", true}});
  Tick(120s);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(Jobs().empty());
}

TEST_F(CronJobControllerTest, HistoryLimitsDeleteOldestFinished) {
  CreateCronJob({{"schedule", "* * * * *"}, {"successfulJobsHistoryLimit", 1}, {"failedJobsHistoryLimit", 0}});
  for (int i = 0; i < 3; ++i) {
    Tick(60s);
    ASSERT_TRUE(WaitFor([&] { return Cj()["status"].contains("active"); }));
    std::string name = Cj()["status"]["active"][0]["name"];
    FinishJob(name, i == 1 ? "Failed" : "Complete");
    api_->clock().Advance(1s);
    ASSERT_TRUE(WaitFor([&] { return !Cj()["status"].contains("active"); }));
  }
  // Only the newest successful job is kept; the failed one is gone too.
  ASSERT_TRUE(WaitFor([&] { return Jobs().size() == 1; })) << Jobs().size();
  EXPECT_EQ(JobNames()[0], MinuteName(Cj()["status"]["lastScheduleTime"].get<std::string>().c_str()));
}

TEST_F(CronJobControllerTest, TooManyMissedStartsStillRunsTheLatest) {
  CreateCronJob({{"schedule", "* * * * *"}});
  Tick(std::chrono::hours(3));  // 180 missed minutes
  ASSERT_TRUE(WaitFor([&] { return Jobs().size() == 1; }));
  EXPECT_EQ(JobNames()[0], MinuteName("2026-11-25T13:00:00Z"));
  EXPECT_TRUE(WaitFor([&] { return HasEvent("TooManyMissedTimes"); }));
}

TEST_F(CronJobControllerTest, StartingDeadlineSkipsLateStarts) {
  // Hourly at :00; a deadline of 60 s: at 11:00:30 the 11:00 start is still on time.
  CreateCronJob({{"schedule", "0 * * * *"}, {"startingDeadlineSeconds", 60}});
  Tick(std::chrono::seconds(60 * 60 + 2));  // 11:00:32
  ASSERT_TRUE(WaitFor([&] { return Jobs().size() == 1; }));
  EXPECT_EQ(JobNames()[0], MinuteName("2026-11-25T11:00:00Z"));
  // Two hours later, the 12:00 start was missed by more than the deadline: nothing new.
  Tick(std::chrono::seconds(2 * 3600 - 100));  // 12:58:52
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(Jobs().size(), 1u);
}

TEST_F(CronJobControllerTest, TimeZoneDecidesTheInstant) {
  CreateCronJob({{"schedule", "0 12 * * *"}, {"timeZone", "Europe/Berlin"}});
  Tick(std::chrono::seconds(59 * 60 + 1));  // 10:59:31Z = 11:59:31 in Berlin: not yet
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(Jobs().empty());
  Tick(30s);  // 11:00:01Z = 12:00:01 CET
  ASSERT_TRUE(WaitFor([&] { return Jobs().size() == 1; }));
  Json j = Jobs()[0];
  EXPECT_EQ(j["metadata"]["name"], MinuteName("2026-11-25T11:00:00Z"));
  EXPECT_EQ(j["metadata"]["annotations"][kScheduledTimestampAnnotation], "2026-11-25T12:00:00+01:00");
}

TEST(MostRecentTest, Table) {
  auto sched = Schedule::Parse("*/5 * * * *", TimeZone::Utc()).value();
  Json cj = {{"metadata", {{"creationTimestamp", "2026-11-25T10:00:00Z"}}}, {"spec", Json::object()}};
  auto at = [](const char* t) { return ParseRFC3339(t).value(); };
  MostRecent m = MostRecentScheduleTime(cj, at("2026-11-25T10:03:00Z"), sched, true);
  EXPECT_FALSE(m.most_recent);
  m = MostRecentScheduleTime(cj, at("2026-11-25T10:05:00Z"), sched, true);
  ASSERT_TRUE(m.most_recent);
  EXPECT_EQ(FormatRFC3339(*m.most_recent), "2026-11-25T10:05:00Z");
  m = MostRecentScheduleTime(cj, at("2026-11-25T10:17:00Z"), sched, true);
  EXPECT_EQ(FormatRFC3339(*m.most_recent), "2026-11-25T10:15:00Z");
  EXPECT_FALSE(m.many_missed);
  m = MostRecentScheduleTime(cj, at("2026-11-26T10:17:00Z"), sched, true);
  EXPECT_EQ(FormatRFC3339(*m.most_recent), "2026-11-26T10:15:00Z");
  EXPECT_TRUE(m.many_missed);
  cj["status"]["lastScheduleTime"] = "2026-11-25T10:15:00Z";
  m = MostRecentScheduleTime(cj, at("2026-11-25T10:17:00Z"), sched, true);
  EXPECT_FALSE(m.most_recent);
  cj["spec"]["startingDeadlineSeconds"] = 10;
  m = MostRecentScheduleTime(cj, at("2026-11-26T10:17:00Z"), sched, true);
  EXPECT_FALSE(m.most_recent);  // earliest moves to now - 10 s
  EXPECT_FALSE(m.many_missed);
}

TEST(FormatTest, JobNameAndZonedTimestamp) {
  EXPECT_EQ(JobNameFor("x", ParseRFC3339("1970-01-01T00:02:00Z").value()), "x-2");
  auto ny = TimeZone::Load("America/New_York").value();
  EXPECT_EQ(FormatRFC3339In(ParseRFC3339("2026-07-01T16:00:00Z").value(), *ny), "2026-07-01T12:00:00-04:00");
  EXPECT_EQ(FormatRFC3339In(ParseRFC3339("2026-07-01T16:00:00Z").value(), *TimeZone::Utc()), "2026-07-01T16:00:00Z");
}

}  // namespace
}  // namespace tug::controllers::cronjob
