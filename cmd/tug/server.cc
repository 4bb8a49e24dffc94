#include "server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>

#include "api/schema.h"
#include "apiserver/authn/authn.h"
#include "apiserver/metrics/metrics_api.h"
#include "apiserver/rest/rest.h"
#include "apiserver/pki/pki.h"
#include "apiserver/proxy/proxy.h"
#include "apiserver/server/root_handler.h"
#include "apiserver/server/server.h"
#include "apiserver/serviceaccount/install.h"
#include "base/log.h"
#include "client/client.h"
#include "client/loopback.h"
#include "agent.h"
#include "control_loops.h"
#include "kubelet/agent.h"
#include "lifecycle.h"
#include "store/sqlite/sqlite_store.h"
#include "version.h"

namespace tug::cmd {
namespace {

constexpr const char* kComponent = "tug";

// mkdir -p with mode 0700 for the directories it creates.
Status MakeDirs(const std::string& path) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST)
      return InternalError("cannot create " + cur + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return InternalError(path + " is not a directory");
  return Status::Ok();
}

// Holds an exclusive flock on <data-dir>/tug.lock for the life of the process.
class DataDirLock {
 public:
  ~DataDirLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Acquire(const std::string& dir) {
    std::string path = dir + "/tug.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return InternalError("cannot open " + path + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return InternalError("cannot lock " + path + ": " + std::strerror(errno));
      char buf[32] = {};
      ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      return UnavailableError("data dir " + dir + " is already in use by another tug server" +
                              (pid.empty() ? "" : " (pid " + pid + ")"));
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
    return Status::Ok();
  }

 private:
  int fd_ = -1;
};

// The address other nodes and Endpoints use for this server: the bind address, or with a
// wildcard bind, the first non-loopback IPv4 address of the host (127.0.0.1 if there is none).
std::string AdvertiseAddress(const std::string& bind) {
  if (bind != "0.0.0.0" && bind != "::" && !bind.empty()) return bind;
  std::string found = "127.0.0.1";
  ifaddrs* ifs = nullptr;
  if (::getifaddrs(&ifs) != 0) return found;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK)) continue;
    char buf[INET_ADDRSTRLEN];
    auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if (::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) {
      found = buf;
      break;
    }
  }
  ::freeifaddrs(ifs);
  return found;
}

// The node token agents join with (`tug agent --token`), like k3s' node-token: created on first
// start (32 random bytes, hex, mode 0600) and accepted as a bearer token from then on.
Result<std::string> EnsureAgentToken(const std::string& data_dir) {
  std::string path = data_dir + "/agent-token";
  if (::access(path.c_str(), F_OK) == 0) {
    ASSIGN_OR_RETURN(std::string t, apiserver::pki::ReadFile(path));
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ' || t.back() == '\r')) t.pop_back();
    if (t.size() < 16) return BadRequestError(path + " holds no usable token (delete it to make a new one)");
    return t;
  }
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return InternalError(std::string("cannot open /dev/urandom: ") + std::strerror(errno));
  unsigned char raw[32];
  ssize_t n = ::read(fd, raw, sizeof raw);
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof raw)) return InternalError("short read from /dev/urandom");
  static const char* hex = "0123456789abcdef";
  std::string t;
  for (unsigned char c : raw) {
    t += hex[c >> 4];
    t += hex[c & 15];
  }
  RETURN_IF_ERROR(apiserver::pki::WriteFileAtomic(path, t + "\n", 0600));
  TUG_LOG(INFO, kComponent) << "created the agent join token" << kv("file", path);
  return t;
}

std::string LowerHostName() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string h = host;
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return std::tolower(c); });
  return h;
}

int Fail(const std::string& msg) {
  std::cerr << "tug server: " << msg << std::endl;
  return 1;
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int RunServer(const Config& config) {
  const auto t0 = std::chrono::steady_clock::now();
  log::SetVerbosity(config.verbosity);
  StopStack stops;
  // Every failure after a component started must stop what already runs, in reverse order,
  // while those components are still alive.
  auto fail = [&stops](const std::string& msg) {
    stops.RunAll();
    return Fail(msg);
  };

  // 1. The data dir and its lock (a second server on the same dir refuses here).
  if (Status st = MakeDirs(config.data_dir); !st.ok()) return fail(st.message());
  DataDirLock lock;
  if (Status st = lock.Acquire(config.data_dir); !st.ok()) return fail(st.message());

  // The built-in agent mounts, creates namespaces and cgroups: it needs root. Say so now, not
  // after the API server started.
  if (!config.disable_agent && ::geteuid() != 0)
    return fail("the node agent needs root (run with sudo, or pass --disable-agent to run the control plane only)");

  // 2. Authentication configuration (a bad token file is a start-up error).
  apiserver::authn::TokenFile tokens;
  if (!config.token_auth_file.empty()) {
    auto tf = apiserver::authn::LoadTokenFile(config.token_auth_file);
    if (!tf.ok()) return fail("--token-auth-file: " + tf.status().message());
    tokens = std::move(tf).value();
    for (const auto& w : tokens.warnings) TUG_LOG(WARNING, "authn") << w;
    TUG_LOG(INFO, "authn") << "loaded static tokens" << kv("count", tokens.users.size());
  }
  // The agent join token: an agent identity in system:nodes (and system:masters until RBAC
  // exists). One token for every agent, so the user is not one node's system:node:<name>.
  {
    auto token = EnsureAgentToken(config.data_dir);
    if (!token.ok()) return fail("agent token: " + token.status().message());
    tokens.users[*token] = apiserver::UserInfo{"system:tug-agent", "", {"system:nodes", "system:masters"}};
  }
  auto authenticator = std::make_unique<apiserver::authn::Authenticator>(std::move(tokens));

  // 3. Certificates and admin.kubeconfig.
  auto pki = apiserver::pki::EnsurePki({config.data_dir, config.bind_address, config.port, ""});
  if (!pki.ok()) return fail(pki.status().message());

  // 4. Store: the embedded SQLite revision log (DESIGN.md §4), and the resource registry.
  auto store = store::OpenSqliteStore(config.data_dir + "/store.db");
  if (!store.ok()) return fail("store: " + store.status().message());
  stops.Push("store", [&] { store->reset(); });
  auto registry = api::Registry::Builtin();
  if (!registry.ok()) return fail("schema: " + registry.status().message());

  // 5. API handler: the generic REST layer over the store. Its watch caches are primed and the
  //    bootstrap objects exist before it reports ready. On teardown it is stopped and destroyed
  //    after the listener has joined every worker, and before the store closes.
  // 4b. ServiceAccount tokens (TokenRequest, JWT authentication, ServiceAccount admission,
  //     legacy token secrets), signed with <data-dir>/tls/service-account.key.
  auto ca_pem = apiserver::pki::ReadFile(pki->ca_cert);
  auto sa_key = apiserver::pki::ReadFile(pki->service_account_key);
  if (!ca_pem.ok() || !sa_key.ok()) return fail("cannot read " + pki->ca_cert + " or " + pki->service_account_key);
  apiserver::serviceaccount::TokenOptions sto;
  sto.ca_pem = *ca_pem;
  auto sa_tokens = apiserver::serviceaccount::NewTokenService(*sa_key, apiserver::serviceaccount::StoreGetter(**store), sto);
  if (!sa_tokens.ok()) return fail("service account tokens: " + sa_tokens.status().message());
  authenticator->AddTokenAuthenticator(sa_tokens->get());

  apiserver::rest::Options ro;
  apiserver::serviceaccount::Install(**sa_tokens, apiserver::serviceaccount::StoreGetter(**store), ro);
  ro.namespace_deleter = config.disable_controllers;  // else the namespace controller does it
  ro.server_address = AdvertiseAddress(config.bind_address) + ":" + std::to_string(config.port);
  // Logs, exec, attach, port-forward and the proxy subresources (apiserver/proxy), relayed to
  // kubelets with the admin client certificate (kubelets trust the cluster CA).
  ro.connector = std::make_shared<apiserver::proxy::PodStreamProxy>(apiserver::proxy::ProxyOptions{
      .tls = true, .client_cert_file = pki->admin_cert, .client_key_file = pki->admin_key});
  auto rest = apiserver::rest::NewRestHandler(**store, *registry, ro);
  if (!rest.ok()) return fail("apiserver: " + rest.status().message());
  stops.Push("api-handler", [&] {
    (*rest)->Stop();
    rest->reset();
  });
  if (!(*rest)->Ready()) return fail("apiserver: REST handler did not become ready");

  // 6. Root handler (health, version, then the API handler) and the HTTPS listener.
  auto root = std::make_unique<apiserver::server::RootHandler>(BuildVersion());
  // metrics.k8s.io (kubectl top, the HPA) in front of the REST handler, as kube-aggregator with
  // metrics-server; it reads the kubelets' /stats/summary with the admin client certificate.
  apiserver::metrics::MetricsOptions metrics_opts;
  metrics_opts.client_cert_file = pki->admin_cert;
  metrics_opts.client_key_file = pki->admin_key;
  auto metrics_api = std::make_unique<apiserver::metrics::MetricsHandler>(**rest, metrics_opts);
  root->SetApiHandler(metrics_api.get());
  apiserver::server::ServerOptions so;
  so.bind_address = config.bind_address;
  so.port = config.port;
  so.tls = true;
  so.tls_files = {pki->serving_cert, pki->serving_key, pki->ca_cert};
  so.authenticator = authenticator.get();
  auto server = apiserver::server::StartServer(so, *root);
  if (!server.ok()) return fail(server.status().message());
  stops.Push("apiserver", [&] { (*server)->Stop(); });
  stops.Push("readiness", [&] { root->SetShuttingDown(); });  // runs first: /readyz fails while stopping
  root->SetReady(true);

  // 7. Control loops (controller manager, scheduler) over loopback clients, each behind its
  //    Lease; they stop first on teardown, while the API handler still serves them.
  std::unique_ptr<ControlLoops> loops;
  if (!config.disable_controllers || !config.disable_scheduler) {
    loops = std::make_unique<ControlLoops>(*metrics_api, config);  // the HPA reads metrics.k8s.io
    loops->Start();
    stops.Push("control-loops", [&] { loops->Stop(); });
  }

  // 8. The node agent for this machine, over its own loopback client as node
  //    system:node:<name>. It stops first on teardown (containers keep running, as kubelet),
  //    while the API handler still serves its last writes.
  std::unique_ptr<client::Client> agent_client;
  std::unique_ptr<kubelet::Agent> agent;
  if (!config.disable_agent) {
    kubelet::AgentOptions ao;
    ao.node_name = config.node_name.empty() ? LowerHostName() : config.node_name;
    ao.node_ip = config.node_ip;
    ao.pod_cidr = config.pod_cidr;
    ao.cluster_cidr = config.cluster_cidr;
    ao.data_dir = config.data_dir + "/agent";
    ao.runtime_state_dir = config.run_dir + "/runtime";
    ao.ns_root = config.run_dir;
    ao.kubelet_port = config.kubelet_port;
    ao.cni_bridge = config.cni_bridge;
    ao.cgroup_parent = config.cgroup_parent;
    ApplyNodeRuntimeFlags(config.node_runtime, ao);
    auto ca = apiserver::pki::ReadFile(pki->ca_cert);
    auto ca_key = apiserver::pki::ReadFile(pki->ca_key);
    if (!ca.ok() || !ca_key.ok()) return fail("agent: cannot read the cluster CA in " + config.data_dir + "/tls");
    ao.ca_cert_pem = *ca;
    ao.ca_key_pem = *ca_key;
    agent_client = std::make_unique<client::Client>(client::NewLoopbackTransport(
        **rest, apiserver::UserInfo{"system:node:" + ao.node_name, "", {"system:nodes", "system:authenticated"}}));
    auto a = kubelet::StartAgent(*agent_client, ao);
    if (!a.ok()) return fail("node agent: " + a.status().message() + " (pass --disable-agent to run without it)");
    agent = std::move(a).value();
    stops.Push("agent", [&] {
      agent->Stop();
      agent.reset();
      agent_client.reset();
    });
  }

  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  TUG_VLOG(2, kComponent) << "server ready" << kv("url", pki->server_url) << kv("kubeconfig", pki->kubeconfig)
                          << kv("startup_ms", ms);

  if (agent) std::cout << "node agent ready: node " << agent->node_name() << std::endl;

  // 9. Wait for SIGTERM/SIGINT, then stop everything in reverse order.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  TUG_LOG(INFO, kComponent) << "shutting down" << kv("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  stops.RunAll();
  TUG_LOG(INFO, kComponent) << "shutdown complete";
  return 0;
}

}  // namespace tug::cmd
