#include "client/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "client/testing/test_api_server.h"

namespace tug::client {
namespace {

using namespace std::chrono_literals;

template <typename F>
bool Eventually(F pred, std::chrono::milliseconds timeout = 15s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

LeaderElectionConfig Cfg(std::string id) {
  return {.ns = "kube-system", .name = "test-lock", .identity = std::move(id), .lease_duration = 2s,
          .renew_deadline = 1s, .retry_period = 1s};
}

// Runs an elector on its own thread and counts its callbacks.
struct Candidate {
  Candidate(const Client& c, std::string id) : le(c, Cfg(std::move(id))) {
    thread = std::thread([this] {
      le.Run([this] { ++started; }, [this] { ++stopped; });
    });
  }
  ~Candidate() { Stop(); }
  void Stop() {
    le.Stop();
    if (thread.joinable()) thread.join();
  }
  LeaderElector le;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  std::thread thread;
};

TEST(LeaderElectionTest, OneWinsAndStopHandsOver) {
  testing::TestApiServer api;
  ASSERT_TRUE(api.ok());
  auto a = std::make_unique<Candidate>(api.client(), "a");
  auto b = std::make_unique<Candidate>(api.client(), "b");
  ASSERT_TRUE(Eventually([&] { return a->le.IsLeader() || b->le.IsLeader(); }));
  // Several renew rounds pass; still exactly one leader, and the lease names it.
  std::this_thread::sleep_for(1500ms);
  ASSERT_NE(a->le.IsLeader(), b->le.IsLeader());
  Candidate* winner = a->le.IsLeader() ? a.get() : b.get();
  Candidate* loser = winner == a.get() ? b.get() : a.get();
  auto lease = api.client().Get(kLeases, "kube-system", "test-lock");
  ASSERT_TRUE(lease.ok());
  std::string holder = GetStringPath(*lease, {"spec", "holderIdentity"});
  EXPECT_EQ(holder, winner == a.get() ? "a" : "b");
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 2);
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 0);
  // MicroTime: "2006-01-02T15:04:05.000000Z".
  std::string renew = GetStringPath(*lease, {"spec", "renewTime"});
  ASSERT_EQ(renew.size(), 27u) << renew;
  EXPECT_EQ(renew[19], '.');
  ASSERT_TRUE(Eventually([&] { return winner->started.load() == 1; }));
  EXPECT_EQ(loser->started.load(), 0);

  // Stop releases the lease: the other takes over without waiting for it to expire.
  winner->Stop();
  EXPECT_EQ(winner->stopped.load(), 1);
  EXPECT_FALSE(winner->le.IsLeader());
  auto released = api.client().Get(kLeases, "kube-system", "test-lock");
  ASSERT_TRUE(released.ok());
  ASSERT_TRUE(Eventually([&] { return loser->le.IsLeader(); }, 1900ms));
  ASSERT_TRUE(Eventually([&] { return loser->started.load() == 1; }));  // on its own thread
  lease = api.client().Get(kLeases, "kube-system", "test-lock");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  EXPECT_EQ(GetStringPath(*lease, {"spec", "holderIdentity"}), loser == a.get() ? "a" : "b");
}

TEST(LeaderElectionTest, TakesOverAnExpiredLease) {
  testing::TestApiServer api;
  ASSERT_TRUE(api.ok());
  // A holder that stopped renewing (crashed).
  std::string now = FormatRFC3339Micro(RealClock().Now());
  Json ghost = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "test-lock"}, {"namespace", "kube-system"}, {"labels", {{"keep", "me"}}}}},
                {"spec",
                 {{"holderIdentity", "ghost"},
                  {"leaseDurationSeconds", 2},
                  {"acquireTime", now},
                  {"renewTime", now},
                  {"leaseTransitions", 4}}}};
  ASSERT_TRUE(api.client().Create(kLeases, "kube-system", ghost).ok());
  auto start = std::chrono::steady_clock::now();
  Candidate b(api.client(), "b");
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(b.le.IsLeader());  // the ghost's lease is still valid
  ASSERT_TRUE(Eventually([&] { return b.le.IsLeader(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 2s);
  auto lease = api.client().Get(kLeases, "kube-system", "test-lock");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(GetStringPath(*lease, {"spec", "holderIdentity"}), "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 5);
  EXPECT_NE(GetStringPath(*lease, {"spec", "acquireTime"}), now);
  EXPECT_EQ((*lease)["metadata"]["labels"]["keep"], "me");  // the rest of the object survives
}

TEST(LeaderElectionTest, LosesLeadershipWhenTheLeaseIsTaken) {
  testing::TestApiServer api;
  ASSERT_TRUE(api.ok());
  Candidate a(api.client(), "a");
  ASSERT_TRUE(Eventually([&] { return a.le.IsLeader(); }));
  // Someone overrides the lease (as an admin could): a notices at its next renewal.
  auto lease = api.client().Get(kLeases, "kube-system", "test-lock");
  ASSERT_TRUE(lease.ok());
  (*lease)["spec"]["holderIdentity"] = "intruder";
  (*lease)["spec"]["leaseDurationSeconds"] = 60;
  ASSERT_TRUE(api.client().Update(kLeases, "kube-system", *lease).ok());
  ASSERT_TRUE(Eventually([&] { return a.stopped.load() == 1; }));
  EXPECT_FALSE(a.le.IsLeader());
  a.Stop();
  EXPECT_EQ(a.started.load(), 1);
  EXPECT_EQ(a.stopped.load(), 1);
}

}  // namespace
}  // namespace tug::client
