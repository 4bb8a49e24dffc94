#include "kubelet/serving_cert.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <gtest/gtest.h>

namespace tug::kubelet {
namespace {

struct X509Free { void operator()(X509* p) const { X509_free(p); } };
struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string Read(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

X509Ptr ParseCert(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr c(PEM_read_bio_X509(b, nullptr, nullptr, nullptr));
  BIO_free(b);
  return c;
}

std::string Pem(X509* c) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c);
  char* d = nullptr;
  long n = BIO_get_mem_data(b, &d);
  std::string s(d, static_cast<size_t>(n));
  BIO_free(b);
  return s;
}

std::string KeyPem(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* d = nullptr;
  long n = BIO_get_mem_data(b, &d);
  std::string s(d, static_cast<size_t>(n));
  BIO_free(b);
  return s;
}

// A throwaway CA: self-signed, CA:TRUE.
std::pair<std::string, std::string> MakeCa(const char* cn) {
  PkeyPtr k(EVP_EC_gen("P-256"));
  X509Ptr c(X509_new());
  X509_set_version(c.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(c.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(c.get(), X509_get_subject_name(c.get()));
  X509_set_pubkey(c.get(), k.get());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, c.get(), c.get(), nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
  X509_add_ext(c.get(), e, -1);
  X509_EXTENSION_free(e);
  X509_sign(c.get(), k.get(), EVP_sha256());
  return {Pem(c.get()), KeyPem(k.get())};
}

// Verifies `leaf` against `ca` as a TLS client would for a server.
bool Verifies(X509* leaf, X509* ca) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok;
}

class ServingCertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tug-serving-cert-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ServingCertTest, SignedByClusterCa) {
  auto [ca_pem, ca_key] = MakeCa("tug-ca");
  auto other = MakeCa("other-ca");
  auto r = EnsureServingCert({.dir = dir_ + "/pki", .node_name = "node-a", .ips = {"192.168.7.9"},
                              .ca_cert_pem = ca_pem, .ca_key_pem = ca_key});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->self_signed);
  X509Ptr leaf = ParseCert(Read(r->cert_file));
  ASSERT_TRUE(leaf);
  X509Ptr ca = ParseCert(ca_pem);
  X509Ptr wrong = ParseCert(other.first);
  EXPECT_TRUE(Verifies(leaf.get(), ca.get()));
  EXPECT_FALSE(Verifies(leaf.get(), wrong.get()));
  EXPECT_EQ(X509_check_host(leaf.get(), "node-a", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(leaf.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "192.168.7.9", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 1);
  EXPECT_NE(X509_check_ip_asc(leaf.get(), "10.0.0.1", 0), 1);
  struct stat st;
  ASSERT_EQ(stat(r->key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The key on disk belongs to the certificate.
  std::string key_pem = Read(r->key_file);
  BIO* b = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  PkeyPtr k(PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr));
  BIO_free(b);
  ASSERT_TRUE(k);
  EXPECT_EQ(X509_check_private_key(leaf.get(), k.get()), 1);
}

TEST_F(ServingCertTest, SelfSignedWithoutCaKey) {
  auto [ca_pem, ca_key] = MakeCa("tug-ca");
  auto r = EnsureServingCert({.dir = dir_, .node_name = "node-b", .ca_cert_pem = ca_pem});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->self_signed);
  X509Ptr leaf = ParseCert(Read(r->cert_file));
  ASSERT_TRUE(leaf);
  X509Ptr ca = ParseCert(ca_pem);
  EXPECT_FALSE(Verifies(leaf.get(), ca.get()));
  EXPECT_EQ(X509_check_host(leaf.get(), "node-b", 0, 0, nullptr), 1);
  // A second start writes a new certificate (a new key) in place.
  std::string first = Read(r->cert_file);
  auto r2 = EnsureServingCert({.dir = dir_, .node_name = "node-b"});
  ASSERT_TRUE(r2.ok());
  EXPECT_NE(Read(r2->cert_file), first);
}

TEST_F(ServingCertTest, BadCaIsAnError) {
  auto r = EnsureServingCert({.dir = dir_, .node_name = "n", .ca_cert_pem = "junk", .ca_key_pem = "junk"});
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace tug::kubelet
