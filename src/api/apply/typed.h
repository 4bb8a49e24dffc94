// Schema-aware walks over JSON objects for server-side apply (internal to api/apply).
//
// The shape of every node comes from the api::TypeDef schema, following upstream's
// structured-merge rules:
//   - struct fields and map entries are addressed `f:<name>`; a struct or map marked atomic
//     (`+structType=atomic`, `+mapType=atomic`) is one leaf;
//   - lists: `x-kubernetes-list-type` map (items by their key fields, `k:{...}`), set (items by
//     value, `v:...`) or atomic (one leaf); without a list type, patchStrategy merge makes a map
//     list keyed by patchMergeKey (or a set when there is no key), anything else is atomic;
//   - fields the schema does not know and free-form JSON (RawExtension, JSON) are deduced:
//     objects are granular maps, lists are atomic.
//
// Thread-safety: pure functions.
#pragma once

#include "api/apply/field_set.h"
#include "api/schema.h"
#include "base/json.h"

namespace tug::api::apply {

// Every leaf and list item of `obj` (upstream's ToFieldSet): scalars, atomic values, empty or
// null values and map entries are members; list items are members and their fields too.
// Members of `ignore` (with their subtrees) are skipped.
FieldSet ToFieldSet(const TypeDef* root, const Json& obj, const FieldSet* ignore = nullptr);

struct Comparison {
  FieldSet added;     // in rhs, not in lhs
  FieldSet modified;  // leaves in both with different values
  FieldSet removed;   // in lhs, not in rhs
};
// Compares two versions of an object (either may be null = absent), skipping members of
// `ignore` and their subtrees.
Comparison Compare(const TypeDef* root, const Json* lhs, const Json* rhs, const FieldSet* ignore = nullptr);

// Merges `rhs` (an applied configuration) into `lhs` (the live object): granular structs and
// maps merge by key, map lists by item key, sets by value; leaves and atomic values take rhs.
// A null in rhs removes the field.
Json Merge(const TypeDef* root, Json lhs, const Json& rhs);

// Removes from `obj` every member of `remove` (with its subtree); afterwards an object or list
// at a member path of `drop_if_empty` that became empty is removed too. The top-level
// "metadata" object is never removed.
void RemoveItems(const TypeDef* root, Json& obj, const FieldSet& remove, const FieldSet& drop_if_empty);

// The set plus every named struct field on the way to a member (upstream's
// EnsureNamedFieldsAreMembers): "a.b.c" also owns "a" (a named field) but not "a.b" when b is
// a map key.
FieldSet EnsureNamedFieldsAreMembers(const TypeDef* root, const FieldSet& s);

}  // namespace tug::api::apply
