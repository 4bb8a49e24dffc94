#include "kubelet/volumes/volumes.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "base/log.h"

namespace tug::kubelet::volumes {
namespace {

namespace fs = std::filesystem;
using Data = std::map<std::string, std::string>;

constexpr const char* kEmptyDir = "kubernetes.io~empty-dir";
constexpr const char* kConfigMap = "kubernetes.io~configmap";
constexpr const char* kSecret = "kubernetes.io~secret";
constexpr const char* kDownwardAPI = "kubernetes.io~downward-api";
constexpr const char* kProjected = "kubernetes.io~projected";

// The volume source key of a pod volume ("emptyDir", "hostPath", ...).
std::string SourceType(const Json& volume) {
  for (const char* k : {"emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected",
                        "persistentVolumeClaim"})
    if (volume.contains(k)) return k;
  for (auto& [k, v] : volume.items())
    if (k != "name") return k;
  return "";
}

std::string PluginDir(const std::string& type) {
  if (type == "emptyDir") return kEmptyDir;
  if (type == "configMap") return kConfigMap;
  if (type == "secret") return kSecret;
  if (type == "downwardAPI") return kDownwardAPI;
  if (type == "projected") return kProjected;
  return "";
}

bool IsApiData(const std::string& type) {
  return type == "configMap" || type == "secret" || type == "downwardAPI" || type == "projected";
}

std::string Base64Decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  int buf = 0, bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;
    buf = (buf << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

int ModeOr(const Json& j, std::string_view key, int def) {
  if (const Json* m = Find(j, key); m && m->is_number_integer()) return m->get<int>();
  return def;
}

bool BoolOr(const Json& j, std::string_view key, bool def = false) {
  if (const Json* b = Find(j, key); b && b->is_boolean()) return b->get<bool>();
  return def;
}

// Go's %q for the strings kubelet puts in labels/annotations files.
std::string GoQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\x%02x", c);
          out += b;
        } else {
          out += static_cast<char>(c);  // printable ASCII and UTF-8 bytes as they are
        }
    }
  }
  return out + "\"";
}

// Keys of a ConfigMap (data + base64 binaryData) or Secret (base64 data).
Data ObjectData(const Json& obj, bool secret) {
  Data out;
  if (const Json* d = Find(obj, "data"); d && d->is_object())
    for (auto& [k, v] : d->items())
      if (v.is_string()) out[k] = secret ? Base64Decode(v.get<std::string>()) : v.get<std::string>();
  if (!secret)
    if (const Json* d = Find(obj, "binaryData"); d && d->is_object())
      for (auto& [k, v] : d->items())
        if (v.is_string()) out[k] = Base64Decode(v.get<std::string>());
  return out;
}

// Upstream's MakePayload for configMap/secret sources: all keys, or the listed items.
Result<Payload> KeyPayload(const Data& data, const Json& source, int default_mode, bool optional,
                           const std::string& what) {
  Payload out;
  const Json* items = Find(source, "items");
  if (!items || !items->is_array() || items->empty()) {
    for (const auto& [k, v] : data) out[k] = {v, default_mode};
    return out;
  }
  for (const Json& it : *items) {
    std::string key = GetString(it, "key");
    auto d = data.find(key);
    if (d == data.end()) {
      if (optional) continue;
      return InvalidError(what + " references non-existent " + (what == "configmap" ? "config" : "secret") +
                          " key: " + key);
    }
    out[GetString(it, "path", key)] = {d->second, ModeOr(it, "mode", default_mode)};
  }
  return out;
}

bool Exists(const std::string& p) {
  struct stat st{};
  return ::lstat(p.c_str(), &st) == 0;
}

std::string DecodeMountInfoPath(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 0 && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool Within(const std::string& path, const std::string& base) {
  return path == base || (path.size() > base.size() && path.compare(0, base.size(), base) == 0 &&
                          (base.back() == '/' || path[base.size()] == '/'));
}

// $(VAR) expansion as upstream's expansion.Expand: $$ escapes, unknown references stay.
std::string ExpandEnv(const std::string& in, const std::vector<std::pair<std::string, std::string>>& env) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '(') {
      size_t close = in.find(')', i + 2);
      if (close == std::string::npos) {
        out += in.substr(i);
        break;
      }
      std::string name = in.substr(i + 2, close - i - 2);
      const std::string* val = nullptr;
      for (const auto& [k, v] : env)
        if (k == name) val = &v;  // the last definition wins
      out += val ? *val : in.substr(i, close - i + 1);
      i = close;
    } else {
      out += in[i];
    }
  }
  return out;
}

Status CheckSubPath(const std::string& sub) {
  if (!sub.empty() && sub[0] == '/') return InvalidError("subPath must be a relative path: " + sub);
  std::stringstream ss(sub);
  std::string e;
  while (std::getline(ss, e, '/'))
    if (e == "..") return InvalidError("subPath must not contain '..': " + sub);
  return Status::Ok();
}

Status CheckHostPathType(const std::string& path, const std::string& type) {
  struct stat st{};
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (type.empty()) {
    // No check (upstream); the container runtime then creates a missing path as a directory.
    if (!exists) {
      std::error_code ec;
      fs::create_directories(path, ec);
      if (ec) return InternalError("mkdir " + path + ": " + ec.message());
    }
    return Status::Ok();
  }
  if (type == "DirectoryOrCreate" || type == "Directory") {
    if (!exists && type == "DirectoryOrCreate") {
      std::error_code ec;
      fs::create_directories(path, ec);
      if (ec) return InternalError("mkdir " + path + ": " + ec.message());
      ::chmod(path.c_str(), 0755);
      return Status::Ok();
    }
    if (!exists || !S_ISDIR(st.st_mode))
      return InvalidError("hostPath type check failed: " + path + " is not a directory");
    return Status::Ok();
  }
  if (type == "FileOrCreate" || type == "File") {
    if (!exists && type == "FileOrCreate") {
      // The parent must exist, as upstream.
      int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return InternalError("create " + path + ": " + std::strerror(errno));
      ::close(fd);
      return Status::Ok();
    }
    if (!exists || !S_ISREG(st.st_mode))
      return InvalidError("hostPath type check failed: " + path + " is not a file");
    return Status::Ok();
  }
  if (type == "Socket") {
    if (!exists || !S_ISSOCK(st.st_mode))
      return InvalidError("hostPath type check failed: " + path + " is not a socket file");
    return Status::Ok();
  }
  if (type == "CharDevice") {
    if (!exists || !S_ISCHR(st.st_mode))
      return InvalidError("hostPath type check failed: " + path + " is not a character device");
    return Status::Ok();
  }
  if (type == "BlockDevice") {
    if (!exists || !S_ISBLK(st.st_mode))
      return InvalidError("hostPath type check failed: " + path + " is not a block device");
    return Status::Ok();
  }
  return InvalidError(type + " is an invalid volume type");
}

std::string PodKey(const Json& pod) {
  return GetStringPath(pod, {"metadata", "namespace"}) + "/" + GetStringPath(pod, {"metadata", "name"});
}

}  // namespace

std::string FormatMap(const Json& map) {
  std::vector<std::string> keys;
  if (map.is_object())
    for (auto& [k, v] : map.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  std::string out;
  for (const auto& k : keys) {
    const Json& v = map[k];
    out += k + "=" + GoQuote(v.is_string() ? v.get<std::string>() : v.dump()) + "\n";
  }
  if (!out.empty()) out.pop_back();
  return out;
}

std::vector<std::string> MountsUnder(const std::string& dir) {
  std::error_code ec;
  std::string base = fs::weakly_canonical(dir, ec).string();
  if (ec || base.empty()) base = dir;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::vector<std::string> out;
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, mp;
    if (!(ls >> id >> parent >> devno >> root >> mp)) continue;
    mp = DecodeMountInfoPath(mp);
    if (Within(mp, base)) out.push_back(mp);
  }
  std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

Status UnmountAllUnder(const std::string& dir) {
  for (const auto& m : MountsUnder(dir)) {
    if (::umount2(m.c_str(), UMOUNT_NOFOLLOW) == 0) continue;
    if (errno == EINVAL || errno == ENOENT) continue;  // already gone
    if (errno == EBUSY && ::umount2(m.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) continue;
    return InternalError("umount " + m + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

VolumeManager::VolumeManager(Sources sources, Options options)
    : sources_(std::move(sources)), opts_(std::move(options)), clock_(opts_.clock ? *opts_.clock : RealClock()) {}

std::string VolumeManager::VolumeDir(const std::string& pod_dir, const std::string& plugin, const std::string& name) {
  return pod_dir + "/volumes/" + plugin + "/" + name;
}

Status VolumeManager::MountTmpfs(const std::string& path, int64_t size_bytes) {
  for (const auto& m : MountsUnder(path))
    if (m == fs::weakly_canonical(path).string()) return Status::Ok();  // already (agent restart)
  std::string opts = "mode=0777";
  if (size_bytes > 0) opts += ",size=" + std::to_string(size_bytes);
  if (::mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0)
    return InternalError("mount tmpfs on " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

Status VolumeManager::SetUpPod(const Json& pod, const std::string& pod_dir) {
  std::string uid = GetStringPath(pod, {"metadata", "uid"});
  PodVolumes* pv;
  {
    std::lock_guard l(mu_);
    pv = &pods_[uid];
  }
  const Json* vols = FindPath(pod, {"spec", "volumes"});
  if (!vols || !vols->is_array()) return Status::Ok();
  for (const Json& v : *vols) {
    std::string name = GetString(v, "name");
    Status s = SetUpVolume(pod, pod_dir, v, (*pv)[name]);
    if (!s.ok()) return Status(s.code(), "MountVolume.SetUp failed for volume \"" + name + "\" : " + s.message());
  }
  return Status::Ok();
}

Status VolumeManager::SetUpVolume(const Json& pod, const std::string& pod_dir, const Json& v, VolumeState& vs) {
  std::string name = GetString(v, "name");
  std::string type = SourceType(v);
  const Json& src = v.contains(type) ? v[type] : v;
  std::error_code ec;
  if (type == "emptyDir") {
    if (vs.set_up) return Status::Ok();
    std::string dir = VolumeDir(pod_dir, kEmptyDir, name);
    fs::create_directories(dir, ec);
    if (ec) return InternalError("mkdir " + dir + ": " + ec.message());
    if (GetString(src, "medium") == "Memory") {
      int64_t size = 0;
      if (std::string lim = GetString(src, "sizeLimit"); !lim.empty() && sources_.parse_quantity_milli) {
        ASSIGN_OR_RETURN(int64_t milli, sources_.parse_quantity_milli(lim));
        size = milli / 1000;
      }
      RETURN_IF_ERROR(MountTmpfs(dir, size));
    }
    if (::chmod(dir.c_str(), 0777) != 0) return InternalError("chmod " + dir + ": " + std::strerror(errno));
    vs.set_up = true;
    return Status::Ok();
  }
  if (type == "hostPath") {
    if (vs.set_up) return Status::Ok();
    std::string path = GetString(src, "path");
    if (path.empty() || path[0] != '/') return InvalidError("hostPath path must be absolute: " + path);
    RETURN_IF_ERROR(CheckHostPathType(path, GetString(src, "type")));
    vs.host_path = path;
    vs.set_up = true;
    return Status::Ok();
  }
  if (type == "persistentVolumeClaim") {
    if (vs.set_up) return Status::Ok();
    std::string ns = GetStringPath(pod, {"metadata", "namespace"});
    std::string claim = GetString(src, "claimName");
    if (!sources_.pvc || !sources_.pv) return UnavailableError("no persistent volume source configured");
    auto pvc = sources_.pvc(ns, claim);
    if (!pvc.ok()) {
      if (pvc.status().code() == StatusCode::kNotFound)
        return NotFoundError("persistentvolumeclaim \"" + claim + "\" not found");
      return pvc.status();
    }
    Json claim_obj = *pvc;
    if (GetStringPath(claim_obj, {"spec", "volumeName"}).empty()) {
      auto bound = ProvisionLocalPath(claim_obj);
      if (!bound.ok()) return bound.status();
      claim_obj = *bound;
    }
    std::string pv_name = GetStringPath(claim_obj, {"spec", "volumeName"});
    if (GetStringPath(claim_obj, {"status", "phase"}) != "Bound" || pv_name.empty())
      return UnavailableError("error processing PVC " + ns + "/" + claim + ": PVC is not bound");
    auto pv = sources_.pv(pv_name);
    if (!pv.ok()) {
      if (pv.status().code() == StatusCode::kNotFound)
        return NotFoundError("persistentvolume \"" + pv_name + "\" not found");
      return pv.status();
    }
    std::string path;
    if (const Json* hp = FindPath(*pv, {"spec", "hostPath"})) {
      path = GetString(*hp, "path");
      RETURN_IF_ERROR(CheckHostPathType(path, GetString(*hp, "type")));
    } else if (const Json* lp = FindPath(*pv, {"spec", "local"})) {
      path = GetString(*lp, "path");
      struct stat st{};
      if (::stat(path.c_str(), &st) != 0)
        return NotFoundError("path \"" + path + "\" does not exist");
    } else {
      return InvalidError("persistentvolume \"" + pv_name +
                          "\": only hostPath and local volumes can be mounted on this node");
    }
    vs.host_path = path;
    vs.read_only = BoolOr(src, "readOnly");
    vs.set_up = true;
    return Status::Ok();
  }
  if (IsApiData(type)) {
    auto now = clock_.SteadyNow();
    if (vs.set_up && now - vs.last_refresh < opts_.refresh_interval) return Status::Ok();
    std::string dir = VolumeDir(pod_dir, PluginDir(type), name);
    bool had_data = Exists(dir + "/..data");
    if (!had_data) {
      fs::create_directories(dir, ec);
      if (ec) return InternalError("mkdir " + dir + ": " + ec.message());
      if ((type == "secret" || type == "projected") && opts_.secrets_on_tmpfs && ::geteuid() == 0)
        RETURN_IF_ERROR(MountTmpfs(dir, 0));
    }
    vs.read_only = true;
    auto payload = ApiDataPayload(pod, v, vs);
    if (!payload.ok()) {
      if (!had_data) return payload.status();
      // As upstream: a failed refresh keeps what the pod already sees.
      vs.last_refresh = now;
      vs.set_up = true;
      TUG_LOG(WARNING, "kubelet") << "volume refresh failed; keeping old contents" << kv("pod", PodKey(pod))
                                  << kv("volume", name) << kv("error", payload.status().message());
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(bool changed, WriteAtomic(dir, payload.value()));
    if (changed && had_data)
      TUG_LOG(INFO, "kubelet") << "volume contents updated" << kv("pod", PodKey(pod)) << kv("volume", name);
    vs.last_refresh = now;
    vs.set_up = true;
    return Status::Ok();
  }
  return InvalidError("volume type " + (type.empty() ? std::string("(none)") : type) +
                      " is not supported on this node");
}

Result<Payload> VolumeManager::ApiDataPayload(const Json& pod, const Json& v, VolumeState& vs) {
  std::string type = SourceType(v);
  const Json& src = v[type];
  if (type == "projected") return ProjectedPayload(pod, src, vs);
  std::string ns = GetStringPath(pod, {"metadata", "namespace"});
  int mode = ModeOr(src, "defaultMode", 0644);
  bool optional = BoolOr(src, "optional");
  if (type == "configMap" || type == "secret") {
    bool secret = type == "secret";
    std::string obj_name = GetString(src, secret ? "secretName" : "name");
    auto& lookup = secret ? sources_.secret : sources_.config_map;
    if (!lookup) return UnavailableError("no object source configured");
    auto obj = lookup(ns, obj_name);
    if (!obj.ok()) {
      if (obj.status().code() != StatusCode::kNotFound) return obj.status();
      if (optional) return Payload{};
      return NotFoundError(std::string(secret ? "secret" : "configmap") + " \"" + obj_name + "\" not found");
    }
    return KeyPayload(ObjectData(*obj, secret), src, mode, optional, secret ? "secret" : "configmap");
  }
  // downwardAPI
  Payload out;
  for (const Json& it : src.value("items", Json::array())) {
    std::string path = GetString(it, "path");
    std::string value;
    if (const Json* fr = Find(it, "fieldRef")) {
      std::string fp = GetString(*fr, "fieldPath");
      const Json& md = pod.contains("metadata") ? pod["metadata"] : Json::object();
      auto sub = [&](const std::string& prefix) -> std::optional<std::string> {
        // metadata.labels['key']
        if (fp.rfind(prefix + "['", 0) != 0 || fp.size() < prefix.size() + 4 || fp.substr(fp.size() - 2) != "']")
          return std::nullopt;
        return fp.substr(prefix.size() + 2, fp.size() - prefix.size() - 4);
      };
      if (fp == "metadata.name" || fp == "metadata.namespace" || fp == "metadata.uid") {
        value = GetString(md, fp.substr(9));
      } else if (fp == "metadata.labels" || fp == "metadata.annotations") {
        value = FormatMap(md.value(fp.substr(9), Json::object()));
      } else if (auto k = sub("metadata.labels")) {
        value = GetStringPath(md, {"labels", *k});
      } else if (auto k2 = sub("metadata.annotations")) {
        value = GetStringPath(md, {"annotations", *k2});
      } else if (fp == "spec.nodeName" || fp == "spec.serviceAccountName") {
        value = GetStringPath(pod, {"spec", fp.substr(5)});
      } else if (fp == "status.podIP" || fp == "status.hostIP") {
        value = GetStringPath(pod, {"status", fp.substr(7)});
      } else {
        return InvalidError("unsupported fieldPath: " + fp);
      }
    } else if (const Json* rr = Find(it, "resourceFieldRef")) {
      ASSIGN_OR_RETURN(value, ResourceValue(pod, *rr));
    } else {
      continue;
    }
    out[path] = {value, ModeOr(it, "mode", mode)};
  }
  return out;
}

Json LocalPathStorageClass() {
  return Json{{"apiVersion", "storage.k8s.io/v1"},
              {"kind", "StorageClass"},
              {"metadata",
               {{"name", "local-path"},
                {"annotations", {{"storageclass.kubernetes.io/is-default-class", "true"}}}}},
              {"provisioner", kLocalPathProvisioner},
              {"reclaimPolicy", "Delete"},
              {"volumeBindingMode", "WaitForFirstConsumer"}};
}

Result<Json> VolumeManager::ProvisionLocalPath(const Json& pvc) {
  std::string ns = GetStringPath(pvc, {"metadata", "namespace"});
  std::string name = GetStringPath(pvc, {"metadata", "name"});
  std::string uid = GetStringPath(pvc, {"metadata", "uid"});
  Status unbound = UnavailableError("error processing PVC " + ns + "/" + name + ": PVC is not bound");
  std::string sc_name = GetStringPath(pvc, {"spec", "storageClassName"});
  if (sc_name.empty() || opts_.storage_dir.empty() || !sources_.storage_class || !sources_.create_pv ||
      !sources_.patch)
    return unbound;
  auto sc = sources_.storage_class(sc_name);
  if (!sc.ok() || GetString(*sc, "provisioner") != kLocalPathProvisioner) return unbound;
  std::string selected = GetStringPath(pvc, {"metadata", "annotations", "volume.kubernetes.io/selected-node"});
  if (!selected.empty() && selected != opts_.node_name) return unbound;  // another node provisions it
  std::string pv_name = "pvc-" + uid;
  std::string path = opts_.storage_dir + "/" + pv_name + "_" + ns + "_" + name;
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return InternalError("provision " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0777);
  Json storage = FindPath(pvc, {"spec", "resources", "requests", "storage"})
                     ? pvc["spec"]["resources"]["requests"]["storage"]
                     : Json("1Gi");
  Json modes = FindPath(pvc, {"spec", "accessModes"}) ? pvc["spec"]["accessModes"] : Json::array({"ReadWriteOnce"});
  Json pv{{"apiVersion", "v1"},
          {"kind", "PersistentVolume"},
          {"metadata", {{"name", pv_name}, {"annotations", {{"pv.kubernetes.io/provisioned-by", kLocalPathProvisioner}}}}},
          {"spec",
           {{"capacity", {{"storage", storage}}},
            {"accessModes", modes},
            {"persistentVolumeReclaimPolicy", GetString(*sc, "reclaimPolicy", "Delete")},
            {"storageClassName", sc_name},
            {"volumeMode", "Filesystem"},
            {"claimRef", {{"apiVersion", "v1"}, {"kind", "PersistentVolumeClaim"}, {"namespace", ns}, {"name", name}, {"uid", uid}}},
            {"hostPath", {{"path", path}, {"type", "DirectoryOrCreate"}}},
            {"nodeAffinity",
             {{"required",
               {{"nodeSelectorTerms",
                 Json::array({{{"matchExpressions",
                                Json::array({{{"key", "kubernetes.io/hostname"},
                                              {"operator", "In"},
                                              {"values", Json::array({opts_.node_name})}}})}}})}}}}}}}};
  auto created = sources_.create_pv(pv);
  if (!created.ok() && created.status().code() != StatusCode::kAlreadyExists) return created.status();
  RETURN_IF_ERROR(sources_.patch(true, "", pv_name, Json{{"status", {{"phase", "Bound"}}}}, "status").status());
  ASSIGN_OR_RETURN(Json claim,
                   sources_.patch(false, ns, name,
                                  Json{{"metadata",
                                        {{"annotations",
                                          {{"pv.kubernetes.io/bind-completed", "yes"},
                                           {"pv.kubernetes.io/bound-by-controller", "yes"},
                                           {"volume.kubernetes.io/storage-provisioner", kLocalPathProvisioner}}}}},
                                       {"spec", {{"volumeName", pv_name}}}},
                                  ""));
  ASSIGN_OR_RETURN(claim, sources_.patch(false, ns, name,
                                         Json{{"status", {{"phase", "Bound"}, {"accessModes", modes},
                                                          {"capacity", {{"storage", storage}}}}}},
                                         "status"));
  TUG_LOG(INFO, "kubelet") << "provisioned local-path volume" << kv("pvc", ns + "/" + name) << kv("pv", pv_name)
                           << kv("path", path);
  return claim;
}

Result<std::string> VolumeManager::ResourceValue(const Json& pod, const Json& ref) {
  std::string cname = GetString(ref, "containerName");
  std::string resource = GetString(ref, "resource");
  const Json* container = nullptr;
  for (const char* list : {"containers", "initContainers"})
    if (const Json* cs = FindPath(pod, {"spec", list}); cs && cs->is_array())
      for (const Json& c : *cs)
        if (GetString(c, "name") == cname) container = &c;
  if (!container) return InvalidError("container " + cname + " not found for resourceFieldRef " + resource);
  if (!sources_.parse_quantity_milli) return UnavailableError("no quantity parser configured");
  auto dot = resource.find('.');
  if (dot == std::string::npos) return InvalidError("unsupported container resource: " + resource);
  std::string kind = resource.substr(0, dot), res = resource.substr(dot + 1);
  int64_t milli = 0;
  std::string q = GetStringPath(*container, {"resources", kind, res});
  if (!q.empty()) {
    ASSIGN_OR_RETURN(milli, sources_.parse_quantity_milli(q));
  } else if (kind == "limits") {
    // Unset limits report node allocatable, as upstream.
    if (res == "cpu") milli = opts_.node_cpu_milli;
    else if (res == "memory") milli = opts_.node_memory_bytes * 1000;
    else if (res == "ephemeral-storage") milli = opts_.node_ephemeral_storage_bytes * 1000;
  }
  if (res != "cpu" && res != "memory" && res != "ephemeral-storage" && res.rfind("hugepages-", 0) != 0)
    return InvalidError("unsupported container resource: " + resource);
  int64_t divisor = 1000;
  if (std::string d = GetString(ref, "divisor"); !d.empty() && d != "0") {
    ASSIGN_OR_RETURN(divisor, sources_.parse_quantity_milli(d));
  }
  if (divisor <= 0) return InvalidError("invalid divisor for " + resource);
  // cpu: ceil(milli / divisor milli); the byte resources: ceil(bytes / divisor bytes).
  int64_t v = (milli + divisor - 1) / divisor;
  if (res != "cpu") {
    int64_t bytes = milli / 1000, per = std::max<int64_t>(divisor / 1000, 1);
    v = (bytes + per - 1) / per;
  }
  return std::to_string(v);
}

Result<Payload> VolumeManager::ProjectedPayload(const Json& pod, const Json& projected, VolumeState& vs) {
  std::string ns = GetStringPath(pod, {"metadata", "namespace"});
  int mode = ModeOr(projected, "defaultMode", 0644);
  Payload out;
  for (const Json& s : projected.value("sources", Json::array())) {
    if (const Json* cm = Find(s, "configMap")) {
      Json vol{{"name", "p"}, {"configMap", *cm}};
      vol["configMap"]["defaultMode"] = mode;
      ASSIGN_OR_RETURN(Payload p, ApiDataPayload(pod, vol, vs));
      for (auto& [k, f] : p) out[k] = f;
    } else if (const Json* sec = Find(s, "secret")) {
      Json vol{{"name", "p"}, {"secret", *sec}};
      vol["secret"]["secretName"] = GetString(*sec, "name");
      vol["secret"]["defaultMode"] = mode;
      ASSIGN_OR_RETURN(Payload p, ApiDataPayload(pod, vol, vs));
      for (auto& [k, f] : p) out[k] = f;
    } else if (const Json* dw = Find(s, "downwardAPI")) {
      Json vol{{"name", "p"}, {"downwardAPI", *dw}};
      vol["downwardAPI"]["defaultMode"] = mode;
      ASSIGN_OR_RETURN(Payload p, ApiDataPayload(pod, vol, vs));
      for (auto& [k, f] : p) out[k] = f;
    } else if (const Json* tok = Find(s, "serviceAccountToken")) {
      std::string path = GetString(*tok, "path");
      auto now = clock_.Now();
      Token& t = vs.tokens[path];
      if (t.token.empty() || now >= t.refresh_at) {
        int64_t exp = 3600;
        if (const Json* e = Find(*tok, "expirationSeconds"); e && e->is_number_integer()) exp = e->get<int64_t>();
        Json audiences = Json::array();
        if (std::string a = GetString(*tok, "audience"); !a.empty()) audiences.push_back(a);
        Json req{{"apiVersion", "authentication.k8s.io/v1"},
                 {"kind", "TokenRequest"},
                 {"spec",
                  {{"audiences", audiences},
                   {"expirationSeconds", exp},
                   {"boundObjectRef",
                    {{"apiVersion", "v1"},
                     {"kind", "Pod"},
                     {"name", GetStringPath(pod, {"metadata", "name"})},
                     {"uid", GetStringPath(pod, {"metadata", "uid"})}}}}}};
        std::string sa = GetStringPath(pod, {"spec", "serviceAccountName"});
        if (sa.empty()) sa = "default";
        Result<Json> r = sources_.token ? sources_.token(ns, sa, req)
                                        : Result<Json>(UnavailableError("no token source configured"));
        std::string token = r.ok() ? GetStringPath(*r, {"status", "token"}) : "";
        if (!r.ok() || token.empty()) {
          std::string why = r.ok() ? "the TokenRequest answer has no token" : r.status().message();
          // Keep a still-valid token when only the renewal failed (upstream does too).
          if (t.token.empty()) return UnavailableError("failed to fetch token: " + why);
          TUG_LOG(WARNING, "kubelet") << "token renewal failed" << kv("pod", PodKey(pod)) << kv("error", why);
        } else {
          auto expires = now + std::chrono::seconds(exp);
          if (auto ts = ParseRFC3339(GetStringPath(*r, {"status", "expirationTimestamp"})); ts.ok()) expires = *ts;
          auto ttl = expires - now;
          t.token = token;
          // Renew at 80% of the lifetime, or after 24 h at the latest.
          t.refresh_at = now + std::min<std::chrono::system_clock::duration>(ttl * 8 / 10, std::chrono::hours(24));
        }
      }
      out[path] = {t.token, mode};
    }
  }
  return out;
}

Result<std::vector<runtime::Mount>> VolumeManager::ContainerMounts(
    const Json& pod, const std::string& pod_dir, const Json& container,
    const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<runtime::Mount> out;
  std::string uid = GetStringPath(pod, {"metadata", "uid"});
  std::string cname = GetString(container, "name");
  const Json* vols = FindPath(pod, {"spec", "volumes"});
  for (const Json& vm : container.value("volumeMounts", Json::array())) {
    std::string vname = GetString(vm, "name");
    const Json* volume = nullptr;
    if (vols && vols->is_array())
      for (const Json& v : *vols)
        if (GetString(v, "name") == vname) volume = &v;
    if (!volume)
      return InvalidError("cannot find volume \"" + vname + "\" to mount into container \"" + cname + "\"");
    std::string type = SourceType(*volume);
    VolumeState vs;
    {
      std::lock_guard l(mu_);
      auto p = pods_.find(uid);
      if (p != pods_.end())
        if (auto it = p->second.find(vname); it != p->second.end()) vs = it->second;
    }
    if (!vs.set_up) return UnavailableError("volume \"" + vname + "\" is not set up");
    std::string source;
    if (type == "hostPath" || type == "persistentVolumeClaim") source = vs.host_path;
    else source = VolumeDir(pod_dir, PluginDir(type), vname);
    runtime::Mount m;
    m.type = runtime::Mount::Type::kBind;
    m.destination = GetString(vm, "mountPath");
    m.read_only = BoolOr(vm, "readOnly") || vs.read_only;
    std::string sub = GetString(vm, "subPath");
    if (std::string expr = GetString(vm, "subPathExpr"); !expr.empty()) sub = ExpandEnv(expr, env);
    if (!sub.empty()) {
      RETURN_IF_ERROR(CheckSubPath(sub));
      std::error_code ec;
      std::string base = fs::canonical(source, ec).string();
      if (ec) return InternalError("volume path " + source + ": " + ec.message());
      std::string full = base + "/" + sub;
      if (!Exists(full)) {
        // Created with the volume's own mode, as upstream does before bind-mounting it.
        struct stat st{};
        mode_t mode = ::stat(base.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0755;
        fs::create_directories(full, ec);
        if (ec) return InternalError("mkdir " + full + ": " + ec.message());
        ::chmod(full.c_str(), mode);
      }
      std::string real = fs::canonical(full, ec).string();
      if (ec) return InternalError("subPath " + full + ": " + ec.message());
      if (!Within(real, base))
        return InvalidError("subpath \"" + real + "\" not within volume path \"" + base + "\"");
      source = real;
    }
    m.source = source;
    std::string prop = GetString(vm, "mountPropagation", "None");
    if (prop == "None") {
      m.propagation = "private";
    } else if (prop == "HostToContainer") {
      m.propagation = "rslave";
    } else if (prop == "Bidirectional") {
      if (!BoolOr(container.value("securityContext", Json::object()), "privileged"))
        return InvalidError("Bidirectional mount propagation is available only to privileged containers");
      m.propagation = "rshared";
    } else {
      return InvalidError("invalid mountPropagation " + prop);
    }
    out.push_back(std::move(m));
  }
  return out;
}

Status VolumeManager::TearDownPod(const Json& pod, const std::string& pod_dir) {
  std::string dir = pod_dir + "/volumes";
  RETURN_IF_ERROR(UnmountAllUnder(dir));
  if (!MountsUnder(dir).empty()) return InternalError("mounts remain under " + dir);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return InternalError("remove " + dir + ": " + ec.message());
  std::lock_guard l(mu_);
  pods_.erase(GetStringPath(pod, {"metadata", "uid"}));
  return Status::Ok();
}

Result<int> VolumeManager::CleanupOrphans(const std::string& pods_dir, const std::set<std::string>& live_uids) {
  int removed = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(pods_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    std::string name = it->path().filename().string();
    auto us = name.rfind('_');
    if (us == std::string::npos) continue;  // not a pod directory
    if (live_uids.count(name.substr(us + 1))) continue;
    std::string dir = it->path().string();
    RETURN_IF_ERROR(UnmountAllUnder(dir));
    if (!MountsUnder(dir).empty()) return InternalError("mounts remain under " + dir);
    std::error_code rec;
    fs::remove_all(dir, rec);
    if (rec) return InternalError("remove " + dir + ": " + rec.message());
    TUG_LOG(INFO, "kubelet") << "removed the volumes of a vanished pod" << kv("dir", dir);
    ++removed;
  }
  return removed;
}

}  // namespace tug::kubelet::volumes
