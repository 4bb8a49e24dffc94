// The node agent's HTTPS server (port 10250) that the API server proxies to for
// `kubectl logs`, `exec`, `attach`, `cp` and `port-forward`:
//   GET /containerLogs/{ns}/{pod}/{container}?follow&tailLines&sinceSeconds&sinceTime&
//       timestamps&previous&limitBytes      -> text/plain (chunked; follow tails the file until
//                                              the container is no longer running or the
//                                              client goes away, and across rotations: when
//                                              the path names a new file, the old one is read
//                                              to its end and the new one from its start)
//   GET /exec/{ns}/{pod}/{container}?command=..&stdin&stdout&stderr&tty   (also POST)
//   GET /attach/{ns}/{pod}/{container}?stdin&stdout&stderr&tty
//       -> WebSocket upgrade with subprotocol v5.channel.k8s.io or v4.channel.k8s.io
//          (channel byte: 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize, 255 close [v5]),
//          or Upgrade: SPDY/3.1 with X-Stream-Protocol-Version v4/v3/v2/channel.k8s.io
//          (streams by streamType; remote_command.h)
//   GET|POST /portForward/{ns}/{pod}[/{uid}]
//       -> Upgrade: SPDY/3.1 (portforward.k8s.io), SPDY tunnelled in a WebSocket
//          (subprotocol SPDY/3.1+portforward.k8s.io), or WebSocket channels (?port=; portforward.h).
//          The pod's network namespace comes from Runtime::ListPodSandboxes().
//
// Ownership: StartKubeletServer returns the server; the Runtime and the resolver are not owned
// and must outlive it. Thread-safety: one accepting thread plus one thread per connection;
// Stop() may be called from any thread, and is called by the destructor.
#pragma once

#include <functional>
#include <map>
#include <utility>
#include <memory>
#include <string>

#include "base/status.h"
#include "runtime/runtime.h"

namespace tug::kubelet::server {

// What a (namespace, pod, container) names on this node.
struct ContainerTarget {
  std::string container_id;  // runtime container id
  std::string log_path;      // its CRI log file
  std::string sandbox_id;
};

// Maps a request to a container. previous: the previous instance (for `logs --previous`).
// NotFound / BadRequest are answered to the client as they are.
using ContainerResolver = std::function<Result<ContainerTarget>(
    const std::string& ns, const std::string& pod, const std::string& container, bool previous)>;

struct KubeletServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 10250;            // 0: pick a free port
  bool tls = true;             // false: plain HTTP (tests)
  std::string cert_file, key_file;
  // CA for client certificates; non-empty: a client certificate signed by it is required.
  std::string client_ca_file;
  runtime::Runtime* runtime = nullptr;  // required; not owned
  ContainerResolver resolve;             // required
  // Extra GET endpoints by exact path, e.g. "/stats/summary" and "/metrics/resource"
  // (kubelet/stats): the callback returns {content type, body}; an error is answered with its
  // HTTP code and message.
  using GetHandler = std::function<Result<std::pair<std::string, std::string>>()>;
  std::map<std::string, GetHandler> get_handlers;
  int follow_poll_ms = 100;              // how often `follow` looks for new log data
};

class KubeletServer {
 public:
  virtual ~KubeletServer() = default;
  virtual int port() const = 0;
  // Stops accepting, closes open connections, joins every thread. Idempotent.
  virtual void Stop() = 0;
};

Result<std::unique_ptr<KubeletServer>> StartKubeletServer(const KubeletServerOptions& opts);

}  // namespace tug::kubelet::server
