#include "apiserver/rest/namespace_deleter.h"

#include "base/log.h"

namespace tug::apiserver::rest {

NamespaceDeleter::NamespaceDeleter(Sweep sweep, std::chrono::milliseconds retry)
    : sweep_(std::move(sweep)), retry_(retry), thread_([this] { Loop(); }) {}

NamespaceDeleter::~NamespaceDeleter() { Stop(); }

void NamespaceDeleter::Enqueue(const std::string& ns) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_[ns] = std::chrono::steady_clock::now();
  cv_.notify_all();
}

void NamespaceDeleter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void NamespaceDeleter::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  // Run every pending sweep once more, now, and wait for those runs.
  uint64_t target = runs_ + pending_.size() + (busy_ ? 1 : 0);
  for (auto& [ns, t] : pending_) t = std::chrono::steady_clock::now();
  cv_.notify_all();
  cv_.wait_for(lock, std::chrono::seconds(10), [&] { return stop_ || (pending_.empty() && !busy_) || runs_ >= target; });
}

void NamespaceDeleter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    auto now = std::chrono::steady_clock::now();
    std::string ns;
    auto next = now + std::chrono::hours(1);
    for (const auto& [n, t] : pending_) {
      if (t <= now) { ns = n; break; }
      next = std::min(next, t);
    }
    if (ns.empty()) {
      cv_.wait_until(lock, next);
      continue;
    }
    pending_.erase(ns);
    busy_ = true;
    lock.unlock();
    auto done = sweep_(ns);
    lock.lock();
    busy_ = false;
    ++runs_;
    if (!done.ok()) TUG_LOG(WARNING, "rest") << "namespace sweep failed" << kv("namespace", ns) << kv("err", done.status().ToString());
    if (!done.ok() || !*done) {
      if (!pending_.count(ns)) pending_[ns] = std::chrono::steady_clock::now() + retry_;
    } else {
      TUG_LOG(INFO, "rest") << "namespace deleted" << kv("namespace", ns);
    }
    cv_.notify_all();
  }
}

}  // namespace tug::apiserver::rest
