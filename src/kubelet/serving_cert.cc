#include "kubelet/serving_cert.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

namespace tug::kubelet {
namespace {

struct X509Free { void operator()(X509* p) const { X509_free(p); } };
struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct BioFree { void operator()(BIO* p) const { BIO_free(p); } };
struct ExtFree { void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); } };
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, ExtFree>;

std::string SslError(const std::string& what) {
  std::string msg = what;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  return msg;
}

Result<std::string> BioString(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  if (n < 0) return InternalError(SslError("reading PEM"));
  return std::string(data, static_cast<size_t>(n));
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) return InternalError(SslError("certificate extension " + value));
  return Status::Ok();
}

bool IsIp(const std::string& s) {
  in_addr a4;
  in6_addr a6;
  return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

Status WriteAtomic(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return InternalError("cannot write " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      return InternalError("cannot write " + tmp + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return InternalError("cannot rename " + tmp + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

Result<ServingCertFiles> EnsureServingCert(const ServingCertOptions& o) {
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return InternalError("cannot create " + o.dir + ": " + ec.message());
  ::chmod(o.dir.c_str(), 0700);

  X509Ptr ca;
  PkeyPtr ca_key;
  if (!o.ca_cert_pem.empty() && !o.ca_key_pem.empty()) {
    BioPtr cb(BIO_new_mem_buf(o.ca_cert_pem.data(), static_cast<int>(o.ca_cert_pem.size())));
    ca.reset(cb ? PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr) : nullptr);
    BioPtr kb(BIO_new_mem_buf(o.ca_key_pem.data(), static_cast<int>(o.ca_key_pem.size())));
    ca_key.reset(kb ? PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!ca || !ca_key) return BadRequestError(SslError("cluster CA for the kubelet certificate"));
  }

  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return InternalError(SslError("generating the kubelet key"));
  X509Ptr c(X509_new());
  if (!c) return InternalError(SslError("X509_new"));
  X509_set_version(c.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return InternalError(SslError("random serial"));
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);  // clock skew between nodes
  X509_gmtime_adj(X509_getm_notAfter(c.get()), static_cast<long>(o.days) * 24 * 3600);
  // Upstream's self-signed kubelet certificate is named "<host>@<timestamp>"; the node name is
  // what a reader needs.
  std::string cn = o.node_name.empty() ? "kubelet" : o.node_name;
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer = ca ? ca.get() : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(issuer));
  X509_set_pubkey(c.get(), key.get());

  std::set<std::string> ips{"127.0.0.1"}, dns{"localhost"};
  if (!o.node_name.empty()) dns.insert(o.node_name);
  for (const auto& i : o.ips)
    if (!i.empty()) (IsIp(i) ? ips : dns).insert(i);
  for (const auto& d : o.dns)
    if (!d.empty()) (IsIp(d) ? ips : dns).insert(d);
  std::string san;
  for (const auto& d : dns) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& i : ips) san += (san.empty() ? "" : ",") + std::string("IP:") + i;

  RETURN_IF_ERROR(AddExt(c.get(), issuer, NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExt(c.get(), issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
  RETURN_IF_ERROR(AddExt(c.get(), issuer, NID_ext_key_usage, "serverAuth"));
  RETURN_IF_ERROR(AddExt(c.get(), issuer, NID_subject_alt_name, san));
  RETURN_IF_ERROR(AddExt(c.get(), issuer, NID_subject_key_identifier, "hash"));
  if (ca && X509_get0_subject_key_id(ca.get()) != nullptr)
    RETURN_IF_ERROR(AddExt(c.get(), issuer, NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(c.get(), ca ? ca_key.get() : key.get(), EVP_sha256()) == 0)
    return InternalError(SslError("signing the kubelet certificate"));

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), c.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return InternalError(SslError("encoding the kubelet certificate"));
  ASSIGN_OR_RETURN(std::string cert_pem, BioString(cert_bio.get()));
  ASSIGN_OR_RETURN(std::string key_pem, BioString(key_bio.get()));

  ServingCertFiles out;
  out.cert_file = o.dir + "/kubelet.crt";
  out.key_file = o.dir + "/kubelet.key";
  out.self_signed = !ca;
  // The key first: a reader of a new cert must never find the old key.
  RETURN_IF_ERROR(WriteAtomic(out.key_file, key_pem, 0600));
  RETURN_IF_ERROR(WriteAtomic(out.cert_file, cert_pem, 0644));
  return out;
}

}  // namespace tug::kubelet
