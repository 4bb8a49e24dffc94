// Namespace controller (upstream's namespace-controller): finishes `kubectl delete namespace`.
// For a namespace with a deletionTimestamp whose spec.finalizers still holds "kubernetes", it
// deletes every object of every namespaced resource in it (api::Registry lists the built-in
// ones; the groups of CustomResourceDefinitions are found by discovery at each sync), records the
// deletion status conditions on the namespace (NamespaceDeletionDiscoveryFailure,
// NamespaceDeletionGroupVersionParsingFailure, NamespaceDeletionContentFailure,
// NamespaceContentRemaining, NamespaceFinalizersRemaining, with upstream's reasons and messages)
// while content remains, and when nothing is left it removes the "kubernetes" finalizer through
// PUT /api/v1/namespaces/NAME/finalize, after which the API server removes the namespace.
//
// Ownership and threading: see framework/controller.h.
#pragma once

#include <chrono>
#include <memory>

#include "base/status.h"
#include "controllers/framework/controller.h"

// (`namespace` is a C++ keyword, so the C++ namespace is `namespaces`.)
namespace tug::controllers::namespaces {

struct NamespaceOptions {
  // How soon a namespace whose content is still going away is looked at again.
  std::chrono::milliseconds recheck{1000};
};

Result<std::unique_ptr<framework::Controller>> NewNamespaceController(const framework::ControllerContext& ctx,
                                                                      NamespaceOptions opts = {});

}  // namespace tug::controllers::namespaces
