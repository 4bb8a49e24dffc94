// Compact JWS (RFC 7515) with ES256 for ServiceAccount tokens: signing with the server's
// service-account key, verification, and the public key as a JWK Set (RFC 7517), as
// kube-apiserver serves at /openid/v1/jwks.
//
// The key id ("kid" header and JWK) is the unpadded base64url SHA-256 of the DER-encoded public
// key (SubjectPublicKeyInfo), as upstream derives it, so tools that compare kids behave the same.
//
// Ownership: JwtSigner owns its OpenSSL key. Thread-safety: immutable after construction; Sign,
// Verify and Jwks are const and safe to call concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/json.h"
#include "base/status.h"

namespace tug::apiserver::serviceaccount {

// Unpadded base64url (RFC 4648 §5) without line breaks.
std::string Base64UrlEncode(std::string_view in);
// Accepts padded or unpadded base64url. Errors: BadRequest on a character outside the alphabet.
Result<std::string> Base64UrlDecode(std::string_view in);
// Standard base64 with padding (Secret data).
std::string Base64Encode(std::string_view in);
Result<std::string> Base64Decode(std::string_view in);

// A token split into its parts; header and claims parsed. No signature check.
struct ParsedJwt {
  Json header;
  Json claims;
  std::string signing_input;  // "<header>.<payload>" as received
  std::string signature;      // raw bytes
};
// Errors: BadRequest when the text is not three base64url JSON parts.
Result<ParsedJwt> ParseJwt(std::string_view token);
// True when text has the shape of a compact JWS (two dots, header decodes to a JSON object
// with "alg"). Cheap; used to decide whether a bearer token is ours to judge.
bool LooksLikeJwt(std::string_view token);

class JwtSigner {
 public:
  ~JwtSigner();
  JwtSigner(const JwtSigner&) = delete;
  JwtSigner& operator=(const JwtSigner&) = delete;

  // Loads an ECDSA P-256 private key (PEM, PKCS#8 or SEC1). Errors: BadRequest (not a P-256 key).
  static Result<std::unique_ptr<JwtSigner>> FromPem(const std::string& private_key_pem);

  // header {"alg":"ES256","kid":<kid>} + claims, signed. Errors: Internal (OpenSSL failure).
  Result<std::string> Sign(const Json& claims) const;
  // Checks the header (alg ES256; kid ours when present) and the signature; returns the claims.
  // Claim semantics (exp, aud, ...) are the caller's. Errors: Unauthorized with a reason.
  Result<Json> Verify(std::string_view token) const;

  const std::string& key_id() const { return kid_; }
  // {"keys":[{"use":"sig","kty":"EC","kid":...,"crv":"P-256","alg":"ES256","x":...,"y":...}]}
  const Json& Jwks() const { return jwks_; }

 private:
  struct Key;
  explicit JwtSigner(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
  std::string kid_;
  Json jwks_;
};

}  // namespace tug::apiserver::serviceaccount
