// Port-forward for the kubelet server (/portForward/{ns}/{pod}[/{uid}]): each forwarded
// connection is a TCP connection to localhost:<port> made inside the pod's network namespace
// (setns on a short-lived helper thread; the socket stays in that namespace), with bytes piped
// both ways and half-closes passed on.
//
// Protocols:
//   - SPDY/3.1 (`X-Stream-Protocol-Version: portforward.k8s.io`, and the same SPDY byte stream
//     tunnelled in WebSocket binary messages, subprotocol `SPDY/3.1+portforward.k8s.io`, which
//     kubectl 1.31+ uses): per connection the client opens an `error` and a `data` stream with
//     headers `port` and `requestID`; a failure is written on the error stream as
//     "error forwarding port <p> to pod <sandbox>, uid : <reason>".
//   - WebSocket channels (`v4.channel.k8s.io`, `portforward.k8s.io` or no subprotocol) with
//     `?ports=p1,p2`: channel 2i carries data for port i and 2i+1 its errors; the server first
//     sends the port (uint16 little endian) on both channels.
//
// Ownership: the Serve* functions own their connection state and return when it ends.
// Thread-safety: they run on the caller's io_context; helper threads only dial and hand the
// socket back through the io_context; every fd is close-on-exec.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "base/status.h"
#include "kubelet/server/byte_transport.h"
#include "runtime/runtime.h"

namespace tug::kubelet::server {

// Where a pod's ports are reached.
struct PodNetworkTarget {
  std::string sandbox_id;
  std::string netns_path;  // empty: the host's namespace (hostNetwork pods)
};

// The pod's ready (else newest) sandbox on this node. uid: optional filter. NotFound when none.
Result<PodNetworkTarget> FindPodNetwork(runtime::Runtime& rt, const std::string& ns, const std::string& pod,
                                        const std::string& uid);

// Connects to localhost:port (127.0.0.1, then ::1) inside netns_path. Blocking; returns a
// connected close-on-exec socket, or the reason it failed (containerd's wording).
Result<int> DialInNetns(const std::string& netns_path, const std::string& sandbox_id, int port);

// The SPDY/3.1 port-forward protocol over `transport` until the client goes away.
void ServeSpdyPortForward(boost::asio::io_context& ioc, std::unique_ptr<ByteTransport> transport,
                          const PodNetworkTarget& target);

// The WebSocket channel protocol (message transport) for `ports` until every port is done or
// the client goes away.
void ServeWebSocketPortForward(boost::asio::io_context& ioc, std::unique_ptr<ByteTransport> transport,
                               const PodNetworkTarget& target, const std::vector<int>& ports);

// Parses `ports` query values ("80,8080"); BadRequest for an empty list or a bad port.
Result<std::vector<int>> ParsePortList(const std::vector<std::string>& values);

}  // namespace tug::kubelet::server
