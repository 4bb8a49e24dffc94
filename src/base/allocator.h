// Allocator hints: which threads allocate from which jemalloc arena.
//
// The caches of `tug server` (the watch caches' snapshots, the informers' cached objects) are
// built on a few threads of their own, while request and watch threads allocate and free short-
// lived buffers all the time. Sharing allocator arenas, the two kinds interleave in the same
// pages, and when a cached object is replaced its old pages stay partly occupied by short-lived
// neighbours' survivors: at 30,000 pods a fifth of the active heap was such holes. With
// jemalloc (the tug binary links it, cmd/tug/allocator.cc), a thread that calls
// UseArena(ArenaKind::kCache) allocates from one arena reserved for cache data instead.
// The opposite case has an arena too: parsed trees that live for seconds in large numbers (an
// informer's watch events, the trees a compact cache parses on demand) are made in the scratch
// arena, so when they are freed their pages empty out instead of staying pinned by the
// long-lived objects other threads made beside them.
//
// Without jemalloc (tests, benches linked with glibc) this does nothing.
// Thread-safety: call from the thread concerned; cheap after its first call on that thread.
#pragma once

namespace tug {

enum class ArenaKind {
  kCache,    // long-lived cache data
  kScratch,  // many short-lived trees
};

// jemalloc's thread cache hands out blocks of any arena, so a switch of arena (UseArena,
// ArenaScope) also empties it.
//
// Makes the calling thread allocate from the arena of that kind (created on first use).
// Returns whether it does (false when the allocator has no arenas to choose).
bool UseArena(ArenaKind kind);
inline bool UseCacheArena() { return UseArena(ArenaKind::kCache); }

// Returns the blocks the calling thread freed and keeps for reuse (jemalloc's thread cache,
// which does not sort them by arena) to their arenas. For a thread that frees many scratch
// trees and then allocates long-lived data.
void FlushThreadCache();

// Makes the calling thread allocate from the arena of that kind while it lives, then from the
// arena it used before: for a thread that makes some long-lived cache data among short-lived
// work (an informer's dispatch thread encodes the objects a compact cache keeps, then runs
// handlers), or a few parsed trees among long-lived data.
class ArenaScope {
 public:
  explicit ArenaScope(ArenaKind kind);
  ~ArenaScope();
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;

 private:
  unsigned previous_ = 0;
  bool switched_ = false;
};

}  // namespace tug
