#include "api/printers/util.h"

#include "api/quantity.h"
#include "api/strategy.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace tug::api::printers {
namespace {

const Json& EmptyArray() {
  static const Json* a = new Json(Json::array());
  return *a;
}
const Json& EmptyObject() {
  static const Json* o = new Json(Json::object());
  return *o;
}

}  // namespace

const Json* At(const Json& j, std::initializer_list<std::string_view> path) { return FindPath(j, path); }

std::string Str(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* v = FindPath(j, path);
  if (!v || !v->is_string()) return "";
  return v->get<std::string>();
}

int64_t Int(const Json& j, std::initializer_list<std::string_view> path, int64_t def) {
  const Json* v = FindPath(j, path);
  if (!v) return def;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_unsigned()) return static_cast<int64_t>(v->get<uint64_t>());
  if (v->is_number_float()) return static_cast<int64_t>(v->get<double>());
  return def;
}

bool Bool(const Json& j, std::initializer_list<std::string_view> path, bool def) {
  const Json* v = FindPath(j, path);
  if (!v || !v->is_boolean()) return def;
  return v->get<bool>();
}

const Json& Arr(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* v = FindPath(j, path);
  if (!v || !v->is_array()) return EmptyArray();
  return *v;
}

const Json& Obj(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* v = FindPath(j, path);
  if (!v || !v->is_object()) return EmptyObject();
  return *v;
}

bool Has(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* v = FindPath(j, path);
  return v && !v->is_null();
}

std::optional<SystemTime> Time(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* v = FindPath(j, path);
  if (!v || !v->is_string()) return std::nullopt;
  auto t = ParseRFC3339(v->get<std::string>());
  if (!t.ok()) return std::nullopt;
  return *t;
}

std::string SinceTime(SystemTime t, SystemTime now) {
  if (now == kDeferredNow) {
    // A marker resolved at serving time (see ResolveDeferredTimes in api/strategy.h).
    return "\x01" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count()) +
           "\x02";
  }
  return HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - t));
}

std::string Since(const Json& j, std::initializer_list<std::string_view> path, SystemTime now) {
  auto t = Time(j, path);
  if (!t) return "<unknown>";
  return SinceTime(*t, now);
}

std::string FormatLabels(const Json& map) {
  if (!map.is_object() || map.empty()) return "<none>";
  std::string out;
  for (auto it = map.begin(); it != map.end(); ++it) {  // nlohmann::json objects are key-sorted
    if (!out.empty()) out += ",";
    out += it.key();
    out += "=";
    if (it->is_string()) out += it->get<std::string>();
  }
  return out;
}

std::string LabelSelectorString(const Json* selector, bool* invalid) {
  if (invalid) *invalid = false;
  if (!selector || !selector->is_object()) return "";
  // key -> requirement texts; std::multimap keeps insertion order for equal keys, and upstream
  // sorts requirements by key with a stable sort.
  std::multimap<std::string, std::string> reqs;
  const Json& ml = Obj(*selector, {"matchLabels"});
  for (auto it = ml.begin(); it != ml.end(); ++it) {
    reqs.emplace(it.key(), it.key() + "=" + (it->is_string() ? it->get<std::string>() : std::string()));
  }
  for (const Json& e : Arr(*selector, {"matchExpressions"})) {
    std::string key = Str(e, {"key"});
    std::string op = Str(e, {"operator"});
    std::vector<std::string> values;
    for (const Json& v : Arr(e, {"values"})) {
      if (v.is_string()) values.push_back(v.get<std::string>());
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    std::string text;
    if (op == "In") {
      text = key + " in (" + Join(values, ",") + ")";
    } else if (op == "NotIn") {
      text = key + " notin (" + Join(values, ",") + ")";
    } else if (op == "Exists") {
      text = key;
    } else if (op == "DoesNotExist") {
      text = "!" + key;
    } else {
      if (invalid) *invalid = true;
      return "";
    }
    reqs.emplace(key, text);
  }
  std::string out;
  for (const auto& [k, text] : reqs) {
    if (!out.empty()) out += ",";
    out += text;
  }
  return out;
}

std::string FormatLabelSelector(const Json* selector) {
  bool invalid = false;
  std::string s = LabelSelectorString(selector, &invalid);
  if (invalid) return "<error>";
  if (s.empty()) return "<none>";
  return s;
}

void ContainerCells(const Json& containers, std::string* names, std::string* images) {
  names->clear();
  images->clear();
  bool first = true;
  if (!containers.is_array()) return;
  for (const Json& c : containers) {
    if (!first) {
      *names += ",";
      *images += ",";
    }
    first = false;
    *names += Str(c, {"name"});
    *images += Str(c, {"image"});
  }
}

std::string IntOrString(const Json* v) {
  if (!v) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer()) return std::to_string(v->get<int64_t>());
  if (v->is_number()) return std::to_string(static_cast<int64_t>(v->get<double>()));
  return "";
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<__int128> ParseQuantityNano(std::string_view text) {
  auto q = ParseQuantity(text);
  if (!q.ok()) return std::nullopt;
  return q->Scaled128(-9);
}

std::optional<__int128> QuantityNano(const Json* j) {
  if (!j) return std::nullopt;
  if (j->is_string()) return ParseQuantityNano(j->get<std::string>());
  if (j->is_number_integer()) return (__int128)j->get<int64_t>() * 1000000000;
  if (j->is_number()) return (__int128)(j->get<double>() * 1e9);
  return std::nullopt;
}

std::string QuantityText(const Json* j) {
  if (!j) return "";
  if (j->is_string()) return j->get<std::string>();
  if (j->is_number_integer()) return std::to_string(j->get<int64_t>());
  if (j->is_number()) return j->dump();
  return "";
}

std::string AccessModesString(const Json& modes) {
  std::set<std::string> have;
  if (modes.is_array()) {
    for (const Json& m : modes) {
      if (m.is_string()) have.insert(m.get<std::string>());
    }
  }
  std::vector<std::string> out;
  if (have.count("ReadWriteOnce")) out.push_back("RWO");
  if (have.count("ReadOnlyMany")) out.push_back("ROX");
  if (have.count("ReadWriteMany")) out.push_back("RWX");
  if (have.count("ReadWriteOncePod")) out.push_back("RWOP");
  return Join(out, ",");
}

Json Cells(std::initializer_list<Json> cells) {
  Json row = Json::array();
  for (const Json& c : cells) row.push_back(c);
  return row;
}

std::string Name(const Json& o) { return Str(o, {"metadata", "name"}); }
std::string Age(const Json& o, SystemTime now) { return Since(o, {"metadata", "creationTimestamp"}, now); }

}  // namespace tug::api::printers
