#include "simnodes/flags.h"

#include <charconv>
#include <cstdlib>

namespace tug::simnodes {
namespace {

Result<int64_t> ParseInt(const std::string& flag, const std::string& v, int64_t lo, int64_t hi) {
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || out < lo || out > hi)
    return BadRequestError("invalid value \"" + v + "\" for flag " + flag);
  return out;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.empty()) return BadRequestError("invalid duration \"\"");
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (i == start) return BadRequestError("invalid duration \"" + std::string(text) + "\"");
    std::string num(text.substr(start, i - start));
    char* end = nullptr;
    double v = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size()) return BadRequestError("invalid duration \"" + std::string(text) + "\"");
    size_t ustart = i;
    while (i < text.size() && !((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    std::string_view unit = text.substr(ustart, i - ustart);
    double scale;
    if (unit == "ns") scale = 1e-6;
    else if (unit == "us" || unit == "µs") scale = 1e-3;
    else if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1e3;
    else if (unit == "m") scale = 60e3;
    else if (unit == "h") scale = 3600e3;
    else return BadRequestError("invalid duration \"" + std::string(text) + "\": unknown unit \"" + std::string(unit) + "\"");
    total_ms += v * scale;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms + 0.5));
}

std::string Usage() {
  return "Usage: tug simnodes --kubeconfig FILE --count N [flags]\n"
         "\n"
         "Registers N simulated nodes and plays kubelet for the pods bound to them (for tests and\n"
         "benchmarks of the control plane). SIGTERM/SIGINT stop it; the nodes stay registered.\n"
         "\n"
         "Flags:\n"
         "  --kubeconfig FILE      credentials and server (required)\n"
         "  --server URL           API server URL (overrides the kubeconfig's)\n"
         "  --count N              number of nodes (required)\n"
         "  --name-prefix P        node names are P<index> (default sim-)\n"
         "  --first-index I        first node index; a second process uses another range (default 0)\n"
         "  --cpu Q                cpu capacity per node (default 4)\n"
         "  --memory Q             memory capacity per node (default 16Gi)\n"
         "  --pods N               pod capacity per node (default 110)\n"
         "  --startup-delay D      bound pod -> Running (default 1s)\n"
         "  --run-time D           Running -> exit, for restartPolicy Never/OnFailure (default 5s)\n"
         "  --kill-delay D         longest simulated termination of a deleted pod (default 500ms)\n"
         "  --crash-backoff D      first restart delay of a failed OnFailure container (default 10s)\n"
         "  --lease-interval D     node Lease renewal interval (default 10s)\n"
         "  --labels k=v,...       extra node labels\n"
         "  --taints k=v:E,...     node taints (E: NoSchedule, PreferNoSchedule, NoExecute)\n"
         "  --kubelet-version V    reported kubelet version (default v1.33.0)\n"
         "  --workers N            concurrent API requests (default 8)\n"
         "  -v, --v N              log verbosity (default 2)\n"
         "\n"
         "A pod's containers exit with the code in its annotation tug.dev/sim-exit-code (default 0).\n";
}

Result<CommandLine> ParseFlags(const std::vector<std::string>& args) {
  CommandLine out;
  Options& o = out.options;
  bool have_count = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
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
    if (!has_value) {
      if (i + 1 >= args.size()) return BadRequestError("flag needs an argument: " + name);
      value = args[++i];
    }
    auto duration = [&](std::chrono::milliseconds& dst) -> Status {
      auto d = ParseDuration(value);
      if (!d.ok()) return BadRequestError("invalid value \"" + value + "\" for flag " + name);
      dst = *d;
      return Status::Ok();
    };
    if (name == "--server") {
      out.server = value;
    } else if (name == "--kubeconfig") {
      out.kubeconfig = value;
    } else if (name == "--count") {
      ASSIGN_OR_RETURN(int64_t n, ParseInt(name, value, 1, 100000));
      o.count = static_cast<int>(n);
      have_count = true;
    } else if (name == "--name-prefix") {
      if (value.empty()) return BadRequestError("invalid value \"\" for flag --name-prefix");
      o.name_prefix = value;
    } else if (name == "--first-index") {
      ASSIGN_OR_RETURN(int64_t n, ParseInt(name, value, 0, 1000000));
      o.first_index = static_cast<uint32_t>(n);
    } else if (name == "--cpu") {
      o.shape.cpu = value;
    } else if (name == "--memory") {
      o.shape.memory = value;
    } else if (name == "--pods") {
      ASSIGN_OR_RETURN(int64_t n, ParseInt(name, value, 0, 1000000));
      o.shape.pods = std::to_string(n);
    } else if (name == "--startup-delay") {
      RETURN_IF_ERROR(duration(o.startup_delay));
    } else if (name == "--run-time") {
      RETURN_IF_ERROR(duration(o.run_time));
    } else if (name == "--kill-delay") {
      RETURN_IF_ERROR(duration(o.kill_delay));
    } else if (name == "--crash-backoff") {
      RETURN_IF_ERROR(duration(o.crash_backoff));
    } else if (name == "--lease-interval") {
      std::chrono::milliseconds d;
      RETURN_IF_ERROR(duration(d));
      if (d < std::chrono::seconds(1)) return BadRequestError("invalid value \"" + value + "\" for flag " + name);
      o.lease_renew_interval = std::chrono::duration_cast<std::chrono::seconds>(d);
    } else if (name == "--labels") {
      auto l = ParseLabels(value);
      if (!l.ok()) return BadRequestError("--labels: " + l.status().message());
      o.shape.labels = std::move(l).value();
    } else if (name == "--taints") {
      auto t = ParseTaints(value);
      if (!t.ok()) return BadRequestError("--taints: " + t.status().message());
      o.shape.taints = std::move(t).value();
    } else if (name == "--kubelet-version") {
      o.shape.kubelet_version = value;
    } else if (name == "--workers") {
      ASSIGN_OR_RETURN(int64_t n, ParseInt(name, value, 1, 256));
      o.workers = static_cast<int>(n);
    } else if (name == "-v" || name == "--v") {
      ASSIGN_OR_RETURN(int64_t n, ParseInt(name, value, 0, 10));
      out.verbosity = static_cast<int>(n);
    } else {
      return BadRequestError("unknown flag: " + name);
    }
  }
  if (out.help) return out;
  if (!have_count) return BadRequestError("--count is required");
  if (out.kubeconfig.empty()) return BadRequestError("--kubeconfig is required");
  return out;
}

}  // namespace tug::simnodes
