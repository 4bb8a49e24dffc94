#include "runtime/oci/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "runtime/oci/sys.h"
#include "runtime/oci/testing/rootfs.h"

namespace tug::runtime {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

struct ArgvCase {
  const char* name;
  std::vector<std::string> entrypoint, cmd, command, args, want;
};

TEST(ResolveArgv, KubernetesRules) {
  const ArgvCase cases[] = {
      {"image_only", {"/ep"}, {"a"}, {}, {}, {"/ep", "a"}},
      {"command_ignores_image_cmd", {"/ep"}, {"a"}, {"/c"}, {}, {"/c"}},
      {"command_and_args", {"/ep"}, {"a"}, {"/c"}, {"x"}, {"/c", "x"}},
      {"args_replace_cmd", {"/ep"}, {"a"}, {}, {"x", "y"}, {"/ep", "x", "y"}},
      {"no_entrypoint", {}, {"sh"}, {}, {}, {"sh"}},
  };
  for (const auto& tc : cases) {
    ContainerConfig c;
    c.image_config.entrypoint = tc.entrypoint;
    c.image_config.cmd = tc.cmd;
    c.command = tc.command;
    c.args = tc.args;
    EXPECT_EQ(ResolveArgv(c), tc.want) << tc.name;
  }
}

TEST(MergeEnv, ContainerOverridesImageAndPathDefault) {
  ContainerConfig c;
  c.image_config.env = {"A=1", "B=2", "PATH=/img"};
  c.env = {{"B", "3"}, {"C", "4"}};
  auto env = MergeEnv(c, "host1");
  EXPECT_THAT(env, ElementsAre("PATH=/img", "A=1", "B=3", "HOSTNAME=host1", "C=4"));
  ContainerConfig d;
  EXPECT_THAT(MergeEnv(d, ""), Contains(::testing::StartsWith("PATH=/usr/local/sbin")));
}

struct CapCase {
  const char* name;
  SecurityContext sc;
  std::vector<std::string> must, must_not;
  size_t size = 0;  // 0: unchecked
};

TEST(EffectiveCapabilities, AddDropPrivileged) {
  SecurityContext drop_all;
  drop_all.capabilities_drop = {"ALL"};
  drop_all.capabilities_add = {"NET_BIND_SERVICE"};
  SecurityContext add_admin;
  add_admin.capabilities_add = {"NET_ADMIN", "CAP_SYS_TIME"};
  add_admin.capabilities_drop = {"kill"};
  SecurityContext priv;
  priv.privileged = true;
  const CapCase cases[] = {
      {"default", {}, {"CAP_CHOWN", "CAP_NET_RAW", "CAP_KILL"}, {"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}, 14},
      {"drop_all_add_one", drop_all, {"CAP_NET_BIND_SERVICE"}, {"CAP_CHOWN"}, 1},
      {"add_and_drop", add_admin, {"CAP_NET_ADMIN", "CAP_SYS_TIME"}, {"CAP_KILL"}, 15},
      {"privileged", priv, {"CAP_SYS_ADMIN", "CAP_BPF"}, {}, AllCapabilities().size()},
  };
  for (const auto& tc : cases) {
    auto caps = EffectiveCapabilities(tc.sc);
    for (const auto& m : tc.must) EXPECT_THAT(caps, Contains(m)) << tc.name;
    for (const auto& m : tc.must_not) EXPECT_THAT(caps, Not(Contains(m))) << tc.name;
    if (tc.size) {
      EXPECT_EQ(caps.size(), tc.size) << tc.name;
    }
  }
}

class SpecTest : public ::testing::Test {
 protected:
  SpecTest() {
    sandbox_.hostname = "web-1";
    sandbox_.sysctls = {{"net.ipv4.ip_unprivileged_port_start", "0"}};
    container_.name = "c";
    container_.image_config.cmd = {"sh"};
    in_.container = &container_;
    in_.sandbox = &sandbox_;
    in_.netns_path = "/run/tug/netns/x";
    in_.ipcns_path = "/run/tug/ipcns/x";
    in_.utsns_path = "/run/tug/utsns/x";
    in_.shm_path = "/run/tug/runtime/sandboxes/x/shm";
    in_.cgroups_path = "/tug/podu/cid";
  }
  static const Json* MountAt(const Json& spec, const std::string& dest) {
    for (const auto& m : spec["mounts"])
      if (m["destination"] == dest) return &m;
    return nullptr;
  }
  PodSandboxConfig sandbox_;
  ContainerConfig container_;
  SpecInput in_;
};

TEST_F(SpecTest, DefaultsNamespacesMountsAndMasks) {
  auto spec = BuildSpec(in_);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  const Json& s = *spec;
  EXPECT_EQ(s["hostname"], "web-1");
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/tug/podu/cid");
  EXPECT_EQ(s["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"], "0");
  Json ns = s["linux"]["namespaces"];
  EXPECT_THAT(ns, Contains(Json{{"type", "network"}, {"path", "/run/tug/netns/x"}}));
  EXPECT_THAT(ns, Contains(Json{{"type", "ipc"}, {"path", "/run/tug/ipcns/x"}}));
  EXPECT_THAT(ns, Contains(Json{{"type", "pid"}}));
  EXPECT_THAT(ns, Contains(Json{{"type", "mount"}}));
  for (const char* d : {"/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/dev/shm"})
    EXPECT_NE(MountAt(s, d), nullptr) << d;
  EXPECT_EQ((*MountAt(s, "/dev/shm"))["source"], in_.shm_path);
  EXPECT_THAT(s["linux"]["maskedPaths"], Contains("/proc/kcore"));
  EXPECT_THAT(s["linux"]["readonlyPaths"], Contains("/proc/sys"));
  EXPECT_EQ(s["linux"]["resources"]["devices"][0]["allow"], false);
  EXPECT_EQ(s["root"]["readonly"], false);
  EXPECT_FALSE(s["process"].contains("noNewPrivileges"));
  EXPECT_THAT(ns, Not(Contains(Json{{"type", "cgroup"}})));
  in_.cgroup_namespace = true;  // cgroup v2 hosts
  EXPECT_THAT((*BuildSpec(in_))["linux"]["namespaces"], Contains(Json{{"type", "cgroup"}}));
}

TEST_F(SpecTest, ResourcesSecurityAndCallerMounts) {
  container_.resources.memory_limit_bytes = 64 << 20;
  container_.resources.cpu_shares = 512;
  container_.resources.cpu_quota_us = 50000;
  container_.security.read_only_rootfs = true;
  container_.security.allow_privilege_escalation = false;
  container_.mounts = {{Mount::Type::kBind, "/host/hosts", "/etc/hosts", true, "private", 0},
                       {Mount::Type::kBind, "/host/data", "/data", false, "rslave", 0},
                       {Mount::Type::kTmpfs, "", "/dev/shm", false, "private", 1 << 20}};
  auto spec = BuildSpec(in_);
  ASSERT_TRUE(spec.ok());
  const Json& s = *spec;
  EXPECT_EQ(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["shares"], 512);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["quota"], 50000);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["period"], 100000);
  EXPECT_EQ(s["root"]["readonly"], true);
  EXPECT_EQ(s["process"]["noNewPrivileges"], true);
  EXPECT_THAT((*MountAt(s, "/etc/hosts"))["options"], Contains("ro"));
  EXPECT_THAT((*MountAt(s, "/data"))["options"], Contains("rslave"));
  EXPECT_EQ((*MountAt(s, "/dev/shm"))["type"], "tmpfs");  // caller's replaces the pod shm
  int shm = 0;
  for (const auto& m : s["mounts"]) shm += m["destination"] == "/dev/shm";
  EXPECT_EQ(shm, 1);
}

TEST_F(SpecTest, PrivilegedAndHostNamespaces) {
  container_.security.privileged = true;
  in_.netns_path.clear();
  in_.utsns_path.clear();
  auto spec = BuildSpec(in_);
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE(spec->at("linux").contains("maskedPaths"));
  EXPECT_EQ((*spec)["linux"]["resources"]["devices"][0]["allow"], true);
  EXPECT_FALSE(spec->contains("hostname"));
  for (const auto& n : (*spec)["linux"]["namespaces"]) EXPECT_NE(n["type"], "network");
}

TEST_F(SpecTest, RejectsBadInput) {
  struct Case { const char* name; std::function<void(ContainerConfig&)> mutate; };
  const Case cases[] = {
      {"relative_workdir", [](ContainerConfig& c) { c.working_dir = "rel"; }},
      {"proc_self_fd_workdir", [](ContainerConfig& c) { c.working_dir = "/proc/self/fd/7"; }},
      {"no_command", [](ContainerConfig& c) { c.image_config.cmd.clear(); }},
      {"relative_mount", [](ContainerConfig& c) { c.mounts = {{Mount::Type::kBind, "/a", "b"}}; }},
  };
  for (const auto& tc : cases) {
    ContainerConfig c = container_;
    tc.mutate(c);
    in_.container = &c;
    auto spec = BuildSpec(in_);
    EXPECT_FALSE(spec.ok()) << tc.name;
    if (!spec.ok()) {
      EXPECT_EQ(spec.status().code(), StatusCode::kInvalid) << tc.name;
    }
  }
}

TEST(ResolveUser, NamesIdsAndGroups) {
  char tmpl[] = "/tmp/tug-spec-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(testing::MakeBusyboxRootfs(dir).ok());
  struct Case {
    const char* name;
    std::string image_user;
    std::optional<int64_t> run_as_user, run_as_group;
    uint32_t uid, gid;
    std::vector<uint32_t> extra;
    bool ok = true;
  };
  const Case cases[] = {
      {"empty_is_root", "", {}, {}, 0, 0, {}},
      {"name", "app", {}, {}, 1000, 1000, {2000}},
      {"name_group", "app:extra", {}, {}, 1000, 2000, {2000}},
      {"numeric_unknown", "4242", {}, {}, 4242, 0, {}},
      {"numeric_pair", "5:6", {}, {}, 5, 6, {}},
      {"run_as_overrides", "app", 33, 44, 33, 44, {}},
      {"unknown_name", "ghost", {}, {}, 0, 0, {}, false},
  };
  for (const auto& tc : cases) {
    ContainerConfig c;
    c.image_config.user = tc.image_user;
    c.security.run_as_user = tc.run_as_user;
    c.security.run_as_group = tc.run_as_group;
    auto u = ResolveUser(dir, c);
    ASSERT_EQ(u.ok(), tc.ok) << tc.name;
    if (!tc.ok) continue;
    EXPECT_EQ(u->uid, tc.uid) << tc.name;
    EXPECT_EQ(u->gid, tc.gid) << tc.name;
    EXPECT_EQ(u->additional_gids, tc.extra) << tc.name;
  }
  EXPECT_TRUE(RemoveAll(dir).ok());
}

}  // namespace
}  // namespace tug::runtime
