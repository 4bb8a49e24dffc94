#include "apiserver/authn/authn.h"

#include <gtest/gtest.h>

namespace tug::apiserver::authn {
namespace {

using Groups = std::vector<std::string>;

struct TokenCase {
  const char* name;
  const char* csv;
  bool ok;
  // Expected token -> (user, uid, groups) for ok cases.
  std::vector<std::tuple<std::string, std::string, std::string, Groups>> users;
  size_t warnings = 0;
};

class TokenCsvTest : public ::testing::TestWithParam<TokenCase> {};

TEST_P(TokenCsvTest, Parses) {
  const TokenCase& c = GetParam();
  auto r = ParseTokenCsv(c.csv, "tokens.csv");
  ASSERT_EQ(r.ok(), c.ok) << (r.ok() ? "" : r.status().message());
  if (!c.ok) {
    EXPECT_NE(r.status().message().find("tokens.csv"), std::string::npos);
    return;
  }
  EXPECT_EQ(r->users.size(), c.users.size());
  for (const auto& [token, user, uid, groups] : c.users) {
    auto it = r->users.find(token);
    ASSERT_NE(it, r->users.end()) << token;
    EXPECT_EQ(it->second.name, user);
    EXPECT_EQ(it->second.uid, uid);
    EXPECT_EQ(it->second.groups, groups);
  }
  EXPECT_EQ(r->warnings.size(), c.warnings);
}

INSTANTIATE_TEST_SUITE_P(
    Table, TokenCsvTest,
    ::testing::Values(
        TokenCase{"Simple", "abc,alice,1\n", true, {{"abc", "alice", "1", {}}}},
        TokenCase{"QuotedGroups", "abc,alice,1,\"dev,ops\"\n", true, {{"abc", "alice", "1", {"dev", "ops"}}}},
        TokenCase{"SingleGroupUnquoted", "abc,alice,1,dev", true, {{"abc", "alice", "1", {"dev"}}}},
        TokenCase{"CrlfBlankLinesSpaces", "\r\nabc, alice, 1\r\n\n def,bob,2,\"a,b\"\r\n", true,
                  {{"abc", "alice", "1", {}}, {"def", "bob", "2", {"a", "b"}}}},
        TokenCase{"EscapedQuote", "\"t\"\"1\",carol,3\n", true, {{"t\"1", "carol", "3", {}}}},
        TokenCase{"ExtraColumnsIgnored", "abc,alice,1,g,extra\n", true, {{"abc", "alice", "1", {"g"}}}},
        TokenCase{"EmptyTokenSkipped", ",alice,1\nabc,bob,2\n", true, {{"abc", "bob", "2", {}}}, 1},
        TokenCase{"DuplicateLastWins", "abc,alice,1\nabc,bob,2\n", true, {{"abc", "bob", "2", {}}}, 1},
        TokenCase{"Bom", "\xEF\xBB\xBF" "abc,alice,1\n", true, {{"abc", "alice", "1", {}}}},
        TokenCase{"Empty", "", true, {}},
        TokenCase{"TooFewColumns", "abc,alice,1\nabc2,bob\n", false, {}},
        TokenCase{"UnterminatedQuote", "abc,alice,1,\"dev,ops\n", false, {}},
        TokenCase{"BareQuote", "ab\"c,alice,1\n", false, {}},
        TokenCase{"TextAfterQuote", "\"abc\"x,alice,1\n", false, {}}),
    [](const ::testing::TestParamInfo<TokenCase>& i) { return std::string(i.param.name); });

TEST(AuthenticatorTest, BearerTokens) {
  auto tf = ParseTokenCsv("s3cret,alice,u1,\"dev,ops\"\n", "t");
  ASSERT_TRUE(tf.ok());
  Authenticator a(std::move(tf).value());
  struct Case {
    const char* header;
    Outcome outcome;
  } cases[] = {
      {"Bearer s3cret", Outcome::kAuthenticated}, {"bearer s3cret", Outcome::kAuthenticated},
      {"  Bearer s3cret  ", Outcome::kAuthenticated}, {"Bearer wrong", Outcome::kRejected},
      {"Bearer ", Outcome::kNoCredentials},         {"", Outcome::kNoCredentials},
      {"Basic YWxpY2U6cHc=", Outcome::kNoCredentials},
  };
  for (const auto& c : cases) {
    auto r = a.Authenticate(Credentials{c.header, nullptr});
    EXPECT_EQ(r.outcome, c.outcome) << c.header;
    if (r.outcome == Outcome::kAuthenticated) {
      EXPECT_EQ(r.user.name, "alice");
      EXPECT_EQ(r.user.uid, "u1");
      EXPECT_EQ(r.user.groups, (Groups{"dev", "ops", "system:authenticated"}));
    }
  }
}

// A token authenticator that knows one token and rejects another.
class FakeTokenAuthenticator : public TokenAuthenticator {
 public:
  AuthResult AuthenticateToken(std::string_view token) const override {
    AuthResult r;
    if (token == "jwt-good") {
      r.outcome = Outcome::kAuthenticated;
      r.user.name = "system:serviceaccount:ns:sa";
      r.user.groups = {"system:serviceaccounts"};
    } else if (token == "jwt-bad") {
      r.outcome = Outcome::kRejected;
    }
    return r;
  }
};

TEST(AuthenticatorTest, TokenAuthenticatorsAfterStaticTokens) {
  auto tf = ParseTokenCsv("s3cret,alice,u1\n", "t");
  ASSERT_TRUE(tf.ok());
  Authenticator a(std::move(tf).value());
  FakeTokenAuthenticator fake;
  a.AddTokenAuthenticator(&fake);
  EXPECT_EQ(a.Authenticate(Credentials{"Bearer s3cret", nullptr}).user.name, "alice");
  auto good = a.Authenticate(Credentials{"Bearer jwt-good", nullptr});
  EXPECT_EQ(good.outcome, Outcome::kAuthenticated);
  EXPECT_EQ(good.user.groups, (Groups{"system:serviceaccounts", "system:authenticated"}));
  EXPECT_EQ(a.Authenticate(Credentials{"Bearer jwt-bad", nullptr}).outcome, Outcome::kRejected);
  EXPECT_EQ(a.Authenticate(Credentials{"Bearer unknown", nullptr}).outcome, Outcome::kRejected);
}

TEST(AuthenticatorTest, ClientCertWinsOverToken) {
  Authenticator a;
  CertIdentity id{"system:admin", {"system:masters"}};
  auto r = a.Authenticate(Credentials{"Bearer unknown", &id});
  ASSERT_EQ(r.outcome, Outcome::kAuthenticated);
  EXPECT_EQ(r.user.name, "system:admin");
  EXPECT_EQ(r.user.groups, (Groups{"system:masters", "system:authenticated"}));
  CertIdentity none{"", {}};
  EXPECT_EQ(a.Authenticate(Credentials{"", &none}).outcome, Outcome::kNoCredentials);
}

TEST(AuthenticatorTest, UserFromCertDoesNotDuplicateAuthenticatedGroup) {
  auto u = UserFromCert({"bob", {"system:authenticated", "team"}});
  EXPECT_EQ(u.groups, (Groups{"system:authenticated", "team"}));
}

TEST(AuthenticatorTest, AnonymousPaths) {
  for (const char* p : {"/healthz", "/livez", "/readyz", "/readyz/ping", "/version", "/healthz/etcd"})
    EXPECT_TRUE(IsAnonymousPath(p)) << p;
  for (const char* p : {"/api", "/apis", "/healthzz", "/versions", "/", "/openapi/v3", "/api/v1/namespaces"})
    EXPECT_FALSE(IsAnonymousPath(p)) << p;
  EXPECT_EQ(AnonymousUser().name, "system:anonymous");
}

TEST(AuthenticatorTest, LoadTokenFileMissingIsError) {
  EXPECT_FALSE(LoadTokenFile("/nonexistent/tokens.csv").ok());
}

}  // namespace
}  // namespace tug::apiserver::authn
