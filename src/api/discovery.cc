// Discovery documents (kubectl-wire.md §1) built from the Registry. Resource entries are
// sorted by name as upstream serves them; groups and versions keep the registry's
// preference order.
#include "api/discovery.h"

#include <algorithm>
#include <vector>

namespace tug::api {
namespace {

std::string GroupVersion(std::string_view group, std::string_view version) {
  return group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
}

std::vector<const ResourceDef*> ResourcesOf(const Registry& reg, std::string_view group,
                                            std::string_view version) {
  std::vector<const ResourceDef*> out;
  for (const auto& r : reg.Resources()) {
    if (r->group == group && r->version == version) out.push_back(r.get());
  }
  std::sort(out.begin(), out.end(),
            [](const ResourceDef* a, const ResourceDef* b) { return a->plural < b->plural; });
  return out;
}

const GroupDef* FindGroup(const Registry& reg, std::string_view group) {
  for (const GroupDef& g : reg.Groups()) {
    if (g.name == group) return &g;
  }
  return nullptr;
}

Json GvkJson(const GroupVersionKind& k) {
  return Json{{"group", k.group}, {"version", k.version}, {"kind", k.kind}};
}

Json AggregatedResource(const ResourceDef& r) {
  Json j = {
      {"resource", r.plural},
      {"responseKind", GvkJson(r.Gvk())},
      {"scope", r.namespaced ? "Namespaced" : "Cluster"},
      {"singularResource", r.singular},
      {"verbs", r.verbs},
  };
  if (!r.short_names.empty()) j["shortNames"] = r.short_names;
  if (!r.categories.empty()) j["categories"] = r.categories;
  if (!r.subresources.empty()) {
    std::vector<const SubresourceDef*> subs;
    for (const SubresourceDef& s : r.subresources) subs.push_back(&s);
    std::sort(subs.begin(), subs.end(),
              [](const SubresourceDef* a, const SubresourceDef* b) { return a->name < b->name; });
    Json arr = Json::array();
    for (const SubresourceDef* s : subs) {
      arr.push_back({{"subresource", s->name},
                     {"responseKind", GvkJson(s->response_kind)},
                     {"verbs", s->verbs}});
    }
    j["subresources"] = std::move(arr);
  }
  return j;
}

Json AggregatedGroup(const Registry& reg, const GroupDef& g) {
  Json versions = Json::array();
  for (const std::string& v : g.versions) {
    Json resources = Json::array();
    for (const ResourceDef* r : ResourcesOf(reg, g.name, v)) {
      resources.push_back(AggregatedResource(*r));
    }
    versions.push_back({{"version", v}, {"resources", std::move(resources)},
                        {"freshness", "Current"}});
  }
  Json metadata = {{"creationTimestamp", nullptr}};
  if (!g.name.empty()) metadata["name"] = g.name;
  return Json{{"metadata", std::move(metadata)}, {"versions", std::move(versions)}};
}

}  // namespace

Json LegacyApiVersions(const std::string& server_address) {
  return Json{
      {"kind", "APIVersions"},
      {"versions", Json::array({"v1"})},
      {"serverAddressByClientCIDRs",
       Json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}})},
  };
}

Json ApiGroupList(const Registry& reg) {
  Json groups = Json::array();
  for (const GroupDef& g : reg.Groups()) {
    if (g.name.empty()) continue;  // the core group is served under /api
    Json versions = Json::array();
    for (const std::string& v : g.versions) {
      versions.push_back({{"groupVersion", GroupVersion(g.name, v)}, {"version", v}});
    }
    Json preferred = versions.front();
    groups.push_back({{"name", g.name},
                      {"versions", std::move(versions)},
                      {"preferredVersion", std::move(preferred)}});
  }
  return Json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", std::move(groups)}};
}

Result<Json> ApiResourceList(const Registry& reg, std::string_view group,
                             std::string_view version) {
  const GroupDef* g = FindGroup(reg, group);
  if (g == nullptr ||
      std::find(g->versions.begin(), g->versions.end(), version) == g->versions.end()) {
    return Status(StatusCode::kNotFound,
                  "the server could not find the requested resource (" +
                      GroupVersion(group, version) + ")");
  }
  // Entries are sorted by name, so "deployments/scale" follows "deployments".
  std::vector<std::pair<std::string, Json>> entries;
  for (const ResourceDef* r : ResourcesOf(reg, group, version)) {
    Json e = {{"name", r->plural},
              {"singularName", r->singular},
              {"namespaced", r->namespaced},
              {"kind", r->kind},
              {"verbs", r->verbs}};
    if (!r->short_names.empty()) e["shortNames"] = r->short_names;
    if (!r->categories.empty()) e["categories"] = r->categories;
    entries.emplace_back(r->plural, std::move(e));
    for (const SubresourceDef& s : r->subresources) {
      std::string name = r->plural + "/" + s.name;
      Json se = {{"name", name},
                 {"singularName", ""},
                 {"namespaced", r->namespaced},
                 {"kind", s.response_kind.kind},
                 {"verbs", s.verbs}};
      if (s.response_kind.group != group || s.response_kind.version != version) {
        se["group"] = s.response_kind.group;
        se["version"] = s.response_kind.version;
      }
      entries.emplace_back(std::move(name), std::move(se));
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  Json resources = Json::array();
  for (auto& [name, e] : entries) resources.push_back(std::move(e));
  return Json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", GroupVersion(group, version)},
              {"resources", std::move(resources)}};
}

Json AggregatedDiscovery(const Registry& reg, bool core, std::string_view version) {
  Json items = Json::array();
  for (const GroupDef& g : reg.Groups()) {
    if (g.name.empty() != core) continue;
    items.push_back(AggregatedGroup(reg, g));
  }
  return Json{{"kind", "APIGroupDiscoveryList"},
              {"apiVersion", "apidiscovery.k8s.io/" + std::string(version)},
              {"metadata", Json::object()},
              {"items", std::move(items)}};
}

}  // namespace tug::api
