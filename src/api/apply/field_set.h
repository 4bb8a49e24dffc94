// api::apply::FieldSet — a set of field paths, the unit of ownership in server-side apply.
//
// A path is a sequence of path elements, each kept in its `fieldsV1` spelling:
//   f:<name>          a field of a struct or a key of a map        ("f:spec", "f:app")
//   k:{"name":"x"}    an item of a map list, by its key fields     (keys sorted, compact JSON)
//   v:"value"         an item of a set list, by its value          (compact JSON)
//   i:<n>             an item of a list by index (only read from other writers' fieldsV1)
// A set is a tree of such elements; a node is a *member* when the path ending there is in the
// set (as opposed to being only the prefix of deeper members). The JSON form is upstream's
// FieldsV1: a member with no children is `{}`, a member with children carries `".": {}`, a
// non-member node carries only its children.
//
// Ownership: values (copyable trees). Thread-safety: none needed (no shared state).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace tug::api::apply {

class FieldSet {
 public:
  struct Node {
    bool member = false;
    std::map<std::string, Node, std::less<>> children;
    bool Empty() const;  // no member anywhere in this subtree
    bool operator==(const Node&) const = default;
  };
  using Path = std::vector<std::string>;

  FieldSet() = default;

  // Parses a FieldsV1 document. Errors: BadRequest when it is not a tree of objects.
  static Result<FieldSet> FromFieldsV1(const Json& fields);
  // The FieldsV1 document of this set (an empty set gives `{}`).
  Json ToFieldsV1() const;

  bool Empty() const { return root_.Empty(); }
  void Insert(const Path& path);
  bool Has(const Path& path) const;
  // All member paths, in sorted order.
  void Iterate(const std::function<void(const Path&)>& fn) const;
  size_t Size() const;

  FieldSet Union(const FieldSet& o) const;
  FieldSet Difference(const FieldSet& o) const;    // members of this not members of o
  FieldSet Intersection(const FieldSet& o) const;  // members of both

  const Node& root() const { return root_; }
  Node& mutable_root() { return root_; }
  bool operator==(const FieldSet& o) const { return root_ == o.root_; }

 private:
  Node root_;
};

// Upstream's printed form of a path, as conflicts report it:
// ".spec.template.spec.containers[name=\"nginx\"].image", "[=\"value\"]", "[0]".
std::string PathString(const FieldSet::Path& path);

// Path element spellings.
std::string FieldElement(std::string_view name);   // "f:name"
std::string KeyElement(const Json& key_fields);    // "k:{...}" (object keys are sorted)
std::string ValueElement(const Json& value);       // "v:..."

}  // namespace tug::api::apply
