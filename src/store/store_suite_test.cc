// The shared Store suite (CONVENTIONS C12): every scenario runs against every backend.
#include <gtest/gtest.h>

// Designated initializers leave the remaining ListOptions fields at their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/memory/memory_store.h"
#ifdef TUG_STORE_TEST_SQLITE
#include "store/sqlite/sqlite_store.h"
#endif

namespace tug::store {
namespace {

Value V(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

struct Backend {
  std::string name;
  std::function<StorePtr(const std::string& dir)> open;
};

std::vector<Backend> Backends() {
  std::vector<Backend> b;
  b.push_back({"memory", [](const std::string&) { return NewMemoryStore(); }});
#ifdef TUG_STORE_TEST_SQLITE
  b.push_back({"sqlite", [](const std::string& dir) {
                 auto r = OpenSqliteStore(dir + "/store.db");
                 EXPECT_TRUE(r.ok()) << r.status().ToString();
                 return r.ok() ? std::move(r).value() : StorePtr();
               }});
  // A one-record window: past List/Watch must read the SQLite log.
  b.push_back({"sqlite_log", [](const std::string& dir) {
                 SqliteOptions o;
                 o.history_window = 1;
                 auto r = OpenSqliteStore(dir + "/store.db", o);
                 EXPECT_TRUE(r.ok()) << r.status().ToString();
                 return r.ok() ? std::move(r).value() : StorePtr();
               }});
#endif
  return b;
}

// Collects watch events; waits (bounded, as a failure guard only) for a count.
class Collector {
 public:
  WatchCallback Callback() {
    return [this](std::span<const Event> evs, int64_t progress) {
      std::lock_guard<std::mutex> l(mu_);
      for (const Event& e : evs) events_.push_back(e);
      // Progress never goes backwards and covers every event delivered.
      if (progress < progress_ || (!evs.empty() && progress < evs.back().kv.mod_revision)) bad_progress_ = true;
      progress_ = std::max(progress_, progress);
      ++batches_;
      cv_.notify_all();
    };
  }
  std::vector<Event> WaitFor(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::seconds(10), [&] { return events_.size() >= n; });
    return events_;
  }
  // Waits until a callback reported progress >= rev; returns the last progress seen.
  int64_t WaitProgress(int64_t rev) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::seconds(10), [&] { return progress_ >= rev; });
    return progress_;
  }
  std::vector<Event> Snapshot() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  int batches_ = 0;
  int64_t progress_ = 0;

 public:
  bool bad_progress_ = false;
};

class StoreSuite : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tug-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = GetParam().open(dir_);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  int64_t MustCreate(const std::string& k, const std::string& v) {
    auto r = store_->Create(k, V(v));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : -1;
  }
  std::vector<std::string> Keys(const ListResult& lr) {
    std::vector<std::string> out;
    for (const auto& kv : lr.items) out.push_back(kv.key);
    return out;
  }

  std::string dir_;
  StorePtr store_;
};

TEST_P(StoreSuite, CrudAndRevisions) {
  EXPECT_EQ(store_->CurrentRevision(), 0);
  int64_t r1 = MustCreate("/a/1", "one");
  EXPECT_EQ(r1, 1);
  auto g = store_->Get("/a/1");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g->value, "one");
  EXPECT_EQ(g->create_revision, 1);
  EXPECT_EQ(g->mod_revision, 1);

  auto u = store_->Update("/a/1", V("uno"), 1);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(*u, 2);
  g = store_->Get("/a/1");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g->value, "uno");
  EXPECT_EQ(g->create_revision, 1);
  EXPECT_EQ(g->mod_revision, 2);

  auto u2 = store_->Update("/a/1", V("eins"), 0);  // unconditional
  ASSERT_TRUE(u2.ok());
  EXPECT_EQ(*u2, 3);

  auto d = store_->Delete("/a/1", 3);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->key, "/a/1");
  EXPECT_EQ(*d->value, "eins");
  EXPECT_EQ(d->mod_revision, 4);
  EXPECT_EQ(d->create_revision, 1);
  EXPECT_EQ(store_->Get("/a/1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->CurrentRevision(), 4);

  // Re-create gets a fresh create_revision.
  int64_t r5 = MustCreate("/a/1", "again");
  EXPECT_EQ(r5, 5);
  g = store_->Get("/a/1");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->create_revision, 5);
}

// ShareValues: the store holds the caller's packed copy of a current value and returns its
// bytes; values naming another revision, a deleted key or nothing change nothing; history (past
// lists, watch replays) keeps the bytes as written.
TEST_P(StoreSuite, ShareValuesHoldsTheCallersPackedCopy) {
  MustCreate("/s/a", "a1");                             // 1
  ASSERT_TRUE(store_->Update("/s/a", V("a2"), 1).ok());  // 2
  MustCreate("/s/b", "b1");                             // 3
  MustCreate("/s/c", "c1");                             // 4
  ASSERT_TRUE(store_->Delete("/s/c", 4).ok());           // 5
  const std::string big(5000, 'x');
  MustCreate("/s/d", big);                              // 6
  auto P = [](const std::string& s) { return std::make_shared<const Packed>(Packed::Pack(s)); };
  std::vector<SharedValue> vs = {{"/s/a", 2, P("a2+rv")}, {"/s/a", 1, P("a1+rv")}, {"/s/b", 2, P("stale")},
                                 {"/s/c", 4, P("c1+rv")}, {"/s/missing", 1, P("x")},  {"/s/b", 3, nullptr},
                                 {"/s/d", 6, P(big + "+rv")}};
  ASSERT_TRUE(vs.back().packed->compressed());
  store_->ShareValues(vs);
  auto g = store_->Get("/s/a");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g->value, "a2+rv") << "the current value is the shared copy";
  EXPECT_EQ(g->mod_revision, 2);
  EXPECT_EQ(g->create_revision, 1);
  EXPECT_EQ(*store_->Get("/s/d")->value, big + "+rv");
  g = store_->Get("/s/b");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g->value, "b1") << "a value naming another revision is ignored";
  EXPECT_EQ(store_->Get("/s/c").status().code(), StatusCode::kNotFound);
  auto list = store_->List("/s/", {});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 3u);
  EXPECT_EQ(*list->items[0].value, "a2+rv");
  EXPECT_EQ(*list->items[1].value, "b1");
  EXPECT_EQ(*list->items[2].value, big + "+rv");
  auto page = store_->List("/s/", ListOptions{.limit = 1});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(*page->items[0].value, "a2+rv");
  EXPECT_TRUE(page->more);
  // History as written.
  auto past = store_->List("/s/", ListOptions{.revision = 1});
  ASSERT_TRUE(past.ok());
  ASSERT_EQ(past->items.size(), 1u);
  EXPECT_EQ(*past->items[0].value, "a1");
  Collector c;
  auto w = store_->Watch("/s/", 1, c.Callback());
  ASSERT_TRUE(w.ok());
  auto evs = c.WaitFor(5);
  ASSERT_EQ(evs.size(), 5u);
  EXPECT_EQ(*evs[0].kv.value, "a2");
  EXPECT_EQ(*evs[0].prev_value, "a1");
  EXPECT_EQ(*evs[3].kv.value, "c1");  // the delete carries c's last value
  // A write after sharing reads the shared copy as the previous value, and replaces it.
  ASSERT_TRUE(store_->Update("/s/a", V("a3"), 2).ok());
  EXPECT_EQ(*store_->Get("/s/a")->value, "a3");
  auto del = store_->Delete("/s/d", 6);
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(*del->value, big + "+rv");
}

TEST_P(StoreSuite, PreconditionErrors) {
  MustCreate("/k", "v");  // rev 1
  ASSERT_TRUE(store_->Update("/k", V("v2"), 1).ok());  // rev 2
  struct Case {
    std::string name;
    std::function<Status()> call;
    StatusCode want;
  };
  std::vector<Case> cases = {
      {"create existing", [&] { return store_->Create("/k", V("x")).status(); }, StatusCode::kAlreadyExists},
      {"update stale", [&] { return store_->Update("/k", V("x"), 1).status(); }, StatusCode::kConflict},
      {"delete stale", [&] { return store_->Delete("/k", 1).status(); }, StatusCode::kConflict},
      {"update missing", [&] { return store_->Update("/missing", V("x"), 0).status(); }, StatusCode::kNotFound},
      {"delete missing", [&] { return store_->Delete("/missing", 0).status(); }, StatusCode::kNotFound},
      {"get missing", [&] { return store_->Get("/missing").status(); }, StatusCode::kNotFound},
      {"create empty key", [&] { return store_->Create("", V("x")).status(); }, StatusCode::kBadRequest},
      {"create null value", [&] { return store_->Create("/n", nullptr).status(); }, StatusCode::kBadRequest},
      {"update null value", [&] { return store_->Update("/k", nullptr, 0).status(); }, StatusCode::kBadRequest},
      {"list future", [&] { return store_->List("/", ListOptions{.revision = 99}).status(); }, StatusCode::kTimeout},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.call().code(), c.want);
  }
  // Failed writes consume no revision and change nothing.
  EXPECT_EQ(store_->CurrentRevision(), 2);
  EXPECT_EQ(*store_->Get("/k")->value, "v2");
}

TEST_P(StoreSuite, ListPrefixCountAndPastRevision) {
  MustCreate("/a/1", "a1");   // 1
  MustCreate("/a/2", "a2");   // 2
  MustCreate("/ab/1", "ab1"); // 3
  MustCreate("/b/1", "b1");   // 4
  ASSERT_TRUE(store_->Update("/a/1", V("a1'"), 0).ok());  // 5
  ASSERT_TRUE(store_->Delete("/a/2", 0).ok());            // 6
  MustCreate("/a/3", "a3");   // 7

  auto cur = store_->List("/a/", {});
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(Keys(*cur), (std::vector<std::string>{"/a/1", "/a/3"}));
  EXPECT_EQ(cur->revision, 7);
  EXPECT_EQ(*cur->items[0].value, "a1'");
  EXPECT_EQ(*store_->Count("/a/"), 2);
  EXPECT_EQ(*store_->Count("/a"), 3);
  EXPECT_EQ(*store_->Count("/"), 4);
  EXPECT_EQ(*store_->Count("/zzz"), 0);

  struct Case {
    int64_t rev;
    std::vector<std::string> keys;
    std::vector<std::string> values;
  };
  std::vector<Case> cases = {
      {1, {"/a/1"}, {"a1"}},
      {2, {"/a/1", "/a/2"}, {"a1", "a2"}},
      {4, {"/a/1", "/a/2"}, {"a1", "a2"}},
      {5, {"/a/1", "/a/2"}, {"a1'", "a2"}},
      {6, {"/a/1"}, {"a1'"}},
      {7, {"/a/1", "/a/3"}, {"a1'", "a3"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("rev " + std::to_string(c.rev));
    auto lr = store_->List("/a/", ListOptions{.revision = c.rev});
    ASSERT_TRUE(lr.ok()) << lr.status().ToString();
    EXPECT_EQ(lr->revision, c.rev);
    EXPECT_EQ(Keys(*lr), c.keys);
    for (size_t i = 0; i < lr->items.size() && i < c.values.size(); ++i) EXPECT_EQ(*lr->items[i].value, c.values[i]);
  }
  // Past items carry their revisions at that time.
  auto at4 = store_->List("/a/1", ListOptions{.revision = 4});
  ASSERT_TRUE(at4.ok());
  ASSERT_EQ(at4->items.size(), 1u);
  EXPECT_EQ(at4->items[0].mod_revision, 1);
  EXPECT_EQ(at4->items[0].create_revision, 1);
}

TEST_P(StoreSuite, Paging) {
  for (int i = 0; i < 10; ++i) MustCreate("/p/" + std::to_string(i), "v");
  MustCreate("/q/0", "other");
  ASSERT_TRUE(store_->Delete("/p/9", 0).ok());  // rev 12
  struct Case {
    std::string name;
    ListOptions opts;
    std::vector<std::string> keys;
    bool more;
    int64_t remaining;
  };
  std::vector<Case> cases = {
      {"all", {}, {"/p/0", "/p/1", "/p/2", "/p/3", "/p/4", "/p/5", "/p/6", "/p/7", "/p/8"}, false, 0},
      {"first page", {.limit = 3}, {"/p/0", "/p/1", "/p/2"}, true, 6},
      {"second page", {.limit = 3, .start_after = "/p/2"}, {"/p/3", "/p/4", "/p/5"}, true, 3},
      {"last page", {.limit = 3, .start_after = "/p/5"}, {"/p/6", "/p/7", "/p/8"}, false, 0},
      {"exact limit", {.limit = 9}, {"/p/0", "/p/1", "/p/2", "/p/3", "/p/4", "/p/5", "/p/6", "/p/7", "/p/8"}, false, 0},
      {"after end", {.limit = 3, .start_after = "/p/8"}, {}, false, 0},
      {"start before prefix", {.limit = 2, .start_after = "/a"}, {"/p/0", "/p/1"}, true, 7},
      {"past rev page", {.revision = 11, .limit = 4, .start_after = "/p/5"}, {"/p/6", "/p/7", "/p/8", "/p/9"}, false, 0},
      {"past rev more", {.revision = 11, .limit = 3, .start_after = "/p/5"}, {"/p/6", "/p/7", "/p/8"}, true, 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto lr = store_->List("/p/", c.opts);
    ASSERT_TRUE(lr.ok()) << lr.status().ToString();
    EXPECT_EQ(Keys(*lr), c.keys);
    EXPECT_EQ(lr->more, c.more);
    EXPECT_EQ(lr->remaining, c.remaining);
  }
}

TEST_P(StoreSuite, WatchFromNowAndPrefixIsolation) {
  MustCreate("/pods/a", "x");  // 1: before the watch, not delivered
  Collector pods, svcs;
  auto w1 = store_->Watch("/pods/", 0, pods.Callback());
  ASSERT_TRUE(w1.ok());
  auto w2 = store_->Watch("/services/", 0, svcs.Callback());
  ASSERT_TRUE(w2.ok());
  MustCreate("/pods/b", "pb");                                  // 2
  MustCreate("/services/s", "ss");                              // 3
  ASSERT_TRUE(store_->Update("/pods/a", V("x2"), 1).ok());      // 4
  ASSERT_TRUE(store_->Delete("/pods/b", 0).ok());               // 5
  MustCreate("/podsX", "not under /pods/");                     // 6
  MustCreate("/services/t", "st");                              // 7

  auto pe = pods.WaitFor(3);
  ASSERT_EQ(pe.size(), 3u);
  EXPECT_EQ(pe[0].type, EventType::kCreate);
  EXPECT_EQ(pe[0].kv.key, "/pods/b");
  EXPECT_EQ(pe[0].kv.mod_revision, 2);
  EXPECT_EQ(pe[0].prev_value, nullptr);
  EXPECT_EQ(pe[1].type, EventType::kUpdate);
  EXPECT_EQ(pe[1].kv.mod_revision, 4);
  EXPECT_EQ(pe[1].kv.create_revision, 1);
  ASSERT_NE(pe[1].prev_value, nullptr);
  EXPECT_EQ(*pe[1].prev_value, "x");
  EXPECT_EQ(pe[2].type, EventType::kDelete);
  EXPECT_EQ(pe[2].kv.mod_revision, 5);
  EXPECT_EQ(*pe[2].kv.value, "pb");
  EXPECT_EQ(*pe[2].prev_value, "pb");
  auto se = svcs.WaitFor(2);
  ASSERT_EQ(se.size(), 2u);
  EXPECT_EQ(se[0].kv.key, "/services/s");
  EXPECT_EQ(se[1].kv.key, "/services/t");
  // Both watchers have seen revision 7, so nothing else can be in flight for /pods/.
  EXPECT_EQ(pods.Snapshot().size(), 3u);
}

TEST_P(StoreSuite, WatchFromPastRevisionReplaysThenLive) {
  MustCreate("/w/a", "a1");                                // 1
  MustCreate("/w/b", "b1");                                // 2
  ASSERT_TRUE(store_->Update("/w/a", V("a2"), 0).ok());    // 3
  MustCreate("/other", "o");                               // 4
  ASSERT_TRUE(store_->Delete("/w/b", 0).ok());             // 5
  Collector c;
  auto w = store_->Watch("/w/", 1, c.Callback());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE(store_->Update("/w/a", V("a3"), 3).ok());    // 6 (live)
  auto ev = c.WaitFor(4);
  ASSERT_EQ(ev.size(), 4u);
  std::vector<int64_t> revs;
  for (auto& e : ev) revs.push_back(e.kv.mod_revision);
  EXPECT_EQ(revs, (std::vector<int64_t>{2, 3, 5, 6}));
  EXPECT_EQ(ev[1].type, EventType::kUpdate);
  EXPECT_EQ(*ev[1].prev_value, "a1");
  EXPECT_EQ(*ev[1].kv.value, "a2");
  EXPECT_EQ(ev[2].type, EventType::kDelete);
  EXPECT_EQ(*ev[2].prev_value, "b1");
  EXPECT_EQ(*ev[3].prev_value, "a2");
  EXPECT_EQ(*ev[3].kv.value, "a3");

  // From the current revision: nothing old is replayed.
  Collector now;
  auto w2 = store_->Watch("/w/", 6, now.Callback());
  ASSERT_TRUE(w2.ok());
  MustCreate("/w/c", "c");  // 7
  auto ev2 = now.WaitFor(1);
  ASSERT_EQ(ev2.size(), 1u);
  EXPECT_EQ(ev2[0].kv.mod_revision, 7);
}

TEST_P(StoreSuite, WatchProgressWithoutMatchingEvents) {
  MustCreate("/a/1", "x");  // 1
  Collector c;
  auto w = store_->Watch("/a/", 0, c.Callback());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(c.WaitProgress(1), 1);  // learns the revision it started at
  MustCreate("/b/1", "y");          // 2: not under /a/
  MustCreate("/b/2", "y");          // 3
  EXPECT_EQ(c.WaitProgress(3), 3);
  EXPECT_TRUE(c.Snapshot().empty());
  MustCreate("/a/2", "z");          // 4
  auto ev = c.WaitFor(1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kv.mod_revision, 4);
  EXPECT_EQ(c.WaitProgress(4), 4);
  EXPECT_FALSE(c.bad_progress_);
}

TEST_P(StoreSuite, WatchCancelStopsDelivery) {
  Collector c;
  auto w = store_->Watch("/x/", 0, c.Callback());
  ASSERT_TRUE(w.ok());
  MustCreate("/x/1", "1");
  c.WaitFor(1);
  w->reset();  // after this returns, no more callbacks
  MustCreate("/x/2", "2");
  Collector probe;  // a second watcher proves the event was dispatched
  auto w2 = store_->Watch("/x/", 1, probe.Callback());
  ASSERT_TRUE(w2.ok());
  probe.WaitFor(1);
  EXPECT_EQ(c.Snapshot().size(), 1u);
}

TEST_P(StoreSuite, GoneAfterCompact) {
  for (int i = 0; i < 5; ++i) MustCreate("/c/" + std::to_string(i), "v");  // 1..5
  ASSERT_TRUE(store_->Update("/c/0", V("v2"), 0).ok());                    // 6
  ASSERT_TRUE(store_->Delete("/c/1", 0).ok());                             // 7
  ASSERT_TRUE(store_->Compact(6).ok());
  EXPECT_EQ(store_->CompactedRevision(), 6);
  EXPECT_EQ(store_->Compact(3).code(), StatusCode::kOk);  // already compacted: no-op
  EXPECT_EQ(store_->CompactedRevision(), 6);

  EXPECT_EQ(store_->List("/c/", ListOptions{.revision = 5}).status().code(), StatusCode::kGone);
  Collector c;
  EXPECT_EQ(store_->Watch("/c/", 5, c.Callback()).status().code(), StatusCode::kGone);

  // At and above the compacted revision still works.
  auto at6 = store_->List("/c/", ListOptions{.revision = 6});
  ASSERT_TRUE(at6.ok()) << at6.status().ToString();
  EXPECT_EQ(Keys(*at6), (std::vector<std::string>{"/c/0", "/c/1", "/c/2", "/c/3", "/c/4"}));
  EXPECT_EQ(*at6->items[0].value, "v2");
  auto w = store_->Watch("/c/", 6, c.Callback());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto ev = c.WaitFor(1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kDelete);
  EXPECT_EQ(*ev[0].prev_value, "v");
  // Current state untouched.
  EXPECT_EQ(*store_->Count("/c/"), 4);
  EXPECT_EQ(*store_->Get("/c/0")->value, "v2");
  EXPECT_EQ(store_->Compact(100).code(), StatusCode::kTimeout);  // future
}

TEST_P(StoreSuite, ConcurrentWriters) {
  constexpr int kThreads = 16, kPerThread = 50;
  std::atomic<int> conflicts{0};
  std::mutex mu;
  std::vector<int64_t> all_revs;
  MustCreate("/shared/counter", "0");
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int64_t> revs;
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store_->Create("/distinct/" + std::to_string(t) + "/" + std::to_string(i), V("v"));
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        revs.push_back(*r);
        // Read-modify-write of one shared counter with optimistic concurrency.
        while (true) {
          auto g = store_->Get("/shared/counter");
          ASSERT_TRUE(g.ok());
          int n = std::stoi(*g->value);
          auto u = store_->Update("/shared/counter", V(std::to_string(n + 1)), g->mod_revision);
          if (u.ok()) {
            revs.push_back(*u);
            break;
          }
          ASSERT_EQ(u.status().code(), StatusCode::kConflict);
          ++conflicts;
        }
      }
      // Revisions returned to one thread are strictly increasing.
      for (size_t i = 1; i < revs.size(); ++i) EXPECT_LT(revs[i - 1], revs[i]);
      std::lock_guard<std::mutex> l(mu);
      all_revs.insert(all_revs.end(), revs.begin(), revs.end());
    });
  }
  for (auto& th : threads) th.join();
  constexpr int kWrites = kThreads * kPerThread * 2;
  std::set<int64_t> unique(all_revs.begin(), all_revs.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kWrites));  // no revision handed out twice
  EXPECT_EQ(store_->CurrentRevision(), kWrites + 1);
  EXPECT_EQ(*store_->Get("/shared/counter")->value, std::to_string(kThreads * kPerThread));  // no lost update
  EXPECT_EQ(*store_->Count("/distinct/"), kThreads * kPerThread);
}

// CreateAsync (added by apiperf): each callback runs once with what Create would return, and
// only once the write is visible (durable for SQLite); a burst from one thread is batched.
TEST_P(StoreSuite, CreateAsyncCompletesEveryWriteOnce) {
  constexpr int kN = 200;
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<Result<int64_t>>> results;
  std::atomic<int> visible_at_callback{0};
  Store* s = store_.get();
  auto issue = [&](const std::string& key, const std::string& value) {
    s->CreateAsync(key, V(value), [&, key](Result<int64_t> r) {
      if (r.ok()) {
        auto got = s->Get(key);
        if (got.ok() && got->mod_revision == *r) visible_at_callback.fetch_add(1);
      }
      std::lock_guard<std::mutex> l(mu);
      results[key].push_back(std::move(r));
      cv.notify_all();
    });
  };
  ASSERT_GT(MustCreate("/async/taken", "first"), 0);
  for (int i = 0; i < kN; ++i) issue("/async/k" + std::to_string(i), "v" + std::to_string(i));
  issue("/async/taken", "second");
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait_for(l, std::chrono::seconds(20), [&] { return results.size() == kN + 1; });
  }
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(results.size(), static_cast<size_t>(kN + 1));
  std::set<int64_t> revs;
  for (const auto& [key, rs] : results) {
    ASSERT_EQ(rs.size(), 1u) << key;
    if (key == "/async/taken") {
      EXPECT_EQ(rs[0].status().code(), StatusCode::kAlreadyExists);
      continue;
    }
    ASSERT_TRUE(rs[0].ok()) << key << ": " << rs[0].status().ToString();
    revs.insert(*rs[0]);
  }
  EXPECT_EQ(revs.size(), static_cast<size_t>(kN));  // distinct revisions
  EXPECT_EQ(visible_at_callback.load(), kN);
  EXPECT_EQ(*store_->Get("/async/taken")->value, "first");
  EXPECT_EQ(*store_->Count("/async/"), kN + 1);
}

TEST_P(StoreSuite, WatchSeesEveryConcurrentWriteInOrder) {
  Collector c;
  auto w = store_->Watch("/", 0, c.Callback());
  ASSERT_TRUE(w.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) ASSERT_TRUE(store_->Create("/k/" + std::to_string(t) + "/" + std::to_string(i), V("v")).ok());
    });
  }
  for (auto& th : threads) th.join();
  auto ev = c.WaitFor(200);
  ASSERT_EQ(ev.size(), 200u);
  for (size_t i = 0; i < ev.size(); ++i) EXPECT_EQ(ev[i].kv.mod_revision, static_cast<int64_t>(i + 1));
}

// Compaction racing writers, past-revision lists and watches: every answer is either correct
// or Gone, never wrong or an internal error.
TEST_P(StoreSuite, CompactWhileWritingListingAndWatching) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 60; ++i) {
        std::string k = "/s/" + std::to_string(t) + "/" + std::to_string(i % 7);
        auto c = store_->Create(k, V(std::to_string(i)));
        if (!c.ok()) {
          ASSERT_EQ(c.status().code(), StatusCode::kAlreadyExists);
          ASSERT_TRUE(store_->Update(k, V(std::to_string(i)), 0).ok());
        }
      }
    });
  }
  std::thread compactor([&] {
    while (!stop) {
      int64_t cur = store_->CurrentRevision();
      if (cur > 5) ASSERT_TRUE(store_->Compact(cur - 5).ok());
      std::this_thread::yield();
    }
  });
  std::thread reader([&] {
    while (!stop) {
      int64_t cur = store_->CurrentRevision();
      int64_t at = std::max<int64_t>(1, cur - 3);
      if (cur == 0) continue;
      auto lr = store_->List("/s/", ListOptions{.revision = at});
      if (lr.ok()) {
        EXPECT_EQ(lr->revision, at);
        for (auto& kv : lr->items) EXPECT_LE(kv.mod_revision, at);
      } else {
        EXPECT_EQ(lr.status().code(), StatusCode::kGone) << lr.status().ToString();
      }
      Collector c;
      auto w = store_->Watch("/s/", at, c.Callback());
      if (!w.ok()) EXPECT_EQ(w.status().code(), StatusCode::kGone) << w.status().ToString();
    }
  });
  for (auto& th : writers) th.join();
  stop = true;
  compactor.join();
  reader.join();
  EXPECT_EQ(*store_->Count("/s/"), 28);
  EXPECT_EQ(store_->CurrentRevision(), 240);
  // After the dust settles, the state at the compacted revision is still complete (every key
  // was created by its writer's 7th write, long before revision 235).
  ASSERT_TRUE(store_->Compact(235).ok());
  int64_t c = store_->CompactedRevision();
  EXPECT_EQ(c, 235);
  auto at = store_->List("/s/", ListOptions{.revision = c});
  ASSERT_TRUE(at.ok()) << at.status().ToString();
  EXPECT_EQ(at->items.size(), 28u);
}

// Randomized operations checked against a simple model that keeps a full copy of the state at
// every revision: results and errors of every write, List (with paging) at every retained
// revision, and the complete watch stream.
TEST_P(StoreSuite, RandomOpsMatchModel) {
  std::mt19937 rng(12345);
  std::vector<std::string> keys;
  for (const char* p : {"/m/a/", "/m/b/", "/n/"})
    for (int i = 0; i < 4; ++i) keys.push_back(std::string(p) + std::to_string(i));
  using State = std::map<std::string, KeyValue>;
  std::vector<State> states(1);  // states[r] = state at revision r
  std::vector<Event> model_events;
  Collector watch;
  auto w = store_->Watch("/m/", 0, watch.Callback());
  ASSERT_TRUE(w.ok());
  int64_t compacted = 0;
  for (int step = 0; step < 300; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const std::string& key = keys[rng() % keys.size()];
    State cur = states.back();
    int64_t rev = static_cast<int64_t>(states.size());  // the next revision
    auto it = cur.find(key);
    int64_t expected = 0;
    if (rng() % 3 == 0) expected = it != cur.end() ? it->second.mod_revision : 1;
    if (rng() % 5 == 0) expected = std::max<int64_t>(1, rev - 1 - static_cast<int64_t>(rng() % 5));  // maybe stale
    std::string val = "v" + std::to_string(step);
    int op = static_cast<int>(rng() % 3);
    bool exists = it != cur.end();
    bool pre_ok = exists && (expected == 0 || expected == it->second.mod_revision);
    if (op == 0) {
      auto r = store_->Create(key, V(val));
      if (exists) {
        ASSERT_EQ(r.status().code(), StatusCode::kAlreadyExists);
        continue;
      }
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(*r, rev);
      cur[key] = KeyValue{key, V(val), rev, rev};
      if (key.rfind("/m/", 0) == 0) model_events.push_back(Event{EventType::kCreate, cur[key], nullptr});
    } else if (op == 1) {
      auto r = store_->Update(key, V(val), expected);
      if (!pre_ok) {
        ASSERT_EQ(r.status().code(), exists ? StatusCode::kConflict : StatusCode::kNotFound);
        continue;
      }
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(*r, rev);
      Value prev = it->second.value;
      cur[key] = KeyValue{key, V(val), it->second.create_revision, rev};
      if (key.rfind("/m/", 0) == 0) model_events.push_back(Event{EventType::kUpdate, cur[key], prev});
    } else {
      auto r = store_->Delete(key, expected);
      if (!pre_ok) {
        ASSERT_EQ(r.status().code(), exists ? StatusCode::kConflict : StatusCode::kNotFound);
        continue;
      }
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->mod_revision, rev);
      ASSERT_EQ(*r->value, *it->second.value);
      KeyValue gone{key, it->second.value, it->second.create_revision, rev};
      if (key.rfind("/m/", 0) == 0) model_events.push_back(Event{EventType::kDelete, gone, it->second.value});
      cur.erase(key);
    }
    states.push_back(std::move(cur));
    if (rng() % 40 == 0) {
      compacted = std::max<int64_t>(compacted, rev - static_cast<int64_t>(rng() % 10));
      ASSERT_TRUE(store_->Compact(compacted).ok());
    }
  }
  int64_t current = static_cast<int64_t>(states.size()) - 1;
  ASSERT_EQ(store_->CurrentRevision(), current);
  for (int64_t r = 1; r <= current; ++r) {
    SCOPED_TRACE("rev " + std::to_string(r));
    for (const std::string prefix : {"/m/", "/m/a/", "/n/", "/"}) {
      ListOptions o{.revision = r, .limit = static_cast<int64_t>(rng() % 4)};
      if (r < compacted) {
        ASSERT_EQ(store_->List(prefix, o).status().code(), StatusCode::kGone);
        continue;
      }
      std::vector<KeyValue> want;
      for (auto& [k, kv] : states[r])
        if (k.rfind(prefix, 0) == 0) want.push_back(kv);
      std::vector<KeyValue> got;
      while (true) {  // page through
        auto lr = store_->List(prefix, o);
        ASSERT_TRUE(lr.ok()) << lr.status().ToString();
        ASSERT_EQ(lr->revision, r);
        got.insert(got.end(), lr->items.begin(), lr->items.end());
        ASSERT_EQ(lr->remaining, lr->more ? static_cast<int64_t>(want.size() - got.size()) : 0);
        if (!lr->more) break;
        o.start_after = lr->items.back().key;
      }
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].key, want[i].key);
        EXPECT_EQ(*got[i].value, *want[i].value);
        EXPECT_EQ(got[i].create_revision, want[i].create_revision);
        EXPECT_EQ(got[i].mod_revision, want[i].mod_revision);
      }
    }
  }
  auto ev = watch.WaitFor(model_events.size());
  ASSERT_EQ(ev.size(), model_events.size());
  for (size_t i = 0; i < ev.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    EXPECT_EQ(ev[i].type, model_events[i].type);
    EXPECT_EQ(ev[i].kv.key, model_events[i].kv.key);
    EXPECT_EQ(ev[i].kv.mod_revision, model_events[i].kv.mod_revision);
    EXPECT_EQ(ev[i].kv.create_revision, model_events[i].kv.create_revision);
    EXPECT_EQ(*ev[i].kv.value, *model_events[i].kv.value);
    EXPECT_EQ(ev[i].prev_value == nullptr, model_events[i].prev_value == nullptr);
    if (ev[i].prev_value && model_events[i].prev_value) EXPECT_EQ(*ev[i].prev_value, *model_events[i].prev_value);
  }
  // A watch replaying from the compacted revision sees exactly the model's later events.
  Collector replay;
  auto w2 = store_->Watch("/m/", compacted, replay.Callback());
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  size_t later = 0;
  for (auto& e : model_events) later += e.kv.mod_revision > compacted;
  auto rev2 = replay.WaitFor(later);
  ASSERT_EQ(rev2.size(), later);
  for (size_t i = 0; i < later; ++i) {
    const Event& m = model_events[model_events.size() - later + i];
    EXPECT_EQ(rev2[i].kv.mod_revision, m.kv.mod_revision);
    EXPECT_EQ(rev2[i].type, m.type);
    EXPECT_EQ(rev2[i].prev_value == nullptr, m.prev_value == nullptr);
    if (rev2[i].prev_value && m.prev_value) EXPECT_EQ(*rev2[i].prev_value, *m.prev_value);
    if (m.type == EventType::kDelete) EXPECT_EQ(*rev2[i].kv.value, *m.kv.value);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreSuite, ::testing::ValuesIn(Backends()),
                         [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

}  // namespace
}  // namespace tug::store
