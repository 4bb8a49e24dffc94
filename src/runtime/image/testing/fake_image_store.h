// FakeImageStore: an in-memory ImageStore for kubelet/runtime tests. Images are added with
// Add() (name, layer dirs, config); Pull() succeeds for names registered with AddPullable()
// and fails with the configured Status otherwise (NotFound by default), counting calls.
// Thread-safe (one mutex).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "runtime/image/image_store.h"
#include "runtime/image/reference.h"

namespace tug::runtime::image::testing {

class FakeImageStore final : public ImageStore {
 public:
  struct Image {
    ImageInfo info;
    std::vector<std::string> layer_dirs;  // top first
    ImageConfig config;
  };

  // Present now.
  void Add(const std::string& name, Image img) {
    std::lock_guard<std::mutex> l(mu_);
    img.info.repo_tags = {Normalize(name)};
    if (img.info.id.empty()) img.info.id = "sha256:" + std::string(64 - std::min<size_t>(64, name.size()), '0') + name;
    images_[Normalize(name)] = std::move(img);
  }
  // Present after a Pull.
  void AddPullable(const std::string& name, Image img) {
    std::lock_guard<std::mutex> l(mu_);
    img.info.repo_tags = {Normalize(name)};
    pullable_[Normalize(name)] = std::move(img);
  }
  void SetPullError(Status st) {
    std::lock_guard<std::mutex> l(mu_);
    pull_error_ = std::move(st);
  }
  int pulls() const {
    std::lock_guard<std::mutex> l(mu_);
    return pulls_;
  }

  Result<ImageInfo> Pull(std::string_view ref, const PullOptions&) override {
    std::lock_guard<std::mutex> l(mu_);
    ++pulls_;
    std::string n = Normalize(ref);
    auto it = pullable_.find(n);
    if (it == pullable_.end())
      return pull_error_.ok() ? Status(NotFoundError("failed to resolve reference \"" + n + "\": not found")) : pull_error_;
    images_[n] = it->second;
    return it->second.info;
  }
  Result<std::vector<ImageInfo>> Import(const std::string&, const ImportOptions&) override {
    return InvalidError("FakeImageStore: Import is not supported");
  }
  Result<ImageInfo> Get(std::string_view q) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(const Image* img, Find(q));
    return img->info;
  }
  Result<std::vector<ImageInfo>> List() override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<ImageInfo> out;
    for (const auto& [n, img] : images_) out.push_back(img.info);
    return out;
  }
  Status Remove(std::string_view q) override {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = images_.begin(); it != images_.end(); ++it)
      if (it->first == Normalize(q) || it->second.info.id == q) {
        images_.erase(it);
        return Status::Ok();
      }
    return NotFoundError("image \"" + std::string(q) + "\" not found");
  }
  Result<std::vector<std::string>> LayerDirs(std::string_view q) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(const Image* img, Find(q));
    return img->layer_dirs;
  }
  Result<ImageConfig> Config(std::string_view q) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(const Image* img, Find(q));
    return img->config;
  }
  Result<GcResult> GarbageCollect(const GcPolicy&, const std::set<std::string>&) override { return GcResult{}; }

 private:
  static std::string Normalize(std::string_view q) {
    auto r = ParseReference(q);
    return r.ok() ? r->String() : std::string(q);
  }
  Result<const Image*> Find(std::string_view q) const {
    for (const auto& [n, img] : images_)
      if (n == Normalize(q) || img.info.id == q) return &img;
    return NotFoundError("image \"" + std::string(q) + "\" not found");
  }

  mutable std::mutex mu_;
  std::map<std::string, Image> images_, pullable_;
  Status pull_error_;
  int pulls_ = 0;
};

}  // namespace tug::runtime::image::testing
