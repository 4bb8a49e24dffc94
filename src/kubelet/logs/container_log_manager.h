// Container log rotation by size (the kubelet's container log manager): conmon appends each
// container's CRI log to ContainerStatus::log_path; once a running container's file reaches
// RotatePolicy::max_size_bytes, the manager
//   1. removes leftovers of an interrupted rotation (".tmp" files, a file whose ".gz" exists),
//   2. removes the oldest rotated files so that at most max_files - 2 remain,
//   3. gzips every remaining rotated file that is not compressed yet ("<f>" -> "<f>.gz"),
//   4. renames the current file to "<log>.<UTC YYYYMMDD-HHMMSS>" and asks the runtime to reopen
//      it (Runtime::ReopenContainerLog); if the reopen fails the file is renamed back.
// So a container's logs are at most max_files files: the current one, the newest rotated file
// uncompressed (a reader following the old file may still be reading it) and older ones
// compressed. Only running containers are rotated. Files of removed containers go with them:
// CleanContainerLogs() before Runtime::RemoveContainer, and each pass also removes rotated files
// whose container no longer exists.
//
//   logs::ContainerLogManager m(runtime, {.policy = {.max_size_bytes = 10 << 20, .max_files = 5}});
//   m.Start();  ... m.Stop();
//
// Ownership: the manager borrows the Runtime (it must outlive the manager) and owns its thread.
// Thread-safety: RotateLogs and Clean may be called from any thread (one mutex serializes
// them); Start/Stop from the owner's thread. The free functions are safe to call concurrently
// on different logs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "runtime/runtime.h"

namespace tug::kubelet::logs {

// KubeletConfiguration containerLogMaxSize / containerLogMaxFiles.
struct RotatePolicy {
  int64_t max_size_bytes = 10 << 20;  // 10Mi
  int max_files = 5;                  // counting the current file
};

// Invalid (one line, naming the flag) unless max_files >= 2 and max_size_bytes > 0.
Status ValidatePolicy(const RotatePolicy& policy);

// A byte quantity as Kubernetes writes it: "10Mi", "64Ki", "1G", "500k", "1048576". Invalid for
// anything else, for fractions of a byte and for values <= 0 or beyond int64.
Result<int64_t> ParseByteQuantity(std::string_view q);

// The suffix of a file rotated at `t`: "." + UTC "YYYYMMDD-HHMMSS".
std::string RotatedSuffix(SystemTime t);

// The rotated files of `log` ("<log>.<stamp>" and "<log>.<stamp>.gz") in use, oldest first;
// leftovers of an interrupted compression are not listed.
std::vector<std::string> RotatedLogs(const std::string& log);

// One rotation of `log` (steps 1-4 above) at time `now`. `reopen` makes the writer start a new
// file at `log`. Errors: Internal (a file operation failed), or reopen's error (the file has
// been renamed back), AlreadyExists when a file rotated in the same second is there (nothing
// changed; the next pass rotates).
Status RotateLog(const std::string& log, const RotatePolicy& policy, SystemTime now,
                 const std::function<Status()>& reopen);

// Removes `log` and every file named "<log>.*" beside it. Missing files are not an error.
Status RemoveLogFiles(const std::string& log);

// Removes all log files of a runtime container (before it is removed). NotFound when the
// runtime does not know the container.
Status CleanContainerLogs(runtime::Runtime& runtime, const std::string& container_id);

class ContainerLogManager {
 public:
  struct Options {
    RotatePolicy policy;
    // containerLogMonitorInterval: the pause between two passes.
    std::chrono::milliseconds monitor_interval{10000};
    Clock* clock = nullptr;  // rotated files' timestamps; nullptr: RealClock()
  };
  ContainerLogManager(runtime::Runtime& runtime, Options options);
  ~ContainerLogManager();
  ContainerLogManager(const ContainerLogManager&) = delete;
  ContainerLogManager& operator=(const ContainerLogManager&) = delete;

  // Starts the thread that runs RotateLogs every monitor_interval.
  void Start();
  // Stops and joins it (a pass in progress finishes). Idempotent.
  void Stop();

  // One pass: rotates every running container's log that reached the maximum size and removes
  // rotated files whose container no longer exists. Returns how many logs were rotated;
  // failures are logged and retried on the next pass.
  int RotateLogs();
  // CleanContainerLogs, serialized with the passes.
  Status Clean(const std::string& container_id);

 private:
  void Loop(std::stop_token stop);
  void RemoveOrphanedRotatedLogs(const std::vector<runtime::ContainerStatus>& containers);

  runtime::Runtime& runtime_;
  Options options_;
  Clock* clock_;
  std::mutex mu_;  // one pass or clean at a time
  std::mutex wake_mu_;
  std::condition_variable_any wake_;
  std::jthread thread_;
};

}  // namespace tug::kubelet::logs
