// Request -> response tests of the generic REST layer against a real memory store and the
// built-in registry. A fake ResponseWriter records complete responses and watch chunks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <iostream>
#include <mutex>

#include "api/apply/apply.h"
#include "apiserver/rest/rest.h"
#include "base/testing/fake_clock.h"
#include "store/memory/memory_store.h"

namespace tug::apiserver::rest {
namespace {

using ::testing::HasSubstr;

class FakeWriter : public ResponseWriter {
 public:
  void Send(int code, std::string content_type, std::string body,
            std::vector<std::pair<std::string, std::string>> extra_headers) override {
    std::lock_guard<std::mutex> lock(mu_);
    code_ = code;
    content_type_ = std::move(content_type);
    body_ = std::move(body);
    headers_ = std::move(extra_headers);
    done_ = true;
    cv_.notify_all();
  }
  void StartStream(int code, std::string content_type) override {
    std::lock_guard<std::mutex> lock(mu_);
    code_ = code;
    content_type_ = std::move(content_type);
    streaming_ = true;
  }
  bool Write(std::string chunk) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    chunks_.push_back(std::move(chunk));
    cv_.notify_all();
    return true;
  }
  void Finish() override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void OnClose(std::function<void()> cb) override {
    std::lock_guard<std::mutex> lock(mu_);
    on_close_.push_back(std::move(cb));
  }
  bool Closed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  // The client goes away.
  void Close() {
    std::vector<std::function<void()>> cbs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      cbs.swap(on_close_);
    }
    for (auto& cb : cbs) cb();
  }
  // Waits for n chunks (watch events); returns them parsed.
  std::vector<Json> Events(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return chunks_.size() >= n; });
    std::vector<Json> out;
    for (const auto& c : chunks_) out.push_back(Json::parse(c));
    return out;
  }
  size_t ChunkCount() {
    std::lock_guard<std::mutex> lock(mu_);
    return chunks_.size();
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int code_ = 0;
  std::string content_type_;
  std::string body_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::vector<std::string> chunks_;
  std::vector<std::function<void()>> on_close_;
  bool streaming_ = false;
  bool done_ = false;
  bool closed_ = false;
};

struct Resp {
  int code = 0;
  Json body;
  std::string raw;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
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

const char kTableAccept[] =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

class RestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemoryStore();
    auto reg = api::Registry::Builtin();
    ASSERT_TRUE(reg.ok()) << reg.status().ToString();
    registry_ = *reg;
    Options o;
    o.server_address = "192.168.1.10:6443";
    o.clock = &clock_;
    o.start_timer_thread = false;
    o.bookmark_interval = std::chrono::seconds(10);
    auto h = NewRestHandler(*store_, registry_, o);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    h_ = std::move(h).value();
    ASSERT_TRUE(h_->Ready());
  }
  void TearDown() override {
    if (h_) h_->Stop();
  }

  Resp Do(std::string method, std::string target, std::string body = "",
          std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto w = std::make_shared<FakeWriter>();
    h_->Handle(MakeRequest(std::move(method), std::move(target), std::move(body), std::move(headers)), w);
    Resp r;
    r.code = w->code_;
    r.raw = w->body_;
    r.headers = w->headers_;
    r.body = Json::parse(w->body_, nullptr, false);
    h_->SyncForTest();
    return r;
  }
  std::shared_ptr<FakeWriter> StartWatch(std::string target, std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto w = std::make_shared<FakeWriter>();
    h_->Handle(MakeRequest("GET", std::move(target), "", std::move(headers)), w);
    return w;
  }
  std::string CreateCM(const std::string& ns, const std::string& name, const std::string& labels = "{}") {
    Resp r = Do("POST", "/api/v1/namespaces/" + ns + "/configmaps",
                R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","labels":)" + labels +
                    R"(},"data":{"k":"v"}})");
    EXPECT_EQ(r.code, 201) << r.raw;
    return r.body["metadata"].value("resourceVersion", "");
  }

  testing::FakeClock clock_;
  store::StorePtr store_;
  std::shared_ptr<const api::Registry> registry_;
  std::unique_ptr<RestHandler> h_;
};

TEST_F(RestTest, BootstrapObjects) {
  Resp r = Do("GET", "/api/v1/namespaces");
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["kind"], "NamespaceList");
  std::vector<std::string> names;
  for (const auto& i : r.body["items"]) names.push_back(i["metadata"]["name"]);
  EXPECT_THAT(names, ::testing::ElementsAre("default", "kube-node-lease", "kube-public", "kube-system"));
  r = Do("GET", "/api/v1/namespaces/default/services/kubernetes");
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["spec"]["clusterIP"], "10.43.0.1");
  EXPECT_EQ(r.body["spec"]["ports"][0]["port"], 443);
  r = Do("GET", "/api/v1/namespaces/default/endpoints/kubernetes");
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["subsets"][0]["addresses"][0]["ip"], "192.168.1.10");
  EXPECT_EQ(r.body["subsets"][0]["ports"][0]["port"], 6443);
  r = Do("GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes");
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["endpoints"][0]["addresses"][0], "192.168.1.10");
  // A second handler on the same store does not duplicate them.
  h_->Stop();
  Options o;
  o.server_address = "192.168.1.10:6443";
  o.clock = &clock_;
  o.start_timer_thread = false;
  auto h2 = NewRestHandler(*store_, registry_, o);
  ASSERT_TRUE(h2.ok()) << h2.status().ToString();
  h_ = std::move(h2).value();
  r = Do("GET", "/api/v1/services");
  EXPECT_EQ(r.body["items"].size(), 1u);
}

struct ErrorCase {
  std::string name, method, target, body, content_type;
  int code;
  std::string reason;
  std::string message;
};

TEST_F(RestTest, ErrorStatuses) {
  CreateCM("default", "dup");
  const std::vector<ErrorCase> cases = {
      {"unknown path", "GET", "/apis/nope/v1/things", "", "", 404, "NotFound", "the server could not find the requested resource"},
      {"unknown resource", "GET", "/api/v1/bogus", "", "", 404, "NotFound", "the server could not find the requested resource"},
      {"cluster resource with ns", "GET", "/api/v1/namespaces/default/nodes", "", "", 404, "NotFound", "the server could not find the requested resource"},
      {"missing object", "GET", "/api/v1/namespaces/default/configmaps/nope", "", "", 404, "NotFound", "configmaps \"nope\" not found"},
      {"missing group object", "GET", "/apis/apps/v1/namespaces/default/deployments/web", "", "", 404, "NotFound", "deployments.apps \"web\" not found"},
      {"put on collection", "PUT", "/api/v1/namespaces/default/configmaps", "{}", "", 405, "MethodNotAllowed", "the server does not allow this method on the requested resource"},
      {"already exists", "POST", "/api/v1/namespaces/default/configmaps", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"}})", "", 409, "AlreadyExists", "configmaps \"dup\" already exists"},
      {"namespace mismatch", "POST", "/api/v1/namespaces/default/configmaps", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"other"}})", "", 400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"},
      {"api version mismatch", "POST", "/api/v1/namespaces/default/configmaps", R"({"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}})", "", 400, "BadRequest", "the API version in the data (apps/v1) does not match the expected API version (v1)"},
      {"namespace missing", "POST", "/api/v1/namespaces/no-such-ns/configmaps", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}})", "", 404, "NotFound", "namespaces \"no-such-ns\" not found"},
      {"strict unknown field", "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"bogus":1})", "", 400, "BadRequest", "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"bogus\""},
      {"unsupported media type", "POST", "/api/v1/namespaces/default/configmaps", "x", "text/plain", 415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"},
      {"bad label selector", "GET", "/api/v1/namespaces/default/configmaps?labelSelector=a%20b", "", "", 400, "BadRequest", ""},
      {"bad field selector", "GET", "/api/v1/namespaces/default/configmaps?fieldSelector=spec.bogus=1", "", "", 400, "BadRequest", "field label not supported: spec.bogus"},
      {"invalid name", "POST", "/api/v1/namespaces/default/configmaps", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}})", "", 422, "Invalid", ""},
  };
  for (const auto& tc : cases) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!tc.content_type.empty()) headers.emplace_back("Content-Type", tc.content_type);
    std::string target = tc.target;
    if (auto p = target.find("%20"); p != std::string::npos) target.replace(p, 3, " ");
    Resp r = Do(tc.method, target, tc.body, headers);
    EXPECT_EQ(r.code, tc.code) << tc.name << ": " << r.raw;
    EXPECT_EQ(r.body.value("kind", ""), "Status") << tc.name;
    EXPECT_EQ(r.body.value("reason", ""), tc.reason) << tc.name;
    EXPECT_EQ(r.body.value("code", 0), tc.code) << tc.name;
    if (!tc.message.empty()) {
      EXPECT_EQ(r.body.value("message", ""), tc.message) << tc.name;
    }
  }
  // Nothing was created by the failed requests.
  Resp l = Do("GET", "/api/v1/namespaces/default/configmaps");
  ASSERT_EQ(l.body["items"].size(), 1u) << l.raw;
}

TEST_F(RestTest, CreateGetUpdatePatchDelete) {
  Resp c = Do("POST", "/api/v1/namespaces/default/configmaps?fieldManager=kubectl-create",
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","creationTimestamp":null},"data":{"k":"v"}})");
  ASSERT_EQ(c.code, 201) << c.raw;
  const Json& m = c.body["metadata"];
  EXPECT_EQ(m["namespace"], "default");
  EXPECT_EQ(m["uid"].get<std::string>().size(), 36u);
  EXPECT_EQ(m["creationTimestamp"], FormatRFC3339(clock_.Now()));
  std::string rv1 = m["resourceVersion"];
  EXPECT_FALSE(rv1.empty());
  EXPECT_EQ(m["managedFields"][0]["manager"], "kubectl-create");
  EXPECT_EQ(m["managedFields"][0]["operation"], "Update");
  EXPECT_EQ(m["managedFields"][0]["fieldsV1"], Json::parse(R"({"f:data":{".":{},"f:k":{}}})"));

  Resp g = Do("GET", "/api/v1/namespaces/default/configmaps/c1");
  ASSERT_EQ(g.code, 200);
  EXPECT_EQ(g.body, c.body);

  // Update with a stale resourceVersion: 409 Conflict.
  Json upd = g.body;
  upd["data"]["k"] = "v2";
  Resp u = Do("PUT", "/api/v1/namespaces/default/configmaps/c1", upd.dump());
  ASSERT_EQ(u.code, 200) << u.raw;
  std::string rv2 = u.body["metadata"]["resourceVersion"];
  EXPECT_NE(rv1, rv2);
  Resp stale = Do("PUT", "/api/v1/namespaces/default/configmaps/c1", upd.dump());
  EXPECT_EQ(stale.code, 409);
  EXPECT_EQ(stale.body["reason"], "Conflict");
  EXPECT_EQ(stale.body["message"],
            "Operation cannot be fulfilled on configmaps \"c1\": the object has been modified; please apply your "
            "changes to the latest version and try again");
  // Without resourceVersion the update is unconditional.
  upd["metadata"].erase("resourceVersion");
  upd["data"]["k"] = "v3";
  u = Do("PUT", "/api/v1/namespaces/default/configmaps/c1", upd.dump());
  ASSERT_EQ(u.code, 200) << u.raw;
  std::string rv3 = u.body["metadata"]["resourceVersion"];
  // A no-op update writes nothing.
  upd = u.body;
  upd["metadata"].erase("resourceVersion");
  Resp noop = Do("PUT", "/api/v1/namespaces/default/configmaps/c1", upd.dump());
  ASSERT_EQ(noop.code, 200);
  EXPECT_EQ(noop.body["metadata"]["resourceVersion"], rv3);
  EXPECT_EQ(noop.body, u.body);
  // Update of a missing object is 404.
  Resp missing = Do("PUT", "/api/v1/namespaces/default/configmaps/zz",
                    R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"zz"}})");
  EXPECT_EQ(missing.code, 404);
  // Name mismatch.
  Resp mism = Do("PUT", "/api/v1/namespaces/default/configmaps/c1",
                 R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}})");
  EXPECT_EQ(mism.code, 400);
  EXPECT_EQ(mism.body["message"], "the name of the object (other) does not match the name on the URL (c1)");

  struct PatchCase {
    std::string type, body, want;
  };
  const std::vector<PatchCase> patches = {
      {"application/merge-patch+json", R"({"data":{"a":"1"}})", R"({"a":"1","k":"v3"})"},
      {"application/json-patch+json", R"([{"op":"replace","path":"/data/a","value":"2"}])", R"({"a":"2","k":"v3"})"},
      {"application/strategic-merge-patch+json", R"({"data":{"k":null}})", R"({"a":"2"})"},
  };
  for (const auto& p : patches) {
    Resp pr = Do("PATCH", "/api/v1/namespaces/default/configmaps/c1?fieldManager=kubectl-patch", p.body,
                 {{"Content-Type", p.type}});
    ASSERT_EQ(pr.code, 200) << p.type << ": " << pr.raw;
    EXPECT_EQ(pr.body["data"], Json::parse(p.want)) << p.type;
  }
  Resp before = Do("GET", "/api/v1/namespaces/default/configmaps/c1");
  Resp same = Do("PATCH", "/api/v1/namespaces/default/configmaps/c1", R"({"data":{"a":"2"}})",
                 {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(same.body, before.body);  // "(no change)"
  Resp bad = Do("PATCH", "/api/v1/namespaces/default/configmaps/c1", "{}", {{"Content-Type", "application/json"}});
  EXPECT_EQ(bad.code, 415);

  Resp d = Do("DELETE", "/api/v1/namespaces/default/configmaps/c1", R"({"propagationPolicy":"Background"})");
  ASSERT_EQ(d.code, 200) << d.raw;
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/configmaps/c1").code, 404);
  Resp d2 = Do("DELETE", "/api/v1/namespaces/default/configmaps/c1");
  EXPECT_EQ(d2.code, 404);
  EXPECT_EQ(d2.body["message"], "configmaps \"c1\" not found");
}

// Creates of same-shaped objects reuse the managedFields computed for the first shape (by
// resource, manager and shape): each must still equal a fresh computation, with its own time.
TEST_F(RestTest, CreateManagedFieldsByShape) {
  const api::ResourceDef* cm = registry_->ByResource("", "v1", "configmaps");
  ASSERT_NE(cm, nullptr);
  struct Case {
    const char* name;
    const char* data;
    const char* manager;
    bool entry = true;  // false: nothing is tracked, no managedFields
  };
  const Case cases[] = {
      {"first", R"({"k":"v"})", "m1"},
      {"same shape", R"({"k":"other"})", "m1"},
      {"extra key", R"({"k":"v","j":"w"})", "m1"},
      {"other manager", R"({"k":"v"})", "m2"},
      {"null value", R"({"k":null})", "m1"},
      {"same shape again", R"({"k":"third"})", "m1"},
      {"empty", R"({})", "m1", false},
      {"empty again", R"({})", "m1", false},
  };
  int i = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    clock_.Advance(std::chrono::seconds(3));
    std::string name = "shape-" + std::to_string(i++);
    Resp r = Do("POST", std::string("/api/v1/namespaces/default/configmaps?fieldManager=") + c.manager,
                R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"("},"data":)" + c.data + "}");
    ASSERT_EQ(r.code, 201) << r.raw;
    Json got = r.body["metadata"]["managedFields"];
    Json fresh = r.body;
    fresh["metadata"].erase("managedFields");
    fresh["metadata"].erase("resourceVersion");
    api::apply::UpdateManagedFields(*registry_, *cm, nullptr, fresh, c.manager, "Update", "", FormatRFC3339(clock_.Now()));
    EXPECT_EQ(got, fresh["metadata"]["managedFields"]);
    if (!c.entry) {
      EXPECT_TRUE(got.is_null()) << got;
      continue;
    }
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0]["time"], FormatRFC3339(clock_.Now()));
    EXPECT_EQ(got[0]["manager"], c.manager);
  }
}

TEST_F(RestTest, YamlBodyAndApplyPatch) {
  Resp y = Do("POST", "/api/v1/namespaces/default/configmaps",
              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y1\ndata:\n  k: v\n",
              {{"Content-Type", "application/yaml"}});
  ASSERT_EQ(y.code, 201) << y.raw;
  EXPECT_EQ(y.body["data"]["k"], "v");
  // apply-patch+yaml: create when missing (201), update when present (200).
  const std::string applied = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"1"}})";
  Resp a1 = Do("PATCH", "/api/v1/namespaces/default/configmaps/ssa?fieldManager=kubectl", applied,
               {{"Content-Type", "application/apply-patch+yaml"}});
  ASSERT_EQ(a1.code, 201) << a1.raw;
  EXPECT_EQ(a1.body["metadata"]["managedFields"][0]["operation"], "Apply");
  EXPECT_EQ(Do("PATCH", "/api/v1/namespaces/default/configmaps/ssa", applied,
               {{"Content-Type", "application/apply-patch+yaml"}}).code, 422);
  Resp a2 = Do("PATCH", "/api/v1/namespaces/default/configmaps/ssa?fieldManager=kubectl",
               R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"2"}})",
               {{"Content-Type", "application/apply-patch+yaml"}});
  ASSERT_EQ(a2.code, 200) << a2.raw;
  EXPECT_EQ(a2.body["data"]["a"], "2");
}

TEST_F(RestTest, FieldValidationWarnAndIgnore) {
  Resp w = Do("POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Warn",
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},"bogus":1})");
  ASSERT_EQ(w.code, 201) << w.raw;
  EXPECT_EQ(w.Header("Warning"), "299 - \"unknown field \\\"bogus\\\"\"");
  EXPECT_FALSE(w.body.contains("bogus"));
  Resp i = Do("POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Ignore",
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"i"},"bogus":1})");
  ASSERT_EQ(i.code, 201) << i.raw;
  EXPECT_EQ(i.Header("Warning"), "");

  // Repeated keys (the body scan sends these to the duplicate-reporting decode): a warning with
  // the field's path, the last value kept; Strict refuses them; escaped keys are compared too.
  Resp d = Do("POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Warn",
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":{"k":"1","k":"2"}})");
  ASSERT_EQ(d.code, 201) << d.raw;
  EXPECT_EQ(d.Header("Warning"), "299 - \"duplicate field \\\"data.k\\\"\"");
  EXPECT_EQ(d.body["data"]["k"], "2");
  Resp e = Do("POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Warn",
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"e"},"data":{"k":"1","\u006b":"2"}})");
  ASSERT_EQ(e.code, 201) << e.raw;
  EXPECT_EQ(e.Header("Warning"), "299 - \"duplicate field \\\"data.k\\\"\"");
  Resp s = Do("POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"s","name":"s"}})");
  EXPECT_EQ(s.code, 400) << s.raw;
  EXPECT_NE(s.raw.find("duplicate field"), std::string::npos) << s.raw;
  // Distinct keys take the plain parse; the schema check after it still runs.
  Resp typed = Do("POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
                  R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"typed"},"data":{"k":"1","j":{"k":1}}})");
  EXPECT_EQ(typed.code, 400) << typed.raw;
}

TEST_F(RestTest, JobGetsGeneratedSelectorFromItsUid) {
  Resp r = Do("POST", "/apis/batch/v1/namespaces/default/jobs",
              R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"pi","image":"busybox"}]}}}})");
  ASSERT_EQ(r.code, 201) << r.raw;
  std::string uid = r.body["metadata"]["uid"];
  ASSERT_FALSE(uid.empty());
  EXPECT_EQ(r.body["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"], uid) << r.raw;
  EXPECT_EQ(r.body["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"], "pi") << r.raw;
}

TEST_F(RestTest, DryRunAndGenerateName) {
  Resp d = Do("POST", "/api/v1/namespaces/default/configmaps?dryRun=All",
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dry"}})");
  ASSERT_EQ(d.code, 201) << d.raw;
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/configmaps/dry").code, 404);
  Resp g = Do("POST", "/api/v1/namespaces/default/configmaps",
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"gen-"}})");
  ASSERT_EQ(g.code, 201) << g.raw;
  std::string name = g.body["metadata"]["name"];
  ASSERT_EQ(name.size(), 9u);
  EXPECT_EQ(name.substr(0, 4), "gen-");
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/configmaps/" + name).code, 200);
  CreateCM("default", "keep");
  Resp dd = Do("DELETE", "/api/v1/namespaces/default/configmaps/keep?dryRun=All");
  EXPECT_EQ(dd.code, 200);
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/configmaps/keep").code, 200);
}

TEST_F(RestTest, ListPagingSelectorsAndTable) {
  Do("POST", "/api/v1/namespaces", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"other"}})");
  for (int i = 0; i < 5; ++i) CreateCM("default", "cm" + std::to_string(i), i % 2 ? R"({"tier":"web"})" : R"({"tier":"db"})");
  CreateCM("other", "cmx", R"({"tier":"web"})");
  Resp all = Do("GET", "/api/v1/namespaces/default/configmaps");
  ASSERT_EQ(all.code, 200);
  EXPECT_EQ(all.body["kind"], "ConfigMapList");
  EXPECT_EQ(all.body["items"].size(), 5u);
  EXPECT_FALSE(all.body["metadata"]["resourceVersion"].get<std::string>().empty());
  // Paging: 2 + 2 + 1 with continue tokens, and a write in between does not show up.
  Resp p1 = Do("GET", "/api/v1/namespaces/default/configmaps?limit=2");
  ASSERT_EQ(p1.body["items"].size(), 2u);
  std::string cont = p1.body["metadata"]["continue"];
  CreateCM("default", "cm9");
  Resp p2 = Do("GET", "/api/v1/namespaces/default/configmaps?limit=2&continue=" + cont);
  ASSERT_EQ(p2.code, 200) << p2.raw;
  ASSERT_EQ(p2.body["items"].size(), 2u);
  EXPECT_EQ(p2.body["items"][0]["metadata"]["name"], "cm2");
  Resp p3 = Do("GET", "/api/v1/namespaces/default/configmaps?limit=2&continue=" + std::string(p2.body["metadata"]["continue"]));
  ASSERT_EQ(p3.body["items"].size(), 1u);
  EXPECT_EQ(p3.body["items"][0]["metadata"]["name"], "cm4");
  EXPECT_FALSE(p3.body["metadata"].contains("continue"));
  // A compacted continue revision is 410 Expired.
  ASSERT_TRUE(store_->Compact(store_->CurrentRevision()).ok());
  Resp gone = Do("GET", "/api/v1/namespaces/default/configmaps?limit=2&continue=" + cont);
  EXPECT_EQ(gone.code, 410);
  EXPECT_EQ(gone.body["reason"], "Expired");

  struct SelCase {
    std::string query;
    std::vector<std::string> names;
  };
  const std::vector<SelCase> sels = {
      {"labelSelector=tier=web", {"cm1", "cm3"}},
      {"labelSelector=tier!=web", {"cm0", "cm2", "cm4", "cm9"}},
      {"labelSelector=tier in (db)", {"cm0", "cm2", "cm4"}},
      {"labelSelector=!tier", {"cm9"}},
      {"fieldSelector=metadata.name=cm3", {"cm3"}},
      {"fieldSelector=metadata.name!=cm3,metadata.namespace=default&labelSelector=tier=web", {"cm1"}},
  };
  for (const auto& s : sels) {
    Resp r = Do("GET", "/api/v1/namespaces/default/configmaps?" + s.query);
    ASSERT_EQ(r.code, 200) << s.query << r.raw;
    std::vector<std::string> names;
    for (const auto& i : r.body["items"]) names.push_back(i["metadata"]["name"]);
    EXPECT_EQ(names, s.names) << s.query;
  }
  // resourceVersion=<a later global revision> (NotOlderThan) is served from the cache.
  Do("POST", "/api/v1/namespaces", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"later"}})");
  Resp nt = Do("GET", "/api/v1/namespaces/default/configmaps?resourceVersion=" + std::to_string(store_->CurrentRevision()));
  EXPECT_EQ(nt.code, 200);
  EXPECT_EQ(nt.body["items"].size(), 6u);
  // Cluster-wide list.
  Resp wide = Do("GET", "/api/v1/configmaps?labelSelector=tier=web");
  EXPECT_EQ(wide.body["items"].size(), 3u);

  // Table.
  Resp t = Do("GET", "/api/v1/namespaces/default/configmaps?limit=500&labelSelector=tier=web", "", {{"Accept", kTableAccept}});
  ASSERT_EQ(t.code, 200) << t.raw;
  EXPECT_EQ(t.body["kind"], "Table");
  EXPECT_EQ(t.body["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(t.body["columnDefinitions"][0]["name"], "Name");
  ASSERT_EQ(t.body["rows"].size(), 2u);
  EXPECT_EQ(t.body["rows"][0]["cells"][0], "cm1");
  EXPECT_EQ(t.body["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(t.body["rows"][0]["object"]["metadata"]["labels"]["tier"], "web");
  Resp tf = Do("GET", "/api/v1/namespaces/default/configmaps/cm1?includeObject=Object", "", {{"Accept", kTableAccept}});
  EXPECT_EQ(tf.body["rows"][0]["object"]["kind"], "ConfigMap");
  EXPECT_EQ(tf.body["rows"][0]["object"]["data"]["k"], "v");
  Resp tn = Do("GET", "/api/v1/namespaces/default/configmaps/cm1?includeObject=None", "", {{"Accept", kTableAccept}});
  EXPECT_FALSE(tn.body["rows"][0].contains("object"));
  // A LIST renders rows from the cache; a GET renders the object afresh: the same row.
  Resp one = Do("GET", "/api/v1/namespaces/default/configmaps/cm1", "", {{"Accept", kTableAccept}});
  EXPECT_EQ(t.body["rows"][0], one.body["rows"][0]);
  // A change makes a new snapshot whose row shows it; the age is computed at serving time.
  clock_.Advance(std::chrono::minutes(3));
  Do("PATCH", "/api/v1/namespaces/default/configmaps/cm1", R"({"data":{"k":"v","k2":"v2"}})",
     {{"Content-Type", "application/merge-patch+json"}});
  Resp t2 = Do("GET", "/api/v1/namespaces/default/configmaps?labelSelector=tier=web", "", {{"Accept", kTableAccept}});
  ASSERT_EQ(t2.code, 200) << t2.raw;
  EXPECT_EQ(t2.body["rows"][0]["cells"], Json::array({"cm1", 2, "3m"})) << t2.raw;
  EXPECT_EQ(t2.body["rows"][1]["cells"][2], "3m");
}

TEST_F(RestTest, WatchEventSequence) {
  std::string rv = CreateCM("default", "a", R"({"app":"x"})");
  auto w = StartWatch("/api/v1/namespaces/default/configmaps?watch=true&labelSelector=app=x&resourceVersion=" + rv);
  EXPECT_TRUE(w->streaming_);
  CreateCM("default", "b", R"({"app":"x"})");
  CreateCM("default", "c", R"({"app":"y"})");  // filtered out
  Do("PATCH", "/api/v1/namespaces/default/configmaps/b", R"({"data":{"k":"2"}})", {{"Content-Type", "application/merge-patch+json"}});
  Do("PATCH", "/api/v1/namespaces/default/configmaps/c", R"({"metadata":{"labels":{"app":"x"}}})", {{"Content-Type", "application/merge-patch+json"}});
  Do("PATCH", "/api/v1/namespaces/default/configmaps/a", R"({"metadata":{"labels":{"app":"z"}}})", {{"Content-Type", "application/merge-patch+json"}});
  Do("DELETE", "/api/v1/namespaces/default/configmaps/b");
  auto ev = w->Events(5);
  ASSERT_EQ(ev.size(), 5u);
  std::vector<std::string> got;
  for (const auto& e : ev) got.push_back(e["type"].get<std::string>() + ":" + e["object"]["metadata"]["name"].get<std::string>());
  EXPECT_THAT(got, ::testing::ElementsAre("ADDED:b", "MODIFIED:b", "ADDED:c", "DELETED:a", "DELETED:b"));
  EXPECT_EQ(ev[0]["object"]["kind"], "ConfigMap");
  w->Close();

  // resourceVersion unset: synthetic ADDED for the current state first.
  auto w2 = StartWatch("/api/v1/namespaces/default/configmaps?watch=1");
  auto ev2 = w2->Events(2);
  ASSERT_EQ(ev2.size(), 2u);
  EXPECT_EQ(ev2[0]["type"], "ADDED");
  w2->Close();

  // Single-object watch path with a Table Accept.
  auto w3 = StartWatch("/api/v1/watch/namespaces/default/configmaps/c", {{"Accept", kTableAccept}});
  auto ev3 = w3->Events(1);
  ASSERT_EQ(ev3.size(), 1u);
  EXPECT_EQ(ev3[0]["object"]["kind"], "Table");
  EXPECT_EQ(ev3[0]["object"]["rows"][0]["cells"][0], "c");
  w3->Close();
}

TEST_F(RestTest, WatchTimeoutBookmarksAndInitialEvents) {
  CreateCM("default", "a");
  auto w = StartWatch("/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=30&resourceVersion=" +
                      std::to_string(store_->CurrentRevision()));
  clock_.Advance(std::chrono::seconds(11));
  h_->TickForTest();
  auto ev = w->Events(1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["type"], "BOOKMARK");
  EXPECT_EQ(ev[0]["object"]["metadata"]["resourceVersion"], std::to_string(store_->CurrentRevision()));
  EXPECT_FALSE(w->done());
  clock_.Advance(std::chrono::seconds(20));
  h_->TickForTest();
  EXPECT_TRUE(w->done());

  auto si = StartWatch("/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true");
  auto sev = si->Events(2);
  ASSERT_EQ(sev.size(), 2u);
  EXPECT_EQ(sev[0]["type"], "ADDED");
  EXPECT_EQ(sev[1]["type"], "BOOKMARK");
  EXPECT_EQ(sev[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
  si->Close();
}

TEST_F(RestTest, WatchTooOldResourceVersion) {
  for (int i = 0; i < 3; ++i) CreateCM("default", "x" + std::to_string(i));
  ASSERT_TRUE(store_->Compact(store_->CurrentRevision()).ok());
  // A new handler's caches start at the current revision: older revisions are gone.
  h_->Stop();
  Options o;
  o.clock = &clock_;
  o.start_timer_thread = false;
  h_ = std::move(NewRestHandler(*store_, registry_, o)).value();
  auto w = StartWatch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2");
  auto ev = w->Events(1);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["type"], "ERROR");
  EXPECT_EQ(ev[0]["object"]["code"], 410);
  EXPECT_EQ(ev[0]["object"]["reason"], "Expired");
  EXPECT_THAT(ev[0]["object"]["message"].get<std::string>(), HasSubstr("too old resource version: 2"));
  EXPECT_TRUE(w->done());
}

TEST_F(RestTest, StopEndsWatches) {
  auto w = StartWatch("/api/v1/configmaps?watch=true");
  h_->Stop();
  EXPECT_TRUE(w->done());
  auto w2 = std::make_shared<FakeWriter>();
  h_->Handle(MakeRequest("GET", "/api/v1/configmaps", "", {}), w2);
  EXPECT_EQ(w2->code_, 503);
}

TEST_F(RestTest, FinalizersKeepObjectUntilRemoved) {
  Resp c = Do("POST", "/api/v1/namespaces/default/configmaps",
              R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"f","finalizers":["example.com/x"]}})");
  ASSERT_EQ(c.code, 201) << c.raw;
  Resp d = Do("DELETE", "/api/v1/namespaces/default/configmaps/f");
  ASSERT_EQ(d.code, 200) << d.raw;
  EXPECT_TRUE(d.body["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(d.body["metadata"]["deletionGracePeriodSeconds"], 0);
  Resp g = Do("GET", "/api/v1/namespaces/default/configmaps/f");
  ASSERT_EQ(g.code, 200);
  Resp p = Do("PATCH", "/api/v1/namespaces/default/configmaps/f", R"({"metadata":{"finalizers":null}})",
              {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(p.code, 200) << p.raw;
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/configmaps/f").code, 404);
}

TEST_F(RestTest, PropagationPolicyRecordsGarbageCollectorFinalizers) {
  struct Case {
    std::string name, query, body;
    std::vector<std::string> want;  // finalizers while the object stays; empty: deleted at once
  };
  const std::vector<Case> cases = {
      {"background", "?propagationPolicy=Background", "", {}},
      {"default", "", "", {}},
      {"orphan", "?propagationPolicy=Orphan", "", {"orphan"}},
      {"foreground", "", R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground"})", {"foregroundDeletion"}},
      {"orphan-dependents", "", R"({"orphanDependents":true})", {"orphan"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    CreateCM("default", c.name);
    Resp d = Do("DELETE", "/api/v1/namespaces/default/configmaps/" + c.name + c.query, c.body);
    ASSERT_EQ(d.code, 200) << d.raw;
    Resp g = Do("GET", "/api/v1/namespaces/default/configmaps/" + c.name);
    if (c.want.empty()) {
      EXPECT_EQ(g.code, 404);
      continue;
    }
    ASSERT_EQ(g.code, 200);
    EXPECT_EQ(g.body["metadata"]["finalizers"], Json(c.want));
    EXPECT_TRUE(g.body["metadata"].contains("deletionTimestamp"));
  }
  // Foreground on an object already deleting with "orphan" switches the finalizer.
  Resp f = Do("DELETE", "/api/v1/namespaces/default/configmaps/orphan?propagationPolicy=Foreground");
  ASSERT_EQ(f.code, 200) << f.raw;
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/configmaps/orphan").body["metadata"]["finalizers"],
            Json::array({"foregroundDeletion"}));
  // core/v1 ReplicationControllers orphan by default, as upstream keeps for old clients.
  Resp rc = Do("POST", "/api/v1/namespaces/default/replicationcontrollers",
               R"({"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"rc"},"spec":{"replicas":0,"selector":{"a":"b"},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}})");
  ASSERT_EQ(rc.code, 201) << rc.raw;
  ASSERT_EQ(Do("DELETE", "/api/v1/namespaces/default/replicationcontrollers/rc").code, 200);
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/replicationcontrollers/rc").body["metadata"]["finalizers"],
            Json::array({"orphan"}));
}

TEST_F(RestTest, NamespaceFinalizeSubresourceEndsDeletion) {
  // With the namespace controller in charge (no deleter in the REST layer), a deleted
  // namespace waits in Terminating until its "kubernetes" finalizer is removed via /finalize.
  h_->Stop();
  Options o;
  o.server_address = "192.168.1.10:6443";
  o.clock = &clock_;
  o.start_timer_thread = false;
  o.namespace_deleter = false;
  auto h = NewRestHandler(*store_, registry_, o);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  h_ = std::move(h).value();
  ASSERT_EQ(Do("POST", "/api/v1/namespaces", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"fin"}})").code, 201);
  ASSERT_EQ(Do("DELETE", "/api/v1/namespaces/fin").code, 200);
  h_->SyncForTest();
  Resp g = Do("GET", "/api/v1/namespaces/fin");
  ASSERT_EQ(g.code, 200);
  EXPECT_EQ(g.body["status"]["phase"], "Terminating");
  Json ns = g.body;
  ns["spec"]["finalizers"] = Json::array();
  ns["metadata"]["labels"]["ignored"] = "yes";  // finalize changes spec.finalizers only
  Resp f = Do("PUT", "/api/v1/namespaces/fin/finalize", DumpJson(ns));
  ASSERT_EQ(f.code, 200) << f.raw;
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/fin").code, 404);
}

TEST_F(RestTest, ConsistentListOfAnUnwrittenResourceIsAtTheCurrentRevision) {
  // Nothing was ever written under jobs; the bootstrap wrote elsewhere. The list is still as of
  // the store's current revision, never "0".
  Resp r = Do("GET", "/apis/batch/v1/jobs");
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(r.body["metadata"]["resourceVersion"], std::to_string(store_->CurrentRevision()));
}

TEST_F(RestTest, DeletePreconditions) {
  CreateCM("default", "p");
  Resp bad = Do("DELETE", "/api/v1/namespaces/default/configmaps/p", R"({"preconditions":{"uid":"nope"}})");
  EXPECT_EQ(bad.code, 409);
  EXPECT_THAT(bad.body["message"].get<std::string>(), HasSubstr("Precondition failed: UID in precondition: nope"));
  Resp badrv = Do("DELETE", "/api/v1/namespaces/default/configmaps/p", R"({"preconditions":{"resourceVersion":"1"}})");
  EXPECT_EQ(badrv.code, 409);
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/configmaps/p").code, 200);
}

TEST_F(RestTest, DeleteCollection) {
  for (int i = 0; i < 3; ++i) CreateCM("default", "d" + std::to_string(i), i == 0 ? R"({"a":"b"})" : "{}");
  Resp r = Do("DELETE", "/api/v1/namespaces/default/configmaps?labelSelector=a=b");
  ASSERT_EQ(r.code, 200) << r.raw;
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/configmaps").body["items"].size(), 2u);
}

TEST_F(RestTest, NamespaceDeletion) {
  ASSERT_EQ(Do("POST", "/api/v1/namespaces", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"gone"}})").code, 201);
  CreateCM("gone", "a");
  Resp fin = Do("POST", "/api/v1/namespaces/gone/configmaps",
                R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held","finalizers":["x/y"]}})");
  ASSERT_EQ(fin.code, 201);
  Resp d = Do("DELETE", "/api/v1/namespaces/gone");
  ASSERT_EQ(d.code, 200) << d.raw;
  EXPECT_EQ(d.body["status"]["phase"], "Terminating");
  // Still held by the finalizer of "held": the namespace is terminating, creates are refused.
  Resp g = Do("GET", "/api/v1/namespaces/gone");
  ASSERT_EQ(g.code, 200);
  EXPECT_EQ(g.body["status"]["phase"], "Terminating");
  Resp refused = Do("POST", "/api/v1/namespaces/gone/configmaps", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"new"}})");
  EXPECT_EQ(refused.code, 403);
  EXPECT_EQ(refused.body["message"],
            "configmaps \"new\" is forbidden: unable to create new content in namespace gone because it is being terminated");
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/gone/configmaps/a").code, 404);
  Do("PATCH", "/api/v1/namespaces/gone/configmaps/held", R"({"metadata":{"finalizers":null}})",
     {{"Content-Type", "application/merge-patch+json"}});
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/gone").code, 404);
  Resp protected_ns = Do("DELETE", "/api/v1/namespaces/default");
  EXPECT_EQ(protected_ns.code, 403);
}

TEST_F(RestTest, ServiceClusterIPAndNodePortAllocation) {
  auto mk = [&](const std::string& name, const std::string& spec) {
    return Do("POST", "/api/v1/namespaces/default/services",
              R"({"apiVersion":"v1","kind":"Service","metadata":{"name":")" + name + R"("},"spec":)" + spec + "}");
  };
  Resp a = mk("a", R"({"ports":[{"port":80}]})");
  ASSERT_EQ(a.code, 201) << a.raw;
  Resp b = mk("b", R"({"type":"NodePort","ports":[{"port":80}]})");
  ASSERT_EQ(b.code, 201) << b.raw;
  std::string ipa = a.body["spec"]["clusterIP"], ipb = b.body["spec"]["clusterIP"];
  EXPECT_EQ(ipa.rfind("10.43.", 0), 0u);
  EXPECT_NE(ipa, "10.43.0.1");
  EXPECT_NE(ipa, ipb);
  EXPECT_EQ(a.body["spec"]["clusterIPs"], Json::array({ipa}));
  EXPECT_EQ(a.body["spec"]["ipFamilies"], Json::array({"IPv4"}));
  EXPECT_EQ(a.body["spec"]["ipFamilyPolicy"], "SingleStack");
  int np = b.body["spec"]["ports"][0]["nodePort"];
  EXPECT_GE(np, 30000);
  EXPECT_LE(np, 32767);
  Resp taken = mk("c", R"({"clusterIP":")" + ipa + R"(","ports":[{"port":80}]})");
  EXPECT_EQ(taken.code, 422) << taken.raw;
  EXPECT_THAT(taken.body["message"].get<std::string>(), HasSubstr("provided IP is already allocated"));
  Resp out = mk("c", R"({"clusterIP":"10.99.0.5","ports":[{"port":80}]})");
  EXPECT_EQ(out.code, 422);
  Resp headless = mk("h", R"({"clusterIP":"None","ports":[{"port":80}]})");
  ASSERT_EQ(headless.code, 201) << headless.raw;
  EXPECT_EQ(headless.body["spec"]["clusterIP"], "None");
  // Deleting releases the IP; an update keeps it.
  Json upd = a.body;
  upd["metadata"].erase("resourceVersion");
  upd["spec"].erase("clusterIP");
  upd["spec"].erase("clusterIPs");
  Resp u = Do("PUT", "/api/v1/namespaces/default/services/a", upd.dump());
  ASSERT_EQ(u.code, 200) << u.raw;
  EXPECT_EQ(u.body["spec"]["clusterIP"], ipa);
  ASSERT_EQ(Do("DELETE", "/api/v1/namespaces/default/services/a").code, 200);
  Resp again = mk("c", R"({"clusterIP":")" + ipa + R"(","ports":[{"port":80}]})");
  EXPECT_EQ(again.code, 201) << again.raw;
  // A new handler derives allocations from the store.
  h_->Stop();
  Options o;
  o.clock = &clock_;
  o.start_timer_thread = false;
  h_ = std::move(NewRestHandler(*store_, registry_, o)).value();
  Resp dup = mk("d", R"({"clusterIP":")" + ipb + R"(","ports":[{"port":80}]})");
  EXPECT_EQ(dup.code, 422);
}

const char kDeployment[] = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
  "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
  "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}})";

TEST_F(RestTest, GenerationScaleAndStatus) {
  Resp c = Do("POST", "/apis/apps/v1/namespaces/default/deployments", kDeployment);
  ASSERT_EQ(c.code, 201) << c.raw;
  EXPECT_EQ(c.body["metadata"]["generation"], 1);
  Resp l = Do("PATCH", "/apis/apps/v1/namespaces/default/deployments/web", R"({"metadata":{"labels":{"x":"y"}}})",
              {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(l.code, 200) << l.raw;
  EXPECT_EQ(l.body["metadata"]["generation"], 1);
  Resp s = Do("GET", "/apis/apps/v1/namespaces/default/deployments/web/scale");
  ASSERT_EQ(s.code, 200) << s.raw;
  EXPECT_EQ(s.body["kind"], "Scale");
  EXPECT_EQ(s.body["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(s.body["spec"]["replicas"], 2);
  EXPECT_EQ(s.body["status"]["selector"], "app=web");
  Resp ps = Do("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", R"({"spec":{"replicas":5}})",
               {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(ps.code, 200) << ps.raw;
  EXPECT_EQ(ps.body["spec"]["replicas"], 5);
  Resp g = Do("GET", "/apis/apps/v1/namespaces/default/deployments/web");
  EXPECT_EQ(g.body["spec"]["replicas"], 5);
  EXPECT_EQ(g.body["metadata"]["generation"], 2);
  // PUT scale with a stale resourceVersion and no Content-Type.
  Json stale = s.body;
  stale["spec"]["replicas"] = 6;
  auto w = std::make_shared<FakeWriter>();
  Request req = MakeRequest("PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale", "", {});
  req.body = stale.dump();
  h_->Handle(req, w);
  EXPECT_EQ(w->code_, 409) << w->body_;
  // Status subresource: only status changes.
  Json st = g.body;
  st["status"] = {{"replicas", 5}, {"observedGeneration", 2}};
  st["spec"]["replicas"] = 1;
  Resp su = Do("PUT", "/apis/apps/v1/namespaces/default/deployments/web/status", st.dump());
  ASSERT_EQ(su.code, 200) << su.raw;
  EXPECT_EQ(su.body["status"]["replicas"], 5);
  EXPECT_EQ(su.body["spec"]["replicas"], 5);
  EXPECT_EQ(su.body["metadata"]["generation"], 2);
}

TEST_F(RestTest, PodBindingAndEviction) {
  Resp c = Do("POST", "/api/v1/namespaces/default/pods",
              R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"}]}})");
  ASSERT_EQ(c.code, 201) << c.raw;
  Resp b = Do("POST", "/api/v1/namespaces/default/pods/p/binding",
              R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"n1"}})");
  ASSERT_EQ(b.code, 201) << b.raw;
  Resp g = Do("GET", "/api/v1/namespaces/default/pods/p");
  EXPECT_EQ(g.body["spec"]["nodeName"], "n1");
  Resp again = Do("POST", "/api/v1/namespaces/default/pods/p/binding",
                  R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"n2"}})");
  EXPECT_EQ(again.code, 409);
  // A scheduled pod is deleted gracefully: deletionTimestamp first, gone after grace 0.
  Resp d = Do("DELETE", "/api/v1/namespaces/default/pods/p");
  ASSERT_EQ(d.code, 200);
  EXPECT_EQ(d.body["metadata"]["deletionGracePeriodSeconds"], 30);
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/pods/p").code, 200);
  // A second delete with a shorter grace period moves the deletion closer; a longer one does not.
  Resp shorter = Do("DELETE", "/api/v1/namespaces/default/pods/p?gracePeriodSeconds=5");
  ASSERT_EQ(shorter.code, 200) << shorter.raw;
  EXPECT_EQ(shorter.body["metadata"]["deletionGracePeriodSeconds"], 5);
  EXPECT_LT(shorter.body["metadata"].value("deletionTimestamp", ""), d.body["metadata"].value("deletionTimestamp", ""));
  Resp longer = Do("DELETE", "/api/v1/namespaces/default/pods/p?gracePeriodSeconds=20");
  EXPECT_EQ(longer.body["metadata"]["deletionGracePeriodSeconds"], 5);
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/pods/p").body["metadata"]["deletionGracePeriodSeconds"], 5);
  EXPECT_EQ(Do("DELETE", "/api/v1/namespaces/default/pods/p?gracePeriodSeconds=0").code, 200);
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/pods/p").code, 404);
  Do("POST", "/api/v1/namespaces/default/pods",
     R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"q"},"spec":{"containers":[{"name":"c","image":"busybox"}]}})");
  Resp e = Do("POST", "/api/v1/namespaces/default/pods/q/eviction",
              R"({"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"q","namespace":"default"}})");
  EXPECT_EQ(e.code, 201) << e.raw;
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/pods/q").code, 404);
}

// Both binding paths: a pending pod (bytes edited in place) and a pod whose status already has
// conditions (parsed), plus dry run and the "being deleted" conflict.
TEST_F(RestTest, PodBindingConditionsAndDryRun) {
  const std::string pod = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"NAME"},"spec":{"containers":[{"name":"c","image":"busybox"}]}})";
  auto create = [&](const std::string& name) {
    std::string body = pod;
    body.replace(body.find("NAME"), 4, name);
    ASSERT_EQ(Do("POST", "/api/v1/namespaces/default/pods", body).code, 201);
  };
  auto bind = [&](const std::string& name, const std::string& query = "") {
    return Do("POST", "/api/v1/namespaces/default/pods/" + name + "/binding" + query,
              R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":")" + name +
                  R"("},"target":{"kind":"Node","name":"n1"}})");
  };
  create("fresh");
  Resp before = Do("GET", "/api/v1/namespaces/default/pods/fresh");
  EXPECT_EQ(bind("fresh", "?dryRun=All").code, 201);
  Resp dry = Do("GET", "/api/v1/namespaces/default/pods/fresh");
  EXPECT_EQ(dry.body["metadata"]["resourceVersion"], before.body["metadata"]["resourceVersion"]);
  EXPECT_FALSE(dry.body["spec"].contains("nodeName"));
  Resp b = bind("fresh");
  ASSERT_EQ(b.code, 201) << b.raw;
  EXPECT_EQ(b.body["status"], "Success");
  Resp g = Do("GET", "/api/v1/namespaces/default/pods/fresh");
  EXPECT_EQ(g.body["spec"]["nodeName"], "n1");
  EXPECT_NE(g.body["metadata"]["resourceVersion"], before.body["metadata"]["resourceVersion"]);
  ASSERT_EQ(g.body["status"]["conditions"].size(), 1u) << g.raw;
  EXPECT_EQ(g.body["status"]["conditions"][0]["type"], "PodScheduled");
  EXPECT_EQ(g.body["status"]["conditions"][0]["status"], "True");
  EXPECT_EQ(g.body["metadata"]["managedFields"], before.body["metadata"]["managedFields"]);

  create("retried");
  Resp p = Do("PATCH", "/api/v1/namespaces/default/pods/retried/status",
              R"({"status":{"conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable"}]}})",
              {{"Content-Type", "application/strategic-merge-patch+json"}});
  ASSERT_EQ(p.code, 200) << p.raw;
  ASSERT_EQ(bind("retried").code, 201);
  Resp r = Do("GET", "/api/v1/namespaces/default/pods/retried");
  EXPECT_EQ(r.body["spec"]["nodeName"], "n1");
  ASSERT_EQ(r.body["status"]["conditions"].size(), 1u) << r.raw;
  EXPECT_EQ(r.body["status"]["conditions"][0]["status"], "True");

  create("going");
  Do("PUT", "/api/v1/namespaces/default/pods/going", [&] {
    Json j = Do("GET", "/api/v1/namespaces/default/pods/going").body;
    j["metadata"]["finalizers"] = {"example.com/hold"};
    return j.dump();
  }());
  ASSERT_EQ(Do("DELETE", "/api/v1/namespaces/default/pods/going").code, 200);
  Resp gone = bind("going");
  EXPECT_EQ(gone.code, 409) << gone.raw;
  EXPECT_NE(gone.raw.find("is being deleted"), std::string::npos) << gone.raw;

  // As upstream's assignPod: uid and resourceVersion preconditions, annotations onto the pod,
  // no binding of a pod with scheduling gates.
  create("pre");
  Resp pre = Do("GET", "/api/v1/namespaces/default/pods/pre");
  auto bind_with = [&](const std::string& name, const Json& meta) {
    Json b = {{"apiVersion", "v1"}, {"kind", "Binding"}, {"metadata", meta}, {"target", {{"kind", "Node"}, {"name", "n1"}}}};
    b["metadata"]["name"] = name;
    return Do("POST", "/api/v1/namespaces/default/pods/" + name + "/binding", b.dump());
  };
  Resp wrong_uid = bind_with("pre", {{"uid", "not-the-uid"}});
  EXPECT_EQ(wrong_uid.code, 409) << wrong_uid.raw;
  EXPECT_NE(wrong_uid.raw.find("expected pod UID not-the-uid but got " + pre.body["metadata"].value("uid", "")),
            std::string::npos) << wrong_uid.raw;
  Resp wrong_rv = bind_with("pre", {{"resourceVersion", "1"}});
  EXPECT_EQ(wrong_rv.code, 409) << wrong_rv.raw;
  Resp ok = bind_with("pre", {{"uid", pre.body["metadata"]["uid"]},
                              {"resourceVersion", pre.body["metadata"]["resourceVersion"]},
                              {"annotations", {{"example.com/placed-by", "test"}}}});
  EXPECT_EQ(ok.code, 201) << ok.raw;
  // Matching preconditions without annotations (what the scheduler sends): the in-place edit.
  create("pre-plain");
  Resp pp = Do("GET", "/api/v1/namespaces/default/pods/pre-plain");
  Resp wrong_plain = bind_with("pre-plain", {{"uid", "not-the-uid"}, {"resourceVersion", pp.body["metadata"]["resourceVersion"]}});
  EXPECT_EQ(wrong_plain.code, 409) << wrong_plain.raw;
  EXPECT_NE(wrong_plain.raw.find("expected pod UID not-the-uid"), std::string::npos) << wrong_plain.raw;
  Resp stale_plain = bind_with("pre-plain", {{"uid", pp.body["metadata"]["uid"]}, {"resourceVersion", "1"}});
  EXPECT_EQ(stale_plain.code, 409) << stale_plain.raw;
  EXPECT_NE(stale_plain.raw.find("expected pod resourceVersion 1"), std::string::npos) << stale_plain.raw;
  Resp ok_plain = bind_with("pre-plain", {{"uid", pp.body["metadata"]["uid"]}, {"resourceVersion", pp.body["metadata"]["resourceVersion"]}});
  EXPECT_EQ(ok_plain.code, 201) << ok_plain.raw;
  Resp bound_plain = Do("GET", "/api/v1/namespaces/default/pods/pre-plain");
  EXPECT_EQ(bound_plain.body["spec"]["nodeName"], "n1");
  ASSERT_EQ(bound_plain.body["status"]["conditions"].size(), 1u) << bound_plain.raw;
  EXPECT_EQ(bound_plain.body["status"]["conditions"][0]["type"], "PodScheduled");
  EXPECT_EQ(bind_with("pre-plain", {{"uid", pp.body["metadata"]["uid"]}}).code, 409);  // already assigned

  Resp bound = Do("GET", "/api/v1/namespaces/default/pods/pre");
  EXPECT_EQ(bound.body["spec"]["nodeName"], "n1");
  EXPECT_EQ(bound.body["metadata"]["annotations"]["example.com/placed-by"], "test") << bound.raw;
  ASSERT_EQ(Do("POST", "/api/v1/namespaces/default/pods",
               R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"gated"},"spec":{"schedulingGates":[{"name":"example.com/wait"}],"containers":[{"name":"c","image":"busybox"}]}})")
                .code,
            201);
  Resp gated = bind("gated");
  EXPECT_EQ(gated.code, 500) << gated.raw;
  EXPECT_NE(gated.raw.find("has non-empty .spec.schedulingGates"), std::string::npos) << gated.raw;
  EXPECT_EQ(Do("GET", "/api/v1/namespaces/default/pods/gated").body["spec"].value("nodeName", ""), "");
}

TEST_F(RestTest, AccessReviewWithoutAuthorizer) {
  Resp r = Do("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
              R"({"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","spec":{"resourceAttributes":{"namespace":"default","verb":"create","resource":"pods"}}})");
  ASSERT_EQ(r.code, 201) << r.raw;
  EXPECT_EQ(r.body["status"]["allowed"], true);
  EXPECT_EQ(r.body["spec"]["resourceAttributes"]["verb"], "create");
  EXPECT_EQ(Do("GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews").code, 405);
}

TEST_F(RestTest, DiscoveryAndOpenApi) {
  Resp legacy = Do("GET", "/api", "", {{"Accept", "application/json, */*"}});
  ASSERT_EQ(legacy.code, 200);
  EXPECT_EQ(legacy.body["kind"], "APIVersions");
  auto w = std::make_shared<FakeWriter>();
  h_->Handle(MakeRequest("GET", "/apis", "",
                         {{"Accept", "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"}}),
             w);
  EXPECT_EQ(w->code_, 200);
  EXPECT_EQ(w->content_type_, "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
  EXPECT_EQ(Json::parse(w->body_)["apiVersion"], "apidiscovery.k8s.io/v2beta1");
  Resp rl = Do("GET", "/apis/apps/v1");
  ASSERT_EQ(rl.code, 200);
  EXPECT_EQ(rl.body["kind"], "APIResourceList");
  EXPECT_EQ(Do("GET", "/apis/apps").body["kind"], "APIGroup");
  EXPECT_EQ(Do("GET", "/apis/nope/v1").code, 404);
  Resp idx = Do("GET", "/openapi/v3");
  ASSERT_EQ(idx.code, 200);
  ASSERT_TRUE(idx.body["paths"].contains("apis/apps/v1")) << idx.raw.substr(0, 300);
  std::string url = idx.body["paths"]["apis/apps/v1"]["serverRelativeURL"];
  Resp doc = Do("GET", url.substr(0, url.find('?')));
  ASSERT_EQ(doc.code, 200);
  EXPECT_TRUE(doc.body["components"]["schemas"].contains("io.k8s.api.apps.v1.Deployment"));
  EXPECT_EQ(Do("GET", "/openapi/v3/apis/nope/v1").code, 404);
  Resp v2 = Do("GET", "/openapi/v2");
  EXPECT_EQ(v2.code, 200);
  EXPECT_EQ(v2.body["swagger"], "2.0");
}

}  // namespace
}  // namespace tug::apiserver::rest

namespace tug::apiserver::rest {
namespace {

// LIST of 10,000 pods is a concatenation of cached bytes. The time is recorded as a test
// property (no timed assertion; bench/ has the figure).
TEST_F(RestTest, ListTenThousandPods) {
  const std::string pod =
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"NAME","namespace":"default","labels":{"app":"x"},"uid":"u"},)"
      R"("spec":{"containers":[{"name":"c","image":"busybox","command":["sleep","3600"],"resources":{}}],"nodeName":"n1"},)"
      R"("status":{"phase":"Running","podIP":"10.42.0.5"}})";
  int64_t last = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string name = "p" + std::to_string(100000 + i);
    std::string body = pod;
    body.replace(body.find("NAME"), 4, name);
    auto rev = store_->Create("/registry/core/pods/default/" + name, std::make_shared<const std::string>(body));
    ASSERT_TRUE(rev.ok());
    last = *rev;
  }
  // Reads wait for the cache to have seen this handler's own writes only; these went to the
  // store directly, so wait until every watch cache has caught up with the store.
  (void)last;
  h_->SyncForTest();
  auto start = std::chrono::steady_clock::now();
  auto w = std::make_shared<FakeWriter>();
  h_->Handle(MakeRequest("GET", "/api/v1/pods", "", {{"Accept", "application/json"}}), w);
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  RecordProperty("list_10k_pods_micros", std::to_string(took.count()));
  std::cout << "LIST 10k pods: " << took.count() << " us, " << w->body_.size() << " bytes\n";
  ASSERT_EQ(w->code_, 200);
  Json list = Json::parse(w->body_);
  EXPECT_EQ(list["items"].size(), 10000u);
  EXPECT_EQ(list["items"][0]["metadata"]["resourceVersion"], list["items"][0]["metadata"]["resourceVersion"]);
  EXPECT_EQ(list["items"][9999]["metadata"]["name"], "p109999");
}

// ---------------------------------------------------------------------------------------------
// Creates answered by the store's callback (Store::CreateAsync), as with the SQLite store: the
// request returns first, the response follows the commit.

// A memory store whose asynchronous creates wait until the test runs them; `refuse` answers
// the next one AlreadyExists without writing.
class DeferringStore final : public store::Store {
 public:
  Result<store::KeyValue> Get(std::string_view k) override { return s_->Get(k); }
  Result<store::ListResult> List(std::string_view p, const store::ListOptions& o) override { return s_->List(p, o); }
  Result<int64_t> Count(std::string_view p) override { return s_->Count(p); }
  Result<int64_t> Create(std::string_view k, store::Value v) override { return s_->Create(k, std::move(v)); }
  Result<int64_t> Update(std::string_view k, store::Value v, int64_t e) override { return s_->Update(k, std::move(v), e); }
  Result<store::KeyValue> Delete(std::string_view k, int64_t e) override { return s_->Delete(k, e); }
  Result<store::WatchHandlePtr> Watch(std::string_view p, int64_t f, store::WatchCallback cb) override {
    return s_->Watch(p, f, std::move(cb));
  }
  Status Compact(int64_t r) override { return s_->Compact(r); }
  int64_t CurrentRevision() const override { return s_->CurrentRevision(); }
  int64_t CompactedRevision() const override { return s_->CompactedRevision(); }
  void CreateAsync(std::string_view k, store::Value v, WriteDone done) override {
    std::lock_guard<std::mutex> l(mu_);
    pending_.push_back({std::string(k), std::move(v), std::move(done)});
  }
  // Runs the queued creates (and none queued meanwhile); returns their keys.
  std::vector<std::string> RunPending() {
    std::vector<Pending> run;
    {
      std::lock_guard<std::mutex> l(mu_);
      run.swap(pending_);
    }
    std::vector<std::string> keys;
    for (auto& p : run) {
      keys.push_back(p.key);
      if (refuse.exchange(false)) {
        p.done(AlreadyExistsError("exists"));
      } else {
        p.done(s_->Create(p.key, std::move(p.value)));
      }
    }
    return keys;
  }
  std::atomic<bool> refuse{false};

 private:
  struct Pending {
    std::string key;
    store::Value value;
    WriteDone done;
  };
  store::StorePtr s_ = store::NewMemoryStore();
  std::mutex mu_;
  std::vector<Pending> pending_;
};

class AsyncCreateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto reg = api::Registry::Builtin();
    ASSERT_TRUE(reg.ok());
    Options o;
    o.start_timer_thread = false;
    auto h = NewRestHandler(store_, *reg, o);  // bootstrap objects use the synchronous Create
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    h_ = std::move(h).value();
  }
  void TearDown() override {
    if (h_) h_->Stop();
  }
  std::shared_ptr<FakeWriter> Post(const std::string& path, const std::string& body) {
    auto w = std::make_shared<FakeWriter>();
    h_->Handle(MakeRequest("POST", path, body, {}), w);
    return w;
  }
  DeferringStore store_;
  std::unique_ptr<RestHandler> h_;
};

TEST_F(AsyncCreateTest, ResponseFollowsTheStoreCallback) {
  const std::string path = "/api/v1/namespaces/default/configmaps";
  Request probe = MakeRequest("POST", path, "{}", {});
  EXPECT_TRUE(h_->HandlesInline(probe));
  probe.path = "/api/v1/namespaces/default/configmaps/c1";  // a named object: not a create
  EXPECT_FALSE(h_->HandlesInline(probe));
  probe.path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";  // virtual: not stored
  EXPECT_FALSE(h_->HandlesInline(probe));

  auto w = Post(path, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1"},"data":{"k":"v"}})");
  EXPECT_FALSE(w->done());  // nothing answered before the store did
  EXPECT_EQ(store_.Get("/registry/core/configmaps/default/c1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_.RunPending(), std::vector<std::string>{"/registry/core/configmaps/default/c1"});
  ASSERT_TRUE(w->done());
  EXPECT_EQ(w->code_, 201) << w->body_;
  Json body = Json::parse(w->body_);
  auto kv = store_.Get("/registry/core/configmaps/default/c1");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(body["metadata"]["resourceVersion"], std::to_string(kv->mod_revision));
  EXPECT_EQ(body["data"]["k"], "v");
}

TEST_F(AsyncCreateTest, RefusedWritesRetryGeneratedNamesAndReportNamedConflicts) {
  const std::string path = "/api/v1/namespaces/default/configmaps";
  store_.refuse = true;
  auto gen = Post(path, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"gen-"}})");
  auto first = store_.RunPending();  // refused: the handler queues the create under a new name
  ASSERT_EQ(first.size(), 1u);
  EXPECT_FALSE(gen->done());
  auto second = store_.RunPending();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0], first[0]);
  ASSERT_TRUE(gen->done());
  EXPECT_EQ(gen->code_, 201) << gen->body_;
  EXPECT_EQ("/registry/core/configmaps/default/" + Json::parse(gen->body_)["metadata"]["name"].get<std::string>(),
            second[0]);

  store_.refuse = true;
  auto named = Post(path, R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"taken"}})");
  store_.RunPending();
  ASSERT_TRUE(named->done());
  EXPECT_EQ(named->code_, 409);
  EXPECT_THAT(named->body_, HasSubstr("configmaps \\\"taken\\\" already exists"));
  EXPECT_THAT(named->body_, HasSubstr("AlreadyExists"));
}

}  // namespace
}  // namespace tug::apiserver::rest
