#include "api/apply/typed.h"

#include <optional>
#include <set>
#include <unordered_map>

namespace tug::api::apply {
namespace {

using Node = FieldSet::Node;
using Path = FieldSet::Path;

enum class Shape { kScalar, kStruct, kMap, kList, kUntyped };
enum class ListKind { kAtomic, kSet, kMap };

// Where a value sits in the schema: the root struct, a field's whole value, or one element of
// a list/map field; or nowhere (untyped, deduced from the JSON).
struct TypeRef {
  const TypeDef* root = nullptr;   // set only at the root
  const FieldDef* field = nullptr;
  bool elem = false;
  bool untyped = false;
};

TypeRef Untyped() {
  TypeRef t;
  t.untyped = true;
  return t;
}

const TypeDef* StructType(const TypeRef& t) {
  if (t.root) return t.root;
  if (t.field && t.field->kind == Kind::kObject && (t.elem || t.field->container == Container::kNone))
    return t.field->type;
  return nullptr;
}

Shape ShapeOf(const TypeRef& t) {
  if (t.untyped) return Shape::kUntyped;
  if (t.root) return Shape::kStruct;
  if (!t.field) return Shape::kUntyped;
  if (!t.elem && t.field->container == Container::kList) return Shape::kList;
  if (!t.elem && t.field->container == Container::kMap) return Shape::kMap;
  switch (t.field->kind) {
    case Kind::kObject: {
      const TypeDef* st = t.field->type;
      if (!st) return Shape::kUntyped;
      if (st->list_wrapper) return Shape::kScalar;  // a JSON array carried as one value
      return Shape::kStruct;
    }
    case Kind::kJSON:
    case Kind::kRawExtension:
      return Shape::kUntyped;
    default:
      return Shape::kScalar;
  }
}

ListKind ListKindOf(const FieldDef& f) {
  switch (f.list_type) {
    case ListType::kAtomic: return ListKind::kAtomic;
    case ListType::kSet: return ListKind::kSet;
    case ListType::kMap: return ListKind::kMap;
    case ListType::kUnspecified: break;
  }
  if (f.patch_strategy.rfind("merge", 0) == 0) return f.patch_merge_key.empty() ? ListKind::kSet : ListKind::kMap;
  return ListKind::kAtomic;
}

// Atomic nodes are one leaf: their insides are never addressed.
bool IsAtomic(const TypeRef& t, Shape s) {
  if (!t.field) return false;
  switch (s) {
    case Shape::kList: return ListKindOf(*t.field) == ListKind::kAtomic;
    case Shape::kMap: return t.field->map_atomic;
    case Shape::kStruct: return t.field->map_atomic;
    default: return false;
  }
}

TypeRef ChildOf(const TypeRef& t, Shape s, const std::string& key) {
  if (s == Shape::kStruct) {
    const TypeDef* st = StructType(t);
    const FieldDef* f = st ? st->Field(key) : nullptr;
    if (!f) return Untyped();
    TypeRef c;
    c.field = f;
    return c;
  }
  if (s == Shape::kMap) {
    TypeRef c = t;
    c.elem = true;
    return c;
  }
  return Untyped();
}

TypeRef ElementOf(const TypeRef& t) {
  TypeRef c = t;
  c.elem = true;
  return c;
}

// Upstream's OpenAPI gives defaults to these map-list key fields (Container/Service ports), and
// structured-merge-diff fills them in when an item omits the key.
const Json* KeyDefault(const std::string& key) {
  static const Json kProtocol = "TCP";
  if (key == "protocol") return &kProtocol;
  return nullptr;
}

// The path element of one list item.
std::string ItemElement(const FieldDef& f, const Json& item, size_t index) {
  ListKind k = ListKindOf(f);
  if (k == ListKind::kSet) return ValueElement(item);
  if (k == ListKind::kMap && item.is_object()) {
    Json keys = Json::object();
    const std::vector<std::string>& names =
        f.list_map_keys.empty() ? std::vector<std::string>{f.patch_merge_key} : f.list_map_keys;
    for (const auto& n : names) {
      if (const Json* v = Find(item, n); v && !v->is_null()) keys[n] = *v;
      else if (const Json* d = KeyDefault(n)) keys[n] = *d;
    }
    if (!keys.empty()) return KeyElement(keys);
  }
  return "i:" + std::to_string(index);
}

const Node* ChildNode(const Node* n, const std::string& pe) {
  if (!n) return nullptr;
  auto it = n->children.find(pe);
  return it == n->children.end() ? nullptr : &it->second;
}

bool EmptyOrAbsent(const Json* v) {
  if (!v || v->is_null()) return true;
  if (v->is_object() || v->is_array()) return v->empty();
  return false;
}

// Items of a list indexed by element, first occurrence wins, in list order.
struct IndexedList {
  std::vector<std::pair<std::string, const Json*>> items;
  std::unordered_map<std::string, const Json*> by_pe;
};

IndexedList IndexList(const FieldDef& f, const Json* list) {
  IndexedList out;
  if (!list || !list->is_array()) return out;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    std::string pe = ItemElement(f, item, i);
    if (out.by_pe.emplace(pe, &item).second) out.items.emplace_back(std::move(pe), &item);
  }
  return out;
}

// ---- ToFieldSet ----

void ToSet(const TypeRef& t, const Json& v, Path& path, FieldSet& set, const Node* ign) {
  Shape s = ShapeOf(t);
  if (s == Shape::kScalar || IsAtomic(t, s) ||
      (s == Shape::kUntyped && !v.is_object()) || (s == Shape::kList && !v.is_array()) ||
      ((s == Shape::kStruct || s == Shape::kMap) && !v.is_object())) {
    if (!v.is_null()) set.Insert(path);
    return;
  }
  if (s == Shape::kList) {
    IndexedList items = IndexList(*t.field, &v);
    TypeRef et = ElementOf(t);
    for (const auto& [pe, item] : items.items) {
      const Node* ci = ChildNode(ign, pe);
      if (ci && ci->member) continue;
      path.push_back(pe);
      ToSet(et, *item, path, set, ci);
      set.Insert(path);
      path.pop_back();
    }
    return;
  }
  const TypeDef* st = s == Shape::kStruct ? StructType(t) : nullptr;
  for (auto it = v.begin(); it != v.end(); ++it) {
    std::string pe = FieldElement(it.key());
    const Node* ci = ChildNode(ign, pe);
    if (ci && ci->member) continue;
    TypeRef ct = ChildOf(t, s, it.key());
    path.push_back(std::move(pe));
    ToSet(ct, it.value(), path, set, ci);
    const Json& cv = it.value();
    if (cv.is_null() || (cv.is_object() && cv.empty()) || !st || !st->Field(it.key())) set.Insert(path);
    path.pop_back();
  }
}

// ---- Compare ----

// Node paths (not only leaves) are recorded as added/removed for maps and list items, so the
// writer of a new map or item owns the node itself ("." in fieldsV1), as upstream does for
// values absent from Go's zero object.
bool TracksNode(Shape s, bool list_item) { return list_item || s == Shape::kMap || s == Shape::kUntyped; }

void Cmp(const TypeRef& t, const Json* l, const Json* r, Path& path, Comparison& c, bool list_item,
         const Node* ign) {
  if (l && l->is_null()) l = nullptr;
  if (r && r->is_null()) r = nullptr;
  if (!l && !r) return;
  Shape s = ShapeOf(t);
  const Json* any = r ? r : l;
  bool leaf = s == Shape::kScalar || IsAtomic(t, s) || (s == Shape::kUntyped && !any->is_object()) ||
              (s == Shape::kList && (!any->is_array() || (EmptyOrAbsent(l) && EmptyOrAbsent(r)))) ||
              ((s == Shape::kStruct || s == Shape::kMap || s == Shape::kUntyped) &&
               (!any->is_object() || (EmptyOrAbsent(l) && EmptyOrAbsent(r))));
  // A value whose JSON type changed (object <-> scalar) compares as a leaf.
  if (!leaf && l && r && (l->type() != r->type())) leaf = true;
  if (leaf) {
    if (path.empty()) return;
    if (!l) c.added.Insert(path);
    else if (!r) c.removed.Insert(path);
    else if (*l != *r) c.modified.Insert(path);
    return;
  }
  if (s == Shape::kList) {
    IndexedList li = IndexList(*t.field, l), ri = IndexList(*t.field, r);
    TypeRef et = ElementOf(t);
    for (const auto& [pe, item] : li.items) {
      const Node* ci = ChildNode(ign, pe);
      if (ci && ci->member) continue;
      auto it = ri.by_pe.find(pe);
      path.push_back(pe);
      Cmp(et, item, it == ri.by_pe.end() ? nullptr : it->second, path, c, true, ci);
      path.pop_back();
    }
    for (const auto& [pe, item] : ri.items) {
      if (li.by_pe.count(pe)) continue;
      const Node* ci = ChildNode(ign, pe);
      if (ci && ci->member) continue;
      path.push_back(pe);
      Cmp(et, nullptr, item, path, c, true, ci);
      path.pop_back();
    }
  } else {
    static const Json kEmpty = Json::object();
    const Json& lo = l ? *l : kEmpty;
    const Json& ro = r ? *r : kEmpty;
    for (auto it = lo.begin(); it != lo.end(); ++it) {
      std::string pe = FieldElement(it.key());
      const Node* ci = ChildNode(ign, pe);
      if (ci && ci->member) continue;
      const Json* rv = Find(ro, it.key());
      path.push_back(std::move(pe));
      Cmp(ChildOf(t, s, it.key()), &it.value(), rv, path, c, false, ci);
      path.pop_back();
    }
    for (auto it = ro.begin(); it != ro.end(); ++it) {
      if (lo.contains(it.key())) continue;
      std::string pe = FieldElement(it.key());
      const Node* ci = ChildNode(ign, pe);
      if (ci && ci->member) continue;
      path.push_back(std::move(pe));
      Cmp(ChildOf(t, s, it.key()), nullptr, &it.value(), path, c, false, ci);
      path.pop_back();
    }
  }
  if (!path.empty() && TracksNode(s, list_item)) {
    if (!l) c.added.Insert(path);
    else if (!r) c.removed.Insert(path);
  }
}

// ---- Merge ----

// Merges r into l in place (l may be null = absent).
void MergeInto(const TypeRef& t, Json& l, const Json& r) {
  if (l.is_null()) {
    l = r;
    return;
  }
  Shape s = ShapeOf(t);
  if (s == Shape::kScalar || IsAtomic(t, s)) {
    l = r;
    return;
  }
  if (s == Shape::kList) {
    if (!l.is_array() || !r.is_array()) {
      l = r;
      return;
    }
    const FieldDef& f = *t.field;
    TypeRef et = ElementOf(t);
    // Order: live order, with the applied items that are shared taking the applied order, and
    // applied-only items placed where the applied list puts them relative to shared items.
    std::vector<std::string> r_order;
    std::unordered_map<std::string, size_t> r_pos;
    for (size_t i = 0; i < r.size(); ++i) {
      std::string pe = ItemElement(f, r[i], i);
      if (r_pos.emplace(pe, i).second) r_order.push_back(std::move(pe));
    }
    std::unordered_map<std::string, size_t> l_pos;
    std::vector<std::string> l_pes;
    for (size_t i = 0; i < l.size(); ++i) {
      l_pes.push_back(ItemElement(f, l[i], i));
      l_pos.emplace(l_pes.back(), i);
    }
    Json out = Json::array();
    std::set<std::string> emitted;
    size_t rnext = 0;
    auto emit_applied_through = [&](size_t pos) {
      for (; rnext <= pos && rnext < r_order.size(); ++rnext) {
        const std::string& pe = r_order[rnext];
        if (!emitted.insert(pe).second) continue;
        auto lit = l_pos.find(pe);
        Json item = lit == l_pos.end() ? Json() : std::move(l[lit->second]);
        MergeInto(et, item, r[r_pos[pe]]);
        out.push_back(std::move(item));
      }
    };
    std::unordered_map<std::string, size_t> r_rank;
    for (size_t k = 0; k < r_order.size(); ++k) r_rank.emplace(r_order[k], k);
    for (size_t i = 0; i < l_pes.size(); ++i) {
      const std::string& pe = l_pes[i];
      auto rk = r_rank.find(pe);
      if (rk == r_rank.end()) {
        if (l_pos[pe] == i) out.push_back(std::move(l[i]));
        continue;
      }
      if (emitted.count(pe)) continue;
      emit_applied_through(rk->second);
    }
    if (!r_order.empty()) emit_applied_through(r_order.size() - 1);
    l = std::move(out);
    return;
  }
  if (!l.is_object() || !r.is_object()) {
    l = r;
    return;
  }
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (it.value().is_null()) {
      l.erase(it.key());
      continue;
    }
    MergeInto(ChildOf(t, s, it.key()), l[it.key()], it.value());
  }
}

// ---- RemoveItems ----

bool IsEmptyContainer(const Json& v) { return (v.is_object() || v.is_array()) && v.empty(); }

void RemoveIn(const TypeRef& t, Json& v, const Node* rm, const Node* drop, bool at_root) {
  Shape s = ShapeOf(t);
  if (s == Shape::kScalar || IsAtomic(t, s)) return;
  auto child_of = [](const Node* n, const std::string& pe) -> const Node* {
    if (!n) return nullptr;
    auto it = n->children.find(pe);
    return it == n->children.end() ? nullptr : &it->second;
  };
  if (v.is_array() && s == Shape::kList) {
    TypeRef et = ElementOf(t);
    Json out = Json::array();
    for (size_t i = 0; i < v.size(); ++i) {
      std::string pe = ItemElement(*t.field, v[i], i);
      const Node* rc = child_of(rm, pe);
      const Node* dc = child_of(drop, pe);
      if (rc && rc->member) continue;
      Json item = std::move(v[i]);
      if (rc || dc) RemoveIn(et, item, rc, dc, false);
      if (dc && dc->member && IsEmptyContainer(item)) continue;
      out.push_back(std::move(item));
    }
    v = std::move(out);
    return;
  }
  if (!v.is_object()) return;
  std::vector<std::string> erase;
  for (auto it = v.begin(); it != v.end(); ++it) {
    std::string pe = FieldElement(it.key());
    const Node* rc = child_of(rm, pe);
    const Node* dc = child_of(drop, pe);
    bool keep_always = at_root && it.key() == "metadata";
    if (rc && rc->member && !keep_always) {
      erase.push_back(it.key());
      continue;
    }
    if (rc || dc) RemoveIn(ChildOf(t, s, it.key()), it.value(), rc, dc, false);
    if (!keep_always && dc && dc->member && IsEmptyContainer(it.value())) erase.push_back(it.key());
  }
  for (const auto& k : erase) v.erase(k);
}

// ---- EnsureNamedFieldsAreMembers ----

Node EnsureNamed(const TypeRef& t, const Node& n) {
  Node out;
  out.member = n.member;
  Shape s = ShapeOf(t);
  const TypeDef* st = s == Shape::kStruct ? StructType(t) : nullptr;
  for (const auto& [pe, c] : n.children) {
    TypeRef ct;
    bool named = false;
    if (pe.rfind("f:", 0) == 0) {
      std::string name = pe.substr(2);
      ct = ChildOf(t, s, name);
      named = st && st->Field(name);
    } else if (s == Shape::kList) {
      ct = ElementOf(t);
    } else {
      ct = Untyped();
    }
    Node e = EnsureNamed(ct, c);
    if (named && !e.Empty()) e.member = true;
    out.children.emplace(pe, std::move(e));
  }
  return out;
}

TypeRef RootRef(const TypeDef* root) {
  if (!root) return Untyped();
  TypeRef t;
  t.root = root;
  return t;
}

}  // namespace

FieldSet ToFieldSet(const TypeDef* root, const Json& obj, const FieldSet* ignore) {
  FieldSet set;
  Path path;
  ToSet(RootRef(root), obj, path, set, ignore ? &ignore->root() : nullptr);
  return set;
}

Comparison Compare(const TypeDef* root, const Json* lhs, const Json* rhs, const FieldSet* ignore) {
  Comparison c;
  Path path;
  Cmp(RootRef(root), lhs, rhs, path, c, false, ignore ? &ignore->root() : nullptr);
  return c;
}

Json Merge(const TypeDef* root, Json lhs, const Json& rhs) {
  MergeInto(RootRef(root), lhs, rhs);
  return lhs;
}

void RemoveItems(const TypeDef* root, Json& obj, const FieldSet& remove, const FieldSet& drop_if_empty) {
  RemoveIn(RootRef(root), obj, &remove.root(), &drop_if_empty.root(), true);
}

FieldSet EnsureNamedFieldsAreMembers(const TypeDef* root, const FieldSet& s) {
  FieldSet out;
  out.mutable_root() = EnsureNamed(RootRef(root), s.root());
  out.mutable_root().member = false;
  return out;
}

}  // namespace tug::api::apply
