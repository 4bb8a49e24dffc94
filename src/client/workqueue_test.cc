#include "client/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "base/testing/fake_clock.h"

namespace tug::client {
namespace {

using namespace std::chrono_literals;

// Polls `pred` until it holds or 10 s pass.
template <typename F>
bool Eventually(F pred) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

TEST(WorkQueueTest, DeduplicatesQueuedKeys) {
  WorkQueue q;
  q.Add("a");
  q.Add("b");
  q.Add("a");
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(q.Get(), "a");
  EXPECT_EQ(q.Get(), "b");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, KeyAddedWhileProcessingIsRequeuedAfterDone) {
  WorkQueue q;
  q.Add("a");
  ASSERT_EQ(q.Get(), "a");
  q.Add("a");  // dirty while processing: not handed out yet
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u);
  q.Done("a");
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_EQ(q.Get(), "a");
  q.Done("a");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, ShutDownUnblocksGet) {
  WorkQueue q;
  std::optional<std::string> got = "x";
  std::thread t([&] { got = q.Get(); });
  q.ShutDown();
  t.join();
  EXPECT_FALSE(got.has_value());
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, AddAfterWaitsForTheClock) {
  testing::FakeClock clock;
  WorkQueue q({.clock = &clock});
  q.AddAfter("late", 100ms);
  q.AddAfter("early", 10ms);
  q.AddAfter("late", 500ms);  // the earlier ready time stays
  q.AddAfter("now", 0ms);
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_EQ(q.Get(), "now");
  clock.Advance(50ms);
  ASSERT_TRUE(Eventually([&] { return q.Len() == 1; }));
  EXPECT_EQ(q.Get(), "early");
  clock.Advance(50ms);
  ASSERT_TRUE(Eventually([&] { return q.Len() == 1; }));
  EXPECT_EQ(q.Get(), "late");
  clock.Advance(1s);
  // Nothing else becomes ready (the 500 ms add was merged into the 100 ms one).
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, RateLimitedBacksOffExponentiallyAndForgetResets) {
  testing::FakeClock clock;
  WorkQueue q({.base_delay = 5ms, .max_delay = 40ms, .clock = &clock});
  const std::vector<std::chrono::milliseconds> expected = {5ms, 10ms, 20ms, 40ms, 40ms};
  for (size_t i = 0; i < expected.size(); ++i) {
    q.AddRateLimited("k");
    EXPECT_EQ(q.NumRequeues("k"), static_cast<int>(i + 1));
    clock.Advance(expected[i] - 1ms);
    std::this_thread::sleep_for(5ms);
    EXPECT_EQ(q.Len(), 0u) << "attempt " << i << " ready too early";
    clock.Advance(1ms);
    ASSERT_TRUE(Eventually([&] { return q.Len() == 1; })) << "attempt " << i;
    ASSERT_EQ(q.Get(), "k");
    q.Done("k");
  }
  q.Forget("k");
  EXPECT_EQ(q.NumRequeues("k"), 0);
  q.AddRateLimited("k");
  clock.Advance(5ms);
  ASSERT_TRUE(Eventually([&] { return q.Len() == 1; }));
}

TEST(WorkQueueTest, RealClockDelay) {
  WorkQueue q;
  auto start = std::chrono::steady_clock::now();
  q.AddAfter("a", 20ms);
  EXPECT_EQ(q.Get(), "a");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
}

TEST(WorkQueueTest, AKeyIsNeverProcessedByTwoWorkersAtOnce) {
  WorkQueue q;
  std::mutex mu;
  std::set<std::string> active;
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) {
        {
          std::lock_guard<std::mutex> l(mu);
          if (!active.insert(*key).second) overlap = true;
        }
        std::this_thread::yield();
        {
          std::lock_guard<std::mutex> l(mu);
          active.erase(*key);
        }
        ++processed;
        q.Done(*key);
      }
    });
  }
  for (int i = 0; i < 20000; ++i) q.Add("k" + std::to_string(i % 5));
  ASSERT_TRUE(Eventually([&] { return q.Len() == 0; }));
  q.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_GE(processed.load(), 5);
}

}  // namespace
}  // namespace tug::client
