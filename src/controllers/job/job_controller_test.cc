#include "controllers/job/job_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "client/informer.h"
#include "client/testing/test_api_server.h"

namespace tug::controllers::job {
namespace {

using namespace std::chrono_literals;

// Exposes the queue so tests can poke a key after moving the fake clock.
class TestJobController : public JobController {
 public:
  using JobController::JobController;
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

class JobControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client::testing::TestApiServerOptions o;
    o.use_fake_clock = true;
    api_ = std::make_unique<client::testing::TestApiServer>(o);
    ASSERT_TRUE(api_->ok());
    informers_ = std::make_unique<client::InformerFactory>(api_->client());
  }
  void Start(JobOptions opts = {}) {
    opts.pod_failure_backoff = 0ms;
    framework::ControllerContext ctx{.client = &api_->client(), .informers = informers_.get(), .clock = &api_->clock()};
    ctrl_ = std::make_unique<TestJobController>(ctx, opts);
    informers_->Start();
    ASSERT_TRUE(informers_->WaitForSync(10s));
    ctrl_->Run(2);
  }
  void TearDown() override {
    if (ctrl_) ctrl_->Stop();
    ctrl_.reset();
    informers_.reset();
  }

  const client::Client& c() { return api_->client(); }

  Json CreateJob(Json spec) {
    Json job = {{"apiVersion", "batch/v1"},
                {"kind", "Job"},
                {"metadata", {{"name", "pi"}, {"namespace", "default"}}},
                {"spec", spec}};
    if (!job["spec"].contains("template"))
      job["spec"]["template"] = {{"spec", {{"restartPolicy", "Never"}, {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
    auto r = c().Create(client::kJobs, "default", job);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Json();
  }
  Json GetJob() {
    auto r = c().Get(client::kJobs, "default", "pi");
    return r.ok() ? *r : Json();
  }
  std::vector<Json> Pods(bool include_terminal = true) {
    std::vector<Json> out;
    auto r = c().List(client::kPods, "default");
    if (!r.ok()) return out;
    for (const Json& p : (*r)["items"]) {
      std::string phase = GetStringPath(p, {"status", "phase"});
      if (!include_terminal && (phase == "Succeeded" || phase == "Failed" || FindPath(p, {"metadata", "deletionTimestamp"})))
        continue;
      out.push_back(p);
    }
    return out;
  }
  // Plays kubelet: sets a pod's phase (and a terminated container with `exit_code`).
  void Finish(const Json& pod, const std::string& phase, int exit_code = 0) {
    Json p = pod;
    p["status"]["phase"] = phase;
    p["status"]["containerStatuses"] = Json::array(
        {{{"name", "c"}, {"ready", false}, {"restartCount", 0}, {"image", "busybox"}, {"imageID", ""},
          {"state", {{"terminated", {{"exitCode", exit_code}, {"finishedAt", FormatRFC3339(api_->clock().Now())}}}}}}});
    auto r = c().UpdateStatus(client::kPods, "default", p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  static bool Cond(const Json& obj, const std::string& type, const std::string& reason = "") {
    const Json* cd = framework::FindCondition(obj, type);
    return cd && GetString(*cd, "status") == "True" && (reason.empty() || GetString(*cd, "reason") == reason);
  }
  size_t Active() { return Pods(false).size(); }

  std::unique_ptr<client::testing::TestApiServer> api_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<TestJobController> ctrl_;
};

TEST_F(JobControllerTest, RunsToCompletionWithParallelism) {
  Start();
  CreateJob({{"completions", 3}, {"parallelism", 2}});
  ASSERT_TRUE(WaitFor([&] { return Active() == 2; }));
  // Pods carry the tracking finalizer, the job labels and a controller ref.
  for (const Json& p : Pods()) {
    EXPECT_EQ(p["metadata"]["finalizers"], Json::array({kTrackingFinalizer}));
    EXPECT_EQ(GetStringPath(p, {"metadata", "labels", kJobNameLabel}), "pi");
    EXPECT_EQ(GetStringPath(p, {"metadata", "labels", "job-name"}), "pi");
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["kind"], "Job");
    EXPECT_EQ(GetStringPath(p, {"metadata", "generateName"}), "pi-");
  }
  ASSERT_TRUE(WaitFor([&] { return framework::GetInt(GetJob(), {"status", "active"}) == 2 && GetJob()["status"].contains("startTime"); }));
  for (const Json& p : Pods()) Finish(p, "Succeeded");
  ASSERT_TRUE(WaitFor([&] { return Active() == 1; }));
  EXPECT_FALSE(Cond(GetJob(), "Complete"));
  for (const Json& p : Pods(false)) Finish(p, "Succeeded");
  ASSERT_TRUE(WaitFor([&] { return Cond(GetJob(), "Complete", "CompletionsReached"); })) << GetJob().dump();
  Json j = GetJob();
  EXPECT_TRUE(Cond(j, "SuccessCriteriaMet", "CompletionsReached"));
  EXPECT_EQ(j["status"]["succeeded"], 3);
  EXPECT_EQ(j["status"].value("active", 0), 0);
  EXPECT_TRUE(j["status"].contains("completionTime"));
  EXPECT_TRUE(j["status"].value("uncountedTerminatedPods", Json::object()).empty());
  ASSERT_TRUE(WaitFor([&] {
    for (const Json& p : Pods())
      if (p["metadata"].contains("finalizers")) return false;
    return true;
  }));
  EXPECT_EQ(Pods().size(), 3u);
}

// A Job deleted while its pods still carry the tracking finalizer: the controller removes it
// from those pods (found by the Job's name: its uid is gone), and from no other Job's pods.
TEST_F(JobControllerTest, DeletedJobsPodsLoseTheTrackingFinalizer) {
  Start();
  Json other = {{"apiVersion", "batch/v1"},
                {"kind", "Job"},
                {"metadata", {{"name", "other"}, {"namespace", "default"}}},
                {"spec",
                 {{"completions", 1},
                  {"template", {{"spec", {{"restartPolicy", "Never"}, {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}}}}}};
  ASSERT_TRUE(c().Create(client::kJobs, "default", other).ok());
  CreateJob({{"completions", 2}, {"parallelism", 2}});
  auto with_finalizer = [&](const std::string& prefix) {
    size_t n = 0;
    for (const Json& p : Pods())
      if (GetStringPath(p, {"metadata", "name"}).starts_with(prefix) && p["metadata"].contains("finalizers")) ++n;
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return with_finalizer("pi-") == 2 && with_finalizer("other-") == 1; }));
  ASSERT_TRUE(c().Delete(client::kJobs, "default", "pi").ok());
  ASSERT_TRUE(WaitFor([&] { return with_finalizer("pi-") == 0; })) << with_finalizer("pi-");
  EXPECT_EQ(Pods().size(), 3u);  // nothing else deletes them here (no garbage collector)
  EXPECT_EQ(with_finalizer("other-"), 1u);
}

TEST_F(JobControllerTest, BackoffLimitExceededFailsTheJob) {
  Start();
  CreateJob({{"completions", 1}, {"backoffLimit", 1}});
  ASSERT_TRUE(WaitFor([&] { return Active() == 1; }));
  Finish(Pods(false)[0], "Failed", 1);
  // One failure is within the limit: a replacement pod appears.
  ASSERT_TRUE(WaitFor([&] { return Active() == 1 && Pods().size() == 2; }));
  EXPECT_TRUE(WaitFor([&] { return framework::GetInt(GetJob(), {"status", "failed"}) == 1; }));
  Finish(Pods(false)[0], "Failed", 1);
  ASSERT_TRUE(WaitFor([&] { return Cond(GetJob(), "Failed", "BackoffLimitExceeded"); })) << GetJob().dump();
  Json j = GetJob();
  EXPECT_TRUE(Cond(j, "FailureTarget", "BackoffLimitExceeded"));
  EXPECT_EQ(GetStringPath(*framework::FindCondition(j, "Failed"), {"message"}), "Job has reached the specified backoff limit");
  EXPECT_EQ(j["status"]["failed"], 2);
  EXPECT_FALSE(Cond(j, "Complete"));
  EXPECT_EQ(Pods().size(), 2u);
}

TEST_F(JobControllerTest, IndexedJobGivesEachPodAnIndex) {
  Start();
  CreateJob({{"completions", 3}, {"parallelism", 3}, {"completionMode", "Indexed"}});
  ASSERT_TRUE(WaitFor([&] { return Active() == 3; }));
  std::set<std::string> seen;
  for (const Json& p : Pods()) {
    std::string ix = GetStringPath(p, {"metadata", "annotations", kCompletionIndexAnnotation});
    seen.insert(ix);
    EXPECT_EQ(GetStringPath(p, {"metadata", "labels", kCompletionIndexAnnotation}), ix);
    EXPECT_EQ(GetStringPath(p, {"spec", "hostname"}), "pi-" + ix);
    EXPECT_EQ(GetStringPath(p, {"metadata", "generateName"}), "pi-" + ix + "-");
    EXPECT_EQ(p["spec"]["containers"][0]["env"][0]["name"], "JOB_COMPLETION_INDEX");
  }
  EXPECT_EQ(seen, (std::set<std::string>{"0", "1", "2"}));
  for (const Json& p : Pods())
    if (GetStringPath(p, {"metadata", "annotations", kCompletionIndexAnnotation}) == "1") Finish(p, "Succeeded");
  ASSERT_TRUE(WaitFor([&] { return GetStringPath(GetJob(), {"status", "completedIndexes"}) == "1"; })) << GetJob().dump();
  // A failed index is re-created with the same index.
  for (const Json& p : Pods(false))
    if (GetStringPath(p, {"metadata", "annotations", kCompletionIndexAnnotation}) == "2") Finish(p, "Failed", 3);
  ASSERT_TRUE(WaitFor([&] { return Active() == 2 && Pods().size() == 4; }));
  for (const Json& p : Pods(false)) Finish(p, "Succeeded");
  ASSERT_TRUE(WaitFor([&] { return Cond(GetJob(), "Complete"); })) << GetJob().dump();
  EXPECT_EQ(GetStringPath(GetJob(), {"status", "completedIndexes"}), "0-2");
  EXPECT_EQ(GetJob()["status"]["succeeded"], 3);
  EXPECT_EQ(GetJob()["status"]["failed"], 1) << [&] {
    std::string out;
    for (const Json& p : Pods())
      out += GetStringPath(p, {"metadata", "name"}) + " " + GetStringPath(p, {"status", "phase"}) + " del=" +
             std::to_string(p["metadata"].contains("deletionTimestamp")) + "\n";
    return out;
  }();
}

TEST_F(JobControllerTest, PodFailurePolicyFailJobAndIgnore) {
  Start();
  Json policy = {{"rules",
                  {{{"action", "Ignore"}, {"onExitCodes", {{"operator", "In"}, {"values", {7}}}}},
                   {{"action", "FailJob"}, {"onExitCodes", {{"containerName", "c"}, {"operator", "In"}, {"values", {42}}}}}}}};
  CreateJob({{"completions", 1}, {"backoffLimit", 0}, {"podFailurePolicy", policy}});
  ASSERT_TRUE(WaitFor([&] { return Active() == 1; }));
  // Exit code 7 is ignored: not counted against backoffLimit 0, a new pod replaces it.
  Finish(Pods(false)[0], "Failed", 7);
  ASSERT_TRUE(WaitFor([&] { return Active() == 1 && Pods().size() == 2; }));
  EXPECT_FALSE(Cond(GetJob(), "Failed"));
  Finish(Pods(false)[0], "Failed", 42);
  ASSERT_TRUE(WaitFor([&] { return Cond(GetJob(), "Failed", "PodFailurePolicy"); })) << GetJob().dump();
  std::string msg = GetString(*framework::FindCondition(GetJob(), "Failed"), "message");
  EXPECT_NE(msg.find("Container c for pod default/pi-"), std::string::npos) << msg;
  EXPECT_NE(msg.find("failed with exit code 42 matching FailJob rule at index 1"), std::string::npos) << msg;
  EXPECT_EQ(GetJob()["status"]["failed"], 1);
}

TEST_F(JobControllerTest, ActiveDeadlineUsesTheClock) {
  Start();
  CreateJob({{"completions", 1}, {"activeDeadlineSeconds", 30}});
  ASSERT_TRUE(WaitFor([&] { return Active() == 1 && GetJob()["status"].contains("startTime"); }));
  api_->clock().Advance(31s);
  ctrl_->Poke("default/pi");
  ASSERT_TRUE(WaitFor([&] { return Cond(GetJob(), "Failed", "DeadlineExceeded"); })) << GetJob().dump();
  EXPECT_EQ(GetString(*framework::FindCondition(GetJob(), "Failed"), "message"), "Job was active longer than specified deadline");
  EXPECT_EQ(Active(), 0u);
}

TEST_F(JobControllerTest, TtlAfterFinishedDeletesTheJob) {
  Start();
  CreateJob({{"completions", 1}, {"ttlSecondsAfterFinished", 60}});
  ASSERT_TRUE(WaitFor([&] { return Active() == 1; }));
  Finish(Pods(false)[0], "Succeeded");
  ASSERT_TRUE(WaitFor([&] { return Cond(GetJob(), "Complete"); }));
  api_->clock().Advance(30s);
  ctrl_->Poke("default/pi");
  std::this_thread::sleep_for(50ms);  // give a wrong deletion the chance to happen
  EXPECT_FALSE(GetJob().is_null());
  EXPECT_FALSE(GetJob()["metadata"].contains("deletionTimestamp"));
  api_->clock().Advance(31s);
  ctrl_->Poke("default/pi");
  // Foreground deletion: the job is marked for deletion (the garbage collector finishes it).
  ASSERT_TRUE(WaitFor([&] { Json j = GetJob(); return j.is_null() || j["metadata"].contains("deletionTimestamp"); }));
}

TEST_F(JobControllerTest, SuspendedJobRunsNothing) {
  Start();
  CreateJob({{"completions", 2}, {"parallelism", 2}, {"suspend", true}});
  ASSERT_TRUE(WaitFor([&] { return Cond(GetJob(), "Suspended", "JobSuspended"); })) << GetJob().dump();
  EXPECT_EQ(Active(), 0u);
  EXPECT_FALSE(GetJob()["status"].contains("startTime"));
  Json j = GetJob();
  j["spec"]["suspend"] = false;
  ASSERT_TRUE(c().Update(client::kJobs, "default", j).ok());
  ASSERT_TRUE(WaitFor([&] { return Active() == 2; }));
  ASSERT_TRUE(WaitFor([&] {
    Json job = GetJob();
    const Json* cd = framework::FindCondition(job, "Suspended");
    return cd && GetString(*cd, "status") == "False" && GetString(*cd, "reason") == "JobResumed";
  }));
}

TEST_F(JobControllerTest, WorkQueueJobWithoutCompletions) {
  Start();
  CreateJob({{"parallelism", 2}, {"completions", nullptr}});
  ASSERT_TRUE(WaitFor([&] { return Active() == 2; }));
  auto pods = Pods(false);
  Finish(pods[0], "Succeeded");
  // After one success nothing new starts; the job completes when the rest are done.
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(Pods().size(), 2u);
  Finish(pods[1], "Succeeded");
  ASSERT_TRUE(WaitFor([&] { return Cond(GetJob(), "Complete"); })) << GetJob().dump();
  EXPECT_EQ(GetJob()["status"]["succeeded"], 2);
}

// --- pure helpers -------------------------------------------------------------------------

TEST(IndexesTest, FormatAndParse) {
  EXPECT_EQ(FormatIndexes({}), "");
  EXPECT_EQ(FormatIndexes({1}), "1");
  EXPECT_EQ(FormatIndexes({0, 1, 2, 4, 6, 7}), "0-2,4,6-7");
  EXPECT_EQ(ParseIndexes("0-2,4,6-7", 100), (std::set<int64_t>{0, 1, 2, 4, 6, 7}));
  EXPECT_EQ(ParseIndexes("0-2,4,6-7", 5), (std::set<int64_t>{0, 1, 2, 4}));
  EXPECT_EQ(ParseIndexes("", 5), (std::set<int64_t>{}));
}

TEST(PodFailurePolicyTest, Table) {
  auto pod_with = [](int code, const char* cond) {
    Json p = {{"metadata", {{"name", "p"}, {"namespace", "ns"}}},
              {"status", {{"phase", "Failed"},
                          {"containerStatuses", {{{"name", "main"}, {"state", {{"terminated", {{"exitCode", code}}}}}}}}}}};
    if (cond) p["status"]["conditions"] = {{{"type", cond}, {"status", "True"}}};
    return p;
  };
  Json policy = {{"rules",
                  {{{"action", "Ignore"}, {"onPodConditions", {{{"type", "DisruptionTarget"}}}}},
                   {{"action", "FailJob"}, {"onExitCodes", {{"operator", "NotIn"}, {"values", {0, 1}}}}},
                   {{"action", "Count"}, {"onExitCodes", {{"operator", "In"}, {"values", {1}}}}}}}};
  struct Case {
    int code;
    const char* cond;
    const char* action;  // "" = no match
  } cases[] = {{137, "DisruptionTarget", "Ignore"}, {3, nullptr, "FailJob"}, {1, nullptr, "Count"}, {0, nullptr, ""}};
  for (const auto& tc : cases) {
    auto m = MatchPodFailurePolicy(policy, pod_with(tc.code, tc.cond));
    EXPECT_EQ(m ? m->action : "", tc.action) << tc.code;
  }
  auto m = MatchPodFailurePolicy(policy, pod_with(3, nullptr));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->message, "Container main for pod ns/p failed with exit code 3 matching FailJob rule at index 1");
  EXPECT_TRUE(m->count_failed);
  EXPECT_FALSE(MatchPodFailurePolicy(policy, pod_with(137, "DisruptionTarget"))->count_failed);
}

}  // namespace
}  // namespace tug::controllers::job
