// ControllerRevision history; see history.h.
#include "controllers/daemonset/history.h"

#include <algorithm>

#include "controllers/framework/controller_ref.h"

namespace tug::controllers::daemonset {

std::string ComputeHash(const Json& obj, int64_t collision_count) {
  std::string s = DumpJson(obj);
  if (collision_count > 0) s += "#" + std::to_string(collision_count);
  uint32_t h = 2166136261u;
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 16777619u;
  }
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string dec = std::to_string(h), out;
  for (unsigned char ch : dec) out += kAlphabet[ch % 27];
  return out;
}

Json TemplatePatch(const Json& pod_template) {
  Json t = pod_template.is_object() ? pod_template : Json::object();
  t["$patch"] = "replace";
  return Json{{"spec", {{"template", t}}}};
}

std::vector<client::ObjectPtr> OwnedRevisions(const Json& owner, const std::vector<client::ObjectPtr>& all) {
  std::vector<client::ObjectPtr> out;
  for (const auto& r : all)
    if (framework::IsControlledBy(*r, owner)) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) {
    int64_t ra = (*a).value("revision", int64_t{0}), rb = (*b).value("revision", int64_t{0});
    if (ra != rb) return ra < rb;
    return GetStringPath(*a, {"metadata", "name"}) < GetStringPath(*b, {"metadata", "name"});
  });
  return out;
}

Result<EnsureResult> EnsureRevision(const client::Client& c, const Json& owner, const std::string& owner_api_version,
                                    const std::string& owner_kind, const Json& data, const std::string& hash,
                                    const Json& labels, const std::vector<client::ObjectPtr>& owned) {
  EnsureResult out;
  std::string ns = GetStringPath(owner, {"metadata", "namespace"});
  const Json* match = nullptr;
  for (const auto& r : owned) {
    int64_t rev = (*r).value("revision", int64_t{0});
    out.max_revision = std::max(out.max_revision, rev);
    if (Find(*r, "data") && (*r)["data"] == data) match = r.get();
  }
  if (match) {
    Json cur = *match;
    if (cur.value("revision", int64_t{0}) < out.max_revision) {
      // Back to an older template: it becomes the newest revision.
      cur["revision"] = out.max_revision + 1;
      auto r = c.Update(client::kControllerRevisions, ns, cur);
      if (!r.ok()) return r.status();
      cur = *r;
      out.max_revision = cur.value("revision", int64_t{0});
    }
    out.current = cur;
    return out;
  }
  std::string name = GetStringPath(owner, {"metadata", "name"}) + "-" + hash;
  Json cr = {{"apiVersion", "apps/v1"},
             {"kind", "ControllerRevision"},
             {"metadata",
              {{"name", name},
               {"namespace", ns},
               {"labels", labels.is_object() ? labels : Json::object()},
               {"ownerReferences", Json::array({framework::MakeControllerRef(owner, owner_api_version, owner_kind)})}}},
             {"data", data},
             {"revision", out.max_revision + 1}};
  cr["metadata"]["labels"][kRevisionHashLabel] = hash;
  if (const Json* ann = FindPath(owner, {"metadata", "annotations"}); ann && ann->is_object())
    cr["metadata"]["annotations"] = *ann;
  auto r = c.Create(client::kControllerRevisions, ns, cr);
  if (!r.ok()) {
    if (r.status().code() != StatusCode::kAlreadyExists) return r.status();
    // Same name: either our own revision the informer has not shown yet, or a collision.
    auto got = c.Get(client::kControllerRevisions, ns, name);
    if (!got.ok()) return got.status();
    if (framework::IsControlledBy(*got, owner) && Find(*got, "data") && (*got)["data"] == data) {
      out.current = *got;
      out.max_revision = std::max(out.max_revision, (*got).value("revision", int64_t{0}));
      return out;
    }
    return ConflictError("controller revision " + name + " exists with other data (hash collision)");
  }
  out.current = *r;
  out.max_revision += 1;
  return out;
}

Status TruncateHistory(const client::Client& c, const std::vector<client::ObjectPtr>& owned, int64_t limit,
                       const std::vector<std::string>& keep) {
  std::vector<client::ObjectPtr> old;
  for (const auto& r : owned)
    if (std::find(keep.begin(), keep.end(), GetStringPath(*r, {"metadata", "name"})) == keep.end()) old.push_back(r);
  if (static_cast<int64_t>(old.size()) <= limit) return Status::Ok();
  size_t n = old.size() - static_cast<size_t>(std::max<int64_t>(limit, 0));
  for (size_t i = 0; i < n; ++i) {  // `owned` is oldest first
    auto r = c.Delete(client::kControllerRevisions, GetStringPath(*old[i], {"metadata", "namespace"}),
                      GetStringPath(*old[i], {"metadata", "name"}));
    if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
  }
  return Status::Ok();
}

}  // namespace tug::controllers::daemonset
