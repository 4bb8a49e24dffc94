#include "kubelet/prober/prober.h"

#include <gtest/gtest.h>

#include <atomic>

#include "base/testing/fake_clock.h"

namespace tug::kubelet::prober {
namespace {

using std::chrono::seconds;
constexpr ProbeResult S = ProbeResult::kSuccess, F = ProbeResult::kFailure, U = ProbeResult::kUnknown;

TEST(ParseProbeTest, Defaults) {
  struct Case {
    const char* name;
    Json probe;
    ProbeKind kind;
    int64_t delay, period, timeout;
    int success, failure;
  } cases[] = {
      {"empty", Json::object(), ProbeKind::kReadiness, 0, 10, 1, 1, 3},
      {"set", {{"initialDelaySeconds", 5}, {"periodSeconds", 2}, {"timeoutSeconds", 4}, {"successThreshold", 2}, {"failureThreshold", 7}},
       ProbeKind::kReadiness, 5, 2, 4, 2, 7},
      {"zeros take defaults", {{"periodSeconds", 0}, {"timeoutSeconds", 0}, {"failureThreshold", 0}},
       ProbeKind::kReadiness, 0, 10, 1, 1, 3},
      {"liveness success threshold is 1", {{"successThreshold", 3}}, ProbeKind::kLiveness, 0, 10, 1, 1, 3},
      {"startup success threshold is 1", {{"successThreshold", 3}, {"failureThreshold", 30}}, ProbeKind::kStartup, 0, 10, 1, 1, 30},
  };
  for (const auto& c : cases) {
    ProbeSpec s = ParseProbe(c.probe, c.kind);
    EXPECT_EQ(s.initial_delay.count(), c.delay) << c.name;
    EXPECT_EQ(s.period.count(), c.period) << c.name;
    EXPECT_EQ(s.timeout.count(), c.timeout) << c.name;
    EXPECT_EQ(s.success_threshold, c.success) << c.name;
    EXPECT_EQ(s.failure_threshold, c.failure) << c.name;
  }
  EXPECT_EQ(ParseProbe({{"terminationGracePeriodSeconds", 3}}, ProbeKind::kLiveness).termination_grace_seconds, 3);
  EXPECT_FALSE(ParseProbe(Json::object(), ProbeKind::kLiveness).termination_grace_seconds);
}

TEST(ProbeWorkerTest, Thresholds) {
  struct Case {
    const char* name;
    ProbeKind kind;
    int success, failure;
    std::vector<ProbeResult> outcomes;
    std::vector<ProbeResult> latched;  // after each outcome
  } cases[] = {
      {"readiness starts not ready, one success flips", ProbeKind::kReadiness, 1, 3, {S}, {S}},
      {"readiness needs 3 failures", ProbeKind::kReadiness, 1, 3, {S, F, F, F}, {S, S, S, F}},
      {"readiness failure run broken by success", ProbeKind::kReadiness, 1, 3, {S, F, F, S, F, F, F}, {S, S, S, S, S, S, F}},
      {"readiness success threshold 2", ProbeKind::kReadiness, 2, 1, {S, F, S, S}, {F, F, F, S}},
      {"unknown is discarded", ProbeKind::kReadiness, 1, 1, {U, U, S, U, F}, {F, F, S, S, F}},
      {"liveness starts alive", ProbeKind::kLiveness, 1, 2, {F, F}, {S, F}},
      {"liveness failure is held", ProbeKind::kLiveness, 1, 1, {F, S, S}, {F, F, F}},
      {"startup unknown until success", ProbeKind::kStartup, 1, 3, {F, F, S}, {U, U, S}},
      {"startup fails after threshold", ProbeKind::kStartup, 1, 2, {F, F}, {U, F}},
  };
  for (const auto& c : cases) {
    ProbeSpec spec;
    spec.success_threshold = c.success;
    spec.failure_threshold = c.failure;
    ProbeWorker w(c.kind, spec);
    ASSERT_EQ(c.outcomes.size(), c.latched.size()) << c.name;
    for (size_t i = 0; i < c.outcomes.size(); ++i) {
      ProbeResult before = w.result();
      bool changed = w.Observe(c.outcomes[i]);
      EXPECT_EQ(w.result(), c.latched[i]) << c.name << " step " << i;
      EXPECT_EQ(changed, before != w.result()) << c.name << " step " << i;
    }
  }
}

TEST(ProbeWorkerTest, LivenessHoldEndsWithNewInstance) {
  ProbeSpec spec;
  spec.failure_threshold = 1;
  ProbeWorker w(ProbeKind::kLiveness, spec);
  w.Observe(F);
  EXPECT_TRUE(w.on_hold());
  ContainerView v{.running = true, .started = true};
  EXPECT_EQ(w.Decide(v, SystemTime{}), ProbeWorker::Step::kSkip);
  w.Reset();
  EXPECT_FALSE(w.on_hold());
  EXPECT_EQ(w.result(), S);
  EXPECT_EQ(w.Decide(v, SystemTime{}), ProbeWorker::Step::kProbe);
}

TEST(ProbeWorkerTest, Decide) {
  SystemTime t0(seconds(1000));
  using St = ProbeWorker::Step;
  struct Case {
    const char* name;
    ProbeKind kind;
    int64_t initial_delay;
    ContainerView view;
    seconds since_start;
    St want;
    ProbeResult want_result;
  } cases[] = {
      {"not started yet", ProbeKind::kReadiness, 0, {.running = false}, seconds(0), St::kSkip, F},
      {"within initial delay", ProbeKind::kReadiness, 10, {.running = true, .started_at = t0, .started = true}, seconds(9), St::kSkip, F},
      {"after initial delay", ProbeKind::kReadiness, 10, {.running = true, .started_at = t0, .started = true}, seconds(10), St::kProbe, F},
      {"readiness waits for startup", ProbeKind::kReadiness, 0, {.running = true, .started_at = t0, .started = false}, seconds(5), St::kSkip, F},
      {"liveness waits for startup", ProbeKind::kLiveness, 0, {.running = true, .started_at = t0, .started = false}, seconds(5), St::kSkip, S},
      {"startup probes before started", ProbeKind::kStartup, 0, {.running = true, .started_at = t0, .started = false}, seconds(0), St::kProbe, U},
      {"startup stops once started", ProbeKind::kStartup, 0, {.running = true, .started_at = t0, .started = true}, seconds(0), St::kSkip, U},
      {"exited container is not ready", ProbeKind::kReadiness, 0, {.running = false, .exited = true}, seconds(0), St::kSkip, F},
      {"exited liveness, never restarted", ProbeKind::kLiveness, 0, {.running = false, .exited = true, .will_restart = false}, seconds(0), St::kStop, F},
      {"deleting pod: liveness succeeds", ProbeKind::kLiveness, 0, {.running = true, .started_at = t0, .started = true, .pod_deleting = true}, seconds(50), St::kStop, S},
      {"deleting pod: readiness still probes", ProbeKind::kReadiness, 0, {.running = true, .started_at = t0, .started = true, .pod_deleting = true}, seconds(50), St::kProbe, F},
  };
  for (const auto& c : cases) {
    ProbeSpec spec;
    spec.initial_delay = seconds(c.initial_delay);
    ProbeWorker w(c.kind, spec);
    EXPECT_EQ(w.Decide(c.view, t0 + c.since_start), c.want) << c.name;
    EXPECT_EQ(w.result(), c.want_result) << c.name;
  }
}

// The manager with real worker threads and a scripted handler.
struct Fixture {
  std::mutex mu;
  std::map<std::string, std::vector<ProbeResult>> script;  // probe "name" -> outcomes (last repeats)
  std::map<std::string, int> calls;
  std::vector<std::string> events;
  std::atomic<int> changes{0};
  testing::FakeClock clock;

  ProbeManagerOptions Options() {
    ProbeManagerOptions o;
    o.clock = &clock;
    o.run = [this](const Json& probe, const HandlerContext& ctx) {
      std::lock_guard l(mu);
      std::string n = GetString(probe, "name");
      int i = calls[n]++;
      auto& s = script[n];
      ProbeResult r = s.empty() ? ProbeResult::kSuccess : s[std::min<size_t>(i, s.size() - 1)];
      return ProbeOutcome{r, r == ProbeResult::kFailure ? "boom " + ctx.container_id : ""};
    };
    o.on_event = [this](const Json&, const std::string& type, const std::string& reason, const std::string& msg) {
      std::lock_guard l(mu);
      events.push_back(type + " " + reason + " " + msg);
    };
    o.on_change = [this](const std::string&) { ++changes; };
    return o;
  }
  int Calls(const std::string& n) {
    std::lock_guard l(mu);
    return calls[n];
  }
};

template <typename F>
bool Eventually(F f, seconds limit = seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return f();
}

Json Pod(Json container) {
  return {{"metadata", {{"namespace", "ns"}, {"name", "p"}, {"uid", "u1"}}},
          {"spec", {{"restartPolicy", "Always"}, {"containers", Json::array({container})}}}};
}

TEST(ProbeManagerTest, ReadinessAndLiveness) {
  Fixture fx;
  fx.script["live"] = {F};
  ProbeManager m(fx.Options());
  Json c{{"name", "app"},
         {"readinessProbe", {{"name", "ready"}, {"periodSeconds", 1}}},
         {"livenessProbe", {{"name", "live"}, {"periodSeconds", 1}, {"failureThreshold", 2}, {"terminationGracePeriodSeconds", 4}}}};
  Json pod = Pod(c);
  EXPECT_TRUE(m.Ready("u1", "app", ""));  // no workers yet: nothing gates it
  m.UpdatePod(pod, "10.0.0.1", {{"app", "c1", true, fx.clock.Now(), false}});
  EXPECT_TRUE(m.Started("u1", "app", "c1"));  // no startup probe
  ASSERT_TRUE(Eventually([&] { return m.Ready("u1", "app", "c1"); }));
  EXPECT_FALSE(m.Ready("u1", "app", "c0"));  // another instance
  // Two liveness failures (period 1 s): the container must be killed.
  ASSERT_TRUE(Eventually([&] { return m.FailedLiveness("u1", "app", "c1").has_value(); }));
  EXPECT_EQ(*m.FailedLiveness("u1", "app", "c1"), ProbeKind::kLiveness);
  EXPECT_EQ(m.ProbeGrace("u1", "app", ProbeKind::kLiveness), 4);
  EXPECT_EQ(fx.Calls("live"), 2);
  {
    std::lock_guard l(fx.mu);
    ASSERT_FALSE(fx.events.empty());
    EXPECT_EQ(fx.events[0], "Warning Unhealthy Liveness probe failed: boom c1");
  }
  EXPECT_GE(fx.changes.load(), 2);  // ready flipped, liveness failed
  // On hold: no more liveness probes for c1.
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  EXPECT_EQ(fx.Calls("live"), 2);
  // A new instance starts alive and not ready.
  fx.script["live"] = {S};
  m.UpdatePod(pod, "10.0.0.1", {{"app", "c2", true, fx.clock.Now(), false}});
  EXPECT_FALSE(m.FailedLiveness("u1", "app", "c2"));
  ASSERT_TRUE(Eventually([&] { return m.Ready("u1", "app", "c2"); }));
  m.RemovePod("u1");
  EXPECT_TRUE(m.Ready("u1", "app", "c2"));  // no worker
}

TEST(ProbeManagerTest, StartupGatesReadiness) {
  Fixture fx;
  fx.script["start"] = {F, F, S};
  ProbeManager m(fx.Options());
  Json c{{"name", "app"},
         {"startupProbe", {{"name", "start"}, {"periodSeconds", 1}, {"failureThreshold", 10}}},
         {"readinessProbe", {{"name", "ready"}, {"periodSeconds", 1}}}};
  m.UpdatePod(Pod(c), "10.0.0.1", {{"app", "c1", true, fx.clock.Now(), false}});
  EXPECT_FALSE(m.Started("u1", "app", "c1"));
  ASSERT_TRUE(Eventually([&] { return m.Started("u1", "app", "c1"); }));
  EXPECT_EQ(fx.Calls("start"), 3);
  ASSERT_TRUE(Eventually([&] { return m.Ready("u1", "app", "c1"); }));
  // Readiness was never probed before startup succeeded: its first call came after.
  EXPECT_GE(fx.Calls("ready"), 1);
  EXPECT_FALSE(m.FailedLiveness("u1", "app", "c1"));
}

TEST(ProbeManagerTest, InitialDelayUsesTheClock) {
  Fixture fx;
  ProbeManager m(fx.Options());
  Json c{{"name", "app"}, {"readinessProbe", {{"name", "ready"}, {"periodSeconds", 1}, {"initialDelaySeconds", 30}}}};
  m.UpdatePod(Pod(c), "10.0.0.1", {{"app", "c1", true, fx.clock.Now(), false}});
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(fx.Calls("ready"), 0);
  EXPECT_FALSE(m.Ready("u1", "app", "c1"));
  fx.clock.Advance(seconds(31));
  ASSERT_TRUE(Eventually([&] { return m.Ready("u1", "app", "c1"); }));
}

}  // namespace
}  // namespace tug::kubelet::prober
