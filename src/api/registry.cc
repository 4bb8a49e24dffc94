// Registry: loads the schema document (src/api/schema/FORMAT.md) into TypeDef/ResourceDef
// tables and answers lookups. See schema.h for the contract.
#include <cctype>
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
      {"string", Kind::kString},      {"bytes", Kind::kBytes},
      {"bool", Kind::kBool},          {"int32", Kind::kInt32},
      {"int64", Kind::kInt64},        {"double", Kind::kDouble},
      {"intstr", Kind::kIntOrString}, {"quantity", Kind::kQuantity},
      {"time", Kind::kTime},          {"microtime", Kind::kMicroTime},
      {"duration", Kind::kDuration},  {"raw", Kind::kRawExtension},
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

// A small pull parser for the schema document. The built-in schema is loaded at every server
// start, and a DOM parse (nlohmann) of it costs ~15 ms; reading it in one pass without a DOM
// costs about a tenth of that. Accepts any valid JSON (unknown keys are skipped); the first
// error stops parsing and is kept in error().
class Reader {
 public:
  explicit Reader(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  bool Fail(std::string msg) {
    if (!failed_) {
      failed_ = true;
      error_ = std::move(msg) + " at offset " + std::to_string(offset());
    }
    return false;
  }
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }
  void set_begin(const char* b) { begin_ = b; }

  char Peek() {
    SkipWs();
    return p_ < end_ ? *p_ : '\0';
  }
  bool AtEnd() {
    SkipWs();
    return p_ >= end_;
  }

  // Objects: BeginObject(); while (NextKey(&key)) { ...read value... }
  bool BeginObject() { return Expect('{', "expected an object"); }
  bool NextKey(std::string* key) {
    if (failed_) return false;
    if (!Separator('}')) return false;
    if (!ReadString(key)) return false;
    return Expect(':', "expected ':'");
  }
  // Arrays: BeginArray(); while (NextElement()) { ...read value... }
  bool BeginArray() { return Expect('[', "expected an array"); }
  bool NextElement() {
    if (failed_) return false;
    return Separator(']');
  }

  bool ReadString(std::string* out) {
    if (!Expect('"', "expected a string")) return false;
    out->clear();
    const char* run = p_;
    while (p_ < end_) {
      char c = *p_;
      if (c == '"') {
        out->append(run, p_);
        ++p_;
        return true;
      }
      if (c == '\\') {
        out->append(run, p_);
        if (!Escape(out)) return false;
        run = p_;
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in string");
      ++p_;
    }
    return Fail("unterminated string");
  }
  bool ReadInt(int* out) {
    SkipWs();
    bool neg = p_ < end_ && *p_ == '-';
    if (neg) ++p_;
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') return Fail("expected an integer");
    long long v = 0;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      v = v * 10 + (*p_ - '0');
      if (v > 0x7fffffff) return Fail("integer out of range");
      ++p_;
    }
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return Fail("expected an integer");
    *out = static_cast<int>(neg ? -v : v);
    return true;
  }
  bool ReadStrings(std::vector<std::string>* out) {
    out->clear();
    if (!BeginArray()) return false;
    while (NextElement()) {
      out->emplace_back();
      if (!ReadString(&out->back())) return false;
    }
    return !failed_;
  }
  // Skips any JSON value.
  bool Skip(int depth = 0) {
    if (depth > 64) return Fail("nesting too deep");
    char c = Peek();
    if (c == '{') {
      BeginObject();
      std::string k;
      while (NextKey(&k)) {
        if (!Skip(depth + 1)) return false;
      }
      return !failed_;
    }
    if (c == '[') {
      BeginArray();
      while (NextElement()) {
        if (!Skip(depth + 1)) return false;
      }
      return !failed_;
    }
    if (c == '"') {
      std::string s;
      return ReadString(&s);
    }
    const char* start = p_;
    while (p_ < end_ && (std::isalnum(static_cast<unsigned char>(*p_)) || *p_ == '-' ||
                         *p_ == '+' || *p_ == '.')) {
      ++p_;
    }
    std::string_view word(start, static_cast<size_t>(p_ - start));
    if (word.empty()) return Fail("expected a value");
    if (word == "true" || word == "false" || word == "null") return true;
    if (word[0] == '-' || (word[0] >= '0' && word[0] <= '9')) return true;
    return Fail("unexpected token");
  }

 private:
  void SkipWs() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Expect(char c, const char* what) {
    if (failed_) return false;
    SkipWs();
    if (p_ >= end_ || *p_ != c) return Fail(what);
    ++p_;
    first_.push_back(true);
    if (c == '"' || c == ':') first_.pop_back();
    return true;
  }
  // Between members/elements: consumes ',' or the closing bracket. Returns true when another
  // member/element follows.
  bool Separator(char close) {
    SkipWs();
    if (p_ < end_ && *p_ == close) {
      ++p_;
      if (!first_.empty()) first_.pop_back();
      return false;
    }
    if (first_.empty()) return Fail("unbalanced brackets");
    if (first_.back()) {
      first_.back() = false;
      return true;
    }
    if (p_ >= end_ || *p_ != ',') return Fail("expected ',' or a closing bracket");
    ++p_;
    return true;
  }
  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool Hex4(unsigned* out) {
    if (end_ - p_ < 4) return Fail("short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = Hex(p_[i]);
      if (h < 0) return Fail("bad \\u escape");
      v = v * 16 + static_cast<unsigned>(h);
    }
    p_ += 4;
    *out = v;
    return true;
  }
  bool Escape(std::string* out) {
    ++p_;  // backslash
    if (p_ >= end_) return Fail("unterminated escape");
    char c = *p_++;
    switch (c) {
      case '"': out->push_back('"'); return true;
      case '\\': out->push_back('\\'); return true;
      case '/': out->push_back('/'); return true;
      case 'b': out->push_back('\b'); return true;
      case 'f': out->push_back('\f'); return true;
      case 'n': out->push_back('\n'); return true;
      case 'r': out->push_back('\r'); return true;
      case 't': out->push_back('\t'); return true;
      case 'u': {
        unsigned cp = 0;
        if (!Hex4(&cp)) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo = 0;
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return Fail("lone surrogate");
          p_ += 2;
          if (!Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return Fail("bad surrogate pair");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp < 0x80) {
          out->push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
          out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
          out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
          out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
          out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
          out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
          out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
        return true;
      }
      default:
        return Fail("bad escape");
    }
  }

  const char* begin_ = nullptr;
  const char* p_;
  const char* end_;
  std::vector<bool> first_;  // per open bracket: no member/element read yet
  bool failed_ = false;
  std::string error_;
};

}  // namespace

// Builds a Registry from the schema document in one pass; names are resolved at the end, so
// the top-level keys may come in any order. Friend of Registry.
class RegistryBuilder {
 public:
  static Result<std::shared_ptr<const Registry>> Build(std::string_view text);

 private:
  struct PendingField {
    TypeDef* owner;
    size_t index;
    std::string kind;  // scalar kind name or type name
  };
  struct PendingResource {
    std::unique_ptr<ResourceDef> def;
    std::string type;
  };
  struct PendingKind {
    std::string group, version, kind, type;
  };

  explicit RegistryBuilder(std::string_view text) : in_(text) { in_.set_begin(text.data()); }

  Status Run();
  bool ReadTypes();
  bool ReadType();
  bool ReadField(TypeDef& owner);
  bool ReadResources();
  bool ReadSubresource(ResourceDef& r);
  bool ReadKinds();
  bool ReadGroups();
  Status Resolve();

  Reader in_;
  std::shared_ptr<Registry> reg_ = std::shared_ptr<Registry>(new Registry());
  int format_ = 0;
  std::vector<PendingField> fields_;
  std::vector<PendingResource> resources_;
  std::vector<PendingKind> kinds_;
};

bool RegistryBuilder::ReadField(TypeDef& owner) {
  FieldDef f;
  PendingField pf{&owner, owner.fields.size(), {}};
  std::string key, s;
  int n = 0;
  if (!in_.BeginObject()) return false;
  while (in_.NextKey(&key)) {
    if (key == "n") {
      in_.ReadString(&f.name);
    } else if (key == "t") {
      in_.ReadInt(&f.proto_tag);
    } else if (key == "k") {
      in_.ReadString(&pf.kind);
    } else if (key == "c") {
      in_.ReadString(&s);
      if (s == "list") {
        f.container = Container::kList;
      } else if (s == "map") {
        f.container = Container::kMap;
      } else {
        return in_.Fail(owner.name + ": bad container " + s);
      }
    } else if (key == "req" || key == "oe" || key == "ma" || key == "in" || key == "oz") {
      if (!in_.ReadInt(&n)) return false;
      (key == "req"  ? f.required
       : key == "oe" ? f.omit_empty
       : key == "ma" ? f.map_atomic
       : key == "oz" ? f.omit_zero
                     : f.inlined) = n != 0;
    } else if (key == "ps") {
      in_.ReadString(&f.patch_strategy);
    } else if (key == "pk") {
      in_.ReadString(&f.patch_merge_key);
    } else if (key == "lt") {
      in_.ReadString(&s);
      if (s == "atomic") {
        f.list_type = ListType::kAtomic;
      } else if (s == "set") {
        f.list_type = ListType::kSet;
      } else if (s == "map") {
        f.list_type = ListType::kMap;
      } else {
        return in_.Fail(owner.name + ": bad listType " + s);
      }
    } else if (key == "lk") {
      in_.ReadStrings(&f.list_map_keys);
    } else if (key == "e") {
      in_.ReadStrings(&f.enum_values);
    } else if (key == "d") {
      in_.ReadString(&f.description);
    } else {
      in_.Skip();
    }
  }
  if (in_.failed()) return false;
  if (f.name.empty()) return in_.Fail(owner.name + ": field without a name");
  if (pf.kind.empty()) return in_.Fail(owner.name + "." + f.name + ": field without a kind");
  if (f.description.empty()) {
    // Neutral fallback (FORMAT.md): "<field> of the <Type>."
    f.description.append(f.name).append(" of the ").append(ShortName(owner.name)).append(".");
  }
  if (!ScalarKind(pf.kind, &f.kind)) {
    f.kind = Kind::kObject;
    fields_.push_back(std::move(pf));
  } else if (f.inlined) {
    return in_.Fail(owner.name + "." + f.name + ": inline scalar");
  }
  owner.fields.push_back(std::move(f));
  return true;
}

bool RegistryBuilder::ReadType() {
  auto t = std::make_unique<TypeDef>();
  std::string key;
  int n = 0;
  bool has_fields = false;
  if (!in_.BeginObject()) return false;
  while (in_.NextKey(&key)) {
    if (key == "n") {
      in_.ReadString(&t->name);
    } else if (key == "d") {
      in_.ReadString(&t->description);
    } else if (key == "lw") {
      if (in_.ReadInt(&n)) t->list_wrapper = n != 0;
    } else if (key == "f") {
      has_fields = true;
      if (!in_.BeginArray()) return false;
      while (in_.NextElement()) {
        if (!ReadField(*t)) return false;
      }
    } else {
      in_.Skip();
    }
  }
  if (in_.failed()) return false;
  if (t->name.empty()) return in_.Fail("type without a name");
  if (!has_fields) return in_.Fail(t->name + ": missing fields");
  if (t->description.empty()) t->description.append(ShortName(t->name)).append(" object.");
  if (t->list_wrapper && (t->fields.empty() || t->fields[0].container != Container::kList)) {
    return in_.Fail(t->name + ": list wrapper without a repeated field");
  }
  // Pending fields point at the TypeDef, which stays put inside its unique_ptr.
  std::string name = t->name;
  if (!reg_->types_.emplace(name, std::move(t)).second) return in_.Fail("duplicate type " + name);
  return true;
}

bool RegistryBuilder::ReadTypes() {
  if (!in_.BeginArray()) return false;
  while (in_.NextElement()) {
    if (!ReadType()) return false;
  }
  return !in_.failed();
}

bool RegistryBuilder::ReadSubresource(ResourceDef& r) {
  SubresourceDef s;
  if (!in_.BeginArray()) return false;
  std::string* parts[] = {&s.name, &s.response_kind.group, &s.response_kind.version,
                          &s.response_kind.kind};
  int i = 0;
  while (in_.NextElement()) {
    if (i < 4) {
      if (!in_.ReadString(parts[i])) return false;
    } else if (i == 4) {
      if (!in_.ReadStrings(&s.verbs)) return false;
    } else {
      return in_.Fail(r.plural + ": malformed subresource");
    }
    ++i;
  }
  if (in_.failed()) return false;
  if (i != 5) return in_.Fail(r.plural + ": malformed subresource");
  r.subresources.push_back(std::move(s));
  return true;
}

bool RegistryBuilder::ReadResources() {
  if (!in_.BeginArray()) return false;
  std::string key;
  int n = 0;
  while (in_.NextElement()) {
    PendingResource pr{std::make_unique<ResourceDef>(), {}};
    ResourceDef& r = *pr.def;
    bool has_list_kind = false, has_sv = false, has_sg = false;
    if (!in_.BeginObject()) return false;
    while (in_.NextKey(&key)) {
      if (key == "g") {
        in_.ReadString(&r.group);
      } else if (key == "v") {
        in_.ReadString(&r.version);
      } else if (key == "k") {
        in_.ReadString(&r.kind);
      } else if (key == "p") {
        in_.ReadString(&r.plural);
      } else if (key == "s") {
        in_.ReadString(&r.singular);
      } else if (key == "lk") {
        has_list_kind = in_.ReadString(&r.list_kind);
      } else if (key == "ns") {
        if (in_.ReadInt(&n)) r.namespaced = n != 0;
      } else if (key == "virt") {
        if (in_.ReadInt(&n)) r.virtual_resource = n != 0;
      } else if (key == "sv") {
        has_sv = in_.ReadString(&r.storage_version);
      } else if (key == "sg") {
        has_sg = in_.ReadString(&r.storage_group);
      } else if (key == "sn") {
        in_.ReadStrings(&r.short_names);
      } else if (key == "cat") {
        in_.ReadStrings(&r.categories);
      } else if (key == "verbs") {
        in_.ReadStrings(&r.verbs);
      } else if (key == "t") {
        in_.ReadString(&pr.type);
      } else if (key == "sub") {
        if (!in_.BeginArray()) return false;
        while (in_.NextElement()) {
          if (!ReadSubresource(r)) return false;
        }
      } else {
        in_.Skip();
      }
    }
    if (in_.failed()) return false;
    if (r.version.empty() || r.kind.empty() || r.plural.empty()) {
      return in_.Fail("resource without version, kind or plural");
    }
    if (r.singular.empty()) r.singular = r.plural;
    if (!has_list_kind) r.list_kind = r.kind + "List";
    if (!has_sv) r.storage_version = r.version;
    if (!has_sg) r.storage_group = r.group;
    resources_.push_back(std::move(pr));
  }
  return !in_.failed();
}

bool RegistryBuilder::ReadKinds() {
  if (!in_.BeginArray()) return false;
  while (in_.NextElement()) {
    PendingKind k;
    std::string* parts[] = {&k.group, &k.version, &k.kind, &k.type};
    int i = 0;
    if (!in_.BeginArray()) return false;
    while (in_.NextElement()) {
      if (i >= 4 || !in_.ReadString(parts[i])) return in_.Fail("malformed kinds entry");
      ++i;
    }
    if (in_.failed()) return false;
    if (i != 4) return in_.Fail("malformed kinds entry");
    kinds_.push_back(std::move(k));
  }
  return !in_.failed();
}

bool RegistryBuilder::ReadGroups() {
  if (!in_.BeginArray()) return false;
  while (in_.NextElement()) {
    GroupDef g;
    int i = 0;
    if (!in_.BeginArray()) return false;
    while (in_.NextElement()) {
      if (i == 0) {
        if (!in_.ReadString(&g.name)) return false;
      } else if (i == 1) {
        if (!in_.ReadStrings(&g.versions)) return false;
      } else {
        return in_.Fail("malformed group");
      }
      ++i;
    }
    if (in_.failed()) return false;
    if (i != 2) return in_.Fail("malformed group");
    if (g.versions.empty()) return in_.Fail("group " + g.name + " without versions");
    reg_->groups_.push_back(std::move(g));
  }
  return !in_.failed();
}

Status RegistryBuilder::Resolve() {
  Registry& reg = *reg_;
  for (PendingField& pf : fields_) {
    FieldDef& f = pf.owner->fields[pf.index];
    auto it = reg.types_.find(pf.kind);
    if (it == reg.types_.end()) {
      return Bad(pf.owner->name + "." + f.name + ": unknown type " + pf.kind);
    }
    f.type = it->second.get();
  }
  for (PendingKind& k : kinds_) {
    auto it = reg.types_.find(k.type);
    if (it == reg.types_.end()) return Bad("kinds: unknown type " + k.type);
    reg.kind_types_.emplace(Key3(k.group, k.version, k.kind), it->second.get());
  }
  reg.resources_.reserve(resources_.size());
  for (PendingResource& pr : resources_) {
    ResourceDef& r = *pr.def;
    auto it = reg.types_.find(pr.type);
    if (it == reg.types_.end()) return Bad(r.plural + ": unknown type " + pr.type);
    r.type = it->second.get();
    std::string rkey = Key3(r.group, r.version, r.plural);
    std::string kkey = Key3(r.group, r.version, r.kind);
    if (!reg.by_resource_.emplace(rkey, &r).second) return Bad("duplicate resource " + rkey);
    if (!reg.by_kind_.emplace(kkey, &r).second) return Bad("duplicate resource kind " + kkey);
    // Every resource's kind is a kind of its group-version, whether or not "kinds" says so.
    reg.kind_types_.emplace(std::move(kkey), r.type);
    reg.resources_.push_back(std::move(pr.def));
  }
  // Subresource response kinds must resolve, so that handlers can rely on them.
  for (const auto& r : reg.resources_) {
    for (const SubresourceDef& s : r->subresources) {
      const GroupVersionKind& k = s.response_kind;
      if (reg.KindType(k.group, k.version, k.kind) == nullptr) {
        return Bad(r->plural + "/" + s.name + ": unknown response kind " + k.ApiVersion() + " " +
                   k.kind);
      }
    }
  }
  return Status::Ok();
}

Status RegistryBuilder::Run() {
  std::string key;
  bool has_types = false;
  if (in_.BeginObject()) {
    while (in_.NextKey(&key)) {
      if (key == "format") {
        in_.ReadInt(&format_);
      } else if (key == "types") {
        has_types = ReadTypes();
      } else if (key == "resources") {
        ReadResources();
      } else if (key == "kinds") {
        ReadKinds();
      } else if (key == "groups") {
        ReadGroups();
      } else {
        in_.Skip();
      }
    }
  }
  if (!in_.failed() && !in_.AtEnd()) in_.Fail("trailing data");
  if (in_.failed()) return Bad(in_.error());
  if (format_ != 1) return Bad("unsupported format (want 1)");
  if (!has_types) return Bad("missing types");
  return Resolve();
}

Result<std::shared_ptr<const Registry>> RegistryBuilder::Build(std::string_view text) {
  RegistryBuilder b(text);
  if (Status s = b.Run(); !s.ok()) return s;
  return std::shared_ptr<const Registry>(std::move(b.reg_));
}

Result<std::shared_ptr<const Registry>> Registry::FromJson(std::string_view text) {
  return RegistryBuilder::Build(text);
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
    } else {
      TUG_LOG(ERROR, "schema") << "built-in schema is invalid" << kv("error", reg.status().message());
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
