// Build identity of the tug binary (/version and `tug --version`). The commit and build date
// come from CMake at configure time (version.cc only). Thread-safety: pure function.
#pragma once

#include "apiserver/server/root_handler.h"

namespace tug::cmd {

// The version reported to clients: Kubernetes v1.33 compatible.
apiserver::server::VersionInfo BuildVersion();

}  // namespace tug::cmd
