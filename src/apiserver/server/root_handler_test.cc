#include "apiserver/server/root_handler.h"

#include <gtest/gtest.h>

#include "base/json.h"

namespace tug::apiserver::server {
namespace {

// Records what a handler sent.
class RecordingWriter : public ResponseWriter {
 public:
  void Send(int c, std::string ct, std::string b, std::vector<std::pair<std::string, std::string>>) override {
    code = c;
    content_type = ct;
    body = b;
  }
  void StartStream(int, std::string) override {}
  bool Write(std::string) override { return false; }
  void Finish() override {}
  void OnClose(std::function<void()> cb) override { cb(); }
  bool Closed() const override { return true; }
  int code = 0;
  std::string content_type, body;
};

class FixedHandler : public Handler {
 public:
  void Handle(Request req, ResponseWriterPtr w) override { w->Send(200, "text/plain", "api:" + req.path); }
};

std::shared_ptr<RecordingWriter> Get(RootHandler& h, const std::string& path, std::string query = "") {
  Request r;
  r.method = "GET";
  r.path = path;
  size_t pos = 0;
  while (!query.empty() && pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string kv = query.substr(pos, amp - pos);
    size_t eq = kv.find('=');
    r.query.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
    pos = amp + 1;
  }
  auto w = std::make_shared<RecordingWriter>();
  h.Handle(std::move(r), w);
  return w;
}

TEST(RootHandlerTest, ReadyzWaitsForApiHandler) {
  RootHandler root({});
  FixedHandler api;
  EXPECT_EQ(Get(root, "/livez")->body, "ok");
  EXPECT_EQ(Get(root, "/healthz")->code, 200);
  auto not_ready = Get(root, "/readyz");
  EXPECT_EQ(not_ready->code, 500);
  EXPECT_NE(not_ready->body.find("[-]api-handler failed: reason withheld"), std::string::npos);
  EXPECT_NE(not_ready->body.find("readyz check failed"), std::string::npos);
  root.SetApiHandler(&api);
  EXPECT_EQ(Get(root, "/readyz")->code, 500);  // installed but not ready yet
  root.SetReady(true);
  auto ready = Get(root, "/readyz");
  EXPECT_EQ(ready->code, 200);
  EXPECT_EQ(ready->body, "ok");
  EXPECT_EQ(ready->content_type, "text/plain; charset=utf-8");
  root.SetShuttingDown();
  EXPECT_EQ(Get(root, "/readyz")->code, 500);
  EXPECT_EQ(Get(root, "/livez")->code, 200);
}

TEST(RootHandlerTest, VerboseExcludeAndSingleChecks) {
  RootHandler root({});
  FixedHandler api;
  root.SetApiHandler(&api);
  root.SetReady(true);
  bool store_ok = true;
  root.AddHealthCheck("etcd", [&] { return store_ok ? Status::Ok() : UnavailableError("down"); });
  auto v = Get(root, "/readyz", "verbose");
  EXPECT_EQ(v->code, 200);
  EXPECT_EQ(v->body,
            "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]api-handler ok\n[+]shutdown ok\nreadyz check passed\n");
  EXPECT_EQ(Get(root, "/livez", "verbose")->body, "[+]ping ok\n[+]log ok\n[+]etcd ok\nlivez check passed\n");
  store_ok = false;
  EXPECT_EQ(Get(root, "/livez")->code, 500);
  auto ex = Get(root, "/livez", "verbose&exclude=etcd");
  EXPECT_EQ(ex->code, 200);
  EXPECT_NE(ex->body.find("[+]etcd excluded: ok"), std::string::npos);
  EXPECT_EQ(Get(root, "/readyz/ping")->body, "ok");
  EXPECT_EQ(Get(root, "/readyz/etcd")->code, 500);
  EXPECT_EQ(Get(root, "/readyz/nope")->code, 404);
}

TEST(RootHandlerTest, VersionAndRouting) {
  VersionInfo vi;
  vi.git_commit = "abc";
  RootHandler root(vi);
  auto v = Get(root, "/version");
  EXPECT_EQ(v->code, 200);
  auto j = ParseJson(v->body);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["major"], "1");
  EXPECT_EQ((*j)["minor"], "33");
  EXPECT_EQ((*j)["gitVersion"], "v1.33.0+tug");
  EXPECT_EQ((*j)["gitCommit"], "abc");
  for (const char* k : {"gitTreeState", "buildDate", "goVersion", "compiler", "platform"})
    EXPECT_TRUE((*j).contains(k)) << k;

  auto nf = Get(root, "/api/v1/pods");
  EXPECT_EQ(nf->code, 404);
  auto st = ParseJson(nf->body);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["reason"], "NotFound");
  FixedHandler api;
  root.SetApiHandler(&api);
  EXPECT_EQ(Get(root, "/api/v1/pods")->body, "api:/api/v1/pods");
  EXPECT_EQ(Get(root, "/healthzz")->body, "api:/healthzz");
}

}  // namespace
}  // namespace tug::apiserver::server
