#include "apiserver/rest/watch_cache.h"

#include <algorithm>

#include "apiserver/rest/json_scan.h"
#include "base/allocator.h"
#include "base/json.h"
#include "base/log.h"

namespace tug::apiserver::rest {

namespace {

// A JSON string member's value: raw text when it has no escapes, else decoded by the parser.
std::optional<std::string> StringValue(std::string_view text, Span v) {
  if (v.end - v.begin < 2 || text[v.begin] != '"') return std::nullopt;
  std::string_view raw = text.substr(v.begin + 1, v.end - v.begin - 2);
  if (raw.find('\\') == std::string_view::npos) return std::string(raw);
  auto j = ParseJson(text.substr(v.begin, v.end - v.begin));
  if (!j.ok() || !j->is_string()) return std::nullopt;
  return j->get<std::string>();
}

// The snapshot's packed bytes as the store's value of kv (one copy for both: Store::ShareValues).
store::SharedValue ShareOf(const store::KeyValue& kv, const CachedObjectPtr& obj) {
  return {kv.key, kv.mod_revision, std::shared_ptr<const Packed>(obj, &obj->packed)};
}

Packed PackWith(Packer* packer, std::string bytes) {
  return packer ? packer->Pack(bytes) : Packed::Raw(std::move(bytes));
}

}  // namespace

Result<CachedObjectPtr> MakeCachedObject(const std::string& key, const std::string& value, int64_t rv,
                                         Packer* packer) {
  std::string_view t = value;
  std::optional<Span> meta;
  bool ok = ForEachMember(t, Span{0, t.size()}, [&](std::string_view k, Span v) {
    if (k != "metadata") return true;
    meta = v;
    return false;
  });
  if (!ok || !meta || t[meta->begin] != '{') return MakeCachedObjectByParsing(key, value, rv, packer);
  auto obj = std::make_shared<CachedObject>();
  obj->key = key;
  obj->rv = rv;
  // Where "resourceVersion" goes: replace an existing value, or insert before the first member
  // that sorts after it (tug writes keys sorted, as Go's encoder does for maps).
  std::optional<Span> old_rv;
  size_t insert_at = 0;
  bool has_members = false, fallback = false;
  ok = ForEachMember(t, *meta, [&](std::string_view k, Span v) {
    has_members = true;
    if (k == "name") {
      auto s = StringValue(t, v);
      if (!s) return fallback = true, false;
      obj->name = std::move(*s);
    } else if (k == "namespace") {
      auto s = StringValue(t, v);
      if (!s) return fallback = true, false;
      obj->ns = std::move(*s);
    } else if (k == "labels") {
      auto l = ParseJson(t.substr(v.begin, v.end - v.begin));
      if (!l.ok()) return fallback = true, false;
      if (l->is_object())
        for (auto it = l->begin(); it != l->end(); ++it)
          if (it.value().is_string()) obj->labels.emplace(it.key(), it.value().get<std::string>());
    } else if (k == "resourceVersion") {
      old_rv = v;
    }
    if (!insert_at && !old_rv && k > std::string_view("resourceVersion")) {
      // The member starts at its key's opening quote (raw keys point into t).
      insert_at = static_cast<size_t>(k.data() - t.data()) - 1;
    }
    return true;
  });
  if (!ok || fallback) return MakeCachedObjectByParsing(key, value, rv, packer);
  std::string rvs = "\"" + std::to_string(rv) + "\"";
  std::string b;
  if (old_rv) {
    b.reserve(t.size() + rvs.size());
    b.append(t.substr(0, old_rv->begin)).append(rvs).append(t.substr(old_rv->end));
  } else {
    std::string member = "\"resourceVersion\":" + rvs;
    b.reserve(t.size() + member.size() + 1);
    if (insert_at) {
      b.append(t.substr(0, insert_at)).append(member).append(",").append(t.substr(insert_at));
    } else {
      // After the last member (or into an empty object): just before the closing brace.
      size_t close = meta->end - 1;
      b.append(t.substr(0, close));
      if (has_members) b += ',';
      b.append(member).append(t.substr(close));
    }
  }
  obj->packed = PackWith(packer, std::move(b));
  return CachedObjectPtr(std::move(obj));
}

Result<CachedObjectPtr> MakeCachedObjectByParsing(const std::string& key, const std::string& value, int64_t rv,
                                                  Packer* packer) {
  ASSIGN_OR_RETURN(Json doc, ParseJson(value));
  if (!doc.is_object()) return InternalError("stored object at " + key + " is not a JSON object");
  auto obj = std::make_shared<CachedObject>();
  obj->key = key;
  obj->rv = rv;
  Json& meta = doc["metadata"];
  if (!meta.is_object()) meta = Json::object();
  meta["resourceVersion"] = std::to_string(rv);
  obj->name = GetString(meta, "name");
  obj->ns = GetString(meta, "namespace");
  if (const Json* l = Find(meta, "labels"); l && l->is_object())
    for (auto it = l->begin(); it != l->end(); ++it)
      if (it.value().is_string()) obj->labels.emplace(it.key(), it.value().get<std::string>());
  obj->packed = PackWith(packer, DumpJson(doc));
  return CachedObjectPtr(std::move(obj));
}

namespace {
std::atomic<size_t> g_watch_conversions{0};
std::atomic<size_t> g_watch_lines{0};
}  // namespace

EventForms& CacheEvent::ScratchForms() {
  thread_local EventForms f;
  return f;
}

void CacheEvent::CountWatchConversion() { g_watch_conversions.fetch_add(1, std::memory_order_relaxed); }

size_t WatchConversionsForTest() { return g_watch_conversions.load(); }

void CacheEvent::CountWatchLine() { g_watch_lines.fetch_add(1, std::memory_order_relaxed); }

size_t WatchLinesForTest() { return g_watch_lines.load(); }

WatchCache::WatchCache(store::Store& store, std::string prefix, size_t window, size_t window_bytes)
    : store_(store), prefix_(std::move(prefix)), window_(window), window_bytes_(window_bytes) {}

WatchCache::~WatchCache() { Stop(); }

Status WatchCache::Start() {
  ASSIGN_OR_RETURN(store::ListResult list, store_.List(prefix_, {}));
  std::vector<store::SharedValue> shared;
  shared.reserve(list.items.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& item : list.items) {
      auto obj = MakeCachedObject(item.key, *item.value, item.mod_revision, &packer_);
      if (!obj.ok()) {
        TUG_LOG(WARNING, "rest") << "skipping unreadable object" << kv("key", item.key) << kv("err", obj.status().ToString());
        continue;
      }
      shared.push_back(ShareOf(item, *obj));
      objects_.emplace(item.key, std::move(obj).value());
    }
    rev_ = list.revision;
    window_start_ = list.revision;
  }
  store_.ShareValues(shared);
  shared = {};
  ASSIGN_OR_RETURN(handle_, store_.Watch(prefix_, list.revision,
                                         [this](std::span<const store::Event> evs, int64_t progress) {
                                           OnStoreEvents(evs, progress);
                                         }));
  return Status::Ok();
}

void WatchCache::Stop() {
  store::WatchHandlePtr h;
  std::map<uint64_t, std::shared_ptr<CacheWatcher>> ws;
  {
    std::lock_guard<std::mutex> dispatch(dispatch_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    h = std::move(handle_);
    ws.swap(watchers_);
  }
  h.reset();  // waits for an in-flight callback
  cv_.notify_all();
}

int64_t WatchCache::Revision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rev_;
}

void WatchCache::NoteWrite(int64_t rev) {
  // Lock-free: a write's request thread never waits for a dispatch round.
  int64_t cur = last_write_.load(std::memory_order_relaxed);
  while (cur < rev && !last_write_.compare_exchange_weak(cur, rev, std::memory_order_relaxed)) {
  }
}

int64_t WatchCache::LastWrite() const { return last_write_.load(std::memory_order_relaxed); }

bool WatchCache::WaitForRevision(int64_t rev, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  bool ok = cv_.wait_for(lock, timeout, [&] { return stopped_ || rev_ >= rev; }) && !stopped_;
  if (!ok && !stopped_)
    TUG_LOG(WARNING, "rest") << "watch cache is behind the store" << kv("prefix", prefix_) << kv("have", rev_)
                             << kv("want", rev);
  return ok;
}

std::vector<CachedObjectPtr> WatchCache::Snapshot(std::string_view key_prefix, int64_t* rev) const {
  std::vector<CachedObjectPtr> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = objects_.lower_bound(key_prefix); it != objects_.end(); ++it) {
    if (it->first.compare(0, key_prefix.size(), key_prefix) != 0) break;
    out.push_back(it->second);
  }
  if (rev) *rev = rev_;
  return out;
}

void WatchCache::OnStoreEvents(std::span<const store::Event> events, int64_t progress_rev) {
  // The state changes under mu_; the watchers are called after it is released (holding only
  // dispatch_mu_), so reads, NoteWrite and WaitForRevision never wait for socket writes.
  UseCacheArena();  // the store's watch thread builds the snapshots the cache keeps
  std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  std::unique_lock<std::mutex> lock(mu_);
  if (stopped_) return;
  std::vector<CacheEvent> batch;
  batch.reserve(events.size());
  std::vector<store::SharedValue> shared;
  for (const auto& e : events) {
    CacheEvent ce;
    ce.rv = e.kv.mod_revision;
    auto prev_it = objects_.find(e.kv.key);
    if (prev_it != objects_.end()) ce.prev = prev_it->second;
    if (e.type == store::EventType::kDelete) {
      ce.type = WatchEventType::kDeleted;
      const std::string* last = e.kv.value ? e.kv.value.get() : (e.prev_value ? e.prev_value.get() : nullptr);
      if (last) {
        auto obj = MakeCachedObject(e.kv.key, *last, e.kv.mod_revision, &packer_);
        if (obj.ok()) ce.obj = std::move(obj).value();
      }
      if (!ce.obj && ce.prev) {
        auto copy = std::make_shared<CachedObject>(*ce.prev);
        copy->rv = e.kv.mod_revision;
        ce.obj = copy;
      }
      if (prev_it != objects_.end()) objects_.erase(prev_it);
      if (!ce.obj) { rev_ = std::max(rev_, ce.rv); continue; }
    } else {
      if (!e.kv.value) continue;
      auto obj = MakeCachedObject(e.kv.key, *e.kv.value, e.kv.mod_revision, &packer_);
      if (!obj.ok()) {
        TUG_LOG(WARNING, "rest") << "skipping unreadable object" << kv("key", e.kv.key);
        rev_ = std::max(rev_, ce.rv);
        continue;
      }
      ce.obj = std::move(obj).value();
      shared.push_back(ShareOf(e.kv, ce.obj));
      ce.type = ce.prev ? WatchEventType::kModified : WatchEventType::kAdded;
      objects_[e.kv.key] = ce.obj;
    }
    rev_ = std::max(rev_, ce.rv);
    events_.push_back(ce);
    events_bytes_ += ce.obj->packed.stored_size();
    while (events_.size() > window_ ||
           (events_bytes_ > window_bytes_ && events_.size() > std::min(window_, kMinWindow))) {
      window_start_ = events_.front().rv;
      events_bytes_ -= events_.front().obj->packed.stored_size();
      events_.pop_front();
    }
    ce.forms = std::make_shared<EventForms>();  // the window's copy (above) keeps no encodings
    batch.push_back(std::move(ce));
  }
  if (progress_rev > rev_) rev_ = progress_rev;
  std::vector<std::pair<uint64_t, std::shared_ptr<CacheWatcher>>> ws;
  if (!batch.empty()) ws.assign(watchers_.begin(), watchers_.end());
  lock.unlock();
  cv_.notify_all();
  store_.ShareValues(shared);
  if (!batch.empty()) Dispatch(ws, [&](CacheWatcher& w) { return w.OnEvents(batch); });
}

void WatchCache::Dispatch(const std::vector<std::pair<uint64_t, std::shared_ptr<CacheWatcher>>>& ws,
                          const std::function<bool(CacheWatcher&)>& call) {
  std::vector<uint64_t> dropped;
  for (const auto& [id, w] : ws)
    if (!call(*w)) dropped.push_back(id);
  if (dropped.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (uint64_t id : dropped) watchers_.erase(id);
}

Result<uint64_t> WatchCache::AddWatcher(int64_t from_rev, std::shared_ptr<CacheWatcher> w, int64_t* start_rev) {
  // Between dispatch rounds: the watcher sees every event exactly once (replayed or live).
  std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return UnavailableError("watch cache is stopped");
  if (from_rev == 0) {
    for (const auto& [key, obj] : objects_) {
      CacheEvent ce{WatchEventType::kAdded, obj, nullptr, rev_};
      if (!w->OnEvent(ce)) return UnavailableError("watcher closed");
    }
  } else {
    if (from_rev < window_start_)
      return GoneError("too old resource version: " + std::to_string(from_rev) + " (" +
                       std::to_string(window_start_) + ")");
    for (const auto& ce : events_) {
      if (ce.rv <= from_rev) continue;
      if (!w->OnEvent(ce)) return UnavailableError("watcher closed");
    }
  }
  if (start_rev) *start_rev = std::max(rev_, from_rev);
  if (!w->OnReplayDone(std::max(rev_, from_rev))) return UnavailableError("watcher closed");
  uint64_t id = next_id_++;
  watchers_.emplace(id, std::move(w));
  return id;
}

void WatchCache::RemoveWatcher(uint64_t id) {
  std::shared_ptr<CacheWatcher> w;  // declared first: released after the lock
  std::lock_guard<std::mutex> lock(mu_);
  auto it = watchers_.find(id);
  if (it == watchers_.end()) return;
  w = std::move(it->second);
  watchers_.erase(it);
}

void WatchCache::Progress() {
  std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  std::vector<std::pair<uint64_t, std::shared_ptr<CacheWatcher>>> ws;
  int64_t rev = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ws.assign(watchers_.begin(), watchers_.end());
    rev = rev_;
  }
  Dispatch(ws, [rev](CacheWatcher& w) { return w.OnProgress(rev); });
}

bool WatchCache::CallBetweenEvents(const std::function<bool(int64_t rev)>& fn) {
  std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  return fn(Revision());
}

size_t WatchCache::WatcherCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watchers_.size();
}

}  // namespace tug::apiserver::rest
