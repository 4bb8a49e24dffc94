// Watch at scale (issue 4 performance): a real `tug server --disable-agent` (controllers and
// scheduler off, so only the benchmark writes), N concurrent pod watches over HTTPS with
// client certificates (libcurl multi: a few threads drive all the connections, not one thread
// per watch), and pod writes (creates, then label updates) paced at --rate per second for
// --seconds. The same write load runs first on a fresh server with no watchers (the baseline).
//
// Figures (one line each): write throughput and write latency with and without the watchers
// and their ratio, and the delivery latency of events, measured from the write's
// acknowledgement to the event's arrival at each watcher (an event that arrives before the
// writer saw its acknowledgement counts as 0), events delivered vs expected, and watchers the
// server cut off (fell too far behind).
//
//   watch_bench [--watchers 1000] [--rate 1000] [--seconds 20] [--pods 2000] [--writers 16]
//               [--watch-threads 2] [--opening 0]
//
// --opening N: each watch thread opens at most N watches at a time (0: all at once, a reconnect
// storm of TLS handshakes with client certificates).
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "client/client.h"
#include "e2e/harness.h"

namespace {

using tug::bench::IntFlag;
using SteadyClock = std::chrono::steady_clock;
namespace client = tug::client;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

// Latencies in 0.1 ms buckets up to 30 s (the last bucket holds everything slower).
class Histogram {
 public:
  static constexpr size_t kBuckets = 300000;
  Histogram() : counts_(kBuckets, 0) {}
  void Add(int64_t ns) {
    size_t b = ns <= 0 ? 0 : std::min<size_t>(kBuckets - 1, static_cast<size_t>(ns / 100000));
    ++counts_[b];
    ++total_;
    max_ns_ = std::max(max_ns_, ns);
  }
  void Merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ns_ = std::max(max_ns_, o.max_ns_);
  }
  // Upper edge of the bucket holding quantile q, in ms.
  double QuantileMs(double q) const {
    if (total_ == 0) return 0;
    uint64_t want = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1, seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= want) return (static_cast<double>(i) + 1) * 0.1;
    }
    return max_ms();
  }
  double max_ms() const { return static_cast<double>(max_ns_) / 1e6; }
  uint64_t total() const { return total_; }

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  int64_t max_ns_ = 0;
};

// The acknowledgement time of every write, by write sequence number (0 = not yet acknowledged).
struct Acks {
  explicit Acks(size_t n) : ns(n) {}
  std::vector<std::atomic<int64_t>> ns;
};

// One watch connection. The client is kept cheap (it shares the 2 cores with the server): a
// line is never parsed or copied; newlines are found with memchr and only the first kHead
// bytes of a line (where metadata.labels.seq sits) are kept to find the write's number.
struct WatchConn {
  static constexpr size_t kHead = 512;
  CURL* easy = nullptr;
  std::string head;  // the first kHead bytes of the current line
  long code = 0;
  bool ended = false;
  uint64_t events = 0;
};

// The watchers: `threads` threads, each driving its share of the connections with one curl
// multi handle.
class Watchers {
 public:
  Watchers(const client::Config& cfg, const std::string& url, int n, int threads, int opening, const Acks& acks)
      : cfg_(cfg), url_(url), acks_(acks), opening_(opening > 0 ? static_cast<size_t>(opening) : SIZE_MAX) {
    conns_.resize(static_cast<size_t>(n));
    for (int t = 0; t < threads; ++t) hists_.push_back(std::make_unique<Histogram>());
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this, t, threads] { Loop(t, threads); });
  }
  ~Watchers() { Stop(); }
  // Connections answered 200 so far.
  int Ready() const { return ready_.load(); }
  int Ended() const { return ended_.load(); }
  // Watches that had started and then ended (the server cut them off).
  int CutOff() const { return cut_.load(); }
  uint64_t Events() const { return events_.load(); }
  uint64_t Bytes() const { return bytes_.load(); }
  Histogram Latencies() const {
    Histogram h;
    for (const auto& x : hists_) h.Merge(*x);
    return h;
  }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  struct Ctx {
    Watchers* self;
    WatchConn* conn;
    Histogram* hist;
  };

  static size_t OnHeader(char* p, size_t s, size_t n, void* ud) {
    auto* c = static_cast<Ctx*>(ud);
    std::string_view line(p, s * n);
    if (line.rfind("HTTP/", 0) == 0 && c->conn->code == 0) {
      c->conn->code = std::strtol(std::string(line.substr(line.find(' ') + 1, 3)).c_str(), nullptr, 10);
      if (c->conn->code == 200) c->self->ready_.fetch_add(1);
    }
    return s * n;
  }

  static size_t OnData(char* p, size_t s, size_t n, void* ud) {
    auto* c = static_cast<Ctx*>(ud);
    const int64_t now = NowNs();
    std::string& head = c->conn->head;
    const char* at = p;
    const char* end = p + s * n;
    uint64_t got = 0;
    while (at < end) {
      const char* nl = static_cast<const char*>(std::memchr(at, '\n', static_cast<size_t>(end - at)));
      const char* stop = nl ? nl : end;
      if (head.size() < WatchConn::kHead)
        head.append(at, std::min(static_cast<size_t>(stop - at), WatchConn::kHead - head.size()));
      if (!nl) break;
      at = nl + 1;
      static constexpr std::string_view kSeq = "\"seq\":\"";
      size_t pos = head.find(kSeq);
      if (pos != std::string::npos) {  // else a bookmark
        size_t seq = std::strtoull(head.c_str() + pos + kSeq.size(), nullptr, 10);
        if (seq < c->self->acks_.ns.size()) {
          int64_t ack = c->self->acks_.ns[seq].load(std::memory_order_acquire);
          c->hist->Add(ack == 0 ? 0 : now - ack);
          ++got;
        }
      }
      head.clear();
    }
    c->conn->events += got;
    c->self->events_.fetch_add(got, std::memory_order_relaxed);
    c->self->bytes_.fetch_add(s * n, std::memory_order_relaxed);
    return s * n;
  }

  void Loop(int t, int threads) {
    CURLM* multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    std::vector<Ctx> ctxs;
    ctxs.reserve(conns_.size());
    curl_blob ca{const_cast<char*>(cfg_.ca_pem.data()), cfg_.ca_pem.size(), CURL_BLOB_COPY};
    curl_blob cert{const_cast<char*>(cfg_.cert_pem.data()), cfg_.cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(cfg_.key_pem.data()), cfg_.key_pem.size(), CURL_BLOB_COPY};
    for (size_t i = static_cast<size_t>(t); i < conns_.size(); i += static_cast<size_t>(threads)) {
      WatchConn& c = conns_[i];
      ctxs.push_back(Ctx{this, &c, hists_[static_cast<size_t>(t)].get()});
      c.easy = curl_easy_init();
      curl_easy_setopt(c.easy, CURLOPT_URL, url_.c_str());
      curl_easy_setopt(c.easy, CURLOPT_CAINFO_BLOB, &ca);
      curl_easy_setopt(c.easy, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt(c.easy, CURLOPT_SSLKEY_BLOB, &key);
      curl_easy_setopt(c.easy, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(c.easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(c.easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
      curl_easy_setopt(c.easy, CURLOPT_HEADERFUNCTION, OnHeader);
      curl_easy_setopt(c.easy, CURLOPT_HEADERDATA, &ctxs.back());
      curl_easy_setopt(c.easy, CURLOPT_WRITEFUNCTION, OnData);
      curl_easy_setopt(c.easy, CURLOPT_WRITEDATA, &ctxs.back());
      curl_easy_setopt(c.easy, CURLOPT_PRIVATE, &c);
    }
    size_t next = 0;
    std::vector<WatchConn*> opening;
    int running = 0;
    while (!stop_.load()) {
      std::erase_if(opening, [](WatchConn* c) { return c->code != 0 || c->ended; });
      for (; opening.size() < opening_ && next < ctxs.size(); ++next) {
        opening.push_back(ctxs[next].conn);
        curl_multi_add_handle(multi, ctxs[next].conn->easy);
      }
      curl_multi_perform(multi, &running);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        WatchConn* c = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &c);
        if (c && !c->ended) {
          c->ended = true;
          ended_.fetch_add(1);
          if (c->code == 200) cut_.fetch_add(1);  // else it never started (handshake, error)
        }
      }
      curl_multi_poll(multi, nullptr, 0, 20, nullptr);
    }
    for (size_t i = static_cast<size_t>(t); i < conns_.size(); i += static_cast<size_t>(threads)) {
      curl_multi_remove_handle(multi, conns_[i].easy);
      curl_easy_cleanup(conns_[i].easy);
    }
    curl_multi_cleanup(multi);
  }

  const client::Config& cfg_;
  const std::string url_;
  const Acks& acks_;
  const size_t opening_;  // watches being opened at once, per thread
  std::vector<WatchConn> conns_;
  std::vector<std::unique_ptr<Histogram>> hists_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ready_{0}, ended_{0}, cut_{0};
  std::atomic<uint64_t> events_{0}, bytes_{0};
  std::vector<std::thread> threads_;
};

// What `kubectl run NAME --image=busybox:1.36 --labels=run=NAME,seq=N -- sleep 3600` sends.
tug::Json Pod(const std::string& name, size_t seq) {
  return tug::Json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
                          R"(","labels":{"run":")" + name + R"(","seq":")" + std::to_string(seq) +
                          R"("}},"spec":{"containers":[{"name":")" + name +
                          R"(","image":"busybox:1.36","args":["sleep","3600"],"resources":{}}],
                          "dnsPolicy":"ClusterFirst","restartPolicy":"Always"},"status":{}})");
}

// ---------------------------------------------------------------- the physical ceiling
// Every delivered event is encrypted by the server, sent and received over loopback TCP and
// decrypted by the client, all on this machine's cores. These probes measure the CPU cost of
// one byte of that on one core (no API server logic at all), in the same run as the benchmark.

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// CPU seconds per byte to encrypt and then decrypt it with AES-256-GCM (the TLS 1.3 suite tug's
// server and libcurl agree on), in 16 KiB records as TLS writes them.
double CryptoCpuPerByte() {
  unsigned char key[32] = {1}, iv[12] = {2}, tag[16];
  std::vector<unsigned char> in(16384, 'x'), enc(16384 + 32), dec(16384 + 32);
  EVP_CIPHER_CTX* e = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* d = EVP_CIPHER_CTX_new();
  const double c0 = ThreadCpuSeconds();
  size_t bytes = 0;
  while (ThreadCpuSeconds() - c0 < 0.5) {
    for (int i = 0; i < 64; ++i) {
      int len = 0, fin = 0;
      EVP_EncryptInit_ex(e, EVP_aes_256_gcm(), nullptr, key, iv);
      EVP_EncryptUpdate(e, enc.data(), &len, in.data(), static_cast<int>(in.size()));
      EVP_EncryptFinal_ex(e, enc.data() + len, &fin);
      EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_GCM_GET_TAG, 16, tag);
      EVP_DecryptInit_ex(d, EVP_aes_256_gcm(), nullptr, key, iv);
      EVP_DecryptUpdate(d, dec.data(), &len, enc.data(), static_cast<int>(in.size()));
      EVP_CIPHER_CTX_ctrl(d, EVP_CTRL_GCM_SET_TAG, 16, tag);
      if (EVP_DecryptFinal_ex(d, dec.data() + len, &fin) <= 0) std::cerr << "crypto probe: tag mismatch\n";
      bytes += in.size();
    }
  }
  const double cpu = ThreadCpuSeconds() - c0;
  EVP_CIPHER_CTX_free(e);
  EVP_CIPHER_CTX_free(d);
  return cpu / static_cast<double>(bytes);
}

// CPU seconds per byte to send it in 16 KiB writes over a loopback TCP connection and receive
// it (sender and receiver threads' CPU added up).
double TcpCpuPerByte() {
  int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (ls < 0 || ::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 1) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &alen) != 0) {
    if (ls >= 0) ::close(ls);
    return 0;
  }
  int cs = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (cs < 0 || ::connect(cs, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(ls);
    if (cs >= 0) ::close(cs);
    return 0;
  }
  int ss = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(ls);
  std::atomic<double> recv_cpu{0};
  std::atomic<size_t> received{0};
  std::thread reader([&] {
    const double c0 = ThreadCpuSeconds();
    std::vector<char> buf(65536);
    size_t got = 0;
    for (ssize_t k; (k = ::read(ss, buf.data(), buf.size())) > 0;) got += static_cast<size_t>(k);
    recv_cpu = ThreadCpuSeconds() - c0;
    received = got;
  });
  std::vector<char> block(16384, 'x');
  const double c0 = ThreadCpuSeconds();
  const auto until = SteadyClock::now() + std::chrono::milliseconds(500);
  while (SteadyClock::now() < until)
    for (int i = 0; i < 64; ++i)
      if (::write(cs, block.data(), block.size()) < 0) break;
  const double send_cpu = ThreadCpuSeconds() - c0;
  ::shutdown(cs, SHUT_WR);
  reader.join();
  ::close(cs);
  ::close(ss);
  return received ? (send_cpu + recv_cpu) / static_cast<double>(received.load()) : 0;
}

struct Result {
  double writes_per_s = 0;
  double server_cpu_s = 0, bench_cpu_s = 0;  // during the writes and the delivery that follows
  double secs = 0;                           // the same window
  uint64_t bytes = 0;                        // watch bytes received
  double watch_start_s = 0;                  // until every watch answered (TLS handshakes)
  long failures = 0;
  Histogram write_latency;
  Histogram delivery;
  uint64_t events = 0, expected = 0;
  int watchers_ready = 0, cut_off = 0;
};

struct Params {
  int watchers, rate, seconds, pods, writers, watch_threads, opening;
};

bool RunOnce(const Params& p, int watchers, Result* out) {
  tug::e2e::TugServer server({"--disable-controller-manager", "--disable-scheduler"});
  std::string why;
  if (!server.Start(&why)) {
    std::cerr << why << "\n";
    return false;
  }
  auto config = client::LoadKubeconfig(server.kubeconfig());
  if (!config.ok()) {
    std::cerr << "kubeconfig: " << config.status().ToString() << "\n";
    return false;
  }
  client::Client c(client::NewHttpsTransport(*config));
  (void)c.Create(client::kNamespaces, "", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "bench"}}}});
  // No controllers run: the pods' ServiceAccount (admission needs it) is made here.
  (void)c.Create(client::kServiceAccounts, "bench",
                 {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "default"}}}});
  auto list = c.List(client::kPods, "bench");
  if (!list.ok()) {
    std::cerr << "list: " << list.status().ToString() << "\n";
    return false;
  }
  std::string rv = tug::GetStringPath(*list, {"metadata", "resourceVersion"});

  const size_t total = static_cast<size_t>(p.rate) * static_cast<size_t>(p.seconds);
  Acks acks(total);
  std::unique_ptr<Watchers> ws;
  if (watchers > 0) {
    std::string url = config->server + "/api/v1/namespaces/bench/pods?watch=true&resourceVersion=" + rv;
    ws = std::make_unique<Watchers>(*config, url, watchers, p.watch_threads, p.opening, acks);
    const auto w0 = SteadyClock::now();
    auto deadline = w0 + std::chrono::seconds(120);
    while (ws->Ready() + ws->Ended() < watchers && SteadyClock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    out->watch_start_s = std::chrono::duration<double>(SteadyClock::now() - w0).count();
    out->watchers_ready = ws->Ready();
    if (ws->Ready() < watchers) std::cerr << "only " << ws->Ready() << " of " << watchers << " watches started\n";
  }

  // Paced writes: write i is due at t0 + i/rate; late writes go at once.
  std::atomic<size_t> next{0};
  std::atomic<long> failures{0};
  std::vector<std::unique_ptr<Histogram>> wl;
  std::vector<std::thread> writers;
  const double server_cpu0 = tug::bench::ReadProc(server.pid()).cpu_s;
  rusage ru0{};
  getrusage(RUSAGE_SELF, &ru0);
  const auto t0 = SteadyClock::now();
  for (int w = 0; w < p.writers; ++w) {
    wl.push_back(std::make_unique<Histogram>());
    writers.emplace_back([&, h = wl.back().get()] {
      for (size_t i; (i = next.fetch_add(1)) < total;) {
        std::this_thread::sleep_until(t0 + std::chrono::nanoseconds(static_cast<int64_t>(1e9 * i / p.rate)));
        const std::string name = "p-" + std::to_string(i % static_cast<size_t>(p.pods));
        const int64_t start = NowNs();
        tug::Status st;
        if (i < static_cast<size_t>(p.pods)) {
          st = c.Create(client::kPods, "bench", Pod(name, i)).status();
        } else {
          std::string patch = R"({"metadata":{"labels":{"seq":")" + std::to_string(i) + "\"}}}";
          st = c.Patch(client::kPods, "bench", name, client::PatchType::kMerge, patch).status();
        }
        const int64_t end = NowNs();
        if (!st.ok()) {
          if (failures.fetch_add(1) == 0) std::cerr << "write failed: " << st.ToString() << "\n";
          continue;
        }
        acks.ns[i].store(end, std::memory_order_release);
        h->Add(end - start);
      }
    });
  }
  for (auto& t : writers) t.join();
  const double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  out->failures = failures.load();
  out->writes_per_s = static_cast<double>(total - static_cast<size_t>(out->failures)) / secs;
  for (const auto& h : wl) out->write_latency.Merge(*h);
  if (ws) {
    out->expected = static_cast<uint64_t>(total - static_cast<size_t>(out->failures)) * static_cast<uint64_t>(out->watchers_ready);
    auto deadline = SteadyClock::now() + std::chrono::seconds(30);
    while (ws->Events() < out->expected && ws->CutOff() == 0 && SteadyClock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // Cut-off watchers receive nothing more; give the others a little longer.
    while (ws->Events() < out->expected && SteadyClock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  out->secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  out->server_cpu_s = tug::bench::ReadProc(server.pid()).cpu_s - server_cpu0;
  rusage ru1{};
  getrusage(RUSAGE_SELF, &ru1);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  out->bench_cpu_s = tv(ru1.ru_utime) + tv(ru1.ru_stime) - tv(ru0.ru_utime) - tv(ru0.ru_stime);
  if (ws) {
    ws->Stop();
    out->events = ws->Events();
    out->bytes = ws->Bytes();
    out->cut_off = ws->CutOff();
    out->delivery = ws->Latencies();
  }
  ws.reset();
  server.Stop();
  return true;
}

void Figure(const std::string& name, double v, const char* unit) { std::printf("%s %.2f %s\n", name.c_str(), v, unit); }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Params p{IntFlag(args, "--watchers", 1000), IntFlag(args, "--rate", 1000),   IntFlag(args, "--seconds", 20),
           IntFlag(args, "--pods", 2000),     IntFlag(args, "--writers", 16), IntFlag(args, "--watch-threads", 2),
           IntFlag(args, "--opening", 0)};
  // Two sockets per watch (ours and the server's, which inherits the limit).
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  curl_global_init(CURL_GLOBAL_ALL);
  const double crypto_cpu = CryptoCpuPerByte(), tcp_cpu = TcpCpuPerByte();
  Result base, loaded;
  if (!RunOnce(p, 0, &base) || !RunOnce(p, p.watchers, &loaded)) return 1;
  const std::string tag = "watch: " + std::to_string(p.watchers) + " watchers, " + std::to_string(p.rate) + " writes/s";
  Figure("watch: writes/s without watchers", base.writes_per_s, "/s");
  Figure(tag + ": all watches started in", loaded.watch_start_s, "s");
  Figure(tag + ": writes/s", loaded.writes_per_s, "/s");
  Figure(tag + ": write throughput ratio to no watchers", loaded.writes_per_s / base.writes_per_s, "x");
  Figure("watch: write p50 without watchers", base.write_latency.QuantileMs(0.5), "ms");
  Figure(tag + ": write p50", loaded.write_latency.QuantileMs(0.5), "ms");
  Figure(tag + ": write p99 ratio to no watchers",
         loaded.write_latency.QuantileMs(0.99) / std::max(0.1, base.write_latency.QuantileMs(0.99)), "x");
  Figure(tag + ": event delivery p50", loaded.delivery.QuantileMs(0.5), "ms");
  Figure(tag + ": event delivery p99", loaded.delivery.QuantileMs(0.99), "ms");
  Figure(tag + ": event delivery max", loaded.delivery.max_ms(), "ms");
  Figure(tag + ": events delivered / expected",
         loaded.expected ? static_cast<double>(loaded.events) / static_cast<double>(loaded.expected) : 0, "x");
  Figure(tag + ": watchers cut off", loaded.cut_off, "");
  // Against the physical ceiling: the bytes every delivery costs in TLS and TCP on this
  // machine's cores, with no API server logic.
  const double cores = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  const double line = loaded.events ? static_cast<double>(loaded.bytes) / static_cast<double>(loaded.events) : 0;
  const double ceiling = line > 0 ? cores / (line * (crypto_cpu + tcp_cpu)) : 0;
  const double achieved = loaded.secs > 0 ? static_cast<double>(loaded.events) / loaded.secs : 0;
  const double offered = static_cast<double>(p.rate) * loaded.watchers_ready;
  Figure("watch: event line size", line, "bytes");
  Figure("ceiling: AES-256-GCM encrypt+decrypt, one core", 1e-6 / crypto_cpu, "MB/s");
  Figure("ceiling: loopback TCP send+receive, one core", 1e-6 / tcp_cpu, "MB/s");
  Figure("ceiling: deliveries/s on " + std::to_string(static_cast<int>(cores)) + " cores (TLS+TCP only)", ceiling, "/s");
  Figure(tag + ": offered deliveries/s ratio to ceiling", ceiling > 0 ? offered / ceiling : 0, "x");
  Figure(tag + ": delivered/s", achieved, "/s");
  Figure(tag + ": delivered/s ratio to ceiling", ceiling > 0 ? achieved / ceiling : 0, "x");
  Figure("watch: server CPU without watchers", base.secs > 0 ? base.server_cpu_s / base.secs : 0, "cores");
  Figure(tag + ": server CPU", loaded.secs > 0 ? loaded.server_cpu_s / loaded.secs : 0, "cores");
  Figure(tag + ": bench client CPU (writers + watchers)", loaded.secs > 0 ? loaded.bench_cpu_s / loaded.secs : 0, "cores");
  Figure(tag + ": server CPU per delivery (above no watchers)",
         loaded.events ? 1e6 * (loaded.server_cpu_s - base.server_cpu_s) / static_cast<double>(loaded.events) : 0, "us");
  Figure("ceiling: CPU per delivery (TLS+TCP)", 1e6 * line * (crypto_cpu + tcp_cpu), "us");
  if (base.failures || loaded.failures)
    std::printf("write failures: %ld without watchers, %ld with\n", base.failures, loaded.failures);
  curl_global_cleanup();
  return 0;
}
