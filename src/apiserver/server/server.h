// The API server's HTTP/1.1 transport (HTTPS, or plain HTTP for tests): accepts connections,
// parses requests, authenticates them, and hands each one to a Handler (apiserver/http.h) on a
// worker pool. Implements ResponseWriter: Send for a whole response, StartStream/Write/Finish
// for chunked streaming (watch, log follow).
//
// Behaviour:
//  - keep-alive; requests on one connection are answered in order;
//  - request bodies above max_body_bytes get 413 RequestEntityTooLarge and the connection closes;
//  - path and query are percent-decoded (query '+' is a space);
//  - a peer that disconnects while its request is in flight or streaming is noticed at once
//    (a read stays posted while the handler runs): OnClose callbacks fire, Write returns false;
//  - a stream whose unsent output exceeds max_queued_bytes is cut off (Write returns false);
//  - TLS: ALPN "http/1.1"; client certificates are optional and, when sent, verified against the
//    CA during the handshake (a bad one fails the handshake); unauthenticated requests get 401
//    except on authn::IsAnonymousPath paths;
//  - every fd is opened with SOCK_CLOEXEC.
//  - HTTP/1.1 Upgrade (exec, attach, port-forward: `Connection: Upgrade` with `Upgrade: websocket`
//    or `SPDY/3.1`): the request goes to the handler like any other, but nothing more is read
//    from the connection as HTTP. The handler either takes the connection over with
//    ResponseWriter::Hijack (writes the 101 itself and owns the byte stream, TLS included, for as
//    long as it likes) or answers normally, after which the connection closes. ALPN only ever
//    selects http/1.1, so clients never switch to HTTP/2 (where upgrades do not exist).
//    Server::Stop cuts upgraded connections too.
//
// Threading (C7): `io_threads` threads run an asio io_context; each connection is serialized on
// its own strand. While a connection streams a response it is served by `stream_io_threads`
// other threads (at nice `stream_nice`, default 0), still one strand at a time. Handler::Handle runs on a worker pool that grows on demand up to
// `max_workers`, so handlers may block (store writes); a request for which
// Handler::HandlesInline is true is handled on the I/O thread instead (no hand-off).
// ResponseWriter methods may be called from any thread; they post to the connection's strand.
// OnClose callbacks run on the thread that sees the end of the response or connection (usually
// an I/O thread): they must be short and must not block (signal a condition variable, cancel a
// subscription).
// A handler may block in Handle (e.g. for a whole watch); each such handler holds one worker, so
// max_workers bounds concurrent blocking handlers.
//
// Lifecycle (C8): Start() binds and begins serving; Stop() stops accepting, cuts open
// connections (in-flight handlers finish, their writes are dropped), and joins every thread.
// The destructor calls Stop().
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "apiserver/authn/authn.h"
#include "apiserver/http.h"
#include "base/status.h"

namespace tug::apiserver::server {

struct TlsOptions {
  std::string cert_file;       // serving certificate (PEM)
  std::string key_file;        // its key (PEM)
  std::string client_ca_file;  // CA for client certificates; empty: no client cert auth
};

struct ServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 6443;                     // 0: pick a free port (see Server::port())
  bool tls = true;                     // false: plain HTTP (tests)
  TlsOptions tls_files;
  // Null: no authentication at all (Request::user stays empty). Not owned; must outlive Server.
  const authn::Authenticator* authenticator = nullptr;
  size_t max_body_bytes = 3 * 1024 * 1024;
  size_t max_queued_bytes = 16 * 1024 * 1024;
  // A stream (watch) whose connection is idle has what its handler wrote pulled after at most
  // this delay (one timer for all connections), so events written meanwhile leave as one write:
  // fewer TLS records, syscalls and wake-ups on both ends. A busy connection pulls again as soon
  // as its previous write completes. 0: at once.
  std::chrono::milliseconds stream_flush_delay{5};
  size_t max_header_bytes = 1024 * 1024;
  int io_threads = 2;
  // A streaming response (watch, log follow), once its header is queued, is served by these
  // threads instead of the io_threads (and back when it ends), so writes and other requests
  // never wait behind the fan-out to many watchers. 0 threads: streams stay on the io_threads.
  // stream_nice: their nice value (Linux: per thread). 0 by default: a positive value lets any
  // busy process on the machine (containers, the watch clients themselves) starve the fan-out.
  int stream_io_threads = 2;
  int stream_nice = 0;
  int min_workers = 4;
  int max_workers = 512;               // long blocking handlers (watches) each hold one
  // From accept. 32 s as kube-apiserver (Go bounds the TLS handshake by its server's
  // ReadHeaderTimeout): a reconnect storm of 1,000 watchers with client certificates on a
  // loaded machine needs more than 10 s.
  int handshake_timeout_seconds = 32;
  // TLS handshakes in progress at once; more connections wait in the kernel's
  // accept queue (first come, first served, each one's timeout starting at its accept) so a
  // storm is served in order instead of every handshake progressing slowly together. Off by
  // default: connections that never handshake would hold the slots until their timeout and
  // keep everyone else waiting. 0: no limit.
  int max_concurrent_handshakes = 0;
};

class Server {
 public:
  virtual ~Server() = default;
  // The bound port (useful with port 0).
  virtual int port() const = 0;
  // Idempotent. Blocks until every thread has exited.
  virtual void Stop() = 0;
  // Connections currently open (for tests and metrics).
  virtual size_t open_connections() const = 0;
};
using ServerPtr = std::unique_ptr<Server>;

// Binds, listens and starts serving `handler` (not owned; must outlive the Server).
// Errors: Unavailable (address in use, cannot bind), BadRequest (bad TLS files).
Result<ServerPtr> StartServer(const ServerOptions& opts, Handler& handler);

// Percent-decodes s; in a query '+' means space. Invalid escapes are kept as they are.
std::string PercentDecode(std::string_view s, bool is_query);
// Splits a raw query into decoded key/value pairs, in order.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view raw);

}  // namespace tug::apiserver::server
