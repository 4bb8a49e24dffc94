// jemalloc's settings for the tug binary (read by jemalloc at its first allocation).
//
// - background_thread: a jemalloc thread returns freed pages to the kernel on its own, so an
//   idle process shrinks too (not only one that keeps allocating).
// - dirty_decay_ms:3000, muzzy_decay_ms:0: freed pages go back to the kernel within about 3 s
//   (MADV_DONTNEED; no "muzzy" stage of MADV_FREE pages, which still count as resident until
//   the kernel needs them). A burst of work (a re-list, a rollout of thousands of pods) then
//   costs resident memory only while it lasts.
// - narenas:4: two per core of the machines tug targets; fewer arenas hold less idle memory.
// - tcache_nslots_small_max:16, tcache_nslots_large:4: smaller per-thread caches. tug server
//   has ~200 threads, and jemalloc's default per-thread caches held 34.6 MB of the idle
//   server's RSS against 30.6 MB with these (glibc: 26.7 MB); scheduler_bench showed no
//   consistent CPU difference (2 interleaved pairs: 459/444 vs 377/478 µs per pod).
// A user can still override any of these with MALLOC_CONF.
extern "C" {
// NOLINTNEXTLINE: the name is jemalloc's.
const char* malloc_conf =
    "background_thread:true,dirty_decay_ms:3000,muzzy_decay_ms:0,narenas:4,"
    "tcache_nslots_small_max:16,tcache_nslots_large:4";
}
