#include "config.h"

#include <arpa/inet.h>

#include <charconv>

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

}  // namespace

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
    } else if (name == "--disable-controller-manager" || name == "--disable-scheduler") {
      bool v = true;
      if (has_value) {
        ASSIGN_OR_RETURN(v, ParseBool(name, value));
      }
      (name == "--disable-scheduler" ? c.disable_scheduler : c.disable_controllers) = v;
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
         "Runs the control plane (API server with its embedded store) on this machine.\n"
         "\n"
         "Flags:\n"
         "  --data-dir DIR           state, certificates and admin.kubeconfig (default /var/lib/tug)\n"
         "  --bind-address IP        address to serve HTTPS on (default 0.0.0.0)\n"
         "  --port N                 HTTPS port (default 6443)\n"
         "  --disable-agent          do not run the node agent on this machine\n"
         "  --disable-controller-manager  do not run the controllers (Deployments, Jobs, GC, ...)\n"
         "  --disable-scheduler      do not run the scheduler\n"
         "  --controllers LIST       controllers to run: '*' (default), 'name' enables, '-name' disables\n"
         "  --token-auth-file FILE   static bearer tokens, CSV: token,user,uid,\"group1,group2\"\n"
         "  -v N                     log verbosity (default 2)\n";
}

}  // namespace tug::cmd
