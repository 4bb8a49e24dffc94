// Shared by the density benchmarks (density_bench, control_loops_memory_bench): the Deployment
// they fill the cluster with, and where a control plane's memory goes, estimated from the
// objects themselves (DESIGN.md §4:
// the resident cost of a cached object should stay within 3x its JSON size). For the resources
// that hold many objects at density: how many, their compact JSON size as stored (the store's
// current state and the watch caches share these bytes) and as the control loops' informers keep
// them (client::StripForControlLoops: no managedFields, no unread pod spec fields), and what one object costs as the parsed tug::Json tree an
// informer caches — measured by building the trees in the calling process (mallinfo2).
// Header-only. MeasureResource/MemoryBreakdown are not thread-safe (the heap
// figure is the whole process's: call it while no other thread allocates much).
#pragma once

#include <malloc.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/packed.h"
#include "client/client.h"
#include "client/informer.h"

namespace tug::bench {

// A Deployment of `replicas` busybox pods (requests 10m CPU, 16Mi), selected by app=<name>.
inline Json DensityDeployment(const std::string& ns, const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec",
               {{"containers", Json::array({{{"name", "c"},
                                             {"image", "busybox:1.36"},
                                             {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}}}}})}}}}}}}};
}

// Heap bytes in use in this process (all arenas, mmapped chunks included).
inline size_t HeapInUse() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

struct ResourceMemory {
  size_t count = 0;
  double json_bytes = 0;      // average, as stored
  double packed_bytes = 0;    // average, as the store and watch cache hold it (base/packed.h)
  double stripped_bytes = 0;  // average, as the control loops cache it (client::StripForControlLoops)
  double tree_bytes = 0;      // average heap bytes of the stripped object as a tug::Json tree
};

inline ResourceMemory MeasureResource(const client::Client& c, const client::Resource& r) {
  ResourceMemory m;
  auto list = c.ListAll(r, "");
  if (!list.ok() || !(*list)["items"].is_array()) return m;
  Json& items = (*list)["items"];
  m.count = items.size();
  if (m.count == 0) return m;
  std::vector<std::string> stripped;
  stripped.reserve(m.count);
  double json = 0, str = 0, packed = 0;
  Packer packer;  // as a watch cache packs, with the dictionary it learns from the first objects
  for (Json& item : items) {
    std::string bytes = DumpJson(item);
    json += static_cast<double>(bytes.size());
    packed += static_cast<double>(packer.Pack(bytes).stored_size());
    // As the control loops' informers cache it (kind set as the informer does).
    if (!item.contains("kind")) item["kind"] = r.kind;
    if (!item.contains("apiVersion")) item["apiVersion"] = r.ApiVersion();
    client::StripForControlLoops(item);
    stripped.push_back(DumpJson(item));
    str += static_cast<double>(stripped.back().size());
  }
  *list = Json();  // released before measuring
  std::vector<Json> trees;
  trees.reserve(stripped.size());
  size_t before = HeapInUse();
  for (const std::string& s : stripped) trees.push_back(ParseJson(s).value());
  size_t after = HeapInUse();
  m.json_bytes = json / static_cast<double>(m.count);
  m.packed_bytes = packed / static_cast<double>(m.count);
  m.stripped_bytes = str / static_cast<double>(m.count);
  m.tree_bytes = static_cast<double>(after - before) / static_cast<double>(m.count);
  return m;
}

// figure(what, value, unit, note): one line per resource, then the totals: store + watch caches
// (one packed copy per object since Store::ShareValues) and one informer cache (the trees;
// Events are in no control loop's cache).
using FigureFn = std::function<void(const std::string& what, double v, const char* unit, const std::string& note)>;

inline void MemoryBreakdown(const client::Client& c, const FigureFn& figure) {
  double store_mb = 0, informer_mb = 0;
  for (const client::Resource* r : {&client::kPods, &client::kEvents, &client::kReplicaSets, &client::kDeployments,
                                    &client::kNodes, &client::kLeases}) {
    ResourceMemory m = MeasureResource(c, *r);
    if (m.count == 0) continue;
    char note[200];
    std::snprintf(note, sizeof note, "(%zu objects; JSON %.0f B, %.0f B packed, %.0f B as cached; tree %.1fx)",
                  m.count, m.json_bytes, m.packed_bytes, m.stripped_bytes,
                  m.stripped_bytes > 0 ? m.tree_bytes / m.stripped_bytes : 0);
    figure(r->plural + " informer tree per object", m.tree_bytes / 1024.0, "KiB", note);
    store_mb += m.packed_bytes * static_cast<double>(m.count) / (1 << 20);
    if (r != &client::kEvents) informer_mb += m.tree_bytes * static_cast<double>(m.count) / (1 << 20);
  }
  figure("store + watch caches, packed object bytes (est.)", store_mb, "MB", "");
  figure("one informer cache of these (est.)", informer_mb, "MB", "");
}

}  // namespace tug::bench
