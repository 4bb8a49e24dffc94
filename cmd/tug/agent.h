// `tug agent`: the node agent only (kubelet core: node status + lease, pod workers on the OCI
// runtime with CNI), talking to a remote API server over HTTPS.
//
//   tug agent --server https://HOST:6443 --token TOKEN [--ca-file F] [--node-name N]
//             [--data-dir D] [--kubeconfig F] [--pod-cidr C] [--node-ip IP] [--runc PATH]
//             [--container-log-max-size Q] [--container-log-max-files N]
//
// Threading: RunAgent runs on the main thread and waits for SIGTERM/SIGINT with sigwait (main
// blocks them first). Stopping leaves containers running; the next agent adopts them.
#pragma once

#include <string>
#include <vector>

#include "config.h"
#include "kubelet/agent.h"

namespace tug::cmd {

int RunAgent(const std::vector<std::string>& args);

// Copies the node runtime flags into an agent's options (`tug agent`, `tug server`'s agent).
void ApplyNodeRuntimeFlags(const NodeRuntimeFlags& f, kubelet::AgentOptions& o);

}  // namespace tug::cmd
