// Event recorder: writes core/v1 Events about objects, filtered and aggregated like client-go's
// recorder: the same source/object/type/reason/message within 10 minutes bumps `count` and
// `lastTimestamp` of one Event instead of creating another; after 10 different messages of one
// source/object/type/reason within 10 minutes, the next ones are combined into one Event
// ("(combined from similar events): ..."); and each source/object/type/reason may write 25
// events at once, then one per 5 minutes (the rest are dropped). Writes happen on background
// threads, several at once (upstream's event broadcaster writes each event from its own
// goroutine): the events of one involved object go through one writer, in order, so
// aggregation and ordering per object hold; different objects' events are written
// concurrently, so a burst (a scheduler binding thousands of pods) shares the store's group
// commits instead of waiting for one commit per event. With a transport that Pipelines() (the
// loopback one) two writer threads each keep several creates in flight, sending the next
// before the last is answered; an object's next event still waits for its create's answer.
// Record never blocks on the API server.
//
//   client::EventRecorder rec(client, {.component = "deployment-controller"});
//   rec.Record(deployment, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5d4 to 3");
//
// Thread-safety: Record from any thread. Ownership: borrows the Client; the destructor flushes
// pending events (bounded) and joins the writer thread.
#pragma once

#include <memory>
#include <string>

#include "base/clock.h"
#include "base/json.h"
#include "client/client.h"

namespace tug::client {

struct EventSource {
  std::string component;  // "default-scheduler", "kubelet", "deployment-controller"
  std::string host;       // node name for kubelet events, else ""
  Clock* clock = nullptr;
  // Writes in flight at most: as many writer threads (each started on first use), or with a
  // pipelining transport 2 threads sharing them.
  int writers = 4;
};

class EventRecorder {
 public:
  EventRecorder(const Client& client, EventSource source);
  ~EventRecorder();
  // obj: the involved object (kind/apiVersion/metadata are read). type "Normal" or "Warning".
  void Record(const Json& obj, std::string_view type, std::string_view reason, std::string message);
  // Waits until every recorded event has been written (tests).
  void Flush();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tug::client
