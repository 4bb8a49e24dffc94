#include "kubelet/pod_workers.h"

#include <gtest/gtest.h>

namespace tug::kubelet {
namespace {

TEST(PodWorkersTest, ComputePhase) {
  struct Case {
    const char* name;
    std::string policy;
    std::vector<std::string> states;
    std::vector<int> codes;
    bool init_done;
    std::string want;
  } cases[] = {
      {"init pending", "Always", {"running"}, {0}, false, "Pending"},
      {"creating", "Always", {"waiting"}, {0}, true, "Pending"},
      {"running", "Always", {"running", "running"}, {0, 0}, true, "Running"},
      {"one running one done", "Never", {"running", "terminated"}, {0, 0}, true, "Running"},
      {"all ok never", "Never", {"terminated", "terminated"}, {0, 0}, true, "Succeeded"},
      {"failed never", "Never", {"terminated", "terminated"}, {0, 1}, true, "Failed"},
      {"failed onfailure", "OnFailure", {"terminated"}, {2}, true, "Running"},
      {"ok onfailure", "OnFailure", {"terminated"}, {0}, true, "Succeeded"},
      {"always exited", "Always", {"terminated"}, {0}, true, "Running"},
  };
  for (const auto& c : cases) EXPECT_EQ(ComputePhase(c.policy, c.states, c.codes, c.init_done), c.want) << c.name;
}

TEST(PodWorkersTest, CrashLoopDelay) {
  EXPECT_EQ(CrashLoopDelay(0).count(), 0);
  EXPECT_EQ(CrashLoopDelay(1).count(), 10);
  EXPECT_EQ(CrashLoopDelay(2).count(), 20);
  EXPECT_EQ(CrashLoopDelay(3).count(), 40);
  EXPECT_EQ(CrashLoopDelay(5).count(), 160);
  EXPECT_EQ(CrashLoopDelay(6).count(), 300);
  EXPECT_EQ(CrashLoopDelay(60).count(), 300);
}

TEST(PodWorkersTest, ResolvConf) {
  EXPECT_EQ(ResolvConf("web", "10.43.0.10", "cluster.local"),
            "search web.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.43.0.10\noptions ndots:5\n");
}

}  // namespace
}  // namespace tug::kubelet
