#include "api/apply/field_set.h"

namespace tug::api::apply {
namespace {

using Node = FieldSet::Node;

Status FromJsonNode(const Json& j, Node* out, int depth) {
  if (depth > 200) return BadRequestError("fieldsV1 is nested too deeply");
  if (!j.is_object()) return BadRequestError("fieldsV1 must be a tree of JSON objects");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == ".") {
      out->member = true;
      continue;
    }
    const std::string& k = it.key();
    if (k.size() < 2 || k[1] != ':' || (k[0] != 'f' && k[0] != 'k' && k[0] != 'v' && k[0] != 'i'))
      return BadRequestError("fieldsV1 has an invalid path element: " + k);
    Node& child = out->children[k];
    RETURN_IF_ERROR(FromJsonNode(it.value(), &child, depth + 1));
    if (child.children.empty()) child.member = true;
  }
  return Status::Ok();
}

Json ToJsonNode(const Node& n) {
  Json out = Json::object();
  for (const auto& [k, c] : n.children) {
    if (c.Empty()) continue;
    Json cj = ToJsonNode(c);
    if (c.member && !cj.empty()) cj["."] = Json::object();
    out[k] = std::move(cj);
  }
  return out;
}

void IterateNode(const Node& n, FieldSet::Path& path, const std::function<void(const FieldSet::Path&)>& fn) {
  if (n.member && !path.empty()) fn(path);
  for (const auto& [k, c] : n.children) {
    path.push_back(k);
    IterateNode(c, path, fn);
    path.pop_back();
  }
}

Node UnionNode(const Node& a, const Node& b) {
  Node out = a;
  out.member = a.member || b.member;
  for (const auto& [k, c] : b.children) {
    auto it = out.children.find(k);
    if (it == out.children.end()) out.children.emplace(k, c);
    else it->second = UnionNode(it->second, c);
  }
  return out;
}

Node DifferenceNode(const Node& a, const Node& b) {
  Node out;
  out.member = a.member && !b.member;
  for (const auto& [k, c] : a.children) {
    auto it = b.children.find(k);
    Node d = it == b.children.end() ? c : DifferenceNode(c, it->second);
    if (!d.Empty()) out.children.emplace(k, std::move(d));
  }
  return out;
}

Node IntersectionNode(const Node& a, const Node& b) {
  Node out;
  out.member = a.member && b.member;
  for (const auto& [k, c] : a.children) {
    auto it = b.children.find(k);
    if (it == b.children.end()) continue;
    Node d = IntersectionNode(c, it->second);
    if (!d.Empty()) out.children.emplace(k, std::move(d));
  }
  return out;
}

// value.ToString as upstream prints key and set values: strings quoted, the rest as JSON.
std::string ValueString(const Json& v) { return v.dump(); }

}  // namespace

bool FieldSet::Node::Empty() const {
  if (member) return false;
  for (const auto& [k, c] : children)
    if (!c.Empty()) return false;
  return true;
}

Result<FieldSet> FieldSet::FromFieldsV1(const Json& fields) {
  FieldSet s;
  if (fields.is_null()) return s;
  RETURN_IF_ERROR(FromJsonNode(fields, &s.root_, 0));
  s.root_.member = false;  // the root itself is never a path
  return s;
}

Json FieldSet::ToFieldsV1() const { return ToJsonNode(root_); }

void FieldSet::Insert(const Path& path) {
  if (path.empty()) return;
  Node* n = &root_;
  for (const auto& pe : path) n = &n->children[pe];
  n->member = true;
}

bool FieldSet::Has(const Path& path) const {
  const Node* n = &root_;
  for (const auto& pe : path) {
    auto it = n->children.find(pe);
    if (it == n->children.end()) return false;
    n = &it->second;
  }
  return n->member && !path.empty();
}

void FieldSet::Iterate(const std::function<void(const Path&)>& fn) const {
  Path p;
  IterateNode(root_, p, fn);
}

size_t FieldSet::Size() const {
  size_t n = 0;
  Iterate([&](const Path&) { ++n; });
  return n;
}

FieldSet FieldSet::Union(const FieldSet& o) const {
  FieldSet s;
  s.root_ = UnionNode(root_, o.root_);
  return s;
}

FieldSet FieldSet::Difference(const FieldSet& o) const {
  FieldSet s;
  s.root_ = DifferenceNode(root_, o.root_);
  return s;
}

FieldSet FieldSet::Intersection(const FieldSet& o) const {
  FieldSet s;
  s.root_ = IntersectionNode(root_, o.root_);
  return s;
}

std::string FieldElement(std::string_view name) { return "f:" + std::string(name); }

std::string KeyElement(const Json& key_fields) { return "k:" + key_fields.dump(); }

std::string ValueElement(const Json& value) { return "v:" + value.dump(); }

std::string PathString(const FieldSet::Path& path) {
  std::string out;
  for (const auto& pe : path) {
    std::string_view rest = std::string_view(pe).substr(2);
    switch (pe[0]) {
      case 'f':
        out += ".";
        out += rest;
        break;
      case 'k': {
        Json keys = Json::parse(rest, nullptr, /*allow_exceptions=*/false);
        if (!keys.is_object()) {
          out += "[" + std::string(rest) + "]";
          break;
        }
        out += "[";
        bool first = true;
        for (auto it = keys.begin(); it != keys.end(); ++it) {
          if (!first) out += ",";
          first = false;
          out += it.key() + "=" + ValueString(it.value());
        }
        out += "]";
        break;
      }
      case 'v': {
        Json v = Json::parse(rest, nullptr, false);
        out += "[=" + (v.is_discarded() ? std::string(rest) : ValueString(v)) + "]";
        break;
      }
      default:
        out += "[" + std::string(rest) + "]";
    }
  }
  return out;
}

}  // namespace tug::api::apply
