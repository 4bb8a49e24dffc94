// ServiceAccount controller (upstream's serviceaccounts-controller): every active namespace has a
// ServiceAccount named "default"; it is created when a namespace appears and re-created when
// deleted. Terminating namespaces are left alone.
//
// Ownership and threading: see framework/controller.h.
#pragma once

#include <memory>

#include "controllers/framework/controller.h"

namespace tug::controllers::serviceaccount {

std::unique_ptr<framework::Controller> NewServiceAccountController(const framework::ControllerContext& ctx);

}  // namespace tug::controllers::serviceaccount
