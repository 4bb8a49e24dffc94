// The production ImageStore (image_store.h); on-disk format in images.md.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "base/log.h"
#include "runtime/image/digest.h"
#include "runtime/image/image_store.h"
#include "runtime/image/layer.h"
#include "runtime/image/reference.h"

namespace tug::runtime::image {
namespace {

namespace fs = std::filesystem;
constexpr const char* kLog = "images";
constexpr const char* kMediaDockerConfig = "application/vnd.docker.container.image.v1+json";
constexpr const char* kMediaDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
constexpr const char* kMediaDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

std::string Errno(const std::string& what) { return what + ": " + ErrnoText(errno); }

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a file atomically: temp file, fsync, rename, fsync of the directory.
Status WriteFileAtomic(const std::string& path, std::string_view data, bool durable = true) {
  static std::atomic<uint64_t> n{0};
  std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return InternalError(Errno("create " + tmp));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      Status st = InternalError(Errno("write " + tmp));
      ::close(fd);
      ::unlink(tmp.c_str());
      return st;
    }
    done += static_cast<size_t>(w);
  }
  if (durable && ::fsync(fd) != 0) {
    Status st = InternalError(Errno("fsync " + tmp));
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = InternalError(Errno("rename " + tmp));
    ::unlink(tmp.c_str());
    return st;
  }
  if (!durable) return Status::Ok();
  std::string dir = fs::path(path).parent_path();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

// An exclusive flock on the store's lock file, held for a metadata transaction.
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

std::vector<std::string> StringList(const Json& j, std::string_view key) {
  std::vector<std::string> out;
  if (const Json* a = Find(j, key); a && a->is_array())
    for (const auto& x : *a)
      if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

void EraseValue(Json& arr, const std::string& v) {
  if (!arr.is_array()) return;
  for (auto it = arr.begin(); it != arr.end();)
    it = (it->is_string() && it->get<std::string>() == v) ? arr.erase(it) : it + 1;
}

void AddUnique(Json& arr, const std::string& v) {
  if (!arr.is_array()) arr = Json::array();
  for (const auto& x : arr)
    if (x == v) return;
  arr.push_back(v);
}

int64_t FileSize(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

Result<DiskStats> StatVfs(const std::string& path) {
  struct statvfs s;
  if (::statvfs(path.c_str(), &s) != 0) return InternalError(Errno("statvfs " + path));
  return DiskStats{uint64_t(s.f_blocks) * s.f_frsize, uint64_t(s.f_bavail) * s.f_frsize};
}

class ImageStoreImpl final : public ImageStore {
 public:
  ImageStoreImpl(std::string data_dir, ImageStoreOptions opts)
      : data_dir_(std::move(data_dir)), root_(data_dir_ + "/images"), opts_(std::move(opts)) {
    if (!opts_.clock) opts_.clock = &RealClock();
    if (!opts_.disk_stats) opts_.disk_stats = StatVfs;
  }

  Status Init() {
    std::error_code ec;
    for (const char* d : {"", "/blobs/sha256", "/layers", "/tmp"}) {
      fs::create_directories(root_ + d, ec);
      if (ec) return InternalError("create " + root_ + d + ": " + ec.message());
    }
    // Leftovers of processes that died mid-pull or mid-import.
    for (const auto& e : fs::directory_iterator(root_ + "/tmp", ec)) {
      std::string name = e.path().filename();
      pid_t pid = static_cast<pid_t>(std::atoll(name.c_str()));
      if (pid > 0 && (pid == ::getpid() || ::kill(pid, 0) == 0 || errno == EPERM)) continue;
      fs::remove_all(e.path(), ec);
      TUG_LOG(INFO, kLog) << "removed leftover" << kv("path", e.path().string());
    }
    return Status::Ok();
  }

  Result<ImageInfo> Pull(std::string_view ref_text, const PullOptions& popts) override {
    auto r = PullOnce(ref_text, popts);
    if (!r.ok() && r.status().code() == StatusCode::kUnavailable &&
        r.status().message().find("was removed while") != std::string::npos)
      r = PullOnce(ref_text, popts);  // a concurrent removal took a layer: fetch it again
    return r;
  }

  Result<ImageInfo> PullOnce(std::string_view ref_text, const PullOptions& popts) {
    ASSIGN_OR_RETURN(Reference ref, ParseReference(ref_text));
    auto start = std::chrono::steady_clock::now();
    RegistryClient::Options ro = opts_.registry;
    if (opts_.load_registries_file) {
      ASSIGN_OR_RETURN(ro.registries, RegistriesConfig::Load(data_dir_ + "/registries.yaml"));
    }
    ro.cancelled = popts.cancelled;
    RegistryClient client(std::move(ro));
    TUG_LOG(INFO, kLog) << "pulling image" << kv("image", ref.String());
    ASSIGN_OR_RETURN(ResolvedManifest m, client.Resolve(ref, popts.keyring));
    // The config (small; kept as a blob).
    std::string config_path = BlobPath(m.config.digest);
    std::string config_bytes;
    if (auto have = ReadFile(config_path); have.ok() && DigestOf(*have) == m.config.digest) {
      config_bytes = std::move(have).value();
    } else {
      ASSIGN_OR_RETURN(config_bytes, client.FetchBlobBytes(m, m.config));
      RETURN_IF_ERROR(WriteFileAtomic(config_path, config_bytes));
    }
    ASSIGN_OR_RETURN(std::vector<std::string> diff_ids, DiffIds(config_bytes));
    if (diff_ids.size() != m.layers.size())
      return InvalidError("image " + ref.String() + ": manifest has " + std::to_string(m.layers.size()) +
                          " layers but its config lists " + std::to_string(diff_ids.size()));
    Pins pins(this);
    int64_t downloaded = 0;
    for (size_t i = 0; i < m.layers.size(); ++i) {
      const Descriptor& d = m.layers[i];
      pins.Add(d.digest);
      pins.Add(diff_ids[i]);
      auto layer_mu = LayerMutex(diff_ids[i]);
      std::lock_guard<std::mutex> l(*layer_mu);
      if (LayerPresent(diff_ids[i])) continue;
      if (popts.cancelled && popts.cancelled()) return InternalError("pull cancelled");
      if (!fs::exists(BlobPath(d.digest))) {
        RETURN_IF_ERROR(client.FetchBlob(m, d, BlobPath(d.digest), root_ + "/tmp"));
        downloaded += d.size > 0 ? d.size : 0;
      }
      RETURN_IF_ERROR(UnpackBlob(BlobPath(d.digest), diff_ids[i]));
      TUG_LOG(INFO, kLog) << "layer ready" << kv("image", ref.String()) << kv("layer", i + 1)
                          << kv("layers", m.layers.size()) << kv("diffID", diff_ids[i]);
    }
    RETURN_IF_ERROR(WriteFileAtomic(BlobPath(m.digest), m.raw));
    Json rec;
    rec["id"] = m.config.digest;
    rec["manifestDigest"] = m.digest;
    rec["manifestMediaType"] = m.media_type;
    rec["layers"] = Json::array();
    int64_t size = static_cast<int64_t>(config_bytes.size());
    for (size_t i = 0; i < m.layers.size(); ++i) {
      rec["layers"].push_back({{"digest", m.layers[i].digest},
                               {"diffID", diff_ids[i]},
                               {"size", m.layers[i].size},
                               {"mediaType", m.layers[i].media_type}});
      size += std::max<int64_t>(0, m.layers[i].size);
    }
    rec["size"] = size;
    std::vector<std::string> tags, digests;
    if (!ref.tag.empty()) tags.push_back(ref.TagName());
    digests.push_back(ref.Repository() + "@" + m.repo_digest);
    ASSIGN_OR_RETURN(ImageInfo info, Commit(std::move(rec), tags, digests));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    TUG_LOG(INFO, kLog) << "pulled image" << kv("image", ref.String()) << kv("id", info.id)
                        << kv("size", info.size) << kv("downloaded", downloaded) << kv("ms", ms.count());
    return info;
  }

  Result<std::vector<ImageInfo>> Import(const std::string& archive, const ImportOptions& iopts) override {
    std::string dir = NewTmp("import");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return InternalError("create " + dir + ": " + ErrnoText(ec.value()));
    struct Cleanup {
      std::string d;
      ~Cleanup() {
        std::error_code e;
        fs::remove_all(d, e);
      }
    } cleanup{dir};
    auto unpacked = UnpackLayer(archive, dir, UnpackOptions{.whiteouts = false, .special_files = false});
    if (!unpacked.ok()) return InvalidError("import " + archive + ": " + unpacked.status().message());
    Pins pins(this);
    std::vector<ImageInfo> out;
    if (fs::exists(dir + "/manifest.json")) {
      ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/manifest.json"));
      auto j = ParseJson(text);
      if (!j.ok() || !j->is_array()) return InvalidError("import: malformed manifest.json");
      for (const auto& entry : *j) {
        ASSIGN_OR_RETURN(ImageInfo info, ImportDockerEntry(dir, entry, &pins));
        out.push_back(std::move(info));
      }
    } else if (fs::exists(dir + "/index.json")) {
      ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/index.json"));
      auto j = ParseJson(text);
      if (!j.ok() || !j->is_object()) return InvalidError("import: malformed index.json");
      const Json* ms = Find(*j, "manifests");
      if (!ms || !ms->is_array()) return InvalidError("import: index.json has no manifests");
      for (const auto& desc : *ms) {
        ASSIGN_OR_RETURN(ImageInfo info, ImportOciEntry(dir, desc, iopts, &pins));
        out.push_back(std::move(info));
      }
    } else {
      return InvalidError("import " + archive + ": neither a docker save archive (manifest.json) nor an OCI layout (index.json)");
    }
    return out;
  }

  Result<ImageInfo> Get(std::string_view q) override {
    ASSIGN_OR_RETURN(Json md, ReadMeta());
    ASSIGN_OR_RETURN(size_t idx, Lookup(md, q));
    return Info(md["images"][idx]);
  }

  Result<std::vector<ImageInfo>> List() override {
    ASSIGN_OR_RETURN(Json md, ReadMeta());
    std::vector<ImageInfo> out;
    for (const auto& r : md["images"]) out.push_back(Info(r));
    return out;
  }

  Status Remove(std::string_view q) override {
    FileLock lock(root_ + "/lock");
    if (!lock.ok()) return InternalError(Errno("lock " + root_ + "/lock"));
    ASSIGN_OR_RETURN(Json md, ReadMeta());
    ASSIGN_OR_RETURN(size_t idx, Lookup(md, q));
    Json& rec = md["images"][idx];
    std::string removed_id = GetString(rec, "id");
    auto ref = ParseReference(q);
    bool by_name = ref.ok() && !IsIdLike(q);
    if (by_name) {
      EraseValue(rec["repoTags"], ref->TagName());
      if (!ref->digest.empty()) EraseValue(rec["repoDigests"], ref->DigestName());
    }
    bool drop = !by_name || StringList(rec, "repoTags").empty();
    std::set<std::string> candidates = DigestsOf(rec);
    if (drop) md["images"].erase(md["images"].begin() + static_cast<long>(idx));
    RETURN_IF_ERROR(WriteMeta(md));
    if (drop) {
      TUG_LOG(INFO, kLog) << "removed image" << kv("id", removed_id);
      SweepUnreferenced(md, &candidates);
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> LayerDirs(std::string_view image) override {
    FileLock lock(root_ + "/lock");
    if (!lock.ok()) return InternalError(Errno("lock " + root_ + "/lock"));
    ASSIGN_OR_RETURN(Json md, ReadMeta());
    ASSIGN_OR_RETURN(size_t idx, Lookup(md, image));
    Json& rec = md["images"][idx];
    std::vector<std::string> dirs;
    for (const auto& l : rec["layers"]) {
      std::string diff = GetString(l, "diffID");
      if (!LayerPresent(diff))
        return NotFoundError("image " + std::string(image) + ": layer " + diff + " is missing from the store");
      dirs.push_back(LayerDir(diff) + "/fs");
    }
    std::reverse(dirs.begin(), dirs.end());
    rec["lastUsed"] = NowNanos();
    RETURN_IF_ERROR(WriteMeta(md, /*durable=*/false));
    return dirs;
  }

  Result<ImageConfig> Config(std::string_view image) override {
    ASSIGN_OR_RETURN(Json md, ReadMeta());
    ASSIGN_OR_RETURN(size_t idx, Lookup(md, image));
    ASSIGN_OR_RETURN(std::string bytes, ReadFile(BlobPath(GetString(md["images"][idx], "id"))));
    return ParseImageConfig(bytes);
  }

  Result<GcResult> GarbageCollect(const GcPolicy& policy, const std::set<std::string>& in_use) override {
    GcResult res;
    ASSIGN_OR_RETURN(DiskStats ds, opts_.disk_stats(root_));
    if (ds.capacity_bytes == 0) return res;
    uint64_t used = ds.capacity_bytes - std::min(ds.available_bytes, ds.capacity_bytes);
    res.usage_percent = static_cast<int>(used * 100 / ds.capacity_bytes);
    if (res.usage_percent < policy.high_threshold_percent) return res;
    res.triggered = true;
    res.wanted_bytes = static_cast<int64_t>(ds.capacity_bytes * uint64_t(100 - policy.low_threshold_percent) / 100) -
                       static_cast<int64_t>(ds.available_bytes);
    FileLock lock(root_ + "/lock");
    if (!lock.ok()) return InternalError(Errno("lock " + root_ + "/lock"));
    ASSIGN_OR_RETURN(Json md, ReadMeta());
    std::set<std::string> used_ids;
    for (const auto& u : in_use) {
      auto idx = Lookup(md, u);
      if (idx.ok()) used_ids.insert(GetString(md["images"][*idx], "id"));
    }
    // Unused images, least recently used first.
    std::vector<Json> candidates;
    for (const auto& r : md["images"])
      if (!used_ids.count(GetString(r, "id"))) candidates.push_back(r);
    std::sort(candidates.begin(), candidates.end(), [](const Json& a, const Json& b) {
      return a.value("lastUsed", int64_t{0}) < b.value("lastUsed", int64_t{0});
    });
    // Orphans (layers and blobs no record uses) go first: they are free to take.
    res.freed_bytes += SweepUnreferenced(md, nullptr);
    for (const auto& c : candidates) {
      if (res.freed_bytes >= res.wanted_bytes) break;
      std::string id = GetString(c, "id");
      std::set<std::string> cands = DigestsOf(c);
      auto& imgs = md["images"];
      for (auto it = imgs.begin(); it != imgs.end(); ++it)
        if (GetString(*it, "id") == id) {
          imgs.erase(it);
          break;
        }
      RETURN_IF_ERROR(WriteMeta(md));
      res.freed_bytes += SweepUnreferenced(md, &cands);
      res.removed.push_back(id);
      TUG_LOG(INFO, kLog) << "image gc removed image" << kv("id", id) << kv("freed", res.freed_bytes);
    }
    if (res.freed_bytes < res.wanted_bytes)
      return InternalError("Failed to garbage collect required amount of images. Attempted to free " +
                           std::to_string(res.wanted_bytes) + " bytes, but only found " +
                           std::to_string(res.freed_bytes) + " bytes eligible to free.");
    return res;
  }

 private:
  // Digests an in-progress pull/import in this process uses, so GC and Remove keep them.
  class Pins {
   public:
    explicit Pins(ImageStoreImpl* s) : s_(s) {}
    ~Pins() {
      std::lock_guard<std::mutex> l(s_->mu_);
      for (const auto& d : mine_)
        if (auto it = s_->pins_.find(d); it != s_->pins_.end() && --it->second == 0) s_->pins_.erase(it);
    }
    void Add(const std::string& d) {
      std::lock_guard<std::mutex> l(s_->mu_);
      ++s_->pins_[d];
      mine_.push_back(d);
    }

   private:
    ImageStoreImpl* s_;
    std::vector<std::string> mine_;
  };

  std::string BlobPath(const std::string& digest) const { return root_ + "/blobs/sha256/" + DigestHex(digest); }
  std::string LayerDir(const std::string& diff_id) const { return root_ + "/layers/" + DigestHex(diff_id); }
  bool LayerPresent(const std::string& diff_id) const { return fs::exists(LayerDir(diff_id) + "/size"); }
  int64_t NowNanos() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.clock->Now().time_since_epoch()).count();
  }
  std::string NewTmp(const std::string& what) {
    static std::atomic<uint64_t> n{0};
    return root_ + "/tmp/" + std::to_string(::getpid()) + "-" + what + "-" + std::to_string(n++);
  }

  std::shared_ptr<std::mutex> LayerMutex(const std::string& diff_id) {
    std::lock_guard<std::mutex> l(mu_);
    auto& m = layer_mu_[diff_id];
    if (!m) m = std::make_shared<std::mutex>();
    return m;
  }

  static Result<std::vector<std::string>> DiffIds(std::string_view config_bytes) {
    auto j = ParseJson(config_bytes);
    if (!j.ok()) return InvalidError("malformed image config: " + j.status().message());
    const Json* ids = FindPath(*j, {"rootfs", "diff_ids"});
    if (!ids || !ids->is_array()) return InvalidError("malformed image config: no rootfs.diff_ids");
    std::vector<std::string> out;
    for (const auto& x : *ids) {
      if (!x.is_string() || !IsValidDigest(x.get<std::string>()))
        return InvalidError("malformed image config: bad diff_id");
      out.push_back(x.get<std::string>());
    }
    return out;
  }

  // Unpacks a verified blob into layers/<diffID> unless it is already there.
  Status UnpackBlob(const std::string& blob, const std::string& diff_id) {
    if (LayerPresent(diff_id)) return Status::Ok();
    ASSIGN_OR_RETURN(std::string got, ComputeDiffId(blob));
    if (got != diff_id)
      return InvalidError("layer diffID mismatch: config says " + diff_id + ", content is " + got);
    std::string tmp = NewTmp("layer");
    std::error_code ec;
    fs::create_directories(tmp + "/fs", ec);
    if (ec) return InternalError("create " + tmp + ": " + ErrnoText(ec.value()));
    auto fail = [&](Status st) {
      std::error_code e2;
      fs::remove_all(tmp, e2);
      return st;
    };
    auto size = UnpackLayer(blob, tmp + "/fs");
    if (!size.ok()) return fail(size.status());
    Status st = WriteFileAtomic(tmp + "/size", std::to_string(*size));
    if (!st.ok()) return fail(st);
    if (::rename(tmp.c_str(), LayerDir(diff_id).c_str()) != 0) {
      if (errno == EEXIST || errno == ENOTEMPTY) return fail(Status::Ok());  // another process won
      return fail(InternalError(Errno("rename layer " + diff_id)));
    }
    return Status::Ok();
  }

  // Puts a verified file into blobs/ as a hard link (an archive may list one layer file for
  // several images), or keeps the blob already there.
  Status AdoptBlob(const std::string& file, const std::string& digest) {
    std::string dest = BlobPath(digest);
    if (fs::exists(dest)) return Status::Ok();
    if (::link(file.c_str(), dest.c_str()) != 0 && errno != EEXIST) return InternalError(Errno("link " + file));
    return Status::Ok();
  }

  Result<std::string> SafeJoin(const std::string& dir, const std::string& rel) {
    fs::path p = fs::path(dir) / fs::path(rel).relative_path();
    fs::path norm = p.lexically_normal();
    std::string s = norm.string();
    if (s.rfind(dir + "/", 0) != 0) return InvalidError("import: path \"" + rel + "\" leaves the archive");
    struct stat st;
    if (::lstat(s.c_str(), &st) != 0) return InvalidError("import: \"" + rel + "\" is missing from the archive");
    if (!S_ISREG(st.st_mode)) return InvalidError("import: \"" + rel + "\" is not a regular file");
    return s;
  }

  Result<ImageInfo> ImportDockerEntry(const std::string& dir, const Json& entry, Pins* pins) {
    ASSIGN_OR_RETURN(std::string config_file, SafeJoin(dir, GetString(entry, "Config")));
    ASSIGN_OR_RETURN(std::string config_bytes, ReadFile(config_file));
    std::string id = DigestOf(config_bytes);
    ASSIGN_OR_RETURN(std::vector<std::string> diff_ids, DiffIds(config_bytes));
    std::vector<std::string> layer_files = StringList(entry, "Layers");
    if (layer_files.size() != diff_ids.size())
      return InvalidError("import: image " + id + " lists " + std::to_string(layer_files.size()) +
                          " layers but its config has " + std::to_string(diff_ids.size()));
    RETURN_IF_ERROR(WriteFileAtomic(BlobPath(id), config_bytes));
    Json manifest = {{"schemaVersion", 2},
                     {"mediaType", kMediaDockerManifest},
                     {"config", {{"mediaType", kMediaDockerConfig}, {"size", config_bytes.size()}, {"digest", id}}},
                     {"layers", Json::array()}};
    Json rec = {{"id", id}, {"layers", Json::array()}};
    int64_t size = static_cast<int64_t>(config_bytes.size());
    for (size_t i = 0; i < layer_files.size(); ++i) {
      ASSIGN_OR_RETURN(std::string file, SafeJoin(dir, layer_files[i]));
      ASSIGN_OR_RETURN(std::string digest, DigestOfFile(file));
      pins->Add(digest);
      pins->Add(diff_ids[i]);
      int64_t bytes = FileSize(file);
      std::string media = digest == diff_ids[i] ? kMediaDockerLayer : kMediaDockerLayerGzip;
      auto mu = LayerMutex(diff_ids[i]);
      std::lock_guard<std::mutex> l(*mu);
      if (!LayerPresent(diff_ids[i])) {
        RETURN_IF_ERROR(UnpackBlob(file, diff_ids[i]));
      }
      RETURN_IF_ERROR(AdoptBlob(file, digest));
      manifest["layers"].push_back({{"mediaType", media}, {"size", bytes}, {"digest", digest}});
      rec["layers"].push_back({{"digest", digest}, {"diffID", diff_ids[i]}, {"size", bytes}, {"mediaType", media}});
      size += bytes;
    }
    std::string raw = DumpJson(manifest);
    std::string mdigest = DigestOf(raw);
    RETURN_IF_ERROR(WriteFileAtomic(BlobPath(mdigest), raw));
    rec["manifestDigest"] = mdigest;
    rec["manifestMediaType"] = kMediaDockerManifest;
    rec["size"] = size;
    std::vector<std::string> tags;
    for (const auto& t : StringList(entry, "RepoTags")) {
      auto r = ParseReference(t);
      if (!r.ok()) return InvalidError("import: bad RepoTag \"" + t + "\": " + r.status().message());
      if (!r->tag.empty()) tags.push_back(r->TagName());
    }
    ASSIGN_OR_RETURN(ImageInfo info, Commit(std::move(rec), tags, {}));
    TUG_LOG(INFO, kLog) << "imported image" << kv("id", info.id) << kv("tags", tags.size()) << kv("size", info.size);
    return info;
  }

  Result<std::string> VerifiedOciBlob(const std::string& dir, const std::string& digest) {
    if (!IsValidDigest(digest)) return InvalidError("import: bad digest \"" + digest + "\"");
    ASSIGN_OR_RETURN(std::string file, SafeJoin(dir, "blobs/sha256/" + DigestHex(digest)));
    ASSIGN_OR_RETURN(std::string got, DigestOfFile(file));
    if (got != digest) return InvalidError("import: blob " + digest + " does not match its digest");
    return file;
  }

  Result<ImageInfo> ImportOciEntry(const std::string& dir, const Json& desc, const ImportOptions& iopts, Pins* pins) {
    std::string name;
    if (const Json* ann = Find(desc, "annotations"); ann && ann->is_object()) {
      name = GetString(*ann, "io.containerd.image.name");
      if (name.empty()) name = GetString(*ann, "org.opencontainers.image.ref.name");
    }
    std::string top_digest = GetString(desc, "digest");
    std::string media = GetString(desc, "mediaType");
    ASSIGN_OR_RETURN(std::string file, VerifiedOciBlob(dir, top_digest));
    ASSIGN_OR_RETURN(std::string raw, ReadFile(file));
    std::string mdigest = top_digest;
    if (media == kMediaOciIndex || media == kMediaDockerList) {
      auto idx = ParseJson(raw);
      if (!idx.ok()) return InvalidError("import: malformed index " + top_digest);
      ASSIGN_OR_RETURN(Descriptor d, SelectPlatform(*idx, opts_.registry.platform));
      ASSIGN_OR_RETURN(std::string mfile, VerifiedOciBlob(dir, d.digest));
      ASSIGN_OR_RETURN(raw, ReadFile(mfile));
      mdigest = d.digest;
      media = d.media_type;
    }
    Descriptor config;
    std::vector<Descriptor> layers;
    RETURN_IF_ERROR(ParseImageManifest(raw, &config, &layers));
    if (media.empty()) media = kMediaOciManifest;
    ASSIGN_OR_RETURN(std::string cfile, VerifiedOciBlob(dir, config.digest));
    ASSIGN_OR_RETURN(std::string config_bytes, ReadFile(cfile));
    ASSIGN_OR_RETURN(std::vector<std::string> diff_ids, DiffIds(config_bytes));
    if (diff_ids.size() != layers.size()) return InvalidError("import: manifest and config disagree on layers");
    RETURN_IF_ERROR(WriteFileAtomic(BlobPath(config.digest), config_bytes));
    Json rec = {{"id", config.digest}, {"layers", Json::array()}};
    int64_t size = static_cast<int64_t>(config_bytes.size());
    for (size_t i = 0; i < layers.size(); ++i) {
      ASSIGN_OR_RETURN(std::string lfile, VerifiedOciBlob(dir, layers[i].digest));
      pins->Add(layers[i].digest);
      pins->Add(diff_ids[i]);
      auto mu = LayerMutex(diff_ids[i]);
      std::lock_guard<std::mutex> l(*mu);
      if (!LayerPresent(diff_ids[i])) {
        RETURN_IF_ERROR(UnpackBlob(lfile, diff_ids[i]));
      }
      RETURN_IF_ERROR(AdoptBlob(lfile, layers[i].digest));
      int64_t bytes = FileSize(BlobPath(layers[i].digest));
      rec["layers"].push_back({{"digest", layers[i].digest},
                               {"diffID", diff_ids[i]},
                               {"size", bytes},
                               {"mediaType", layers[i].media_type}});
      size += bytes;
    }
    RETURN_IF_ERROR(WriteFileAtomic(BlobPath(mdigest), raw));
    rec["manifestDigest"] = mdigest;
    rec["manifestMediaType"] = media;
    rec["size"] = size;
    std::vector<std::string> tags, digests;
    if (!name.empty()) {
      bool full = name.find_first_of("/:@") != std::string::npos;
      std::string full_name = full ? name : (iopts.base_name.empty() ? "" : iopts.base_name + ":" + name);
      if (!full_name.empty()) {
        auto r = ParseReference(full_name);
        if (!r.ok()) return InvalidError("import: bad image name \"" + full_name + "\": " + r.status().message());
        if (!r->tag.empty()) tags.push_back(r->TagName());
        digests.push_back(r->Repository() + "@" + top_digest);
      } else {
        TUG_LOG(WARNING, kLog) << "imported image has only a tag for a name; kept by id" << kv("ref", name);
      }
    }
    ASSIGN_OR_RETURN(ImageInfo info, Commit(std::move(rec), tags, digests));
    TUG_LOG(INFO, kLog) << "imported image" << kv("id", info.id) << kv("name", tags.empty() ? "" : tags[0])
                        << kv("size", info.size);
    return info;
  }

  // Records an image under its names (moving a name away from any image that had it).
  Result<ImageInfo> Commit(Json rec, const std::vector<std::string>& tags, const std::vector<std::string>& digests) {
    FileLock lock(root_ + "/lock");
    if (!lock.ok()) return InternalError(Errno("lock " + root_ + "/lock"));
    // Another process (`tug images rm`) may have deleted a shared layer between our check and
    // now; under the lock the answer is final.
    for (const auto& l : rec["layers"])
      if (!LayerPresent(GetString(l, "diffID")))
        return UnavailableError("layer " + GetString(l, "diffID") + " was removed while the image was being stored");
    ASSIGN_OR_RETURN(Json md, ReadMeta());
    Json& imgs = md["images"];
    std::string id = GetString(rec, "id");
    for (auto& r : imgs)
      if (GetString(r, "id") != id)
        for (const auto& t : tags) EraseValue(r["repoTags"], t);
    Json* target = nullptr;
    for (auto& r : imgs)
      if (GetString(r, "id") == id) target = &r;
    int64_t now = NowNanos();
    if (!target) {
      rec["repoTags"] = Json::array();
      rec["repoDigests"] = Json::array();
      rec["created"] = now;
      rec["lastUsed"] = now;
      imgs.push_back(std::move(rec));
      target = &imgs.back();
    } else {
      Json tags_keep = (*target)["repoTags"], digests_keep = (*target)["repoDigests"];
      int64_t created = target->value("created", now);
      *target = std::move(rec);
      (*target)["repoTags"] = tags_keep.is_array() ? tags_keep : Json::array();
      (*target)["repoDigests"] = digests_keep.is_array() ? digests_keep : Json::array();
      (*target)["created"] = created;
      (*target)["lastUsed"] = now;
    }
    for (const auto& t : tags) AddUnique((*target)["repoTags"], t);
    for (const auto& d : digests) AddUnique((*target)["repoDigests"], d);
    ImageInfo info = Info(*target);
    RETURN_IF_ERROR(WriteMeta(md));
    return info;
  }

  Result<Json> ReadMeta() const {
    auto text = ReadFile(root_ + "/images.json");
    if (!text.ok()) return Json{{"images", Json::array()}};
    auto j = ParseJson(*text);
    if (!j.ok() || !j->is_object()) return InternalError("corrupt " + root_ + "/images.json");
    if (!j->contains("images") || !(*j)["images"].is_array()) (*j)["images"] = Json::array();
    return j;
  }

  // durable=false for advisory updates (lastUsed): still atomic, just not fsynced.
  Status WriteMeta(const Json& md, bool durable = true) {
    return WriteFileAtomic(root_ + "/images.json", md.dump(1), durable);
  }

  static bool IsIdLike(std::string_view q) {
    if (q.rfind("sha256:", 0) == 0) return true;
    if (q.size() < 12 || q.size() > 64) return false;
    return q.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  }

  Result<size_t> Lookup(const Json& md, std::string_view q) const {
    const Json& imgs = md["images"];
    if (IsIdLike(q)) {
      std::string hex = DigestHex(q);
      std::optional<size_t> found;
      for (size_t i = 0; i < imgs.size(); ++i) {
        if (DigestHex(GetString(imgs[i], "id")).rfind(hex, 0) == 0) {
          if (found) return InvalidError("image id prefix \"" + std::string(q) + "\" is ambiguous");
          found = i;
        }
      }
      if (found) return *found;
      if (q.rfind("sha256:", 0) == 0) return NotFoundError("image \"" + std::string(q) + "\" not found");
    }
    auto ref = ParseReference(q);
    if (!ref.ok()) return ref.status();
    for (size_t i = 0; i < imgs.size(); ++i) {
      if (!ref->digest.empty()) {
        for (const auto& d : StringList(imgs[i], "repoDigests"))
          if (d == ref->DigestName()) return i;
        if (GetString(imgs[i], "manifestDigest") == ref->digest) {
          for (const auto& t : StringList(imgs[i], "repoTags"))
            if (t.rfind(ref->Repository() + ":", 0) == 0) return i;
        }
      } else {
        for (const auto& t : StringList(imgs[i], "repoTags"))
          if (t == ref->TagName()) return i;
      }
    }
    return NotFoundError("image \"" + ref->String() + "\" not found");
  }

  ImageInfo Info(const Json& r) const {
    ImageInfo i;
    i.id = GetString(r, "id");
    i.repo_tags = StringList(r, "repoTags");
    i.repo_digests = StringList(r, "repoDigests");
    i.size = r.value("size", int64_t{0});
    i.last_used = SystemTime(std::chrono::duration_cast<SystemTime::duration>(
        std::chrono::nanoseconds(r.value("lastUsed", int64_t{0}))));
    return i;
  }

  static std::set<std::string> DigestsOf(const Json& r) {
    std::set<std::string> out = {DigestHex(GetString(r, "id")), DigestHex(GetString(r, "manifestDigest"))};
    if (const Json* ls = Find(r, "layers"); ls && ls->is_array())
      for (const auto& l : *ls) {
        out.insert(DigestHex(GetString(l, "digest")));
        out.insert(DigestHex(GetString(l, "diffID")));
      }
    return out;
  }

  // Deletes layers and blobs that no record of md references and nobody in this process
  // pinned. Call with the metadata lock held (or right after writing md). Returns bytes freed.
  // With `only`, just those digests (hex) are candidates and age does not matter.
  int64_t SweepUnreferenced(const Json& md, const std::set<std::string>* only) {
    std::set<std::string> keep;
    for (const auto& r : md["images"]) {
      keep.insert(DigestHex(GetString(r, "id")));
      keep.insert(DigestHex(GetString(r, "manifestDigest")));
      for (const auto& l : r["layers"]) {
        keep.insert(DigestHex(GetString(l, "digest")));
        keep.insert(DigestHex(GetString(l, "diffID")));
      }
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& [d, n] : pins_) keep.insert(DigestHex(d));
    }
    int64_t freed = 0;
    std::error_code ec;
    // Blob files of other processes' in-flight pulls appear only after they are complete and
    // are recorded moments later; a short grace period keeps them.
    auto young = [&](const fs::path& p) {
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) return false;
      return ::time(nullptr) - st.st_mtime < opts_.orphan_grace.count();
    };
    auto skip = [&](const std::string& hex, const fs::path& p) {
      if (keep.count(hex)) return true;
      if (only) return only->count(hex) == 0;
      return young(p);
    };
    for (const auto& e : fs::directory_iterator(root_ + "/layers", ec)) {
      std::string hex = e.path().filename();
      if (skip(hex, e.path())) continue;
      auto sz = ReadFile(e.path().string() + "/size");
      int64_t bytes = sz.ok() ? std::atoll(sz->c_str()) : 0;
      std::error_code rm;
      fs::remove_all(e.path(), rm);
      if (!rm) freed += bytes;
    }
    for (const auto& e : fs::directory_iterator(root_ + "/blobs/sha256", ec)) {
      std::string hex = e.path().filename();
      if (skip(hex, e.path())) continue;
      int64_t bytes = FileSize(e.path());
      if (::unlink(e.path().c_str()) == 0) freed += bytes;
    }
    return freed;
  }

  std::string data_dir_, root_;
  ImageStoreOptions opts_;
  std::mutex mu_;
  std::map<std::string, int> pins_;                                // GUARDED_BY(mu_)
  std::map<std::string, std::shared_ptr<std::mutex>> layer_mu_;    // GUARDED_BY(mu_)
};

}  // namespace

Result<ImageConfig> ParseImageConfig(std::string_view config_json) {
  auto j = ParseJson(config_json);
  if (!j.ok() || !j->is_object()) return InvalidError("malformed image config");
  ImageConfig c;
  const Json* cfg = Find(*j, "config");
  if (!cfg || !cfg->is_object()) return c;  // an image may have no config at all
  c.raw = *cfg;
  c.entrypoint = StringList(*cfg, "Entrypoint");
  c.cmd = StringList(*cfg, "Cmd");
  c.env = StringList(*cfg, "Env");
  c.working_dir = GetString(*cfg, "WorkingDir");
  c.user = GetString(*cfg, "User");
  c.stop_signal = GetString(*cfg, "StopSignal");
  if (const Json* p = Find(*cfg, "ExposedPorts"); p && p->is_object())
    for (auto it = p->begin(); it != p->end(); ++it) c.exposed_ports.push_back(it.key());
  if (const Json* l = Find(*cfg, "Labels"); l && l->is_object())
    for (auto it = l->begin(); it != l->end(); ++it)
      if (it.value().is_string()) c.labels[it.key()] = it.value().get<std::string>();
  return c;
}

Json NodeImagesStatus(const std::vector<ImageInfo>& images, size_t max_images) {
  std::vector<const ImageInfo*> sorted;
  for (const auto& i : images)
    if (!i.repo_tags.empty() || !i.repo_digests.empty()) sorted.push_back(&i);
  std::stable_sort(sorted.begin(), sorted.end(), [](const ImageInfo* a, const ImageInfo* b) { return a->size > b->size; });
  Json out = Json::array();
  for (const ImageInfo* i : sorted) {
    if (out.size() >= max_images) break;
    Json names = Json::array();
    for (const auto* list : {&i->repo_digests, &i->repo_tags})
      for (const auto& n : *list)
        if (names.size() < 5) names.push_back(n);
    out.push_back({{"names", names}, {"sizeBytes", i->size}});
  }
  return out;
}

Result<std::unique_ptr<ImageStore>> OpenImageStore(const std::string& data_dir, ImageStoreOptions options) {
  auto s = std::make_unique<ImageStoreImpl>(data_dir, std::move(options));
  RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<ImageStore>(std::move(s));
}

}  // namespace tug::runtime::image
