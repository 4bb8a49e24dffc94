// SPDY/3.1 for the kubelet's streaming endpoints (exec, attach, port-forward): the frame codec
// (control frames SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS,
// WINDOW_UPDATE and DATA frames; header blocks compressed with zlib and the SPDY/3 dictionary,
// one compression context per direction) and a server-side Session that runs the protocol over
// a ByteTransport on one asio io_context.
//
// Flow control: the session advertises the default 64 KiB windows and sends WINDOW_UPDATE (per
// stream and for the connection) as the handler reports consumed bytes. Go's spdystream, which
// kubectl and the Kubernetes API server use, implements no flow control and never sends
// SETTINGS or WINDOW_UPDATE; a peer that sends either is taken to implement SPDY/3.1 flow
// control, and from then on the session never sends more than that peer's windows allow.
//
// Ownership: FrameParser/FrameWriter are plain values. A Session is held by shared_ptr (its
// asynchronous operations keep it alive) and owns its transport.
// Thread-safety: none; a Session and everything it calls back run on the io_context's single
// thread. The codec classes are used by one thread at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/status.h"
#include "kubelet/server/byte_transport.h"

namespace tug::kubelet::server::spdy {

constexpr uint16_t kVersion = 3;

enum FrameType : uint16_t {
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

constexpr uint8_t kFlagFin = 0x01;
constexpr uint8_t kFlagUnidirectional = 0x02;

// RST_STREAM status codes.
enum RstStatus : uint32_t {
  kProtocolError = 1,
  kInvalidStream = 2,
  kRefusedStream = 3,
  kUnsupportedVersion = 4,
  kCancel = 5,
  kInternalError = 6,
  kFlowControlError = 7,
  kStreamInUse = 8,
  kStreamAlreadyClosed = 9,
  kFrameTooLarge = 11,
};

constexpr uint32_t kSettingsInitialWindowSize = 7;
constexpr int64_t kDefaultWindow = 65536;

// Header names are lowercase on the wire; values with several entries are NUL-separated.
using Headers = std::vector<std::pair<std::string, std::string>>;
// The first value of `name` (compared case-insensitively), or "".
std::string HeaderValue(const Headers& h, std::string_view name);

// The SPDY/3 header compression dictionary (1423 bytes).
const std::string& Dictionary();

// One direction's header compression context (zlib stream with the dictionary, one sync flush
// per header block).
class HeaderCompressor {
 public:
  HeaderCompressor();
  ~HeaderCompressor();
  HeaderCompressor(const HeaderCompressor&) = delete;
  HeaderCompressor& operator=(const HeaderCompressor&) = delete;
  Result<std::string> Compress(const Headers& h);

 private:
  struct Z;
  std::unique_ptr<Z> z_;
};

class HeaderDecompressor {
 public:
  HeaderDecompressor();
  ~HeaderDecompressor();
  HeaderDecompressor(const HeaderDecompressor&) = delete;
  HeaderDecompressor& operator=(const HeaderDecompressor&) = delete;
  // Names are lowercased. Fails on a corrupt block or one that expands past 1 MiB.
  Result<Headers> Decompress(std::string_view block);

 private:
  struct Z;
  std::unique_ptr<Z> z_;
};

struct Frame {
  bool control = false;
  uint16_t version = kVersion;  // control frames
  uint16_t type = 0;            // control frames
  uint8_t flags = 0;
  uint32_t stream_id = 0;      // DATA, SYN_*, RST, HEADERS, WINDOW_UPDATE; GOAWAY: last good id
  uint32_t associated_id = 0;  // SYN_STREAM
  uint8_t priority = 0;        // SYN_STREAM (0..7)
  uint32_t status = 0;         // RST_STREAM, GOAWAY
  uint32_t value = 0;          // PING id, WINDOW_UPDATE delta
  std::vector<std::pair<uint32_t, uint32_t>> settings;  // SETTINGS: (id, value)
  Headers headers;             // SYN_STREAM, SYN_REPLY, HEADERS
  std::string data;            // DATA
};

// Incremental frame parser for one direction of a connection.
class FrameParser {
 public:
  void Feed(std::string_view bytes);
  // Sets *got and fills *out when a whole frame is buffered. An error is fatal for the
  // connection (bad version, corrupt header block, oversized frame).
  Status Next(Frame* out, bool* got);

 private:
  std::string buf_;
  size_t pos_ = 0;
  HeaderDecompressor dec_;
};

// Frame encoder for one direction of a connection (owns that direction's compressor).
class FrameWriter {
 public:
  Result<std::string> SynStream(uint32_t id, uint32_t associated, uint8_t priority, uint8_t flags,
                                const Headers& h);
  Result<std::string> SynReply(uint32_t id, uint8_t flags, const Headers& h);
  static std::string RstStream(uint32_t id, uint32_t status);
  static std::string Settings(const std::vector<std::pair<uint32_t, uint32_t>>& entries);
  static std::string Ping(uint32_t id);
  static std::string GoAway(uint32_t last_good, uint32_t status);
  static std::string WindowUpdate(uint32_t id, uint32_t delta);
  static std::string Data(uint32_t id, uint8_t flags, std::string_view data);

 private:
  HeaderCompressor comp_;
};

// A server-side SPDY/3.1 connection. The peer opens the streams (odd ids); the handler accepts
// each (SYN_REPLY) or refuses it (RST_STREAM), reads DATA through OnData and writes with Send.
class Session : public std::enable_shared_from_this<Session> {
 public:
  struct Callbacks {
    // A new stream from the peer. Return false to refuse it (RST_STREAM CANCEL); true sends the
    // SYN_REPLY. `fin`: the peer already half-closed it.
    std::function<bool(uint32_t id, const Headers& h, bool fin)> on_stream;
    // DATA for an accepted stream; report it with Consumed() once it has been used.
    std::function<void(uint32_t id, std::string_view data)> on_data;
    // The peer half-closed the stream (FIN).
    std::function<void(uint32_t id)> on_fin;
    // The peer reset the stream; no more callbacks for it.
    std::function<void(uint32_t id, uint32_t status)> on_reset;
    // The connection is gone (peer closed, transport error, or Close() finished). Called once.
    std::function<void()> on_closed;
  };

  Session(boost::asio::io_context& ioc, std::unique_ptr<ByteTransport> transport, Callbacks cb);
  ~Session();

  // Starts reading. Call once, on the io_context's thread.
  void Start();

  // Queues data (and/or FIN) on a stream the peer opened. `sent` (optional) runs once the bytes
  // were written to the transport: use it to read the next chunk of a source (backpressure).
  // Ignored for a stream that was reset or already half-closed by us.
  void Send(uint32_t id, std::string data, bool fin, std::function<void()> sent = {});
  // Resets a stream (RST_STREAM); pending data for it is dropped.
  void Reset(uint32_t id, uint32_t status = kCancel);
  // Tells the session that n bytes of the stream's data were used (opens the receive windows).
  void Consumed(uint32_t id, size_t n);
  // Flushes what is queued, sends GOAWAY, half-closes the transport and waits (bounded) for the
  // peer to close before calling on_closed.
  void Close();
  bool closed() const { return closed_; }
  // True once the peer showed that it implements flow control (SETTINGS or WINDOW_UPDATE).
  bool peer_flow_control() const { return peer_flow_control_; }

 private:
  struct Pending {
    std::string data;
    size_t off = 0;
    bool fin = false;
    std::function<void()> sent;
  };
  struct StreamState {
    bool local_closed = false;   // FIN sent (or reset)
    bool remote_closed = false;  // FIN received (or reset)
    int64_t send_window = kDefaultWindow;
    int64_t unacked = 0;  // consumed bytes not yet announced by WINDOW_UPDATE
    std::deque<Pending> queue;
  };

  void ReadMore();
  void OnBytes(std::string_view bytes);
  void HandleFrame(Frame& f);
  void WriteRaw(std::string frame, std::function<void()> done = {});
  void Pump();
  void FlushOut();
  void MaybeForget(uint32_t id);
  void Fail(const std::string& why);
  void Finish();

  boost::asio::io_context& ioc_;
  std::unique_ptr<ByteTransport> transport_;
  Callbacks cb_;
  FrameParser parser_;
  FrameWriter writer_;
  std::map<uint32_t, StreamState> streams_;
  uint32_t last_peer_id_ = 0;
  int64_t conn_send_window_ = kDefaultWindow;
  int64_t initial_send_window_ = kDefaultWindow;
  int64_t conn_unacked_ = 0;
  bool peer_flow_control_ = false;
  // Transport output: frames waiting, and the callbacks to run when they are written.
  std::string out_;
  std::vector<std::function<void()>> out_done_;
  std::string writing_;
  std::vector<std::function<void()>> writing_done_;
  bool write_busy_ = false;
  bool reading_ = false;
  bool closing_ = false;   // Close() called: GOAWAY once the queues are empty
  bool goaway_sent_ = false;
  bool closed_ = false;    // on_closed called
  std::unique_ptr<boost::asio::steady_timer> linger_;
};

}  // namespace tug::kubelet::server::spdy
