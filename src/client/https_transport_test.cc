// The HTTPS transport and LoadKubeconfig against the real apiserver transport (TLS with client
// certificates and bearer tokens) in front of the real REST handler.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "apiserver/authn/authn.h"
#include "apiserver/pki/pki.h"
#include "apiserver/server/server.h"
#include "client/client.h"
#include "client/informer.h"
#include "client/testing/test_api_server.h"

namespace tug::client {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

template <typename F>
bool Eventually(F pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

std::string ReadFile(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& s) {
  std::ofstream f(p);
  f << s;
}

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("tug-client-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Json ConfigMap(const std::string& name) {
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}, {"data", {{"k", "v"}}}};
}

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.ok());
    apiserver::pki::PkiOptions po;
    po.data_dir = dir_.path().string();
    po.bind_address = "127.0.0.1";
    po.port = 6443;
    auto files = apiserver::pki::EnsurePki(po);
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    files_ = *files;
    auto tokens = apiserver::authn::ParseTokenCsv("secret-token,robot,uid-1,\"team-a\"\n", "tokens.csv");
    ASSERT_TRUE(tokens.ok());
    authn_ = std::make_unique<apiserver::authn::Authenticator>(std::move(tokens).value());
    apiserver::server::ServerOptions so;
    so.bind_address = "127.0.0.1";
    so.port = 0;
    so.tls = true;
    so.tls_files = {files_.serving_cert, files_.serving_key, files_.ca_cert};
    so.authenticator = authn_.get();
    so.io_threads = 1;
    auto srv = apiserver::server::StartServer(so, api_.handler());
    ASSERT_TRUE(srv.ok()) << srv.status().ToString();
    server_ = std::move(srv).value();
    url_ = "https://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  Config AdminConfig() {
    Config c;
    c.server = url_;
    c.ca_pem = ReadFile(files_.ca_cert);
    c.cert_pem = ReadFile(files_.admin_cert);
    c.key_pem = ReadFile(files_.admin_key);
    c.timeout = 10s;
    return c;
  }

  testing::TestApiServer api_;
  TempDir dir_;
  apiserver::pki::PkiFiles files_;
  std::unique_ptr<apiserver::authn::Authenticator> authn_;
  apiserver::server::ServerPtr server_;
  std::string url_;
};

TEST_F(HttpsTest, ClientCertificateCrudAndErrors) {
  Client c(NewHttpsTransport(AdminConfig()));
  auto created = c.Create(kConfigMaps, "default", ConfigMap("a"));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto got = c.Get(kConfigMaps, "default", "a");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)["data"]["k"], "v");
  auto patched = c.Patch(kConfigMaps, "default", "a", PatchType::kMerge, R"({"data":{"k":"w"}})");
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_EQ((*patched)["data"]["k"], "w");
  auto missing = c.Get(kConfigMaps, "default", "nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "configmaps \"nope\" not found");
  ListOptions sel;
  sel.label_selector = "a in (b,c)";  // needs query escaping
  EXPECT_TRUE(c.List(kConfigMaps, "default", sel).ok());
  EXPECT_TRUE(c.Delete(kConfigMaps, "default", "a").ok());
  EXPECT_EQ(c.Get(kConfigMaps, "default", "a").status().code(), StatusCode::kNotFound);
}

TEST_F(HttpsTest, ReusesConnections) {
  Client c(NewHttpsTransport(AdminConfig()));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.List(kNamespaces, "").ok());
  // One kept-alive connection served all of them.
  EXPECT_EQ(server_->open_connections(), 1u);
}

TEST_F(HttpsTest, ConcurrentRequests) {
  Client c(NewHttpsTransport(AdminConfig()));
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i)
        if (c.Create(kConfigMaps, "default", ConfigMap("c" + std::to_string(t) + "-" + std::to_string(i))).ok()) ++ok;
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(ok.load(), 40);
  auto list = c.List(kConfigMaps, "default", {.label_selector = ""});
  ASSERT_TRUE(list.ok());
  EXPECT_GE((*list)["items"].size(), 40u);
}

TEST_F(HttpsTest, BearerTokens) {
  Config cfg;
  cfg.server = url_;
  cfg.ca_pem = ReadFile(files_.ca_cert);
  cfg.token = "secret-token";
  Client c(NewHttpsTransport(cfg));
  EXPECT_TRUE(c.List(kNamespaces, "").ok());
  cfg.token = "wrong";
  Client bad(NewHttpsTransport(cfg));
  EXPECT_EQ(bad.List(kNamespaces, "").status().code(), StatusCode::kUnauthorized);
  cfg.token = "";
  Client none(NewHttpsTransport(cfg));
  EXPECT_EQ(none.List(kNamespaces, "").status().code(), StatusCode::kUnauthorized);
}

TEST_F(HttpsTest, TlsFailuresAreUnavailable) {
  Config cfg = AdminConfig();
  TempDir other;
  apiserver::pki::PkiOptions po;
  po.data_dir = other.path().string();
  auto files = apiserver::pki::EnsurePki(po);
  ASSERT_TRUE(files.ok());
  cfg.ca_pem = ReadFile(files->ca_cert);  // a CA that did not sign the server
  Client c(NewHttpsTransport(cfg));
  EXPECT_EQ(c.List(kNamespaces, "").status().code(), StatusCode::kUnavailable);
  cfg.insecure_skip_verify = true;
  Client skip(NewHttpsTransport(cfg));
  EXPECT_TRUE(skip.List(kNamespaces, "").ok());
  // Nothing listening.
  Config closed = AdminConfig();
  closed.server = "https://127.0.0.1:1";
  EXPECT_EQ(Client(NewHttpsTransport(closed)).List(kNamespaces, "").status().code(), StatusCode::kUnavailable);
}

TEST_F(HttpsTest, WatchStreamsAndStopsPromptly) {
  Client c(NewHttpsTransport(AdminConfig()));
  std::mutex mu;
  std::vector<WatchEvent> events;
  std::optional<Status> ended;
  auto w = c.StartWatch(
      kConfigMaps, "default", ListOptions{},
      [&](WatchEvent ev) {
        std::lock_guard<std::mutex> l(mu);
        events.push_back(std::move(ev));
      },
      [&](Status st) {
        std::lock_guard<std::mutex> l(mu);
        ended = st;
      });
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  // The watch is registered once the server answered its head; create until an event arrives.
  ASSERT_TRUE(Eventually([&] {
    (void)c.Create(kConfigMaps, "default", ConfigMap("w" + std::to_string(std::rand())));
    std::lock_guard<std::mutex> l(mu);
    return !events.empty();
  }));
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(events[0].type, WatchEvent::kAdded);
    EXPECT_EQ(events[0].object["kind"], "ConfigMap");
  }
  auto t0 = std::chrono::steady_clock::now();
  (*w)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  std::lock_guard<std::mutex> l(mu);
  EXPECT_FALSE(ended.has_value());
}

TEST_F(HttpsTest, StreamHeadArrivesBeforeAnyBody) {
  auto t = NewHttpsTransport(AdminConfig());
  HttpRequest req;
  req.path = kConfigMaps.Path("default");
  req.query = "watch=true&resourceVersion=0";
  std::mutex mu;
  int code = 0;
  std::string ct;
  size_t bytes = 0;
  auto s = t->Open(
      req,
      [&](int c, std::string_view type) {
        std::lock_guard<std::mutex> l(mu);
        EXPECT_EQ(code, 0) << "head twice";
        code = c;
        ct = type;
      },
      [&](std::string_view d) {
        std::lock_guard<std::mutex> l(mu);
        bytes += d.size();
      },
      [](Status) {});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  // An idle watch: no events, yet the head is reported.
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(mu);
    return code != 0;
  }));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(code, 200);
  EXPECT_EQ(ct.rfind("application/json", 0), 0u) << ct;
  EXPECT_EQ(bytes, 0u);
}

TEST_F(HttpsTest, WatchErrorAnswerAndConnectionLoss) {
  Client c(NewHttpsTransport(AdminConfig()));
  std::mutex mu;
  std::optional<Status> ended;
  ListOptions bad;
  bad.field_selector = "spec.bogus=1";
  auto w = c.StartWatch(kConfigMaps, "default", bad, [](WatchEvent) {}, [&](Status st) {
    std::lock_guard<std::mutex> l(mu);
    ended = st;
  });
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(mu);
    return ended.has_value();
  }));
  EXPECT_EQ(ended->code(), StatusCode::kBadRequest) << ended->ToString();

  std::optional<Status> ended2;
  auto w2 = c.StartWatch(kConfigMaps, "default", ListOptions{}, [](WatchEvent) {}, [&](Status st) {
    std::lock_guard<std::mutex> l(mu);
    ended2 = st;
  });
  ASSERT_TRUE(w2.ok());
  std::this_thread::sleep_for(50ms);  // let the stream start (either way it must end)
  server_->Stop();
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(mu);
    return ended2.has_value();
  }));
}

TEST_F(HttpsTest, InformerOverHttps) {
  Client c(NewHttpsTransport(AdminConfig()));
  ASSERT_TRUE(c.Create(kConfigMaps, "default", ConfigMap("pre")).ok());
  InformerFactory f(c);
  Informer& inf = f.For(kConfigMaps, {.ns = "default"});
  f.Start();
  ASSERT_TRUE(f.WaitForSync(10s));
  EXPECT_NE(inf.Get("default/pre"), nullptr);
  ASSERT_TRUE(c.Create(kConfigMaps, "default", ConfigMap("post")).ok());
  ASSERT_TRUE(Eventually([&] { return inf.Get("default/post") != nullptr; }));
  f.Stop();
}

TEST_F(HttpsTest, AdminKubeconfig) {
  auto cfg = LoadKubeconfig(files_.kubeconfig);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, ReadFile(files_.ca_cert));
  EXPECT_EQ(cfg->cert_pem, ReadFile(files_.admin_cert));
  EXPECT_EQ(cfg->key_pem, ReadFile(files_.admin_key));
  cfg->server = url_;
  Client c(NewHttpsTransport(*cfg));
  EXPECT_TRUE(c.List(kNamespaces, "").ok());
}

TEST(PlainHttpTest, WorksWithoutTls) {
  testing::TestApiServer api;
  ASSERT_TRUE(api.ok());
  apiserver::server::ServerOptions so;
  so.bind_address = "127.0.0.1";
  so.port = 0;
  so.tls = false;
  so.io_threads = 1;
  auto srv = apiserver::server::StartServer(so, api.handler());
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  Config cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string((*srv)->port()) + "/";  // trailing slash is fine
  Client c(NewHttpsTransport(cfg));
  ASSERT_TRUE(c.Create(kConfigMaps, "default", ConfigMap("plain")).ok());
  auto got = c.Get(kConfigMaps, "default", "plain");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)["data"]["k"], "v");
  (*srv)->Stop();
}

TEST(KubeconfigTest, FilesTokensAndErrors) {
  TempDir d;
  WriteFile(d.path() / "ca.crt", "CA PEM");
  WriteFile(d.path() / "token", "tok-123\n");
  WriteFile(d.path() / "config", R"(apiVersion: v1
kind: Config
current-context: second
clusters:
- name: one
  cluster: {server: "https://one:6443"}
- name: two
  cluster:
    server: https://two:6443
    certificate-authority: ca.crt
contexts:
- name: first
  context: {cluster: one, user: u1}
- name: second
  context: {cluster: two, user: u2}
users:
- name: u1
  user: {token: abc}
- name: u2
  user: {tokenFile: token}
)");
  auto c = LoadKubeconfig((d.path() / "config").string());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server, "https://two:6443");
  EXPECT_EQ(c->ca_pem, "CA PEM");
  EXPECT_EQ(c->token, "tok-123");

  WriteFile(d.path() / "json", R"({"current-context":"x","contexts":[{"name":"x","context":{"cluster":"c"}}],
    "clusters":[{"name":"c","cluster":{"server":"http://h:80","insecure-skip-tls-verify":true,
    "certificate-authority-data":"aGVsbG8="}}]})");
  auto j = LoadKubeconfig((d.path() / "json").string());
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_TRUE(j->insecure_skip_verify);
  EXPECT_EQ(j->ca_pem, "hello");

  EXPECT_EQ(LoadKubeconfig((d.path() / "missing").string()).status().code(), StatusCode::kNotFound);
  WriteFile(d.path() / "noctx", "apiVersion: v1\nclusters: []\n");
  EXPECT_EQ(LoadKubeconfig((d.path() / "noctx").string()).status().code(), StatusCode::kBadRequest);
  WriteFile(d.path() / "garbage", "{[: nope");
  EXPECT_EQ(LoadKubeconfig((d.path() / "garbage").string()).status().code(), StatusCode::kBadRequest);
  WriteFile(d.path() / "badctx", "current-context: zz\ncontexts: []\n");
  EXPECT_EQ(LoadKubeconfig((d.path() / "badctx").string()).status().code(), StatusCode::kBadRequest);
}

}  // namespace
}  // namespace tug::client
