// ServiceAccount tokens end to end (issue 5 item 5 / issue 4): `kubectl create token`, the tokens
// used as bearer credentials, `kubectl auth whoami`, bound tokens dying with their pod, the
// ServiceAccount admission's kube-api-access volume, kube-root-ca.crt in new namespaces, legacy
// token secrets and the OIDC discovery documents. Real `tug server --disable-agent` and kubectl.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "harness.h"

namespace tug::e2e {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
using namespace std::chrono_literals;

#define ASSERT_OK(r) ASSERT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return pred();
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string B64UrlDecode(std::string s) {
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4) s += '=';
  static const std::string a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : s) {
    if (c == '=') break;
    size_t p = a.find(c);
    if (p == std::string::npos) return "";
    val = (val << 6) + static_cast<int>(p);
    bits += 6;
    if (bits >= 0) {
      out += static_cast<char>((val >> bits) & 0xff);
      bits -= 8;
    }
  }
  return out;
}

Json Claims(const std::string& token) {
  size_t d1 = token.find('.'), d2 = token.find('.', d1 + 1);
  if (d1 == std::string::npos || d2 == std::string::npos) return Json();
  return Json::parse(B64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1)), nullptr, false);
}

class SaTokens : public ::testing::TestWithParam<KubectlVersion> {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TugServer>();
    std::string why;
    ASSERT_TRUE(server_->Start(&why)) << why;
    work_ = MakeTempDir("tug-e2e-sa");
    ASSERT_OK(K({"create", "namespace", "team"}));
    // The serviceaccount controller creates "default"; pods need it.
    ASSERT_TRUE(Eventually([&] { return K({"-n", "team", "get", "serviceaccount", "default"}).rc == 0; }));
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "--- tug server log ---\n" << server_->log().substr(0, 6000) << "\n";
    server_.reset();
    if (!work_.empty()) RemoveTree(work_);
  }
  RunResult K(std::vector<std::string> args, const std::string& in = "", const std::string& kubectl = "") {
    std::vector<std::string> argv = {kubectl.empty() ? GetParam().path : kubectl, "--kubeconfig", server_->kubeconfig(),
                                     "--cache-dir", work_ + "/cache"};
    argv.insert(argv.end(), args.begin(), args.end());
    return e2e::Run(argv, in, {}, 60s);
  }
  // kubectl with only a bearer token (no client certificate, which would win).
  RunResult AsToken(const std::string& token, std::vector<std::string> args) {
    std::string kc = work_ + "/token.kubeconfig";
    std::ofstream(kc) << "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:"
                      << server_->port() << "\n    certificate-authority: " << server_->data_dir()
                      << "/tls/ca.crt\nusers:\n- name: u\n  user:\n    token: " << token
                      << "\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n";
    std::vector<std::string> argv = {GetParam().path, "--kubeconfig", kc, "--cache-dir", work_ + "/cache-t"};
    argv.insert(argv.end(), args.begin(), args.end());
    return e2e::Run(argv, "", {}, 60s);
  }
  bool Is127() const { return GetParam().name == "v1_27"; }

  std::unique_ptr<TugServer> server_;
  std::string work_;
};

TEST_P(SaTokens, CreateTokenAndUseIt) {
  auto t = K({"-n", "team", "create", "token", "default"});
  ASSERT_OK(t);
  std::string token = t.out;
  while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
  Json c = Claims(token);
  ASSERT_TRUE(c.is_object()) << token;
  EXPECT_EQ(c["iss"], "https://kubernetes.default.svc.cluster.local");
  EXPECT_EQ(c["sub"], "system:serviceaccount:team:default");
  EXPECT_EQ(c["exp"].get<int64_t>() - c["iat"].get<int64_t>(), 3600);
  EXPECT_EQ(c["kubernetes.io"]["namespace"], "team");

  auto pods = AsToken(token, {"-n", "team", "get", "pods"});
  ASSERT_OK(pods);
  EXPECT_THAT(pods.err, HasSubstr("No resources found"));
  if (!Is127()) {
    auto who = AsToken(token, {"auth", "whoami"});
    ASSERT_OK(who);
    EXPECT_THAT(who.out, HasSubstr("system:serviceaccount:team:default"));
    EXPECT_THAT(who.out, HasSubstr("system:serviceaccounts:team"));
    EXPECT_THAT(who.out, HasSubstr("system:authenticated"));
    auto whoj = AsToken(token, {"auth", "whoami", "-o", "json"});
    ASSERT_OK(whoj);
    Json w = Json::parse(whoj.out, nullptr, false);
    EXPECT_EQ(w["status"]["userInfo"]["extra"]["authentication.kubernetes.io/credential-id"][0],
              "JTI=" + c["jti"].get<std::string>());
  }
  // A tampered token and a token for another audience are refused.
  std::string bad = token;
  bad[bad.size() - 5] = bad[bad.size() - 5] == 'A' ? 'B' : 'A';
  auto r = AsToken(bad, {"-n", "team", "get", "pods"});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("Unauthorized"));
  auto vault = K({"-n", "team", "create", "token", "default", "--audience", "vault", "--duration", "20m"});
  ASSERT_OK(vault);
  Json vc = Claims(vault.out.substr(0, vault.out.find_last_not_of("\n ") + 1));
  EXPECT_EQ(vc["aud"], Json::array({"vault"}));
  EXPECT_EQ(vc["exp"].get<int64_t>() - vc["iat"].get<int64_t>(), 1200);
  EXPECT_NE(AsToken(vault.out.substr(0, vault.out.find_last_not_of("\n ") + 1), {"-n", "team", "get", "pods"}).rc, 0);

  // Errors as upstream.
  auto ghost = K({"-n", "team", "create", "token", "ghost"});
  EXPECT_NE(ghost.rc, 0);
  EXPECT_THAT(ghost.err, HasSubstr("serviceaccounts \"ghost\" not found"));
  auto shortd = K({"-n", "team", "create", "token", "default", "--duration", "1m"});
  EXPECT_NE(shortd.rc, 0);
  EXPECT_THAT(shortd.err, HasSubstr("may not specify a duration less than 10 minutes"));
}

TEST_P(SaTokens, BoundTokenDiesWithItsPod) {
  ASSERT_OK(K({"-n", "team", "run", "p", "--image=busybox", "--restart=Never", "--", "sleep", "3600"}));
  auto t = K({"-n", "team", "create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name", "p"});
  ASSERT_OK(t);
  std::string token = t.out.substr(0, t.out.find_last_not_of("\n ") + 1);
  Json c = Claims(token);
  EXPECT_EQ(c["kubernetes.io"]["pod"]["name"], "p");
  ASSERT_OK(AsToken(token, {"-n", "team", "get", "pods"}));
  // No node runs it, so the delete is immediate; the token goes with the pod.
  ASSERT_OK(K({"-n", "team", "delete", "pod", "p", "--wait=true"}));
  auto r = AsToken(token, {"-n", "team", "get", "pods"});
  EXPECT_NE(r.rc, 0);
  EXPECT_THAT(r.err, HasSubstr("Unauthorized"));
}

INSTANTIATE_TEST_SUITE_P(Kubectl, SaTokens, ::testing::ValuesIn(KubectlVersions()),
                         [](const auto& i) { return i.param.name; });

class SaAdmission : public SaTokens {};

TEST_P(SaAdmission, PodsGetTheApiAccessVolumeAndRootCaIsPublished) {
  // kube-root-ca.crt in the new namespace, with the cluster CA.
  std::string ca = ReadAll(server_->data_dir() + "/tls/ca.crt");
  ASSERT_FALSE(ca.empty());
  ASSERT_TRUE(Eventually([&] { return K({"-n", "team", "get", "configmap", "kube-root-ca.crt"}).rc == 0; }));
  auto cm = K({"-n", "team", "get", "configmap", "kube-root-ca.crt", "-o", "json"});
  ASSERT_OK(cm);
  EXPECT_EQ(Json::parse(cm.out)["data"]["ca.crt"], ca);

  ASSERT_OK(K({"-n", "team", "run", "web", "--image=busybox", "--restart=Never", "--", "sleep", "3600"}));
  auto pod = K({"-n", "team", "get", "pod", "web", "-o", "json"});
  ASSERT_OK(pod);
  Json spec = Json::parse(pod.out)["spec"];
  EXPECT_EQ(spec["serviceAccountName"], "default");
  EXPECT_EQ(spec["serviceAccount"], "default");
  ASSERT_EQ(spec["volumes"].size(), 1u) << spec.dump();
  Json vol = spec["volumes"][0];
  std::string name = vol["name"];
  EXPECT_EQ(name.size(), std::string("kube-api-access-").size() + 5) << name;
  EXPECT_EQ(name.rfind("kube-api-access-", 0), 0u);
  EXPECT_EQ(vol["projected"], Json::parse(R"({"defaultMode":420,"sources":[
    {"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},
    {"configMap":{"items":[{"key":"ca.crt","path":"ca.crt"}],"name":"kube-root-ca.crt"}},
    {"downwardAPI":{"items":[{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"},"path":"namespace"}]}}]})"));
  EXPECT_EQ(spec["containers"][0]["volumeMounts"],
            Json::parse(R"([{"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","name":")" + name +
                        R"(","readOnly":true}])"));

  // A pod naming a missing service account is refused, as upstream.
  auto ghost = K({"-n", "team", "run", "ghost", "--image=busybox", "--restart=Never",
                  "--overrides={\"spec\":{\"serviceAccountName\":\"ghost\"}}"});
  EXPECT_NE(ghost.rc, 0);
  EXPECT_THAT(ghost.err, HasSubstr("pods \"ghost\" is forbidden: error looking up service account team/ghost: "
                                   "serviceaccount \"ghost\" not found"));
  // automountServiceAccountToken: false on the pod: no volume.
  auto nomount = K({"-n", "team", "run", "quiet", "--image=busybox", "--restart=Never",
                    "--overrides={\"spec\":{\"automountServiceAccountToken\":false}}"});
  ASSERT_OK(nomount);
  Json q = Json::parse(K({"-n", "team", "get", "pod", "quiet", "-o", "json"}).out);
  EXPECT_FALSE(q["spec"].contains("volumes")) << q["spec"].dump();
}

TEST_P(SaAdmission, LegacyTokenSecretsAndDiscovery) {
  ASSERT_OK(K({"-n", "team", "apply", "-f", "-"},
              "apiVersion: v1\nkind: Secret\nmetadata:\n  name: legacy\n  annotations:\n"
              "    kubernetes.io/service-account.name: default\ntype: kubernetes.io/service-account-token\n"));
  auto s = K({"-n", "team", "get", "secret", "legacy", "-o", "jsonpath={.data.token}"});
  ASSERT_OK(s);
  ASSERT_FALSE(s.out.empty());
  auto dec = e2e::Run({"base64", "-d"}, s.out);
  ASSERT_OK(dec);
  ASSERT_OK(AsToken(dec.out, {"-n", "team", "get", "pods"}));
  ASSERT_OK(K({"-n", "team", "delete", "secret", "legacy"}));
  EXPECT_NE(AsToken(dec.out, {"-n", "team", "get", "pods"}).rc, 0);

  auto oidc = K({"get", "--raw", "/.well-known/openid-configuration"});
  ASSERT_OK(oidc);
  EXPECT_EQ(Json::parse(oidc.out)["issuer"], "https://kubernetes.default.svc.cluster.local");
  auto jwks = K({"get", "--raw", "/openid/v1/jwks"});
  ASSERT_OK(jwks);
  EXPECT_EQ(Json::parse(jwks.out)["keys"][0]["alg"], "ES256");
}

// The admission and discovery checks do not depend on the client version: the default kubectl.
INSTANTIATE_TEST_SUITE_P(Kubectl, SaAdmission, ::testing::Values(KubectlVersion{"default", "kubectl"}),
                         [](const auto& i) { return i.param.name; });

}  // namespace
}  // namespace tug::e2e
