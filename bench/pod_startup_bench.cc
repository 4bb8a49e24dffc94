// Pod startup latency, agent footprint and pod churn (issue 5 performance figures; root only).
//
// Starts the local test registry (node_env.h's TestRegistry) and a real `tug server` with its
// built-in agent on its own bridge, cgroup parent and pod range, then measures, with the image
// present (imagePullPolicy IfNotPresent, after a warm-up pod pulled it):
//   sequential: create -> Running of N pods one after another (p50, p99);
//   parallel:   N pods created at once, each create -> Running (p50, p99);
//   each also split into create -> bound (scheduler) and bound -> Running (agent), and a
//   sequential run with the default pull policy of `busybox` (Always: one registry round trip);
//   floor:      runc create+start of the same container in a prepared netns, measured in the
//               same invocation by bench/runtime_bench — the figures are printed as ratios.
// Times come from one pod watch (the moment an event arrives), not from polling.
// Then it starts a separate `tug agent` (the remote-node form) and reports its RSS after 10 s
// idle with no pods, runs a churn of M pods bound to it (created at once, Running, deleted) and
// checks that nothing is left: mounts, netns pins, pod cgroups, veths, IP allocations, runc
// containers (node_env.h's Inspect) and files under its run and data dirs; its RSS before and
// after the churn is printed. Leftovers make the exit status 1.
//
// Pods are deleted with grace 0 (their spec's terminationGracePeriodSeconds). Progress goes to
// stderr phase by phase. SIGINT, SIGTERM or SIGHUP (e.g. from `timeout`) and an early failure
// remove everything the run made: the agent and server are killed, then each node's runc
// containers, mounts, masquerade rules, bridge, cgroups and dirs go (node_env.h's HostCleanup),
// and the registry stops.
//
//   pod_startup_bench [--pods 30] [--churn 100]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "client/client.h"
#include "e2e/harness.h"
#include "e2e/node_env.h"

namespace {

using SteadyClock = std::chrono::steady_clock;
using tug::Json;
namespace client = tug::client;
namespace e2e = tug::e2e;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// A busybox `sleep` pod; `node` binds it (no scheduler), `policy` "" leaves the default.
Json Pod(const std::string& name, const std::string& policy, const std::string& node = "") {
  Json c = {{"name", "c"}, {"image", "busybox"}, {"command", {"sleep", "3600"}}};
  if (!policy.empty()) c["imagePullPolicy"] = policy;
  Json spec = {{"terminationGracePeriodSeconds", 0}, {"containers", Json::array({c})}};
  if (!node.empty()) spec["nodeName"] = node;
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", spec}};
}

// Follows the pods of the default namespace through one watch and notes, for every pod, when it
// was first seen bound (spec.nodeName), Running, and deleted. Callers note the create time.
class PodTracker {
 public:
  struct Times {
    SteadyClock::time_point created{}, bound{}, running{};
    bool gone = false;
  };

  explicit PodTracker(const client::Client& c) {
    auto list = c.List(client::kPods, "default");
    if (!list.ok()) {
      error_ = list.status().ToString();
      return;
    }
    client::ListOptions o;
    o.resource_version = tug::GetStringPath(*list, {"metadata", "resourceVersion"});
    o.timeout_seconds = 3600;
    auto w = c.StartWatch(
        client::kPods, "default", o, [this](client::WatchEvent e) { OnEvent(e); },
        [this](tug::Status s) {
          std::lock_guard l(mu_);
          error_ = "pod watch ended: " + s.ToString();
          cv_.notify_all();
        });
    if (!w.ok()) error_ = w.status().ToString();
    else watch_ = std::move(w).value();
  }
  ~PodTracker() {
    if (watch_) watch_->Stop();
  }
  const std::string& error() const { return error_; }

  void Created(const std::string& name, SteadyClock::time_point t) {
    std::lock_guard l(mu_);
    pods_[name].created = t;
  }
  // Waits until every pod in `names` is Running (gone = false) or deleted (gone = true).
  bool Wait(const std::vector<std::string>& names, bool gone, std::chrono::seconds limit) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, limit, [&] {
      if (!error_.empty()) return true;
      for (const auto& n : names) {
        auto it = pods_.find(n);
        if (it == pods_.end() || (gone ? !it->second.gone : it->second.running == SteadyClock::time_point{}))
          return false;
      }
      return true;
    }) && error_.empty();
  }
  std::map<std::string, Times> Snapshot() {
    std::lock_guard l(mu_);
    return pods_;
  }

 private:
  void OnEvent(const client::WatchEvent& e) {
    auto now = SteadyClock::now();
    if (e.type != client::WatchEvent::kAdded && e.type != client::WatchEvent::kModified &&
        e.type != client::WatchEvent::kDeleted)
      return;
    std::string name = tug::GetStringPath(e.object, {"metadata", "name"});
    std::lock_guard l(mu_);
    Times& t = pods_[name];
    if (e.type == client::WatchEvent::kDeleted) {
      t.gone = true;
    } else {
      if (t.bound == SteadyClock::time_point{} && !tug::GetStringPath(e.object, {"spec", "nodeName"}).empty())
        t.bound = now;
      if (t.running == SteadyClock::time_point{} && tug::GetStringPath(e.object, {"status", "phase"}) == "Running")
        t.running = now;
    }
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Times> pods_;
  std::string error_;
  std::unique_ptr<client::Watch> watch_;
};

// Creates the pods (from `threads` threads at once), noting each create time in the tracker.
void CreatePods(const client::Client& c, PodTracker& tracker, const std::vector<Json>& pods, int threads) {
  std::vector<std::thread> ts;
  for (int k = 0; k < threads; ++k)
    ts.emplace_back([&, k] {
      for (size_t i = static_cast<size_t>(k); i < pods.size(); i += static_cast<size_t>(threads)) {
        std::string name = tug::GetStringPath(pods[i], {"metadata", "name"});
        auto t = SteadyClock::now();
        tracker.Created(name, t);
        if (auto r = c.Create(client::kPods, "default", pods[i]); !r.ok())
          std::cerr << "create " << name << ": " << r.status().ToString() << "\n";
      }
    });
  for (auto& t : ts) t.join();
}

// Deletes the pods (grace 0 as their spec says) and waits until they are gone.
bool DeletePods(const client::Client& c, PodTracker& tracker, const std::vector<std::string>& names) {
  for (const auto& n : names) (void)c.Delete(client::kPods, "default", n);
  return tracker.Wait(names, true, 300s);
}

struct Figures {
  std::vector<double> total, bind, agent;
};
Figures Collect(PodTracker& tracker, const std::vector<std::string>& names) {
  Figures f;
  auto snap = tracker.Snapshot();
  for (const auto& n : names) {
    const auto& t = snap[n];
    if (t.running == SteadyClock::time_point{} || t.created == SteadyClock::time_point{}) continue;
    f.total.push_back(Ms(t.running - t.created));
    if (t.bound != SteadyClock::time_point{}) {
      f.bind.push_back(Ms(t.bound - t.created));
      f.agent.push_back(Ms(t.running - t.bound));
    }
  }
  return f;
}

void Report(const std::string& what, const Figures& f, size_t want, double floor) {
  double p50 = Pct(f.total, 0.5), p99 = Pct(f.total, 0.99);
  std::printf("%-46s p50 %7.1f ms  p99 %7.1f ms  (%zu/%zu Running)", what.c_str(), p50, p99, f.total.size(), want);
  if (floor > 0) std::printf("  p50 %.2fx floor, p99 %.2fx floor", p50 / floor, p99 / floor);
  std::printf("\n%-46s p50 %7.1f ms  p99 %7.1f ms\n%-46s p50 %7.1f ms  p99 %7.1f ms\n", "  of which create -> bound (scheduler)",
              Pct(f.bind, 0.5), Pct(f.bind, 0.99), "  of which bound -> Running (agent)", Pct(f.agent, 0.5),
              Pct(f.agent, 0.99));
}

// One measured round: pods named prefix-0..n-1 created one after another (threads = 1, each
// waited for) or all at once; returns the names.
std::vector<std::string> Round(const client::Client& c, PodTracker& tracker, const std::string& prefix, int n,
                               bool parallel, const std::string& policy, const std::string& node = "") {
  std::vector<std::string> names;
  std::vector<Json> pods;
  for (int i = 0; i < n; ++i) {
    names.push_back(prefix + "-" + std::to_string(i));
    pods.push_back(Pod(names.back(), policy, node));
  }
  if (parallel) {
    CreatePods(c, tracker, pods, std::min(n, 16));
    if (!tracker.Wait(names, false, 300s)) std::cerr << prefix << ": not all Running " << tracker.error() << "\n";
  } else {
    for (int i = 0; i < n; ++i) {
      CreatePods(c, tracker, {pods[static_cast<size_t>(i)]}, 1);
      if (!tracker.Wait({names[static_cast<size_t>(i)]}, false, 120s))
        std::cerr << names[static_cast<size_t>(i)] << ": not Running " << tracker.error() << "\n";
    }
  }
  return names;
}

// runtime_bench's output (same machine, same moment) and its floor p50 in ms (-1 on failure).
double RuncFloorMs(std::string* lines) {
  auto r = e2e::Run({TUG_RUNTIME_BENCH_PATH, "10"}, "", {}, 300s);
  auto at = r.out.find("runtime floor");
  if (r.rc != 0 || at == std::string::npos) {
    std::cerr << "runtime_bench failed: " << r.out << r.err << "\n";
    return -1;
  }
  *lines = r.out;
  auto p = r.out.find("p50 ", at);
  return p == std::string::npos ? -1 : std::stod(r.out.substr(p + 4));
}

// Every regular file, symlink and directory under `dirs` (relative paths are not needed: the
// caller only compares two listings of the same dirs).
std::set<std::string> FilesUnder(const std::vector<std::string>& dirs, const std::string& skip) {
  std::set<std::string> out;
  for (const auto& d : dirs) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(d, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::string p = it->path().string();
      if (!skip.empty() && p.rfind(skip, 0) == 0) {
        it.disable_recursion_pending();
        continue;
      }
      out.insert(p);
    }
  }
  return out;
}

// What a stopped or failed run must remove. The processes are killed by pid and the nodes
// cleaned by their paths, so the signal thread never touches objects the main thread uses.
struct Teardown {
  std::mutex mu;
  bool done = false;
  pid_t server_pid = -1, agent_pid = -1;
  std::string server_data_dir;
  std::vector<e2e::NodeEnv> nodes;
  e2e::TestRegistry* registry = nullptr;

  // Kills whatever still runs and removes everything; once.
  void Now() {
    std::lock_guard l(mu);
    if (done) return;
    done = true;
    for (pid_t p : {agent_pid, server_pid})
      if (p > 0) {
        kill(p, SIGKILL);
        waitpid(p, nullptr, 0);
      }
    for (const auto& n : nodes) {
      e2e::HostCleanup(n);
      e2e::RemoveNodeDirs(n);
    }
    if (!server_data_dir.empty()) e2e::RemoveTree(server_data_dir);
    if (registry) registry->Stop();
  }
};

Teardown g_teardown;
int g_signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  char c = static_cast<char>(sig);
  ssize_t unused = write(g_signal_pipe[1], &c, 1);
  (void)unused;
}

// SIGINT/SIGTERM/SIGHUP: a thread cleans up and exits 128+signal. Handlers (not a blocked mask,
// which the spawned server and agent would inherit).
void InstallSignalCleanup() {
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) return;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  std::thread([] {
    char c = 0;
    while (read(g_signal_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    std::fprintf(stderr, "pod_startup_bench: signal %d: cleaning up\n", c);
    g_teardown.Now();
    std::fprintf(stderr, "pod_startup_bench: cleaned up\n");
    _exit(128 + c);
  }).detach();
}

const SteadyClock::time_point g_start = SteadyClock::now();

// One progress line on stderr: seconds since the start and the phase.
void Progress(const std::string& what) {
  std::fprintf(stderr, "[%7.1fs] %s\n", std::chrono::duration<double>(SteadyClock::now() - g_start).count(),
               what.c_str());
}

double SettledRssMb(pid_t pid) {
  std::this_thread::sleep_for(5s);  // let the agent's informer and heartbeat traffic settle
  return tug::bench::ReadProc(pid).rss_mb;
}

}  // namespace

int main(int argc, char** argv) {
  // Line-buffered even into a file: each figure is printed as its phase ends, so a run that is
  // stopped early still shows what it measured.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::vector<std::string> args(argv + 1, argv + argc);
  const int n = tug::bench::IntFlag(args, "--pods", 30);
  const int churn = tug::bench::IntFlag(args, "--churn", 100);
  if (auto why = e2e::NodePrerequisitesMissing(); !why.empty()) {
    std::cerr << "pod_startup_bench: " << why << "\n";
    return 1;
  }
  InstallSignalCleanup();
  e2e::TestRegistry registry("tug-bench-reg");
  {
    std::lock_guard l(g_teardown.mu);
    g_teardown.registry = &registry;
  }
  Progress("starting the test registry");
  if (!registry.Start()) {
    std::cerr << "test images: " << registry.error() << "\n";
    g_teardown.Now();
    return 1;
  }
  int rc = 0;
  // The built-in agent's node and the separate agent's node: names, bridges, pod ranges and
  // cgroup parents of their own (other tests run on this machine at the same time).
  e2e::NodeEnv node{.name = "bench-node", .bridge = "tugpsb0", .cluster_cidr = "10.92.0.0/16",
                    .cgroup_parent = "/tug-bench", .data_dir = "", .run_dir = e2e::MakeTempDir("tug-bench-run")};
  e2e::NodeEnv remote{.name = "bench-agent", .bridge = "tugpsb1", .cluster_cidr = "10.92.0.0/16",
                      .cgroup_parent = "/tug-bench-agent", .data_dir = e2e::MakeTempDir("tug-bench-agent"),
                      .run_dir = e2e::MakeTempDir("tug-bench-agent-run")};
  auto server = std::make_unique<e2e::TugServer>(e2e::BuiltinAgentFlags(node));
  std::unique_ptr<e2e::Background> agent;
  node.data_dir = e2e::AgentDataDir(*server);
  {
    std::lock_guard l(g_teardown.mu);
    g_teardown.nodes = {node, remote};
    g_teardown.server_data_dir = server->data_dir();
  }
  registry.WriteMirror(node.data_dir);
  registry.WriteMirror(remote.data_dir);
  std::string why;
  Progress("starting tug server with its agent");
  bool started = server->Start(&why);
  {
    std::lock_guard l(g_teardown.mu);
    g_teardown.server_pid = server->pid();
  }
  if (!started) {
    std::cerr << why << "\n";
    g_teardown.Now();
    return 1;
  }
  auto config = client::LoadKubeconfig(server->kubeconfig());
  if (!config.ok()) {
    std::cerr << config.status().ToString() << "\n";
    g_teardown.Now();
    return 1;
  }
  client::Client c(client::NewHttpsTransport(*config));
  {
    PodTracker tracker(c);
    if (!tracker.error().empty()) {
      std::cerr << tracker.error() << "\n";
      rc = 1;
    }
    // The default ServiceAccount must exist before pods are admitted.
    for (int i = 0; i < 300 && !c.Get(client::kServiceAccounts, "default", "default").ok(); ++i)
      std::this_thread::sleep_for(100ms);

    // Warm-up: pulls the image, so the figures are "image present".
    if (rc == 0) {
      Progress("warm-up pod (pulls the image)");
      auto warm = Round(c, tracker, "warm", 1, false, "");
      if (Collect(tracker, warm).total.empty()) {
        std::cerr << "warm-up pod did not run\n" << server->log() << "\n";
        rc = 1;
      }
      DeletePods(c, tracker, warm);
    }
    Figures seq, par, seq_always;
    if (rc == 0) {
      Progress(std::to_string(n) + " sequential pods");
      auto names = Round(c, tracker, "seq", n, false, "IfNotPresent");
      seq = Collect(tracker, names);
      Progress("deleting them");
      DeletePods(c, tracker, names);
      Progress(std::to_string(n) + " parallel pods");
      names = Round(c, tracker, "par", n, true, "IfNotPresent");
      par = Collect(tracker, names);
      Progress("deleting them");
      DeletePods(c, tracker, names);
      Progress(std::to_string(n) + " sequential pods, pull policy Always");
      names = Round(c, tracker, "always", n, false, "");
      seq_always = Collect(tracker, names);
      Progress("deleting them");
      DeletePods(c, tracker, names);
    }
    Progress("floor: runtime_bench");
    std::string floor_lines;
    double floor = RuncFloorMs(&floor_lines);
    std::printf("%s", floor_lines.c_str());
    std::printf("%-46s p50 %7.1f ms\n", "floor: runc create+start, prepared netns", floor);
    Report("pod create->Running, " + std::to_string(n) + " sequential", seq, static_cast<size_t>(n), floor);
    Report("pod create->Running, " + std::to_string(n) + " parallel", par, static_cast<size_t>(n), floor);
    Report("  same, sequential, pull policy Always", seq_always, static_cast<size_t>(n), floor);

    // A remote-form agent (`tug agent --token`): idle footprint with no pods, then churn.
    Progress("tug agent: idle footprint");
    agent = std::make_unique<e2e::Background>(e2e::TokenAgentArgv(*server, remote));
    {
      std::lock_guard l(g_teardown.mu);
      g_teardown.agent_pid = agent->pid();
    }
    if (rc == 0 && agent->WaitFor("agent ready", 60s)) {
      std::this_thread::sleep_for(10s);  // idle: heartbeats and lease renewals only
      std::printf("%-46s %7.1f MB  (target < 25 MB)\n", "agent idle RSS (tug agent, no pods)",
                  tug::bench::ReadProc(agent->pid()).rss_mb);
      // Warm-up on this node (image pull, first pod dir), then the baseline of files and RSS.
      auto warm = Round(c, tracker, "awarm", 1, false, "", remote.name);
      DeletePods(c, tracker, warm);
      e2e::WaitClean(remote);
      const std::string images = remote.data_dir + "/images";
      auto files_before = FilesUnder({remote.run_dir, remote.data_dir}, images);
      double rss_before = SettledRssMb(agent->pid());
      Progress("churn: " + std::to_string(churn) + " pods created");
      auto t0 = SteadyClock::now();
      auto names = Round(c, tracker, "churn", churn, true, "IfNotPresent", remote.name);
      size_t running = Collect(tracker, names).total.size();
      Progress("churn: deleting them");
      bool deleted = DeletePods(c, tracker, names);
      Progress("churn: leak check");
      double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
      auto left = e2e::WaitClean(remote);
      auto files_after = FilesUnder({remote.run_dir, remote.data_dir}, images);
      double rss_after = SettledRssMb(agent->pid());
      std::vector<std::string> new_files;
      for (const auto& f : files_after)
        if (!files_before.count(f)) new_files.push_back(f);
      std::printf("%-46s %zu/%d Running, %s, %.1f s\n", ("pod churn: " + std::to_string(churn) + " created+deleted").c_str(),
                  running, churn, deleted ? "all deleted" : "NOT all deleted", secs);
      std::printf("%-46s %s\n", "  leftovers (mounts/netns/cgroups/veths/IPs/runc)",
                  left.empty() ? "none" : ("LEAK\n" + left.Describe()).c_str());
      std::printf("%-46s %s\n", "  new files under run and data dirs", new_files.empty() ? "none" : "LEAK");
      for (size_t i = 0; i < new_files.size() && i < 20; ++i) std::printf("    %s\n", new_files[i].c_str());
      std::printf("%-46s %7.1f MB before, %7.1f MB after (%+.1f MB)\n", "  agent RSS around the churn", rss_before,
                  rss_after, rss_after - rss_before);
      if (!left.empty() || !new_files.empty() || !deleted || running != static_cast<size_t>(churn)) rc = 1;
    } else {
      std::cerr << "tug agent did not start:\n" << agent->Output() << "\n";
      rc = 1;
    }
    std::printf("%-46s %7.1f MB\n", "tug server RSS (control plane + agent)", tug::bench::ReadProc(server->pid()).rss_mb);
  }
  Progress("teardown");
  // The remote node first (its agent must tear its pods down while the server still runs).
  std::unique_lock l(g_teardown.mu);  // a signal now waits for this teardown, then exits
  if (agent) {
    e2e::DeleteAllPods(*server, 0);
    agent->Stop();
    agent.reset();
  }
  e2e::HostCleanup(remote);
  e2e::RemoveNodeDirs(remote);
  e2e::StopNode(node, server, agent, 0);
  registry.Stop();
  g_teardown.done = true;
  return rc;
}
