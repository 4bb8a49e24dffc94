// WatchCache — the in-memory state of one resource (one key prefix, e.g.
// "/registry/apps/deployments/"), fed by a single store Watch, plus a window of recent events,
// fanned out to every API watcher from memory (DESIGN.md §4).
//
// Objects are immutable snapshots (shared_ptr<const CachedObject>): the JSON bytes as served
// (metadata.resourceVersion filled in), held packed (zstd against a dictionary the cache learns
// from its first objects, base/packed.h), and a small parsed index (key, name, namespace,
// labels, rv) so LIST and selectors never re-parse the bytes.
//
// Ownership: the cache owns its store WatchHandle; Stop() (or the destructor) cancels it and
// drops every watcher.
// Thread-safety: all methods are thread-safe. Watchers are called in revision order, one
// dispatch round at a time (the dispatch lock), from the store's watch thread (or the caller of
// AddWatcher for the replayed part); the state lock is not held then, so LIST/GET snapshots,
// NoteWrite and WaitForRevision never wait for watchers. Watchers must not block and must not
// call back into the cache. A watcher that returns false is removed; a removed watcher may
// still get the round in progress. Live events reach each watcher one store batch at a time
// (OnEvents), so a burst of writes costs one write per watcher, not one per event.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/rest/selectors.h"
#include "base/packed.h"
#include "base/status.h"
#include "store/store.h"

namespace tug::apiserver::rest {

// The Table row of an object, rendered once per snapshot (cells with deferred times, see
// api::kDeferredNow) and where its metadata sits in `bytes` (for PartialObjectMetadata).
struct CachedRow {
  std::string cells;  // serialized JSON array
  size_t meta_begin = 0, meta_end = 0;
};

struct CachedObject {
  CachedObject() = default;
  // Copies the data; the lazily rendered row is not copied (it may be stale for the copy).
  CachedObject(const CachedObject& o)
      : key(o.key), name(o.name), ns(o.ns), labels(o.labels), rv(o.rv), packed(o.packed) {}
  CachedObject& operator=(const CachedObject&) = delete;
  ~CachedObject() { delete row.load(std::memory_order_acquire); }

  std::string key;
  std::string name;
  std::string ns;
  Labels labels;
  int64_t rv = 0;
  Packed packed;  // compact JSON, metadata.resourceVersion == rv

  std::string Bytes() const { return packed.Unpack(); }
  // The bytes: borrowed when held unpacked, else unpacked into *buf.
  std::string_view View(std::string* buf) const { return packed.View(buf); }

  // The rendered row, or null until first needed; installed once (compare-and-swap), owned.
  mutable std::atomic<const CachedRow*> row{nullptr};
};
using CachedObjectPtr = std::shared_ptr<const CachedObject>;

// Builds a snapshot from a stored value, setting metadata.resourceVersion. Stored values are
// tug's own compact JSON, so this splices the bytes (name, namespace and labels are read by a
// scanner); anything unexpected falls back to a full parse and re-encode. The bytes are packed
// by `packer`, or held as they are without one (a snapshot made for one response).
Result<CachedObjectPtr> MakeCachedObject(const std::string& key, const std::string& value, int64_t rv,
                                         Packer* packer = nullptr);
// The same result by a full parse (the fallback; tests compare both).
Result<CachedObjectPtr> MakeCachedObjectByParsing(const std::string& key, const std::string& value, int64_t rv,
                                                  Packer* packer = nullptr);

enum class WatchEventType { kAdded, kModified, kDeleted };

// Encodings of one event's object made for watchers and shared by all of them: an old API
// version's conversion (apps/v1beta1, ...) is made once per event and served version, not once
// per watcher. Only touched within one dispatch round of the owning cache (serialized).
struct EventForms {
  std::vector<std::pair<const void*, std::string>> served;  // by the served version's identity
  // Whole watch lines ({"type":T,"object":...}\n) by served version and event type (a type
  // literal: a selector can turn a MODIFIED into an ADDED or DELETED for one watcher), shared
  // with the transport of every watcher that sends them.
  struct Line {
    const void* version;
    std::string_view type;
    std::shared_ptr<const std::string> bytes;
  };
  std::vector<Line> lines;
};

struct CacheEvent {
  WatchEventType type;
  CachedObjectPtr obj;   // new state; for kDeleted the last state with rv = the delete's revision
  CachedObjectPtr prev;  // previous state (null for kAdded)
  int64_t rv = 0;
  std::shared_ptr<EventForms> forms;  // null for synthetic events (the initial ADDED list)

  // obj's bytes as made by `make` for the served version `key`, made once per event (when
  // `forms` is set) and counted by WatchConversionsForTest.
  template <typename Make>
  const std::string& Served(const void* key, Make&& make) const {
    EventForms& f = forms ? *forms : ScratchForms();
    if (forms)
      for (const auto& [k, bytes] : f.served)
        if (k == key) return bytes;
    if (!forms) f.served.clear();
    CountWatchConversion();
    f.served.emplace_back(key, make());
    return f.served.back().second;
  }

  // The watch line for (served version `key`, event `type`) as made by `make`, made once per
  // event when `forms` is set (else made for this call only). Counted by WatchLinesForTest.
  template <typename Make>
  std::shared_ptr<const std::string> SharedLine(const void* key, std::string_view type, Make&& make) const {
    if (forms)
      for (const auto& l : forms->lines)
        if (l.version == key && l.type == type) return l.bytes;
    CountWatchLine();
    auto bytes = std::make_shared<const std::string>(make());
    if (forms) forms->lines.push_back({key, type, bytes});
    return bytes;
  }

 private:
  static EventForms& ScratchForms();
  static void CountWatchConversion();
  static void CountWatchLine();
};

// How many served-version conversions watch events needed, process-wide (tests).
size_t WatchConversionsForTest();
// How many watch lines were made (each shared by every watcher that sends it), process-wide.
size_t WatchLinesForTest();

class CacheWatcher {
 public:
  virtual ~CacheWatcher() = default;
  // Returns false to be removed (client gone / fell behind).
  virtual bool OnEvent(const CacheEvent& ev) = 0;
  // The events of one store batch, in order (a watcher can write them at once). Returns false
  // to be removed. The default calls OnEvent for each.
  virtual bool OnEvents(std::span<const CacheEvent> evs) {
    for (const CacheEvent& ev : evs)
      if (!OnEvent(ev)) return false;
    return true;
  }
  // No events up to rev (for bookmarks). Returns false to be removed.
  virtual bool OnProgress(int64_t rev) { return true; }
  // Called once, in AddWatcher's round, after the initial/replayed events and before any live
  // event (for the k8s.io/initial-events-end bookmark). Returns false to be dropped.
  virtual bool OnReplayDone(int64_t rev) { return true; }
};

class WatchCache {
 public:
  // The event window keeps the last `window` events, fewer when their objects' packed bytes
  // pass `window_bytes` (but never fewer than kMinWindow): a window of 4,096 events of 5 KiB
  // pods held 20 MB of old versions per resource before they were packed.
  static constexpr size_t kMinWindow = 100;
  WatchCache(store::Store& store, std::string prefix, size_t window = 4096, size_t window_bytes = 4u << 20);
  ~WatchCache();
  WatchCache(const WatchCache&) = delete;
  WatchCache& operator=(const WatchCache&) = delete;

  // Lists the prefix and starts the store watch. Call once.
  Status Start();
  void Stop();

  const std::string& prefix() const { return prefix_; }
  int64_t Revision() const;
  // Waits until the cache has seen revision rev (false on timeout or stop).
  bool WaitForRevision(int64_t rev, std::chrono::milliseconds timeout);

  // Records that this process wrote under the prefix at rev (reads wait for it: the store's
  // progress notifications for other prefixes may lag).
  void NoteWrite(int64_t rev);
  int64_t LastWrite() const;

  // Current objects whose key starts with key_prefix (sorted by key), and the cache revision.
  std::vector<CachedObjectPtr> Snapshot(std::string_view key_prefix, int64_t* rev) const;

  // Registers a watcher that sees every event after from_rev. from_rev == 0: the watcher
  // first gets a synthetic kAdded for every current object (rv = the cache revision), then
  // live events. Gone ("too old resource version: X (Y)") when from_rev is older than the
  // window. Returns an id for RemoveWatcher. *start_rev is set to the revision the watcher is
  // in sync with after the replay.
  Result<uint64_t> AddWatcher(int64_t from_rev, std::shared_ptr<CacheWatcher> w, int64_t* start_rev);
  void RemoveWatcher(uint64_t id);
  // Calls OnProgress(revision) on every watcher (bookmark timer).
  void Progress();
  // Runs fn(revision) between dispatch rounds: every watcher has been given every event up to
  // revision and nothing after it (for one watcher's bookmark). Returns what fn returns.
  bool CallBetweenEvents(const std::function<bool(int64_t rev)>& fn);
  size_t WatcherCount() const;

 private:
  void OnStoreEvents(std::span<const store::Event> events, int64_t progress_rev);
  // Calls `call` on each of ws (outside mu_, under dispatch_mu_) and removes those refusing.
  void Dispatch(const std::vector<std::pair<uint64_t, std::shared_ptr<CacheWatcher>>>& ws,
                const std::function<bool(CacheWatcher&)>& call);

  store::Store& store_;
  const std::string prefix_;
  const size_t window_;
  const size_t window_bytes_;
  std::mutex dispatch_mu_;  // one dispatch round (or replay + registration) at a time; before mu_
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, CachedObjectPtr, std::less<>> objects_;  // GUARDED_BY(mu_)
  std::deque<CacheEvent> events_;                                // GUARDED_BY(mu_)
  size_t events_bytes_ = 0;  // GUARDED_BY(mu_): the packed bytes of events_' objects
  Packer packer_;            // the objects' dictionary, learnt from the first ones
  int64_t rev_ = 0;                                              // GUARDED_BY(mu_)
  std::atomic<int64_t> last_write_{0};
  int64_t window_start_ = 0;  // events with rv > window_start_ are all in events_
  std::map<uint64_t, std::shared_ptr<CacheWatcher>> watchers_;  // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;
  bool stopped_ = false;
  store::WatchHandlePtr handle_;
};

}  // namespace tug::apiserver::rest
