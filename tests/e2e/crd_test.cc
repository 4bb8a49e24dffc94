// Issue 4 item 2 acceptance: CustomResourceDefinitions with the real kubectl (oldest and newest
// shipped) against a real `tug server`: create a CRD and wait for Established, `kubectl get`
// shows the printer columns, `kubectl explain` shows the schema's fields, invalid objects are
// rejected with upstream's message, the status subresource, deleting a CRD deletes its objects
// and ends watches on them, custom objects in a deleted namespace are removed and custom objects
// are garbage-collected through their ownerReferences. One server per kubectl version; each test
// uses its own API group.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "harness.h"

namespace tug::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

#define EXPECT_OK(r) EXPECT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err
#define ASSERT_OK(r) ASSERT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err

std::vector<KubectlVersion> CrdVersions() {
  std::vector<KubectlVersion> out;
  for (auto& v : KubectlVersions())
    if (v.name != "default") out.push_back(v);
  if (out.empty()) out = KubectlVersions();
  return out;
}

// The CronTab CRD of upstream's documentation, in group `group`.
std::string CrdYaml(const std::string& group) {
  return "apiVersion: apiextensions.k8s.io/v1\n"
         "kind: CustomResourceDefinition\n"
         "metadata:\n"
         "  name: crontabs." + group + "\n"
         "spec:\n"
         "  group: " + group + "\n"
         "  scope: Namespaced\n"
         "  names:\n"
         "    plural: crontabs\n"
         "    singular: crontab\n"
         "    kind: CronTab\n"
         "    shortNames: [ct]\n"
         "  versions:\n"
         "  - name: v1\n"
         "    served: true\n"
         "    storage: true\n"
         "    subresources:\n"
         "      status: {}\n"
         "    additionalPrinterColumns:\n"
         "    - name: Spec\n"
         "      type: string\n"
         "      jsonPath: .spec.cronSpec\n"
         "    - name: Replicas\n"
         "      type: integer\n"
         "      jsonPath: .spec.replicas\n"
         "    - name: Age\n"
         "      type: date\n"
         "      jsonPath: .metadata.creationTimestamp\n"
         "    schema:\n"
         "      openAPIV3Schema:\n"
         "        type: object\n"
         "        properties:\n"
         "          spec:\n"
         "            type: object\n"
         "            description: The desired schedule of the cron tab.\n"
         "            properties:\n"
         "              cronSpec:\n"
         "                type: string\n"
         "                description: A cron schedule in five fields.\n"
         "              image:\n"
         "                type: string\n"
         "              replicas:\n"
         "                type: integer\n"
         "                minimum: 1\n"
         "                maximum: 10\n"
         "          status:\n"
         "            type: object\n"
         "            properties:\n"
         "              phase:\n"
         "                type: string\n";
}

class CrdE2ETest : public ::testing::TestWithParam<KubectlVersion> {
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
      if (work_dir_.empty()) work_dir_ = MakeTempDir("tug-e2e-crd");
    }
    cache_dir_ = work_dir_ + "/cache-" + GetParam().name;
    std::string t = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string slug;
    for (char c : t) {
      if (c == '/') break;
      slug += static_cast<char>(std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : '-');
    }
    slug = slug.substr(0, 30);
    group_ = slug + "-" + GetParam().name;
    for (char& c : group_)
      if (c == '.' || c == '_') c = '-';  // "v1_27": '_' is not valid in an API group
    group_ += ".example.com";
    ns_ = "crd-" + slug;
    ASSERT_OK(K({"create", "namespace", ns_}));
  }

  RunResult K(std::vector<std::string> args) {
    std::vector<std::string> argv = {GetParam().path, "--kubeconfig", server_->kubeconfig(), "--cache-dir", cache_dir_};
    argv.insert(argv.end(), args.begin(), args.end());
    return e2e::Run(argv);
  }
  RunResult KN(std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", ns_});
    return K(std::move(args));
  }
  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = work_dir_ + "/" + GetParam().name + "-" + group_ + "-" + name;
    std::ofstream(path) << text;
    return path;
  }
  // Polls `pred` (each call runs kubectl) until it holds or the deadline passes.
  bool Eventually(const std::function<bool()>& pred, std::chrono::seconds limit = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return pred();
  }
  // Creates the CRD and waits until it is Established and the resource is discoverable.
  void CreateCrd() {
    auto r = K({"create", "-f", WriteFile("crd.yaml", CrdYaml(group_))});
    ASSERT_OK(r);
    EXPECT_THAT(r.out, HasSubstr("customresourcedefinition.apiextensions.k8s.io/crontabs." + group_ + " created"));
    ASSERT_TRUE(Eventually([&] {
      auto w = K({"get", "crd", "crontabs." + group_, "-o",
                  "jsonpath={.status.conditions[?(@.type==\"Established\")].status}"});
      return w.rc == 0 && w.out == "True";
    })) << "CRD never became Established";
    ASSERT_TRUE(Eventually([&] { return KN({"get", "crontabs." + group_}).rc == 0; }))
        << "custom resource never became servable";
  }
  std::string CronTab(const std::string& name, const std::string& spec_yaml) {
    return "apiVersion: " + group_ + "/v1\nkind: CronTab\nmetadata:\n  name: " + name + "\nspec:\n" + spec_yaml;
  }

  static std::unique_ptr<TugServer> server_;
  static std::string server_version_;
  static std::string work_dir_;
  std::string cache_dir_;
  std::string group_;
  std::string ns_;
};

std::unique_ptr<TugServer> CrdE2ETest::server_;
std::string CrdE2ETest::server_version_;
std::string CrdE2ETest::work_dir_;

TEST_P(CrdE2ETest, GetShowsPrinterColumns) {
  CreateCrd();
  auto r = KN({"create", "-f", WriteFile("ct.yaml", CronTab("nightly", "  cronSpec: \"0 3 * * *\"\n  replicas: 2\n"))});
  ASSERT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("crontab." + group_ + "/nightly created"));
  r = KN({"get", "crontabs." + group_});
  ASSERT_OK(r);
  EXPECT_THAT(r.out, ::testing::MatchesRegex("NAME +SPEC +REPLICAS +AGE\nnightly +0 3 \\* \\* \\* +2 +[0-9]+s\n"));
  // The short name resolves through discovery.
  r = KN({"get", "ct", "-o", "jsonpath={.items[*].metadata.name}"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "nightly");
  // Unknown fields are pruned on create.
  r = KN({"create", "-f", WriteFile("extra.yaml", CronTab("extra", "  cronSpec: \"* * * * *\"\n  bogus: 1\n")),
          "--validate=false"});
  ASSERT_OK(r);
  r = KN({"get", "crontab." + group_, "extra", "-o", "jsonpath={.spec}"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, Not(HasSubstr("bogus")));
}

TEST_P(CrdE2ETest, ExplainShowsSchemaFields) {
  CreateCrd();
  auto r = K({"explain", "crontabs." + group_ + ".spec"});
  ASSERT_OK(r);
  EXPECT_THAT(r.out, HasSubstr("cronSpec"));
  EXPECT_THAT(r.out, HasSubstr("A cron schedule in five fields."));
  EXPECT_THAT(r.out, HasSubstr("replicas"));
}

TEST_P(CrdE2ETest, InvalidObjectRejected) {
  CreateCrd();
  auto r = KN({"create", "-f", WriteFile("bad.yaml", CronTab("bad", "  cronSpec: \"* * * * *\"\n  replicas: three\n")),
               "--validate=false"});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type "
                               "integer: \"string\""));
  r = KN({"create", "-f", WriteFile("big.yaml", CronTab("big", "  cronSpec: \"* * * * *\"\n  replicas: 11\n"))});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"));
  EXPECT_NE(KN({"get", "crontab." + group_, "bad"}).rc, 0);
  // An invalid CRD is refused too.
  std::string bad_crd = CrdYaml(group_);
  bad_crd.replace(bad_crd.find("name: crontabs."), 15, "name: wrongname.");
  r = K({"create", "-f", WriteFile("badcrd.yaml", bad_crd)});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("must be spec.names.plural+\".\"+spec.group"));
}

TEST_P(CrdE2ETest, StatusSubresource) {
  CreateCrd();
  auto r = KN({"create", "-f",
               WriteFile("st.yaml", CronTab("st", "  cronSpec: \"* * * * *\"\n") + "status:\n  phase: Ignored\n")});
  ASSERT_OK(r);
  // Status is not written through the main resource.
  r = KN({"get", "crontab." + group_, "st", "-o", "jsonpath={.status.phase}"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "");
  r = KN({"patch", "crontab." + group_, "st", "--subresource=status", "--type=merge", "-p",
          R"({"status":{"phase":"Running"}})"});
  ASSERT_OK(r);
  r = KN({"get", "crontab." + group_, "st", "-o", "jsonpath={.status.phase}"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "Running");
  // Spec changes through the status subresource are ignored.
  r = KN({"patch", "crontab." + group_, "st", "--subresource=status", "--type=merge", "-p",
          R"({"spec":{"image":"ignored"}})"});
  EXPECT_OK(r);
  r = KN({"get", "crontab." + group_, "st", "-o", "jsonpath={.spec.image}"});
  EXPECT_EQ(r.out, "");
  // Strategic merge patch is not supported for custom resources.
  r = KN({"patch", "crontab." + group_, "st", "--type=strategic", "-p", R"({"spec":{"image":"x"}})"});
  EXPECT_NE(r.rc, 0);
}

TEST_P(CrdE2ETest, DeletingCrdDeletesObjects) {
  CreateCrd();
  ASSERT_OK(KN({"create", "-f", WriteFile("a.yaml", CronTab("a", "  cronSpec: \"* * * * *\"\n"))}));
  ASSERT_OK(KN({"create", "-f", WriteFile("b.yaml", CronTab("b", "  cronSpec: \"* * * * *\"\n"))}));
  auto r = K({"delete", "crd", "crontabs." + group_, "--wait=true", "--timeout=60s"});
  ASSERT_OK(r);
  ASSERT_TRUE(Eventually([&] { return KN({"get", "crontabs." + group_}).rc != 0; }))
      << "resource still served after its CRD was deleted";
  // Recreating the CRD does not bring the objects back.
  CreateCrd();
  r = KN({"get", "crontabs." + group_, "-o", "jsonpath={.items[*].metadata.name}"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "");
}

// The namespace controller finds custom resources by discovery: a namespace holding custom
// objects is emptied and finishes.
TEST_P(CrdE2ETest, NamespaceDeletionRemovesCustomObjects) {
  CreateCrd();
  const std::string doomed = ns_ + "-doomed";
  ASSERT_OK(K({"create", "namespace", doomed}));
  ASSERT_OK(K({"-n", doomed, "create", "-f", WriteFile("d.yaml", CronTab("in-doomed", "  cronSpec: \"* * * * *\"\n"))}));
  auto r = K({"delete", "namespace", doomed, "--wait=true", "--timeout=60s"});
  ASSERT_OK(r);
  r = K({"get", "namespace", doomed});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("not found"));
  r = K({"get", "crontabs." + group_, "-A", "-o", "jsonpath={.items[*].metadata.name}"});
  EXPECT_OK(r);
  EXPECT_THAT(r.out, Not(HasSubstr("in-doomed")));
}

// The garbage collector follows ownerReferences from custom objects: a CronTab owned by a
// ConfigMap goes when the ConfigMap is deleted.
TEST_P(CrdE2ETest, CustomObjectOwnedByConfigMapIsCollected) {
  CreateCrd();
  ASSERT_OK(KN({"create", "configmap", "owner", "--from-literal=k=v"}));
  auto uid = KN({"get", "configmap", "owner", "-o", "jsonpath={.metadata.uid}"});
  ASSERT_OK(uid);
  ASSERT_FALSE(uid.out.empty());
  std::string owned = "apiVersion: " + group_ + "/v1\nkind: CronTab\nmetadata:\n  name: owned\n"
                      "  ownerReferences:\n  - apiVersion: v1\n    kind: ConfigMap\n    name: owner\n    uid: " +
                      uid.out + "\nspec:\n  cronSpec: \"* * * * *\"\n";
  ASSERT_OK(KN({"create", "-f", WriteFile("owned.yaml", owned)}));
  ASSERT_OK(KN({"create", "-f", WriteFile("free.yaml", CronTab("free", "  cronSpec: \"* * * * *\"\n"))}));
  ASSERT_OK(KN({"delete", "configmap", "owner"}));
  EXPECT_TRUE(Eventually([&] {
    auto g = KN({"get", "crontab." + group_, "owned"});
    return g.rc != 0 && g.err.find("NotFound") != std::string::npos;
  })) << "the owned CronTab was not collected";
  EXPECT_OK(KN({"get", "crontab." + group_, "free"}));
}

// `kubectl get -w` on custom objects ends when their CRD is deleted (the server closes the
// watch instead of leaving it open on a resource that is no longer served).
TEST_P(CrdE2ETest, DeletingCrdEndsWatches) {
  CreateCrd();
  ASSERT_OK(KN({"create", "-f", WriteFile("w.yaml", CronTab("watched", "  cronSpec: \"* * * * *\"\n"))}));
  Background watch({GetParam().path, "--kubeconfig", server_->kubeconfig(), "--cache-dir", cache_dir_, "-n", ns_, "get",
                    "crontabs." + group_, "-w"});
  ASSERT_TRUE(watch.WaitFor("watched")) << watch.Output();
  ASSERT_OK(K({"delete", "crd", "crontabs." + group_, "--wait=true", "--timeout=60s"}));
  EXPECT_NE(watch.Wait(std::chrono::seconds(30)), -2) << "the watch stayed open: " << watch.Output();
}

INSTANTIATE_TEST_SUITE_P(Kubectl, CrdE2ETest, ::testing::ValuesIn(CrdVersions()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tug::e2e
