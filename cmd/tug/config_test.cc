#include "config.h"

#include <chrono>

#include <gtest/gtest.h>

namespace tug::cmd {
namespace {

TEST(ServerFlagsTest, Defaults) {
  auto r = ParseServerFlags({});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->config.data_dir, "/var/lib/tug");
  EXPECT_EQ(r->config.bind_address, "0.0.0.0");
  EXPECT_EQ(r->config.port, 6443);
  EXPECT_FALSE(r->config.disable_agent);
  EXPECT_TRUE(r->config.token_auth_file.empty());
  EXPECT_EQ(r->config.run_dir, "/run/tug");
  EXPECT_EQ(r->config.kubelet_port, 10250);
  EXPECT_EQ(r->config.cluster_cidr, "10.42.0.0/16");
  EXPECT_TRUE(r->config.node_name.empty());
  EXPECT_TRUE(r->config.pod_cidr.empty());
  EXPECT_FALSE(r->config.leader_elect);
}

TEST(ServerFlagsTest, LeaderElect) {
  auto on = ParseServerFlags({"--leader-elect"});
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->config.leader_elect);
  EXPECT_FALSE(on->config.disable_controllers);
  EXPECT_FALSE(on->config.disable_scheduler);
  auto off = ParseServerFlags({"--leader-elect=false", "--disable-scheduler"});
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->config.leader_elect);
  EXPECT_TRUE(off->config.disable_scheduler);
  EXPECT_FALSE(off->config.disable_controllers);
}

TEST(ServerFlagsTest, AgentFlags) {
  auto r = ParseServerFlags({"--node-name", "n1", "--node-ip=10.1.2.3", "--pod-cidr", "10.77.3.0/24",
                             "--cluster-cidr=10.77.0.0/16", "--run-dir", "/tmp/r", "--kubelet-port=0",
                             "--cni-bridge", "tugt1", "--cgroup-parent=/tug-t1"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.node_name, "n1");
  EXPECT_EQ(r->config.node_ip, "10.1.2.3");
  EXPECT_EQ(r->config.pod_cidr, "10.77.3.0/24");
  EXPECT_EQ(r->config.cluster_cidr, "10.77.0.0/16");
  EXPECT_EQ(r->config.run_dir, "/tmp/r");
  EXPECT_EQ(r->config.kubelet_port, 0);
  EXPECT_EQ(r->config.cni_bridge, "tugt1");
  EXPECT_EQ(r->config.cgroup_parent, "/tug-t1");
}

// The flags `tug agent` shares (parsed by the same functions there).
TEST(ServerFlagsTest, NodeRuntimeFlags) {
  auto d = ParseServerFlags({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->config.node_runtime.runc_path, "/usr/sbin/runc");
  EXPECT_EQ(d->config.node_runtime.container_log_max_size, 10 << 20);
  EXPECT_EQ(d->config.node_runtime.container_log_max_files, 5);
  EXPECT_EQ(d->config.node_runtime.container_log_monitor_interval, std::chrono::seconds(10));
  auto r = ParseServerFlags({"--runc", "/bin/true", "--container-log-max-size=64Ki", "--container-log-max-files", "3",
                             "--container-log-monitor-interval=1500ms"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.node_runtime.runc_path, "/bin/true");
  EXPECT_EQ(r->config.node_runtime.container_log_max_size, 64 << 10);
  EXPECT_EQ(r->config.node_runtime.container_log_max_files, 3);
  EXPECT_EQ(r->config.node_runtime.container_log_monitor_interval, std::chrono::milliseconds(1500));
  EXPECT_NE(ServerUsage().find("--container-log-max-files N"), std::string::npos);
}

TEST(ServerFlagsTest, AllFlagsBothSpellings) {
  auto r = ParseServerFlags({"--data-dir", "/d", "--bind-address=127.0.0.1", "--port=7443", "--disable-agent",
                             "--token-auth-file", "/t.csv", "-v", "4"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.data_dir, "/d");
  EXPECT_EQ(r->config.bind_address, "127.0.0.1");
  EXPECT_EQ(r->config.port, 7443);
  EXPECT_TRUE(r->config.disable_agent);
  EXPECT_EQ(r->config.token_auth_file, "/t.csv");
  EXPECT_EQ(r->config.verbosity, 4);
  auto b = ParseServerFlags({"--disable-agent=false", "--v=5", "--bind-address", "::1"});
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->config.disable_agent);
  EXPECT_EQ(b->config.verbosity, 5);
  EXPECT_TRUE(ParseServerFlags({"--help"})->help);
}

TEST(ServerFlagsTest, Errors) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{"--nope"}, "unknown flag: --nope"},
      {{"--nope=1"}, "unknown flag: --nope"},
      {{"-x"}, "unknown flag: -x"},
      {{"--port"}, "flag needs an argument: --port"},
      {{"--port", "0"}, "invalid value \"0\" for flag --port"},
      {{"--port", "70000"}, "invalid value \"70000\" for flag --port"},
      {{"--port=12ab"}, "invalid value \"12ab\" for flag --port"},
      {{"--bind-address", "example.com"}, "not an IP address"},
      {{"--disable-agent=maybe"}, "invalid value \"maybe\""},
      {{"--leader-elect=sometimes"}, "invalid value \"sometimes\""},
      {{"stray"}, "unexpected argument: stray"},
      {{"--node-ip", "nodeA"}, "not an IP address"},
      {{"--pod-cidr", "10.42.0.0"}, "not an IPv4 CIDR"},
      {{"--cluster-cidr=10.42.0.0/33"}, "not an IPv4 CIDR"},
      {{"--run-dir", "relative"}, "not an absolute path"},
      {{"--kubelet-port", "-1"}, "invalid value \"-1\" for flag --kubelet-port"},
      {{"--cni-bridge", "a-very-long-bridge-name"}, "1-15 characters"},
      {{"--runc", "runc"}, "invalid value \"runc\" for flag --runc: not an absolute path"},
      {{"--runc=/does/not/exist"}, "for flag --runc: not an executable file"},
      {{"--container-log-max-files", "1"}, "invalid value \"1\" for flag --container-log-max-files: must be at least 2"},
      {{"--container-log-max-files=x"}, "for flag --container-log-max-files: must be at least 2"},
      {{"--container-log-max-size", "0"}, "invalid value \"0\" for flag --container-log-max-size: a quantity greater"},
      {{"--container-log-max-size=10MB"}, "for flag --container-log-max-size"},
      {{"--container-log-max-size=-1"}, "for flag --container-log-max-size"},
      {{"--container-log-monitor-interval=0s"}, "for flag --container-log-monitor-interval"},
      {{"--container-log-max-size"}, "flag needs an argument: --container-log-max-size"},
  };
  for (const auto& c : cases) {
    auto r = ParseServerFlags(c.args);
    ASSERT_FALSE(r.ok()) << c.args[0];
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);  // one line
  }
}

}  // namespace
}  // namespace tug::cmd
