#include "simnodes.h"

#include <signal.h>

#include <iostream>

#include "base/log.h"
#include "client/client.h"
#include "simnodes/flags.h"
#include "simnodes/simnodes.h"

namespace tug::cmd {

int RunSimNodes(const std::vector<std::string>& args) {
  auto parsed = simnodes::ParseFlags(args);
  if (!parsed.ok()) {
    std::cerr << "tug simnodes: " << parsed.status().message() << " (see 'tug simnodes --help')\n";
    return 2;
  }
  if (parsed->help) {
    std::cout << simnodes::Usage();
    return 0;
  }
  log::SetVerbosity(parsed->verbosity);
  auto config = client::LoadKubeconfig(parsed->kubeconfig);
  if (!config.ok()) {
    std::cerr << "tug simnodes: kubeconfig " << parsed->kubeconfig << ": " << config.status().message() << "\n";
    return 1;
  }
  if (!parsed->server.empty()) config->server = parsed->server;
  config->user_agent = "tug-simnodes";
  client::Client client(client::NewHttpsTransport(*config));
  simnodes::SimNodes sim(client, parsed->options);
  if (Status st = sim.Start(); !st.ok()) {
    std::cerr << "tug simnodes: " << st.ToString() << "\n";
    sim.Stop();
    return 1;
  }
  // One line on stdout for scripts and tests waiting for the nodes.
  std::cout << "simnodes ready: " << parsed->options.count << " nodes " << sim.NodeName(0) << ".."
            << sim.NodeName(parsed->options.count - 1) << std::endl;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  TUG_LOG(INFO, "simnodes") << "stopping; nodes stay registered" << kv("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  sim.Stop();
  auto s = sim.stats();
  TUG_LOG(INFO, "simnodes") << "stopped" << kv("pods_started", s.pods_started) << kv("pods_terminated", s.pods_terminated)
                            << kv("pods_deleted", s.pods_deleted) << kv("lease_renewals", s.lease_renewals)
                            << kv("request_errors", s.request_errors);
  return 0;
}

}  // namespace tug::cmd
