// Validation of CustomResourceDefinition objects (upstream apiextensions validation messages).
#include <algorithm>
#include <regex>
#include <set>
#include <string>

#include "api/crd/crd.h"
#include "api/validation/helpers.h"

namespace tug::api::crd {
namespace {

std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
bool Flag(const Json& j, const char* key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
const Json& Obj(const Json& j, const char* key) {
  static const Json kEmpty = Json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}
const Json& Arr(const Json& j, const char* key) {
  static const Json kEmpty = Json::array();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}
std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void CheckDNS1035(const std::string& path, const std::string& value, FieldErrors& errs) {
  auto msgs = validation::IsDNS1035Label(value);
  if (!msgs.empty()) errs.push_back(FieldError::Invalid(path, value, Join(msgs)));
}

// Structural schema rules (upstream pkg/apiserver/schema validation), `lvl` 0 = root.
void Structural(const Json& s, const std::string& path, int lvl, bool under_items, FieldErrors& errs) {
  if (!s.is_object()) {
    errs.push_back(FieldError::Invalid(path, s, "must be an object"));
    return;
  }
  std::string type = Str(s, "type");
  bool ios = Flag(s, "x-kubernetes-int-or-string");
  bool preserve = Flag(s, "x-kubernetes-preserve-unknown-fields");
  bool embedded = Flag(s, "x-kubernetes-embedded-resource");
  if (lvl == 0) {
    if (type.empty()) {
      errs.push_back(FieldError::Required(path + ".type", "must not be empty at the root"));
    } else if (type != "object") {
      errs.push_back(FieldError::Invalid(path + ".type", type, "must be object at the root"));
    }
  } else if (type.empty() && !ios && !preserve) {
    errs.push_back(FieldError::Required(path + ".type", under_items ? "must not be empty for specified array items"
                                                                    : "must not be empty for specified object fields"));
  }
  if (!type.empty() && type != "object" && type != "array" && type != "string" && type != "integer" &&
      type != "number" && type != "boolean") {
    errs.push_back(FieldError::NotSupported(path + ".type", type,
                                            {"array", "boolean", "integer", "number", "object", "string"}));
  }
  if (ios && !type.empty()) {
    errs.push_back(FieldError::Invalid(path + ".type", type, "must be empty if x-kubernetes-int-or-string is true"));
  }
  if (preserve && !type.empty() && type != "object") {
    errs.push_back(FieldError::Invalid(path + ".type", type, "must be object if x-kubernetes-preserve-unknown-fields is true"));
  }
  if (embedded && type != "object") {
    errs.push_back(FieldError::Invalid(path + ".type", type, "must be object if x-kubernetes-embedded-resource is true"));
  }
  const Json* props = s.contains("properties") ? &s["properties"] : nullptr;
  const Json* addl = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
  if (props != nullptr && addl != nullptr && !(addl->is_boolean() && addl->get<bool>())) {
    errs.push_back(FieldError::Forbidden(path + ".additionalProperties", "additionalProperties and properties are mutual exclusive"));
  }
  if (addl != nullptr && addl->is_boolean() && !addl->get<bool>()) {
    errs.push_back(FieldError::Forbidden(path + ".additionalProperties", "must not be false"));
  }
  if (s.contains("$ref")) errs.push_back(FieldError::Forbidden(path + ".$ref", "$ref is not supported"));
  if (type == "array" && !s.contains("items")) {
    errs.push_back(FieldError::Required(path + ".items", "must be specified"));
  }
  if (std::string p = Str(s, "pattern"); !p.empty()) {
    try {
      std::regex re(p, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      errs.push_back(FieldError::Invalid(path + ".pattern", p, "must be a valid regular expression"));
    }
  }
  if (props != nullptr && props->is_object()) {
    for (auto it = props->begin(); it != props->end(); ++it) {
      std::string child = path + ".properties[" + it.key() + "]";
      if (lvl == 0 && it.key() == "metadata") {
        const Json& m = it.value();
        std::string mt = Str(m, "type");
        if (!mt.empty() && mt != "object") {
          errs.push_back(FieldError::Invalid(child + ".type", mt, "must be object"));
        }
        for (auto p = Obj(m, "properties").begin(); p != Obj(m, "properties").end(); ++p) {
          if (p.key() != "name" && p.key() != "generateName") {
            errs.push_back(FieldError::Forbidden(child, "must not specify anything other than name and generateName, but metadata is implicitly specified"));
            break;
          }
          if (Str(p.value(), "type") != "string") {
            errs.push_back(FieldError::Invalid(child + ".properties[" + p.key() + "].type", Str(p.value(), "type"), "must be string"));
          }
        }
        continue;
      }
      Structural(it.value(), child, lvl + 1, false, errs);
    }
  }
  if (addl != nullptr && addl->is_object()) Structural(*addl, path + ".additionalProperties", lvl + 1, false, errs);
  if (const Json* items = s.contains("items") ? &s["items"] : nullptr; items != nullptr) {
    if (items->is_array()) {
      errs.push_back(FieldError::Forbidden(path + ".items", "items must be a schema object and not an array"));
    } else {
      Structural(*items, path + ".items", lvl + 1, true, errs);
    }
  }
}

const std::regex& ColumnPathRe() {
  static const std::regex re(R"(^(\.[A-Za-z0-9_\-]+|\[[0-9]+\]|\['[^']+'\]|\[\"[^\"]+\"\])+$)");
  return re;
}

}  // namespace

FieldErrors ValidateStructural(const Json& schema, const std::string& path) {
  FieldErrors errs;
  Structural(schema, path, 0, false, errs);
  return errs;
}

FieldErrors ValidateCrd(const Json& crd) {
  FieldErrors errs;
  const Json& meta = Obj(crd, "metadata");
  const Json& spec = Obj(crd, "spec");
  const Json& names = Obj(spec, "names");
  std::string group = Str(spec, "group");
  std::string plural = Str(names, "plural");
  std::string name = Str(meta, "name");
  if (name != plural + "." + group) {
    errs.push_back(FieldError::Invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"));
  }
  if (group.empty()) {
    errs.push_back(FieldError::Required("spec.group", ""));
  } else {
    auto msgs = validation::IsDNS1123Subdomain(group);
    if (!msgs.empty()) errs.push_back(FieldError::Invalid("spec.group", group, Join(msgs)));
    if (group.find('.') == std::string::npos) {
      errs.push_back(FieldError::Invalid("spec.group", group, "should be a domain with at least one dot"));
    }
  }
  std::string scope = Str(spec, "scope");
  if (scope.empty()) {
    errs.push_back(FieldError::Required("spec.scope", ""));
  } else if (scope != "Cluster" && scope != "Namespaced") {
    errs.push_back(FieldError::NotSupported("spec.scope", scope, {"Cluster", "Namespaced"}));
  }
  // Names.
  if (plural.empty()) {
    errs.push_back(FieldError::Required("spec.names.plural", ""));
  } else {
    CheckDNS1035("spec.names.plural", plural, errs);
  }
  if (std::string singular = Str(names, "singular"); !singular.empty()) CheckDNS1035("spec.names.singular", singular, errs);
  std::string kind = Str(names, "kind");
  if (kind.empty()) {
    errs.push_back(FieldError::Required("spec.names.kind", ""));
  } else {
    std::string lower = kind;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto msgs = validation::IsDNS1035Label(lower);
    if (!msgs.empty()) errs.push_back(FieldError::Invalid("spec.names.kind", kind, Join(msgs)));
  }
  std::string list_kind = Str(names, "listKind");
  if (!list_kind.empty() && list_kind == kind) {
    errs.push_back(FieldError::Invalid("spec.names.listKind", list_kind, "kind and listKind may not be the same"));
  }
  const Json& shorts = Arr(names, "shortNames");
  for (size_t i = 0; i < shorts.size(); ++i) {
    if (shorts[i].is_string()) CheckDNS1035("spec.names.shortNames[" + std::to_string(i) + "]", shorts[i].get<std::string>(), errs);
  }
  // Versions.
  const Json& versions = Arr(spec, "versions");
  if (versions.empty()) {
    errs.push_back(FieldError::Required("spec.versions", "must have exactly one version marked as storage version"));
  } else {
    int storage = 0, served = 0;
    std::set<std::string> seen;
    for (size_t i = 0; i < versions.size(); ++i) {
      const Json& v = versions[i];
      std::string vp = "spec.versions[" + std::to_string(i) + "]";
      std::string vname = Str(v, "name");
      if (vname.empty()) {
        errs.push_back(FieldError::Required(vp + ".name", ""));
      } else {
        CheckDNS1035(vp + ".name", vname, errs);
        if (!seen.insert(vname).second) errs.push_back(FieldError::Duplicate(vp + ".name", vname));
      }
      if (Flag(v, "storage")) ++storage;
      if (Flag(v, "served")) ++served;
      const Json& schema = Obj(v, "schema");
      if (!schema.contains("openAPIV3Schema")) {
        errs.push_back(FieldError::Required(vp + ".schema.openAPIV3Schema", "schemas are required"));
      } else {
        FieldErrors s = ValidateStructural(schema["openAPIV3Schema"], vp + ".schema.openAPIV3Schema");
        errs.insert(errs.end(), s.begin(), s.end());
      }
      const Json& sub = Obj(v, "subresources");
      if (sub.contains("scale")) {
        const Json& sc = Obj(sub, "scale");
        if (Str(sc, "specReplicasPath").empty()) {
          errs.push_back(FieldError::Required(vp + ".subresources.scale.specReplicasPath", ""));
        }
        if (Str(sc, "statusReplicasPath").empty()) {
          errs.push_back(FieldError::Required(vp + ".subresources.scale.statusReplicasPath", ""));
        }
      }
      const Json& cols = Arr(v, "additionalPrinterColumns");
      for (size_t c = 0; c < cols.size(); ++c) {
        std::string cp = vp + ".additionalPrinterColumns[" + std::to_string(c) + "]";
        if (Str(cols[c], "name").empty()) errs.push_back(FieldError::Required(cp + ".name", ""));
        std::string type = Str(cols[c], "type");
        if (type.empty()) {
          errs.push_back(FieldError::Required(cp + ".type", ""));
        } else if (type != "integer" && type != "number" && type != "string" && type != "boolean" && type != "date") {
          errs.push_back(FieldError::NotSupported(cp + ".type", type, {"integer", "number", "string", "boolean", "date"}));
        }
        std::string jp = Str(cols[c], "jsonPath");
        if (jp.empty()) {
          errs.push_back(FieldError::Required(cp + ".jsonPath", ""));
        } else if (!std::regex_match(jp, ColumnPathRe())) {
          errs.push_back(FieldError::Invalid(cp + ".jsonPath", jp, "must be a simple json path"));
        }
      }
    }
    if (storage != 1) {
      errs.push_back(FieldError::Invalid("spec.versions", versions, "must have exactly one version marked as storage version"));
    }
    if (served == 0) {
      errs.push_back(FieldError::Invalid("spec.versions", versions, "must have at least one served version"));
    }
  }
  const Json& conv = Obj(spec, "conversion");
  if (!conv.empty()) {
    std::string strategy = Str(conv, "strategy");
    if (strategy.empty()) {
      errs.push_back(FieldError::Required("spec.conversion.strategy", ""));
    } else if (strategy != "None") {
      // Upstream also accepts Webhook; tug does not run conversion webhooks.
      errs.push_back(FieldError::NotSupported("spec.conversion.strategy", strategy, {"None"}));
    }
  }
  return errs;
}

FieldErrors ValidateCrdUpdate(const Json& crd, const Json& old_crd) {
  FieldErrors errs = ValidateCrd(crd);
  const Json& spec = Obj(crd, "spec");
  const Json& old_spec = Obj(old_crd, "spec");
  if (Str(spec, "group") != Str(old_spec, "group")) {
    errs.push_back(FieldError::Invalid("spec.group", Str(spec, "group"), "field is immutable"));
  }
  if (Str(spec, "scope") != Str(old_spec, "scope")) {
    errs.push_back(FieldError::Invalid("spec.scope", Str(spec, "scope"), "field is immutable"));
  }
  // A version still listed in status.storedVersions must stay in spec.versions.
  std::set<std::string> names;
  for (const Json& v : Arr(spec, "versions")) names.insert(Str(v, "name"));
  const Json& stored = Arr(Obj(crd, "status"), "storedVersions");
  for (size_t i = 0; i < stored.size(); ++i) {
    if (stored[i].is_string() && names.count(stored[i].get<std::string>()) == 0) {
      errs.push_back(FieldError::Invalid("status.storedVersions[" + std::to_string(i) + "]", stored[i],
                                         "must appear in spec.versions"));
    }
  }
  return errs;
}

}  // namespace tug::api::crd
