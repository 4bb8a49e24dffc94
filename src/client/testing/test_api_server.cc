#include "client/testing/test_api_server.h"

#include <gtest/gtest.h>

#include "api/schema.h"
#include "store/memory/memory_store.h"

namespace tug::client::testing {

TestApiServer::TestApiServer(TestApiServerOptions opts) : opts_(std::move(opts)) {
  store_ = store::NewMemoryStore();
  auto reg = api::Registry::Builtin();
  if (!reg.ok()) {
    ADD_FAILURE() << "registry: " << reg.status().ToString();
    return;
  }
  apiserver::rest::Options o;
  o.server_address = "127.0.0.1:6443";
  if (opts_.use_fake_clock) o.clock = &clock_;
  o.start_timer_thread = opts_.start_timer_thread;
  o.bookmark_interval = opts_.bookmark_interval;
  auto h = apiserver::rest::NewRestHandler(*store_, *reg, o);
  if (!h.ok()) {
    ADD_FAILURE() << "rest handler: " << h.status().ToString();
    return;
  }
  handler_ = std::move(h).value();
  client_ = std::make_unique<Client>(NewClient(opts_.user));
}

TestApiServer::~TestApiServer() {
  if (handler_) handler_->Stop();
  client_.reset();
  handler_.reset();
  store_.reset();
}

Client TestApiServer::NewClient(std::string user) const {
  apiserver::UserInfo u;
  u.name = std::move(user);
  u.groups = {"system:masters", "system:authenticated"};
  return Client(NewLoopbackTransport(*handler_, std::move(u), opts_.loopback));
}

}  // namespace tug::client::testing
