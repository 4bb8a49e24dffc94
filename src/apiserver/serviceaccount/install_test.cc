// The token service wired into a real REST handler (memory store, loopback client): what `tug
// server` serves, without processes or TLS.
#include "apiserver/serviceaccount/install.h"

#include <gtest/gtest.h>

#include "apiserver/serviceaccount/admission.h"
#include "apiserver/serviceaccount/test_util.h"
#include "client/client.h"
#include "client/loopback.h"
#include "store/memory/memory_store.h"

namespace tug::apiserver::serviceaccount {
namespace {

const client::Resource kSelfSubjectReviews{"authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", false};
const client::Resource kTokenReviews{"authentication.k8s.io", "v1", "tokenreviews", "TokenReview", false};

class InstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemoryStore();
    auto reg = api::Registry::Builtin();
    ASSERT_TRUE(reg.ok());
    TokenOptions to;
    to.ca_pem = "CA";
    auto svc = NewTokenService(testing::NewKeyPem(), StoreGetter(*store_), to);
    ASSERT_TRUE(svc.ok());
    svc_ = std::move(*svc);
    rest::Options o;
    o.server_address = "127.0.0.1:6443";
    o.start_timer_thread = false;
    Install(*svc_, StoreGetter(*store_), o);
    auto h = rest::NewRestHandler(*store_, *reg, o);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    handler_ = std::move(*h);
    admin_ = std::make_unique<client::Client>(
        client::NewLoopbackTransport(*handler_, UserInfo{"system:admin", "", {"system:masters", "system:authenticated"}}));
    ASSERT_TRUE(admin_->Create(client::kServiceAccounts, "default",
                               Json{{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "default"}}}})
                    .ok());
  }
  void TearDown() override {
    admin_.reset();
    if (handler_) handler_->Stop();
    handler_.reset();
  }
  Json Pod(const std::string& name, Json spec = Json::object()) {
    spec["containers"] = {{{"name", "c"}, {"image", "busybox"}}};
    return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}}}, {"spec", spec}};
  }

  store::StorePtr store_;
  std::unique_ptr<TokenService> svc_;
  std::unique_ptr<rest::RestHandler> handler_;
  std::unique_ptr<client::Client> admin_;
};

TEST_F(InstallTest, PodCreateRunsAdmission) {
  auto p = admin_->Create(client::kPods, "default", Pod("web"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)["spec"]["serviceAccountName"], "default");
  EXPECT_EQ(GetString((*p)["spec"]["volumes"][0], "name").rfind("kube-api-access-", 0), 0u);
  EXPECT_EQ((*p)["spec"]["containers"][0]["volumeMounts"][0]["mountPath"], kTokenMountPath);
  auto bad = admin_->Create(client::kPods, "default", Pod("ghost", {{"serviceAccountName", "ghost"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kForbidden);
  EXPECT_EQ(bad.status().message(),
            "pods \"ghost\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found");
}

TEST_F(InstallTest, TokenRequestThroughTheApiAndAuthentication) {
  ASSERT_TRUE(admin_->Create(client::kPods, "default", Pod("web")).ok());
  auto pod = admin_->Get(client::kPods, "default", "web");
  Json req = {{"apiVersion", "authentication.k8s.io/v1"},
              {"kind", "TokenRequest"},
              {"spec", {{"boundObjectRef", {{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", "web"},
                                            {"uid", GetStringPath(*pod, {"metadata", "uid"})}}}}}};
  auto tr = admin_->CreateSubresource(client::kServiceAccounts, "default", "default", "token", req);
  ASSERT_TRUE(tr.ok()) << tr.status().ToString();
  EXPECT_EQ((*tr)["kind"], "TokenRequest");
  std::string token = GetStringPath(*tr, {"status", "token"});
  ASSERT_FALSE(token.empty());
  auto r = svc_->AuthenticateToken(token);
  ASSERT_EQ(r.outcome, authn::Outcome::kAuthenticated);
  EXPECT_EQ(r.user.name, "system:serviceaccount:default:default");
  EXPECT_EQ(r.user.extra["authentication.kubernetes.io/pod-name"], std::vector<std::string>{"web"});

  // The token's user, as `kubectl auth whoami` sees it.
  client::Client as_sa(client::NewLoopbackTransport(*handler_, r.user));
  auto who = as_sa.Create(kSelfSubjectReviews, "", Json{{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "SelfSubjectReview"}});
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ((*who)["status"]["userInfo"]["username"], "system:serviceaccount:default:default");
  EXPECT_EQ((*who)["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-uid"][0],
            GetStringPath(*pod, {"metadata", "uid"}));

  auto review = admin_->Create(kTokenReviews, "", Json{{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenReview"},
                                                       {"spec", {{"token", token}}}});
  ASSERT_TRUE(review.ok()) << review.status().ToString();
  EXPECT_EQ((*review)["status"]["authenticated"], true);

  // Deleted pod (no node: immediate) -> the token is dead.
  ASSERT_TRUE(admin_->Delete(client::kPods, "default", "web").ok());
  EXPECT_EQ(svc_->AuthenticateToken(token).outcome, authn::Outcome::kRejected);

  auto missing = admin_->CreateSubresource(client::kServiceAccounts, "default", "ghost", "token", req);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(InstallTest, DiscoveryDocuments) {
  client::HttpRequest get;
  get.path = "/.well-known/openid-configuration";
  auto d = admin_->DoJson(get);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ((*d)["issuer"], kDefaultIssuer);
  get.path = "/openid/v1/jwks";
  auto k = admin_->DoJson(get);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ((*k)["keys"][0]["kid"], svc_->Jwks()["keys"][0]["kid"]);
}

}  // namespace
}  // namespace tug::apiserver::serviceaccount
