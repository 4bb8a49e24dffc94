#include "kubelet/server/spdy.h"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "base/log.h"

namespace tug::kubelet::server::spdy {
namespace {

constexpr const char* kComponent = "kubelet-spdy";
constexpr size_t kMaxDecompressed = 1 << 20;
constexpr size_t kMaxControlFrame = 1 << 24;
constexpr size_t kMaxDataChunk = 32768;
constexpr auto kLinger = std::chrono::seconds(5);

void Put32(std::string& s, uint32_t v) {
  s.push_back(static_cast<char>(v >> 24));
  s.push_back(static_cast<char>(v >> 16));
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v));
}

uint32_t Get32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

// Control frame header: C bit, version, type, flags, 24-bit length.
std::string ControlHeader(uint16_t type, uint8_t flags, size_t len) {
  std::string s;
  Put32(s, 0x80000000u | (uint32_t{kVersion} << 16) | type);
  Put32(s, (uint32_t{flags} << 24) | static_cast<uint32_t>(len & 0xffffff));
  return s;
}

std::string Lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

}  // namespace

std::string HeaderValue(const Headers& h, std::string_view name) {
  std::string n = Lower(name);
  for (const auto& [k, v] : h)
    if (Lower(k) == n) {
      size_t nul = v.find('\0');
      return nul == std::string::npos ? v : v.substr(0, nul);
    }
  return "";
}

const std::string& Dictionary() {
  // The SPDY/3 dictionary: length-prefixed lowercase header names and common values, then a
  // run of common status lines, dates and content types.
  static const std::string dict = [] {
    static const char* const kWords[] = {
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
        "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
        "cache-control", "connection", "content-base", "content-encoding", "content-language",
        "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
        "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
        "if-range", "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma",
        "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after", "server", "te",
        "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
        "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
        "public", "set-cookie", "keep-alive", "origin"};
    std::string d;
    for (const char* w : kWords) {
      Put32(d, static_cast<uint32_t>(std::strlen(w)));
      d += w;
    }
    d +=
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
        "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
        "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
        "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/"
        "xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,"
        "sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    return d;
  }();
  return dict;
}

// ---------------------------------------------------------------- header compression

struct HeaderCompressor::Z {
  z_stream s{};
  bool ok = false;
};

HeaderCompressor::HeaderCompressor() : z_(std::make_unique<Z>()) {
  if (deflateInit(&z_->s, Z_DEFAULT_COMPRESSION) != Z_OK) return;
  const std::string& d = Dictionary();
  z_->ok = deflateSetDictionary(&z_->s, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size())) == Z_OK;
}

HeaderCompressor::~HeaderCompressor() { deflateEnd(&z_->s); }

Result<std::string> HeaderCompressor::Compress(const Headers& h) {
  if (!z_->ok) return InternalError("spdy: header compressor not initialised");
  std::string raw;
  Put32(raw, static_cast<uint32_t>(h.size()));
  for (const auto& [k, v] : h) {
    std::string name = Lower(k);
    Put32(raw, static_cast<uint32_t>(name.size()));
    raw += name;
    Put32(raw, static_cast<uint32_t>(v.size()));
    raw += v;
  }
  std::string out;
  z_->s.next_in = reinterpret_cast<Bytef*>(raw.data());
  z_->s.avail_in = static_cast<uInt>(raw.size());
  char buf[4096];
  do {
    z_->s.next_out = reinterpret_cast<Bytef*>(buf);
    z_->s.avail_out = sizeof buf;
    int rc = deflate(&z_->s, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR) return InternalError("spdy: deflate failed");
    out.append(buf, sizeof buf - z_->s.avail_out);
  } while (z_->s.avail_out == 0);
  return out;
}

struct HeaderDecompressor::Z {
  z_stream s{};
  bool ok = false;
};

HeaderDecompressor::HeaderDecompressor() : z_(std::make_unique<Z>()) {
  z_->ok = inflateInit(&z_->s) == Z_OK;
}

HeaderDecompressor::~HeaderDecompressor() { inflateEnd(&z_->s); }

Result<Headers> HeaderDecompressor::Decompress(std::string_view block) {
  if (!z_->ok) return InternalError("spdy: header decompressor not initialised");
  std::string raw;
  z_->s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  z_->s.avail_in = static_cast<uInt>(block.size());
  char buf[4096];
  for (;;) {
    z_->s.next_out = reinterpret_cast<Bytef*>(buf);
    z_->s.avail_out = sizeof buf;
    int rc = inflate(&z_->s, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      const std::string& d = Dictionary();
      if (inflateSetDictionary(&z_->s, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size())) != Z_OK)
        return BadRequestError("spdy: header block uses an unknown dictionary");
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) return BadRequestError("spdy: corrupt header block");
    raw.append(buf, sizeof buf - z_->s.avail_out);
    if (raw.size() > kMaxDecompressed) return BadRequestError("spdy: header block too large");
    if (z_->s.avail_in == 0 && z_->s.avail_out != 0) break;
    if (rc == Z_BUF_ERROR && z_->s.avail_out != 0) break;
  }
  Headers h;
  size_t p = 0;
  auto need = [&](size_t n) { return p + n <= raw.size(); };
  if (!need(4)) return BadRequestError("spdy: short header block");
  uint32_t n = Get32(raw.data());
  p = 4;
  for (uint32_t i = 0; i < n; ++i) {
    if (!need(4)) return BadRequestError("spdy: short header block");
    uint32_t kl = Get32(raw.data() + p);
    p += 4;
    if (!need(kl)) return BadRequestError("spdy: short header block");
    std::string k = Lower(std::string_view(raw.data() + p, kl));
    p += kl;
    if (!need(4)) return BadRequestError("spdy: short header block");
    uint32_t vl = Get32(raw.data() + p);
    p += 4;
    if (!need(vl)) return BadRequestError("spdy: short header block");
    h.emplace_back(std::move(k), std::string(raw.data() + p, vl));
    p += vl;
  }
  return h;
}

// ---------------------------------------------------------------- frames

void FrameParser::Feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

Status FrameParser::Next(Frame* out, bool* got) {
  *got = false;
  if (buf_.size() - pos_ < 8) return Status::Ok();
  const char* p = buf_.data() + pos_;
  uint32_t w0 = Get32(p), w1 = Get32(p + 4);
  size_t len = w1 & 0xffffff;
  uint8_t flags = static_cast<uint8_t>(w1 >> 24);
  if (buf_.size() - pos_ < 8 + len) return Status::Ok();
  Frame f;
  f.flags = flags;
  const char* d = p + 8;
  if (w0 & 0x80000000u) {
    f.control = true;
    f.version = static_cast<uint16_t>((w0 >> 16) & 0x7fff);
    f.type = static_cast<uint16_t>(w0 & 0xffff);
    if (f.version != kVersion) return BadRequestError("spdy: unsupported version " + std::to_string(f.version));
    if (len > kMaxControlFrame) return BadRequestError("spdy: control frame too large");
    auto bad = [&](const char* what) { return BadRequestError(std::string("spdy: malformed ") + what + " frame"); };
    switch (f.type) {
      case kSynStream: {
        if (len < 10) return bad("SYN_STREAM");
        f.stream_id = Get32(d) & 0x7fffffff;
        f.associated_id = Get32(d + 4) & 0x7fffffff;
        f.priority = static_cast<uint8_t>(static_cast<unsigned char>(d[8]) >> 5);
        auto h = dec_.Decompress(std::string_view(d + 10, len - 10));
        if (!h.ok()) return h.status();
        f.headers = std::move(*h);
        break;
      }
      case kSynReply:
      case kHeaders: {
        if (len < 4) return bad("SYN_REPLY/HEADERS");
        f.stream_id = Get32(d) & 0x7fffffff;
        auto h = dec_.Decompress(std::string_view(d + 4, len - 4));
        if (!h.ok()) return h.status();
        f.headers = std::move(*h);
        break;
      }
      case kRstStream:
        if (len != 8) return bad("RST_STREAM");
        f.stream_id = Get32(d) & 0x7fffffff;
        f.status = Get32(d + 4);
        break;
      case kSettings: {
        if (len < 4) return bad("SETTINGS");
        uint32_t n = Get32(d);
        if (len != 4 + size_t{n} * 8) return bad("SETTINGS");
        for (uint32_t i = 0; i < n; ++i)
          f.settings.emplace_back(Get32(d + 4 + i * 8) & 0xffffff, Get32(d + 8 + i * 8));
        break;
      }
      case kPing:
        if (len != 4) return bad("PING");
        f.value = Get32(d);
        break;
      case kGoAway:
        if (len != 8) return bad("GOAWAY");
        f.stream_id = Get32(d) & 0x7fffffff;
        f.status = Get32(d + 4);
        break;
      case kWindowUpdate:
        if (len != 8) return bad("WINDOW_UPDATE");
        f.stream_id = Get32(d) & 0x7fffffff;
        f.value = Get32(d + 4) & 0x7fffffff;
        break;
      default:
        break;  // unknown control frames are ignored (SPDY/3 §2.2.1)
    }
  } else {
    f.stream_id = w0 & 0x7fffffff;
    f.data.assign(d, len);
  }
  pos_ += 8 + len;
  *out = std::move(f);
  *got = true;
  return Status::Ok();
}

Result<std::string> FrameWriter::SynStream(uint32_t id, uint32_t associated, uint8_t priority, uint8_t flags,
                                           const Headers& h) {
  ASSIGN_OR_RETURN(std::string block, comp_.Compress(h));
  std::string s = ControlHeader(kSynStream, flags, 10 + block.size());
  Put32(s, id & 0x7fffffff);
  Put32(s, associated & 0x7fffffff);
  s.push_back(static_cast<char>((priority & 7) << 5));
  s.push_back('\0');
  return s + block;
}

Result<std::string> FrameWriter::SynReply(uint32_t id, uint8_t flags, const Headers& h) {
  ASSIGN_OR_RETURN(std::string block, comp_.Compress(h));
  std::string s = ControlHeader(kSynReply, flags, 4 + block.size());
  Put32(s, id & 0x7fffffff);
  return s + block;
}

std::string FrameWriter::RstStream(uint32_t id, uint32_t status) {
  std::string s = ControlHeader(kRstStream, 0, 8);
  Put32(s, id & 0x7fffffff);
  Put32(s, status);
  return s;
}

std::string FrameWriter::Settings(const std::vector<std::pair<uint32_t, uint32_t>>& entries) {
  std::string s = ControlHeader(kSettings, 0, 4 + entries.size() * 8);
  Put32(s, static_cast<uint32_t>(entries.size()));
  for (auto [id, v] : entries) {
    Put32(s, id & 0xffffff);
    Put32(s, v);
  }
  return s;
}

std::string FrameWriter::Ping(uint32_t id) {
  std::string s = ControlHeader(kPing, 0, 4);
  Put32(s, id);
  return s;
}

std::string FrameWriter::GoAway(uint32_t last_good, uint32_t status) {
  std::string s = ControlHeader(kGoAway, 0, 8);
  Put32(s, last_good & 0x7fffffff);
  Put32(s, status);
  return s;
}

std::string FrameWriter::WindowUpdate(uint32_t id, uint32_t delta) {
  std::string s = ControlHeader(kWindowUpdate, 0, 8);
  Put32(s, id & 0x7fffffff);
  Put32(s, delta & 0x7fffffff);
  return s;
}

std::string FrameWriter::Data(uint32_t id, uint8_t flags, std::string_view data) {
  std::string s;
  Put32(s, id & 0x7fffffff);
  Put32(s, (uint32_t{flags} << 24) | static_cast<uint32_t>(data.size() & 0xffffff));
  s.append(data);
  return s;
}

// ---------------------------------------------------------------- session

Session::Session(boost::asio::io_context& ioc, std::unique_ptr<ByteTransport> transport, Callbacks cb)
    : ioc_(ioc), transport_(std::move(transport)), cb_(std::move(cb)) {}

Session::~Session() = default;

void Session::Start() { ReadMore(); }

void Session::ReadMore() {
  if (reading_ || closed_) return;
  reading_ = true;
  transport_->AsyncRead([self = shared_from_this()](boost::system::error_code ec, std::string_view data) {
    self->reading_ = false;
    if (ec) {
      self->Finish();
      return;
    }
    self->OnBytes(data);
    self->ReadMore();
  });
}

void Session::OnBytes(std::string_view bytes) {
  if (closed_) return;
  parser_.Feed(bytes);
  for (;;) {
    Frame f;
    bool got = false;
    Status st = parser_.Next(&f, &got);
    if (!st.ok()) {
      Fail(st.message());
      return;
    }
    if (!got || closed_) return;
    HandleFrame(f);
  }
}

void Session::HandleFrame(Frame& f) {
  if (!f.control) {
    auto it = streams_.find(f.stream_id);
    if (it == streams_.end() || it->second.remote_closed) {
      // Data for a stream that is gone (reset or never opened): tell the peer, once per frame.
      if (it == streams_.end() && f.stream_id > last_peer_id_) WriteRaw(FrameWriter::RstStream(f.stream_id, kInvalidStream));
      if (!f.data.empty()) Consumed(0, f.data.size());
      return;
    }
    bool fin = (f.flags & kFlagFin) != 0;
    if (fin) it->second.remote_closed = true;
    uint32_t id = f.stream_id;
    if (!f.data.empty() && cb_.on_data) cb_.on_data(id, f.data);
    if (fin && cb_.on_fin && !closed_) cb_.on_fin(id);
    MaybeForget(id);
    return;
  }
  switch (f.type) {
    case kSynStream: {
      uint32_t id = f.stream_id;
      if (id == 0 || (id & 1) == 0 || id <= last_peer_id_) {
        WriteRaw(FrameWriter::RstStream(id, kProtocolError));
        return;
      }
      last_peer_id_ = id;
      if (closing_) {
        WriteRaw(FrameWriter::RstStream(id, kRefusedStream));
        return;
      }
      bool fin = (f.flags & kFlagFin) != 0;
      StreamState st;
      st.send_window = initial_send_window_;
      st.remote_closed = fin;
      st.local_closed = (f.flags & kFlagUnidirectional) != 0;
      streams_.emplace(id, std::move(st));
      bool ok = cb_.on_stream && cb_.on_stream(id, f.headers, fin);
      if (!ok) {
        streams_.erase(id);
        WriteRaw(FrameWriter::RstStream(id, kCancel));
        return;
      }
      auto reply = writer_.SynReply(id, 0, {});
      if (!reply.ok()) {
        Fail(reply.status().message());
        return;
      }
      WriteRaw(std::move(*reply));
      MaybeForget(id);
      return;
    }
    case kRstStream: {
      auto it = streams_.find(f.stream_id);
      if (it == streams_.end()) return;
      streams_.erase(it);
      if (cb_.on_reset) cb_.on_reset(f.stream_id, f.status);
      return;
    }
    case kSettings:
      peer_flow_control_ = true;
      for (auto [sid, v] : f.settings) {
        if (sid != kSettingsInitialWindowSize) continue;
        int64_t delta = static_cast<int64_t>(v) - initial_send_window_;
        initial_send_window_ = v;
        for (auto& [id, s] : streams_) s.send_window += delta;
      }
      Pump();
      return;
    case kPing:
      if (f.value & 1) WriteRaw(FrameWriter::Ping(f.value));  // the peer's ping: echo it
      return;
    case kGoAway:
      // The peer opens no more streams; what is open may finish. It closes the connection when
      // it is done, which ends the session.
      return;
    case kWindowUpdate: {
      peer_flow_control_ = true;
      if (f.stream_id == 0) {
        conn_send_window_ += f.value;
      } else {
        auto it = streams_.find(f.stream_id);
        if (it != streams_.end()) it->second.send_window += f.value;
      }
      Pump();
      return;
    }
    default:
      return;  // SYN_REPLY / HEADERS for streams we never open; unknown types
  }
}

void Session::Send(uint32_t id, std::string data, bool fin, std::function<void()> sent) {
  auto it = streams_.find(id);
  if (closed_ || it == streams_.end() || it->second.local_closed) {
    return;  // `sent` is dropped: nothing more will be read for a dead stream
  }
  if (fin) it->second.local_closed = true;
  it->second.queue.push_back(Pending{std::move(data), 0, fin, std::move(sent)});
  Pump();
}

void Session::Reset(uint32_t id, uint32_t status) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  streams_.erase(it);
  WriteRaw(FrameWriter::RstStream(id, status));
}

void Session::Consumed(uint32_t id, size_t n) {
  if (closed_ || n == 0) return;
  conn_unacked_ += static_cast<int64_t>(n);
  if (conn_unacked_ >= kDefaultWindow / 2) {
    WriteRaw(FrameWriter::WindowUpdate(0, static_cast<uint32_t>(conn_unacked_)));
    conn_unacked_ = 0;
  }
  if (id == 0) return;
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second.remote_closed) return;
  it->second.unacked += static_cast<int64_t>(n);
  if (it->second.unacked >= kDefaultWindow / 2) {
    WriteRaw(FrameWriter::WindowUpdate(id, static_cast<uint32_t>(it->second.unacked)));
    it->second.unacked = 0;
  }
}

void Session::Pump() {
  if (closed_) return;
  // Round-robin over streams, one chunk each per pass, until nothing more may be sent.
  bool progress = true;
  while (progress) {
    progress = false;
    for (auto it = streams_.begin(); it != streams_.end();) {
      uint32_t id = it->first;
      StreamState& s = it->second;
      if (s.queue.empty()) {
        ++it;
        continue;
      }
      Pending& p = s.queue.front();
      size_t left = p.data.size() - p.off;
      size_t n = std::min(left, kMaxDataChunk);
      if (peer_flow_control_) {
        int64_t allowed = std::min(s.send_window, conn_send_window_);
        if (allowed <= 0 && left > 0) {
          ++it;
          continue;
        }
        n = std::min<size_t>(n, static_cast<size_t>(std::max<int64_t>(allowed, 0)));
        s.send_window -= static_cast<int64_t>(n);
        conn_send_window_ -= static_cast<int64_t>(n);
      }
      bool last = (p.off + n == p.data.size());
      uint8_t flags = (last && p.fin) ? kFlagFin : 0;
      if (n > 0 || flags) out_ += FrameWriter::Data(id, flags, std::string_view(p.data).substr(p.off, n));
      p.off += n;
      progress = true;
      if (last) {
        if (p.sent) out_done_.push_back(std::move(p.sent));
        s.queue.pop_front();
      }
      ++it;
      if (last && flags) MaybeForget(id);  // may erase the stream; `it` already advanced
    }
  }
  FlushOut();
}

void Session::WriteRaw(std::string frame, std::function<void()> done) {
  if (closed_) return;
  out_ += frame;
  if (done) out_done_.push_back(std::move(done));
  FlushOut();
}

void Session::FlushOut() {
  if (write_busy_ || closed_) return;
  if (out_.empty() && !out_done_.empty()) {
    auto done = std::move(out_done_);
    out_done_.clear();
    for (auto& d : done) d();
    FlushOut();  // the callbacks may have queued more
    return;
  }
  if (out_.empty() && closing_ && !goaway_sent_) {
    bool pending = false;
    for (auto& [id, s] : streams_)
      if (!s.queue.empty()) pending = true;
    if (!pending) {
      goaway_sent_ = true;
      out_ = FrameWriter::GoAway(last_peer_id_, 0);
    }
  }
  if (out_.empty()) {
    if (goaway_sent_ && !linger_) {
      transport_->ShutdownSend();
      linger_ = std::make_unique<boost::asio::steady_timer>(ioc_, kLinger);
      linger_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->Finish();
      });
    }
    return;
  }
  write_busy_ = true;
  writing_ = std::move(out_);
  out_.clear();
  writing_done_ = std::move(out_done_);
  out_done_.clear();
  transport_->AsyncWrite(writing_, [self = shared_from_this()](boost::system::error_code ec) {
    self->write_busy_ = false;
    if (ec) {
      self->Finish();
      return;
    }
    auto done = std::move(self->writing_done_);
    self->writing_done_.clear();
    for (auto& d : done) d();
    self->FlushOut();
  });
}

void Session::MaybeForget(uint32_t id) {
  auto it = streams_.find(id);
  if (it != streams_.end() && it->second.local_closed && it->second.remote_closed && it->second.queue.empty())
    streams_.erase(it);
}

void Session::Close() {
  if (closing_ || closed_) return;
  closing_ = true;
  FlushOut();
}

void Session::Fail(const std::string& why) {
  TUG_LOG(WARNING, kComponent) << "protocol error, closing the connection" << kv("error", why);
  if (!closed_ && !goaway_sent_) {
    goaway_sent_ = true;
    closing_ = true;
    out_ += FrameWriter::GoAway(last_peer_id_, 1 /* PROTOCOL_ERROR */);
    FlushOut();
  }
  if (!linger_) {
    linger_ = std::make_unique<boost::asio::steady_timer>(ioc_, std::chrono::milliseconds(500));
    linger_->async_wait([self = shared_from_this()](boost::system::error_code) { self->Finish(); });
  }
}

void Session::Finish() {
  if (closed_) return;
  closed_ = true;
  if (linger_) linger_->cancel();
  transport_->Close();
  streams_.clear();
  out_.clear();
  out_done_.clear();
  auto cb = std::move(cb_.on_closed);
  cb_ = Callbacks{};
  if (cb) cb();
}

}  // namespace tug::kubelet::server::spdy
