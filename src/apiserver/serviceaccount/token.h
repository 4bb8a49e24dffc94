// ServiceAccount tokens, as kube-apiserver issues and checks them:
//
//  * TokenRequest (POST /api/v1/namespaces/NS/serviceaccounts/NAME/token): short-lived ES256 JWTs
//    with the claims iss, sub, aud, exp, iat, nbf, jti and "kubernetes.io" {namespace,
//    serviceaccount{name,uid}, pod|secret|node{name,uid}, node (for a scheduled pod),
//    warnafter}; optionally bound to a Pod, Secret or Node: the token dies with that object.
//  * Legacy tokens in `kubernetes.io/service-account-token` Secrets (iss
//    "kubernetes/serviceaccount", no expiry), valid while the Secret still holds them and the
//    ServiceAccount exists with the same uid.
//  * Authentication of both (authn::TokenAuthenticator): user system:serviceaccount:NS:NAME, the
//    ServiceAccount's uid, groups system:serviceaccounts and system:serviceaccounts:NS, extra
//    authentication.kubernetes.io/{pod-name,pod-uid,node-name,node-uid,credential-id}.
//  * TokenReview and the OIDC discovery documents (/.well-known/openid-configuration,
//    /openid/v1/jwks).
//
// Ownership: TokenService owns its signer; the ObjectGetter (usually StoreGetter over the API
// server's store) must stay valid for the service's life. Thread-safety: all methods const and
// safe to call concurrently (the transport authenticates on its I/O threads).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/authn/authn.h"
#include "apiserver/serviceaccount/jwt.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/status.h"
#include "store/store.h"

namespace tug::apiserver::serviceaccount {

inline constexpr char kDefaultIssuer[] = "https://kubernetes.default.svc.cluster.local";
inline constexpr char kLegacyIssuer[] = "kubernetes/serviceaccount";
// A TokenRequest for exactly 3607s bound to a pod (what the ServiceAccount admission's projected
// volume asks for) is issued for a year, with "warnafter" at 3607s, as upstream's
// --service-account-extend-token-expiration (default on) does.
inline constexpr int64_t kWarnOnlyExpirationSeconds = 3607;
inline constexpr int64_t kExtendedExpirationSeconds = 365LL * 24 * 3600;
inline constexpr int64_t kDefaultExpirationSeconds = 3600;
inline constexpr int64_t kMinExpirationSeconds = 600;

// Reads one current object by core/v1 plural ("pods", "secrets", "serviceaccounts", "nodes"),
// namespace ("" for cluster-scoped) and name; nullopt when absent (or unreadable).
using ObjectGetter =
    std::function<std::optional<Json>(std::string_view resource, const std::string& ns, const std::string& name)>;
// Reads the API server's store directly (keys /registry/core/<plural>/[<ns>/]<name>).
ObjectGetter StoreGetter(store::Store& store);

struct TokenOptions {
  std::string issuer = kDefaultIssuer;
  std::vector<std::string> api_audiences;  // empty: {issuer}
  bool extend_expiration = true;
  std::string ca_pem;          // ca.crt of legacy token secrets
  Clock* clock = nullptr;      // null: RealClock()
};

class TokenService : public authn::TokenAuthenticator {
 public:
  TokenService(std::unique_ptr<JwtSigner> signer, ObjectGetter get, TokenOptions opts);

  // TokenRequest: `request` is the decoded authentication.k8s.io/v1 TokenRequest. Returns it with
  // spec defaulted (audiences, expirationSeconds) and status {token, expirationTimestamp}.
  // Errors as upstream: NotFound (service account, bound object), Invalid (expirationSeconds),
  // BadRequest (bound object of another kind, pod with another service account), Conflict
  // (bound object uid mismatch).
  Result<Json> CreateToken(const std::string& ns, const std::string& sa_name, Json request) const;

  // A never-expiring legacy token for the Secret `secret_name` of ServiceAccount `sa`.
  Result<std::string> LegacyToken(const Json& sa, const std::string& secret_name) const;

  // Validates a token for one of `audiences` (empty: the API audiences). Unauthorized on any
  // failure; NotFound when the token is not a ServiceAccount JWT at all.
  Result<UserInfo> Validate(std::string_view token, const std::vector<std::string>& audiences = {}) const;

  authn::AuthResult AuthenticateToken(std::string_view token) const override;

  // TokenReview (authentication.k8s.io/v1): fills status {authenticated, user, audiences, error}.
  Json Review(Json review) const;

  // GET /.well-known/openid-configuration and /openid/v1/jwks bodies.
  Json OpenIdConfiguration() const;
  const Json& Jwks() const { return signer_->Jwks(); }

  const std::string& ca_pem() const { return opts_.ca_pem; }
  const std::vector<std::string>& api_audiences() const { return audiences_; }

 private:
  Result<UserInfo> ValidateBound(const Json& claims, const std::vector<std::string>& audiences) const;
  Result<UserInfo> ValidateLegacy(std::string_view token, const Json& claims) const;
  SystemTime Now() const;

  std::unique_ptr<JwtSigner> signer_;
  ObjectGetter get_;
  TokenOptions opts_;
  std::vector<std::string> audiences_;
};

// Builds the service from the PEM key written by pki::EnsurePki. Errors: BadRequest (bad key).
Result<std::unique_ptr<TokenService>> NewTokenService(const std::string& private_key_pem, ObjectGetter get,
                                                      TokenOptions opts);

// "system:serviceaccount:NS:NAME"
std::string ServiceAccountUsername(const std::string& ns, const std::string& name);

}  // namespace tug::apiserver::serviceaccount
