// `tug simnodes`: simulated nodes for control-plane tests and benchmarks (src/simnodes).
// Runs until SIGTERM/SIGINT (which main() blocks so that sigwait sees them).
#pragma once

#include <string>
#include <vector>

namespace tug::cmd {

// The arguments after `tug simnodes`; returns the process exit code (2 for bad flags).
int RunSimNodes(const std::vector<std::string>& args);

}  // namespace tug::cmd
