// FlakyRegistry: a minimal Docker Registry v2 server (plain HTTP on 127.0.0.1:<free port>) that
// serves images held in memory and misbehaves on purpose, for fault tests of pulls: it can cut
// the connection in the middle of a blob, send wrong bytes of the right length, answer 503, or
// ignore Range requests. Faults are queued per blob digest and consumed one per GET of that
// blob; once the queue is empty the blob is served correctly (Range honoured with 206).
// SetDown(true) makes it refuse every request by closing connections at once (a registry that
// is gone while its port still accepts).
//
// Every response carries "Connection: close", so each request is its own connection.
// Ownership: owns its listening socket and one server thread, joined by the destructor.
// Thread-safety: all methods may be called while the server runs (one mutex). Test-only.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"

namespace tug::runtime::image::testing {

class FlakyRegistry {
 public:
  enum class Fault {
    kCutHalfway,   // headers with the full length, half of the bytes, then close
    kWrongBytes,   // full length, every byte flipped
    kUnavailable,  // 503 with a registry error body
    kIgnoreRange,  // answers a Range request with 200 and the whole blob
    kStallHalfway,  // headers with the full length, half of the bytes, then nothing until the
                    // client closes (the server thread waits for that)
  };
  struct Request {
    std::string method, path;
    int64_t range_start = -1;  // from "Range: bytes=N-", -1 without
  };

  FlakyRegistry();
  ~FlakyRegistry();
  FlakyRegistry(const FlakyRegistry&) = delete;
  FlakyRegistry& operator=(const FlakyRegistry&) = delete;

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

  // Publishes repo:tag as a Docker v2 manifest over config_json and the layer blobs (their
  // media type: layer_media_type). Returns the manifest digest.
  std::string AddImage(const std::string& repo, const std::string& tag, const std::string& config_json,
                       const std::vector<std::string>& layer_blobs, const std::string& layer_media_type);
  void QueueFaults(const std::string& digest, const std::vector<Fault>& faults);
  // Every GET of `digest` fails with `fault` (until ClearFaults).
  void AlwaysFail(const std::string& digest, Fault fault);
  void ClearFaults();
  void SetDown(bool down) { down_ = down; }
  std::vector<Request> Requests();
  // GETs of one blob so far.
  int BlobGets(const std::string& digest);

 private:
  void Loop();
  void Serve(int fd);
  void Send(int fd, int code, const std::string& headers, const std::string& body, size_t send_bytes);
  // Waits until the client closes `fd` (or the registry stops).
  void WaitForClose(int fd);

  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false}, down_{false};
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> manifests_;  // GUARDED_BY(mu_) "repo:ref" -> {type, bytes}
  std::map<std::string, std::string> blobs_;                              // GUARDED_BY(mu_) digest -> bytes
  std::map<std::string, std::deque<Fault>> faults_;                       // GUARDED_BY(mu_)
  std::map<std::string, Fault> always_;                                   // GUARDED_BY(mu_)
  std::vector<Request> requests_;                                         // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace tug::runtime::image::testing
