// ValidateObjectMeta (declared in api/strategy.h) and ValidateObjectMetaUpdate, as upstream
// apimachinery pkg/api/validation/objectmeta.go.
#include <set>
#include <string>

#include "api/strategy.h"
#include "api/validation/helpers.h"
#include "api/validation/validation.h"

namespace tug::api {

using validation::ArrAt;
using validation::ObjAt;
using validation::StrOr;

FieldErrors ValidateObjectMeta(const Json& obj, bool namespaced, std::string_view name_check) {
  FieldErrors errs;
  const Json& meta = ObjAt(obj, "metadata");
  std::string generate_name = StrOr(Find(meta, "generateName"));
  std::string name = StrOr(Find(meta, "name"));
  std::string ns = StrOr(Find(meta, "namespace"));
  if (!generate_name.empty()) {
    for (std::string& m : validation::CheckName(name_check, generate_name, true))
      errs.push_back(FieldError::Invalid("metadata.generateName", generate_name, m));
  }
  if (name.empty()) {
    errs.push_back(FieldError::Required("metadata.name", "name or generateName is required"));
  } else {
    for (std::string& m : validation::CheckName(name_check, name, false))
      errs.push_back(FieldError::Invalid("metadata.name", name, m));
  }
  if (namespaced) {
    if (ns.empty()) {
      errs.push_back(FieldError::Required("metadata.namespace"));
    } else {
      for (std::string& m : validation::IsDNS1123Label(ns)) errs.push_back(FieldError::Invalid("metadata.namespace", ns, m));
    }
  } else if (!ns.empty()) {
    errs.push_back(FieldError::Forbidden("metadata.namespace", "not allowed on this type"));
  }
  validation::ValidateNonnegative(Find(meta, "generation"), "metadata.generation", errs);
  validation::ValidateLabels(ObjAt(meta, "labels"), "metadata.labels", errs);
  validation::ValidateAnnotations(ObjAt(meta, "annotations"), "metadata.annotations", errs);

  const Json& owners = ArrAt(meta, "ownerReferences");
  std::string first_controller;
  for (const Json& ref : owners) {
    std::string api_version = StrOr(Find(ref, "apiVersion"));
    std::string kind = StrOr(Find(ref, "kind"));
    std::string version = api_version.substr(api_version.find('/') == std::string::npos ? 0 : api_version.find('/') + 1);
    if (version.empty())
      errs.push_back(FieldError::Invalid("metadata.ownerReferences.apiVersion", api_version, "version must not be empty"));
    if (kind.empty()) errs.push_back(FieldError::Invalid("metadata.ownerReferences.kind", kind, "kind must not be empty"));
    if (StrOr(Find(ref, "name")).empty())
      errs.push_back(FieldError::Invalid("metadata.ownerReferences.name", "", "name must not be empty"));
    if (StrOr(Find(ref, "uid")).empty())
      errs.push_back(FieldError::Invalid("metadata.ownerReferences.uid", "", "uid must not be empty"));
    const Json* controller = Find(ref, "controller");
    if (controller != nullptr && controller->is_boolean() && controller->get<bool>()) {
      std::string cur = kind + "/" + StrOr(Find(ref, "name"));
      if (!first_controller.empty()) {
        errs.push_back(FieldError::Invalid(
            "metadata.ownerReferences", owners,
            "Only one reference can have Controller set to true. Found \"true\" in references for " + first_controller +
                " and " + cur));
      } else {
        first_controller = cur;
      }
    }
  }
  bool orphan = false, foreground = false;
  for (const Json& f : ArrAt(meta, "finalizers")) {
    std::string s = StrOr(&f);
    for (std::string& m : validation::IsQualifiedName(s)) errs.push_back(FieldError::Invalid("metadata.finalizers", s, m));
    if (s == "orphan") orphan = true;
    if (s == "foregroundDeletion") foreground = true;
  }
  if (orphan && foreground) {
    errs.push_back(FieldError::Invalid("metadata.finalizers", ArrAt(meta, "finalizers"),
                                       "finalizer orphan and foregroundDeletion cannot be both set"));
  }
  return errs;
}

namespace validation {

FieldErrors ValidateObjectMetaUpdate(const Json& obj, const Json& old) {
  FieldErrors errs;
  const Json& meta = ObjAt(obj, "metadata");
  const Json& old_meta = ObjAt(old, "metadata");
  if (Find(old_meta, "deletionTimestamp") != nullptr && !Find(old_meta, "deletionTimestamp")->is_null()) {
    std::set<std::string> before;
    for (const Json& f : ArrAt(old_meta, "finalizers")) before.insert(StrOr(&f));
    std::vector<std::string> extra;
    std::set<std::string> extra_set;
    for (const Json& f : ArrAt(meta, "finalizers"))
      if (!before.count(StrOr(&f))) extra_set.insert(StrOr(&f));
    if (!extra_set.empty()) {
      Json list = Json::array();
      for (const std::string& s : extra_set) list.push_back(s);
      errs.push_back(FieldError::Forbidden(
          "metadata.finalizers",
          "no new finalizers can be added if the object is being deleted, found new finalizers " + GoValue(list)));
    }
  }
  long long gen = IntOr(Find(meta, "generation"), 0), old_gen = IntOr(Find(old_meta, "generation"), 0);
  if (gen < old_gen) errs.push_back(FieldError::Invalid("metadata.generation", gen, "must not be decremented"));
  for (const char* f : {"name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
    const Json* n = Find(meta, f);
    const Json* o = Find(old_meta, f);
    // A missing field and an explicit null are the same value.
    if (n != nullptr && n->is_null()) n = nullptr;
    if (o != nullptr && o->is_null()) o = nullptr;
    // uid/creationTimestamp are server-set: a body that omits them keeps the old ones.
    if (n == nullptr && (std::string_view(f) == "uid" || std::string_view(f) == "creationTimestamp")) continue;
    ValidateImmutable(n, o, std::string("metadata.") + f, errs);
  }
  ValidateLabels(ObjAt(meta, "labels"), "metadata.labels", errs);
  ValidateAnnotations(ObjAt(meta, "annotations"), "metadata.annotations", errs);
  return errs;
}

}  // namespace validation
}  // namespace tug::api
