#include "controllers/daemonset/daemonset_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "client/informer.h"
#include "client/testing/test_api_server.h"
#include "controllers/daemonset/history.h"
#include "controllers/daemonset/node_fit.h"

namespace tug::controllers::daemonset {
namespace {

using namespace std::chrono_literals;

// Items of a list answer, by value (ranging over a member of a temporary would dangle).
Json Items(const Result<Json>& r) { return r.ok() ? r.value().value("items", Json::array()) : Json::array(); }


bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

class DaemonSetControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<client::testing::TestApiServer>();
    ASSERT_TRUE(api_->ok());
    informers_ = std::make_unique<client::InformerFactory>(api_->client());
  }
  void Start() {
    framework::ControllerContext ctx{.client = &api_->client(), .informers = informers_.get(), .clock = nullptr};
    ctrl_ = std::make_unique<DaemonSetController>(ctx);
    informers_->Start();
    ASSERT_TRUE(informers_->WaitForSync(10s));
    ctrl_->Run(1);
  }
  void TearDown() override {
    ctrl_.reset();
    informers_.reset();
  }
  const client::Client& c() { return api_->client(); }

  void AddNode(const std::string& name, Json labels = Json::object(), Json taints = Json::array()) {
    Json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}, {"labels", labels}}}, {"spec", Json::object()}};
    if (!taints.empty()) n["spec"]["taints"] = taints;
    auto r = c().Create(client::kNodes, "", n);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  void PatchNode(const std::string& name, const Json& patch) {
    auto r = c().Patch(client::kNodes, "", name, client::PatchType::kMerge, DumpJson(patch));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  void CreateDs(Json spec_extra = Json::object()) {
    Json ds = {{"apiVersion", "apps/v1"},
               {"kind", "DaemonSet"},
               {"metadata", {{"name", "agent"}, {"namespace", "default"}}},
               {"spec",
                {{"selector", {{"matchLabels", {{"app", "agent"}}}}},
                 {"template",
                  {{"metadata", {{"labels", {{"app", "agent"}}}}},
                   {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox:1"}}}}}}}}}}};
    ds["spec"].update(spec_extra);
    auto r = c().Create(client::kDaemonSets, "default", ds);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  Json Ds() { return c().Get(client::kDaemonSets, "default", "agent").value(); }
  std::vector<Json> Pods() {
    std::vector<Json> out;
    for (const Json& p : Items(c().List(client::kPods, "default")))
      if (!p["metadata"].contains("deletionTimestamp")) out.push_back(p);
    return out;
  }
  std::multiset<std::string> PodNodes() {
    std::multiset<std::string> out;
    for (const Json& p : Pods()) out.insert(TargetNodeName(p));
    return out;
  }
  void MakeReady(const Json& pod) {
    Json p = pod;
    p["status"]["phase"] = "Running";
    p["status"]["conditions"] = Json::array({{{"type", "Ready"}, {"status", "True"}}});
    auto r = c().UpdateStatus(client::kPods, "default", p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  void ReadyAll() {
    for (const Json& p : Pods())
      if (!framework::IsPodReady(p)) MakeReady(p);
  }

  std::unique_ptr<client::testing::TestApiServer> api_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::unique_ptr<DaemonSetController> ctrl_;
};

TEST_F(DaemonSetControllerTest, OnePodPerEligibleNodeAndFollowsNewNodes) {
  AddNode("n1");
  AddNode("n2");
  AddNode("n3", Json::object(), Json::array({{{"key", "dedicated"}, {"value", "db"}, {"effect", "NoSchedule"}}}));
  Start();
  CreateDs();
  ASSERT_TRUE(WaitFor([&] { return PodNodes() == std::multiset<std::string>{"n1", "n2"}; }));
  Json p = Pods()[0];
  EXPECT_TRUE(p["spec"].value("nodeName", "").empty());  // the scheduler binds it
  EXPECT_EQ(p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
             ["matchFields"][0]["key"],
            "metadata.name");
  EXPECT_FALSE(GetStringPath(p, {"metadata", "labels", kRevisionHashLabel}).empty());
  EXPECT_EQ(GetStringPath(p, {"metadata", "labels", "pod-template-generation"}), "1");
  bool has_unreachable = false;
  for (const Json& t : p["spec"]["tolerations"])
    has_unreachable = has_unreachable || (t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == "NoExecute");
  EXPECT_TRUE(has_unreachable);
  // One ControllerRevision, revision 1, named after the pods' hash.
  auto revs = c().List(client::kControllerRevisions, "default").value()["items"];
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(revs[0]["revision"], 1);
  EXPECT_EQ(revs[0]["metadata"]["name"], "agent-" + GetStringPath(p, {"metadata", "labels", kRevisionHashLabel}));

  ASSERT_TRUE(WaitFor([&] { return framework::GetInt(Ds(), {"status", "desiredNumberScheduled"}) == 2; }));
  ReadyAll();
  ASSERT_TRUE(WaitFor([&] {
    Json s = Ds()["status"];
    return s.value("numberReady", 0) == 2 && s.value("numberAvailable", 0) == 2 && s.value("updatedNumberScheduled", 0) == 2 &&
           s.value("currentNumberScheduled", 0) == 2;
  })) << Ds()["status"].dump();

  AddNode("n4");
  ASSERT_TRUE(WaitFor([&] { return PodNodes() == std::multiset<std::string>{"n1", "n2", "n4"}; }));
}

TEST_F(DaemonSetControllerTest, NodeSelectorAndTaintsDecidePlacement) {
  AddNode("n1", {{"role", "edge"}});
  AddNode("n2");
  Start();
  CreateDs({{"template",
             {{"metadata", {{"labels", {{"app", "agent"}}}}},
              {"spec", {{"nodeSelector", {{"role", "edge"}}}, {"containers", {{{"name", "c"}, {"image", "busybox:1"}}}}}}}}});
  ASSERT_TRUE(WaitFor([&] { return PodNodes() == std::multiset<std::string>{"n1"}; }));
  PatchNode("n2", {{"metadata", {{"labels", {{"role", "edge"}}}}}});
  ASSERT_TRUE(WaitFor([&] { return PodNodes() == std::multiset<std::string>{"n1", "n2"}; }));
  // A NoSchedule taint keeps the running pod; a NoExecute taint evicts it.
  PatchNode("n1", {{"spec", {{"taints", {{{"key", "k"}, {"value", "v"}, {"effect", "NoSchedule"}}}}}}});
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(PodNodes(), (std::multiset<std::string>{"n1", "n2"}));
  PatchNode("n1", {{"spec", {{"taints", {{{"key", "k"}, {"value", "v"}, {"effect", "NoExecute"}}}}}}});
  ASSERT_TRUE(WaitFor([&] { return PodNodes() == std::multiset<std::string>{"n2"}; }));
  // Losing the label removes the pod too.
  PatchNode("n2", {{"metadata", {{"labels", {{"role", nullptr}}}}}});
  ASSERT_TRUE(WaitFor([&] { return Pods().empty(); }));
}

TEST_F(DaemonSetControllerTest, RollingUpdateReplacesOneAtATime) {
  AddNode("n1");
  AddNode("n2");
  AddNode("n3");
  Start();
  CreateDs({{"updateStrategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxUnavailable", 1}}}}}});
  ASSERT_TRUE(WaitFor([&] { return Pods().size() == 3; }));
  ReadyAll();
  std::string old_hash = GetStringPath(Pods()[0], {"metadata", "labels", kRevisionHashLabel});
  ASSERT_TRUE(WaitFor([&] { return Ds()["status"].value("numberAvailable", 0) == 3; }));
  ASSERT_TRUE(WaitFor([&] {  // a 409 from the controller's status write means "read it again"
    Json ds = Ds();
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2";
    return c().Update(client::kDaemonSets, "default", ds).ok();
  }));
  int max_old_missing = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto pods = Pods();
        int fresh = 0;
        for (const Json& p : pods) {
          if (GetStringPath(p, {"metadata", "labels", kRevisionHashLabel}) != old_hash) {
            ++fresh;
            if (!framework::IsPodReady(p)) MakeReady(p);
          }
        }
        max_old_missing = std::max(max_old_missing, 3 - static_cast<int>(pods.size()));
        return fresh == 3 && pods.size() == 3;
      },
      20s));
  EXPECT_LE(max_old_missing, 1);  // never more than maxUnavailable pods gone at once
  auto revs = c().List(client::kControllerRevisions, "default").value()["items"];
  EXPECT_EQ(revs.size(), 2u);
  ASSERT_TRUE(WaitFor([&] { return Ds()["status"].value("updatedNumberScheduled", 0) == 3; }));
}

TEST_F(DaemonSetControllerTest, OnDeleteWaitsForManualDeletes) {
  AddNode("n1");
  Start();
  CreateDs({{"updateStrategy", {{"type", "OnDelete"}}}});
  ASSERT_TRUE(WaitFor([&] { return Pods().size() == 1; }));
  std::string first = Pods()[0]["metadata"]["name"];
  // The controller writes the DaemonSet's status meanwhile: a 409 means "read it again".
  ASSERT_TRUE(WaitFor([&] {
    Json ds = Ds();
    ds["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2";
    return c().Update(client::kDaemonSets, "default", ds).ok();
  }));
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(Pods().size(), 1u);
  EXPECT_EQ(Pods()[0]["metadata"]["name"], first);
  ASSERT_TRUE(c().Delete(client::kPods, "default", first).ok());
  ASSERT_TRUE(WaitFor([&] { return Pods().size() == 1 && Pods()[0]["metadata"]["name"] != first; }));
  EXPECT_EQ(Pods()[0]["spec"]["containers"][0]["image"], "busybox:2");
}

// --- pure helpers -------------------------------------------------------------------------

TEST(NodeFitTest, Table) {
  Json node = {{"metadata", {{"name", "n1"}, {"labels", {{"zone", "a"}, {"cpus", "8"}}}}},
               {"spec", {{"taints", {{{"key", "gpu"}, {"value", "yes"}, {"effect", "NoSchedule"}}}}}}};
  struct Case {
    const char* name;
    Json spec;
    bool run, cont;
  } cases[] = {
      {"UntoleratedNoSchedule", Json::object(), false, true},
      {"Tolerated", {{"tolerations", {{{"key", "gpu"}, {"operator", "Exists"}}}}}, true, true},
      {"WrongValue", {{"tolerations", {{{"key", "gpu"}, {"value", "no"}}}}}, false, true},
      {"ExistsEmptyKey", {{"tolerations", {{{"operator", "Exists"}}}}}, true, true},
      {"SelectorMismatch", {{"tolerations", {{{"operator", "Exists"}}}}, {"nodeSelector", {{"zone", "b"}}}}, false, false},
      {"AffinityGt",
       {{"tolerations", {{{"operator", "Exists"}}}},
        {"affinity", {{"nodeAffinity", {{"requiredDuringSchedulingIgnoredDuringExecution",
                                         {{"nodeSelectorTerms", {{{"matchExpressions", {{{"key", "cpus"}, {"operator", "Gt"}, {"values", {"4"}}}}}}}}}}}}}}},
       true, true},
      {"OtherNodeName", {{"tolerations", {{{"operator", "Exists"}}}}, {"nodeName", "n2"}}, false, false},
  };
  for (const auto& tc : cases) {
    NodeFit f = NodeShouldRunDaemonPod(tc.spec, node);
    EXPECT_EQ(f.should_run, tc.run) << tc.name;
    EXPECT_EQ(f.should_continue, tc.cont) << tc.name;
  }
  node["spec"]["taints"][0]["effect"] = "NoExecute";
  EXPECT_FALSE(NodeShouldRunDaemonPod(Json::object(), node).should_continue);
}

TEST(NodeFitTest, DaemonTolerationsAndAffinity) {
  Json spec = {{"hostNetwork", true}, {"tolerations", {{{"key", "node.kubernetes.io/unreachable"}, {"effect", "NoExecute"}, {"operator", "Exists"}, {"tolerationSeconds", 5}}}}};
  AddDaemonPodTolerations(spec);
  EXPECT_EQ(spec["tolerations"].size(), 7u);
  EXPECT_FALSE(spec["tolerations"][0].contains("tolerationSeconds"));
  SetNodeNameAffinity(spec, "n9");
  Json pod = {{"spec", spec}};
  EXPECT_EQ(TargetNodeName(pod), "n9");
  EXPECT_EQ(ScaledValue(nullptr, 10), 0);
  Json pct = "25%";
  EXPECT_EQ(ScaledValue(&pct, 10), 3);
  Json n = 2;
  EXPECT_EQ(ScaledValue(&n, 10), 2);
  EXPECT_NE(ComputeHash(Json{{"a", 1}}, 0), ComputeHash(Json{{"a", 2}}, 0));
  EXPECT_NE(ComputeHash(Json{{"a", 1}}, 0), ComputeHash(Json{{"a", 1}}, 1));
}

}  // namespace
}  // namespace tug::controllers::daemonset
