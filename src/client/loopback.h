// The in-process loopback transport: a Transport that hands each request straight to an
// apiserver::Handler (the REST handler of this process) without sockets or TLS, so in-process
// components talk to the API server exactly as remote ones do (DESIGN.md §2).
//
//   auto t = client::NewLoopbackTransport(*rest_handler, {"system:kube-scheduler", "", {"system:authenticated"}});
//   client::Client c(t);
//
// Do() builds an apiserver::Request and calls handler.Handle on the caller's thread, then waits
// for the answer (a handler may answer from another thread).
// Open() gives each stream one delivery thread: it calls Handle, then feeds what the handler
// writes (StartStream/Write/Finish, or Send) to on_head/on_data/on_end in order. Handler writes
// only queue (they never run client callbacks under the handler's locks). Cancel (or destroying
// the Stream) behaves as a closed connection: the writer reports Closed(), Write returns false,
// OnClose callbacks run, and no client callback runs once Cancel returns (unless Cancel is called
// from one of them). A stream whose undelivered bytes exceed `max_queued_bytes` is cut off, as
// the network server does with a slow reader (the client sees on_end(Unavailable)).
//
// Ownership: the transport borrows the handler, which must outlive it and every open stream.
// Thread-safety: Do and Open may be called from any number of threads.
#pragma once

#include <cstddef>
#include <memory>

#include "apiserver/http.h"
#include "client/client.h"

namespace tug::client {

struct LoopbackOptions {
  size_t max_queued_bytes = 64u << 20;
};

std::shared_ptr<Transport> NewLoopbackTransport(apiserver::Handler& handler, apiserver::UserInfo user);
std::shared_ptr<Transport> NewLoopbackTransport(apiserver::Handler& handler, apiserver::UserInfo user,
                                                LoopbackOptions opts);

}  // namespace tug::client
