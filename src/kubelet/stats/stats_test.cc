#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/testing/fake_clock.h"
#include "kubelet/stats/cgroup_stats.h"
#include "kubelet/stats/summary.h"

namespace tug::kubelet::stats {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A temporary fixture tree, removed at the end of the test.
class TempTree {
 public:
  TempTree() {
    char tmpl[] = "/tmp/tug-stats-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  ~TempTree() { fs::remove_all(root_); }
  const std::string& root() const { return root_; }
  void Write(const std::string& rel, const std::string& content) const {
    fs::path p = fs::path(root_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }

 private:
  std::string root_;
};

// ---- cgroup parsing, v1 and v2 fixtures

struct CgroupCase {
  std::string name;
  std::vector<std::pair<std::string, std::string>> files;
  std::string path;
  bool v2;
  CgroupSample want;
};

TEST(CgroupReaderTest, ParsesV1AndV2) {
  MemorySample limited;
  std::vector<CgroupCase> cases = {
      {"v2_unlimited",
       {{"cgroup.controllers", "cpu memory pids\n"},
        {"tug/podA/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"},
        {"tug/podA/memory.current", "10000\n"},
        {"tug/podA/memory.max", "max\n"},
        {"tug/podA/memory.stat", "anon 4000\nfile 5000\nactive_file 2000\ninactive_file 3000\npgfault 77\npgmajfault 3\n"}},
       "/tug/podA",
       true,
       {{1500000}, {10000, 7000, 4000, 77, 3, std::nullopt}}},
      {"v2_limited",
       {{"cgroup.controllers", "cpu memory\n"},
        {"tug/podB/c1/cpu.stat", "usage_usec 2\n"},
        {"tug/podB/c1/memory.current", "8192\n"},
        {"tug/podB/c1/memory.max", "65536\n"},
        {"tug/podB/c1/memory.stat", "anon 100\ninactive_file 192\n"}},
       "/tug/podB/c1",
       true,
       {{2000}, {8192, 8000, 100, 0, 0, 65536}}},
      {"v1_cpu_cpuacct_combined",
       {{"cpu,cpuacct/tug/podC/cpuacct.usage", "123456789\n"},
        {"memory/tug/podC/memory.usage_in_bytes", "20480\n"},
        {"memory/tug/podC/memory.limit_in_bytes", "9223372036854771712\n"},
        {"memory/tug/podC/memory.stat",
         "cache 100\nrss 50\ninactive_file 99999\ntotal_rss 4096\ntotal_inactive_file 480\ntotal_pgfault 9\ntotal_pgmajfault 1\n"}},
       "/tug/podC",
       false,
       {{123456789}, {20480, 20000, 4096, 9, 1, std::nullopt}}},
      {"v1_separate_limited_inactive_above_usage",
       {{"cpuacct/tug/podD/cpuacct.usage", "5\n"},
        {"memory/tug/podD/memory.usage_in_bytes", "100\n"},
        {"memory/tug/podD/memory.limit_in_bytes", "1048576\n"},
        {"memory/tug/podD/memory.stat", "total_inactive_file 200\n"}},
       "/tug/podD/",
       false,
       {{5}, {100, 0, 0, 0, 0, 1048576}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    TempTree t;
    for (const auto& [p, content] : c.files) t.Write(p, content);
    CgroupReader r(t.root());
    EXPECT_EQ(r.v2(), c.v2);
    auto s = r.Read(c.path);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->cpu.usage_core_ns, c.want.cpu.usage_core_ns);
    EXPECT_EQ(s->memory.usage_bytes, c.want.memory.usage_bytes);
    EXPECT_EQ(s->memory.working_set_bytes, c.want.memory.working_set_bytes);
    EXPECT_EQ(s->memory.rss_bytes, c.want.memory.rss_bytes);
    EXPECT_EQ(s->memory.page_faults, c.want.memory.page_faults);
    EXPECT_EQ(s->memory.major_page_faults, c.want.memory.major_page_faults);
    EXPECT_EQ(s->memory.limit_bytes, c.want.memory.limit_bytes);
    auto missing = r.Read("/tug/nope");
    EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  }
}

TEST(CgroupReaderTest, ReadsThisMachine) {
  CgroupReader r;  // the real /sys/fs/cgroup: the root cgroup always has usage
  auto s = r.Read("/");
  if (!s.ok()) GTEST_SKIP() << "no readable cgroup root: " << s.status().ToString();
  EXPECT_GT(s->cpu.usage_core_ns, 0u);
}

// ---- /proc parsing

TEST(ProcTest, ProcStat) {
  std::string text =
      "cpu  100 20 30 1000 5 6 7 8 9 10\ncpu0 50 10 15 500 2 3 3 4 0 0\nintr 1 2 3\nbtime 1700000000\nprocesses 5\n";
  auto c = ParseProcStat(text, 100);
  ASSERT_TRUE(c.ok());
  // user+nice+system+irq+softirq+steal = 100+20+30+6+7+8 = 171 ticks of 10 ms.
  EXPECT_EQ(c->usage_core_ns, 171u * 10000000u);
  EXPECT_EQ(c->boot_time, 1700000000);
  EXPECT_FALSE(ParseProcStat("intr 1\n", 100).ok());
}

TEST(ProcTest, Meminfo) {
  std::string text =
      "MemTotal:       16000 kB\nMemFree:         4000 kB\nMemAvailable:   9000 kB\nInactive(file):  3000 kB\n"
      "AnonPages:       2500 kB\n";
  auto m = ParseMeminfo(text);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->total_bytes, 16000u * 1024);
  EXPECT_EQ(m->usage_bytes, 12000u * 1024);
  EXPECT_EQ(m->working_set_bytes, 9000u * 1024);
  EXPECT_EQ(m->rss_bytes, 2500u * 1024);
  EXPECT_EQ(m->available_bytes, 7000u * 1024);
  EXPECT_FALSE(ParseMeminfo("Foo: 1 kB\n").ok());
}

TEST(ProcTest, NetDev) {
  std::string text =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
      "    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n"
      "  eth0: 5000 50 2 0 0 0 0 0 7000 70 3 0 0 0 0 0\n"
      "veth1234: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n"
      "tug0: 9 9 0 0 0 0 0 0 9 9 0 0 0 0 0 0\n";
  auto all = ParseNetDev(text, false);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].name, "eth0");
  EXPECT_EQ(all[0].rx_bytes, 5000u);
  EXPECT_EQ(all[0].rx_errors, 2u);
  EXPECT_EQ(all[0].tx_bytes, 7000u);
  EXPECT_EQ(all[0].tx_errors, 3u);
  auto host = ParseNetDev(text, true);
  ASSERT_EQ(host.size(), 1u);
  EXPECT_EQ(host[0].name, "eth0");
}

TEST(ProcTest, StatFs) {
  auto f = StatFs("/");
  ASSERT_TRUE(f.ok());
  EXPECT_GT(f->capacity_bytes, 0u);
  EXPECT_LE(f->available_bytes, f->capacity_bytes);
  EXPECT_EQ(f->inodes_used, f->inodes - f->inodes_free);
  EXPECT_EQ(StatFs("/no/such/dir").status().code(), StatusCode::kNotFound);
}

// ---- usageNanoCores

TEST(CpuRateTrackerTest, Table) {
  struct Step {
    std::chrono::milliseconds at;
    uint64_t cumulative;
    std::optional<uint64_t> want;
  };
  struct Case {
    std::string name;
    std::vector<Step> steps;
  };
  const SystemTime t0 = SystemTime(std::chrono::seconds(1700000000));
  std::vector<Case> cases = {
      {"first_reading_has_no_rate", {{0ms, 100, std::nullopt}}},
      {"half_a_core_over_10s", {{0ms, 0, std::nullopt}, {10000ms, 5000000000, 500000000}}},
      {"too_soon_then_ok", {{0ms, 0, std::nullopt}, {500ms, 100, std::nullopt}, {2000ms, 4000000000, 2000000000}}},
      // After a reading >= interval apart the reference moves; a quick reading keeps the last rate
      // and the next one is measured from the new reference.
      {"reference_moves",
       {{0ms, 0, std::nullopt},
        {10000ms, 10000000000, 1000000000},
        {10100ms, 10000000001, 1000000000},
        {12000ms, 10500000000, 250000000}}},
      {"counter_reset_starts_over", {{0ms, 1000000000, std::nullopt}, {5000ms, 10, std::nullopt}, {7000ms, 2000000010, 1000000000}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CpuRateTracker r(1s, 10s);
    for (const auto& s : c.steps) {
      SCOPED_TRACE(s.at.count());
      EXPECT_EQ(r.Update("k", t0 + s.at, s.cumulative), s.want);
    }
  }
  CpuRateTracker r(1s, 10s);
  r.Update("a", t0, 1);
  r.Update("b", t0, 1);
  r.Retain({"b"});
  EXPECT_EQ(r.size(), 1u);
}

// ---- the summary document

class SummaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cg_.Write("cgroup.controllers", "cpu memory\n");
    SetCpu("tug", 1000);
    Mem("tug", 300000, 100000);
    SetCpu("tug/poduid1", 1000);
    Mem("tug/poduid1", 200000, 50000);
    SetCpu("tug/poduid1/cid1", 1000);
    Mem("tug/poduid1/cid1", 150000, 50000);
    proc_.Write("stat", "cpu  100 0 100 1000 0 0 0 0 0 0\nbtime 1600000000\n");
    proc_.Write("meminfo", "MemTotal: 1000 kB\nMemFree: 400 kB\nInactive(file): 100 kB\nAnonPages: 200 kB\n");
    proc_.Write("vmstat", "pgfault 10\npgmajfault 2\n");
    proc_.Write("net/dev", "h\nh\n  eth0: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0\n");
    proc_.Write("4242/net/dev", "h\nh\n  eth0: 11 0 0 0 0 0 0 0 22 0 0 0 0 0 0 0\n");
    proc_.Write("sys/kernel/pid_max", "4194304\n");
    proc_.Write("loadavg", "0.00 0.01 0.05 2/321 999\n");
  }
  void SetCpu(const std::string& dir, uint64_t usec) { cg_.Write(dir + "/cpu.stat", "usage_usec " + std::to_string(usec) + "\n"); }
  void Mem(const std::string& dir, uint64_t usage, uint64_t inactive) {
    cg_.Write(dir + "/memory.current", std::to_string(usage) + "\n");
    cg_.Write(dir + "/memory.stat", "anon 1234\ninactive_file " + std::to_string(inactive) + "\n");
  }
  CollectorOptions Options() {
    CollectorOptions o;
    o.node_name = "n1";
    o.cgroup_root = cg_.root();
    o.proc_root = proc_.root();
    o.root_fs_path = "/";
    o.clock = &clock_;
    o.ticks_per_second = 100;
    return o;
  }
  PodLister Pods() {
    return [this]() -> Result<std::vector<PodInfo>> {
      PodInfo p;
      p.ns = "default";
      p.name = "web";
      p.uid = "uid1";
      p.start_time = clock_.Now();
      p.cgroup_path = "/tug/poduid1";
      p.net_pid = 4242;
      p.containers.push_back(ContainerInfo{"app", "cid1", "/tug/poduid1/cid1", "", clock_.Now()});
      p.containers.push_back(ContainerInfo{"gone", "cid2", "/tug/poduid1/cid2", "", clock_.Now()});
      return std::vector<PodInfo>{p};
    };
  }
  TempTree cg_, proc_;
  testing::FakeClock clock_;
};

TEST_F(SummaryTest, Shape) {
  SummaryCollector c(Pods(), Options());
  auto s = c.Summary();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const Json& node = (*s)["node"];
  EXPECT_EQ(node["nodeName"], "n1");
  EXPECT_EQ(node["startTime"], "2020-09-13T12:26:40Z");
  EXPECT_EQ(node["cpu"]["usageCoreNanoSeconds"], 200u * 10000000u);
  EXPECT_FALSE(node["cpu"].contains("usageNanoCores"));  // one reading only
  EXPECT_EQ(node["memory"]["usageBytes"], 600u * 1024);
  EXPECT_EQ(node["memory"]["workingSetBytes"], 500u * 1024);
  EXPECT_EQ(node["memory"]["availableBytes"], 500u * 1024);
  EXPECT_EQ(node["memory"]["rssBytes"], 200u * 1024);
  EXPECT_EQ(node["memory"]["pageFaults"], 10u);
  EXPECT_EQ(node["network"]["name"], "eth0");
  EXPECT_EQ(node["network"]["rxBytes"], 1u);
  EXPECT_GT(node["fs"]["capacityBytes"].get<uint64_t>(), 0u);
  EXPECT_TRUE(node["runtime"]["imageFs"].contains("availableBytes"));
  EXPECT_EQ(node["rlimit"]["maxpid"], 4194304);
  EXPECT_EQ(node["rlimit"]["curproc"], 321);
  EXPECT_EQ(node["systemContainers"][0]["name"], "pods");
  EXPECT_EQ(node["systemContainers"][0]["memory"]["workingSetBytes"], 200000u);

  ASSERT_EQ((*s)["pods"].size(), 1u);
  const Json& pod = (*s)["pods"][0];
  EXPECT_EQ(pod["podRef"], (Json{{"name", "web"}, {"namespace", "default"}, {"uid", "uid1"}}));
  EXPECT_EQ(pod["cpu"]["usageCoreNanoSeconds"], 1000000u);
  EXPECT_EQ(pod["memory"]["workingSetBytes"], 150000u);
  EXPECT_EQ(pod["network"]["rxBytes"], 11u);
  EXPECT_EQ(pod["network"]["txBytes"], 22u);
  ASSERT_EQ(pod["containers"].size(), 1u) << "the container without a cgroup is left out";
  const Json& ctr = pod["containers"][0];
  EXPECT_EQ(ctr["name"], "app");
  EXPECT_EQ(ctr["memory"]["usageBytes"], 150000u);
  EXPECT_EQ(ctr["memory"]["workingSetBytes"], 100000u);
  EXPECT_EQ(ctr["memory"]["rssBytes"], 1234u);
  EXPECT_FALSE(ctr["memory"].contains("availableBytes"));  // no limit
  EXPECT_TRUE(ctr.contains("rootfs"));
  EXPECT_TRUE(ctr.contains("logs"));
}

TEST_F(SummaryTest, UsageNanoCoresFromDeltas) {
  SummaryCollector c(Pods(), Options());
  ASSERT_TRUE(c.Summary().ok());
  clock_.Advance(10s);
  SetCpu("tug/poduid1/cid1", 1000 + 2500000);  // 2.5 s of CPU in 10 s: 250m
  SetCpu("tug/poduid1", 1000 + 5000000);       // 500m
  proc_.Write("stat", "cpu  200 0 200 1000 0 0 0 0 0 0\nbtime 1600000000\n");  // +200 ticks = 2 s: 200m
  auto s = c.Summary();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)["node"]["cpu"]["usageNanoCores"], 200000000u);
  EXPECT_EQ((*s)["pods"][0]["cpu"]["usageNanoCores"], 500000000u);
  EXPECT_EQ((*s)["pods"][0]["containers"][0]["cpu"]["usageNanoCores"], 250000000u);
  EXPECT_EQ((*s)["pods"][0]["containers"][0]["cpu"]["time"], FormatRFC3339(clock_.Now()));

  std::string prom = ResourceMetricsText(*s);
  EXPECT_NE(prom.find("# TYPE container_cpu_usage_seconds_total counter\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("container_cpu_usage_seconds_total{container=\"app\",namespace=\"default\",pod=\"web\"} 2.501 1700000010000\n"),
            std::string::npos)
      << prom;
  EXPECT_NE(prom.find("pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 150000 1700000010000\n"), std::string::npos)
      << prom;
  EXPECT_NE(prom.find("node_cpu_usage_seconds_total 4 1700000010000\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("resource_scrape_error 0\n"), std::string::npos) << prom;
}

TEST_F(SummaryTest, PodListErrorIsAnError) {
  SummaryCollector c([]() -> Result<std::vector<PodInfo>> { return InternalError("runtime down"); }, Options());
  EXPECT_FALSE(c.Summary().ok());
}

TEST_F(SummaryTest, BackgroundSampling) {
  auto o = Options();
  o.interval = 5ms;  // the thread samples until stopped
  SummaryCollector c(Pods(), o);
  c.Start();
  c.Stop();
  c.Stop();  // idempotent
}

}  // namespace
}  // namespace tug::kubelet::stats

namespace tug::kubelet::stats {
namespace {
TEST_F(SummaryTest, Endpoints) {
  SummaryCollector c(Pods(), Options());
  auto eps = Endpoints(c);
  ASSERT_EQ(eps.size(), 2u);
  auto s = eps.at("/stats/summary")();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->first, "application/json");
  EXPECT_EQ(ParseJson(s->second).value()["node"]["nodeName"], "n1");
  auto m = eps.at("/metrics/resource")();
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->second.find("pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"}"), std::string::npos);
}
}  // namespace
}  // namespace tug::kubelet::stats
