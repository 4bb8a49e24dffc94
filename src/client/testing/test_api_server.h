// TestApiServer: a real API server in-process for any component's tests, built in a few ms:
// a memory store (store/memory), the built-in registry, the generic REST handler and a Client
// on the loopback transport.
//
//   client::testing::TestApiServer api;            // aborts the test (ASSERT) on failure
//   const client::Client& c = api.client();
//   ASSERT_TRUE(c.Create(client::kConfigMaps, "default", cm).ok());
//
// The REST handler runs without its timer thread; TickForTest() runs it once (bookmarks, watch
// timeouts) at the fake clock's time. Defaults match `tug server`: namespaces default,
// kube-system, kube-public and kube-node-lease exist.
//
// Ownership: owns the store, handler and transport; clients made by NewClient share the
// transport and must not outlive the fixture. Thread-safety: as the parts it holds.
#pragma once

#include <memory>
#include <string>

#include "apiserver/http.h"
#include "apiserver/rest/rest.h"
#include "base/testing/fake_clock.h"
#include "client/client.h"
#include "client/loopback.h"
#include "store/store.h"

namespace tug::client::testing {

struct TestApiServerOptions {
  std::string user = "system:admin";
  bool use_fake_clock = false;  // true: the handler's clock is clock() (advance it in the test)
  bool start_timer_thread = false;
  std::chrono::seconds bookmark_interval{60};
  LoopbackOptions loopback;
};

class TestApiServer {
 public:
  TestApiServer() : TestApiServer(TestApiServerOptions{}) {}
  explicit TestApiServer(TestApiServerOptions opts);
  ~TestApiServer();

  bool ok() const { return handler_ != nullptr; }
  const Client& client() const { return *client_; }
  // A client for another user identity on the same server.
  Client NewClient(std::string user) const;
  apiserver::rest::RestHandler& handler() const { return *handler_; }
  store::Store& store() const { return *store_; }
  tug::testing::FakeClock& clock() { return clock_; }
  void TickForTest() { handler_->TickForTest(); }
  void SyncForTest() { handler_->SyncForTest(); }

 private:
  TestApiServerOptions opts_;
  tug::testing::FakeClock clock_;
  store::StorePtr store_;
  std::unique_ptr<apiserver::rest::RestHandler> handler_;
  std::unique_ptr<Client> client_;
};

}  // namespace tug::client::testing
