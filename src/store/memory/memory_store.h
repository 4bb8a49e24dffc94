// store::NewMemoryStore — an in-process, non-durable Store (tests, `tug up` experiments).
//
// Keeps the current state and the full history (every revision since the last Compact) in
// memory, so List at a past revision and Watch from a past revision work exactly as with the
// durable backends. Nothing survives the process.
//
// Beyond store.h: an empty key or a null value is BadRequest; a watcher whose prefix saw no
// events still gets empty batches carrying the new progress revision (coalesced).
//
// Ownership: the caller owns the returned store; WatchHandles may outlive it.
// Thread-safety: fully thread-safe (see store.h). Writes are serialized by one mutex; reads
// share a reader lock; watch callbacks run on one store-owned thread.
#pragma once

#include "store/store.h"

namespace tug::store {

StorePtr NewMemoryStore();

}  // namespace tug::store
