// EventRecorder: Record queues; one writer thread creates Events, or bumps count/lastTimestamp of
// the Event it wrote for the same source/object/type/reason/message within the last 10 minutes
// (client-go's EventCorrelator dedup; its spam filter and similar-message aggregation are not
// done here).
#include "client/events.h"

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/log.h"

namespace tug::client {

namespace {

constexpr const char* kLog = "events";
constexpr auto kAggregationWindow = std::chrono::minutes(10);
constexpr size_t kMaxCache = 4096;
constexpr size_t kMaxQueue = 10000;

struct Pending {
  Json involved;  // core/v1 ObjectReference
  std::string ns;
  std::string type, reason, message;
  SystemTime at;
};

struct Written {
  std::string name;
  std::string ns;
  int64_t count = 0;
  SystemTime last;
  std::list<std::string>::iterator lru;
};

}  // namespace

struct EventRecorder::Impl {
  Impl(const Client& c, EventSource s) : client(c), source(std::move(s)), clock(source.clock ? *source.clock : RealClock()) {
    thread = std::thread([this] { Loop(); });
  }

  const Client& client;
  EventSource source;
  Clock& clock;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Pending> queue;
  bool busy = false;
  bool stop = false;
  std::thread thread;

  // Writer thread only.
  std::unordered_map<std::string, Written> written;
  std::list<std::string> lru;  // most recent at the front
  int64_t last_suffix = 0;

  std::string Key(const Pending& p) const {
    std::string k;
    k.reserve(256);
    for (const char* f : {"kind", "namespace", "name", "uid", "apiVersion"}) {
      k += GetString(p.involved, f);
      k += '\x1f';
    }
    k += source.component + '\x1f' + source.host + '\x1f' + p.type + '\x1f' + p.reason + '\x1f' + p.message;
    return k;
  }

  std::string UniqueName(const std::string& obj_name, SystemTime at) {
    int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
    if (ns <= last_suffix) ns = last_suffix + 1;
    last_suffix = ns;
    char hex[32];
    std::snprintf(hex, sizeof(hex), "%llx", static_cast<unsigned long long>(ns));
    return obj_name + "." + hex;
  }

  void Write(const Pending& p) {
    std::string key = Key(p);
    std::string ts = FormatRFC3339(p.at);
    auto it = written.find(key);
    if (it != written.end() && p.at - it->second.last < kAggregationWindow) {
      Written& w = it->second;
      Json patch = {{"count", w.count + 1}, {"lastTimestamp", ts}, {"message", p.message}};
      auto r = client.Patch(kEvents, w.ns, w.name, PatchType::kMerge, DumpJson(patch));
      if (r.ok()) {
        w.count++;
        w.last = p.at;
        lru.splice(lru.begin(), lru, w.lru);
        return;
      }
      if (r.status().code() != StatusCode::kNotFound) {
        TUG_LOG(WARNING, kLog) << "could not update event" << kv("event", w.ns + "/" + w.name)
                               << kv("error", r.status().ToString());
        return;
      }
      // The Event is gone (deleted or expired): write a new one.
      lru.erase(w.lru);
      written.erase(it);
    }
    std::string obj_name = GetString(p.involved, "name");
    Json ev = {{"apiVersion", "v1"},
               {"kind", "Event"},
               {"metadata", {{"name", UniqueName(obj_name, p.at)}, {"namespace", p.ns}}},
               {"involvedObject", p.involved},
               {"reason", p.reason},
               {"message", p.message},
               {"source", Json::object()},
               {"firstTimestamp", ts},
               {"lastTimestamp", ts},
               {"count", 1},
               {"type", p.type},
               {"reportingComponent", source.component},
               {"reportingInstance", source.host}};
    if (!source.component.empty()) ev["source"]["component"] = source.component;
    if (!source.host.empty()) ev["source"]["host"] = source.host;
    auto r = client.Create(kEvents, p.ns, ev);
    if (!r.ok()) {
      TUG_LOG(WARNING, kLog) << "could not write event" << kv("object", p.ns + "/" + obj_name)
                             << kv("reason", p.reason) << kv("error", r.status().ToString());
      return;
    }
    lru.push_front(key);
    written[key] = Written{GetStringPath(*r, {"metadata", "name"}), p.ns, 1, p.at, lru.begin()};
    if (written.size() > kMaxCache) {
      written.erase(lru.back());
      lru.pop_back();
    }
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stop || !queue.empty(); });
      if (queue.empty()) return;  // stopping and drained
      Pending p = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lock.unlock();
      Write(p);
      lock.lock();
      busy = false;
      cv.notify_all();
    }
  }
};

EventRecorder::EventRecorder(const Client& client, EventSource source)
    : impl_(std::make_unique<Impl>(client, std::move(source))) {}

EventRecorder::~EventRecorder() {
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    // Bounded flush: keep what can be written in a few seconds, drop the rest.
    impl_->cv.wait_for(lock, std::chrono::seconds(5), [&] { return impl_->queue.empty() && !impl_->busy; });
    impl_->queue.clear();
    impl_->stop = true;
    impl_->cv.notify_all();
  }
  impl_->thread.join();
}

void EventRecorder::Record(const Json& obj, std::string_view type, std::string_view reason, std::string message) {
  Pending p;
  const Json* meta = Find(obj, "metadata");
  p.involved = Json::object();
  p.involved["kind"] = GetString(obj, "kind");
  p.involved["apiVersion"] = GetString(obj, "apiVersion");
  if (meta) {
    for (const char* f : {"name", "namespace", "uid", "resourceVersion"})
      if (std::string v = GetString(*meta, f); !v.empty()) p.involved[f] = v;
  }
  // Events about cluster-scoped objects live in "default", as upstream.
  p.ns = meta ? GetString(*meta, "namespace") : "";
  if (p.ns.empty()) p.ns = "default";
  p.type = std::string(type);
  p.reason = std::string(reason);
  p.message = std::move(message);
  p.at = impl_->clock.Now();
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stop) return;
  if (impl_->queue.size() >= kMaxQueue) {
    TUG_LOG(WARNING, kLog) << "event queue full; dropping event" << kv("reason", p.reason);
    return;
  }
  impl_->queue.push_back(std::move(p));
  impl_->cv.notify_all();
}

void EventRecorder::Flush() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->queue.empty() && !impl_->busy; });
}

}  // namespace tug::client
