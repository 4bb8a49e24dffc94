// The API server's root handler: serves the health endpoints (/healthz, /livez, /readyz with
// upstream's `?verbose`, `?exclude=` and per-check sub-paths) and /version itself, and routes
// every other path to the API handler (REST, discovery, OpenAPI) once one is installed; until
// then such paths get a 404 NotFound Status.
//
// /readyz passes only once SetReady(true) was called (the API handler is installed and ready —
// or, while no API handler exists, the built-in 404 fallback is serving), every registered
// check passes, and shutdown has not begun.
//
// Ownership: the API handler is not owned and must outlive this object (or be cleared first).
// Thread-safety: all methods are safe to call concurrently; checks are read under a mutex and
// run outside it.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "apiserver/http.h"
#include "base/status.h"

namespace tug::apiserver::server {

struct VersionInfo {
  std::string major = "1";
  std::string minor = "33";
  std::string git_version = "v1.33.0+tug";
  std::string git_commit = "unknown";
  std::string git_tree_state = "clean";
  std::string build_date = "1970-01-01T00:00:00Z";
  std::string go_version = "n/a";
  std::string compiler = "gcc";
  std::string platform = "linux/amd64";
};

// The /version JSON document.
std::string VersionJson(const VersionInfo& v);

class RootHandler final : public Handler {
 public:
  using Check = std::function<Status()>;

  explicit RootHandler(VersionInfo version);

  // Installs (or clears, with nullptr) the handler for all non-health paths.
  void SetApiHandler(Handler* h);
  // Marks API serving ready (readyz passes from then on, given the other checks). Call it after
  // SetApiHandler once the API handler can serve.
  void SetReady(bool ready);
  // Readiness fails from now on ("[-]shutdown failed"); liveness is unaffected.
  void SetShuttingDown();
  // Adds a named check to /livez and /readyz (and /healthz), e.g. "etcd" for the store.
  void AddHealthCheck(std::string name, Check check);
  // Adds a named check to /readyz only.
  void AddReadyCheck(std::string name, Check check);

  void Handle(Request req, ResponseWriterPtr w) override;
  // The API handler's answer for API paths; health and /version run on a worker.
  bool HandlesInline(const Request& req) const override;

 private:
  struct Named {
    std::string name;
    Check check;
    bool ready_only;
  };
  void ServeHealth(const Request& req, ResponseWriter& w, const std::string& endpoint, const std::string& sub);

  const VersionInfo version_;
  std::atomic<Handler*> api_{nullptr};
  std::atomic<bool> ready_{false};
  std::atomic<bool> shutting_down_{false};
  std::mutex mu_;
  std::vector<Named> checks_;  // GUARDED_BY(mu_)
};

}  // namespace tug::apiserver::server
