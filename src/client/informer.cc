// Informers: one reflector thread per informer (LIST, then WATCH from the list's
// resourceVersion; re-watch after a server-side timeout, re-list after 410 Gone or connection
// loss) feeding a queue of deltas, and one dispatch thread that applies each delta to the cache
// and then calls the handlers without holding the cache lock.
//
// Applying deltas on the dispatch thread keeps the cache and the handlers' view consistent: a
// handler added later gets synthetic adds for exactly the objects the cache holds at that
// point of the event sequence, then every later event.
#include "client/informer.h"

#include <malloc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "base/allocator.h"
#include "base/log.h"

namespace tug::client {

std::string KeyOf(const Json& obj) {
  const Json* meta = Find(obj, "metadata");
  if (!meta) return "";
  std::string ns = GetString(*meta, "namespace");
  std::string name = GetString(*meta, "name");
  if (ns.empty()) return name;
  return ns + "/" + name;
}

std::pair<std::string, std::string> SplitKey(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return {"", std::string(key)};
  return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

namespace {

constexpr const char* kLog = "client";
constexpr int64_t kListPageSize = 500;
constexpr size_t kTrimAfterListOf = 2000;

// A scope's indexer name inside the shared informer.
std::string ScopedName(uint64_t scope, std::string_view name) {
  return "scope" + std::to_string(scope) + "/" + std::string(name);
}

std::string ResourceVersionOf(const Json& obj) { return GetStringPath(obj, {"metadata", "resourceVersion"}); }

std::string NamespaceOf(const Json& obj) { return GetStringPath(obj, {"metadata", "namespace"}); }

struct Delta {
  enum Kind { kAdded, kModified, kDeleted, kReplace, kAddHandler } kind;
  ObjectPtr obj;                  // kAdded/kModified/kDeleted
  std::vector<ObjectPtr> items;   // kReplace: a full list (the objects not in `kept`)
  std::vector<std::string> kept;  // kReplace: keys listed at the resourceVersion cached already
  EventHandler handler;           // kAddHandler
  uint64_t scope = 0;             // kAddHandler: the handler's scope (0: the factory's own)
};

class InformerImpl : public Informer {
 public:
  // compact: a compact cache (InformerFactory::SetCompactCache) with a hot ring of `hot` trees
  // that keeps a tree parsed for `pin` after a change or a targeted read.
  InformerImpl(const Client& client, Resource r, InformerOptions opts, bool compact = false, size_t hot = 0,
               std::chrono::milliseconds pin = std::chrono::milliseconds(0))
      : client_(client), resource_(std::move(r)), opts_(std::move(opts)), compact_(compact), hot_(hot),
        pin_changed_(pin) {}
  ~InformerImpl() override { Stop(); }

  // ---- Informer -------------------------------------------------------------------------------

  void AddHandler(EventHandler h) override { AddScopedHandler(std::move(h), 0); }

  void AddScopedHandler(EventHandler h, uint64_t scope) {
    Push(Delta{Delta::kAddHandler, nullptr, {}, {}, std::move(h), scope});
  }

  // Removes the scope's handlers (queued ones included) and its indexers (named "<scope>/...");
  // when it returns none of its handlers runs. Not from a handler of this informer.
  void RemoveScope(uint64_t scope) {
    {
      std::lock_guard<std::mutex> lock(handlers_mu_);
      removed_scopes_.insert(scope);
      std::erase_if(handlers_, [&](const ScopedHandler& h) { return h.scope == scope; });
    }
    std::unique_lock<std::shared_mutex> lock(cache_mu_);
    std::erase_if(indices_, [&](const auto& kv) { return kv.first.starts_with(ScopedName(scope, "")); });
  }

  void AddIndexer(std::string name, std::function<std::vector<std::string>(const Json&)> fn) override {
    std::unique_lock<std::shared_mutex> lock(cache_mu_);
    Index& idx = indices_[name];
    idx.fn = std::move(fn);
    idx.values.clear();
    for (const auto& [key, e] : items_)
      for (auto& v : idx.fn(*Materialize(e, kTransient))) idx.values[v].insert(key);
  }

  bool HasSynced() const override { return synced_.load(std::memory_order_acquire); }

  // Whether the cache holds key at resourceVersion rv (no parse).
  bool CachedAt(const std::string& key, std::string_view rv) const {
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto it = items_.find(key);
    return it != items_.end() && it->second.rv == rv;
  }

  ObjectPtr Get(std::string_view key) const override {
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto it = items_.find(std::string(key));
    return it == items_.end() ? nullptr : Materialize(it->second, kPinRead);
  }

  std::vector<ObjectPtr> List(std::string_view ns, const LabelSelector* selector) const override {
    std::vector<ObjectPtr> out;
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    // A selected list is a control loop's working set (pinned like a Get); a list of everything
    // is a scan (only the hot ring keeps what it parsed).
    const ReadKind kind = selector ? kPinRead : kScan;
    auto consider = [&](const Entry& e) {
      if (selector && !selector->Matches(e.Labels())) return;
      out.push_back(Materialize(e, kind));
    };
    if (ns.empty()) {
      out.reserve(items_.size());
      for (const auto& [k, o] : items_) consider(o);
    } else {
      auto it = by_ns_.find(std::string(ns));
      if (it == by_ns_.end()) return out;
      out.reserve(it->second.size());
      for (const auto& k : it->second)
        if (auto o = items_.find(k); o != items_.end()) consider(o->second);
    }
    return out;
  }

  std::vector<ObjectPtr> ByIndex(std::string_view index, std::string_view value) const override {
    std::vector<ObjectPtr> out;
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto ix = indices_.find(std::string(index));
    if (ix == indices_.end()) return out;
    auto vs = ix->second.values.find(std::string(value));
    if (vs == ix->second.values.end()) return out;
    out.reserve(vs->second.size());
    for (const auto& k : vs->second)
      if (auto o = items_.find(k); o != items_.end()) out.push_back(Materialize(o->second, kPinRead));
    return out;
  }

  std::vector<std::string> IndexValues(std::string_view index) const override {
    std::vector<std::string> out;
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto ix = indices_.find(std::string(index));
    if (ix == indices_.end()) return out;
    out.reserve(ix->second.values.size());
    for (const auto& [v, keys] : ix->second.values) out.push_back(v);
    return out;
  }

  const Resource& resource() const override { return resource_; }

  // ---- lifecycle ------------------------------------------------------------------------------

  void Start() {
    std::lock_guard<std::mutex> lock(run_mu_);
    if (started_ || stopping_) return;
    started_ = true;
    dispatcher_ = std::thread([this] {
      SetThreadName("infd-");  // for perf and top: which resource's handlers run here
      DispatchLoop();
    });
    reflector_ = std::thread([this] {
      SetThreadName("infr-");
      ReflectorLoop();
    });
  }

  bool started() const {
    std::lock_guard<std::mutex> lock(run_mu_);
    return started_;
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(run_mu_);
      if (stopping_) return;
      stopping_ = true;
      stop_flag_ = true;
      run_cv_.notify_all();
      if (current_) {
        std::lock_guard<std::mutex> es_lock(current_->mu);
        current_->cv.notify_all();
      }
    }
    {
      std::lock_guard<std::mutex> lock(q_mu_);
      q_stop_ = true;
      q_cv_.notify_all();
    }
    if (reflector_.joinable()) reflector_.join();
    if (dispatcher_.joinable()) dispatcher_.join();
  }

 private:
  // How the current watch ended, and how far it got.
  struct EndState {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Status> end;
    std::string rv;
    int events = 0;
  };

  struct Index {
    std::function<std::vector<std::string>(const Json&)> fn;
    std::unordered_map<std::string, std::unordered_set<std::string>> values;
  };

  struct ScopedHandler {
    uint64_t scope;
    EventHandler h;
  };

  // Names the calling thread prefix + the resource's plural (Linux keeps 15 characters).
  void SetThreadName(const char* prefix) const {
    std::string name = (prefix + resource_.plural).substr(0, 15);
    pthread_setname_np(pthread_self(), name.c_str());
  }

  void Push(Delta d) {
    std::lock_guard<std::mutex> lock(q_mu_);
    queue_.push_back(std::move(d));
    q_cv_.notify_one();
  }

  // ---- reflector ------------------------------------------------------------------------------

  // Waits up to d or until Stop; false when stopping.
  bool SleepFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(run_mu_);
    run_cv_.wait_for(lock, d, [&] { return stopping_; });
    return !stopping_;
  }

  bool Stopping() {
    std::lock_guard<std::mutex> lock(run_mu_);
    return stopping_;
  }

  void Backoff() {
    SleepFor(backoff_);
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(10000));
  }

  ListOptions BaseOptions() const {
    ListOptions o;
    o.label_selector = opts_.label_selector;
    o.field_selector = opts_.field_selector;
    return o;
  }

  // LISTs in pages of kListPageSize (as client-go's reflector), transforming each page's items
  // before reading the next, so a big re-list never holds every object untransformed at once.
  // The pages of one list are consistent (one resourceVersion); an expired continue token fails
  // the whole list (the caller lists again).
  Status ListPaged(std::string& rv, std::vector<ObjectPtr>& items, std::vector<std::string>& kept) {
    ListOptions o = BaseOptions();
    o.limit = kListPageSize;
    while (true) {
      ASSIGN_OR_RETURN(Json page, client_.List(resource_, opts_.ns, o));
      rv = GetStringPath(page, {"metadata", "resourceVersion"});
      if (auto it = page.find("items"); it != page.end() && it->is_array()) {
        items.reserve(items.size() + it->size());
        for (Json& item : *it) {
          // A re-list (after a watch failed): an object the cache holds at the same
          // resourceVersion is kept as it is, so a big cache is not built a second time beside
          // itself (each parsed page is freed as the list goes on).
          const std::string item_rv = ResourceVersionOf(item);
          if (std::string key = KeyOf(item); !item_rv.empty() && CachedAt(key, item_rv)) {
            kept.push_back(std::move(key));
            continue;
          }
          // List items may come without their kind; handlers expect whole objects.
          if (!item.contains("kind")) item["kind"] = resource_.kind;
          if (!item.contains("apiVersion")) item["apiVersion"] = resource_.ApiVersion();
          if (opts_.transform) opts_.transform(item);
          items.push_back(Share(std::move(item)));
        }
      }
      std::string cont = GetStringPath(page, {"metadata", "continue"});
      if (cont.empty()) return Status::Ok();
      o.continue_token = std::move(cont);
    }
  }

  void ReflectorLoop() {
    // The listed objects are the cache; a compact cache keeps only their text, made on the
    // dispatch thread, and the trees made here are short-lived (base/allocator.h).
    UseArena(compact_ ? ArenaKind::kScratch : ArenaKind::kCache);
    std::mt19937 rng(std::random_device{}());
    int zero_rv_lists = 0;
    while (!Stopping()) {
      // LIST
      std::string rv;
      std::vector<ObjectPtr> items;
      std::vector<std::string> kept;
      if (Status st = ListPaged(rv, items, kept); !st.ok()) {
        TUG_LOG(WARNING, kLog) << "list failed" << kv("resource", resource_.plural) << kv("error", st.ToString());
        Backoff();
        continue;
      }
      const bool big = items.size() >= kTrimAfterListOf;
      Push(Delta{Delta::kReplace, nullptr, std::move(items), std::move(kept), {}, 0});
      // A big list's response bodies and untransformed pages were freed in the middle of the
      // heap, among the cached objects: give those pages back (glibc keeps them otherwise).
      if (big) malloc_trim(0);
      backoff_ = std::chrono::milliseconds(100);
      if ((rv.empty() || rv == "0") && ++zero_rv_lists < 20) {
        // A list must name the revision it is consistent at; a watch from "0" would mean "any
        // state" and could miss deletes in between. (tug's REST layer can answer "0" right after
        // start for a never-written resource.) List again shortly instead.
        TUG_VLOG(4, kLog) << "list without a resourceVersion; listing again" << kv("resource", resource_.plural);
        SleepFor(std::chrono::milliseconds(50));
        continue;
      }
      zero_rv_lists = 0;

      // WATCH, re-watching from the last seen resourceVersion while the server ends watches
      // cleanly (timeouts); anything else goes back to LIST.
      while (!Stopping()) {
        Status end = WatchOnce(rv, rng);
        if (Stopping()) return;
        if (end.ok()) continue;
        if (end.code() != StatusCode::kGone) {
          TUG_LOG(INFO, kLog) << "watch ended; re-listing" << kv("resource", resource_.plural)
                              << kv("error", end.ToString());
          Backoff();
        } else {
          TUG_VLOG(2, kLog) << "watch expired; re-listing" << kv("resource", resource_.plural);
        }
        break;
      }
    }
  }

  // Runs one watch from rv until it ends; advances rv. Returns how it ended.
  Status WatchOnce(std::string& rv, std::mt19937& rng) {
    ListOptions o = BaseOptions();
    o.resource_version = rv;
    o.allow_watch_bookmarks = true;
    // As client-go: a server-side timeout between 5 and 10 minutes spreads re-watches out.
    o.timeout_seconds = 300 + static_cast<int>(rng() % 300);

    auto es = std::make_shared<EndState>();
    {
      std::lock_guard<std::mutex> lock(run_mu_);
      if (stopping_) return Status::Ok();
      current_ = es;
    }
    es->rv = rv;
    auto started = std::chrono::steady_clock::now();
    auto w = client_.StartWatch(
        resource_, opts_.ns, o,
        [this, es](WatchEvent ev) {
          if (ev.type == WatchEvent::kError) return;  // reported through on_end
          UseArena(compact_ ? ArenaKind::kScratch : ArenaKind::kCache);  // as the list's objects
          std::string erv = ResourceVersionOf(ev.object);
          if (ev.type != WatchEvent::kBookmark) {
            Delta::Kind k = ev.type == WatchEvent::kAdded    ? Delta::kAdded
                            : ev.type == WatchEvent::kDeleted ? Delta::kDeleted
                                                              : Delta::kModified;
            if (opts_.transform) opts_.transform(ev.object);
            Push(Delta{k, Share(std::move(ev.object)), {}, {}, {}, 0});
          }
          std::lock_guard<std::mutex> lock(es->mu);
          if (!erv.empty()) es->rv = std::move(erv);
          ++es->events;
        },
        [es](Status st) {
          std::lock_guard<std::mutex> lock(es->mu);
          es->end = std::move(st);
          es->cv.notify_all();
        });
    if (!w.ok()) {
      std::lock_guard<std::mutex> lock(run_mu_);
      current_.reset();
      return w.status();
    }
    {
      // Until the watch ends or Stop() (which sets stop_flag_ and then notifies es->cv).
      std::unique_lock<std::mutex> lock(es->mu);
      es->cv.wait(lock, [&] { return es->end.has_value() || stop_flag_.load(); });
    }
    (*w)->Stop();
    {
      std::lock_guard<std::mutex> lock(run_mu_);
      current_.reset();
    }
    Status st;
    int events;
    {
      std::lock_guard<std::mutex> lock(es->mu);
      rv = es->rv;
      st = es->end ? *es->end : Status::Ok();
      events = es->events;
    }
    // A watch that the server ends at once without news would spin: slow it down.
    if (st.ok() && events == 0 && std::chrono::steady_clock::now() - started < std::chrono::seconds(1))
      SleepFor(std::chrono::milliseconds(500));
    return st;
  }

  // ---- dispatch -------------------------------------------------------------------------------

  struct Notification {
    enum Kind { kAdd, kUpdate, kDelete } kind;
    ObjectPtr old_obj;
    ObjectPtr obj;
  };

  void DispatchLoop() {
    auto next_resync = std::chrono::steady_clock::now() + opts_.resync;
    std::vector<Notification> notes;
    while (true) {
      UnpinSettled();
      // This thread frees most trees of a compact cache (each event's, the unpinned ones): give
      // their blocks back to the scratch arena now, or the handlers' long-lived allocations
      // would reuse them from this thread's cache and hold the scratch arena's pages.
      if (compact_) FlushThreadCache();
      Delta d;
      {
        std::unique_lock<std::mutex> lock(q_mu_);
        // Wakes for the next resync and the next unpinning, whichever comes first.
        std::optional<std::chrono::steady_clock::time_point> wake;
        if (opts_.resync.count() > 0) wake = next_resync;
        if (auto unpin = NextUnpin()) wake = wake ? std::min(*wake, *unpin) : *unpin;
        auto ready = [&] { return q_stop_ || !queue_.empty() || unpin_due_; };
        if (wake) q_cv_.wait_until(lock, *wake, ready);
        else q_cv_.wait(lock, ready);
        unpin_due_ = false;
        if (q_stop_) return;
        if (queue_.empty()) {
          lock.unlock();
          if (opts_.resync.count() > 0 && std::chrono::steady_clock::now() >= next_resync) {
            next_resync = std::chrono::steady_clock::now() + opts_.resync;
            Resync();
          }
          continue;
        }
        d = std::move(queue_.front());
        queue_.pop_front();
      }
      notes.clear();
      switch (d.kind) {
        case Delta::kAddHandler: {
          std::lock_guard<std::mutex> lock(handlers_mu_);
          if (removed_scopes_.count(d.scope)) continue;  // its scope stopped before it was added
          EventHandler& h = handlers_.emplace_back(ScopedHandler{d.scope, std::move(d.handler)}).h;
          if (h.on_add) ForEachCached([&](const ObjectPtr& o) { h.on_add(o); });
          continue;
        }
        case Delta::kAdded:
        case Delta::kModified:
          Upsert(std::move(d.obj), notes);
          break;
        case Delta::kDeleted:
          Remove(std::move(d.obj), notes);
          break;
        case Delta::kReplace:
          Replace(std::move(d.items), d.kept, notes);
          break;
      }
      std::lock_guard<std::mutex> lock(handlers_mu_);
      for (const Notification& n : notes) {
        for (const auto& [scope, h] : handlers_) {
          switch (n.kind) {
            case Notification::kAdd:
              if (h.on_add) h.on_add(n.obj);
              break;
            case Notification::kUpdate:
              if (h.on_update) h.on_update(n.old_obj, n.obj);
              break;
            case Notification::kDelete:
              if (h.on_delete) h.on_delete(n.obj);
              break;
          }
        }
      }
      notes.clear();  // no reference outlives its dispatch (a compact cache frees released trees)
      // Synced once the first list has reached every handler.
      if (d.kind == Delta::kReplace) synced_.store(true, std::memory_order_release);
    }
  }

  void Resync() {
    std::lock_guard<std::mutex> lock(handlers_mu_);
    ForEachCached([&](const ObjectPtr& o) {
      for (const auto& [scope, h] : handlers_)
        if (h.on_update) h.on_update(o, o);
    });
  }

  // Calls fn for every cached object, one parsed at a time (a compact cache of 30,000 pods is
  // not parsed all at once), without holding the cache lock. Dispatch thread only: the cache
  // does not change meanwhile.
  void ForEachCached(const std::function<void(const ObjectPtr&)>& fn) {
    std::vector<std::string> keys;
    {
      std::shared_lock<std::shared_mutex> lock(cache_mu_);
      keys.reserve(items_.size());
      for (const auto& [k, e] : items_) keys.push_back(k);
    }
    for (const std::string& k : keys) {
      ObjectPtr o;
      {
        std::shared_lock<std::shared_mutex> lock(cache_mu_);
        if (auto it = items_.find(k); it != items_.end()) o = Materialize(it->second, kTransient);
      }
      if (o) fn(o);
    }
  }

  // Index maintenance; cache_mu_ held exclusively.
  void IndexLocked(const std::string& key, const ObjectPtr& old_obj, const ObjectPtr& obj) {
    if (old_obj) {
      std::string ns = NamespaceOf(*old_obj);
      if (!ns.empty()) {
        auto it = by_ns_.find(ns);
        if (it != by_ns_.end()) {
          it->second.erase(key);
          if (it->second.empty()) by_ns_.erase(it);
        }
      }
    }
    if (obj) {
      std::string ns = NamespaceOf(*obj);
      if (!ns.empty()) by_ns_[ns].insert(key);
    }
    for (auto& [name, idx] : indices_) {
      if (old_obj)
        for (const auto& v : idx.fn(*old_obj)) {
          auto it = idx.values.find(v);
          if (it == idx.values.end()) continue;
          it->second.erase(key);
          if (it->second.empty()) idx.values.erase(it);
        }
      if (obj)
        for (auto& v : idx.fn(*obj)) idx.values[v].insert(key);
    }
  }

  void Upsert(ObjectPtr obj, std::vector<Notification>& notes) {
    std::string key = KeyOf(*obj);
    ObjectPtr old;
    Entry fresh = MakeEntry(key, obj);
    {
      std::unique_lock<std::shared_mutex> lock(cache_mu_);
      auto it = items_.find(key);
      if (it == items_.end()) {
        items_.emplace(key, std::move(fresh));
      } else {
        // A replayed event for the version already cached (a watch from "0" replays the state)
        // is no change.
        if (it->second.rv == fresh.rv && !fresh.rv.empty()) return;
        old = Materialize(it->second, kTransient);
        it->second = std::move(fresh);
      }
      IndexLocked(key, old, obj);
    }
    if (old) notes.push_back({Notification::kUpdate, std::move(old), std::move(obj)});
    else notes.push_back({Notification::kAdd, nullptr, std::move(obj)});
  }

  void Remove(ObjectPtr obj, std::vector<Notification>& notes) {
    std::string key = KeyOf(*obj);
    {
      std::unique_lock<std::shared_mutex> lock(cache_mu_);
      auto it = items_.find(key);
      if (it != items_.end()) {
        IndexLocked(key, Materialize(it->second, kTransient), nullptr);
        items_.erase(it);
      }
    }
    notes.push_back({Notification::kDelete, nullptr, std::move(obj)});
  }

  // A fresh list: adds for new keys, updates for changed resourceVersions, deletes (with the
  // last known state) for keys that are gone. `kept`: keys listed at the version cached (when
  // the list was read; the deltas queued before it are older, so it still is).
  void Replace(std::vector<ObjectPtr> items, const std::vector<std::string>& kept, std::vector<Notification>& notes) {
    std::unique_lock<std::shared_mutex> lock(cache_mu_);
    std::unordered_set<std::string> seen(kept.begin(), kept.end());
    seen.reserve(items.size() + kept.size());
    for (ObjectPtr& obj : items) {
      std::string key = KeyOf(*obj);
      seen.insert(key);
      auto it = items_.find(key);
      if (it == items_.end()) {
        items_.emplace(key, MakeEntry(key, obj));
        IndexLocked(key, nullptr, obj);
        notes.push_back({Notification::kAdd, nullptr, std::move(obj)});
      } else if (it->second.rv != ResourceVersionOf(*obj)) {
        ObjectPtr old = Materialize(it->second, kTransient);
        it->second = MakeEntry(key, obj);
        IndexLocked(key, old, obj);
        notes.push_back({Notification::kUpdate, std::move(old), std::move(obj)});
      }
    }
    for (auto it = items_.begin(); it != items_.end();) {
      if (seen.count(it->first)) {
        ++it;
        continue;
      }
      ObjectPtr last = Materialize(it->second, kTransient);
      IndexLocked(it->first, last, nullptr);
      notes.push_back({Notification::kDelete, nullptr, std::move(last)});
      it = items_.erase(it);
    }
  }

  // One cached object. Plain cache: `obj` holds the parsed tree. Compact cache: `text` holds
  // the object as compact JSON and `labels` its metadata.labels (selectors match without a
  // parse); `obj` pins the tree for pin_changed_ after the object changed (the objects control
  // loops are working on), then only `parsed` points at it while anybody still holds it.
  struct Entry {
    ObjectPtr obj;
    std::string text;
    Json labels;
    std::string rv;
    mutable std::weak_ptr<const Json> parsed;  // guarded by the stripe lock of the entry
    mutable std::atomic<int64_t> read_pin_until_ms{0};  // steady clock; a targeted read's pin

    Entry() = default;
    Entry(Entry&& o) noexcept
        : obj(std::move(o.obj)), text(std::move(o.text)), labels(std::move(o.labels)), rv(std::move(o.rv)),
          parsed(std::move(o.parsed)) {}
    Entry& operator=(Entry&& o) noexcept {
      obj = std::move(o.obj);
      text = std::move(o.text);
      labels = std::move(o.labels);
      rv = std::move(o.rv);
      parsed = std::move(o.parsed);
      read_pin_until_ms.store(0, std::memory_order_relaxed);
      return *this;
    }

    const Json* Labels() const {
      if (text.empty()) return obj ? FindPath(*obj, {"metadata", "labels"}) : nullptr;
      return labels.is_null() ? nullptr : &labels;
    }
  };

  // Dispatch thread; key is KeyOf(*obj).
  Entry MakeEntry(const std::string& key, const ObjectPtr& obj) {
    Entry e;
    e.rv = ResourceVersionOf(*obj);
    e.obj = obj;
    if (!compact_) return e;
    ArenaScope arena(ArenaKind::kCache);  // the text is kept; the parsed tree is short-lived
    e.text = DumpJson(*obj);
    e.text.shrink_to_fit();  // grown by doubling: up to a third more than the text otherwise
    if (const Json* l = FindPath(*obj, {"metadata", "labels"})) e.labels = *l;
    e.parsed = obj;
    pins_.push_back(Pin{std::chrono::steady_clock::now() + pin_changed_, key, e.rv});
    return e;
  }

  // Compact cache, dispatch thread: unpins the trees of objects that have not changed for
  // pin_changed_ (they stay shared while held). The trees are freed outside the lock.
  void UnpinSettled() {
    auto now = std::chrono::steady_clock::now();
    std::vector<ObjectPtr> released;
    {
      std::lock_guard<std::mutex> lock(read_pins_mu_);
      while (!read_pins_.empty() && read_pins_.front().first <= now) {
        released.push_back(std::move(read_pins_.front().second));
        read_pins_.pop_front();
      }
    }
    if (pins_.empty() || pins_.front().until > now) return;
    std::unique_lock<std::shared_mutex> lock(cache_mu_);
    while (!pins_.empty() && pins_.front().until <= now) {
      Pin& p = pins_.front();
      if (auto it = items_.find(p.key); it != items_.end() && it->second.rv == p.rv && it->second.obj)
        released.push_back(std::move(it->second.obj));
      pins_.pop_front();
    }
    lock.unlock();  // the trees are freed outside the lock
  }

  // When UnpinSettled next has something to do.
  std::optional<std::chrono::steady_clock::time_point> NextUnpin() const {
    std::optional<std::chrono::steady_clock::time_point> t;
    if (!pins_.empty()) t = pins_.front().until;
    std::lock_guard<std::mutex> lock(read_pins_mu_);
    if (!read_pins_.empty() && (!t || read_pins_.front().first < *t)) t = read_pins_.front().first;
    return t;
  }

  enum ReadKind { kScan, kPinRead, kTransient };

  // The entry's tree: the pinned or plain one, or a still-referenced one, or parsed anew. A
  // targeted read (kPinRead: Get, ByIndex, a selected List) keeps the tree parsed for
  // pin_changed_ from the read, as a change does, so a control loop that re-reads the same
  // objects on every sync parses them once; a scan only puts what it parsed in the hot ring;
  // kTransient (a replaced version for on_update, a late handler's synthetic adds, a resync)
  // keeps nothing.
  // Callers hold cache_mu_ (shared or exclusive).
  ObjectPtr Materialize(const Entry& e, ReadKind kind) const {
    if (e.obj) return e.obj;
    std::mutex& stripe = stripes_[std::hash<const void*>{}(&e) % stripes_.size()];
    ObjectPtr p;
    {
      std::lock_guard<std::mutex> lock(stripe);
      p = e.parsed.lock();
    }
    bool parsed_now = false;
    if (!p) {
      Result<Json> parsed = Json();
      {
        ArenaScope arena(ArenaKind::kScratch);  // a tree for seconds, among many (base/allocator.h)
        parsed = ParseJson(e.text);
      }
      // The text is this cache's own encoding of a parsed object, so it parses back.
      if (!parsed.ok())
        TUG_LOG(ERROR, kLog) << "cached object does not parse" << kv("resource", resource_.plural)
                             << kv("error", parsed.status().ToString());
      p = Share(parsed.ok() ? std::move(*parsed) : Json::object());
      std::lock_guard<std::mutex> lock(stripe);
      // Another reader may have parsed it meanwhile: share one tree.
      if (ObjectPtr q = e.parsed.lock()) p = std::move(q);
      else e.parsed = p, parsed_now = true;
    }
    if (kind == kPinRead) {
      auto now = std::chrono::steady_clock::now();
      int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
      // Re-pinned at most every half period.
      int64_t until = e.read_pin_until_ms.load(std::memory_order_relaxed);
      if (until - now_ms < pin_changed_.count() / 2 &&
          e.read_pin_until_ms.compare_exchange_strong(until, now_ms + pin_changed_.count())) {
        bool first;
        {
          std::lock_guard<std::mutex> lock(read_pins_mu_);
          first = read_pins_.empty();
          read_pins_.emplace_back(now + pin_changed_, p);
        }
        if (first) {
          // The dispatcher may be asleep with nothing to unpin: wake it.
          std::lock_guard<std::mutex> lock(q_mu_);
          unpin_due_ = true;
          q_cv_.notify_one();
        }
      }
    } else if (parsed_now && kind == kScan) {
      KeepHot(p);
    }
    return p;
  }

  // The shared pointer for a parsed object. A compact cache's entries keep weak references,
  // which keep the pointer's control block (not the tree) allocated while the entry lives: it
  // is made in the cache arena, so it does not hold a page of the scratch arena, where the
  // trees are made, once the tree is freed.
  ObjectPtr Share(Json&& obj) const {
    if (!compact_) return std::make_shared<const Json>(std::move(obj));
    ArenaScope arena(ArenaKind::kCache);
    return std::make_shared<const Json>(std::move(obj));
  }

  // Keeps the most recently parsed trees of a compact cache alive (a ring).
  void KeepHot(ObjectPtr p) const {
    if (!hot_) return;
    std::lock_guard<std::mutex> lock(hot_mu_);
    if (hot_ring_.size() < hot_) {
      hot_ring_.push_back(std::move(p));
      return;
    }
    hot_ring_[hot_next_] = std::move(p);
    hot_next_ = (hot_next_ + 1) % hot_;
  }

  const Client& client_;
  const Resource resource_;
  const InformerOptions opts_;
  const bool compact_;  // false: plain cache
  const size_t hot_;    // compact cache: the hot ring's size

  const std::chrono::milliseconds pin_changed_;  // compact cache: how long a changed tree stays parsed
  struct Pin {
    std::chrono::steady_clock::time_point until;
    std::string key, rv;
  };
  std::deque<Pin> pins_;  // dispatch thread only; in time order
  mutable std::mutex read_pins_mu_;
  mutable std::deque<std::pair<std::chrono::steady_clock::time_point, ObjectPtr>> read_pins_;  // GUARDED_BY(read_pins_mu_)

  mutable std::array<std::mutex, 64> stripes_;
  mutable std::mutex hot_mu_;
  mutable std::vector<ObjectPtr> hot_ring_;  // GUARDED_BY(hot_mu_)
  mutable size_t hot_next_ = 0;              // GUARDED_BY(hot_mu_)

  mutable std::shared_mutex cache_mu_;
  std::unordered_map<std::string, Entry> items_;
  std::unordered_map<std::string, std::unordered_set<std::string>> by_ns_;
  std::unordered_map<std::string, Index> indices_;
  std::atomic<bool> synced_{false};

  mutable std::mutex q_mu_;
  mutable std::condition_variable q_cv_;
  std::deque<Delta> queue_;
  bool q_stop_ = false;
  mutable bool unpin_due_ = false;  // GUARDED_BY(q_mu_): a read pin was added to an empty list

  // Written by the dispatch thread and RemoveScope; held while handlers run, so a removed
  // handler is never running once RemoveScope returns.
  std::mutex handlers_mu_;
  std::vector<ScopedHandler> handlers_;         // GUARDED_BY(handlers_mu_)
  std::unordered_set<uint64_t> removed_scopes_;  // GUARDED_BY(handlers_mu_)

  mutable std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool started_ = false;
  bool stopping_ = false;
  std::atomic<bool> stop_flag_{false};     // stopping_, readable without run_mu_
  std::shared_ptr<EndState> current_;      // the running watch's state (run_mu_)
  std::chrono::milliseconds backoff_{100};  // reflector thread only
  std::thread reflector_;
  std::thread dispatcher_;
};

// A scope's view of a shared informer: reads go to the shared cache; handlers and indexers are
// registered under the scope (indexer names prefixed, so scopes cannot replace each other's).
class ScopedInformer : public Informer {
 public:
  ScopedInformer(InformerImpl& target, uint64_t scope) : t_(target), scope_(scope) {}
  void AddHandler(EventHandler h) override { t_.AddScopedHandler(std::move(h), scope_); }
  void AddIndexer(std::string name, std::function<std::vector<std::string>(const Json&)> fn) override {
    t_.AddIndexer(ScopedName(scope_, name), std::move(fn));
  }
  bool HasSynced() const override { return t_.HasSynced(); }
  ObjectPtr Get(std::string_view key) const override { return t_.Get(key); }
  std::vector<ObjectPtr> List(std::string_view ns, const LabelSelector* selector) const override {
    return t_.List(ns, selector);
  }
  std::vector<ObjectPtr> ByIndex(std::string_view index, std::string_view value) const override {
    return t_.ByIndex(ScopedName(scope_, index), value);
  }
  std::vector<std::string> IndexValues(std::string_view index) const override {
    return t_.IndexValues(ScopedName(scope_, index));
  }
  const Resource& resource() const override { return t_.resource(); }
  InformerImpl& target() const { return t_; }

 private:
  InformerImpl& t_;
  const uint64_t scope_;
};

std::string FactoryKey(const Resource& r, const InformerOptions& o) {
  return r.group + "/" + r.version + "/" + r.plural + "|" + o.ns + "|" + o.label_selector + "|" + o.field_selector;
}

}  // namespace

struct InformerFactory::Impl {
  explicit Impl(const Client& c) : client(&c) {}
  Impl(Impl& root, uint64_t id) : root(&root), scope(id) {}
  const Client* client = nullptr;  // a root factory's
  Impl* const root = nullptr;      // a scope's shared factory
  const uint64_t scope = 0;
  std::mutex mu;
  std::map<std::string, std::unique_ptr<InformerImpl>> informers;    // root
  std::map<std::string, std::unique_ptr<ScopedInformer>> scoped;     // scope
  bool started = false;                     // root
  std::function<void(Json&)> transform;     // root
  bool compact = false;                     // root: SetCompactCache
  std::vector<Resource> compact_only;       // root: SetCompactCache (empty: every resource)
  size_t compact_hot = 0;                   // root: SetCompactCache
  std::chrono::milliseconds compact_pin{0};  // root: SetCompactCache

  // Root: the informer for (r, opts), created (and started, once the factory is) on first use.
  InformerImpl& Shared(const Resource& r, InformerOptions opts) {
    std::lock_guard<std::mutex> lock(mu);
    std::string key = FactoryKey(r, opts);
    auto it = informers.find(key);
    if (it != informers.end()) return *it->second;
    if (!opts.transform) opts.transform = transform;
    bool compact_r = compact && (compact_only.empty() || std::any_of(compact_only.begin(), compact_only.end(), [&](const Resource& c) {
                                   return c.group == r.group && c.plural == r.plural;
                                 }));
    auto inf = std::make_unique<InformerImpl>(*client, r, std::move(opts), compact_r, compact_hot, compact_pin);
    if (started) inf->Start();
    return *informers.emplace(key, std::move(inf)).first->second;
  }

  // The informers this factory (root: all; scope: those it used) reads from.
  std::vector<InformerImpl*> Targets() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<InformerImpl*> out;
    for (auto& [k, inf] : informers) out.push_back(inf.get());
    for (auto& [k, inf] : scoped) out.push_back(&inf->target());
    return out;
  }
};

void StripManagedFields(Json& obj) {
  if (auto m = obj.find("metadata"); m != obj.end() && m->is_object()) m->erase("managedFields");
}

void StripForControlLoops(Json& obj) {
  StripManagedFields(obj);
  if (!obj.is_object() || GetString(obj, "kind") != "Pod" || GetString(obj, "apiVersion") != "v1") return;
  auto spec = obj.find("spec");
  if (spec == obj.end() || !spec->is_object()) return;
  for (const char* k : {"dnsPolicy", "enableServiceLinks", "serviceAccount", "securityContext", "terminationGracePeriodSeconds"})
    spec->erase(k);
  if (auto vols = spec->find("volumes"); vols != spec->end() && vols->is_array())
    for (auto v = vols->begin(); v != vols->end();)
      v = v->is_object() && v->contains("projected") ? vols->erase(v) : v + 1;
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    auto cs = spec->find(list);
    if (cs == spec->end() || !cs->is_array()) continue;
    for (Json& c : *cs) {
      if (!c.is_object()) continue;
      for (const char* k : {"volumeMounts", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy"}) c.erase(k);
    }
  }
  auto status = obj.find("status");
  if (status == obj.end() || !status->is_object()) return;
  for (const char* k : {"hostIPs", "startTime", "qosClass"}) status->erase(k);
  // Container statuses: the control loops read a container's name, readiness, restarts and how
  // it terminated (Job's pod failure policy, ReplicaSet's ranking), nothing else.
  auto keep_only = [](Json& o, std::initializer_list<std::string_view> keep) {
    for (auto it = o.begin(); it != o.end();)
      it = std::find(keep.begin(), keep.end(), it.key()) != keep.end() ? std::next(it) : o.erase(it);
  };
  for (const char* list : {"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"}) {
    auto cs = status->find(list);
    if (cs == status->end() || !cs->is_array()) continue;
    for (Json& c : *cs) {
      if (!c.is_object()) continue;
      keep_only(c, {"name", "ready", "restartCount", "state"});
      if (auto state = c.find("state"); state != c.end() && state->is_object()) keep_only(*state, {"terminated"});
    }
  }
}

void UseControlLoopCache(InformerFactory& factory) {
  factory.SetTransform(StripForControlLoops);
  factory.SetCompactCache(0, std::chrono::seconds(10), {kPods});
}

void InformerFactory::SetTransform(std::function<void(Json&)> transform) {
  if (impl_->root) return;  // a scope uses the shared factory's transform
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->transform = std::move(transform);
}

void InformerFactory::SetCompactCache(size_t hot_objects, std::chrono::milliseconds pin_changed,
                                      std::vector<Resource> only) {
  if (impl_->root) return;  // a scope uses the shared factory's caches
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->compact = true;
  impl_->compact_only = std::move(only);
  impl_->compact_hot = hot_objects;
  impl_->compact_pin = pin_changed;
}

InformerFactory::InformerFactory(const Client& client) : impl_(std::make_unique<Impl>(client)) {}

InformerFactory::InformerFactory(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

InformerFactory::~InformerFactory() { Stop(); }

std::unique_ptr<InformerFactory> InformerFactory::NewScope() {
  static std::atomic<uint64_t> next_scope{1};
  Impl& root = impl_->root ? *impl_->root : *impl_;
  return std::unique_ptr<InformerFactory>(new InformerFactory(std::make_unique<Impl>(root, next_scope.fetch_add(1))));
}

Informer& InformerFactory::For(const Resource& r, InformerOptions opts) {
  if (!impl_->root) return impl_->Shared(r, std::move(opts));
  std::string key = FactoryKey(r, opts);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (auto it = impl_->scoped.find(key); it != impl_->scoped.end()) return *it->second;
  }
  InformerImpl& target = impl_->root->Shared(r, std::move(opts));  // not under our lock: lock order
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto [it, inserted] = impl_->scoped.try_emplace(key, nullptr);
  if (inserted) it->second = std::make_unique<ScopedInformer>(target, impl_->scope);
  return *it->second;
}

void InformerFactory::Start() {
  Impl& root = impl_->root ? *impl_->root : *impl_;
  std::lock_guard<std::mutex> lock(root.mu);
  root.started = true;
  for (auto& [k, inf] : root.informers) inf->Start();
}

bool InformerFactory::WaitForSync(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    bool all = true;
    for (InformerImpl* inf : impl_->Targets())
      if (inf->started() && !inf->HasSynced()) all = false;
    if (all) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void InformerFactory::Stop() {
  if (impl_->root) {
    // A scope: its handlers and indexers leave the shared informers, which keep running.
    for (InformerImpl* inf : impl_->Targets()) inf->RemoveScope(impl_->scope);
    return;
  }
  // Stopped outside the lock: a handler that calls For() must not deadlock the join.
  std::vector<InformerImpl*> all;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->started = false;
    for (auto& [k, inf] : impl_->informers) all.push_back(inf.get());
  }
  for (InformerImpl* inf : all) inf->Stop();
}

}  // namespace tug::client
