#include "client/events.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "base/testing/fake_clock.h"
#include "client/loopback.h"
#include "client/testing/test_api_server.h"

namespace tug::client {
namespace {

using namespace std::chrono_literals;

class EventsTest : public ::testing::Test {
 protected:
  std::vector<Json> Events(const std::string& ns) {
    auto l = api_.client().List(kEvents, ns);
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    if (!l.ok()) return {};
    std::vector<Json> out;
    for (const auto& e : (*l)["items"]) out.push_back(e);
    std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) {
      return GetStringPath(a, {"metadata", "name"}) < GetStringPath(b, {"metadata", "name"});
    });
    return out;
  }

  testing::TestApiServer api_;
  tug::testing::FakeClock clock_;
  const Json pod_ = {{"apiVersion", "v1"},
                     {"kind", "Pod"},
                     {"metadata", {{"name", "web-1"}, {"namespace", "default"}, {"uid", "u-1"}, {"resourceVersion", "7"}}}};
};

TEST_F(EventsTest, CreatesAnEventWithTheUpstreamShape) {
  EventRecorder rec(api_.client(), {.component = "kubelet", .host = "node-1", .clock = &clock_});
  rec.Record(pod_, "Warning", "BackOff", "Back-off restarting failed container");
  rec.Flush();
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), 1u);
  const Json& e = evs[0];
  std::string name = GetStringPath(e, {"metadata", "name"});
  EXPECT_EQ(name.rfind("web-1.", 0), 0u) << name;
  EXPECT_GT(name.size(), 7u);
  EXPECT_EQ(e["involvedObject"]["kind"], "Pod");
  EXPECT_EQ(e["involvedObject"]["name"], "web-1");
  EXPECT_EQ(e["involvedObject"]["namespace"], "default");
  EXPECT_EQ(e["involvedObject"]["uid"], "u-1");
  EXPECT_EQ(e["involvedObject"]["apiVersion"], "v1");
  EXPECT_EQ(e["reason"], "BackOff");
  EXPECT_EQ(e["message"], "Back-off restarting failed container");
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["source"]["component"], "kubelet");
  EXPECT_EQ(e["source"]["host"], "node-1");
  EXPECT_EQ(e["reportingComponent"], "kubelet");
  EXPECT_EQ(e["firstTimestamp"], FormatRFC3339(clock_.Now()));
  EXPECT_EQ(e["lastTimestamp"], e["firstTimestamp"]);
}

// Fields are written as JSON text: quotes, backslashes, control characters and UTF-8 survive.
TEST_F(EventsTest, EscapesTextFields) {
  EventRecorder rec(api_.client(), {.component = "kubelet", .host = "node-1", .clock = &clock_});
  const std::vector<std::string> messages = {
      "plain ASCII message", "say \"hi\"", "back\\slash", "line\nbreak\ttab", "caf\xc3\xa9 \xe2\x9c\x93", "\x01ctl",
  };
  for (const std::string& m : messages) rec.Record(pod_, "Normal", "Reason" + std::to_string(&m - messages.data()), m);
  rec.Flush();
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), messages.size());
  std::set<std::string> got;
  for (const Json& e : evs) got.insert(GetString(e, "message"));
  EXPECT_EQ(got, std::set<std::string>(messages.begin(), messages.end()));
}

TEST_F(EventsTest, AggregatesRepeatsWithinTenMinutes) {
  EventRecorder rec(api_.client(), {.component = "deployment-controller", .clock = &clock_});
  Json dep = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"metadata", {{"name", "web"}, {"namespace", "default"}}}};
  std::string first = FormatRFC3339(clock_.Now());
  rec.Record(dep, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5d4 to 3");
  clock_.Advance(2min);
  rec.Record(dep, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5d4 to 3");
  clock_.Advance(2min);
  std::string third = FormatRFC3339(clock_.Now());
  rec.Record(dep, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5d4 to 3");
  rec.Record(dep, "Normal", "ScalingReplicaSet", "Scaled down replica set web-5d4 to 1");  // another message
  rec.Flush();
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), 2u);
  const Json* up = nullptr;
  for (const auto& e : evs)
    if (e["message"] == "Scaled up replica set web-5d4 to 3") up = &e;
  ASSERT_NE(up, nullptr);
  EXPECT_EQ((*up)["count"], 3);
  EXPECT_EQ((*up)["firstTimestamp"], first);
  EXPECT_EQ((*up)["lastTimestamp"], third);
  EXPECT_FALSE(up->contains("source") && (*up)["source"].contains("host"));

  // After more than 10 minutes the same event starts a new Event.
  clock_.Advance(11min);
  rec.Record(dep, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5d4 to 3");
  rec.Flush();
  EXPECT_EQ(Events("default").size(), 3u);
}

// As client-go: the 10th different message of one object/reason within 10 minutes starts one
// combined Event that the later ones update; different reasons are counted apart.
TEST_F(EventsTest, CombinesSimilarEventsAfterTenMessages) {
  EventRecorder rec(api_.client(), {.component = "replicaset-controller", .clock = &clock_});
  Json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata", {{"name", "web-5d4"}, {"namespace", "default"}, {"uid", "u1"}}}};
  for (int i = 0; i < 20; ++i) rec.Record(rs, "Normal", "SuccessfulCreate", "Created pod: web-5d4-" + std::to_string(i));
  rec.Record(rs, "Normal", "SuccessfulDelete", "Deleted pod: web-5d4-0");
  rec.Flush();
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), 11u);  // 9 single messages, 1 combined, 1 delete
  const Json* combined = nullptr;
  for (const auto& e : evs)
    if (GetString(e, "message").starts_with("(combined from similar events): ")) combined = &e;
  ASSERT_NE(combined, nullptr);
  EXPECT_EQ((*combined)["message"], "(combined from similar events): Created pod: web-5d4-19");
  EXPECT_EQ((*combined)["count"], 11);  // the 10th to the 20th
  EXPECT_EQ((*combined)["reason"], "SuccessfulCreate");
  EXPECT_EQ((*combined)["involvedObject"]["name"], "web-5d4");

  // After the window, messages are counted afresh.
  clock_.Advance(11min);
  rec.Record(rs, "Normal", "SuccessfulCreate", "Created pod: web-5d4-x");
  rec.Flush();
  bool single = false;
  for (const auto& e : Events("default")) single |= e["message"] == "Created pod: web-5d4-x";
  EXPECT_TRUE(single);
}

// An Event with an empty message is not the combined Event of its object and reason: the tenth
// message still makes its own combined Event.
TEST_F(EventsTest, AnEmptyMessageIsNotTheCombinedEvent) {
  EventRecorder rec(api_.client(), {.component = "replicaset-controller", .clock = &clock_});
  Json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata", {{"name", "web-5d4"}, {"namespace", "default"}, {"uid", "u1"}}}};
  rec.Record(rs, "Normal", "SuccessfulCreate", "");
  for (int i = 1; i < 10; ++i) rec.Record(rs, "Normal", "SuccessfulCreate", "Created pod: web-5d4-" + std::to_string(i));
  rec.Flush();
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), 10u);
  int combined = 0;
  for (const auto& e : evs) {
    if (GetString(e, "message") == "(combined from similar events): Created pod: web-5d4-9") ++combined;
    EXPECT_EQ(e["count"], 1) << e.dump();
  }
  EXPECT_EQ(combined, 1);
}

// As client-go's spam filter: 25 events of one object and reason at once, then one per 5
// minutes; the others are dropped.
TEST_F(EventsTest, SpamFilterDropsBeyondTheBurst) {
  EventRecorder rec(api_.client(), {.component = "kubelet", .host = "n1", .clock = &clock_});
  Json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}, {"namespace", "default"}, {"uid", "u2"}}}};
  auto total = [&] {
    int64_t n = 0;
    for (const auto& e : Events("default"))
      if (e["reason"] == "BackOff") n += e["count"].get<int64_t>();
    return n;
  };
  for (int i = 0; i < 40; ++i) rec.Record(pod, "Warning", "BackOff", "Back-off restarting failed container");
  rec.Record(pod, "Normal", "Pulled", "Container image already present");  // its own bucket
  rec.Flush();
  EXPECT_EQ(total(), 25);
  clock_.Advance(5min);
  for (int i = 0; i < 3; ++i) rec.Record(pod, "Warning", "BackOff", "Back-off restarting failed container");
  rec.Flush();
  EXPECT_EQ(total(), 26);
  bool pulled = false;
  for (const auto& e : Events("default")) pulled |= e["reason"] == "Pulled";
  EXPECT_TRUE(pulled);
}

TEST_F(EventsTest, ClusterScopedObjectsAndDeletedEvents) {
  EventRecorder rec(api_.client(), {.component = "node-controller", .clock = &clock_});
  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}, {"uid", "nu"}}}};
  rec.Record(node, "Normal", "RegisteredNode", "Node n1 event: Registered Node n1 in Controller");
  rec.Flush();
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_FALSE(evs[0]["involvedObject"].contains("namespace"));
  // The Event was deleted (e.g. by TTL): a repeat creates a new one.
  ASSERT_TRUE(api_.client().Delete(kEvents, "default", GetStringPath(evs[0], {"metadata", "name"})).ok());
  clock_.Advance(1min);
  rec.Record(node, "Normal", "RegisteredNode", "Node n1 event: Registered Node n1 in Controller");
  rec.Flush();
  evs = Events("default");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0]["count"], 1);
}

TEST_F(EventsTest, DestructorFlushes) {
  {
    EventRecorder rec(api_.client(), {.component = "x", .clock = &clock_});
    for (int i = 0; i < 5; ++i) rec.Record(pod_, "Normal", "R" + std::to_string(i), "m");
  }
  EXPECT_EQ(Events("default").size(), 5u);
}

// Events of different objects are written concurrently: a transport that holds every Event
// create until two are in flight (or a deadline passes) sees two at once.
class GatingTransport : public Transport {
 public:
  explicit GatingTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {}
  Result<HttpResponse> Do(const HttpRequest& req) override {
    bool gated = req.method == "POST" && req.path.find("/events") != std::string::npos;
    if (gated) {
      std::unique_lock<std::mutex> l(mu_);
      max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
      cv_.notify_all();
      if (!cv_.wait_for(l, std::chrono::seconds(5), [&] { return max_in_flight_ >= 2 || gave_up_; })) gave_up_ = true;
    }
    auto r = inner_->Do(req);
    if (gated) {
      std::lock_guard<std::mutex> l(mu_);
      in_flight_--;
    }
    return r;
  }
  Result<std::unique_ptr<Stream>> Open(const HttpRequest& req, std::function<void(int, std::string_view)> on_head,
                                       std::function<void(std::string_view)> on_data,
                                       std::function<void(Status)> on_end) override {
    return inner_->Open(req, std::move(on_head), std::move(on_data), std::move(on_end));
  }
  int MaxInFlight() {
    std::lock_guard<std::mutex> l(mu_);
    return max_in_flight_;
  }

 private:
  std::shared_ptr<Transport> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0, max_in_flight_ = 0;
  bool gave_up_ = false;  // one wait timed out: the writes are serial; stop holding them
};

TEST_F(EventsTest, WritersWorkConcurrentlyAndKeepEachObjectsEventsTogether) {
  apiserver::UserInfo admin;
  admin.name = "system:admin";
  admin.groups = {"system:masters"};
  auto gate = std::make_shared<GatingTransport>(NewLoopbackTransport(api_.handler(), admin));
  Client c(gate);
  {
    // Every event at the same fake time: names must still be unique across writers.
    EventRecorder rec(c, {.component = "default-scheduler", .clock = &clock_, .writers = 8});
    for (int i = 0; i < 40; ++i) {
      Json pod = pod_;
      pod["metadata"]["name"] = "p-" + std::to_string(i);
      pod["metadata"]["uid"] = "u-" + std::to_string(i);
      rec.Record(pod, "Normal", "Scheduled", "Successfully assigned default/p-" + std::to_string(i) + " to n1");
      if (i % 4 == 0) rec.Record(pod, "Normal", "Scheduled", "Successfully assigned default/p-" + std::to_string(i) + " to n1");
    }
    rec.Flush();
  }
  EXPECT_GE(gate->MaxInFlight(), 2);
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), 40u);
  int repeated = 0;
  for (const auto& e : evs) {
    int idx = std::stoi(GetStringPath(e, {"involvedObject", "name"}).substr(2));
    EXPECT_EQ(e["count"], idx % 4 == 0 ? 2 : 1) << e.dump();
    repeated += idx % 4 == 0;
  }
  EXPECT_EQ(repeated, 10);
}

// A pipelining transport whose Event creates are answered in groups: each answer is held until
// three are due (or 100 ms pass), so a writer thread only sees them if it keeps several creates
// in flight at once.
class GroupingTransport : public Transport {
 public:
  explicit GroupingTransport(std::shared_ptr<Transport> inner) : inner_(std::move(inner)) {
    timer_ = std::thread([this] {
      std::unique_lock<std::mutex> l(mu_);
      while (!stop_) {
        cv_.wait_for(l, 100ms);
        auto held = std::move(held_);
        held_.clear();
        l.unlock();
        for (auto& fn : held) fn();
        l.lock();
      }
    });
  }
  ~GroupingTransport() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    timer_.join();
  }
  Result<HttpResponse> Do(const HttpRequest& req) override { return inner_->Do(req); }
  void DoAsync(const HttpRequest& req, std::function<void(Result<HttpResponse>)> done) override {
    if (req.method != "POST" || req.path.find("/events") == std::string::npos) return inner_->DoAsync(req, std::move(done));
    inner_->DoAsync(req, [this, done = std::move(done)](Result<HttpResponse> r) {
      std::vector<std::function<void()>> release;
      {
        std::lock_guard<std::mutex> l(mu_);
        held_.push_back([done, r = std::move(r)]() mutable { done(std::move(r)); });
        max_held_ = std::max(max_held_, held_.size());
        if (held_.size() >= 3) release.swap(held_);
      }
      for (auto& fn : release) fn();
    });
  }
  bool Pipelines() const override { return true; }
  Result<std::unique_ptr<Stream>> Open(const HttpRequest& req, std::function<void(int, std::string_view)> on_head,
                                       std::function<void(std::string_view)> on_data,
                                       std::function<void(Status)> on_end) override {
    return inner_->Open(req, std::move(on_head), std::move(on_data), std::move(on_end));
  }
  size_t MaxHeld() {
    std::lock_guard<std::mutex> l(mu_);
    return max_held_;
  }

 private:
  std::shared_ptr<Transport> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::function<void()>> held_;
  size_t max_held_ = 0;
  bool stop_ = false;
  std::thread timer_;
};

// With a pipelining transport a writer thread keeps several creates in flight (8 writes over at
// most 2 threads here), and an object's next event still waits for its create's answer: a
// repeat bumps the count of the Event written, never a second Event.
TEST_F(EventsTest, PipelinedWritesKeepSeveralInFlightAndRepeatsStayOneEvent) {
  apiserver::UserInfo admin;
  admin.name = "system:admin";
  admin.groups = {"system:masters"};
  auto grouping = std::make_shared<GroupingTransport>(NewLoopbackTransport(api_.handler(), admin));
  Client c(grouping);
  {
    EventRecorder rec(c, {.component = "default-scheduler", .clock = &clock_, .writers = 8});
    for (int i = 0; i < 30; ++i) {
      Json pod = pod_;
      pod["metadata"]["name"] = "p-" + std::to_string(i);
      pod["metadata"]["uid"] = "u-" + std::to_string(i);
      std::string msg = "Successfully assigned default/p-" + std::to_string(i) + " to n1";
      for (int k = 0; k < (i % 3 == 0 ? 3 : 1); ++k) rec.Record(pod, "Normal", "Scheduled", msg);
    }
    rec.Flush();
  }
  EXPECT_GE(grouping->MaxHeld(), 3u);
  auto evs = Events("default");
  ASSERT_EQ(evs.size(), 30u);
  for (const auto& e : evs) {
    int idx = std::stoi(GetStringPath(e, {"involvedObject", "name"}).substr(2));
    EXPECT_EQ(e["count"], idx % 3 == 0 ? 3 : 1) << e.dump();
  }
}

}  // namespace
}  // namespace tug::client
