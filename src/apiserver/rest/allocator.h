// ServiceAllocator — ClusterIP allocation from the service CIDR and NodePort allocation from
// 30000-32767. The allocated sets are derived from the stored Services at start (Load), so
// nothing extra is persisted and an IP is never handed out twice while a Service holds it.
//
// Ownership: plain object owned by the REST handler.
// Thread-safety: all methods are thread-safe (one mutex).
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "api/field_error.h"
#include "base/json.h"
#include "base/status.h"

namespace tug::apiserver::rest {

class ServiceAllocator {
 public:
  static constexpr int kNodePortMin = 30000;
  static constexpr int kNodePortMax = 32767;

  // cidr "10.43.0.0/16". InvalidArgument-style BadRequest for a malformed CIDR.
  static Result<std::unique_ptr<ServiceAllocator>> New(const std::string& cidr);

  // The first usable IP (".1"), reserved for the "kubernetes" service.
  std::string FirstIP() const;

  // Marks what an existing Service holds (start-up).
  void MarkUsed(const Json& svc);

  // What Allocate took, so a failed or dry-run write can give it back.
  struct Taken {
    std::vector<uint32_t> ips;
    std::vector<int> ports;
  };
  // Fills spec.clusterIP(s), ipFamilies, ipFamilyPolicy and nodePorts of a Service being
  // created (old == nullptr) or updated (values missing in the new object are carried from
  // old). Errors are field errors (422 Invalid).
  api::FieldErrors Allocate(Json& svc, const Json* old, Taken* taken);
  void Undo(const Taken& taken);
  // Releases what svc holds that `keep` (the new version, or null on delete) does not.
  void Release(const Json& svc, const Json* keep);

 private:
  ServiceAllocator() = default;
  std::mutex mu_;
  uint32_t base_ = 0;
  uint32_t size_ = 0;
  std::string cidr_;
  std::set<uint32_t> ips_;
  std::set<int> ports_;
  uint32_t next_ip_ = 2;
  int next_port_ = kNodePortMin;
};

Result<uint32_t> ParseIPv4(const std::string& s);
std::string FormatIPv4(uint32_t ip);

}  // namespace tug::apiserver::rest
