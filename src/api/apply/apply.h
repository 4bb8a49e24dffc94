// Server-side apply and managed-fields tracking (issue 4, item 1).
//
// Every object carries metadata.managedFields: one entry per field manager, each with the set
// of fields that manager owns (FieldsV1, see field_set.h). Two kinds of writers:
//   - Apply (PATCH application/apply-patch+yaml): the body is the manager's full intent. Apply()
//     merges it into the live object by the schema's structure (api/apply/typed.h), removes
//     fields this manager applied before but no longer applies (unless another manager owns
//     them), and fails with 409 Conflict when the intent changes a field another manager owns
//     (unless forced, which transfers ownership). Same value = shared ownership.
//   - Update (create, PUT, other patches, subresources): UpdateManagedFields() gives the writer
//     the fields it added or changed and takes them away from everyone else.
// Client-side apply interplay (manager "kubectl"): an object created by client-side
// `kubectl apply` is owned by "kubectl-client-side-apply" (operation Update) and carries the
// kubectl.kubernetes.io/last-applied-configuration annotation. The first server-side apply by
// "kubectl" takes over that manager's fields (as kubectl's own csaupgrade does), so it neither
// conflicts with them nor leaves fields removed from the manifest behind; and while the
// annotation exists, every "kubectl" apply rewrites it to the applied configuration.
//
// Fields never tracked: apiVersion, kind, and metadata name, namespace, uid, resourceVersion,
// generation, creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds, selfLink,
// managedFields; `status` on the main resource of kinds with a status subresource; everything
// except `status` for the status subresource.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <string>
#include <string_view>

#include "api/schema.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::api::apply {

inline constexpr std::string_view kLastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";
inline constexpr std::string_view kClientSideApplyManager = "kubectl-client-side-apply";
inline constexpr std::string_view kKubectlApplyManager = "kubectl";

struct ApplyOptions {
  std::string name;         // the object name from the URL; "" = not checked
  std::string subresource;  // "" or "status" (kubectl apply --subresource=status)
};

struct ApplyResult {
  // The live object (or, for a create, the configuration) with the configuration applied and
  // metadata.managedFields rewritten. Not yet defaulted or validated: the caller runs the
  // kind's strategy on it as for any update, then keeps `managed_fields` on the stored object.
  Json object;
  Json managed_fields;  // == object["metadata"]["managedFields"]
  bool created = false; // live was null
};

// Applies `applied_config` (the decoded apply-patch body) as `manager`.
// Errors: BadRequest for a body that is not a full object intent (not an object; apiVersion or
// kind missing or not this resource's; metadata.name missing or not opts.name; managedFields
// set); Conflict (409, reason Conflict, causes FieldManagerConflict) when not forced and the
// intent changes fields owned by other managers — message and causes as upstream.
Result<ApplyResult> Apply(const Registry& registry, const ResourceDef& def, const Json* live,
                          const Json& applied_config, std::string manager, bool force, const std::string& now,
                          const ApplyOptions& opts = {});

// Records a non-apply write (operation "Update") of `new_obj` replacing `old` (null for a
// create) by `manager`: rewrites new_obj.metadata.managedFields. The base entries are the ones
// new_obj carries when non-empty and subresource is "" (a client may edit managedFields, as
// kubectl's client-side->server-side upgrade does with a JSON patch), else old's.
void UpdateManagedFields(const Registry& registry, const ResourceDef& def, const Json* old, Json& new_obj,
                         const std::string& manager, const std::string& operation, const std::string& subresource,
                         const std::string& now);

// The default manager name for a request without ?fieldManager=: the User-Agent up to its
// first '/', at most 128 bytes (upstream's prefix rule: "kubectl/v1.33.0 (...)" -> "kubectl").
std::string ManagerFromUserAgent(std::string_view user_agent);

}  // namespace tug::api::apply
