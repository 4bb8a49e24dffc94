#include "controllers/endpoints/endpointslice_controller.h"

#include <gtest/gtest.h>

#include "client/testing/test_api_server.h"
#include "controllers/endpoints/test_objects.h"
#include "controllers/endpoints/util.h"
#include "controllers/testing/harness.h"

namespace tug::controllers::endpoints {
namespace {

using client::ObjectPtr;
using testing::Harness;
using testobj::Pod;
using testobj::PodState;
using testobj::Ptr;

std::vector<ObjectPtr> Pods(int n, const std::string& app = "web", int first = 0) {
  std::vector<ObjectPtr> out;
  for (int i = first; i < first + n; ++i)
    out.push_back(Ptr(Pod("p" + std::to_string(i), app,
                          {.ip = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)})));
  return out;
}

std::function<ObjectPtr(const std::string&)> Nodes(std::string zone = "") {
  return [zone](const std::string& name) -> ObjectPtr {
    if (name != "n1") return nullptr;
    Json n = {{"metadata", {{"name", "n1"}}}};
    if (!zone.empty()) n["metadata"]["labels"][kZoneLabel] = zone;
    return Ptr(n);
  };
}

// Turns planned creates into "stored" slices (name, uid, resourceVersion) as the server would.
std::vector<ObjectPtr> Store(const SlicePlan& plan, std::vector<ObjectPtr> existing = {}) {
  static int seq = 0;
  std::vector<ObjectPtr> out;
  std::set<std::string> updated, removed;
  for (const Json& s : plan.update) updated.insert(GetStringPath(s, {"metadata", "name"}));
  for (const Json& s : plan.remove) removed.insert(GetStringPath(s, {"metadata", "name"}));
  for (const ObjectPtr& e : existing) {
    std::string n = GetStringPath(*e, {"metadata", "name"});
    if (!updated.count(n) && !removed.count(n)) out.push_back(e);
  }
  for (Json s : plan.update) out.push_back(Ptr(std::move(s)));
  for (Json s : plan.create) {
    ++seq;
    s["metadata"]["name"] = GetStringPath(s, {"metadata", "generateName"}) + "x" + std::to_string(seq);
    s["metadata"]["uid"] = "slice-uid-" + std::to_string(seq);
    s["metadata"]["resourceVersion"] = std::to_string(seq);
    out.push_back(Ptr(std::move(s)));
  }
  return out;
}

size_t Total(const std::vector<ObjectPtr>& slices) {
  size_t n = 0;
  for (const ObjectPtr& s : slices) n += (*s)["endpoints"].size();
  return n;
}

TEST(ReconcileSlicesTest, NewSliceShape) {
  Json svc = testobj::Service("web", "web");
  std::vector<ObjectPtr> pods = {Ptr(Pod("a", "web")),
                                 Ptr(Pod("b", "web", {.ip = "10.1.0.2", .ready = false})),
                                 Ptr(Pod("c", "web", {.ip = "10.1.0.3", .terminating = true})),
                                 Ptr(Pod("d", "web", {.ip = "10.1.0.4", .phase = "Failed"})),
                                 Ptr(Pod("e", "web", {.ip = ""}))};
  SlicePlan plan = ReconcileSlices(svc, pods, Nodes("zone-a"), {}, kMaxEndpointsPerSlice);
  ASSERT_EQ(plan.create.size(), 1u);
  EXPECT_TRUE(plan.update.empty());
  EXPECT_TRUE(plan.remove.empty());
  const Json& s = plan.create[0];
  EXPECT_EQ(s["metadata"]["generateName"], "web-");
  EXPECT_EQ(s["metadata"]["labels"], Json::parse(R"({"team":"a","kubernetes.io/service-name":"web",
      "endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io"})"));
  EXPECT_EQ(s["metadata"]["ownerReferences"], Json::parse(R"([{"apiVersion":"v1","kind":"Service","name":"web",
      "uid":"svc-uid-web","controller":true,"blockOwnerDeletion":true}])"));
  EXPECT_EQ(s["addressType"], "IPv4");
  EXPECT_EQ(s["ports"], Json::parse(R"([{"name":"http","port":8080,"protocol":"TCP"}])"));
  ASSERT_EQ(s["endpoints"].size(), 3u) << s.dump();
  std::map<std::string, Json> by_pod;
  for (const Json& e : s["endpoints"]) by_pod[GetStringPath(e, {"targetRef", "name"})] = e;
  EXPECT_EQ(by_pod["a"], Json::parse(R"({"addresses":["10.1.0.1"],"conditions":{"ready":true,"serving":true,
      "terminating":false},"nodeName":"n1","zone":"zone-a","targetRef":{"kind":"Pod","namespace":"default",
      "name":"a","uid":"uid-a"}})"));
  EXPECT_EQ(by_pod["b"]["conditions"], Json::parse(R"({"ready":false,"serving":false,"terminating":false})"));
  EXPECT_EQ(by_pod["c"]["conditions"], Json::parse(R"({"ready":false,"serving":true,"terminating":true})"));

  // publishNotReadyAddresses: ready regardless.
  svc["spec"]["publishNotReadyAddresses"] = true;
  plan = ReconcileSlices(svc, pods, Nodes(), {}, kMaxEndpointsPerSlice);
  for (const Json& e : plan.create[0]["endpoints"]) EXPECT_EQ(e["conditions"]["ready"], true) << e.dump();
}

TEST(ReconcileSlicesTest, Table) {
  Json svc = testobj::Service("web", "web");
  Json named = testobj::Service("web", "web", "web");
  Json lacks = Pod("z", "web", {.ip = "10.9.0.1"});
  lacks["spec"]["containers"][0]["ports"][0]["name"] = "other";
  Json headless_svc = svc;
  headless_svc["spec"]["clusterIP"] = "None";

  struct Step {
    std::vector<ObjectPtr> pods;
    size_t creates, updates, removes;
    std::vector<size_t> sizes;  // endpoints per slice after the step (sorted, descending)
  };
  struct Case {
    std::string name;
    Json service;
    int max;
    std::vector<Step> steps;
  };
  std::vector<Case> cases = {
      {"no pods: one placeholder, kept", svc, 100, {{{}, 1, 0, 0, {0}}, {{}, 0, 0, 0, {0}}}},
      {"placeholder becomes the first slice", svc, 100, {{{}, 1, 0, 0, {0}}, {Pods(3), 0, 1, 0, {3}}}},
      {"250 pods in slices of 100", svc, 100, {{Pods(250), 3, 0, 0, {100, 100, 50}}}},
      {"unchanged: no writes", svc, 100, {{Pods(5), 1, 0, 0, {5}}, {Pods(5), 0, 0, 0, {5}}}},
      {"scale up fills in place", svc, 100, {{Pods(5), 1, 0, 0, {5}}, {Pods(8), 0, 1, 0, {8}}}},
      {"scale down updates in place", svc, 100, {{Pods(5), 1, 0, 0, {5}}, {Pods(2), 0, 1, 0, {2}}}},
      {"all gone: the slice becomes the placeholder", svc, 100, {{Pods(5), 1, 0, 0, {5}}, {{}, 0, 1, 0, {0}}}},
      {"full slice: overflow goes to a new one", svc, 4, {{Pods(4), 1, 0, 0, {4}}, {Pods(6), 1, 0, 0, {4, 2}}}},
      {"emptied slice deleted, other kept", svc, 2, {{Pods(4), 2, 0, 0, {2, 2}}, {Pods(2, "web", 2), 0, 0, 1, {2}}}},
      {"port sets get their own slices", named, 100, {{{Ptr(Pod("a", "web")), Ptr(lacks)}, 2, 0, 0, {1, 1}}}},
      {"headless", headless_svc, 100, {{Pods(1), 1, 0, 0, {1}}}},
  };
  for (const auto& c : cases) {
    std::vector<ObjectPtr> slices;
    int i = 0;
    for (const Step& st : c.steps) {
      SlicePlan plan = ReconcileSlices(c.service, st.pods, Nodes(), slices, c.max);
      std::string where = c.name + " step " + std::to_string(i++);
      EXPECT_EQ(plan.create.size(), st.creates) << where;
      EXPECT_EQ(plan.update.size(), st.updates) << where;
      EXPECT_EQ(plan.remove.size(), st.removes) << where;
      slices = Store(plan, slices);
      std::vector<size_t> sizes;
      for (const ObjectPtr& s : slices) sizes.push_back((*s)["endpoints"].size());
      std::sort(sizes.rbegin(), sizes.rend());
      EXPECT_EQ(sizes, st.sizes) << where;
    }
  }
}

TEST(ReconcileSlicesTest, LabelsFollowServiceAndMissingNodes) {
  Json svc = testobj::Service("web", "web");
  svc["spec"]["clusterIP"] = "None";
  auto slices = Store(ReconcileSlices(svc, Pods(2), Nodes(), {}, 100));
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(GetStringPath(*slices[0], {"metadata", "labels", kHeadlessLabel}), "");
  EXPECT_TRUE(FindPath(*slices[0], {"metadata", "labels", kHeadlessLabel}));
  svc["metadata"]["labels"]["team"] = "b";
  SlicePlan plan = ReconcileSlices(svc, Pods(2), Nodes(), slices, 100);
  ASSERT_EQ(plan.update.size(), 1u);
  EXPECT_EQ(GetStringPath(plan.update[0], {"metadata", "labels", "team"}), "b");
  EXPECT_EQ(GetStringPath(plan.update[0], {"metadata", "resourceVersion"}),
            GetStringPath(*slices[0], {"metadata", "resourceVersion"}));

  Json elsewhere = Pod("far", "web", {.ip = "10.5.0.1", .node = "n9"});
  plan = ReconcileSlices(svc, {Ptr(elsewhere)}, Nodes(), {}, 100);
  EXPECT_EQ(plan.missing_nodes, std::vector<std::string>{"n9"});
  ASSERT_EQ(plan.create.size(), 1u);  // the placeholder
  EXPECT_EQ(Total({Ptr(plan.create[0])}), 0u);
}

// --- the controller against an in-process API server ----------------------------------------

std::vector<Json> Slices(const Harness& h, const std::string& svc) {
  return h.List(client::kEndpointSlices, "default", std::string(kServiceNameLabel) + "=" + svc);
}

std::set<std::string> ReadyAddresses(const std::vector<Json>& slices) {
  std::set<std::string> out;
  for (const Json& s : slices)
    for (const Json& e : s.value("endpoints", Json::array()))
      if (FindPath(e, {"conditions", "ready"}) && e["conditions"]["ready"] == true) out.insert(e["addresses"][0].get<std::string>());
  return out;
}

TEST(EndpointSliceControllerTest, FollowsPodsAndDeletesWithService) {
  Harness h({"endpointslice", "garbagecollector"});
  ASSERT_TRUE(testobj::CreateNode(h.c(), "n1", "zone-a").ok());
  ASSERT_TRUE(h.c().Create(client::kServices, "default", testobj::NewService("web", "web")).ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return Slices(h, "web").size() == 1; }));
  Json placeholder = Slices(h, "web")[0];
  EXPECT_EQ(placeholder.value("endpoints", Json::array()).size(), 0u) << placeholder.dump();
  EXPECT_EQ(GetStringPath(placeholder, {"metadata", "name"}).rfind("web-", 0), 0u);
  EXPECT_EQ(GetStringPath(placeholder, {"metadata", "name"}).size(), 9u);  // web- + 5 random

  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(testobj::CreatePod(h.c(), Pod("p" + std::to_string(i), "web", {.ip = "10.1.0." + std::to_string(i)})).ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    return ReadyAddresses(Slices(h, "web")) == std::set<std::string>{"10.1.0.1", "10.1.0.2", "10.1.0.3"};
  })) << Slices(h, "web")[0].dump();
  auto slices = Slices(h, "web");
  ASSERT_EQ(slices.size(), 1u);
  // The placeholder was reused, not replaced.
  EXPECT_EQ(GetStringPath(slices[0], {"metadata", "name"}), GetStringPath(placeholder, {"metadata", "name"}));
  EXPECT_EQ(GetStringPath(slices[0]["endpoints"][0], {"zone"}), "zone-a");
  EXPECT_TRUE(FindPath(slices[0], {"metadata", "annotations", kLastChangeTriggerTime})) << slices[0].dump();

  // A pod going away is removed in place.
  ASSERT_TRUE(h.c().Delete(client::kPods, "default", "p2", testobj::DeleteNow()).ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    return ReadyAddresses(Slices(h, "web")) == std::set<std::string>{"10.1.0.1", "10.1.0.3"};
  }));
  EXPECT_EQ(Slices(h, "web").size(), 1u);
  EXPECT_EQ(GetStringPath(Slices(h, "web")[0], {"metadata", "name"}), GetStringPath(placeholder, {"metadata", "name"}));

  // Deleting the Service: the garbage collector removes its slices.
  ASSERT_TRUE(h.c().Delete(client::kServices, "default", "web").ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return Slices(h, "web").empty(); })) << Slices(h, "web").size();
}

// Syncs driven by hand (no workers): no churn, and no duplicates before the informer caught up.
TEST(EndpointSliceControllerTest, NoChurnAndNoDuplicatesWithSlowInformer) {
  client::testing::TestApiServer api;
  client::InformerFactory f(api.client());
  framework::ControllerContext ctx{.client = &api.client(), .informers = &f, .clock = nullptr};
  auto c = NewEndpointSliceControllerForTest(ctx, 2);
  f.Start();
  ASSERT_TRUE(f.WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(testobj::CreateNode(api.client(), "n1").ok());
  ASSERT_TRUE(api.client().Create(client::kServices, "default", testobj::NewService("web", "web")).ok());
  std::string last_rv;
  for (int i = 1; i <= 5; ++i) {
    auto p = testobj::CreatePod(api.client(), Pod("p" + std::to_string(i), "web", {.ip = "10.1.0." + std::to_string(i)}));
    ASSERT_TRUE(p.ok());
    last_rv = GetStringPath(*p, {"metadata", "resourceVersion"});
  }
  ASSERT_TRUE(Harness::WaitFor([&] {
    auto p = f.For(client::kPods).Get("default/p5");
    return p && GetStringPath(*p, {"metadata", "resourceVersion"}) == last_rv && f.For(client::kNodes).Get("n1") &&
           f.For(client::kServices).Get("default/web");
  }));
  ASSERT_TRUE(c->SyncForTest("default/web").ok());
  // Immediately again: the informer may not have the new slices yet; the sync must not create
  // them twice (it either waits for the cache or sees them).
  (void)c->SyncForTest("default/web");
  client::ListOptions web;
  web.label_selector = std::string(kServiceNameLabel) + "=web";
  auto list = [&] { return api.client().List(client::kEndpointSlices, "default", web).value()["items"]; };
  EXPECT_EQ(list().size(), 3u) << list().dump();
  ASSERT_TRUE(Harness::WaitFor([&] { return f.For(client::kEndpointSlices).List("default").size() == 4; }));  // + kubernetes
  ASSERT_TRUE(c->SyncForTest("default/web").ok());
  Json before = list();
  ASSERT_EQ(before.size(), 3u);
  // A pod change that does not matter: nothing is written.
  auto patched = api.client().Patch(client::kPods, "default", "p1", client::PatchType::kMerge,
                                    R"({"metadata":{"annotations":{"note":"x"}}})");
  ASSERT_TRUE(patched.ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    auto p = f.For(client::kPods).Get("default/p1");
    return p && GetStringPath(*p, {"metadata", "resourceVersion"}) == GetStringPath(*patched, {"metadata", "resourceVersion"});
  }));
  ASSERT_TRUE(c->SyncForTest("default/web").ok());
  Json after = list();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_EQ(GetStringPath(after[i], {"metadata", "resourceVersion"}), GetStringPath(before[i], {"metadata", "resourceVersion"}));
  f.Stop();
}

}  // namespace
}  // namespace tug::controllers::endpoints
