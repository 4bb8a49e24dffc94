// Owner references: the controller ref of an object, and the adopt/release protocol upstream's
// ControllerRefManager implements (claim orphans that match the selector, release owned objects
// that no longer match). All writes are strategic-merge patches of metadata.ownerReferences
// (merge key uid) that carry metadata.uid, so they never touch another field and fail rather than
// land on a re-created object of the same name.
//
// Thread-safety: free functions; the Client is safe for concurrent use.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "client/client.h"
#include "client/informer.h"

namespace tug::controllers::framework {

// The ownerReferences entry with controller: true, or null.
const Json* GetControllerOf(const Json& obj);
// True when obj's controller ref points at the owner's uid.
bool IsControlledBy(const Json& obj, const Json& owner);
// {apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true} for `owner`.
Json MakeControllerRef(const Json& owner, std::string_view api_version, std::string_view kind);
// True when metadata.deletionTimestamp is set.
bool IsBeingDeleted(const Json& obj);

// Adds `controller_ref` to obj's ownerReferences (adoption). obj_resource is obj's collection.
Status AdoptObject(const client::Client& c, const client::Resource& obj_resource, const Json& obj,
                   const Json& controller_ref);
// Removes the reference to owner_uid from obj's ownerReferences (release). NotFound (the object
// is gone) counts as success.
Status ReleaseObject(const client::Client& c, const client::Resource& obj_resource, const Json& obj,
                     std::string_view owner_uid);

// Upstream's ClaimObjects for one owner over candidate objects (from an informer, typically every
// object of the kind in the owner's namespace):
// - controlled by the owner: kept if the selector still matches and the owner is not being
//   deleted, else released;
// - controlled by someone else: ignored;
// - orphan, matching, not being deleted, and the owner not being deleted: adopted — but only
//   after `can_adopt()` (a fresh GET of the owner: same uid, no deletionTimestamp) says yes, once
//   per claim; if it fails, no adoption happens in this call.
// Returns the objects the owner controls after the claim. Errors from patches are returned after
// all candidates were considered (the first one), together with nothing — callers requeue.
struct ClaimResult {
  std::vector<client::ObjectPtr> owned;
  Status status;  // first adopt/release error, OK otherwise
};
ClaimResult ClaimObjects(const client::Client& c, const client::Resource& obj_resource, const Json& owner,
                         const Json& controller_ref, const client::LabelSelector& selector,
                         const std::vector<client::ObjectPtr>& candidates,
                         const std::function<Status()>& can_adopt);

// A `can_adopt` for ClaimObjects: GETs the owner fresh from the API server and checks that its
// uid matches and it is not being deleted (upstream's RecheckDeletionTimestamp).
std::function<Status()> RecheckOwner(const client::Client& c, const client::Resource& owner_resource,
                                     const Json& owner);

// Adds an index to `pods` (any informer) named "<prefix>/controller-uid": an object's value is its
// controller ref's uid, or "orphan/<namespace>" when it has none. Owned objects are then
// ByIndex(name, uid) and adoption candidates ByIndex(name, OrphanIndexValue(ns)). Each
// controller uses its own prefix so shared informers never get the same index name twice.
// Call before the factory starts. Returns the index name.
std::string AddControllerUidIndex(client::Informer& informer, std::string_view prefix);
std::string OrphanIndexValue(std::string_view ns);
// ClaimObjects' candidates from such an index: the objects `owner` controls and the orphans in
// its namespace (not every object of the namespace: with the control loops' compact cache each
// listed object is parsed).
std::vector<client::ObjectPtr> ClaimCandidates(const client::Informer& informer, std::string_view index,
                                               const Json& owner);

}  // namespace tug::controllers::framework
