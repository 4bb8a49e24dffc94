// Allocator hints for threads that build long-lived cached data.
//
// The caches of `tug server` (the watch caches' snapshots, the informers' parsed objects) are
// built on a few threads of their own, while request and watch threads allocate and free short-
// lived buffers all the time. Sharing allocator arenas, the two kinds interleave in the same
// pages, and when a cached object is replaced its old pages stay partly occupied by short-lived
// neighbours' survivors: at 30,000 pods a fifth of the active heap was such holes. With
// jemalloc (the tug binary links it, cmd/tug/allocator.cc), a thread that calls
// UseCacheArena() allocates from one arena reserved for cache-building threads instead.
//
// Without jemalloc (tests, benches linked with glibc) this does nothing.
// Thread-safety: call from the thread concerned; cheap after its first call on that thread.
#pragma once

namespace tug {

// Makes the calling thread allocate from the cache arena (created on first use). Returns
// whether it does (false when the allocator has no arenas to choose).
bool UseCacheArena();

}  // namespace tug
