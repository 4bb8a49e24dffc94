// tug: one binary for the whole cluster. This file only dispatches subcommands (C1).
//
//   tug server [flags]   control plane (see server.h)
//   tug --version        prints the version
//
// An unknown subcommand or flag prints one line on stderr and exits 2.

#include <malloc.h>

#include <csignal>

#include <iostream>
#include <string>
#include <vector>

#include "agent.h"
#include "config.h"
#include "images.h"
#include "server.h"
#include "simnodes.h"
#include "version.h"

namespace {

constexpr const char* kUsage =
    "Usage: tug <command> [flags]\n"
    "\n"
    "Commands:\n"
    "  server      run the control plane (API server) on this machine\n"
    "  agent       run the node agent (kubelet) against a remote API server\n"
    "  images      manage the node's images (import, pull, ls, rm)\n"
    "  simnodes    simulated nodes for control-plane tests and benchmarks\n"
    "\n"
    "Flags:\n"
    "  --version   print the version and exit\n"
    "  --help      show this help\n";

}  // namespace

int main(int argc, char** argv) {
  // glibc malloc tuning, before any thread exists. Without it the server's RSS grew to 3 GB
  // with 10k pods while its live heap stayed under 100 MB: every worker thread got its own
  // arena that kept freed memory, and after one large LIST buffer was freed the dynamic mmap
  // threshold moved up so later large buffers fragmented the heap. Two arenas, and large
  // buffers always mmapped (returned to the kernel on free).
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // A write to a pipe whose reader is gone (an exec'd process that exited, a CNI plugin) must be
  // an EPIPE for the writer, not the end of the whole server or agent. Children get SIG_DFL back
  // (runtime/oci/sys.cc, network/cni) before exec.
  signal(SIGPIPE, SIG_IGN);
  // Before any thread exists, so every thread inherits the mask and only sigwait sees them.
  tug::cmd::BlockTerminationSignals();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& cmd = args[0];
  if (cmd == "--version" || cmd == "version") {
    auto v = tug::cmd::BuildVersion();
    std::cout << "tug version " << v.git_version << " (commit " << v.git_commit << ", built " << v.build_date
              << ")\n";
    return 0;
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "agent") return tug::cmd::RunAgent({args.begin() + 1, args.end()});
  if (cmd == "images") return tug::cmd::RunImages({args.begin() + 1, args.end()});
  if (cmd == "simnodes") return tug::cmd::RunSimNodes({args.begin() + 1, args.end()});
  if (cmd == "server") {
    auto parsed = tug::cmd::ParseServerFlags({args.begin() + 1, args.end()});
    if (!parsed.ok()) {
      std::cerr << "tug server: " << parsed.status().message() << " (see 'tug server --help')\n";
      return 2;
    }
    if (parsed->help) {
      std::cout << tug::cmd::ServerUsage();
      return 0;
    }
    return tug::cmd::RunServer(parsed->config);
  }
  if (!cmd.empty() && cmd[0] == '-')
    std::cerr << "tug: unknown flag: " << cmd << " (see 'tug --help')\n";
  else
    std::cerr << "tug: unknown command \"" << cmd << "\" (see 'tug --help')\n";
  return 2;
}
