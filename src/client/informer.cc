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
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
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
  std::vector<ObjectPtr> items;   // kReplace: a full list
  EventHandler handler;           // kAddHandler
  uint64_t scope = 0;             // kAddHandler: the handler's scope (0: the factory's own)
};

class InformerImpl : public Informer {
 public:
  InformerImpl(const Client& client, Resource r, InformerOptions opts)
      : client_(client), resource_(std::move(r)), opts_(std::move(opts)) {}
  ~InformerImpl() override { Stop(); }

  // ---- Informer -------------------------------------------------------------------------------

  void AddHandler(EventHandler h) override { AddScopedHandler(std::move(h), 0); }

  void AddScopedHandler(EventHandler h, uint64_t scope) {
    Push(Delta{Delta::kAddHandler, nullptr, {}, std::move(h), scope});
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
    for (const auto& [key, obj] : items_)
      for (auto& v : idx.fn(*obj)) idx.values[v].insert(key);
  }

  bool HasSynced() const override { return synced_.load(std::memory_order_acquire); }

  ObjectPtr Get(std::string_view key) const override {
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto it = items_.find(std::string(key));
    return it == items_.end() ? nullptr : it->second;
  }

  std::vector<ObjectPtr> List(std::string_view ns, const LabelSelector* selector) const override {
    std::vector<ObjectPtr> out;
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto consider = [&](const ObjectPtr& o) {
      if (selector && !selector->Matches(FindPath(*o, {"metadata", "labels"}))) return;
      out.push_back(o);
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
      if (auto o = items_.find(k); o != items_.end()) out.push_back(o->second);
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
  Status ListPaged(std::string& rv, std::vector<ObjectPtr>& items) {
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
          if (ObjectPtr cur = Get(KeyOf(item)); cur && !item_rv.empty() && ResourceVersionOf(*cur) == item_rv) {
            items.push_back(std::move(cur));
            continue;
          }
          // List items may come without their kind; handlers expect whole objects.
          if (!item.contains("kind")) item["kind"] = resource_.kind;
          if (!item.contains("apiVersion")) item["apiVersion"] = resource_.ApiVersion();
          if (opts_.transform) opts_.transform(item);
          items.push_back(std::make_shared<const Json>(std::move(item)));
        }
      }
      std::string cont = GetStringPath(page, {"metadata", "continue"});
      if (cont.empty()) return Status::Ok();
      o.continue_token = std::move(cont);
    }
  }

  void ReflectorLoop() {
    UseCacheArena();  // the listed objects are the cache
    std::mt19937 rng(std::random_device{}());
    int zero_rv_lists = 0;
    while (!Stopping()) {
      // LIST
      std::string rv;
      std::vector<ObjectPtr> items;
      if (Status st = ListPaged(rv, items); !st.ok()) {
        TUG_LOG(WARNING, kLog) << "list failed" << kv("resource", resource_.plural) << kv("error", st.ToString());
        Backoff();
        continue;
      }
      const bool big = items.size() >= kTrimAfterListOf;
      Push(Delta{Delta::kReplace, nullptr, std::move(items), {}, 0});
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
          UseCacheArena();  // this thread parses the objects the cache keeps
          std::string erv = ResourceVersionOf(ev.object);
          if (ev.type != WatchEvent::kBookmark) {
            Delta::Kind k = ev.type == WatchEvent::kAdded    ? Delta::kAdded
                            : ev.type == WatchEvent::kDeleted ? Delta::kDeleted
                                                              : Delta::kModified;
            if (opts_.transform) opts_.transform(ev.object);
            Push(Delta{k, std::make_shared<const Json>(std::move(ev.object)), {}, {}, 0});
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
      Delta d;
      {
        std::unique_lock<std::mutex> lock(q_mu_);
        if (opts_.resync.count() > 0) {
          q_cv_.wait_until(lock, next_resync, [&] { return q_stop_ || !queue_.empty(); });
        } else {
          q_cv_.wait(lock, [&] { return q_stop_ || !queue_.empty(); });
        }
        if (q_stop_) return;
        if (queue_.empty()) {
          lock.unlock();
          next_resync = std::chrono::steady_clock::now() + opts_.resync;
          Resync();
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
          if (h.on_add)
            for (const ObjectPtr& o : List("", nullptr)) h.on_add(o);
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
          Replace(std::move(d.items), notes);
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
      notes.clear();  // no old object outlives its dispatch until the next event
      // Synced once the first list has reached every handler.
      if (d.kind == Delta::kReplace) synced_.store(true, std::memory_order_release);
    }
  }

  void Resync() {
    std::lock_guard<std::mutex> lock(handlers_mu_);
    for (const ObjectPtr& o : List("", nullptr))
      for (const auto& [scope, h] : handlers_)
        if (h.on_update) h.on_update(o, o);
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
    {
      std::unique_lock<std::shared_mutex> lock(cache_mu_);
      auto [it, inserted] = items_.try_emplace(key, obj);
      if (!inserted) {
        // A replayed event for the version already cached (a watch from "0" replays the state)
        // is no change.
        if (ResourceVersionOf(*it->second) == ResourceVersionOf(*obj) && !ResourceVersionOf(*obj).empty()) return;
        old = std::move(it->second);
        it->second = obj;
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
        IndexLocked(key, it->second, nullptr);
        items_.erase(it);
      }
    }
    notes.push_back({Notification::kDelete, nullptr, std::move(obj)});
  }

  // A fresh list: adds for new keys, updates for changed resourceVersions, deletes (with the
  // last known state) for keys that are gone.
  void Replace(std::vector<ObjectPtr> items, std::vector<Notification>& notes) {
    std::unique_lock<std::shared_mutex> lock(cache_mu_);
    std::unordered_set<std::string> seen;
    seen.reserve(items.size());
    for (ObjectPtr& obj : items) {
      std::string key = KeyOf(*obj);
      seen.insert(key);
      auto it = items_.find(key);
      if (it == items_.end()) {
        items_.emplace(key, obj);
        IndexLocked(key, nullptr, obj);
        notes.push_back({Notification::kAdd, nullptr, std::move(obj)});
      } else if (ResourceVersionOf(*it->second) != ResourceVersionOf(*obj)) {
        ObjectPtr old = std::move(it->second);
        it->second = obj;
        IndexLocked(key, old, obj);
        notes.push_back({Notification::kUpdate, std::move(old), std::move(obj)});
      }
    }
    for (auto it = items_.begin(); it != items_.end();) {
      if (seen.count(it->first)) {
        ++it;
        continue;
      }
      IndexLocked(it->first, it->second, nullptr);
      notes.push_back({Notification::kDelete, nullptr, std::move(it->second)});
      it = items_.erase(it);
    }
  }

  const Client& client_;
  const Resource resource_;
  const InformerOptions opts_;

  mutable std::shared_mutex cache_mu_;
  std::unordered_map<std::string, ObjectPtr> items_;
  std::unordered_map<std::string, std::unordered_set<std::string>> by_ns_;
  std::unordered_map<std::string, Index> indices_;
  std::atomic<bool> synced_{false};

  std::mutex q_mu_;
  std::condition_variable q_cv_;
  std::deque<Delta> queue_;
  bool q_stop_ = false;

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

  // Root: the informer for (r, opts), created (and started, once the factory is) on first use.
  InformerImpl& Shared(const Resource& r, InformerOptions opts) {
    std::lock_guard<std::mutex> lock(mu);
    std::string key = FactoryKey(r, opts);
    auto it = informers.find(key);
    if (it != informers.end()) return *it->second;
    if (!opts.transform) opts.transform = transform;
    auto inf = std::make_unique<InformerImpl>(*client, r, std::move(opts));
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

void InformerFactory::SetTransform(std::function<void(Json&)> transform) {
  if (impl_->root) return;  // a scope uses the shared factory's transform
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->transform = std::move(transform);
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
