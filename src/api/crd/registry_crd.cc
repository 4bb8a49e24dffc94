// WithCrds: extends a registry with custom resources. See crd.h.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <utility>

#include "api/crd/crd.h"

namespace tug::api {

// Copies a registry and adds types/resources/groups (friend of Registry; schema.h).
struct RegistryExtender {
  static Result<std::shared_ptr<const Registry>> Extend(const Registry& base,
                                                       std::vector<std::unique_ptr<TypeDef>> types,
                                                       std::vector<std::unique_ptr<ResourceDef>> resources,
                                                       const std::vector<GroupDef>& groups) {
    auto reg = std::make_shared<Registry>();
    std::map<const TypeDef*, const TypeDef*> remap;
    for (const auto& [name, t] : base.types_) {
      auto copy = std::make_unique<TypeDef>(*t);
      remap[t.get()] = copy.get();
      reg->types_.emplace(name, std::move(copy));
    }
    for (auto& t : types) {
      std::string name = t->name;
      if (reg->types_.count(name) != 0) {
        return Status(StatusCode::kInvalid, "crd: duplicate type " + name);
      }
      reg->types_.emplace(std::move(name), std::move(t));
    }
    for (auto& [name, t] : reg->types_) {
      for (FieldDef& f : t->fields) {
        auto it = remap.find(f.type);
        if (it != remap.end()) f.type = it->second;
      }
    }
    auto key = [](std::string_view a, std::string_view b, std::string_view c) {
      return std::string(a) + "/" + std::string(b) + "/" + std::string(c);
    };
    for (const auto& [k, t] : base.kind_types_) {
      auto it = remap.find(t);
      reg->kind_types_.emplace(k, it == remap.end() ? t : it->second);
    }
    auto add = [&](std::unique_ptr<ResourceDef> r) -> Status {
      auto it = remap.find(r->type);
      if (it != remap.end()) r->type = it->second;
      std::string rkey = key(r->group, r->version, r->plural);
      std::string kkey = key(r->group, r->version, r->kind);
      if (!reg->by_resource_.emplace(rkey, r.get()).second) {
        return Status(StatusCode::kAlreadyExists, "crd: resource " + rkey + " is already served");
      }
      if (!reg->by_kind_.emplace(kkey, r.get()).second) {
        return Status(StatusCode::kAlreadyExists, "crd: kind " + kkey + " is already served");
      }
      reg->kind_types_.emplace(kkey, r->type);
      reg->resources_.push_back(std::move(r));
      return Status::Ok();
    };
    for (const auto& r : base.resources_) {
      if (Status s = add(std::make_unique<ResourceDef>(*r)); !s.ok()) return s;
    }
    for (auto& r : resources) {
      if (Status s = add(std::move(r)); !s.ok()) return s;
    }
    reg->groups_ = base.groups_;
    for (const GroupDef& g : groups) {
      auto it = std::find_if(reg->groups_.begin(), reg->groups_.end(),
                             [&](const GroupDef& x) { return x.name == g.name; });
      if (it == reg->groups_.end()) {
        reg->groups_.push_back(g);
        continue;
      }
      for (const std::string& v : g.versions) {
        if (std::find(it->versions.begin(), it->versions.end(), v) == it->versions.end()) {
          it->versions.push_back(v);
        }
      }
    }
    return std::shared_ptr<const Registry>(std::move(reg));
  }
};

namespace crd {
namespace {

constexpr std::string_view kObjectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

std::string Str(const Json& j, std::string_view key) {
  if (!j.is_object()) return "";
  auto it = j.find(std::string(key));
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> Strs(const Json& j, std::string_view key) {
  std::vector<std::string> out;
  if (!j.is_object()) return out;
  auto it = j.find(std::string(key));
  if (it == j.end() || !it->is_array()) return out;
  for (const Json& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

bool Flag(const Json& j, std::string_view key) {
  if (!j.is_object()) return false;
  auto it = j.find(std::string(key));
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// "stable.example.com" -> "com.example.stable" (the OpenAPI definition-name prefix upstream uses).
std::string ReversedGroup(const std::string& group) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = group.find('.', start);
    parts.push_back(group.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!out.empty()) out += ".";
    out += *it;
  }
  return out;
}

// Kubernetes version priority: GA > beta > alpha, higher major/minor first, others last
// (alphabetical).
struct VersionKey {
  int track = 3;  // 0 GA, 1 beta, 2 alpha, 3 other
  int major = 0, minor = 0;
  std::string name;
};
VersionKey ParseVersion(const std::string& v) {
  VersionKey k;
  k.name = v;
  if (v.size() < 2 || v[0] != 'v' || !std::isdigit(static_cast<unsigned char>(v[1]))) return k;
  size_t i = 1;
  int major = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) major = major * 10 + (v[i++] - '0');
  if (i == v.size()) return {0, major, 0, v};
  std::string rest = v.substr(i);
  int track;
  if (rest.rfind("beta", 0) == 0) {
    track = 1;
    i += 4;
  } else if (rest.rfind("alpha", 0) == 0) {
    track = 2;
    i += 5;
  } else {
    return k;
  }
  if (i == v.size()) return k;
  int minor = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) minor = minor * 10 + (v[i++] - '0');
  if (i != v.size()) return k;
  return {track, major, minor, v};
}
bool VersionBefore(const std::string& a, const std::string& b) {
  VersionKey x = ParseVersion(a), y = ParseVersion(b);
  if (x.track != y.track) return x.track < y.track;
  if (x.track == 3) return x.name < y.name;
  if (x.major != y.major) return x.major > y.major;
  return x.minor > y.minor;
}

class TypeBuilder {
 public:
  explicit TypeBuilder(std::vector<std::unique_ptr<TypeDef>>* out) : out_(out) {}

  // Fills `f` (name already set) from a property schema; nested object schemas become types
  // named `type_name`.
  void Field(FieldDef& f, const Json& s, const std::string& type_name) {
    f.description = Str(s, "description");
    f.omit_empty = true;
    std::string type = Str(s, "type");
    if (type == "array") {
      f.container = Container::kList;
      const Json* items = s.contains("items") ? &s["items"] : nullptr;
      std::string lt = Str(s, "x-kubernetes-list-type");
      if (lt == "atomic") f.list_type = ListType::kAtomic;
      if (lt == "set") f.list_type = ListType::kSet;
      if (lt == "map") f.list_type = ListType::kMap;
      f.list_map_keys = Strs(s, "x-kubernetes-list-map-keys");
      Element(f, items != nullptr ? *items : Json::object(), type_name);
      return;
    }
    if (type == "object" && !s.contains("properties") && s.contains("additionalProperties") &&
        s["additionalProperties"].is_object()) {
      f.container = Container::kMap;
      Element(f, s["additionalProperties"], type_name);
      return;
    }
    Element(f, s, type_name);
    if (Str(s, "x-kubernetes-map-type") == "atomic") f.map_atomic = true;
  }

  // The element kind/type of `f` from schema `s`.
  void Element(FieldDef& f, const Json& s, const std::string& type_name) {
    std::string type = Str(s, "type");
    for (const Json& e : s.is_object() && s.contains("enum") && s["enum"].is_array() ? s["enum"] : Json::array()) {
      if (e.is_string()) f.enum_values.push_back(e.get<std::string>());
    }
    if (Flag(s, "x-kubernetes-int-or-string")) {
      f.kind = Kind::kIntOrString;
    } else if (type == "string") {
      f.kind = Kind::kString;
    } else if (type == "integer") {
      f.kind = Kind::kInt64;
    } else if (type == "number") {
      f.kind = Kind::kDouble;
    } else if (type == "boolean") {
      f.kind = Kind::kBool;
    } else if (type == "object" && s.contains("properties") && !Flag(s, "x-kubernetes-preserve-unknown-fields") &&
               !Flag(s, "x-kubernetes-embedded-resource")) {
      f.kind = Kind::kObject;
      f.type = Object(s, type_name);
    } else {
      // Free-form: preserved unknown fields, embedded resources, arrays of arrays, untyped.
      f.kind = Kind::kJSON;
    }
  }

  TypeDef* Object(const Json& s, const std::string& type_name, bool root = false) {
    auto t = std::make_unique<TypeDef>();
    t->name = type_name;
    t->description = Str(s, "description");
    std::vector<std::string> required = Strs(s, "required");
    if (root) {
      FieldDef av;
      av.name = "apiVersion";
      av.description = "APIVersion defines the versioned schema of this representation of an object.";
      t->fields.push_back(av);
      FieldDef kind;
      kind.name = "kind";
      kind.description = "Kind is a string value representing the REST resource this object represents.";
      t->fields.push_back(kind);
      FieldDef md;
      md.name = "metadata";
      md.kind = Kind::kObject;
      md.type = meta_;
      md.description = "Standard object's metadata.";
      t->fields.push_back(md);
    }
    if (s.is_object() && s.contains("properties") && s["properties"].is_object()) {
      for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
        if (root && (it.key() == "apiVersion" || it.key() == "kind" || it.key() == "metadata")) continue;
        FieldDef f;
        f.name = it.key();
        f.required = std::find(required.begin(), required.end(), it.key()) != required.end();
        Field(f, it.value(), type_name + "." + it.key());
        t->fields.push_back(std::move(f));
      }
    }
    TypeDef* raw = t.get();
    out_->push_back(std::move(t));
    return raw;
  }

  const TypeDef* meta_ = nullptr;

 private:
  std::vector<std::unique_ptr<TypeDef>>* out_;
};

}  // namespace

Result<std::shared_ptr<const Registry>> WithCrds(const Registry& builtin,
                                                 const std::vector<Json>& established_crds) {
  std::vector<std::unique_ptr<TypeDef>> types;
  std::vector<std::unique_ptr<ResourceDef>> resources;
  std::vector<GroupDef> groups;
  TypeBuilder tb(&types);
  tb.meta_ = builtin.Type(kObjectMeta);
  if (tb.meta_ == nullptr) return Status(StatusCode::kInternal, "crd: registry has no ObjectMeta");
  for (const Json& c : established_crds) {
    const Json& spec = c.is_object() && c.contains("spec") ? c["spec"] : Json::object();
    const Json& names = spec.is_object() && spec.contains("names") ? spec["names"] : Json::object();
    std::string group = Str(spec, "group");
    std::string kind = Str(names, "kind");
    std::string plural = Str(names, "plural");
    std::string crd_name = Str(c.value("metadata", Json::object()), "name");
    if (group.empty() || kind.empty() || plural.empty()) {
      return Status(StatusCode::kInvalid, "crd: " + crd_name + " has no group, kind or plural");
    }
    std::string singular = Str(names, "singular");
    if (singular.empty()) {
      singular = kind;
      for (char& ch : singular) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    std::string list_kind = Str(names, "listKind");
    if (list_kind.empty()) list_kind = kind + "List";
    std::string storage;
    GroupDef g{group, {}};
    const Json& versions = spec.contains("versions") && spec["versions"].is_array() ? spec["versions"] : Json::array();
    for (const Json& v : versions) {
      if (Flag(v, "storage")) storage = Str(v, "name");
    }
    for (const Json& v : versions) {
      if (!Flag(v, "served")) continue;
      std::string version = Str(v, "name");
      g.versions.push_back(version);
      auto r = std::make_unique<ResourceDef>();
      r->group = group;
      r->version = version;
      r->kind = kind;
      r->list_kind = list_kind;
      r->plural = plural;
      r->singular = singular;
      r->namespaced = Str(spec, "scope") != "Cluster";
      r->short_names = Strs(names, "shortNames");
      r->categories = Strs(names, "categories");
      r->verbs = {"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"};
      r->storage_version = storage.empty() ? version : storage;
      r->storage_group = r->group;
      const Json* sub = v.contains("subresources") ? &v["subresources"] : nullptr;
      if (sub != nullptr && sub->is_object()) {
        if (sub->contains("status")) r->subresources.push_back({"status", {group, version, kind}, {"get", "patch", "update"}});
        if (sub->contains("scale")) {
          r->subresources.push_back({"scale", {"autoscaling", "v1", "Scale"}, {"get", "patch", "update"}});
        }
      }
      const Json* schema = nullptr;
      if (v.contains("schema") && v["schema"].is_object() && v["schema"].contains("openAPIV3Schema")) {
        schema = &v["schema"]["openAPIV3Schema"];
      }
      std::string type_name = ReversedGroup(group) + "." + version + "." + kind;
      r->type = tb.Object(schema != nullptr ? *schema : Json::object(), type_name, /*root=*/true);
      resources.push_back(std::move(r));
    }
    std::sort(g.versions.begin(), g.versions.end(), VersionBefore);
    if (!g.versions.empty()) groups.push_back(std::move(g));
  }
  return RegistryExtender::Extend(builtin, std::move(types), std::move(resources), groups);
}

}  // namespace crd
}  // namespace tug::api
