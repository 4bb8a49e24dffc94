#include "apiserver/serviceaccount/token.h"

#include <gtest/gtest.h>

#include "apiserver/serviceaccount/test_util.h"

namespace tug::apiserver::serviceaccount {
namespace {

class TokenServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    objs_.Put("serviceaccounts", "ns1", "default", "sa-uid");
    objs_.Put("serviceaccounts", "ns1", "other", "other-uid");
    objs_.Put("pods", "ns1", "p1", "pod-uid", {{"spec", {{"serviceAccountName", "default"}, {"nodeName", "n1"}}}});
    objs_.Put("nodes", "", "n1", "node-uid");
    objs_.Put("secrets", "ns1", "s1", "secret-uid");
    TokenOptions o;
    o.clock = &clock_;
    o.ca_pem = "CA";
    auto s = NewTokenService(testing::NewKeyPem(), objs_.Getter(), o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    svc_ = std::move(*s);
  }
  Result<Json> Create(const std::string& sa, Json spec) {
    Json req = {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", spec}};
    return svc_->CreateToken("ns1", sa, req);
  }
  std::string Token(const Result<Json>& r) { return r.ok() ? GetStringPath(*r, {"status", "token"}) : ""; }

  testing::Objects objs_;
  testing::SetClock clock_;
  std::unique_ptr<TokenService> svc_;
};

TEST_F(TokenServiceTest, IssuesTokenWithUpstreamClaims) {
  auto r = Create("default", Json::object());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["spec"]["expirationSeconds"], 3600);
  EXPECT_EQ((*r)["spec"]["audiences"], Json::array({kDefaultIssuer}));
  EXPECT_EQ((*r)["status"]["expirationTimestamp"], FormatRFC3339(clock_.Now() + std::chrono::seconds(3600)));
  auto p = ParseJwt(Token(r));
  ASSERT_TRUE(p.ok());
  const Json& c = p->claims;
  EXPECT_EQ(c["iss"], kDefaultIssuer);
  EXPECT_EQ(c["sub"], "system:serviceaccount:ns1:default");
  EXPECT_EQ(c["exp"].get<int64_t>() - c["iat"].get<int64_t>(), 3600);
  EXPECT_EQ(c["nbf"], c["iat"]);
  EXPECT_EQ(c["jti"].get<std::string>().size(), 36u);
  EXPECT_EQ(c["kubernetes.io"], (Json{{"namespace", "ns1"}, {"serviceaccount", {{"name", "default"}, {"uid", "sa-uid"}}}}));

  auto u = svc_->Validate(Token(r));
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->name, "system:serviceaccount:ns1:default");
  EXPECT_EQ(u->uid, "sa-uid");
  EXPECT_EQ(u->groups, (std::vector<std::string>{"system:serviceaccounts", "system:serviceaccounts:ns1"}));
  EXPECT_EQ(u->extra["authentication.kubernetes.io/credential-id"],
            std::vector<std::string>{"JTI=" + c["jti"].get<std::string>()});
}

TEST_F(TokenServiceTest, RequestErrors) {
  struct Case {
    const char* name;
    std::string sa;
    Json spec;
    StatusCode code;
    std::string msg;
  } cases[] = {
      {"MissingServiceAccount", "nope", Json::object(), StatusCode::kNotFound, "serviceaccounts \"nope\" not found"},
      {"TooShort", "default", {{"expirationSeconds", 100}}, StatusCode::kInvalid,
       "may not specify a duration less than 10 minutes"},
      {"TooLong", "default", {{"expirationSeconds", int64_t{1} << 33}}, StatusCode::kInvalid,
       "may not specify a duration larger than 2^32 seconds"},
      {"MissingPod", "default", {{"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "gone"}}}},
       StatusCode::kNotFound, "pods \"gone\" not found"},
      {"PodOfOtherAccount", "other", {{"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "p1"}}}},
       StatusCode::kBadRequest, "cannot bind token for serviceaccount \"other\" to pod running with different serviceaccount name."},
      {"UidMismatch", "default",
       {{"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "p1"}, {"uid", "old"}}}},
       StatusCode::kConflict, "does not match the UID in record"},
      {"BadKind", "default", {{"boundObjectRef", {{"kind", "ConfigMap"}, {"apiVersion", "v1"}, {"name", "x"}}}},
       StatusCode::kBadRequest, "cannot bind token to object of type /v1, Kind=ConfigMap"},
  };
  for (const auto& c : cases) {
    auto r = Create(c.sa, c.spec);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), c.code) << c.name;
    EXPECT_NE(r.status().message().find(c.msg), std::string::npos) << c.name << ": " << r.status().message();
  }
  // A body naming another service account.
  Json req = {{"metadata", {{"name", "other"}}}, {"spec", Json::object()}};
  auto r = svc_->CreateToken("ns1", "default", req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
}

TEST_F(TokenServiceTest, ExpiredTokenIsRejected) {
  std::string t = Token(Create("default", {{"expirationSeconds", 600}}));
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(svc_->AuthenticateToken(t).outcome, authn::Outcome::kAuthenticated);
  clock_.Advance(std::chrono::seconds(599));
  EXPECT_EQ(svc_->AuthenticateToken(t).outcome, authn::Outcome::kAuthenticated);
  clock_.Advance(std::chrono::seconds(2));
  auto u = svc_->Validate(t);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().code(), StatusCode::kUnauthorized);
  EXPECT_EQ(svc_->AuthenticateToken(t).outcome, authn::Outcome::kRejected);
}

TEST_F(TokenServiceTest, PodBoundTokenDiesWithThePod) {
  auto r = Create("default", {{"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "p1"}, {"uid", "pod-uid"}}}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto p = ParseJwt(Token(r));
  EXPECT_EQ(p->claims["kubernetes.io"]["pod"], (Json{{"name", "p1"}, {"uid", "pod-uid"}}));
  EXPECT_EQ(p->claims["kubernetes.io"]["node"], (Json{{"name", "n1"}, {"uid", "node-uid"}}));
  auto u = svc_->Validate(Token(r));
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->extra["authentication.kubernetes.io/pod-name"], std::vector<std::string>{"p1"});
  EXPECT_EQ(u->extra["authentication.kubernetes.io/pod-uid"], std::vector<std::string>{"pod-uid"});
  EXPECT_EQ(u->extra["authentication.kubernetes.io/node-name"], std::vector<std::string>{"n1"});
  // Recreated with the same name: another uid, the token is dead.
  objs_.Put("pods", "ns1", "p1", "pod-uid-2", {{"spec", {{"serviceAccountName", "default"}}}});
  EXPECT_EQ(svc_->AuthenticateToken(Token(r)).outcome, authn::Outcome::kRejected);
  objs_.Erase("pods", "ns1", "p1");
  EXPECT_EQ(svc_->AuthenticateToken(Token(r)).outcome, authn::Outcome::kRejected);
}

TEST_F(TokenServiceTest, DeletingPodKeepsTokensForAGracePeriod) {
  std::string t = Token(Create("default", {{"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "p1"}}}}));
  Json pod = {{"metadata", {{"name", "p1"}, {"namespace", "ns1"}, {"uid", "pod-uid"},
                            {"deletionTimestamp", FormatRFC3339(clock_.Now())}}},
              {"spec", {{"serviceAccountName", "default"}}}};
  objs_.Set("pods", "ns1", "p1", pod);
  EXPECT_EQ(svc_->AuthenticateToken(t).outcome, authn::Outcome::kAuthenticated);
  clock_.Advance(std::chrono::seconds(61));
  EXPECT_EQ(svc_->AuthenticateToken(t).outcome, authn::Outcome::kRejected);
}

TEST_F(TokenServiceTest, SecretAndServiceAccountDeletionInvalidate) {
  std::string bound = Token(Create("default", {{"boundObjectRef", {{"kind", "Secret"}, {"apiVersion", "v1"}, {"name", "s1"}}}}));
  std::string plain = Token(Create("default", Json::object()));
  EXPECT_EQ(svc_->AuthenticateToken(bound).outcome, authn::Outcome::kAuthenticated);
  objs_.Erase("secrets", "ns1", "s1");
  EXPECT_EQ(svc_->AuthenticateToken(bound).outcome, authn::Outcome::kRejected);
  EXPECT_EQ(svc_->AuthenticateToken(plain).outcome, authn::Outcome::kAuthenticated);
  objs_.Put("serviceaccounts", "ns1", "default", "new-uid");  // recreated
  EXPECT_EQ(svc_->AuthenticateToken(plain).outcome, authn::Outcome::kRejected);
}

TEST_F(TokenServiceTest, ExtendedExpirationForProjectedVolumeTokens) {
  auto r = Create("default", {{"expirationSeconds", 3607}, {"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "p1"}}}});
  ASSERT_TRUE(r.ok());
  auto c = ParseJwt(Token(r))->claims;
  EXPECT_EQ(c["exp"].get<int64_t>() - c["iat"].get<int64_t>(), kExtendedExpirationSeconds);
  EXPECT_EQ(c["kubernetes.io"]["warnafter"].get<int64_t>() - c["iat"].get<int64_t>(), 3607);
  // The response reports what was asked for.
  EXPECT_EQ((*r)["status"]["expirationTimestamp"], FormatRFC3339(clock_.Now() + std::chrono::seconds(3607)));
  // Not for a foreign audience.
  auto f = Create("default", {{"expirationSeconds", 3607}, {"audiences", {"vault"}},
                              {"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "p1"}}}});
  auto fc = ParseJwt(Token(f))->claims;
  EXPECT_EQ(fc["exp"].get<int64_t>() - fc["iat"].get<int64_t>(), 3607);
}

TEST_F(TokenServiceTest, AudiencesAndForeignTokens) {
  std::string vault = Token(Create("default", {{"audiences", {"vault"}}}));
  // Not for the API server...
  EXPECT_EQ(svc_->AuthenticateToken(vault).outcome, authn::Outcome::kRejected);
  // ...but a TokenReview for "vault" accepts it.
  Json rev = svc_->Review({{"spec", {{"token", vault}, {"audiences", {"vault"}}}}});
  EXPECT_EQ(rev["status"]["authenticated"], true);
  EXPECT_EQ(rev["status"]["user"]["username"], "system:serviceaccount:ns1:default");
  EXPECT_EQ(rev["status"]["audiences"], Json::array({"vault"}));
  Json bad = svc_->Review({{"spec", {{"token", "nonsense"}}}});
  EXPECT_FALSE(bad["status"].value("authenticated", false));
  EXPECT_TRUE(bad["status"].contains("error"));
  // Not a JWT, or a JWT from another issuer: not ours to judge.
  EXPECT_EQ(svc_->AuthenticateToken("abcdef").outcome, authn::Outcome::kNoCredentials);
  std::string foreign = Base64UrlEncode(R"({"alg":"RS256"})") + "." + Base64UrlEncode(R"({"iss":"https://accounts.example"})") + ".c2ln";
  EXPECT_EQ(svc_->AuthenticateToken(foreign).outcome, authn::Outcome::kNoCredentials);
  // Our issuer, but tampered: rejected.
  std::string t = Token(Create("default", Json::object()));
  t[t.size() - 3] = t[t.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(svc_->AuthenticateToken(t).outcome, authn::Outcome::kRejected);
}

TEST_F(TokenServiceTest, LegacySecretTokens) {
  Json sa = {{"metadata", {{"name", "default"}, {"namespace", "ns1"}, {"uid", "sa-uid"}}}};
  auto t = svc_->LegacyToken(sa, "legacy");
  ASSERT_TRUE(t.ok());
  auto c = ParseJwt(*t)->claims;
  EXPECT_EQ(c["iss"], kLegacyIssuer);
  EXPECT_FALSE(c.contains("exp"));
  // Valid only while the secret holds it.
  EXPECT_EQ(svc_->AuthenticateToken(*t).outcome, authn::Outcome::kRejected);
  objs_.Put("secrets", "ns1", "legacy", "sec-uid", {{"data", {{"token", Base64Encode(*t)}}}});
  auto u = svc_->Validate(*t);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->name, "system:serviceaccount:ns1:default");
  objs_.Put("secrets", "ns1", "legacy", "sec-uid", {{"data", {{"token", Base64Encode("other")}}}});
  EXPECT_EQ(svc_->AuthenticateToken(*t).outcome, authn::Outcome::kRejected);
}

TEST_F(TokenServiceTest, DiscoveryDocuments) {
  Json d = svc_->OpenIdConfiguration();
  EXPECT_EQ(d["issuer"], kDefaultIssuer);
  EXPECT_EQ(d["jwks_uri"], std::string(kDefaultIssuer) + "/openid/v1/jwks");
  EXPECT_EQ(d["id_token_signing_alg_values_supported"], Json::array({"ES256"}));
  EXPECT_EQ(svc_->Jwks()["keys"].size(), 1u);
}

}  // namespace
}  // namespace tug::apiserver::serviceaccount
