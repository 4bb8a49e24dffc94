// End-to-end API server benchmark (issue 3 performance figures). Starts a real `tug server`
// on a temp data dir and drives it over HTTPS with client-certificate auth (libcurl), printing
// one line per figure. Figures that have a physical floor are reported as a ratio to that floor
// measured in the same run (raw SQLite inserts with the same durability).
//
//   apiserver_bench [--tug PATH] [--creates-seconds 5] [--pods 10000] [--idle-seconds 60]
//                   [--client asio|curl] [--client-threads 1] [--creates-only] [--keep]
//
// The create load measures the server, so its client is cheap: `--client asio` (default) runs
// the 64 keep-alive TLS connections on one event-loop thread (Boost.Asio/Beast, pre-built
// request bodies). `--client curl` is the older load: 64 OS threads, one libcurl handle each;
// on a 2-core machine that client used about as much CPU as the server it measured.
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>  // before Boost 1.74 asio (awaitable.hpp needs std::exchange)
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "bench_util.h"
#include "raw_sqlite.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Base64Decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    auto pos = chars.find(c);
    if (pos == std::string::npos) continue;
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

std::string KubeconfigField(const std::string& kc, const std::string& key) {
  auto pos = kc.find(key + ":");
  if (pos == std::string::npos) return "";
  pos += key.size() + 1;
  auto end = kc.find('\n', pos);
  std::string v = kc.substr(pos, end - pos);
  v.erase(0, v.find_first_not_of(" \"'"));
  v.erase(v.find_last_not_of(" \"'\r") + 1);
  return v;
}

struct Creds {
  std::string ca, cert, key;  // file paths
};

size_t Sink(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}

class Client {
 public:
  Client(const std::string& base, const Creds& c) : base_(base) {
    h_ = curl_easy_init();
    curl_easy_setopt(h_, CURLOPT_CAINFO, c.ca.c_str());
    curl_easy_setopt(h_, CURLOPT_SSLCERT, c.cert.c_str());
    curl_easy_setopt(h_, CURLOPT_SSLKEY, c.key.c_str());
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, Sink);
    curl_easy_setopt(h_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h_, CURLOPT_TIMEOUT, 60L);
  }
  ~Client() { curl_easy_cleanup(h_); }
  // Returns the HTTP code (0 on transport error).
  long Do(const char* method, const std::string& path, const std::string& body, std::string* out,
          const char* accept = "application/json", const char* content_type = "application/json") {
    out->clear();
    curl_easy_setopt(h_, CURLOPT_URL, (base_ + path).c_str());
    curl_easy_setopt(h_, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, out);
    curl_slist* hdrs = nullptr;
    hdrs = curl_slist_append(hdrs, (std::string("Content-Type: ") + content_type).c_str());
    hdrs = curl_slist_append(hdrs, (std::string("Accept: ") + accept).c_str());
    curl_easy_setopt(h_, CURLOPT_HTTPHEADER, hdrs);
    if (!body.empty() || std::strcmp(method, "POST") == 0 || std::strcmp(method, "PUT") == 0) {
      curl_easy_setopt(h_, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(h_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    } else {
      curl_easy_setopt(h_, CURLOPT_HTTPGET, 1L);
      curl_easy_setopt(h_, CURLOPT_CUSTOMREQUEST, method);
    }
    long code = 0;
    if (curl_easy_perform(h_) == CURLE_OK) curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    return code;
  }

 private:
  std::string base_;
  CURL* h_;
};

struct Server {
  pid_t pid = -1;
  std::string dir;
  int port = 0;
};

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Starts the server and returns seconds until /readyz answered ok (or -1).
// `extra` replaces --disable-agent (e.g. the agent's own flags).
double StartServer(const std::string& tug, Server& s, Creds* creds, const std::vector<std::string>& extra = {}) {
  auto t0 = Clock::now();
  std::vector<std::string> argv = {tug, "server", "--data-dir", s.dir, "--bind-address", "127.0.0.1", "--port",
                                   std::to_string(s.port)};
  if (extra.empty()) argv.push_back("--disable-agent");
  argv.insert(argv.end(), extra.begin(), extra.end());
  s.pid = Spawn(argv, s.dir + "/../server.log");
  std::string kc_path = s.dir + "/admin.kubeconfig";
  while (Seconds(Clock::now() - t0) < 30) {
    if (access(kc_path.c_str(), R_OK) == 0) {
      if (creds->ca.empty()) {
        std::string kc = ReadFile(kc_path);
        std::string base = s.dir + "/../bench-";
        std::ofstream(base + "ca.pem") << Base64Decode(KubeconfigField(kc, "certificate-authority-data"));
        std::ofstream(base + "cert.pem") << Base64Decode(KubeconfigField(kc, "client-certificate-data"));
        std::ofstream(base + "key.pem") << Base64Decode(KubeconfigField(kc, "client-key-data"));
        *creds = {base + "ca.pem", base + "cert.pem", base + "key.pem"};
      }
      Client c("https://127.0.0.1:" + std::to_string(s.port), *creds);
      std::string out;
      if (c.Do("GET", "/readyz", "", &out) == 200 && out.find("ok") != std::string::npos)
        return Seconds(Clock::now() - t0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return -1;
}

void StopServer(Server& s) {
  if (s.pid <= 0) return;
  kill(s.pid, SIGTERM);
  int st;
  waitpid(s.pid, &st, 0);
  s.pid = -1;
}

long RssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::string ConfigMapBody(const std::string& name) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"("},"data":{"payload":")" +
         std::string(900, 'x') + "\"}}";
}

std::string PodBody(const std::string& name, int i) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
         R"(","labels":{"app":"bench","idx":")" + std::to_string(i % 100) +
         R"("}},"spec":{"nodeName":"node-1","containers":[{"name":"main","image":"busybox:1.36","command":["sleep","3600"],"ports":[{"containerPort":8080}],"resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}]}})";
}

// Runs `total` requests over `threads` clients; returns seconds taken and counts failures.
template <typename F>
double Parallel(int threads, long total, const std::string& base, const Creds& creds, F fn, std::atomic<long>* failures) {
  std::atomic<long> next{0};
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      Client c(base, creds);
      std::string out;
      for (long i; (i = next.fetch_add(1)) < total;)
        if (!fn(c, i, out)) failures->fetch_add(1);
    });
  }
  for (auto& t : ts) t.join();
  return Seconds(Clock::now() - t0);
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

struct FileState {
  off_t size = -1;
  long mtime_ns = 0;
};
FileState Stat(const std::string& p) {
  struct stat st;
  if (stat(p.c_str(), &st) != 0) return {};
  return {st.st_size, st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec};
}

// ---- the efficient create load: N keep-alive TLS connections on a few event-loop threads.

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

struct LoadCounters {
  std::atomic<bool> stop{false};
  std::atomic<long> done{0};
  std::atomic<long> fails{0};
  std::atomic<int> connected{0};
};

// One connection: handshake once, then POST, read the answer, POST the next, until stop.
class LoadConn : public std::enable_shared_from_this<LoadConn> {
 public:
  LoadConn(asio::io_context& ioc, asio::ssl::context& ssl, int id, const std::string& path, LoadCounters& k)
      : s_(asio::make_strand(ioc), ssl), id_(id), path_(path), k_(k) {}

  void Start(const asio::ip::tcp::endpoint& ep) {
    beast::get_lowest_layer(s_).async_connect(ep, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->Fail("connect", ec);
      beast::get_lowest_layer(self->s_).socket().set_option(asio::ip::tcp::no_delay(true));
      self->s_.async_handshake(asio::ssl::stream_base::client, [self](beast::error_code ec) {
        if (ec) return self->Fail("handshake", ec);
        self->k_.connected.fetch_add(1);
        self->Next();
      });
    });
  }

 private:
  void Fail(const char* what, beast::error_code ec) {
    std::fprintf(stderr, "load connection %d: %s: %s\n", id_, what, ec.message().c_str());
    k_.fails.fetch_add(1);
  }
  void Next() {
    if (k_.stop.load(std::memory_order_relaxed)) return;
    req_ = {};
    req_.method(http::verb::post);
    req_.target(path_);
    req_.version(11);
    req_.set(http::field::host, "127.0.0.1");
    req_.set(http::field::content_type, "application/json");
    req_.set(http::field::accept, "application/json");
    req_.body() = ConfigMapBody("c-" + std::to_string(id_) + "-" + std::to_string(seq_++));
    req_.prepare_payload();
    http::async_write(s_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail("write", ec);
      self->res_ = {};
      http::async_read(self->s_, self->buf_, self->res_, [self](beast::error_code ec, size_t) {
        if (ec) return self->Fail("read", ec);
        if (self->res_.result_int() == 201) self->k_.done.fetch_add(1, std::memory_order_relaxed);
        else self->k_.fails.fetch_add(1);
        self->Next();
      });
    });
  }

  beast::ssl_stream<beast::tcp_stream> s_;
  const int id_;
  const std::string path_;
  LoadCounters& k_;
  long seq_ = 0;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

// Runs `conns` connections on `threads` threads creating ConfigMaps at `path` for `seconds`
// (counted from when every connection finished its handshake). Returns creates per second.
double AsioCreateLoad(int port, const Creds& creds, const std::string& path, int conns, int threads, double seconds,
                      LoadCounters& k) {
  asio::ssl::context ssl(asio::ssl::context::tls_client);
  ssl.load_verify_file(creds.ca);
  ssl.use_certificate_chain_file(creds.cert);
  ssl.use_private_key_file(creds.key, asio::ssl::context::pem);
  ssl.set_verify_mode(asio::ssl::verify_peer);
  asio::io_context ioc(threads);
  asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  for (int i = 0; i < conns; ++i) std::make_shared<LoadConn>(ioc, ssl, i, path, k)->Start(ep);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back([&] { ioc.run(); });
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (k.connected.load() + k.fails.load() < conns && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  long d0 = k.done.load();
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  long d1 = k.done.load();
  double secs = Seconds(Clock::now() - t0);
  k.stop = true;
  for (auto& t : ts) t.join();
  return (d1 - d0) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tug = TUG_BINARY_PATH;
  double creates_seconds = 5;
  long pods = 10000;
  int idle_seconds = 60;
  bool keep = false;          // --keep: leave the data dir (to profile a restart by hand)
  bool creates_only = false;  // --creates-only: start, creates, stop (for profiling the write path)
  bool startup_only = false;  // --startup-only: start, idle RSS, idle writes, restart (no load)
  bool agent = false;         // --agent: the server also runs its node agent (root; own bridge/CIDR)
  std::string client = "asio";
  int client_threads = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--keep") keep = true;
    else if (a == "--creates-only") creates_only = true;
    else if (a == "--startup-only") startup_only = true;
    else if (a == "--agent") agent = true;
    else if (i + 1 >= argc) break;
    else if (a == "--tug") tug = argv[++i];
    else if (a == "--creates-seconds") creates_seconds = std::stod(argv[++i]);
    else if (a == "--pods") pods = std::stol(argv[++i]);
    else if (a == "--idle-seconds") idle_seconds = std::stoi(argv[++i]);
    else if (a == "--client") client = argv[++i];
    else if (a == "--client-threads") client_threads = std::stoi(argv[++i]);
  }
  curl_global_init(CURL_GLOBAL_ALL);
  char tmpl[] = "/tmp/tug-bench-XXXXXX";
  std::string root = mkdtemp(tmpl);
  Server s;
  s.dir = root + "/data";
  std::filesystem::create_directories(s.dir);
  s.port = 20000 + (getpid() % 20000);
  Creds creds;

  double raw = tug::bench::RawSqliteInsertsPerSec(root + "/raw.db", std::string(1024, 'x'));
  std::printf("raw_sqlite_durable_inserts_per_s %.0f\n", raw);

  std::vector<std::string> extra;
  if (agent)
    extra = {"--node-name", "apiperf-bench", "--run-dir", root + "/run", "--cni-bridge", "tugapb0", "--pod-cidr",
             "10.252.7.0/24", "--kubelet-port", std::to_string(s.port + 1)};
  double first_start = StartServer(tug, s, &creds, extra);
  if (first_start < 0) {
    std::fprintf(stderr, "server did not start; see %s/server.log\n", root.c_str());
    return 1;
  }
  std::printf("start_to_ready_fresh_ms %.1f\n", first_start * 1000);
  if (creates_only) idle_seconds = 0;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::printf("idle_rss_mib %.1f\n", RssKiB(s.pid) / 1024.0);

  // Idle store writes: nothing changes for idle_seconds -> the store files must not change.
  auto db0 = Stat(s.dir + "/store.db"), wal0 = Stat(s.dir + "/store.db-wal");
  std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
  auto db1 = Stat(s.dir + "/store.db"), wal1 = Stat(s.dir + "/store.db-wal");
  bool changed = db0.size != db1.size || db0.mtime_ns != db1.mtime_ns || wal0.size != wal1.size ||
                 wal0.mtime_ns != wal1.mtime_ns;
  std::printf("idle_store_file_changes_in_%ds %d\n", idle_seconds, changed ? 1 : 0);
  if (idle_seconds > 0) std::printf("idle_rss_after_%ds_mib %.1f\n", idle_seconds, RssKiB(s.pid) / 1024.0);
  if (startup_only) {
    StopServer(s);
    // Three restarts on the existing data dir; the median.
    std::vector<double> ms;
    for (int i = 0; i < 3; ++i) {
      ms.push_back(StartServer(tug, s, &creds, extra) * 1000);
      StopServer(s);
    }
    std::printf("start_to_ready_existing_data_dir_ms %.1f (median of 3%s)\n", Percentile(ms, 0.5),
                agent ? ", with agent" : "");
    if (!keep) std::filesystem::remove_all(root);
    curl_global_cleanup();
    return 0;
  }

  const std::string base = "https://127.0.0.1:" + std::to_string(s.port);
  {
    Client c(base, creds);
    std::string out;
    c.Do("POST", "/api/v1/namespaces", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}})", &out);
  }
  // Durable creates with 64 concurrent clients for ~creates_seconds.
  std::atomic<long> fails{0};
  double create_rate = 0;
  long total_done = 0;
  auto cpu0 = tug::bench::ReadProc(s.pid);
  if (client == "curl") {
    std::atomic<bool> stop{false};
    std::atomic<long> done{0};
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < 64; ++t) {
      ts.emplace_back([&, t] {
        Client c(base, creds);
        std::string out;
        for (long i = 0; !stop.load(); ++i) {
          long code = c.Do("POST", "/api/v1/namespaces/bench/configmaps",
                           ConfigMapBody("c-" + std::to_string(t) + "-" + std::to_string(i)), &out);
          if (code == 201) done.fetch_add(1);
          else fails.fetch_add(1);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(creates_seconds));
    stop = true;
    for (auto& t : ts) t.join();
    total_done = done.load();
    create_rate = total_done / Seconds(Clock::now() - t0);
  } else {
    LoadCounters k;
    create_rate = AsioCreateLoad(s.port, creds, "/api/v1/namespaces/bench/configmaps", 64, client_threads,
                                 creates_seconds, k);
    fails = k.fails.load();
    total_done = k.done.load();
  }
  auto cpu1 = tug::bench::ReadProc(s.pid);
  std::printf("configmap_creates_per_s_64_clients %.0f (failures %ld, client %s)\n", create_rate, fails.load(),
              client.c_str());
  std::printf("configmap_creates_ratio_to_raw_sqlite %.2f\n", create_rate / raw);
  // Server CPU per create: steadier than the rate on a shared machine (it includes the load's
  // connection set-up, which is small against thousands of creates).
  std::printf("server_cpu_us_per_create %.0f\n", (cpu1.cpu_s - cpu0.cpu_s) * 1e6 / std::max(1L, total_done));
  if (creates_only) {
    StopServer(s);
    if (!keep) std::filesystem::remove_all(root);
    curl_global_cleanup();
    return 0;
  }

  // 10,000 pods, then LIST latency as JSON and as Table.
  fails = 0;
  double pod_secs = Parallel(16, pods, base, creds,
                             [](Client& c, long i, std::string& out) {
                               return c.Do("POST", "/api/v1/namespaces/bench/pods",
                                           PodBody("p-" + std::to_string(i), static_cast<int>(i)), &out) == 201;
                             },
                             &fails);
  std::printf("pod_creates_per_s_16_clients %.0f (failures %ld)\n", pods / pod_secs, fails.load());
  auto measure_list = [&](const char* accept, const char* name) {
    Client c(base, creds);
    std::vector<double> ms;
    std::string out;
    size_t bytes = 0;
    for (int i = 0; i < 15; ++i) {
      auto t = Clock::now();
      long code = c.Do("GET", "/api/v1/namespaces/bench/pods", "", &out, accept);
      ms.push_back(Seconds(Clock::now() - t) * 1000);
      if (code != 200) std::fprintf(stderr, "list failed: %ld\n", code);
      bytes = out.size();
    }
    std::printf("%s p50_ms %.1f p99_ms %.1f bytes %zu\n", name, Percentile(ms, 0.5), Percentile(ms, 0.99), bytes);
    return Percentile(ms, 0.5);
  };
  const char* kTable = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
  double json_p50 = measure_list("application/json", "list_10k_pods_json");
  double table_p50 = measure_list(kTable, "list_10k_pods_table");

  // History: update every pod twice (labels), then LIST again: cost must not grow with history.
  fails = 0;
  for (int round = 0; round < 2; ++round) {
    Parallel(16, pods, base, creds,
             [round](Client& c, long i, std::string& out) {
               std::string patch = R"({"metadata":{"labels":{"round":")" + std::to_string(round) + "\"}}}";
               return c.Do("PATCH", "/api/v1/namespaces/bench/pods/p-" + std::to_string(i), patch, &out,
                           "application/json", "application/merge-patch+json") == 200;
             },
             &fails);
  }
  double json_p50_hist = measure_list("application/json", "list_10k_pods_json_after_20k_updates");
  double table_p50_hist = measure_list(kTable, "list_10k_pods_table_after_20k_updates");
  std::printf("list_json_history_growth_ratio %.2f\n", json_p50_hist / json_p50);
  std::printf("list_table_history_growth_ratio %.2f\n", table_p50_hist / table_p50);
  std::printf("server_rss_with_10k_pods_mib %.1f\n", RssKiB(s.pid) / 1024.0);

  // Restart on the existing data dir.
  StopServer(s);
  double restart = StartServer(tug, s, &creds, extra);
  std::printf("start_to_ready_existing_data_dir_ms %.1f\n", restart * 1000);
  StopServer(s);
  if (keep)
    std::fprintf(stderr, "kept the data dir: %s/data\n", root.c_str());
  else
    std::filesystem::remove_all(root);
  curl_global_cleanup();
  return 0;
}
