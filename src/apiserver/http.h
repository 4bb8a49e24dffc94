// The contract between the HTTP(S) transport (apiserver/server) and request handlers
// (apiserver/rest, discovery, health): a decoded Request and a ResponseWriter that can
// answer once, or stream (chunked) for watch and log follow.
//
// Threading: the transport runs its sockets on an asio event loop; Handler::Handle is called on
// a worker thread and may block briefly (store writes). A streaming handler keeps the writer
// and calls Write() from any thread; writes are posted to the connection's event loop.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace tug::apiserver {

struct UserInfo {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
  // Added by sa-tokens: user.Info's Extra (ServiceAccount tokens carry
  // "authentication.kubernetes.io/pod-name", ".../pod-uid", ".../credential-id", ...).
  std::map<std::string, std::vector<std::string>> extra;
};

struct Request {
  std::string method;     // "GET", "POST", "PUT", "PATCH", "DELETE"
  std::string path;       // percent-decoded path without the query, e.g. "/api/v1/namespaces/default/pods"
  std::string raw_query;  // as received, without '?'
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names as received
  std::string body;
  UserInfo user;          // set by the transport after authentication
  std::string remote_addr;

  // First value of a query parameter, or def.
  std::string Query(std::string_view name, std::string_view def = "") const;
  bool HasQuery(std::string_view name) const;
  std::vector<std::string> QueryAll(std::string_view name) const;
  // Header value by case-insensitive name, or "".
  std::string Header(std::string_view name) const;
};

// Added by stream-api: a connection taken over by a handler after an HTTP/1.1 Upgrade request
// (exec/attach/port-forward: `Upgrade: websocket` or `Upgrade: SPDY/3.1`). It is the raw byte
// stream in both directions, TLS already terminated; the handler writes the 101 answer itself.
// Thread-safety: one Read and one Write may be in progress at once (from two threads);
// ShutdownWrite and Close may be called from any thread, and Close unblocks both.
class UpgradedConn {
 public:
  virtual ~UpgradedConn() = default;  // closes the connection
  // Blocks until some bytes arrived (at most n). 0 means the peer closed. Errors: Unavailable.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  // Blocks until all of data has been handed to the socket. Errors: Unavailable.
  virtual Status Write(std::string_view data) = 0;
  // No more writes: the peer reads end of stream (TCP FIN); reading goes on.
  virtual void ShutdownWrite() = 0;
  virtual void Close() = 0;
};
using UpgradedConnPtr = std::unique_ptr<UpgradedConn>;

// Added by stream-api: true for an HTTP/1.1 request asking for a protocol switch
// (a `Connection` header holding the token "upgrade" and a non-empty `Upgrade` header).
bool IsUpgradeRequest(const Request& req);

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // A complete response. Call at most once, and not after StartStream.
  virtual void Send(int code, std::string content_type, std::string body,
                    std::vector<std::pair<std::string, std::string>> extra_headers = {}) = 0;
  // Begins a chunked streaming response.
  virtual void StartStream(int code, std::string content_type) = 0;
  // Queues one chunk. Non-blocking. Returns false when the client has gone or has fallen
  // too far behind (the stream is then being closed; stop writing).
  virtual bool Write(std::string chunk) = 0;
  // Added by watch: queues one chunk made of `pieces` in order, without copying them per
  // writer (a watch event's bytes are shared by every watcher). Same semantics as Write; the
  // pieces must not change afterwards. The default concatenates and calls Write.
  virtual bool WriteShared(std::span<const std::shared_ptr<const std::string>> pieces) {
    std::string chunk;
    for (const auto& p : pieces) chunk += *p;
    return Write(std::move(chunk));
  }
  // Ends the stream.
  virtual void Finish() = 0;
  // Runs cb once when the connection closes or the response completes (from any thread).
  // If already closed, runs cb at once.
  virtual void OnClose(std::function<void()> cb) = 0;
  virtual bool Closed() const = 0;
  // Added by stream-api: takes over the connection of an upgrade request (IsUpgradeRequest)
  // instead of answering it with Send/StartStream. Nothing has been written to it; the transport
  // never touches it again (OnClose callbacks fire now). Errors: BadRequest when this writer
  // cannot hand over its connection (not an upgrade request, a response already started, an
  // in-process transport); then answer normally.
  virtual Result<UpgradedConnPtr> Hijack() {
    return BadRequestError("this connection cannot be upgraded");
  }
};
using ResponseWriterPtr = std::shared_ptr<ResponseWriter>;

class Handler {
 public:
  virtual ~Handler() = default;
  virtual void Handle(Request req, ResponseWriterPtr w) = 0;
  // Added by apiperf: true when Handle(req) never blocks (it answers at once, or later from
  // another thread), so the transport may call it on its I/O thread and skip the hand-off to a
  // worker. Must be cheap and must not change req. Default: false (Handle runs on a worker).
  virtual bool HandlesInline(const Request& req) const { return false; }
};

// metav1.Status JSON for an error (the one place a Status becomes metav1.Status, C3).
std::string StatusJson(const Status& st);
// A success Status body ({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",...}).
std::string SuccessStatusJson(const std::string& name, const std::string& group, const std::string& kind,
                              const std::string& uid);
// Sends StatusJson(st) with its HTTP code and application/json.
void SendStatus(ResponseWriter& w, const Status& st);

}  // namespace tug::apiserver
