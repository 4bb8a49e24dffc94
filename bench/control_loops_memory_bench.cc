// Memory of the control loops at density, in-process (issue 6, DESIGN.md §4 "one copy of each
// object per process"): an API server (memory store, the real REST handler and watch caches),
// simulated nodes, the controller manager and the scheduler in one process, as `tug server`
// runs them, filled with pods by 100-replica Deployments. Each variant runs in its own child
// process (fork before any thread), so their RSS figures are comparable:
//
//   separate  the controller manager and the scheduler each own an informer factory (baseline)
//   shared    both take a scope over one factory (cmd/tug/control_loops.cc)
//
// Prints per variant: RSS and malloc'd heap after the fill (and after compacting the store's
// history), RSS per pod, time until all Deployments are Available, and the time for one more
// 30-replica Deployment; then the ratio shared/separate of the heap above the idle process, and
// (density_util.h) per resource: objects, JSON bytes, and the tree cost of one informer copy.
//
//   control_loops_memory_bench [--nodes 100] [--pods 5000] [--variant both|shared|separate]
//                              [--timeout-minutes 10]
#include <fcntl.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "density_util.h"
#include "client/informer.h"
#include "client/testing/test_api_server.h"
#include "controllers/manager.h"
#include "scheduler/scheduler.h"
#include "simnodes/simnodes.h"

namespace {

using SteadyClock = std::chrono::steady_clock;
using tug::Json;
namespace client = tug::client;

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

double HeapMb() { return static_cast<double>(tug::bench::HeapInUse()) / (1 << 20); }

// Deployments in "density" whose status caught up with spec and are all available.
int Available(const client::Client& c) {
  auto list = c.ListAll(client::kDeployments, "density");
  if (!list.ok()) return -1;
  int n = 0;
  for (const Json& d : (*list)["items"]) {
    int want = d["spec"].value("replicas", 1);
    const Json& st = d.value("status", Json::object());
    if (st.value("observedGeneration", 0) >= d["metadata"].value("generation", 1) &&
        st.value("availableReplicas", 0) == want && st.value("updatedReplicas", 0) == want)
      ++n;
  }
  return n;
}

double WaitAvailable(const client::Client& c, int want, SteadyClock::time_point start, std::chrono::minutes limit) {
  while (SteadyClock::now() < start + limit) {
    if (Available(c) == want) return Seconds(SteadyClock::now() - start);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return -1;
}

void Line(const std::string& variant, const std::string& what, double v, const char* unit) {
  if (v < 0)
    std::printf("%-9s %-40s    timeout\n", variant.c_str(), what.c_str());
  else
    std::printf("%-9s %-40s %10.2f %s\n", variant.c_str(), what.c_str(), v, unit);
  std::fflush(stdout);
}

// One variant, in this (child) process. Returns the heap growth above idle, in MB (-1: failed).
double RunVariant(const std::string& variant, int nodes, int pods, std::chrono::minutes limit) {
  const bool shared = variant == "shared";
  double idle_rss = tug::bench::ReadProc(getpid()).rss_mb;
  double idle_heap = HeapMb();
  client::testing::TestApiServer api;
  if (!api.ok()) return -1;
  client::Client sim_client = api.NewClient("system:node:simnodes");
  client::Client cm_client = api.NewClient("system:kube-controller-manager");
  client::Client sched_client = api.NewClient("system:kube-scheduler");
  client::Client informer_client = api.NewClient("system:tug-control-loops");
  const client::Client& c = api.client();

  tug::simnodes::Options sim_opts;
  sim_opts.count = nodes;
  sim_opts.startup_delay = std::chrono::milliseconds(200);
  tug::simnodes::SimNodes sim(sim_client, sim_opts);
  if (tug::Status st = sim.Start(); !st.ok()) {
    std::cerr << "simnodes: " << st.ToString() << "\n";
    return -1;
  }
  // As cmd/tug/control_loops.cc: one factory for both loops, or (baseline) none.
  std::unique_ptr<client::InformerFactory> informers;
  if (shared) {
    informers = std::make_unique<client::InformerFactory>(informer_client);
    client::UseControlLoopCache(*informers);
  }
  tug::controllers::Options co;
  co.shared_informers = informers.get();
  auto mgr = tug::controllers::StartControllers(cm_client, co);
  tug::scheduler::SchedulerOptions so;
  so.shared_informers = informers.get();
  auto sched = tug::scheduler::StartScheduler(sched_client, std::move(so));
  if (!mgr.ok() || !sched.ok()) {
    std::cerr << "control loops did not start\n";
    return -1;
  }
  (void)c.Create(client::kNamespaces, "", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "density"}}}});

  const int fill = std::max(1, (pods + 99) / 100);
  auto t0 = SteadyClock::now();
  std::atomic<int> next{0};
  std::vector<std::thread> creators;
  for (int w = 0; w < 4; ++w)
    creators.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < fill;) {
        Json d = tug::bench::DensityDeployment("density", "fill-" + std::to_string(i), 100);
        if (auto r = c.Create(client::kDeployments, "density", d); !r.ok())
          std::cerr << "create: " << r.status().ToString() << "\n";
      }
    });
  for (auto& t : creators) t.join();
  double fill_s = WaitAvailable(c, fill, t0, limit);
  Line(variant, std::to_string(fill * 100) + " pods on " + std::to_string(nodes) + " nodes Available", fill_s, "s");
  // Settle (controllers' follow-up status writes, scheduler events), then measure.
  std::this_thread::sleep_for(std::chrono::seconds(5));
  Line(variant, "heap in use above idle, before compaction", HeapMb() - idle_heap, "MB");
  // The memory store keeps every revision until compacted (`tug server`'s SQLite store keeps at
  // most 10,000 in memory): compact, so what remains is the current state and the caches.
  (void)api.store().Compact(api.store().CurrentRevision());
  malloc_trim(0);
  double rss = tug::bench::ReadProc(getpid()).rss_mb;
  double heap = HeapMb();
  Line(variant, "RSS (whole process)", rss, "MB");
  Line(variant, "RSS per pod above idle", (rss - idle_rss) * 1024.0 / (fill * 100), "KiB");
  Line(variant, "heap in use above idle", heap - idle_heap, "MB");
  if (shared)
    tug::bench::MemoryBreakdown(c, [&](const std::string& what, double v, const char* unit, const std::string& note) {
      std::printf("%-9s %-40s %10.2f %s  %s\n", "objects", what.c_str(), v, unit, note.c_str());
    });

  t0 = SteadyClock::now();
  (void)c.Create(client::kDeployments, "density", tug::bench::DensityDeployment("density", "probe-30", 30));
  Line(variant, "30-replica Deployment Available", WaitAvailable(c, fill + 1, t0, std::chrono::minutes(5)), "s");

  (*sched)->Stop();
  (*mgr)->Stop();
  if (informers) informers->Stop();
  sim.Stop();
  return heap - idle_heap;
}

}  // namespace

int main(int argc, char** argv) {
  // As `tug server` (cmd/tug/main.cc), before any thread.
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  std::vector<std::string> args(argv + 1, argv + argc);
  const int nodes = tug::bench::IntFlag(args, "--nodes", 100);
  const int pods = tug::bench::IntFlag(args, "--pods", 5000);
  const auto limit = std::chrono::minutes(tug::bench::IntFlag(args, "--timeout-minutes", 10));
  std::string which = "both";
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--variant") which = args[i + 1];

  std::vector<std::string> variants;
  if (which == "both" || which == "separate") variants.push_back("separate");
  if (which == "both" || which == "shared") variants.push_back("shared");
  std::vector<double> heap;
  for (const std::string& v : variants) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      double h = RunVariant(v, nodes, pods, limit);
      (void)!write(fds[1], &h, sizeof h);
      std::fflush(stdout);
      _exit(h < 0 ? 1 : 0);
    }
    close(fds[1]);
    double h = -1;
    if (read(fds[0], &h, sizeof h) != sizeof h) h = -1;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    heap.push_back(h);
  }
  if (heap.size() == 2 && heap[0] > 0 && heap[1] > 0)
    std::printf("%-9s %-40s %10.2f x\n", "ratio", "heap above idle, shared / separate", heap[1] / heap[0]);
  return 0;
}
