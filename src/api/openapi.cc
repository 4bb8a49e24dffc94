// OpenAPI v3 documents (kubectl-wire.md §4) generated from the Registry: one document per
// served group-version with the component schemas of its kinds (and everything they
// reference), and paths whose operations carry inline parameters, the patch media types and
// x-kubernetes-group-version-kind. Output is deterministic (Json objects keep sorted keys).
#include "api/openapi.h"

#include <cstdint>
#include <cstdio>
#include <set>
#include <utility>
#include <vector>

#include "base/json.h"

namespace tug::api {
namespace {

constexpr std::string_view kRefPrefix = "#/components/schemas/";
constexpr const char* kIntOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
constexpr const char* kQuantity = "io.k8s.apimachinery.pkg.api.resource.Quantity";
constexpr const char* kTime = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
constexpr const char* kMicroTime = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";
constexpr const char* kRawExtension = "io.k8s.apimachinery.pkg.runtime.RawExtension";
constexpr const char* kFieldsV1 = "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1";
constexpr const char* kStatus = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
constexpr const char* kDeleteOptions = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
constexpr const char* kWatchEvent = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
constexpr const char* kPatch = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

// meta.k8s.io kinds that every group-version registers (as in schemagen's resources.py).
constexpr const char* kMetaKinds[] = {"Status", "WatchEvent", "DeleteOptions", "ListOptions",
                                      "GetOptions", "CreateOptions", "UpdateOptions",
                                      "PatchOptions"};

Json Ref(std::string_view type_name) {
  return Json{{"$ref", std::string(kRefPrefix) + std::string(type_name)}};
}

std::string ListTypeName(ListType t) {
  switch (t) {
    case ListType::kAtomic: return "atomic";
    case ListType::kSet: return "set";
    case ListType::kMap: return "map";
    case ListType::kUnspecified: break;
  }
  return "";
}

// Serialized component schemas shared by all documents of one BuildOpenApiV3 call: most
// types (ObjectMeta, PodSpec, ...) appear in several documents with the same schema.
struct SchemaCache {
  struct Entry {
    std::string json;
    std::vector<const TypeDef*> refs;
    std::vector<std::string> scalars;
  };
  std::map<std::string, Entry> entries;  // key: type name + '|' + its GVK list
};

// Collects the component schemas one document needs.
class SchemaSet {
 public:
  explicit SchemaSet(SchemaCache& cache) : cache_(cache) {}

  void AddType(const TypeDef* t) {
    if (t == nullptr || !types_.insert(t->name).second) return;
    pending_.push_back(t);
  }
  void AddScalarComponent(const char* name) { scalars_.insert(name); }
  void AddGvk(const TypeDef* t, const GroupVersionKind& gvk) {
    if (t == nullptr) return;
    auto& list = gvks_[t->name];
    for (const auto& g : list) {
      if (g == gvk) return;
    }
    list.push_back(gvk);
  }

  // Serialized "schemas" object (keys sorted, as DumpJson would write them).
  std::string Build() {
    std::map<std::string, const std::string*> out;
    // Defining a type can discover more types; drain until closed.
    while (!pending_.empty()) {
      const TypeDef* t = pending_.back();
      pending_.pop_back();
      std::string key = t->name + "|";
      if (auto it = gvks_.find(t->name); it != gvks_.end()) key += DumpJson(GvkList(it->second));
      auto [it, inserted] = cache_.entries.try_emplace(std::move(key));
      SchemaCache::Entry& e = it->second;
      if (inserted) {
        recording_ = &e;
        e.json = DumpJson(TypeSchema(*t));
        recording_ = nullptr;
      } else {
        for (const TypeDef* r : e.refs) AddType(r);
        for (const std::string& sc : e.scalars) scalars_.insert(sc);
      }
      out[t->name] = &e.json;
    }
    std::map<std::string, std::string> scalar_json;
    for (const std::string& sc : scalars_) {
      scalar_json[sc] = DumpJson(ScalarComponent(sc));
      out[sc] = &scalar_json[sc];
    }
    std::string text = "{";
    for (const auto& [name, json] : out) {
      if (text.size() > 1) text.push_back(',');
      text.append(DumpJson(Json(name))).push_back(':');
      text.append(*json);
    }
    text.push_back('}');
    return text;
  }

 private:
  static Json ScalarComponent(std::string_view name) {
    if (name == kIntOrString) {
      return {{"description", "An integer or a string, e.g. a port number or a port name."},
              {"type", "string"},
              {"format", "int-or-string"},
              {"x-kubernetes-int-or-string", true}};
    }
    if (name == kQuantity) {
      return {{"description", "A fixed-point quantity such as 100m, 1.5 or 128Mi."},
              {"type", "string"}};
    }
    if (name == kTime || name == kMicroTime) {
      return {{"description", "A timestamp in RFC 3339 format."},
              {"type", "string"},
              {"format", "date-time"}};
    }
    if (name == kRawExtension) {
      return {{"description", "An embedded object of any kind."}, {"type", "object"}};
    }
    if (name == kFieldsV1) {
      return {{"description", "A set of fields, in the structured merge diff format."},
              {"type", "object"}};
    }
    return {{"type", "object"}};
  }

  Json ScalarRef(const char* name) {
    if (recording_ != nullptr) recording_->scalars.push_back(name);
    scalars_.insert(name);
    return Ref(name);
  }

  static Json GvkList(const std::vector<GroupVersionKind>& gvks) {
    Json list = Json::array();
    for (const auto& g : gvks) {
      list.push_back({{"group", g.group}, {"kind", g.kind}, {"version", g.version}});
    }
    return list;
  }

  // Schema of one value of kind/type (the element of a list or map).
  Json ElementSchema(const FieldDef& f) {
    switch (f.kind) {
      case Kind::kString: {
        Json j = {{"type", "string"}};
        if (!f.enum_values.empty()) j["enum"] = f.enum_values;
        return j;
      }
      case Kind::kBytes: return {{"type", "string"}, {"format", "byte"}};
      case Kind::kBool: return {{"type", "boolean"}};
      case Kind::kInt32: return {{"type", "integer"}, {"format", "int32"}};
      case Kind::kInt64: return {{"type", "integer"}, {"format", "int64"}};
      case Kind::kDouble: return {{"type", "number"}, {"format", "double"}};
      case Kind::kDuration: return {{"type", "string"}};
      case Kind::kIntOrString: return ScalarRef(kIntOrString);
      case Kind::kQuantity: return ScalarRef(kQuantity);
      case Kind::kTime: return ScalarRef(kTime);
      case Kind::kMicroTime: return ScalarRef(kMicroTime);
      case Kind::kRawExtension: return ScalarRef(kRawExtension);
      case Kind::kJSON:
        if (f.name == "fieldsV1") return ScalarRef(kFieldsV1);
        return {{"type", "object"}};
      case Kind::kObject:
        if (f.type != nullptr && f.type->list_wrapper && !f.type->fields.empty()) {
          return {{"type", "array"}, {"items", ElementSchema(f.type->fields[0])}};
        }
        if (recording_ != nullptr && f.type != nullptr) recording_->refs.push_back(f.type);
        AddType(f.type);
        return Ref(f.type != nullptr ? f.type->name : "");
    }
    return Json::object();
  }

  Json FieldSchema(const FieldDef& f) {
    Json elem = ElementSchema(f);
    Json j;
    if (f.container == Container::kList) {
      j = {{"type", "array"}, {"items", std::move(elem)}};
      std::string lt = ListTypeName(f.list_type);
      if (!lt.empty()) j["x-kubernetes-list-type"] = lt;
      if (!f.list_map_keys.empty()) j["x-kubernetes-list-map-keys"] = f.list_map_keys;
    } else if (f.container == Container::kMap) {
      j = {{"type", "object"}, {"additionalProperties", std::move(elem)}};
    } else if (elem.contains("$ref")) {
      // A reference cannot carry siblings in OpenAPI 3.0: wrap it.
      j = {{"allOf", Json::array({std::move(elem)})}};
    } else {
      j = std::move(elem);
    }
    if (!f.description.empty()) j["description"] = f.description;
    if (!f.patch_merge_key.empty()) j["x-kubernetes-patch-merge-key"] = f.patch_merge_key;
    if (!f.patch_strategy.empty()) j["x-kubernetes-patch-strategy"] = f.patch_strategy;
    if (f.map_atomic) j["x-kubernetes-map-type"] = "atomic";
    return j;
  }

  void AddProperties(const TypeDef& t, Json& props, Json& required) {
    for (const FieldDef& f : t.fields) {
      if (f.inlined) {
        if (f.type != nullptr) AddProperties(*f.type, props, required);
        continue;
      }
      props[f.name] = FieldSchema(f);
      if (f.required) required.push_back(f.name);
    }
  }

  Json TypeSchema(const TypeDef& t) {
    Json props = Json::object();
    Json required = Json::array();
    AddProperties(t, props, required);
    Json j = {{"description", t.description}, {"type", "object"}, {"properties", std::move(props)}};
    if (!required.empty()) j["required"] = std::move(required);
    if (auto it = gvks_.find(t.name); it != gvks_.end()) {
      j["x-kubernetes-group-version-kind"] = GvkList(it->second);
    }
    return j;
  }

  SchemaCache& cache_;
  SchemaCache::Entry* recording_ = nullptr;  // the entry being computed, if any
  std::set<std::string> types_;
  std::vector<const TypeDef*> pending_;
  std::set<std::string> scalars_;
  std::map<std::string, std::vector<GroupVersionKind>> gvks_;
};

std::string Capitalize(std::string_view s) {
  std::string out(s);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

// "rbac.authorization.k8s.io" + "v1" -> "RbacAuthorizationV1"; "" -> "CoreV1" (operation ids).
std::string GroupVersionCamel(std::string_view group, std::string_view version) {
  std::string g(group.empty() ? "core" : group);
  for (std::string_view suffix : {".k8s.io", ".apiserver.k8s.io"}) {
    if (g.size() > suffix.size() && g.compare(g.size() - suffix.size(), suffix.size(), suffix) == 0) {
      g.resize(g.size() - suffix.size());
      break;
    }
  }
  std::string out;
  bool up = true;
  for (char c : g) {
    if (c == '.' || c == '-') {
      up = true;
      continue;
    }
    out.push_back(up && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    up = false;
  }
  return out + Capitalize(version);
}

Json QueryParam(const char* name, const char* type, const char* description) {
  return {{"name", name},
          {"in", "query"},
          {"description", description},
          {"schema", {{"type", type}, {"uniqueItems", true}}}};
}

const Json& DryRun() {
  static const Json j = QueryParam("dryRun", "string",
                    "When present (value All), the request is validated but not persisted.");
  return j;
}
const Json& FieldManager() {
  static const Json j = QueryParam("fieldManager", "string", "Name of the actor making the change.");
  return j;
}
const Json& FieldValidation() {
  static const Json j = QueryParam("fieldValidation", "string",
                    "How to treat unknown or duplicate fields: Ignore, Warn or Strict.");
  return j;
}
const Json& Force() {
  static const Json j = QueryParam("force", "boolean",
                    "Apply only: take ownership of fields that other managers own.");
  return j;
}

Json ListParamsUncached(bool watchable);

const Json& ListParams(bool watchable) {
  static const Json kWith = ListParamsUncached(true);
  static const Json kWithout = ListParamsUncached(false);
  return watchable ? kWith : kWithout;
}

Json ListParamsUncached(bool watchable) {
  Json p = Json::array({
      QueryParam("allowWatchBookmarks", "boolean", "Ask for BOOKMARK watch events."),
      QueryParam("continue", "string", "Continue token from a previous page."),
      QueryParam("fieldSelector", "string", "Select objects by field values."),
      QueryParam("labelSelector", "string", "Select objects by labels."),
      QueryParam("limit", "integer", "Maximum number of items to return."),
      QueryParam("resourceVersion", "string", "List or watch from this resourceVersion."),
      QueryParam("resourceVersionMatch", "string", "How resourceVersion is applied to a list."),
      QueryParam("sendInitialEvents", "boolean", "Start a watch with the current state."),
      QueryParam("timeoutSeconds", "integer", "Time limit for the list or watch call."),
  });
  if (watchable) p.push_back(QueryParam("watch", "boolean", "Watch for changes instead of listing."));
  return p;
}

const Json& DeleteParams() {
  static const Json j = Json::array({
      DryRun(),
      QueryParam("gracePeriodSeconds", "integer", "Seconds before the object is deleted."),
      QueryParam("propagationPolicy", "string", "Orphan, Background or Foreground."),
  });
  return j;
}

Json JsonContent(const Json& schema) {
  return {{"application/json", {{"schema", schema}}},
          {"application/yaml", {{"schema", schema}}},
          {"application/vnd.kubernetes.protobuf", {{"schema", schema}}}};
}

Json Responses(std::initializer_list<std::pair<const char*, const char*>> codes,
               const Json& schema) {
  Json r = Json::object();
  for (const auto& [code, text] : codes) {
    r[code] = {{"description", text}, {"content", JsonContent(schema)}};
  }
  r["401"] = {{"description", "Unauthorized"}};
  return r;
}

Json GvkObject(const GroupVersionKind& k) {
  return {{"group", k.group}, {"kind", k.kind}, {"version", k.version}};
}

struct OpContext {
  std::string tag;
  std::string gv_camel;
  std::string scope;  // "Namespaced" or ""
  GroupVersionKind gvk;
  std::string kind_suffix;  // "Deployment", "DeploymentStatus", ...
};

Json Operation(const OpContext& c, const char* verb_id, const char* action, const char* text,
               Json params, Json responses, Json request_body = nullptr) {
  Json op = {{"operationId", std::string(verb_id) + c.gv_camel + c.scope + c.kind_suffix},
             {"tags", Json::array({c.tag})},
             {"description", text},
             {"parameters", std::move(params)},
             {"responses", std::move(responses)},
             {"x-kubernetes-action", action},
             {"x-kubernetes-group-version-kind", GvkObject(c.gvk)}};
  if (!request_body.is_null()) op["requestBody"] = std::move(request_body);
  return op;
}

Json BodyOf(const Json& schema) {
  return {{"content", {{"*/*", {{"schema", schema}}}}}, {"required", true}};
}

const Json& PatchBody() {
  static const Json schema = Ref(kPatch);
  static const Json j = {{"content",
           {{"application/apply-patch+yaml", {{"schema", schema}}},
            {"application/json-patch+json", {{"schema", schema}}},
            {"application/merge-patch+json", {{"schema", schema}}},
            {"application/strategic-merge-patch+json", {{"schema", schema}}}}},
          {"required", true}};
  return j;
}

Json PathParamsUncached(bool namespaced, bool named);

const Json& PathParams(bool namespaced, bool named) {
  static const Json k[4] = {PathParamsUncached(false, false), PathParamsUncached(false, true),
                            PathParamsUncached(true, false), PathParamsUncached(true, true)};
  return k[(namespaced ? 2 : 0) + (named ? 1 : 0)];
}

Json PathParamsUncached(bool namespaced, bool named) {
  Json p = Json::array();
  if (named) {
    p.push_back({{"name", "name"},
                 {"in", "path"},
                 {"description", "Name of the object."},
                 {"required", true},
                 {"schema", {{"type", "string"}, {"uniqueItems", true}}}});
  }
  if (namespaced) {
    p.push_back({{"name", "namespace"},
                 {"in", "path"},
                 {"description", "Namespace of the object."},
                 {"required", true},
                 {"schema", {{"type", "string"}, {"uniqueItems", true}}}});
  }
  p.push_back(QueryParam("pretty", "string", "Pretty-print the output."));
  return p;
}

// Item paths (get/replace/patch/delete) for the object or a subresource.
Json ItemPath(const OpContext& c, const std::vector<std::string>& verbs, const Json& schema,
              bool namespaced, bool with_delete) {
  auto has = [&verbs](std::string_view v) {
    for (const auto& x : verbs) {
      if (x == v) return true;
    }
    return false;
  };
  Json path = {{"parameters", PathParams(namespaced, true)}};
  if (has("get")) {
    path["get"] = Operation(c, "read", "get", "Read the object.", Json::array(),
                            Responses({{"200", "OK"}}, schema));
  }
  if (has("update")) {
    path["put"] = Operation(c, "replace", "put", "Replace the object.",
                            Json::array({DryRun(), FieldManager(), FieldValidation()}),
                            Responses({{"200", "OK"}, {"201", "Created"}}, schema),
                            BodyOf(schema));
  }
  if (has("patch")) {
    path["patch"] = Operation(c, "patch", "patch", "Partially update the object.",
                              Json::array({DryRun(), FieldManager(), FieldValidation(), Force()}),
                              Responses({{"200", "OK"}, {"201", "Created"}}, schema), PatchBody());
  }
  if (with_delete && has("delete")) {
    path["delete"] = Operation(c, "delete", "delete", "Delete the object.", DeleteParams(),
                               Responses({{"200", "OK"}, {"202", "Accepted"}}, Ref(kStatus)),
                               BodyOf(Ref(kDeleteOptions)));
  }
  return path;
}

std::string Fnv1a64Hex(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  // Second pass with a different basis widens the hash to 128 bits.
  uint64_t h2 = 0x84222325cbf29ce4ULL;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    h2 ^= static_cast<unsigned char>(*it);
    h2 *= 1099511628211ULL;
  }
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llX%016llX", static_cast<unsigned long long>(h),
                static_cast<unsigned long long>(h2));
  return buf;
}

std::string GroupVersionDocument(const Registry& reg, SchemaCache& cache, const std::string& group,
                                 const std::string& version) {
  SchemaSet schemas(cache);
  Json paths = Json::object();
  const std::string prefix = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  const std::string tag = (group.empty() ? std::string("core") : group) + "_" + version;
  const std::string gv_camel = GroupVersionCamel(group, version);

  for (const char* k : kMetaKinds) {
    const TypeDef* t = reg.KindType(group, version, k);
    schemas.AddGvk(t, {group, version, k});
  }
  schemas.AddType(reg.Type(kStatus));
  schemas.AddType(reg.Type(kDeleteOptions));
  schemas.AddType(reg.Type(kWatchEvent));
  schemas.AddType(reg.Type(kPatch));

  for (const auto& rp : reg.Resources()) {
    const ResourceDef& r = *rp;
    if (r.group != group || r.version != version) continue;
    const GroupVersionKind gvk = r.Gvk();
    schemas.AddType(r.type);
    schemas.AddGvk(r.type, gvk);
    const TypeDef* list_type = reg.KindType(group, version, r.list_kind);
    if (list_type != nullptr) {
      schemas.AddType(list_type);
      schemas.AddGvk(list_type, {group, version, r.list_kind});
    }
    const Json obj = Ref(r.type->name);
    const std::string base = prefix + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.plural;
    OpContext c{tag, gv_camel, r.namespaced ? "Namespaced" : "", gvk, r.kind};

    if (r.virtual_resource) {
      // Create-only reviews.
      paths[base] = {{"parameters", PathParams(r.namespaced, false)},
                     {"post", Operation(c, "create", "post", "Create the object.",
                                        Json::array({DryRun(), FieldManager(), FieldValidation()}),
                                        Responses({{"200", "OK"}, {"201", "Created"}, {"202", "Accepted"}}, obj),
                                        BodyOf(obj))}};
      continue;
    }
    Json coll = {{"parameters", PathParams(r.namespaced, false)}};
    if (r.HasVerb("list") && list_type != nullptr) {
      coll["get"] = Operation(c, "list", "list", "List or watch objects.", ListParams(r.HasVerb("watch")),
                              Responses({{"200", "OK"}}, Ref(list_type->name)));
    }
    if (r.HasVerb("create")) {
      coll["post"] = Operation(c, "create", "post", "Create an object.",
                               Json::array({DryRun(), FieldManager(), FieldValidation()}),
                               Responses({{"200", "OK"}, {"201", "Created"}, {"202", "Accepted"}}, obj),
                               BodyOf(obj));
    }
    if (r.HasVerb("deletecollection")) {
      OpContext dc = c;
      dc.kind_suffix = r.kind;
      Json params = DeleteParams();
      for (auto& p : ListParams(false)) params.push_back(p);
      coll["delete"] = Operation(dc, "deleteCollection", "deletecollection", "Delete a collection of objects.",
                                 std::move(params), Responses({{"200", "OK"}}, Ref(kStatus)),
                                 BodyOf(Ref(kDeleteOptions)));
    }
    if (coll.size() > 1) paths[base] = std::move(coll);
    if (r.namespaced && r.HasVerb("list") && list_type != nullptr) {
      OpContext all = c;
      all.scope = "";
      all.kind_suffix = r.kind + "ForAllNamespaces";
      paths[prefix + "/" + r.plural] = {
          {"parameters", PathParams(false, false)},
          {"get", Operation(all, "list", "list", "List or watch objects across all namespaces.",
                            ListParams(r.HasVerb("watch")),
                            Responses({{"200", "OK"}}, Ref(list_type->name)))}};
    }
    Json item = ItemPath(c, r.verbs, obj, r.namespaced, true);
    if (item.size() > 1) paths[base + "/{name}"] = std::move(item);

    for (const SubresourceDef& s : r.subresources) {
      const TypeDef* st = reg.KindType(s.response_kind.group, s.response_kind.version, s.response_kind.kind);
      if (st == nullptr) continue;
      bool create = false;
      for (const auto& v : s.verbs) create = create || v == "create";
      // Connect-style subresources (exec, attach, portforward, proxy, log) are streams, not
      // objects: they are not described here.
      if (s.name == "exec" || s.name == "attach" || s.name == "portforward" || s.name == "proxy" ||
          s.name == "log") {
        continue;
      }
      schemas.AddType(st);
      schemas.AddGvk(st, s.response_kind);
      OpContext sc = c;
      sc.gvk = s.response_kind;
      sc.kind_suffix = r.kind + Capitalize(s.name);
      const std::string sp = base + "/{name}/" + s.name;
      if (create) {
        paths[sp] = {{"parameters", PathParams(r.namespaced, true)},
                     {"post", Operation(sc, "create", "post", "Create the subresource object.",
                                        Json::array({DryRun(), FieldManager(), FieldValidation()}),
                                        Responses({{"200", "OK"}, {"201", "Created"}, {"202", "Accepted"}}, Ref(st->name)),
                                        BodyOf(Ref(st->name)))}};
      } else {
        Json sub = ItemPath(sc, s.verbs, Ref(st->name), r.namespaced, false);
        if (sub.size() > 1) paths[sp] = std::move(sub);
      }
    }
  }
  // Keys in sorted order, as DumpJson writes objects.
  std::string doc = "{\"components\":{\"schemas\":";
  doc += schemas.Build();
  doc += "},\"info\":{\"title\":\"Kubernetes\",\"version\":\"unversioned\"},\"openapi\":\"3.0.0\",\"paths\":";
  doc += DumpJson(paths);
  doc += "}";
  return doc;
}

}  // namespace

OpenApiV3 BuildOpenApiV3(const Registry& reg) {
  OpenApiV3 out;
  SchemaCache cache;
  Json index_paths = Json::object();
  for (const GroupDef& g : reg.Groups()) {
    for (const std::string& v : g.versions) {
      std::string key = g.name.empty() ? "api/" + v : "apis/" + g.name + "/" + v;
      std::string doc = GroupVersionDocument(reg, cache, g.name, v);
      std::string hash = Fnv1a64Hex(doc);
      index_paths[key] = {{"serverRelativeURL", "/openapi/v3/" + key + "?hash=" + hash}};
      out.hashes[key] = std::move(hash);
      out.documents[key] = std::move(doc);
    }
  }
  out.index = DumpJson(Json{{"paths", std::move(index_paths)}});
  return out;
}

}  // namespace tug::api
