// Shared validation helpers; see helpers.h.
#include "api/validation/helpers.h"
#include "api/quantity.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

namespace tug::api::validation {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool MatchesDNSLabel(std::string_view v) {
  if (v.empty() || !IsLowerAlnum(v.front()) || !IsLowerAlnum(v.back())) return false;
  for (char c : v)
    if (!IsLowerAlnum(c) && c != '-') return false;
  return true;
}

bool MatchesDNSSubdomain(std::string_view v) {
  size_t start = 0;
  while (true) {
    size_t dot = v.find('.', start);
    std::string_view part = v.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!MatchesDNSLabel(part)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool MatchesQualifiedNamePart(std::string_view v) {
  if (v.empty() || !IsAlnum(v.front()) || !IsAlnum(v.back())) return false;
  for (char c : v)
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::string RegexError(std::string msg, std::string_view fmt, std::initializer_list<std::string_view> examples) {
  if (examples.size() == 0) return msg + " (regex used for validation is '" + std::string(fmt) + "')";
  msg += " (e.g. ";
  bool first = true;
  for (std::string_view ex : examples) {
    if (!first) msg += " or ";
    first = false;
    msg += "'" + std::string(ex) + "', ";
  }
  msg += "regex used for validation is '" + std::string(fmt) + "')";
  return msg;
}

constexpr std::string_view kDNS1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr std::string_view kDNS1123SubdomainFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr std::string_view kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr std::string_view kQualifiedNameErr =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

bool AllStrings(const Json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!it.value().is_string()) return false;
    return true;
  }
  for (const Json& e : j)
    if (!e.is_string()) return false;
  return true;
}

std::string GoNumber(const Json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number_unsigned()) return std::to_string(v.get<unsigned long long>());
  double d = v.get<double>();
  if (d == std::floor(d) && std::fabs(d) < 1e21) {
    // Go's %v of a whole float64 prints like %g: 1e+06 for a million, 3 for 3.0.
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", d);
    return buf;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, res.ptr);
}

std::string GoSharp(const Json& v) {
  if (v.is_string()) return GoQuote(v.get<std::string>());
  if (v.is_number()) return GoNumber(v);
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_null()) return "interface {}(nil)";
  if (v.is_object()) {
    std::string s = AllStrings(v) ? "map[string]string{" : "map[string]interface {}{";
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) s += ", ";
      first = false;
      s += GoQuote(it.key()) + ":" + GoSharp(it.value());
    }
    return s + "}";
  }
  std::string s = AllStrings(v) ? "[]string{" : "[]interface {}{";
  bool first = true;
  for (const Json& e : v) {
    if (!first) s += ", ";
    first = false;
    s += GoSharp(e);
  }
  return s + "}";
}

}  // namespace

std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  static const char* kHex = "0123456789abcdef";
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\v': out += "\\v"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);  // printable ASCII and UTF-8 bytes pass through
        }
    }
  }
  return out + "\"";
}

std::string GoValue(const Json& v) {
  if (v.is_string()) return GoQuote(v.get<std::string>());
  if (v.is_number()) return GoNumber(v);
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_null()) return GoQuote("null");
  return GoSharp(v);
}

namespace {
std::string GoStringSlice(const Json* v) {
  if (v == nullptr || !v->is_array()) return "[]string(nil)";
  std::string s = "[]string{";
  for (size_t i = 0; i < v->size(); ++i) s += (i ? ", " : "") + GoQuote(StrOr(&(*v)[i]));
  return s + "}";
}
}  // namespace

std::string GoLabelSelector(const Json& sel) {
  std::string s = "v1.LabelSelector{MatchLabels:";
  const Json* ml = sel.is_object() ? Find(sel, "matchLabels") : nullptr;
  if (ml == nullptr || !ml->is_object()) {
    s += "map[string]string(nil)";
  } else {
    s += "map[string]string{";
    bool first = true;
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      s += (first ? "" : ", ") + GoQuote(it.key()) + ":" + GoQuote(StrOr(&it.value()));
      first = false;
    }
    s += "}";
  }
  s += ", MatchExpressions:";
  const Json* me = sel.is_object() ? Find(sel, "matchExpressions") : nullptr;
  if (me == nullptr || !me->is_array()) {
    s += "[]v1.LabelSelectorRequirement(nil)";
  } else {
    s += "[]v1.LabelSelectorRequirement{";
    for (size_t i = 0; i < me->size(); ++i) {
      const Json& e = (*me)[i];
      s += (i ? ", " : "");
      s += "v1.LabelSelectorRequirement{Key:" + GoQuote(StrOr(Find(e, "key"))) +
           ", Operator:" + GoQuote(StrOr(Find(e, "operator"))) + ", Values:" + GoStringSlice(Find(e, "values")) + "}";
    }
    s += "}";
  }
  return s + "}";
}

FieldError InvalidSelector(std::string path, const Json& sel, std::string detail) {
  FieldError e = FieldError::Invalid(std::move(path), sel, std::move(detail));
  e.go_value = GoLabelSelector(sel);
  return e;
}

std::string MaxLenError(int n) { return "must be no more than " + std::to_string(n) + " characters"; }
std::string InclusiveRangeError(long long lo, long long hi) {
  return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", inclusive";
}

std::vector<std::string> IsDNS1123Label(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > 63) errs.push_back(MaxLenError(63));
  if (!MatchesDNSLabel(v)) {
    if (MatchesDNSSubdomain(v)) {
      errs.push_back("must not contain dots");
    } else {
      errs.push_back(RegexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
          "end with an alphanumeric character",
          kDNS1123LabelFmt, {"my-name", "123-abc"}));
    }
  }
  return errs;
}

std::vector<std::string> IsDNS1123Subdomain(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > 253) errs.push_back(MaxLenError(253));
  if (!MatchesDNSSubdomain(v)) {
    errs.push_back(RegexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
        "start and end with an alphanumeric character",
        kDNS1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsDNS1035Label(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > 63) errs.push_back(MaxLenError(63));
  if (!MatchesDNSLabel(v) || !(v.front() >= 'a' && v.front() <= 'z')) {
    errs.push_back(RegexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
        "character, and end with an alphanumeric character",
        "[a-z]([-a-z0-9]*[a-z0-9])?", {"my-name", "abc-123"}));
  }
  return errs;
}

std::vector<std::string> IsQualifiedName(std::string_view v) {
  std::vector<std::string> errs;
  std::string_view name = v;
  size_t slash = v.find('/');
  if (slash != std::string_view::npos) {
    if (v.find('/', slash + 1) != std::string_view::npos) {
      errs.push_back("a qualified name " +
                     RegexError(std::string(kQualifiedNameErr), kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
                     " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
      return errs;
    }
    std::string_view prefix = v.substr(0, slash);
    name = v.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (std::string& m : IsDNS1123Subdomain(prefix)) errs.push_back("prefix part " + m);
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part " + MaxLenError(63));
  }
  if (!MatchesQualifiedNamePart(name)) {
    errs.push_back("name part " +
                   RegexError(std::string(kQualifiedNameErr), kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> IsValidLabelValue(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > 63) errs.push_back(MaxLenError(63));
  if (!v.empty() && !MatchesQualifiedNamePart(v)) {
    errs.push_back(RegexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
        "start and end with an alphanumeric character",
        "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

std::vector<std::string> IsValidPortNum(long long port) {
  if (port >= 1 && port <= 65535) return {};
  return {InclusiveRangeError(1, 65535)};
}

std::vector<std::string> IsValidPortName(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > 15) errs.push_back(MaxLenError(15));
  bool charset = !v.empty(), letter = false;
  for (char c : v) {
    if (!IsLowerAlnum(c) && c != '-') charset = false;
    if (c >= 'a' && c <= 'z') letter = true;
  }
  if (!charset) errs.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (!letter) errs.push_back("must contain at least one letter (a-z)");
  if (v.find("--") != std::string_view::npos) errs.push_back("must not contain consecutive hyphens");
  if (!v.empty() && (v.front() == '-' || v.back() == '-')) errs.push_back("must not begin or end with a hyphen");
  return errs;
}

std::vector<std::string> IsRelaxedEnvVarName(std::string_view v) {
  std::vector<std::string> errs;
  if (v.empty()) errs.push_back("environment variable name must be non-empty");
  for (char ch : v) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c > 0x7e || c < 0x20 || c == '=') {
      errs.push_back("a valid environment variable name must consist only of printable ASCII characters other than '='");
      break;
    }
  }
  return errs;
}

namespace {
std::vector<std::string> ChDirPrefix(std::string_view v) {
  if (v == ".") return {"must not be '.'"};
  if (v == "..") return {"must not be '..'"};
  if (v.substr(0, 2) == "..") return {"must not start with '..'"};
  return {};
}
}  // namespace

std::vector<std::string> IsConfigMapKey(std::string_view v) {
  std::vector<std::string> errs;
  if (v.size() > 253) errs.push_back(MaxLenError(253));
  bool ok = !v.empty();
  for (char c : v)
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') ok = false;
  if (!ok) {
    errs.push_back(RegexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                              "[-._a-zA-Z0-9]+", {"key.name", "KEY_NAME", "key-name"}));
  }
  for (std::string& m : ChDirPrefix(v)) errs.push_back(std::move(m));
  return errs;
}

std::vector<std::string> IsValidPathSegmentName(std::string_view v) {
  if (v == ".") return {"may not be '.'"};
  if (v == "..") return {"may not be '..'"};
  std::vector<std::string> errs;
  if (v.find('/') != std::string_view::npos) errs.push_back("may not contain '/'");
  if (v.find('%') != std::string_view::npos) errs.push_back("may not contain '%'");
  return errs;
}

std::vector<std::string> IsValidPercent(std::string_view v) {
  bool ok = v.size() >= 2 && v.back() == '%';
  for (size_t i = 0; ok && i + 1 < v.size(); ++i)
    if (v[i] < '0' || v[i] > '9') ok = false;
  if (ok) return {};
  return {RegexError("a valid percent string must be a numeric string followed by an ending '%'", "[0-9]+%",
                     {"1%", "93%"})};
}

std::vector<std::string> CheckName(std::string_view rule, std::string_view name, bool prefix) {
  if (rule == "path-segment") {
    // generateName only needs to avoid the forbidden characters.
    if (prefix) {
      std::vector<std::string> errs;
      if (name.find('/') != std::string_view::npos) errs.push_back("may not contain '/'");
      if (name.find('%') != std::string_view::npos) errs.push_back("may not contain '%'");
      return errs;
    }
    return IsValidPathSegmentName(name);
  }
  std::string n(name);
  // generateName may end in '-': upstream masks it before checking.
  if (prefix && !n.empty() && n.back() == '-') n += "a";
  if (rule == "dns1123label") return IsDNS1123Label(n);
  if (rule == "dns1035label") return IsDNS1035Label(n);
  return IsDNS1123Subdomain(n);
}

std::optional<long double> ParseQuantity(std::string_view s) {
  auto q = api::ParseQuantity(s);
  if (!q.ok()) return std::nullopt;
  return q->ToLongDouble();
}

std::string Child(std::string_view path, std::string_view name) {
  if (path.empty()) return std::string(name);
  return std::string(path) + "." + std::string(name);
}
std::string Index(std::string_view path, size_t i) { return std::string(path) + "[" + std::to_string(i) + "]"; }
std::string Key(std::string_view path, std::string_view key) {
  return std::string(path) + "[" + std::string(key) + "]";
}

bool IsInt(const Json* v) {
  if (v == nullptr || !v->is_number()) return false;
  if (v->is_number_integer()) return true;
  double d = v->get<double>();
  return d == std::floor(d);
}
long long IntOr(const Json* v, long long def) {
  if (v == nullptr || !v->is_number()) return def;
  if (v->is_number_integer()) return v->get<long long>();
  return static_cast<long long>(v->get<double>());
}
std::string StrOr(const Json* v, std::string_view def) {
  if (v == nullptr || !v->is_string()) return std::string(def);
  return v->get<std::string>();
}
const Json& EmptyObject() {
  static const Json kObj = Json::object();
  return kObj;
}
const Json& EmptyArray() {
  static const Json kArr = Json::array();
  return kArr;
}
const Json& ObjAt(const Json& obj, std::string_view key) {
  const Json* v = Find(obj, key);
  return v != nullptr && v->is_object() ? *v : EmptyObject();
}
const Json& ArrAt(const Json& obj, std::string_view key) {
  const Json* v = Find(obj, key);
  return v != nullptr && v->is_array() ? *v : EmptyArray();
}

void ValidateNonnegative(const Json* v, const std::string& path, FieldErrors& errs) {
  if (v != nullptr && v->is_number() && v->get<double>() < 0) errs.push_back(FieldError::Invalid(path, *v, kNegative));
}

void ValidateLabels(const Json& labels, const std::string& path, FieldErrors& errs) {
  if (!labels.is_object()) return;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    for (std::string& m : IsQualifiedName(it.key())) errs.push_back(FieldError::Invalid(path, it.key(), m));
    std::string value = it.value().is_string() ? it.value().get<std::string>() : "";
    for (std::string& m : IsValidLabelValue(value)) errs.push_back(FieldError::Invalid(path, value, m));
  }
}

void ValidateAnnotations(const Json& annotations, const std::string& path, FieldErrors& errs) {
  if (!annotations.is_object()) return;
  size_t total = 0;
  for (auto it = annotations.begin(); it != annotations.end(); ++it) {
    std::string lower = it.key();
    for (char& c : lower)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    for (std::string& m : IsQualifiedName(lower)) errs.push_back(FieldError::Invalid(path, it.key(), m));
    total += it.key().size() + (it.value().is_string() ? it.value().get_ref<const std::string&>().size() : 0);
  }
  if (total > 256 * 1024) errs.push_back(FieldError::TooLong(path, "", 256 * 1024));
}

void ValidateLabelSelector(const Json& sel, const std::string& path, FieldErrors& errs) {
  if (!sel.is_object()) return;
  ValidateLabels(ObjAt(sel, "matchLabels"), Child(path, "matchLabels"), errs);
  const Json& exprs = ArrAt(sel, "matchExpressions");
  for (size_t i = 0; i < exprs.size(); ++i) {
    const Json& e = exprs[i];
    std::string ep = Index(Child(path, "matchExpressions"), i);
    std::string op = StrOr(Find(e, "operator"));
    const Json& values = ArrAt(e, "values");
    if (op == "In" || op == "NotIn") {
      if (values.empty())
        errs.push_back(FieldError::Required(Child(ep, "values"), "must be specified when `operator` is 'In' or 'NotIn'"));
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (!values.empty())
        errs.push_back(FieldError::Forbidden(Child(ep, "values"),
                                             "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
    } else {
      errs.push_back(FieldError::Invalid(Child(ep, "operator"), op, "not a valid selector operator"));
    }
    std::string key = StrOr(Find(e, "key"));
    for (std::string& m : IsQualifiedName(key)) errs.push_back(FieldError::Invalid(Child(ep, "key"), key, m));
    for (size_t j = 0; j < values.size(); ++j) {
      std::string v = StrOr(&values[j]);
      for (std::string& m : IsValidLabelValue(v)) errs.push_back(FieldError::Invalid(Index(Child(ep, "values"), j), v, m));
    }
  }
}

bool SelectorEmpty(const Json& sel) {
  return ObjAt(sel, "matchLabels").empty() && ArrAt(sel, "matchExpressions").empty();
}

bool SelectorMatches(const Json& sel, const Json& labels) {
  const Json& ml = ObjAt(sel, "matchLabels");
  for (auto it = ml.begin(); it != ml.end(); ++it) {
    const Json* v = Find(labels, it.key());
    if (v == nullptr || *v != it.value()) return false;
  }
  for (const Json& e : ArrAt(sel, "matchExpressions")) {
    std::string key = StrOr(Find(e, "key"));
    std::string op = StrOr(Find(e, "operator"));
    const Json* v = labels.is_object() ? Find(labels, key) : nullptr;
    bool in = false;
    if (v != nullptr)
      for (const Json& x : ArrAt(e, "values"))
        if (x == *v) in = true;
    if (op == "In" && !in) return false;
    if (op == "NotIn" && v != nullptr && in) return false;
    if (op == "Exists" && v == nullptr) return false;
    if (op == "DoesNotExist" && v != nullptr) return false;
  }
  return true;
}

void ValidateImmutable(const Json* now, const Json* old, const std::string& path, FieldErrors& errs) {
  const Json& n = now != nullptr ? *now : Json();
  const Json& o = old != nullptr ? *old : Json();
  if (n != o) errs.push_back(FieldError::Invalid(path, n, kImmutable));
}

void ValidateResourceList(const Json& list, const std::string& path, FieldErrors& errs) {
  if (!list.is_object()) return;
  for (auto it = list.begin(); it != list.end(); ++it) {
    std::string p = Key(path, it.key());
    for (std::string& m : IsQualifiedName(it.key())) errs.push_back(FieldError::Invalid(p, it.key(), m));
    std::string q = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    std::optional<long double> v = ParseQuantity(q);
    if (!v) {
      errs.push_back(FieldError::Invalid(p, q, kQuantityRegexError));
    } else if (*v < 0) {
      errs.push_back(FieldError::Invalid(p, q, kNegative));
    }
  }
}

}  // namespace tug::api::validation
