// store_bench: the SQLite store against the physical floor, in one run (DESIGN.md §8).
//
//   (a) raw SQLite: 1 KB inserts, one transaction each, one connection, WAL + synchronous=FULL
//       (the same durability and pragmas as the store): one durable write at a time.
//   (b) the store: durable Creates of 1 KB values from 64 threads (group commit).
//   (c) reopening a store that holds 10,000 keys.
// Prints one line per figure: "<name> <value>". Usage: store_bench [scratch-dir] (default $TMPDIR
// or /tmp). Runs for about 10 s.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "raw_sqlite.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPhase = std::chrono::seconds(3);

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// (b) durable creates from many threads through the store.
double StoreCreatesPerSec(const std::string& path, const std::string& value, int threads, double* per_txn) {
  tug::store::SqliteOptions o;
  o.background_maintenance = false;
  auto r = tug::store::OpenSqliteStoreTyped(path, o);
  if (!r.ok()) {
    std::fprintf(stderr, "open: %s\n", r.status().ToString().c_str());
    return 0;
  }
  auto& store = *r;
  auto v = std::make_shared<const std::string>(value);
  std::atomic<int64_t> n{0};
  std::atomic<bool> failed{false};
  auto start = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; Clock::now() - start < kPhase; ++i) {
        auto c = store->Create("/registry/pods/t" + std::to_string(t) + "/p" + std::to_string(i), v);
        if (!c.ok()) {
          failed = true;
          return;
        }
        ++n;
      }
    });
  }
  for (auto& th : ts) th.join();
  double secs = Seconds(Clock::now() - start);
  auto st = store->Stats();
  *per_txn = st.write_transactions ? static_cast<double>(st.writes) / static_cast<double>(st.write_transactions) : 0;
  if (failed) std::fprintf(stderr, "some creates failed\n");
  return static_cast<double>(n.load()) / secs;
}

double ThreadCpuMillis() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1000 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// (c) time to reopen a store holding 10,000 keys (median of 5): wall clock, and the CPU time
// of the opening thread (less noisy on a shared machine).
double ReopenMillis(const std::string& path, const std::string& value, double* cpu_ms) {
  {
    tug::store::SqliteOptions o;
    o.background_maintenance = false;
    auto r = tug::store::OpenSqliteStore(path, o);
    if (!r.ok()) return -1;
    auto v = std::make_shared<const std::string>(value);
    std::vector<std::thread> ts;
    for (int t = 0; t < 50; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) (void)(*r)->Create("/registry/configmaps/ns" + std::to_string(t) + "/c" + std::to_string(i), v);
      });
    }
    for (auto& th : ts) th.join();
    if ((*r)->Count("/").value() != 10000) std::fprintf(stderr, "expected 10000 keys\n");
  }
  std::vector<double> ms, cpu;
  for (int i = 0; i < 5; ++i) {
    tug::store::SqliteOptions o;
    o.background_maintenance = false;
    auto start = Clock::now();
    double cpu0 = ThreadCpuMillis();
    auto r = tug::store::OpenSqliteStore(path, o);
    cpu.push_back(ThreadCpuMillis() - cpu0);
    ms.push_back(Seconds(Clock::now() - start) * 1000);
    if (!r.ok() || (*r)->Count("/").value() != 10000) return -1;
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  *cpu_ms = cpu[cpu.size() / 2];
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = argc > 1 ? argv[1] : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
  std::string tmpl = base + "/tug-store-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  tug::log::SetVerbosity(0);
  const std::string value(1024, 'v');

  double raw = tug::bench::RawSqliteInsertsPerSec(dir + "/raw.db", value);
  std::printf("raw_sqlite_durable_inserts_per_sec %.0f\n", raw);
  std::fflush(stdout);
  double per_txn = 0;
  double store = StoreCreatesPerSec(dir + "/store.db", value, 64, &per_txn);
  std::printf("store_durable_creates_per_sec_64_threads %.0f\n", store);
  std::printf("store_vs_raw_sqlite_ratio %.2f\n", raw > 0 ? store / raw : 0.0);
  std::printf("store_writes_per_group_commit %.1f\n", per_txn);
  std::fflush(stdout);
  double cpu_ms = 0;
  double wall_ms = ReopenMillis(dir + "/reopen.db", value, &cpu_ms);
  std::printf("store_reopen_10k_keys_ms %.1f\n", wall_ms);
  std::printf("store_reopen_10k_keys_cpu_ms %.1f\n", cpu_ms);
  std::filesystem::remove_all(dir);
  return 0;
}
