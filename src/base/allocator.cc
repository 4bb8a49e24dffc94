#include "base/allocator.h"

#include <climits>
#include <cstddef>

// jemalloc's control interface, present only when the process links jemalloc.
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen)
    __attribute__((weak));

namespace tug {

namespace {

unsigned NewArena() {
  unsigned idx = 0;
  size_t len = sizeof idx;
  if (mallctl("arenas.create", &idx, &len, nullptr, 0) != 0) return UINT_MAX;
  return idx;
}

// The arena of a kind, created on first use; UINT_MAX when there is none.
unsigned ArenaOf(ArenaKind kind) {
  if (mallctl == nullptr) return UINT_MAX;
  static const unsigned cache = NewArena();
  static const unsigned scratch = NewArena();
  return kind == ArenaKind::kCache ? cache : scratch;
}

}  // namespace

bool UseArena(ArenaKind kind) {
  thread_local int current = -1;  // the kind this thread allocates from (-1: its own arena)
  if (current == static_cast<int>(kind)) return true;
  unsigned arena = ArenaOf(kind);
  if (arena == UINT_MAX || mallctl("thread.arena", nullptr, nullptr, &arena, sizeof arena) != 0) return false;
  FlushThreadCache();  // its cached blocks are the old arena's
  current = static_cast<int>(kind);
  return true;
}

void FlushThreadCache() {
  if (mallctl != nullptr) mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
}

ArenaScope::ArenaScope(ArenaKind kind) {
  unsigned arena = ArenaOf(kind);
  size_t len = sizeof previous_;
  if (arena == UINT_MAX || mallctl("thread.arena", &previous_, &len, &arena, sizeof arena) != 0) return;
  switched_ = previous_ != arena;
  // The thread cache serves small allocations from blocks of any arena (freed ones, or ones
  // filled from the old arena): empty it, or they would not come from the new one.
  if (switched_) FlushThreadCache();
}

ArenaScope::~ArenaScope() {
  if (!switched_) return;
  mallctl("thread.arena", nullptr, nullptr, &previous_, sizeof previous_);
  FlushThreadCache();
}

}  // namespace tug
