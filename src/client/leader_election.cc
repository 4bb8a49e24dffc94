// LeaderElector on a coordination.k8s.io/v1 Lease, with client-go's rules: a lease is free when
// it has no holder or when the record has not changed for leaseDurationSeconds as observed on
// this machine's clock (so clock skew between machines does not matter); writes use the
// Lease's resourceVersion, so of two candidates only one can win a round.
#include "client/leader_election.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "base/clock.h"
#include "base/log.h"

namespace tug::client {

namespace {
constexpr const char* kLog = "leader-election";
}

struct LeaderElector::Impl {
  Impl(const Client& c, LeaderElectionConfig cfg) : client(c), cfg(std::move(cfg)) {}

  const Client& client;
  LeaderElectionConfig cfg;
  Clock& clock = RealClock();

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::atomic<bool> leader{false};

  // The last record seen and when this process first saw it (steady clock).
  std::string observed_holder;
  std::string observed_renew;
  int64_t observed_transitions = 0;
  std::chrono::steady_clock::time_point observed_at{};

  // Waits d or until Stop; false when stopping.
  bool Sleep(std::chrono::steady_clock::duration d) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, d, [&] { return stop; });
    return !stop;
  }
  bool Stopping() {
    std::lock_guard<std::mutex> lock(mu);
    return stop;
  }

  Json NewLease(const std::string& now) const {
    return {{"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata", {{"name", cfg.name}, {"namespace", cfg.ns}}},
            {"spec",
             {{"holderIdentity", cfg.identity},
              {"leaseDurationSeconds", cfg.lease_duration.count()},
              {"acquireTime", now},
              {"renewTime", now},
              {"leaseTransitions", 0}}}};
  }

  // One round: acquire a free lease or renew ours. Returns true when we hold it afterwards.
  bool TryAcquireOrRenew() {
    std::string now = FormatRFC3339Micro(clock.Now());
    auto got = client.Get(kLeases, cfg.ns, cfg.name);
    if (!got.ok()) {
      if (got.status().code() != StatusCode::kNotFound) {
        TUG_LOG(WARNING, kLog) << "error retrieving lease" << kv("lease", cfg.ns + "/" + cfg.name)
                               << kv("error", got.status().ToString());
        return false;
      }
      auto created = client.Create(kLeases, cfg.ns, NewLease(now));
      if (!created.ok()) return false;
      Observe(*created);
      return true;
    }
    Json lease = std::move(got).value();
    Observe(lease);
    const Json* spec = Find(lease, "spec");
    std::string holder = spec ? GetString(*spec, "holderIdentity") : "";
    int64_t duration = cfg.lease_duration.count();
    if (spec)
      if (const Json* d = Find(*spec, "leaseDurationSeconds"); d && d->is_number_integer()) duration = d->get<int64_t>();
    bool mine = holder == cfg.identity;
    if (!holder.empty() && !mine &&
        clock.SteadyNow() < observed_at + std::chrono::seconds(duration)) {
      return false;  // held by someone else and not expired
    }
    Json& s = lease["spec"];
    if (!s.is_object()) s = Json::object();
    if (!mine) {
      s["acquireTime"] = now;
      int64_t transitions = 0;
      if (const Json* t = Find(s, "leaseTransitions"); t && t->is_number_integer()) transitions = t->get<int64_t>();
      // A lease released by its holder (empty holder) still counts the hand-over, as upstream.
      s["leaseTransitions"] = transitions + 1;
    }
    s["holderIdentity"] = cfg.identity;
    s["leaseDurationSeconds"] = cfg.lease_duration.count();
    s["renewTime"] = now;
    auto updated = client.Update(kLeases, cfg.ns, lease);  // resourceVersion precondition
    if (!updated.ok()) {
      if (updated.status().code() != StatusCode::kConflict)
        TUG_LOG(WARNING, kLog) << "error updating lease" << kv("lease", cfg.ns + "/" + cfg.name)
                               << kv("error", updated.status().ToString());
      return false;
    }
    Observe(*updated);
    return true;
  }

  void Observe(const Json& lease) {
    std::string holder = GetStringPath(lease, {"spec", "holderIdentity"});
    std::string renew = GetStringPath(lease, {"spec", "renewTime"});
    if (holder != observed_holder || renew != observed_renew || observed_at == std::chrono::steady_clock::time_point{}) {
      observed_holder = holder;
      observed_renew = renew;
      observed_at = clock.SteadyNow();
    }
  }

  // Gives the lease up so another candidate need not wait for it to expire.
  void Release() {
    auto got = client.Get(kLeases, cfg.ns, cfg.name);
    if (!got.ok()) return;
    Json lease = std::move(got).value();
    if (GetStringPath(lease, {"spec", "holderIdentity"}) != cfg.identity) return;
    std::string now = FormatRFC3339Micro(clock.Now());
    Json& s = lease["spec"];
    s["holderIdentity"] = "";
    s["leaseDurationSeconds"] = 1;
    s["renewTime"] = now;
    s["acquireTime"] = now;
    auto updated = client.Update(kLeases, cfg.ns, lease);
    if (!updated.ok())
      TUG_LOG(WARNING, kLog) << "failed to release lease" << kv("lease", cfg.ns + "/" + cfg.name)
                             << kv("error", updated.status().ToString());
  }
};

LeaderElector::LeaderElector(const Client& client, LeaderElectionConfig config)
    : impl_(std::make_unique<Impl>(client, std::move(config))) {}

LeaderElector::~LeaderElector() { Stop(); }

bool LeaderElector::IsLeader() const { return impl_->leader.load(); }

void LeaderElector::Stop() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->stop = true;
  impl_->cv.notify_all();
}

void LeaderElector::Run(std::function<void()> on_started_leading, std::function<void()> on_stopped_leading) {
  Impl& m = *impl_;
  const std::string lease_name = m.cfg.ns + "/" + m.cfg.name;
  while (!m.Stopping()) {
    // Campaign.
    if (!m.TryAcquireOrRenew()) {
      m.Sleep(m.cfg.retry_period);
      continue;
    }
    m.leader = true;
    TUG_LOG(INFO, kLog) << "became leader" << kv("lease", lease_name) << kv("identity", m.cfg.identity);
    std::thread leading;
    if (on_started_leading) leading = std::thread(on_started_leading);
    // Renew until Stop or until renewals have failed for renew_deadline.
    auto last_renew = std::chrono::steady_clock::now();
    bool lost = false;
    while (m.Sleep(m.cfg.retry_period)) {
      if (m.TryAcquireOrRenew()) {
        last_renew = std::chrono::steady_clock::now();
        continue;
      }
      bool taken = !m.observed_holder.empty() && m.observed_holder != m.cfg.identity;
      if (taken || std::chrono::steady_clock::now() - last_renew >= m.cfg.renew_deadline) {
        lost = true;
        break;
      }
    }
    m.leader = false;
    if (lost) {
      TUG_LOG(WARNING, kLog) << "lost leadership" << kv("lease", lease_name) << kv("identity", m.cfg.identity);
    } else {
      m.Release();
      TUG_LOG(INFO, kLog) << "released leadership" << kv("lease", lease_name) << kv("identity", m.cfg.identity);
    }
    if (on_stopped_leading) on_stopped_leading();
    if (leading.joinable()) leading.join();
  }
}

}  // namespace tug::client
