#include "apiserver/pki/pki.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

namespace tug::apiserver::pki {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "tug-pki-XXXXXX").string();
    path_ = mkdtemp(t.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CertDeleter {
  void operator()(X509* c) const { X509_free(c); }
};
using Cert = std::unique_ptr<X509, CertDeleter>;

Cert Load(const std::string& path) {
  auto pem = ReadFile(path);
  EXPECT_TRUE(pem.ok()) << path;
  BIO* b = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  Cert c(PEM_read_bio_X509(b, nullptr, nullptr, nullptr));
  BIO_free(b);
  EXPECT_NE(c, nullptr);
  return c;
}

bool SignedBy(X509* leaf, X509* ca) {
  EVP_PKEY* k = X509_get0_pubkey(ca);
  return X509_verify(leaf, k) == 1;
}

std::string Subject(X509* c) {
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(c), buf, sizeof buf);
  return buf;
}

int Mode(const std::string& p) {
  struct stat st;
  EXPECT_EQ(stat(p.c_str(), &st), 0);
  return st.st_mode & 0777;
}

TEST(PkiTest, FirstStartCreatesEverythingAndCertsVerify) {
  TempDir dir;
  PkiOptions o{dir.path(), "0.0.0.0", 16443, "tug-test-host"};
  auto r = EnsurePki(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->created_ca);
  EXPECT_TRUE(r->created_serving);
  EXPECT_TRUE(r->created_admin);
  Cert ca = Load(r->ca_cert), serving = Load(r->serving_cert), admin = Load(r->admin_cert);
  EXPECT_TRUE(SignedBy(ca.get(), ca.get()));
  EXPECT_TRUE(SignedBy(serving.get(), ca.get()));
  EXPECT_TRUE(SignedBy(admin.get(), ca.get()));
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_check_ca(serving.get()), 0);

  for (const char* ip : {"127.0.0.1", "10.43.0.1"}) EXPECT_EQ(X509_check_ip_asc(serving.get(), ip, 0), 1) << ip;
  for (const char* host : {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                           "kubernetes.default.svc.cluster.local", "tug-test-host"})
    EXPECT_EQ(X509_check_host(serving.get(), host, 0, 0, nullptr), 1) << host;
  EXPECT_NE(X509_check_host(serving.get(), "example.com", 0, 0, nullptr), 1);

  EXPECT_EQ(Subject(admin.get()), "/O=system:masters/CN=system:admin");
  // Purposes: the serving cert is for servers, the admin cert for clients.
  EXPECT_EQ(X509_check_purpose(serving.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_check_purpose(admin.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_NE(X509_check_purpose(admin.get(), X509_PURPOSE_SSL_SERVER, 0), 1);

  for (const auto& k : {r->ca_key, r->serving_key, r->admin_key, r->kubeconfig}) EXPECT_EQ(Mode(k), 0600) << k;

  auto kc = ReadFile(r->kubeconfig);
  ASSERT_TRUE(kc.ok());
  EXPECT_NE(kc->find("server: https://127.0.0.1:16443\n"), std::string::npos);
  EXPECT_NE(kc->find("certificate-authority-data: "), std::string::npos);
  EXPECT_NE(kc->find("client-certificate-data: "), std::string::npos);
  EXPECT_NE(kc->find("client-key-data: "), std::string::npos);
  EXPECT_NE(kc->find("current-context: default"), std::string::npos);
  // No temp files left behind.
  for (auto& e : std::filesystem::recursive_directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(PkiTest, SecondStartReusesAndBindChangeRegeneratesServingOnly) {
  TempDir dir;
  PkiOptions o{dir.path(), "0.0.0.0", 6443, "tug-test-host"};
  auto first = EnsurePki(o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto ca_pem = ReadFile(first->ca_cert), serving_pem = ReadFile(first->serving_cert),
       admin_pem = ReadFile(first->admin_cert);

  auto second = EnsurePki(o);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created_ca);
  EXPECT_FALSE(second->created_serving);
  EXPECT_FALSE(second->created_admin);
  EXPECT_EQ(*ReadFile(second->serving_cert), *serving_pem);

  // A new port only rewrites the kubeconfig.
  o.port = 7443;
  auto third = EnsurePki(o);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->created_serving);
  EXPECT_NE(ReadFile(third->kubeconfig)->find("https://127.0.0.1:7443"), std::string::npos);

  // A specific bind address not in the SANs: new serving cert, same CA and admin cert.
  o.bind_address = "10.250.3.4";
  auto fourth = EnsurePki(o);
  ASSERT_TRUE(fourth.ok());
  EXPECT_FALSE(fourth->created_ca);
  EXPECT_TRUE(fourth->created_serving);
  EXPECT_FALSE(fourth->created_admin);
  EXPECT_EQ(*ReadFile(fourth->ca_cert), *ca_pem);
  EXPECT_EQ(*ReadFile(fourth->admin_cert), *admin_pem);
  Cert serving = Load(fourth->serving_cert);
  EXPECT_EQ(X509_check_ip_asc(serving.get(), "10.250.3.4", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(serving.get(), "127.0.0.1", 0), 1);
  EXPECT_NE(ReadFile(fourth->kubeconfig)->find("server: https://10.250.3.4:7443\n"), std::string::npos);
}

TEST(PkiTest, CorruptCaIsAnErrorNotReplaced) {
  TempDir dir;
  PkiOptions o{dir.path(), "127.0.0.1", 6443, "h"};
  ASSERT_TRUE(EnsurePki(o).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/tls/ca.crt", "garbage", 0644).ok());
  auto r = EnsurePki(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("CA"), std::string::npos);
  EXPECT_EQ(*ReadFile(dir.path() + "/tls/ca.crt"), "garbage");
}

TEST(PkiTest, ServiceAccountKeyCreatedOnceAndReused) {
  TempDir dir;
  PkiOptions o{dir.path(), "127.0.0.1", 6443, "h"};
  auto first = EnsurePki(o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->created_service_account_key);
  EXPECT_EQ(Mode(first->service_account_key), 0600);
  auto pem = ReadFile(first->service_account_key);
  ASSERT_TRUE(pem.ok());
  EXPECT_NE(pem->find("BEGIN PRIVATE KEY"), std::string::npos);
  auto second = EnsurePki(o);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created_service_account_key);
  EXPECT_EQ(*ReadFile(second->service_account_key), *pem);
  // A damaged key is an error, never silently replaced.
  ASSERT_TRUE(WriteFileAtomic(first->service_account_key, "junk", 0600).ok());
  auto third = EnsurePki(o);
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.status().message().find("service account key"), std::string::npos);
  EXPECT_EQ(*ReadFile(first->service_account_key), "junk");
}

TEST(PkiTest, ServerUrl) {
  EXPECT_EQ(ServerUrl("0.0.0.0", 6443), "https://127.0.0.1:6443");
  EXPECT_EQ(ServerUrl("::", 6443), "https://127.0.0.1:6443");
  EXPECT_EQ(ServerUrl("192.168.1.5", 1), "https://192.168.1.5:1");
  EXPECT_EQ(ServerUrl("fd00::1", 6443), "https://[fd00::1]:6443");
}

TEST(PkiTest, WriteFileAtomicSetsModeAndReplaces) {
  TempDir dir;
  std::string p = dir.path() + "/f";
  ASSERT_TRUE(WriteFileAtomic(p, "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(p, "two", 0640).ok());
  EXPECT_EQ(*ReadFile(p), "two");
  EXPECT_EQ(Mode(p), 0640);
  EXPECT_FALSE(WriteFileAtomic(dir.path() + "/missing/f", "x", 0600).ok());
}

}  // namespace
}  // namespace tug::apiserver::pki
