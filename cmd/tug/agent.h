// `tug agent`: the node agent only (kubelet core: node status + lease, pod workers on the OCI
// runtime with CNI), talking to a remote API server over HTTPS.
//
//   tug agent --server https://HOST:6443 --token TOKEN [--ca-file F] [--node-name N]
//             [--data-dir D] [--kubeconfig F] [--pod-cidr C] [--node-ip IP]
//
// Threading: RunAgent runs on the main thread and waits for SIGTERM/SIGINT with sigwait (main
// blocks them first). Stopping leaves containers running; the next agent adopts them.
#pragma once

#include <string>
#include <vector>

namespace tug::cmd {

int RunAgent(const std::vector<std::string>& args);

}  // namespace tug::cmd
