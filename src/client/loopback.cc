// Loopback transport: requests go straight to an in-process apiserver::Handler.
#include "client/loopback.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/log.h"

namespace tug::client {

namespace {

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < s.size() && HexVal(s[i + 1]) >= 0 && HexVal(s[i + 2]) >= 0) {
      out += static_cast<char>(HexVal(s[i + 1]) * 16 + HexVal(s[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

apiserver::Request BuildRequest(const HttpRequest& in, const apiserver::UserInfo& user) {
  apiserver::Request r;
  r.method = in.method;
  r.path = in.path;
  r.raw_query = in.query;
  std::string_view q = in.query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view kv = q.substr(0, amp);
    if (!kv.empty()) {
      size_t eq = kv.find('=');
      if (eq == std::string_view::npos) r.query.emplace_back(Unescape(kv), "");
      else r.query.emplace_back(Unescape(kv.substr(0, eq)), Unescape(kv.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  if (!in.accept.empty()) r.headers.emplace_back("Accept", in.accept);
  if (!in.content_type.empty()) r.headers.emplace_back("Content-Type", in.content_type);
  r.headers.emplace_back("User-Agent", "tug-loopback");
  r.body = in.body;
  r.user = user;
  r.remote_addr = "loopback";
  return r;
}

void RunAll(std::vector<std::function<void()>>& cbs) {
  for (auto& cb : cbs) cb();
  cbs.clear();
}

// ---------------------------------------------------------------------------------------------
// Do(): collects one whole response.

// Do() waits on cv for done/dropped; DoAsync() sets on_done instead, which the writer calls
// (outside the lock) with the response, or with an error when the handler drops it unanswered.
struct DoState {
  std::mutex mu;
  std::condition_variable cv;
  HttpResponse resp;
  bool done = false;
  bool dropped = false;  // the handler let go of the writer without answering
  std::function<void(Result<HttpResponse>)> on_done;
  std::string what;  // "METHOD path", for the error of a dropped request
};

class DoWriter : public apiserver::ResponseWriter {
 public:
  explicit DoWriter(std::shared_ptr<DoState> st) : st_(std::move(st)) {}
  ~DoWriter() override {
    std::function<void(Result<HttpResponse>)> on_done;
    {
      std::lock_guard<std::mutex> lock(st_->mu);
      if (st_->done) return;
      st_->dropped = true;
      st_->cv.notify_all();
      on_done.swap(st_->on_done);
    }
    if (on_done) on_done(UnavailableError("the handler did not answer " + st_->what));
  }
  void Send(int code, std::string content_type, std::string body,
            std::vector<std::pair<std::string, std::string>>) override {
    std::unique_lock<std::mutex> lock(st_->mu);
    if (st_->done) return;
    st_->resp.code = code;
    st_->resp.content_type = std::move(content_type);
    st_->resp.body = std::move(body);
    Complete(std::move(lock));
  }
  void StartStream(int code, std::string content_type) override {
    std::lock_guard<std::mutex> lock(st_->mu);
    st_->resp.code = code;
    st_->resp.content_type = std::move(content_type);
  }
  bool Write(std::string chunk) override {
    std::lock_guard<std::mutex> lock(st_->mu);
    if (st_->done) return false;
    st_->resp.body += chunk;
    return true;
  }
  void Finish() override {
    std::unique_lock<std::mutex> lock(st_->mu);
    if (st_->done) return;
    Complete(std::move(lock));
  }
  void OnClose(std::function<void()> cb) override {
    {
      std::lock_guard<std::mutex> lock(st_->mu);
      if (!st_->done) {
        on_close_.push_back(std::move(cb));
        return;
      }
    }
    cb();
  }
  bool Closed() const override {
    std::lock_guard<std::mutex> lock(st_->mu);
    return st_->done;
  }

 private:
  // Completes the answer (`lock` holds st_->mu; released here): hands it to the DoAsync
  // callback or wakes the waiting Do(), then runs the OnClose callbacks.
  void Complete(std::unique_lock<std::mutex> lock) {
    st_->done = true;
    std::function<void(Result<HttpResponse>)> on_done;
    if (st_->on_done) on_done.swap(st_->on_done);
    else st_->cv.notify_all();
    std::vector<std::function<void()>> cbs;
    cbs.swap(on_close_);
    lock.unlock();
    RunAll(cbs);
    if (on_done) on_done(std::move(st_->resp));
  }

  std::shared_ptr<DoState> st_;
  std::vector<std::function<void()>> on_close_;  // guarded by st_->mu
};

// ---------------------------------------------------------------------------------------------
// Open(): a queue between the handler's writes and the stream's delivery thread.

struct StreamState {
  struct Item {
    enum Kind { kHead, kData, kEnd } kind;
    int code = 0;
    std::string text;  // content type for kHead, bytes for kData
    Status status;     // kEnd
  };

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> queue;
  size_t queued_bytes = 0;
  size_t max_queued_bytes = 0;
  bool ended = false;      // an end item is queued (handler finished, or the stream was cut off)
  bool cancelled = false;  // the client cancelled: deliver nothing more
  bool closed = false;     // the "connection" is closed (cancel or cut off)
  std::vector<std::function<void()>> on_close;

  std::function<void(int, std::string_view)> on_head;
  std::function<void(std::string_view)> on_data;
  std::function<void(Status)> on_end;

  // Queues the end and closes; returns the OnClose callbacks to run (outside the lock).
  std::vector<std::function<void()>> EndLocked(Status st) {
    std::vector<std::function<void()>> cbs;
    if (!ended) {
      ended = true;
      queue.push_back({Item::kEnd, 0, {}, std::move(st)});
      cv.notify_all();
    }
    cbs.swap(on_close);
    return cbs;
  }
};

class StreamWriter : public apiserver::ResponseWriter {
 public:
  explicit StreamWriter(std::shared_ptr<StreamState> st) : st_(std::move(st)) {}
  ~StreamWriter() override {
    std::vector<std::function<void()>> cbs;
    {
      std::lock_guard<std::mutex> lock(st_->mu);
      if (st_->ended) return;
      if (!started_) st_->queue.push_back({StreamState::Item::kHead, 500, "application/json", {}});
      cbs = st_->EndLocked(UnavailableError("the handler ended the response without finishing it"));
    }
    RunAll(cbs);
  }
  void Send(int code, std::string content_type, std::string body,
            std::vector<std::pair<std::string, std::string>>) override {
    std::vector<std::function<void()>> cbs;
    {
      std::lock_guard<std::mutex> lock(st_->mu);
      if (st_->ended || started_) return;
      started_ = true;
      st_->queue.push_back({StreamState::Item::kHead, code, std::move(content_type), {}});
      if (!body.empty()) st_->queue.push_back({StreamState::Item::kData, 0, std::move(body), {}});
      cbs = st_->EndLocked(Status::Ok());
    }
    RunAll(cbs);
  }
  void StartStream(int code, std::string content_type) override {
    std::lock_guard<std::mutex> lock(st_->mu);
    if (st_->ended || started_) return;
    started_ = true;
    st_->queue.push_back({StreamState::Item::kHead, code, std::move(content_type), {}});
    st_->cv.notify_all();
  }
  bool Write(std::string chunk) override {
    std::vector<std::function<void()>> cbs;
    {
      std::lock_guard<std::mutex> lock(st_->mu);
      if (st_->ended || st_->closed) return false;
      if (st_->queued_bytes + chunk.size() > st_->max_queued_bytes) {
        st_->closed = true;
        cbs = st_->EndLocked(UnavailableError("loopback stream cut off: the reader fell too far behind"));
      } else {
        st_->queued_bytes += chunk.size();
        st_->queue.push_back({StreamState::Item::kData, 0, std::move(chunk), {}});
        st_->cv.notify_all();
        return true;
      }
    }
    TUG_LOG(WARNING, "client") << "loopback stream cut off" << kv("reason", "slow reader");
    RunAll(cbs);
    return false;
  }
  void Finish() override {
    std::vector<std::function<void()>> cbs;
    {
      std::lock_guard<std::mutex> lock(st_->mu);
      cbs = st_->EndLocked(Status::Ok());
    }
    RunAll(cbs);
  }
  void OnClose(std::function<void()> cb) override {
    {
      std::lock_guard<std::mutex> lock(st_->mu);
      if (!st_->ended && !st_->closed) {
        st_->on_close.push_back(std::move(cb));
        return;
      }
    }
    cb();
  }
  bool Closed() const override {
    std::lock_guard<std::mutex> lock(st_->mu);
    return st_->closed || st_->ended;
  }

 private:
  std::shared_ptr<StreamState> st_;
  bool started_ = false;  // guarded by st_->mu
};

class LoopbackStream : public Stream {
 public:
  LoopbackStream(std::shared_ptr<StreamState> st, apiserver::Handler& handler, apiserver::Request req)
      : st_(std::move(st)) {
    auto w = std::make_shared<StreamWriter>(st_);
    thread_ = std::thread([st = st_, &handler, req = std::move(req), w = std::move(w)]() mutable {
      handler.Handle(std::move(req), std::move(w));
      w.reset();
      Deliver(*st);
    });
  }
  ~LoopbackStream() override {
    Cancel();
    if (thread_.joinable()) {
      // Destroyed from one of its own callbacks: the thread ends when the callback returns and
      // holds its own reference to the state.
      if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();
      else thread_.join();
    }
  }
  void Cancel() override {
    std::vector<std::function<void()>> cbs;
    {
      std::lock_guard<std::mutex> lock(st_->mu);
      st_->cancelled = true;
      st_->closed = true;
      st_->queue.clear();
      st_->cv.notify_all();
      cbs.swap(st_->on_close);
    }
    RunAll(cbs);
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

 private:
  static void Deliver(StreamState& st) {
    std::unique_lock<std::mutex> lock(st.mu);
    while (true) {
      st.cv.wait(lock, [&] { return st.cancelled || !st.queue.empty(); });
      if (st.cancelled) return;
      StreamState::Item item = std::move(st.queue.front());
      st.queue.pop_front();
      if (item.kind == StreamState::Item::kData) st.queued_bytes -= item.text.size();
      lock.unlock();
      switch (item.kind) {
        case StreamState::Item::kHead:
          if (st.on_head) st.on_head(item.code, item.text);
          break;
        case StreamState::Item::kData:
          if (st.on_data) st.on_data(item.text);
          break;
        case StreamState::Item::kEnd:
          if (st.on_end) st.on_end(std::move(item.status));
          return;
      }
      lock.lock();
    }
  }

  std::shared_ptr<StreamState> st_;
  std::thread thread_;
};

class LoopbackTransport : public Transport {
 public:
  LoopbackTransport(apiserver::Handler& handler, apiserver::UserInfo user, LoopbackOptions opts)
      : handler_(handler), user_(std::move(user)), opts_(opts) {}

  Result<HttpResponse> Do(const HttpRequest& req) override {
    auto st = std::make_shared<DoState>();
    handler_.Handle(BuildRequest(req, user_), std::make_shared<DoWriter>(st));
    std::unique_lock<std::mutex> lock(st->mu);
    st->cv.wait(lock, [&] { return st->done || st->dropped; });
    if (!st->done) return UnavailableError("the handler did not answer " + req.method + " " + req.path);
    return std::move(st->resp);
  }

  void DoAsync(const HttpRequest& req, std::function<void(Result<HttpResponse>)> done) override {
    auto st = std::make_shared<DoState>();
    st->on_done = std::move(done);
    st->what = req.method + " " + req.path;
    handler_.Handle(BuildRequest(req, user_), std::make_shared<DoWriter>(std::move(st)));
  }
  bool Pipelines() const override { return true; }

  Result<std::unique_ptr<Stream>> Open(const HttpRequest& req, std::function<void(int, std::string_view)> on_head,
                                       std::function<void(std::string_view)> on_data,
                                       std::function<void(Status)> on_end) override {
    auto st = std::make_shared<StreamState>();
    st->max_queued_bytes = opts_.max_queued_bytes;
    st->on_head = std::move(on_head);
    st->on_data = std::move(on_data);
    st->on_end = std::move(on_end);
    return std::unique_ptr<Stream>(std::make_unique<LoopbackStream>(st, handler_, BuildRequest(req, user_)));
  }

 private:
  apiserver::Handler& handler_;
  const apiserver::UserInfo user_;
  const LoopbackOptions opts_;
};

}  // namespace

std::shared_ptr<Transport> NewLoopbackTransport(apiserver::Handler& handler, apiserver::UserInfo user) {
  return NewLoopbackTransport(handler, std::move(user), LoopbackOptions{});
}

std::shared_ptr<Transport> NewLoopbackTransport(apiserver::Handler& handler, apiserver::UserInfo user,
                                                LoopbackOptions opts) {
  return std::make_shared<LoopbackTransport>(handler, std::move(user), opts);
}

}  // namespace tug::client
