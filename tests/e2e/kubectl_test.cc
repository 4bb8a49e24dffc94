// Issue 3 acceptance: the real kubectl (oldest shipped, default, newest) against a real
// `tug server` on the embedded store. One server per kubectl version; one namespace per test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "harness.h"

namespace tug::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

class KubectlTest : public ::testing::TestWithParam<KubectlVersion> {
 protected:
  static void SetUpTestSuite() {}
  static void TearDownTestSuite() {
    server_.reset();
    RemoveTree(work_dir_);
  }

  void SetUp() override {
    if (!server_ || server_version_ != GetParam().name) {
      server_.reset();
      server_ = std::make_unique<TugServer>();
      server_version_ = GetParam().name;
      std::string why;
      ASSERT_TRUE(server_->Start(&why)) << why;
      if (work_dir_.empty()) work_dir_ = MakeTempDir("tug-e2e-work");
    }
    cache_dir_ = work_dir_ + "/cache-" + GetParam().name;
    // A namespace per test: lower-case test name plus version.
    std::string t = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ns_ = "t-";
    for (char c : t) {
      if (c == '/') break;
      ns_ += static_cast<char>(std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '-');
    }
    ns_ = ns_.substr(0, 50);
    auto r = K({"create", "namespace", ns_});
    ASSERT_EQ(r.rc, 0) << r.err;
    ASSERT_EQ(r.out, "namespace/" + ns_ + " created\n");
  }

  // Runs kubectl (the version under test) with the server's kubeconfig.
  RunResult K(std::vector<std::string> args, const std::string& stdin_text = "",
              std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv = {GetParam().path, "--kubeconfig", server_->kubeconfig(), "--cache-dir", cache_dir_};
    argv.insert(argv.end(), args.begin(), args.end());
    return e2e::Run(argv, stdin_text, env);
  }
  // kubectl in the test's namespace.
  RunResult KN(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), {"-n", ns_});
    return K(args, stdin_text);
  }
  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string path = work_dir_ + "/" + ns_ + "-" + name;
    std::ofstream(path) << content;
    return path;
  }
  std::vector<std::string> KubectlArgv(std::vector<std::string> args) {
    std::vector<std::string> argv = {GetParam().path, "--kubeconfig", server_->kubeconfig(), "--cache-dir", cache_dir_,
                                     "-n", ns_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  static std::unique_ptr<TugServer> server_;
  static std::string server_version_;
  static std::string work_dir_;
  std::string cache_dir_;
  std::string ns_;
};

std::unique_ptr<TugServer> KubectlTest::server_;
std::string KubectlTest::server_version_;
std::string KubectlTest::work_dir_;

#define EXPECT_OK(r) EXPECT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err
#define ASSERT_OK(r) ASSERT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err

const char kDeployment[] = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels:
    app: app
spec:
  replicas: REPLICAS
  selector:
    matchLabels:
      app: app
  template:
    metadata:
      labels:
        app: app
    spec:
      containers:
      - name: main
        image: busybox:1.36
        ports:
        - containerPort: 8080
)";

std::string DeploymentYaml(int replicas) {
  std::string s = kDeployment;
  s.replace(s.find("REPLICAS"), 8, std::to_string(replicas));
  return s;
}

TEST_P(KubectlTest, VersionAndApiResources) {
  auto r = K({"version"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("Server Version: "));
  EXPECT_THAT(r.out, HasSubstr("v1.33.0+tug"));  // 1.27 prints the whole version.Info struct
  r = K({"api-resources"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\ndeployments +deploy +apps/v1 +true +Deployment\n(.|\n)*"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\npods +po +v1 +true +Pod\n(.|\n)*"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\nnamespaces +ns +v1 +false +Namespace\n(.|\n)*"));
  EXPECT_THAT(r.out, HasSubstr("cronjobs"));
  EXPECT_THAT(r.out, HasSubstr("horizontalpodautoscalers"));
}

TEST_P(KubectlTest, FreshClusterObjects) {
  auto r = K({"get", "namespaces"});
  EXPECT_OK(r);
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"})
    EXPECT_THAT(r.out, MatchesRegex(std::string("(.|\n)*\n") + ns + " +Active +[0-9]+[smh]\n(.|\n)*"));
  r = K({"get", "service", "kubernetes", "-n", "default"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\\(S\\) +AGE\n"
                                  "kubernetes +ClusterIP +10\\.43\\.0\\.1 +<none> +443/TCP +[0-9]+[smh]\n"));
}

TEST_P(KubectlTest, CreateDeploymentIsDefaultedLikeUpstream) {
  auto r = KN({"create", "deployment", "web", "--image=busybox"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web created\n");
  r = KN({"get", "deployment", "web"});
  EXPECT_OK(r);
  // The Deployment controller makes the ReplicaSet at once (UP-TO-DATE 0 -> 1); without nodes
  // no pod becomes ready.
  EXPECT_THAT(r.out, MatchesRegex("NAME +READY +UP-TO-DATE +AVAILABLE +AGE\nweb +0/1 +[01] +0 +[0-9]+s\n"));
  r = KN({"get", "deployment", "web", "-o", "wide"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("CONTAINERS"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*web +0/1 +[01] +0 +[0-9]+s +busybox +busybox +app=web\n"));
  r = KN({"get", "deployment", "web", "-o", "yaml"});
  EXPECT_OK(r);
  for (const char* want : {"replicas: 1", "revisionHistoryLimit: 10", "progressDeadlineSeconds: 600",
                           "maxSurge: 25%", "maxUnavailable: 25%", "type: RollingUpdate",
                           "imagePullPolicy: Always", "terminationMessagePath: /dev/termination-log",
                           "terminationMessagePolicy: File", "dnsPolicy: ClusterFirst", "restartPolicy: Always",
                           "schedulerName: default-scheduler", "terminationGracePeriodSeconds: 30",
                           "securityContext: {}", "generation: 1", "uid: ", "creationTimestamp: "})
    EXPECT_THAT(r.out, HasSubstr(want));
  r = KN({"get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "busybox");
  r = KN({"get", "deployment", "web", "-o", "name"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web\n");
  r = KN({"get", "deployment", "web", "-o", "json"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("\"kind\": \"Deployment\""));
}

TEST_P(KubectlTest, ConfigMapSecretService) {
  auto r = KN({"create", "configmap", "c1", "--from-literal=k=v", "--from-literal=k2=v2"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "configmap/c1 created\n");
  r = KN({"get", "configmap", "c1"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("NAME +DATA +AGE\nc1 +2 +[0-9]+s\n"));
  r = KN({"create", "secret", "generic", "s1", "--from-literal=user=admin", "--from-literal=pw=s3cret"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "secret/s1 created\n");
  r = KN({"get", "secret", "s1"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("NAME +TYPE +DATA +AGE\ns1 +Opaque +2 +[0-9]+s\n"));
  r = KN({"get", "secret", "s1", "-o", "jsonpath={.data.user}"});
  EXPECT_EQ(r.out, "YWRtaW4=");
  r = KN({"create", "service", "clusterip", "svc1", "--tcp=80:8080"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "service/svc1 created\n");
  r = KN({"get", "service", "svc1"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\\(S\\) +AGE\n"
                                  "svc1 +ClusterIP +10\\.43\\.[0-9]+\\.[0-9]+ +<none> +80/TCP +[0-9]+s\n"));
  r = KN({"create", "service", "nodeport", "np1", "--tcp=80:8080"});
  ASSERT_OK(r);
  r = KN({"get", "service", "np1"});
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*np1 +NodePort +10\\.43\\.[0-9.]+ +<none> +80:3[0-9]{4}/TCP +[0-9]+s\n"));
}

TEST_P(KubectlTest, GetSelectorsSortingAndAllNamespaces) {
  ASSERT_OK(KN({"create", "configmap", "b", "--from-literal=x=1"}));
  ASSERT_OK(KN({"create", "configmap", "a", "--from-literal=x=1", "--from-literal=y=2"}));
  ASSERT_OK(KN({"create", "configmap", "c"}));
  ASSERT_OK(KN({"label", "configmap", "a", "tier=web"}));
  ASSERT_OK(KN({"label", "configmap", "c", "tier=db"}));
  auto r = KN({"get", "cm", "-l", "tier=web", "-o", "name"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "configmap/a\n");
  r = KN({"get", "cm", "-l", "tier in (web,db)", "-o", "name"});
  EXPECT_EQ(r.out, "configmap/a\nconfigmap/c\n");
  r = KN({"get", "cm", "-l", "!tier", "-o", "name"});
  EXPECT_THAT(r.out, HasSubstr("configmap/b\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("configmap/a")));
  r = KN({"get", "cm", "--field-selector", "metadata.name=b", "-o", "name"});
  EXPECT_EQ(r.out, "configmap/b\n");
  r = KN({"get", "cm", "--field-selector", "metadata.name!=b", "-l", "tier", "-o", "name"});
  EXPECT_EQ(r.out, "configmap/a\nconfigmap/c\n");
  r = KN({"get", "cm", "--sort-by", "{.metadata.name}", "-l", "tier", "--show-labels"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("NAME +DATA +AGE +LABELS\na +2 +[0-9]+s +tier=web\nc +0 +[0-9]+s +tier=db\n"));
  r = K({"get", "cm", "-A", "-l", "tier=db"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("NAMESPACE +NAME +DATA +AGE\n" + ns_ + " +c +0 +[0-9]+s\n"));
  r = KN({"get", "cm", "--field-selector", "spec.bogus=1"});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("field label not supported: spec.bogus"));
}

TEST_P(KubectlTest, Watch) {
  Background w(KubectlArgv({"get", "configmaps", "-w"}));
  // Header line appears (empty list prints "No resources found" to stderr first in some versions).
  ASSERT_OK(KN({"create", "configmap", "watched", "--from-literal=a=b"}));
  EXPECT_TRUE(w.WaitFor("watched")) << w.Output();
  ASSERT_OK(KN({"label", "configmap", "watched", "x=y"}));
  ASSERT_OK(KN({"delete", "configmap", "watched"}));
  // The stream stays open: the process is still running.
  EXPECT_EQ(w.Wait(std::chrono::milliseconds(300)), -2);
  w.Stop();
  Background wj(KubectlArgv({"get", "configmap", "-w", "-o", "name"}));
  ASSERT_OK(KN({"create", "configmap", "watched2"}));
  EXPECT_TRUE(wj.WaitFor("configmap/watched2")) << wj.Output();
}

TEST_P(KubectlTest, DescribeAndExplain) {
  ASSERT_OK(KN({"create", "deployment", "web", "--image=busybox", "--replicas=2"}));
  auto r = KN({"describe", "deployment", "web"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("Name: +web\n(.|\n)*"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\nNamespace: +" + ns_ + "\n(.|\n)*"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\nStrategyType: +RollingUpdate\n(.|\n)*"));
  EXPECT_THAT(r.out, HasSubstr("busybox"));
  r = KN({"describe", "namespace", ns_});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*Status: +Active\n(.|\n)*"));
  r = K({"explain", "deployment.spec.replicas"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("KIND:"));
  EXPECT_THAT(r.out, HasSubstr("Deployment"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*FIELD: +replicas <integer>(.|\n)*"));
  r = K({"explain", "pods.spec.containers"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("image"));
  EXPECT_THAT(r.out, HasSubstr("name"));
}

TEST_P(KubectlTest, ApplyDiffPatchReplaceScale) {
  std::string f2 = WriteFile("deploy2.yaml", DeploymentYaml(2));
  std::string f3 = WriteFile("deploy3.yaml", DeploymentYaml(3));
  auto r = KN({"apply", "-f", f2});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/app created\n");
  r = KN({"apply", "-f", f2});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/app unchanged\n");
  r = KN({"diff", "-f", f3});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_THAT(r.out, HasSubstr("-  replicas: 2"));
  EXPECT_THAT(r.out, HasSubstr("+  replicas: 3"));
  r = KN({"apply", "-f", f3});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/app configured\n");
  r = KN({"get", "deploy", "app", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"});
  EXPECT_EQ(r.out, "3 2");
  r = KN({"diff", "-f", f3});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;

  r = KN({"patch", "deployment", "app", "-p", R"({"spec":{"replicas":4}})"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/app patched\n");
  r = KN({"patch", "deployment", "app", "-p", R"({"spec":{"replicas":4}})"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/app patched (no change)\n");
  r = KN({"patch", "deployment", "app", "--type", "merge", "-p", R"({"metadata":{"labels":{"m":"1"}}})"});
  EXPECT_OK(r);
  r = KN({"patch", "deployment", "app", "--type", "json", "-p",
          R"([{"op":"replace","path":"/spec/replicas","value":5}])"});
  EXPECT_OK(r);
  r = KN({"patch", "deployment", "app", "-p",
          R"({"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.35"}]}}}})"});
  EXPECT_OK(r);
  r = KN({"get", "deploy", "app", "-o",
          "jsonpath={.spec.replicas} {.metadata.labels.m} {.spec.template.spec.containers[*].name}"});
  EXPECT_EQ(r.out, "5 1 side main");  // strategic merge: containers merged by name
  r = KN({"patch", "deployment", "app", "--type", "json", "-p", R"([{"op":"test","path":"/spec/replicas","value":9}])"});
  EXPECT_NE(r.rc, 0);

  r = KN({"scale", "deployment", "app", "--replicas=3"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/app scaled\n");
  r = KN({"scale", "deployment", "app", "--current-replicas=3", "--replicas=6"});
  EXPECT_OK(r);
  r = KN({"scale", "deployment", "app", "--current-replicas=3", "--replicas=7"});
  EXPECT_NE(r.rc, 0);
  r = KN({"get", "deploy", "app", "-o", "jsonpath={.spec.replicas}"});
  EXPECT_EQ(r.out, "6");

  r = KN({"get", "deploy", "app", "-o", "yaml"});
  ASSERT_OK(r);
  std::string y = r.out;
  y.replace(y.find("replicas: 6"), 11, "replicas: 1");
  r = KN({"replace", "-f", WriteFile("replace.yaml", y)});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/app replaced\n");
  // The same stale manifest again: its resourceVersion is now old -> Conflict.
  r = KN({"replace", "-f", WriteFile("replace.yaml", y)});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("the object has been modified; please apply your changes to the latest version and try again"));
}

TEST_P(KubectlTest, EditLabelAnnotate) {
  ASSERT_OK(KN({"create", "configmap", "e", "--from-literal=color=red"}));
  std::string editor = WriteFile("editor.sh", "#!/bin/sh\nsed -i 's/color: red/color: blue/' \"$1\"\n");
  chmod(editor.c_str(), 0755);
  auto argv = KubectlArgv({"edit", "configmap", "e"});
  auto r = e2e::Run(argv, "", {{"EDITOR", editor}, {"KUBE_EDITOR", editor}});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "configmap/e edited\n");
  r = KN({"get", "cm", "e", "-o", "jsonpath={.data.color}"});
  EXPECT_EQ(r.out, "blue");
  r = KN({"label", "cm", "e", "tier=web"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "configmap/e labeled\n");
  r = KN({"label", "cm", "e", "tier=db"});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("--overwrite is false"));
  r = KN({"label", "cm", "e", "tier=db", "--overwrite"});
  EXPECT_OK(r);
  r = KN({"label", "cm", "e", "tier-"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "configmap/e unlabeled\n");
  r = KN({"annotate", "cm", "e", "note=hello"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("configmap/e annotated?\n"));  // 1.27 prints "annotate"
  r = KN({"get", "cm", "e", "-o", "jsonpath={.metadata.annotations.note}/{.metadata.labels}"});
  EXPECT_EQ(r.out, "hello/");
}

TEST_P(KubectlTest, DeleteAndWait) {
  for (const char* n : {"d1", "d2", "d3", "d4"}) ASSERT_OK(KN({"create", "configmap", n}));
  ASSERT_OK(KN({"label", "cm", "d1", "d2", "grp=x"}));
  auto r = KN({"delete", "cm", "-l", "grp=x"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "configmap \"d1\" deleted\nconfigmap \"d2\" deleted\n");
  // A finalizer holds d3 after the delete, so the waiter surely sees it before it goes away.
  ASSERT_OK(KN({"patch", "cm", "d3", "--type", "merge", "-p", R"({"metadata":{"finalizers":["example.com/hold"]}})"}));
  r = KN({"delete", "cm", "d3", "--wait=false"});
  EXPECT_OK(r);
  r = KN({"get", "cm", "d3", "-o", "jsonpath={.metadata.deletionTimestamp}"});
  EXPECT_OK(r);
  EXPECT_FALSE(r.out.empty()) << "a deleted object with a finalizer keeps existing with a deletionTimestamp";
  Background waiter(KubectlArgv({"wait", "--for=delete", "configmap/d3", "--timeout=30s"}));
  EXPECT_EQ(waiter.Wait(std::chrono::milliseconds(1500)), -2) << waiter.Output();
  ASSERT_OK(KN({"patch", "cm", "d3", "--type", "merge", "-p", R"({"metadata":{"finalizers":null}})"}));
  EXPECT_EQ(waiter.Wait(std::chrono::seconds(30)), 0) << waiter.Output();
  EXPECT_THAT(waiter.Output(), HasSubstr("configmap/d3 condition met"));
  r = KN({"delete", "cm", "--all"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("configmap \"d4\" deleted"));
  r = KN({"get", "cm", "d4"});
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.err, "Error from server (NotFound): configmaps \"d4\" not found\n");
  r = KN({"delete", "cm", "nope"});
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.err, "Error from server (NotFound): configmaps \"nope\" not found\n");
}

TEST_P(KubectlTest, BadInputIsRejectedAndChangesNothing) {
  auto r = KN({"create", "deployment", "Bad_Name", "--image=busybox"});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
  r = K({"create", "configmap", "x", "-n", "no-such-ns"});
  EXPECT_NE(r.rc, 0);
  // kubectl 1.33 wraps it as "failed to create configmap: ..."; older ones print the Status.
  EXPECT_THAT(r.err, HasSubstr("namespaces \"no-such-ns\" not found\n"));
  std::string bad = DeploymentYaml(1);
  bad.replace(bad.find("  replicas: 1"), 13, "  replicas: 1\n  bogusField: 3");
  r = KN({"apply", "-f", WriteFile("bad.yaml", bad)});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("unknown field \"spec.bogusField\""));
  std::string neg = DeploymentYaml(-1);
  r = KN({"apply", "-f", WriteFile("neg.yaml", neg)});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("spec.replicas: Invalid value: -1: must be greater than or equal to 0"));
  r = KN({"create", "-f", WriteFile("malformed.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")});
  EXPECT_NE(r.rc, 0);
  r = KN({"get", "deploy", "-o", "name"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "");  // nothing was created by the failed requests
  r = KN({"create", "configmap", "dup"});
  ASSERT_OK(r);
  r = KN({"create", "configmap", "dup"});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("configmaps \"dup\" already exists\n"));
}

TEST_P(KubectlTest, DryRunAndGenerateName) {
  auto r = KN({"create", "configmap", "dry", "--dry-run=server"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "configmap/dry created (server dry run)\n");
  r = KN({"get", "cm", "dry"});
  EXPECT_NE(r.rc, 0);
  r = KN({"create", "-f", WriteFile("gen.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\n")});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, MatchesRegex("configmap/gen-[a-z0-9]{5} created\n"));
}

INSTANTIATE_TEST_SUITE_P(Kubectl, KubectlTest, ::testing::ValuesIn(KubectlVersions()),
                         [](const auto& info) { return info.param.name; });

// Objects survive kill -9 of the server and a restart; a second server on the same data dir
// refuses; SIGTERM stops cleanly.
TEST(ServerLifecycleTest, SurvivesKillAndRestart) {
  TugServer server;
  std::string why;
  ASSERT_TRUE(server.Start(&why)) << why;
  auto k = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"kubectl", "--kubeconfig", server.kubeconfig()};
    argv.insert(argv.end(), args.begin(), args.end());
    return e2e::Run(argv);
  };
  ASSERT_OK(k({"create", "namespace", "keep"}));
  for (int i = 0; i < 20; ++i) ASSERT_OK(k({"create", "configmap", "cm" + std::to_string(i), "-n", "keep"}));
  auto before = k({"get", "cm", "-n", "keep", "-o", "jsonpath={.items[*].metadata.resourceVersion}"});
  ASSERT_OK(before);

  // A second server on the same data dir refuses with a clear message.
  auto second = e2e::Run({TugBinary(), "server", "--data-dir", server.data_dir(), "--bind-address", "127.0.0.1", "--port",
                     std::to_string(FreePort()), "--disable-agent"},
                    "", {}, std::chrono::seconds(20));
  EXPECT_NE(second.rc, 0);
  EXPECT_THAT(second.err + second.out, HasSubstr("data dir"));

  server.Kill();
  ASSERT_TRUE(server.Start(&why)) << why;
  auto after = k({"get", "cm", "-n", "keep", "-o", "jsonpath={.items[*].metadata.resourceVersion}"});
  ASSERT_OK(after);
  EXPECT_EQ(before.out, after.out);
  ASSERT_OK(k({"create", "configmap", "later", "-n", "keep"}));
  EXPECT_EQ(server.Stop(), 0) << server.log();
  ASSERT_TRUE(server.Start(&why)) << why;
  auto r = k({"get", "cm", "later", "-n", "keep", "-o", "name"});
  EXPECT_EQ(r.out, "configmap/later\n");
}

TEST(ServerLifecycleTest, UnauthenticatedIs401) {
  TugServer server;
  std::string why;
  ASSERT_TRUE(server.Start(&why)) << why;
  auto r = e2e::Run({"kubectl", "--server", "https://127.0.0.1:" + std::to_string(server.port()),
                "--insecure-skip-tls-verify", "--token", "not-a-valid-token", "get", "pods"});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("error: You must be logged in to the server"));
}

}  // namespace
}  // namespace tug::e2e
