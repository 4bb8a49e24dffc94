#include "base/allocator.h"

#include <climits>
#include <cstddef>

// jemalloc's control interface, present only when the process links jemalloc.
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen)
    __attribute__((weak));

namespace tug {

namespace {

unsigned CacheArena() {
  static const unsigned arena = [] {
    unsigned idx = 0;
    size_t len = sizeof idx;
    if (mallctl("arenas.create", &idx, &len, nullptr, 0) != 0) return UINT_MAX;
    return idx;
  }();
  return arena;
}

}  // namespace

bool UseCacheArena() {
  thread_local int state = 0;  // 0: not tried, 1: uses it, 2: cannot
  if (state == 0) {
    state = 2;
    if (mallctl != nullptr) {
      unsigned arena = CacheArena();
      if (arena != UINT_MAX && mallctl("thread.arena", nullptr, nullptr, &arena, sizeof arena) == 0) state = 1;
    }
  }
  return state == 1;
}

}  // namespace tug
