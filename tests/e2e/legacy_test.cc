// Issue 4 items 3 and 4: old clients and old manifests against a real `tug server`.
//  - kubectl 1.20 (Debian's kubernetes-client, unpacked by tools/deps.sh): legacy discovery and
//    `apply`/`create -f` validating against /openapi/v2 served as protobuf.
//  - Manifests in versions Kubernetes removed (apps/v1beta1, apps/v1beta2, extensions/v1beta1,
//    batch/v1beta1, policy/v1beta1) are accepted by every kubectl, defaulted by the old
//    version's rules, stored as the current version and answered in the version asked for.
#include <gmock/gmock.h>

#include <chrono>
#include <thread>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.h"

namespace tug::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

#define EXPECT_OK(r) EXPECT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err
#define ASSERT_OK(r) ASSERT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err

constexpr const char* kOldManifests = R"(apiVersion: extensions/v1beta1
kind: Deployment
metadata:
  name: ext
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: ext}
    spec:
      containers:
      - name: c
        image: busybox
---
apiVersion: apps/v1beta1
kind: Deployment
metadata:
  name: beta1
spec:
  template:
    metadata:
      labels: {app: beta1}
    spec:
      containers:
      - name: c
        image: busybox
---
apiVersion: apps/v1beta2
kind: DaemonSet
metadata:
  name: ds
spec:
  selector:
    matchLabels: {app: ds}
  template:
    metadata:
      labels: {app: ds}
    spec:
      containers:
      - name: c
        image: busybox
---
apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: ing
spec:
  backend:
    serviceName: web
    servicePort: 80
  rules:
  - host: a.example.com
    http:
      paths:
      - path: /
        backend: {serviceName: web, servicePort: http}
---
apiVersion: batch/v1beta1
kind: CronJob
metadata: {name: cj}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox}]
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: pdb}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: ext}}
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ext}
  maxReplicas: 4
  targetCPUUtilizationPercentage: 60
)";

class LegacyE2ETest : public ::testing::TestWithParam<KubectlVersion> {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<TugServer>();
    std::string why;
    if (!server_->Start(&why)) {
      start_error_ = why;
      server_.reset();
    }
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(server_) << start_error_;
    if (GetParam().path.empty()) GTEST_SKIP() << "kubectl 1.20 is not unpacked (tools/deps.sh does it)";
    ns_ = "legacy-" + GetParam().name;
    for (char& ch : ns_)
      if (ch == '_' || ch == '.') ch = '-';
    K({"delete", "namespace", ns_, "--wait=false"});
    auto r = K({"create", "namespace", ns_});
    // A namespace still terminating from an earlier run: wait for it to go.
    for (int i = 0; i < 100 && r.rc != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling interval
      r = K({"create", "namespace", ns_});
    }
    ASSERT_OK(r);
  }

  RunResult K(std::vector<std::string> args, const std::string& in = "") {
    args.insert(args.begin(), GetParam().path);
    return ::tug::e2e::Run(args, in, {{"KUBECONFIG", server_->kubeconfig()}, {"HOME", server_->data_dir()}});
  }
  RunResult Kn(std::vector<std::string> args, const std::string& in = "") {
    args.push_back("-n");
    args.push_back(ns_);
    return K(std::move(args), in);
  }
  nlohmann::json GetJson(const std::string& what) {
    auto r = Kn({"get", what, "-o", "json"});
    EXPECT_OK(r);
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  static std::unique_ptr<TugServer> server_;
  static std::string start_error_;
  std::string ns_;
};
std::unique_ptr<TugServer> LegacyE2ETest::server_;
std::string LegacyE2ETest::start_error_;

TEST_P(LegacyE2ETest, OldManifestsAreAcceptedDefaultedAndConverted) {
  auto r = Kn({"apply", "-f", "-"}, kOldManifests);
  ASSERT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("deployment.extensions/ext created"));
  EXPECT_THAT(r.out, HasSubstr("cronjob.batch/cj created"));
  EXPECT_THAT(r.err, Not(HasSubstr("could also match")));

  // Stored as apps/v1, with the old version's defaults (selector and labels from the template,
  // extensions' revisionHistoryLimit and rolling update of 1/1).
  auto d = GetJson("deployments.v1.apps/ext");
  EXPECT_EQ(d["apiVersion"], "apps/v1");
  EXPECT_EQ(d["spec"]["selector"]["matchLabels"]["app"], "ext");
  EXPECT_EQ(d["metadata"]["labels"]["app"], "ext");
  EXPECT_EQ(d["spec"]["revisionHistoryLimit"], 2147483647);
  EXPECT_EQ(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 1);
  EXPECT_EQ(GetJson("deployments.v1.apps/beta1")["spec"]["revisionHistoryLimit"], 2);
  // ...and answered in the version asked for.
  EXPECT_EQ(GetJson("deployments.v1beta1.extensions/ext")["apiVersion"], "extensions/v1beta1");

  auto ing = GetJson("ingresses.v1.networking.k8s.io/ing");
  EXPECT_EQ(ing["spec"]["defaultBackend"]["service"]["port"]["number"], 80);
  EXPECT_EQ(ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["name"], "http");
  auto old_ing = GetJson("ingresses.v1beta1.extensions/ing");
  EXPECT_EQ(old_ing["spec"]["backend"]["serviceName"], "web");

  auto hpa = GetJson("horizontalpodautoscalers.v2.autoscaling/hpa");
  EXPECT_EQ(hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 60);
  auto hpa1 = GetJson("horizontalpodautoscalers.v1.autoscaling/hpa");
  EXPECT_EQ(hpa1["spec"]["targetCPUUtilizationPercentage"], 60);

  // A second apply of the same manifests changes nothing that matters.
  r = Kn({"apply", "-f", "-"}, kOldManifests);
  EXPECT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("deployment.extensions/ext unchanged"));

  // Scale through the old group-version's scale subresource.
  EXPECT_OK(Kn({"scale", "deployments.v1beta1.extensions/ext", "--replicas=3"}));
  EXPECT_EQ(GetJson("deployments.v1.apps/ext")["spec"]["replicas"], 3);

  // Lists in one version show the objects created in another.
  r = Kn({"get", "deployments.v1beta2.apps", "-o", "name"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("ext"));
  EXPECT_THAT(r.out, HasSubstr("beta1"));
  EXPECT_OK(Kn({"delete", "-f", "-"}, kOldManifests));
}

TEST_P(LegacyE2ETest, BadOldManifestIsRejected) {
  // extensions/v1beta1 without a template label has no selector to default to: invalid, and
  // nothing is stored.
  auto r = Kn({"create", "--validate=false", "-f", "-"}, R"(apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: nolabels}
spec:
  template:
    spec:
      containers: [{name: c, image: busybox}]
)");
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("selector"));
  EXPECT_NE(Kn({"get", "deployment", "nolabels"}).rc, 0);
}

std::vector<KubectlVersion> Versions() {
  std::vector<KubectlVersion> out = {{"v1_20", LegacyKubectl()}};
  for (auto& v : KubectlVersions())
    if (v.name != "default") out.push_back(v);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Kubectl, LegacyE2ETest, ::testing::ValuesIn(Versions()),
                         [](const auto& info) { return info.param.name; });

// kubectl 1.20 alone: the everyday commands of a tutorial of its time.
class Kubectl120Test : public LegacyE2ETest {};

TEST_P(Kubectl120Test, EverydayCommands) {
  auto v = K({"version"});
  EXPECT_OK(v);
  EXPECT_THAT(v.out, HasSubstr("v1.20"));
  EXPECT_OK(K({"api-resources"}));
  EXPECT_OK(Kn({"create", "deployment", "web", "--image=busybox"}));
  EXPECT_OK(Kn({"create", "configmap", "cfg", "--from-literal=a=b"}));
  EXPECT_OK(Kn({"expose", "deployment", "web", "--port=80"}));
  auto g = Kn({"get", "deploy,svc,cm"});
  EXPECT_OK(g);
  EXPECT_THAT(g.out, HasSubstr("deployment.apps/web"));
  EXPECT_THAT(g.out, HasSubstr("service/web"));
  auto d = Kn({"describe", "deployment", "web"});
  EXPECT_OK(d);
  EXPECT_THAT(d.out, HasSubstr("RollingUpdateStrategy"));
  auto e = K({"explain", "deployment.spec.strategy"});
  EXPECT_OK(e);
  EXPECT_THAT(e.out, HasSubstr("rollingUpdate"));
  EXPECT_OK(Kn({"scale", "deployment", "web", "--replicas=2"}));
  EXPECT_OK(Kn({"label", "deployment", "web", "tier=fe"}));
  // create -f validates against /openapi/v2 (protobuf): an unknown field is an error.
  auto bad = Kn({"create", "-f", "-"}, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nbogus: 1\n");
  EXPECT_NE(bad.rc, 0);
  EXPECT_THAT(bad.err, HasSubstr("bogus"));
  EXPECT_OK(Kn({"delete", "deployment,svc,cm", "--all"}));
}

INSTANTIATE_TEST_SUITE_P(Kubectl, Kubectl120Test, ::testing::Values(KubectlVersion{"v1_20", LegacyKubectl()}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tug::e2e
