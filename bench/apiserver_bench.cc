// End-to-end API server benchmark (issue 3 performance figures). Starts a real `tug server`
// on a temp data dir and drives it over HTTPS with client-certificate auth (libcurl), printing
// one line per figure. Figures that have a physical floor are reported as a ratio to that floor
// measured in the same run (raw SQLite inserts with the same durability).
//
//   apiserver_bench [--tug PATH] [--creates-seconds 5] [--pods 10000] [--idle-seconds 60]
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
#include <vector>

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
double StartServer(const std::string& tug, Server& s, Creds* creds) {
  auto t0 = Clock::now();
  s.pid = Spawn({tug, "server", "--data-dir", s.dir, "--bind-address", "127.0.0.1", "--port", std::to_string(s.port),
                 "--disable-agent"},
                s.dir + "/../server.log");
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

}  // namespace

int main(int argc, char** argv) {
  std::string tug = TUG_BINARY_PATH;
  double creates_seconds = 5;
  long pods = 10000;
  int idle_seconds = 60;
  bool keep = false;  // --keep: leave the data dir (to profile a restart by hand)
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--keep") keep = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--keep") { --i; continue; }
    std::string a = argv[i];
    if (a == "--tug") tug = argv[i + 1];
    else if (a == "--creates-seconds") creates_seconds = std::stod(argv[i + 1]);
    else if (a == "--pods") pods = std::stol(argv[i + 1]);
    else if (a == "--idle-seconds") idle_seconds = std::stoi(argv[i + 1]);
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

  double first_start = StartServer(tug, s, &creds);
  if (first_start < 0) {
    std::fprintf(stderr, "server did not start; see %s/server.log\n", root.c_str());
    return 1;
  }
  std::printf("start_to_ready_fresh_ms %.1f\n", first_start * 1000);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::printf("idle_rss_mib %.1f\n", RssKiB(s.pid) / 1024.0);

  // Idle store writes: nothing changes for idle_seconds -> the store files must not change.
  auto db0 = Stat(s.dir + "/store.db"), wal0 = Stat(s.dir + "/store.db-wal");
  std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
  auto db1 = Stat(s.dir + "/store.db"), wal1 = Stat(s.dir + "/store.db-wal");
  bool changed = db0.size != db1.size || db0.mtime_ns != db1.mtime_ns || wal0.size != wal1.size ||
                 wal0.mtime_ns != wal1.mtime_ns;
  std::printf("idle_store_file_changes_in_%ds %d\n", idle_seconds, changed ? 1 : 0);

  const std::string base = "https://127.0.0.1:" + std::to_string(s.port);
  {
    Client c(base, creds);
    std::string out;
    c.Do("POST", "/api/v1/namespaces", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}})", &out);
  }
  // Durable creates with 64 concurrent clients for ~creates_seconds.
  std::atomic<long> fails{0};
  std::atomic<bool> stop{false};
  std::atomic<long> done{0};
  auto t0 = Clock::now();
  {
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
  }
  double create_rate = done.load() / Seconds(Clock::now() - t0);
  std::printf("configmap_creates_per_s_64_clients %.0f (failures %ld)\n", create_rate, fails.load());
  std::printf("configmap_creates_ratio_to_raw_sqlite %.2f\n", create_rate / raw);

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
  double restart = StartServer(tug, s, &creds);
  std::printf("start_to_ready_existing_data_dir_ms %.1f\n", restart * 1000);
  StopServer(s);
  if (keep)
    std::fprintf(stderr, "kept the data dir: %s/data\n", root.c_str());
  else
    std::filesystem::remove_all(root);
  curl_global_cleanup();
  return 0;
}
