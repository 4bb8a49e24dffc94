// `tug server` configuration and flag parsing (composition root, C1/C8).
//
// Flags: --data-dir DIR (/var/lib/tug), --bind-address IP (0.0.0.0), --port N (6443),
// --disable-agent, --token-auth-file FILE, -v N / --v N. Both `--flag value` and `--flag=value`.
// Thread-safety: plain values and pure functions.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace tug::cmd {

struct Config {
  std::string data_dir = "/var/lib/tug";
  std::string bind_address = "0.0.0.0";
  int port = 6443;
  bool disable_agent = false;
  bool disable_controllers = false;  // --disable-controller-manager (as k3s)
  bool disable_scheduler = false;    // --disable-scheduler
  // --controllers: upstream-style list ("*", "foo", "-foo"); empty = every default controller.
  std::vector<std::string> controllers;
  std::string token_auth_file;
  int verbosity = 2;
};

// What a command line asked for.
struct ParsedServerArgs {
  Config config;
  bool help = false;
};

// Parses the arguments after `tug server`. Errors: BadRequest with a one-line message
// ("unknown flag: --foo", "flag needs an argument: --port", "invalid value ...").
Result<ParsedServerArgs> ParseServerFlags(const std::vector<std::string>& args);

// Usage text for `tug server --help`.
std::string ServerUsage();

}  // namespace tug::cmd
