// jemalloc's settings for the tug binary (read by jemalloc at its first allocation).
//
// - background_thread: a jemalloc thread returns freed pages to the kernel on its own, so an
//   idle process shrinks too (not only one that keeps allocating).
// - dirty_decay_ms / muzzy_decay_ms: freed pages go back within about 5 s. A burst of work
//   (a re-list, a rollout of thousands of pods) then costs resident memory only while it lasts.
// - narenas:4: two per core of the machines tug targets; fewer arenas hold less idle memory.
// A user can still override any of these with MALLOC_CONF.
extern "C" {
// NOLINTNEXTLINE: the name is jemalloc's.
const char* malloc_conf = "background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:5000,narenas:4";
}
