// JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch, following the
// semantics of evanphx/json-patch and apimachinery's strategicpatch as the API server applies
// them (parallel delete lists merged, unmatched nulls ignored).
#include <algorithm>
#include <string>
#include <vector>

#include "api/codec_internal.h"
#include "api/patch.h"

namespace tug::api {

namespace ci = codec_internal;

namespace {

Status DepthError() { return BadRequestError("patch: exceeded max depth of " + std::to_string(ci::kMaxDepth)); }

// ---------------------------------------------------------------------------------------------
// JSON patch

constexpr size_t kMaxJsonPatchOps = 10000;
constexpr size_t kMaxCopyBytes = 3 * 1024 * 1024;  // accumulated size added by "copy" ops

Result<std::vector<std::string>> ParsePointer(const std::string& p) {
  std::vector<std::string> out;
  if (p.empty()) return out;
  if (p[0] != '/') return BadRequestError("JSON pointer must be empty or start with '/': \"" + ci::SanitizeUtf8(p) + "\"");
  std::string cur;
  for (size_t i = 1; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '/') {
      out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (p[i] == '~') {
      if (i + 1 < p.size() && p[i + 1] == '0') cur += '~';
      else if (i + 1 < p.size() && p[i + 1] == '1') cur += '/';
      else return BadRequestError("invalid JSON pointer escape in \"" + ci::SanitizeUtf8(p) + "\"");
      ++i;
      continue;
    }
    cur += p[i];
  }
  return out;
}

// Array index token: digits only, no leading zeros (except "0").
bool ParseIndex(const std::string& tok, size_t* idx) {
  if (tok.empty() || tok.size() > 18) return false;
  if (tok.size() > 1 && tok[0] == '0') return false;
  size_t v = 0;
  for (char c : tok) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *idx = v;
  return true;
}

// Resolves all but the last token; returns the container, or nullptr.
Json* Parent(Json& doc, const std::vector<std::string>& toks) {
  Json* cur = &doc;
  for (size_t i = 0; i + 1 < toks.size(); ++i) {
    if (cur->is_object()) {
      auto it = cur->find(toks[i]);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      size_t idx;
      if (!ParseIndex(toks[i], &idx) || idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

Json* Get(Json& doc, const std::vector<std::string>& toks) {
  if (toks.empty()) return &doc;
  Json* parent = Parent(doc, toks);
  if (parent == nullptr) return nullptr;
  const std::string& last = toks.back();
  if (parent->is_object()) {
    auto it = parent->find(last);
    return it == parent->end() ? nullptr : &*it;
  }
  if (parent->is_array()) {
    size_t idx;
    if (!ParseIndex(last, &idx) || idx >= parent->size()) return nullptr;
    return &(*parent)[idx];
  }
  return nullptr;
}

Status OpError(const std::string& op, const std::string& path, const std::string& why) {
  return InvalidError(op + " operation does not apply: " + why + ": " + ci::SanitizeUtf8(path));
}

Status Add(Json& doc, const std::vector<std::string>& toks, Json value, const std::string& path) {
  if (toks.empty()) {
    doc = std::move(value);
    return Status::Ok();
  }
  Json* parent = Parent(doc, toks);
  if (parent == nullptr) return OpError("add", path, "doc is missing path");
  const std::string& last = toks.back();
  if (parent->is_object()) {
    (*parent)[last] = std::move(value);
    return Status::Ok();
  }
  if (parent->is_array()) {
    size_t idx;
    if (last == "-") {
      parent->push_back(std::move(value));
      return Status::Ok();
    }
    if (!ParseIndex(last, &idx) || idx > parent->size()) return OpError("add", path, "index out of bounds");
    parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(idx), std::move(value));
    return Status::Ok();
  }
  return OpError("add", path, "doc is missing path");
}

Status Remove(Json& doc, const std::vector<std::string>& toks, const std::string& path, const std::string& op) {
  if (toks.empty()) return OpError(op, path, "cannot remove the whole document");
  Json* parent = Parent(doc, toks);
  if (parent == nullptr) return OpError(op, path, "doc is missing path");
  const std::string& last = toks.back();
  if (parent->is_object()) {
    if (parent->erase(last) == 0) return OpError(op, path, "unable to remove nonexistent key");
    return Status::Ok();
  }
  if (parent->is_array()) {
    size_t idx;
    if (!ParseIndex(last, &idx) || idx >= parent->size()) return OpError(op, path, "index out of bounds");
    parent->erase(static_cast<size_t>(idx));
    return Status::Ok();
  }
  return OpError(op, path, "doc is missing path");
}

Result<std::string> StringMember(const Json& op, const char* name, const std::string& opname) {
  auto it = op.find(name);
  if (it == op.end() || !it->is_string()) {
    return BadRequestError(opname + " operation: missing or invalid \"" + name + "\"");
  }
  return it->get<std::string>();
}

// ---------------------------------------------------------------------------------------------
// Merge patch

Result<Json> MergePatch(const Json& target, const Json& patch, int depth) {
  if (depth > ci::kMaxDepth) return DepthError();
  if (!patch.is_object()) return patch;
  Json out = target.is_object() ? target : Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it->is_null()) {
      out.erase(it.key());
      continue;
    }
    auto cur = out.find(it.key());
    ASSIGN_OR_RETURN(Json v, MergePatch(cur == out.end() ? Json() : *cur, *it, depth + 1));
    out[it.key()] = std::move(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

constexpr char kDirective[] = "$patch";
constexpr char kRetainKeys[] = "$retainKeys";
constexpr char kSetOrderPrefix[] = "$setElementOrder/";
constexpr char kDeletePrimPrefix[] = "$deleteFromPrimitiveList/";

// Where we are in the schema: a struct type, or the values of a map[string]T field.
struct Schema {
  const TypeDef* type = nullptr;
  const FieldDef* map_of = nullptr;
};

struct PatchMeta {
  Schema sub;
  std::string strategy;  // "merge", "replace" or "" (retainKeys stripped)
  std::string merge_key;
};

PatchMeta Lookup(const Schema& s, const std::string& key) {
  PatchMeta m;
  const FieldDef* f = nullptr;
  if (s.map_of != nullptr) {
    if (s.map_of->kind == Kind::kObject) m.sub.type = s.map_of->type;
    return m;
  }
  if (s.type != nullptr) f = ci::FieldNamed(*s.type, key);
  if (f == nullptr) return m;
  if (f->container == Container::kMap) {
    m.sub.map_of = f;
  } else if (f->kind == Kind::kObject) {
    m.sub.type = f->type;
  }
  std::string_view ps = f->patch_strategy;
  while (!ps.empty()) {
    size_t comma = ps.find(',');
    std::string_view part = ps.substr(0, comma);
    if (part != "retainKeys") m.strategy = std::string(part);
    if (comma == std::string_view::npos) break;
    ps.remove_prefix(comma + 1);
  }
  m.merge_key = f->patch_merge_key;
  return m;
}

std::string Short(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return s;
}

Status SmpError(const std::string& msg) { return BadRequestError(msg); }

// Drops maps carrying a $patch directive (and list entries that are such maps).
bool RemoveDirectives(Json& v, int depth) {
  if (depth > ci::kMaxDepth) return true;
  if (v.is_object()) {
    if (v.contains(kDirective)) return false;
    std::vector<std::string> drop;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!RemoveDirectives(*it, depth + 1)) drop.push_back(it.key());
    }
    for (const auto& k : drop) v.erase(k);
    return true;
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (auto& el : v) {
      if (RemoveDirectives(el, depth + 1)) out.push_back(std::move(el));
    }
    v = std::move(out);
  }
  return true;
}

void DiscardNulls(Json& v, int depth) {
  if (depth > ci::kMaxDepth) return;
  if (v.is_object()) {
    std::vector<std::string> drop;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it->is_null()) drop.push_back(it.key());
      else DiscardNulls(*it, depth + 1);
    }
    for (const auto& k : drop) v.erase(k);
  } else if (v.is_array()) {
    for (auto& el : v) DiscardNulls(el, depth + 1);
  }
}

enum class ElemKind { kNone, kMap, kScalar };

Result<ElemKind> SliceElementKind(const Json& a, const Json& b) {
  ElemKind k = ElemKind::kNone;
  Json::value_t prev = Json::value_t::discarded;
  for (const Json* l : {&a, &b}) {
    for (const auto& v : *l) {
      Json::value_t t = v.type();
      // Go unmarshals every JSON number to float64: int and float are one type there.
      if (t == Json::value_t::number_integer || t == Json::value_t::number_unsigned) t = Json::value_t::number_float;
      if (prev == Json::value_t::discarded) {
        if (t == Json::value_t::array) return SmpError("lists of lists are not supported");
        prev = t;
        k = t == Json::value_t::object ? ElemKind::kMap : ElemKind::kScalar;
      } else if (prev != t) {
        return SmpError("list element types are not identical: " + Short(a) + ", " + Short(b));
      }
    }
  }
  return k;
}

// The value the ordering helpers compare: the merge key's value for maps, the item itself
// otherwise (a missing merge key compares as null, as Go's nil interface does).
const Json& OrderValue(const Json& item, const std::string& merge_key, ElemKind kind) {
  static const Json kNull;
  if (kind != ElemKind::kMap) return item;
  if (!item.is_object()) return kNull;
  auto it = item.find(merge_key);
  return it == item.end() ? kNull : *it;
}

int IndexOf(const Json& list, const Json& item, const std::string& merge_key, ElemKind kind) {
  const Json& want = OrderValue(item, merge_key, kind);
  for (size_t i = 0; i < list.size(); ++i) {
    if (OrderValue(list[i], merge_key, kind) == want) return static_cast<int>(i);
  }
  return -1;
}

Result<Json> NormalizeSliceOrder(Json to_sort, const Json& order, const std::string& merge_key, ElemKind kind) {
  Json to_delete = Json::array();
  if (kind == ElemKind::kMap) {
    for (const Json* l : {static_cast<const Json*>(&to_sort), &order}) {
      for (const auto& v : *l) {
        if (!v.is_object() || !v.contains(merge_key)) {
          return SmpError("map: " + Short(v) + " does not contain declared merge key: " + merge_key);
        }
      }
    }
    Json keep = Json::array();
    for (auto& v : to_sort) {
      auto d = v.find(kDirective);
      if (d != v.end() && *d == "delete") to_delete.push_back(std::move(v));
      else keep.push_back(std::move(v));
    }
    to_sort = std::move(keep);
  }
  std::vector<std::pair<int, Json>> items;
  for (auto& v : to_sort) items.emplace_back(IndexOf(order, v, merge_key, kind), std::move(v));
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    return a.first >= 0 && b.first >= 0 && a.first < b.first;
  });
  Json out = Json::array();
  for (auto& [_, v] : items) out.push_back(std::move(v));
  for (auto& v : to_delete) out.push_back(std::move(v));
  return out;
}

Json MergeSortedSlice(const Json& left, const Json& right, const Json& server_order, const std::string& merge_key,
                      ElemKind kind) {
  Json out = Json::array();
  size_t i = 0, j = 0;
  while (i < left.size() || j < right.size()) {
    if (i >= left.size()) {
      out.push_back(right[j++]);
    } else if (j >= right.size()) {
      out.push_back(left[i++]);
    } else {
      int li = IndexOf(server_order, left[i], merge_key, kind);
      int ri = IndexOf(server_order, right[j], merge_key, kind);
      if (li >= 0 && ri >= 0 && li < ri) out.push_back(left[i++]);
      else out.push_back(right[j++]);
    }
  }
  return out;
}

Result<Json> NormalizeElementOrder(const Json& patch, const Json& server_only, const Json& patch_order,
                                   const Json& server_order, const std::string& merge_key, ElemKind kind) {
  ASSIGN_OR_RETURN(Json p, NormalizeSliceOrder(patch, patch_order, merge_key, kind));
  ASSIGN_OR_RETURN(Json s, NormalizeSliceOrder(server_only, server_order, merge_key, kind));
  return MergeSortedSlice(s, p, server_order, merge_key, kind);
}

// Splits `merged` into items present in `by` and the rest.
Status Partition(const Json& merged, const Json& by, const std::string& merge_key, Json* in, Json* out) {
  *in = Json::array();
  *out = Json::array();
  for (const auto& v : merged) {
    bool found = false;
    if (merge_key.empty()) {
      for (const auto& b : by) found = found || b == v;
    } else {
      if (!v.is_object()) return SmpError("expected a map in list, got " + Short(v));
      auto mv = v.find(merge_key);
      if (mv == v.end()) return SmpError("map: " + Short(v) + " does not contain declared merge key: " + merge_key);
      for (const auto& b : by) {
        if (!b.is_object()) return SmpError("expected a map in list, got " + Short(b));
        auto bv = b.find(merge_key);
        if (bv != b.end() && *bv == *mv) {
          found = true;
          break;
        }
      }
    }
    (found ? in : out)->push_back(v);
  }
  return Status::Ok();
}

Result<Json> MergeMap(Json original, Json patch, const Schema& schema, int depth);

Result<Json> MergeSlice(Json original, Json patch, const Schema& schema, const std::string& merge_key,
                        bool is_delete_list, int depth) {
  if (depth > ci::kMaxDepth) return DepthError();
  if (original.empty() && patch.empty()) return original;
  ASSIGN_OR_RETURN(ElemKind kind, SliceElementKind(original, patch));
  Json merged = Json::array();
  if (kind != ElemKind::kMap) {
    if (is_delete_list) {
      for (auto& v : original) {
        bool del = false;
        for (const auto& d : patch) del = del || d == v;
        if (!del) merged.push_back(std::move(v));
      }
      return merged;
    }
    // Union without duplicates (the order is fixed up below).
    for (const Json* l : {&original, &patch}) {
      for (const auto& v : *l) {
        if (std::find(merged.begin(), merged.end(), v) == merged.end()) merged.push_back(v);
      }
    }
  } else {
    if (merge_key.empty()) {
      return SmpError("cannot merge lists without merge key for " +
                      std::string(schema.type ? schema.type->name : "unknown type"));
    }
    // Special elements: {"$patch":"delete", <key>: v} deletes, {"$patch":"replace"} replaces.
    Json plain = Json::array();
    bool replace = false;
    for (auto& v : patch) {
      auto d = v.find(kDirective);
      if (d == v.end()) {
        plain.push_back(std::move(v));
        continue;
      }
      if (*d == "delete") {
        auto mv = v.find(merge_key);
        if (mv == v.end()) return SmpError("map: " + Short(v) + " does not contain declared merge key: " + merge_key);
        Json kept = Json::array();
        for (auto& o : original) {
          auto ov = o.is_object() ? o.find(merge_key) : o.end();
          if (!o.is_object() || ov == o.end() || *ov != *mv) kept.push_back(std::move(o));
        }
        original = std::move(kept);
      } else if (*d == "replace") {
        replace = true;
      } else if (*d == "merge") {
        // Treated as the default behaviour (upstream rejects it for lists).
      } else {
        return SmpError("Unknown patch type: " + Short(*d) + " in map: " + Short(v));
      }
    }
    if (replace) {
      original = std::move(plain);
      plain = Json::array();
    }
    patch = plain;
    merged = original;
    for (auto& v : plain) {
      auto mv = v.find(merge_key);
      if (mv == v.end()) return SmpError("map: " + Short(v) + " does not contain declared merge key: " + merge_key);
      bool found = false;
      for (auto& o : merged) {
        if (!o.is_object()) return SmpError("expected a map in list, got " + Short(o));
        auto ov = o.find(merge_key);
        if (ov != o.end() && *ov == *mv) {
          ASSIGN_OR_RETURN(o, MergeMap(std::move(o), std::move(v), schema, depth + 1));
          found = true;
          break;
        }
      }
      if (!found) merged.push_back(std::move(v));
    }
  }
  Json in, out;
  RETURN_IF_ERROR(Partition(merged, patch, kind == ElemKind::kMap ? merge_key : "", &in, &out));
  return NormalizeElementOrder(in, out, patch, original, kind == ElemKind::kMap ? merge_key : "", kind);
}

Status ValidateSetOrder(const Json& patch_list, const Json& order, const std::string& merge_key) {
  if (!order.is_array()) return SmpError("invalid patch format of setElementOrder list");
  if (!patch_list.is_array() && !patch_list.is_null()) return SmpError("invalid patch format of setElementOrder list");
  if (order.empty() || !patch_list.is_array() || patch_list.empty()) return Status::Ok();
  std::vector<const Json*> items;
  for (const auto& v : patch_list) {
    if (!merge_key.empty()) {
      if (!v.is_object()) return SmpError("expected a map in list, got " + Short(v));
      auto d = v.find(kDirective);
      if (d != v.end() && *d == "delete") continue;
    }
    items.push_back(&v);
  }
  size_t pi = 0, oi = 0;
  while (pi < items.size() && oi < order.size()) {
    const Json& p = *items[pi];
    if (p.is_object() && p.contains(kDirective)) {
      ++pi;
      continue;
    }
    bool eq;
    if (merge_key.empty()) {
      eq = p == order[oi];
    } else {
      if (!order[oi].is_object() || !order[oi].contains(merge_key) || !p.contains(merge_key)) {
        return SmpError("map: " + Short(order[oi]) + " does not contain declared merge key: " + merge_key);
      }
      eq = p[merge_key] == order[oi][merge_key];
    }
    if (eq) ++pi;
    ++oi;
  }
  if (pi < items.size() && oi >= order.size()) return SmpError("invalid patch format of setElementOrder list");
  return Status::Ok();
}

Result<Json> MergeSliceHandler(Json original, Json patch, const PatchMeta& meta, bool is_delete_list, int depth) {
  if (meta.strategy == "merge" || is_delete_list) {
    return MergeSlice(std::move(original), std::move(patch), meta.sub, meta.merge_key, is_delete_list, depth);
  }
  return patch;
}

Status ApplySetElementOrder(Json& original, Json& patch, const Schema& schema, int depth) {
  std::vector<std::string> keys;
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.key().starts_with(kSetOrderPrefix)) keys.push_back(it.key());
  }
  for (const auto& key : keys) {
    Json order = std::move(patch[key]);
    patch.erase(key);
    if (!order.is_array()) return SmpError("invalid patch format of setElementOrder list");
    std::string field = key.substr(sizeof(kSetOrderPrefix) - 1);
    if (field.empty()) return SmpError("invalid patch format of setElementOrder list");
    auto oit = original.find(field);
    auto pit = patch.find(field);
    bool found_orig = oit != original.end(), found_patch = pit != patch.end();
    Json orig_list = Json::array(), patch_list = Json::array();
    if (found_orig) {
      if (!oit->is_array()) return SmpError("expected a list for " + field + ", got " + Short(*oit));
      orig_list = *oit;
    }
    if (found_patch) {
      if (!pit->is_array()) return SmpError("expected a list for " + field + ", got " + Short(*pit));
      patch_list = *pit;
    }
    PatchMeta meta = Lookup(schema, field);
    RETURN_IF_ERROR(ValidateSetOrder(patch_list, order, meta.merge_key));
    Json merged;
    if (found_orig && !found_patch) {
      merged = orig_list;
    } else if (!found_orig && found_patch) {
      merged = patch_list;
      RemoveDirectives(merged, depth + 1);
    } else if (found_orig && found_patch) {
      ASSIGN_OR_RETURN(merged, MergeSliceHandler(orig_list, patch_list, meta, false, depth + 1));
    } else {
      continue;
    }
    ASSIGN_OR_RETURN(ElemKind kind, SliceElementKind(orig_list, patch_list));
    std::string mk = meta.merge_key;
    Json in, out;
    RETURN_IF_ERROR(Partition(merged, order, mk, &in, &out));
    ASSIGN_OR_RETURN(Json both, NormalizeElementOrder(in, out, order, orig_list, mk, kind));
    original[field] = std::move(both);
    patch.erase(field);
  }
  return Status::Ok();
}

Result<Json> MergeMap(Json original, Json patch, const Schema& schema, int depth) {
  if (depth > ci::kMaxDepth) return DepthError();
  if (!original.is_object()) original = Json::object();
  if (auto d = patch.find(kDirective); d != patch.end()) {
    if (*d == "replace") {
      patch.erase(kDirective);
      // The patch replaces the map; directives nested in it still apply (to an empty map).
      return MergeMap(Json::object(), std::move(patch), schema, depth + 1);
    }
    if (*d == "delete") return Json::object();
    if (*d != "merge") return SmpError("Unknown patch type: " + Short(*d) + " in map: " + Short(patch));
    patch.erase(kDirective);
  }
  // $retainKeys: keys of original not listed are cleared; every patch key must be listed.
  if (auto rk = patch.find(kRetainKeys); rk != patch.end()) {
    Json retain = std::move(*rk);
    patch.erase(kRetainKeys);
    if (!retain.is_array()) return SmpError("invalid patch format of retainKeys");
    auto listed = [&](const std::string& k) {
      for (const auto& r : retain) {
        if (r.is_string() && r.get_ref<const std::string&>() == k) return true;
      }
      return false;
    };
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      if (it->is_null() || it.key().starts_with(kDeletePrimPrefix) || it.key().starts_with(kSetOrderPrefix)) continue;
      if (!listed(it.key())) return SmpError("invalid patch format of retainKeys");
    }
    std::vector<std::string> drop;
    for (auto it = original.begin(); it != original.end(); ++it) {
      if (!listed(it.key())) drop.push_back(it.key());
    }
    for (const auto& k : drop) original.erase(k);
  }
  RETURN_IF_ERROR(ApplySetElementOrder(original, patch, schema, depth));

  for (auto it = patch.begin(); it != patch.end(); ++it) {
    std::string k = it.key();
    Json patch_v = std::move(*it);
    bool is_delete_list = false;
    if (k.starts_with(kDeletePrimPrefix)) {
      k = k.substr(sizeof(kDeletePrimPrefix) - 1);
      if (k.empty()) return SmpError("invalid patch format of primitive list");
      is_delete_list = true;
    }
    if (patch_v.is_null()) {
      original.erase(k);
      continue;
    }
    auto oit = original.find(k);
    bool same_type = oit != original.end() &&
                     ((oit->is_object() && patch_v.is_object()) || (oit->is_array() && patch_v.is_array()));
    if (oit == original.end() || !same_type) {
      if (!is_delete_list) {
        DiscardNulls(patch_v, depth + 1);
        if (RemoveDirectives(patch_v, depth + 1)) original[k] = std::move(patch_v);
        else original.erase(k);
      }
      continue;
    }
    PatchMeta meta = Lookup(schema, k);
    if (patch_v.is_object()) {
      if (meta.strategy == "replace") {
        *oit = std::move(patch_v);
      } else {
        ASSIGN_OR_RETURN(*oit, MergeMap(std::move(*oit), std::move(patch_v), meta.sub, depth + 1));
      }
    } else {
      ASSIGN_OR_RETURN(*oit, MergeSliceHandler(std::move(*oit), std::move(patch_v), meta, is_delete_list, depth + 1));
    }
  }
  return original;
}

}  // namespace

Result<Json> ApplyJsonPatch(const Json& doc, const Json& patch) {
  if (!patch.is_array()) return BadRequestError("json patch must be an array of operations");
  if (patch.size() > kMaxJsonPatchOps) {
    return Status(StatusCode::kRequestEntityTooLarge, "The allowed maximum operations in a JSON patch is " +
                                                          std::to_string(kMaxJsonPatchOps) + ", got " +
                                                          std::to_string(patch.size()));
  }
  Json out = doc;
  size_t copied = 0;
  for (const auto& op : patch) {
    if (!op.is_object()) return BadRequestError("json patch operation must be an object: " + Short(op));
    auto opit = op.find("op");
    if (opit == op.end() || !opit->is_string()) return BadRequestError("Unexpected kind: unknown");
    const std::string name = opit->get<std::string>();
    ASSIGN_OR_RETURN(std::string path, StringMember(op, "path", name));
    ASSIGN_OR_RETURN(auto toks, ParsePointer(path));
    if (name == "add" || name == "replace" || name == "test") {
      auto vit = op.find("value");
      if (vit == op.end()) return BadRequestError(name + " operation: missing \"value\"");
      if (name == "add") {
        RETURN_IF_ERROR(Add(out, toks, *vit, path));
      } else if (name == "replace") {
        Json* target = Get(out, toks);
        if (target == nullptr) return OpError("replace", path, "doc is missing key");
        *target = *vit;
      } else {
        Json* target = Get(out, toks);
        if (target == nullptr) {
          if (vit->is_null()) continue;  // evanphx: testing a missing value against null passes
          return InvalidError("testing value " + ci::SanitizeUtf8(path) + " failed: test failed");
        }
        if (*target != *vit) return InvalidError("testing value " + ci::SanitizeUtf8(path) + " failed: test failed");
      }
    } else if (name == "remove") {
      RETURN_IF_ERROR(Remove(out, toks, path, "remove"));
    } else if (name == "move" || name == "copy") {
      ASSIGN_OR_RETURN(std::string from, StringMember(op, "from", name));
      ASSIGN_OR_RETURN(auto ftoks, ParsePointer(from));
      Json* src = Get(out, ftoks);
      if (src == nullptr) return OpError(name, from, "doc is missing from path");
      Json value = *src;
      if (name == "move") {
        if (from != path && path.size() > from.size() && path.compare(0, from.size(), from) == 0 &&
            path[from.size()] == '/') {
          return InvalidError("move operation does not apply: cannot move " + from + " into its own child " + path);
        }
        RETURN_IF_ERROR(Remove(out, ftoks, from, "move"));
      } else {
        copied += value.dump(-1, ' ', false, Json::error_handler_t::replace).size();
        if (copied > kMaxCopyBytes) {
          return Status(StatusCode::kRequestEntityTooLarge,
                        "Unable to copy, the accumulated size increase of copy is " + std::to_string(copied) +
                            ", exceeding the limit " + std::to_string(kMaxCopyBytes));
        }
      }
      RETURN_IF_ERROR(Add(out, toks, std::move(value), path));
    } else {
      return BadRequestError("Unexpected kind: " + ci::SanitizeUtf8(name));
    }
  }
  return out;
}

Result<Json> ApplyMergePatch(const Json& doc, const Json& patch) { return MergePatch(doc, patch, 0); }

Result<Json> ApplyStrategicMergePatch(const Json& doc, const Json& patch, const TypeDef* type) {
  if (!patch.is_object()) return BadRequestError("strategic merge patch must be a JSON object");
  if (!doc.is_object()) return BadRequestError("strategic merge patch target must be a JSON object");
  Schema s;
  s.type = type;
  return MergeMap(doc, patch, s, 0);
}

}  // namespace tug::api
