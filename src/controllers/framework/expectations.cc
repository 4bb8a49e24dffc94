#include "controllers/framework/expectations.h"

namespace tug::controllers::framework {

Expectations::Expectations(Clock* clock, std::chrono::seconds ttl)
    : clock_(clock ? clock : &RealClock()), ttl_(ttl) {}

bool Expectations::Satisfied(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return true;
  const Entry& e = it->second;
  if (e.adds <= 0 && e.dels.empty()) return true;
  return clock_->SteadyNow() - e.at > ttl_;
}

void Expectations::ExpectCreations(const std::string& key, int adds) {
  std::lock_guard<std::mutex> l(mu_);
  Entry& e = entries_[key];
  e.adds = adds;
  e.dels.clear();
  e.at = clock_->SteadyNow();
}

void Expectations::ExpectDeletions(const std::string& key, const std::vector<std::string>& uids) {
  std::lock_guard<std::mutex> l(mu_);
  Entry& e = entries_[key];
  e.adds = 0;
  e.dels = std::set<std::string>(uids.begin(), uids.end());
  e.at = clock_->SteadyNow();
}

void Expectations::CreationObserved(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.adds > 0) --it->second.adds;
}

void Expectations::DeletionObserved(const std::string& key, const std::string& uid) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) it->second.dels.erase(uid);
}

void Expectations::Delete(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  entries_.erase(key);
}

std::pair<int, int> Expectations::Pending(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return {0, 0};
  return {it->second.adds, static_cast<int>(it->second.dels.size())};
}

}  // namespace tug::controllers::framework
