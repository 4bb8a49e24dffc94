// Test harness for controller tests: an in-process API server (memory store, built-in registry,
// REST handler, loopback Client — as client::testing::TestApiServer builds it, but with the REST
// layer's own namespace deleter off, as `tug server` runs it next to the namespace controller)
// plus a running ControllerManager with the chosen controllers, and polling helpers (no sleeps
// for timing: every wait polls with a deadline).
//
// Ownership: owns the API server and the manager; the manager stops first.
// Thread-safety: use from the test thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "api/schema.h"
#include "apiserver/rest/rest.h"
#include "client/informer.h"
#include "client/loopback.h"
#include "store/memory/memory_store.h"
#include "controllers/framework/pod_util.h"
#include "controllers/manager.h"

namespace tug::controllers::testing {

class Harness {
 public:
  explicit Harness(std::vector<std::string> enabled) {
    store_ = store::NewMemoryStore();
    auto reg = api::Registry::Builtin();
    if (!reg.ok()) {
      ADD_FAILURE() << "registry: " << reg.status().ToString();
      return;
    }
    apiserver::rest::Options o;
    o.server_address = "127.0.0.1:6443";
    o.start_timer_thread = false;
    o.namespace_deleter = false;
    auto h = apiserver::rest::NewRestHandler(*store_, *reg, o);
    if (!h.ok()) {
      ADD_FAILURE() << "rest handler: " << h.status().ToString();
      return;
    }
    handler_ = std::move(*h);
    client_ = std::make_unique<client::Client>(client::NewLoopbackTransport(
        *handler_, apiserver::UserInfo{"system:kube-controller-manager", "", {"system:masters", "system:authenticated"}}));
    auto m = StartControllers(*client_, Options{.workers = 2, .enabled = std::move(enabled)});
    if (!m.ok()) {
      ADD_FAILURE() << "StartControllers: " << m.status().ToString();
      return;
    }
    mgr_ = std::move(*m);
  }
  ~Harness() {
    if (mgr_) mgr_->Stop();
    mgr_.reset();
    if (handler_) handler_->Stop();
    client_.reset();
    handler_.reset();
  }

  // Stops the manager and starts a fresh one (new informers, empty expectations) on the same
  // API server, as a controller-manager restart or a leader change does.
  void RestartControllers(std::vector<std::string> enabled) {
    if (mgr_) mgr_->Stop();
    mgr_.reset();
    auto m = StartControllers(*client_, Options{.workers = 2, .enabled = std::move(enabled)});
    if (!m.ok()) {
      ADD_FAILURE() << "StartControllers: " << m.status().ToString();
      return;
    }
    mgr_ = std::move(*m);
  }

  const client::Client& c() const { return *client_; }
  ControllerManager* manager() { return mgr_.get(); }

  // Polls `f` every 5 ms until it is true or `timeout` passes.
  // Creates a namespaced CRD (one served v1 storage version, any fields allowed) for res and
  // waits until res is served; returns res's collection.
  client::Resource CreateSchemalessCrd(const std::string& group, const std::string& plural, const std::string& kind) {
    const client::Resource crds{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                "CustomResourceDefinition", false};
    const client::Resource res{group, "v1", plural, kind, true};
    Json crd = {{"apiVersion", "apiextensions.k8s.io/v1"},
                {"kind", "CustomResourceDefinition"},
                {"metadata", {{"name", plural + "." + group}}},
                {"spec",
                 {{"group", group},
                  {"scope", "Namespaced"},
                  {"names", {{"plural", plural}, {"kind", kind}}},
                  {"versions", Json::array({{{"name", "v1"},
                                             {"served", true},
                                             {"storage", true},
                                             {"schema", {{"openAPIV3Schema",
                                                          {{"type", "object"},
                                                           {"x-kubernetes-preserve-unknown-fields", true}}}}}}})}}}};
    auto r = c().Create(crds, "", crd);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(WaitFor([&] { return c().List(res, "default").ok(); })) << plural << " never served";
    return res;
  }

  static bool WaitFor(const std::function<bool()>& f, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return f();
  }

  std::vector<Json> List(const client::Resource& r, const std::string& ns, const std::string& selector = "") const {
    client::ListOptions o;
    o.label_selector = selector;
    auto l = c().List(r, ns, o);
    std::vector<Json> out;
    if (!l.ok()) return out;
    for (const Json& i : (*l)["items"]) out.push_back(i);
    return out;
  }

  // Pods that are not being deleted.
  std::vector<Json> LivePods(const std::string& ns, const std::string& selector = "") const {
    std::vector<Json> out;
    for (Json& p : List(client::kPods, ns, selector))
      if (!FindPath(p, {"metadata", "deletionTimestamp"})) out.push_back(std::move(p));
    return out;
  }

  Json Get(const client::Resource& r, const std::string& ns, const std::string& name) const {
    auto g = c().Get(r, ns, name);
    return g.ok() ? *g : Json();
  }

  // Plays kubelet for pods: Running and Ready (with a transition time in the past so
  // minReadySeconds 0 counts them available at once). Returns how many were changed.
  int MarkReady(const std::string& ns, const std::string& selector = "", int limit = 1 << 30) const {
    int n = 0;
    for (Json p : LivePods(ns, selector)) {
      if (n >= limit) break;
      if (framework::IsPodReady(p)) continue;
      std::string t = FormatRFC3339(RealClock().Now() - std::chrono::seconds(1));
      p["status"]["phase"] = "Running";
      p["status"]["conditions"] = Json::array({Json{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", t}}});
      if (c().UpdateStatus(client::kPods, ns, p).ok()) ++n;
    }
    return n;
  }

 private:
  store::StorePtr store_;
  std::unique_ptr<apiserver::rest::RestHandler> handler_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<ControllerManager> mgr_;
};

// An apps/v1 workload (kind "ReplicaSet", "Deployment", ...) named `name` with `replicas`, selecting
// and labelling its pods app=<name>, one container "c" running `image`; no namespace (the
// caller's request gives it).
inline Json AppsWorkload(const std::string& kind, const std::string& name, int replicas,
                         const std::string& image = "busybox") {
  return Json{{"apiVersion", "apps/v1"},
              {"kind", kind},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"replicas", replicas},
                {"selector", {{"matchLabels", {{"app", name}}}}},
                {"template",
                 {{"metadata", {{"labels", {{"app", name}}}}},
                  {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", image}}})}}}}}}}};
}

}  // namespace tug::controllers::testing
