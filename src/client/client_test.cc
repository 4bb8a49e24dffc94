// Client, resources, error mapping, label selectors, watch decoding and the loopback transport,
// against a real in-process API server (client/testing/test_api_server.h).
#include "client/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "api/schema.h"
#include "client/informer.h"
#include "client/loopback.h"
#include "client/testing/test_api_server.h"
#include "client/watch_decoder.h"

namespace tug::client {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

constexpr auto kWait = 10s;

Json ConfigMap(const std::string& name, Json labels = Json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"data", {{"k", "v"}}}};
}

TEST(ResourcesTest, MatchTheBuiltinRegistry) {
  auto reg = api::Registry::Builtin();
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  const Resource* all[] = {&kPods, &kNodes, &kNamespaces, &kServices, &kEndpoints, &kConfigMaps, &kSecrets,
                           &kServiceAccounts, &kEvents, &kPersistentVolumes, &kPersistentVolumeClaims,
                           &kReplicationControllers, &kDeployments, &kReplicaSets, &kDaemonSets, &kStatefulSets,
                           &kControllerRevisions, &kJobs, &kCronJobs, &kLeases, &kEndpointSlices,
                           &kPodDisruptionBudgets, &kHorizontalPodAutoscalers, &kPriorityClasses,
                           &kStorageClasses, &kEventsV1};
  for (const Resource* r : all) {
    const api::ResourceDef* d = (*reg)->ByResource(r->group, r->version, r->plural);
    ASSERT_NE(d, nullptr) << r->ApiVersion() << " " << r->plural;
    EXPECT_EQ(d->kind, r->kind) << r->plural;
    EXPECT_EQ(d->namespaced, r->namespaced) << r->plural;
  }
}

TEST(ResourceTest, Paths) {
  struct Case {
    const Resource* r;
    std::string ns, name, sub, want;
  };
  const std::vector<Case> cases = {
      {&kPods, "", "", "", "/api/v1/pods"},
      {&kPods, "default", "", "", "/api/v1/namespaces/default/pods"},
      {&kPods, "default", "web", "status", "/api/v1/namespaces/default/pods/web/status"},
      {&kNodes, "default", "n1", "", "/api/v1/nodes/n1"},
      {&kDeployments, "prod", "web", "scale", "/apis/apps/v1/namespaces/prod/deployments/web/scale"},
      {&kLeases, "kube-system", "", "", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"},
      {&kPriorityClasses, "", "high", "", "/apis/scheduling.k8s.io/v1/priorityclasses/high"},
  };
  for (const auto& c : cases) EXPECT_EQ(c.r->Path(c.ns, c.name, c.sub), c.want);
  EXPECT_EQ(kPods.ApiVersion(), "v1");
  EXPECT_EQ(kJobs.ApiVersion(), "batch/v1");
}

TEST(QueryEscapeTest, Escapes) {
  EXPECT_EQ(QueryEscape("app=web,tier in (a,b)"), "app%3Dweb%2Ctier%20in%20%28a%2Cb%29");
  EXPECT_EQ(QueryEscape("a-b_c.d~"), "a-b_c.d~");
  EXPECT_EQ(QueryEscape("x/y&z"), "x%2Fy%26z");
}

TEST(StatusFromResponseTest, MapsReasonsAndCodes) {
  struct Case {
    std::string name;
    HttpResponse resp;
    StatusCode want;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"not found", {404, "application/json", R"({"kind":"Status","reason":"NotFound","code":404,"message":"pods \"x\" not found"})"},
       StatusCode::kNotFound, "pods \"x\" not found"},
      {"already exists", {409, "", R"({"kind":"Status","reason":"AlreadyExists","code":409,"message":"m"})"},
       StatusCode::kAlreadyExists, "m"},
      {"conflict", {409, "", R"({"kind":"Status","reason":"Conflict","code":409,"message":"m"})"}, StatusCode::kConflict, "m"},
      {"expired", {410, "", R"({"kind":"Status","reason":"Expired","code":410,"message":"too old"})"}, StatusCode::kGone, "too old"},
      {"no reason", {422, "", R"({"kind":"Status","code":422,"message":"bad"})"}, StatusCode::kInvalid, "bad"},
      {"plain text", {503, "text/plain", "overloaded"}, StatusCode::kUnavailable, "overloaded"},
      {"empty 404", {404, "", ""}, StatusCode::kNotFound, "the server responded with HTTP 404"},
      {"teapot", {418, "", "?"}, StatusCode::kBadRequest, "?"},
      {"500", {500, "", "boom"}, StatusCode::kInternal, "boom"},
  };
  for (const auto& c : cases) {
    Status st = StatusFromResponse(c.resp);
    EXPECT_EQ(st.code(), c.want) << c.name;
    EXPECT_EQ(st.message(), c.message) << c.name;
  }
  EXPECT_TRUE(StatusFromResponse({200, "", "{}"}).ok());
  Status inv = StatusFromResponse(
      {422, "", R"({"kind":"Status","reason":"Invalid","code":422,"message":"m","details":{"name":"web","kind":"Pod",
        "causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.containers"}]}})"});
  ASSERT_NE(inv.details(), nullptr);
  EXPECT_EQ(inv.details()->name, "web");
  ASSERT_EQ(inv.details()->causes.size(), 1u);
  EXPECT_EQ(inv.details()->causes[0].field, "spec.containers");
}

TEST(LabelSelectorTest, ParseAndMatch) {
  struct Case {
    std::string selector;
    Json labels;
    bool want;
  };
  const Json web = {{"app", "web"}, {"tier", "front"}, {"n", "5"}};
  const std::vector<Case> cases = {
      {"", web, true},
      {"app=web", web, true},
      {"app==web", web, true},
      {"app=db", web, false},
      {"app!=db", web, true},
      {"app!=web", web, false},
      {"missing!=x", web, true},
      {"app", web, true},
      {"!app", web, false},
      {"!missing", web, true},
      {"app in (web, db)", web, true},
      {"app in (db)", web, false},
      {"app notin (db)", web, true},
      {"app notin (web)", web, false},
      {"missing notin (web)", web, true},
      {"missing in (web)", web, false},
      {"app=web,tier=front", web, true},
      {"app=web, tier=back", web, false},
      {"n>4", web, true},
      {"n>5", web, false},
      {"n<6", web, true},
      {"app=web", nullptr, false},
      {"!app", nullptr, true},
  };
  for (const auto& c : cases) {
    auto s = LabelSelector::Parse(c.selector);
    ASSERT_TRUE(s.ok()) << c.selector << ": " << s.status().ToString();
    EXPECT_EQ(s->Matches(c.labels.is_null() ? nullptr : &c.labels), c.want) << c.selector;
  }
  for (std::string bad : {"app in web", "app=web,", "=x", "n>x", "app foo (x)", "app in (a"}) {
    EXPECT_FALSE(LabelSelector::Parse(bad).ok()) << bad;
  }
  EXPECT_TRUE(LabelSelector::Parse("")->Empty());
}

TEST(LabelSelectorTest, FromJson) {
  const Json labels = {{"app", "web"}, {"tier", "front"}};
  auto null_nothing = LabelSelector::FromJson(nullptr);
  ASSERT_TRUE(null_nothing.ok());
  EXPECT_FALSE(null_nothing->Matches(&labels));
  EXPECT_TRUE(null_nothing->MatchesNothing());
  auto null_all = LabelSelector::FromJson(nullptr, true);
  EXPECT_TRUE(null_all->Matches(&labels));
  Json empty = Json::object();
  EXPECT_TRUE(LabelSelector::FromJson(&empty)->Matches(&labels));
  Json sel = Json::parse(R"({"matchLabels":{"app":"web"},
     "matchExpressions":[{"key":"tier","operator":"In","values":["front","mid"]},{"key":"x","operator":"DoesNotExist"}]})");
  auto s = LabelSelector::FromJson(&sel);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Matches(&labels));
  Json other = {{"app", "web"}, {"tier", "back"}};
  EXPECT_FALSE(s->Matches(&other));
  Json bad = Json::parse(R"({"matchExpressions":[{"key":"a","operator":"Maybe"}]})");
  EXPECT_FALSE(LabelSelector::FromJson(&bad).ok());
  Json no_values = Json::parse(R"({"matchExpressions":[{"key":"a","operator":"In"}]})");
  EXPECT_FALSE(LabelSelector::FromJson(&no_values).ok());
}

TEST(WatchDecoderTest, ArbitraryChunkBoundaries) {
  const std::string stream =
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
      "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\n"
      "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n"
      "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"c\"}}}\n";
  // Every split into three pieces decodes to the same four events.
  for (size_t i = 0; i <= stream.size(); i += 3) {
    for (size_t j = i; j <= stream.size(); j += 7) {
      std::vector<std::string> got;
      WatchDecoder d([&](WatchEvent ev) {
        got.push_back(std::to_string(ev.type) + GetStringPath(ev.object, {"metadata", "name"}));
      });
      d.Head(200);
      d.Data(std::string_view(stream).substr(0, i));
      d.Data(std::string_view(stream).substr(i, j - i));
      d.Data(std::string_view(stream).substr(j));
      ASSERT_THAT(got, ElementsAre("0a", "1b", "3", "2c")) << i << "," << j;
      EXPECT_TRUE(d.End(Status::Ok()).ok());
    }
  }
}

TEST(WatchDecoderTest, ErrorsEndTheWatch) {
  std::vector<WatchEvent> got;
  WatchDecoder d([&](WatchEvent ev) { got.push_back(std::move(ev)); });
  d.Head(200);
  d.Data(R"x({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version: 1 (5)"}})x"
         "\n");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, WatchEvent::kError);
  EXPECT_EQ(d.End(Status::Ok()).code(), StatusCode::kGone);

  WatchDecoder d2([&](WatchEvent) { ADD_FAILURE() << "no events for an error answer"; });
  d2.Head(400);
  d2.Data(R"({"kind":"Status","code":400,"reason":"BadRequest",)");
  d2.Data(R"("message":"bad selector"})");
  Status st = d2.End(Status::Ok());
  EXPECT_EQ(st.code(), StatusCode::kBadRequest);
  EXPECT_EQ(st.message(), "bad selector");
}

// ---------------------------------------------------------------------------------------------

class ClientTest : public ::testing::Test {
 protected:
  testing::TestApiServer api_;
  const Client& c() { return api_.client(); }
};

TEST_F(ClientTest, CrudRoundTrip) {
  ASSERT_TRUE(api_.ok());
  auto created = c().Create(kConfigMaps, "default", ConfigMap("a", {{"app", "web"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(GetStringPath(*created, {"metadata", "namespace"}), "default");
  EXPECT_FALSE(GetStringPath(*created, {"metadata", "uid"}).empty());

  auto dup = c().Create(kConfigMaps, "default", ConfigMap("a"));
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);

  auto got = c().Get(kConfigMaps, "default", "a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)["data"]["k"], "v");

  Json upd = *got;
  upd["data"]["k"] = "w";
  auto updated = c().Update(kConfigMaps, "", upd);  // namespace from the object
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ((*updated)["data"]["k"], "w");
  // The old resourceVersion is now stale.
  upd["data"]["k"] = "x";
  EXPECT_EQ(c().Update(kConfigMaps, "default", upd).status().code(), StatusCode::kConflict);

  auto patched = c().Patch(kConfigMaps, "default", "a", PatchType::kMerge, R"({"data":{"p":"q"}})");
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_EQ((*patched)["data"]["p"], "q");
  auto sp = c().Patch(kConfigMaps, "default", "a", PatchType::kStrategic, R"({"metadata":{"labels":{"x":"y"}}})");
  ASSERT_TRUE(sp.ok()) << sp.status().ToString();
  EXPECT_EQ((*sp)["metadata"]["labels"]["x"], "y");
  auto jp = c().Patch(kConfigMaps, "default", "a", PatchType::kJson, R"([{"op":"remove","path":"/data/p"}])");
  ASSERT_TRUE(jp.ok()) << jp.status().ToString();
  EXPECT_FALSE((*jp)["data"].contains("p"));
  auto ap = c().Patch(kConfigMaps, "default", "b", PatchType::kApply,
                      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"},"data":{"z":"1"}})", "", "test");
  ASSERT_TRUE(ap.ok()) << ap.status().ToString();
  EXPECT_EQ((*ap)["data"]["z"], "1");

  DeleteOptions pre;
  pre.precondition_uid = "not-the-uid";
  EXPECT_EQ(c().Delete(kConfigMaps, "default", "a", pre).status().code(), StatusCode::kConflict);
  auto del = c().Delete(kConfigMaps, "default", "a");
  ASSERT_TRUE(del.ok()) << del.status().ToString();
  auto gone = c().Get(kConfigMaps, "default", "a");
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(gone.status().message(), "configmaps \"a\" not found");
  EXPECT_EQ(c().Get(kConfigMaps, "default", "").status().code(), StatusCode::kBadRequest);
}

TEST_F(ClientTest, DoNoBodyMapsErrorsOnly) {
  HttpRequest req;
  req.method = "POST";
  req.path = kConfigMaps.Path("default");
  req.content_type = "application/json";
  req.body = DumpJson(ConfigMap("nb"));
  EXPECT_TRUE(c().DoNoBody(req).ok());
  EXPECT_TRUE(c().Get(kConfigMaps, "default", "nb").ok());
  Status dup = c().DoNoBody(req);
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(dup.message(), "configmaps \"nb\" already exists");
  req.path = kConfigMaps.Path("no-such-namespace");
  EXPECT_EQ(c().DoNoBody(req).code(), StatusCode::kNotFound);
}

TEST_F(ClientTest, InvalidCarriesCauses) {
  Json bad = ConfigMap("Bad_Name");
  auto r = c().Create(kConfigMaps, "default", bad);
  ASSERT_EQ(r.status().code(), StatusCode::kInvalid);
  ASSERT_NE(r.status().details(), nullptr);
  EXPECT_FALSE(r.status().details()->causes.empty());
}

TEST_F(ClientTest, StatusSubresourceAndClusterScoped) {
  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}};
  auto n = c().Create(kNodes, "ignored", node);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  Json st = *n;
  st["status"]["conditions"] = Json::array({{{"type", "Ready"}, {"status", "True"}}});
  auto u = c().UpdateStatus(kNodes, "", st);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ((*u)["status"]["conditions"][0]["type"], "Ready");
  auto list = c().List(kNodes, "");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)["items"].size(), 1u);
}

TEST_F(ClientTest, ListSelectorsAndPages) {
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("cm" + std::to_string(i), {{"i", std::to_string(i % 2)}})).ok());
  ListOptions sel;
  sel.label_selector = "i in (1)";
  auto odd = c().List(kConfigMaps, "default", sel);
  ASSERT_TRUE(odd.ok()) << odd.status().ToString();
  EXPECT_EQ((*odd)["items"].size(), 3u);
  EXPECT_EQ((*odd)["kind"], "ConfigMapList");

  ListOptions fs;
  fs.field_selector = "metadata.name=cm3";
  auto one = c().List(kConfigMaps, "", fs);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ((*one)["items"].size(), 1u);

  ListOptions page;
  page.limit = 2;
  auto first = c().List(kConfigMaps, "default", page);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)["items"].size(), 2u);
  EXPECT_FALSE(GetStringPath(*first, {"metadata", "continue"}).empty());
  auto all = c().ListAll(kConfigMaps, "default", page);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::vector<std::string> names;
  for (const auto& it : (*all)["items"]) names.push_back(it["metadata"]["name"]);
  // kube-root-ca.crt may or may not exist; count ours.
  EXPECT_EQ(std::count_if(names.begin(), names.end(), [](const std::string& n) { return n.rfind("cm", 0) == 0; }), 7);
  EXPECT_FALSE((*all)["metadata"].contains("continue"));
  EXPECT_FALSE(GetStringPath(*all, {"metadata", "resourceVersion"}).empty());

  ListOptions bad;
  bad.label_selector = "a b";
  EXPECT_EQ(c().List(kConfigMaps, "default", bad).status().code(), StatusCode::kBadRequest);
}

// Collects watch events; thread-safe.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<WatchEvent> events;
  std::optional<Status> ended;

  std::function<void(WatchEvent)> OnEvent() {
    return [this](WatchEvent ev) {
      std::lock_guard<std::mutex> l(mu);
      events.push_back(std::move(ev));
      cv.notify_all();
    };
  }
  std::function<void(Status)> OnEnd() {
    return [this](Status st) {
      std::lock_guard<std::mutex> l(mu);
      EXPECT_FALSE(ended.has_value()) << "on_end twice";
      ended = std::move(st);
      cv.notify_all();
    };
  }
  bool WaitEvents(size_t n) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, kWait, [&] { return events.size() >= n; });
  }
  bool WaitEnd() {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, kWait, [&] { return ended.has_value(); });
  }
};

TEST_F(ClientTest, WatchDeliversEventsInOrder) {
  // (A write first: right after start the REST layer can answer a list of a never-written
  // prefix with resourceVersion "0", which would make this a watch from "any".)
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("w0")).ok());
  auto list = c().List(kConfigMaps, "default");
  ASSERT_TRUE(list.ok());
  ListOptions o;
  o.resource_version = GetStringPath(*list, {"metadata", "resourceVersion"});
  Collector col;
  auto w = c().StartWatch(kConfigMaps, "default", o, col.OnEvent(), col.OnEnd());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("w1")).ok());
  ASSERT_TRUE(c().Patch(kConfigMaps, "default", "w1", PatchType::kMerge, R"({"data":{"a":"b"}})").ok());
  ASSERT_TRUE(c().Delete(kConfigMaps, "default", "w1").ok());
  ASSERT_TRUE(col.WaitEvents(3)) << [&] {
    std::lock_guard<std::mutex> l(col.mu);
    std::string s = "from rv " + o.resource_version + ":";
    for (const auto& e : col.events) s += " " + std::to_string(e.type) + ":" + DumpJson(e.object).substr(0, 300);
    if (col.ended) s += " ended: " + col.ended->ToString();
    return s;
  }();
  {
    std::lock_guard<std::mutex> l(col.mu);
    ASSERT_EQ(col.events.size(), 3u);
    EXPECT_EQ(col.events[0].type, WatchEvent::kAdded);
    EXPECT_EQ(col.events[1].type, WatchEvent::kModified);
    EXPECT_EQ(col.events[1].object["data"]["a"], "b");
    EXPECT_EQ(col.events[2].type, WatchEvent::kDeleted);
    EXPECT_EQ(GetStringPath(col.events[2].object, {"metadata", "name"}), "w1");
  }
  (*w)->Stop();
  // No callback after Stop, and on_end is not called for a cancelled watch.
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("w2")).ok());
  api_.SyncForTest();
  std::lock_guard<std::mutex> l(col.mu);
  EXPECT_EQ(col.events.size(), 3u);
  EXPECT_FALSE(col.ended.has_value());
}

TEST_F(ClientTest, WatchErrorAnswerEndsWithStatus) {
  ListOptions o;
  o.label_selector = "a b";
  Collector col;
  auto w = c().StartWatch(kConfigMaps, "default", o, col.OnEvent(), col.OnEnd());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(col.WaitEnd());
  EXPECT_EQ(col.ended->code(), StatusCode::kBadRequest);
  EXPECT_TRUE(col.events.empty());
}

TEST_F(ClientTest, WatchServerStopEndsOk) {
  Collector col;
  auto w = c().StartWatch(kConfigMaps, "", ListOptions{}, col.OnEvent(), col.OnEnd());
  ASSERT_TRUE(w.ok());
  // The stream is established once it delivers an event.
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("x")).ok());
  ASSERT_TRUE(col.WaitEvents(1));
  api_.handler().Stop();
  ASSERT_TRUE(col.WaitEnd());
  EXPECT_TRUE(col.ended->ok()) << col.ended->ToString();
}

TEST_F(ClientTest, StopFromInsideACallback) {
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("s1")).ok());
  std::unique_ptr<Watch> w;
  std::mutex mu;
  std::condition_variable cv;
  int events = 0;
  ListOptions o;
  o.resource_version = "0";  // initial ADDED events for existing objects
  auto r = c().StartWatch(
      kConfigMaps, "default", o,
      [&](WatchEvent) {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return w != nullptr; });
        ++events;
        w->Stop();  // must not deadlock
        cv.notify_all();
      },
      [](Status) {});
  ASSERT_TRUE(r.ok());
  {
    std::lock_guard<std::mutex> l(mu);
    w = std::move(r).value();
    cv.notify_all();
  }
  std::unique_lock<std::mutex> l(mu);
  ASSERT_TRUE(cv.wait_for(l, kWait, [&] { return events > 0; }));
  l.unlock();
  ASSERT_TRUE(c().Create(kConfigMaps, "default", ConfigMap("s2")).ok());
  api_.SyncForTest();
  w.reset();
  EXPECT_EQ(events, 1);
}

TEST_F(ClientTest, LoopbackCutsOffASlowReader) {
  testing::TestApiServerOptions opts;
  opts.loopback.max_queued_bytes = 4096;
  testing::TestApiServer api(opts);
  const Client& c = api.client();
  std::mutex block;
  block.lock();  // the reader is stuck until we let go
  Collector col;
  bool first = true;
  auto w = c.StartWatch(
      kConfigMaps, "default", ListOptions{},
      [&](WatchEvent ev) {
        if (first) {
          first = false;
          std::lock_guard<std::mutex> l(block);
        }
        col.OnEvent()(std::move(ev));
      },
      col.OnEnd());
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(c.Create(kConfigMaps, "default", ConfigMap("f" + std::to_string(i))).ok());
  api.SyncForTest();
  block.unlock();
  ASSERT_TRUE(col.WaitEnd());
  EXPECT_EQ(col.ended->code(), StatusCode::kUnavailable);
  EXPECT_LT(col.events.size(), 40u);
}

// A handler that keeps each request's writer until the test answers (or drops) it.
class HeldHandler : public apiserver::Handler {
 public:
  void Handle(apiserver::Request req, apiserver::ResponseWriterPtr w) override {
    std::lock_guard<std::mutex> l(mu);
    held.emplace_back(req.path, std::move(w));
  }
  std::mutex mu;
  std::vector<std::pair<std::string, apiserver::ResponseWriterPtr>> held;
};

TEST(LoopbackTest, DoAsyncReturnsBeforeTheAnswerAndGetsItFromTheAnsweringThread) {
  HeldHandler h;
  auto t = NewLoopbackTransport(h, apiserver::UserInfo{});
  ASSERT_TRUE(t->Pipelines());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Result<HttpResponse>> answers;
  std::vector<std::thread::id> threads;
  for (const char* path : {"/a", "/b", "/c"}) {
    HttpRequest req;
    req.path = path;
    t->DoAsync(req, [&](Result<HttpResponse> r) {
      std::lock_guard<std::mutex> l(mu);
      answers.push_back(std::move(r));
      threads.push_back(std::this_thread::get_id());
      cv.notify_all();
    });
  }
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_TRUE(answers.empty());  // three requests in flight from one thread
  }
  std::vector<std::pair<std::string, apiserver::ResponseWriterPtr>> held;
  {
    std::lock_guard<std::mutex> l(h.mu);
    held.swap(h.held);
  }
  ASSERT_EQ(held.size(), 3u);
  std::thread answerer([&] {
    held[1].second->Send(201, "application/json", "{\"b\":1}");
    held[0].second->StartStream(200, "text/plain");
    held[0].second->Write("x");
    held[0].second->Write("y");
    held[0].second->Finish();
    held[2].second.reset();  // dropped without an answer
  });
  std::thread::id answerer_id = answerer.get_id();
  answerer.join();
  std::unique_lock<std::mutex> l(mu);
  ASSERT_TRUE(cv.wait_for(l, kWait, [&] { return answers.size() == 3; }));
  ASSERT_TRUE(answers[0].ok());
  EXPECT_EQ(answers[0]->code, 201);
  EXPECT_EQ(answers[0]->body, "{\"b\":1}");
  ASSERT_TRUE(answers[1].ok());
  EXPECT_EQ(answers[1]->code, 200);
  EXPECT_EQ(answers[1]->body, "xy");
  ASSERT_FALSE(answers[2].ok());
  EXPECT_EQ(answers[2].status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(answers[2].status().message(), ::testing::HasSubstr("GET /c"));
  for (auto id : threads) EXPECT_EQ(id, answerer_id);
}

TEST_F(ClientTest, DoNoBodyAsyncMapsTheAnswerToAStatus) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Status> got;
  auto done = [&](Status s) {
    std::lock_guard<std::mutex> l(mu);
    got.push_back(std::move(s));
    cv.notify_all();
  };
  HttpRequest create;
  create.method = "POST";
  create.path = kConfigMaps.Path("default");
  create.content_type = "application/json";
  create.body = DumpJson(ConfigMap("async-1"));
  c().DoNoBodyAsync(create, done);
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, kWait, [&] { return got.size() == 1; }));
  }
  c().DoNoBodyAsync(create, done);  // the same name again
  std::unique_lock<std::mutex> l(mu);
  ASSERT_TRUE(cv.wait_for(l, kWait, [&] { return got.size() == 2; }));
  EXPECT_TRUE(got[0].ok()) << got[0].ToString();
  EXPECT_EQ(got[1].code(), StatusCode::kAlreadyExists) << got[1].ToString();
  EXPECT_TRUE(c().Get(kConfigMaps, "default", "async-1").ok());
}

}  // namespace
}  // namespace tug::client
