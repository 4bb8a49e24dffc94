// Issue 4 item 1 acceptance: server-side apply with the real kubectl (oldest and newest
// shipped) against a real `tug server`: create and change with --server-side,
// --force-conflicts, client-side apply followed by server-side apply, conflicts between field
// managers, and `get --show-managed-fields`. One server per kubectl version; one namespace per
// test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>

#include <nlohmann/json.hpp>

#include "harness.h"

namespace tug::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

#define EXPECT_OK(r) EXPECT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err
#define ASSERT_OK(r) ASSERT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err

// Only the oldest and newest kubectl: apply's client side (csaupgrade, conflict printing)
// changed between them; the default one sits in between.
std::vector<KubectlVersion> ApplyVersions() {
  std::vector<KubectlVersion> out;
  for (auto& v : KubectlVersions())
    if (v.name != "default") out.push_back(v);
  if (out.empty()) out = KubectlVersions();
  return out;
}

class ApplyE2ETest : public ::testing::TestWithParam<KubectlVersion> {
 protected:
  static void TearDownTestSuite() {
    server_.reset();
    if (!work_dir_.empty()) RemoveTree(work_dir_);
    work_dir_.clear();
  }

  void SetUp() override {
    if (!server_ || server_version_ != GetParam().name) {
      server_.reset();
      server_ = std::make_unique<TugServer>();
      server_version_ = GetParam().name;
      std::string why;
      ASSERT_TRUE(server_->Start(&why)) << why;
      if (work_dir_.empty()) work_dir_ = MakeTempDir("tug-e2e-apply");
    }
    cache_dir_ = work_dir_ + "/cache-" + GetParam().name;
    std::string t = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ns_ = "ssa-";
    for (char c : t) {
      if (c == '/') break;
      ns_ += static_cast<char>(std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '-');
    }
    ns_ = ns_.substr(0, 50);
    auto r = K({"create", "namespace", ns_});
    ASSERT_OK(r);
  }

  RunResult K(std::vector<std::string> args) {
    std::vector<std::string> argv = {GetParam().path, "--kubeconfig", server_->kubeconfig(), "--cache-dir", cache_dir_};
    argv.insert(argv.end(), args.begin(), args.end());
    return e2e::Run(argv);
  }
  RunResult KN(std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", ns_});
    return K(args);
  }
  // Writes a manifest and applies it with the extra flags.
  RunResult ApplyYaml(const std::string& yaml, std::vector<std::string> flags) {
    std::string path = work_dir_ + "/" + ns_ + "-" + std::to_string(++files_) + ".yaml";
    std::ofstream(path) << yaml;
    std::vector<std::string> args = {"apply", "-f", path};
    args.insert(args.end(), flags.begin(), flags.end());
    return KN(args);
  }
  // The live object as JSON (with managed fields).
  nlohmann::json Get(const std::string& what) {
    auto r = KN({"get", what, "-o", "json", "--show-managed-fields"});
    EXPECT_OK(r);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }
  static const nlohmann::json* Manager(const nlohmann::json& obj, const std::string& name) {
    if (!obj.contains("metadata") || !obj["metadata"].contains("managedFields")) return nullptr;
    for (const auto& e : obj["metadata"]["managedFields"])
      if (e.value("manager", "") == name) return &e;
    return nullptr;
  }

  static std::unique_ptr<TugServer> server_;
  static std::string server_version_;
  static std::string work_dir_;
  std::string cache_dir_;
  std::string ns_;
  int files_ = 0;
};

std::unique_ptr<TugServer> ApplyE2ETest::server_;
std::string ApplyE2ETest::server_version_;
std::string ApplyE2ETest::work_dir_;

// A Deployment manifest: replicas, image, and optional extra label and env var.
std::string Deploy(int replicas, const std::string& image, bool tier_label, bool env_var) {
  std::string s = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\n";
  if (tier_label) s += "    tier: frontend\n";
  s += "spec:\n  replicas: " + std::to_string(replicas) +
       "\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n"
       "    spec:\n      containers:\n      - name: main\n        image: " +
       image + "\n        ports:\n        - containerPort: 8080\n";
  if (env_var) s += "        env:\n        - name: MODE\n          value: prod\n";
  return s;
}

TEST_P(ApplyE2ETest, ServerSideCreateThenChange) {
  auto r = ApplyYaml(Deploy(2, "busybox:1.36", true, true), {"--server-side"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web serverside-applied\n");
  auto obj = Get("deployment/web");
  const auto* m = Manager(obj, "kubectl");
  ASSERT_NE(m, nullptr) << obj["metadata"].dump();
  EXPECT_EQ((*m)["operation"], "Apply");
  EXPECT_EQ((*m)["apiVersion"], "apps/v1");
  EXPECT_EQ((*m)["fieldsType"], "FieldsV1");
  EXPECT_TRUE((*m)["fieldsV1"]["f:spec"].contains("f:replicas"));
  EXPECT_EQ(obj["spec"]["replicas"], 2);

  // Change replicas and image; drop the label and the env var: they are removed.
  r = ApplyYaml(Deploy(3, "busybox:1.37", false, false), {"--server-side"});
  ASSERT_OK(r);
  obj = Get("deployment/web");
  EXPECT_EQ(obj["spec"]["replicas"], 3);
  const auto& c = obj["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["image"], "busybox:1.37");
  EXPECT_FALSE(c.contains("env")) << c.dump();
  EXPECT_FALSE(obj["metadata"]["labels"].contains("tier")) << obj["metadata"].dump();
  EXPECT_EQ(obj["metadata"]["labels"]["app"], "web");
  // Defaults nobody applied are still there.
  EXPECT_EQ(c["imagePullPolicy"], "IfNotPresent");
}

TEST_P(ApplyE2ETest, ConflictBetweenFieldManagersAndForce) {
  ASSERT_OK(ApplyYaml(Deploy(2, "busybox:1.36", false, false), {"--server-side", "--field-manager=alice"}));
  // carol takes the image (forced: alice applied it first).
  std::string carol = Deploy(2, "busybox:1.37", false, false);
  carol.erase(carol.find("  replicas: 2\n"), 14);
  ASSERT_OK(ApplyYaml(carol, {"--server-side", "--field-manager=carol", "--force-conflicts"}));
  // bob changes both: two conflicts, each reported with its owner.
  auto r = ApplyYaml(Deploy(5, "busybox:1.38", false, false), {"--server-side", "--field-manager=bob"});
  ASSERT_NE(r.rc, 0) << r.out;
  EXPECT_THAT(r.err, HasSubstr("Apply failed with 2 conflicts"));
  EXPECT_THAT(r.err, HasSubstr("conflicts with \"alice\":\n- .spec.replicas"));
  EXPECT_THAT(r.err, HasSubstr("conflicts with \"carol\":\n- .spec.template.spec.containers[name=\"main\"].image"));
  EXPECT_THAT(r.err, HasSubstr("--force-conflicts"));  // kubectl's advice
  auto obj = Get("deployment/web");
  EXPECT_EQ(obj["spec"]["replicas"], 2);  // nothing applied

  // Same values: shared ownership, no conflict.
  ASSERT_OK(ApplyYaml(Deploy(2, "busybox:1.37", false, false), {"--server-side", "--field-manager=bob"}));

  // Forced: bob takes replicas from alice.
  r = ApplyYaml(Deploy(5, "busybox:1.37", false, false), {"--server-side", "--field-manager=bob", "--force-conflicts"});
  ASSERT_OK(r);
  obj = Get("deployment/web");
  EXPECT_EQ(obj["spec"]["replicas"], 5);
  const auto* bob = Manager(obj, "bob");
  const auto* alice = Manager(obj, "alice");
  ASSERT_NE(bob, nullptr);
  ASSERT_NE(alice, nullptr);
  EXPECT_TRUE((*bob)["fieldsV1"]["f:spec"].contains("f:replicas"));
  EXPECT_FALSE((*alice)["fieldsV1"]["f:spec"].contains("f:replicas")) << alice->dump();
}

TEST_P(ApplyE2ETest, ClientSideThenServerSide) {
  auto r = ApplyYaml(Deploy(2, "busybox:1.36", true, true), {});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web created\n");
  auto obj = Get("deployment/web");
  EXPECT_NE(Manager(obj, "kubectl-client-side-apply"), nullptr) << obj["metadata"].dump();
  ASSERT_TRUE(obj["metadata"]["annotations"].contains("kubectl.kubernetes.io/last-applied-configuration"));

  // The first server-side apply neither conflicts with the client-side owner nor leaves the
  // dropped label and env var behind.
  r = ApplyYaml(Deploy(3, "busybox:1.37", false, false), {"--server-side"});
  ASSERT_OK(r);
  EXPECT_EQ(r.out, "deployment.apps/web serverside-applied\n");
  obj = Get("deployment/web");
  EXPECT_EQ(obj["spec"]["replicas"], 3);
  EXPECT_EQ(obj["spec"]["template"]["spec"]["containers"][0]["image"], "busybox:1.37");
  EXPECT_FALSE(obj["spec"]["template"]["spec"]["containers"][0].contains("env"));
  EXPECT_FALSE(obj["metadata"]["labels"].contains("tier")) << obj["metadata"].dump();
  EXPECT_EQ(Manager(obj, "kubectl-client-side-apply"), nullptr) << obj["metadata"].dump();
  const auto* m = Manager(obj, "kubectl");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ((*m)["operation"], "Apply");
  // While the annotation exists it follows the server-side applied configuration.
  if (obj["metadata"].contains("annotations") &&
      obj["metadata"]["annotations"].contains("kubectl.kubernetes.io/last-applied-configuration")) {
    auto la = nlohmann::json::parse(
        obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].get<std::string>(), nullptr,
        false);
    ASSERT_FALSE(la.is_discarded());
    EXPECT_EQ(la["spec"]["replicas"], 3);
  }

  // And back to server-side again: still no conflict.
  EXPECT_OK(ApplyYaml(Deploy(4, "busybox:1.37", false, false), {"--server-side"}));
  EXPECT_EQ(Get("deployment/web")["spec"]["replicas"], 4);
}

TEST_P(ApplyE2ETest, ShowManagedFields) {
  ASSERT_OK(ApplyYaml(Deploy(2, "busybox:1.36", false, false), {"--server-side"}));
  ASSERT_OK(KN({"scale", "deployment/web", "--replicas=4"}));
  auto r = KN({"get", "deployment", "web", "-o", "yaml", "--show-managed-fields"});
  ASSERT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("managedFields:"));
  EXPECT_THAT(r.out, HasSubstr("manager: kubectl\n"));
  EXPECT_THAT(r.out, HasSubstr("operation: Apply"));
  EXPECT_THAT(r.out, HasSubstr("fieldsType: FieldsV1"));
  EXPECT_THAT(r.out, HasSubstr("f:replicas: {}"));
  EXPECT_THAT(r.out, HasSubstr("k:{\"name\":\"main\"}:"));
  EXPECT_THAT(r.out, HasSubstr("subresource: scale"));  // kubectl scale's entry
  r = KN({"get", "deployment", "web", "-o", "yaml"});
  ASSERT_OK(r);
  EXPECT_THAT(r.out, Not(HasSubstr("managedFields:")));
  // The scale moved replicas away from the applier: re-applying 2 conflicts with it.
  r = ApplyYaml(Deploy(2, "busybox:1.36", false, false), {"--server-side"});
  ASSERT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("with subresource \"scale\" using apps/v1"));
}

TEST_P(ApplyE2ETest, ConfigMapDataOwnership) {
  const std::string a = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n  b: \"2\"\n";
  const std::string b = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n";
  ASSERT_OK(ApplyYaml(a, {"--server-side", "--field-manager=one"}));
  ASSERT_OK(ApplyYaml(b, {"--server-side", "--field-manager=two"}));  // shares data.a
  ASSERT_OK(ApplyYaml(b, {"--server-side", "--field-manager=one"}));  // drops data.b
  auto obj = Get("configmap/cfg");
  EXPECT_EQ(obj["data"], nlohmann::json::parse(R"({"a":"1"})"));
  ASSERT_OK(ApplyYaml("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n", {"--server-side", "--field-manager=one"}));
  EXPECT_EQ(Get("configmap/cfg")["data"], nlohmann::json::parse(R"({"a":"1"})"));  // two still owns it
}

INSTANTIATE_TEST_SUITE_P(Kubectl, ApplyE2ETest, ::testing::ValuesIn(ApplyVersions()),
                         [](const ::testing::TestParamInfo<KubectlVersion>& i) { return i.param.name; });

}  // namespace
}  // namespace tug::e2e
