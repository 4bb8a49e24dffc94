// Root-only: the OCI runtime end to end with real runc, conmon, cgroups and CNI plugins, on a
// busybox rootfs, in a private state dir, bridge, pod CIDR and cgroup parent per test. Every
// test ends with Cleanup and checks that no mount, netns, cgroup, veth or IPAM file is left.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "base/json.h"
#include "network/cni/cni.h"
#include "runtime/oci/cgroups.h"
#include "runtime/oci/runtime_impl.h"
#include "runtime/oci/sys.h"
#include "runtime/oci/testing/cni_pod_network.h"
#include "runtime/oci/testing/rootfs.h"

namespace tug::runtime {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

using testing::CniPodNetwork;

std::string Sh(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = pclose(p);
  if (rc) *rc = WEXITSTATUS(st);
  return out;
}

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

class RuntimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    char tmpl[] = "/tmp/tug-rootfs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    rootfs_ = tmpl;
    ASSERT_TRUE(testing::MakeBusyboxRootfs(rootfs_).ok());
  }
  static void TearDownTestSuite() {
    if (!rootfs_.empty()) RemoveAll(rootfs_).IgnoreError();
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    std::random_device rd;
    suffix_ = std::to_string(rd() % 100000);
    char tmpl[] = "/tmp/tug-rt-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    cgroup_parent_ = "/tug-test-" + suffix_;
    bridge_ = "tugr" + suffix_;
    pod_cidr_ = "10.232." + std::to_string(rd() % 250) + ".0/24";
    rt_ = NewRuntime();
    ASSERT_NE(rt_, nullptr);
  }

  std::unique_ptr<Runtime> NewRuntime() {
    network::CniOptions co;
    co.bridge = bridge_;
    co.network_name = "tugrt" + suffix_;
    co.pod_cidr = pod_cidr_;
    co.data_dir = base_ + "/cni";
    auto cni = network::Cni::New(co);
    EXPECT_TRUE(cni.ok()) << cni.status().ToString();
    if (!cni.ok()) return nullptr;
    RuntimeOptions o;
    o.state_dir = base_ + "/state";
    o.storage_dir = base_ + "/storage";
    o.ns_root = base_ + "/ns";
    o.managed_cgroup_parents = {cgroup_parent_};
    o.log_size_max_bytes = log_size_max_;
    if (!runc_path_.empty()) o.runc_path = runc_path_;
    auto rt = NewOciRuntime(o, std::make_unique<CniPodNetwork>(std::move(*cni)));
    EXPECT_TRUE(rt.ok()) << rt.status().ToString();
    return rt.ok() ? std::move(*rt) : nullptr;
  }

  void TearDown() override {
    if (base_.empty()) return;
    if (rt_) {
      EXPECT_TRUE(rt_->Cleanup({}).ok());
      ExpectNoLeftovers();
    }
    rt_.reset();
    Cgroups cg;
    cg.Remove(cgroup_parent_).IgnoreError();
    Sh("ip link del " + bridge_);
    for (const auto& m : MountsUnder(base_)) Unmount(m).IgnoreError();
    RemoveAll(base_).IgnoreError();
  }

  void ExpectNoLeftovers() {
    EXPECT_THAT(MountsUnder(base_), ::testing::IsEmpty());
    for (const char* kind : {"netns", "ipcns", "utsns"})
      EXPECT_THAT(ListDir(base_ + "/ns/" + kind), ::testing::IsEmpty()) << kind;
    Cgroups cg;
    EXPECT_THAT(cg.Children(cgroup_parent_), ::testing::IsEmpty());
    for (const auto& h : ListDir("/sys/fs/cgroup"))
      EXPECT_THAT(ListDir("/sys/fs/cgroup/" + h + cgroup_parent_),
                  ::testing::Not(::testing::Contains(::testing::StartsWith("pod"))))
          << h;
    EXPECT_EQ(Sh("ip -o link show master " + bridge_ + " 2>/dev/null | grep -v 'does not exist'"), "");
    std::string ipam = base_ + "/cni/ipam/tugrt" + suffix_;
    for (const auto& f : ListDir(ipam))
      EXPECT_TRUE(f == "lock" || f.rfind("last_reserved", 0) == 0) << "IPAM file left: " << f;
    EXPECT_EQ(Sh("/usr/sbin/runc --root " + base_ + "/state/runc list -q"), "");
    EXPECT_THAT(Sh("iptables-save -t nat"), ::testing::Not(HasSubstr("tugrt" + suffix_)));
  }

  PodSandboxConfig Pod(const std::string& name) {
    PodSandboxConfig c;
    c.uid = "uid-" + name + "-" + suffix_;
    c.name = name;
    c.namespace_ = "default";
    c.hostname = name;
    c.cgroup_parent = cgroup_parent_;
    return c;
  }
  ContainerConfig Ctr(const std::string& name, std::vector<std::string> cmd) {
    ContainerConfig c;
    c.name = name;
    c.rootfs_lowerdirs = {rootfs_};
    c.image = "busybox";
    c.command = std::move(cmd);
    c.log_path = base_ + "/logs/" + name + ".log";
    return c;
  }
  std::string MustSandbox(const std::string& name) {
    auto id = rt_->RunPodSandbox(Pod(name));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : "";
  }
  std::string MustStart(const std::string& sb, const ContainerConfig& c) {
    auto id = rt_->CreateContainer(sb, c);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    if (!id.ok()) return "";
    Status st = rt_->StartContainer(*id);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return *id;
  }
  ContainerStatus WaitExited(const std::string& id, std::chrono::milliseconds timeout = 20s) {
    ContainerStatus s;
    EXPECT_TRUE(Eventually([&] {
      auto r = rt_->ContainerStatusOf(id);
      if (!r.ok()) return false;
      s = *r;
      return s.state == ContainerState::kExited;
    }, timeout)) << "container did not exit";
    return s;
  }

  static std::string rootfs_;
  std::string suffix_, base_, cgroup_parent_, bridge_, pod_cidr_;
  int64_t log_size_max_ = 0;
  std::string runc_path_;  // empty: the default
  std::unique_ptr<Runtime> rt_;
};
std::string RuntimeTest::rootfs_;

TEST_F(RuntimeTest, SandboxGetsIpAndLoopback) {
  std::string sb = MustSandbox("net");
  auto st = rt_->PodSandboxStatusOf(sb);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, SandboxState::kReady);
  std::string prefix = pod_cidr_.substr(0, pod_cidr_.rfind('.') + 1);
  EXPECT_EQ(st->ip.rfind(prefix, 0), 0u) << st->ip;
  std::string addrs = Sh("nsenter --net=" + st->netns_path + " ip -o addr show");
  EXPECT_THAT(addrs, HasSubstr("inet 127.0.0.1/8"));
  EXPECT_THAT(addrs, HasSubstr("eth0    inet " + st->ip + "/24"));
  EXPECT_THAT(Sh("nsenter --net=" + st->netns_path + " ip link show lo"), HasSubstr("UP"));
  EXPECT_EQ(Sh("nsenter --uts=" + base_ + "/ns/utsns/" + sb + " hostname"), "net\n");
  auto list = rt_->ListPodSandboxes();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].config.uid, "uid-net-" + suffix_);
  ASSERT_TRUE(rt_->RemovePodSandbox(sb).ok());
  EXPECT_EQ(rt_->PodSandboxStatusOf(sb).status().code(), StatusCode::kNotFound);
  ExpectNoLeftovers();
}

// network_in_background: the container is created while CNI runs; its process starts only once
// eth0 has the pod's address. A sandbox whose setup was cut short by a restart is NotReady.
TEST_F(RuntimeTest, BackgroundNetworkIsUpBeforeTheProcessStarts) {
  PodSandboxConfig p = Pod("bgnet");
  p.network_in_background = true;
  auto sb = rt_->RunPodSandbox(p);
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  auto listed = rt_->ListPodSandboxes();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state, SandboxState::kReady);  // containers may be created meanwhile
  std::string id = MustStart(*sb, Ctr("ip", {"sh", "-c", "ip -o -4 addr show eth0"}));
  auto st = rt_->PodSandboxStatusOf(*sb);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, SandboxState::kReady);
  ASSERT_FALSE(st->ip.empty());
  EXPECT_TRUE(rt_->WaitPodSandboxNetwork(*sb).ok());
  EXPECT_EQ(WaitExited(id).exit_code, 0);
  auto log = ReadFile(base_ + "/logs/ip.log");
  ASSERT_TRUE(log.ok());
  EXPECT_THAT(*log, HasSubstr("inet " + st->ip + "/"));

  // As if the agent had died during CNI ADD: the record still says pending.
  std::string rec_path = base_ + "/state/sandboxes/" + *sb + "/sandbox.json";
  auto rec = ReadFile(rec_path);
  ASSERT_TRUE(rec.ok());
  auto j = ParseJson(*rec);
  ASSERT_TRUE(j.ok());
  (*j)["networkPending"] = true;
  ASSERT_TRUE(WriteFileAtomic(rec_path, j->dump()).ok());
  rt_ = NewRuntime();
  ASSERT_NE(rt_, nullptr);
  EXPECT_EQ(rt_->PodSandboxStatusOf(*sb)->state, SandboxState::kNotReady);
  ASSERT_TRUE(rt_->RemovePodSandbox(*sb).ok());
  ExpectNoLeftovers();
}

// A PodNetwork whose ADD fails once Release() is called (the test creates the container first).
class FailingNetwork : public PodNetwork {
 public:
  Result<PodNetworkStatus> SetUp(const PodNetworkRequest&) override {
    go_.wait();
    return InternalError("plugin type=\"bridge\" failed (add): no luck");
  }
  void Release() {
    std::call_once(once_, [this] { release_.set_value(); });
  }
  Status TearDown(const PodNetworkRequest&) override {
    ++teardowns;
    return Status::Ok();
  }
  Status GarbageCollect(const std::set<std::string>&) override { return Status::Ok(); }
  std::atomic<int> teardowns{0};

 private:
  std::promise<void> release_;
  std::shared_future<void> go_ = release_.get_future().share();
  std::once_flag once_;
};

TEST_F(RuntimeTest, BackgroundNetworkFailureFailsTheStartAndTheSandbox) {
  RuntimeOptions o;
  o.state_dir = base_ + "/state";
  o.storage_dir = base_ + "/storage";
  o.ns_root = base_ + "/ns";
  o.managed_cgroup_parents = {cgroup_parent_};
  auto net = std::make_unique<FailingNetwork>();
  FailingNetwork* fake = net.get();
  // Released on every path, or the runtime's destructor would wait for the ADD forever.
  struct Releaser {
    FailingNetwork* n;
    ~Releaser() { n->Release(); }
  } releaser{fake};
  auto made = NewOciRuntime(o, std::move(net));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  rt_ = std::move(*made);
  PodSandboxConfig p = Pod("bgfail");
  p.network_in_background = true;
  auto sb = rt_->RunPodSandbox(p);
  ASSERT_TRUE(sb.ok()) << sb.status().ToString();
  auto id = rt_->CreateContainer(*sb, Ctr("c", {"sleep", "3600"}));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  fake->Release();
  Status started = rt_->StartContainer(*id);
  EXPECT_FALSE(started.ok());
  EXPECT_THAT(started.message(), HasSubstr("pod network: plugin type=\"bridge\" failed (add): no luck"));
  EXPECT_THAT(rt_->WaitPodSandboxNetwork(*sb).message(), HasSubstr("no luck"));
  EXPECT_EQ(rt_->PodSandboxStatusOf(*sb)->state, SandboxState::kNotReady);
  ASSERT_TRUE(rt_->RemovePodSandbox(*sb).ok());
  EXPECT_GE(fake->teardowns.load(), 1);  // the failed ADD's allocations are released
  EXPECT_EQ(rt_->PodSandboxStatusOf(*sb).status().code(), StatusCode::kNotFound);
  ExpectNoLeftovers();
}

TEST_F(RuntimeTest, EchoHiWritesCriLogAndExitsZero) {
  std::string sb = MustSandbox("echo");
  auto c = Ctr("echo", {"echo", "hi"});
  std::string id = MustStart(sb, c);
  auto s = WaitExited(id);
  EXPECT_EQ(s.exit_code, 0);
  EXPECT_EQ(s.reason, "Completed");
  EXPECT_GE(s.finished_at, s.started_at);
  EXPECT_GT(s.started_at.time_since_epoch().count(), 0);
  auto log = ReadFile(c.log_path);
  ASSERT_TRUE(log.ok());
  std::regex line(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) stdout F hi\n$)");
  EXPECT_TRUE(std::regex_match(*log, line)) << *log;
  auto list = rt_->ListContainers(sb);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "echo");
  ASSERT_TRUE(rt_->RemoveContainer(id).ok());
  EXPECT_EQ(rt_->ContainerStatusOf(id).status().code(), StatusCode::kNotFound);
}

TEST_F(RuntimeTest, ExitCodeThreeIsError) {
  std::string sb = MustSandbox("fail");
  auto c = Ctr("fail", {"sh", "-c", "echo oops >&2; exit 3"});
  std::string id = MustStart(sb, c);
  auto s = WaitExited(id);
  EXPECT_EQ(s.exit_code, 3);
  EXPECT_EQ(s.reason, "Error");
  EXPECT_THAT(*ReadFile(c.log_path), HasSubstr(" stderr F oops\n"));
}

TEST_F(RuntimeTest, OverMemoryLimitIsOOMKilled) {
  std::string sb = MustSandbox("oom");
  auto c = Ctr("oom", {"sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=\"$x$x\"; done"});
  c.resources.memory_limit_bytes = 16 << 20;
  std::string id = MustStart(sb, c);
  auto s = WaitExited(id, 60s);
  EXPECT_EQ(s.reason, "OOMKilled");
  EXPECT_EQ(s.exit_code, 137);
}

TEST_F(RuntimeTest, TwoSandboxesPingEachOther) {
  std::string a = MustSandbox("a"), b = MustSandbox("b");
  std::string ca = MustStart(a, Ctr("a", {"sleep", "3600"}));
  std::string cb = MustStart(b, Ctr("b", {"sleep", "3600"}));
  auto ipa = rt_->PodSandboxStatusOf(a)->ip, ipb = rt_->PodSandboxStatusOf(b)->ip;
  ASSERT_NE(ipa, ipb);
  auto r1 = rt_->ExecSync(ca, {"ping", "-c", "1", "-W", "3", ipb}, 10s);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->exit_code, 0) << r1->stdout_data << r1->stderr_data;
  auto r2 = rt_->ExecSync(cb, {"ping", "-c", "1", "-W", "3", ipa}, 10s);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->exit_code, 0) << r2->stdout_data << r2->stderr_data;
  // Containers of one pod share the network and UTS namespaces.
  std::string ca2 = MustStart(a, Ctr("a2", {"sleep", "3600"}));
  auto ip_in_a2 = rt_->ExecSync(ca2, {"sh", "-c", "ip -o -4 addr show eth0; hostname"}, 10s);
  ASSERT_TRUE(ip_in_a2.ok());
  EXPECT_THAT(ip_in_a2->stdout_data, HasSubstr(ipa + "/"));
  EXPECT_THAT(ip_in_a2->stdout_data, HasSubstr("\na\n"));
}

TEST_F(RuntimeTest, ParallelPodsGetDistinctAddresses) {
  constexpr int kPods = 6;
  std::vector<std::string> sandboxes(kPods), containers(kPods);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPods; ++i)
    threads.emplace_back([&, i] {
      auto sb = rt_->RunPodSandbox(Pod("par" + std::to_string(i)));
      if (!sb.ok()) return;
      sandboxes[i] = *sb;
      auto c = rt_->CreateContainer(*sb, Ctr("par" + std::to_string(i), {"sleep", "3600"}));
      if (c.ok() && rt_->StartContainer(*c).ok()) containers[i] = *c;
    });
  for (auto& t : threads) t.join();
  std::set<std::string> ips;
  for (int i = 0; i < kPods; ++i) {
    ASSERT_FALSE(sandboxes[i].empty()) << i;
    ASSERT_FALSE(containers[i].empty()) << i;
    EXPECT_EQ(rt_->ContainerStatusOf(containers[i])->state, ContainerState::kRunning);
    ips.insert(rt_->PodSandboxStatusOf(sandboxes[i])->ip);
  }
  EXPECT_EQ(ips.size(), static_cast<size_t>(kPods));
  threads.clear();
  std::vector<Status> removed(kPods);
  for (int i = 0; i < kPods; ++i)
    threads.emplace_back([&, i] { removed[i] = rt_->RemovePodSandbox(sandboxes[i]); });
  for (auto& t : threads) t.join();
  for (const auto& st : removed) EXPECT_TRUE(st.ok()) << st.ToString();
  ExpectNoLeftovers();
}

TEST_F(RuntimeTest, LogSizeCapStartsTheFileOver) {
  log_size_max_ = 4096;
  rt_ = NewRuntime();
  ASSERT_NE(rt_, nullptr);
  std::string sb = MustSandbox("logs");
  auto c = Ctr("logs", {"sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done"});
  std::string id = MustStart(sb, c);
  EXPECT_EQ(WaitExited(id).exit_code, 0);
  auto log = ReadFile(c.log_path);
  ASSERT_TRUE(log.ok());
  EXPECT_LE(log->size(), 4096u);
  EXPECT_THAT(*log, HasSubstr("stdout F line-1999\n"));
  EXPECT_THAT(*log, ::testing::Not(HasSubstr("stdout F line-0\n")));
}

TEST_F(RuntimeTest, StopHonoursSigtermThenSigkill) {
  std::string sb = MustSandbox("stop");
  std::string polite = MustStart(sb, Ctr("polite", {"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.05; done"}));
  std::string stubborn = MustStart(sb, Ctr("stubborn", {"sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"}));
  ASSERT_TRUE(Eventually([&] { return rt_->ContainerStatusOf(polite)->state == ContainerState::kRunning; }));
  std::this_thread::sleep_for(200ms);  // let sh install its trap
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(rt_->StopContainer(polite, 30s).ok());
  auto polite_took = std::chrono::steady_clock::now() - t0;
  auto s1 = rt_->ContainerStatusOf(polite);
  EXPECT_EQ(s1->state, ContainerState::kExited);
  EXPECT_EQ(s1->exit_code, 0);
  EXPECT_LT(polite_took, 20s);  // ended by SIGTERM, not by the 30 s timeout

  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(rt_->StopContainer(stubborn, 1s).ok());
  auto stubborn_took = std::chrono::steady_clock::now() - t0;
  auto s2 = rt_->ContainerStatusOf(stubborn);
  EXPECT_EQ(s2->state, ContainerState::kExited);
  EXPECT_EQ(s2->exit_code, 137);  // SIGKILL after the timeout
  EXPECT_GE(stubborn_took, 1s);
  EXPECT_TRUE(rt_->StopContainer(stubborn, 1s).ok());  // idempotent
}

TEST_F(RuntimeTest, ShortenStopEndsAStopInFlightEarly) {
  std::string sb = MustSandbox("shorten");
  std::string stubborn = MustStart(sb, Ctr("stubborn", {"sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"}));
  ASSERT_TRUE(Eventually([&] { return rt_->ContainerStatusOf(stubborn)->state == ContainerState::kRunning; }));
  std::this_thread::sleep_for(200ms);  // let sh install its trap
  auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { EXPECT_TRUE(rt_->StopContainer(stubborn, 60s).ok()); });
  // Well into the 60 s grace (whichever comes first, the shorter grace holds): 0 s kills now.
  std::this_thread::sleep_for(1s);
  rt_->ShortenStop(stubborn, 0s);
  stopper.join();
  auto took = std::chrono::steady_clock::now() - t0;
  auto st = rt_->ContainerStatusOf(stubborn);
  EXPECT_EQ(st->state, ContainerState::kExited);
  EXPECT_EQ(st->exit_code, 137);
  EXPECT_LT(took, 45s);  // not the 60 s grace it started with
  EXPECT_FALSE(rt_->ShortenStop(stubborn, 0s));  // the stop is over

  // Shortened before its stop starts (the kubelet saw the shorter grace first): the stop that
  // comes later takes the shorter grace.
  std::string late = MustStart(sb, Ctr("late", {"sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"}));
  ASSERT_TRUE(Eventually([&] { return rt_->ContainerStatusOf(late)->state == ContainerState::kRunning; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(rt_->ShortenStop(late, 0s));
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(rt_->StopContainer(late, 60s).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 45s);
  EXPECT_EQ(rt_->ContainerStatusOf(late)->exit_code, 137);
}

TEST_F(RuntimeTest, ExecSyncOutputExitCodeAndTimeout) {
  std::string sb = MustSandbox("exec");
  std::string id = MustStart(sb, Ctr("exec", {"sleep", "3600"}));
  auto r = rt_->ExecSync(id, {"sh", "-c", "echo out; echo err >&2; exit 7"}, 10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stdout_data, "out\n");
  EXPECT_EQ(r->stderr_data, "err\n");
  EXPECT_EQ(r->exit_code, 7);
  // Stats from the cgroups: a busy exec shows up in the container's and the pod's CPU time.
  auto before = rt_->ContainerStatsOf(id);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  ASSERT_TRUE(rt_->ExecSync(id, {"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}, 20s).ok());
  auto after = rt_->ContainerStatsOf(id);
  ASSERT_TRUE(after.ok());
  EXPECT_GT(after->cpu_usage_ns, before->cpu_usage_ns);
  EXPECT_GT(after->memory_usage_bytes, 0u);
  EXPECT_LE(after->memory_working_set_bytes, after->memory_usage_bytes);
  auto pod = rt_->PodSandboxStatsOf(sb);
  ASSERT_TRUE(pod.ok());
  EXPECT_GE(pod->cpu_usage_ns, after->cpu_usage_ns);
  auto t = rt_->ExecSync(id, {"sleep", "30"}, 300ms);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->timed_out);
  // The timed-out process does not linger in the container.
  EXPECT_TRUE(Eventually([&] {
    auto ps = rt_->ExecSync(id, {"sh", "-c", "ps -o args | grep -c '^sleep 30' || true"}, 5s);
    return ps.ok() && ps->stdout_data == "0\n";
  }, 10s));
  EXPECT_FALSE(rt_->ExecSync("ffff", {"true"}, 1s).ok());
}

TEST_F(RuntimeTest, StreamingExecPipesAndTty) {
  std::string sb = MustSandbox("stream");
  std::string id = MustStart(sb, Ctr("stream", {"sleep", "3600"}));
  auto s = rt_->Exec(id, {{"sh", "-c", "cat; echo done >&2"}, false, true});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(::write((*s)->stdin_fd(), "abc", 3), 3);
  (*s)->CloseStdin();
  std::string out, err;
  char buf[256];
  ssize_t n;
  while ((n = ::read((*s)->stdout_fd(), buf, sizeof(buf))) > 0) out.append(buf, n);
  while ((n = ::read((*s)->stderr_fd(), buf, sizeof(buf))) > 0) err.append(buf, n);
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(err, "done\n");
  EXPECT_EQ(*(*s)->Wait(), 0);

  auto t = rt_->Exec(id, {{"sh", "-c", "tty; exit 4"}, true, true});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_TRUE((*t)->Resize(40, 100).ok());
  std::string tty_out;
  while ((n = ::read((*t)->stdout_fd(), buf, sizeof(buf))) > 0) tty_out.append(buf, n);
  EXPECT_THAT(tty_out, HasSubstr("/dev/pts/"));
  EXPECT_EQ(*(*t)->Wait(), 4);
}

TEST_F(RuntimeTest, AttachReadsContainerOutput) {
  std::string sb = MustSandbox("attach");
  std::string id = MustStart(sb, Ctr("attach", {"sh", "-c", "while true; do echo tick; sleep 0.1; done"}));
  auto a = rt_->Attach(id);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  char buf[8192];
  ssize_t n = ::recv(a->fd, buf, sizeof(buf), 0);
  ASSERT_GT(n, 1);
  EXPECT_EQ(buf[0], 2);  // stdout
  EXPECT_THAT(std::string(buf + 1, n - 1), HasSubstr("tick"));
  ::close(a->fd);
  // Rotation as the kubelet does it: rename the file, ask conmon to reopen, a new file grows.
  std::string log = base_ + "/logs/attach.log";
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  ASSERT_TRUE(rt_->ReopenContainerLog(id).ok());
  EXPECT_TRUE(Eventually([&] {
    auto d = ReadFile(log);
    return d.ok() && d->find("stdout F tick\n") != std::string::npos;
  }, 10s));
  EXPECT_THAT(*ReadFile(log + ".1"), HasSubstr("stdout F tick\n"));
  EXPECT_TRUE(rt_->ResizeContainerTerminal(id, 24, 80).ok());  // accepted (no tty: ignored)
  // conmon runs in the pod's conmon cgroup, not in the agent's.
  auto conmon_pid = ReadFile(base_ + "/state/containers/" + id + "/conmon.pid");
  ASSERT_TRUE(conmon_pid.ok());
  auto cg = ReadFile("/proc/" + std::to_string(std::atoi(conmon_pid->c_str())) + "/cgroup");
  ASSERT_TRUE(cg.ok());
  EXPECT_THAT(*cg, HasSubstr(cgroup_parent_ + "/poduid-attach-" + suffix_ + "/conmon"));
}

TEST_F(RuntimeTest, SecurityContextUserAndReadOnlyRootfs) {
  std::string sb = MustSandbox("sec");
  auto c = Ctr("sec", {"sh", "-c", "id -u; id -g; touch /x 2>/dev/null && echo rw || echo ro; touch /tmp/y && echo tmpok"});
  c.security.run_as_user = 1000;
  c.security.run_as_group = 3000;
  c.security.read_only_rootfs = true;
  c.mounts.push_back({Mount::Type::kTmpfs, "", "/tmp", false, "private", 1 << 20});
  std::string id = MustStart(sb, c);
  auto s = WaitExited(id);
  EXPECT_EQ(s.exit_code, 0);
  auto log = *ReadFile(c.log_path);
  EXPECT_THAT(log, HasSubstr("stdout F 1000\n"));
  EXPECT_THAT(log, HasSubstr("stdout F 3000\n"));
  EXPECT_THAT(log, HasSubstr("stdout F ro\n"));
  EXPECT_THAT(log, HasSubstr("stdout F tmpok\n"));
}

TEST_F(RuntimeTest, AgentRestartFindsRunningContainers) {
  std::string sb = MustSandbox("restart");
  std::string id = MustStart(sb, Ctr("r", {"sleep", "3600"}));
  auto before = rt_->ContainerStatusOf(id);
  ASSERT_TRUE(before.ok());
  rt_.reset();  // the agent goes away; conmon and the container stay
  rt_ = NewRuntime();
  ASSERT_NE(rt_, nullptr);
  ASSERT_TRUE(rt_->Cleanup({sb}).ok());
  auto after = rt_->ContainerStatusOf(id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, ContainerState::kRunning);
  EXPECT_EQ(after->pid, before->pid);
  auto sbs = rt_->ListPodSandboxes();
  ASSERT_EQ(sbs->size(), 1u);
  EXPECT_EQ((*sbs)[0].state, SandboxState::kReady);
  ASSERT_TRUE(rt_->StopPodSandbox(sb, 1s).ok());
  EXPECT_EQ(rt_->ContainerStatusOf(id)->state, ContainerState::kExited);
  EXPECT_EQ(rt_->PodSandboxStatusOf(sb)->state, SandboxState::kNotReady);
  ASSERT_TRUE(rt_->RemovePodSandbox(sb).ok());
  ExpectNoLeftovers();
}

TEST_F(RuntimeTest, CleanupAfterCrashLeavesNothing) {
  std::string sb1 = MustSandbox("crash1"), sb2 = MustSandbox("crash2");
  std::string c1 = MustStart(sb1, Ctr("c1", {"sleep", "3600"}));
  std::string c2 = MustStart(sb2, Ctr("c2", {"sleep", "3600"}));
  auto s1 = *rt_->ContainerStatusOf(c1);
  auto s2 = *rt_->ContainerStatusOf(c2);
  // Crash: conmon of c1 is killed; the records of sandbox 2 and its container are deleted.
  auto conmon_pid = ReadFile(base_ + "/state/containers/" + c1 + "/conmon.pid");
  ASSERT_TRUE(conmon_pid.ok());
  kill(std::atoi(conmon_pid->c_str()), SIGKILL);
  ::unlink((base_ + "/state/sandboxes/" + sb2 + "/sandbox.json").c_str());
  ::unlink((base_ + "/state/containers/" + c2 + "/meta.json").c_str());
  rt_.reset();
  rt_ = NewRuntime();
  ASSERT_NE(rt_, nullptr);
  ASSERT_TRUE(rt_->Cleanup({}).ok());
  EXPECT_TRUE(Eventually([&] { return ProcessStartTime(s1.pid) == 0 && ProcessStartTime(s2.pid) == 0; }, 10s));
  auto sbs = rt_->ListPodSandboxes();
  EXPECT_TRUE(sbs->empty());
  ExpectNoLeftovers();
}

TEST_F(RuntimeTest, BadInputFailsCleanly) {
  std::string sb = MustSandbox("bad");
  auto no_cmd = Ctr("nocmd", {"/does/not/exist"});
  // runc 1.1 reports a missing executable at create, newer ones at start; either way the start
  // fails with runc's reason and the container is Exited 128 StartError (as with containerd).
  auto r = rt_->CreateContainer(sb, no_cmd);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Status st = rt_->StartContainer(*r);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("exec: \"/does/not/exist\": stat /does/not/exist: no such file or directory"));
  EXPECT_THAT(st.message(), ::testing::Not(HasSubstr("level=error")));
  auto failed = rt_->ContainerStatusOf(*r);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->state, ContainerState::kExited);
  EXPECT_EQ(failed->exit_code, 128);
  EXPECT_EQ(failed->reason, "StartError");
  EXPECT_EQ(failed->message, st.message());
  auto no_layers = Ctr("nolayers", {"true"});
  no_layers.rootfs_lowerdirs.clear();
  EXPECT_EQ(rt_->CreateContainer(sb, no_layers).status().code(), StatusCode::kInvalid);
  EXPECT_EQ(rt_->CreateContainer("0123", Ctr("x", {"true"})).status().code(), StatusCode::kNotFound);
  auto ls = rt_->ListContainers(sb);
  ASSERT_TRUE(ls.ok());
  for (const auto& c : *ls) EXPECT_TRUE(rt_->RemoveContainer(c.id).ok());
  ASSERT_TRUE(rt_->RemovePodSandbox(sb).ok());
  ExpectNoLeftovers();
}

// ---- faults: conmon, the container process or runc killed

TEST_F(RuntimeTest, ConmonKilledCountsAsExitedAndTheContainerIsKilled) {
  std::string sb = MustSandbox("conmonkill");
  std::string id = MustStart(sb, Ctr("k", {"sleep", "3600"}));
  auto running = rt_->ContainerStatusOf(id);
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running->state, ContainerState::kRunning);
  auto conmon_pid = ReadFile(base_ + "/state/containers/" + id + "/conmon.pid");
  ASSERT_TRUE(conmon_pid.ok());
  ASSERT_EQ(kill(std::atoi(conmon_pid->c_str()), SIGKILL), 0);
  // The container's process outlives its monitor; the runtime must not report it Running.
  auto s = WaitExited(id);
  EXPECT_EQ(s.exit_code, 137);
  EXPECT_EQ(s.reason, "Error");
  EXPECT_THAT(s.message, HasSubstr("conmon"));
  EXPECT_EQ(ProcessStartTime(running->pid), 0u) << "the orphaned container process is killed";
  auto again = rt_->ContainerStatusOf(id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->finished_at, s.finished_at) << "the exit is recorded once";
  auto listed = rt_->ListContainers(sb);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state, ContainerState::kExited);
  // The restart the kubelet does next works in the same sandbox.
  std::string id2 = MustStart(sb, Ctr("k", {"sleep", "3600"}));
  EXPECT_EQ(rt_->ContainerStatusOf(id2)->state, ContainerState::kRunning);
  ASSERT_TRUE(rt_->RemovePodSandbox(sb).ok());
  ExpectNoLeftovers();
}

TEST_F(RuntimeTest, ContainerProcessKilledIs137) {
  std::string sb = MustSandbox("pkill");
  std::string id = MustStart(sb, Ctr("p", {"sleep", "3600"}));
  auto running = rt_->ContainerStatusOf(id);
  ASSERT_TRUE(running.ok());
  ASSERT_GT(running->pid, 0);
  ASSERT_EQ(kill(running->pid, SIGKILL), 0);
  auto s = WaitExited(id);
  EXPECT_EQ(s.exit_code, 137);
  EXPECT_EQ(s.reason, "Error");
  EXPECT_EQ(s.message, "") << "conmon saw the exit itself";
  ASSERT_TRUE(rt_->RemovePodSandbox(sb).ok());
  ExpectNoLeftovers();
}

// A runc wrapper (RuntimeOptions::runc_path) that is SIGKILLed once in the middle of `verb`:
// for create, while the real runc is setting the container up; for start, before it runs.
struct RuncKillCase {
  const char* verb;
};
class RuncKilledTest : public RuntimeTest, public ::testing::WithParamInterface<RuncKillCase> {};

TEST_P(RuncKilledTest, FailsCleanlyAndTheNextTrySucceeds) {
  const std::string verb = GetParam().verb;
  std::string wrapper = base_ + "/runc-wrapper", marker = base_ + "/runc-killed";
  std::ofstream(wrapper) << "#!/bin/sh\n"
                            "case \" $* \" in *\" " << verb << " \"*) ;; *) exec /usr/sbin/runc \"$@\";; esac\n"
                            "[ -e " << marker << " ] && exec /usr/sbin/runc \"$@\"\n"
                            ": > " << marker << "\n"
                         << (verb == "create" ? "/usr/sbin/runc \"$@\" &\nsleep 0.05\nkill -9 $! $$\n" : "kill -9 $$\n");
  ASSERT_EQ(chmod(wrapper.c_str(), 0755), 0);
  runc_path_ = wrapper;
  rt_ = NewRuntime();
  ASSERT_NE(rt_, nullptr);
  std::string sb = MustSandbox("runckill");
  auto c = Ctr("r", {"sleep", "3600"});
  auto id = rt_->CreateContainer(sb, c);
  Status st = id.ok() ? rt_->StartContainer(*id) : id.status();
  ASSERT_TRUE(PathExists(marker)) << "the wrapper ran";
  ASSERT_FALSE(st.ok()) << "runc was killed; the container cannot be running";
  EXPECT_EQ(st.code(), StatusCode::kInternal) << st.ToString();
  if (verb == "start") {
    // Not left waiting in "created": exited with containerd's StartError.
    auto s = WaitExited(*id);
    EXPECT_EQ(s.exit_code, 128);
    EXPECT_EQ(s.reason, "StartError");
    EXPECT_THAT(s.message, HasSubstr("runc start"));
    ASSERT_TRUE(rt_->RemoveContainer(*id).ok());
  } else {
    EXPECT_TRUE(rt_->ListContainers(sb)->empty()) << "a failed create leaves no container";
  }
  EXPECT_EQ(Sh("/usr/sbin/runc --root " + base_ + "/state/runc list -q"), "");
  Cgroups cg;
  EXPECT_THAT(cg.Children(cgroup_parent_ + "/pod" + Pod("runckill").uid), ::testing::ElementsAre("conmon"));
  // The next try goes through.
  std::string ok = MustStart(sb, c);
  EXPECT_EQ(rt_->ContainerStatusOf(ok)->state, ContainerState::kRunning);
  ASSERT_TRUE(rt_->RemovePodSandbox(sb).ok());
  ExpectNoLeftovers();
}

INSTANTIATE_TEST_SUITE_P(Verbs, RuncKilledTest, ::testing::Values(RuncKillCase{"create"}, RuncKillCase{"start"}),
                         [](const ::testing::TestParamInfo<RuncKillCase>& i) { return std::string(i.param.verb); });

}  // namespace
}  // namespace tug::runtime
