// Issue 6 acceptance: the control plane (controllers + scheduler) on simulated nodes. Each test
// starts a real `tug server` and `tug simnodes --count 3` (nodes sim-0..sim-2) and drives them
// with the real kubectl, expecting upstream behaviour.
//
// A test whose first observable step never happens within 30 s (e.g. no ReplicaSet for a new
// Deployment, no nodeName for a pod) is skipped with a message naming the missing component:
// controllers and the scheduler land in `tug server` piece by piece. Everything after that
// first step is asserted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "harness.h"

namespace tug::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;
using namespace std::chrono_literals;

#define EXPECT_OK(r) EXPECT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err
#define ASSERT_OK(r) ASSERT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err
// Skips the test when a control-plane component never acted (it is not in the binary yet).
#define REQUIRE_COMPONENT(cond, what)                                                              \
  if (!(cond)) GTEST_SKIP() << what << " did not act within 30 s: not in this tug binary yet?"

constexpr auto kProbe = 30s;       // first sign of a component
constexpr auto kConverge = 120s;   // a rollout or a Job on 3 simulated nodes

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(250ms);
  }
  return pred();
}

std::string Str(const Json& j, std::initializer_list<const char*> path) {
  const Json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return "";
    cur = &(*cur)[k];
  }
  return cur->is_string() ? cur->get<std::string>() : cur->is_number() ? cur->dump() : "";
}

bool PodReady(const Json& pod) {
  if (Str(pod, {"status", "phase"}) != "Running") return false;
  for (const Json& c : pod["status"].value("conditions", Json::array()))
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  return false;
}

class ControlPlaneBase : public ::testing::TestWithParam<KubectlVersion> {
 protected:
  virtual std::vector<std::string> ServerArgs() const { return {}; }
  void SetUp() override {
    server_ = std::make_unique<TugServer>(ServerArgs());
    std::string why;
    ASSERT_TRUE(server_->Start(&why)) << why;
    work_dir_ = MakeTempDir("tug-e2e-cp");
    sim_ = StartSimNodes(*server_, {"--count", "3", "--startup-delay", "1s", "--run-time", "3s"}, &why);
    ASSERT_NE(sim_, nullptr) << why;
    ns_ = "cp";
    auto r = K({"create", "namespace", ns_});
    ASSERT_OK(r);
  }
  void TearDown() override {
    extra_sims_.clear();
    if (sim_) sim_->Stop();
    if (HasFailure() && server_) std::cerr << "--- tug server log (tail) ---\n" << Tail(server_->log(), 6000) << "\n";
    server_.reset();
    RemoveTree(work_dir_);
  }
  static std::string Tail(const std::string& s, size_t n) { return s.size() > n ? s.substr(s.size() - n) : s; }

  RunResult K(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s, const std::string& in = "") {
    std::vector<std::string> argv = {GetParam().path, "--kubeconfig", server_->kubeconfig(), "--cache-dir",
                                     work_dir_ + "/cache"};
    argv.insert(argv.end(), args.begin(), args.end());
    return e2e::Run(argv, in, {}, timeout);
  }
  RunResult KN(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s) {
    args.insert(args.begin(), {"-n", ns_});
    return K(args, timeout);
  }
  RunResult Apply(const std::string& yaml) { return K({"-n", ns_, "apply", "-f", "-"}, 60s, yaml); }
  std::vector<std::string> KubectlArgv(std::vector<std::string> args) {
    std::vector<std::string> argv = {GetParam().path, "--kubeconfig", server_->kubeconfig(), "--cache-dir",
                                     work_dir_ + "/cache-w", "-n", ns_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // Items of `kubectl get <what> -o json` in the test namespace ("" ns = cluster-scoped).
  std::vector<Json> Items(std::vector<std::string> what, bool namespaced = true) {
    what.insert(what.begin(), "get");
    what.insert(what.end(), {"-o", "json"});
    if (namespaced) what.insert(what.begin(), {"-n", ns_});
    auto r = K(what);
    if (r.rc != 0) return {};
    Json list = Json::parse(r.out, nullptr, false);
    if (list.is_discarded() || !list.contains("items")) return {};
    return list["items"].get<std::vector<Json>>();
  }
  // Pods matching a selector that are not being deleted.
  std::vector<Json> LivePods(const std::string& selector) {
    std::vector<Json> out;
    for (Json& p : Items({"pods", "-l", selector}))
      if (!p["metadata"].contains("deletionTimestamp")) out.push_back(std::move(p));
    return out;
  }
  int ReadyPods(const std::string& selector) {
    auto pods = LivePods(selector);
    return static_cast<int>(std::count_if(pods.begin(), pods.end(), PodReady));
  }
  std::string Get(std::vector<std::string> args) {
    args.insert(args.begin(), "get");
    return KN(args).out;
  }
  // Whether a pod of `selector` was bound to a node within the probe time.
  bool Scheduled(const std::string& selector) {
    return Eventually([&] {
      for (const Json& p : LivePods(selector))
        if (!Str(p, {"spec", "nodeName"}).empty()) return true;
      return false;
    }, kProbe);
  }
  bool RolloutStatus(const std::string& what, std::string* out = nullptr) {
    auto r = KN({"rollout", "status", what, "--timeout=120s"}, 150s);
    if (out) *out = r.out + r.err;
    return r.rc == 0;
  }
  std::unique_ptr<Background>& AddSimNodes(std::vector<std::string> args) {
    std::string why;
    extra_sims_.push_back(StartSimNodes(*server_, args, &why));
    EXPECT_NE(extra_sims_.back(), nullptr) << why;
    return extra_sims_.back();
  }

  std::unique_ptr<TugServer> server_;
  std::unique_ptr<Background> sim_;
  std::vector<std::unique_ptr<Background>> extra_sims_;
  std::string work_dir_;
  std::string ns_;
};

// Cheap enough for every kubectl version.
class ControlPlaneVersionsTest : public ControlPlaneBase {};
// The default kubectl only.
class ControlPlaneTest : public ControlPlaneBase {};

// The loops behind Leases (--leader-elect), as a server on a shared store would run them.
class ControlPlaneLeaderElectTest : public ControlPlaneBase {
 protected:
  std::vector<std::string> ServerArgs() const override { return {"--leader-elect"}; }
};

TEST_P(ControlPlaneVersionsTest, CreateScaleRolloutStatus) {
  ASSERT_OK(KN({"create", "deployment", "web", "--image=nginx:1.25", "--replicas=2"}));
  REQUIRE_COMPONENT(Eventually([&] { return !Items({"rs", "-l", "app=web"}).empty(); }, kProbe),
                    "the Deployment controller");
  REQUIRE_COMPONENT(Scheduled("app=web"), "the scheduler");
  std::string out;
  ASSERT_TRUE(RolloutStatus("deployment/web", &out)) << out;
  EXPECT_THAT(out, HasSubstr("deployment \"web\" successfully rolled out"));
  EXPECT_EQ(ReadyPods("app=web"), 2);
  EXPECT_THAT(Get({"deployment", "web"}), ::testing::MatchesRegex("(.|\n)*web +2/2 +2 +2 +[0-9a-z]+\n"));
  auto r = KN({"scale", "deployment", "web", "--replicas=4"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web scaled\n");
  ASSERT_TRUE(RolloutStatus("deployment/web", &out)) << out;
  EXPECT_TRUE(Eventually([&] { return ReadyPods("app=web") == 4; }, kConverge));
  // Pods spread over the simulated nodes, each with an IP from its node's CIDR.
  std::set<std::string> nodes;
  for (const Json& p : LivePods("app=web")) {
    std::string node = Str(p, {"spec", "nodeName"});
    nodes.insert(node);
    EXPECT_THAT(node, ::testing::StartsWith("sim-"));
    EXPECT_THAT(Str(p, {"status", "podIP"}), ::testing::StartsWith("10.42."));
  }
  EXPECT_GE(nodes.size(), 2u);
  ASSERT_OK(KN({"scale", "deployment", "web", "--replicas=1"}));
  EXPECT_TRUE(Eventually([&] { return Items({"pods", "-l", "app=web"}).size() == 1; }, kConverge))
      << Get({"pods", "-l", "app=web"});
}

// By default the single server on its embedded store runs the loops without an election, so an
// idle cluster writes no Lease renewals; with --leader-elect each loop holds its Lease and works.
TEST_P(ControlPlaneTest, NoElectionLeasesByDefault) {
  ASSERT_OK(KN({"create", "deployment", "solo", "--image=nginx:1.25"}));
  ASSERT_TRUE(Scheduled("app=solo"));
  auto r = K({"get", "lease", "-n", "kube-system", "-o", "name"});
  ASSERT_OK(r);
  EXPECT_THAT(r.out, Not(HasSubstr("kube-scheduler")));
  EXPECT_THAT(r.out, Not(HasSubstr("kube-controller-manager")));
}

TEST_P(ControlPlaneLeaderElectTest, LoopsHoldTheirLeases) {
  for (const char* lease : {"kube-controller-manager", "kube-scheduler"}) {
    std::string holder;
    EXPECT_TRUE(Eventually([&] {
      auto r = K({"get", "lease", "-n", "kube-system", lease, "-o", "jsonpath={.spec.holderIdentity}"});
      holder = r.out;
      return r.rc == 0 && !holder.empty();
    }, kProbe)) << lease;
  }
  ASSERT_OK(KN({"create", "deployment", "elected", "--image=nginx:1.25"}));
  std::string out;
  EXPECT_TRUE(RolloutStatus("deployment/elected", &out)) << out;
}

TEST_P(ControlPlaneTest, DeploymentRolloutLifecycle) {
  ASSERT_OK(KN({"create", "deployment", "web", "--image=nginx:1.25", "--replicas=3"}));
  REQUIRE_COMPONENT(Eventually([&] { return !Items({"rs", "-l", "app=web"}).empty(); }, kProbe),
                    "the Deployment controller");
  REQUIRE_COMPONENT(Scheduled("app=web"), "the scheduler");
  std::string out;
  ASSERT_TRUE(RolloutStatus("deployment/web", &out)) << out;

  auto images = [&] {
    std::set<std::string> s;
    for (const Json& p : LivePods("app=web")) s.insert(Str(p["spec"]["containers"][0], {"image"}));
    return s;
  };
  auto converged = [&](const std::string& image) {
    return Eventually([&] { return ReadyPods("app=web") == 3 && images() == std::set<std::string>{image} &&
                                   LivePods("app=web").size() == 3; }, kConverge);
  };
  auto rs_count = [&] { return Items({"rs", "-l", "app=web"}).size(); };

  // set image: a second ReplicaSet takes over, the first is scaled to 0 and kept.
  auto r = KN({"set", "image", "deployment/web", "nginx=nginx:1.26"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web image updated\n");
  ASSERT_TRUE(RolloutStatus("deployment/web", &out)) << out;
  EXPECT_TRUE(converged("nginx:1.26")) << Get({"pods", "-o", "wide"});
  EXPECT_EQ(rs_count(), 2u);
  for (const Json& rs : Items({"rs", "-l", "app=web"})) {
    std::string image = Str(rs["spec"]["template"]["spec"]["containers"][0], {"image"});
    EXPECT_EQ(rs["spec"].value("replicas", -1), image == "nginx:1.26" ? 3 : 0) << image;
    EXPECT_EQ(rs["metadata"]["ownerReferences"][0].value("kind", ""), "Deployment");
  }

  r = KN({"rollout", "history", "deployment/web"});
  ASSERT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("REVISION"));
  EXPECT_THAT(r.out, ::testing::MatchesRegex("(.|\n)*\n1 +<none>\n2 +<none>\n(.|\n)*"));

  r = KN({"rollout", "undo", "deployment/web"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web rolled back\n");
  ASSERT_TRUE(RolloutStatus("deployment/web", &out)) << out;
  EXPECT_TRUE(converged("nginx:1.25")) << Get({"pods", "-o", "wide"});
  EXPECT_EQ(rs_count(), 2u);  // the old ReplicaSet came back (revision 1 became 3)
  r = KN({"rollout", "history", "deployment/web"});
  EXPECT_THAT(r.out, ::testing::MatchesRegex("(.|\n)*\n2 +<none>\n3 +<none>\n(.|\n)*"));

  // pause: template changes are recorded but not rolled out until resume.
  r = KN({"rollout", "pause", "deployment/web"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web paused\n");
  ASSERT_OK(KN({"set", "image", "deployment/web", "nginx=nginx:1.27"}));
  EXPECT_TRUE(Eventually([&] {
    Json dep = Json::parse(KN({"get", "deployment", "web", "-o", "json"}).out, nullptr, false);
    return !dep.is_discarded() && dep["status"].value("observedGeneration", 0) == dep["metadata"].value("generation", -1);
  }, kProbe));
  EXPECT_EQ(rs_count(), 2u);
  EXPECT_EQ(images(), std::set<std::string>{"nginx:1.25"});
  r = KN({"rollout", "resume", "deployment/web"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web resumed\n");
  ASSERT_TRUE(RolloutStatus("deployment/web", &out)) << out;
  EXPECT_TRUE(converged("nginx:1.27")) << Get({"pods", "-o", "wide"});
  EXPECT_EQ(rs_count(), 3u);

  // restart: a new template (restartedAt annotation), so a new ReplicaSet and new pods.
  std::set<std::string> before;
  for (const Json& p : LivePods("app=web")) before.insert(Str(p, {"metadata", "name"}));
  r = KN({"rollout", "restart", "deployment/web"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web restarted\n");
  ASSERT_TRUE(RolloutStatus("deployment/web", &out)) << out;
  EXPECT_TRUE(Eventually([&] {
    auto pods = LivePods("app=web");
    if (pods.size() != 3 || ReadyPods("app=web") != 3) return false;
    for (const Json& p : pods)
      if (before.count(Str(p, {"metadata", "name"}))) return false;
    return true;
  }, kConverge)) << Get({"pods"});
  EXPECT_THAT(Get({"deployment", "web", "-o", "jsonpath={.spec.template.metadata.annotations}"}),
              HasSubstr("kubectl.kubernetes.io/restartedAt"));
  EXPECT_EQ(rs_count(), 4u);
}

TEST_P(ControlPlaneTest, DeleteNamespaceRemovesEverything) {
  ASSERT_OK(KN({"create", "deployment", "web", "--image=nginx:1.25", "--replicas=2"}));
  ASSERT_OK(KN({"create", "configmap", "cfg", "--from-literal=a=b"}));
  REQUIRE_COMPONENT(Eventually([&] { return !Items({"rs", "-l", "app=web"}).empty(); }, kProbe),
                    "the Deployment controller");
  REQUIRE_COMPONENT(Scheduled("app=web"), "the scheduler");
  EXPECT_TRUE(Eventually([&] { return ReadyPods("app=web") == 2; }, kConverge));
  // kubectl waits until the namespace is gone.
  auto r = K({"delete", "namespace", ns_, "--timeout=120s"}, 150s);
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "namespace \"" + ns_ + "\" deleted\n");
  r = K({"get", "namespace", ns_});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("namespaces \"" + ns_ + "\" not found"));
  for (const char* kind : {"pods", "replicasets", "deployments", "configmaps"}) {
    r = K({"get", kind, "-A", "--field-selector", "metadata.namespace=" + ns_, "-o", "name"});
    EXPECT_OK(r);
    EXPECT_EQ(r.out, "") << kind;
  }
}

TEST_P(ControlPlaneTest, DeleteDeploymentCascadesAndOrphans) {
  ASSERT_OK(KN({"create", "deployment", "gone", "--image=nginx:1.25", "--replicas=2"}));
  ASSERT_OK(KN({"create", "deployment", "kept", "--image=nginx:1.25", "--replicas=2"}));
  REQUIRE_COMPONENT(Eventually([&] { return !Items({"rs", "-l", "app=gone"}).empty(); }, kProbe),
                    "the Deployment controller");
  REQUIRE_COMPONENT(Scheduled("app=gone"), "the scheduler");
  ASSERT_TRUE(Eventually([&] { return ReadyPods("app=gone") == 2 && ReadyPods("app=kept") == 2; }, kConverge));

  // Background cascade (kubectl's default): the ReplicaSet and its pods go too.
  auto r = KN({"delete", "deployment", "gone"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps \"gone\" deleted\n");
  REQUIRE_COMPONENT(Eventually([&] { return Items({"rs", "-l", "app=gone"}).empty(); }, kProbe),
                    "the garbage collector");
  EXPECT_TRUE(Eventually([&] { return Items({"pods", "-l", "app=gone"}).empty(); }, kConverge))
      << Get({"pods", "-l", "app=gone"});

  // Orphan: the ReplicaSet and pods stay, without an owner.
  r = KN({"delete", "deployment", "kept", "--cascade=orphan"});
  ASSERT_OK(r);
  EXPECT_TRUE(Eventually([&] {
    auto rs = Items({"rs", "-l", "app=kept"});
    return rs.size() == 1 && !rs[0]["metadata"].contains("ownerReferences");
  }, kConverge)) << Get({"rs", "-o", "yaml"});
  EXPECT_NE(KN({"get", "deployment", "kept"}).rc, 0);
  EXPECT_EQ(ReadyPods("app=kept"), 2);
  // The orphaned ReplicaSet keeps working on its own.
  ASSERT_OK(KN({"scale", "rs", Str(Items({"rs", "-l", "app=kept"})[0], {"metadata", "name"}), "--replicas=3"}));
  EXPECT_TRUE(Eventually([&] { return ReadyPods("app=kept") == 3; }, kConverge));
}

TEST_P(ControlPlaneTest, JobsCompleteOrFail) {
  auto r = KN({"create", "job", "once", "--image=busybox:1.36", "--", "true"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "job.batch/once created\n");
  REQUIRE_COMPONENT(Eventually([&] { return !Items({"pods", "-l", "job-name=once"}).empty(); }, kProbe),
                    "the Job controller");
  REQUIRE_COMPONENT(Scheduled("job-name=once"), "the scheduler");
  ASSERT_OK(Apply(R"(apiVersion: batch/v1
kind: Job
metadata:
  name: many
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox:1.36
        command: ["true"]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: fails
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:
        tug.dev/sim-exit-code: "1"
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox:1.36
        command: ["false"]
)"));
  r = KN({"wait", "--for=condition=complete", "job/once", "job/many", "--timeout=120s"}, 150s);
  EXPECT_OK(r);
  EXPECT_EQ(Get({"job", "many", "-o", "jsonpath={.status.succeeded}"}), "3");
  for (const Json& p : Items({"pods", "-l", "job-name=many"})) {
    EXPECT_EQ(Str(p, {"status", "phase"}), "Succeeded");
    EXPECT_EQ(p["status"]["containerStatuses"][0]["state"]["terminated"].value("reason", ""), "Completed");
  }
  r = KN({"wait", "--for=condition=failed", "job/fails", "--timeout=120s"}, 150s);
  EXPECT_OK(r);
  auto failed = Items({"pods", "-l", "job-name=fails"});
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(Str(failed[0], {"status", "phase"}), "Failed");
  EXPECT_EQ(failed[0]["status"]["containerStatuses"][0]["state"]["terminated"].value("exitCode", -1), 1);
  EXPECT_THAT(Get({"job", "fails", "-o", "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}"}),
              HasSubstr("BackoffLimitExceeded"));
}

TEST_P(ControlPlaneTest, CronJobEveryMinuteCreatesJobs) {
  auto r = KN({"create", "cronjob", "tick", "--image=busybox:1.36", "--schedule=*/1 * * * *", "--", "true"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "cronjob.batch/tick created\n");
  // The first run is at the next minute boundary (up to 60 s away).
  auto owned_jobs = [&] {
    std::vector<Json> out;
    for (Json& j : Items({"jobs"}))
      for (const Json& o : j["metadata"].value("ownerReferences", Json::array()))
        if (o.value("kind", "") == "CronJob" && o.value("name", "") == "tick") out.push_back(j);
    return out;
  };
  bool created = Eventually([&] { return !owned_jobs().empty(); }, 95s);
  if (!created) {
    // Tell a missing controller manager apart from a broken CronJob controller.
    ASSERT_OK(KN({"create", "deployment", "probe", "--image=busybox:1.36"}));
    REQUIRE_COMPONENT(Eventually([&] { return !Items({"rs", "-l", "app=probe"}).empty(); }, kProbe),
                      "the controller manager");
    FAIL() << "no Job from CronJob tick within 95 s\n" << Get({"cronjob", "tick", "-o", "yaml"});
  }
  std::string job = Str(owned_jobs()[0], {"metadata", "name"});
  EXPECT_THAT(job, ::testing::MatchesRegex("tick-[0-9]+"));
  EXPECT_FALSE(Get({"cronjob", "tick", "-o", "jsonpath={.status.lastScheduleTime}"}).empty());
  REQUIRE_COMPONENT(Scheduled("job-name=" + job), "the scheduler");
  r = KN({"wait", "--for=condition=complete", "job/" + job, "--timeout=120s"}, 150s);
  EXPECT_OK(r);
}

TEST_P(ControlPlaneTest, DaemonSetOnEveryNodeIncludingNewOnes) {
  ASSERT_OK(Apply(R"(apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: c
        image: busybox:1.36
)"));
  REQUIRE_COMPONENT(Eventually([&] { return !Items({"pods", "-l", "app=agent"}).empty(); }, kProbe),
                    "the DaemonSet controller");
  REQUIRE_COMPONENT(Scheduled("app=agent"), "the scheduler");
  auto nodes_with_ready_pod = [&] {
    std::multiset<std::string> nodes;
    for (const Json& p : LivePods("app=agent"))
      if (PodReady(p)) nodes.insert(Str(p, {"spec", "nodeName"}));
    return nodes;
  };
  EXPECT_TRUE(Eventually([&] { return nodes_with_ready_pod() == std::multiset<std::string>{"sim-0", "sim-1", "sim-2"}; },
                         kConverge)) << Get({"pods", "-o", "wide"});
  std::string out;
  EXPECT_TRUE(RolloutStatus("daemonset/agent", &out)) << out;

  // A node added later gets its pod.
  ASSERT_NE(AddSimNodes({"--count", "1", "--first-index", "3", "--startup-delay", "1s"}), nullptr);
  EXPECT_TRUE(Eventually([&] {
    return nodes_with_ready_pod() == std::multiset<std::string>{"sim-0", "sim-1", "sim-2", "sim-3"};
  }, kConverge)) << Get({"pods", "-o", "wide"});
  EXPECT_THAT(Get({"daemonset", "agent"}), ::testing::MatchesRegex("(.|\n)*agent +4 +4 +4 +4 +4 +<none> +[0-9a-z]+\n"));
}

TEST_P(ControlPlaneTest, StatefulSetPodsComeUpInOrder) {
  // Watch from before the StatefulSet exists, to see the order pods appear and become ready.
  Background watch(KubectlArgv({"get", "pods", "-l", "app=db", "-w"}));
  ASSERT_OK(Apply(R"(apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector:
    app: db
  ports:
  - port: 5432
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 3
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: c
        image: busybox:1.36
)"));
  REQUIRE_COMPONENT(Eventually([&] { return !Items({"pods", "-l", "app=db"}).empty(); }, kProbe),
                    "the StatefulSet controller");
  REQUIRE_COMPONENT(Scheduled("app=db"), "the scheduler");
  std::string out;
  ASSERT_TRUE(RolloutStatus("statefulset/db", &out)) << out;
  EXPECT_TRUE(Eventually([&] { return ReadyPods("app=db") == 3; }, kConverge));
  ASSERT_TRUE(watch.WaitFor("db-2 ", 10s));
  watch.Stop();
  // Line numbers: where each pod first appears and where it is first shown ready (1/1 Running).
  std::vector<std::string> lines;
  {
    std::string o = watch.Output();
    size_t pos = 0;
    while (pos < o.size()) {
      size_t nl = o.find('\n', pos);
      if (nl == std::string::npos) nl = o.size();
      lines.push_back(o.substr(pos, nl - pos));
      pos = nl + 1;
    }
  }
  auto first = [&](const std::regex& re) {
    for (size_t i = 0; i < lines.size(); ++i)
      if (std::regex_search(lines[i], re)) return static_cast<int>(i);
    return -1;
  };
  int seen[3], ready[3];
  for (int i = 0; i < 3; ++i) {
    std::string name = "db-" + std::to_string(i);
    seen[i] = first(std::regex("^" + name + " "));
    ready[i] = first(std::regex("^" + name + " +1/1 +Running"));
    EXPECT_GE(seen[i], 0) << name << " never shown:\n" << watch.Output();
    EXPECT_GE(ready[i], 0) << name << " never shown ready:\n" << watch.Output();
  }
  // db-1 is created only once db-0 is Ready, db-2 once db-1 is.
  EXPECT_GT(seen[1], ready[0]) << watch.Output();
  EXPECT_GT(seen[2], ready[1]) << watch.Output();
  // Stable network identities.
  for (const Json& p : LivePods("app=db")) {
    EXPECT_EQ(Str(p, {"spec", "hostname"}), Str(p, {"metadata", "name"}));
    EXPECT_EQ(Str(p, {"spec", "subdomain"}), "db");
  }
}

TEST_P(ControlPlaneTest, CordonedNodeGetsNoPods) {
  for (const char* n : {"sim-0", "sim-1"}) {
    auto r = K({"cordon", n});
    ASSERT_OK(r);
    EXPECT_EQ(r.out, std::string("node/") + n + " cordoned\n");
  }
  EXPECT_THAT(K({"get", "node", "sim-0"}).out, HasSubstr("Ready,SchedulingDisabled"));
  ASSERT_OK(KN({"create", "deployment", "web", "--image=nginx:1.25", "--replicas=4"}));
  REQUIRE_COMPONENT(Eventually([&] { return !Items({"rs", "-l", "app=web"}).empty(); }, kProbe),
                    "the Deployment controller");
  REQUIRE_COMPONENT(Scheduled("app=web"), "the scheduler");
  std::string out;
  ASSERT_TRUE(RolloutStatus("deployment/web", &out)) << out;
  auto pods = LivePods("app=web");
  ASSERT_EQ(pods.size(), 4u);
  for (const Json& p : pods) EXPECT_EQ(Str(p, {"spec", "nodeName"}), "sim-2");
  // Uncordoned, the node takes new pods again.
  ASSERT_OK(K({"uncordon", "sim-0"}));
  ASSERT_OK(KN({"scale", "deployment", "web", "--replicas=8"}));
  ASSERT_TRUE(RolloutStatus("deployment/web", &out)) << out;
  for (const Json& p : LivePods("app=web")) EXPECT_NE(Str(p, {"spec", "nodeName"}), "sim-1");
}

TEST_P(ControlPlaneTest, KilledNodeGoesNotReadyAndItsPodsMove) {
  // A node served by its own simulator process, which the test kills.
  auto& doomed = AddSimNodes({"--count", "1", "--name-prefix", "doomed-", "--first-index", "50"});
  ASSERT_NE(doomed, nullptr);
  // Pin the Deployment's first pods to the doomed node by cordoning the others while it starts.
  for (const char* n : {"sim-0", "sim-1", "sim-2"}) ASSERT_OK(K({"cordon", n}));
  // Short tolerations for the not-ready/unreachable taints, so eviction does not take 5 minutes.
  ASSERT_OK(Apply(R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: mover
spec:
  replicas: 2
  selector:
    matchLabels:
      app: mover
  template:
    metadata:
      labels:
        app: mover
    spec:
      tolerations:
      - key: node.kubernetes.io/unreachable
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 2
      - key: node.kubernetes.io/not-ready
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 2
      containers:
      - name: c
        image: busybox:1.36
)"));
  REQUIRE_COMPONENT(Eventually([&] { return !Items({"rs", "-l", "app=mover"}).empty(); }, kProbe),
                    "the Deployment controller");
  REQUIRE_COMPONENT(Scheduled("app=mover"), "the scheduler");
  std::string out;
  ASSERT_TRUE(RolloutStatus("deployment/mover", &out)) << out;
  for (const Json& p : LivePods("app=mover")) ASSERT_EQ(Str(p, {"spec", "nodeName"}), "doomed-50");
  for (const char* n : {"sim-0", "sim-1", "sim-2"}) ASSERT_OK(K({"uncordon", n}));

  ASSERT_EQ(kill(doomed->pid(), SIGKILL), 0);
  doomed->Wait(10s);
  // The node lifecycle controller notices the Lease stopped (upstream: 40-50 s grace).
  auto ready_status = [&] {
    return K({"get", "node", "doomed-50", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"}).out;
  };
  REQUIRE_COMPONENT(Eventually([&] { return ready_status() != "True"; }, 90s), "the node lifecycle controller");
  EXPECT_EQ(ready_status(), "Unknown");
  EXPECT_THAT(K({"get", "node", "doomed-50"}).out, HasSubstr("NotReady"));
  EXPECT_THAT(K({"get", "node", "doomed-50", "-o", "jsonpath={.spec.taints}"}).out,
              HasSubstr("node.kubernetes.io/unreachable"));
  // Its pods are evicted and replaced on the live nodes.
  EXPECT_TRUE(Eventually([&] {
    auto pods = LivePods("app=mover");
    int ok = 0;
    for (const Json& p : pods)
      if (PodReady(p) && Str(p, {"spec", "nodeName"}).rfind("sim-", 0) == 0) ++ok;
    return ok == 2;
  }, kConverge)) << Get({"pods", "-o", "wide"});
}

// The endpoints and endpointslice controllers: `kubectl expose` gives a Service whose Endpoints
// and EndpointSlices list the ready pods' IP:port and follow the Deployment's scale.
TEST_P(ControlPlaneTest, ExposeDeploymentEndpointsFollowScale) {
  ASSERT_OK(KN({"create", "deployment", "web", "--image=nginx:1.25", "--replicas=2", "--port=8080"}));
  REQUIRE_COMPONENT(Eventually([&] { return !Items({"rs", "-l", "app=web"}).empty(); }, kProbe),
                    "the Deployment controller");
  REQUIRE_COMPONENT(Scheduled("app=web"), "the scheduler");
  auto r = KN({"expose", "deployment", "web", "--port=80", "--target-port=8080"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "service/web exposed\n");
  // The ready pods' IP:8080, sorted, as "a:8080,b:8080".
  auto want = [&] {
    std::vector<std::string> ips;
    for (const Json& p : LivePods("app=web"))
      if (PodReady(p)) ips.push_back(Str(p, {"status", "podIP"}) + ":8080");
    std::sort(ips.begin(), ips.end());
    return ips;
  };
  // kubectl prints Endpoints' addresses as "ip:port,ip:port" (at most three, then "+ N more...").
  auto endpoints = [&] {
    Json ep = Json::parse(KN({"get", "endpoints", "web", "-o", "json"}).out, nullptr, false);
    std::vector<std::string> got;
    if (ep.is_discarded()) return got;
    for (const Json& s : ep.value("subsets", Json::array()))
      for (const Json& a : s.value("addresses", Json::array()))
        for (const Json& p : s.value("ports", Json::array())) got.push_back(a.value("ip", "") + ":" + p["port"].dump());
    std::sort(got.begin(), got.end());
    return got;
  };
  auto slice_ips = [&] {
    std::vector<std::string> got;
    for (const Json& sl : Items({"endpointslices", "-l", "kubernetes.io/service-name=web"}))
      for (const Json& e : sl.value("endpoints", Json::array()))
        if (e["conditions"].value("ready", false))
          for (const Json& p : sl.value("ports", Json::array()))
            got.push_back(e["addresses"][0].get<std::string>() + ":" + p["port"].dump());
    std::sort(got.begin(), got.end());
    return got;
  };
  auto converged = [&](size_t n) {
    return Eventually([&] {
      auto w = want();
      return w.size() == n && endpoints() == w && slice_ips() == w;
    }, kConverge);
  };
  REQUIRE_COMPONENT(Eventually([&] { return !KN({"get", "endpoints", "web"}).out.empty() && !endpoints().empty(); },
                               kProbe), "the endpoints controller");
  ASSERT_TRUE(converged(2)) << Get({"endpoints", "web"}) << Get({"endpointslices"}) << Get({"pods", "-o", "wide"});

  // The table kubectl prints: NAME ENDPOINTS AGE with "ip:8080,ip:8080".
  auto w = want();
  std::string table = Get({"endpoints", "web"});
  EXPECT_THAT(table, ::testing::MatchesRegex("NAME +ENDPOINTS +AGE\nweb +[0-9.:,]+ +[0-9a-z]+\n")) << table;
  for (const std::string& a : w) EXPECT_THAT(table, HasSubstr(a));
  table = Get({"endpointslices", "-l", "kubernetes.io/service-name=web"});
  EXPECT_THAT(table, ::testing::MatchesRegex("NAME +ADDRESSTYPE +PORTS +ENDPOINTS +AGE\nweb-[a-z0-9]{5} +IPv4 +8080 +"
                                             "[0-9.,]+ +[0-9a-z]+\n")) << table;
  Json slice = Items({"endpointslices", "-l", "kubernetes.io/service-name=web"}).at(0);
  EXPECT_EQ(Str(slice, {"metadata", "labels", "endpointslice.kubernetes.io/managed-by"}), "endpointslice-controller.k8s.io");
  EXPECT_EQ(Str(slice["metadata"]["ownerReferences"][0], {"kind"}), "Service");
  std::string describe = KN({"describe", "svc", "web"}).out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(describe, m, std::regex("\nEndpoints: +([^\n]*)\n"))) << describe;
  for (const std::string& a : w) EXPECT_THAT(m[1].str(), HasSubstr(a)) << describe;

  // Scaling the Deployment changes them; the slice is updated in place.
  std::string slice_name = Str(slice, {"metadata", "name"});
  ASSERT_OK(KN({"scale", "deployment", "web", "--replicas=3"}));
  EXPECT_TRUE(converged(3)) << Get({"endpoints", "web"}) << Get({"pods", "-o", "wide"});
  ASSERT_OK(KN({"scale", "deployment", "web", "--replicas=1"}));
  EXPECT_TRUE(Eventually([&] { return LivePods("app=web").size() == 1; }, kConverge));
  EXPECT_TRUE(converged(1)) << Get({"endpoints", "web"}) << Get({"pods", "-o", "wide"});
  auto slices = Items({"endpointslices", "-l", "kubernetes.io/service-name=web"});
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(Str(slices[0], {"metadata", "name"}), slice_name);

  // Deleting the Service removes its Endpoints and (garbage collector) its slices.
  ASSERT_OK(KN({"delete", "service", "web"}));
  EXPECT_TRUE(Eventually([&] { return KN({"get", "endpoints", "web"}).rc != 0; }, kConverge));
  EXPECT_TRUE(Eventually([&] { return Items({"endpointslices", "-l", "kubernetes.io/service-name=web"}).empty(); },
                         kConverge)) << Get({"endpointslices"});
}

INSTANTIATE_TEST_SUITE_P(Kubectl, ControlPlaneVersionsTest, ::testing::ValuesIn(KubectlVersions()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Kubectl, ControlPlaneTest,
                         ::testing::Values(KubectlVersion{"default", "kubectl"}),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Kubectl, ControlPlaneLeaderElectTest,
                         ::testing::Values(KubectlVersion{"default", "kubectl"}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tug::e2e
