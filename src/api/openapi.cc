// OpenAPI v3 documents (kubectl-wire.md §4) generated from the Registry: one document per
// served group-version with the component schemas of its kinds (and everything they
// reference), and paths whose operations carry inline parameters, the patch media types and
// x-kubernetes-group-version-kind. Output is deterministic (Json objects keep sorted keys).
#include "api/openapi.h"

#include <algorithm>
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

// A stable 128-bit content hash (hex). Words are assembled little-endian explicitly, so the
// value does not depend on the host's byte order.
std::string ContentHash(std::string_view s) {
  uint64_t h1 = 0xcbf29ce484222325ULL, h2 = 0x9e3779b97f4a7c15ULL ^ s.size();
  auto mix = [&](uint64_t w) {
    h1 = (h1 ^ w) * 0x100000001b3ULL;
    h1 = (h1 << 31) | (h1 >> 33);
    h2 = (h2 + w) * 0xff51afd7ed558ccdULL;
    h2 ^= h2 >> 29;
  };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w = 0;
    for (int b = 7; b >= 0; --b) w = (w << 8) | static_cast<unsigned char>(s[i + b]);
    mix(w);
  }
  uint64_t tail = 0;
  for (size_t b = s.size(); b > i; --b) tail = (tail << 8) | static_cast<unsigned char>(s[b - 1]);
  mix(tail);
  h1 ^= h2 >> 17;
  h2 ^= h1 * 0xc4ceb9fe1a85ec53ULL;
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llX%016llX", static_cast<unsigned long long>(h1),
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
      std::string hash = ContentHash(doc);
      index_paths[key] = {{"serverRelativeURL", "/openapi/v3/" + key + "?hash=" + hash}};
      out.hashes[key] = std::move(hash);
      out.documents[key] = std::move(doc);
    }
  }
  out.index = DumpJson(Json{{"paths", std::move(index_paths)}});
  return out;
}

}  // namespace tug::api

// ---------------------------------------------------------------------------------------------
// OpenAPI v2: derived from the v3 documents (same schemas and operations), then encoded as the
// gnostic openapi.v2.Document protobuf that kubectl's OpenAPI v2 client reads.

namespace tug::api {
namespace {

constexpr std::string_view kV2RefPrefix = "#/definitions/";

// Rewrites a v3 schema for v2: refs point into #/definitions, and allOf:[{$ref}] wrappers
// (needed in v3 only because $ref cannot have siblings there) become plain $ref.
Json V2Schema(const Json& in) {
  if (in.is_array()) {
    Json out = Json::array();
    for (const Json& e : in) out.push_back(V2Schema(e));
    return out;
  }
  if (!in.is_object()) return in;
  Json out = Json::object();
  for (auto it = in.begin(); it != in.end(); ++it) {
    if (it.key() == "$ref" && it->is_string()) {
      std::string ref = it->get<std::string>();
      if (ref.rfind(kRefPrefix, 0) == 0) ref = std::string(kV2RefPrefix) + ref.substr(kRefPrefix.size());
      out["$ref"] = ref;
    } else if (it.key() == "x-kubernetes-group-version-kind" || it.key() == "enum" ||
               it.key() == "required" || it.key() == "x-kubernetes-list-map-keys") {
      out[it.key()] = *it;  // data, not schemas
    } else if (it.key() == "properties") {
      Json props = Json::object();
      for (auto p = it->begin(); p != it->end(); ++p) props[p.key()] = V2Schema(*p);
      out["properties"] = std::move(props);
    } else {
      out[it.key()] = V2Schema(*it);
    }
  }
  if (const Json* all = Find(out, "allOf");
      all != nullptr && all->is_array() && all->size() == 1 && (*all)[0].contains("$ref")) {
    out["$ref"] = (*all)[0]["$ref"];
    out.erase("allOf");
  }
  return out;
}

Json V2Parameter(const Json& p) {
  Json out = {{"name", p.value("name", "")}, {"in", p.value("in", "")}};
  if (p.contains("description")) out["description"] = p["description"];
  if (p.value("required", false)) out["required"] = true;
  if (const Json* s = Find(p, "schema")) {
    for (auto it = s->begin(); it != s->end(); ++it) out[it.key()] = *it;
  }
  return out;
}

Json V2Operation(const Json& op) {
  Json out = Json::object();
  for (auto it = op.begin(); it != op.end(); ++it) {
    const std::string& k = it.key();
    if (k == "tags" || k == "description" || k == "operationId" || k.rfind("x-", 0) == 0) {
      out[k] = *it;
    }
  }
  Json params = Json::array();
  for (const Json& p : op.value("parameters", Json::array())) params.push_back(V2Parameter(p));
  if (const Json* body = FindPath(op, {"requestBody", "content"}); body && !body->empty()) {
    Json consumes = Json::array();
    for (auto it = body->begin(); it != body->end(); ++it) consumes.push_back(it.key());
    params.push_back({{"name", "body"},
                      {"in", "body"},
                      {"required", true},
                      {"schema", V2Schema(body->begin()->value("schema", Json::object()))}});
    out["consumes"] = std::move(consumes);
  }
  out["parameters"] = std::move(params);
  Json responses = Json::object();
  Json produces = Json::array();
  for (auto it = op["responses"].begin(); it != op["responses"].end(); ++it) {
    Json r = {{"description", it->value("description", "")}};
    if (const Json* content = Find(*it, "content"); content && !content->empty()) {
      r["schema"] = V2Schema(content->begin()->value("schema", Json::object()));
      if (produces.empty()) {
        for (auto c = content->begin(); c != content->end(); ++c) produces.push_back(c.key());
      }
    }
    responses[it.key()] = std::move(r);
  }
  out["responses"] = std::move(responses);
  if (!produces.empty()) out["produces"] = std::move(produces);
  return out;
}

// Minimal protobuf writer (proto3: default values are not written).
class ProtoWriter {
 public:
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void Tag(int field, int wire) { Varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire)); }
  void Bytes(int field, std::string_view s) {
    Tag(field, 2);
    Varint(s.size());
    out_.append(s);
  }
  void String(int field, std::string_view s) {
    if (!s.empty()) Bytes(field, s);
  }
  void Bool(int field, bool b) {
    if (b) {
      Tag(field, 0);
      Varint(1);
    }
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

std::string Str(const Json& j, std::string_view key) { return GetString(j, key); }

// NamedAny{name=1, value=2 Any{yaml=2}}: the value as YAML (JSON text is valid YAML).
void VendorExtensions(ProtoWriter& w, int field, const Json& obj) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it.key().rfind("x-", 0) != 0) continue;
    ProtoWriter any;
    any.String(2, DumpJson(*it));
    ProtoWriter named;
    named.String(1, it.key());
    named.Bytes(2, any.str());
    w.Bytes(field, named.str());
  }
}

std::string EncodeSchema(const Json& s) {
  ProtoWriter w;
  w.String(1, Str(s, "$ref"));
  w.String(2, Str(s, "format"));
  w.String(4, Str(s, "description"));
  w.Bool(16, s.value("uniqueItems", false));
  if (const Json* req = Find(s, "required"); req && req->is_array()) {
    for (const Json& r : *req) w.Bytes(19, r.get<std::string>());
  }
  if (const Json* e = Find(s, "enum"); e && e->is_array()) {
    for (const Json& v : *e) {
      ProtoWriter any;
      any.String(2, DumpJson(v));
      w.Bytes(20, any.str());
    }
  }
  if (const Json* ap = Find(s, "additionalProperties")) {
    ProtoWriter item;
    if (ap->is_boolean()) {
      item.Bool(2, ap->get<bool>());
    } else {
      item.Bytes(1, EncodeSchema(*ap));
    }
    w.Bytes(21, item.str());
  }
  if (const Json* t = Find(s, "type"); t && t->is_string()) {
    ProtoWriter type;
    type.String(1, t->get<std::string>());
    w.Bytes(22, type.str());
  }
  if (const Json* items = Find(s, "items")) {
    ProtoWriter item;
    item.Bytes(1, EncodeSchema(*items));
    w.Bytes(23, item.str());
  }
  if (const Json* all = Find(s, "allOf"); all && all->is_array()) {
    for (const Json& a : *all) w.Bytes(24, EncodeSchema(a));
  }
  if (const Json* props = Find(s, "properties"); props && props->is_object()) {
    ProtoWriter p;
    for (auto it = props->begin(); it != props->end(); ++it) {
      ProtoWriter named;
      named.String(1, it.key());
      named.Bytes(2, EncodeSchema(*it));
      p.Bytes(1, named.str());
    }
    w.Bytes(25, p.str());
  }
  VendorExtensions(w, 31, s);
  return std::move(w.str());
}

std::string EncodeParameter(const Json& p) {
  ProtoWriter param;
  const std::string in = Str(p, "in");
  if (in == "body") {
    ProtoWriter body;
    body.String(1, Str(p, "description"));
    body.String(2, Str(p, "name"));
    body.String(3, in);
    body.Bool(4, p.value("required", false));
    if (const Json* s = Find(p, "schema")) body.Bytes(5, EncodeSchema(*s));
    param.Bytes(1, body.str());
  } else {
    ProtoWriter sub;
    sub.Bool(1, p.value("required", false));
    sub.String(2, in);
    sub.String(3, Str(p, "description"));
    sub.String(4, Str(p, "name"));
    if (in == "path") {
      sub.String(5, Str(p, "type"));
      sub.Bool(19, p.value("uniqueItems", false));
    } else {
      sub.String(6, Str(p, "type"));
      sub.Bool(20, p.value("uniqueItems", false));
    }
    ProtoWriter non_body;
    non_body.Bytes(in == "path" ? 4 : 3, sub.str());  // query (3) or path (4) sub-schema
    param.Bytes(2, non_body.str());
  }
  ProtoWriter item;  // ParametersItem{parameter=1}
  item.Bytes(1, param.str());
  return std::move(item.str());
}

std::string EncodeOperation(const Json& op) {
  ProtoWriter w;
  for (const Json& t : op.value("tags", Json::array())) w.Bytes(1, t.get<std::string>());
  w.String(3, Str(op, "description"));
  w.String(5, Str(op, "operationId"));
  for (const Json& t : op.value("produces", Json::array())) w.Bytes(6, t.get<std::string>());
  for (const Json& t : op.value("consumes", Json::array())) w.Bytes(7, t.get<std::string>());
  for (const Json& p : op.value("parameters", Json::array())) w.Bytes(8, EncodeParameter(p));
  ProtoWriter responses;
  for (auto it = op["responses"].begin(); it != op["responses"].end(); ++it) {
    ProtoWriter resp;
    resp.String(1, Str(*it, "description"));
    if (const Json* s = Find(*it, "schema")) {
      ProtoWriter item;
      item.Bytes(1, EncodeSchema(*s));
      resp.Bytes(2, item.str());
    }
    ProtoWriter value;  // ResponseValue{response=1}
    value.Bytes(1, resp.str());
    ProtoWriter named;
    named.String(1, it.key());
    named.Bytes(2, value.str());
    responses.Bytes(1, named.str());
  }
  w.Bytes(9, responses.str());
  VendorExtensions(w, 13, op);
  return std::move(w.str());
}

std::string EncodeDocument(const Json& doc) {
  ProtoWriter w;
  w.String(1, Str(doc, "swagger"));
  ProtoWriter info;
  info.String(1, GetStringPath(doc, {"info", "title"}));
  info.String(2, GetStringPath(doc, {"info", "version"}));
  w.Bytes(2, info.str());
  ProtoWriter paths;
  for (auto it = doc["paths"].begin(); it != doc["paths"].end(); ++it) {
    ProtoWriter item;
    static const std::pair<const char*, int> kMethods[] = {
        {"get", 2}, {"put", 3}, {"post", 4}, {"delete", 5}, {"patch", 8}};
    for (const auto& [method, field] : kMethods) {
      if (const Json* op = Find(*it, method)) item.Bytes(field, EncodeOperation(*op));
    }
    for (const Json& p : it->value("parameters", Json::array())) item.Bytes(9, EncodeParameter(p));
    ProtoWriter named;
    named.String(1, it.key());
    named.Bytes(2, item.str());
    paths.Bytes(2, named.str());
  }
  w.Bytes(8, paths.str());
  ProtoWriter defs;
  for (auto it = doc["definitions"].begin(); it != doc["definitions"].end(); ++it) {
    ProtoWriter named;
    named.String(1, it.key());
    named.Bytes(2, EncodeSchema(*it));
    defs.Bytes(1, named.str());
  }
  w.Bytes(9, defs.str());
  return std::move(w.str());
}

}  // namespace

OpenApiV2 BuildOpenApiV2(const Registry& reg) {
  OpenApiV3 v3 = BuildOpenApiV3(reg);
  Json paths = Json::object();
  Json defs = Json::object();
  for (const auto& [key, text] : v3.documents) {
    Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) continue;  // cannot happen: we wrote it
    for (auto it = doc["paths"].begin(); it != doc["paths"].end(); ++it) {
      Json item = Json::object();
      for (auto op = it->begin(); op != it->end(); ++op) {
        if (op.key() == "parameters") {
          Json params = Json::array();
          for (const Json& p : *op) params.push_back(V2Parameter(p));
          item["parameters"] = std::move(params);
        } else {
          item[op.key()] = V2Operation(*op);
        }
      }
      paths[it.key()] = std::move(item);
    }
    const Json& schemas = doc["components"]["schemas"];
    for (auto it = schemas.begin(); it != schemas.end(); ++it) {
      Json s = V2Schema(*it);
      auto existing = defs.find(it.key());
      if (existing == defs.end()) {
        defs[it.key()] = std::move(s);
        continue;
      }
      // The same type in several documents: merge the group-version-kind lists.
      if (const Json* gvks = Find(s, "x-kubernetes-group-version-kind")) {
        Json& into = (*existing)["x-kubernetes-group-version-kind"];
        if (!into.is_array()) into = Json::array();
        for (const Json& g : *gvks) {
          if (std::find(into.begin(), into.end(), g) == into.end()) into.push_back(g);
        }
      }
    }
  }
  Json doc = {{"swagger", "2.0"},
              {"info", {{"title", "Kubernetes"}, {"version", "unversioned"}}},
              {"paths", std::move(paths)},
              {"definitions", std::move(defs)}};
  OpenApiV2 out;
  out.json = DumpJson(doc);
  out.hash = ContentHash(out.json);
  out.proto = EncodeDocument(doc);
  return out;
}

}  // namespace tug::api
