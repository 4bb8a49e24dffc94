#include "config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <charconv>

#include "controllers/cronjob/cron_schedule.h"
#include "kubelet/logs/container_log_manager.h"

namespace tug::cmd {
namespace {

Result<int> ParseInt(const std::string& flag, const std::string& v, int lo, int hi) {
  int out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || out < lo || out > hi)
    return BadRequestError("invalid value \"" + v + "\" for flag " + flag);
  return out;
}

Result<bool> ParseBool(const std::string& flag, const std::string& v) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return BadRequestError("invalid value \"" + v + "\" for flag " + flag);
}

bool IsIp(const std::string& v) {
  in_addr a4;
  in6_addr a6;
  return inet_pton(AF_INET, v.c_str(), &a4) == 1 || inet_pton(AF_INET6, v.c_str(), &a6) == 1;
}

// "a.b.c.d/n" (IPv4; the pod network is IPv4 today).
bool IsIpv4Cidr(const std::string& v) {
  auto slash = v.find('/');
  if (slash == std::string::npos) return false;
  in_addr a4;
  if (inet_pton(AF_INET, v.substr(0, slash).c_str(), &a4) != 1) return false;
  std::string bits = v.substr(slash + 1);
  int n = 0;
  auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
  return ec == std::errc() && p == bits.data() + bits.size() && !bits.empty() && n >= 0 && n <= 32;
}

}  // namespace

bool IsNodeRuntimeFlag(const std::string& name) {
  return name == "--runc" || name == "--container-log-max-size" || name == "--container-log-max-files" ||
         name == "--container-log-monitor-interval";
}

Status ParseNodeRuntimeFlag(const std::string& name, const std::string& value, NodeRuntimeFlags& f) {
  auto invalid = [&](const std::string& why) {
    return BadRequestError("invalid value \"" + value + "\" for flag " + name + ": " + why);
  };
  if (name == "--runc") {
    if (value.empty() || value[0] != '/') return invalid("not an absolute path");
    if (::access(value.c_str(), X_OK) != 0) return invalid("not an executable file");
    f.runc_path = value;
  } else if (name == "--container-log-max-size") {
    auto size = kubelet::logs::ParseByteQuantity(value);
    if (!size.ok()) return invalid("a quantity greater than 0, such as 10Mi");
    f.container_log_max_size = *size;
  } else if (name == "--container-log-max-files") {
    auto n = ParseInt(name, value, 2, 1 << 20);
    if (!n.ok()) return invalid("must be at least 2");
    f.container_log_max_files = *n;
  } else if (name == "--container-log-monitor-interval") {
    auto d = controllers::cronjob::ParseGoDuration(value);
    if (!d.ok() || *d < std::chrono::milliseconds(1)) return invalid("a duration of at least 1ms, such as 10s");
    f.container_log_monitor_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  } else {
    return BadRequestError("unknown flag: " + name);
  }
  return Status::Ok();
}

std::string NodeRuntimeFlagsUsage() {
  return "  --runc PATH                         the runc binary (default /usr/sbin/runc)\n"
         "  --container-log-max-size Q          rotate a container's log at this size (default 10Mi)\n"
         "  --container-log-max-files N         log files kept per container, the current one\n"
         "                                      included (default 5, at least 2)\n"
         "  --container-log-monitor-interval D  how often logs are checked for rotation (default 10s)\n";
}

Result<ParsedServerArgs> ParseServerFlags(const std::vector<std::string>& args) {
  ParsedServerArgs out;
  Config& c = out.config;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "-h" || a == "--help") {
      out.help = true;
      continue;
    }
    if (a.size() < 2 || a[0] != '-') return BadRequestError("unexpected argument: " + a);
    std::string name = a, value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    if (name.rfind("--", 0) != 0 && name != "-v") return BadRequestError("unknown flag: " + name);
    auto take = [&]() -> Result<std::string> {
      if (has_value) return value;
      if (i + 1 >= args.size()) return BadRequestError("flag needs an argument: " + name);
      return args[++i];
    };
    if (name == "--disable-agent") {
      if (has_value) {
        ASSIGN_OR_RETURN(c.disable_agent, ParseBool(name, value));
      } else {
        c.disable_agent = true;
      }
    } else if (name == "--disable-controller-manager" || name == "--disable-scheduler" ||
               name == "--leader-elect") {
      bool v = true;
      if (has_value) {
        ASSIGN_OR_RETURN(v, ParseBool(name, value));
      }
      (name == "--disable-scheduler" ? c.disable_scheduler
       : name == "--leader-elect"    ? c.leader_elect
                                     : c.disable_controllers) = v;
    } else if (name == "--controllers") {
      ASSIGN_OR_RETURN(std::string v, take());
      c.controllers.clear();
      size_t start = 0;
      while (start <= v.size()) {
        size_t comma = v.find(',', start);
        if (comma == std::string::npos) comma = v.size();
        if (comma > start) c.controllers.push_back(v.substr(start, comma - start));
        start = comma + 1;
      }
    } else if (name == "--data-dir") {
      ASSIGN_OR_RETURN(c.data_dir, take());
      if (c.data_dir.empty()) return BadRequestError("invalid value \"\" for flag --data-dir");
    } else if (name == "--bind-address") {
      ASSIGN_OR_RETURN(c.bind_address, take());
      in_addr a4;
      in6_addr a6;
      if (inet_pton(AF_INET, c.bind_address.c_str(), &a4) != 1 &&
          inet_pton(AF_INET6, c.bind_address.c_str(), &a6) != 1)
        return BadRequestError("invalid value \"" + c.bind_address + "\" for flag --bind-address: not an IP address");
    } else if (name == "--port") {
      ASSIGN_OR_RETURN(std::string v, take());
      ASSIGN_OR_RETURN(c.port, ParseInt(name, v, 1, 65535));
    } else if (name == "--token-auth-file") {
      ASSIGN_OR_RETURN(c.token_auth_file, take());
    } else if (name == "--node-name") {
      ASSIGN_OR_RETURN(c.node_name, take());
    } else if (name == "--node-ip") {
      ASSIGN_OR_RETURN(c.node_ip, take());
      if (!IsIp(c.node_ip))
        return BadRequestError("invalid value \"" + c.node_ip + "\" for flag --node-ip: not an IP address");
    } else if (name == "--pod-cidr" || name == "--cluster-cidr") {
      ASSIGN_OR_RETURN(std::string v, take());
      if (!IsIpv4Cidr(v)) return BadRequestError("invalid value \"" + v + "\" for flag " + name + ": not an IPv4 CIDR");
      (name == "--pod-cidr" ? c.pod_cidr : c.cluster_cidr) = v;
    } else if (name == "--run-dir") {
      ASSIGN_OR_RETURN(c.run_dir, take());
      if (c.run_dir.empty() || c.run_dir[0] != '/')
        return BadRequestError("invalid value \"" + c.run_dir + "\" for flag --run-dir: not an absolute path");
    } else if (name == "--kubelet-port") {
      ASSIGN_OR_RETURN(std::string v, take());
      ASSIGN_OR_RETURN(c.kubelet_port, ParseInt(name, v, 0, 65535));
    } else if (name == "--cni-bridge") {
      ASSIGN_OR_RETURN(c.cni_bridge, take());
      if (c.cni_bridge.empty() || c.cni_bridge.size() > 15)
        return BadRequestError("invalid value \"" + c.cni_bridge + "\" for flag --cni-bridge: 1-15 characters");
    } else if (name == "--cgroup-parent") {
      ASSIGN_OR_RETURN(c.cgroup_parent, take());
      if (c.cgroup_parent.size() < 2 || c.cgroup_parent[0] != '/')
        return BadRequestError("invalid value \"" + c.cgroup_parent + "\" for flag --cgroup-parent");
    } else if (IsNodeRuntimeFlag(name)) {
      ASSIGN_OR_RETURN(std::string v, take());
      RETURN_IF_ERROR(ParseNodeRuntimeFlag(name, v, c.node_runtime));
    } else if (name == "-v" || name == "--v") {
      ASSIGN_OR_RETURN(std::string v, take());
      ASSIGN_OR_RETURN(c.verbosity, ParseInt(name, v, 0, 10));
    } else {
      return BadRequestError("unknown flag: " + name);
    }
  }
  return out;
}

std::string ServerUsage() {
  return "Usage: tug server [flags]\n"
         "\n"
         "Runs the control plane (API server with its embedded store, controllers, scheduler) and,\n"
         "unless --disable-agent, the node agent for this machine (needs root, runc, conmon, CNI).\n"
         "\n"
         "Flags:\n"
         "  --data-dir DIR           state, certificates and admin.kubeconfig (default /var/lib/tug)\n"
         "  --bind-address IP        address to serve HTTPS on (default 0.0.0.0)\n"
         "  --port N                 HTTPS port (default 6443)\n"
         "  --disable-agent          do not run the node agent on this machine\n"
         "  --disable-controller-manager  do not run the controllers (Deployments, Jobs, GC, ...)\n"
         "  --disable-scheduler      do not run the scheduler\n"
         "  --controllers LIST       controllers to run: '*' (default), 'name' enables, '-name' disables\n"
         "  --leader-elect           run the controllers and the scheduler only while holding their\n"
         "                           kube-system Lease (default false: the store has one server)\n"
         "  --token-auth-file FILE   static bearer tokens, CSV: token,user,uid,\"group1,group2\"\n"
         "  -v N                     log verbosity (default 2)\n"
         "\n"
         "Node agent (data in <data-dir>/agent; agents on other machines join with\n"
         "'tug agent --server https://HOST:PORT --token $(cat <data-dir>/agent-token)'):\n"
         "  --node-name NAME         node name (default: the host name, lower case)\n"
         "  --node-ip IP             node InternalIP (default: first non-loopback IPv4)\n"
         "  --pod-cidr CIDR          this node's pod CIDR (default: the lowest free /24 of --cluster-cidr)\n"
         "  --cluster-cidr CIDR      pod network of the cluster (default 10.42.0.0/16)\n"
         "  --run-dir DIR            runtime state and namespace pins (default /run/tug)\n"
         "  --kubelet-port N         kubelet HTTPS port for logs/exec (default 10250; 0 = any free port)\n"
         "  --cni-bridge NAME        pod network bridge (default tug0)\n"
         "  --cgroup-parent PATH     parent cgroup of the pods (default /tug)\n" +
         NodeRuntimeFlagsUsage();
}

}  // namespace tug::cmd
