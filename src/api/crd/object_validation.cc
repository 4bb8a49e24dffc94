// Custom objects against structural schemas: validation (kube-openapi's checks and messages,
// converted to field errors as the apiextensions server does), defaulting and pruning.
#include <cmath>
#include <cstdio>
#include <regex>
#include <set>
#include <string>

#include "api/crd/crd.h"
#include "api/validation/helpers.h"

namespace tug::api::crd {
namespace {

using validation::GoQuote;

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
const Json* Get(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string TypeOf(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

// Go's %v of a float64 limit (10 -> "10", 1.5 -> "1.5").
std::string Num(const Json& v) {
  if (v.is_number_integer()) return v.dump();
  double d = v.get<double>();
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

std::string Child(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}
std::string Index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }
std::string Body(const std::string& path) { return path.empty() ? "body" : path; }

bool FormatOk(const std::string& format, const Json& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (format == "date-time") return ParseRFC3339(s).ok();
    if (format == "date") {
      static const std::regex re("^[0-9]{4}-[0-9]{2}-[0-9]{2}$");
      return std::regex_match(s, re);
    }
    if (format == "uuid") {
      static const std::regex re("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
      return std::regex_match(s, re);
    }
    if (format == "byte") {
      static const std::regex re("^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$");
      return std::regex_match(s, re);
    }
    if (format == "email") {
      static const std::regex re("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$");
      return std::regex_match(s, re);
    }
    return true;
  }
  if (v.is_number_integer() && format == "int32") {
    long long n = v.get<long long>();
    return n >= -2147483648LL && n <= 2147483647LL;
  }
  return true;
}

bool TypeMatches(const std::string& type, const Json& v) {
  if (type.empty()) return true;
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  return true;
}

void Validate(const Json& s, const Json& v, const std::string& path, FieldErrors& errs) {
  if (!s.is_object()) return;
  if (v.is_null()) {
    if (Flag(s, "nullable") || Str(s, "type").empty()) return;
    errs.push_back(FieldError::Invalid(path, "null", Body(path) + " in body must be of type " + Str(s, "type") + ": \"null\""));
    return;
  }
  if (Flag(s, "x-kubernetes-int-or-string")) {
    if (!v.is_number_integer() && !v.is_string()) {
      errs.push_back(FieldError::Invalid(path, TypeOf(v),
                                         Body(path) + " in body must be of type integer,string: " + GoQuote(TypeOf(v))));
      return;
    }
  } else {
    std::string type = Str(s, "type");
    if (!TypeMatches(type, v)) {
      errs.push_back(FieldError::Invalid(path, TypeOf(v),
                                         Body(path) + " in body must be of type " + type + ": " + GoQuote(TypeOf(v))));
      return;
    }
  }
  if (const Json* e = Get(s, "enum"); e != nullptr && e->is_array()) {
    bool found = false;
    std::vector<std::string> supported;
    for (const Json& x : *e) {
      if (x == v) found = true;
      supported.push_back(x.is_string() ? x.get<std::string>() : x.dump());
    }
    if (!found) errs.push_back(FieldError::NotSupported(path, v, supported));
  }
  if (v.is_string()) {
    const std::string& str = v.get_ref<const std::string&>();
    // Lengths count characters (runes), as upstream does.
    long long chars = 0;
    for (unsigned char c : str) chars += (c & 0xC0) != 0x80;
    if (const Json* m = Get(s, "maxLength"); m != nullptr && m->is_number() && chars > m->get<long long>()) {
      errs.push_back(FieldError::TooLong(path, v, static_cast<int>(m->get<long long>())));
    }
    if (const Json* m = Get(s, "minLength"); m != nullptr && m->is_number() && chars < m->get<long long>()) {
      errs.push_back(FieldError::Invalid(path, v, Body(path) + " in body should be at least " + Num(*m) + " chars long"));
    }
    if (std::string p = Str(s, "pattern"); !p.empty()) {
      bool ok = true;
      try {
        ok = std::regex_search(str, std::regex(p, std::regex::ECMAScript));
      } catch (const std::regex_error&) {
        ok = true;  // an unsupported pattern was rejected at CRD validation; never fail objects on it
      }
      if (!ok) errs.push_back(FieldError::Invalid(path, v, Body(path) + " in body should match '" + p + "'"));
    }
  }
  if (std::string f = Str(s, "format"); !f.empty() && !FormatOk(f, v)) {
    errs.push_back(FieldError::Invalid(path, v, Body(path) + " in body must be of type " + f + ": " +
                                                    (v.is_string() ? GoQuote(v.get<std::string>()) : GoQuote(v.dump()))));
  }
  if (v.is_number()) {
    double d = v.get<double>();
    if (const Json* m = Get(s, "maximum"); m != nullptr && m->is_number()) {
      bool excl = Flag(s, "exclusiveMaximum");
      double lim = m->get<double>();
      if (excl ? d >= lim : d > lim) {
        errs.push_back(FieldError::Invalid(path, v, Body(path) + " in body should be less than " +
                                                        (excl ? "" : "or equal to ") + Num(*m)));
      }
    }
    if (const Json* m = Get(s, "minimum"); m != nullptr && m->is_number()) {
      bool excl = Flag(s, "exclusiveMinimum");
      double lim = m->get<double>();
      if (excl ? d <= lim : d < lim) {
        errs.push_back(FieldError::Invalid(path, v, Body(path) + " in body should be greater than " +
                                                        (excl ? "" : "or equal to ") + Num(*m)));
      }
    }
    if (const Json* m = Get(s, "multipleOf"); m != nullptr && m->is_number() && m->get<double>() > 0) {
      double q = d / m->get<double>();
      if (std::fabs(q - std::round(q)) > 1e-9) {
        errs.push_back(FieldError::Invalid(path, v, Body(path) + " in body should be a multiple of " + Num(*m)));
      }
    }
  }
  if (v.is_array()) {
    long long n = static_cast<long long>(v.size());
    if (const Json* m = Get(s, "maxItems"); m != nullptr && m->is_number() && n > m->get<long long>()) {
      FieldError e;
      e.type = FieldError::Type::kTooMany;
      e.field = path;
      e.value = n;
      e.detail = "must have at most " + Num(*m) + " items";
      errs.push_back(std::move(e));
    }
    if (const Json* m = Get(s, "minItems"); m != nullptr && m->is_number() && n < m->get<long long>()) {
      errs.push_back(FieldError::Invalid(path, v, Body(path) + " in body should have at least " + Num(*m) + " items"));
    }
    if (Flag(s, "uniqueItems")) {
      for (size_t i = 1; i < v.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
          if (v[i] == v[j]) {
            errs.push_back(FieldError::Duplicate(Index(path, i), v[i]));
            break;
          }
        }
      }
    }
    if (const Json* items = Get(s, "items"); items != nullptr) {
      for (size_t i = 0; i < v.size(); ++i) Validate(*items, v[i], Index(path, i), errs);
    }
  }
  if (v.is_object()) {
    const Json* props = Get(s, "properties");
    if (const Json* req = Get(s, "required"); req != nullptr && req->is_array()) {
      for (const Json& r : *req) {
        if (r.is_string() && !v.contains(r.get<std::string>())) {
          errs.push_back(FieldError::Required(Child(path, r.get<std::string>()), ""));
        }
      }
    }
    if (const Json* m = Get(s, "maxProperties"); m != nullptr && m->is_number() &&
                                                 static_cast<long long>(v.size()) > m->get<long long>()) {
      FieldError e;
      e.type = FieldError::Type::kTooMany;
      e.field = path;
      e.value = static_cast<long long>(v.size());
      e.detail = "must have at most " + Num(*m) + " items";
      errs.push_back(std::move(e));
    }
    if (const Json* m = Get(s, "minProperties"); m != nullptr && m->is_number() &&
                                                 static_cast<long long>(v.size()) < m->get<long long>()) {
      errs.push_back(FieldError::Invalid(path, v, Body(path) + " in body should have at least " + Num(*m) + " properties"));
    }
    const Json* addl = Get(s, "additionalProperties");
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (path.empty() && (it.key() == "apiVersion" || it.key() == "kind" || it.key() == "metadata")) continue;
      if (props != nullptr && props->is_object() && props->contains(it.key())) {
        Validate((*props)[it.key()], it.value(), Child(path, it.key()), errs);
      } else if (addl != nullptr && addl->is_object()) {
        Validate(*addl, it.value(), Child(path, it.key()), errs);
      }
    }
  }
}

void Default(const Json& s, Json& v) {
  if (!s.is_object()) return;
  if (v.is_object()) {
    if (const Json* props = Get(s, "properties"); props != nullptr && props->is_object()) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        const Json* d = Get(it.value(), "default");
        if (d == nullptr) continue;
        auto cur = v.find(it.key());
        if (cur == v.end() || (cur->is_null() && !Flag(it.value(), "nullable"))) v[it.key()] = *d;
      }
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (props->contains(it.key())) Default((*props)[it.key()], it.value());
      }
    } else if (const Json* addl = Get(s, "additionalProperties"); addl != nullptr && addl->is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) Default(*addl, it.value());
    }
  } else if (v.is_array()) {
    if (const Json* items = Get(s, "items"); items != nullptr) {
      for (Json& e : v) Default(*items, e);
    }
  }
}

void Prune(const Json& s, Json& v, bool root) {
  if (!s.is_object()) return;
  if (v.is_object()) {
    bool preserve = Flag(s, "x-kubernetes-preserve-unknown-fields");
    bool embedded = root || Flag(s, "x-kubernetes-embedded-resource");
    const Json* props = Get(s, "properties");
    const Json* addl = Get(s, "additionalProperties");
    for (auto it = v.begin(); it != v.end();) {
      const std::string& k = it.key();
      if (embedded && (k == "apiVersion" || k == "kind" || k == "metadata")) {
        ++it;
        continue;
      }
      if (props != nullptr && props->is_object() && props->contains(k)) {
        Prune((*props)[k], it.value(), false);
        ++it;
      } else if (addl != nullptr && addl->is_object()) {
        Prune(*addl, it.value(), false);
        ++it;
      } else if (preserve || (addl != nullptr && addl->is_boolean() && addl->get<bool>())) {
        ++it;
      } else {
        it = v.erase(it);
      }
    }
  } else if (v.is_array()) {
    if (const Json* items = Get(s, "items"); items != nullptr) {
      for (Json& e : v) Prune(*items, e, false);
    }
  }
}

}  // namespace

FieldErrors ValidateCustomObject(const CrdVersionSchema& schema, const Json& obj) {
  FieldErrors errs;
  Validate(schema.schema, obj, "", errs);
  return errs;
}

void DefaultAndPrune(const CrdVersionSchema& schema, Json& obj) {
  if (!schema.schema.is_object() || schema.schema.empty()) return;
  Prune(schema.schema, obj, /*root=*/true);
  Default(schema.schema, obj);
  // Defaults are pruned too (upstream prunes defaulted values that the schema does not know).
  Prune(schema.schema, obj, /*root=*/true);
}

}  // namespace tug::api::crd
