// store::internal::Engine — the in-memory half shared by every Store backend.
//
// Purpose: holds the current state of every key (sorted map of immutable KeyValue snapshots,
// or of the packed copies the watch caches share with it),
// a window of recent history (one Record per revision, with what the key looked like before),
// the current and compacted revisions, and the watch fan-out (WatchHub). Backends decide
// *when* a write is committed (memory: at once; SQLite: after the group commit's fsync) and
// then call Apply() with the committed records; readers (Get, List, Count, List at a recent
// past revision, Watch) are served entirely from here.
//
// History window: Records for revisions (window_start, current] are kept. A past-revision
// List/Watch at or above window_start is answered from memory by undoing/replaying records;
// below it the backend must consult its durable log (Engine reports that with
// `needs_log = true`). The memory backend keeps an unbounded window (trimmed by Compact).
//
// Ownership: the Engine owns its hub; WatchHandles share the hub so a handle that outlives the
// store is still safe to destroy.
//
// Thread-safety: all methods are thread-safe. Writers must be serialized by the caller (one
// writer thread / one writer mutex), because BuildRecord() checks preconditions against the
// state that Apply() later changes. Lock order: Engine::mu_ -> WatchHub::mu_. Watch callbacks
// run on the hub's own thread, never with a lock held.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/status.h"
#include "store/store.h"

namespace tug::store::internal {

// One committed revision.
struct Record {
  Event ev;                          // ev.kv.mod_revision is the revision of this record
  int64_t prev_create_revision = 0;  // the key's create/mod revision before it (0: absent)
  int64_t prev_mod_revision = 0;
  int64_t revision() const { return ev.kv.mod_revision; }
};

// A requested mutation, before preconditions are checked.
enum class OpType { kCreate, kUpdate, kDelete };
struct Op {
  OpType type = OpType::kCreate;
  std::string key;
  Value value;                        // create/update
  int64_t expected_mod_revision = 0;  // update/delete; 0 = unconditional
};

// Checks an op's preconditions against `existing` (the key's state just before it; null if
// absent) and builds the record it would commit at `revision`. Pure function.
Result<Record> BuildRecord(const Op& op, const KeyValue* existing, int64_t revision);

bool HasPrefix(std::string_view key, std::string_view prefix);

// Fan-out of committed events to watchers; one dispatch thread owned by the hub. A watcher
// whose progress advanced without matching events gets an empty batch carrying the new
// progress revision (coalesced: at most one callback per watcher per dispatch round), so a
// watch cache on one prefix still learns the store's current revision.
class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  WatchHub();
  ~WatchHub();
  void Stop();  // joins the dispatch thread; later Publish/Register are ignored

  // Registers a watcher that receives every published event under prefix. It is not
  // dispatched until MarkReady() (so history can be prepended first). progress = revision it
  // is current to.
  uint64_t Register(std::string prefix, WatchCallback cb, int64_t progress);
  // Prepends history events and lets dispatch start.
  void MarkReady(uint64_t id, std::vector<Event> history);
  // Removes a watcher; waits for its in-flight callback unless called from the hub thread.
  void Cancel(uint64_t id);
  // Queues committed records (in revision order) for matching watchers.
  void Publish(const std::vector<Record>& records);

 private:
  struct Watcher {
    std::string prefix;
    WatchCallback cb;
    std::vector<Event> pending;
    int64_t progress = 0;  // every event <= progress is queued or delivered
    int64_t notified = 0;  // progress last passed to cb
    bool ready = false;
    bool Due() const { return ready && (!pending.empty() || progress > notified); }
  };
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::shared_ptr<Watcher>> watchers_;  // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;
  uint64_t in_flight_ = 0;  // id whose callback is running, 0 if none
  bool stop_ = false;
  std::thread::id hub_tid_;
  std::thread thread_;
};

class Engine {
 public:
  // max_window: number of records kept in memory; 0 = unbounded (until Compact).
  explicit Engine(size_t max_window);
  ~Engine();

  // Start-up only (before concurrent use): installs recovered state.
  void Load(std::vector<KeyValue> kvs, int64_t current_revision, int64_t compacted_revision);

  // ---- reads -----------------------------------------------------------------------------
  Result<KeyValue> Get(std::string_view key) const;
  Result<int64_t> Count(std::string_view prefix) const;
  // Current or past state. For a past revision below the window, returns OK with
  // *needs_log = true and no items: the caller must read its durable log.
  Result<ListResult> List(std::string_view prefix, const ListOptions& opts, bool* needs_log) const;

  // Registers a watch. Events in (from, window_start] that are not in memory are reported via
  // *log_from/*log_to (log_from < log_to): the caller must read them from its durable log and
  // call FinishWatch(); otherwise the watch is already running.
  struct WatchStart {
    uint64_t id = 0;
    std::vector<Event> memory_history;  // events in (max(from, window_start), registered_at]
    int64_t log_from = 0, log_to = 0;   // events to read from the log: (log_from, log_to]
  };
  Result<WatchStart> StartWatch(std::string_view prefix, int64_t from_revision, WatchCallback cb);
  void FinishWatch(uint64_t id, std::vector<Event> history);
  WatchHandlePtr MakeHandle(uint64_t id);
  void CancelWatch(uint64_t id);

  // ---- writes (caller-serialized) --------------------------------------------------------
  // The key's current state, or nullopt. Safe to call from the single writer.
  std::optional<KeyValue> Lookup(std::string_view key) const;
  // Installs committed records (consecutive revisions after the current one) and publishes
  // them to watchers.
  void Apply(std::vector<Record> records);
  // Store::ShareValues: holds the current value written at each v.mod_revision packed, as
  // given, instead of the bytes as written.
  void ShareValues(std::span<const SharedValue> values);
  // Marks history at/below revision as discarded. Returns BadRequest-free OK if revision is
  // not above the compacted one (no-op). Fails (Timeout) if revision is in the future.
  Status Compact(int64_t revision);

  int64_t CurrentRevision() const;
  int64_t CompactedRevision() const;
  int64_t WindowStart() const;  // records are held for revisions > WindowStart()

 private:
  // A key's current state: as written (kv.value), or packed by a reader (ShareValues; then
  // kv.value is null). Readers get it unpacked (Materialize), outside mu_.
  struct Current {
    KeyValue kv;
    std::shared_ptr<const Packed> packed;
  };
  static KeyValue Materialize(Current c);
  void TrimWindowLocked();

  mutable std::shared_mutex mu_;
  std::map<std::string, Current, std::less<>> current_;  // GUARDED_BY(mu_)
  std::deque<Record> window_;  // GUARDED_BY(mu_); revisions window_start_+1 .. current_rev_
  int64_t window_start_ = 0;                               // GUARDED_BY(mu_)
  int64_t current_rev_ = 0;                                // GUARDED_BY(mu_)
  int64_t compacted_rev_ = 0;                              // GUARDED_BY(mu_)
  const size_t max_window_;
  std::shared_ptr<WatchHub> hub_;
};

// Pages a sorted vector of (already prefix-filtered) key/values after start_after.
ListResult PageItems(std::vector<KeyValue> all_sorted, const ListOptions& opts, int64_t revision);

}  // namespace tug::store::internal
