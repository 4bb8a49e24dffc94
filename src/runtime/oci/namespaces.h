// Pinned pod namespaces: a network, IPC and UTS namespace created by a short-lived thread and
// kept alive by bind mounts at <ns_root>/{netns,ipcns,utsns}/<id> (as CRI-O's pinns does), so a
// pod needs no pause process and the namespaces survive agent restarts.
//
// Thread-safety: functions are safe from any thread (the unshare happens on a private thread).
#pragma once

#include <string>

#include "base/status.h"

namespace tug::runtime {

struct PinnedNamespaces {
  std::string net, ipc, uts;  // bind-mount paths; empty when not requested
};

// Creates and pins the requested namespaces; sets the UTS hostname. On error nothing is left.
Result<PinnedNamespaces> PinNamespaces(const std::string& ns_root, const std::string& id,
                                       bool net, bool ipc, bool uts, const std::string& hostname);
// Unmounts and removes whatever of <ns_root>/*/<id> exists. Idempotent.
Status UnpinNamespaces(const std::string& ns_root, const std::string& id);

}  // namespace tug::runtime
