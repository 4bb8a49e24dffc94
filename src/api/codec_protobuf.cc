// Kubernetes protobuf codec, driven by the schema (no generated code, no libprotobuf).
//
// Wire format: "k8s\0" + runtime.Unknown{1 TypeMeta{1 apiVersion, 2 kind}, 2 raw, 3
// contentEncoding, 4 contentType}; raw is the typed object (proto2 as in k8s.io/api
// generated.proto). JSON output follows upstream's JSON for the decoded Go struct: a message
// that is present is printed (an empty one as {}), a scalar that is present is printed except
// empty strings/bytes of omitempty fields (gogo always writes non-pointer scalars, so an empty
// string on the wire means "unset"), zero Time is omitted.
#include <cmath>
#include <cstring>
#include <optional>

#include "api/codec.h"
#include "api/codec_internal.h"

namespace tug::api {

namespace ci = codec_internal;

namespace {

constexpr std::string_view kMagic("k8s\0", 4);

enum WireType : int { kVarint = 0, kFixed64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

Status Truncated() { return BadRequestError("proto: unexpected end of data"); }

class Reader {
 public:
  explicit Reader(std::string_view d) : p_(d.data()), end_(d.data() + d.size()) {}
  bool done() const { return p_ >= end_; }

  Status Varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ >= end_) return Truncated();
      uint8_t b = static_cast<uint8_t>(*p_++);
      if (shift == 63 && b > 1) return BadRequestError("proto: integer overflow");
      r |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return Status::Ok();
      }
    }
    return BadRequestError("proto: integer overflow");
  }
  Status Fixed(int n, uint64_t* v) {
    if (end_ - p_ < n) return Truncated();
    uint64_t r = 0;
    for (int i = 0; i < n; ++i) r |= static_cast<uint64_t>(static_cast<uint8_t>(p_[i])) << (8 * i);
    p_ += n;
    *v = r;
    return Status::Ok();
  }
  Status Bytes(std::string_view* out) {
    uint64_t n;
    RETURN_IF_ERROR(Varint(&n));
    if (n > static_cast<uint64_t>(end_ - p_)) return Truncated();
    *out = std::string_view(p_, static_cast<size_t>(n));
    p_ += n;
    return Status::Ok();
  }
  Status Skip(int wt) {
    uint64_t v;
    std::string_view s;
    switch (wt) {
      case kVarint: return Varint(&v);
      case kFixed64: return Fixed(8, &v);
      case kFixed32: return Fixed(4, &v);
      case kLen: return Bytes(&s);
      default: return BadRequestError("proto: illegal wireType " + std::to_string(wt));
    }
  }

 private:
  const char* p_;
  const char* end_;
};

Status WrongWire(const FieldDef& f, int wt) {
  return BadRequestError("proto: wrong wireType = " + std::to_string(wt) + " for field " + f.name);
}

bool IsPackable(Kind k) { return k == Kind::kBool || k == Kind::kInt32 || k == Kind::kInt64 || k == Kind::kDouble; }

class Decoder {
 public:
  explicit Decoder(const Registry& reg) : reg_(reg) {}

  Result<Json> Message(std::string_view data, const TypeDef& t, int depth) {
    if (depth > ci::kMaxDepth) return BadRequestError("proto: exceeded max depth");
    Json obj = Json::object();
    if (t.list_wrapper) obj = Json::array();
    Reader r(data);
    while (!r.done()) {
      uint64_t key;
      RETURN_IF_ERROR(r.Varint(&key));
      uint64_t num = key >> 3;
      int wt = static_cast<int>(key & 7);
      if (num == 0 || num > 536870911) return BadRequestError("proto: illegal tag " + std::to_string(num));
      const FieldDef* f = ci::FieldTagged(t, static_cast<int>(num));
      if (f == nullptr || (t.list_wrapper && f != &t.fields[0])) {
        RETURN_IF_ERROR(r.Skip(wt));
        continue;
      }
      if (t.list_wrapper) {
        RETURN_IF_ERROR(Repeated(r, *f, wt, obj, depth));
        continue;
      }
      if (f->inlined) {
        if (wt != kLen) return WrongWire(*f, wt);
        std::string_view sub;
        RETURN_IF_ERROR(r.Bytes(&sub));
        if (f->type == nullptr) continue;
        ASSIGN_OR_RETURN(Json inner, Message(sub, *f->type, depth + 1));
        if (inner.is_object()) {
          for (auto it = inner.begin(); it != inner.end(); ++it) obj[it.key()] = std::move(*it);
        }
        continue;
      }
      switch (f->container) {
        case Container::kList: {
          Json& arr = obj[f->name];
          if (!arr.is_array()) arr = Json::array();
          RETURN_IF_ERROR(Repeated(r, *f, wt, arr, depth));
          break;
        }
        case Container::kMap: {
          if (wt != kLen) return WrongWire(*f, wt);
          std::string_view entry;
          RETURN_IF_ERROR(r.Bytes(&entry));
          Json& m = obj[f->name];
          if (!m.is_object()) m = Json::object();
          RETURN_IF_ERROR(MapEntry(entry, *f, m, depth));
          break;
        }
        case Container::kNone: {
          ASSIGN_OR_RETURN(std::optional<Json> v, Value(r, *f, wt, depth));
          bool empty_str = v && v->is_string() && v->get_ref<const std::string&>().empty() &&
                           (f->kind == Kind::kString || f->kind == Kind::kBytes);
          if (!v || (empty_str && f->omit_empty)) {
            obj.erase(f->name);
          } else {
            obj[f->name] = std::move(*v);
          }
          break;
        }
      }
    }
    return obj;
  }

  Result<Json> Envelope(std::string_view body) {
    if (!IsProtobuf(body)) return BadRequestError("protobuf body does not start with the k8s magic prefix");
    Reader r(body.substr(kMagic.size()));
    std::string api_version, kind, encoding, content_type;
    std::string_view raw;
    bool have_raw = false;
    while (!r.done()) {
      uint64_t key;
      RETURN_IF_ERROR(r.Varint(&key));
      int num = static_cast<int>(key >> 3), wt = static_cast<int>(key & 7);
      if ((num >= 1 && num <= 4) && wt != kLen) {
        return BadRequestError("proto: wrong wireType = " + std::to_string(wt) + " for runtime.Unknown field");
      }
      std::string_view s;
      switch (num) {
        case 1: {
          RETURN_IF_ERROR(r.Bytes(&s));
          Reader tm(s);
          while (!tm.done()) {
            uint64_t k2;
            RETURN_IF_ERROR(tm.Varint(&k2));
            int n2 = static_cast<int>(k2 >> 3), w2 = static_cast<int>(k2 & 7);
            if ((n2 == 1 || n2 == 2) && w2 == kLen) {
              std::string_view v;
              RETURN_IF_ERROR(tm.Bytes(&v));
              (n2 == 1 ? api_version : kind) = std::string(v);
            } else {
              RETURN_IF_ERROR(tm.Skip(w2));
            }
          }
          break;
        }
        case 2:
          RETURN_IF_ERROR(r.Bytes(&raw));
          have_raw = true;
          break;
        case 3:
          RETURN_IF_ERROR(r.Bytes(&s));
          encoding = std::string(s);
          break;
        case 4:
          RETURN_IF_ERROR(r.Bytes(&s));
          content_type = std::string(s);
          break;
        default:
          if (num == 0) return BadRequestError("proto: illegal tag 0");
          RETURN_IF_ERROR(r.Skip(wt));
      }
    }
    if (!encoding.empty()) return BadRequestError("unsupported protobuf content encoding \"" + ci::SanitizeUtf8(encoding) + "\"");
    if (!content_type.empty() && content_type != "application/vnd.kubernetes.protobuf") {
      return BadRequestError("unsupported embedded content type \"" + ci::SanitizeUtf8(content_type) + "\"");
    }
    if (kind.empty()) return BadRequestError("Object 'Kind' is missing in protobuf body");
    std::string group, version = api_version;
    if (size_t slash = api_version.find('/'); slash != std::string::npos) {
      group = api_version.substr(0, slash);
      version = api_version.substr(slash + 1);
    }
    const TypeDef* t = reg_.KindType(group, version, kind);
    if (t == nullptr) {
      return BadRequestError("no kind \"" + ci::SanitizeUtf8(kind) + "\" is registered for version \"" +
                             ci::SanitizeUtf8(api_version) + "\"");
    }
    Json obj = Json::object();
    if (have_raw) {
      ASSIGN_OR_RETURN(obj, Message(raw, *t, ++envelope_depth_));
    }
    if (!obj.is_object()) return BadRequestError("protobuf object is not a struct");
    obj["apiVersion"] = ci::SanitizeUtf8(api_version);
    obj["kind"] = ci::SanitizeUtf8(kind);
    return obj;
  }

 private:
  Status Repeated(Reader& r, const FieldDef& f, int wt, Json& arr, int depth) {
    if (wt == kLen && IsPackable(f.kind)) {
      std::string_view packed;
      RETURN_IF_ERROR(r.Bytes(&packed));
      Reader pr(packed);
      int elem_wt = f.kind == Kind::kDouble ? kFixed64 : kVarint;
      while (!pr.done()) {
        ASSIGN_OR_RETURN(std::optional<Json> v, Value(pr, f, elem_wt, depth));
        arr.push_back(v ? std::move(*v) : Json());
      }
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(std::optional<Json> v, Value(r, f, wt, depth));
    arr.push_back(v ? std::move(*v) : Json());
    return Status::Ok();
  }

  Status MapEntry(std::string_view entry, const FieldDef& f, Json& m, int depth) {
    Reader r(entry);
    std::string key;
    std::optional<Json> value;
    while (!r.done()) {
      uint64_t k;
      RETURN_IF_ERROR(r.Varint(&k));
      int num = static_cast<int>(k >> 3), wt = static_cast<int>(k & 7);
      if (num == 1) {
        if (wt != kLen) return WrongWire(f, wt);
        std::string_view s;
        RETURN_IF_ERROR(r.Bytes(&s));
        key = ci::SanitizeUtf8(s);
      } else if (num == 2) {
        ASSIGN_OR_RETURN(value, Value(r, f, wt, depth));
      } else {
        RETURN_IF_ERROR(r.Skip(wt));
      }
    }
    if (!value) value = ci::ZeroValue(f);
    m[key] = std::move(*value);
    return Status::Ok();
  }



  // Decodes a sub-message's fields into (tag -> raw wire value) for the small fixed messages.
  struct Small {
    uint64_t varint[4] = {0, 0, 0, 0};
    std::string_view bytes[4];
    bool has[4] = {false, false, false, false};
  };
  static Status ParseSmall(std::string_view data, Small* s) {
    Reader r(data);
    while (!r.done()) {
      uint64_t k;
      RETURN_IF_ERROR(r.Varint(&k));
      int num = static_cast<int>(k >> 3), wt = static_cast<int>(k & 7);
      if (num >= 1 && num <= 3 && wt == kVarint) {
        RETURN_IF_ERROR(r.Varint(&s->varint[num]));
        s->has[num] = true;
      } else if (num >= 1 && num <= 3 && wt == kLen) {
        RETURN_IF_ERROR(r.Bytes(&s->bytes[num]));
        s->has[num] = true;
      } else {
        if (num == 0) return BadRequestError("proto: illegal tag 0");
        RETURN_IF_ERROR(r.Skip(wt));
      }
    }
    return Status::Ok();
  }

  Result<std::optional<Json>> Value(Reader& r, const FieldDef& f, int wt, int depth) {
    auto need = [&](int want) -> Status { return wt == want ? Status::Ok() : WrongWire(f, wt); };
    uint64_t u = 0;
    std::string_view s;
    switch (f.kind) {
      case Kind::kBool:
        RETURN_IF_ERROR(need(kVarint));
        RETURN_IF_ERROR(r.Varint(&u));
        return std::optional<Json>(u != 0);
      case Kind::kInt32:
        RETURN_IF_ERROR(need(kVarint));
        RETURN_IF_ERROR(r.Varint(&u));
        return std::optional<Json>(static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(u))));
      case Kind::kInt64:
        RETURN_IF_ERROR(need(kVarint));
        RETURN_IF_ERROR(r.Varint(&u));
        return std::optional<Json>(static_cast<int64_t>(u));
      case Kind::kDouble: {
        RETURN_IF_ERROR(need(kFixed64));
        RETURN_IF_ERROR(r.Fixed(8, &u));
        double d;
        std::memcpy(&d, &u, sizeof d);
        if (!std::isfinite(d)) return BadRequestError("json: unsupported value: non-finite float in field " + f.name);
        return std::optional<Json>(d);
      }
      default:
        break;
    }
    RETURN_IF_ERROR(need(kLen));
    RETURN_IF_ERROR(r.Bytes(&s));
    switch (f.kind) {
      case Kind::kString: return std::optional<Json>(ci::SanitizeUtf8(s));
      case Kind::kBytes: return std::optional<Json>(ci::Base64Encode(s));
      case Kind::kObject: {
        if (f.type == nullptr) return std::optional<Json>(Json::object());
        ASSIGN_OR_RETURN(Json m, Message(s, *f.type, depth + 1));
        return std::optional<Json>(std::move(m));
      }
      case Kind::kIntOrString: {
        Small m;
        RETURN_IF_ERROR(ParseSmall(s, &m));
        if (m.varint[1] == 1) return std::optional<Json>(ci::SanitizeUtf8(m.bytes[3]));
        return std::optional<Json>(static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(m.varint[2]))));
      }
      case Kind::kQuantity: {
        Small m;
        RETURN_IF_ERROR(ParseSmall(s, &m));
        std::string q = ci::SanitizeUtf8(m.bytes[1]);
        return std::optional<Json>(q.empty() ? std::string("0") : q);
      }
      case Kind::kTime:
      case Kind::kMicroTime: {
        if (s.empty()) return std::optional<Json>();  // zero time: JSON null, i.e. absent
        Small m;
        RETURN_IF_ERROR(ParseSmall(s, &m));
        int64_t nanos = f.kind == Kind::kMicroTime ? static_cast<int32_t>(static_cast<uint32_t>(m.varint[2])) : 0;
        ASSIGN_OR_RETURN(std::string t,
                         ci::FormatRfc3339(static_cast<int64_t>(m.varint[1]), nanos, f.kind == Kind::kMicroTime));
        return std::optional<Json>(std::move(t));
      }
      case Kind::kDuration: {
        Small m;
        RETURN_IF_ERROR(ParseSmall(s, &m));
        return std::optional<Json>(ci::FormatGoDuration(static_cast<int64_t>(m.varint[1])));
      }
      case Kind::kRawExtension:
      case Kind::kJSON: {
        Small m;
        RETURN_IF_ERROR(ParseSmall(s, &m));
        std::string_view raw = m.bytes[1];
        if (raw.empty()) return std::optional<Json>();
        if (IsProtobuf(raw)) {
          if (++envelope_depth_ > 8) return BadRequestError("proto: too many nested embedded objects");
          ASSIGN_OR_RETURN(Json inner, Envelope(raw));
          return std::optional<Json>(std::move(inner));
        }
        ASSIGN_OR_RETURN(Json j, DecodeJson(raw));
        return std::optional<Json>(std::move(j));
      }
      default:
        return BadRequestError("proto: unsupported kind for field " + f.name);
    }
  }

  const Registry& reg_;
  int envelope_depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Encoder

class Writer {
 public:
  std::string out;
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out += static_cast<char>(v);
  }
  void Tag(int num, int wt) { Varint((static_cast<uint64_t>(num) << 3) | static_cast<uint64_t>(wt)); }
  void Bytes(int num, std::string_view b) {
    Tag(num, kLen);
    Varint(b.size());
    out.append(b);
  }
  void Fixed64(int num, uint64_t v) {
    Tag(num, kFixed64);
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
};

class Encoder {
 public:
  Status Message(const Json& obj, const TypeDef& t, Writer& w, int depth) {
    if (depth > ci::kMaxDepth) return BadRequestError("proto: exceeded max depth");
    if (t.list_wrapper) {
      if (t.fields.empty()) return Status::Ok();
      if (!obj.is_array()) return BadRequestError("expected a list for " + t.name);
      for (const auto& el : obj) RETURN_IF_ERROR(Value(el, t.fields[0], w, depth));
      return Status::Ok();
    }
    if (!obj.is_object()) return BadRequestError("expected an object for " + t.name);
    for (const auto& f : t.fields) {
      if (f.proto_tag <= 0) continue;
      if (f.inlined) {
        if (f.type == nullptr) continue;
        Writer sub;
        RETURN_IF_ERROR(Message(obj, *f.type, sub, depth + 1));
        w.Bytes(f.proto_tag, sub.out);
        continue;
      }
      auto it = obj.find(f.name);
      if (it == obj.end() || it->is_null()) continue;
      switch (f.container) {
        case Container::kList:
          if (!it->is_array()) return BadRequestError("expected a list for field " + f.name);
          for (const auto& el : *it) RETURN_IF_ERROR(Value(el, f, w, depth));
          break;
        case Container::kMap:
          if (!it->is_object()) return BadRequestError("expected an object for field " + f.name);
          for (auto e = it->begin(); e != it->end(); ++e) {
            Writer entry;
            entry.Bytes(1, e.key());
            if (!e->is_null()) RETURN_IF_ERROR(ValueTagged(*e, f, 2, entry, depth));
            w.Bytes(f.proto_tag, entry.out);
          }
          break;
        case Container::kNone:
          RETURN_IF_ERROR(Value(*it, f, w, depth));
          break;
      }
    }
    return Status::Ok();
  }

 private:
  Status Value(const Json& v, const FieldDef& f, Writer& w, int depth) { return ValueTagged(v, f, f.proto_tag, w, depth); }

  static Result<int64_t> Int(const Json& v, const FieldDef& f) {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_unsigned()) return static_cast<int64_t>(v.get<uint64_t>());
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::isfinite(d) && std::floor(d) == d && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        return static_cast<int64_t>(d);
      }
    }
    return BadRequestError("expected an integer for field " + f.name);
  }

  Status ValueTagged(const Json& v, const FieldDef& f, int tag, Writer& w, int depth) {
    auto bad = [&](const char* what) { return BadRequestError(std::string("expected ") + what + " for field " + f.name); };
    switch (f.kind) {
      case Kind::kString:
        if (!v.is_string()) return bad("a string");
        w.Bytes(tag, v.get_ref<const std::string&>());
        return Status::Ok();
      case Kind::kBytes: {
        if (!v.is_string()) return bad("a base64 string");
        auto raw = ci::Base64Decode(v.get_ref<const std::string&>());
        if (!raw) return bad("a base64 string");
        w.Bytes(tag, *raw);
        return Status::Ok();
      }
      case Kind::kBool:
        if (!v.is_boolean()) return bad("a bool");
        w.Tag(tag, kVarint);
        w.Varint(v.get<bool>() ? 1 : 0);
        return Status::Ok();
      case Kind::kInt32:
      case Kind::kInt64: {
        ASSIGN_OR_RETURN(int64_t i, Int(v, f));
        if (f.kind == Kind::kInt32) i = static_cast<int32_t>(i);
        w.Tag(tag, kVarint);
        w.Varint(static_cast<uint64_t>(i));
        return Status::Ok();
      }
      case Kind::kDouble: {
        if (!v.is_number()) return bad("a number");
        double d = v.get<double>();
        uint64_t u;
        std::memcpy(&u, &d, sizeof u);
        w.Fixed64(tag, u);
        return Status::Ok();
      }
      case Kind::kObject: {
        Writer sub;
        if (f.type != nullptr) RETURN_IF_ERROR(Message(v, *f.type, sub, depth + 1));
        w.Bytes(tag, sub.out);
        return Status::Ok();
      }
      case Kind::kIntOrString: {
        Writer sub;
        if (v.is_string()) {
          sub.Tag(1, kVarint);
          sub.Varint(1);
          sub.Tag(2, kVarint);
          sub.Varint(0);
          sub.Bytes(3, v.get_ref<const std::string&>());
        } else {
          ASSIGN_OR_RETURN(int64_t i, Int(v, f));
          sub.Tag(1, kVarint);
          sub.Varint(0);
          sub.Tag(2, kVarint);
          sub.Varint(static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(i))));
          sub.Bytes(3, "");
        }
        w.Bytes(tag, sub.out);
        return Status::Ok();
      }
      case Kind::kQuantity: {
        Writer sub;
        if (v.is_string()) sub.Bytes(1, v.get_ref<const std::string&>());
        else if (v.is_number()) sub.Bytes(1, v.dump());
        else return bad("a quantity");
        w.Bytes(tag, sub.out);
        return Status::Ok();
      }
      case Kind::kTime:
      case Kind::kMicroTime: {
        if (!v.is_string()) return bad("a time string");
        ASSIGN_OR_RETURN(auto t, ci::ParseRfc3339(v.get_ref<const std::string&>()));
        Writer sub;
        sub.Tag(1, kVarint);
        sub.Varint(static_cast<uint64_t>(t.seconds));
        sub.Tag(2, kVarint);
        sub.Varint(static_cast<uint64_t>(f.kind == Kind::kMicroTime ? t.nanos / 1000 * 1000 : 0));
        w.Bytes(tag, sub.out);
        return Status::Ok();
      }
      case Kind::kDuration: {
        if (!v.is_string()) return bad("a duration string");
        ASSIGN_OR_RETURN(int64_t ns, ci::ParseGoDuration(v.get_ref<const std::string&>()));
        Writer sub;
        sub.Tag(1, kVarint);
        sub.Varint(static_cast<uint64_t>(ns));
        w.Bytes(tag, sub.out);
        return Status::Ok();
      }
      case Kind::kRawExtension:
      case Kind::kJSON: {
        Writer sub;
        sub.Bytes(1, v.dump(-1, ' ', false, Json::error_handler_t::replace));
        w.Bytes(tag, sub.out);
        return Status::Ok();
      }
    }
    return Status::Ok();
  }
};

}  // namespace

bool IsProtobuf(std::string_view body) { return body.size() >= kMagic.size() && body.substr(0, 4) == kMagic; }

Result<Json> DecodeProtobuf(const Registry& reg, std::string_view body) {
  Decoder d(reg);
  return d.Envelope(body);
}

Result<std::string> EncodeProtobuf(const Registry& reg, const Json& obj) {
  if (!obj.is_object()) return BadRequestError("can only encode objects as protobuf");
  std::string api_version = GetString(obj, "apiVersion");
  std::string kind = GetString(obj, "kind");
  std::string group, version = api_version;
  if (size_t slash = api_version.find('/'); slash != std::string::npos) {
    group = api_version.substr(0, slash);
    version = api_version.substr(slash + 1);
  }
  const TypeDef* t = reg.KindType(group, version, kind);
  if (t == nullptr && kind.size() > 4 && kind.ends_with("List")) {
    // Lists are not kinds of their own in the registry: <item type name> + "List".
    std::string item_kind = kind.substr(0, kind.size() - 4);
    const TypeDef* item = reg.KindType(group, version, item_kind);
    if (item == nullptr) {
      if (const ResourceDef* rd = reg.ByApiVersionKind(api_version, item_kind)) item = rd->type;
    }
    if (item != nullptr) t = reg.Type(item->name + "List");
  }
  if (t == nullptr) {
    return Status(StatusCode::kNotAcceptable, "no protobuf schema for " + api_version + ", Kind=" + kind);
  }
  Writer raw;
  Encoder e;
  RETURN_IF_ERROR(e.Message(obj, *t, raw, 0));
  Writer tm;
  tm.Bytes(1, api_version);
  tm.Bytes(2, kind);
  Writer env;
  env.out.append(kMagic);
  env.Bytes(1, tm.out);
  env.Bytes(2, raw.out);
  env.Bytes(3, "");
  env.Bytes(4, "");
  return std::move(env.out);
}

}  // namespace tug::api
