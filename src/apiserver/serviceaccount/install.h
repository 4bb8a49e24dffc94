// Wires ServiceAccount tokens into `tug server`: the REST layer's hooks (TokenRequest,
// TokenReview, OIDC discovery, ServiceAccount admission) and the bearer-token authenticator.
//
//   auto sa = serviceaccount::NewTokenService(pem, serviceaccount::StoreGetter(store), {.ca_pem = ca});
//   serviceaccount::Install(**sa, serviceaccount::StoreGetter(store), rest_options);
//   authenticator.AddTokenAuthenticator(sa->get());
//
// Ownership: the hooks capture `svc` by reference; it must outlive the REST handler and the
// authenticator. Thread-safety: the hooks are thread-safe.
#pragma once

#include "apiserver/rest/rest.h"
#include "apiserver/serviceaccount/token.h"

namespace tug::apiserver::serviceaccount {

void Install(const TokenService& svc, ObjectGetter get, rest::Options& opts);

}  // namespace tug::apiserver::serviceaccount
