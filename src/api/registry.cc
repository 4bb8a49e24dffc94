// Registry: loads the schema document (src/api/schema/FORMAT.md) into TypeDef/ResourceDef
// tables and answers lookups. See schema.h for the contract.
#include <chrono>
#include <string>
#include <utility>

#include "api/schema.h"
#include "base/log.h"

namespace tug::api {
namespace internal {
extern const char kKubeSchemaJson[];
extern const unsigned long kKubeSchemaJsonSize;
}  // namespace internal

const FieldDef* TypeDef::Field(std::string_view json_name) const {
  for (const FieldDef& f : fields) {
    if (f.inlined) {
      if (f.type != nullptr) {
        if (const FieldDef* inner = f.type->Field(json_name)) return inner;
      }
      continue;
    }
    if (f.name == json_name) return &f;
  }
  return nullptr;
}

const FieldDef* TypeDef::FieldByTag(int tag) const {
  if (tag <= 0) return nullptr;
  for (const FieldDef& f : fields) {
    if (f.proto_tag == tag) return &f;
  }
  return nullptr;
}

const SubresourceDef* ResourceDef::Subresource(std::string_view name) const {
  for (const SubresourceDef& s : subresources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool ResourceDef::HasVerb(std::string_view verb) const {
  for (const std::string& v : verbs) {
    if (v == verb) return true;
  }
  return false;
}

namespace {

std::string Key3(std::string_view a, std::string_view b, std::string_view c) {
  std::string k;
  k.reserve(a.size() + b.size() + c.size() + 2);
  k.append(a).append("/").append(b).append("/").append(c);
  return k;
}

// "io.k8s.api.apps.v1.DeploymentSpec" -> "DeploymentSpec".
std::string_view ShortName(std::string_view type_name) {
  size_t dot = type_name.rfind('.');
  return dot == std::string_view::npos ? type_name : type_name.substr(dot + 1);
}

bool ScalarKind(std::string_view s, Kind* out) {
  static const std::pair<std::string_view, Kind> kKinds[] = {
      {"string", Kind::kString},     {"bytes", Kind::kBytes},
      {"bool", Kind::kBool},         {"int32", Kind::kInt32},
      {"int64", Kind::kInt64},       {"double", Kind::kDouble},
      {"intstr", Kind::kIntOrString}, {"quantity", Kind::kQuantity},
      {"time", Kind::kTime},         {"microtime", Kind::kMicroTime},
      {"duration", Kind::kDuration}, {"raw", Kind::kRawExtension},
      {"json", Kind::kJSON},
  };
  for (const auto& [name, kind] : kKinds) {
    if (name == s) {
      *out = kind;
      return true;
    }
  }
  return false;
}

Status Bad(std::string msg) { return Status(StatusCode::kInvalid, "schema: " + std::move(msg)); }

Result<std::vector<std::string>> Strings(const Json& j, std::string_view what) {
  std::vector<std::string> out;
  if (!j.is_array()) return Bad(std::string(what) + ": expected an array of strings");
  out.reserve(j.size());
  for (const Json& s : j) {
    if (!s.is_string()) return Bad(std::string(what) + ": expected a string");
    out.push_back(s.get<std::string>());
  }
  return out;
}

}  // namespace

// Builds a Registry from a parsed schema document. Friend of Registry.
class RegistryBuilder {
 public:
  static Result<std::shared_ptr<const Registry>> Build(const Json& doc);

 private:
  static Status LoadTypes(const Json& types, Registry& reg);
  static Status LoadField(const Json& jf, const TypeDef& owner, Registry& reg, FieldDef& f);
  static Status LoadResources(const Json& res, Registry& reg);
};

Status RegistryBuilder::LoadField(const Json& jf, const TypeDef& owner, Registry& reg,
                                  FieldDef& f) {
  if (!jf.is_object()) return Bad(owner.name + ": field is not an object");
  f.name = GetString(jf, "n");
  if (f.name.empty()) return Bad(owner.name + ": field without a name");
  if (const Json* t = Find(jf, "t"); t && t->is_number_integer()) f.proto_tag = t->get<int>();
  std::string kind = GetString(jf, "k");
  if (!ScalarKind(kind, &f.kind)) {
    auto it = reg.types_.find(kind);
    if (it == reg.types_.end()) return Bad(owner.name + "." + f.name + ": unknown type " + kind);
    f.kind = Kind::kObject;
    f.type = it->second.get();
  }
  std::string c = GetString(jf, "c");
  if (c == "list") {
    f.container = Container::kList;
  } else if (c == "map") {
    f.container = Container::kMap;
  } else if (!c.empty()) {
    return Bad(owner.name + "." + f.name + ": bad container " + c);
  }
  auto flag = [&jf](std::string_view key, bool def) {
    const Json* v = Find(jf, key);
    return v && v->is_number_integer() ? v->get<int>() != 0 : def;
  };
  f.required = flag("req", false);
  f.omit_empty = flag("oe", true);
  f.map_atomic = flag("ma", false);
  f.inlined = flag("in", false);
  if (f.inlined && f.kind != Kind::kObject) return Bad(owner.name + "." + f.name + ": inline scalar");
  f.patch_strategy = GetString(jf, "ps");
  f.patch_merge_key = GetString(jf, "pk");
  std::string lt = GetString(jf, "lt");
  if (lt == "atomic") {
    f.list_type = ListType::kAtomic;
  } else if (lt == "set") {
    f.list_type = ListType::kSet;
  } else if (lt == "map") {
    f.list_type = ListType::kMap;
  } else if (!lt.empty()) {
    return Bad(owner.name + "." + f.name + ": bad listType " + lt);
  }
  if (const Json* lk = Find(jf, "lk")) {
    auto keys = Strings(*lk, "lk");
    if (!keys.ok()) return keys.status();
    f.list_map_keys = std::move(keys).value();
  }
  if (const Json* e = Find(jf, "e")) {
    auto values = Strings(*e, "e");
    if (!values.ok()) return values.status();
    f.enum_values = std::move(values).value();
  }
  f.description = GetString(jf, "d");
  if (f.description.empty()) {
    // Neutral fallback (FORMAT.md): "<field> of the <Type>."
    f.description.append(f.name).append(" of the ").append(ShortName(owner.name)).append(".");
  }
  return Status::Ok();
}

Status RegistryBuilder::LoadTypes(const Json& types, Registry& reg) {
  if (!types.is_array()) return Bad("types: expected an array");
  // Pass 1: create every TypeDef so that fields can point at types defined later.
  for (const Json& jt : types) {
    std::string name = GetString(jt, "n");
    if (name.empty()) return Bad("type without a name");
    auto t = std::make_unique<TypeDef>();
    t->name = name;
    auto [it, inserted] = reg.types_.emplace(std::move(name), std::move(t));
    if (!inserted) return Bad("duplicate type " + it->first);
  }
  // Pass 2: fields.
  for (const Json& jt : types) {
    TypeDef& t = *reg.types_.find(GetString(jt, "n"))->second;
    t.description = GetString(jt, "d");
    if (t.description.empty()) t.description.append(ShortName(t.name)).append(" object.");
    if (const Json* lw = Find(jt, "lw"); lw && lw->is_number_integer()) {
      t.list_wrapper = lw->get<int>() != 0;
    }
    const Json* fields = Find(jt, "f");
    if (fields == nullptr || !fields->is_array()) return Bad(t.name + ": missing fields");
    t.fields.resize(fields->size());
    for (size_t i = 0; i < fields->size(); ++i) {
      if (Status s = LoadField((*fields)[i], t, reg, t.fields[i]); !s.ok()) return s;
    }
    if (t.list_wrapper && (t.fields.empty() || t.fields[0].container != Container::kList)) {
      return Bad(t.name + ": list wrapper without a repeated field");
    }
  }
  return Status::Ok();
}

Status RegistryBuilder::LoadResources(const Json& res, Registry& reg) {
  if (!res.is_array()) return Bad("resources: expected an array");
  reg.resources_.reserve(res.size());
  for (const Json& jr : res) {
    auto r = std::make_unique<ResourceDef>();
    r->group = GetString(jr, "g");
    r->version = GetString(jr, "v");
    r->kind = GetString(jr, "k");
    r->plural = GetString(jr, "p");
    r->singular = GetString(jr, "s");
    if (r->version.empty() || r->kind.empty() || r->plural.empty()) {
      return Bad("resource without version, kind or plural");
    }
    if (r->singular.empty()) r->singular = r->plural;
    r->list_kind = GetString(jr, "lk", r->kind + "List");
    const Json* ns = Find(jr, "ns");
    r->namespaced = !(ns && ns->is_number_integer() && ns->get<int>() == 0);
    const Json* virt = Find(jr, "virt");
    r->virtual_resource = virt && virt->is_number_integer() && virt->get<int>() != 0;
    r->storage_version = GetString(jr, "sv", r->version);
    for (auto [key, out] : {std::pair{"sn", &r->short_names}, std::pair{"cat", &r->categories},
                            std::pair{"verbs", &r->verbs}}) {
      if (const Json* v = Find(jr, key)) {
        auto list = Strings(*v, key);
        if (!list.ok()) return list.status();
        *out = std::move(list).value();
      }
    }
    std::string type = GetString(jr, "t");
    auto it = reg.types_.find(type);
    if (it == reg.types_.end()) return Bad(r->plural + ": unknown type " + type);
    r->type = it->second.get();
    if (const Json* subs = Find(jr, "sub")) {
      if (!subs->is_array()) return Bad(r->plural + ": sub is not an array");
      for (const Json& js : *subs) {
        if (!js.is_array() || js.size() != 5 || !js[0].is_string() || !js[1].is_string() ||
            !js[2].is_string() || !js[3].is_string()) {
          return Bad(r->plural + ": malformed subresource");
        }
        SubresourceDef s;
        s.name = js[0].get<std::string>();
        s.response_kind = {js[1].get<std::string>(), js[2].get<std::string>(),
                           js[3].get<std::string>()};
        auto verbs = Strings(js[4], "sub verbs");
        if (!verbs.ok()) return verbs.status();
        s.verbs = std::move(verbs).value();
        r->subresources.push_back(std::move(s));
      }
    }
    std::string rkey = Key3(r->group, r->version, r->plural);
    std::string kkey = Key3(r->group, r->version, r->kind);
    if (!reg.by_resource_.emplace(rkey, r.get()).second) return Bad("duplicate resource " + rkey);
    if (!reg.by_kind_.emplace(kkey, r.get()).second) return Bad("duplicate resource kind " + kkey);
    reg.resources_.push_back(std::move(r));
  }
  return Status::Ok();
}

Result<std::shared_ptr<const Registry>> RegistryBuilder::Build(const Json& doc) {
  if (!doc.is_object()) return Bad("document is not an object");
  const Json* format = Find(doc, "format");
  if (format == nullptr || !format->is_number_integer() || format->get<int>() != 1) {
    return Bad("unsupported format (want 1)");
  }
  auto reg = std::shared_ptr<Registry>(new Registry());
  const Json* types = Find(doc, "types");
  if (types == nullptr) return Bad("missing types");
  if (Status s = LoadTypes(*types, *reg); !s.ok()) return s;

  if (const Json* kinds = Find(doc, "kinds")) {
    if (!kinds->is_array()) return Bad("kinds: expected an array");
    for (const Json& jk : *kinds) {
      if (!jk.is_array() || jk.size() != 4 || !jk[0].is_string() || !jk[1].is_string() ||
          !jk[2].is_string() || !jk[3].is_string()) {
        return Bad("malformed kinds entry");
      }
      const std::string& tname = jk[3].get_ref<const std::string&>();
      auto it = reg->types_.find(tname);
      if (it == reg->types_.end()) return Bad("kinds: unknown type " + tname);
      reg->kind_types_.emplace(Key3(jk[0].get_ref<const std::string&>(),
                                    jk[1].get_ref<const std::string&>(),
                                    jk[2].get_ref<const std::string&>()),
                               it->second.get());
    }
  }
  if (const Json* res = Find(doc, "resources")) {
    if (Status s = LoadResources(*res, *reg); !s.ok()) return s;
  }
  // Every resource's kind is a kind of its group-version, whether or not "kinds" says so.
  for (const auto& r : reg->resources_) {
    reg->kind_types_.emplace(Key3(r->group, r->version, r->kind), r->type);
  }
  if (const Json* groups = Find(doc, "groups")) {
    if (!groups->is_array()) return Bad("groups: expected an array");
    for (const Json& jg : *groups) {
      if (!jg.is_array() || jg.size() != 2 || !jg[0].is_string()) return Bad("malformed group");
      GroupDef g;
      g.name = jg[0].get<std::string>();
      auto versions = Strings(jg[1], "group versions");
      if (!versions.ok()) return versions.status();
      g.versions = std::move(versions).value();
      if (g.versions.empty()) return Bad("group " + g.name + " without versions");
      reg->groups_.push_back(std::move(g));
    }
  }
  // Subresource response kinds must resolve, so that handlers can rely on them.
  for (const auto& r : reg->resources_) {
    for (const SubresourceDef& s : r->subresources) {
      const GroupVersionKind& k = s.response_kind;
      if (reg->KindType(k.group, k.version, k.kind) == nullptr) {
        return Bad(r->plural + "/" + s.name + ": unknown response kind " + k.ApiVersion() + " " +
                   k.kind);
      }
    }
  }
  return std::shared_ptr<const Registry>(std::move(reg));
}

Result<std::shared_ptr<const Registry>> Registry::FromJson(std::string_view text) {
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return Status(StatusCode::kInvalid, std::string("schema: invalid JSON: ") + e.what());
  }
  return RegistryBuilder::Build(doc);
}

Result<std::shared_ptr<const Registry>> Registry::Builtin() {
  // The built-in schema is a constant of the binary; build it once and share the immutable
  // result (thread-safe static initialization).
  static const Result<std::shared_ptr<const Registry>> kBuiltin = [] {
    auto start = std::chrono::steady_clock::now();
    auto reg = FromJson(std::string_view(internal::kKubeSchemaJson, internal::kKubeSchemaJsonSize));
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    if (reg.ok()) {
      TUG_LOG(INFO, "schema") << "built-in schema loaded" << kv("types", (*reg)->types_.size())
                              << kv("resources", (*reg)->Resources().size())
                              << kv("micros", us);
    }
    return reg;
  }();
  return kBuiltin;
}

const TypeDef* Registry::Type(std::string_view name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : it->second.get();
}

const ResourceDef* Registry::ByResource(std::string_view group, std::string_view version,
                                        std::string_view plural) const {
  auto it = by_resource_.find(Key3(group, version, plural));
  return it == by_resource_.end() ? nullptr : it->second;
}

const ResourceDef* Registry::ByKind(std::string_view group, std::string_view version,
                                    std::string_view kind) const {
  auto it = by_kind_.find(Key3(group, version, kind));
  return it == by_kind_.end() ? nullptr : it->second;
}

const ResourceDef* Registry::ByApiVersionKind(std::string_view api_version,
                                              std::string_view kind) const {
  size_t slash = api_version.find('/');
  if (slash == std::string_view::npos) return ByKind("", api_version, kind);
  return ByKind(api_version.substr(0, slash), api_version.substr(slash + 1), kind);
}

const TypeDef* Registry::KindType(std::string_view group, std::string_view version,
                                  std::string_view kind) const {
  auto it = kind_types_.find(Key3(group, version, kind));
  return it == kind_types_.end() ? nullptr : it->second;
}

}  // namespace tug::api
