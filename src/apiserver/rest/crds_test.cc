// CustomResourceDefinitions through the REST layer: request -> response against a memory store
// and the built-in registry (the handler publishes the custom resources itself).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "apiserver/rest/rest.h"
#include "base/testing/fake_clock.h"
#include "store/memory/memory_store.h"

namespace tug::apiserver::rest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class Writer : public ResponseWriter {
 public:
  void Send(int code, std::string, std::string body, std::vector<std::pair<std::string, std::string>> headers) override {
    std::lock_guard<std::mutex> lock(mu_);
    code_ = code;
    body_ = std::move(body);
    headers_ = std::move(headers);
  }
  void StartStream(int code, std::string) override {
    std::lock_guard<std::mutex> lock(mu_);
    code_ = code;
  }
  bool Write(std::string chunk) override {
    std::lock_guard<std::mutex> lock(mu_);
    chunks_.push_back(std::move(chunk));
    cv_.notify_all();
    return true;
  }
  void Finish() override {
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
    cv_.notify_all();
  }
  bool WaitFinished() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return finished_; });
  }
  bool finished() {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  void OnClose(std::function<void()>) override {}
  bool Closed() const override { return false; }
  std::vector<Json> Events(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return chunks_.size() >= n; });
    std::vector<Json> out;
    for (const auto& c : chunks_) out.push_back(Json::parse(c));
    return out;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  int code_ = 0;
  std::string body_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::vector<std::string> chunks_;
  bool finished_ = false;
};

struct Resp {
  int code = 0;
  Json body;
  std::string raw;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(const std::string& n) const {
    for (const auto& [k, v] : headers)
      if (k == n) return v;
    return "";
  }
};

Request MakeRequest(std::string method, std::string target, std::string body,
                    std::vector<std::pair<std::string, std::string>> headers) {
  Request r;
  r.method = std::move(method);
  auto q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) {
    r.raw_query = target.substr(q + 1);
    size_t i = 0;
    while (i <= r.raw_query.size()) {
      size_t amp = r.raw_query.find('&', i);
      if (amp == std::string::npos) amp = r.raw_query.size();
      std::string kv = r.raw_query.substr(i, amp - i);
      auto eq = kv.find('=');
      if (!kv.empty()) r.query.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
      i = amp + 1;
    }
  }
  r.body = std::move(body);
  r.headers = std::move(headers);
  if (!r.body.empty() && r.Header("Content-Type").empty()) r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("User-Agent", "kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0");
  return r;
}

const char kTableAccept[] = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const char kAggregated[] = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
const char kCrds[] = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const char kWidgets[] = "/apis/example.com/v1/namespaces/default/widgets";

// A Widget CRD in example.com: v1 (storage) and v1beta1 served, status and scale subresources,
// printer columns, a default.
Json WidgetCrd(bool status = true) {
  Json schema = Json::parse(R"({
    "type": "object",
    "properties": {
      "spec": {"type": "object", "properties": {
        "size": {"type": "integer", "minimum": 1, "maximum": 10},
        "color": {"type": "string", "enum": ["red", "blue"]},
        "mode": {"type": "string", "default": "auto"},
        "replicas": {"type": "integer"},
        "selector": {"type": "string"}}},
      "status": {"type": "object", "properties": {
        "phase": {"type": "string"}, "replicas": {"type": "integer"}, "selector": {"type": "string"}}}}})");
  Json subs = Json::object();
  if (status) subs["status"] = Json::object();
  subs["scale"] = {{"specReplicasPath", ".spec.replicas"}, {"statusReplicasPath", ".status.replicas"},
                   {"labelSelectorPath", ".status.selector"}};
  Json cols = Json::array({{{"name", "Size"}, {"type", "integer"}, {"jsonPath", ".spec.size"}},
                           {{"name", "Color"}, {"type", "string"}, {"jsonPath", ".spec.color"}}});
  Json v1 = {{"name", "v1"}, {"served", true}, {"storage", true}, {"schema", {{"openAPIV3Schema", schema}}},
             {"subresources", subs}, {"additionalPrinterColumns", cols}};
  Json v1beta1 = {{"name", "v1beta1"}, {"served", true}, {"storage", false}, {"schema", {{"openAPIV3Schema", schema}}}};
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "widgets.example.com"}}},
          {"spec", {{"group", "example.com"},
                    {"scope", "Namespaced"},
                    {"names", {{"plural", "widgets"}, {"singular", "widget"}, {"kind", "Widget"}, {"shortNames", {"wd"}}}},
                    {"versions", Json::array({v1, v1beta1})}}}};
}

std::string Widget(const std::string& name, const std::string& spec) {
  return R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":")" + name + R"("},"spec":)" + spec + "}";
}

std::string ConditionStatus(const Json& crd, const std::string& type) {
  for (const auto& c : crd["status"].value("conditions", Json::array()))
    if (c.value("type", "") == type) return c.value("status", "");
  return "";
}

class CrdRestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemoryStore();
    auto reg = api::Registry::Builtin();
    ASSERT_TRUE(reg.ok()) << reg.status().ToString();
    registry_ = *reg;
    StartHandler();
  }
  void StartHandler() {
    Options o;
    o.server_address = "192.168.1.10:6443";
    o.clock = &clock_;
    o.start_timer_thread = false;
    auto h = NewRestHandler(*store_, registry_, o);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    h_ = std::move(h).value();
  }
  void TearDown() override {
    if (h_) h_->Stop();
  }
  Resp Do(std::string method, std::string target, std::string body = "",
          std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto w = std::make_shared<Writer>();
    h_->Handle(MakeRequest(std::move(method), std::move(target), std::move(body), std::move(headers)), w);
    Resp r;
    r.code = w->code_;
    r.raw = w->body_;
    r.headers = w->headers_;
    r.body = Json::parse(w->body_, nullptr, false);
    h_->SyncForTest();
    return r;
  }
  void CreateCrd(const Json& crd = WidgetCrd()) {
    Resp r = Do("POST", kCrds, DumpJson(crd));
    ASSERT_EQ(r.code, 201) << r.raw;
    r = Do("GET", std::string(kCrds) + "/" + crd["metadata"]["name"].get<std::string>());
    ASSERT_EQ(ConditionStatus(r.body, "Established"), "True") << r.raw;
  }

  testing::FakeClock clock_;
  store::StorePtr store_;
  std::shared_ptr<const api::Registry> registry_;
  std::unique_ptr<RestHandler> h_;
};

TEST_F(CrdRestTest, EstablishedCrdIsDiscoverableAndInOpenApi) {
  Resp before = Do("GET", "/apis", "", {{"Accept", kAggregated}});
  ASSERT_EQ(before.code, 200);
  std::string etag = before.Header("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(Do("GET", "/apis", "", {{"Accept", kAggregated}, {"If-None-Match", etag}}).code, 304);
  EXPECT_EQ(Do("GET", "/apis/example.com/v1/namespaces/default/widgets").code, 404);

  CreateCrd();
  Resp crd = Do("GET", std::string(kCrds) + "/widgets.example.com");
  EXPECT_EQ(ConditionStatus(crd.body, "NamesAccepted"), "True");
  EXPECT_EQ(crd.body["status"]["acceptedNames"]["kind"], "Widget");
  EXPECT_EQ(crd.body["status"]["storedVersions"], Json::array({"v1"}));

  Resp after = Do("GET", "/apis", "", {{"Accept", kAggregated}});
  EXPECT_NE(after.Header("ETag"), etag);
  EXPECT_THAT(after.raw, HasSubstr("\"widgets\""));
  Resp legacy = Do("GET", "/apis");
  EXPECT_THAT(legacy.raw, HasSubstr("example.com/v1"));
  Resp list = Do("GET", "/apis/example.com/v1");
  ASSERT_EQ(list.code, 200) << list.raw;
  EXPECT_THAT(list.raw, HasSubstr("widgets/status"));
  EXPECT_THAT(list.raw, HasSubstr("widgets/scale"));
  EXPECT_THAT(list.raw, HasSubstr("\"wd\""));
  Resp index = Do("GET", "/openapi/v3");
  EXPECT_THAT(index.raw, HasSubstr("apis/example.com/v1"));
  Resp doc = Do("GET", "/openapi/v3/apis/example.com/v1");
  ASSERT_EQ(doc.code, 200);
  EXPECT_THAT(doc.raw, HasSubstr("com.example.v1.Widget"));
  EXPECT_THAT(Do("GET", "/openapi/v2").raw, HasSubstr("com.example.v1.Widget"));
}

TEST_F(CrdRestTest, CustomObjectsCrudTableAndValidation) {
  CreateCrd();
  Resp r = Do("POST", kWidgets, Widget("w1", R"({"size":3,"color":"red","bogus":1})"));
  ASSERT_EQ(r.code, 201) << r.raw;
  EXPECT_EQ(r.body["spec"]["mode"], "auto");  // defaulted
  EXPECT_FALSE(r.body["spec"].contains("bogus"));  // pruned
  EXPECT_EQ(r.body["metadata"]["generation"], 1);
  // fieldValidation=Strict reports the unknown field.
  r = Do("POST", std::string(kWidgets) + "?fieldValidation=Strict", Widget("w2", R"({"bogus":1})"));
  EXPECT_EQ(r.code, 400) << r.raw;
  EXPECT_THAT(r.raw, HasSubstr("unknown field \\\"spec.bogus\\\""));
  // Every violation is listed, nothing is stored.
  r = Do("POST", kWidgets, Widget("bad", R"({"size":"three","color":"green"})"));
  ASSERT_EQ(r.code, 422) << r.raw;
  EXPECT_THAT(r.raw, HasSubstr("spec.size: Invalid value: \\\"string\\\": spec.size in body must be of type integer: \\\"string\\\""));
  EXPECT_THAT(r.raw, HasSubstr("spec.color: Unsupported value: \\\"green\\\""));
  EXPECT_EQ(r.body["details"]["causes"].size(), 2u);
  EXPECT_EQ(Do("GET", std::string(kWidgets) + "/bad").code, 404);

  r = Do("GET", kWidgets, "", {{"Accept", kTableAccept}});
  ASSERT_EQ(r.code, 200) << r.raw;
  ASSERT_EQ(r.body["columnDefinitions"].size(), 3u);
  EXPECT_EQ(r.body["columnDefinitions"][1]["name"], "Size");
  EXPECT_EQ(r.body["rows"][0]["cells"], Json::array({"w1", 3, "red"}));

  // Merge and JSON patch; strategic merge is refused as upstream does.
  r = Do("PATCH", std::string(kWidgets) + "/w1", R"({"spec":{"size":4}})", {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["spec"]["size"], 4);
  EXPECT_EQ(r.body["metadata"]["generation"], 2);
  r = Do("PATCH", std::string(kWidgets) + "/w1", R"([{"op":"replace","path":"/spec/color","value":"blue"}])",
         {{"Content-Type", "application/json-patch+json"}});
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["spec"]["color"], "blue");
  r = Do("PATCH", std::string(kWidgets) + "/w1", R"({"spec":{"size":5}})",
         {{"Content-Type", "application/strategic-merge-patch+json"}});
  EXPECT_EQ(r.code, 415);
  EXPECT_THAT(r.raw, HasSubstr("the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"));
  r = Do("PATCH", std::string(kWidgets) + "/w1", R"({"spec":{"size":50}})", {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(r.code, 422);
  EXPECT_THAT(r.raw, HasSubstr("spec.size: Invalid value: 50: spec.size in body should be less than or equal to 10"));

  // Server-side apply with the CRD schema.
  r = Do("PATCH", std::string(kWidgets) + "/w3?fieldManager=me",
         R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w3"},"spec":{"size":2}})",
         {{"Content-Type", "application/apply-patch+yaml"}});
  ASSERT_EQ(r.code, 201) << r.raw;
  EXPECT_EQ(r.body["metadata"]["managedFields"][0]["manager"], "me");
  EXPECT_EQ(r.body["spec"]["mode"], "auto");

  // Another served version: the same objects, apiVersion rewritten.
  r = Do("GET", "/apis/example.com/v1beta1/namespaces/default/widgets/w1");
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["apiVersion"], "example.com/v1beta1");
  EXPECT_EQ(r.body["spec"]["size"], 4);
  r = Do("GET", "/apis/example.com/v1beta1/namespaces/default/widgets");
  EXPECT_EQ(r.body["apiVersion"], "example.com/v1beta1");
  EXPECT_EQ(r.body["items"].size(), 2u);
  EXPECT_EQ(r.body["items"][0]["apiVersion"], "example.com/v1beta1");

  r = Do("DELETE", std::string(kWidgets) + "/w1");
  EXPECT_EQ(r.code, 200) << r.raw;
  r = Do("DELETE", kWidgets);
  EXPECT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(Do("GET", kWidgets).body["items"].size(), 0u);
}

TEST_F(CrdRestTest, StatusAndScaleSubresources) {
  CreateCrd();
  Resp r = Do("POST", kWidgets, Widget("s", R"({"size":1,"replicas":2})"));
  ASSERT_EQ(r.code, 201) << r.raw;
  // status in a create or an update of the main resource is dropped / kept.
  r = Do("PATCH", std::string(kWidgets) + "/s", R"({"status":{"phase":"X"}})", {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_FALSE(r.body.contains("status"));
  EXPECT_EQ(r.body["metadata"]["generation"], 1);
  r = Do("PATCH", std::string(kWidgets) + "/s/status", R"({"status":{"phase":"Running","replicas":1,"selector":"app=s"},"spec":{"size":9}})",
         {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["status"]["phase"], "Running");
  EXPECT_EQ(r.body["spec"]["size"], 1);
  EXPECT_EQ(r.body["metadata"]["generation"], 1);

  r = Do("GET", std::string(kWidgets) + "/s/scale");
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["kind"], "Scale");
  EXPECT_EQ(r.body["spec"]["replicas"], 2);
  EXPECT_EQ(r.body["status"]["replicas"], 1);
  EXPECT_EQ(r.body["status"]["selector"], "app=s");
  r = Do("PATCH", std::string(kWidgets) + "/s/scale", R"({"spec":{"replicas":5}})", {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["spec"]["replicas"], 5);
  r = Do("GET", std::string(kWidgets) + "/s");
  EXPECT_EQ(r.body["spec"]["replicas"], 5);
  EXPECT_EQ(r.body["metadata"]["generation"], 2);
}

TEST_F(CrdRestTest, WithoutStatusSubresourceStatusIsPartOfTheObject) {
  CreateCrd(WidgetCrd(/*status=*/false));
  Resp r = Do("POST", kWidgets, Widget("n", R"({"size":1})"));
  ASSERT_EQ(r.code, 201) << r.raw;
  r = Do("PATCH", std::string(kWidgets) + "/n", R"({"status":{"phase":"X"}})", {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["status"]["phase"], "X");
  EXPECT_EQ(r.body["metadata"]["generation"], 2);
  EXPECT_EQ(Do("GET", std::string(kWidgets) + "/n/status").code, 404);
}

TEST_F(CrdRestTest, WatchSeesCustomObjects) {
  CreateCrd();
  auto w = std::make_shared<Writer>();
  h_->Handle(MakeRequest("GET", std::string(kWidgets) + "?watch=true", "", {}), w);
  ASSERT_EQ(Do("POST", kWidgets, Widget("x", R"({"size":1})")).code, 201);
  auto ev = w->Events(1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["type"], "ADDED");
  EXPECT_EQ(ev[0]["object"]["metadata"]["name"], "x");
  EXPECT_EQ(ev[0]["object"]["spec"]["mode"], "auto");
}

TEST_F(CrdRestTest, InvalidCrdAndNameConflicts) {
  Json bad = WidgetCrd();
  bad["metadata"]["name"] = "wrong.example.com";
  bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].erase("type");
  Resp r = Do("POST", kCrds, DumpJson(bad));
  ASSERT_EQ(r.code, 422) << r.raw;
  EXPECT_THAT(r.raw, HasSubstr("must be spec.names.plural+\\\".\\\"+spec.group"));
  EXPECT_GE(r.body["details"]["causes"].size(), 2u) << r.raw;
  EXPECT_EQ(Do("GET", std::string(kCrds) + "/wrong.example.com").code, 404);

  CreateCrd();
  // Same group, another plural, same kind: not accepted, not served.
  Json other = WidgetCrd();
  other["metadata"]["name"] = "gadgets.example.com";
  other["spec"]["names"] = {{"plural", "gadgets"}, {"singular", "gadget"}, {"kind", "Widget"}};
  r = Do("POST", kCrds, DumpJson(other));
  ASSERT_EQ(r.code, 201) << r.raw;
  r = Do("GET", std::string(kCrds) + "/gadgets.example.com");
  EXPECT_EQ(ConditionStatus(r.body, "NamesAccepted"), "False") << r.raw;
  EXPECT_EQ(ConditionStatus(r.body, "Established"), "False") << r.raw;
  EXPECT_EQ(Do("GET", "/apis/example.com/v1/namespaces/default/gadgets").code, 404);
  EXPECT_EQ(Do("GET", kWidgets).code, 200);
  // Group and scope are immutable.
  Json upd = Do("GET", std::string(kCrds) + "/widgets.example.com").body;
  upd["spec"]["scope"] = "Cluster";
  r = Do("PUT", std::string(kCrds) + "/widgets.example.com", DumpJson(upd));
  EXPECT_EQ(r.code, 422) << r.raw;
}

TEST_F(CrdRestTest, DeletingCrdDeletesInstancesThenTheCrd) {
  CreateCrd();
  ASSERT_EQ(Do("POST", kWidgets, Widget("a", R"({"size":1})")).code, 201);
  Resp r = Do("POST", kWidgets,
              R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"f","finalizers":["x/y"]},"spec":{}})");
  ASSERT_EQ(r.code, 201) << r.raw;
  r = Do("DELETE", std::string(kCrds) + "/widgets.example.com");
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_THAT(r.body["metadata"]["finalizers"].dump(), HasSubstr("customresourcecleanup.apiextensions.k8s.io"));
  // The instance with a finalizer holds the CRD: it is terminating, creates are refused.
  r = Do("GET", std::string(kCrds) + "/widgets.example.com");
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(ConditionStatus(r.body, "Terminating"), "True") << r.raw;
  EXPECT_EQ(Do("GET", std::string(kWidgets) + "/a").code, 404);
  r = Do("GET", std::string(kWidgets) + "/f");
  ASSERT_EQ(r.code, 200);
  EXPECT_TRUE(r.body["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(Do("POST", kWidgets, Widget("late", "{}")).code, 405);
  // Removing the instance's finalizer lets the cleanup finish.
  r = Do("PATCH", std::string(kWidgets) + "/f", R"({"metadata":{"finalizers":null}})",
         {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.code, 200) << r.raw;
  for (int i = 0; i < 50 && Do("GET", std::string(kCrds) + "/widgets.example.com").code != 404; ++i) h_->SyncForTest();
  EXPECT_EQ(Do("GET", std::string(kCrds) + "/widgets.example.com").code, 404);
  EXPECT_EQ(Do("GET", kWidgets).code, 404);
  EXPECT_EQ(Do("GET", "/apis", "", {{"Accept", kAggregated}}).raw.find("\"widgets\""), std::string::npos);
  // Recreated: empty.
  CreateCrd();
  EXPECT_EQ(Do("GET", kWidgets).body["items"].size(), 0u);
}

TEST_F(CrdRestTest, DeletingCrdEndsWatchesOfItsResources) {
  CreateCrd();
  auto watch = [&](const std::string& target) {
    auto w = std::make_shared<Writer>();
    h_->Handle(MakeRequest("GET", target, "", {}), w);
    return w;
  };
  auto v1 = watch(std::string(kWidgets) + "?watch=true");
  auto v1beta1 = watch("/apis/example.com/v1beta1/widgets?watch=true&allowWatchBookmarks=true");
  auto cms = watch("/api/v1/namespaces/default/configmaps?watch=true");
  ASSERT_EQ(Do("POST", kWidgets, Widget("a", R"({"size":1})")).code, 201);
  ASSERT_EQ(v1beta1->Events(1).size(), 1u);
  ASSERT_EQ(Do("DELETE", std::string(kCrds) + "/widgets.example.com").code, 200);
  for (int i = 0; i < 50 && Do("GET", std::string(kCrds) + "/widgets.example.com").code != 404; ++i) h_->SyncForTest();
  ASSERT_EQ(Do("GET", std::string(kCrds) + "/widgets.example.com").code, 404);
  EXPECT_TRUE(v1->WaitFinished());
  EXPECT_TRUE(v1beta1->WaitFinished());
  // The instance's deletion was delivered before the end.
  auto ev = v1->Events(2);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[1]["type"], "DELETED");
  // Other resources' watches stay open.
  EXPECT_FALSE(cms->finished());
  ASSERT_EQ(Do("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"c"}})").code, 201);
  EXPECT_EQ(cms->Events(1).size(), 1u);
}

TEST_F(CrdRestTest, UnservedVersionEndsItsWatchesOnly) {
  CreateCrd();
  auto w = std::make_shared<Writer>();
  h_->Handle(MakeRequest("GET", "/apis/example.com/v1beta1/namespaces/default/widgets?watch=true", "", {}), w);
  auto w1 = std::make_shared<Writer>();
  h_->Handle(MakeRequest("GET", std::string(kWidgets) + "?watch=true", "", {}), w1);
  Json crd = Do("GET", std::string(kCrds) + "/widgets.example.com").body;
  crd["spec"]["versions"][1]["served"] = false;
  ASSERT_EQ(Do("PUT", std::string(kCrds) + "/widgets.example.com", DumpJson(crd)).code, 200);
  EXPECT_TRUE(w->WaitFinished());
  EXPECT_FALSE(w1->finished());
  ASSERT_EQ(Do("POST", kWidgets, Widget("b", R"({"size":1})")).code, 201);
  EXPECT_EQ(w1->Events(1).size(), 1u);
}

// A CRD whose storage version is not served: every served version reads and writes (converted
// to and from the storage version, which is what is stored).
TEST_F(CrdRestTest, StorageVersionNotServed) {
  Json crd = WidgetCrd(false);
  crd["spec"]["versions"][0].erase("subresources");
  crd["spec"]["versions"][0]["served"] = false;
  Json v2 = crd["spec"]["versions"][1];
  v2["name"] = "v2";
  crd["spec"]["versions"].push_back(v2);
  CreateCrd(crd);
  const std::string beta = "/apis/example.com/v1beta1/namespaces/default/widgets";
  const std::string two = "/apis/example.com/v2/namespaces/default/widgets";
  EXPECT_EQ(Do("GET", kWidgets).code, 404);  // v1 itself is not served
  Resp r = Do("POST", beta, R"({"apiVersion":"example.com/v1beta1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":3}})");
  ASSERT_EQ(r.code, 201) << r.raw;
  EXPECT_EQ(r.body["apiVersion"], "example.com/v1beta1");
  int size = 3;
  for (const std::string& base : {beta, two}) {
    SCOPED_TRACE(base);
    std::string version = base == beta ? "v1beta1" : "v2";
    r = Do("GET", base + "/w");
    ASSERT_EQ(r.code, 200) << r.raw;
    EXPECT_EQ(r.body["apiVersion"], "example.com/" + version);
    EXPECT_EQ(r.body["spec"]["size"], size);
    r = Do("GET", base);
    ASSERT_EQ(r.code, 200) << r.raw;
    ASSERT_EQ(r.body["items"].size(), 1u);
    EXPECT_EQ(r.body["items"][0]["apiVersion"], "example.com/" + version);
    r = Do("GET", base + "/w", "", {{"Accept", kTableAccept}});
    EXPECT_EQ(r.code, 200) << r.raw;
    r = Do("PATCH", base + "/w", R"({"spec":{"size":)" + std::to_string(++size) + "}}",
           {{"Content-Type", "application/merge-patch+json"}});
    ASSERT_EQ(r.code, 200) << r.raw;
    EXPECT_EQ(r.body["spec"]["size"], size);
    EXPECT_EQ(r.body["apiVersion"], "example.com/" + version);
    auto w = std::make_shared<Writer>();
    h_->Handle(MakeRequest("GET", base + "?watch=true", "", {}), w);
    auto ev = w->Events(1);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0]["object"]["apiVersion"], "example.com/" + version);
  }
  // Stored at the storage version.
  auto got = store_->Get("/registry/example.com/widgets/default/w");
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(*got->value, HasSubstr(R"("apiVersion":"example.com/v1")"));
  EXPECT_EQ(Do("DELETE", two + "/w").code, 200);
  EXPECT_EQ(Do("GET", beta + "/w").code, 404);
}

TEST_F(CrdRestTest, DefaultsAddedToTheSchemaApplyOnRead) {
  Json crd = WidgetCrd();
  for (auto& v : crd["spec"]["versions"]) v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["mode"].erase("default");
  CreateCrd(crd);
  ASSERT_EQ(Do("POST", kWidgets, Widget("old", R"({"size":1})")).code, 201);
  EXPECT_FALSE(Do("GET", std::string(kWidgets) + "/old").body["spec"].contains("mode"));
  Json cur = Do("GET", std::string(kCrds) + "/widgets.example.com").body;
  for (auto& v : cur["spec"]["versions"]) v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["mode"]["default"] = "manual";
  Resp r = Do("PUT", std::string(kCrds) + "/widgets.example.com", DumpJson(cur));
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["metadata"]["generation"], 2);
  EXPECT_EQ(Do("GET", std::string(kWidgets) + "/old").body["spec"]["mode"], "manual");
  Resp list = Do("GET", kWidgets);
  ASSERT_EQ(list.body["items"].size(), 1u);
  EXPECT_EQ(list.body["items"][0]["spec"]["mode"], "manual");
}

TEST_F(CrdRestTest, CrdsAreServedAfterRestart) {
  CreateCrd();
  ASSERT_EQ(Do("POST", kWidgets, Widget("keep", R"({"size":2})")).code, 201);
  h_->Stop();
  h_.reset();
  StartHandler();
  ASSERT_TRUE(h_->Ready());
  Resp r = Do("GET", std::string(kWidgets) + "/keep");
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["spec"]["size"], 2);
}

}  // namespace
}  // namespace tug::apiserver::rest
