#include "store/internal/engine.h"

#include <algorithm>
#include <utility>

#include "base/log.h"

namespace tug::store::internal {

bool HasPrefix(std::string_view key, std::string_view prefix) {
  return key.size() >= prefix.size() && key.compare(0, prefix.size(), prefix) == 0;
}

Result<Record> BuildRecord(const Op& op, const KeyValue* existing, int64_t revision) {
  Record r;
  if (op.key.empty()) return BadRequestError("empty key");
  if (op.type != OpType::kDelete && !op.value) return BadRequestError("null value for " + op.key);
  switch (op.type) {
    case OpType::kCreate:
      if (existing != nullptr) return AlreadyExistsError("key already exists: " + op.key);
      r.ev.type = EventType::kCreate;
      r.ev.kv = KeyValue{op.key, op.value, revision, revision};
      return r;
    case OpType::kUpdate:
    case OpType::kDelete:
      if (existing == nullptr) return NotFoundError("key not found: " + op.key);
      if (op.expected_mod_revision != 0 && op.expected_mod_revision != existing->mod_revision) {
        return ConflictError("revision mismatch for " + op.key + ": expected " +
                             std::to_string(op.expected_mod_revision) + ", current " +
                             std::to_string(existing->mod_revision));
      }
      r.prev_create_revision = existing->create_revision;
      r.prev_mod_revision = existing->mod_revision;
      r.ev.prev_value = existing->value;
      if (op.type == OpType::kUpdate) {
        r.ev.type = EventType::kUpdate;
        r.ev.kv = KeyValue{op.key, op.value, existing->create_revision, revision};
      } else {
        r.ev.type = EventType::kDelete;
        r.ev.kv = KeyValue{op.key, existing->value, existing->create_revision, revision};
      }
      return r;
  }
  return InternalError("unknown op");
}

ListResult PageItems(std::vector<KeyValue> all, const ListOptions& opts, int64_t revision) {
  ListResult out;
  out.revision = revision;
  auto begin = all.begin();
  if (!opts.start_after.empty()) {
    begin = std::upper_bound(all.begin(), all.end(), opts.start_after,
                             [](const std::string& k, const KeyValue& kv) { return k < kv.key; });
  }
  size_t avail = static_cast<size_t>(all.end() - begin);
  size_t take = avail;
  if (opts.limit > 0 && static_cast<size_t>(opts.limit) < avail) take = static_cast<size_t>(opts.limit);
  out.items.assign(std::make_move_iterator(begin), std::make_move_iterator(begin + static_cast<std::ptrdiff_t>(take)));
  out.more = take < avail;
  out.remaining = out.more ? static_cast<int64_t>(avail - take) : 0;
  return out;
}

// ---------------------------------------------------------------------------------------------
// WatchHub

WatchHub::WatchHub() {
  thread_ = std::thread([this] { Run(); });
}

WatchHub::~WatchHub() { Stop(); }

void WatchHub::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && std::this_thread::get_id() != thread_.get_id()) thread_.join();
}

uint64_t WatchHub::Register(std::string prefix, WatchCallback cb, int64_t progress) {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t id = next_id_++;
  auto w = std::make_shared<Watcher>();
  w->prefix = std::move(prefix);
  w->cb = std::move(cb);
  w->progress = progress;
  watchers_.emplace(id, std::move(w));
  return id;
}

void WatchHub::MarkReady(uint64_t id, std::vector<Event> history) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = watchers_.find(id);
    if (it == watchers_.end()) return;
    Watcher& w = *it->second;
    if (!history.empty()) {
      history.insert(history.end(), std::make_move_iterator(w.pending.begin()),
                     std::make_move_iterator(w.pending.end()));
      w.pending = std::move(history);
    }
    w.ready = true;
  }
  cv_.notify_all();
}

void WatchHub::Cancel(uint64_t id) {
  std::unique_lock<std::mutex> l(mu_);
  watchers_.erase(id);
  if (std::this_thread::get_id() == hub_tid_) return;  // from inside a callback
  cv_.wait(l, [&] { return in_flight_ != id; });
}

void WatchHub::Publish(const std::vector<Record>& records) {
  if (records.empty()) return;
  bool any = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    int64_t last = records.back().revision();
    for (auto& [id, w] : watchers_) {
      for (const Record& r : records) {
        if (HasPrefix(r.ev.kv.key, w->prefix)) w->pending.push_back(r.ev);
      }
      w->progress = std::max(w->progress, last);
      any = any || w->Due();
    }
  }
  if (any) cv_.notify_all();
}

void WatchHub::Run() {
  std::unique_lock<std::mutex> l(mu_);
  hub_tid_ = std::this_thread::get_id();
  auto has_work = [&] {
    for (auto& [id, w] : watchers_)
      if (w->Due()) return true;
    return false;
  };
  while (true) {
    cv_.wait(l, [&] { return stop_ || has_work(); });
    if (stop_) return;
    std::vector<uint64_t> ids;
    for (auto& [id, w] : watchers_)
      if (w->Due()) ids.push_back(id);
    for (uint64_t id : ids) {
      auto it = watchers_.find(id);
      if (it == watchers_.end()) continue;
      std::shared_ptr<Watcher> w = it->second;
      if (!w->Due()) continue;
      std::vector<Event> batch = std::move(w->pending);
      w->pending.clear();
      int64_t progress = std::max(w->progress, batch.empty() ? 0 : batch.back().kv.mod_revision);
      w->notified = progress;
      in_flight_ = id;
      l.unlock();
      w->cb(std::span<const Event>(batch), progress);
      l.lock();
      in_flight_ = 0;
      cv_.notify_all();
      if (stop_) return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Engine

namespace {
class HandleImpl final : public WatchHandle {
 public:
  HandleImpl(std::shared_ptr<WatchHub> hub, uint64_t id) : hub_(std::move(hub)), id_(id) {}
  ~HandleImpl() override { hub_->Cancel(id_); }

 private:
  std::shared_ptr<WatchHub> hub_;
  uint64_t id_;
};
}  // namespace

Engine::Engine(size_t max_window) : max_window_(max_window), hub_(std::make_shared<WatchHub>()) {}

Engine::~Engine() { hub_->Stop(); }

void Engine::Load(std::vector<KeyValue> kvs, int64_t current_revision, int64_t compacted_revision) {
  std::unique_lock<std::shared_mutex> l(mu_);
  current_.clear();
  for (KeyValue& kv : kvs) {
    std::string k = kv.key;
    current_.emplace_hint(current_.end(), std::move(k), Current{std::move(kv), nullptr});  // kvs are sorted
  }
  window_.clear();
  current_rev_ = current_revision;
  compacted_rev_ = compacted_revision;
  window_start_ = current_revision;
}

KeyValue Engine::Materialize(Current c) {
  if (!c.kv.value && c.packed) c.kv.value = std::make_shared<const std::string>(c.packed->Unpack());
  return std::move(c.kv);
}

Result<KeyValue> Engine::Get(std::string_view key) const {
  Current c;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto it = current_.find(key);
    if (it == current_.end()) return NotFoundError("key not found: " + std::string(key));
    c = it->second;
  }
  return Materialize(std::move(c));
}

Result<int64_t> Engine::Count(std::string_view prefix) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  int64_t n = 0;
  for (auto it = current_.lower_bound(prefix); it != current_.end() && HasPrefix(it->first, prefix); ++it) ++n;
  return n;
}

Result<ListResult> Engine::List(std::string_view prefix, const ListOptions& opts, bool* needs_log) const {
  *needs_log = false;
  if (opts.revision < 0) return BadRequestError("negative revision");
  if (opts.limit < 0) return BadRequestError("negative limit");
  std::shared_lock<std::shared_mutex> l(mu_);
  if (opts.revision > current_rev_) return TimeoutError("Too large resource version");
  if (opts.revision > 0 && opts.revision < compacted_rev_) {
    return GoneError("required revision " + std::to_string(opts.revision) + " has been compacted (compacted revision " +
                     std::to_string(compacted_rev_) + ")");
  }
  if (opts.revision == 0 || opts.revision == current_rev_) {
    ListResult out;
    out.revision = current_rev_;
    std::vector<Current> items;  // unpacked after the lock is released
    auto it = current_.lower_bound(prefix);
    if (!opts.start_after.empty() && opts.start_after >= prefix) {
      it = current_.upper_bound(opts.start_after);
    }
    for (; it != current_.end() && HasPrefix(it->first, prefix); ++it) {
      if (opts.limit > 0 && static_cast<int64_t>(items.size()) == opts.limit) {
        out.more = true;
        for (; it != current_.end() && HasPrefix(it->first, prefix); ++it) ++out.remaining;
        break;
      }
      items.push_back(it->second);
    }
    l.unlock();
    out.items.reserve(items.size());
    for (Current& c : items) out.items.push_back(Materialize(std::move(c)));
    return out;
  }
  if (opts.revision < window_start_) {
    *needs_log = true;
    return ListResult{};
  }
  // State at opts.revision = current state with every later record undone (newest first).
  std::map<std::string, Current, std::less<>> state;
  for (auto it = current_.lower_bound(prefix); it != current_.end() && HasPrefix(it->first, prefix); ++it) {
    state.emplace(it->first, it->second);
  }
  for (auto it = window_.rbegin(); it != window_.rend() && it->revision() > opts.revision; ++it) {
    const Record& r = *it;
    if (!HasPrefix(r.ev.kv.key, prefix)) continue;
    if (r.ev.type == EventType::kCreate) {
      state.erase(r.ev.kv.key);
    } else {
      state[r.ev.kv.key] = Current{KeyValue{r.ev.kv.key, r.ev.prev_value, r.prev_create_revision, r.prev_mod_revision}, nullptr};
    }
  }
  l.unlock();
  std::vector<KeyValue> all;
  all.reserve(state.size());
  for (auto& [k, c] : state) all.push_back(Materialize(std::move(c)));
  return PageItems(std::move(all), opts, opts.revision);
}

Result<Engine::WatchStart> Engine::StartWatch(std::string_view prefix, int64_t from, WatchCallback cb) {
  if (from < 0) return BadRequestError("negative revision");
  std::shared_lock<std::shared_mutex> l(mu_);
  if (from > current_rev_) return TimeoutError("Too large resource version");
  if (from > 0 && from < compacted_rev_) {
    return GoneError("required revision " + std::to_string(from) + " has been compacted (compacted revision " +
                     std::to_string(compacted_rev_) + ")");
  }
  WatchStart ws;
  ws.id = hub_->Register(std::string(prefix), std::move(cb), current_rev_);
  if (from == 0) from = current_rev_;
  // window_ holds the consecutive revisions window_start_+1 .. current_rev_.
  size_t first = from > window_start_ ? static_cast<size_t>(from - window_start_) : 0;
  for (size_t i = first; i < window_.size(); ++i) {
    if (HasPrefix(window_[i].ev.kv.key, prefix)) ws.memory_history.push_back(window_[i].ev);
  }
  if (from < window_start_) {
    ws.log_from = from;
    ws.log_to = window_start_;
  }
  return ws;
}

void Engine::FinishWatch(uint64_t id, std::vector<Event> history) { hub_->MarkReady(id, std::move(history)); }

WatchHandlePtr Engine::MakeHandle(uint64_t id) { return std::make_unique<HandleImpl>(hub_, id); }

void Engine::CancelWatch(uint64_t id) { hub_->Cancel(id); }

std::optional<KeyValue> Engine::Lookup(std::string_view key) const {
  Current c;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    auto it = current_.find(key);
    if (it == current_.end()) return std::nullopt;
    c = it->second;
  }
  return Materialize(std::move(c));
}

void Engine::Apply(std::vector<Record> records) {
  if (records.empty()) return;
  std::unique_lock<std::shared_mutex> l(mu_);
  for (const Record& r : records) {
    // Broken invariant that would corrupt state: revisions must be consecutive (C5).
    if (r.revision() != current_rev_ + 1) {
      TUG_LOG(FATAL, "store") << "non-consecutive revision" << kv("current", current_rev_)
                              << kv("record", r.revision());
    }
    current_rev_ = r.revision();
    if (r.ev.type == EventType::kDelete) {
      current_.erase(r.ev.kv.key);
    } else {
      auto it = current_.find(r.ev.kv.key);
      if (it == current_.end()) {
        current_.emplace(r.ev.kv.key, Current{r.ev.kv, nullptr});
      } else {
        it->second = Current{r.ev.kv, nullptr};
      }
    }
  }
  // Publish while still holding mu_ so a concurrent StartWatch sees either all or none of it.
  hub_->Publish(records);
  for (Record& r : records) window_.push_back(std::move(r));
  TrimWindowLocked();
}

void Engine::ShareValues(std::span<const SharedValue> values) {
  if (values.empty()) return;
  std::vector<Value> released;  // the bytes as written, freed after the lock
  released.reserve(values.size());
  std::unique_lock<std::shared_mutex> l(mu_);
  for (const SharedValue& v : values) {
    if (!v.packed) continue;
    auto it = current_.find(v.key);
    if (it == current_.end() || it->second.kv.mod_revision != v.mod_revision) continue;
    if (it->second.kv.value) released.push_back(std::move(it->second.kv.value));
    it->second.kv.value = nullptr;
    it->second.packed = v.packed;
  }
  l.unlock();
}

void Engine::TrimWindowLocked() {
  while (!window_.empty() && (window_.front().revision() <= compacted_rev_ ||
                              (max_window_ > 0 && window_.size() > max_window_))) {
    window_start_ = window_.front().revision();
    window_.pop_front();
  }
}

Status Engine::Compact(int64_t revision) {
  std::unique_lock<std::shared_mutex> l(mu_);
  if (revision > current_rev_) return TimeoutError("Too large resource version");
  if (revision <= compacted_rev_) return Status::Ok();
  compacted_rev_ = revision;
  TrimWindowLocked();
  return Status::Ok();
}

int64_t Engine::CurrentRevision() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return current_rev_;
}
int64_t Engine::CompactedRevision() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return compacted_rev_;
}
int64_t Engine::WindowStart() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return window_start_;
}

}  // namespace tug::store::internal
