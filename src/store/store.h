// store::Store — the revisioned key/value store every API object lives in (DESIGN.md §4).
//
// Model (the same as etcd v3): one global, strictly increasing revision. Every successful
// write (create, update, delete) gets the next revision; that revision is the object's
// resourceVersion. A key's create_revision is the revision that created it; mod_revision the
// one that last wrote it. History is kept until Compact(rev), after which List/Watch at a
// revision below the compacted one fail with Gone (410 Expired).
//
// Durability: a write method returns only after the write is durable (for SQLite: committed
// with synchronous=FULL). Concurrent writers are group-committed by the implementation.
//
// Ownership: values are immutable shared byte strings (shared_ptr<const std::string>). The
// store's current state can hold the watch cache's packed copy of each object instead of its
// own (ShareValues), so the process keeps one copy of each object's bytes.
//
// Thread-safety: every method may be called concurrently from any thread. Watch callbacks run
// on a store-owned thread, in revision order, and must not block (post work elsewhere).
//
// Errors: NotFound (key missing), AlreadyExists (Create on an existing key), Conflict
// (expected_mod_revision mismatch), Gone (revision compacted), Unavailable (store closed or
// I/O failure), Internal (corruption).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/packed.h"
#include "base/status.h"

namespace tug::store {

using Value = std::shared_ptr<const std::string>;

struct KeyValue {
  std::string key;
  Value value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

// A current value packed by its reader (Store::ShareValues).
struct SharedValue {
  std::string key;
  int64_t mod_revision = 0;
  std::shared_ptr<const Packed> packed;
};

struct ListOptions {
  // 0: the current state. >0: the state as of this revision (Gone if compacted, and
  // Unavailable-free "too large" is BadRequest if it is in the future... see below).
  // A revision greater than the current one is an error: Timeout("Too large resource version").
  int64_t revision = 0;
  // Maximum items to return; 0 = all.
  int64_t limit = 0;
  // Return keys strictly greater than this one (paging: the last key of the previous page).
  std::string start_after;
};

struct ListResult {
  std::vector<KeyValue> items;  // sorted by key
  int64_t revision = 0;         // the revision the list reflects
  bool more = false;            // more keys under the prefix after the last returned one
  int64_t remaining = 0;        // how many keys remain after this page (when more)
};

enum class EventType { kCreate, kUpdate, kDelete };

struct Event {
  EventType type;
  KeyValue kv;      // for kDelete: key, last value, mod_revision = the delete's revision
  Value prev_value; // value before this event (null for kCreate)
};

// Cancels the watch when destroyed; after the destructor returns the callback is never called
// again (it waits for an in-flight callback to finish, unless called from inside it).
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
};
using WatchHandlePtr = std::unique_ptr<WatchHandle>;

// Receives batches of events in revision order. A batch holds the events of one or more
// consecutive revisions. An empty span with progress_revision > 0 means "no events for this
// prefix up to progress_revision" (used for bookmarks).
using WatchCallback = std::function<void(std::span<const Event> events, int64_t progress_revision)>;

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<KeyValue> Get(std::string_view key) = 0;
  // Keys with the given prefix, sorted by key.
  virtual Result<ListResult> List(std::string_view prefix, const ListOptions& opts) = 0;
  // Number of keys under prefix in the current state.
  virtual Result<int64_t> Count(std::string_view prefix) = 0;

  // Fails with AlreadyExists if the key exists. Returns the new revision.
  virtual Result<int64_t> Create(std::string_view key, Value value) = 0;
  // expected_mod_revision 0: unconditional (the key must exist). Returns the new revision.
  virtual Result<int64_t> Update(std::string_view key, Value value, int64_t expected_mod_revision) = 0;
  // Returns the deleted key/value with mod_revision = the revision of the delete.
  virtual Result<KeyValue> Delete(std::string_view key, int64_t expected_mod_revision) = 0;

  // Added by apiperf: Create without waiting. `done` gets exactly what Create would return,
  // once the write is durable (or has failed). It may run on a store-owned thread, where it
  // must not block (post anything slow elsewhere), or inline before CreateAsync returns. The
  // default calls Create; a backend whose Create waits for I/O overrides it so that request
  // threads do not sleep through the commit.
  using WriteDone = std::function<void(Result<int64_t>)>;
  virtual void CreateAsync(std::string_view key, Value value, WriteDone done) {
    done(Create(key, std::move(value)));
  }

  // Added by mem: one copy of a value the caller keeps too. A caller that holds its own copy
  // of current values (the API server's watch caches, which fill in metadata.resourceVersion
  // and keep them packed) hands that copy back, and the store's in-memory copy of the key's
  // current value written at v.mod_revision becomes v.packed (unpacked when read), so the
  // process holds the bytes once. The caller promises the packed bytes are the value written
  // at that revision, differing at most in fields derived from the revision (resourceVersion);
  // Get and List may return them afterwards. A value whose key was rewritten or deleted since
  // is ignored. History (past revisions, watch replays) and durable data are unchanged. The
  // default does nothing.
  virtual void ShareValues(std::span<const SharedValue> values) {}

  // Delivers every event under prefix with revision > from_revision, then live events.
  // from_revision 0: from now. Gone if from_revision < the compacted revision.
  virtual Result<WatchHandlePtr> Watch(std::string_view prefix, int64_t from_revision, WatchCallback cb) = 0;

  // Discards history at and below revision (the current value of every key is kept).
  virtual Status Compact(int64_t revision) = 0;

  virtual int64_t CurrentRevision() const = 0;
  virtual int64_t CompactedRevision() const = 0;
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace tug::store
