#include "apiserver/serviceaccount/install.h"

#include "apiserver/serviceaccount/admission.h"

namespace tug::apiserver::serviceaccount {

void Install(const TokenService& svc, ObjectGetter get, rest::Options& opts) {
  const TokenService* s = &svc;
  opts.admit_create = [s, get](const std::string& group, const std::string& resource, const std::string& ns,
                               Json& obj) { return AdmitCreate(group, resource, ns, obj, get, *s); };
  opts.token_request = [s](const std::string& ns, const std::string& name, Json request) {
    return s->CreateToken(ns, name, std::move(request));
  };
  opts.token_review = [s](Json review) { return s->Review(std::move(review)); };
  opts.oidc_discovery = [s](const std::string& path) -> std::optional<std::pair<std::string, std::string>> {
    if (path == "/.well-known/openid-configuration")
      return std::make_pair(std::string("application/json"), DumpJson(s->OpenIdConfiguration()));
    if (path == "/openid/v1/jwks") return std::make_pair(std::string("application/jwk-set+json"), DumpJson(s->Jwks()));
    return std::nullopt;
  };
}

}  // namespace tug::apiserver::serviceaccount
