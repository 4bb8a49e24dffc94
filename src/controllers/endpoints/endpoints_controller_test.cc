#include "controllers/endpoints/endpoints_controller.h"

#include <gtest/gtest.h>

#include "controllers/endpoints/test_objects.h"
#include "controllers/endpoints/util.h"
#include "client/testing/test_api_server.h"
#include "controllers/testing/harness.h"

namespace tug::controllers::endpoints {
namespace {

using testing::Harness;
using testobj::Pod;
using testobj::PodState;
using testobj::Ptr;

// "ip:port" of addresses (ready) and notReadyAddresses, per subset, for compact expectations.
std::string Describe(const Json& subsets) {
  std::string out;
  for (const Json& s : subsets) {
    out += "[";
    for (const char* f : {"addresses", "notReadyAddresses"}) {
      if (!s.contains(f)) continue;
      out += std::string(f) == "addresses" ? "ready:" : "notready:";
      for (const Json& a : s[f]) out += GetString(a, "ip") + ",";
    }
    out += "ports:";
    if (s.contains("ports"))
      for (const Json& p : s["ports"]) out += GetString(p, "name") + "=" + std::to_string(p.value("port", 0)) + ",";
    out += "]";
  }
  return out;
}

TEST(ComputeSubsetsTest, Table) {
  Json svc = testobj::Service("web", "web");
  Json named = testobj::Service("web", "web", "web");
  Json pnra = svc;
  pnra["spec"]["publishNotReadyAddresses"] = true;
  Json headless = svc;
  headless["spec"]["clusterIP"] = "None";
  headless["spec"].erase("ports");
  Json no_ports = svc;
  no_ports["spec"].erase("ports");
  Json lacks_name = Pod("c", "web", {.ip = "10.1.0.3"});
  lacks_name["spec"]["containers"][0]["ports"][0]["name"] = "other";
  Json two_ports = svc;
  two_ports["spec"]["ports"].push_back({{"name", "metrics"}, {"port", 9090}, {"protocol", "TCP"}, {"targetPort", "web"}});

  struct Case {
    std::string name;
    Json service;
    std::vector<Json> pods;
    std::string want;
  };
  std::vector<Case> cases = {
      {"ready and not ready", svc,
       {Pod("b", "web", {.ip = "10.1.0.2", .ready = false}), Pod("a", "web", {.ip = "10.1.0.1"})},
       "[ready:10.1.0.1,notready:10.1.0.2,ports:http=8080,]"},
      {"no IP, terminal and terminating left out", svc,
       {Pod("a", "web"), Pod("b", "web", {.ip = ""}), Pod("c", "web", {.ip = "10.1.0.3", .phase = "Succeeded"}),
        Pod("d", "web", {.ip = "10.1.0.4", .terminating = true})},
       "[ready:10.1.0.1,ports:http=8080,]"},
      {"publishNotReadyAddresses: all ready, terminating kept", pnra,
       {Pod("a", "web", {.ready = false}), Pod("d", "web", {.ip = "10.1.0.4", .terminating = true})},
       "[ready:10.1.0.1,10.1.0.4,ports:http=8080,]"},
      {"named target port; pods lacking it skipped", named, {Pod("a", "web"), lacks_name},
       "[ready:10.1.0.1,ports:http=8080,]"},
      {"addresses grouped by port set (upstream RepackSubsets)", two_ports, {Pod("a", "web"), lacks_name},
       "[ready:10.1.0.1,10.1.0.3,ports:http=8080,][ready:10.1.0.1,ports:metrics=8080,]"},
      {"headless without ports: addresses only", headless, {Pod("a", "web")}, "[ready:10.1.0.1,ports:]"},
      {"cluster IP without ports: nothing", no_ports, {Pod("a", "web")}, ""},
      {"no pods", svc, {}, ""},
  };
  for (const auto& c : cases) {
    std::vector<client::ObjectPtr> pods;
    for (const Json& p : c.pods) pods.push_back(Ptr(p));
    Json got = ComputeSubsets(c.service, pods);
    EXPECT_EQ(Describe(got), c.want) << c.name << "\n" << got.dump();
  }
}

TEST(ComputeSubsetsTest, AddressFields) {
  Json svc = testobj::Service("web", "web");
  Json p = Pod("a", "web");
  p["spec"]["hostname"] = "a";
  p["spec"]["subdomain"] = "web";
  Json got = ComputeSubsets(svc, {Ptr(p)});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["addresses"][0], Json::parse(R"({"ip":"10.1.0.1","hostname":"a","nodeName":"n1",
      "targetRef":{"kind":"Pod","namespace":"default","name":"a","uid":"uid-a"}})"));
  EXPECT_EQ(got[0]["ports"][0], Json::parse(R"({"name":"http","port":8080,"protocol":"TCP"})"));
}

Json Addresses(int n, const char* field) {
  Json l = Json::array();
  for (int i = 0; i < n; ++i) l.push_back({{"ip", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250)}});
  return Json{{field, l}};
}

TEST(TruncateSubsetsTest, ReadyFirstProportional) {
  struct Case {
    std::string name;
    std::vector<std::pair<int, int>> subsets;  // ready, not ready
    bool truncated;
    std::vector<std::pair<int, int>> want;
  };
  std::vector<Case> cases = {
      {"under capacity", {{600, 400}}, false, {{600, 400}}},
      {"not ready cut first", {{800, 400}}, true, {{800, 200}}},
      {"ready over capacity: not ready dropped", {{1200, 10}}, true, {{1000, 0}}},
      {"proportional over subsets", {{900, 0}, {300, 0}}, true, {{750, 0}, {250, 0}}},
  };
  for (const auto& c : cases) {
    Json subsets = Json::array();
    for (auto [r, n] : c.subsets) {
      Json s = Json::object();
      if (r) s["addresses"] = Addresses(r, "x")["x"];
      if (n) s["notReadyAddresses"] = Addresses(n, "x")["x"];
      subsets.push_back(s);
    }
    EXPECT_EQ(TruncateSubsets(subsets), c.truncated) << c.name;
    ASSERT_EQ(subsets.size(), c.want.size()) << c.name;
    for (size_t i = 0; i < subsets.size(); ++i) {
      EXPECT_EQ(subsets[i].value("addresses", Json::array()).size(), static_cast<size_t>(c.want[i].first)) << c.name;
      EXPECT_EQ(subsets[i].value("notReadyAddresses", Json::array()).size(), static_cast<size_t>(c.want[i].second)) << c.name;
    }
  }
}

// --- the controller against an in-process API server ----------------------------------------

Json GetEndpoints(const Harness& h, const std::string& name) { return h.Get(client::kEndpoints, "default", name); }

TEST(EndpointsControllerTest, FollowsPodsAndService) {
  Harness h({"endpoints"});
  ASSERT_TRUE(h.c().Create(client::kServices, "default", testobj::NewService("web", "web")).ok());
  // No pods yet: an Endpoints object with the Service's labels and no subsets.
  ASSERT_TRUE(Harness::WaitFor([&] { return !GetEndpoints(h, "web").is_null(); }));
  Json ep = GetEndpoints(h, "web");
  EXPECT_EQ(ep["metadata"]["labels"], Json::parse(R"({"team":"a"})")) << ep.dump();
  EXPECT_FALSE(ep.contains("subsets")) << ep.dump();

  ASSERT_TRUE(testobj::CreatePod(h.c(), Pod("a", "web", {.ip = "10.1.0.1"})).ok());
  ASSERT_TRUE(testobj::CreatePod(h.c(), Pod("b", "web", {.ip = "10.1.0.2", .ready = false})).ok());
  ASSERT_TRUE(testobj::CreatePod(h.c(), Pod("x", "other", {.ip = "10.1.0.9"})).ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    return Describe(GetEndpoints(h, "web").value("subsets", Json::array())) ==
           "[ready:10.1.0.1,notready:10.1.0.2,ports:http=8080,]";
  })) << GetEndpoints(h, "web").dump();
  ep = GetEndpoints(h, "web");
  EXPECT_TRUE(FindPath(ep, {"metadata", "annotations", kLastChangeTriggerTime})) << ep.dump();
  EXPECT_EQ(GetStringPath(ep["subsets"][0]["addresses"][0], {"targetRef", "name"}), "a");

  // b becomes ready.
  Json b = h.Get(client::kPods, "default", "b");
  b["status"]["conditions"][0]["status"] = "True";
  ASSERT_TRUE(h.c().UpdateStatus(client::kPods, "default", b).ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    return Describe(GetEndpoints(h, "web").value("subsets", Json::array())) == "[ready:10.1.0.1,10.1.0.2,ports:http=8080,]";
  })) << GetEndpoints(h, "web").dump();

  // Service labels are copied.
  ASSERT_TRUE(h.c().Patch(client::kServices, "default", "web", client::PatchType::kMerge,
                          R"({"metadata":{"labels":{"team":"b"}}})").ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return GetStringPath(GetEndpoints(h, "web"), {"metadata", "labels", "team"}) == "b"; }));
  // Relabelling a pod out of the selector removes it.
  ASSERT_TRUE(h.c().Patch(client::kPods, "default", "a", client::PatchType::kMerge,
                          R"({"metadata":{"labels":{"app":"gone"}}})").ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    return Describe(GetEndpoints(h, "web").value("subsets", Json::array())) == "[ready:10.1.0.2,ports:http=8080,]";
  })) << GetEndpoints(h, "web").dump();

  // A deleted Endpoints object comes back; a deleted Service takes its Endpoints along.
  ASSERT_TRUE(h.c().Delete(client::kEndpoints, "default", "web").ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json e = GetEndpoints(h, "web");
    return !e.is_null() && Describe(e.value("subsets", Json::array())) == "[ready:10.1.0.2,ports:http=8080,]";
  }));
  ASSERT_TRUE(h.c().Delete(client::kServices, "default", "web").ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return GetEndpoints(h, "web").is_null(); }));
}

// Syncs driven by hand (no workers): a sync after a change that does not matter writes nothing.
TEST(EndpointsControllerTest, NoWriteWhenNothingChanged) {
  client::testing::TestApiServer api;
  client::InformerFactory f(api.client());
  framework::ControllerContext ctx{.client = &api.client(), .informers = &f, .clock = nullptr};
  auto c = NewEndpointsController(ctx);
  f.Start();
  ASSERT_TRUE(f.WaitForSync(std::chrono::seconds(10)));
  ASSERT_TRUE(api.client().Create(client::kServices, "default", testobj::NewService("web", "web")).ok());
  auto a = testobj::CreatePod(api.client(), Pod("a", "web"));
  ASSERT_TRUE(a.ok());
  auto seen = [&](const client::Resource& r, const std::string& key, const std::string& rv) {
    return Harness::WaitFor([&] {
      auto o = f.For(r).Get(key);
      return o && GetStringPath(*o, {"metadata", "resourceVersion"}) == rv;
    });
  };
  ASSERT_TRUE(seen(client::kPods, "default/a", GetStringPath(*a, {"metadata", "resourceVersion"})));
  ASSERT_TRUE(Harness::WaitFor([&] { return f.For(client::kServices).Get("default/web") != nullptr; }));
  ASSERT_TRUE(c->SyncForTest("default/web").ok());
  auto ep = api.client().Get(client::kEndpoints, "default", "web");
  ASSERT_TRUE(ep.ok());
  std::string rv = GetStringPath(*ep, {"metadata", "resourceVersion"});
  ASSERT_TRUE(seen(client::kEndpoints, "default/web", rv));

  auto patched = api.client().Patch(client::kPods, "default", "a", client::PatchType::kMerge,
                                    R"({"metadata":{"annotations":{"note":"x"}}})");
  ASSERT_TRUE(patched.ok());
  ASSERT_TRUE(seen(client::kPods, "default/a", GetStringPath(*patched, {"metadata", "resourceVersion"})));
  ASSERT_TRUE(c->SyncForTest("default/web").ok());
  ASSERT_TRUE(c->SyncForTest("default/web").ok());
  EXPECT_EQ(GetStringPath(api.client().Get(client::kEndpoints, "default", "web").value(), {"metadata", "resourceVersion"}), rv);

  // A change that matters writes once.
  Json not_ready = *patched;
  not_ready["status"]["conditions"][0]["status"] = "False";
  auto u = api.client().UpdateStatus(client::kPods, "default", not_ready);
  ASSERT_TRUE(u.ok());
  ASSERT_TRUE(seen(client::kPods, "default/a", GetStringPath(*u, {"metadata", "resourceVersion"})));
  ASSERT_TRUE(c->SyncForTest("default/web").ok());
  Json after = api.client().Get(client::kEndpoints, "default", "web").value();
  EXPECT_NE(GetStringPath(after, {"metadata", "resourceVersion"}), rv);
  EXPECT_EQ(Describe(after["subsets"]), "[notready:10.1.0.1,ports:http=8080,]");
  f.Stop();
}

TEST(EndpointsControllerTest, SelectorlessServicesAreLeftAlone) {
  Harness h({"endpoints"});
  Json svc = testobj::NewService("ext", "web");
  svc["spec"].erase("selector");
  ASSERT_TRUE(h.c().Create(client::kServices, "default", svc).ok());
  Json ep = {{"apiVersion", "v1"}, {"kind", "Endpoints"}, {"metadata", {{"name", "ext"}}},
             {"subsets", Json::array({{{"addresses", Json::array({{{"ip", "192.0.2.1"}}})},
                                       {"ports", Json::array({{{"port", 80}}})}}})}};
  ASSERT_TRUE(h.c().Create(client::kEndpoints, "default", ep).ok());
  // A selector Service created afterwards is the marker that the controller ran past both.
  ASSERT_TRUE(h.c().Create(client::kServices, "default", testobj::NewService("web", "web")).ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return !GetEndpoints(h, "web").is_null(); }));
  Json got = GetEndpoints(h, "ext");
  EXPECT_EQ(GetString(got["subsets"][0]["addresses"][0], "ip"), "192.0.2.1") << got.dump();
}

TEST(EndpointsControllerTest, LeftoverEndpointsRemovedAtStart) {
  Harness h({"garbagecollector"});  // no endpoints controller yet
  Json ep = {{"apiVersion", "v1"}, {"kind", "Endpoints"}, {"metadata", {{"name", "orphan"}}}};
  ASSERT_TRUE(h.c().Create(client::kEndpoints, "default", ep).ok());
  Json lock = {{"apiVersion", "v1"}, {"kind", "Endpoints"},
               {"metadata", {{"name", "lock"}, {"annotations", {{"control-plane.alpha.kubernetes.io/leader", "{}"}}}}}};
  ASSERT_TRUE(h.c().Create(client::kEndpoints, "default", lock).ok());
  h.RestartControllers({"endpoints"});
  ASSERT_TRUE(Harness::WaitFor([&] { return GetEndpoints(h, "orphan").is_null(); }));
  EXPECT_FALSE(GetEndpoints(h, "lock").is_null());
}

TEST(EndpointsControllerTest, HeadlessLabelAndOverCapacity) {
  Harness h({"endpoints"});
  Json svc = testobj::NewService("many", "many");
  svc["spec"]["clusterIP"] = "None";
  ASSERT_TRUE(h.c().Create(client::kServices, "default", svc).ok());
  for (int i = 0; i < 1001; ++i) {
    std::string ip = "10.2." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    ASSERT_TRUE(testobj::CreatePod(h.c(), Pod("p" + std::to_string(i), "many", {.ip = ip})).ok());
  }
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json e = GetEndpoints(h, "many");
    return GetStringPath(e, {"metadata", "annotations", kOverCapacity}) == "truncated";
  }, std::chrono::seconds(30))) << GetEndpoints(h, "many").dump().substr(0, 500);
  Json e = GetEndpoints(h, "many");
  EXPECT_EQ(e["subsets"][0]["addresses"].size(), 1000u);
  EXPECT_TRUE(FindPath(e, {"metadata", "labels", kHeadlessLabel})) << e["metadata"].dump();
  // Back under capacity: the annotation goes.
  ASSERT_TRUE(h.c().Delete(client::kPods, "default", "p0", testobj::DeleteNow()).ok());
  ASSERT_TRUE(Harness::WaitFor([&] {
    Json e2 = GetEndpoints(h, "many");
    return !FindPath(e2, {"metadata", "annotations", kOverCapacity}) && e2["subsets"][0]["addresses"].size() == 1000u;
  }, std::chrono::seconds(30)));
}

}  // namespace
}  // namespace tug::controllers::endpoints
