// HTTPS (or plain HTTP) transport on libcurl.
//
// Do(): easy handles come from a pool, so their connections (and TLS sessions) are reused by
// the next request (keep-alive); each handle is reset and configured per request.
// Open(): each stream has its own easy handle driven by its own multi handle on its own thread,
// so Cancel() can wake it at once (curl_multi_wakeup) instead of waiting for a progress tick.
//
// Proxies are not used (tug components talk to the API server directly), whatever the
// environment says.
#include <curl/curl.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "client/client.h"

namespace tug::client {

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Percent-encodes a path, keeping '/' and the RFC 3986 path characters.
std::string PathEscape(std::string_view p) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(p.size());
  for (unsigned char c : p) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~' || c == '/' || c == ':' || c == '@' || c == '!' || c == '$' || c == '&' ||
        c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct CurlSlist {
  curl_slist* list = nullptr;
  ~CurlSlist() { curl_slist_free_all(list); }
  void Add(const std::string& h) { list = curl_slist_append(list, h.c_str()); }
};

size_t AppendBody(char* ptr, size_t size, size_t n, void* userdata) {
  static_cast<std::string*>(userdata)->append(ptr, size * n);
  return size * n;
}

class HttpsTransport : public Transport, public std::enable_shared_from_this<HttpsTransport> {
 public:
  explicit HttpsTransport(Config c) : cfg_(std::move(c)) {
    GlobalInit();
    while (!cfg_.server.empty() && cfg_.server.back() == '/') cfg_.server.pop_back();
  }

  ~HttpsTransport() override {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  // Sets everything but the write callback. `headers` must outlive the transfer.
  void Configure(CURL* h, const HttpRequest& req, CurlSlist& headers, char* errbuf, bool stream) const {
    std::string url = cfg_.server + PathEscape(req.path);
    if (!req.query.empty()) url += "?" + req.query;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<int64_t>(cfg_.timeout.count(), 10000)));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, stream ? 0L : static_cast<long>(cfg_.timeout.count()));
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_USERAGENT, cfg_.user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    if (!cfg_.ca_pem.empty()) {
      curl_blob blob{const_cast<char*>(cfg_.ca_pem.data()), cfg_.ca_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (!cfg_.cert_pem.empty()) {
      curl_blob blob{const_cast<char*>(cfg_.cert_pem.data()), cfg_.cert_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
      curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (!cfg_.key_pem.empty()) {
      curl_blob blob{const_cast<char*>(cfg_.key_pem.data()), cfg_.key_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
      curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (cfg_.insecure_skip_verify) {
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!req.accept.empty()) headers.Add("Accept: " + req.accept);
    if (!req.content_type.empty()) headers.Add("Content-Type: " + req.content_type);
    if (!cfg_.token.empty()) headers.Add("Authorization: Bearer " + cfg_.token);
    headers.Add("Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.list);
    if (req.method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
      if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
      if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || !req.body.empty()) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
      }
    }
  }

  Result<HttpResponse> Do(const HttpRequest& req) override {
    CURL* h = Acquire();
    if (!h) return InternalError("curl_easy_init failed");
    CurlSlist headers;
    char errbuf[CURL_ERROR_SIZE] = {0};
    Configure(h, req, headers, errbuf, false);
    HttpResponse resp;
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp.body);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      std::string msg = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      Release(h, false);
      return UnavailableError(req.method + " " + cfg_.server + req.path + ": " + msg);
    }
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    char* ct = nullptr;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    resp.code = static_cast<int>(code);
    if (ct) resp.content_type = ct;
    Release(h, true);
    return resp;
  }

  Result<std::unique_ptr<Stream>> Open(const HttpRequest& req, std::function<void(int, std::string_view)> on_head,
                                       std::function<void(std::string_view)> on_data,
                                       std::function<void(Status)> on_end) override;

 private:
  CURL* Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        curl_easy_reset(h);  // keeps the connection and TLS session caches
        return h;
      }
    }
    return curl_easy_init();
  }

  void Release(CURL* h, bool reusable) {
    if (reusable) {
      // Detach per-request pointers before the handle sits idle.
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
      curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
      std::lock_guard<std::mutex> lock(mu_);
      if (idle_.size() < kMaxIdle) {
        idle_.push_back(h);
        return;
      }
    }
    curl_easy_cleanup(h);
  }

  static constexpr size_t kMaxIdle = 32;
  Config cfg_;
  std::mutex mu_;
  std::vector<CURL*> idle_;

  friend class CurlStream;
};

// ---------------------------------------------------------------------------------------------

struct StreamShared {
  std::atomic<bool> cancelled{false};
  std::mutex mu;  // guards multi between Cancel's wakeup and the thread's cleanup
  CURLM* multi = nullptr;
  std::function<void(int, std::string_view)> on_head;
  std::function<void(std::string_view)> on_data;
  std::function<void(Status)> on_end;
  bool head_sent = false;
  CURL* easy = nullptr;
  HttpRequest req;  // the body and the header list must live as long as the transfer
  CurlSlist headers;
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string url_for_errors;
};

void SendHead(StreamShared* s) {
  if (s->head_sent) return;
  long code = 0;
  curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 && code != 0) return;  // an interim 1xx block; the real head follows
  s->head_sent = true;
  char* ct = nullptr;
  curl_easy_getinfo(s->easy, CURLINFO_CONTENT_TYPE, &ct);
  if (s->on_head) s->on_head(static_cast<int>(code), ct ? ct : "");
}

// Reports the head as soon as the header block ends (a watch may send no body for a long time).
size_t StreamHeader(char* ptr, size_t size, size_t n, void* userdata) {
  auto* s = static_cast<StreamShared*>(userdata);
  if (s->cancelled.load()) return 0;
  std::string_view line(ptr, size * n);
  if (line == "\r\n" || line == "\n") SendHead(s);
  return size * n;
}

size_t StreamWrite(char* ptr, size_t size, size_t n, void* userdata) {
  auto* s = static_cast<StreamShared*>(userdata);
  if (s->cancelled.load()) return 0;  // aborts the transfer
  SendHead(s);
  if (s->cancelled.load()) return 0;
  if (s->on_data) s->on_data(std::string_view(ptr, size * n));
  return size * n;
}

class CurlStream : public Stream {
 public:
  explicit CurlStream(std::shared_ptr<StreamShared> s) : s_(std::move(s)) {
    thread_ = std::thread([s = s_] { Run(*s); });
  }
  ~CurlStream() override {
    Cancel();
    if (thread_.joinable()) {
      if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();  // destroyed from a callback
      else thread_.join();
    }
  }
  void Cancel() override {
    s_->cancelled = true;
    {
      std::lock_guard<std::mutex> lock(s_->mu);
      if (s_->multi) curl_multi_wakeup(s_->multi);
    }
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

 private:
  static void Run(StreamShared& s) {
    CURLcode result = CURLE_OK;
    bool done = false;
    while (!done && !s.cancelled.load()) {
      int running = 0;
      CURLMcode mc = curl_multi_perform(s.multi, &running);
      if (mc != CURLM_OK) {
        result = CURLE_RECV_ERROR;
        break;
      }
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(s.multi, &left)) {
        if (m->msg == CURLMSG_DONE) {
          result = m->data.result;
          done = true;
        }
      }
      if (done || running == 0) {
        done = true;
        break;
      }
      curl_multi_poll(s.multi, nullptr, 0, 1000, nullptr);
    }
    // An answer without a body still reports its code before the end.
    if (!s.cancelled.load() && result == CURLE_OK) SendHead(&s);
    std::string err = s.errbuf;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      curl_multi_remove_handle(s.multi, s.easy);
      curl_easy_cleanup(s.easy);
      curl_multi_cleanup(s.multi);
      s.multi = nullptr;
      s.easy = nullptr;
    }
    if (s.cancelled.load()) return;
    if (result == CURLE_OK) {
      s.on_end(Status::Ok());
    } else {
      s.on_end(UnavailableError(s.url_for_errors + ": " + (err.empty() ? curl_easy_strerror(result) : err)));
    }
  }

  std::shared_ptr<StreamShared> s_;
  std::thread thread_;
};

Result<std::unique_ptr<Stream>> HttpsTransport::Open(const HttpRequest& req,
                                                     std::function<void(int, std::string_view)> on_head,
                                                     std::function<void(std::string_view)> on_data,
                                                     std::function<void(Status)> on_end) {
  auto s = std::make_shared<StreamShared>();
  s->req = req;
  s->url_for_errors = req.method + " " + cfg_.server + req.path;
  s->easy = curl_easy_init();
  s->multi = curl_multi_init();
  if (!s->easy || !s->multi) {
    if (s->easy) curl_easy_cleanup(s->easy);
    if (s->multi) curl_multi_cleanup(s->multi);
    return InternalError("curl init failed");
  }
  Configure(s->easy, s->req, s->headers, s->errbuf, true);
  curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, &StreamWrite);
  curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s.get());
  curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, &StreamHeader);
  curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s.get());
  s->on_head = std::move(on_head);
  s->on_data = std::move(on_data);
  s->on_end = std::move(on_end);
  curl_multi_add_handle(s->multi, s->easy);
  return std::unique_ptr<Stream>(std::make_unique<CurlStream>(std::move(s)));
}

}  // namespace

std::shared_ptr<Transport> NewHttpsTransport(Config config) {
  return std::make_shared<HttpsTransport>(std::move(config));
}

}  // namespace tug::client
