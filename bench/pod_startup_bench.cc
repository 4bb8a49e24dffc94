// Pod startup latency and agent footprint (issue 5 performance figures; root only).
//
// Starts the local test registry (tools/test-images.sh) and a real `tug server` with its built-in
// agent on its own bridge, cgroup parent and pod range, then measures, with the image present:
//   sequential: create -> Running of N pods one after another (p50, p99);
//   parallel:   N pods created at once, each create -> Running (p50, p99);
//   floor:      runc create+start of the same container in a prepared netns, measured in the
//               same invocation by bench/runtime_bench — the figures are also printed as ratios.
// Then it starts a separate `tug agent` (the remote-node form) with no pods and reports its RSS
// after 10 s idle.
//
//   pod_startup_bench [--pods 30]
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "client/client.h"
#include "e2e/harness.h"

namespace {

using SteadyClock = std::chrono::steady_clock;
using tug::Json;
namespace client = tug::client;
namespace e2e = tug::e2e;
using namespace std::chrono_literals;

const char* kNode = "bench-node";
const char* kBridge = "tugbench0";
const char* kCgroup = "/tug-bench";
const char* kAgentBridge = "tugbench1";
const char* kAgentCgroup = "/tug-bench-agent";

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

Json Pod(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec",
           {{"terminationGracePeriodSeconds", 0},
            {"containers", Json::array({{{"name", "c"}, {"image", "busybox"}, {"command", {"sleep", "3600"}}}})}}}};
}

bool IsRunning(const Json& p) {
  const Json* ph = tug::FindPath(p, {"status", "phase"});
  return ph && ph->is_string() && *ph == "Running";
}

// Polls the pod list until every name in `start` is Running; returns each pod's latency (ms).
std::vector<double> WaitRunning(const client::Client& c, const std::map<std::string, SteadyClock::time_point>& start,
                                std::chrono::seconds limit) {
  std::map<std::string, double> done;
  auto deadline = SteadyClock::now() + limit;
  while (done.size() < start.size() && SteadyClock::now() < deadline) {
    auto list = c.List(client::kPods, "default");
    auto now = SteadyClock::now();
    if (list.ok())
      for (const Json& p : (*list)["items"]) {
        std::string name = tug::GetStringPath(p, {"metadata", "name"});
        auto it = start.find(name);
        if (it != start.end() && !done.count(name) && IsRunning(p)) done[name] = Ms(now - it->second);
      }
    std::this_thread::sleep_for(5ms);  // polling interval: the latency resolution
  }
  std::vector<double> out;
  for (auto& [n, ms] : done) out.push_back(ms);
  return out;
}

void DeleteAll(const client::Client& c) {
  auto list = c.List(client::kPods, "default");
  if (list.ok())
    for (const Json& p : (*list)["items"])
      (void)c.Delete(client::kPods, "default", tug::GetStringPath(p, {"metadata", "name"}));
  for (int i = 0; i < 600; ++i) {
    auto l = c.List(client::kPods, "default");
    if (l.ok() && (*l)["items"].empty()) return;
    std::this_thread::sleep_for(100ms);
  }
}

void RemoveCgroups(const std::string& parent) {
  for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/pids",
                           "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"}) {
    std::string dir = std::string(root) + parent;
    if (!std::filesystem::exists(dir)) continue;
    // Deepest first: a cgroup directory can only be removed once it has no children.
    std::vector<std::string> dirs;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir))
      if (e.is_directory()) dirs.push_back(e.path());
    std::sort(dirs.rbegin(), dirs.rend());
    for (auto& d : dirs) ::rmdir(d.c_str());
    ::rmdir(dir.c_str());
  }
}

// The runc floor from bench/runtime_bench (same machine, same moment): p50 ms, or -1.
double RuncFloorMs() {
  auto r = e2e::Run({TUG_RUNTIME_BENCH_PATH, "10"}, "", {}, 300s);
  auto at = r.out.find("runtime floor");
  if (r.rc != 0 || at == std::string::npos) {
    std::cerr << "runtime_bench failed: " << r.out << r.err << "\n";
    return -1;
  }
  auto p = r.out.find("p50 ", at);
  double v = -1;
  if (p != std::string::npos) v = std::stod(r.out.substr(p + 4));
  return v;
}

void Report(const std::string& what, const std::vector<double>& ms, int want, double floor) {
  double p50 = Pct(ms, 0.5), p99 = Pct(ms, 0.99);
  std::printf("%-40s p50 %7.1f ms  p99 %7.1f ms  (%zu/%d Running)", what.c_str(), p50, p99, ms.size(), want);
  if (floor > 0) std::printf("  p50 %.1fx floor, p99 %.1fx floor", p50 / floor, p99 / floor);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const int n = tug::bench::IntFlag(args, "--pods", 30);
  if (geteuid() != 0) {
    std::cerr << "pod_startup_bench: needs root\n";
    return 1;
  }
  const std::string src = TUG_SOURCE_DIR;
  std::string reg_dir = e2e::MakeTempDir("tug-bench-reg");
  std::string run_dir = e2e::MakeTempDir("tug-bench-run");
  int reg_port = e2e::FreePort();
  auto reg = e2e::Run({src + "/tools/test-images.sh", "--port", std::to_string(reg_port), "--dir", reg_dir}, "", {}, 600s);
  if (reg.rc != 0) {
    std::cerr << "test images: " << reg.out << reg.err << "\n";
    return 1;
  }
  int rc = 0;
  {
    e2e::TugServer server({"--disable-agent=false", "--node-name", kNode, "--run-dir", run_dir, "--kubelet-port", "0",
                           "--cni-bridge", kBridge, "--cluster-cidr", "10.236.0.0/16", "--cgroup-parent", kCgroup});
    std::filesystem::create_directories(server.data_dir() + "/agent");
    std::ofstream(server.data_dir() + "/agent/registries.yaml")
        << "mirrors:\n  docker.io:\n    endpoint:\n      - \"http://127.0.0.1:" << reg_port << "\"\n";
    std::string why;
    if (!server.Start(&why)) {
      std::cerr << why << "\n";
      return 1;
    }
    auto config = client::LoadKubeconfig(server.kubeconfig());
    if (!config.ok()) {
      std::cerr << config.status().ToString() << "\n";
      return 1;
    }
    client::Client c(client::NewHttpsTransport(*config));
    // The default ServiceAccount must exist before pods are admitted.
    for (int i = 0; i < 300 && !c.Get(client::kServiceAccounts, "default", "default").ok(); ++i)
      std::this_thread::sleep_for(100ms);

    // Warm-up: pulls the image, so the figures are "image present".
    (void)c.Create(client::kPods, "default", Pod("warm"));
    if (WaitRunning(c, {{"warm", SteadyClock::now()}}, 300s).empty()) {
      std::cerr << "warm-up pod did not run\n" << server.log() << "\n";
      rc = 1;
    }
    DeleteAll(c);

    std::vector<double> seq;
    for (int i = 0; rc == 0 && i < n; ++i) {
      std::string name = "seq-" + std::to_string(i);
      auto t = SteadyClock::now();
      if (!c.Create(client::kPods, "default", Pod(name)).ok()) continue;
      auto one = WaitRunning(c, {{name, t}}, 120s);
      seq.insert(seq.end(), one.begin(), one.end());
    }
    DeleteAll(c);

    std::map<std::string, SteadyClock::time_point> starts;
    std::vector<std::thread> threads;
    std::mutex mu;
    for (int i = 0; rc == 0 && i < n; ++i)
      threads.emplace_back([&, i] {
        std::string name = "par-" + std::to_string(i);
        auto t = SteadyClock::now();
        if (c.Create(client::kPods, "default", Pod(name)).ok()) {
          std::lock_guard<std::mutex> l(mu);
          starts[name] = t;
        }
      });
    for (auto& t : threads) t.join();
    std::vector<double> par = rc == 0 ? WaitRunning(c, starts, 300s) : std::vector<double>{};
    DeleteAll(c);

    double floor = RuncFloorMs();
    std::printf("%-40s p50 %7.1f ms\n", "floor: runc create+start, prepared netns", floor);
    Report("pod create->Running, " + std::to_string(n) + " sequential", seq, n, floor);
    Report("pod create->Running, " + std::to_string(n) + " parallel", par, n, floor);

    // A remote-form agent (`tug agent --token`) with nothing to run: its idle footprint.
    std::string token;
    std::ifstream(server.data_dir() + "/agent-token") >> token;
    std::string agent_dir = e2e::MakeTempDir("tug-bench-agent");
    {
      e2e::Background agent({e2e::TugBinary(), "agent", "--server", "https://127.0.0.1:" + std::to_string(server.port()),
                             "--token", token, "--ca-file", server.data_dir() + "/tls/ca.crt", "--node-name",
                             "bench-agent", "--data-dir", agent_dir + "/data", "--run-dir", agent_dir + "/run",
                             "--kubelet-port", "0", "--cni-bridge", kAgentBridge, "--cluster-cidr", "10.237.0.0/16",
                             "--cgroup-parent", kAgentCgroup});
      if (agent.WaitFor("agent ready", 60s)) {
        std::this_thread::sleep_for(10s);  // idle: heartbeats and lease renewals only
        std::printf("%-40s %7.1f MB  (target < 25 MB)\n", "agent idle RSS (tug agent, no pods)", tug::bench::ReadProc(agent.pid()).rss_mb);
      } else {
        std::cerr << "tug agent did not start:\n" << agent.Output() << "\n";
        rc = 1;
      }
      agent.Stop();
    }
    std::printf("%-40s %7.1f MB\n", "tug server RSS (control plane + agent)", tug::bench::ReadProc(server.pid()).rss_mb);
    server.Stop();
    e2e::Run({"umount", "-R", "-l", agent_dir});
    e2e::RemoveTree(agent_dir);
  }
  e2e::Run({src + "/tools/registry.sh", "stop", "--dir", reg_dir + "/registry"});
  e2e::Run({"umount", "-R", "-l", run_dir});
  e2e::RemoveTree(reg_dir);
  e2e::RemoveTree(run_dir);
  for (const char* br : {kBridge, kAgentBridge}) e2e::Run({"ip", "link", "del", br});
  RemoveCgroups(kCgroup);
  RemoveCgroups(kAgentCgroup);
  return rc;
}
