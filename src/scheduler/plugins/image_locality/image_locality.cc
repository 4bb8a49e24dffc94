// ImageLocality: prefers nodes that already have the pod's images (node.status.images), scaled
// by how many nodes have each image, as upstream (23 MB .. 1000 MB per container window).
#include <algorithm>

#include "scheduler/plugins/registry.h"

namespace tug::scheduler::plugins {
namespace {
using namespace framework;

constexpr int64_t kMB = 1024 * 1024;
constexpr int64_t kMinThreshold = 23 * kMB;
constexpr int64_t kMaxContainerThreshold = 1000 * kMB;

struct State final : StateData {
  std::map<std::string, int64_t, std::less<>> spread;  // image -> number of nodes having it
  int64_t total_nodes = 0;
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<State>(*this); }
};

// Docker Hub short names are stored by the kubelet as the normalized reference.
std::string Normalize(const std::string& image) {
  std::string s = image;
  if (s.find(':') == std::string::npos && s.find('@') == std::string::npos) s += ":latest";
  return s;
}

class ImageLocalityPlugin final : public PreScorePlugin, public ScorePlugin {
 public:
  std::string_view Name() const override { return "ImageLocality"; }
  unsigned EventsToRegister() const override { return 0; }

  PluginStatus PreScore(CycleState& st, const PodInfo& pod, const std::vector<const NodeInfo*>& nodes,
                        const Handle& h) const override {
    // Only worth a pass over every node when some candidate already has one of the images.
    bool any_images = false;
    for (const NodeInfo* n : nodes) {
      if (n->image_sizes.empty()) continue;
      for (const std::string& img : pod.images)
        if (n->image_sizes.count(Normalize(img))) { any_images = true; break; }
      if (any_images) break;
    }
    if (!any_images || pod.images.empty()) return PluginStatus::Skip();
    auto s = std::make_unique<State>();
    s->total_nodes = static_cast<int64_t>(h.AllNodes().size());
    for (const std::string& img : pod.images) s->spread[Normalize(img)] = 0;
    for (const NodeInfo* n : h.AllNodes())
      for (auto& [img, count] : s->spread)
        if (n->image_sizes.count(img)) ++count;
    st.Set(slot(), std::move(s));
    return {};
  }

  int64_t Score(const CycleState& st, const PodInfo& pod, const NodeInfo& node) const override {
    const auto* s = static_cast<const State*>(st.Get(slot()));
    if (!s || s->total_nodes == 0) return 0;
    int64_t sum = 0;
    for (const std::string& img : pod.images) {
      std::string n = Normalize(img);
      auto it = node.image_sizes.find(n);
      if (it == node.image_sizes.end()) continue;
      auto sp = s->spread.find(n);
      int64_t have = sp == s->spread.end() ? 1 : sp->second;
      sum += static_cast<int64_t>(static_cast<double>(it->second) * static_cast<double>(have) / s->total_nodes);
    }
    int64_t max_threshold = kMaxContainerThreshold * static_cast<int64_t>(pod.images.size());
    sum = std::clamp(sum, kMinThreshold, max_threshold);
    return kMaxNodeScore * (sum - kMinThreshold) / (max_threshold - kMinThreshold);
  }
};
}  // namespace
std::unique_ptr<Plugin> NewImageLocality(const PluginContext&) { return std::make_unique<ImageLocalityPlugin>(); }
}  // namespace tug::scheduler::plugins
