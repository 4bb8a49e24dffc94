// The ServiceAccount admission plugin (upstream plugin/pkg/admission/serviceaccount), run on
// creates after defaulting and before validation:
//
//  Pods (not mirror pods): spec.serviceAccountName defaults to "default" (spec.serviceAccount,
//  the deprecated alias, follows it); the ServiceAccount must exist (403 "error looking up service
//  account NS/NAME: serviceaccount "NAME" not found"); unless automountServiceAccountToken is
//  false (the pod's setting wins over the ServiceAccount's) every init container and container
//  without a mount at /var/run/secrets/kubernetes.io/serviceaccount gets one (readOnly) of a
//  projected volume "kube-api-access-<5 chars>": serviceAccountToken (expirationSeconds 3607,
//  path token), configMap kube-root-ca.crt (ca.crt), downwardAPI metadata.namespace (namespace),
//  defaultMode 420. The ServiceAccount's imagePullSecrets are copied when the pod has none.
//  Mirror pods may reference neither ServiceAccounts nor secrets.
//
//  Secrets of type kubernetes.io/service-account-token: the legacy tokens controller's job done
//  at admission — the annotation kubernetes.io/service-account.name must name an existing
//  ServiceAccount; the secret gets annotation kubernetes.io/service-account.uid and data
//  token, ca.crt and namespace (base64) unless a token is already there.
//
// Thread-safety: stateless functions (the ObjectGetter and TokenService are thread-safe).
#pragma once

#include <functional>
#include <string>

#include "apiserver/serviceaccount/token.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::apiserver::serviceaccount {

inline constexpr char kDefaultServiceAccount[] = "default";
inline constexpr char kTokenMountPath[] = "/var/run/secrets/kubernetes.io/serviceaccount";
inline constexpr char kApiAccessVolumePrefix[] = "kube-api-access-";
inline constexpr char kRootCaConfigMap[] = "kube-root-ca.crt";

// 5 random characters from upstream's name-generator alphabet ("bcdfghjklmnpqrstvwxz2456789").
std::string RandomSuffix();

// The projected volume source the plugin adds.
Json ApiAccessVolumeSource();

// Mutates a pod being created in `ns`. `suffix` generates the volume name suffix (tests pin it).
Status AdmitPod(Json& pod, const std::string& ns, const ObjectGetter& get,
                const std::function<std::string()>& suffix = RandomSuffix);

// Fills a service-account-token Secret being created in `ns` (no-op for other secrets).
Status AdmitTokenSecret(Json& secret, const std::string& ns, const ObjectGetter& get, const TokenService& tokens);

// The create admission chain of this package, by resource: core "pods" and "secrets".
Status AdmitCreate(const std::string& group, const std::string& resource, const std::string& ns, Json& obj,
                   const ObjectGetter& get, const TokenService& tokens);

}  // namespace tug::apiserver::serviceaccount
