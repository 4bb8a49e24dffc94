// Build identity of the tug binary (/version and `tug --version`).
#pragma once

#include "apiserver/server/root_handler.h"

namespace tug::cmd {

// The version reported to clients: Kubernetes v1.33 compatible.
apiserver::server::VersionInfo BuildVersion();

}  // namespace tug::cmd
