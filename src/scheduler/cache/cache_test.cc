#include "scheduler/cache/cache.h"

#include <gtest/gtest.h>

#include <thread>

#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::cache {
namespace {

using testing::NodeBuilder;
using testing::PodBuilder;

ObjectPtr Ptr(Json j) { return std::make_shared<const Json>(std::move(j)); }

// The informer's pod updates never wait for a scheduling cycle: while Lock() is held they are
// queued (the latest per pod) and applied before that lock is released; a cycle that starts
// later sees them.
TEST(Cache, PodUpdatesDoNotWaitForTheLock) {
  Cache c;
  c.AddNode(Ptr(NodeBuilder("n1")));
  c.AddPod(PodBuilder("gone").Req("cpu", "1").NodeName("n1").Info());
  {
    auto cycle = c.Lock();
    std::thread informer([&] {
      c.AddPod(PodBuilder("p").Req("cpu", "1").NodeName("n1").Info());
      c.AddPod(PodBuilder("p").Req("cpu", "2").NodeName("n1").Info());  // replaces the queued one
      c.RemovePod("default/gone");
    });
    informer.join();  // returned although the cycle holds the lock
    // The cycle's view is unchanged until it ends.
    EXPECT_EQ(c.NodeLocked("n1")->requested.milli_cpu, 1000);
  }
  auto next = c.Lock();
  EXPECT_EQ(c.NodeLocked("n1")->requested.milli_cpu, 2000);
  EXPECT_EQ(c.NodeLocked("n1")->pods.size(), 1u);
}

TEST(Cache, AssumeConfirmForget) {
  Cache c;
  c.AddNode(Ptr(NodeBuilder("n1")));
  c.AddNode(Ptr(NodeBuilder("n2")));
  PodInfoPtr p = PodBuilder("p").Req("cpu", "1").Info()->WithNodeName("n1");
  ASSERT_TRUE(c.AssumePod(p).ok());
  EXPECT_EQ(c.AssumePod(p).code(), StatusCode::kAlreadyExists);
  {
    auto l = c.Lock();
    EXPECT_EQ(c.NodeLocked("n1")->requested.milli_cpu, 1000);
  }
  EXPECT_TRUE(c.IsAssumed("default/p"));
  // The informer reports the pod bound: confirmed, counted once.
  c.AddPod(PodBuilder("p").Req("cpu", "1").NodeName("n1").Info());
  EXPECT_FALSE(c.IsAssumed("default/p"));
  {
    auto l = c.Lock();
    EXPECT_EQ(c.NodeLocked("n1")->requested.milli_cpu, 1000);
    EXPECT_EQ(c.NodeLocked("n1")->pods.size(), 1u);
  }
  // ForgetPod does not undo a confirmed pod.
  c.ForgetPod("default/p");
  EXPECT_TRUE(c.HasPod("default/p"));

  PodInfoPtr q = PodBuilder("q").Req("cpu", "2").Info()->WithNodeName("n2");
  ASSERT_TRUE(c.AssumePod(q).ok());
  c.ForgetPod("default/q");
  EXPECT_FALSE(c.HasPod("default/q"));
  auto l = c.Lock();
  EXPECT_EQ(c.NodeLocked("n2")->requested.milli_cpu, 0);
}

TEST(Cache, PodBeforeNodeAndNodeRemoval) {
  Cache c;
  c.AddPod(PodBuilder("early").Req("cpu", "1").NodeName("late").Info());
  EXPECT_EQ(c.NumNodes(), 0u);  // a placeholder is not a schedulable node
  c.AddNode(Ptr(NodeBuilder("late")));
  {
    auto l = c.Lock();
    ASSERT_EQ(c.NodesLocked().size(), 1u);
    EXPECT_EQ(c.NodesLocked()[0]->requested.milli_cpu, 1000);
  }
  c.RemoveNode("late");
  EXPECT_EQ(c.NumNodes(), 0u);
  c.RemovePod("default/early");
  EXPECT_EQ(c.NumPods(), 0u);
}

TEST(Cache, UpdatePodMovesResources) {
  Cache c;
  c.AddNode(Ptr(NodeBuilder("n1")));
  c.AddPod(PodBuilder("p").Req("cpu", "1").NodeName("n1").Label("a", "b").Info());
  c.UpdatePod(PodBuilder("p").Req("cpu", "1").NodeName("n1").Label("a", "c").Info());
  auto l = c.Lock();
  EXPECT_EQ(c.NodeLocked("n1")->requested.milli_cpu, 1000);
  EXPECT_EQ(c.NodeLocked("n1")->pods.size(), 1u);
}

}  // namespace
}  // namespace tug::scheduler::cache
