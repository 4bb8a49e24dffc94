#include "apiserver/pki/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
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

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "base/log.h"

namespace tug::apiserver::pki {
namespace {

constexpr const char* kComponent = "pki";
constexpr long kCaDays = 3650;
constexpr long kLeafDays = 365;
constexpr long kRenewBeforeDays = 30;

struct X509Free { void operator()(X509* p) const { X509_free(p); } };
struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct BioFree { void operator()(BIO* p) const { BIO_free(p); } };
struct NameFree { void operator()(X509_NAME* p) const { X509_NAME_free(p); } };
struct ExtFree { void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); } };
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, ExtFree>;

std::string OpenSslError(const std::string& what) {
  std::string msg = what;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  return msg;
}

Result<PkeyPtr> NewKey() {
  PkeyPtr k(EVP_EC_gen("P-256"));
  if (!k) return InternalError(OpenSslError("generating EC key"));
  return k;
}

Result<std::string> CertPem(X509* c) {
  BioPtr b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_X509(b.get(), c) != 1) return InternalError(OpenSslError("encoding certificate"));
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> KeyPem(EVP_PKEY* k) {
  BioPtr b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return InternalError(OpenSslError("encoding key"));
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<X509Ptr> ParseCert(const std::string& pem) {
  BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr c(b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!c) return BadRequestError(OpenSslError("parsing certificate"));
  return c;
}

Result<PkeyPtr> ParseKey(const std::string& pem) {
  BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr k(b ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!k) return BadRequestError(OpenSslError("parsing private key"));
  return k;
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return InternalError(OpenSslError("adding extension " + value));
  return Status::Ok();
}

struct CertSpec {
  std::string cn;
  std::vector<std::string> orgs;
  long days = kLeafDays;
  bool is_ca = false;
  bool server = false;
  bool client = false;
  SanSet sans;
};

// Creates a certificate for `key`, signed by issuer_key (self-signed when issuer is null).
Result<X509Ptr> MakeCert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  X509Ptr c(X509_new());
  if (!c) return InternalError(OpenSslError("X509_new"));
  X509_set_version(c.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return InternalError(OpenSslError("random serial"));
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  // Back-date by an hour for clock skew between nodes.
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), spec.days * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(c.get());
  for (const auto& o : spec.orgs)
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1,
                             -1, 0);
  X509* iss = issuer ? issuer : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(iss));
  X509_set_pubkey(c.get(), key);

  if (spec.is_ca) {
    RETURN_IF_ERROR(AddExt(c.get(), iss, NID_basic_constraints, "critical,CA:TRUE"));
    RETURN_IF_ERROR(AddExt(c.get(), iss, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign"));
  } else {
    RETURN_IF_ERROR(AddExt(c.get(), iss, NID_basic_constraints, "critical,CA:FALSE"));
    RETURN_IF_ERROR(AddExt(c.get(), iss, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
    std::string eku;
    if (spec.server) eku = "serverAuth";
    if (spec.client) eku += std::string(eku.empty() ? "" : ",") + "clientAuth";
    if (!eku.empty()) RETURN_IF_ERROR(AddExt(c.get(), iss, NID_ext_key_usage, eku));
  }
  RETURN_IF_ERROR(AddExt(c.get(), iss, NID_subject_key_identifier, "hash"));
  if (issuer) RETURN_IF_ERROR(AddExt(c.get(), iss, NID_authority_key_identifier, "keyid:always"));
  std::string san;
  for (const auto& d : spec.sans.dns) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : spec.sans.ips) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!san.empty()) RETURN_IF_ERROR(AddExt(c.get(), iss, NID_subject_alt_name, san));

  if (X509_sign(c.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0)
    return InternalError(OpenSslError("signing certificate"));
  return c;
}

bool IsWildcard(const std::string& addr) { return addr.empty() || addr == "0.0.0.0" || addr == "::"; }

bool CoversIp(X509* c, const std::string& ip) { return X509_check_ip_asc(c, ip.c_str(), 0) == 1; }
bool CoversHost(X509* c, const std::string& host) {
  return X509_check_host(c, host.data(), host.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
}

// Whether an existing leaf is still good: signed by ca, not expiring soon, matches key.
bool LeafUsable(X509* leaf, EVP_PKEY* leaf_key, EVP_PKEY* ca_key_pub) {
  if (X509_verify(leaf, ca_key_pub) != 1) {
    ERR_clear_error();
    return false;
  }
  if (X509_check_private_key(leaf, leaf_key) != 1) {
    ERR_clear_error();
    return false;
  }
  time_t limit = time(nullptr) + kRenewBeforeDays * 24 * 3600;
  if (X509_cmp_time(X509_get0_notAfter(leaf), &limit) <= 0) return false;
  return true;
}

bool Exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

void AddUnique(std::vector<std::string>& v, const std::string& s) {
  if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

struct KeyPair {
  X509Ptr cert;
  PkeyPtr key;
};

Result<KeyPair> LoadPair(const std::string& cert_path, const std::string& key_path) {
  ASSIGN_OR_RETURN(std::string cpem, ReadFile(cert_path));
  ASSIGN_OR_RETURN(std::string kpem, ReadFile(key_path));
  ASSIGN_OR_RETURN(X509Ptr c, ParseCert(cpem));
  ASSIGN_OR_RETURN(PkeyPtr k, ParseKey(kpem));
  return KeyPair{std::move(c), std::move(k)};
}

Status SavePair(const KeyPair& p, const std::string& cert_path, const std::string& key_path) {
  ASSIGN_OR_RETURN(std::string kpem, KeyPem(p.key.get()));
  ASSIGN_OR_RETURN(std::string cpem, CertPem(p.cert.get()));
  // Key first: a crash between the two leaves a cert that does not match its key, which the
  // next start detects (LeafUsable) and repairs.
  RETURN_IF_ERROR(WriteFileAtomic(key_path, kpem, 0600));
  return WriteFileAtomic(cert_path, cpem, 0644);
}

Result<KeyPair> IssueLeaf(const CertSpec& spec, const KeyPair& ca) {
  ASSIGN_OR_RETURN(PkeyPtr key, NewKey());
  ASSIGN_OR_RETURN(X509Ptr cert, MakeCert(spec, key.get(), ca.cert.get(), ca.key.get()));
  return KeyPair{std::move(cert), std::move(key)};
}

std::string KubeconfigText(const std::string& url, const std::string& ca_pem, const std::string& cert_pem,
                           const std::string& key_pem) {
  std::string s;
  s += "apiVersion: v1\n";
  s += "kind: Config\n";
  s += "clusters:\n";
  s += "- name: default\n";
  s += "  cluster:\n";
  s += "    server: " + url + "\n";
  s += "    certificate-authority-data: " + Base64(ca_pem) + "\n";
  s += "users:\n";
  s += "- name: default\n";
  s += "  user:\n";
  s += "    client-certificate-data: " + Base64(cert_pem) + "\n";
  s += "    client-key-data: " + Base64(key_pem) + "\n";
  s += "contexts:\n";
  s += "- name: default\n";
  s += "  context:\n";
  s += "    cluster: default\n";
  s += "    user: default\n";
  s += "current-context: default\n";
  s += "preferences: {}\n";
  return s;
}

}  // namespace

Result<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return InternalError("open " + path + ": " + std::strerror(errno));
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return InternalError("read " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tmpl = dir + "/." + base + ".tmpXXXXXX";
  int fd = mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return InternalError("create temp file for " + path + ": " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    int e = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    return InternalError(what + " " + path + ": " + std::strerror(e));
  };
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("chmod");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) {
    ::unlink(tmpl.c_str());
    return InternalError("close " + path + ": " + std::strerror(errno));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmpl.c_str());
    return InternalError("rename " + path + ": " + std::strerror(e));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

std::string ServerUrl(const std::string& bind_address, int port) {
  std::string host = IsWildcard(bind_address) ? "127.0.0.1" : bind_address;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "https://" + host + ":" + std::to_string(port);
}

SanSet ServingSans(const PkiOptions& opts) {
  SanSet s;
  std::string host = opts.hostname.empty() ? HostName() : opts.hostname;
  for (const char* d : {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                        "kubernetes.default.svc.cluster.local"})
    AddUnique(s.dns, d);
  AddUnique(s.ips, "127.0.0.1");
  AddUnique(s.ips, "10.43.0.1");
  in6_addr a6;
  in_addr a4;
  if (!host.empty() && inet_pton(AF_INET, host.c_str(), &a4) != 1 && inet_pton(AF_INET6, host.c_str(), &a6) != 1)
    AddUnique(s.dns, host);
  if (!IsWildcard(opts.bind_address)) {
    if (inet_pton(AF_INET, opts.bind_address.c_str(), &a4) == 1 ||
        inet_pton(AF_INET6, opts.bind_address.c_str(), &a6) == 1)
      AddUnique(s.ips, opts.bind_address);
    else
      AddUnique(s.dns, opts.bind_address);
  } else {
    // Wildcard bind: users reach the server through any of the node's addresses.
    ifaddrs* ifs = nullptr;
    if (getifaddrs(&ifs) == 0) {
      for (ifaddrs* i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        char buf[INET_ADDRSTRLEN];
        auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
        if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) AddUnique(s.ips, buf);
      }
      freeifaddrs(ifs);
    }
  }
  return s;
}

Result<PkiFiles> EnsurePki(const PkiOptions& opts) {
  PkiFiles f;
  std::string tls = opts.data_dir + "/tls";
  if (::mkdir(opts.data_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return InternalError("mkdir " + opts.data_dir + ": " + std::strerror(errno));
  if (::mkdir(tls.c_str(), 0700) != 0 && errno != EEXIST)
    return InternalError("mkdir " + tls + ": " + std::strerror(errno));
  f.ca_cert = tls + "/ca.crt";
  f.ca_key = tls + "/ca.key";
  f.serving_cert = tls + "/serving.crt";
  f.serving_key = tls + "/serving.key";
  f.admin_cert = tls + "/admin.crt";
  f.admin_key = tls + "/admin.key";
  f.kubeconfig = opts.data_dir + "/admin.kubeconfig";
  f.server_url = ServerUrl(opts.bind_address, opts.port);

  // CA: reuse if present; a damaged CA is a startup error, never replaced silently (all issued
  // client certificates would stop working).
  KeyPair ca;
  if (Exists(f.ca_cert) || Exists(f.ca_key)) {
    auto loaded = LoadPair(f.ca_cert, f.ca_key);
    if (!loaded.ok())
      return BadRequestError("existing CA in " + tls + " is unusable (" + loaded.status().message() +
                             "); remove ca.crt/ca.key to create a new one");
    ca = std::move(loaded).value();
    if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
      ERR_clear_error();
      return BadRequestError("existing CA in " + tls + ": ca.key does not match ca.crt");
    }
  } else {
    CertSpec spec;
    spec.cn = "tug-ca";
    spec.is_ca = true;
    spec.days = kCaDays;
    ASSIGN_OR_RETURN(PkeyPtr key, NewKey());
    ASSIGN_OR_RETURN(X509Ptr cert, MakeCert(spec, key.get(), nullptr, nullptr));
    ca = KeyPair{std::move(cert), std::move(key)};
    RETURN_IF_ERROR(SavePair(ca, f.ca_cert, f.ca_key));
    f.created_ca = true;
    TUG_LOG(INFO, kComponent) << "created CA" << kv("path", f.ca_cert);
  }

  // Serving certificate.
  SanSet sans = ServingSans(opts);
  {
    bool usable = false;
    if (!f.created_ca && Exists(f.serving_cert) && Exists(f.serving_key)) {
      auto loaded = LoadPair(f.serving_cert, f.serving_key);
      if (loaded.ok() && LeafUsable(loaded->cert.get(), loaded->key.get(), ca.key.get())) {
        usable = CoversIp(loaded->cert.get(), "127.0.0.1");
        std::string host = opts.hostname.empty() ? HostName() : opts.hostname;
        if (usable && !host.empty()) {
          in_addr a4;
          usable = inet_pton(AF_INET, host.c_str(), &a4) == 1 ? CoversIp(loaded->cert.get(), host)
                                                              : CoversHost(loaded->cert.get(), host);
        }
        if (usable && !IsWildcard(opts.bind_address)) {
          in_addr a4;
          in6_addr a6;
          bool is_ip = inet_pton(AF_INET, opts.bind_address.c_str(), &a4) == 1 ||
                       inet_pton(AF_INET6, opts.bind_address.c_str(), &a6) == 1;
          usable = is_ip ? CoversIp(loaded->cert.get(), opts.bind_address)
                         : CoversHost(loaded->cert.get(), opts.bind_address);
        }
      }
      ERR_clear_error();
    }
    if (!usable) {
      CertSpec spec;
      spec.cn = "kube-apiserver";
      spec.orgs = {"tug"};
      spec.server = true;
      spec.sans = sans;
      ASSIGN_OR_RETURN(KeyPair leaf, IssueLeaf(spec, ca));
      RETURN_IF_ERROR(SavePair(leaf, f.serving_cert, f.serving_key));
      f.created_serving = true;
      TUG_LOG(INFO, kComponent) << "created serving certificate" << kv("path", f.serving_cert)
                                << kv("bind", opts.bind_address);
    }
  }

  // Admin client certificate.
  {
    bool usable = false;
    if (!f.created_ca && Exists(f.admin_cert) && Exists(f.admin_key)) {
      auto loaded = LoadPair(f.admin_cert, f.admin_key);
      usable = loaded.ok() && LeafUsable(loaded->cert.get(), loaded->key.get(), ca.key.get());
      ERR_clear_error();
    }
    if (!usable) {
      CertSpec spec;
      spec.cn = "system:admin";
      spec.orgs = {"system:masters"};
      spec.client = true;
      ASSIGN_OR_RETURN(KeyPair leaf, IssueLeaf(spec, ca));
      RETURN_IF_ERROR(SavePair(leaf, f.admin_cert, f.admin_key));
      f.created_admin = true;
      TUG_LOG(INFO, kComponent) << "created admin client certificate" << kv("path", f.admin_cert);
    }
  }

  // ServiceAccount token signing key: reused as it is; an unreadable one is a start-up error
  // (replacing it silently would invalidate every token in every pod).
  f.service_account_key = tls + "/service-account.key";
  if (Exists(f.service_account_key)) {
    ASSIGN_OR_RETURN(std::string pem, ReadFile(f.service_account_key));
    auto k = ParseKey(pem);
    if (!k.ok())
      return BadRequestError("existing service account key " + f.service_account_key + " is unusable (" +
                             k.status().message() + "); remove it to create a new one");
  } else {
    ASSIGN_OR_RETURN(PkeyPtr key, NewKey());
    ASSIGN_OR_RETURN(std::string pem, KeyPem(key.get()));
    RETURN_IF_ERROR(WriteFileAtomic(f.service_account_key, pem, 0600));
    f.created_service_account_key = true;
    TUG_LOG(INFO, kComponent) << "created service account signing key" << kv("path", f.service_account_key);
  }

  // admin.kubeconfig: rewritten when it would differ (new port or new certificates).
  ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(f.ca_cert));
  ASSIGN_OR_RETURN(std::string admin_pem, ReadFile(f.admin_cert));
  ASSIGN_OR_RETURN(std::string admin_key_pem, ReadFile(f.admin_key));
  std::string kc = KubeconfigText(f.server_url, ca_pem, admin_pem, admin_key_pem);
  auto old = Exists(f.kubeconfig) ? ReadFile(f.kubeconfig) : Result<std::string>(std::string());
  if (!old.ok() || *old != kc) {
    RETURN_IF_ERROR(WriteFileAtomic(f.kubeconfig, kc, 0600));
    TUG_LOG(INFO, kComponent) << "wrote kubeconfig" << kv("path", f.kubeconfig) << kv("server", f.server_url);
  }
  return f;
}

}  // namespace tug::apiserver::pki
