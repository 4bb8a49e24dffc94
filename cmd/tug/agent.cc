#include "agent.h"

#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/log.h"
#include "client/client.h"
#include "kubelet/agent.h"

namespace tug::cmd {
namespace {

constexpr const char* kAgentUsage =
    "Usage: tug agent --server URL (--token TOKEN | --kubeconfig FILE) [flags]\n"
    "\n"
    "Flags:\n"
    "  --server URL        API server (https://HOST:6443)\n"
    "  --token TOKEN       bearer token\n"
    "  --kubeconfig FILE   kubeconfig to use instead of --server/--token\n"
    "  --ca-file FILE      CA bundle of the API server (without it TLS is not verified)\n"
    "  --node-name NAME    node name (default: the host name)\n"
    "  --data-dir DIR      agent data directory (default /var/lib/tug/agent)\n"
    "  --pod-cidr CIDR     pod CIDR (default: Node.spec.podCIDR, or the lowest free /24)\n"
    "  --node-ip IP        node InternalIP (default: first non-loopback IPv4)\n"
    "  --run-dir DIR       runtime state and namespace pins (default /run/tug)\n"
    "  --cluster-cidr CIDR pod network of the cluster (default 10.42.0.0/16)\n"
    "  --kubelet-port N    kubelet HTTPS port for logs/exec (default 10250; 0 = any free port)\n"
    "  --cni-bridge NAME   pod network bridge (default tug0)\n"
    "  --cgroup-parent P   parent cgroup of the pods (default /tug)\n";
// After the node runtime flags (NodeRuntimeFlagsUsage).
constexpr const char* kAgentUsageNotes =
    "\n"
    "The token is the server's <data-dir>/agent-token. The kubelet port accepts only client\n"
    "certificates signed by the cluster CA (--ca-file, or the kubeconfig's); without a CA it is\n"
    "not started.\n";

}  // namespace

void ApplyNodeRuntimeFlags(const NodeRuntimeFlags& f, kubelet::AgentOptions& o) {
  o.runc_path = f.runc_path;
  o.container_log_max_size = f.container_log_max_size;
  o.container_log_max_files = f.container_log_max_files;
  o.container_log_monitor_interval = f.container_log_monitor_interval;
}

int RunAgent(const std::vector<std::string>& args) {
  std::string server, token, kubeconfig, ca_file;
  kubelet::AgentOptions o;
  NodeRuntimeFlags node_runtime;
  std::string run_dir = "/run/tug";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kAgentUsage << NodeRuntimeFlagsUsage() << kAgentUsageNotes;
      return 0;
    }
    std::string flag = a, value;
    if (auto eq = a.find('='); eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      std::cerr << "tug agent: flag " << a << " needs a value (see 'tug agent --help')\n";
      return 2;
    }
    if (flag == "--server") server = value;
    else if (flag == "--token") token = value;
    else if (flag == "--kubeconfig") kubeconfig = value;
    else if (flag == "--ca-file") ca_file = value;
    else if (flag == "--node-name") o.node_name = value;
    else if (flag == "--data-dir") o.data_dir = value;
    else if (flag == "--pod-cidr") o.pod_cidr = value;
    else if (flag == "--node-ip") o.node_ip = value;
    else if (flag == "--run-dir") run_dir = value;
    else if (flag == "--cluster-cidr") o.cluster_cidr = value;
    else if (flag == "--cni-bridge") o.cni_bridge = value;
    else if (flag == "--cgroup-parent") o.cgroup_parent = value;
    else if (IsNodeRuntimeFlag(flag)) {
      if (Status s = ParseNodeRuntimeFlag(flag, value, node_runtime); !s.ok()) {
        std::cerr << "tug agent: " << s.message() << "\n";
        return 2;
      }
    }
    else if (flag == "--kubelet-port") {
      char* end = nullptr;
      long p = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || p < 0 || p > 65535) {
        std::cerr << "tug agent: invalid value \"" << value << "\" for flag --kubelet-port\n";
        return 2;
      }
      o.kubelet_port = static_cast<int>(p);
    }
    else {
      std::cerr << "tug agent: unknown flag: " << flag << " (see 'tug agent --help')\n";
      return 2;
    }
  }
  ApplyNodeRuntimeFlags(node_runtime, o);
  o.runtime_state_dir = run_dir + "/runtime";
  o.ns_root = run_dir;
  client::Config config;
  if (!kubeconfig.empty()) {
    auto c = client::LoadKubeconfig(kubeconfig);
    if (!c.ok()) {
      std::cerr << "tug agent: kubeconfig " << kubeconfig << ": " << c.status().message() << "\n";
      return 1;
    }
    config = *c;
  }
  if (!server.empty()) config.server = server;
  if (!token.empty()) config.token = token;
  if (config.server.empty()) {
    std::cerr << "tug agent: --server or --kubeconfig is required (see 'tug agent --help')\n";
    return 2;
  }
  if (!ca_file.empty()) {
    std::ifstream f(ca_file);
    if (!f) {
      std::cerr << "tug agent: cannot read --ca-file " << ca_file << "\n";
      return 1;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    config.ca_pem = ss.str();
  } else if (config.ca_pem.empty() && config.server.rfind("https://", 0) == 0) {
    TUG_LOG(WARNING, "agent") << "no --ca-file: the API server's certificate is not verified";
    config.insecure_skip_verify = true;
  }
  config.user_agent = "tug-agent";
  o.ca_cert_pem = config.ca_pem;  // the kubelet port's client CA
  client::Client client(client::NewHttpsTransport(config));
  auto agent = kubelet::StartAgent(client, o);
  if (!agent.ok()) {
    std::cerr << "tug agent: " << agent.status().ToString() << "\n";
    return 1;
  }
  std::cout << "agent ready: node " << (*agent)->node_name() << std::endl;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  TUG_LOG(INFO, "agent") << "stopping" << kv("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*agent)->Stop();
  return 0;
}

}  // namespace tug::cmd
