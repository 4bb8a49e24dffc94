// Controller expectations (upstream's ControllerExpectations + UIDTrackingExpectations): a
// controller that created N pods or deleted M pods waits until its informer has observed those
// changes before it computes the diff again, so a slow informer never causes duplicate creates
// or extra deletes. Expectations expire after 5 minutes (a lost watch event cannot wedge a
// controller forever).
//
// Thread-safety: all methods from any thread (one mutex).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"

namespace tug::controllers::framework {

class Expectations {
 public:
  explicit Expectations(Clock* clock = nullptr, std::chrono::seconds ttl = std::chrono::minutes(5));

  // True when no expectation is outstanding for `key` (none recorded, all observed, or expired).
  bool Satisfied(const std::string& key) const;
  // Records that `adds` creations are about to happen (replaces earlier expectations).
  void ExpectCreations(const std::string& key, int adds);
  // Records deletions of the pods with these uids (replaces earlier expectations).
  void ExpectDeletions(const std::string& key, const std::vector<std::string>& uids);
  // An informer saw a create for the controller (or the create failed: lower the count).
  void CreationObserved(const std::string& key);
  // An informer saw the delete of `uid` (or the delete failed / was already gone).
  void DeletionObserved(const std::string& key, const std::string& uid);
  // Drops everything for `key` (the controller object was deleted).
  void Delete(const std::string& key);
  // Pending (adds, deletes) for tests and logs.
  std::pair<int, int> Pending(const std::string& key) const;

 private:
  struct Entry {
    int adds = 0;
    std::set<std::string> dels;
    std::chrono::steady_clock::time_point at;
  };
  Clock* clock_;
  std::chrono::seconds ttl_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace tug::controllers::framework
