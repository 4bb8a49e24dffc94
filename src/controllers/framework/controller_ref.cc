#include "controllers/framework/controller_ref.h"

#include "base/log.h"

namespace tug::controllers::framework {

const Json* GetControllerOf(const Json& obj) {
  const Json* refs = FindPath(obj, {"metadata", "ownerReferences"});
  if (!refs || !refs->is_array()) return nullptr;
  for (const Json& r : *refs) {
    const Json* c = Find(r, "controller");
    if (c && c->is_boolean() && c->get<bool>()) return &r;
  }
  return nullptr;
}

bool IsControlledBy(const Json& obj, const Json& owner) {
  const Json* ref = GetControllerOf(obj);
  std::string uid = GetStringPath(owner, {"metadata", "uid"});
  return ref && !uid.empty() && GetString(*ref, "uid") == uid;
}

Json MakeControllerRef(const Json& owner, std::string_view api_version, std::string_view kind) {
  return Json{{"apiVersion", std::string(api_version)},
              {"kind", std::string(kind)},
              {"name", GetStringPath(owner, {"metadata", "name"})},
              {"uid", GetStringPath(owner, {"metadata", "uid"})},
              {"controller", true},
              {"blockOwnerDeletion", true}};
}

bool IsBeingDeleted(const Json& obj) {
  const Json* t = FindPath(obj, {"metadata", "deletionTimestamp"});
  return t && !t->is_null();
}

Status AdoptObject(const client::Client& c, const client::Resource& res, const Json& obj, const Json& controller_ref) {
  Json patch = {{"metadata", {{"ownerReferences", Json::array({controller_ref})},
                              {"uid", GetStringPath(obj, {"metadata", "uid"})}}}};
  auto r = c.Patch(res, GetStringPath(obj, {"metadata", "namespace"}), GetStringPath(obj, {"metadata", "name"}),
                   client::PatchType::kStrategic, DumpJson(patch));
  return r.status();
}

Status ReleaseObject(const client::Client& c, const client::Resource& res, const Json& obj, std::string_view owner_uid) {
  Json patch = {{"metadata", {{"ownerReferences", Json::array({Json{{"$patch", "delete"}, {"uid", std::string(owner_uid)}}})},
                              {"uid", GetStringPath(obj, {"metadata", "uid"})}}}};
  auto r = c.Patch(res, GetStringPath(obj, {"metadata", "namespace"}), GetStringPath(obj, {"metadata", "name"}),
                   client::PatchType::kStrategic, DumpJson(patch));
  // Gone already, or re-created under the same name (uid mismatch → Invalid/Conflict): nothing of
  // ours to release.
  if (!r.ok() && (r.status().code() == StatusCode::kNotFound || r.status().code() == StatusCode::kInvalid)) return Status::Ok();
  return r.status();
}

ClaimResult ClaimObjects(const client::Client& c, const client::Resource& res, const Json& owner,
                         const Json& controller_ref, const client::LabelSelector& selector,
                         const std::vector<client::ObjectPtr>& candidates, const std::function<Status()>& can_adopt) {
  ClaimResult out;
  bool owner_deleting = IsBeingDeleted(owner);
  std::string owner_uid = GetStringPath(owner, {"metadata", "uid"});
  int adopt_checked = 0;  // 0 unknown, 1 ok, -1 refused
  for (const client::ObjectPtr& o : candidates) {
    const Json* labels = FindPath(*o, {"metadata", "labels"});
    bool matches = selector.Matches(labels);
    const Json* ref = GetControllerOf(*o);
    if (ref) {
      if (GetString(*ref, "uid") != owner_uid) continue;  // someone else's
      if (matches && !owner_deleting) {
        out.owned.push_back(o);
        continue;
      }
      // Ours, but no longer selected (or the owner is going away): release. An object that is
      // itself being deleted is left alone (upstream does the same).
      if (IsBeingDeleted(*o)) continue;
      Status st = ReleaseObject(c, res, *o, owner_uid);
      if (!st.ok() && out.status.ok()) out.status = st;
      continue;
    }
    // An orphan.
    if (!matches || owner_deleting || IsBeingDeleted(*o)) continue;
    if (adopt_checked == 0) {
      Status st = can_adopt ? can_adopt() : Status::Ok();
      adopt_checked = st.ok() ? 1 : -1;
      if (!st.ok() && out.status.ok()) out.status = st;
    }
    if (adopt_checked < 0) continue;
    Status st = AdoptObject(c, res, *o, controller_ref);
    if (st.ok()) {
      out.owned.push_back(o);
    } else if (st.code() != StatusCode::kNotFound && out.status.ok()) {
      out.status = st;
    }
  }
  return out;
}

std::function<Status()> RecheckOwner(const client::Client& c, const client::Resource& owner_resource, const Json& owner) {
  std::string ns = GetStringPath(owner, {"metadata", "namespace"});
  std::string name = GetStringPath(owner, {"metadata", "name"});
  std::string uid = GetStringPath(owner, {"metadata", "uid"});
  return [&c, &owner_resource, ns, name, uid]() -> Status {
    auto fresh = c.Get(owner_resource, ns, name);
    if (!fresh.ok()) return fresh.status();
    if (GetStringPath(*fresh, {"metadata", "uid"}) != uid)
      return ConflictError("original " + owner_resource.kind + " " + ns + "/" + name + " is gone: got uid " +
                           GetStringPath(*fresh, {"metadata", "uid"}) + ", wanted " + uid);
    if (IsBeingDeleted(*fresh))
      return ConflictError(owner_resource.kind + " " + ns + "/" + name + " has just been deleted at " +
                           GetStringPath(*fresh, {"metadata", "deletionTimestamp"}));
    return Status::Ok();
  };
}

std::string OrphanIndexValue(std::string_view ns) { return "orphan/" + std::string(ns); }

std::vector<client::ObjectPtr> ClaimCandidates(const client::Informer& informer, std::string_view index,
                                               const Json& owner) {
  std::vector<client::ObjectPtr> out = informer.ByIndex(index, GetStringPath(owner, {"metadata", "uid"}));
  for (client::ObjectPtr& o : informer.ByIndex(index, OrphanIndexValue(GetStringPath(owner, {"metadata", "namespace"}))))
    out.push_back(std::move(o));
  return out;
}

std::string AddControllerUidIndex(client::Informer& informer, std::string_view prefix) {
  std::string name = std::string(prefix) + "/controller-uid";
  informer.AddIndexer(name, [](const Json& obj) -> std::vector<std::string> {
    if (const Json* ref = GetControllerOf(obj)) return {GetString(*ref, "uid")};
    return {OrphanIndexValue(GetStringPath(obj, {"metadata", "namespace"}))};
  });
  return name;
}

}  // namespace tug::controllers::framework
