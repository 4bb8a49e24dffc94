// Conversion between a served API version and the version objects are stored in.
//
// tug stores every object in one representation per resource (ResourceDef::storage_group /
// storage_version) and serves older versions by converting on the way in and out, as upstream's
// conversion functions do. Served-only versions today: autoscaling/v1 HorizontalPodAutoscaler
// (stored as autoscaling/v2) and the versions Kubernetes removed but tug keeps serving for old
// manifests: apps/v1beta1, apps/v1beta2, extensions/v1beta1, batch/v1beta1, policy/v1beta1.
//
//   DefaultServed(res, obj);           // the old version's own defaults (e.g. selector from labels)
//   RETURN_IF_ERROR(ToStorage(res, obj));   // now a storage-version object
//   ...store...
//   RETURN_IF_ERROR(FromStorage(res, obj)); // back in the version the client asked for
//
// Conversions keep fields they do not know (they move only what differs between versions), so
// unknown fields survive a round trip. Conversions go through JSON documents only.
// Stateless; thread-safe.
#pragma once

#include "api/schema.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::api::conversion {

// True when objects of `res` are served in a representation other than the stored one.
inline bool NeedsConversion(const ResourceDef& res) { return !res.IsStorageVersion(); }

// The storage-version ResourceDef of `res` (itself when it is the storage version); null when the
// registry does not serve the storage version.
const ResourceDef* StorageResource(const Registry& reg, const ResourceDef& res);

// Applies the defaults the served (old) version has and the storage version lacks; a no-op for
// storage versions. Called on request bodies before ToStorage.
void DefaultServed(const ResourceDef& res, Json& obj);

// Converts obj from res's version to the storage version, setting apiVersion and kind.
// Invalid when a field cannot be represented (e.g. a malformed servicePort).
Status ToStorage(const ResourceDef& res, Json& obj);
// Converts a stored object to res's version, setting apiVersion and kind.
Status FromStorage(const ResourceDef& res, Json& obj);

// Scale subresource bodies: `autoscaling/v1 Scale` (what tug computes) to the Scale kind of an
// old group-version (apps/v1beta1, apps/v1beta2, extensions/v1beta1) and back.
void ScaleFromAutoscaling(const GroupVersionKind& want, Json& scale);
void ScaleToAutoscaling(Json& scale);

}  // namespace tug::api::conversion
