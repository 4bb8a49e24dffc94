// EventRecorder: Record queues the event on its involved object's writer (one of up to
// `writers` threads, picked by a hash of the object); a writer creates Events, or bumps
// count/lastTimestamp of the Event it wrote for the same source/object/type/reason/message
// within the last 10 minutes (client-go's EventCorrelator dedup; its spam filter and
// similar-message aggregation are not done here). Every aggregation key names its object, so
// one writer owns each key and its cache entry.
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
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/log.h"

namespace tug::client {

namespace {

constexpr const char* kLog = "events";
constexpr auto kAggregationWindow = std::chrono::minutes(10);
constexpr size_t kMaxCache = 4096;   // aggregation entries over all writers
constexpr size_t kMaxQueue = 10000;  // queued events over all writers

struct Pending {
  std::string involved;  // core/v1 ObjectReference, serialized
  std::string name;      // of the involved object
  std::string object;    // kind/namespace/name of the involved object: picks its writer
  std::string ns;
  std::string type, reason, message;
  std::string key;  // aggregation key
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

struct Written {
  std::string name;
  std::string ns;
  int64_t count = 0;
  SystemTime last;
  std::list<std::string>::iterator lru;
};

// One writer: its queue (guarded by Impl::mu) and, for its thread only, the Events it wrote.
struct Writer {
  std::condition_variable cv;
  std::deque<Pending> queue;
  std::thread thread;  // started on first use
  std::unordered_map<std::string, Written> written;
  std::list<std::string> lru;  // most recent at the front
};

}  // namespace

struct EventRecorder::Impl {
  Impl(const Client& c, EventSource s)
      : client(c), source(std::move(s)), clock(source.clock ? *source.clock : RealClock()) {
    size_t n = static_cast<size_t>(std::max(1, source.writers));
    for (size_t i = 0; i < n; ++i) writers.push_back(std::make_unique<Writer>());
    max_cache = std::max<size_t>(1, kMaxCache / n);
  }

  const Client& client;
  EventSource source;
  Clock& clock;
  size_t max_cache = kMaxCache;  // per writer

  std::mutex mu;
  std::condition_variable idle;  // a write finished (Flush and the destructor wait on it)
  size_t queued = 0;             // over all writers
  size_t busy = 0;               // writes in progress
  bool stop = false;
  std::vector<std::unique_ptr<Writer>> writers;  // fixed size; each Writer's queue under mu

  std::atomic<int64_t> last_suffix{0};  // Event names stay unique across writers

  std::string Key(const Pending& p, std::string_view uid, std::string_view api_version) const {
    std::string k;
    k.reserve(256);
    for (std::string_view f : {std::string_view(p.object), uid, api_version, std::string_view(source.component),
                               std::string_view(source.host), std::string_view(p.type), std::string_view(p.reason)}) {
      k += f;
      k += '\x1f';
    }
    k += p.message;
    return k;
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

  void Write(Writer& wr, const Pending& p) {
    const std::string& key = p.key;
    std::string ts = FormatRFC3339(p.at);
    auto it = wr.written.find(key);
    if (it != wr.written.end() && p.at - it->second.last < kAggregationWindow) {
      Written& w = it->second;
      Json patch = {{"count", w.count + 1}, {"lastTimestamp", ts}, {"message", p.message}};
      auto r = client.Patch(kEvents, w.ns, w.name, PatchType::kMerge, DumpJson(patch));
      if (r.ok()) {
        w.count++;
        w.last = p.at;
        wr.lru.splice(wr.lru.begin(), wr.lru, w.lru);
        return;
      }
      if (r.status().code() != StatusCode::kNotFound) {
        TUG_LOG(WARNING, kLog) << "could not update event" << kv("event", w.ns + "/" + w.name)
                               << kv("error", r.status().ToString());
        return;
      }
      // The Event is gone (deleted or expired): write a new one.
      wr.lru.erase(w.lru);
      wr.written.erase(it);
    }
    std::string name = UniqueName(p.name, p.at);
    std::string body = "{";
    body.reserve(512 + p.involved.size() + p.message.size());
    AppendString(body, "apiVersion", "v1");
    AppendString(body, "kind", "Event");
    std::string meta = "{";
    AppendString(meta, "name", name);
    AppendString(meta, "namespace", p.ns);
    AppendRaw(body, "metadata", meta + "}");
    AppendRaw(body, "involvedObject", p.involved);
    AppendString(body, "reason", p.reason);
    AppendString(body, "message", p.message);
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
    if (Status s = client.DoNoBody(req); !s.ok()) {  // the answer would only repeat the name
      TUG_LOG(WARNING, kLog) << "could not write event" << kv("object", p.ns + "/" + p.name)
                             << kv("reason", p.reason) << kv("error", s.ToString());
      return;
    }
    wr.lru.push_front(key);
    wr.written[key] = Written{std::move(name), p.ns, 1, p.at, wr.lru.begin()};
    if (wr.written.size() > max_cache) {
      wr.written.erase(wr.lru.back());
      wr.lru.pop_back();
    }
  }

  void Loop(Writer& wr) {
    pthread_setname_np(pthread_self(), "event-writer");
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      wr.cv.wait(lock, [&] { return stop || !wr.queue.empty(); });
      if (wr.queue.empty()) return;  // stopping and drained
      Pending p = std::move(wr.queue.front());
      wr.queue.pop_front();
      queued--;
      busy++;
      lock.unlock();
      Write(wr, p);
      lock.lock();
      busy--;
      idle.notify_all();
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
  p.key = impl_->Key(p, uid, api_version);
  impl_->Enqueue(std::move(p));
}

void EventRecorder::Flush() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->idle.wait(lock, [&] { return impl_->queued == 0 && impl_->busy == 0; });
}

}  // namespace tug::client
