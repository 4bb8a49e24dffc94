// Control-plane density and churn on simulated nodes (issue 6 performance figures), like
// Kubernetes' kubemark density test. Starts a real `tug server` and `tug simnodes`, then:
//
//   1. registers --nodes simulated nodes (one simnodes process);
//   2. churn: --churn Deployments x 3 replicas created at once -> time until all Available;
//   3. density: Deployments of 100 replicas until --pods pods exist (churn pods included)
//      -> time until all Available; server RSS and CPU time at that density;
//   4. a 30-replica Deployment created on the full cluster -> time until Available;
//   5. where the memory goes: per resource, objects, JSON bytes and the parsed-tree cost of one
//      informer copy (DESIGN.md §4 budget: resident cost of a cached object <= 3x its JSON).
//
// Prints one line per figure. A phase that does not converge within its bound prints
// "timeout" and the bench goes on (controllers or scheduler may be missing from the binary).
//
//   density_bench [--nodes 1000] [--pods 30000] [--churn 1000] [--workers 16]
//                 [--timeout-minutes 20]
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "bench_util.h"
#include "density_util.h"
#include "e2e/harness.h"

namespace {

using SteadyClock = std::chrono::steady_clock;
using tug::Json;
namespace client = tug::client;
using tug::bench::IntFlag;
using tug::bench::ProcStats;
using tug::bench::ReadProc;

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

// Creates `n` objects with `workers` threads; returns how many failed.
int CreateAll(const client::Client& c, const client::Resource& r, const std::string& ns, int n, int workers,
              const std::function<Json(int)>& make) {
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w)
    threads.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < n;) {
        auto res = c.Create(r, ns, make(i));
        if (!res.ok() && res.status().code() != tug::StatusCode::kAlreadyExists) {
          if (failed.fetch_add(1) < 3) std::cerr << "create failed: " << res.status().ToString() << "\n";
        }
      }
    });
  for (auto& t : threads) t.join();
  return failed.load();
}

// Number of Deployments in `ns` that are fully Available (status caught up with spec).
int AvailableDeployments(const client::Client& c, const std::string& ns, int* total_ready_pods = nullptr) {
  auto list = c.ListAll(client::kDeployments, ns);
  if (!list.ok()) return -1;
  int n = 0, pods = 0;
  for (const Json& d : (*list)["items"]) {
    int want = d["spec"].value("replicas", 1);
    const Json& st = d.value("status", Json::object());
    pods += st.value("readyReplicas", 0);
    if (st.value("observedGeneration", 0) >= d["metadata"].value("generation", 1) &&
        st.value("availableReplicas", 0) == want && st.value("updatedReplicas", 0) == want &&
        st.value("replicas", 0) == want)
      ++n;
  }
  if (total_ready_pods) *total_ready_pods = pods;
  return n;
}

// Polls until `want` Deployments in ns are Available; returns seconds, or -1 on timeout.
double WaitAvailable(const client::Client& c, const std::string& ns, int want, SteadyClock::time_point start,
                     std::chrono::minutes limit, const char* what) {
  auto deadline = start + limit;
  auto last_report = SteadyClock::now();
  while (SteadyClock::now() < deadline) {
    int pods = 0;
    int n = AvailableDeployments(c, ns, &pods);
    if (n == want) return Seconds(SteadyClock::now() - start);
    if (SteadyClock::now() - last_report > std::chrono::seconds(30)) {
      std::cerr << what << ": " << n << "/" << want << " deployments available, " << pods << " ready pods, "
                << static_cast<int>(Seconds(SteadyClock::now() - start)) << "s\n";
      last_report = SteadyClock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return -1;
}

void Figure(const std::string& name, double v, const char* unit, const std::string& note = "") {
  if (v < 0)
    std::printf("%-44s timeout%s%s\n", name.c_str(), note.empty() ? "" : "  ", note.c_str());
  else
    std::printf("%-44s %10.2f %s%s%s\n", name.c_str(), v, unit, note.empty() ? "" : "  ", note.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const int nodes = IntFlag(args, "--nodes", 1000);
  const int pods = IntFlag(args, "--pods", 30000);
  const int churn = IntFlag(args, "--churn", 1000);
  const int workers = IntFlag(args, "--workers", 16);
  const auto limit = std::chrono::minutes(IntFlag(args, "--timeout-minutes", 20));

  tug::e2e::TugServer server;
  std::string why;
  if (!server.Start(&why)) {
    std::cerr << why << "\n";
    return 1;
  }
  auto config = client::LoadKubeconfig(server.kubeconfig());
  if (!config.ok()) {
    std::cerr << "kubeconfig: " << config.status().ToString() << "\n";
    return 1;
  }
  client::Client c(client::NewHttpsTransport(*config));
  ProcStats idle = ReadProc(server.pid());
  Figure("idle: server RSS", idle.rss_mb, "MB");
  for (const char* ns : {"churn", "density"})
    (void)c.Create(client::kNamespaces, "", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});

  // 1. nodes
  auto t0 = SteadyClock::now();
  auto sim = tug::e2e::StartSimNodes(server, {"--count", std::to_string(nodes), "--startup-delay", "1s", "-v", "1"},
                                     &why);
  if (!sim) {
    std::cerr << why << "\n";
    return 1;
  }
  Figure("simnodes: register " + std::to_string(nodes) + " nodes", Seconds(SteadyClock::now() - t0), "s");
  Figure("simnodes: RSS per node", ReadProc(sim->pid()).rss_mb * 1024.0 / nodes, "KiB");

  // 2. churn
  t0 = SteadyClock::now();
  int failed = CreateAll(c, client::kDeployments, "churn", churn, workers,
                         [](int i) { return tug::bench::DensityDeployment("churn", "churn-" + std::to_string(i), 3); });
  double create_s = Seconds(SteadyClock::now() - t0);
  double churn_s = WaitAvailable(c, "churn", churn, t0, limit, "churn");
  Figure("churn: " + std::to_string(churn) + " deployments x 3 all Available", churn_s, "s",
         "(creates took " + std::to_string(create_s).substr(0, 5) + " s, " + std::to_string(failed) + " failed)");

  // 3. density: fill to `pods` with 100-replica Deployments.
  const int fill = std::max(0, (pods - churn * 3 + 99) / 100);
  t0 = SteadyClock::now();
  failed = CreateAll(c, client::kDeployments, "density", fill, workers,
                     [](int i) { return tug::bench::DensityDeployment("density", "fill-" + std::to_string(i), 100); });
  double fill_s = WaitAvailable(c, "density", fill, t0, limit, "density");
  Figure("density: " + std::to_string(fill * 100 + churn * 3) + " pods on " + std::to_string(nodes) +
             " nodes all Available",
         fill_s, "s", "(" + std::to_string(failed) + " creates failed)");
  // Let the control plane settle, then measure the server at this density.
  std::this_thread::sleep_for(std::chrono::seconds(10));
  pid_t server_pid = server.pid();
  ProcStats at = ReadProc(server_pid);
  Figure("density: server RSS", at.rss_mb, "MB", "(target < 500 MB)");
  Figure("density: server CPU time since start", at.cpu_s, "s");
  std::this_thread::sleep_for(std::chrono::seconds(30));
  ProcStats later = ReadProc(server_pid);
  Figure("density: server CPU at rest (30 s window)", 100.0 * (later.cpu_s - at.cpu_s) / 30.0, "% of a core");
  // Changed objects stay parsed in the control loops' cache for a while, and the allocator gives
  // freed memory back over seconds: the RSS at rest is the figure a settled cluster shows.
  Figure("density: server RSS after 30 s at rest", later.rss_mb, "MB", "(target < 500 MB)");
  Figure("density: server RSS per pod above the idle server", (at.rss_mb - idle.rss_mb) * 1024.0 / std::max(1, fill * 100 + churn * 3),
         "KiB");
  tug::bench::MemoryBreakdown(c, [](const std::string& what, double v, const char* unit, const std::string& note) {
    Figure("memory: " + what, v, unit, note);
  });

  // 4. one more Deployment on the full cluster.
  t0 = SteadyClock::now();
  auto created = c.Create(client::kDeployments, "density", tug::bench::DensityDeployment("density", "probe-30", 30));
  if (!created.ok()) std::cerr << "create probe-30: " << created.status().ToString() << "\n";
  double probe_s = WaitAvailable(c, "density", fill + 1, t0, std::chrono::minutes(5), "probe");
  Figure("density: 30-replica Deployment Available", probe_s, "s");
  Figure("density: server RSS at end", ReadProc(server_pid).rss_mb, "MB");
  Figure("simnodes: RSS at end", ReadProc(sim->pid()).rss_mb, "MB");
  // Signs of a control plane that could not keep up: in-process watches cut off for falling
  // behind, and informers that had to list everything again.
  const std::string log = server.log();
  auto count = [&log](std::string_view what) {
    double n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + what.size())) ++n;
    return n;
  };
  Figure("server log: loopback watches cut off", count("loopback stream cut off"), "");
  Figure("server log: informer re-lists after a failed watch", count("re-listing"), "");
  sim->Stop();
  return 0;
}
