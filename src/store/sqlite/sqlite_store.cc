#include "store/sqlite/sqlite_store.h"

#include <linux/futex.h>
#include <sqlite3.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "base/log.h"
#include "store/internal/engine.h"

namespace tug::store {
namespace {

using internal::Op;
using internal::OpType;
using internal::Record;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS log (
  rev        INTEGER PRIMARY KEY,
  key        BLOB    NOT NULL,
  create_rev INTEGER NOT NULL,
  deleted    INTEGER NOT NULL,
  value      BLOB
);
CREATE INDEX IF NOT EXISTS log_key_rev ON log(key, rev);
CREATE TABLE IF NOT EXISTS meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// RAII prepared statement.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(s_); }
  Status Prepare(sqlite3* db, const char* sql) {
    sqlite3_finalize(s_);
    s_ = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK) {
      return InternalError(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
    }
    return Status::Ok();
  }
  sqlite3_stmt* get() const { return s_; }
  void Finalize() {
    sqlite3_finalize(s_);
    s_ = nullptr;
  }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

void BindBlob(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_blob(s, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

std::string ColBlob(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

// Smallest key greater than every key with this prefix ("" = no upper bound).
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c != 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

class SqliteStoreImpl final : public SqliteStore {
 public:
  SqliteStoreImpl(std::string path, const SqliteOptions& opts)
      : path_(std::move(path)), opts_(opts), clock_(opts.clock ? *opts.clock : RealClock()),
        engine_(opts.history_window == 0 ? 1 : opts.history_window) {}

  ~SqliteStoreImpl() override { Close(); }

  Status Open();

  // ---- Store ---------------------------------------------------------------------------------
  Result<KeyValue> Get(std::string_view key) override { return engine_.Get(key); }
  Result<int64_t> Count(std::string_view prefix) override { return engine_.Count(prefix); }
  Result<ListResult> List(std::string_view prefix, const ListOptions& opts) override;
  Result<int64_t> Create(std::string_view key, Value value) override {
    ASSIGN_OR_RETURN(Record r, Write(Op{OpType::kCreate, std::string(key), std::move(value), 0}));
    return r.revision();
  }
  void CreateAsync(std::string_view key, Value value, WriteDone done) override {
    auto req = std::make_unique<WriteReq>();
    req->op = Op{OpType::kCreate, std::string(key), std::move(value), 0};
    req->async_done = std::move(done);
    Enqueue(std::move(req));
  }
  Result<int64_t> Update(std::string_view key, Value value, int64_t expected) override {
    ASSIGN_OR_RETURN(Record r, Write(Op{OpType::kUpdate, std::string(key), std::move(value), expected}));
    return r.revision();
  }
  Result<KeyValue> Delete(std::string_view key, int64_t expected) override {
    ASSIGN_OR_RETURN(Record r, Write(Op{OpType::kDelete, std::string(key), nullptr, expected}));
    return r.ev.kv;
  }
  Result<WatchHandlePtr> Watch(std::string_view prefix, int64_t from, WatchCallback cb) override;
  void ShareValues(std::span<const SharedValue> values) override { engine_.ShareValues(values); }
  Status Compact(int64_t revision) override;
  int64_t CurrentRevision() const override { return engine_.CurrentRevision(); }
  int64_t CompactedRevision() const override { return engine_.CompactedRevision(); }

  // ---- SqliteStore ---------------------------------------------------------------------------
  Status RunMaintenance() override;
  SqliteStats Stats() const override {
    std::lock_guard<std::mutex> l(stats_mu_);
    return stats_;
  }

 private:
  // One-shot completion signal on a bare futex. Signal() sets the word and wakes the waiter
  // without a mutex: with a condition variable notified under its lock the woken writer
  // thread's caller ran straight into that lock and slept again (two extra context switches per
  // write). The waiter may destroy the Completion as soon as Wait() returns; the FUTEX_WAKE that
  // can follow then touches no memory (a private futex is keyed by address only), and a waiter
  // that later reuses the address treats a stray wake-up as spurious (it re-checks the word).
  class Completion {
   public:
    void Signal() {
      done_.store(1, std::memory_order_release);
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&done_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    }
    void Wait() {
      while (done_.load(std::memory_order_acquire) == 0)
        syscall(SYS_futex, reinterpret_cast<uint32_t*>(&done_), FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
    }

   private:
    static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
    std::atomic<uint32_t> done_{0};
  };
  // A synchronous write is owned by its waiting caller (signalled through `done`); an
  // asynchronous one (async_done set) is owned by the queue and then the writer thread, which
  // calls async_done and frees it.
  struct WriteReq {
    Op op;
    Record record;
    Status status;
    Completion done;
    WriteDone async_done;
  };
  struct Item {
    WriteReq* write = nullptr;    // either a write...
    std::function<void()> task;   // ...or a task run alone on the writer thread
  };

  Result<Record> Write(Op op);
  // Queues an asynchronous write (or fails it at once when the store is closing).
  void Enqueue(std::unique_ptr<WriteReq> req);
  // Tells a write's caller how it ended; req may be gone afterwards.
  static void Complete(WriteReq* req);
  // Runs fn on the writer thread and waits for it.
  Status RunOnWriter(std::function<Status()> fn);
  void WriterLoop();
  void CommitBatch(std::vector<WriteReq*>& batch);
  void MaintenanceLoop(std::stop_token st);
  void Close();

  Status Exec(const char* sql);
  Status StepDone(sqlite3_stmt* s);
  // Runs a prepared statement without parameters (BEGIN/COMMIT of a group commit: prepared once,
  // not parsed by sqlite3_exec per batch) and resets it; errors read like Exec's.
  Status ExecPrepared(Stmt& s, const char* sql);
  Status Checkpoint(int mode);
  Status ReadLogList(std::string_view prefix, int64_t rev, std::vector<KeyValue>* out);
  Status ReadLogEvents(std::string_view prefix, int64_t from, int64_t to, std::vector<Event>* out);
  Status CompactBatch(int64_t target, int64_t* cursor, bool* done);
  void AddStat(int64_t SqliteStats::*field, int64_t n) {
    std::lock_guard<std::mutex> l(stats_mu_);
    stats_.*field += n;
  }

  const std::string path_;
  const SqliteOptions opts_;
  Clock& clock_;
  internal::Engine engine_;

  // Writer-thread state (only touched by the writer thread after Open()).
  sqlite3* db_ = nullptr;
  Stmt insert_;
  Stmt set_meta_;
  Stmt begin_;   // BEGIN IMMEDIATE
  Stmt commit_;  // COMMIT
  int64_t wal_pages_ = 0;  // frames in the WAL after the last commit (wal_hook)

  std::mutex q_mu_;
  std::condition_variable q_cv_;
  std::deque<Item> queue_;  // GUARDED_BY(q_mu_)
  bool closing_ = false;    // GUARDED_BY(q_mu_)
  std::thread writer_;

  std::mutex compact_mu_;  // one compaction at a time
  std::mutex maint_mu_;    // RunMaintenance state
  struct Sample {
    SystemTime at;
    int64_t rev;
  };
  std::deque<Sample> samples_;  // GUARDED_BY(maint_mu_)

  std::mutex maint_wait_mu_;
  std::condition_variable_any maint_cv_;
  std::jthread maintenance_;

  mutable std::mutex stats_mu_;
  SqliteStats stats_;
};

Status SqliteStoreImpl::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return UnavailableError("sqlite: " + m + " (" + sql + ")");
  }
  return Status::Ok();
}

Status SqliteStoreImpl::ExecPrepared(Stmt& s, const char* sql) {
  Status st = Status::Ok();
  if (sqlite3_step(s.get()) != SQLITE_DONE)
    st = UnavailableError(std::string("sqlite: ") + sqlite3_errmsg(db_) + " (" + sql + ")");
  sqlite3_reset(s.get());
  return st;
}

Status SqliteStoreImpl::StepDone(sqlite3_stmt* s) {
  int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return UnavailableError(std::string("sqlite step: ") + sqlite3_errmsg(db_));
  return Status::Ok();
}

Status SqliteStoreImpl::Open() {
  int rc = sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           opts_.vfs.empty() ? nullptr : opts_.vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string m = db_ ? sqlite3_errmsg(db_) : "out of memory";
    return UnavailableError("open " + path_ + ": " + m);
  }
  // Exclusive locking: one process owns the file, and the WAL index lives in heap memory (no
  // -shm file). The journal mode must be set after the locking mode for that to hold.
  RETURN_IF_ERROR(Exec("PRAGMA locking_mode=EXCLUSIVE"));
  RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(Exec(opts_.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  RETURN_IF_ERROR(Exec("PRAGMA wal_autocheckpoint=0"));  // we checkpoint ourselves
  // After wal_autocheckpoint: that pragma installs its own WAL hook, replacing ours.
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int pages) -> int {
        static_cast<SqliteStoreImpl*>(self)->wal_pages_ = pages;
        return SQLITE_OK;
      },
      this);
  RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=OFF"));
  {
    // Only write the schema if it is missing, so re-opening an existing store writes nothing.
    Stmt q;
    RETURN_IF_ERROR(q.Prepare(db_, "SELECT count(*) FROM sqlite_master WHERE name IN ('log','meta','log_key_rev')"));
    if (sqlite3_step(q.get()) != SQLITE_ROW) return UnavailableError(sqlite3_errmsg(db_));
    if (sqlite3_column_int(q.get(), 0) != 3) RETURN_IF_ERROR(Exec(kSchema));
  }
  // Journal mode really is WAL (it silently stays otherwise, e.g. on some filesystems).
  {
    Stmt q;
    RETURN_IF_ERROR(q.Prepare(db_, "PRAGMA journal_mode"));
    if (sqlite3_step(q.get()) != SQLITE_ROW || ColBlob(q.get(), 0) != "wal") {
      return UnavailableError("sqlite store " + path_ + " could not enter WAL mode");
    }
  }
  RETURN_IF_ERROR(insert_.Prepare(db_, "INSERT INTO log(rev, key, create_rev, deleted, value) VALUES(?,?,?,?,?)"));
  RETURN_IF_ERROR(set_meta_.Prepare(db_, "INSERT OR REPLACE INTO meta(name, value) VALUES(?, ?)"));
  RETURN_IF_ERROR(begin_.Prepare(db_, "BEGIN IMMEDIATE"));
  RETURN_IF_ERROR(commit_.Prepare(db_, "COMMIT"));

  // Recover. The scan reads the whole file once; memory-mapping it for the scan saves a read()
  // per page (~20% of start-up CPU). Mapping is switched off again afterwards so that an I/O
  // error later is an error code, not a SIGBUS.
  auto t0 = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(Exec("PRAGMA mmap_size=4294967296"));
  int64_t compacted = 0, max_rev = 0;
  {
    Stmt q;
    RETURN_IF_ERROR(q.Prepare(db_, "SELECT value FROM meta WHERE name = 'compact_rev'"));
    if (sqlite3_step(q.get()) == SQLITE_ROW) compacted = sqlite3_column_int64(q.get(), 0);
  }
  {
    Stmt q;
    RETURN_IF_ERROR(q.Prepare(db_, "SELECT MAX(rev) FROM log"));
    if (sqlite3_step(q.get()) == SQLITE_ROW) max_rev = sqlite3_column_int64(q.get(), 0);
  }
  // One sequential pass over the log, newest revision first: the first row seen for a key is
  // its current state (or its tombstone); older rows of that key are skipped without copying
  // their values, so start-up cost follows the number of keys, not the length of history.
  std::vector<KeyValue> kvs;
  {
    struct Hash {
      using is_transparent = void;
      size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_set<std::string, Hash, std::equal_to<>> seen;
    seen.reserve(static_cast<size_t>(std::min<int64_t>(max_rev, int64_t{1} << 20)));
    Stmt q;
    RETURN_IF_ERROR(q.Prepare(db_, "SELECT rev, key, create_rev, deleted, value FROM log ORDER BY rev DESC"));
    int step;
    while ((step = sqlite3_step(q.get())) == SQLITE_ROW) {
      const char* kp = static_cast<const char*>(sqlite3_column_blob(q.get(), 1));
      std::string_view key(kp ? kp : "", static_cast<size_t>(sqlite3_column_bytes(q.get(), 1)));
      if (seen.find(key) != seen.end()) continue;  // an older revision of a key already seen
      seen.emplace(key);
      if (sqlite3_column_int(q.get(), 3) != 0) continue;  // deleted: its tombstone is newest
      KeyValue kv;
      kv.key = std::string(key);
      kv.mod_revision = sqlite3_column_int64(q.get(), 0);
      kv.create_revision = sqlite3_column_int64(q.get(), 2);
      kv.value = std::make_shared<const std::string>(ColBlob(q.get(), 4));
      kvs.push_back(std::move(kv));
    }
    if (step != SQLITE_DONE) return UnavailableError(std::string("recover: ") + sqlite3_errmsg(db_));
    std::sort(kvs.begin(), kvs.end(), [](const KeyValue& a, const KeyValue& b) { return a.key < b.key; });
  }
  RETURN_IF_ERROR(Exec("PRAGMA mmap_size=0"));
  int64_t current = std::max(max_rev, compacted);
  size_t n = kvs.size();
  engine_.Load(std::move(kvs), current, compacted);
  TUG_LOG(INFO, "store") << "sqlite store open" << kv("path", path_) << kv("keys", n) << kv("revision", current)
                         << kv("compacted", compacted)
                         << kv("ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - t0)
                                         .count());

  writer_ = std::thread([this] { WriterLoop(); });
  if (opts_.background_maintenance) {
    maintenance_ = std::jthread([this](std::stop_token st) { MaintenanceLoop(st); });
  }
  return Status::Ok();
}

void SqliteStoreImpl::Close() {
  if (maintenance_.joinable()) {
    maintenance_.request_stop();
    maint_cv_.notify_all();
    maintenance_.join();
  }
  {
    std::lock_guard<std::mutex> l(q_mu_);
    closing_ = true;
  }
  q_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (db_ != nullptr) {
    if (wal_pages_ > 0) Checkpoint(SQLITE_CHECKPOINT_TRUNCATE).IgnoreError();
    insert_.Finalize();
    set_meta_.Finalize();
    begin_.Finalize();
    commit_.Finalize();
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

// ---- writer thread ---------------------------------------------------------------------------

Result<Record> SqliteStoreImpl::Write(Op op) {
  WriteReq req;
  req.op = std::move(op);
  {
    std::lock_guard<std::mutex> l(q_mu_);
    if (closing_) return UnavailableError("store closed");
    queue_.push_back(Item{&req, nullptr});
  }
  q_cv_.notify_one();
  req.done.Wait();
  if (!req.status.ok()) return req.status;
  return std::move(req.record);
}

void SqliteStoreImpl::Enqueue(std::unique_ptr<WriteReq> req) {
  {
    std::lock_guard<std::mutex> l(q_mu_);
    if (!closing_) {
      queue_.push_back(Item{req.release(), nullptr});
      req = nullptr;
    }
  }
  if (req) {
    req->async_done(UnavailableError("store closed"));
    return;
  }
  q_cv_.notify_one();
}

void SqliteStoreImpl::Complete(WriteReq* req) {
  if (!req->async_done) return req->done.Signal();
  std::unique_ptr<WriteReq> owned(req);
  if (req->status.ok()) {
    req->async_done(req->record.revision());
  } else {
    req->async_done(req->status);
  }
}

Status SqliteStoreImpl::RunOnWriter(std::function<Status()> fn) {
  Status result;
  Completion done;
  {
    std::lock_guard<std::mutex> l(q_mu_);
    if (closing_) return UnavailableError("store closed");
    queue_.push_back(Item{nullptr, [&] {
                            result = fn();
                            done.Signal();
                          }});
  }
  q_cv_.notify_one();
  done.Wait();
  return result;
}

void SqliteStoreImpl::WriterLoop() {
  while (true) {
    std::vector<WriteReq*> batch;
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> l(q_mu_);
      q_cv_.wait(l, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing and drained
      if (queue_.front().task) {
        task = std::move(queue_.front().task);
        queue_.pop_front();
      } else {
        while (!queue_.empty() && queue_.front().write && batch.size() < opts_.max_batch) {
          batch.push_back(queue_.front().write);
          queue_.pop_front();
        }
      }
    }
    if (task) {
      task();
      continue;
    }
    CommitBatch(batch);
  }
}

void SqliteStoreImpl::CommitBatch(std::vector<WriteReq*>& batch) {
  // Preconditions see the committed state plus this batch's earlier writes, in queue order.
  std::unordered_map<std::string, std::optional<KeyValue>> overlay;
  int64_t rev = engine_.CurrentRevision();
  std::vector<Record> records;
  bool began = false;
  Status fail;
  for (WriteReq* req : batch) {
    std::optional<KeyValue> existing;
    if (auto it = overlay.find(req->op.key); it != overlay.end()) {
      existing = it->second;
    } else {
      existing = engine_.Lookup(req->op.key);
    }
    auto r = internal::BuildRecord(req->op, existing ? &*existing : nullptr, rev + 1);
    if (!r.ok()) {
      req->status = r.status();
      continue;
    }
    if (!began) {
      fail = ExecPrepared(begin_, "BEGIN IMMEDIATE");
      if (!fail.ok()) break;
      began = true;
    }
    const Record& rec = *r;
    sqlite3_stmt* s = insert_.get();
    sqlite3_bind_int64(s, 1, rec.revision());
    BindBlob(s, 2, rec.ev.kv.key);
    sqlite3_bind_int64(s, 3, rec.ev.kv.create_revision);
    bool del = rec.ev.type == EventType::kDelete;
    sqlite3_bind_int(s, 4, del ? 1 : 0);
    if (del || !rec.ev.kv.value) {
      sqlite3_bind_null(s, 5);
    } else {
      const std::string& v = *rec.ev.kv.value;
      sqlite3_bind_blob(s, 5, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    }
    fail = StepDone(s);
    insert_.Reset();
    if (!fail.ok()) break;
    rev = rec.revision();
    overlay[rec.ev.kv.key] = del ? std::nullopt : std::optional<KeyValue>(rec.ev.kv);
    req->record = rec;
    records.push_back(std::move(r).value());
  }
  if (began && fail.ok()) fail = ExecPrepared(commit_, "COMMIT");
  if (!fail.ok()) {
    if (began) Exec("ROLLBACK").IgnoreError();
    TUG_LOG(ERROR, "store") << "group commit failed" << kv("error", fail.ToString()) << kv("batch", batch.size());
    // Nothing of this batch is durable: every write that had passed its preconditions fails,
    // and so does every one not reached yet.
    for (WriteReq* req : batch)
      if (req->status.ok()) req->status = fail;
    records.clear();
  } else if (!records.empty()) {
    AddStat(&SqliteStats::write_transactions, 1);
    AddStat(&SqliteStats::writes, static_cast<int64_t>(records.size()));
    engine_.Apply(std::move(records));
  }
  for (WriteReq* req : batch) Complete(req);  // req may be gone after this
  if (wal_pages_ >= opts_.checkpoint_wal_pages) Checkpoint(SQLITE_CHECKPOINT_PASSIVE).IgnoreError();
}

Status SqliteStoreImpl::Checkpoint(int mode) {
  int log = 0, ckpt = 0;
  int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, mode, &log, &ckpt);
  AddStat(&SqliteStats::checkpoints, 1);
  if (rc != SQLITE_OK) {
    TUG_LOG(WARNING, "store") << "wal checkpoint failed" << kv("error", sqlite3_errmsg(db_));
    return UnavailableError(sqlite3_errmsg(db_));
  }
  TUG_VLOG(4, "store") << "wal checkpoint" << kv("mode", mode) << kv("frames", log) << kv("checkpointed", ckpt);
  if (mode == SQLITE_CHECKPOINT_TRUNCATE || log == ckpt) wal_pages_ = 0;
  return Status::Ok();
}

// ---- reads that need the log ------------------------------------------------------------------

Status SqliteStoreImpl::ReadLogList(std::string_view prefix, int64_t rev, std::vector<KeyValue>* out) {
  std::string end = PrefixEnd(prefix);
  Stmt q;
  RETURN_IF_ERROR(q.Prepare(db_, end.empty()
                                     ? "SELECT key, MAX(rev), create_rev, deleted, value FROM log "
                                       "WHERE key >= ?1 AND rev <= ?3 GROUP BY key"
                                     : "SELECT key, MAX(rev), create_rev, deleted, value FROM log "
                                       "WHERE key >= ?1 AND key < ?2 AND rev <= ?3 GROUP BY key"));
  BindBlob(q.get(), 1, prefix);
  if (!end.empty()) BindBlob(q.get(), 2, end);
  sqlite3_bind_int64(q.get(), 3, rev);
  int step;
  while ((step = sqlite3_step(q.get())) == SQLITE_ROW) {
    if (sqlite3_column_int(q.get(), 3) != 0) continue;
    KeyValue kv;
    kv.key = ColBlob(q.get(), 0);
    kv.mod_revision = sqlite3_column_int64(q.get(), 1);
    kv.create_revision = sqlite3_column_int64(q.get(), 2);
    kv.value = std::make_shared<const std::string>(ColBlob(q.get(), 4));
    out->push_back(std::move(kv));
  }
  if (step != SQLITE_DONE) return UnavailableError(std::string("read log: ") + sqlite3_errmsg(db_));
  return Status::Ok();
}

Status SqliteStoreImpl::ReadLogEvents(std::string_view prefix, int64_t from, int64_t to, std::vector<Event>* out) {
  Stmt q;
  // For each row, the key's previous row (if any) gives prev_value / the deleted value.
  RETURN_IF_ERROR(q.Prepare(db_,
                            "SELECT l.rev, l.key, l.create_rev, l.deleted, l.value, "
                            "  (SELECT p.value FROM log p WHERE p.key = l.key AND p.rev < l.rev "
                            "   ORDER BY p.rev DESC LIMIT 1), "
                            "  (SELECT p.deleted FROM log p WHERE p.key = l.key AND p.rev < l.rev "
                            "   ORDER BY p.rev DESC LIMIT 1) "
                            "FROM log l WHERE l.rev > ?1 AND l.rev <= ?2 AND substr(l.key, 1, ?4) = ?3 "
                            "ORDER BY l.rev"));
  sqlite3_bind_int64(q.get(), 1, from);
  sqlite3_bind_int64(q.get(), 2, to);
  BindBlob(q.get(), 3, prefix);
  sqlite3_bind_int64(q.get(), 4, static_cast<int64_t>(prefix.size()));
  int step;
  while ((step = sqlite3_step(q.get())) == SQLITE_ROW) {
    Event e;
    e.kv.mod_revision = sqlite3_column_int64(q.get(), 0);
    e.kv.key = ColBlob(q.get(), 1);
    e.kv.create_revision = sqlite3_column_int64(q.get(), 2);
    bool deleted = sqlite3_column_int(q.get(), 3) != 0;
    bool has_prev = sqlite3_column_type(q.get(), 6) != SQLITE_NULL && sqlite3_column_int(q.get(), 6) == 0;
    Value prev = has_prev ? std::make_shared<const std::string>(ColBlob(q.get(), 5)) : nullptr;
    if (deleted) {
      e.type = EventType::kDelete;
      e.kv.value = prev;
      e.prev_value = prev;
    } else {
      e.type = e.kv.create_revision == e.kv.mod_revision ? EventType::kCreate : EventType::kUpdate;
      e.kv.value = std::make_shared<const std::string>(ColBlob(q.get(), 4));
      e.prev_value = e.type == EventType::kCreate ? nullptr : prev;
    }
    out->push_back(std::move(e));
  }
  if (step != SQLITE_DONE) return UnavailableError(std::string("read log: ") + sqlite3_errmsg(db_));
  return Status::Ok();
}

Result<ListResult> SqliteStoreImpl::List(std::string_view prefix, const ListOptions& opts) {
  bool needs_log = false;
  ASSIGN_OR_RETURN(ListResult lr, engine_.List(prefix, opts, &needs_log));
  if (!needs_log) return lr;
  AddStat(&SqliteStats::log_reads, 1);
  std::vector<KeyValue> items;
  RETURN_IF_ERROR(RunOnWriter([&] { return ReadLogList(prefix, opts.revision, &items); }));
  // Compaction may have removed rows while we were queued: only a clean read is an answer.
  if (opts.revision < engine_.CompactedRevision()) {
    return GoneError("required revision " + std::to_string(opts.revision) + " has been compacted");
  }
  return internal::PageItems(std::move(items), opts, opts.revision);
}

Result<WatchHandlePtr> SqliteStoreImpl::Watch(std::string_view prefix, int64_t from, WatchCallback cb) {
  ASSIGN_OR_RETURN(auto ws, engine_.StartWatch(prefix, from, std::move(cb)));
  WatchHandlePtr handle = engine_.MakeHandle(ws.id);  // cancels on early return
  std::vector<Event> history;
  if (ws.log_to > ws.log_from) {
    AddStat(&SqliteStats::log_reads, 1);
    RETURN_IF_ERROR(RunOnWriter([&] { return ReadLogEvents(prefix, ws.log_from, ws.log_to, &history); }));
    if (ws.log_from < engine_.CompactedRevision()) {
      return GoneError("required revision " + std::to_string(ws.log_from) + " has been compacted");
    }
  }
  history.insert(history.end(), std::make_move_iterator(ws.memory_history.begin()),
                 std::make_move_iterator(ws.memory_history.end()));
  engine_.FinishWatch(ws.id, std::move(history));
  return handle;
}

// ---- compaction and maintenance -----------------------------------------------------------------

// Deletes, among the next compact_batch_rows rows with rev in (*cursor, target], every row that
// no List at a revision >= target can need: tombstones, and rows superseded by a newer row of
// the same key at or below target. The newest row of the log is always kept, so the current
// revision survives a restart.
Status SqliteStoreImpl::CompactBatch(int64_t target, int64_t* cursor, bool* done) {
  Stmt q;
  RETURN_IF_ERROR(q.Prepare(db_,
                            "SELECT l.rev, (l.deleted = 1 OR EXISTS (SELECT 1 FROM log n WHERE n.key = l.key "
                            "  AND n.rev > l.rev AND n.rev <= ?2)) "
                            "FROM log l WHERE l.rev > ?1 AND l.rev <= ?2 ORDER BY l.rev LIMIT ?3"));
  sqlite3_bind_int64(q.get(), 1, *cursor);
  sqlite3_bind_int64(q.get(), 2, target);
  sqlite3_bind_int64(q.get(), 3, opts_.compact_batch_rows);
  std::vector<int64_t> victims;
  int64_t scanned = 0, last = *cursor;
  int64_t newest = engine_.CurrentRevision();
  int step;
  while ((step = sqlite3_step(q.get())) == SQLITE_ROW) {
    ++scanned;
    last = sqlite3_column_int64(q.get(), 0);
    if (sqlite3_column_int(q.get(), 1) != 0 && last < newest) victims.push_back(last);
  }
  if (step != SQLITE_DONE) return UnavailableError(std::string("compact scan: ") + sqlite3_errmsg(db_));
  *cursor = last;
  *done = scanned < opts_.compact_batch_rows;
  if (victims.empty()) return Status::Ok();
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Stmt del;
  Status st = del.Prepare(db_, "DELETE FROM log WHERE rev = ?");
  for (size_t i = 0; st.ok() && i < victims.size(); ++i) {
    sqlite3_bind_int64(del.get(), 1, victims[i]);
    st = StepDone(del.get());
    del.Reset();
  }
  if (st.ok()) st = Exec("COMMIT");
  if (!st.ok()) {
    Exec("ROLLBACK").IgnoreError();
    return st;
  }
  AddStat(&SqliteStats::write_transactions, 1);
  AddStat(&SqliteStats::compacted_rows, static_cast<int64_t>(victims.size()));
  if (wal_pages_ >= opts_.checkpoint_wal_pages) Checkpoint(SQLITE_CHECKPOINT_PASSIVE).IgnoreError();
  return Status::Ok();
}

Status SqliteStoreImpl::Compact(int64_t revision) {
  std::lock_guard<std::mutex> l(compact_mu_);
  int64_t before = engine_.CompactedRevision();
  RETURN_IF_ERROR(engine_.Compact(revision));
  if (revision <= before) return Status::Ok();  // nothing new: no write
  // Persist the compacted revision first (one tiny transaction), then delete in batches, each
  // its own transaction queued behind pending writes so writers never wait long.
  RETURN_IF_ERROR(RunOnWriter([&] {
    sqlite3_stmt* s = set_meta_.get();
    sqlite3_bind_text(s, 1, "compact_rev", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, revision);
    Status st = StepDone(s);  // autocommit: its own durable transaction
    set_meta_.Reset();
    if (st.ok()) AddStat(&SqliteStats::write_transactions, 1);
    return st;
  }));
  int64_t cursor = 0;
  bool done = false;
  while (!done) {
    RETURN_IF_ERROR(RunOnWriter([&] { return CompactBatch(revision, &cursor, &done); }));
  }
  TUG_VLOG(2, "store") << "compacted" << kv("revision", revision);
  return Status::Ok();
}

Status SqliteStoreImpl::RunMaintenance() {
  std::lock_guard<std::mutex> l(maint_mu_);
  // Automatic compaction, like kube-apiserver's: remember (time, revision) samples and compact
  // to the newest revision that is at least compact_retain_age old, keeping at least
  // compact_min_revisions revisions.
  SystemTime now = clock_.Now();
  int64_t cur = engine_.CurrentRevision();
  if (samples_.empty() || samples_.back().rev != cur) samples_.push_back({now, cur});
  int64_t target = 0;
  while (!samples_.empty() && now - samples_.front().at >= opts_.compact_retain_age) {
    target = samples_.front().rev;
    if (samples_.size() == 1) break;  // keep the latest sample to compare against
    samples_.pop_front();
  }
  target = std::min(target, cur - opts_.compact_min_revisions);
  if (target > engine_.CompactedRevision()) RETURN_IF_ERROR(Compact(target));
  // Idle checkpoint: fold a non-empty WAL back into the database and truncate it.
  return RunOnWriter([&] {
    if (wal_pages_ == 0) return Status::Ok();
    return Checkpoint(SQLITE_CHECKPOINT_TRUNCATE);
  });
}

void SqliteStoreImpl::MaintenanceLoop(std::stop_token st) {
  while (!st.stop_requested()) {
    {
      std::unique_lock<std::mutex> l(maint_wait_mu_);
      maint_cv_.wait_for(l, st, opts_.maintenance_interval, [] { return false; });
    }
    if (st.stop_requested()) return;
    Status s = RunMaintenance();
    if (!s.ok()) TUG_LOG(WARNING, "store") << "maintenance failed" << kv("error", s.ToString());
  }
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> OpenSqliteStoreTyped(const std::string& path, const SqliteOptions& opts) {
  auto s = std::make_unique<SqliteStoreImpl>(path, opts);
  RETURN_IF_ERROR(s->Open());
  return std::unique_ptr<SqliteStore>(std::move(s));
}

Result<StorePtr> OpenSqliteStore(const std::string& path, const SqliteOptions& opts) {
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> s, OpenSqliteStoreTyped(path, opts));
  return StorePtr(std::move(s));
}

}  // namespace tug::store
