// EventRecorder: Record queues the event on its involved object's writer (one of up to
// `writers` threads, picked by a hash of the object); a writer filters and correlates it as
// client-go's EventCorrelator does, then creates an Event or patches the one it stands for:
// - spam filter: each source/object/type/reason has a token bucket of 25 events that refills by
//   one every 5 minutes; an event without a token is dropped;
// - similar events: once one source/object/type/reason has had 10 different messages within
//   10 minutes, further ones are written as one Event, "(combined from similar events): <the
//   latest message>", whose count grows (a ReplicaSet creating 100 pods makes 10 Events, not
//   100);
// - repeats: the same source/object/type/reason/message within 10 minutes bumps count and
//   lastTimestamp of the Event written for it.
// Every key names its object, so one writer owns each key and its cache entries. A writer
// sends an Event create without waiting for its answer when the transport pipelines (up to its
// window in flight); it takes no event whose object has a create in flight, so `written` is
// final for every key it reads.
#include "client/events.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/log.h"

namespace tug::client {

namespace {

constexpr const char* kLog = "events";
constexpr auto kAggregationWindow = std::chrono::minutes(10);
constexpr size_t kMaxCache = 4096;   // entries of each correlator cache over all writers
constexpr size_t kMaxSimilar = 10;   // different messages before similar events are combined
constexpr double kSpamBurst = 25;    // events per source/object/type/reason at once
constexpr auto kSpamRefill = std::chrono::minutes(5);  // then one more per this period
constexpr size_t kMaxQueue = 10000;  // queued events over all writers

struct Pending {
  std::string involved;  // core/v1 ObjectReference, serialized
  std::string name;      // of the involved object
  std::string object;    // kind/namespace/name of the involved object: picks its writer
  std::string ns;
  std::string type, reason, message;
  std::string object_key;  // source/object/type/reason (the spam filter's and similar events' key)
  std::string key;         // object_key + '\x1e' + message (repeats)
  SystemTime at;
};

// Appends "key": (and the comma before it) to the JSON object being written in out (opened with
// '{'); AppendRaw adds a value as given. Event bodies are written as text: building an nlohmann
// tree per event only to dump it cost more than the rest of the recorder.
void AppendKey(std::string& out, std::string_view key) {
  if (out.back() != '{') out += ',';
  out += '"';
  out += key;
  out += "\":";
}

void AppendRaw(std::string& out, std::string_view key, std::string_view raw_value) {
  AppendKey(out, key);
  out += raw_value;
}

// Appends value as a JSON string. Names, reasons, timestamps and most messages are printable
// ASCII without quotes or backslashes: copied as they are, with no temporary Json and string
// (that cost ~4% of a scheduled pod's CPU); anything else is encoded by DumpJson.
void AppendQuoted(std::string& out, std::string_view value) {
  bool plain = std::all_of(value.begin(), value.end(), [](char ch) {
    auto u = static_cast<unsigned char>(ch);
    return u >= 0x20 && u < 0x7f && ch != '"' && ch != '\\';
  });
  if (!plain) {
    out += DumpJson(Json(value));
    return;
  }
  out += '"';
  out += value;
  out += '"';
}

void AppendString(std::string& out, std::string_view key, std::string_view value) {
  AppendKey(out, key);
  AppendQuoted(out, value);
}

// A map that keeps its `max` most recently used entries (client-go keeps its correlator's
// caches in LRUs of 4,096 entries).
template <typename V>
class LruMap {
 public:
  explicit LruMap(size_t max) : max_(max) {}
  // The entry, now the most recent; null when absent.
  V* Find(const std::string& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second.pos);
    return &it->second.value;
  }
  V& Put(const std::string& key, V value) {
    if (V* v = Find(key)) return *v = std::move(value);
    order_.push_front(key);
    V& out = map_.emplace(key, Entry{std::move(value), order_.begin()}).first->second.value;
    if (map_.size() > max_) {
      map_.erase(order_.back());
      order_.pop_back();
    }
    return out;
  }
  void Erase(const std::string& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return;
    order_.erase(it->second.pos);
    map_.erase(it);
  }

 private:
  struct Entry {
    V value;
    std::list<std::string>::iterator pos;
  };
  std::unordered_map<std::string, Entry> map_;
  std::list<std::string> order_;  // most recent first
  size_t max_;
};

struct Written {
  std::string name;
  std::string ns;
  int64_t count = 0;
  SystemTime last;
};

// The spam filter's bucket of one source/object/type/reason.
struct Bucket {
  double tokens = 0;
  SystemTime at;  // when `tokens` was counted
};

// The different messages one source/object/type/reason had lately.
struct Similar {
  std::vector<std::string> messages;
  SystemTime last;
};

// One writer: its queue, its creates in flight and the Events it wrote (guarded by Impl::mu: a
// create's answer may come on another thread), and, for its thread only, the spam filter's and
// the similar-events state.
struct Writer {
  explicit Writer(size_t max_cache) : written(max_cache), buckets(max_cache), similar(max_cache) {}
  std::condition_variable cv;
  std::deque<Pending> queue;
  std::thread thread;  // started on first use
  size_t in_flight = 0;  // creates sent, not answered
  std::unordered_map<std::string, int> objects_in_flight;  // Pending::object -> creates in flight
  LruMap<Written> written;  // by Pending::key, or by the object key for combined events
  LruMap<Bucket> buckets;   // by the object key
  LruMap<Similar> similar;  // by the object key
};

}  // namespace

struct EventRecorder::Impl {
  Impl(const Client& c, EventSource s)
      : client(c), source(std::move(s)), clock(source.clock ? *source.clock : RealClock()) {
    size_t max_writes = static_cast<size_t>(std::max(1, source.writers));
    // A pipelining transport lets one thread keep many creates in flight: a burst costs no
    // thread hand-off per Event, and few threads compete with the work that records them.
    size_t n = c.transport().Pipelines() ? std::min(max_writes, kPipelinedThreads) : max_writes;
    window = (max_writes + n - 1) / n;
    size_t max_cache = std::max<size_t>(1, kMaxCache / n);
    for (size_t i = 0; i < n; ++i) writers.push_back(std::make_unique<Writer>(max_cache));
  }

  static constexpr size_t kPipelinedThreads = 2;
  size_t window = 1;  // creates each writer keeps in flight at most

  const Client& client;
  EventSource source;
  Clock& clock;

  std::mutex mu;
  std::condition_variable idle;  // a write finished (Flush and the destructor wait on it)
  size_t queued = 0;             // over all writers
  size_t busy = 0;               // writes in progress
  bool stop = false;
  std::vector<std::unique_ptr<Writer>> writers;  // fixed size; each Writer's queue under mu

  std::atomic<int64_t> last_suffix{0};  // Event names stay unique across writers

  // Source, object, type and reason: the key of the spam filter and of similar events.
  std::string ObjectKey(const Pending& p, std::string_view uid, std::string_view api_version) const {
    std::string k;
    k.reserve(256);
    for (std::string_view f : {std::string_view(p.object), uid, api_version, std::string_view(source.component),
                               std::string_view(source.host), std::string_view(p.type), std::string_view(p.reason)}) {
      k += f;
      k += '\x1f';
    }
    return k;
  }

  // The spam filter: whether p's bucket has a token (and takes it).
  bool TakeToken(Writer& wr, const Pending& p) {
    Bucket* b = wr.buckets.Find(p.object_key);
    if (!b) b = &wr.buckets.Put(p.object_key, Bucket{kSpamBurst, p.at});
    double refill = std::chrono::duration<double>(p.at - b->at) / kSpamRefill;
    if (refill > 0) {
      b->tokens = std::min(kSpamBurst, b->tokens + refill);
      b->at = p.at;
    }
    if (b->tokens < 1) return false;
    b->tokens -= 1;
    return true;
  }

  // Similar events: once p's object key has had kMaxSimilar different messages within the
  // window, p is written as the combined Event (returns its key and sets *message).
  std::string Correlate(Writer& wr, const Pending& p, std::string* message) {
    Similar* sim = wr.similar.Find(p.object_key);
    if (!sim || p.at - sim->last >= kAggregationWindow) sim = &wr.similar.Put(p.object_key, Similar{});
    sim->last = p.at;
    if (std::find(sim->messages.begin(), sim->messages.end(), p.message) == sim->messages.end())
      sim->messages.push_back(p.message);
    if (sim->messages.size() < kMaxSimilar) return p.key;
    sim->messages.erase(sim->messages.begin());  // the set stays below the threshold, as client-go's
    *message = "(combined from similar events): " + p.message;
    return p.object_key;
  }

  std::string UniqueName(const std::string& obj_name, SystemTime at) {
    int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
    int64_t prev = last_suffix.load();
    int64_t v = 0;
    do {
      v = std::max(ns, prev + 1);
    } while (!last_suffix.compare_exchange_weak(prev, v));
    char hex[32];
    std::snprintf(hex, sizeof(hex), "%llx", static_cast<unsigned long long>(v));
    return obj_name + "." + hex;
  }

  // Writes p: a patch of the Event it repeats (waits for the answer), or a new Event (sent;
  // returns true while the create is in flight, Finished then runs on its answer).
  bool Write(Writer& wr, const Pending& p) {
    if (!TakeToken(wr, p)) {
      TUG_VLOG(4, kLog) << "event dropped by the spam filter" << kv("object", p.ns + "/" + p.name)
                        << kv("reason", p.reason);
      return false;
    }
    std::string message = p.message;
    const std::string key = Correlate(wr, p, &message);
    std::string ts = FormatRFC3339(p.at);
    // No create of p's object is in flight (Loop waits), so what `written` says of key is final.
    std::optional<Written> repeat;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (Written* found = wr.written.Find(key); found && p.at - found->last < kAggregationWindow) repeat = *found;
    }
    if (repeat) {
      const Written& w = *repeat;
      Json patch = {{"count", w.count + 1}, {"lastTimestamp", ts}, {"message", message}};
      auto r = client.Patch(kEvents, w.ns, w.name, PatchType::kMerge, DumpJson(patch));
      std::lock_guard<std::mutex> lock(mu);
      if (r.ok()) {
        Written& cur = wr.written.Put(key, w);
        cur.count++;
        cur.last = p.at;
        return false;
      }
      if (r.status().code() != StatusCode::kNotFound) {
        TUG_LOG(WARNING, kLog) << "could not update event" << kv("event", w.ns + "/" + w.name)
                               << kv("error", r.status().ToString());
        return false;
      }
      // The Event is gone (deleted or expired): write a new one.
      wr.written.Erase(key);
    }
    std::string name = UniqueName(p.name, p.at);
    std::string body = "{";
    body.reserve(512 + p.involved.size() + message.size());
    AppendString(body, "apiVersion", "v1");
    AppendString(body, "kind", "Event");
    std::string meta = "{";
    AppendString(meta, "name", name);
    AppendString(meta, "namespace", p.ns);
    AppendRaw(body, "metadata", meta + "}");
    AppendRaw(body, "involvedObject", p.involved);
    AppendString(body, "reason", p.reason);
    AppendString(body, "message", message);
    std::string src = "{";
    if (!source.component.empty()) AppendString(src, "component", source.component);
    if (!source.host.empty()) AppendString(src, "host", source.host);
    AppendRaw(body, "source", src + "}");
    AppendString(body, "firstTimestamp", ts);
    AppendString(body, "lastTimestamp", ts);
    AppendRaw(body, "count", "1");
    AppendString(body, "type", p.type);
    AppendString(body, "reportingComponent", source.component);
    AppendString(body, "reportingInstance", source.host);
    body += '}';
    HttpRequest req;
    req.method = "POST";
    req.path = kEvents.Path(p.ns);
    req.content_type = "application/json";
    req.body = std::move(body);
    {
      std::lock_guard<std::mutex> lock(mu);
      wr.in_flight++;
      wr.objects_in_flight[p.object]++;
    }
    // The answer would only repeat the name: not parsed.
    client.DoNoBodyAsync(req, [this, &wr, key, object = p.object, w = Written{std::move(name), p.ns, 1, p.at},
                               what = p.ns + "/" + p.name, reason = p.reason](Status s) mutable {
      if (!s.ok())
        TUG_LOG(WARNING, kLog) << "could not write event" << kv("object", what) << kv("reason", reason)
                               << kv("error", s.ToString());
      Finished(wr, object, s.ok() ? &key : nullptr, std::move(w));
    });
    return true;
  }

  // A create's answer: records the Event written for key (null: it failed) and lets the writer
  // go on, waking its thread only when it waits for this answer.
  void Finished(Writer& wr, const std::string& object, const std::string* key, Written w) {
    std::lock_guard<std::mutex> lock(mu);
    if (key) wr.written.Put(*key, std::move(w));
    bool was_full = wr.in_flight-- == window;
    auto it = wr.objects_in_flight.find(object);
    bool object_free = --it->second == 0;
    if (object_free) wr.objects_in_flight.erase(it);
    busy--;
    if (queued == 0 && busy == 0) idle.notify_all();
    bool waits = stop || (!wr.queue.empty() && (was_full || (object_free && wr.queue.front().object == object)));
    if (waits) wr.cv.notify_all();
  }

  // Whether wr may take its next event: one is queued, the window has room, and no create of
  // the same object is in flight (its answer decides whether the next one is a repeat).
  bool Ready(const Writer& wr) const {
    return !wr.queue.empty() && wr.in_flight < window && !wr.objects_in_flight.count(wr.queue.front().object);
  }

  void Loop(Writer& wr) {
    pthread_setname_np(pthread_self(), "event-writer");
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      wr.cv.wait(lock, [&] { return Ready(wr) || (stop && wr.queue.empty()); });
      if (!Ready(wr)) {  // stopping and drained: the answers still due refer to wr
        wr.cv.wait(lock, [&] { return wr.in_flight == 0; });
        return;
      }
      Pending p = std::move(wr.queue.front());
      wr.queue.pop_front();
      queued--;
      busy++;
      lock.unlock();
      bool sent = Write(wr, p);
      lock.lock();
      if (!sent) {
        busy--;
        if (queued == 0 && busy == 0) idle.notify_all();
      }
    }
  }

  // Queues p on its object's writer, starting the writer's thread on first use.
  void Enqueue(Pending p) {
    Writer& wr = *writers[std::hash<std::string>{}(p.object) % writers.size()];
    std::lock_guard<std::mutex> lock(mu);
    if (stop) return;
    if (queued >= kMaxQueue) {
      TUG_LOG(WARNING, kLog) << "event queue full; dropping event" << kv("reason", p.reason);
      return;
    }
    wr.queue.push_back(std::move(p));
    queued++;
    if (!wr.thread.joinable()) wr.thread = std::thread([this, &wr] { Loop(wr); });
    wr.cv.notify_one();
  }
};

EventRecorder::EventRecorder(const Client& client, EventSource source)
    : impl_(std::make_unique<Impl>(client, std::move(source))) {}

EventRecorder::~EventRecorder() {
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    // Bounded flush: keep what can be written in a few seconds, drop the rest.
    impl_->idle.wait_for(lock, std::chrono::seconds(5), [&] { return impl_->queued == 0 && impl_->busy == 0; });
    for (auto& wr : impl_->writers) wr->queue.clear();
    impl_->queued = 0;
    impl_->stop = true;
    for (auto& wr : impl_->writers) wr->cv.notify_all();
  }
  for (auto& wr : impl_->writers)
    if (wr->thread.joinable()) wr->thread.join();
}

void EventRecorder::Record(const Json& obj, std::string_view type, std::string_view reason, std::string message) {
  Pending p;
  const Json* meta = Find(obj, "metadata");
  auto field = [&](const char* f) { return meta ? GetString(*meta, f) : std::string(); };
  std::string kind = GetString(obj, "kind"), api_version = GetString(obj, "apiVersion");
  std::string ns = field("namespace"), uid = field("uid");
  p.name = field("name");
  // The ObjectReference, keys in DumpJson's (sorted) order; empty metadata fields are left out.
  p.involved = "{";
  p.involved.reserve(256);
  AppendString(p.involved, "apiVersion", api_version);
  AppendString(p.involved, "kind", kind);
  if (!p.name.empty()) AppendString(p.involved, "name", p.name);
  if (!ns.empty()) AppendString(p.involved, "namespace", ns);
  if (std::string rv = field("resourceVersion"); !rv.empty()) AppendString(p.involved, "resourceVersion", rv);
  if (!uid.empty()) AppendString(p.involved, "uid", uid);
  p.involved += '}';
  p.object = kind + '\x1f' + ns + '\x1f' + p.name;
  // Events about cluster-scoped objects live in "default", as upstream.
  p.ns = ns.empty() ? "default" : ns;
  p.type = std::string(type);
  p.reason = std::string(reason);
  p.message = std::move(message);
  p.at = impl_->clock.Now();
  p.object_key = impl_->ObjectKey(p, uid, api_version);
  p.key = p.object_key + '\x1e' + p.message;  // never the object key (the combined Event's key)
  impl_->Enqueue(std::move(p));
}

void EventRecorder::Flush() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->idle.wait(lock, [&] { return impl_->queued == 0 && impl_->busy == 0; });
}

}  // namespace tug::client
