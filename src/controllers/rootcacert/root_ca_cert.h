// Root CA certificate publisher (upstream's root-ca-cert-publisher): every namespace has a
// ConfigMap "kube-root-ca.crt" whose data is exactly {"ca.crt": <the cluster CA bundle>} and
// which carries the kubernetes.io/description annotation. Pods read it through the
// kube-api-access projected volume (ServiceAccount admission). It is created when a namespace
// appears, rewritten when edited and re-created when deleted; terminating namespaces are left
// alone.
//
// The CA comes from ControllerContext::root_ca_pem (kube-controller-manager's --root-ca-file);
// without one the controller is not started (NewRootCaCertPublisher returns null).
//
// Ownership and threading: see framework/controller.h.
#pragma once

#include <memory>

#include "controllers/framework/controller.h"

namespace tug::controllers::rootcacert {

inline constexpr char kConfigMapName[] = "kube-root-ca.crt";
inline constexpr char kDescriptionAnnotation[] = "kubernetes.io/description";

std::unique_ptr<framework::Controller> NewRootCaCertPublisher(const framework::ControllerContext& ctx);

}  // namespace tug::controllers::rootcacert
