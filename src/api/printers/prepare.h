// api::printers — what a create, an update and a status update may change, per built-in kind,
// as the upstream registry strategies do (PrepareForCreate / PrepareForUpdate of
// pkg/registry/<group>/<kind>/strategy.go). Generation bumping is the generic API server's.
//
// Thread-safety: stateless and reentrant.
#pragma once

#include <string>
#include <string_view>

#include "base/json.h"

namespace tug::api::printers {

// Whether upstream serves a status subresource for the kind (main-resource updates then keep
// the old status).
bool HasStatusSubresource(std::string_view group, std::string_view kind);

void PrepareForCreate(std::string_view group, std::string_view kind, Json& obj);
void PrepareForUpdate(std::string_view group, std::string_view kind, Json& obj, const Json& old);
// The result keeps the old object except status and the metadata a status write may change
// (labels, annotations, finalizers, ownerReferences, managedFields, resourceVersion), minus
// per-kind exceptions (apps workloads keep old labels; pods keep old ownerReferences).
void PrepareForStatusUpdate(std::string_view group, std::string_view kind, Json& obj, const Json& old);

// Upstream qos.GetPodQOS: "Guaranteed", "Burstable" or "BestEffort" from cpu/memory requests
// and limits of all containers and init containers (a limit without a request counts as a
// request of the same size, as defaulting makes it).
std::string PodQOSClass(const Json& pod);

}  // namespace tug::api::printers
