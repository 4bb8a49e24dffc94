// Server-side apply cost (issue 4, performance): applying a 30-container Deployment through
// api::apply::Apply() versus a plain update making the same change (a strategic merge patch of
// the changed image, with the Update managed-fields tracking every write gets). Both start
// from the request body and the stored bytes and end with the bytes to store.
// Prints p50 latencies and their ratio (one line per figure).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "api/apply/apply.h"
#include "api/codec.h"
#include "api/patch.h"
#include "api/schema.h"

namespace {

using tug::Json;
using Clock = std::chrono::steady_clock;

constexpr int kContainers = 30;
constexpr int kIterations = 400;

Json Container(int i, const std::string& tag) {
  std::string n = "c" + std::to_string(i);
  return {{"name", n},
          {"image", "registry.local/app-" + std::to_string(i) + ":" + tag},
          {"args", {"--port", std::to_string(8000 + i), "--verbose"}},
          {"ports", {{{"containerPort", 8000 + i}, {"name", "http-" + std::to_string(i)}}}},
          {"env", {{{"name", "MODE"}, {"value", "prod"}}, {{"name", "INDEX"}, {"value", std::to_string(i)}}}},
          {"resources", {{"limits", {{"cpu", "100m"}, {"memory", "64Mi"}}}, {"requests", {{"cpu", "50m"}}}}},
          {"volumeMounts", {{{"name", "data"}, {"mountPath", "/data"}}}}};
}

// The applied configuration; container `changed` runs `tag`.
Json Config(int changed, const std::string& tag) {
  Json cs = Json::array();
  for (int i = 0; i < kContainers; ++i) cs.push_back(Container(i, i == changed ? tag : "v1"));
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "big"}, {"namespace", "default"}, {"labels", {{"app", "big"}}}}},
          {"spec",
           {{"replicas", 3},
            {"selector", {{"matchLabels", {{"app", "big"}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "big"}}}}},
              {"spec", {{"containers", cs}, {"volumes", {{{"name", "data"}, {"emptyDir", Json::object()}}}}}}}}}}};
}

// The apply body as kubectl sends it: the object encoded as JSON (which is YAML) under
// Content-Type application/apply-patch+yaml. The server reads JSON bodies with the JSON parser
// and only falls back to the YAML parser for other YAML.
tug::Result<Json> DecodeApplyBody(const std::string& body) {
  if (!body.empty() && body[0] == '{') {
    auto j = tug::ParseJson(body);
    if (j.ok()) return j;
  }
  return tug::api::YamlToJson(body);
}

double P50(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main() {
  auto reg = tug::api::Registry::Builtin();
  if (!reg.ok()) {
    std::fprintf(stderr, "registry: %s\n", reg.status().ToString().c_str());
    return 1;
  }
  const tug::api::ResourceDef* def = (*reg)->ByResource("apps", "v1", "deployments");
  const std::string now = "2026-11-25T12:00:00Z";

  // The live object: created by an apply, as the server stores it.
  auto created = tug::api::apply::Apply(**reg, *def, nullptr, Config(-1, "v1"), "kubectl", false, now);
  if (!created.ok()) {
    std::fprintf(stderr, "apply: %s\n", created.status().ToString().c_str());
    return 1;
  }
  Json live = created->object;
  std::string live_bytes = tug::DumpJson(live);

  std::vector<double> ssa_us, update_us;
  size_t sink = 0;
  for (int it = 0; it < kIterations; ++it) {
    int changed = it % kContainers;
    std::string tag = "v" + std::to_string(2 + it);
    std::string body = tug::DumpJson(Config(changed, tag));
    Json changed_container = {{"name", "c" + std::to_string(changed)},
                              {"image", "registry.local/app-" + std::to_string(changed) + ":" + tag}};
    Json smp = Json::object();
    smp["spec"]["template"]["spec"]["containers"] = Json::array({changed_container});
    std::string smp_body = tug::DumpJson(smp);

    auto t0 = Clock::now();
    {
      auto cfg = DecodeApplyBody(body);
      auto stored = tug::ParseJson(live_bytes);
      auto r = tug::api::apply::Apply(**reg, *def, &*stored, *cfg, "kubectl", false, now);
      if (!r.ok()) {
        std::fprintf(stderr, "apply: %s\n", r.status().ToString().c_str());
        return 1;
      }
      sink += tug::DumpJson(r->object).size();
    }
    auto t1 = Clock::now();
    {
      auto patch = tug::ParseJson(smp_body);
      auto stored = tug::ParseJson(live_bytes);
      auto r = tug::api::ApplyStrategicMergePatch(*stored, *patch, def->type);
      if (!r.ok()) {
        std::fprintf(stderr, "patch: %s\n", r.status().ToString().c_str());
        return 1;
      }
      Json obj = std::move(r).value();
      tug::api::apply::UpdateManagedFields(**reg, *def, &*stored, obj, "kubectl-patch", "Update", "", now);
      sink += tug::DumpJson(obj).size();
    }
    auto t2 = Clock::now();
    ssa_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    update_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
  }
  double ssa = P50(ssa_us), upd = P50(update_us);
  std::printf("apply_30_containers_p50_us %.0f\n", ssa);
  std::printf("plain_update_30_containers_p50_us %.0f\n", upd);
  std::printf("apply_vs_plain_update_p50_ratio %.2f\n", upd > 0 ? ssa / upd : 0.0);
  if (sink == 0) std::fprintf(stderr, "nothing written\n");
  return 0;
}
