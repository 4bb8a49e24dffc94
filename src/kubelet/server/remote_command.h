// exec and attach sessions for the kubelet server: starting the process side (runtime Exec or
// conmon Attach), the Status JSON of the error channel, and the SPDY/3.1 remote-command
// protocol (kubectl <= 1.29 and the SPDY fallback of newer ones):
//   - X-Stream-Protocol-Version negotiation: v4.channel.k8s.io, v3, v2, channel.k8s.io (v5 is
//     WebSocket-only, so a client offering v5 first gets v4);
//   - one stream per channel, chosen by its `streamType` header (error, stdin, stdout, stderr,
//     resize); the process starts once every expected stream is open (30 s limit);
//   - v4 writes a metav1.Status JSON on the error stream (Success, or NonZeroExitCode with an
//     ExitCode cause); v1-v3 write only failures, as text; then every stream is half-closed and
//     the connection ends with GOAWAY.
//
// Ownership: a RemoteProcess owns its exec session or attach socket. Thread-safety: the SPDY
// server runs on the calling thread's io_context; nothing is shared across threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "base/status.h"
#include "kubelet/server/byte_transport.h"
#include "runtime/runtime.h"

namespace tug::kubelet::server {

struct RemoteCommandOptions {
  std::vector<std::string> command;  // exec only
  bool stdin = false, stdout = true, stderr = true, tty = false;
};

// The process side of an exec or attach stream.
struct StreamProcess {
  std::vector<std::pair<int, uint8_t>> outputs;  // fd (owned by the source) -> channel (1, 2)
  bool packets = false;                          // attach: each read is <stream byte><data>
  std::function<void(std::string_view)> write_stdin;
  std::function<void()> close_stdin;
  std::function<void(uint16_t rows, uint16_t cols)> resize;
  std::function<Result<int>()> wait;  // exit code, after the outputs ended
  // attach: the session ends when the client's stdin ends (close_stdin), without waiting for
  // the outputs — as CRI-O and containerd end an attach whose container is neither stdinOnce
  // nor attached with a tty (those keep streaming until the container's output ends).
  bool end_with_stdin = false;
};

class RemoteProcess {
 public:
  RemoteProcess() = default;
  ~RemoteProcess();  // closes the attach socket; the exec session kills a process still running
  RemoteProcess(const RemoteProcess&) = delete;
  RemoteProcess& operator=(const RemoteProcess&) = delete;

  StreamProcess proc;
  std::unique_ptr<runtime::ExecSession> session;
  int attach_fd = -1;
};

// Starts `o.command` in the container (exec) or connects to its console (attach).
Result<std::unique_ptr<RemoteProcess>> StartRemoteProcess(runtime::Runtime& rt, const std::string& container_id,
                                                          bool exec, const RemoteCommandOptions& o);

// Status JSON for the error channel: Success, or Failure/NonZeroExitCode with an ExitCode cause.
std::string ExitStatusJson(int code);
// Failure/InternalError Status JSON.
std::string FailureJson(const std::string& msg);
// Writes all of data to a (possibly non-blocking) fd; gives up on errors.
void WriteAll(int fd, std::string_view data);

// SPDY protocols for exec/attach, preferred first.
const std::vector<std::string>& SpdyRemoteCommandProtocols();

// Runs the SPDY side of exec/attach on `ioc` until the session ends. `protocol` is the
// negotiated X-Stream-Protocol-Version; `start` is called once the streams are open.
void ServeSpdyRemoteCommand(boost::asio::io_context& ioc, std::unique_ptr<ByteTransport> transport,
                            const std::string& protocol, const RemoteCommandOptions& o,
                            std::function<Result<std::unique_ptr<RemoteProcess>>()> start);

}  // namespace tug::kubelet::server
