// Transport implementation. This is the only production file that includes Boost.Beast/Asio
// (compile time): keep it that way.
//
// Per connection (all on the connection's strand):
//   read header -> (413 if too large) -> read body -> queue request
//   dispatch (one at a time): authenticate -> Handler::Handle on the worker pool
//   while a request is in flight a read stays posted, so a peer close is seen at once
//   responses are pre-serialized strings queued in out_ and written in order; the item that
//   completes a response triggers the next queued request (keep-alive) or the close.

#include "apiserver/server/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "base/log.h"

namespace tug::apiserver::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr const char* kComponent = "apiserver";

// ---------------------------------------------------------------- worker pool

// Runs tasks on threads that are created on demand (up to max) and kept; Stop() drains the queue
// and joins every thread.
class WorkerPool {
 public:
  WorkerPool(int min_threads, int max_threads) : max_(std::max(1, max_threads)) {
    std::lock_guard<std::mutex> l(mu_);
    for (int i = 0; i < min_threads && i < max_; ++i) SpawnLocked();
  }
  ~WorkerPool() { Stop(); }

  void Submit(std::function<void()> fn) {
    bool queued = false, wake = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!stopping_) {
        queue_.push_back(std::move(fn));
        queued = true;
        if (idle_ < queue_.size() && threads_.size() < static_cast<size_t>(max_)) SpawnLocked();
        wake = idle_ > 0;
      }
    }
    // Notified after unlocking: a worker woken under the lock would only block on it again.
    if (wake) cv_.notify_one();
    if (!queued) fn();  // after Stop: run inline (only OnClose callbacks can arrive this late)
  }

  void Stop() {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
      cv_.notify_all();
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  void SpawnLocked() { threads_.emplace_back([this] { Loop(); }); }
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(l, [this] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (queue_.empty()) return;  // stopping and drained
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      l.unlock();
      fn();
      l.lock();
    }
  }

  const int max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

// ---------------------------------------------------------------- helpers

std::string HttpDate() {
  std::time_t t = std::time(nullptr);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string StatusLine(int code) {
  auto reason = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(code)));
  std::string s = "HTTP/1.1 " + std::to_string(code) + " ";
  s.append(reason.data(), reason.size());
  s += "\r\n";
  return s;
}

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class ConnBase;

using Strand = asio::strand<asio::io_context::executor_type>;

struct Core {
  const ServerOptions opts;
  Handler* handler = nullptr;
  asio::io_context ioc;  // handshakes, requests and responses (opts.io_threads)
  // Streaming responses (watch, log follow) once started: their connections move here so
  // fan-out runs on its own, lower-priority threads (opts.stream_io_threads) and never queues
  // ahead of a request. Unused (no threads) when opts.stream_io_threads is 0.
  asio::io_context stream_ioc;
  bool separate_streams = false;
  std::optional<asio::ssl::context> ssl;
  std::unique_ptr<WorkerPool> pool;

  // TLS handshakes under way. At opts.max_concurrent_handshakes the server stops accepting
  // (the kernel's backlog holds the rest) so that a storm of new connections is served first
  // come, first served, each within its handshake timeout, instead of all progressing slowly
  // together. handshake_done (set before accepting) is called as each one ends.
  std::atomic<int> handshakes{0};
  std::function<void()> handshake_done;

  std::mutex conns_mu;
  bool stopping = false;  // GUARDED_BY(conns_mu)
  std::unordered_map<ConnBase*, std::weak_ptr<ConnBase>> conns;  // GUARDED_BY(conns_mu)

  // Connections whose stream writer armed since the last flush (ScheduleFlush): one timer
  // posts their pulls every opts.stream_flush_delay.
  std::mutex flush_mu;
  std::vector<std::weak_ptr<ConnBase>> flush_list;  // GUARDED_BY(flush_mu)
  bool flush_scheduled = false;                      // GUARDED_BY(flush_mu)
  asio::strand<asio::io_context::executor_type> flush_strand;
  asio::steady_timer flush_timer;  // used on flush_strand only; destroyed before ioc

  explicit Core(const ServerOptions& o)
      : opts(o),
        ioc(std::max(1, o.io_threads)),
        stream_ioc(std::max(1, o.stream_io_threads)),
        separate_streams(o.stream_io_threads > 0),
        flush_strand(asio::make_strand(separate_streams ? stream_ioc : ioc)),
        flush_timer(flush_strand) {}
};

// ---------------------------------------------------------------- connection interface

class WriterImpl;

// What a ResponseWriter needs from its connection. All Post* are thread-safe.
class ConnBase : public std::enable_shared_from_this<ConnBase> {
 public:
  virtual ~ConnBase() = default;
  // Queues bytes; `completes` marks the last bytes of the current response.
  virtual void PostWrite(std::string data, bool completes) = 0;
  // Queues a streaming response's header: the connection moves to the stream threads first
  // (Core::stream_ioc) and back when the response completes.
  virtual void PostStreamStart(std::string head) = 0;
  // Asks the strand to pull the current writer's pending stream bytes (WriterImpl::Pull) once
  // the bytes queued before them are written.
  virtual void PostPull() = 0;
  // Cuts the connection (slow consumer, server stop). `done` (optional) runs on the strand after.
  virtual void PostClose(std::function<void()> done) = 0;
  // Hands the connection over after an upgrade request (ResponseWriter::Hijack). Blocks until
  // the connection's strand did it; call from a worker thread only.
  virtual Result<UpgradedConnPtr> HijackConn() = 0;
  std::atomic<size_t> queued_bytes{0};
};

// Posts the pulls of every connection in core.flush_list (on the flush timer).
void FlushStreams(Core& core) {
  std::vector<std::weak_ptr<ConnBase>> list;
  {
    std::lock_guard<std::mutex> l(core.flush_mu);
    list.swap(core.flush_list);
    core.flush_scheduled = false;
  }
  for (auto& w : list)
    if (auto c = w.lock()) c->PostPull();
}

// A stream writer of `conn` armed: its pull is posted at the next flush tick (at once with no
// delay configured), so what is written until then leaves together.
void ScheduleFlush(Core& core, const std::shared_ptr<ConnBase>& conn) {
  if (core.opts.stream_flush_delay.count() <= 0) return conn->PostPull();
  {
    std::lock_guard<std::mutex> l(core.flush_mu);
    core.flush_list.push_back(conn);
    if (core.flush_scheduled) return;
    core.flush_scheduled = true;
  }
  asio::post(core.flush_strand, [&core] {
    core.flush_timer.expires_after(core.opts.stream_flush_delay);
    core.flush_timer.async_wait([&core](beast::error_code) { FlushStreams(core); });
  });
}

// ---------------------------------------------------------------- response writer

// Streaming (chunked) output is pulled, not pushed: Write/WriteShared/Finish only append
// shared pieces to pending_ under mu_, and schedule one pull of the connection (ScheduleFlush:
// at the next flush tick) when the writer is not armed. The strand takes up to kMaxPull bytes per write as one chunk (one
// buffer, so TLS writes full records) and pulls again when that write completes, so a busy
// watcher costs no post per event and its events coalesce into large writes.
class WriterImpl final : public ResponseWriter {
 public:
  static constexpr size_t kMaxPull = 64 * 1024;
  // At a write's completion less than this is left for the next flush tick (ScheduleFlush), so
  // a watcher that keeps its connection busy still writes in large pieces, not one per event.
  static constexpr size_t kEagerPull = 16 * 1024;

  WriterImpl(std::shared_ptr<ConnBase> conn, Core& core, bool head, bool close_after, bool upgrade)
      : conn_(std::move(conn)), core_(core), head_(head), close_after_(close_after), upgrade_(upgrade) {}

  ~WriterImpl() override {
    // The handler let go of the writer without finishing: answer for it so the connection
    // does not hang.
    std::lock_guard<std::mutex> l(mu_);
    if (closed_ || !conn_) return;
    if (state_ == State::kIdle) {
      TUG_LOG(ERROR, kComponent) << "handler returned without a response";
      std::string body = StatusJson(InternalError("the handler did not write a response"));
      std::string out = Head(500, "application/json", body.size(), {}) + body;
      conn_->queued_bytes += out.size();
      conn_->PostWrite(std::move(out), true);
    } else if (state_ == State::kStreaming || finish_) {
      // Not pulled any more (the connection's reference is gone): the rest goes out at once.
      std::string out;
      TakeLocked(SIZE_MAX, &out);
      out += "0\r\n\r\n";
      if (!finish_) conn_->queued_bytes += 5;  // Finish counted it already
      conn_->PostWrite(std::move(out), true);
    }
  }

  void Send(int code, std::string content_type, std::string body,
            std::vector<std::pair<std::string, std::string>> extra_headers) override {
    std::lock_guard<std::mutex> l(mu_);
    if (state_ != State::kIdle) return;
    state_ = State::kDone;
    if (closed_ || !conn_) return;
    bool no_body = code == 204 || code == 304 || (code >= 100 && code < 200);
    std::string out = Head(code, content_type, no_body ? std::string::npos : body.size(), extra_headers);
    if (!head_ && !no_body) out += body;
    conn_->queued_bytes += out.size();
    conn_->PostWrite(std::move(out), true);
  }

  void StartStream(int code, std::string content_type) override {
    std::lock_guard<std::mutex> l(mu_);
    if (state_ != State::kIdle) return;
    state_ = State::kStreaming;
    if (closed_ || !conn_) return;
    std::string out = StatusLine(code);
    if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
    out += "Date: " + HttpDate() + "\r\n";
    out += "Transfer-Encoding: chunked\r\n";
    if (close_after_) out += "Connection: close\r\n";
    out += "\r\n";
    conn_->queued_bytes += out.size();
    conn_->PostStreamStart(std::move(out));
  }

  bool Write(std::string chunk) override {
    auto piece = std::make_shared<const std::string>(std::move(chunk));
    return WriteShared({&piece, 1});
  }

  bool WriteShared(std::span<const std::shared_ptr<const std::string>> pieces) override {
    size_t n = 0;
    for (const auto& p : pieces) n += p->size();
    std::shared_ptr<ConnBase> wake;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (closed_ || !conn_ || state_ != State::kStreaming) return false;
      if (n == 0) return true;
      if (conn_->queued_bytes.load() + n > core_.opts.max_queued_bytes) {
        TUG_LOG(WARNING, kComponent) << "client too slow, closing stream"
                                     << kv("queued", conn_->queued_bytes.load());
        closed_ = true;
        pending_.clear();
        pending_bytes_ = 0;
        conn_->PostClose(nullptr);
        return false;
      }
      conn_->queued_bytes += n;
      pending_bytes_ += n;
      for (const auto& p : pieces)
        if (!p->empty()) pending_.push_back(p);
      if (!armed_) {
        armed_ = true;
        wake = conn_;
      }
    }
    if (wake) ScheduleFlush(core_, wake);
    return true;
  }

  void Finish() override {
    std::shared_ptr<ConnBase> wake;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (state_ != State::kStreaming) return;
      state_ = State::kDone;
      if (closed_ || !conn_) return;
      conn_->queued_bytes += 5;
      finish_ = true;  // the terminal chunk follows whatever is pending
      if (!armed_) {
        armed_ = true;
        wake = conn_;
      }
    }
    if (wake) ScheduleFlush(core_, wake);
  }

  // On the connection's strand: the stream's next bytes — pending pieces up to kMaxPull as
  // one chunk, then the terminal chunk after Finish (*completes). False when nothing is
  // pending: the writer is disarmed and the next write posts a pull. `at_completion`: called
  // as the previous write completed; less than kEagerPull then waits for the flush tick.
  bool Pull(std::string* out, bool* completes, bool at_completion) {
    std::shared_ptr<ConnBase> later;
    {
      std::lock_guard<std::mutex> l(mu_);
      *completes = false;
      if (closed_ || !conn_) {
        pending_.clear();
        pending_bytes_ = 0;
        armed_ = false;
        return false;
      }
      // The connection may pull before it has queued this response's head (the head is posted
      // by StartStream, the pull can come from the previous response's completion): nothing
      // of the body goes out before it. The writer stays armed; the head's write pulls again.
      if (!head_queued_) return false;
      if (at_completion && !finish_ && !pending_.empty() && pending_bytes_ < kEagerPull) {
        later = conn_;  // stays armed: the tick pulls it
      } else {
        return PullLocked(out, completes);
      }
    }
    ScheduleFlush(core_, later);
    return false;
  }

 private:
  bool PullLocked(std::string* out, bool* completes) {
    TakeLocked(kMaxPull, out);
    if (finish_ && pending_.empty()) {
      finish_ = false;
      out->append("0\r\n\r\n");
      *completes = true;
    }
    if (out->empty()) armed_ = false;
    return !out->empty();
  }

 public:

  void OnClose(std::function<void()> cb) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!detached_) {
        callbacks_.push_back(std::move(cb));
        return;
      }
    }
    cb();
  }

  // On the connection's strand, once the head StartStream posted is queued.
  void HeadQueued() {
    std::lock_guard<std::mutex> l(mu_);
    head_queued_ = true;
  }

  bool Closed() const override {
    std::lock_guard<std::mutex> l(mu_);
    return closed_ || detached_;
  }

  Result<UpgradedConnPtr> Hijack() override {
    std::shared_ptr<ConnBase> conn;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!upgrade_) return BadRequestError("not an upgrade request");
      if (state_ != State::kIdle) return BadRequestError("a response has already been started");
      if (closed_ || !conn_) return UnavailableError("the connection is closed");
      state_ = State::kDone;
      conn = conn_;
    }
    return conn->HijackConn();  // detaches this writer on the strand
  }

  // Called by the connection (on its strand) when the response has been written or the
  // connection is gone. Breaks the writer -> connection reference and fires OnClose callbacks.
  void Detach() {
    std::vector<std::function<void()>> cbs;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (detached_) return;
      detached_ = true;
      closed_ = true;
      conn_.reset();
      cbs.swap(callbacks_);
    }
    // Inline, on the thread that noticed the end (an I/O thread): running them on the worker
    // pool could deadlock when every worker is a handler waiting for exactly this callback.
    for (auto& cb : cbs) cb();
  }

 private:
  enum class State { kIdle, kStreaming, kDone };

  // Moves pending pieces (whole ones, at least one, until `max` bytes) into *out as one chunk;
  // counts the chunk framing in the connection's queued bytes.
  void TakeLocked(size_t max, std::string* out) {
    size_t n = 0, k = 0;
    while (k < pending_.size() && n < max) n += pending_[k++]->size();
    if (k == 0) return;
    char hex[32];
    int h = std::snprintf(hex, sizeof hex, "%zx\r\n", n);
    out->reserve(out->size() + static_cast<size_t>(h) + n + 2 + 5);
    out->append(hex, static_cast<size_t>(h));
    for (size_t i = 0; i < k; ++i) out->append(*pending_[i]);
    out->append("\r\n");
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(k));
    pending_bytes_ -= std::min(pending_bytes_, n);
    conn_->queued_bytes += static_cast<size_t>(h) + 2;
  }

  std::string Head(int code, const std::string& ct, size_t len,
                   const std::vector<std::pair<std::string, std::string>>& extra) const {
    std::string out = StatusLine(code);
    if (!ct.empty()) out += "Content-Type: " + ct + "\r\n";
    for (const auto& [k, v] : extra) out += k + ": " + v + "\r\n";
    out += "Date: " + HttpDate() + "\r\n";
    if (len != std::string::npos) out += "Content-Length: " + std::to_string(len) + "\r\n";
    if (close_after_) out += "Connection: close\r\n";
    out += "\r\n";
    return out;
  }

  mutable std::mutex mu_;
  std::shared_ptr<ConnBase> conn_;  // GUARDED_BY(mu_); reset on Detach
  Core& core_;
  const bool head_;
  const bool close_after_;
  const bool upgrade_;
  State state_ = State::kIdle;  // GUARDED_BY(mu_)
  bool closed_ = false;         // GUARDED_BY(mu_)
  bool detached_ = false;       // GUARDED_BY(mu_)
  std::vector<std::function<void()>> callbacks_;  // GUARDED_BY(mu_)
  std::deque<std::shared_ptr<const std::string>> pending_;  // GUARDED_BY(mu_): stream bytes not yet pulled
  size_t pending_bytes_ = 0;  // GUARDED_BY(mu_)
  bool armed_ = false;   // GUARDED_BY(mu_): a pull is posted or will follow the write in flight
  bool finish_ = false;  // GUARDED_BY(mu_): Finish called, terminal chunk not yet pulled
  bool head_queued_ = false;  // GUARDED_BY(mu_): the connection has queued the stream's head (Pull waits for it)
};

// ---------------------------------------------------------------- connection

struct Pending {
  Request req;
  std::optional<Status> error;  // answer this instead of calling the handler
  bool close_after = false;
  // An HTTP Upgrade request: nothing more is read from the connection as HTTP; the handler
  // either takes it over (Hijack) or answers, and then it closes.
  bool upgrade = false;
};

template <bool kTls>
class Connection;

// The connection after ResponseWriter::Hijack: blocking reads and writes done as asynchronous
// operations on the connection's strand (so a TLS stream is never used from two threads).
template <bool kTls>
class Upgraded final : public UpgradedConn {
 public:
  Upgraded(std::shared_ptr<Connection<kTls>> c, std::string leftover) : c_(std::move(c)), leftover_(std::move(leftover)) {}
  ~Upgraded() override { Close(); }
  Result<size_t> Read(char* buf, size_t n) override {
    if (off_ < leftover_.size()) {
      size_t k = std::min(n, leftover_.size() - off_);
      std::memcpy(buf, leftover_.data() + off_, k);
      off_ += k;
      return k;
    }
    return c_->UpgradedRead(buf, n);
  }
  Status Write(std::string_view data) override { return c_->UpgradedWrite(data); }
  void ShutdownWrite() override { c_->UpgradedShutdownWrite(); }
  void Close() override { c_->PostClose(nullptr); }

 private:
  std::shared_ptr<Connection<kTls>> c_;
  std::string leftover_;  // bytes the HTTP reader had already taken past the request
  size_t off_ = 0;
};

template <bool kTls>
class Connection final : public ConnBase {
 public:
  using Stream = std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  // `strand` is the socket's executor (a strand of core->ioc).
  Connection(std::shared_ptr<Core> core, Strand strand, tcp::socket&& sock)
      : core_(std::move(core)),
        request_strand_(std::move(strand)),
        stream_strand_(asio::make_strand(core_->separate_streams ? core_->stream_ioc : core_->ioc)),
        stream_(MakeStream(std::move(sock))) {
    beast::error_code ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void Start() {
    asio::dispatch(request_strand_, [self = Self()] { self->DoStart(); });
  }

  void PostWrite(std::string data, bool completes) override {
    Post([this, data = std::move(data), completes]() mutable { QueueOut(std::move(data), completes); });
  }

  void PostStreamStart(std::string head) override {
    Post([this, head = std::move(head)]() mutable {
      QueueOut(std::move(head), false);  // first: the head leads whatever the stream pulls
      if (auto w = writer_.lock()) w->HeadQueued();
      MoveTo(true);
    });
  }

  void PostPull() override {
    Post([this] { DoWrite(false); });
  }

  void PostClose(std::function<void()> done) override {
    Post([this, done = std::move(done)] {
      DoClose();
      if (done) done();
    });
  }

  Result<UpgradedConnPtr> HijackConn() override {
    std::promise<Result<UpgradedConnPtr>> p;
    auto f = p.get_future();
    Post([self = Self(), &p] {
      if (self->closed_) return p.set_value(UnavailableError("the connection is closed"));
      auto bufs = self->buffer_.data();
      std::string leftover(asio::buffers_begin(bufs), asio::buffers_end(bufs));
      self->buffer_.consume(self->buffer_.size());
      if (auto w = self->writer_.lock()) w->Detach();
      self->writer_.reset();
      TUG_VLOG(5, kComponent) << "connection upgraded" << kv("remote", self->remote_);
      p.set_value(UpgradedConnPtr(std::make_unique<Upgraded<kTls>>(self, std::move(leftover))));
    });
    return f.get();
  }

  // Upgraded connections: one read and one write may be in flight at once (both on the strand).
  Result<size_t> UpgradedRead(char* buf, size_t n) {
    std::promise<std::pair<beast::error_code, size_t>> p;
    auto f = p.get_future();
    Post([self = Self(), buf, n, &p] {
      if (self->closed_) return p.set_value({asio::error::operation_aborted, 0});
      self->stream_.async_read_some(asio::buffer(buf, n), asio::bind_executor(self->Exec(), [&p](beast::error_code ec, size_t k) {
                                      p.set_value({ec, k});
                                    }));
    });
    auto [ec, k] = f.get();
    if (k > 0) return k;
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return size_t{0};
    if (ec) return UnavailableError("read: " + ec.message());
    return size_t{0};
  }

  Status UpgradedWrite(std::string_view data) {
    if (data.empty()) return Status::Ok();
    std::promise<beast::error_code> p;
    auto f = p.get_future();
    Post([self = Self(), data, &p] {
      if (self->closed_) return p.set_value(asio::error::operation_aborted);
      asio::async_write(self->stream_, asio::buffer(data.data(), data.size()),
                        asio::bind_executor(self->Exec(), [&p](beast::error_code ec, size_t) { p.set_value(ec); }));
    });
    beast::error_code ec = f.get();
    if (ec) return UnavailableError("write: " + ec.message());
    return Status::Ok();
  }

  void UpgradedShutdownWrite() {
    Post([this] {
      if (closed_) return;
      beast::error_code ec;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    });
  }

 private:
  std::shared_ptr<Connection> Self() { return std::static_pointer_cast<Connection>(shared_from_this()); }

  // ---- which threads serve the connection
  // A connection is served on request_strand_ (core->ioc) except while it streams a response:
  // then on stream_strand_ (core->stream_ioc, lower-priority threads), so that the fan-out to
  // many watchers never delays a request. Everything the connection does runs on the strand
  // current at the time (Exec); a move happens on the current strand once no operation is in
  // flight (TryMove), and a handler that still arrives on the strand left behind follows the
  // connection (Run).

  Strand Exec() const { return on_stream_.load(std::memory_order_acquire) ? stream_strand_ : request_strand_; }
  // In a handler: the connection moved to the other strand during it (TryMove), so the handler
  // must not touch the connection any more; the work TryMove posted goes on there. Every
  // MoveTo is therefore its handler's last step on the connection.
  bool Moved() const { return !Exec().running_in_this_thread(); }

  // Runs fn on the current strand: at once when called there, else posted to it.
  template <class F>
  void Run(F fn) {
    Strand ex = Exec();
    if (ex.running_in_this_thread()) return fn();
    asio::post(ex, [self = Self(), fn = std::move(fn)]() mutable { self->Run(std::move(fn)); });
  }

  // Posts fn to the current strand (from any thread), in order: posted work waits in inbox_
  // and runs first in, first out. Posted straight to a strand, a function that arrived on the
  // strand left behind by a move would follow the connection by a re-post (Run), behind work
  // posted after it to the new strand — a streamed response's body ran before its head, and the
  // client read a chunk where it expected a status line.
  template <class F>
  void Post(F fn) {
    {
      std::lock_guard<std::mutex> l(inbox_mu_);
      inbox_.emplace_back(std::move(fn));
    }
    asio::post(Exec(), [self = Self()] { self->Run([self] { self->DrainInbox(); }); });
  }

  // On the current strand: runs the posted work in order; stops when a move changed the strand
  // (the rest follows the connection, still in order).
  void DrainInbox() {
    for (;;) {
      if (!Exec().running_in_this_thread()) {
        asio::post(Exec(), [self = Self()] { self->Run([self] { self->DrainInbox(); }); });
        return;
      }
      std::function<void()> fn;
      {
        std::lock_guard<std::mutex> l(inbox_mu_);
        if (inbox_.empty()) return;
        fn = std::move(inbox_.front());
        inbox_.pop_front();
      }
      fn();
    }
  }

  // A completion handler: runs on the current strand and keeps the connection alive.
  template <class F>
  auto Bind(F fn) {
    return asio::bind_executor(Exec(), [self = Self(), fn = std::move(fn)](auto... args) mutable {
      self->Run([fn = std::move(fn), args...]() mutable { fn(args...); });
    });
  }

  // On the current strand: asks for the connection to be served by the stream threads
  // (to_stream) or the request threads.
  void MoveTo(bool to_stream) {
    if (!core_->separate_streams) return;
    want_stream_ = to_stream;
    TryMove();
  }

  // On the current strand: moves the connection if asked and nothing is in flight. A write in
  // flight is let finish (OnWrite calls back); a posted read is cancelled (its handler calls
  // back; IssueRead re-posts it on the new strand). Until then no read or write starts.
  void TryMove() {
    if (closed_ || want_stream_ == on_stream_.load(std::memory_order_relaxed)) {
      moving_ = false;
      return;
    }
    moving_ = true;
    if (writing_) return;
    if (reading_) {
      if (!read_cancelled_) {
        read_cancelled_ = true;
        beast::error_code ec;
        Lowest().socket().cancel(ec);
      }
      return;
    }
    on_stream_.store(want_stream_, std::memory_order_release);
    moving_ = false;
    Post([this] {
      if (read_stage_ != ReadStage::kNone) IssueRead();
      DoRead();
      // A move waits for the write in flight, so this follows a write as OnWrite's does: a few
      // stream bytes wait for the flush tick and go out together.
      DoWrite(/*at_completion=*/true);
    });
  }

  // A read completed: true when it was cancelled for a move (TryMove goes on; the read is
  // re-posted after the move, with the same parser).
  bool ReadInterrupted(beast::error_code ec) {
    reading_ = false;
    if (!std::exchange(read_cancelled_, false) || ec != asio::error::operation_aborted || closed_) return false;
    TryMove();
    return true;
  }

  Stream MakeStream(tcp::socket&& sock) {
    if constexpr (kTls)
      return Stream(beast::tcp_stream(std::move(sock)), *core_->ssl);
    else
      return Stream(std::move(sock));
  }

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void DoStart() {
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::seconds(core_->opts.handshake_timeout_seconds));
      stream_.async_handshake(asio::ssl::stream_base::server, Bind([this](beast::error_code ec) {
        Lowest().expires_never();  // no timeouts after the handshake: watches are long
        --core_->handshakes;
        core_->handshake_done();
        if (ec) {
          TUG_VLOG(4, kComponent) << "tls handshake failed" << kv("remote", remote_) << kv("err", ec.message());
          DoClose();
          return;
        }
        ReadClientCert();
        DoRead();
      }));
    } else {
      DoRead();
    }
  }

  void ReadClientCert() {
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      X509* peer = SSL_get0_peer_certificate(ssl);
      if (!peer || SSL_get_verify_result(ssl) != X509_V_OK) return;
      authn::CertIdentity id;
      X509_NAME* name = X509_get_subject_name(peer);
      for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
        X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        if (nid != NID_commonName && nid != NID_organizationName) continue;
        unsigned char* utf8 = nullptr;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
        if (n < 0) continue;
        std::string v(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
        OPENSSL_free(utf8);
        if (nid == NID_commonName)
          id.common_name = v;
        else
          id.organizations.push_back(v);
      }
      if (!id.common_name.empty()) cert_ = std::move(id);
    }
  }

  // Reads the next request unless one is already being read, the connection is closing, or a
  // request is already waiting (pipelining back-pressure).
  void DoRead() {
    if (reading_ || closed_ || stop_reading_ || !pending_.empty() || read_stage_ != ReadStage::kNone) return;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(core_->opts.max_header_bytes));
    parser_->body_limit(core_->opts.max_body_bytes);
    read_stage_ = ReadStage::kHeader;
    IssueRead();
  }

  // Posts the read of read_stage_ (header or body) with the current parser; after a move when
  // one is under way.
  void IssueRead() {
    if (reading_ || closed_) return;
    if (moving_) return TryMove();
    reading_ = true;
    if (read_stage_ == ReadStage::kHeader)
      http::async_read_header(stream_, buffer_, *parser_, Bind([this](beast::error_code ec, size_t) { OnHeader(ec); }));
    else
      http::async_read(stream_, buffer_, *parser_, Bind([this](beast::error_code ec, size_t) { OnBody(ec); }));
  }

  void OnHeader(beast::error_code ec) {
    if (ReadInterrupted(ec) || closed_) return;
    read_stage_ = ReadStage::kNone;
    if (ec) {
      if (ec == http::error::body_limit) return RejectTooLarge();
      if (IsMalformed(ec)) return RejectMalformed(ec);
      return OnReadClosed(ec);
    }
    auto len = parser_->content_length();
    if (len && *len > core_->opts.max_body_bytes) return RejectTooLarge();
    const auto& h = parser_->get();
    auto expect = h[http::field::expect];
    if (!active_ && out_.empty() && beast::iequals(expect, "100-continue"))
      QueueOut("HTTP/1.1 100 Continue\r\n\r\n", false);
    read_stage_ = ReadStage::kBody;
    IssueRead();
  }

  void OnBody(beast::error_code ec) {
    if (ReadInterrupted(ec) || closed_) return;
    read_stage_ = ReadStage::kNone;
    if (ec == http::error::body_limit) return RejectTooLarge();
    if (IsMalformed(ec)) return RejectMalformed(ec);
    if (ec) return OnReadClosed(ec);
    auto msg = parser_->release();
    parser_.reset();
    Pending p;
    Request& r = p.req;
    r.method = std::string(msg.method_string());
    std::string_view target(msg.target().data(), msg.target().size());
    auto q = target.find('?');
    r.path = PercentDecode(target.substr(0, q), false);
    if (q != std::string_view::npos) {
      r.raw_query = std::string(target.substr(q + 1));
      r.query = ParseQuery(r.raw_query);
    }
    for (const auto& f : msg) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    r.body = std::move(msg.body());
    r.remote_addr = remote_;
    p.close_after = !msg.keep_alive();
    if (IsUpgradeRequest(r)) {
      // Whatever follows on the connection belongs to the new protocol (or to nobody).
      p.upgrade = true;
      p.close_after = true;
    }
    if (p.close_after) stop_reading_ = true;
    Enqueue(std::move(p));
    DoRead();
  }

  void RejectTooLarge() {
    stop_reading_ = true;
    Pending p;
    p.req.method = parser_ ? std::string(parser_->get().method_string()) : "POST";
    p.error = Status(StatusCode::kRequestEntityTooLarge,
                     "Request entity too large: limit is " + std::to_string(core_->opts.max_body_bytes));
    p.close_after = true;
    Enqueue(std::move(p));
  }

  // A request the parser rejected (as opposed to the peer going away).
  static bool IsMalformed(beast::error_code ec) {
    return ec.category() == beast::error_code(http::error::bad_method).category() &&
           ec != http::error::end_of_stream && ec != http::error::partial_message;
  }

  void RejectMalformed(beast::error_code ec) {
    TUG_VLOG(4, kComponent) << "malformed request" << kv("remote", remote_) << kv("err", ec.message());
    stop_reading_ = true;
    Pending p;
    p.error = BadRequestError("malformed HTTP request: " + ec.message());
    p.close_after = true;
    Enqueue(std::move(p));
  }

  void OnReadClosed(beast::error_code ec) {
    // The peer closed (or the read failed / idled out). Whatever is in flight can no longer be
    // answered: cut it so watches and log streams stop at once.
    TUG_VLOG(5, kComponent) << "connection read ended" << kv("remote", remote_) << kv("err", ec.message());
    DoClose();
  }

  void Enqueue(Pending p) {
    if (!active_ && pending_.empty()) return Dispatch(std::move(p));
    pending_.push_back(std::move(p));
  }

  void Dispatch(Pending p) {
    active_ = true;
    close_after_response_ = p.close_after;
    auto w = std::make_shared<WriterImpl>(shared_from_this(), *core_, p.req.method == "HEAD", p.close_after, p.upgrade);
    writer_ = w;
    if (p.error) {
      SendStatus(*w, *p.error);
      return;
    }
    if (const authn::Authenticator* a = core_->opts.authenticator) {
      std::string authz = p.req.Header("Authorization");
      authn::Credentials creds;
      creds.authorization = authz;
      creds.client_cert = cert_ ? &*cert_ : nullptr;
      authn::AuthResult res = a->Authenticate(creds);
      if (res.outcome == authn::Outcome::kAuthenticated) {
        p.req.user = std::move(res.user);
      } else if (res.outcome == authn::Outcome::kNoCredentials && authn::IsAnonymousPath(p.req.path)) {
        p.req.user = authn::AnonymousUser();
      } else {
        TUG_VLOG(4, kComponent) << "unauthorized" << kv("path", p.req.path) << kv("remote", remote_);
        SendStatus(*w, UnauthorizedError("Unauthorized"));
        return;
      }
    }
    TUG_VLOG(5, kComponent) << "request" << kv("method", p.req.method) << kv("path", p.req.path)
                            << kv("user", p.req.user.name);
    // An upgrade request (exec/attach/port-forward) goes to the handler like any other; no read
    // is posted for it (stop_reading_), so the handler may take the stream over (Hijack).
    Handler* h = core_->handler;
    if (!p.upgrade && h->HandlesInline(p.req)) {
      // A handler that does not block runs here: no hand-off to a worker and back.
      h->Handle(std::move(p.req), std::move(w));
    } else {
      auto req = std::make_shared<Request>(std::move(p.req));
      core_->pool->Submit([h, req, w]() mutable { h->Handle(std::move(*req), std::move(w)); });
    }
    DoRead();  // keep a read posted to notice the peer going away (not for upgrades)
  }

  void QueueOut(std::string data, bool completes) {
    if (closed_) {
      queued_bytes -= std::min(queued_bytes.load(), data.size());
      return;
    }
    out_.push_back(Out{std::move(data), completes});
    DoWrite();
  }

  void DoWrite(bool at_completion = false) {
    if (writing_ || closed_ || moving_) return;
    if (out_.empty()) {
      // Streamed output is pulled only now (everything queued before it is written), so a
      // watcher's events pile up in its writer while a write is in flight and go out together.
      std::string data;
      bool completes = false;
      if (auto w = writer_.lock(); w && w->Pull(&data, &completes, at_completion))
        out_.push_back(Out{std::move(data), completes});
    }
    if (out_.empty()) return;
    writing_ = true;
    write_count_ = std::min<size_t>(out_.size(), 64);
    bufs_.clear();
    for (size_t i = 0; i < write_count_; ++i) bufs_.emplace_back(out_[i].data.data(), out_[i].data.size());
    asio::async_write(stream_, bufs_, Bind([this](beast::error_code ec, size_t) { OnWrite(ec); }));
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) {
      TUG_VLOG(4, kComponent) << "write failed" << kv("remote", remote_) << kv("err", ec.message());
      return DoClose();
    }
    bool completed = false;
    for (size_t i = 0; i < write_count_; ++i) {
      queued_bytes -= std::min(queued_bytes.load(), out_.front().data.size());
      completed |= out_.front().completes;
      out_.pop_front();
    }
    if (completed) ResponseDone();
    if (Moved()) return;  // the new strand goes on (TryMove posted it)
    if (moving_) return TryMove();
    if (!closed_) DoWrite(/*at_completion=*/true);
  }

  void ResponseDone() {
    active_ = false;
    if (auto w = writer_.lock()) w->Detach();
    writer_.reset();
    if (close_after_response_) return DoClose();
    if (!pending_.empty()) {
      Pending p = std::move(pending_.front());
      pending_.pop_front();
      Dispatch(std::move(p));
    }
    if (!active_) DoRead();
    MoveTo(false);  // last: a stream ended, requests are served by the request threads again
  }

  void DoClose() {
    if (closed_) return;
    closed_ = true;
    if (auto w = writer_.lock()) w->Detach();
    writer_.reset();
    pending_.clear();
    beast::error_code ec;
    auto& sock = Lowest().socket();
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    size_t dropped = 0;
    for (auto& o : out_) dropped += o.data.size();
    queued_bytes -= std::min(queued_bytes.load(), dropped);
    out_.clear();
    std::lock_guard<std::mutex> l(core_->conns_mu);
    core_->conns.erase(this);
  }

  struct Out {
    std::string data;
    bool completes;
  };

  enum class ReadStage { kNone, kHeader, kBody };

  std::shared_ptr<Core> core_;
  const Strand request_strand_;
  const Strand stream_strand_;
  std::atomic<bool> on_stream_{false};  // written on the current strand; read anywhere (Exec)
  std::mutex inbox_mu_;
  std::deque<std::function<void()>> inbox_;  // GUARDED_BY(inbox_mu_): Post's work, in order
  bool want_stream_ = false;
  bool moving_ = false;         // a move is under way: no read or write starts
  bool read_cancelled_ = false;  // the posted read was cancelled for a move
  ReadStage read_stage_ = ReadStage::kNone;  // the read posted or to re-post
  Stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<authn::CertIdentity> cert_;
  std::deque<Pending> pending_;
  std::weak_ptr<WriterImpl> writer_;  // the in-flight response; weak so a dropped writer is noticed
  bool active_ = false;
  bool reading_ = false;
  bool stop_reading_ = false;
  bool close_after_response_ = false;
  bool closed_ = false;
  bool writing_ = false;
  std::deque<Out> out_;
  std::vector<asio::const_buffer> bufs_;
  size_t write_count_ = 0;
};

// ---------------------------------------------------------------- server

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(std::shared_ptr<Core> core) : core_(std::move(core)), acceptor_(asio::make_strand(core_->ioc)) {}
  ~ServerImpl() override { Stop(); }

  Status Listen() {
    const auto& o = core_->opts;
    beast::error_code ec;
    auto addr = asio::ip::make_address(o.bind_address.empty() ? "0.0.0.0" : o.bind_address, ec);
    if (ec) return BadRequestError("invalid bind address " + o.bind_address);
    tcp::endpoint ep(addr, static_cast<unsigned short>(o.port));
    int fd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return UnavailableError(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      int e = errno;
      ::close(fd);
      return UnavailableError("cannot listen on " + o.bind_address + ":" + std::to_string(o.port) + ": " +
                              std::strerror(e));
    }
    acceptor_.assign(ep.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      return InternalError("acceptor: " + ec.message());
    }
    port_ = acceptor_.local_endpoint(ec).port();
    return Status::Ok();
  }

  void Run() {
    running_ = true;
    core_->pool = std::make_unique<WorkerPool>(core_->opts.min_workers, core_->opts.max_workers);
    work_.emplace(core_->ioc.get_executor());
    core_->handshake_done = [this] { asio::post(acceptor_.get_executor(), [this] { ResumeAccept(); }); };
    asio::dispatch(acceptor_.get_executor(), [this] { AcceptNext(); });
    for (int i = 0; i < std::max(1, core_->opts.io_threads); ++i) threads_.emplace_back([this] { core_->ioc.run(); });
    if (core_->separate_streams) {
      stream_work_.emplace(core_->stream_ioc.get_executor());
      for (int i = 0; i < core_->opts.stream_io_threads; ++i)
        threads_.emplace_back([this] {
          // Linux applies nice per thread: the fan-out yields the CPU to requests.
          if (int nice = core_->opts.stream_nice; nice != 0 &&
              ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), nice) != 0)
            TUG_LOG(WARNING, kComponent) << "cannot lower the stream threads' priority" << kv("err", std::strerror(errno));
          core_->stream_ioc.run();
        });
    }
  }

  int port() const override { return port_; }

  size_t open_connections() const override {
    std::lock_guard<std::mutex> l(core_->conns_mu);
    return core_->conns.size();
  }

  void Stop() override {
    if (!running_ || stopped_.exchange(true)) return;
    // 1. Stop accepting.
    {
      std::promise<void> done;
      asio::dispatch(acceptor_.get_executor(), [this, &done] {
        beast::error_code ec;
        acceptor_.close(ec);
        done.set_value();
      });
      done.get_future().wait();
    }
    // 2. Cut every open connection (OnClose callbacks run).
    std::vector<std::shared_ptr<ConnBase>> conns;
    {
      std::lock_guard<std::mutex> l(core_->conns_mu);
      core_->stopping = true;
      for (auto& [p, w] : core_->conns)
        if (auto c = w.lock()) conns.push_back(std::move(c));
    }
    std::mutex mu;
    std::condition_variable cv;
    size_t left = conns.size();
    for (auto& c : conns)
      c->PostClose([&] {
        std::lock_guard<std::mutex> l(mu);
        if (--left == 0) cv.notify_all();
      });
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return left == 0; });
    }
    conns.clear();
    // 3. Let in-flight handlers return (their writes are now no-ops).
    core_->pool->Stop();
    // 4. Let the event loop run out of work (aborted operations complete and release their
    //    connections); a watchdog forces it after a bound.
    work_.reset();
    stream_work_.reset();
    std::mutex wmu;
    std::condition_variable wcv;
    bool joined = false;
    std::thread watchdog([&] {
      std::unique_lock<std::mutex> l(wmu);
      if (!wcv.wait_for(l, std::chrono::seconds(5), [&] { return joined; })) {
        TUG_LOG(WARNING, kComponent) << "event loop did not drain; stopping it";
        core_->ioc.stop();
        core_->stream_ioc.stop();
      }
    });
    for (auto& t : threads_) t.join();
    {
      std::lock_guard<std::mutex> l(wmu);
      joined = true;
    }
    wcv.notify_all();
    watchdog.join();
    threads_.clear();
    TUG_LOG(INFO, kComponent) << "server stopped" << kv("port", port_);
  }

 private:
  void AcceptNext() {
    acceptor_.async_wait(tcp::acceptor::wait_read, [this](beast::error_code ec) {
      if (ec) return;  // closed
      for (;;) {
        if (AtHandshakeLimit()) {
          paused_ = true;  // ResumeAccept goes on
          return;
        }
        int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            TUG_LOG(WARNING, kComponent) << "accept failed" << kv("err", std::strerror(errno));
          break;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        // Dead peers (no FIN) are found by TCP keep-alive, as Go's server does.
        ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        int idle = 15;
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
        Strand strand = asio::make_strand(core_->ioc);
        tcp::socket sock(strand);
        beast::error_code aec;
        sock.assign(acceptor_.local_endpoint(aec).protocol(), fd, aec);
        if (aec) {
          ::close(fd);
          continue;
        }
        std::shared_ptr<ConnBase> conn;
        if (core_->opts.tls) {
          auto c = std::make_shared<Connection<true>>(core_, strand, std::move(sock));
          conn = c;
          if (Register(conn)) {
            ++core_->handshakes;
            c->Start();
          }
        } else {
          auto c = std::make_shared<Connection<false>>(core_, strand, std::move(sock));
          conn = c;
          if (Register(conn)) c->Start();
        }
      }
      AcceptNext();
    });
  }

  bool AtHandshakeLimit() const {
    int max = core_->opts.max_concurrent_handshakes;
    return core_->opts.tls && max > 0 && core_->handshakes.load() >= max;
  }

  // On the acceptor's strand, after a handshake ended.
  void ResumeAccept() {
    if (!paused_ || AtHandshakeLimit()) return;
    paused_ = false;
    AcceptNext();
  }

  bool Register(const std::shared_ptr<ConnBase>& c) {
    std::lock_guard<std::mutex> l(core_->conns_mu);
    if (core_->stopping) return false;
    core_->conns[c.get()] = c;
    return true;
  }

  std::shared_ptr<Core> core_;
  tcp::acceptor acceptor_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> stream_work_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
  bool running_ = false;
  bool paused_ = false;  // on the acceptor's strand: accepting waits for handshakes to end
};

int AlpnSelect(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
               void*) {
  static const unsigned char kProto[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* sel = nullptr;
  if (SSL_select_next_proto(&sel, outlen, kProto, sizeof kProto, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

Status SetupTls(Core& core) {
  const TlsOptions& t = core.opts.tls_files;
  core.ssl.emplace(asio::ssl::context::tls_server);
  auto& ctx = *core.ssl;
  beast::error_code ec;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1,
                  ec);
  ctx.use_certificate_chain_file(t.cert_file, ec);
  if (ec) return BadRequestError("serving certificate " + t.cert_file + ": " + ec.message());
  ctx.use_private_key_file(t.key_file, asio::ssl::context::pem, ec);
  if (ec) return BadRequestError("serving key " + t.key_file + ": " + ec.message());
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_alpn_select_cb(native, AlpnSelect, nullptr);
  if (!t.client_ca_file.empty()) {
    ctx.load_verify_file(t.client_ca_file, ec);
    if (ec) return BadRequestError("client CA " + t.client_ca_file + ": " + ec.message());
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(t.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(native, names);
    // Client certificates are optional; a presented one must verify (else the handshake fails)
    // and be usable for client authentication (extended key usage).
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_purpose(native, X509_PURPOSE_SSL_CLIENT);
  }
  return Status::Ok();
}

}  // namespace

std::string PercentDecode(std::string_view s, bool is_query) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = HexVal(s[i + 1]), lo = HexVal(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    if (c == '+' && is_query) {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= raw.size()) {
    size_t amp = raw.find('&', pos);
    if (amp == std::string_view::npos) amp = raw.size();
    std::string_view part = raw.substr(pos, amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string_view::npos)
        out.emplace_back(PercentDecode(part, true), "");
      else
        out.emplace_back(PercentDecode(part.substr(0, eq), true), PercentDecode(part.substr(eq + 1), true));
    }
    pos = amp + 1;
  }
  return out;
}

Result<ServerPtr> StartServer(const ServerOptions& opts, Handler& handler) {
  auto core = std::make_shared<Core>(opts);
  core->handler = &handler;
  if (opts.tls) RETURN_IF_ERROR(SetupTls(*core));
  auto srv = std::make_unique<ServerImpl>(core);
  RETURN_IF_ERROR(srv->Listen());
  srv->Run();
  TUG_LOG(INFO, kComponent) << "serving" << kv("addr", opts.bind_address) << kv("port", srv->port())
                            << kv("tls", opts.tls ? "true" : "false");
  return ServerPtr(std::move(srv));
}

}  // namespace tug::apiserver::server
