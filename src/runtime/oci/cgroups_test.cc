// Root-only: pod cgroups on this host's hierarchy (v1 or v2, detected), and the v2 code path on
// the unified hierarchy of a hybrid host when it is mounted.
#include "runtime/oci/cgroups.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "runtime/oci/sys.h"

namespace tug::runtime {
namespace {

Result<pid_t> SpawnSleep() {
  SpawnOptions so;
  so.argv = {"/bin/busybox", "sleep", "3600"};
  return Spawn(so);
}

std::string TestPath() {
  std::random_device rd;
  return "/tug-cgtest-" + std::to_string(rd() % 1000000) + "/podx";
}

TEST(Cgroups, SharesToWeight) {
  EXPECT_EQ(Cgroups::SharesToWeight(0), 0u);
  EXPECT_EQ(Cgroups::SharesToWeight(2), 1u);
  EXPECT_EQ(Cgroups::SharesToWeight(1024), 39u);
  EXPECT_EQ(Cgroups::SharesToWeight(262144), 10000u);
}

TEST(Cgroups, CreateLimitsKillAndRemove) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  Cgroups cg;
  std::string path = TestPath(), parent = path.substr(0, path.rfind('/'));
  Resources r;
  r.memory_limit_bytes = 32 << 20;
  r.cpu_shares = 512;
  r.cpu_quota_us = 20000;
  ASSERT_TRUE(cg.Create(path, r).ok());
  EXPECT_TRUE(cg.Exists(path));
  if (cg.version() == CgroupVersion::kV1) {
    EXPECT_EQ(*ReadFile("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes"), "33554432\n");
    EXPECT_EQ(*ReadFile("/sys/fs/cgroup/cpu" + path + "/cpu.shares"), "512\n");
    EXPECT_EQ(*ReadFile("/sys/fs/cgroup/cpu" + path + "/cpu.cfs_quota_us"), "20000\n");
  } else {
    EXPECT_EQ(*ReadFile("/sys/fs/cgroup" + path + "/memory.max"), "33554432\n");
    EXPECT_EQ(*ReadFile("/sys/fs/cgroup" + path + "/cpu.max"), "20000 100000\n");
  }
  EXPECT_EQ(cg.OomKillCount(path), 0);
  // A process inside is killed by Remove.
  auto pid = SpawnSleep();
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(cg.AddProcess(path, *pid).ok());
  EXPECT_THAT(cg.Pids(parent), ::testing::Contains(*pid));
  EXPECT_THAT(cg.Children(parent), ::testing::ElementsAre("podx"));
  ASSERT_TRUE(cg.Remove(parent).ok());
  auto st = WaitPid(*pid);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL);
  EXPECT_FALSE(cg.Exists(path));
  EXPECT_FALSE(cg.Exists(parent));
  EXPECT_TRUE(cg.Remove(parent).ok());  // idempotent
  EXPECT_FALSE(cg.Remove("/").ok());
}

TEST(Cgroups, V2PathOnUnifiedHierarchy) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  Cgroups cg("/sys/fs/cgroup/unified");
  if (cg.version() != CgroupVersion::kV2) GTEST_SKIP() << "no cgroup2 mount at /sys/fs/cgroup/unified";
  std::string path = TestPath(), parent = path.substr(0, path.rfind('/'));
  ASSERT_TRUE(cg.Create(path, Resources{}).ok());  // controllers may all be bound to v1 here
  EXPECT_TRUE(PathExists("/sys/fs/cgroup/unified" + path + "/cgroup.procs"));
  auto pid = SpawnSleep();
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(cg.AddProcess(path, *pid).ok());
  EXPECT_THAT(cg.Pids(parent), ::testing::Contains(*pid));
  ASSERT_TRUE(cg.Remove(parent).ok());
  (void)WaitPid(*pid);
  EXPECT_FALSE(PathExists("/sys/fs/cgroup/unified" + parent));
}

}  // namespace
}  // namespace tug::runtime
