// `tug server`: starts the control-plane components in dependency order and tears them down in
// reverse on SIGTERM/SIGINT (C8). This is the composition root: it owns every component.
//
// Order: data-dir lock -> token file -> PKI -> root handler + HTTPS server -> (store, REST
// handler: wired by the integrator at the marked places) -> ready.
//
// Threading: RunServer runs on the main thread and waits for SIGTERM/SIGINT with sigwait; the
// caller must have blocked those signals in every thread (BlockTerminationSignals before
// starting any thread).
#pragma once

#include "config.h"

namespace tug::cmd {

// Blocks SIGTERM and SIGINT for the calling thread (and threads it starts later).
void BlockTerminationSignals();

// Runs the server until SIGTERM/SIGINT. Returns the process exit code: 0 after a clean
// shutdown, 1 on a start-up failure (a one-line message on stderr).
int RunServer(const Config& config);

}  // namespace tug::cmd
