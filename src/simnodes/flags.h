// `tug simnodes` command line: flags -> simnodes::Options plus where the API server is.
//
//   tug simnodes --kubeconfig F [--server URL] --count N [--name-prefix sim-] [--first-index 0]
//     [--cpu 4] [--memory 16Gi] [--pods 110] [--startup-delay 1s] [--run-time 5s]
//     [--kill-delay 500ms] [--labels k=v,...] [--taints k=v:Effect,...] [--workers 8] [-v N]
//
// Both `--flag value` and `--flag=value`. Durations are Go-style ("1s", "250ms", "1m30s", "0").
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "simnodes/simnodes.h"

namespace tug::simnodes {

struct CommandLine {
  std::string server;      // overrides the kubeconfig's server when set
  std::string kubeconfig;
  int verbosity = 2;
  bool help = false;
  Options options;
};

// Errors: BadRequest with a one-line message ("unknown flag: --foo", "invalid value ...").
Result<CommandLine> ParseFlags(const std::vector<std::string>& args);
std::string Usage();

// Go duration syntax: a sequence of <number><unit> with units ns, us, ms, s, m, h; "0" alone.
// Errors: BadRequest.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace tug::simnodes
