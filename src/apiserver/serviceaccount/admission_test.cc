#include "apiserver/serviceaccount/admission.h"

#include <gtest/gtest.h>

#include "apiserver/serviceaccount/test_util.h"

namespace tug::apiserver::serviceaccount {
namespace {

std::string Fixed() { return "abcde"; }

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    objs_.Put("serviceaccounts", "ns1", "default", "sa-uid");
    objs_.Put("serviceaccounts", "ns1", "nomount", "nm-uid", {{"automountServiceAccountToken", false}});
    objs_.Put("serviceaccounts", "ns1", "puller", "p-uid", {{"imagePullSecrets", {{{"name", "regcred"}}}}});
  }
  testing::Objects objs_;
};

Json Pod(Json spec) {
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "p"}, {"namespace", "ns1"}}}, {"spec", spec}};
}

TEST_F(AdmissionTest, DefaultPodGetsTheApiAccessVolumeAsUpstream) {
  Json pod = Pod({{"initContainers", {{{"name", "i"}, {"image", "busybox"}}}},
                  {"containers", {{{"name", "c"}, {"image", "busybox"}, {"volumeMounts", {{{"name", "data"}, {"mountPath", "/data"}}}}}}},
                  {"volumes", {{{"name", "data"}, {"emptyDir", Json::object()}}}}});
  ASSERT_TRUE(AdmitPod(pod, "ns1", objs_.Getter(), Fixed).ok());
  const Json& spec = pod["spec"];
  EXPECT_EQ(spec["serviceAccountName"], "default");
  EXPECT_EQ(spec["serviceAccount"], "default");
  Json want_vol = Json::parse(R"({"name":"kube-api-access-abcde","projected":{"defaultMode":420,"sources":[
    {"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},
    {"configMap":{"items":[{"key":"ca.crt","path":"ca.crt"}],"name":"kube-root-ca.crt"}},
    {"downwardAPI":{"items":[{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"},"path":"namespace"}]}}]}})");
  ASSERT_EQ(spec["volumes"].size(), 2u);
  EXPECT_EQ(spec["volumes"][1], want_vol);
  Json want_mount = {{"name", "kube-api-access-abcde"}, {"readOnly", true}, {"mountPath", kTokenMountPath}};
  EXPECT_EQ(spec["containers"][0]["volumeMounts"].size(), 2u);
  EXPECT_EQ(spec["containers"][0]["volumeMounts"][1], want_mount);
  EXPECT_EQ(spec["initContainers"][0]["volumeMounts"], Json::array({want_mount}));
}

TEST_F(AdmissionTest, Cases) {
  struct Case {
    const char* name;
    Json spec;
    bool ok;
    std::string msg;       // error substring
    bool mounted;          // got the volume
    std::string sa;        // resulting serviceAccountName
  } cases[] = {
      {"MissingAccount", {{"serviceAccountName", "ghost"}, {"containers", {{{"name", "c"}}}}}, false,
       "pods \"p\" is forbidden: error looking up service account ns1/ghost: serviceaccount \"ghost\" not found", false, ""},
      {"PodOptsOut", {{"automountServiceAccountToken", false}, {"containers", {{{"name", "c"}}}}}, true, "", false, "default"},
      {"AccountOptsOut", {{"serviceAccountName", "nomount"}, {"containers", {{{"name", "c"}}}}}, true, "", false, "nomount"},
      {"PodOverridesAccount", {{"serviceAccountName", "nomount"}, {"automountServiceAccountToken", true},
                               {"containers", {{{"name", "c"}}}}}, true, "", true, "nomount"},
      {"DeprecatedAlias", {{"serviceAccount", "nomount"}, {"containers", {{{"name", "c"}}}}}, true, "", false, "nomount"},
      {"OwnMountAtThePath", {{"containers", {{{"name", "c"}, {"volumeMounts", {{{"name", "x"}, {"mountPath", kTokenMountPath}}}}}}},
                             {"volumes", {{{"name", "x"}, {"emptyDir", Json::object()}}}}}, true, "", false, "default"},
  };
  for (const auto& c : cases) {
    Json pod = Pod(c.spec);
    Status st = AdmitPod(pod, "ns1", objs_.Getter(), Fixed);
    EXPECT_EQ(st.ok(), c.ok) << c.name << ": " << st.ToString();
    if (!c.ok) {
      EXPECT_EQ(st.code(), StatusCode::kForbidden) << c.name;
      EXPECT_EQ(st.message(), c.msg) << c.name;
      continue;
    }
    bool mounted = false;
    if (const Json* v = FindPath(pod, {"spec", "volumes"}))
      for (const auto& vol : *v)
        if (GetString(vol, "name") == "kube-api-access-abcde") mounted = true;
    EXPECT_EQ(mounted, c.mounted) << c.name;
    EXPECT_EQ(pod["spec"]["serviceAccountName"], c.sa) << c.name;
    EXPECT_EQ(pod["spec"]["serviceAccount"], c.sa) << c.name;
  }
}

TEST_F(AdmissionTest, ImagePullSecretsAndMirrorPods) {
  Json pod = Pod({{"serviceAccountName", "puller"}, {"containers", {{{"name", "c"}}}}});
  ASSERT_TRUE(AdmitPod(pod, "ns1", objs_.Getter(), Fixed).ok());
  EXPECT_EQ(pod["spec"]["imagePullSecrets"], Json::parse(R"([{"name":"regcred"}])"));

  Json mirror = Pod({{"containers", {{{"name", "c"}}}}});
  mirror["metadata"]["annotations"] = {{"kubernetes.io/config.mirror", "x"}};
  ASSERT_TRUE(AdmitPod(mirror, "ns1", objs_.Getter(), Fixed).ok());
  EXPECT_FALSE(mirror["spec"].contains("serviceAccountName"));
  EXPECT_FALSE(mirror["spec"].contains("volumes"));
  mirror["spec"]["volumes"] = {{{"name", "s"}, {"secret", {{"secretName", "x"}}}}};
  Status st = AdmitPod(mirror, "ns1", objs_.Getter(), Fixed);
  EXPECT_EQ(st.code(), StatusCode::kForbidden);
  EXPECT_NE(st.message().find("a mirror pod may not reference secrets"), std::string::npos);
}

TEST_F(AdmissionTest, RandomSuffixAlphabet) {
  for (int i = 0; i < 50; ++i) {
    std::string s = RandomSuffix();
    ASSERT_EQ(s.size(), 5u);
    for (char ch : s) EXPECT_NE(std::string("bcdfghjklmnpqrstvwxz2456789").find(ch), std::string::npos);
  }
}

TEST_F(AdmissionTest, LegacyTokenSecretIsFilled) {
  TokenOptions o;
  o.ca_pem = "CA-PEM";
  auto svc = NewTokenService(testing::NewKeyPem(), objs_.Getter(), o);
  ASSERT_TRUE(svc.ok());
  Json secret = {{"metadata", {{"name", "legacy"}, {"annotations", {{"kubernetes.io/service-account.name", "default"}}}}},
                 {"type", "kubernetes.io/service-account-token"}};
  ASSERT_TRUE(AdmitCreate("", "secrets", "ns1", secret, objs_.Getter(), **svc).ok());
  EXPECT_EQ(secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"], "sa-uid");
  EXPECT_EQ(*Base64Decode(secret["data"]["ca.crt"].get<std::string>()), "CA-PEM");
  EXPECT_EQ(*Base64Decode(secret["data"]["namespace"].get<std::string>()), "ns1");
  std::string token = *Base64Decode(secret["data"]["token"].get<std::string>());
  // Stored, the token authenticates as the service account.
  objs_.Set("secrets", "ns1", "legacy", secret);
  auto u = (*svc)->Validate(token);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->name, "system:serviceaccount:ns1:default");
  // An opaque secret is left alone; a token secret for a missing account is refused.
  Json opaque = {{"metadata", {{"name", "o"}}}, {"type", "Opaque"}};
  Json before = opaque;
  ASSERT_TRUE(AdmitCreate("", "secrets", "ns1", opaque, objs_.Getter(), **svc).ok());
  EXPECT_EQ(opaque, before);
  Json ghost = {{"metadata", {{"name", "g"}, {"annotations", {{"kubernetes.io/service-account.name", "ghost"}}}}},
                {"type", "kubernetes.io/service-account-token"}};
  EXPECT_EQ(AdmitCreate("", "secrets", "ns1", ghost, objs_.Getter(), **svc).code(), StatusCode::kForbidden);
}

}  // namespace
}  // namespace tug::apiserver::serviceaccount
