#include "apiserver/serviceaccount/jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace tug::apiserver::serviceaccount {
namespace {

constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kB64Std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Encode(std::string_view in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  auto u = [&](size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (u(i) << 16) | (u(i + 1) << 8) | u(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = u(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (u(i) << 16) | (u(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

Result<std::string> Decode(std::string_view in, bool url) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    int v;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    else if (ch == (url ? '-' : '+')) v = 62;
    else if (ch == (url ? '_' : '/')) v = 63;
    else if (!url && (ch == '\n' || ch == '\r')) continue;
    else return BadRequestError("illegal base64 data");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) return BadRequestError("illegal base64 data");
  return out;
}

std::string OpenSslError(const std::string& what) {
  std::string msg = what;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  return msg;
}

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct MdCtxFree { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };
struct SigFree { void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); } };
struct BnFree { void operator()(BIGNUM* p) const { BN_free(p); } };
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using SigPtr = std::unique_ptr<ECDSA_SIG, SigFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

std::string Pad32(const BIGNUM* bn) {
  std::string out(32, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), 32);
  return out;
}

}  // namespace

std::string Base64UrlEncode(std::string_view in) { return Encode(in, kB64Url, false); }
Result<std::string> Base64UrlDecode(std::string_view in) { return Decode(in, true); }
std::string Base64Encode(std::string_view in) { return Encode(in, kB64Std, true); }
Result<std::string> Base64Decode(std::string_view in) { return Decode(in, false); }

Result<ParsedJwt> ParseJwt(std::string_view token) {
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return BadRequestError("token is not a compact JWS");
  ParsedJwt p;
  ASSIGN_OR_RETURN(std::string h, Base64UrlDecode(token.substr(0, d1)));
  ASSIGN_OR_RETURN(std::string c, Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1)));
  ASSIGN_OR_RETURN(p.signature, Base64UrlDecode(token.substr(d2 + 1)));
  ASSIGN_OR_RETURN(p.header, ParseJson(h));
  ASSIGN_OR_RETURN(p.claims, ParseJson(c));
  if (!p.header.is_object() || !p.claims.is_object()) return BadRequestError("token header or claims are not objects");
  p.signing_input = std::string(token.substr(0, d2));
  return p;
}

bool LooksLikeJwt(std::string_view token) {
  size_t d1 = token.find('.');
  if (d1 == std::string_view::npos || token.find('.', d1 + 1) == std::string_view::npos) return false;
  auto h = Base64UrlDecode(token.substr(0, d1));
  if (!h.ok()) return false;
  auto j = ParseJson(*h);
  return j.ok() && j->is_object() && j->contains("alg");
}

struct JwtSigner::Key {
  PkeyPtr pkey;
};

JwtSigner::JwtSigner(std::unique_ptr<Key> key) : key_(std::move(key)) {}
JwtSigner::~JwtSigner() = default;

Result<std::unique_ptr<JwtSigner>> JwtSigner::FromPem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  PkeyPtr k(b ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!k) return BadRequestError(OpenSslError("parsing service account key"));
  char curve[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_base_id(k.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(k.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve, &len) != 1 ||
      std::string(curve) != "prime256v1") {
    ERR_clear_error();
    return BadRequestError("service account key must be an ECDSA P-256 key");
  }
  auto key = std::make_unique<Key>();
  key->pkey = std::move(k);
  std::unique_ptr<JwtSigner> s(new JwtSigner(std::move(key)));
  // kid: base64url(sha256(DER SubjectPublicKeyInfo)).
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(s->key_->pkey.get(), &der);
  if (n <= 0) return InternalError(OpenSslError("encoding public key"));
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_Digest(der, static_cast<size_t>(n), md, &mdlen, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  s->kid_ = Base64UrlEncode(std::string_view(reinterpret_cast<char*>(md), mdlen));
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  if (EVP_PKEY_get_bn_param(s->key_->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
      EVP_PKEY_get_bn_param(s->key_->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
    BN_free(x);
    return InternalError(OpenSslError("reading public key"));
  }
  BnPtr xp(x), yp(y);
  s->jwks_ = {{"keys", Json::array({{{"use", "sig"},
                                      {"kty", "EC"},
                                      {"kid", s->kid_},
                                      {"crv", "P-256"},
                                      {"alg", "ES256"},
                                      {"x", Base64UrlEncode(Pad32(x))},
                                      {"y", Base64UrlEncode(Pad32(y))}}})}};
  return s;
}

Result<std::string> JwtSigner::Sign(const Json& claims) const {
  Json header = {{"alg", "ES256"}, {"kid", kid_}};
  std::string input = Base64UrlEncode(DumpJson(header)) + "." + Base64UrlEncode(DumpJson(claims));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t siglen = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &siglen, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return InternalError(OpenSslError("signing token"));
  std::string der(siglen, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &siglen,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return InternalError(OpenSslError("signing token"));
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(siglen)));
  if (!sig) return InternalError(OpenSslError("decoding signature"));
  // JWS ES256 signatures are R || S, each 32 bytes big-endian (RFC 7518 §3.4), not DER.
  std::string raw = Pad32(ECDSA_SIG_get0_r(sig.get())) + Pad32(ECDSA_SIG_get0_s(sig.get()));
  return input + "." + Base64UrlEncode(raw);
}

Result<Json> JwtSigner::Verify(std::string_view token) const {
  auto parsed = ParseJwt(token);
  if (!parsed.ok()) return UnauthorizedError("invalid bearer token: " + parsed.status().message());
  if (GetString(parsed->header, "alg") != "ES256") return UnauthorizedError("invalid bearer token: unexpected signing algorithm");
  std::string kid = GetString(parsed->header, "kid");
  if (!kid.empty() && kid != kid_) return UnauthorizedError("invalid bearer token: unknown key id");
  if (parsed->signature.size() != 64) return UnauthorizedError("invalid bearer token: bad signature length");
  SigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(parsed->signature.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(parsed->signature.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return InternalError(OpenSslError("building signature"));
  }
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(sig.get(), &der);
  if (n <= 0) return InternalError(OpenSslError("encoding signature"));
  std::string der_sig(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  int ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) == 1
               ? EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der_sig.data()), der_sig.size(),
                                  reinterpret_cast<const unsigned char*>(parsed->signing_input.data()),
                                  parsed->signing_input.size())
               : -1;
  ERR_clear_error();
  if (ok != 1) return UnauthorizedError("invalid bearer token: signature verification failed");
  return std::move(parsed->claims);
}

}  // namespace tug::apiserver::serviceaccount
