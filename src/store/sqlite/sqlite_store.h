// store::OpenSqliteStore — the default, durable Store backend (DESIGN.md §4; format in
// FORMAT.md beside this file).
//
// An append-only revision log in one SQLite file (WAL, synchronous=FULL, exclusive locking) is
// the durable truth; the current state of every key and a window of recent history live in
// memory (internal::Engine), so Get/List/Count/Watch never touch SQLite. Only a List at, or a
// Watch from, a revision older than the in-memory window reads the log.
//
// Writes: every write is queued to ONE writer thread that group-commits whatever is queued
// (up to max_batch) in one transaction with one fsync, checking preconditions in queue order
// against the in-memory state plus the batch's earlier writes; a write call returns only
// after its transaction committed. Compaction batches, WAL checkpoints and log reads run as
// separate short tasks on the same thread, between write batches.
//
// Maintenance: a background thread (optional) runs RunMaintenance() every
// maintenance_interval: automatic compaction (keep history at least compact_retain_age old and
// at least compact_min_revisions revisions) and a TRUNCATE checkpoint of a non-empty WAL. It
// writes nothing when there is nothing to do.
//
// Beyond store.h (same as the memory store): an empty key or a null value is BadRequest;
// watchers get empty progress batches when other prefixes advance the revision.
//
// Ownership: the caller owns the store; WatchHandles may outlive it. Destruction drains queued
// writes, stops the threads, checkpoints and closes the file.
// Thread-safety: all methods are thread-safe.
// Files: <path>, <path>-wal (SQLite opens them O_CLOEXEC on Linux); no -shm file (exclusive
// locking keeps the WAL index in heap memory), and the file is locked against other processes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "store/store.h"

namespace tug::store {

struct SqliteOptions {
  Clock* clock = nullptr;                       // null: RealClock()
  bool background_maintenance = true;           // false: only explicit RunMaintenance()
  std::chrono::milliseconds maintenance_interval{std::chrono::seconds(60)};
  std::chrono::seconds compact_retain_age{300};  // history younger than this is kept
  int64_t compact_min_revisions = 1000;          // and at least this many revisions
  int64_t compact_batch_rows = 1000;             // rows examined per compaction transaction
  int64_t checkpoint_wal_pages = 1000;           // PASSIVE checkpoint after a commit beyond this
  // Records kept in memory for past List/Watch; older revisions are read from the log. The API
  // server serves watches from its watch caches, so this only spares log reads for a list or
  // watch at a revision a little in the past; each record holds the key's previous value.
  size_t history_window = 2000;
  size_t max_batch = 1024;                       // writes per group commit
  std::string vfs;                               // SQLite VFS name; empty: the default (tests inject faults)
  // synchronous=FULL (the WAL is fsynced at every commit). false selects NORMAL, which can lose
  // acknowledged writes on power loss; it exists only so tests can show the difference.
  bool synchronous_full = true;
};

struct SqliteStats {
  int64_t write_transactions = 0;  // committed transactions that wrote rows (writes + compaction)
  int64_t writes = 0;              // successful Create/Update/Delete
  int64_t checkpoints = 0;         // WAL checkpoints run
  int64_t compacted_rows = 0;      // log rows deleted by compaction
  int64_t log_reads = 0;           // List/Watch requests that had to read the log
};

class SqliteStore : public Store {
 public:
  // One maintenance tick, synchronously: automatic compaction then idle WAL checkpoint.
  virtual Status RunMaintenance() = 0;
  virtual SqliteStats Stats() const = 0;
};

Result<std::unique_ptr<SqliteStore>> OpenSqliteStoreTyped(const std::string& path, const SqliteOptions& opts = {});
Result<StorePtr> OpenSqliteStore(const std::string& path, const SqliteOptions& opts = {});

}  // namespace tug::store
