#include "runtime/image/registries.h"

#include <gtest/gtest.h>

#include "runtime/image/registry_client.h"

namespace tug::runtime::image {
namespace {

TEST(RegistriesTest, MirrorsAndConfigs) {
  auto c = RegistriesConfig::Parse(R"(
mirrors:
  docker.io:
    endpoint: ["http://127.0.0.1:5000", "https://mirror.example/v2/"]
  "*":
    endpoint: ["https://any.example"]
configs:
  "mirror.example":
    tls: {insecure_skip_verify: true}
    auth: {username: u, password: p}
  "private.example:5443":
    auth: {auth: "dTI6cDI="}
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto eps = c->EndpointsFor("docker.io");
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_EQ(eps[0].base_url, "http://127.0.0.1:5000");
  EXPECT_TRUE(eps[0].plain_http);
  EXPECT_TRUE(eps[0].is_mirror);
  EXPECT_EQ(eps[1].base_url, "https://mirror.example");
  EXPECT_TRUE(eps[1].config.insecure_skip_verify);
  EXPECT_EQ(eps[1].config.auth.username, "u");
  EXPECT_EQ(eps[2].base_url, "https://registry-1.docker.io");
  EXPECT_FALSE(eps[2].is_mirror);
  // The wildcard mirror for registries without their own entry.
  auto other = c->EndpointsFor("quay.io");
  ASSERT_EQ(other.size(), 2u);
  EXPECT_EQ(other[0].base_url, "https://any.example");
  EXPECT_EQ(other[1].base_url, "https://quay.io");
  auto priv = c->EndpointsFor("private.example:5443");
  EXPECT_EQ(priv.back().config.auth.username, "u2");
  EXPECT_EQ(priv.back().config.auth.password, "p2");
}

TEST(RegistriesTest, LoopbackMayBePlainHttp) {
  RegistriesConfig c;
  auto eps = c.EndpointsFor("localhost:5000");
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].base_url, "https://localhost:5000");
  EXPECT_TRUE(eps[0].http_fallback);
  EXPECT_FALSE(c.EndpointsFor("registry.example:5000")[0].http_fallback);
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1:5000"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("[::1]:5000"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1:5000"));
  EXPECT_FALSE(IsLoopbackHost("example.com"));
}

TEST(RegistriesTest, BadYaml) {
  EXPECT_FALSE(RegistriesConfig::Parse("mirrors: [").ok());
  EXPECT_TRUE(RegistriesConfig::Parse("").ok());
}

TEST(RegistriesTest, DockerConfigJson) {
  auto k = ParseDockerConfig(R"({"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
                                          "reg.example:5000":{"username":"a","password":"b"}}})");
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  auto hub = LookupCredentials(*k, "docker.io");
  ASSERT_TRUE(hub.has_value());
  EXPECT_EQ(hub->username, "user");
  EXPECT_EQ(hub->password, "pass");
  auto reg = LookupCredentials(*k, "reg.example:5000");
  ASSERT_TRUE(reg.has_value());
  EXPECT_EQ(reg->password, "b");
  EXPECT_FALSE(LookupCredentials(*k, "other.example").has_value());
  // The legacy .dockercfg shape (no "auths" wrapper).
  auto legacy = ParseDockerConfig(R"({"reg.example":{"auth":"dTpw"}})");
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(LookupCredentials(*legacy, "reg.example")->username, "u");
  EXPECT_FALSE(ParseDockerConfig(R"({"auths":{"x":{"auth":"bm9jb2xvbg=="}}})").ok());
  EXPECT_FALSE(ParseDockerConfig("not json").ok());
}

TEST(RegistriesTest, Base64RoundTrip) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "user:pa:ss"}) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
}

TEST(AuthChallengeTest, Parses) {
  auto c = ParseAuthChallenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(c[0].params["service"], "registry.docker.io");
  EXPECT_EQ(c[0].params["scope"], "repository:library/busybox:pull,push");
  auto b = ParseAuthChallenges(R"(Basic realm="Registry Realm")");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].scheme, "basic");
  EXPECT_EQ(b[0].params["realm"], "Registry Realm");
}

TEST(PlatformTest, SelectsByPlatform) {
  Json index = Json::parse(R"({"manifests":[
    {"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","platform":{"os":"linux","architecture":"arm","variant":"v7"}},
    {"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","platform":{"os":"linux","architecture":"arm64"}},
    {"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","platform":{"os":"linux","architecture":"amd64"}},
    {"digest":"sha256:4444444444444444444444444444444444444444444444444444444444444444","platform":{"os":"windows","architecture":"amd64"}}]})");
  auto pick = [&](Platform p) {
    auto d = SelectPlatform(index, p);
    return d.ok() ? d->digest.substr(7, 1) : std::string("none");
  };
  EXPECT_EQ(pick({"linux", "amd64", ""}), "3");
  EXPECT_EQ(pick({"linux", "arm64", "v8"}), "2");
  EXPECT_EQ(pick({"linux", "arm", "v7"}), "1");
  EXPECT_EQ(pick({"linux", "arm", "v6"}), "none");
  EXPECT_EQ(pick({"windows", "amd64", ""}), "4");
  EXPECT_EQ(pick({"linux", "s390x", ""}), "none");
}

}  // namespace
}  // namespace tug::runtime::image
