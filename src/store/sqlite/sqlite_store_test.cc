// SQLite-only store tests: restart recovery, crash (SIGKILL) durability, idle writes,
// automatic compaction, group commit, close-on-exec, exclusive ownership. The behaviour every
// backend shares is tested in ../store_suite_test.cc.
#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/testing/fake_clock.h"
#include "store/sqlite/testing/crash_vfs.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tug::store {
namespace {

Value V(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tug-sqlite-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/store.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<SqliteStore> Open(SqliteOptions o = {}) {
    auto r = OpenSqliteStoreTyped(path_, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  std::string dir_, path_;
};

struct FileState {
  off_t size = -1;
  int64_t mtime_ns = -1;
  bool operator==(const FileState&) const = default;
};
FileState Stat(const std::string& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return {};
  return {st.st_size, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

TEST_F(SqliteStoreTest, RestartRecoversEverythingWithSameRevisions) {
  std::map<std::string, KeyValue> want;
  int64_t rev = 0, compacted = 0;
  {
    auto s = Open();
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->Create("/r/" + std::to_string(i), V("v" + std::to_string(i))).ok());
    for (int i = 0; i < 50; i += 3) ASSERT_TRUE(s->Update("/r/" + std::to_string(i), V("u"), 0).ok());
    for (int i = 1; i < 50; i += 5) ASSERT_TRUE(s->Delete("/r/" + std::to_string(i), 0).ok());
    ASSERT_TRUE(s->Compact(60).ok());
    ASSERT_TRUE(s->Delete("/r/0", 0).ok());  // the newest row is a tombstone
    ASSERT_TRUE(s->Create("/r/11", V("again")).ok());  // deleted above, now back
    auto all = s->List("/", {});
    ASSERT_TRUE(all.ok());
    for (auto& kv : all->items) want[kv.key] = kv;
    rev = s->CurrentRevision();
    compacted = s->CompactedRevision();
  }
  auto s = Open();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->CurrentRevision(), rev);
  EXPECT_EQ(s->CompactedRevision(), compacted);
  auto all = s->List("/", {});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->items.size(), want.size());
  for (auto& kv : all->items) {
    SCOPED_TRACE(kv.key);
    const KeyValue& w = want[kv.key];
    EXPECT_EQ(*kv.value, *w.value);
    EXPECT_EQ(kv.create_revision, w.create_revision);
    EXPECT_EQ(kv.mod_revision, w.mod_revision);
  }
  // History above the compacted revision is still readable after the restart (from the log).
  auto past = s->List("/r/", ListOptions{.revision = 60});
  ASSERT_TRUE(past.ok()) << past.status().ToString();
  EXPECT_EQ(past->items.front().key, "/r/0");  // not yet deleted at 60
  EXPECT_EQ(s->List("/r/", ListOptions{.revision = 59}).status().code(), StatusCode::kGone);
  // Writes continue from the recovered revision.
  auto c = s->Create("/r/new", V("n"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, rev + 1);
  EXPECT_GE(s->Stats().log_reads, 1);
}

// ShareValues changes only the in-memory copy: the log keeps the bytes as written, so a restart
// (and a history read from the log) returns them.
TEST_F(SqliteStoreTest, SharedValuesStayInMemoryTheLogKeepsTheWrittenBytes) {
  {
    auto s = Open();
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->Create("/sh/a", V("written")).ok());  // 1
    std::vector<SharedValue> vs = {{"/sh/a", 1, std::make_shared<const Packed>(Packed::Pack("written+rv"))}};
    s->ShareValues(vs);
    EXPECT_EQ(*s->Get("/sh/a")->value, "written+rv");
    ASSERT_TRUE(s->Create("/sh/b", V("b")).ok());  // 2
  }
  auto s = Open();
  ASSERT_NE(s, nullptr);
  auto g = s->Get("/sh/a");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g->value, "written");
  auto past = s->List("/sh/", ListOptions{.revision = 1});
  ASSERT_TRUE(past.ok()) << past.status().ToString();
  ASSERT_EQ(past->items.size(), 1u);
  EXPECT_EQ(*past->items[0].value, "written");
}

TEST_F(SqliteStoreTest, WatchFromOldRevisionReadsLogAfterRestart) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Create("/w/a", V("a1")).ok());            // 1
    ASSERT_TRUE(s->Update("/w/a", V("a2"), 1).ok());         // 2
    ASSERT_TRUE(s->Create("/x/b", V("b")).ok());             // 3
    ASSERT_TRUE(s->Delete("/w/a", 2).ok());                  // 4
  }
  auto s = Open();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Event> got;
  auto w = s->Watch("/w/", 0 + 1, [&](std::span<const Event> evs, int64_t) {
    std::lock_guard<std::mutex> l(mu);
    got.insert(got.end(), evs.begin(), evs.end());
    cv.notify_all();
  });
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE(s->Create("/w/a", V("a3")).ok());              // 5
  std::unique_lock<std::mutex> l(mu);
  cv.wait_for(l, std::chrono::seconds(10), [&] { return got.size() >= 3; });
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].type, EventType::kUpdate);
  EXPECT_EQ(*got[0].prev_value, "a1");
  EXPECT_EQ(got[1].type, EventType::kDelete);
  EXPECT_EQ(got[1].kv.mod_revision, 4);
  EXPECT_EQ(*got[1].kv.value, "a2");
  EXPECT_EQ(*got[1].prev_value, "a2");
  EXPECT_EQ(got[2].type, EventType::kCreate);
  EXPECT_EQ(got[2].prev_value, nullptr);
  EXPECT_EQ(got[2].kv.create_revision, 5);
}

// A child process writes from several threads and reports every acknowledged write through a
// pipe; it is SIGKILLed mid-stream. Every acknowledged write must survive.
TEST_F(SqliteStoreTest, CrashKeepsEveryAcknowledgedWrite) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto r = OpenSqliteStore(path_);
    if (!r.ok()) _exit(2);
    StorePtr store = std::move(r).value();
    std::mutex write_mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          std::string key = "/crash/" + std::to_string(t) + "/" + std::to_string(i);
          auto c = store->Create(key, V(std::string(200, 'x')));
          if (!c.ok()) _exit(3);
          std::string line = key + " " + std::to_string(*c) + "\n";
          std::lock_guard<std::mutex> l(write_mu);
          if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
        }
      });
    }
    for (auto& th : threads) th.join();
    _exit(0);
  }
  close(fds[1]);
  std::string buf;
  char chunk[4096];
  auto lines = [&] { return std::count(buf.begin(), buf.end(), '\n'); };
  while (lines() < 400) {
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    ASSERT_GT(n, 0) << "child died early";
    buf.append(chunk, static_cast<size_t>(n));
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  for (ssize_t n; (n = read(fds[0], chunk, sizeof chunk)) > 0;) buf.append(chunk, static_cast<size_t>(n));
  close(fds[0]);

  std::map<std::string, int64_t> acked;
  std::istringstream in(buf);
  std::string key;
  int64_t rev;
  while (in >> key >> rev) acked[key] = rev;
  ASSERT_GE(acked.size(), 400u);

  auto s = Open();
  ASSERT_NE(s, nullptr);
  int64_t max_rev = 0;
  for (auto& [k, r] : acked) {
    auto g = s->Get(k);
    ASSERT_TRUE(g.ok()) << k << " acknowledged at " << r << " but lost";
    EXPECT_EQ(g->mod_revision, r);
    max_rev = std::max(max_rev, r);
  }
  EXPECT_GE(s->CurrentRevision(), max_rev);
  // Recovered state is consistent: revisions 1..current, one key each.
  EXPECT_EQ(*s->Count("/crash/"), s->CurrentRevision());
}

// Power loss: every write not synced before the "crash" is dropped (CrashVfs). With
// synchronous=FULL every acknowledged write survives; with NORMAL (kine's setting) acknowledged
// writes are lost, which shows the test can tell the difference.
TEST_F(SqliteStoreTest, PowerLossKeepsEveryAcknowledgedWrite) {
  struct Case {
    std::string name;
    bool synchronous_full;
    bool want_all;
  };
  std::vector<Case> cases = {{"full", true, true}, {"normal", false, false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = dir_ + "/" + c.name + ".db";
    std::map<std::string, int64_t> acked;
    {
      testing::CrashVfs vfs("tug-crash-" + c.name);
      SqliteOptions o;
      o.vfs = vfs.name();
      o.background_maintenance = false;
      o.synchronous_full = c.synchronous_full;
      auto r = OpenSqliteStoreTyped(path, o);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      auto& s = *r;
      std::mutex mu;
      std::vector<std::thread> threads;
      for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
          for (int i = 0; i < 40; ++i) {
            std::string key = "/p/" + std::to_string(t) + "/" + std::to_string(i);
            auto cr = s->Create(key, V(std::string(300, 'x')));
            ASSERT_TRUE(cr.ok());
            std::lock_guard<std::mutex> l(mu);
            acked[key] = *cr;
          }
        });
      }
      for (auto& th : threads) th.join();
      vfs.Crash();
      r->reset();  // closing after the crash persists nothing more
    }
    auto r = OpenSqliteStore(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    size_t present = 0;
    for (auto& [k, rev] : acked) {
      auto g = (*r)->Get(k);
      if (g.ok() && g->mod_revision == rev) ++present;
    }
    if (c.want_all) {
      EXPECT_EQ(present, acked.size());
      EXPECT_EQ((*r)->CurrentRevision(), static_cast<int64_t>(acked.size()));
    } else {
      EXPECT_LT(present, acked.size());
    }
  }
}

TEST_F(SqliteStoreTest, IdleStoreWritesNothingAndAutoCompacts) {
  tug::testing::FakeClock clock;
  SqliteOptions o;
  o.clock = &clock;
  o.background_maintenance = false;
  o.compact_min_revisions = 2;
  o.compact_retain_age = std::chrono::seconds(300);
  o.compact_batch_rows = 4;  // several batches
  auto s = Open(o);
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->Create("/k/" + std::to_string(i), V("v")).ok());
  ASSERT_TRUE(s->RunMaintenance().ok());  // sample (t0, 10); nothing old enough yet
  EXPECT_EQ(s->CompactedRevision(), 0);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->Update("/k/" + std::to_string(i), V("v2"), 0).ok());  // 11..20
  clock.Advance(std::chrono::seconds(301));
  ASSERT_TRUE(s->RunMaintenance().ok());  // compacts to 10: the revision seen 5 minutes ago
  EXPECT_EQ(s->CompactedRevision(), 10);
  EXPECT_EQ(s->Stats().compacted_rows, 0);  // rows 1..10 are each key's newest row at 10
  clock.Advance(std::chrono::seconds(301));
  ASSERT_TRUE(s->RunMaintenance().ok());  // compacts to 18 (keep 2 revisions)
  EXPECT_EQ(s->CompactedRevision(), 18);
  EXPECT_EQ(s->Stats().compacted_rows, 8);  // /k/0../k/7 first versions superseded
  EXPECT_EQ(s->List("/k/", ListOptions{.revision = 17}).status().code(), StatusCode::kGone);
  auto at18 = s->List("/k/", ListOptions{.revision = 18});
  ASSERT_TRUE(at18.ok());
  EXPECT_EQ(*at18->items[9].value, "v");  // /k/9 was still at its first version

  // From now on nothing changes: maintenance runs must not write at all.
  ASSERT_TRUE(s->RunMaintenance().ok());
  SqliteStats before = s->Stats();
  FileState db = Stat(path_), wal = Stat(path_ + "-wal");
  ASSERT_GT(db.size, 0);
  for (int i = 0; i < 5; ++i) {
    clock.Advance(std::chrono::seconds(400));
    ASSERT_TRUE(s->RunMaintenance().ok());
    ASSERT_TRUE(s->Get("/k/1").ok());
    ASSERT_TRUE(s->List("/k/", {}).ok());
  }
  SqliteStats after = s->Stats();
  EXPECT_EQ(after.write_transactions, before.write_transactions);
  EXPECT_EQ(after.checkpoints, before.checkpoints);
  EXPECT_EQ(after.compacted_rows, before.compacted_rows);
  EXPECT_EQ(Stat(path_), db);
  EXPECT_EQ(Stat(path_ + "-wal"), wal);
  EXPECT_EQ(wal.size, 0);  // the idle checkpoint truncated the WAL
  EXPECT_EQ(s->CompactedRevision(), 18);
  // The test can fail: one real write changes both.
  ASSERT_TRUE(s->Create("/k/new", V("x")).ok());
  EXPECT_GT(s->Stats().write_transactions, after.write_transactions);
  EXPECT_NE(Stat(path_ + "-wal"), wal);
}

TEST_F(SqliteStoreTest, WalStaysBoundedUnderWrites) {
  SqliteOptions o;
  o.background_maintenance = false;
  o.checkpoint_wal_pages = 100;
  auto s = Open(o);
  ASSERT_NE(s, nullptr);
  int64_t max_wal = 0;
  for (int i = 0; i < 1500; ++i) {
    ASSERT_TRUE(s->Create("/big/" + std::to_string(i), V(std::string(4000, 'b'))).ok());
    max_wal = std::max<int64_t>(max_wal, Stat(path_ + "-wal").size);
  }
  // ~6 MB written; the WAL is checkpointed and reused, never much above 100 pages.
  EXPECT_GT(s->Stats().checkpoints, 5);
  EXPECT_LT(max_wal, 1 << 20);
  EXPECT_GT(Stat(path_).size, 5 << 20);  // the data reached the database file
}

TEST_F(SqliteStoreTest, ConcurrentWritesAreGroupCommitted) {
  auto s = Open();
  constexpr int kThreads = 32, kPer = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i)
        ASSERT_TRUE(s->Create("/g/" + std::to_string(t) + "/" + std::to_string(i), V("v")).ok());
    });
  }
  for (auto& th : threads) th.join();
  SqliteStats st = s->Stats();
  EXPECT_EQ(st.writes, kThreads * kPer);
  EXPECT_LT(st.write_transactions, st.writes);  // at least one transaction carried several writes
}

TEST_F(SqliteStoreTest, FilesAreCloseOnExecAndExclusive) {
  auto s = Open();
  ASSERT_TRUE(s->Create("/a", V("x")).ok());  // the WAL is open now too
  int checked = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (ec || target.string().rfind(dir_, 0) != 0) continue;
    int fd = std::stoi(e.path().filename().string());
    int flags = fcntl(fd, F_GETFD);
    EXPECT_TRUE(flags >= 0 && (flags & FD_CLOEXEC)) << target;
    ++checked;
  }
  EXPECT_GE(checked, 2);  // store.db and store.db-wal
  EXPECT_FALSE(std::filesystem::exists(path_ + "-shm"));
  // A second owner of the same file is refused instead of corrupting it.
  auto second = OpenSqliteStore(path_);
  EXPECT_FALSE(second.ok());
}

// Asynchronous creates: a store closed mid-burst still answers every write it accepted, and
// after reopening every acknowledged write is there at the revision its callback got.
TEST_F(SqliteStoreTest, CreateAsyncAcknowledgesOnlyCommittedWrites) {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int64_t> acked;
  int answered = 0;
  {
    auto s = Open();
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < 100; ++i) {
      std::string key = "/k" + std::to_string(i);
      s->CreateAsync(key, V("v"), [&, key](Result<int64_t> r) {
        std::lock_guard<std::mutex> l(mu);
        ++answered;
        if (r.ok()) acked[key] = *r;
        cv.notify_all();
      });
    }
    // Closing drains the queue: every accepted write is answered before the destructor returns.
  }
  EXPECT_EQ(answered, 100);
  EXPECT_EQ(acked.size(), 100u);
  auto s = Open();
  ASSERT_NE(s, nullptr);
  for (const auto& [key, rev] : acked) {
    auto kv = s->Get(key);
    ASSERT_TRUE(kv.ok()) << key;
    EXPECT_EQ(kv->mod_revision, rev) << key;
  }
}

TEST_F(SqliteStoreTest, WritesAfterCloseFailCleanly) {
  auto s = Open();
  ASSERT_TRUE(s->Create("/a", V("x")).ok());
  s.reset();
  auto s2 = Open();
  ASSERT_NE(s2, nullptr);
  EXPECT_EQ(s2->Create("/a", V("y")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(*s2->Get("/a")->value, "x");
}

}  // namespace
}  // namespace tug::store
