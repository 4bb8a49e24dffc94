// The byte pipe under an upgraded streaming connection: a raw (TCP or TLS) stream after
// `Upgrade: SPDY/3.1`, or a WebSocket (SPDY tunnelled in binary messages, or the channel
// protocols). Message transports (WebSocket) deliver exactly one message per read and send one
// message per write; stream transports deliver whatever arrived.
//
// Ownership: an adapter references the stream it wraps (owned by the connection's thread, which
// outlives the adapter). Thread-safety: none; used from one io_context thread, with at most one
// read and one write outstanding.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace tug::kubelet::server {

class ByteTransport {
 public:
  using ReadHandler = std::function<void(boost::system::error_code, std::string_view)>;
  using WriteHandler = std::function<void(boost::system::error_code)>;
  virtual ~ByteTransport() = default;
  // Reads the next bytes (or message). The view is valid during the handler only.
  virtual void AsyncRead(ReadHandler h) = 0;
  // Writes all of data (one message on a message transport); data stays valid until h runs.
  virtual void AsyncWrite(std::string_view data, WriteHandler h) = 0;
  // Signals the end of our sending (TCP: FIN; WebSocket: close frame; TLS: nothing, the
  // peer closes after GOAWAY). Reads may continue until the peer closes.
  virtual void ShutdownSend() = 0;
  // Cancels outstanding operations and closes the connection.
  virtual void Close() = 0;
};

// A TCP socket or TLS stream. `initial`: bytes already read past the HTTP request.
// `fd`: the socket, for shutdown(); `tcp_half_close`: whether ShutdownSend sends a FIN (a plain
// socket; not under TLS, where a FIN without close_notify would truncate the stream).
template <class S>
class StreamByteTransport final : public ByteTransport {
 public:
  StreamByteTransport(S& s, int fd, bool tcp_half_close, std::string initial)
      : s_(s), fd_(fd), half_close_(tcp_half_close), initial_(std::move(initial)) {}

  void AsyncRead(ReadHandler h) override {
    if (!initial_.empty()) {
      auto data = std::make_shared<std::string>(std::move(initial_));
      initial_.clear();
      boost::asio::post(s_.get_executor(), [h = std::move(h), data] { h({}, *data); });
      return;
    }
    s_.async_read_some(boost::asio::buffer(buf_), [this, h = std::move(h)](boost::system::error_code ec, size_t n) {
      h(ec, std::string_view(buf_, ec ? 0 : n));
    });
  }
  void AsyncWrite(std::string_view data, WriteHandler h) override {
    boost::asio::async_write(s_, boost::asio::buffer(data.data(), data.size()),
                             [h = std::move(h)](boost::system::error_code ec, size_t) { h(ec); });
  }
  void ShutdownSend() override {
    if (half_close_ && fd_ >= 0) ::shutdown(fd_, SHUT_WR);
  }
  void Close() override {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);  // the connection thread closes the fd itself
    boost::system::error_code ec;
    boost::beast::get_lowest_layer(s_).cancel(ec);
  }

 private:
  S& s_;
  int fd_;
  bool half_close_;
  std::string initial_;
  char buf_[32768];
};

// A WebSocket (already accepted). binary: send binary messages (else text).
template <class WS>
class WebSocketByteTransport final : public ByteTransport {
 public:
  WebSocketByteTransport(WS& ws, int fd, bool binary) : ws_(ws), fd_(fd) {
    if (binary)
      ws_.binary(true);
    else
      ws_.text(true);
  }
  void AsyncRead(ReadHandler h) override {
    ws_.async_read(in_, [this, h = std::move(h)](boost::system::error_code ec, size_t) {
      std::string msg = boost::beast::buffers_to_string(in_.data());
      in_.consume(in_.size());
      h(ec, msg);
    });
  }
  void AsyncWrite(std::string_view data, WriteHandler h) override {
    ws_.async_write(boost::asio::buffer(data.data(), data.size()),
                    [h = std::move(h)](boost::system::error_code ec, size_t) { h(ec); });
  }
  void ShutdownSend() override {
    if (close_sent_) return;
    close_sent_ = true;
    ws_.async_close(boost::beast::websocket::close_code::normal, [](boost::system::error_code) {});
  }
  void Close() override {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    boost::system::error_code ec;
    boost::beast::get_lowest_layer(ws_).cancel(ec);
  }

 private:
  WS& ws_;
  int fd_;
  boost::beast::flat_buffer in_;
  bool close_sent_ = false;
};

}  // namespace tug::kubelet::server
