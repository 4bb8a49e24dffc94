#include "api/apply/apply.h"

#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "api/apply/field_set.h"
#include "api/apply/typed.h"

namespace tug::api::apply {
namespace {

struct Entry {
  std::string manager;
  std::string operation;  // "Apply" or "Update"
  std::string api_version;
  std::string subresource;
  Json time;              // string or null
  FieldSet set;
};

bool SameIdentity(const Entry& e, std::string_view manager, std::string_view operation, std::string_view api_version,
                  std::string_view subresource) {
  if (e.manager != manager || e.operation != operation || e.subresource != subresource) return false;
  // Appliers are one entry whatever version they applied; updaters one per version.
  return operation == "Apply" || e.api_version == api_version;
}

// Decodes metadata.managedFields; entries that cannot be read are dropped (upstream resets
// unreadable managed fields rather than failing the write).
std::vector<Entry> DecodeManaged(const Json& obj) {
  std::vector<Entry> out;
  const Json* mf = FindPath(obj, {"metadata", "managedFields"});
  if (!mf || !mf->is_array()) return out;
  for (const Json& j : *mf) {
    if (!j.is_object()) continue;
    Entry e;
    e.manager = GetString(j, "manager");
    e.operation = GetString(j, "operation");
    e.api_version = GetString(j, "apiVersion");
    e.subresource = GetString(j, "subresource");
    if (const Json* t = Find(j, "time")) e.time = *t;
    if (e.operation != "Apply" && e.operation != "Update") continue;
    std::string ft = GetString(j, "fieldsType", "FieldsV1");
    if (ft != "FieldsV1") continue;
    const Json* fv = Find(j, "fieldsV1");
    auto set = FieldSet::FromFieldsV1(fv ? *fv : Json::object());
    if (!set.ok()) continue;
    e.set = std::move(set).value();
    out.push_back(std::move(e));
  }
  return out;
}

// Upstream's order: Apply before Update, then by time, manager, apiVersion, subresource.
Json EncodeManaged(std::vector<Entry> entries) {
  std::erase_if(entries, [](const Entry& e) { return e.set.Empty(); });
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.operation != b.operation) return a.operation < b.operation;
    std::string ta = a.time.is_string() ? a.time.get<std::string>() : "";
    std::string tb = b.time.is_string() ? b.time.get<std::string>() : "";
    if (ta != tb) return ta < tb;
    if (a.manager != b.manager) return a.manager < b.manager;
    if (a.api_version != b.api_version) return a.api_version < b.api_version;
    return a.subresource < b.subresource;
  });
  Json out = Json::array();
  for (const Entry& e : entries) {
    Json j = {{"manager", e.manager}, {"operation", e.operation}, {"apiVersion", e.api_version},
              {"fieldsType", "FieldsV1"}, {"fieldsV1", e.set.ToFieldsV1()}};
    if (!e.time.is_null()) j["time"] = e.time;
    if (!e.subresource.empty()) j["subresource"] = e.subresource;
    out.push_back(std::move(j));
  }
  return out;
}

void SetManaged(Json& obj, const std::vector<Entry>& entries) {
  Json mf = EncodeManaged(entries);
  Json& meta = obj["metadata"];
  if (!meta.is_object()) meta = Json::object();
  if (mf.empty()) meta.erase("managedFields");
  else meta["managedFields"] = std::move(mf);
}

bool HasStatusSubresource(const ResourceDef& def) { return def.Subresource("status") != nullptr; }

// What a write owns: for the status subresource only `status`; otherwise everything but the
// untracked fields (skipped while walking, so the large objects are never copied).
FieldSet IgnoredFields(const ResourceDef& def) {
  FieldSet s;
  s.Insert({"f:apiVersion"});
  s.Insert({"f:kind"});
  for (const char* f : {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                        "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"})
    s.Insert({"f:metadata", FieldElement(f)});
  if (HasStatusSubresource(def)) s.Insert({"f:status"});
  return s;
}

Json StatusView(const Json* obj) {
  Json v = Json::object();
  if (obj && obj->is_object())
    if (const Json* s = Find(*obj, "status")) v["status"] = *s;
  return v;
}

FieldSet TrackedSet(const ResourceDef& def, const std::string& subresource, const Json& obj) {
  if (subresource == "status") return ToFieldSet(def.type, StatusView(&obj));
  FieldSet ignore = IgnoredFields(def);
  return ToFieldSet(def.type, obj, &ignore);
}

Comparison TrackedCompare(const ResourceDef& def, const std::string& subresource, const Json* a, const Json* b) {
  if (subresource == "status") {
    Json av = StatusView(a), bv = StatusView(b);
    return Compare(def.type, &av, &bv);
  }
  FieldSet ignore = IgnoredFields(def);
  return Compare(def.type, a, b, &ignore);
}

// "\"mgr\"", "\"mgr\" with subresource \"status\"", "\"mgr\" using apps/v1" (Update entries).
std::string ManagerDescription(const Entry& e) {
  std::string s = Json(e.manager).dump();
  if (!e.subresource.empty()) s += " with subresource " + Json(e.subresource).dump();
  if (e.operation == "Update") s += " using " + e.api_version;
  return s;
}

struct Conflict {
  std::string manager;      // for ordering
  std::string description;  // as printed
  FieldSet::Path path;
};

Status ConflictStatus(std::vector<Conflict> conflicts) {
  std::stable_sort(conflicts.begin(), conflicts.end(), [](const Conflict& a, const Conflict& b) {
    if (a.manager != b.manager) return a.manager < b.manager;
    return a.description < b.description;
  });
  std::string msg;
  if (conflicts.size() == 1) {
    msg = "Apply failed with 1 conflict: conflict with " + conflicts[0].description + ": " + PathString(conflicts[0].path);
  } else {
    msg = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: ";
    std::string last;
    bool first = true;
    for (const Conflict& c : conflicts) {
      if (c.description != last) {
        if (!first) msg += "\n";
        msg += "conflicts with " + c.description + ":";
        last = c.description;
        first = false;
      }
      msg += "\n- " + PathString(c.path);
    }
  }
  StatusDetails d;
  for (const Conflict& c : conflicts)
    d.causes.push_back({"FieldManagerConflict", "conflict with " + c.description, PathString(c.path)});
  return Status(StatusCode::kConflict, msg).WithDetails(std::move(d));
}

// The structured-merge update step: `changed` fields (modified or added) and `removed` fields
// leave every other manager; with !force, a changed field owned by another manager is a
// conflict.
Status TakeOwnership(std::vector<Entry>& entries, size_t writer, const Comparison& cmp, bool force) {
  FieldSet changed = cmp.modified.Union(cmp.added);
  std::vector<Conflict> conflicts;
  std::vector<FieldSet> lost(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i == writer) continue;
    lost[i] = entries[i].set.Intersection(changed);
    if (!force)
      lost[i].Iterate([&](const FieldSet::Path& p) {
        conflicts.push_back({entries[i].manager + "\x1f" + entries[i].operation, ManagerDescription(entries[i]), p});
      });
  }
  if (!conflicts.empty()) return ConflictStatus(std::move(conflicts));
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i == writer) continue;
    entries[i].set = entries[i].set.Difference(lost[i]).Difference(cmp.removed);
  }
  return Status::Ok();
}

size_t FindOrAdd(std::vector<Entry>& entries, const std::string& manager, const std::string& operation,
                 const std::string& api_version, const std::string& subresource) {
  for (size_t i = 0; i < entries.size(); ++i)
    if (SameIdentity(entries[i], manager, operation, api_version, subresource)) return i;
  Entry e;
  e.manager = manager;
  e.operation = operation;
  e.api_version = api_version;
  e.subresource = subresource;
  entries.push_back(std::move(e));
  return entries.size() - 1;
}

Status CheckIntent(const ResourceDef& def, const Json& config, const ApplyOptions& opts) {
  if (!config.is_object()) return BadRequestError("the apply patch must be a YAML or JSON object");
  std::string av = GetString(config, "apiVersion");
  std::string kind = GetString(config, "kind");
  if (kind.empty()) return BadRequestError("Object 'Kind' is missing in the apply patch");
  if (av.empty()) return BadRequestError("Object 'apiVersion' is missing in the apply patch");
  if (av != def.ApiVersion())
    return BadRequestError("Incorrect version specified in apply patch. Specified patch version: " + av +
                           ", expected: " + def.ApiVersion());
  if (kind != def.kind)
    return BadRequestError("Incorrect kind specified in apply patch. Specified patch kind: " + kind +
                           ", expected: " + def.kind);
  const Json* meta = Find(config, "metadata");
  if (!meta || !meta->is_object()) return BadRequestError("metadata is required in an apply patch");
  std::string name = GetString(*meta, "name");
  if (name.empty()) return BadRequestError("metadata.name is required in an apply patch");
  if (!opts.name.empty() && name != opts.name)
    return BadRequestError("the name of the object (" + name + ") does not match the name on the URL (" + opts.name +
                           ")");
  if (const Json* mf = Find(*meta, "managedFields"); mf && !mf->is_null())
    return BadRequestError("metadata.managedFields must be nil");
  return Status::Ok();
}

// One structured-merge apply of `config` onto `live` (an object; {} for a create) with the
// given managers. Fields in `keep` are never pruned. On success `entries` holds the new
// managers.
Result<Json> ApplyOnce(const ResourceDef& def, const Json& live, const Json& config, const std::string& manager,
                       bool force, const std::string& now, const std::string& subresource,
                       const FieldSet& keep, std::vector<Entry>& entries) {
  const TypeDef* type = def.type;
  Json merged = Merge(type, live, config);
  FieldSet applied = TrackedSet(def, subresource, config);
  size_t me = FindOrAdd(entries, manager, "Apply", def.ApiVersion(), subresource);
  FieldSet last = entries[me].set;
  Json last_time = entries[me].time;
  entries[me].set = applied;
  entries[me].api_version = def.ApiVersion();
  if (!last.Empty()) {
    // Fields this manager applied last time and nobody owns any more are removed.
    // As upstream, ownership of anything inside a named field keeps that field (and a map or
    // item that is still partly owned is pruned, not dropped).
    FieldSet managed = keep;
    for (const Entry& e : entries) managed = managed.Union(e.set);
    FieldSet remove = EnsureNamedFieldsAreMembers(type, last).Difference(EnsureNamedFieldsAreMembers(type, managed));
    if (!remove.Empty()) RemoveItems(type, merged, remove, remove);
  }
  Comparison cmp = TrackedCompare(def, subresource, &live, &merged);
  RETURN_IF_ERROR(TakeOwnership(entries, me, cmp, force));
  // A re-apply that changes neither the object nor this manager's fields keeps its time, so
  // that it is a no-op write (no new resourceVersion), as upstream.
  bool unchanged = cmp.added.Empty() && cmp.modified.Empty() && cmp.removed.Empty() && last == applied;
  entries[me].time = unchanged && !last_time.is_null() ? last_time : Json(now);
  return merged;
}

// The client-side -> server-side apply upgrade: the applier takes over every field of the
// client-side apply manager except the last-applied annotation (which stays unowned so that
// it survives and is kept in sync below).
void UpgradeClientSideApply(const ResourceDef& def, std::vector<Entry>& entries, const std::string& manager,
                            const std::string& now) {
  FieldSet taken;
  bool any = false;
  for (const Entry& e : entries) {
    if (e.manager == kClientSideApplyManager && e.operation == "Update" && e.subresource.empty()) {
      taken = taken.Union(e.set);
      any = true;
    }
  }
  if (!any) return;
  FieldSet annotation;
  annotation.Insert({"f:metadata", "f:annotations", FieldElement(kLastAppliedAnnotation)});
  taken = taken.Difference(annotation);
  std::erase_if(entries, [](const Entry& e) {
    return e.manager == kClientSideApplyManager && e.operation == "Update" && e.subresource.empty();
  });
  size_t me = FindOrAdd(entries, manager, "Apply", def.ApiVersion(), "");
  entries[me].set = entries[me].set.Union(taken);
  if (entries[me].time.is_null()) entries[me].time = now;
}

bool HasLastApplied(const Json& obj) {
  const Json* a = FindPath(obj, {"metadata", "annotations"});
  return a && a->is_object() && a->contains(std::string(kLastAppliedAnnotation));
}

// The annotation value kubectl would write for `config`: the configuration without the
// annotation itself, as compact JSON with a trailing newline.
std::string LastAppliedValue(const Json& config) {
  Json c = config;
  if (Json* a = c.contains("metadata") && c["metadata"].is_object() && c["metadata"].contains("annotations")
                    ? &c["metadata"]["annotations"]
                    : nullptr;
      a && a->is_object())
    a->erase(std::string(kLastAppliedAnnotation));
  return DumpJson(c) + "\n";
}

}  // namespace

Result<ApplyResult> Apply(const Registry& registry, const ResourceDef& def, const Json* live,
                          const Json& applied_config, std::string manager, bool force, const std::string& now,
                          const ApplyOptions& opts) {
  (void)registry;  // field sets of other versions are compared as recorded (no conversion yet)
  RETURN_IF_ERROR(CheckIntent(def, applied_config, opts));
  if (manager.empty()) return BadRequestError("fieldManager is required for apply requests");
  bool created = live == nullptr;
  Json base = live ? *live : Json{{"apiVersion", def.ApiVersion()}, {"kind", def.kind}};
  std::vector<Entry> entries = live ? DecodeManaged(*live) : std::vector<Entry>{};
  if (live && base.is_object() && base.contains("metadata") && base["metadata"].is_object())
    base["metadata"].erase("managedFields");
  bool kubectl = manager == kKubectlApplyManager && opts.subresource.empty();
  if (kubectl && live && HasLastApplied(*live)) UpgradeClientSideApply(def, entries, manager, now);

  // The last-applied annotation is kubectl's, not the applier's: it is kept (and rewritten
  // below) even though the applied configuration never names it.
  FieldSet keep;
  if (kubectl) keep.Insert({"f:metadata", "f:annotations", FieldElement(kLastAppliedAnnotation)});
  ASSIGN_OR_RETURN(Json merged,
                   ApplyOnce(def, base, applied_config, manager, force, now, opts.subresource, keep, entries));
  if (kubectl && HasLastApplied(merged)) merged["metadata"]["annotations"][std::string(kLastAppliedAnnotation)] =
      LastAppliedValue(applied_config);
  SetManaged(merged, entries);
  ApplyResult r;
  r.managed_fields = FindPath(merged, {"metadata", "managedFields"}) ? merged["metadata"]["managedFields"]
                                                                      : Json::array();
  r.object = std::move(merged);
  r.created = created;
  return r;
}

void UpdateManagedFields(const Registry& registry, const ResourceDef& def, const Json* old, Json& new_obj,
                         const std::string& manager, const std::string& operation, const std::string& subresource,
                         const std::string& now) {
  (void)registry;
  std::vector<Entry> entries;
  if (subresource.empty()) entries = DecodeManaged(new_obj);
  if (entries.empty() && old) entries = DecodeManaged(*old);
  static const Json kEmpty = Json::object();
  Comparison cmp = TrackedCompare(def, subresource, old ? old : &kEmpty, &new_obj);
  std::string op = operation.empty() ? "Update" : operation;
  size_t me = FindOrAdd(entries, manager, op, def.ApiVersion(), subresource);
  Status st = TakeOwnership(entries, me, cmp, /*force=*/true);
  (void)st;  // forced: never a conflict
  FieldSet gained = cmp.modified.Union(cmp.added);
  FieldSet before = entries[me].set;
  entries[me].set = entries[me].set.Difference(cmp.removed).Union(gained);
  if (!(entries[me].set == before) || entries[me].time.is_null()) entries[me].time = now;
  if (!new_obj.is_object()) return;
  SetManaged(new_obj, entries);
}

std::string ManagerFromUserAgent(std::string_view user_agent) {
  std::string m(user_agent.substr(0, user_agent.find('/')));
  if (m.size() > 128) m.resize(128);
  return m;
}

}  // namespace tug::api::apply
