#include "apiserver/serviceaccount/jwt.h"

#include <gtest/gtest.h>

#include "apiserver/serviceaccount/test_util.h"

namespace tug::apiserver::serviceaccount {
namespace {

TEST(Base64Test, RoundTripsBothAlphabets) {
  struct Case {
    std::string in, url, std;
  } cases[] = {
      {"", "", ""},
      {"f", "Zg", "Zg=="},
      {"fo", "Zm8", "Zm8="},
      {"foo", "Zm9v", "Zm9v"},
      {"\xfb\xff\xfe", "-__-", "+//+"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Base64UrlEncode(c.in), c.url);
    EXPECT_EQ(Base64Encode(c.in), c.std);
    EXPECT_EQ(*Base64UrlDecode(c.url), c.in);
    EXPECT_EQ(*Base64Decode(c.std), c.in);
  }
  EXPECT_FALSE(Base64UrlDecode("ab+c").ok());
  EXPECT_FALSE(Base64Decode("ab-c").ok());
}

TEST(JwtTest, SignVerifyAndTamper) {
  auto s = JwtSigner::FromPem(testing::NewKeyPem());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Json claims = {{"sub", "x"}, {"n", 1}};
  auto tok = (*s)->Sign(claims);
  ASSERT_TRUE(tok.ok());
  auto parsed = ParseJwt(*tok);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->header["alg"], "ES256");
  EXPECT_EQ(parsed->header["kid"], (*s)->key_id());
  EXPECT_EQ(parsed->signature.size(), 64u);
  auto v = (*s)->Verify(*tok);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, claims);
  EXPECT_TRUE(LooksLikeJwt(*tok));
  EXPECT_FALSE(LooksLikeJwt("abcdef0123456789"));

  // Changed claims with the old signature.
  size_t d1 = tok->find('.'), d2 = tok->find('.', d1 + 1);
  std::string forged = tok->substr(0, d1 + 1) + Base64UrlEncode(DumpJson(Json{{"sub", "admin"}, {"n", 1}})) + tok->substr(d2);
  auto f = (*s)->Verify(forged);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kUnauthorized);
  // A flipped signature bit.
  std::string sig = *Base64UrlDecode(tok->substr(d2 + 1));
  sig[10] ^= 1;
  EXPECT_FALSE((*s)->Verify(tok->substr(0, d2 + 1) + Base64UrlEncode(sig)).ok());
  // Signed by another key.
  auto other = JwtSigner::FromPem(testing::NewKeyPem());
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*s)->Verify(*(*other)->Sign(claims)).ok());
  // alg=none.
  std::string none = Base64UrlEncode(R"({"alg":"none"})") + "." + Base64UrlEncode(DumpJson(claims)) + ".";
  EXPECT_FALSE((*s)->Verify(none).ok());
}

TEST(JwtTest, JwksDescribesTheKey) {
  auto s = JwtSigner::FromPem(testing::NewKeyPem());
  ASSERT_TRUE(s.ok());
  const Json& k = (*s)->Jwks()["keys"][0];
  EXPECT_EQ(k["kty"], "EC");
  EXPECT_EQ(k["crv"], "P-256");
  EXPECT_EQ(k["alg"], "ES256");
  EXPECT_EQ(k["use"], "sig");
  EXPECT_EQ(k["kid"], (*s)->key_id());
  EXPECT_EQ(Base64UrlDecode(k["x"].get<std::string>())->size(), 32u);
  EXPECT_EQ(Base64UrlDecode(k["y"].get<std::string>())->size(), 32u);
  EXPECT_EQ((*s)->key_id().size(), 43u);  // unpadded base64url of 32 bytes
}

TEST(JwtTest, RejectsNonP256Keys) {
  EVP_PKEY* k = EVP_RSA_gen(1024);
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(b);
  EVP_PKEY_free(k);
  EXPECT_FALSE(JwtSigner::FromPem(pem).ok());
  EXPECT_FALSE(JwtSigner::FromPem("junk").ok());
}

}  // namespace
}  // namespace tug::apiserver::serviceaccount
