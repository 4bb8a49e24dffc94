// Scheduler throughput, like upstream scheduler_perf "SchedulingBasic": N nodes, M pending pods
// created before the scheduler starts; pods/s from the first to the last binding.
//
// Everything runs in this process against the real REST handler (SQLite store by default, as
// `tug server` uses) over the loopback transport. The baseline, measured in the same run, is a
// trivial round-robin binder that POSTs the same number of bindings with the same number of
// threads: the API's floor for binding M pods. The ratio scheduler/baseline says how close the
// scheduler comes to that floor. On a shared, overloaded host wall-clock rates swing with the
// load, so each phase also reports the process CPU time it used per pod (baseline: binding
// only; scheduler: scheduling + binding + events + the scheduler's watches), and the scheduling
// thread's own CPU per cycle, i.e. the rate one core could schedule at if binding were free.
// It allocates like build/tug (jemalloc with the binary's settings), and prints the store's
// group commits per phase (writes per commit: how well the bindings and Events share fsyncs).
//
//   scheduler_bench [--nodes 5000] [--pods 10000] [--store sqlite|memory] [--bind-workers 16]
//                   [--no-events] [--parallelism P]
// Prints one line per figure.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "api/schema.h"
#include "apiserver/rest/rest.h"
#include "base/log.h"
#include "client/client.h"
#include "client/loopback.h"
#include "scheduler/scheduler.h"
#include "store/memory/memory_store.h"
#include "store/sqlite/sqlite_store.h"

using namespace tug;
using Clk = std::chrono::steady_clock;

namespace {

Json Node(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
          {"spec", Json::object()},
          {"status", {{"capacity", {{"cpu", "4"}, {"memory", "32Gi"}, {"pods", "110"}}},
                      {"allocatable", {{"cpu", "4"}, {"memory", "32Gi"}, {"pods", "110"}}},
                      {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
}

Json Pod(const std::string& ns, const std::string& name, const std::string& scheduler) {
  Json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"spec", {{"containers", {{{"name", "pause"}, {"image", "registry.k8s.io/pause:3.10"},
                                       {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "500Mi"}}}}}}}}}}};
  if (!scheduler.empty()) p["spec"]["schedulerName"] = scheduler;
  return p;
}

// CPU time (user + system) of this process so far, seconds.
// CLOCK_MONOTONIC seconds: `perf record -k mono` samples carry the same clock, so the printed
// phase bounds can be passed to `perf report --time FIRST,LAST`.
double MonotonicSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// Runs fn(i) for i in [0, n) on `threads` threads; returns false on the first error.
bool Parallel(int n, int threads, const std::function<Status(int)>& fn) {
  std::atomic<int> next{0};
  std::atomic<bool> ok{true};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (int i; ok && (i = next++) < n;) {
        Status s = fn(i);
        if (!s.ok()) {
          std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
          ok = false;
        }
      }
    });
  for (auto& t : ts) t.join();
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 5000, pods = 10000, bind_workers = 16, parallelism = 0;
  std::string store_kind = "sqlite";
  bool events = true, baseline_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--nodes") nodes = std::atoi(next().c_str());
    else if (a == "--pods") pods = std::atoi(next().c_str());
    else if (a == "--store") store_kind = next();
    else if (a == "--bind-workers") bind_workers = std::atoi(next().c_str());
    else if (a == "--no-events") events = false;
    else if (a == "--baseline-only") baseline_only = true;  // for profiling the binding path
    else if (a == "--parallelism") parallelism = std::atoi(next().c_str());
    else {
      std::fprintf(stderr, "usage: %s [--nodes N] [--pods M] [--store sqlite|memory] [--bind-workers K] [--no-events] [--parallelism P]\n", argv[0]);
      return 2;
    }
  }
  log::SetVerbosity(0);
#ifdef TUG_JEMALLOC
  std::printf("allocator jemalloc (with build/tug's settings)\n");
#else
  std::printf("allocator system (libjemalloc-dev missing: build/tug allocates with the same)\n");
#endif

  char tmpl[] = "/tmp/tug-sched-bench-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 1;
  }
  std::string dir = tmpl;
  struct RemoveDir {
    std::string path;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } remove_dir{dir};
  int rc = 0;
  {
    store::StorePtr st;
    store::SqliteStore* sqlite = nullptr;  // for its commit figures
    if (store_kind == "memory") {
      st = store::NewMemoryStore();
    } else {
      auto s = store::OpenSqliteStoreTyped(dir + "/store.db");
      if (!s.ok()) {
        std::fprintf(stderr, "store: %s\n", s.status().ToString().c_str());
        return 1;
      }
      sqlite = s->get();
      st = std::move(s).value();
    }
    auto commits = [&] { return sqlite ? sqlite->Stats() : store::SqliteStats{}; };
    auto reg = api::Registry::Builtin();
    if (!reg.ok()) return 1;
    apiserver::rest::Options o;
    o.server_address = "127.0.0.1:6443";
    auto h = apiserver::rest::NewRestHandler(*st, *reg, o);
    if (!h.ok()) {
      std::fprintf(stderr, "rest: %s\n", h.status().ToString().c_str());
      return 1;
    }
    auto handler = std::move(h).value();
    apiserver::UserInfo user;
    user.name = "system:kube-scheduler";
    user.groups = {"system:masters", "system:authenticated"};
    client::Client c(client::NewLoopbackTransport(*handler, user));

    auto t0 = Clk::now();
    if (!Parallel(nodes, 8, [&](int i) { return c.Create(client::kNodes, "", Node("node-" + std::to_string(i))).status(); }))
      return 1;
    double node_s = std::chrono::duration<double>(Clk::now() - t0).count();
    std::printf("setup_nodes %d in %.2f s\n", nodes, node_s);

    // Baseline: the same number of pods, bound round-robin by a trivial binder.
    Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "baseline"}}}};
    (void)c.Create(client::kNamespaces, "", ns);
    if (!Parallel(pods, 8, [&](int i) {
          return c.Create(client::kPods, "baseline", Pod("baseline", "b-" + std::to_string(i), "baseline-binder")).status();
        }))
      return 1;
    auto b0 = Clk::now();
    double bmono0 = MonotonicSeconds();
    double bcpu0 = ProcessCpuSeconds();
    store::SqliteStats bstats0 = commits();
    if (!Parallel(pods, bind_workers, [&](int i) {
          std::string name = "b-" + std::to_string(i);
          Json binding = {{"apiVersion", "v1"}, {"kind", "Binding"}, {"metadata", {{"name", name}, {"namespace", "baseline"}}},
                          {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "node-" + std::to_string(i % nodes)}}}};
          return c.CreateSubresource(client::kPods, "baseline", name, "binding", binding).status();
        }))
      return 1;
    double base_s = std::chrono::duration<double>(Clk::now() - b0).count();
    double base_rate = pods / base_s;
    double base_cpu_us = (ProcessCpuSeconds() - bcpu0) * 1e6 / pods;
    std::printf("baseline_round_robin_bind %d pods in %.3f s = %.0f pods/s\n", pods, base_s, base_rate);
    std::printf("baseline_cpu_per_pod %.0f us\n", base_cpu_us);
    std::printf("baseline_phase_monotonic %.3f,%.3f (perf record -k mono; perf report --time)\n", bmono0, MonotonicSeconds());
    auto print_commits = [&](const char* phase, const store::SqliteStats& a, const store::SqliteStats& b) {
      int64_t tx = b.write_transactions - a.write_transactions, w = b.writes - a.writes;
      if (sqlite) std::printf("%s_store_commits %lld for %lld writes (%.1f writes per commit)\n", phase,
                              (long long)tx, (long long)w, tx ? static_cast<double>(w) / static_cast<double>(tx) : 0.0);
    };
    print_commits("baseline", bstats0, commits());

    if (baseline_only) {
      handler->Stop();
      return 0;
    }
    // The scheduler: M pending pods exist before it starts.
    auto p0 = Clk::now();
    if (!Parallel(pods, 8, [&](int i) { return c.Create(client::kPods, "default", Pod("default", "p-" + std::to_string(i), "")).status(); }))
      return 1;
    std::printf("setup_pending_pods %d in %.2f s\n", pods, std::chrono::duration<double>(Clk::now() - p0).count());

    scheduler::SchedulerOptions so;
    so.bind_workers = bind_workers;
    so.record_events = events;
    so.parallelism = parallelism;
    auto s0 = Clk::now();
    auto sr = scheduler::StartScheduler(c, so);
    if (!sr.ok()) {
      std::fprintf(stderr, "scheduler: %s\n", sr.status().ToString().c_str());
      return 1;
    }
    auto sched = std::move(sr).value();
    auto started = Clk::now();
    Clk::time_point first{}, last{};
    store::SqliteStats sstats0, sstats1;
    double cpu_first = 0, cpu_last = 0, mono_first = 0, mono_last = 0;
    auto deadline = Clk::now() + std::chrono::minutes(10);
    uint64_t total = static_cast<uint64_t>(pods);
    while (Clk::now() < deadline) {
      uint64_t b = sched->Stats().bound;
      if (b >= 1 && first == Clk::time_point{}) {
        first = Clk::now();
        mono_first = MonotonicSeconds();
        cpu_first = ProcessCpuSeconds();
        sstats0 = commits();
      }
      if (b >= total) {
        last = Clk::now();
        mono_last = MonotonicSeconds();
        cpu_last = ProcessCpuSeconds();
        sstats1 = commits();
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    scheduler::SchedulerStats stats = sched->Stats();
    if (last == Clk::time_point{}) {
      std::printf("scheduler did not bind all pods: bound=%llu attempts=%llu errors=%llu\n",
                  (unsigned long long)stats.bound, (unsigned long long)stats.attempts, (unsigned long long)stats.errors);
      rc = 1;
    } else {
      double sched_s = std::chrono::duration<double>(last - first).count();
      double rate = (pods - 1) / sched_s;
      std::printf("scheduler_start_to_synced %.3f s\n", std::chrono::duration<double>(started - s0).count());
      std::printf("scheduler_first_to_last_binding %d pods in %.3f s = %.0f pods/s\n", pods, sched_s, rate);
      std::printf("scheduler_phase_monotonic %.3f,%.3f (first to last binding)\n", mono_first, mono_last);
      std::printf("scheduler_vs_round_robin_binder_ratio %.2f\n", rate / base_rate);
      print_commits("scheduler", sstats0, sstats1);
      std::printf("scheduler_attempts %llu errors %llu\n", (unsigned long long)stats.attempts,
                  (unsigned long long)stats.errors);
      std::printf("scheduler_cycle_time_per_pod %.1f us, bind_time_per_pod %.1f us (%d bind threads)\n",
                  stats.cycle_seconds * 1e6 / stats.attempts, stats.bind_seconds * 1e6 / std::max<uint64_t>(1, stats.bound),
                  bind_workers);
      double sched_cpu_us = (cpu_last - cpu_first) * 1e6 / (pods - 1);
      double cycle_cpu_us = stats.cycle_cpu_seconds * 1e6 / std::max<uint64_t>(1, stats.attempts);
      std::printf("scheduler_cpu_per_pod %.0f us (process, first to last binding); vs baseline %.2fx\n", sched_cpu_us,
                  sched_cpu_us / base_cpu_us);
      std::printf("scheduler_cycle_cpu_per_pod %.1f us = %.0f pods/s per core (scheduling alone); %.2f of baseline_cpu_per_pod\n",
                  cycle_cpu_us, 1e6 / std::max(cycle_cpu_us, 1e-3), cycle_cpu_us / base_cpu_us);
    }
    // Stop flushes the recorder (bounded: what is still queued after 5 s is dropped), so the
    // Events that exist now say whether every binding got its Scheduled event.
    auto stop0 = Clk::now();
    sched->Stop();
    sched.reset();
    if (events && rc == 0) {
      std::printf("scheduler_stop_after_last_binding %.3f s (flushes events)\n",
                  std::chrono::duration<double>(Clk::now() - stop0).count());
      auto evs = c.List(client::kEvents, "default");
      size_t scheduled = 0;
      if (evs.ok())
        for (const Json& e : (*evs)["items"]) scheduled += GetString(e, "reason") == "Scheduled";
      std::printf("scheduled_events %zu of %d pods\n", scheduled, pods);
    }
    handler->Stop();
    handler.reset();
    st.reset();
  }
  return rc;
}
