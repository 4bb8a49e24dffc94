// DecodeJson (with duplicate-key detection) and YamlToJson (sigs.k8s.io/yaml semantics: the
// first document, YAML 1.1 plain-scalar resolution as go-yaml v2 does it).
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "api/codec.h"
#include "api/codec_internal.h"

namespace tug::api {

using codec_internal::kMaxDepth;

namespace {

struct TooDeep {};

// Tracks the path of the value being parsed so duplicate keys can be reported as paths.
struct Frame {
  bool is_array = false;
  std::string path;
  std::set<std::string> keys;
  std::string last_key;
  size_t count = 0;
};

std::string ChildPath(const std::vector<Frame>& stack) {
  if (stack.empty()) return "";
  const Frame& top = stack.back();
  if (top.is_array) return top.path + "[" + std::to_string(top.count) + "]";
  return top.path.empty() ? top.last_key : top.path + "." + top.last_key;
}

void ElementDone(std::vector<Frame>& stack) {
  if (!stack.empty() && stack.back().is_array) ++stack.back().count;
}

}  // namespace

Result<Json> DecodeJson(std::string_view text, std::vector<std::string>* duplicate_fields) {
  std::vector<Frame> stack;
  auto cb = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    if (depth > kMaxDepth) throw TooDeep{};
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start: {
        Frame f;
        f.is_array = event == Json::parse_event_t::array_start;
        f.path = ChildPath(stack);
        stack.push_back(std::move(f));
        break;
      }
      case Json::parse_event_t::key: {
        if (!stack.empty()) {
          Frame& top = stack.back();
          top.last_key = parsed.is_string() ? parsed.get<std::string>() : std::string();
          if (!top.keys.insert(top.last_key).second && duplicate_fields != nullptr) {
            duplicate_fields->push_back(top.path.empty() ? top.last_key : top.path + "." + top.last_key);
          }
        }
        break;
      }
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        ElementDone(stack);
        break;
      case Json::parse_event_t::value:
        ElementDone(stack);
        break;
    }
    return true;
  };
  // Without a duplicate report only the depth needs watching: skip the per-object key sets.
  auto depth_only = [](int depth, Json::parse_event_t, Json&) -> bool {
    if (depth > kMaxDepth) throw TooDeep{};
    return true;
  };
  try {
    if (duplicate_fields == nullptr) {
      return Json::parse(text.begin(), text.end(), depth_only, /*allow_exceptions=*/true, /*ignore_comments=*/false);
    }
    return Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const TooDeep&) {
    return BadRequestError("json: exceeded max depth of " + std::to_string(kMaxDepth));
  } catch (const Json::exception& e) {
    return BadRequestError(std::string("json: ") + e.what());
  } catch (const std::exception& e) {
    return BadRequestError(std::string("json: ") + e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// YAML

namespace {

struct YamlError {
  std::string message;
};

bool IsYamlStyleFloat(std::string_view s) {
  // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  auto digits = [&]() {
    size_t st = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - st;
  };
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  } else {
    if (digits() == 0) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

// strconv.ParseInt(s, 0, 64) after removing '_' (go-yaml v2).
bool ParseGoInt(std::string s, Json* out) {
  std::string t;
  for (char c : s) {
    if (c != '_') t += c;
  }
  if (t.empty()) return false;
  bool neg = false;
  size_t i = 0;
  if (t[0] == '+' || t[0] == '-') {
    neg = t[0] == '-';
    i = 1;
  }
  int base = 10;
  if (t.size() - i >= 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'X')) {
    base = 16;
    i += 2;
  } else if (t.size() - i >= 2 && t[i] == '0' && (t[i + 1] == 'o' || t[i + 1] == 'O')) {
    base = 8;
    i += 2;
  } else if (t.size() - i >= 2 && t[i] == '0' && (t[i + 1] == 'b' || t[i + 1] == 'B')) {
    base = 2;
    i += 2;
  } else if (t.size() - i >= 2 && t[i] == '0') {
    base = 8;
    i += 1;
  }
  if (i >= t.size()) return false;
  unsigned __int128 v = 0;
  for (; i < t.size(); ++i) {
    char c = t[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    if (d >= base) return false;
    v = v * base + d;
    if (v > (static_cast<unsigned __int128>(1) << 64)) return false;
  }
  if (neg) {
    if (v > (static_cast<unsigned __int128>(1) << 63)) return false;
    *out = static_cast<int64_t>(-static_cast<__int128>(v));
    return true;
  }
  if (v <= static_cast<unsigned __int128>(INT64_MAX)) {
    *out = static_cast<int64_t>(v);
    return true;
  }
  if (v <= static_cast<unsigned __int128>(UINT64_MAX)) {
    *out = static_cast<uint64_t>(v);
    return true;
  }
  return false;
}

Json FloatValue(double d) {
  // Go's encoding/json prints an integral float64 without a fraction ("8", not "8.0"); keep
  // such values integral so the JSON we produce matches.
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9007199254740992.0) {
    return static_cast<int64_t>(d);
  }
  return d;
}

// Resolves a plain (unquoted, untagged) scalar the way go-yaml v2 does.
Json ResolvePlain(const std::string& s, int line) {
  static const std::set<std::string> kTrue = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
  static const std::set<std::string> kFalse = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};
  static const std::set<std::string> kNull = {"", "~", "null", "Null", "NULL"};
  if (kNull.count(s)) return nullptr;
  if (kTrue.count(s)) return true;
  if (kFalse.count(s)) return false;
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF" || s == "-.inf" ||
      s == "-.Inf" || s == "-.INF" || s == ".nan" || s == ".NaN" || s == ".NAN") {
    throw YamlError{"error converting YAML to JSON: json: unsupported value: " + s};
  }
  char c = s[0];
  if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') {
    Json v;
    if (ParseGoInt(s, &v)) return v;
    if (IsYamlStyleFloat(s)) {
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (end != nullptr && *end == '\0' && std::isfinite(d)) return FloatValue(d);
    }
  }
  return s;
}

class YamlConverter {
 public:
  explicit YamlConverter(size_t budget) : budget_(budget) {}

  Json Convert(const YAML::Node& n, int depth) {
    if (depth > kMaxDepth) throw YamlError{"yaml: exceeded max depth of " + std::to_string(kMaxDepth)};
    if (budget_ == 0) throw YamlError{"yaml: document contains excessive aliasing"};
    --budget_;
    switch (n.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nullptr;
      case YAML::NodeType::Scalar:
        return Scalar(n);
      case YAML::NodeType::Sequence: {
        Json arr = Json::array();
        for (const auto& el : n) arr.push_back(Convert(el, depth + 1));
        return arr;
      }
      case YAML::NodeType::Map: {
        Json obj = Json::object();
        std::vector<const YAML::Node*> merges;
        std::vector<YAML::Node> keep;  // iterator values are temporaries
        for (const auto& kv : n) {
          const YAML::Node& k = kv.first;
          if (k.IsScalar() && k.Tag() == "?" && k.Scalar() == "<<") {
            keep.push_back(kv.second);
            continue;
          }
          obj[KeyString(k)] = Convert(kv.second, depth + 1);
        }
        // Merge keys: explicit keys win over merged ones; earlier merged maps win over later.
        for (const auto& m : keep) {
          std::vector<YAML::Node> sources;
          if (m.IsMap()) sources.push_back(m);
          else if (m.IsSequence()) {
            for (const auto& el : m) sources.push_back(el);
          } else {
            throw YamlError{"yaml: line " + std::to_string(m.Mark().line + 1) +
                            ": map merge requires map or sequence of maps as the value"};
          }
          for (const auto& src : sources) {
            if (!src.IsMap()) {
              throw YamlError{"yaml: line " + std::to_string(src.Mark().line + 1) +
                              ": map merge requires map or sequence of maps as the value"};
            }
            Json merged = Convert(src, depth + 1);
            for (auto it = merged.begin(); it != merged.end(); ++it) {
              if (!obj.contains(it.key())) obj[it.key()] = it.value();
            }
          }
        }
        return obj;
      }
    }
    return nullptr;
  }

 private:
  Json Scalar(const YAML::Node& n) {
    const std::string& tag = n.Tag();
    const std::string& s = n.Scalar();
    int line = n.Mark().line + 1;
    if (tag == "?") return ResolvePlain(s, line);
    if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "!!str") return codec_internal::SanitizeUtf8(s);
    if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" || tag == "tag:yaml.org,2002:bool" ||
        tag == "tag:yaml.org,2002:null") {
      Json v = ResolvePlain(s, line);
      bool ok = (tag.ends_with("int") && v.is_number_integer()) || (tag.ends_with("float") && v.is_number()) ||
                (tag.ends_with("bool") && v.is_boolean()) || (tag.ends_with("null") && v.is_null());
      if (!ok) {
        throw YamlError{"yaml: line " + std::to_string(line) + ": cannot decode !!" + tag.substr(tag.rfind(':') + 1) +
                        " `" + s + "`"};
      }
      if (tag.ends_with("float") && v.is_number_integer()) return v;
      return v;
    }
    // Other tags (e.g. !!binary, custom local tags): keep the text, as go-yaml does for
    // unknown tags decoded into interface{}.
    return codec_internal::SanitizeUtf8(s);
  }

  std::string KeyString(const YAML::Node& k) {
    if (k.IsNull()) return "null";
    if (!k.IsScalar()) {
      throw YamlError{"yaml: line " + std::to_string(k.Mark().line + 1) + ": invalid map key: complex key"};
    }
    if (k.Tag() != "?") return codec_internal::SanitizeUtf8(k.Scalar());
    Json v = ResolvePlain(k.Scalar(), k.Mark().line + 1);
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "null";
    return v.dump();
  }

  size_t budget_;
};

}  // namespace

Result<Json> YamlToJson(std::string_view text) {
  try {
    std::string s(text);
    YAML::Node root = YAML::Load(s);
    // Aliases can expand a small document into a huge one; cap the number of produced nodes
    // relative to the input size (a generous multiple of what a document without aliases needs).
    YamlConverter conv(std::max<size_t>(10000, text.size() * 8));
    Json out = conv.Convert(root, 0);
    return out;
  } catch (const YamlError& e) {
    return BadRequestError(e.message.starts_with("error converting") ? e.message
                                                                       : "error converting YAML to JSON: " + e.message);
  } catch (const YAML::Exception& e) {
    return BadRequestError("error converting YAML to JSON: yaml: line " + std::to_string(e.mark.line + 1) + ": " +
                           e.msg);
  } catch (const std::exception& e) {
    return BadRequestError(std::string("error converting YAML to JSON: ") + e.what());
  }
}

}  // namespace tug::api
