#include "apiserver/serviceaccount/token.h"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "api/field_error.h"
#include "base/log.h"

namespace tug::apiserver::serviceaccount {
namespace {

constexpr const char* kComponent = "serviceaccount";
constexpr const char* kPrivateClaim = "kubernetes.io";
// A pod being deleted keeps its tokens valid for this long (its containers still run).
constexpr int64_t kDeletionGraceSeconds = 60;
// Clock skew tolerated for nbf/iat.
constexpr int64_t kLeewaySeconds = 60;

int64_t Unix(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string NewUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    for (auto& c : b) c = static_cast<unsigned char>(std::rand());
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hex[b[i] >> 4];
    s += hex[b[i] & 15];
  }
  return s;
}

std::string Uid(const Json& obj) { return GetStringPath(obj, {"metadata", "uid"}); }

// A deletionTimestamp older than the grace period (or one we cannot read) ends an object's tokens.
bool DeletedLongAgo(const Json& obj, SystemTime now) {
  const Json* dt = FindPath(obj, {"metadata", "deletionTimestamp"});
  if (!dt || !dt->is_string()) return false;
  auto t = ParseRFC3339(dt->get<std::string>());
  if (!t.ok()) return true;
  return Unix(*t) + kDeletionGraceSeconds < Unix(now);
}

Status NotFoundOf(const std::string& resource, const std::string& name) {
  StatusDetails d;
  d.name = name;
  d.kind = resource;
  return NotFoundError(resource + " \"" + name + "\" not found").WithDetails(d);
}

bool Intersects(const Json& aud, const std::vector<std::string>& want) {
  std::vector<std::string> have;
  if (aud.is_string()) have.push_back(aud.get<std::string>());
  else if (aud.is_array())
    for (const auto& a : aud)
      if (a.is_string()) have.push_back(a.get<std::string>());
  for (const auto& h : have)
    if (std::find(want.begin(), want.end(), h) != want.end()) return true;
  return false;
}

UserInfo SaUser(const std::string& ns, const std::string& name, const std::string& uid) {
  UserInfo u;
  u.name = ServiceAccountUsername(ns, name);
  u.uid = uid;
  u.groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns};
  return u;
}

}  // namespace

std::string ServiceAccountUsername(const std::string& ns, const std::string& name) {
  return "system:serviceaccount:" + ns + ":" + name;
}

ObjectGetter StoreGetter(store::Store& store) {
  return [&store](std::string_view resource, const std::string& ns, const std::string& name) -> std::optional<Json> {
    std::string key = "/registry/core/" + std::string(resource) + "/" + (ns.empty() ? "" : ns + "/") + name;
    auto kv = store.Get(key);
    if (!kv.ok() || !kv->value) return std::nullopt;
    auto j = ParseJson(*kv->value);
    if (!j.ok()) return std::nullopt;
    (*j)["metadata"]["resourceVersion"] = std::to_string(kv->mod_revision);
    return std::move(*j);
  };
}

TokenService::TokenService(std::unique_ptr<JwtSigner> signer, ObjectGetter get, TokenOptions opts)
    : signer_(std::move(signer)), get_(std::move(get)), opts_(std::move(opts)) {
  audiences_ = opts_.api_audiences.empty() ? std::vector<std::string>{opts_.issuer} : opts_.api_audiences;
}

Result<std::unique_ptr<TokenService>> NewTokenService(const std::string& pem, ObjectGetter get, TokenOptions opts) {
  ASSIGN_OR_RETURN(std::unique_ptr<JwtSigner> signer, JwtSigner::FromPem(pem));
  return std::make_unique<TokenService>(std::move(signer), std::move(get), std::move(opts));
}

SystemTime TokenService::Now() const { return (opts_.clock ? opts_.clock : &RealClock())->Now(); }

Result<Json> TokenService::CreateToken(const std::string& ns, const std::string& sa_name, Json req) const {
  const std::string kGroupKind = "TokenRequest.authentication.k8s.io";
  Json& meta = req["metadata"];
  if (!meta.is_object()) meta = Json::object();
  std::string body_name = GetString(meta, "name"), body_ns = GetString(meta, "namespace");
  if (!body_name.empty() && body_name != sa_name)
    return api::InvalidStatus(kGroupKind, "authentication.k8s.io", "TokenRequest", sa_name,
                              {api::FieldError::Invalid("metadata.name", body_name,
                                                        "must match the service account name if specified")});
  if (!body_ns.empty() && body_ns != ns)
    return api::InvalidStatus(kGroupKind, "authentication.k8s.io", "TokenRequest", sa_name,
                              {api::FieldError::Invalid("metadata.namespace", body_ns,
                                                        "must match the service account namespace if specified")});
  std::optional<Json> sa = get_("serviceaccounts", ns, sa_name);
  if (!sa) return NotFoundOf("serviceaccounts", sa_name);

  Json& spec = req["spec"];
  if (!spec.is_object()) spec = Json::object();
  // Defaults (SetDefaults_TokenRequestSpec, then the REST layer's API audiences).
  if (!spec.contains("expirationSeconds") || !spec["expirationSeconds"].is_number_integer())
    spec["expirationSeconds"] = kDefaultExpirationSeconds;
  if (!spec.contains("audiences") || !spec["audiences"].is_array() || spec["audiences"].empty())
    spec["audiences"] = audiences_;
  int64_t requested = spec["expirationSeconds"].get<int64_t>();
  api::FieldErrors errs;
  if (requested < kMinExpirationSeconds)
    errs.push_back(api::FieldError::Invalid("spec.expirationSeconds", requested,
                                            "may not specify a duration less than 10 minutes"));
  if (requested > (int64_t{1} << 32))
    errs.push_back(api::FieldError::Invalid("spec.expirationSeconds", requested,
                                            "may not specify a duration larger than 2^32 seconds"));
  if (!errs.empty()) return api::InvalidStatus(kGroupKind, "authentication.k8s.io", "TokenRequest", sa_name, errs);

  // The bound object.
  Json priv = {{"namespace", ns}, {"serviceaccount", {{"name", sa_name}, {"uid", Uid(*sa)}}}};
  bool pod_bound = false;
  if (const Json* ref = FindPath(spec, {"boundObjectRef"}); ref && ref->is_object()) {
    std::string kind = GetString(*ref, "kind"), av = GetString(*ref, "apiVersion"), name = GetString(*ref, "name");
    std::string want_uid = GetString(*ref, "uid");
    std::string group = av.find('/') == std::string::npos ? "" : av.substr(0, av.find('/'));
    std::string version = av.find('/') == std::string::npos ? av : av.substr(av.find('/') + 1);
    std::optional<Json> obj;
    if (group.empty() && kind == "Pod") {
      obj = get_("pods", ns, name);
      if (!obj) return NotFoundOf("pods", name);
      std::string pod_sa = GetStringPath(*obj, {"spec", "serviceAccountName"});
      if (pod_sa != sa_name)
        return BadRequestError("cannot bind token for serviceaccount \"" + sa_name +
                               "\" to pod running with different serviceaccount name.");
      priv["pod"] = {{"name", name}, {"uid", Uid(*obj)}};
      pod_bound = true;
      std::string node = GetStringPath(*obj, {"spec", "nodeName"});
      if (!node.empty())
        if (std::optional<Json> n = get_("nodes", "", node)) priv["node"] = {{"name", node}, {"uid", Uid(*n)}};
    } else if (group.empty() && kind == "Secret") {
      obj = get_("secrets", ns, name);
      if (!obj) return NotFoundOf("secrets", name);
      priv["secret"] = {{"name", name}, {"uid", Uid(*obj)}};
    } else if (group.empty() && kind == "Node") {
      obj = get_("nodes", "", name);
      if (!obj) return NotFoundOf("nodes", name);
      priv["node"] = {{"name", name}, {"uid", Uid(*obj)}};
    } else {
      return BadRequestError("cannot bind token to object of type " + group + "/" + version + ", Kind=" + kind);
    }
    if (!want_uid.empty() && want_uid != Uid(*obj)) {
      StatusDetails d;
      d.name = name;
      d.kind = kind;
      return ConflictError("Operation cannot be fulfilled on " + kind + " \"" + name +
                           "\": the UID in the bound object reference (" + want_uid +
                           ") does not match the UID in record. The object might have been deleted and then recreated")
          .WithDetails(d);
    }
  }

  SystemTime now = Now();
  int64_t iat = Unix(now);
  int64_t exp = requested;
  bool kube_audience = true;
  for (const auto& a : spec["audiences"])
    if (!a.is_string() || std::find(audiences_.begin(), audiences_.end(), a.get<std::string>()) == audiences_.end())
      kube_audience = false;
  if (opts_.extend_expiration && pod_bound && requested == kWarnOnlyExpirationSeconds && kube_audience) {
    priv["warnafter"] = iat + kWarnOnlyExpirationSeconds;
    exp = kExtendedExpirationSeconds;
  }
  Json claims = {{"iss", opts_.issuer},
                 {"sub", ServiceAccountUsername(ns, sa_name)},
                 {"aud", spec["audiences"]},
                 {"exp", iat + exp},
                 {"iat", iat},
                 {"nbf", iat},
                 {"jti", NewUuid()},
                 {kPrivateClaim, priv}};
  ASSIGN_OR_RETURN(std::string token, signer_->Sign(claims));
  req["apiVersion"] = "authentication.k8s.io/v1";
  req["kind"] = "TokenRequest";
  meta["name"] = sa_name;
  meta["namespace"] = ns;
  if (!meta.contains("creationTimestamp")) meta["creationTimestamp"] = nullptr;
  req["status"] = {{"token", token},
                   {"expirationTimestamp", FormatRFC3339(now + std::chrono::seconds(requested))}};
  TUG_VLOG(4, kComponent) << "issued token" << kv("serviceaccount", ns + "/" + sa_name) << kv("jti", claims["jti"].get<std::string>());
  return req;
}

Result<std::string> TokenService::LegacyToken(const Json& sa, const std::string& secret_name) const {
  std::string ns = GetStringPath(sa, {"metadata", "namespace"}), name = GetStringPath(sa, {"metadata", "name"});
  Json claims = {{"iss", kLegacyIssuer},
                 {"kubernetes.io/serviceaccount/namespace", ns},
                 {"kubernetes.io/serviceaccount/secret.name", secret_name},
                 {"kubernetes.io/serviceaccount/service-account.name", name},
                 {"kubernetes.io/serviceaccount/service-account.uid", Uid(sa)},
                 {"sub", ServiceAccountUsername(ns, name)}};
  return signer_->Sign(claims);
}

Result<UserInfo> TokenService::Validate(std::string_view token, const std::vector<std::string>& audiences) const {
  if (!LooksLikeJwt(token)) return NotFoundError("not a JWT");
  auto parsed = ParseJwt(token);
  if (!parsed.ok()) return NotFoundError("not a JWT");
  std::string iss = GetString(parsed->claims, "iss");
  if (iss != opts_.issuer && iss != kLegacyIssuer) return NotFoundError("not a ServiceAccount token");
  ASSIGN_OR_RETURN(Json claims, signer_->Verify(token));
  if (iss == kLegacyIssuer) return ValidateLegacy(token, claims);
  return ValidateBound(claims, audiences.empty() ? audiences_ : audiences);
}

Result<UserInfo> TokenService::ValidateBound(const Json& claims, const std::vector<std::string>& audiences) const {
  int64_t now = Unix(Now());
  const Json* exp = Find(claims, "exp");
  if (!exp || !exp->is_number() || exp->get<int64_t>() < now) return UnauthorizedError("Token has expired.");
  if (const Json* nbf = Find(claims, "nbf"); nbf && nbf->is_number() && nbf->get<int64_t>() > now + kLeewaySeconds)
    return UnauthorizedError("Token is not yet valid.");
  if (!Find(claims, "aud") || !Intersects(claims["aud"], audiences))
    return UnauthorizedError("Token has an invalid audience.");
  const Json* priv = Find(claims, kPrivateClaim);
  if (!priv || !priv->is_object()) return UnauthorizedError("Token is missing the kubernetes.io claim.");
  std::string ns = GetString(*priv, "namespace");
  std::string sa_name = GetStringPath(*priv, {"serviceaccount", "name"});
  std::string sa_uid = GetStringPath(*priv, {"serviceaccount", "uid"});
  if (ns.empty() || sa_name.empty() || GetString(claims, "sub") != ServiceAccountUsername(ns, sa_name))
    return UnauthorizedError("Token has inconsistent claims.");
  SystemTime t = Now();
  std::optional<Json> sa = get_("serviceaccounts", ns, sa_name);
  if (!sa || DeletedLongAgo(*sa, t) || Uid(*sa) != sa_uid)
    return UnauthorizedError("Token has been invalidated (service account " + ns + "/" + sa_name + " is gone).");
  UserInfo u = SaUser(ns, sa_name, sa_uid);
  auto check = [&](const char* claim, std::string_view resource, const std::string& obj_ns) -> Result<Json> {
    const Json* ref = Find(*priv, claim);
    std::string name = GetString(*ref, "name"), uid = GetString(*ref, "uid");
    std::optional<Json> o = get_(resource, obj_ns, name);
    if (!o || Uid(*o) != uid || DeletedLongAgo(*o, t))
      return UnauthorizedError("Token has been invalidated (" + std::string(claim) + " " + name + " is gone).");
    return std::move(*o);
  };
  bool pod_bound = Find(*priv, "pod") != nullptr;
  if (pod_bound) {
    RETURN_IF_ERROR(check("pod", "pods", ns).status());
    u.extra["authentication.kubernetes.io/pod-name"] = {GetStringPath(*priv, {"pod", "name"})};
    u.extra["authentication.kubernetes.io/pod-uid"] = {GetStringPath(*priv, {"pod", "uid"})};
  }
  if (Find(*priv, "secret")) RETURN_IF_ERROR(check("secret", "secrets", ns).status());
  if (Find(*priv, "node")) {
    // A token bound to a node dies with it; a pod-bound token only reports its pod's node.
    if (!pod_bound) RETURN_IF_ERROR(check("node", "nodes", "").status());
    u.extra["authentication.kubernetes.io/node-name"] = {GetStringPath(*priv, {"node", "name"})};
    u.extra["authentication.kubernetes.io/node-uid"] = {GetStringPath(*priv, {"node", "uid"})};
  }
  if (std::string jti = GetString(claims, "jti"); !jti.empty())
    u.extra["authentication.kubernetes.io/credential-id"] = {"JTI=" + jti};
  return u;
}

Result<UserInfo> TokenService::ValidateLegacy(std::string_view token, const Json& claims) const {
  std::string ns = GetString(claims, "kubernetes.io/serviceaccount/namespace");
  std::string secret_name = GetString(claims, "kubernetes.io/serviceaccount/secret.name");
  std::string sa_name = GetString(claims, "kubernetes.io/serviceaccount/service-account.name");
  std::string sa_uid = GetString(claims, "kubernetes.io/serviceaccount/service-account.uid");
  if (ns.empty() || secret_name.empty() || sa_name.empty() || sa_uid.empty())
    return UnauthorizedError("Token is missing legacy service account claims.");
  SystemTime t = Now();
  std::optional<Json> secret = get_("secrets", ns, secret_name);
  if (!secret || FindPath(*secret, {"metadata", "deletionTimestamp"}))
    return UnauthorizedError("Token has been invalidated (secret " + ns + "/" + secret_name + " is gone).");
  auto stored = Base64Decode(GetStringPath(*secret, {"data", "token"}));
  if (!stored.ok() || *stored != token) return UnauthorizedError("Token does not match the secret's token.");
  std::optional<Json> sa = get_("serviceaccounts", ns, sa_name);
  if (!sa || DeletedLongAgo(*sa, t) || Uid(*sa) != sa_uid)
    return UnauthorizedError("Token has been invalidated (service account " + ns + "/" + sa_name + " is gone).");
  return SaUser(ns, sa_name, sa_uid);
}

authn::AuthResult TokenService::AuthenticateToken(std::string_view token) const {
  authn::AuthResult r;
  auto u = Validate(token);
  if (u.ok()) {
    r.outcome = authn::Outcome::kAuthenticated;
    r.user = std::move(*u);
  } else if (u.status().code() != StatusCode::kNotFound) {
    TUG_VLOG(4, kComponent) << "rejected token" << kv("reason", u.status().message());
    r.outcome = authn::Outcome::kRejected;
  }
  return r;
}

Json TokenService::Review(Json review) const {
  std::string token = GetStringPath(review, {"spec", "token"});
  std::vector<std::string> auds;
  if (const Json* a = FindPath(review, {"spec", "audiences"}); a && a->is_array())
    for (const auto& x : *a)
      if (x.is_string()) auds.push_back(x.get<std::string>());
  auto u = Validate(token, auds);
  Json status = {{"user", Json::object()}};
  if (u.ok()) {
    Json user = {{"username", u->name}, {"uid", u->uid}, {"groups", u->groups}};
    user["groups"].push_back(authn::kAuthenticatedGroup);
    if (!u->extra.empty()) user["extra"] = u->extra;
    status = {{"authenticated", true}, {"user", user}, {"audiences", auds.empty() ? audiences_ : auds}};
  } else {
    status["error"] = u.status().code() == StatusCode::kNotFound ? "[invalid bearer token, service account token is not a JWT]"
                                                                 : "[invalid bearer token, " + u.status().message() + "]";
  }
  review["status"] = status;
  return review;
}

Json TokenService::OpenIdConfiguration() const {
  return {{"issuer", opts_.issuer},
          {"jwks_uri", opts_.issuer + "/openid/v1/jwks"},
          {"response_types_supported", {"id_token"}},
          {"subject_types_supported", {"public"}},
          {"id_token_signing_alg_values_supported", {"ES256"}}};
}

}  // namespace tug::apiserver::serviceaccount
