// Informers against a real in-process API server; a wrapping transport simulates connection
// loss, 410 Gone and server-side watch timeouts.
#include "client/informer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "client/testing/test_api_server.h"

namespace tug::client {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

template <typename F>
bool Eventually(F pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

Json ConfigMap(const std::string& ns, const std::string& name, Json labels = Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"data", {{"k", "v"}}}};
}

// Records handler calls as "add ns/name", "update ns/name", "delete ns/name".
struct Recorder {
  std::mutex mu;
  std::vector<std::string> log;
  EventHandler Handler(std::string prefix_filter = "") {
    auto keep = [prefix_filter](const ObjectPtr& o) { return KeyOf(*o).rfind(prefix_filter, 0) == 0; };
    return EventHandler{
        .on_add = [this, keep](const ObjectPtr& o) {
          if (keep(o)) Add("add " + KeyOf(*o));
        },
        .on_update = [this, keep](const ObjectPtr& a, const ObjectPtr& b) {
          if (keep(b)) Add(std::string(a == b ? "resync " : "update ") + KeyOf(*b));
        },
        .on_delete = [this, keep](const ObjectPtr& o) {
          if (keep(o)) Add("delete " + KeyOf(*o));
        },
    };
  }
  void Add(std::string s) {
    std::lock_guard<std::mutex> l(mu);
    log.push_back(std::move(s));
  }
  std::vector<std::string> Get() {
    std::lock_guard<std::mutex> l(mu);
    return log;
  }
  void Clear() {
    std::lock_guard<std::mutex> l(mu);
    log.clear();
  }
  bool WaitSize(size_t n) {
    return Eventually([&] { return Get().size() >= n; });
  }
};

// Wraps a transport: counts LISTs and watches, can drop every open watch, fail requests, or
// answer the next watch with a 410 Expired error event.
class FlakyTransport : public Transport {
 public:
  explicit FlakyTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {}

  Result<HttpResponse> Do(const HttpRequest& req) override {
    if (down_) return UnavailableError("connection refused");
    if (req.method == "GET") ++lists_;
    auto r = inner_->Do(req);
    if (r.ok() && req.method == "GET" && zero_rv_lists_ > 0) {
      --zero_rv_lists_;
      Json j = Json::parse(r->body);
      j["metadata"]["resourceVersion"] = "0";
      r->body = DumpJson(j);
    }
    return r;
  }

  Result<std::unique_ptr<Stream>> Open(const HttpRequest& req, std::function<void(int, std::string_view)> on_head,
                                       std::function<void(std::string_view)> on_data,
                                       std::function<void(Status)> on_end) override {
    if (down_) return UnavailableError("connection refused");
    {
      std::lock_guard<std::mutex> l(mu_);
      last_watch_query_ = req.query;
    }
    if (expire_next_.exchange(false)) {
      ++watches_;
      on_head(200, "application/json");
      on_data(R"x({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","code":410,"reason":"Expired","message":"too old resource version"}})x"
              "\n");
      on_end(Status::Ok());
      return std::unique_ptr<Stream>(std::make_unique<Dead>());
    }
    auto st = std::make_shared<Tracked>();
    st->on_end = std::move(on_end);
    auto wrapped_end = [st](Status s) {
      std::lock_guard<std::mutex> l(st->mu);
      if (st->ended) return;
      st->ended = true;
      st->on_end(std::move(s));
    };
    auto inner = inner_->Open(req, std::move(on_head), std::move(on_data), wrapped_end);
    if (!inner.ok()) return inner.status();
    st->inner = std::move(inner).value();
    {
      std::lock_guard<std::mutex> l(mu_);
      open_.push_back(st);
    }
    ++watches_;  // counted once DropWatches can reach it
    return std::unique_ptr<Stream>(std::make_unique<Handle>(st));
  }

  // Ends every open watch as the network would (the client sees on_end(status)).
  void DropWatches(Status status) {
    std::vector<std::shared_ptr<Tracked>> open;
    {
      std::lock_guard<std::mutex> l(mu_);
      open.swap(open_);
    }
    for (auto& st : open) {
      st->inner->Cancel();
      std::lock_guard<std::mutex> l(st->mu);
      if (st->ended) continue;
      st->ended = true;
      st->on_end(status);
    }
  }

  std::atomic<bool> down_{false};
  std::atomic<bool> expire_next_{false};
  std::atomic<int> zero_rv_lists_{0};  // answer this many lists with resourceVersion "0"
  std::atomic<int> lists_{0};
  std::atomic<int> watches_{0};

  std::string LastWatchQuery() {
    std::lock_guard<std::mutex> l(mu_);
    return last_watch_query_;
  }
  // The resourceVersion the last watch started from.
  int64_t LastWatchRv() {
    std::string q = LastWatchQuery();
    auto p = q.find("resourceVersion=");
    if (p == std::string::npos) return -1;
    return std::atoll(q.c_str() + p + 16);
  }

 private:
  struct Tracked {
    std::mutex mu;
    bool ended = false;
    std::function<void(Status)> on_end;
    std::unique_ptr<Stream> inner;
  };
  struct Handle : Stream {
    explicit Handle(std::shared_ptr<Tracked> s) : st(std::move(s)) {}
    ~Handle() override { Cancel(); }
    void Cancel() override {
      st->inner->Cancel();
      std::lock_guard<std::mutex> l(st->mu);
      st->ended = true;
    }
    std::shared_ptr<Tracked> st;
  };
  struct Dead : Stream {
    void Cancel() override {}
  };
  std::shared_ptr<Transport> inner_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Tracked>> open_;
  std::string last_watch_query_;
};

// Every informer test runs against the plain cache (0) and a compact cache whose hot ring keeps
// one tree (1) and that pins no changed object, so nearly every read parses the text again.
class InformerTest : public ::testing::TestWithParam<size_t> {
 protected:
  InformerTest() {
    apiserver::UserInfo u{"system:admin", "", {"system:masters"}};
    flaky_ = std::make_shared<FlakyTransport>(NewLoopbackTransport(api_.handler(), u));
    client_ = std::make_unique<Client>(flaky_);
  }
  const Client& c() { return api_.client(); }

  testing::TestApiServer api_{testing::TestApiServerOptions{.use_fake_clock = true}};
  std::shared_ptr<FlakyTransport> flaky_;
  std::unique_ptr<Client> client_;
};

TEST_P(InformerTest, SyncsThenFollowsEventsInOrder) {
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "a")).ok());
  ASSERT_TRUE(c().Create(kConfigMaps, "kube-system", ConfigMap("kube-system", "b")).ok());
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  Informer& inf = f.For(kConfigMaps);
  EXPECT_EQ(&inf, &f.For(kConfigMaps));  // shared
  Recorder rec;
  inf.AddHandler(rec.Handler());
  EXPECT_FALSE(inf.HasSynced());
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  EXPECT_THAT(rec.Get(), UnorderedElementsAre("add default/a", "add kube-system/b"));
  ObjectPtr a = inf.Get("default/a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ((*a)["kind"], "ConfigMap");
  EXPECT_EQ((*a)["apiVersion"], "v1");
  EXPECT_EQ(inf.Get("default/nope"), nullptr);
  EXPECT_EQ(inf.List().size(), 2u);
  EXPECT_EQ(inf.List("kube-system").size(), 1u);
  EXPECT_EQ(inf.resource().plural, "configmaps");

  rec.Clear();
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "c")).ok());
  ASSERT_TRUE(c().Patch(kConfigMaps, "default", "a", PatchType::kMerge, R"({"data":{"x":"y"}})").ok());
  ASSERT_TRUE(c().Delete(kConfigMaps, "kube-system", "b").ok());
  ASSERT_TRUE(rec.WaitSize(3));
  EXPECT_THAT(rec.Get(), ElementsAre("add default/c", "update default/a", "delete kube-system/b"));
  EXPECT_EQ((*inf.Get("default/a"))["data"]["x"], "y");
  EXPECT_EQ((*inf.Get("default/c"))["kind"], "ConfigMap");  // from a watch event
  EXPECT_EQ(inf.Get("kube-system/b"), nullptr);
  // The old snapshot is untouched: objects are immutable.
  EXPECT_FALSE((*a)["data"].contains("x"));
  EXPECT_TRUE(inf.List("kube-system").empty());
}

TEST_P(InformerTest, LateHandlerGetsSyntheticAdds) {
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "a")).ok());
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  Informer& inf = f.For(kConfigMaps, {.ns = "default"});
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  Recorder rec;
  inf.AddHandler(rec.Handler());
  ASSERT_TRUE(rec.WaitSize(1));
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "b")).ok());
  ASSERT_TRUE(c().Create(kConfigMaps, "kube-system", ConfigMap("kube-system", "other")).ok());
  ASSERT_TRUE(rec.WaitSize(2));
  api_.SyncForTest();
  EXPECT_THAT(rec.Get(), ElementsAre("add default/a", "add default/b"));
}

TEST_P(InformerTest, TransformStripsManagedFieldsAndUpdatesKeepThem) {
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "a")).ok());
  Recorder rec;  // outlives the factory: the update below may still be dispatched at the end
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  f.SetTransform(StripManagedFields);
  Informer& inf = f.For(kConfigMaps);
  inf.AddHandler(rec.Handler());
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  ObjectPtr a = inf.Get("default/a");
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE((*a)["metadata"].contains("managedFields"));  // listed
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "b")).ok());
  ASSERT_TRUE(rec.WaitSize(2));
  EXPECT_FALSE((*inf.Get("default/b"))["metadata"].contains("managedFields"));  // watched
  EXPECT_TRUE(c().Get(kConfigMaps, "default", "b")->at("metadata").contains("managedFields"));
  // Writing back a stripped object keeps the stored managedFields.
  Json upd = *a;
  upd["data"] = {{"k", "v"}};
  ASSERT_TRUE(c().Update(kConfigMaps, "default", upd).ok());
  auto stored = c().Get(kConfigMaps, "default", "a");
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE((*stored)["metadata"]["managedFields"].empty());
}

// StripForControlLoops: a cached pod loses the spec and status fields no control loop reads and
// keeps the rest; other kinds lose only managedFields. The control loops write pods only as
// patches, so what the cache dropped stays stored.
TEST_P(InformerTest, ControlLoopTransformStripsUnreadPodFields) {
  Json pod = ParseJson(R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"p","namespace":"default","labels":{"app":"x"}},
    "spec":{"containers":[{"name":"c","image":"busybox","imagePullPolicy":"Always",
                           "terminationMessagePath":"/dev/termination-log","ports":[{"containerPort":80}],
                           "resources":{"requests":{"cpu":"10m"}},"volumeMounts":[{"name":"tok","mountPath":"/t"}]}],
            "dnsPolicy":"ClusterFirst","enableServiceLinks":true,"serviceAccountName":"default",
            "serviceAccount":"default","securityContext":{},"terminationGracePeriodSeconds":30,
            "nodeSelector":{"disk":"ssd"},
            "volumes":[{"name":"tok","projected":{"sources":[{"serviceAccountToken":{"path":"token"}}]}},
                       {"name":"data","persistentVolumeClaim":{"claimName":"d"}}]}})")
                 .value();
  auto created = c().Create(kPods, "default", pod);
  ASSERT_TRUE(created.ok());
  Json with_status = *created;
  with_status["status"] = ParseJson(R"({"phase":"Running","hostIP":"10.0.0.1","hostIPs":[{"ip":"10.0.0.1"}],
    "podIP":"10.1.0.5","podIPs":[{"ip":"10.1.0.5"}],"qosClass":"Burstable","startTime":"2026-01-01T00:00:00Z",
    "conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:01Z"}],
    "containerStatuses":[{"name":"c","containerID":"sim://1","image":"busybox","imageID":"busybox@sha256:00",
      "ready":true,"restartCount":2,"started":true,"lastState":{"terminated":{"exitCode":1}},
      "state":{"running":{"startedAt":"2026-01-01T00:00:01Z"}}}],
    "initContainerStatuses":[{"name":"i","containerID":"sim://2","image":"busybox","imageID":"busybox@sha256:00",
      "ready":false,"restartCount":0,"state":{"terminated":{"exitCode":0,"finishedAt":"2026-01-01T00:00:01Z"}}}]})")
                               .value();
  ASSERT_TRUE(c().UpdateStatus(kPods, "default", with_status).ok());
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "cm")).ok());
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  f.SetTransform(StripForControlLoops);
  Informer& pods = f.For(kPods);
  Informer& cms = f.For(kConfigMaps);
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  ObjectPtr cached = pods.Get("default/p");
  ASSERT_NE(cached, nullptr);
  const Json& spec = (*cached)["spec"];
  struct Field {
    std::vector<std::string_view> path;
    bool kept;
  };
  const std::vector<Field> fields = {
      {{"metadata", "managedFields"}, false},   {{"spec", "dnsPolicy"}, false},
      {{"spec", "enableServiceLinks"}, false},  {{"spec", "serviceAccount"}, false},
      {{"spec", "securityContext"}, false},     {{"spec", "terminationGracePeriodSeconds"}, false},
      {{"spec", "serviceAccountName"}, true},   {{"spec", "nodeSelector"}, true},
      {{"metadata", "labels"}, true},           {{"metadata", "uid"}, true},
      {{"status", "hostIPs"}, false},           {{"status", "qosClass"}, false},
      {{"status", "startTime"}, false},         {{"status", "phase"}, true},
      {{"status", "hostIP"}, true},             {{"status", "podIP"}, true},
      {{"status", "podIPs"}, true},             {{"status", "conditions"}, true},
  };
  for (const Field& fd : fields) {
    const Json* j = &*cached;
    for (auto k : fd.path) j = j ? Find(*j, k) : nullptr;
    EXPECT_EQ(j != nullptr, fd.kept) << fd.path.front() << "." << fd.path.back();
  }
  const Json& ctr = spec["containers"][0];
  for (const char* k : {"volumeMounts", "terminationMessagePath", "imagePullPolicy"}) EXPECT_FALSE(ctr.contains(k)) << k;
  for (const char* k : {"name", "image", "ports", "resources"}) EXPECT_TRUE(ctr.contains(k)) << k;
  ASSERT_EQ(spec["volumes"].size(), 1u);  // the projected token volume is gone
  EXPECT_EQ(spec["volumes"][0]["persistentVolumeClaim"]["claimName"], "d");
  EXPECT_EQ((*cached)["status"]["containerStatuses"][0],
            ParseJson(R"({"name":"c","ready":true,"restartCount":2,"state":{}})").value());
  EXPECT_EQ((*cached)["status"]["initContainerStatuses"][0],
            ParseJson(R"({"name":"i","ready":false,"restartCount":0,
                          "state":{"terminated":{"exitCode":0,"finishedAt":"2026-01-01T00:00:01Z"}}})").value());
  EXPECT_TRUE((*cms.Get("default/cm"))["data"].contains("k"));
  EXPECT_FALSE((*cms.Get("default/cm"))["metadata"].contains("managedFields"));
}

// Scopes (one per component of a process) share the root factory's informers: one LIST and
// one watch per resource, the same snapshots; each scope's handlers and indexers are its own,
// and stopping a scope removes its handlers while the others keep receiving events.
TEST_P(InformerTest, ScopesShareOneCacheAndStopIndependently) {
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "a", {{"team", "red"}})).ok());
  Recorder ra, rb;  // outlive the factory
  InformerFactory root(*client_);
  if (GetParam()) root.SetCompactCache(GetParam(), 0ms);
  root.SetTransform(StripManagedFields);
  auto a = root.NewScope();
  auto b = root.NewScope();
  a->SetTransform([](Json& o) { o["scoped"] = true; });  // ignored: transforms are the root's
  Informer& ia = a->For(kConfigMaps);
  Informer& ib = b->For(kConfigMaps);
  EXPECT_EQ(&ia, &a->For(kConfigMaps));
  EXPECT_NE(&ia, &ib);  // per-scope views ...
  ia.AddHandler(ra.Handler());
  ib.AddHandler(rb.Handler());
  ia.AddIndexer("k", [](const Json& o) { return std::vector<std::string>{GetStringPath(o, {"metadata", "labels", "team"})}; });
  ib.AddIndexer("k", [](const Json& o) { return std::vector<std::string>{GetStringPath(o, {"metadata", "name"})}; });
  a->Start();
  ASSERT_TRUE(a->WaitForSync(10s));
  ASSERT_TRUE(b->WaitForSync(10s));  // started through a: the same informer
  ASSERT_TRUE(ra.WaitSize(1));
  ASSERT_TRUE(rb.WaitSize(1));
  EXPECT_EQ(ia.Get("default/a"), ib.Get("default/a"));  // ... of one cache: the same snapshot
  EXPECT_FALSE((*ia.Get("default/a"))["metadata"].contains("managedFields"));
  EXPECT_FALSE(ia.Get("default/a")->contains("scoped"));
  EXPECT_EQ(flaky_->lists_.load(), 1);
  EXPECT_TRUE(Eventually([&] { return flaky_->watches_.load() == 1; }));  // the watch follows the sync
  EXPECT_EQ(flaky_->watches_.load(), 1);
  // Indexers are per scope, even under the same name.
  EXPECT_EQ(ia.ByIndex("k", "red").size(), 1u);
  EXPECT_TRUE(ia.ByIndex("k", "a").empty());
  EXPECT_EQ(ib.ByIndex("k", "a").size(), 1u);
  EXPECT_TRUE(ib.ByIndex("k", "red").empty());

  a->Stop();  // a's handlers are gone once Stop returns; b and the informer go on
  ra.Clear();
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "b")).ok());
  ASSERT_TRUE(rb.WaitSize(2));
  EXPECT_THAT(rb.Get(), ElementsAre("add default/a", "add default/b"));
  EXPECT_NE(ib.Get("default/b"), nullptr);
  EXPECT_TRUE(ra.Get().empty());
  EXPECT_TRUE(ia.ByIndex("k", "red").empty());  // a's indexer left with it
  // A handler added to a stopped scope never runs.
  ia.AddHandler(ra.Handler());
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "c")).ok());
  ASSERT_TRUE(rb.WaitSize(3));
  EXPECT_TRUE(ra.Get().empty());
  // A scope created later gets synthetic adds from the running cache, without a new LIST.
  Recorder rc;
  auto c2 = root.NewScope();
  c2->For(kConfigMaps).AddHandler(rc.Handler());
  c2->Start();
  ASSERT_TRUE(c2->WaitForSync(10s));
  ASSERT_TRUE(rc.WaitSize(3));
  EXPECT_EQ(flaky_->lists_.load(), 1);
  c2.reset();
  b->Stop();
  root.Stop();
}

// The reflector LISTs in pages of 500 (one consistent list: every page at one revision).
TEST_P(InformerTest, ListsInPages) {
  ASSERT_TRUE(c().Create(kNamespaces, "", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "paged"}}}}).ok());
  for (int i = 0; i < 1100; ++i)
    ASSERT_TRUE(c().Create(kConfigMaps, "paged", ConfigMap("paged", "cm-" + std::to_string(i))).ok());
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  Informer& inf = f.For(kConfigMaps, {.ns = "paged"});
  f.Start();
  ASSERT_TRUE(f.WaitForSync(30s));
  EXPECT_EQ(flaky_->lists_.load(), 3);
  EXPECT_EQ(inf.List().size(), 1100u);
  ASSERT_NE(inf.Get("paged/cm-1099"), nullptr);
  EXPECT_EQ((*inf.Get("paged/cm-1099"))["kind"], "ConfigMap");
  // The watch starts where the list was consistent: nothing is missed after it.
  ASSERT_TRUE(c().Create(kConfigMaps, "paged", ConfigMap("paged", "late")).ok());
  ASSERT_TRUE(Eventually([&] { return inf.Get("paged/late") != nullptr; }));
}

TEST_P(InformerTest, SelectorsAndIndexers) {
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  Informer& inf = f.For(kConfigMaps, {.label_selector = "team"});
  inf.AddIndexer("team", [](const Json& o) {
    std::vector<std::string> v;
    if (auto t = GetStringPath(o, {"metadata", "labels", "team"}); !t.empty()) v.push_back(t);
    return v;
  });
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "a", {{"team", "red"}, {"tier", "web"}})).ok());
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "b", {{"team", "blue"}})).ok());
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "unlabelled")).ok());
  ASSERT_TRUE(Eventually([&] { return inf.List().size() == 2; }));
  auto red = inf.ByIndex("team", "red");
  ASSERT_EQ(red.size(), 1u);
  EXPECT_THAT(inf.IndexValues("team"), UnorderedElementsAre("red", "blue"));
  EXPECT_TRUE(inf.IndexValues("nope").empty());
  EXPECT_EQ(KeyOf(*red[0]), "default/a");
  auto web = LabelSelector::Parse("tier=web");
  ASSERT_TRUE(web.ok());
  EXPECT_EQ(inf.List("default", &*web).size(), 1u);
  EXPECT_TRUE(inf.List("kube-system", &*web).empty());
  // An update moves the object between index values.
  ASSERT_TRUE(c().Patch(kConfigMaps, "default", "a", PatchType::kMerge, R"({"metadata":{"labels":{"team":"blue"}}})").ok());
  ASSERT_TRUE(Eventually([&] { return inf.ByIndex("team", "blue").size() == 2; }));
  EXPECT_TRUE(inf.ByIndex("team", "red").empty());
  // An indexer added later indexes what is cached.
  inf.AddIndexer("name", [](const Json& o) { return std::vector<std::string>{GetStringPath(o, {"metadata", "name"})}; });
  EXPECT_EQ(inf.ByIndex("name", "b").size(), 1u);
  EXPECT_TRUE(inf.ByIndex("nope", "b").empty());
  ASSERT_TRUE(c().Delete(kConfigMaps, "default", "b").ok());
  ASSERT_TRUE(Eventually([&] { return inf.ByIndex("team", "blue").size() == 1; }));
  EXPECT_TRUE(inf.ByIndex("name", "b").empty());
}

TEST_P(InformerTest, RelistAfterConnectionLossSynthesizesTheDiff) {
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "keep")).ok());
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "change")).ok());
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "remove")).ok());
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  std::atomic<int> built{0};  // objects made for the cache (the transform runs once for each)
  Informer& inf = f.For(kConfigMaps, {.ns = "default", .transform = [&built](Json&) { ++built; }});
  Recorder rec;
  inf.AddHandler(rec.Handler());
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  ASSERT_TRUE(Eventually([&] { return flaky_->watches_ == 1; }));
  ObjectPtr removed_before = inf.Get("default/remove");
  ObjectPtr kept_before = inf.Get("default/keep");
  EXPECT_EQ(built.load(), 3);
  rec.Clear();
  int lists = flaky_->lists_;

  flaky_->down_ = true;
  flaky_->DropWatches(UnavailableError("connection reset by peer"));
  ASSERT_TRUE(c().Patch(kConfigMaps, "default", "change", PatchType::kMerge, R"({"data":{"n":"1"}})").ok());
  ASSERT_TRUE(c().Delete(kConfigMaps, "default", "remove").ok());
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "new")).ok());
  flaky_->down_ = false;

  ASSERT_TRUE(rec.WaitSize(3));
  EXPECT_THAT(rec.Get(), UnorderedElementsAre("update default/change", "delete default/remove", "add default/new"));
  EXPECT_GT(flaky_->lists_.load(), lists);
  EXPECT_EQ(inf.Get("default/remove"), nullptr);
  EXPECT_EQ((*inf.Get("default/change"))["data"]["n"], "1");
  // The unchanged object is the cached one: the re-list made only the changed and the new one.
  EXPECT_EQ(inf.Get("default/keep"), kept_before);
  EXPECT_EQ(built.load(), 5);
  // And it watches again afterwards.
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "after")).ok());
  ASSERT_TRUE(rec.WaitSize(4));
  EXPECT_EQ(rec.Get().back(), "add default/after");
  (void)removed_before;
}

TEST_P(InformerTest, GoneTriggersRelist) {
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  Informer& inf = f.For(kConfigMaps);
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  ASSERT_TRUE(Eventually([&] { return flaky_->watches_ == 1; }));
  int lists = flaky_->lists_;
  flaky_->expire_next_ = true;
  flaky_->DropWatches(Status::Ok());  // a server-side timeout: re-watch, which then gets 410
  ASSERT_TRUE(Eventually([&] { return flaky_->lists_ > lists && flaky_->watches_ >= 3; }));
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "x")).ok());
  ASSERT_TRUE(Eventually([&] { return inf.Get("default/x") != nullptr; }));
}

TEST_P(InformerTest, RewatchesFromTheBookmarkAfterATimeout) {
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  Informer& inf = f.For(kConfigMaps);
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  ASSERT_TRUE(Eventually([&] { return flaky_->watches_ == 1; }));
  EXPECT_THAT(flaky_->LastWatchQuery(), ::testing::HasSubstr("allowWatchBookmarks=true"));
  // Changes in another resource move the global revision; a bookmark carries it.
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(c().Create(kSecrets, "default", {{"apiVersion", "v1"}, {"kind", "Secret"},
                                                 {"metadata", {{"name", "s" + std::to_string(i)}}}}).ok());
  auto secrets = c().List(kSecrets, "default");
  ASSERT_TRUE(secrets.ok());
  int64_t rv = std::stoll(GetStringPath(*secrets, {"metadata", "resourceVersion"}));
  ASSERT_LT(flaky_->LastWatchRv(), rv);
  api_.SyncForTest();
  int lists = flaky_->lists_;
  // Bookmark, then a server-side timeout; the informer re-watches from the bookmark's revision.
  // (A drop can overtake the bookmark's delivery, so repeat until one got through.)
  ASSERT_TRUE(Eventually([&] {
    api_.clock().Advance(61s);
    api_.TickForTest();
    std::this_thread::sleep_for(10ms);
    int w = flaky_->watches_;
    flaky_->DropWatches(Status::Ok());
    if (!Eventually([&] { return flaky_->watches_ > w; })) return false;
    return flaky_->LastWatchRv() >= rv;
  }));
  EXPECT_EQ(flaky_->lists_.load(), lists);  // no re-list
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "x")).ok());
  ASSERT_TRUE(Eventually([&] { return inf.Get("default/x") != nullptr; }));
}

TEST_P(InformerTest, ListWithoutARevisionIsRepeatedNotWatched) {
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "a")).ok());
  flaky_->zero_rv_lists_ = 2;
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  Informer& inf = f.For(kConfigMaps);
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  ASSERT_TRUE(Eventually([&] { return flaky_->watches_ == 1; }));
  EXPECT_EQ(flaky_->lists_.load(), 3);
  EXPECT_GT(flaky_->LastWatchRv(), 0);
  EXPECT_NE(inf.Get("default/a"), nullptr);
}

TEST_P(InformerTest, Resync) {
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "a")).ok());
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  Informer& inf = f.For(kConfigMaps, {.ns = "default", .resync = 1s});
  Recorder rec;
  inf.AddHandler(rec.Handler());
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  ASSERT_TRUE(rec.WaitSize(2));
  EXPECT_THAT(rec.Get(), ElementsAre("add default/a", "resync default/a"));
}

TEST_P(InformerTest, StopIsPromptAndFinal) {
  InformerFactory f(*client_);
  if (GetParam()) f.SetCompactCache(GetParam(), 0ms);
  Informer& inf = f.For(kConfigMaps);
  Recorder rec;
  inf.AddHandler(rec.Handler());
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  auto t0 = std::chrono::steady_clock::now();
  f.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("default", "late")).ok());
  api_.SyncForTest();
  EXPECT_TRUE(rec.Get().empty());
  EXPECT_EQ(inf.Get("default/late"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(PlainAndCompact, InformerTest, ::testing::Values(size_t{0}, size_t{1}),
                         [](const ::testing::TestParamInfo<size_t>& i) { return i.param ? "Compact" : "Plain"; });

// The compact cache (nothing pinned after a change): a tree is shared while held, a released one is parsed again from the
// text (equal content, a new tree), the hot ring keeps the newest, and an update's old object
// is the previous version even when it had to be parsed again.
TEST(CompactInformerTest, ParsesOnDemandSharesHeldTreesKeepsTheNewest) {
  testing::TestApiServer api{testing::TestApiServerOptions{.use_fake_clock = true}};
  const Client& c = api.client();
  for (const char* n : {"a", "b", "c"})
    ASSERT_TRUE(c.Create(kConfigMaps, "default", ConfigMap("default", n, {{"app", n}})).ok());
  InformerFactory f(c);
  f.SetCompactCache(1, 0ms);  // changed objects are not kept parsed
  Informer& inf = f.For(kConfigMaps);
  std::mutex mu;
  std::vector<std::pair<Json, Json>> updates;  // (old data, new data)
  inf.AddHandler({.on_update = [&](const ObjectPtr& o, const ObjectPtr& n) {
    std::lock_guard<std::mutex> l(mu);
    updates.emplace_back((*o)["data"], (*n)["data"]);
  }});
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));

  ObjectPtr a1 = inf.Get("default/a");
  ASSERT_NE(a1, nullptr);
  EXPECT_EQ(inf.Get("default/a"), a1);  // held: the same tree
  std::weak_ptr<const Json> a1_weak = a1;
  a1.reset();
  // Reading b and c pushes a out of the one-tree hot ring: a is parsed again.
  ASSERT_NE(inf.Get("default/b"), nullptr);
  ASSERT_NE(inf.Get("default/c"), nullptr);
  // Nobody holds a's tree (once the dispatcher has unpinned the listed objects): the cache
  // keeps only its text.
  EXPECT_TRUE(Eventually([&] { return a1_weak.expired(); }));
  ObjectPtr a2 = inf.Get("default/a");
  ASSERT_NE(a2, nullptr);
  EXPECT_EQ((*a2)["metadata"]["labels"]["app"], "a");
  EXPECT_EQ((*a2)["data"]["k"], "v");
  EXPECT_EQ((*a2)["kind"], "ConfigMap");
  a2.reset();

  // Selectors match cold objects by their kept labels.
  auto sel = LabelSelector::Parse("app in (a,c)");
  ASSERT_TRUE(sel.ok());
  std::vector<std::string> names;
  for (const ObjectPtr& o : inf.List("default", &*sel)) names.push_back(GetStringPath(*o, {"metadata", "name"}));
  EXPECT_THAT(names, UnorderedElementsAre("a", "c"));

  // The hot ring holds c's tree now (the last parse was of c or a); b is cold: its update's
  // old object comes from the text.
  ASSERT_NE(inf.Get("default/a"), nullptr);
  ASSERT_TRUE(c.Patch(kConfigMaps, "default", "b", PatchType::kMerge, R"({"data":{"k":"w"}})").ok());
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(mu);
    return !updates.empty();
  }));
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(updates[0].first, Json({{"k", "v"}}));
    EXPECT_EQ(updates[0].second, Json({{"k", "w"}}));
  }
  EXPECT_EQ((*inf.Get("default/b"))["data"]["k"], "w");
}

// A targeted read (Get) keeps the tree parsed for the pin period, a scan (List of everything)
// does not; both end: the cache goes back to text only.
TEST(CompactInformerTest, TargetedReadsPinForAPeriodScansDoNot) {
  testing::TestApiServer api{testing::TestApiServerOptions{.use_fake_clock = true}};
  const Client& c = api.client();
  for (const char* n : {"a", "b", "c"})
    ASSERT_TRUE(c.Create(kConfigMaps, "default", ConfigMap("default", n)).ok());
  InformerFactory f(c);
  f.SetCompactCache(1, 1500ms);
  Informer& inf = f.For(kConfigMaps);
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  std::weak_ptr<const Json> listed = inf.List().front();
  // The listed objects were pinned by their change (the initial list) and then released.
  ASSERT_TRUE(Eventually([&] { return listed.expired(); }, 10s));

  std::weak_ptr<const Json> got = inf.Get("default/a");  // parsed and pinned by the read
  std::weak_ptr<const Json> scanned_b, scanned_c;
  for (const ObjectPtr& o : inf.List()) {  // a scan: b and c parsed, the one-tree ring keeps one
    std::string name = GetStringPath(*o, {"metadata", "name"});
    if (name == "b") scanned_b = o;
    if (name == "c") scanned_c = o;
  }
  EXPECT_FALSE(got.expired());
  EXPECT_TRUE(scanned_b.expired() != scanned_c.expired());  // exactly one of them is in the ring
  EXPECT_TRUE(Eventually([&] { return got.expired(); }, 10s));  // the read's pin ends
}

// SetCompactCache(..., only): the named resources are kept as text, the others parsed.
TEST(CompactInformerTest, OnlyTheNamedResources) {
  testing::TestApiServer api{testing::TestApiServerOptions{.use_fake_clock = true}};
  const Client& c = api.client();
  ASSERT_TRUE(c.Create(kConfigMaps, "default", ConfigMap("default", "a")).ok());
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "p"}, {"namespace", "default"}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
  ASSERT_TRUE(c.Create(kPods, "default", pod).ok());
  InformerFactory f(c);
  f.SetCompactCache(0, 0ms, {kPods});
  Informer& cms = f.For(kConfigMaps);
  Informer& pods = f.For(kPods);
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  std::weak_ptr<const Json> cm = cms.Get("default/a");
  std::weak_ptr<const Json> p = pods.Get("default/p");
  EXPECT_FALSE(cm.expired());  // the cache holds the tree
  EXPECT_TRUE(Eventually([&] { return p.expired(); }));  // only the text (nothing pins it)
  ObjectPtr again = pods.Get("default/p");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ((*again)["spec"]["containers"][0]["image"], "busybox");
  f.Stop();
}

TEST(KeyTest, KeyOfAndSplitKey) {
  EXPECT_EQ(KeyOf(Json::parse(R"({"metadata":{"name":"a","namespace":"ns"}})")), "ns/a");
  EXPECT_EQ(KeyOf(Json::parse(R"({"metadata":{"name":"n1"}})")), "n1");
  EXPECT_EQ(SplitKey("ns/a"), std::make_pair(std::string("ns"), std::string("a")));
  EXPECT_EQ(SplitKey("n1"), std::make_pair(std::string(""), std::string("n1")));
}

}  // namespace
}  // namespace tug::client
