// Watch at scale (issue 4 item 6) at the unit level: a watcher that stops reading is cut off
// after a bounded backlog while writes and the other watchers go on; resuming from a
// resourceVersion inside the cache's event window replays exactly the missed events, one below
// it is 410 Expired; events are delivered in batches and old-version watch events are
// converted once per event, not once per watcher.
#include "apiserver/rest/watch_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "apiserver/rest/rest.h"
#include "base/json.h"
#include "store/memory/memory_store.h"

namespace tug::apiserver::rest {
namespace {

using ::testing::HasSubstr;

std::string Value(const std::string& name, int i) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","namespace":"default"},"data":{"i":")" +
         std::to_string(i) + R"("}})";
}

// Records every event's revision; optionally refuses after `limit` events (a client gone).
class Recorder final : public CacheWatcher {
 public:
  explicit Recorder(size_t limit = SIZE_MAX) : limit_(limit) {}
  bool OnEvent(const CacheEvent& ev) override {
    std::lock_guard<std::mutex> l(mu_);
    if (revs_.size() >= limit_) return false;
    revs_.push_back(ev.rv);
    cv_.notify_all();
    return true;
  }
  std::vector<int64_t> WaitFor(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::seconds(10), [&] { return revs_.size() >= n; });
    return revs_;
  }

 private:
  size_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int64_t> revs_;
};

TEST(WatchCacheTest, ResumeInsideTheWindowReplaysBelowItIsGone) {
  struct Case {
    std::string name;
    int from;  // index of the write to resume after; the window holds the last 10 of 30
    bool gone;
  };
  const std::vector<Case> cases = {
      {"newest", 29, false},
      {"inside the window", 24, false},
      {"oldest kept", 19, false},
      {"just below the window", 18, true},
      {"far below", 0, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto store = store::NewMemoryStore();
    WatchCache cache(*store, "/registry/core/configmaps/", /*window=*/10);
    ASSERT_TRUE(cache.Start().ok());
    std::vector<int64_t> revs;
    for (int i = 0; i < 30; ++i) {
      auto r = store->Create("/registry/core/configmaps/default/c" + std::to_string(i),
                             std::make_shared<const std::string>(Value("c" + std::to_string(i), i)));
      ASSERT_TRUE(r.ok());
      revs.push_back(*r);
    }
    ASSERT_TRUE(cache.WaitForRevision(revs.back(), std::chrono::seconds(5)));
    auto w = std::make_shared<Recorder>();
    int64_t start = 0;
    const int64_t from = revs[static_cast<size_t>(c.from)];
    auto id = cache.AddWatcher(from, w, &start);
    if (c.gone) {
      ASSERT_FALSE(id.ok());
      EXPECT_EQ(id.status().code(), StatusCode::kGone);
      EXPECT_THAT(id.status().message(), HasSubstr("too old resource version: " + std::to_string(from)));
      continue;
    }
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_EQ(start, revs.back());
    std::vector<int64_t> want(revs.begin() + c.from + 1, revs.end());
    EXPECT_EQ(w->WaitFor(want.size()), want);
    // Live events follow the replay without a gap or a repeat.
    auto r = store->Create("/registry/core/configmaps/default/live", std::make_shared<const std::string>(Value("live", 0)));
    ASSERT_TRUE(r.ok());
    want.push_back(*r);
    EXPECT_EQ(w->WaitFor(want.size()), want);
    cache.RemoveWatcher(*id);
  }
}

// A window bounded by bytes keeps fewer events than its count allows, but never fewer than
// kMinWindow: resuming inside those replays them, below them is Gone.
TEST(WatchCacheTest, WindowByBytesKeepsAtLeastTheMinimum) {
  auto store = store::NewMemoryStore();
  WatchCache cache(*store, "/registry/core/configmaps/", /*window=*/1000, /*window_bytes=*/1);
  ASSERT_TRUE(cache.Start().ok());
  const int n = static_cast<int>(WatchCache::kMinWindow) + 50;
  std::vector<int64_t> revs;
  for (int i = 0; i < n; ++i) {
    auto r = store->Create("/registry/core/configmaps/default/c" + std::to_string(i),
                           std::make_shared<const std::string>(Value("c" + std::to_string(i), i)));
    ASSERT_TRUE(r.ok());
    revs.push_back(*r);
  }
  ASSERT_TRUE(cache.WaitForRevision(revs.back(), std::chrono::seconds(5)));
  int64_t start = 0;
  // The oldest kept event is write 50: resuming after write 49 replays the last kMinWindow.
  auto w = std::make_shared<Recorder>();
  auto id = cache.AddWatcher(revs[49], w, &start);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(w->WaitFor(WatchCache::kMinWindow), std::vector<int64_t>(revs.begin() + 50, revs.end()));
  cache.RemoveWatcher(*id);
  auto old = cache.AddWatcher(revs[48], std::make_shared<Recorder>(), &start);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), StatusCode::kGone);
}

TEST(WatchCacheTest, WatcherThatRefusesIsRemovedOthersContinue) {
  auto store = store::NewMemoryStore();
  WatchCache cache(*store, "/registry/core/configmaps/");
  ASSERT_TRUE(cache.Start().ok());
  auto fast = std::make_shared<Recorder>();
  auto gone = std::make_shared<Recorder>(3);
  int64_t start = 0;
  ASSERT_TRUE(cache.AddWatcher(cache.Revision(), fast, &start).ok());
  ASSERT_TRUE(cache.AddWatcher(cache.Revision(), gone, &start).ok());
  EXPECT_EQ(cache.WatcherCount(), 2u);
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(store->Create("/registry/core/configmaps/default/c" + std::to_string(i),
                              std::make_shared<const std::string>(Value("c" + std::to_string(i), i)))
                    .ok());
  EXPECT_EQ(fast->WaitFor(20).size(), 20u);
  EXPECT_EQ(gone->WaitFor(3).size(), 3u);
  // The refusing watcher is removed once the dispatch that it refused has called every watcher.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (cache.WatcherCount() != 1u && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(cache.WatcherCount(), 1u);
}

// The cache holds its objects packed, against a dictionary learnt from its first objects: similar
// objects take a fraction of their bytes, and every one reads back as it was written.
TEST(WatchCacheTest, HoldsObjectsPackedAgainstALearntDictionary) {
  auto store = store::NewMemoryStore();
  WatchCache cache(*store, "/registry/core/configmaps/");
  ASSERT_TRUE(cache.Start().ok());
  auto doc = [](int i) {
    std::string data;
    for (int k = 0; k < 20; ++k)
      data += R"("key-)" + std::to_string(k) + R"(":"the same long value in every config map, number )" +
              std::to_string(k) + R"(",)";
    return R"({"apiVersion":"v1","data":{)" + data + R"("own":")" + std::to_string(i * 7919) +
           R"("},"kind":"ConfigMap","metadata":{"name":"cm-)" + std::to_string(i) + R"(","namespace":"default"}})";
  };
  int64_t last = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = store->Create("/registry/core/configmaps/default/cm-" + std::to_string(i),
                           std::make_shared<const std::string>(doc(i)));
    ASSERT_TRUE(r.ok());
    last = *r;
  }
  ASSERT_TRUE(cache.WaitForRevision(last, std::chrono::seconds(5)));
  int64_t rev = 0;
  auto snap = cache.Snapshot("/registry/core/configmaps/default/cm-", &rev);
  ASSERT_EQ(snap.size(), 40u);
  size_t raw = 0, held = 0;
  for (const CachedObjectPtr& obj : snap) {
    int i = std::stoi(obj->name.substr(3));
    std::string want = doc(i);
    const std::string tail = R"("namespace":"default"}})";
    want.replace(want.size() - tail.size(), tail.size(),
                 R"("namespace":"default","resourceVersion":")" + std::to_string(obj->rv) + R"("}})");
    EXPECT_EQ(obj->Bytes(), want);
    raw += obj->packed.size();
    held += obj->packed.stored_size();
  }
  EXPECT_LT(held * 4, raw) << held << " of " << raw << " bytes held";
}

// The store and the cache hold one copy per object (Store::ShareValues): after the cache has
// seen a write, the store holds the snapshot's packed bytes (resourceVersion filled in, so that
// is what it returns) and no longer the bytes as written.
TEST(WatchCacheTest, StoreAndCacheShareEachObjectsBytes) {
  auto store = store::NewMemoryStore();
  const std::string before_key = "/registry/core/configmaps/default/before";
  auto before = std::make_shared<const std::string>(Value("before", 0));
  ASSERT_TRUE(store->Create(before_key, before).ok());
  WatchCache cache(*store, "/registry/core/configmaps/");
  ASSERT_TRUE(cache.Start().ok());
  const std::string live_key = "/registry/core/configmaps/default/live";
  auto live = std::make_shared<const std::string>(Value("live", 1));
  auto created = store->Create(live_key, live);
  ASSERT_TRUE(created.ok());
  auto updated_value = std::make_shared<const std::string>(Value("live", 2));
  auto updated = store->Update(live_key, updated_value, *created);
  ASSERT_TRUE(updated.ok());
  ASSERT_TRUE(cache.WaitForRevision(*updated, std::chrono::seconds(5)));
  ASSERT_TRUE(store->Compact(*updated).ok());  // the memory store keeps history until compacted
  int64_t rev = 0;
  auto snap = cache.Snapshot("/registry/core/configmaps/", &rev);
  ASSERT_EQ(snap.size(), 2u);
  // The cache hands the bytes to the store right after it has taken the events in (after
  // WaitForRevision may already have returned): wait for that.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto all_shared = [&] {
    for (const CachedObjectPtr& obj : snap)
      if (auto kv = store->Get(obj->key); !kv.ok() || *kv->value != obj->Bytes()) return false;
    return true;
  };
  while (!all_shared() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (const CachedObjectPtr& obj : snap) {
    SCOPED_TRACE(obj->key);
    auto kv = store->Get(obj->key);
    ASSERT_TRUE(kv.ok());
    EXPECT_EQ(*kv->value, obj->Bytes()) << "the store returns the cache's copy";
    EXPECT_THAT(*kv->value, HasSubstr("\"resourceVersion\":\"" + std::to_string(kv->mod_revision) + "\""));
  }
  // Only this test still holds the values as written.
  EXPECT_EQ(before.use_count(), 1);
  EXPECT_EQ(live.use_count(), 1);
  EXPECT_EQ(updated_value.use_count(), 1);
}

// --- through the REST handler ----------------------------------------------------------------

// A streaming writer in front of a client that reads nothing: like the transport, it accepts
// chunks until `limit` bytes are queued, then refuses and closes (ResponseWriter::Write).
class BacklogWriter final : public ResponseWriter {
 public:
  explicit BacklogWriter(size_t limit) : limit_(limit) {}
  void Send(int code, std::string, std::string body, std::vector<std::pair<std::string, std::string>>) override {
    std::lock_guard<std::mutex> l(mu_);
    code_ = code;
    body_ = std::move(body);
  }
  void StartStream(int code, std::string) override {
    std::lock_guard<std::mutex> l(mu_);
    code_ = code;
  }
  bool Write(std::string chunk) override {
    std::lock_guard<std::mutex> l(mu_);
    ++writes_;
    if (closed_) return false;
    if (queued_.size() + chunk.size() > limit_) {
      closed_ = true;
      return false;
    }
    queued_ += chunk;
    cv_.notify_all();
    return true;
  }
  // Records which shared pieces it was handed (the transport queues them without copying).
  bool WriteShared(std::span<const std::shared_ptr<const std::string>> pieces) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& p : pieces) pieces_.push_back(p.get());
    }
    return ResponseWriter::WriteShared(pieces);
  }
  std::vector<const std::string*> pieces() {
    std::lock_guard<std::mutex> l(mu_);
    return pieces_;
  }
  void Finish() override {}
  void OnClose(std::function<void()>) override {}
  bool Closed() const override {
    std::lock_guard<std::mutex> l(mu_);
    return closed_;
  }
  // The events received so far (one JSON document per line).
  std::vector<Json> Events() {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Json> out;
    size_t i = 0;
    while (i < queued_.size()) {
      size_t nl = queued_.find('\n', i);
      out.push_back(Json::parse(queued_.substr(i, nl - i)));
      i = nl + 1;
    }
    return out;
  }
  bool WaitForEvents(size_t n) {
    for (int i = 0; i < 1000; ++i) {
      if (Events().size() >= n) return true;
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(10));
    }
    return false;
  }
  size_t writes() {
    std::lock_guard<std::mutex> l(mu_);
    return writes_;
  }
  bool closed() {
    std::lock_guard<std::mutex> l(mu_);
    return closed_;
  }

 private:
  const size_t limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int code_ = 0;
  std::string body_;
  std::string queued_;
  size_t writes_ = 0;
  bool closed_ = false;
  std::vector<const std::string*> pieces_;
};

Request Req(std::string method, std::string path, std::string query, std::string body = "") {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.raw_query = query;
  size_t i = 0;
  while (i < query.size()) {
    size_t amp = query.find('&', i);
    if (amp == std::string::npos) amp = query.size();
    std::string kv = query.substr(i, amp - i);
    auto eq = kv.find('=');
    r.query.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
    i = amp + 1;
  }
  r.body = std::move(body);
  if (!r.body.empty()) r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

class WatchRestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemoryStore();
    auto reg = api::Registry::Builtin();
    ASSERT_TRUE(reg.ok());
    Options o;
    o.start_timer_thread = false;
    auto h = NewRestHandler(*store_, *reg, o);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    h_ = std::move(h).value();
  }
  void TearDown() override { h_->Stop(); }
  int Post(const std::string& path, const std::string& body) {
    auto w = std::make_shared<BacklogWriter>(1 << 30);
    h_->Handle(Req("POST", path, "", body), w);
    return w->Closed() ? 0 : 201;
  }
  store::StorePtr store_;
  std::unique_ptr<RestHandler> h_;
};

TEST_F(WatchRestTest, SlowWatcherIsCutOffWritesAndOtherWatchersContinue) {
  const std::string path = "/api/v1/namespaces/default/configmaps";
  auto slow = std::make_shared<BacklogWriter>(16 << 10);  // stops reading: 16 KiB backlog
  auto fast = std::make_shared<BacklogWriter>(64 << 20);
  const std::string start_rv = std::to_string(store_->CurrentRevision());
  h_->Handle(Req("GET", path, "watch=true&resourceVersion=" + start_rv), slow);
  h_->Handle(Req("GET", path, "watch=true&resourceVersion=" + start_rv), fast);
  const int n = 400;
  const std::string pad(200, 'x');
  for (int i = 0; i < n; ++i)
    Post(path, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c)" + std::to_string(i) +
                   R"("},"data":{"pad":")" + pad + R"("}})");
  h_->SyncForTest();
  ASSERT_TRUE(fast->WaitForEvents(n));
  auto all = fast->Events();
  ASSERT_EQ(all.size(), static_cast<size_t>(n));
  EXPECT_EQ(all.back()["object"]["metadata"]["name"], "c" + std::to_string(n - 1));
  // The slow one was cut off inside its backlog, and nothing more was offered to it after the
  // refusal (the stream was dropped, not retried per event).
  EXPECT_TRUE(slow->closed());
  auto partial = slow->Events();
  EXPECT_LT(partial.size(), static_cast<size_t>(n));  // possibly none: a batch can exceed the backlog
  size_t writes = slow->writes();
  Post(path, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"after"}})");
  h_->SyncForTest();
  ASSERT_TRUE(fast->WaitForEvents(n + 1));
  EXPECT_EQ(slow->writes(), writes);
  // A client that was cut off resumes from the last resourceVersion it saw (or re-lists).
  std::string last = partial.empty() ? start_rv : partial.back()["object"]["metadata"]["resourceVersion"].get<std::string>();
  auto again = std::make_shared<BacklogWriter>(64 << 20);
  h_->Handle(Req("GET", path, "watch=true&resourceVersion=" + last), again);
  ASSERT_TRUE(again->WaitForEvents(n + 1 - partial.size()));
  auto rest = again->Events();
  ASSERT_EQ(rest.size(), n + 1 - partial.size());
  EXPECT_EQ(rest.back()["object"]["metadata"]["name"], "after");
}

// An old API version's watch events are converted from the stored version once per event and
// shared by every watcher of that version; each watcher still sees its own type and version.
TEST_F(WatchRestTest, OldVersionWatchersShareConvertedEvents) {
  const std::string v1 = "/apis/apps/v1/namespaces/default/deployments";
  const std::string beta = "/apis/apps/v1beta1/namespaces/default/deployments";
  std::vector<std::shared_ptr<BacklogWriter>> betas, currents;
  std::string rv = std::to_string(store_->CurrentRevision());
  const size_t conversions = WatchConversionsForTest();
  for (int i = 0; i < 3; ++i) {
    betas.push_back(std::make_shared<BacklogWriter>(64 << 20));
    h_->Handle(Req("GET", beta, "watch=true&resourceVersion=" + rv), betas.back());
    currents.push_back(std::make_shared<BacklogWriter>(64 << 20));
    h_->Handle(Req("GET", v1, "watch=true&resourceVersion=" + rv), currents.back());
  }
  std::string d = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1,
    "selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
    "spec":{"containers":[{"name":"c","image":"busybox"}]}}}})";
  Post(v1, d);
  h_->SyncForTest();
  for (auto& w : betas) {
    ASSERT_TRUE(w->WaitForEvents(1));
    EXPECT_EQ(w->Events()[0]["object"]["apiVersion"], "apps/v1beta1");
  }
  for (auto& w : currents) {
    ASSERT_TRUE(w->WaitForEvents(1));
    EXPECT_EQ(w->Events()[0]["object"]["apiVersion"], "apps/v1");
  }
  EXPECT_EQ(WatchConversionsForTest() - conversions, 1u);
}

// A watch line is made once per event and event type and handed to every watcher's transport
// by reference; a watcher whose selector turns the event into another type gets that type's
// (also shared) line.
TEST_F(WatchRestTest, WatchersShareEachEventLine) {
  const std::string path = "/api/v1/namespaces/default/configmaps";
  const std::string rv = std::to_string(store_->CurrentRevision());
  std::vector<std::shared_ptr<BacklogWriter>> plain, selected;
  for (int i = 0; i < 3; ++i) {
    plain.push_back(std::make_shared<BacklogWriter>(64 << 20));
    h_->Handle(Req("GET", path, "watch=true&resourceVersion=" + rv), plain.back());
    selected.push_back(std::make_shared<BacklogWriter>(64 << 20));
    h_->Handle(Req("GET", path, "watch=true&labelSelector=app=web&resourceVersion=" + rv), selected.back());
  }
  const size_t lines = WatchLinesForTest();
  Post(path, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}})");
  auto put = std::make_shared<BacklogWriter>(1 << 30);
  h_->Handle(Req("PUT", path + "/c", "",
                 R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"app":"web"}}})"),
             put);
  h_->SyncForTest();
  for (auto& w : plain) {
    ASSERT_TRUE(w->WaitForEvents(2));
    auto evs = w->Events();
    EXPECT_EQ(evs[0]["type"], "ADDED");
    EXPECT_EQ(evs[1]["type"], "MODIFIED");
    EXPECT_EQ(w->pieces(), plain[0]->pieces());
  }
  for (auto& w : selected) {
    ASSERT_TRUE(w->WaitForEvents(1));
    auto evs = w->Events();
    ASSERT_EQ(evs.size(), 1u);
    EXPECT_EQ(evs[0]["type"], "ADDED");  // the label appeared: ADDED for this watcher
    EXPECT_EQ(evs[0]["object"]["metadata"]["labels"]["app"], "web");
    EXPECT_EQ(w->pieces(), selected[0]->pieces());
  }
  ASSERT_EQ(plain[0]->pieces().size(), 2u);
  ASSERT_EQ(selected[0]->pieces().size(), 1u);
  EXPECT_NE(selected[0]->pieces()[0], plain[0]->pieces()[1]);
  EXPECT_EQ(WatchLinesForTest() - lines, 3u);
}

}  // namespace
}  // namespace tug::apiserver::rest
