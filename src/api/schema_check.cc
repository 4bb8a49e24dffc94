// NormalizeToSchema: the checks upstream's typed JSON decoding performs (wrong JSON types,
// integer ranges, time/duration/quantity syntax), dropping and reporting unknown fields and
// nulls. kJSON and kRawExtension subtrees are kept verbatim.
#include <cmath>
#include <limits>

#include "api/codec.h"
#include "api/codec_internal.h"

namespace tug::api {

namespace ci = codec_internal;

namespace {

std::string JsonTypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "bool";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "number";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    default: return "null";
  }
}

// Go reports the field path without list indices.
std::string StripIndices(const std::string& path) {
  std::string out;
  int depth = 0;
  for (char c : path) {
    if (c == '[') ++depth;
    else if (c == ']') --depth;
    else if (depth == 0) out += c;
  }
  return out;
}

class Checker {
 public:
  explicit Checker(SchemaCheck* out) : out_(out) {}

  Status Object(Json& obj, const TypeDef& t, const std::string& path, int depth, bool top) {
    if (depth > ci::kMaxDepth) return BadRequestError("json: exceeded max depth");
    if (!obj.is_object()) {
      return BadRequestError("json: cannot unmarshal " + JsonTypeName(obj) + " into Go value of type " +
                             ci::GoTypeName(t));
    }
    std::vector<std::string> erase;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      const std::string& key = it.key();
      std::string child = path.empty() ? key : path + "." + key;
      if (top && (key == "apiVersion" || key == "kind")) {
        if (!it->is_string() && !it->is_null()) {
          return BadRequestError("json: cannot unmarshal " + JsonTypeName(*it) +
                                 " into Go struct field TypeMeta." + key + " of type string");
        }
        if (it->is_null()) erase.push_back(key);
        continue;
      }
      const FieldDef* f = ci::FieldNamed(t, key);
      if (f == nullptr) {
        out_->unknown_fields.push_back(child);
        erase.push_back(key);
        continue;
      }
      if (it->is_null()) {
        erase.push_back(key);
        continue;
      }
      RETURN_IF_ERROR(Field(*it, *f, t, child, depth + 1));
      // Go's encoder drops an empty map or slice whose field is omitempty, so upstream never
      // stores or returns e.g. "labels":{} after the last label is removed.
      if (f->omit_empty && f->container != Container::kNone && it->empty()) erase.push_back(key);
      // Likewise the zero value of an omitempty non-pointer scalar (e.g. "paused":false).
      if (f->omit_zero && f->container == Container::kNone &&
          ((it->is_boolean() && !it->get<bool>()) || (it->is_number() && it->get<double>() == 0) ||
           (it->is_string() && it->get_ref<const std::string&>().empty())))
        erase.push_back(key);
    }
    for (const auto& k : erase) obj.erase(k);
    return Status::Ok();
  }

 private:
  Status TypeError(const Json& v, const FieldDef& f, const TypeDef& parent, const std::string& path,
                   bool with_value = false) {
    std::string what = JsonTypeName(v);
    if (with_value) what += " " + v.dump();
    return BadRequestError("json: cannot unmarshal " + what + " into Go struct field " +
                           std::string(ci::GoTypeName(parent).substr(ci::GoTypeName(parent).find('.') + 1)) + "." +
                           StripIndices(path) + " of type " + ci::GoFieldTypeName(f));
  }

  Status Field(Json& v, const FieldDef& f, const TypeDef& parent, const std::string& path, int depth) {
    switch (f.container) {
      case Container::kList: {
        if (!v.is_array()) return TypeError(v, f, parent, path);
        FieldDef elem = f;
        elem.container = Container::kNone;
        for (size_t i = 0; i < v.size(); ++i) {
          std::string p = path + "[" + std::to_string(i) + "]";
          if (v[i].is_null()) {
            v[i] = ci::ZeroValue(f);
            continue;
          }
          RETURN_IF_ERROR(Value(v[i], elem, f, parent, p, depth + 1));
        }
        return Status::Ok();
      }
      case Container::kMap: {
        if (!v.is_object()) return TypeError(v, f, parent, path);
        FieldDef elem = f;
        elem.container = Container::kNone;
        for (auto it = v.begin(); it != v.end(); ++it) {
          std::string p = path + "." + it.key();
          if (it->is_null()) {
            *it = ci::ZeroValue(f);
            continue;
          }
          RETURN_IF_ERROR(Value(*it, elem, f, parent, p, depth + 1));
        }
        return Status::Ok();
      }
      case Container::kNone:
        return Value(v, f, f, parent, path, depth);
    }
    return Status::Ok();
  }



  // `f` describes the single value (container already stripped); `orig` is the declared field
  // (for error messages).
  Status Value(Json& v, const FieldDef& f, const FieldDef& orig, const TypeDef& parent, const std::string& path,
               int depth) {
    if (depth > ci::kMaxDepth) return BadRequestError("json: exceeded max depth");
    switch (f.kind) {
      case Kind::kString:
        if (!v.is_string()) return TypeError(v, orig, parent, path);
        return Status::Ok();
      case Kind::kBytes:
        if (!v.is_string()) return TypeError(v, orig, parent, path);
        if (!ci::Base64Decode(v.get_ref<const std::string&>())) {
          return BadRequestError("json: illegal base64 data in field " + StripIndices(path));
        }
        return Status::Ok();
      case Kind::kBool:
        if (!v.is_boolean()) return TypeError(v, orig, parent, path);
        return Status::Ok();
      case Kind::kInt32:
      case Kind::kInt64:
        return Integer(v, f.kind == Kind::kInt32, orig, parent, path);
      case Kind::kDouble:
        if (!v.is_number()) return TypeError(v, orig, parent, path);
        return Status::Ok();
      case Kind::kObject: {
        if (f.type == nullptr) return Status::Ok();
        if (f.type->list_wrapper && !f.type->fields.empty()) {
          const FieldDef& inner = f.type->fields[0];
          return Field(v, inner, *f.type, path, depth + 1);
        }
        if (!v.is_object()) return TypeError(v, orig, parent, path);
        return Object(v, *f.type, path, depth + 1, false);
      }
      case Kind::kIntOrString:
        if (v.is_string()) return Status::Ok();
        if (v.is_number()) {
          FieldDef as_int = f;
          as_int.kind = Kind::kInt32;
          return Integer(v, true, as_int, parent, path);
        }
        return TypeError(v, orig, parent, path);
      case Kind::kQuantity: {
        if (v.is_number_integer() || v.is_number_unsigned()) {
          v = v.dump();
        } else if (v.is_number_float()) {
          double d = v.get<double>();
          if (!std::isfinite(d)) return BadRequestError("quantities must be finite");
          // 1e3 and 1000.0 are the quantity "1000"; other values keep their shortest form.
          if (std::floor(d) == d && std::fabs(d) < 9007199254740992.0) {
            v = std::to_string(static_cast<int64_t>(d));
          } else {
            v = v.dump();
          }
        } else if (!v.is_string()) {
          return TypeError(v, orig, parent, path);
        }
        if (!ci::IsQuantitySyntax(v.get_ref<const std::string&>())) {
          return BadRequestError("quantities must match the regular expression "
                                 "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
        }
        return Status::Ok();
      }
      case Kind::kTime:
      case Kind::kMicroTime: {
        if (!v.is_string()) return TypeError(v, orig, parent, path);
        ASSIGN_OR_RETURN(auto t, ci::ParseRfc3339(v.get_ref<const std::string&>()));
        ASSIGN_OR_RETURN(std::string s, ci::FormatRfc3339(t.seconds, t.nanos, f.kind == Kind::kMicroTime));
        v = std::move(s);
        return Status::Ok();
      }
      case Kind::kDuration: {
        if (!v.is_string()) return TypeError(v, orig, parent, path);
        ASSIGN_OR_RETURN(int64_t ns, ci::ParseGoDuration(v.get_ref<const std::string&>()));
        v = ci::FormatGoDuration(ns);
        return Status::Ok();
      }
      case Kind::kRawExtension:
      case Kind::kJSON:
        return Status::Ok();  // kept verbatim
    }
    return Status::Ok();
  }

  Status Integer(Json& v, bool is32, const FieldDef& orig, const TypeDef& parent, const std::string& path) {
    if (!v.is_number()) return TypeError(v, orig, parent, path);
    const int64_t lo = is32 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
    const int64_t hi = is32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(hi)) return TypeError(v, orig, parent, path, true);
      v = static_cast<int64_t>(u);
      return Status::Ok();
    }
    if (v.is_number_integer()) {
      int64_t i = v.get<int64_t>();
      if (i < lo || i > hi) return TypeError(v, orig, parent, path, true);
      return Status::Ok();
    }
    double d = v.get<double>();
    // An integral float (1.0, 1e3) is accepted for integer fields; 2^63 itself is out of range.
    bool ok = std::isfinite(d) && std::floor(d) == d && d >= static_cast<double>(lo) &&
              d <= static_cast<double>(hi) && d < 9223372036854775808.0;
    if (!ok) return TypeError(v, orig, parent, path, true);
    v = static_cast<int64_t>(d);
    return Status::Ok();
  }

  SchemaCheck* out_;
};

}  // namespace

Result<SchemaCheck> NormalizeToSchema(Json& obj, const TypeDef& type) {
  SchemaCheck out;
  Checker c(&out);
  RETURN_IF_ERROR(c.Object(obj, type, "", 0, true));
  return out;
}

}  // namespace tug::api
