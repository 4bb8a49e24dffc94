// Printer columns (Table rows from additionalPrinterColumns) and the CRD status conditions.
#include <string>

#include "api/crd/crd.h"
#include "api/printers/util.h"

namespace tug::api::crd {
namespace {

std::string Str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

const Json* FindVersion(const Json& crd, std::string_view version) {
  if (!crd.is_object() || !crd.contains("spec") || !crd["spec"].is_object()) return nullptr;
  const Json& spec = crd["spec"];
  if (!spec.contains("versions") || !spec["versions"].is_array()) return nullptr;
  for (const Json& v : spec["versions"]) {
    if (Str(v, "name") == version) return &v;
  }
  return nullptr;
}

CrdVersionSchema SchemaFor(const Json& crd, std::string_view version) {
  CrdVersionSchema out;
  const Json* v = FindVersion(crd, version);
  if (v != nullptr && v->contains("schema") && (*v)["schema"].is_object() &&
      (*v)["schema"].contains("openAPIV3Schema") && (*v)["schema"]["openAPIV3Schema"].is_object()) {
    out.schema = (*v)["schema"]["openAPIV3Schema"];
  }
  return out;
}

CrdColumns ColumnsFor(const Json& crd, std::string_view version) {
  CrdColumns out;
  const Json* v = FindVersion(crd, version);
  if (v != nullptr && v->contains("additionalPrinterColumns") && (*v)["additionalPrinterColumns"].is_array()) {
    for (const Json& c : (*v)["additionalPrinterColumns"]) {
      CrdColumn col;
      col.name = Str(c, "name");
      col.type = Str(c, "type");
      col.format = Str(c, "format");
      col.description = Str(c, "description");
      col.json_path = Str(c, "jsonPath");
      if (c.contains("priority") && c["priority"].is_number_integer()) col.priority = c["priority"].get<int>();
      out.push_back(std::move(col));
    }
  }
  if (out.empty()) {
    CrdColumn age;
    age.name = "Age";
    age.type = "date";
    age.description = "CreationTimestamp is a timestamp representing the server time when this object was created.";
    age.json_path = ".metadata.creationTimestamp";
    out.push_back(std::move(age));
  }
  return out;
}

std::vector<TableColumn> TableColumns(const CrdColumns& columns) {
  std::vector<TableColumn> out;
  out.push_back(TableColumn{"Name", "string", "name", "Name must be unique within a namespace.", 0});
  for (const CrdColumn& c : columns) out.push_back(TableColumn{c.name, c.type, c.format, c.description, c.priority});
  return out;
}

const Json* EvalJsonPath(const Json& obj, std::string_view path) {
  if (path.size() >= 2 && path.front() == '{' && path.back() == '}') path = path.substr(1, path.size() - 2);
  const Json* cur = &obj;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      std::string key;
      while (i < path.size() && path[i] != '.' && path[i] != '[') {
        if (path[i] == '\\' && i + 1 < path.size()) ++i;
        key += path[i++];
      }
      if (key.empty()) continue;  // leading "." or ".."
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(key);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == std::string_view::npos) return nullptr;
      std::string_view inner = path.substr(i + 1, close - i - 1);
      i = close + 1;
      if (inner.size() >= 2 && (inner.front() == '\'' || inner.front() == '"') && inner.back() == inner.front()) {
        std::string key(inner.substr(1, inner.size() - 2));
        if (!cur->is_object()) return nullptr;
        auto it = cur->find(key);
        if (it == cur->end()) return nullptr;
        cur = &*it;
        continue;
      }
      if (!cur->is_array() || inner.empty()) return nullptr;
      long long idx = 0;
      bool neg = inner.front() == '-';
      for (char c : inner.substr(neg ? 1 : 0)) {
        if (c < '0' || c > '9') return nullptr;
        idx = idx * 10 + (c - '0');
      }
      if (neg) idx = static_cast<long long>(cur->size()) - idx;
      if (idx < 0 || idx >= static_cast<long long>(cur->size())) return nullptr;
      cur = &(*cur)[static_cast<size_t>(idx)];
    } else {
      return nullptr;
    }
  }
  return cur;
}

Json CrdRow(const CrdColumns& columns, const Json& obj, SystemTime now) {
  Json cells = Json::array();
  cells.push_back(printers::Name(obj));
  for (const CrdColumn& c : columns) {
    const Json* v = EvalJsonPath(obj, c.json_path);
    if (v == nullptr || v->is_null()) {
      cells.push_back(nullptr);
      continue;
    }
    if (c.type == "string") {
      cells.push_back(v->is_string() ? v->get<std::string>() : v->dump());
    } else if (c.type == "integer") {
      if (v->is_number_integer()) {
        cells.push_back(v->get<int64_t>());
      } else if (v->is_number()) {
        cells.push_back(static_cast<int64_t>(v->get<double>()));
      } else {
        cells.push_back(nullptr);
      }
    } else if (c.type == "number") {
      cells.push_back(v->is_number() ? Json(v->get<double>()) : Json(nullptr));
    } else if (c.type == "boolean") {
      cells.push_back(v->is_boolean() ? *v : Json(nullptr));
    } else if (c.type == "date") {
      if (!v->is_string()) {
        cells.push_back(nullptr);
        continue;
      }
      auto t = ParseRFC3339(v->get<std::string>());
      cells.push_back(t.ok() ? printers::SinceTime(*t, now) : std::string("<invalid>"));
    } else {
      cells.push_back(nullptr);
    }
  }
  return cells;
}

bool IsEstablished(const Json& crd) {
  if (!crd.is_object() || !crd.contains("status") || !crd["status"].is_object()) return false;
  const Json& st = crd["status"];
  if (!st.contains("conditions") || !st["conditions"].is_array()) return false;
  for (const Json& c : st["conditions"]) {
    if (Str(c, "type") == "Established" && Str(c, "status") == "True") return true;
  }
  return false;
}

Json CrdStatusFor(const Json& crd, const Registry& current) { return CrdStatusFor(crd, current, RealClock().Now()); }

Json CrdStatusFor(const Json& crd, const Registry& current, SystemTime now) {
  const Json& spec = crd.is_object() && crd.contains("spec") ? crd["spec"] : Json::object();
  Json names = spec.is_object() && spec.contains("names") && spec["names"].is_object() ? spec["names"] : Json::object();
  std::string group = Str(spec, "group");
  std::string kind = Str(names, "kind");
  std::string plural = Str(names, "plural");
  if (Str(names, "singular").empty()) {
    std::string s = kind;
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    names["singular"] = s;
  }
  if (Str(names, "listKind").empty()) names["listKind"] = kind + "List";
  std::string singular = Str(names, "singular");

  // Conflicts: another resource in the same group with the same plural/singular/short name
  // but a different kind, or the same kind under another plural.
  std::vector<std::string> conflicts;
  for (const auto& r : current.Resources()) {
    if (r->group != group) continue;
    bool same = r->plural == plural && r->kind == kind;
    if (same) continue;
    if (r->plural == plural) conflicts.push_back("\"" + plural + "\" is already in use");
    else if (r->singular == singular || r->plural == singular) conflicts.push_back("\"" + singular + "\" is already in use");
    else if (r->kind == kind) conflicts.push_back("\"" + kind + "\" is already in use");
    else if (names.contains("shortNames") && names["shortNames"].is_array()) {
      for (const Json& sn : names["shortNames"]) {
        for (const std::string& o : r->short_names) {
          if (sn.is_string() && sn.get<std::string>() == o) conflicts.push_back("\"" + o + "\" is already in use");
        }
      }
    }
    if (!conflicts.empty()) break;
  }

  Json status = crd.is_object() && crd.contains("status") && crd["status"].is_object() ? crd["status"] : Json::object();
  const Json old_conditions = status.value("conditions", Json::array());
  auto condition = [&](std::string type, bool ok, std::string reason, std::string message) {
    std::string st = ok ? "True" : "False";
    std::string ltt = FormatRFC3339(now);
    for (const Json& c : old_conditions) {
      if (Str(c, "type") == type && Str(c, "status") == st && !Str(c, "lastTransitionTime").empty()) {
        ltt = Str(c, "lastTransitionTime");
      }
    }
    return Json{{"type", type}, {"status", st}, {"lastTransitionTime", ltt}, {"reason", reason}, {"message", message}};
  };
  Json conds = Json::array();
  bool accepted = conflicts.empty();
  if (accepted) {
    conds.push_back(condition("NamesAccepted", true, "NoConflicts", "no conflicts found"));
    conds.push_back(condition("Established", true, "InitialNamesAccepted", "the initial names have been accepted"));
    status["acceptedNames"] = names;
  } else {
    conds.push_back(condition("NamesAccepted", false, "MultipleNamesNotAccepted", conflicts.front()));
    conds.push_back(condition("Established", false, "NotAccepted", "not all names are accepted"));
    if (!status.contains("acceptedNames")) status["acceptedNames"] = Json{{"kind", ""}, {"plural", ""}};
  }
  // Keep conditions of other types (e.g. Terminating) as they are.
  for (const Json& c : old_conditions) {
    std::string t = Str(c, "type");
    if (t != "NamesAccepted" && t != "Established") conds.push_back(c);
  }
  status["conditions"] = conds;
  Json stored = status.value("storedVersions", Json::array());
  if (spec.contains("versions") && spec["versions"].is_array()) {
    for (const Json& v : spec["versions"]) {
      if (v.is_object() && v.value("storage", false)) {
        std::string n = Str(v, "name");
        if (std::find(stored.begin(), stored.end(), Json(n)) == stored.end()) stored.push_back(n);
      }
    }
  }
  status["storedVersions"] = stored;
  return status;
}

}  // namespace tug::api::crd
