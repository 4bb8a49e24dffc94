#include "scheduler/queue/scheduling_queue.h"

#include <gtest/gtest.h>

#include <thread>

#include "base/testing/fake_clock.h"
#include "scheduler/framework/framework.h"
#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::queue {
namespace {

using framework::Plugin;
using namespace std::chrono_literals;
using testing::PodBuilder;

struct QueueTest : ::testing::Test {
  tug::testing::FakeClock clock;
  SchedulingQueue q{QueueOptions{.clock = &clock,
                                 .events_for = [](const std::vector<std::string>& plugins) {
                                   unsigned ev = 0;
                                   for (const auto& p : plugins) {
                                     if (p == "NodeResourcesFit") ev |= Plugin::kNodeAdd | Plugin::kPodDelete;
                                     if (p == "TaintToleration") ev |= Plugin::kNodeAdd | Plugin::kNodeUpdate;
                                   }
                                   return ev;
                                 }}};
};

TEST_F(QueueTest, PriorityThenFifo) {
  q.Add(PodBuilder("low1").Priority(1).Info());
  clock.Advance(1ms);
  q.Add(PodBuilder("high").Priority(100).Info());
  clock.Advance(1ms);
  q.Add(PodBuilder("low2").Priority(1).Info());
  clock.Advance(1ms);
  q.Add(PodBuilder("zero").Info());
  std::vector<std::string> order;
  while (auto qp = q.TryPop()) order.push_back(qp->pod->name);
  EXPECT_EQ(order, (std::vector<std::string>{"high", "low1", "low2", "zero"}));
}

TEST_F(QueueTest, BackoffDoublesToTenSeconds) {
  struct Case {
    int attempts;
    std::chrono::milliseconds want;
  } cases[] = {{1, 1s}, {2, 2s}, {3, 4s}, {4, 8s}, {5, 10s}, {12, 10s}};
  for (const auto& c : cases) EXPECT_EQ(q.BackoffDuration(c.attempts), c.want) << c.attempts;
}

TEST_F(QueueTest, ErrorGoesToBackoffThenActive) {
  q.Add(PodBuilder("p").Info());
  auto qp = q.TryPop();
  ASSERT_TRUE(qp);
  EXPECT_EQ(qp->attempts, 1);
  q.AddBackoff(*qp);
  EXPECT_EQ(q.NumBackoff(), 1u);
  EXPECT_FALSE(q.TryPop());
  clock.Advance(999ms);
  EXPECT_FALSE(q.TryPop());
  clock.Advance(2ms);
  auto again = q.TryPop();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempts, 2);
}

TEST_F(QueueTest, UnschedulableMovedOnlyByRelevantEvents) {
  q.Add(PodBuilder("cpu").Info());
  q.Add(PodBuilder("taint").Info());
  auto a = q.TryPop();
  auto b = q.TryPop();
  a->unschedulable_plugins = {"NodeResourcesFit"};
  b->unschedulable_plugins = {"TaintToleration"};
  q.AddUnschedulable(*a);
  q.AddUnschedulable(*b);
  EXPECT_EQ(q.NumUnschedulable(), 2u);
  q.MoveAllToActiveOrBackoff(Plugin::kPodDelete);
  EXPECT_EQ(q.NumUnschedulable(), 1u);
  // Still inside its 1 s back-off: goes to backoffQ, not activeQ.
  EXPECT_EQ(q.NumBackoff(), 1u);
  EXPECT_FALSE(q.TryPop());
  clock.Advance(1001ms);
  auto moved = q.TryPop();
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->pod->name, "cpu");
  q.MoveAllToActiveOrBackoff(Plugin::kNodeUpdate);
  auto t = q.TryPop();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->pod->name, "taint");
}

TEST_F(QueueTest, EventDuringCycleSendsToBackoff) {
  q.Add(PodBuilder("p").Info());
  auto qp = q.TryPop();
  q.MoveAllToActiveOrBackoff(Plugin::kNodeAdd);  // arrives while p is being scheduled
  qp->unschedulable_plugins = {"NodeResourcesFit"};
  q.AddUnschedulable(*qp);
  EXPECT_EQ(q.NumUnschedulable(), 0u);
  EXPECT_EQ(q.NumBackoff(), 1u);
}

TEST_F(QueueTest, UnschedulableFlushedAfterFiveMinutes) {
  q.Add(PodBuilder("p").Info());
  auto qp = q.TryPop();
  qp->unschedulable_plugins = {"NodeResourcesFit"};
  q.AddUnschedulable(*qp);
  clock.Advance(4min);
  EXPECT_FALSE(q.TryPop());
  clock.Advance(61s);
  EXPECT_TRUE(q.TryPop());
}

TEST_F(QueueTest, UpdateAndDelete) {
  q.Add(PodBuilder("p").Info());
  auto qp = q.TryPop();
  qp->unschedulable_plugins = {"TaintToleration"};
  q.AddUnschedulable(*qp);
  // The pod gains a toleration: it leaves the unschedulable set.
  q.Update(PodBuilder("p").Toleration("", "Exists", "", "").Info());
  EXPECT_EQ(q.NumUnschedulable(), 0u);
  clock.Advance(2s);
  auto again = q.TryPop();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->pod->tolerations.size(), 1u);
  // Deleted while in flight: dropped when the cycle reports back.
  q.Delete("default/p");
  q.AddUnschedulable(*again);
  EXPECT_FALSE(q.Contains("default/p"));
  q.Add(PodBuilder("x").Info());
  q.Delete("default/x");
  EXPECT_FALSE(q.TryPop());
}

TEST_F(QueueTest, PopBlocksUntilAddOrClose) {
  std::optional<QueuedPod> got;
  std::thread t([&] { got = q.Pop(); });
  q.Add(PodBuilder("p").Info());
  t.join();
  ASSERT_TRUE(got);
  std::thread t2([&] { got = q.Pop(); });
  q.Close();
  t2.join();
  EXPECT_FALSE(got);
}

}  // namespace
}  // namespace tug::scheduler::queue
