// Garbage collector, as upstream's pkg/controller/garbagecollector, level-triggered over shared
// informers instead of a separately maintained graph: the ownerReferences of every watched object
// are indexed by owner uid in its informer, which is the graph.
//
// - A dependent whose owners are all gone (404, or a different uid under that name) is deleted
//   (Background, or with the policy its own finalizers ask for). References to absent owners next
//   to a live one are removed from it.
// - An owner being deleted with the `orphan` finalizer: its reference is removed from every
//   dependent, then the finalizer.
// - An owner being deleted with the `foregroundDeletion` finalizer: every dependent is deleted
//   (Foreground where it is itself an owner waiting on others); once no dependent with
//   blockOwnerDeletion: true is left, the finalizer is removed and the API server finishes the
//   delete.
//
// Which resources are watched: kWatched in garbage_collector.cc (the built-in kinds that carry
// ownerReferences in practice; resolved through api::Registry), and the custom resources of every
// established CustomResourceDefinition (a CRD informer adds them as they appear; upstream finds
// them by periodic discovery). Owners of other kinds are looked up with a live GET (their kind
// resolved through the registry or the CRDs), as upstream does for owners missing from its graph;
// an owner of a kind nobody serves is never collected on a guess.
//
// Ownership and threading: see framework/controller.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "controllers/framework/controller.h"

namespace tug::controllers::garbagecollector {

Result<std::unique_ptr<framework::Controller>> NewGarbageCollector(const framework::ControllerContext& ctx);

// The collections the collector watches ("group/plural", core = "/pods").
std::vector<std::string> WatchedResources();

}  // namespace tug::controllers::garbagecollector
