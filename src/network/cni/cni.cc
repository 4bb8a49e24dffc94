#include "network/cni/cni.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <thread>
#include <sstream>

#include "base/log.h"

extern char** environ;

namespace tug::network {

namespace {

constexpr const char* kLog = "cni";
constexpr const char* kCniVersion = "1.0.0";

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

struct ProcResult {
  int exit_code = -1;
  std::string out, err;
  bool timed_out = false;
};

// fork/exec with stdin = `input`, stdout/stderr captured; the child keeps only fds 0-2.
Result<ProcResult> RunArgv(const std::vector<std::string>& args, const std::vector<std::string>& env,
                           const std::string& input, std::chrono::milliseconds timeout) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
    return InternalError(Errno("pipe2"));
  Fd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return InternalError(Errno("fork"));
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    signal(SIGPIPE, SIG_DFL);  // tug ignores it; plugins get the default back
    dup2(in_r.fd, 0);
    dup2(out_w.fd, 1);
    dup2(err_w.fd, 2);
    syscall(SYS_close_range, 3, ~0U, 0);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  in_r.Close();
  out_w.Close();
  err_w.Close();
  fcntl(in_w.fd, F_SETFL, O_NONBLOCK);
  ProcResult res;
  size_t off = 0;
  if (input.empty()) in_w.Close();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out_r.fd >= 0 || err_r.fd >= 0) {
    pollfd fds[3];
    int n = 0, io = -1, ie = -1, ii = -1;
    if (out_r.fd >= 0) { io = n; fds[n++] = {out_r.fd, POLLIN, 0}; }
    if (err_r.fd >= 0) { ie = n; fds[n++] = {err_r.fd, POLLIN, 0}; }
    if (in_w.fd >= 0) { ii = n; fds[n++] = {in_w.fd, POLLOUT, 0}; }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      res.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    int r = poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    char buf[8192];
    auto drain = [&](int idx, Fd& f, std::string& dst) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t k = ::read(f.fd, buf, sizeof(buf));
      if (k > 0) dst.append(buf, static_cast<size_t>(k));
      else if (k == 0 || (errno != EINTR && errno != EAGAIN)) f.Close();
    };
    drain(io, out_r, res.out);
    drain(ie, err_r, res.err);
    if (ii >= 0 && (fds[ii].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t k = ::write(in_w.fd, input.data() + off, input.size() - off);
      if (k > 0) off += static_cast<size_t>(k);
      if ((k < 0 && errno != EAGAIN && errno != EINTR) || off >= input.size()) in_w.Close();
    }
  }
  in_w.Close();
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  res.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return res;
}

Status MkdirAll(const std::string& path) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (!cur.empty() && ::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST)
      return InternalError(Errno("mkdir " + cur));
  }
  return Status::Ok();
}

Result<std::string> Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFoundError(path + " not found");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Status WriteAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return InternalError(Errno("create " + tmp));
    f << data;
    if (!f) return InternalError(Errno("write " + tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return InternalError(Errno("rename " + path));
  return Status::Ok();
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool ValidCidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  std::string addr = cidr.substr(0, slash), bits = cidr.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), ::isdigit)) return false;
  unsigned char buf[16];
  int n = std::stoi(bits);
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) return n <= 32;
  if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) return n <= 128;
  return false;
}

Status PluginError(const std::string& type, const std::string& command, const ProcResult& r) {
  std::string msg;
  auto j = ParseJson(r.out);
  if (j.ok() && j->is_object()) {
    msg = GetString(*j, "msg");
    std::string details = GetString(*j, "details");
    if (!details.empty()) msg += ": " + details;
  }
  if (msg.empty()) msg = r.err.empty() ? r.out : r.err;
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (r.timed_out) msg = "timed out";
  return InternalError("plugin type=\"" + type + "\" failed (" + command + "): " + msg);
}

}  // namespace

Json BuildConflist(const CniOptions& o) {
  Json bridge = {
      {"type", "bridge"},
      {"bridge", o.bridge},
      {"isGateway", true},
      {"ipMasq", o.ip_masq},
      {"hairpinMode", o.hairpin_mode},
      {"ipam",
       {{"type", "host-local"},
        {"ranges", Json::array({Json::array({{{"subnet", o.pod_cidr}}})})},
        {"routes", Json::array({{{"dst", "0.0.0.0/0"}}})},
        {"dataDir", o.data_dir + "/ipam"}}},
  };
  if (o.mtu > 0) bridge["mtu"] = o.mtu;
  Json portmap = {{"type", "portmap"}, {"snat", true}, {"capabilities", {{"portMappings", true}}}};
  return {{"cniVersion", kCniVersion}, {"name", o.network_name},
          {"plugins", Json::array({bridge, portmap})}};
}

Result<AttachResult> ParseResult(const Json& result, const std::string& netns) {
  AttachResult out;
  out.raw = result;
  const Json* ips = Find(result, "ips");
  if (!ips || !ips->is_array() || ips->empty()) return InternalError("CNI result has no IPs");
  const Json* ifaces = Find(result, "interfaces");
  auto in_pod = [&](const Json& ip) {
    const Json* idx = Find(ip, "interface");
    if (!idx || !idx->is_number_integer() || !ifaces || !ifaces->is_array()) return false;
    int i = idx->get<int>();
    if (i < 0 || i >= static_cast<int>(ifaces->size())) return false;
    return GetString((*ifaces)[static_cast<size_t>(i)], "sandbox") == netns;
  };
  std::vector<const Json*> chosen;
  for (const auto& ip : *ips)
    if (in_pod(ip)) chosen.push_back(&ip);
  if (chosen.empty())
    for (const auto& ip : *ips) chosen.push_back(&ip);
  for (const Json* ip : chosen) {
    std::string addr = GetString(*ip, "address");
    addr = addr.substr(0, addr.find('/'));
    if (addr.empty()) continue;
    out.ips.push_back(addr);
    if (out.gateway.empty()) out.gateway = GetString(*ip, "gateway");
  }
  if (out.ips.empty()) return InternalError("CNI result has no usable address");
  out.ip = out.ips.front();
  return out;
}

Result<std::unique_ptr<Cni>> Cni::New(CniOptions o) {
  if (!ValidCidr(o.pod_cidr)) return InvalidError("invalid pod CIDR \"" + o.pod_cidr + "\"");
  if (o.data_dir.empty() || o.data_dir[0] != '/') return InvalidError("CNI data dir must be absolute");
  if (o.bridge.empty() || o.bridge.size() > 15) return InvalidError("invalid bridge name " + o.bridge);
  for (const char* p : {"bridge", "host-local", "portmap", "loopback"})
    if (access((o.plugin_dir + "/" + p).c_str(), X_OK) != 0)
      return InvalidError(std::string("CNI plugin ") + p + " not found in " + o.plugin_dir);
  RETURN_IF_ERROR(MkdirAll(o.data_dir + "/ipam"));
  RETURN_IF_ERROR(MkdirAll(o.data_dir + "/results"));
  // The conflist is also written out, for people debugging with the plugins by hand.
  RETURN_IF_ERROR(WriteAtomic(o.data_dir + "/10-" + o.network_name + ".conflist",
                              BuildConflist(o).dump(2)));
  return std::unique_ptr<Cni>(new Cni(std::move(o)));
}

std::string Cni::ResultCachePath(const std::string& id, const std::string& ifname) const {
  return o_.data_dir + "/results/" + id + "-" + ifname + ".json";
}

Result<Json> Cni::Exec(const std::string& command, const Json& net_conf, const AttachRequest& req,
                       const std::string& ifname) {
  std::string type = GetString(net_conf, "type");
  if (type.empty() || type.find('/') != std::string::npos) return InvalidError("bad plugin type");
  std::string args = "IgnoreUnknown=1";
  if (!req.pod_namespace.empty()) args += ";K8S_POD_NAMESPACE=" + req.pod_namespace;
  if (!req.pod_name.empty()) args += ";K8S_POD_NAME=" + req.pod_name;
  args += ";K8S_POD_INFRA_CONTAINER_ID=" + req.container_id;
  if (!req.pod_uid.empty()) args += ";K8S_POD_UID=" + req.pod_uid;
  std::vector<std::string> env = {
      "CNI_COMMAND=" + command,
      "CNI_CONTAINERID=" + req.container_id,
      "CNI_NETNS=" + req.netns,
      "CNI_IFNAME=" + ifname,
      "CNI_PATH=" + o_.plugin_dir,
      "CNI_ARGS=" + args,
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  };
  TUG_VLOG(4, kLog) << "exec" << kv("plugin", type) << kv("cmd", command) << kv("id", req.container_id);
  ASSIGN_OR_RETURN(auto r, RunArgv({o_.plugin_dir + "/" + type}, env, net_conf.dump(), o_.plugin_timeout));
  if (r.exit_code != 0 || r.timed_out) return PluginError(type, command, r);
  if (r.out.find_first_not_of(" \r\n\t") == std::string::npos) return Json::object();
  auto j = ParseJson(r.out);
  if (!j.ok()) return InternalError("plugin " + type + " wrote invalid JSON: " + r.out);
  return *j;
}

namespace {
// The stdin document for one plugin of a list (spec: name and cniVersion from the list,
// runtimeConfig only for declared capabilities, prevResult from the previous plugin).
Json PluginConf(const Json& list, const Json& plugin, const Json& prev,
                const std::vector<CniPortMapping>& ports) {
  Json conf = plugin;
  conf["cniVersion"] = list.value("cniVersion", kCniVersion);
  conf["name"] = list.value("name", "tug");
  if (!prev.is_null() && !prev.empty()) conf["prevResult"] = prev;
  const Json* caps = Find(plugin, "capabilities");
  if (caps && caps->is_object() && caps->value("portMappings", false)) {
    Json pm = Json::array();
    for (const auto& p : ports)
      pm.push_back({{"hostPort", p.host_port}, {"containerPort", p.container_port},
                    {"protocol", p.protocol}, {"hostIP", p.host_ip}});
    conf["runtimeConfig"] = {{"portMappings", pm}};
  }
  conf.erase("capabilities");
  return conf;
}

std::vector<CniPortMapping> LowerProtocols(std::vector<CniPortMapping> ports) {
  for (auto& p : ports)
    std::transform(p.protocol.begin(), p.protocol.end(), p.protocol.begin(), ::tolower);
  return ports;
}

Json LoopbackConf() { return {{"cniVersion", kCniVersion}, {"name", "cni-loopback"}, {"type", "loopback"}}; }
}  // namespace

Result<AttachResult> Cni::Add(const AttachRequest& in) {
  if (in.container_id.empty() || in.netns.empty()) return InvalidError("CNI ADD needs a container id and netns");
  AttachRequest req = in;
  req.port_mappings = LowerProtocols(req.port_mappings);
  Json list = BuildConflist(o_);
  if (req.port_mappings.empty()) {
    // Most pods have no hostPort: skip the portmap plugin (one exec fewer on ADD and DEL; the
    // cached config says which plugins ran).
    Json plugins = Json::array();
    for (const auto& p : list["plugins"])
      if (GetString(p, "type") != "portmap") plugins.push_back(p);
    list["plugins"] = plugins;
  }
  // Cache first (without result) so a crash mid-ADD still has what DEL needs.
  Json ports = Json::array();
  for (const auto& p : req.port_mappings)
    ports.push_back({{"hostPort", p.host_port}, {"containerPort", p.container_port},
                     {"protocol", p.protocol}, {"hostIP", p.host_ip}});
  Json cache = {{"kind", "cniCacheV1"}, {"containerId", req.container_id}, {"ifName", req.ifname},
                {"networkName", o_.network_name}, {"netns", req.netns}, {"config", list},
                {"portMappings", ports}, {"podNamespace", req.pod_namespace},
                {"podName", req.pod_name}, {"podUid", req.pod_uid}};
  RETURN_IF_ERROR(WriteAtomic(ResultCachePath(req.container_id, req.ifname), cache.dump()));

  auto fail = [&](const Status& st) -> Status {
    Del(req).IgnoreError();
    return st;
  };
  // loopback touches only "lo": it runs beside the list, saving one plugin start-up of latency.
  Result<Json> lo = Json::object();
  std::thread lo_thread([&] { lo = Exec("ADD", LoopbackConf(), req, "lo"); });
  Json prev;
  Status list_status;
  for (const auto& plugin : list["plugins"]) {
    auto r = Exec("ADD", PluginConf(list, plugin, prev, req.port_mappings), req, req.ifname);
    if (!r.ok()) { list_status = r.status(); break; }
    prev = *r;
  }
  lo_thread.join();
  if (!lo.ok()) return fail(lo.status());
  if (!list_status.ok()) return fail(list_status);
  auto parsed = ParseResult(prev, req.netns);
  if (!parsed.ok()) return fail(parsed.status());
  cache["result"] = prev;
  RETURN_IF_ERROR(WriteAtomic(ResultCachePath(req.container_id, req.ifname), cache.dump()));
  TUG_VLOG(2, kLog) << "attached" << kv("id", req.container_id) << kv("ip", parsed->ip);
  return parsed;
}

Status Cni::DelWith(const Json& list, const Json& prev, const AttachRequest& req) {
  Status first;
  Result<Json> lo = Json::object();
  std::thread lo_thread([&] { lo = Exec("DEL", LoopbackConf(), req, "lo"); });
  const Json& plugins = list["plugins"];
  for (auto it = plugins.rbegin(); it != plugins.rend(); ++it) {
    auto r = Exec("DEL", PluginConf(list, *it, prev, req.port_mappings), req, req.ifname);
    if (!r.ok() && first.ok()) first = r.status();
  }
  lo_thread.join();
  if (!lo.ok() && first.ok()) first = lo.status();
  return first;
}

Status Cni::Del(const AttachRequest& in) {
  AttachRequest req = in;
  Json list = BuildConflist(o_), prev;
  std::string cache_path = ResultCachePath(req.container_id, req.ifname);
  auto cached = Slurp(cache_path);
  if (cached.ok()) {
    auto j = ParseJson(*cached);
    if (j.ok()) {
      if (auto* c = Find(*j, "config"); c && c->is_object() && Find(*c, "plugins")) list = *c;
      if (auto* r = Find(*j, "result")) prev = *r;
      if (req.netns.empty()) req.netns = GetString(*j, "netns");
      if (req.port_mappings.empty())
        if (auto* pm = Find(*j, "portMappings"); pm && pm->is_array())
          for (const auto& p : *pm)
            req.port_mappings.push_back({p.value("protocol", "tcp"), p.value("containerPort", 0),
                                         p.value("hostPort", 0), p.value("hostIP", "")});
    }
  }
  // A netns that no longer exists is passed as empty: the plugins then release only IPAM and
  // host-side state, as the spec requires.
  if (!req.netns.empty() && access(req.netns.c_str(), F_OK) != 0) req.netns.clear();
  req.port_mappings = LowerProtocols(req.port_mappings);
  RETURN_IF_ERROR(DelWith(list, prev, req));
  ::unlink(cache_path.c_str());
  TUG_VLOG(2, kLog) << "detached" << kv("id", req.container_id);
  return Status::Ok();
}

Status Cni::Check(const AttachRequest& req) {
  auto cached = Slurp(ResultCachePath(req.container_id, req.ifname));
  if (!cached.ok()) return NotFoundError("no cached CNI result for " + req.container_id);
  ASSIGN_OR_RETURN(Json j, ParseJson(*cached));
  const Json* list = Find(j, "config");
  const Json* prev = Find(j, "result");
  if (!list || !prev) return NotFoundError("incomplete CNI cache for " + req.container_id);
  for (const auto& plugin : (*list)["plugins"]) {
    auto r = Exec("CHECK", PluginConf(*list, plugin, *prev, LowerProtocols(req.port_mappings)), req, req.ifname);
    if (!r.ok()) return r.status();
  }
  return Status::Ok();
}

Status Cni::RemoveOrphanMasqRules(const std::set<std::string>& valid) {
  const std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  auto saved = RunArgv({"/usr/sbin/iptables-save", "-t", "nat"}, env, "", std::chrono::seconds(30));
  if (!saved.ok() || saved->exit_code != 0) return Status::Ok();  // no iptables: nothing to do
  // -A POSTROUTING -s 10.42.0.5/32 -m comment --comment "name: \"tug\" id: \"<id>\"" -j CNI-...
  static const std::regex kRule(
      R"re(^-A POSTROUTING -s (\S+) -m comment --comment "name: \\"([^"\\]+)\\" id: \\"([^"\\]+)\\"" -j (CNI-[0-9a-f]+)$)re");
  std::istringstream in(saved->out);
  std::string line;
  Status first;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, kRule)) continue;
    if (m[2] != o_.network_name || valid.count(m[3])) continue;
    std::string comment = "name: \"" + m[2].str() + "\" id: \"" + m[3].str() + "\"";
    TUG_LOG(INFO, kLog) << "gc: removing masquerade rule" << kv("id", m[3].str());
    auto del = RunArgv({"/usr/sbin/iptables", "-w", "-t", "nat", "-D", "POSTROUTING", "-s", m[1].str(), "-m",
                        "comment", "--comment", comment, "-j", m[4].str()}, env, "", std::chrono::seconds(30));
    RunArgv({"/usr/sbin/iptables", "-w", "-t", "nat", "-F", m[4].str()}, env, "", std::chrono::seconds(30)).status().IgnoreError();
    RunArgv({"/usr/sbin/iptables", "-w", "-t", "nat", "-X", m[4].str()}, env, "", std::chrono::seconds(30)).status().IgnoreError();
    if ((!del.ok() || del->exit_code != 0) && first.ok())
      first = InternalError("iptables -D " + m[4].str() + ": " + (del.ok() ? del->err : del.status().message()));
  }
  return first;
}

Result<Json> Cni::Version(const std::string& plugin_type) {
  AttachRequest req;
  req.container_id = "version";
  Json conf = {{"cniVersion", kCniVersion}, {"type", plugin_type}};
  return Exec("VERSION", conf, req, "");
}

Status Cni::GarbageCollect(const std::set<std::string>& valid) {
  Status first;
  for (const auto& name : Entries(o_.data_dir + "/results")) {
    auto text = Slurp(o_.data_dir + "/results/" + name);
    if (!text.ok()) continue;
    auto j = ParseJson(*text);
    if (!j.ok()) continue;
    std::string id = GetString(*j, "containerId");
    if (id.empty() || valid.count(id)) continue;
    AttachRequest req;
    req.container_id = id;
    req.ifname = GetString(*j, "ifName", "eth0");
    req.pod_namespace = GetString(*j, "podNamespace");
    req.pod_name = GetString(*j, "podName");
    TUG_LOG(INFO, kLog) << "gc: releasing" << kv("id", id);
    Status s = Del(req);
    if (!s.ok() && first.ok()) first = s;
  }
  // The bridge plugin finds a pod's masquerade rule through the pod's addresses, which are
  // gone with its netns; remove such rules by their comment instead.
  Status masq = RemoveOrphanMasqRules(valid);
  if (!masq.ok() && first.ok()) first = masq;
  // host-local keeps one file per reserved IP holding "<container id>\r\n<ifname>".
  std::string dir = o_.data_dir + "/ipam/" + o_.network_name;
  Fd lock(::open((dir + "/lock").c_str(), O_RDONLY | O_CLOEXEC));
  if (lock.fd >= 0) flock(lock.fd, LOCK_EX);
  for (const auto& name : Entries(dir)) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, name.c_str(), buf) != 1 && inet_pton(AF_INET6, name.c_str(), buf) != 1)
      continue;
    auto data = Slurp(dir + "/" + name);
    if (!data.ok()) continue;
    std::string owner = data->substr(0, data->find_first_of("\r\n"));
    while (!owner.empty() && (owner.back() == ' ')) owner.pop_back();
    if (owner.empty() || valid.count(owner)) continue;
    TUG_LOG(INFO, kLog) << "gc: releasing IP" << kv("ip", name) << kv("owner", owner);
    if (::unlink((dir + "/" + name).c_str()) != 0 && errno != ENOENT && first.ok())
      first = InternalError(Errno("unlink " + name));
  }
  return first;
}

}  // namespace tug::network
