// PKI for `tug server`: on first start creates a CA, a serving certificate, an admin client
// certificate and admin.kubeconfig in the data dir; on later starts reuses them.
//
// Layout (keys 0600, everything written atomically: temp file + fsync + rename):
//   <data-dir>/tls/ca.crt ca.key           CA (ECDSA P-256, 10 years, CN=tug-ca)
//   <data-dir>/tls/serving.crt serving.key serving cert signed by the CA (1 year), SANs below
//   <data-dir>/tls/admin.crt admin.key     client cert CN=system:admin, O=system:masters
//   <data-dir>/admin.kubeconfig            cluster/user/context "default"
//   <data-dir>/tls/service-account.key     ServiceAccount token signing key (ECDSA P-256, ES256);
//                                          created once, never rotated automatically (every
//                                          issued token would die with it)
//
// The serving certificate is regenerated when it no longer covers the bind address (or the
// hostname), is not signed by the CA on disk, or expires within 30 days. admin.kubeconfig is
// rewritten whenever its content would change (e.g. a new port).
//
// Ownership: plain values. Thread-safety: EnsurePki touches the file system; call it once at
// start-up while holding the data-dir lock. The other functions are pure and thread-safe.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace tug::apiserver::pki {

struct PkiOptions {
  std::string data_dir;
  std::string bind_address = "0.0.0.0";
  int port = 6443;
  // Empty: gethostname().
  std::string hostname;
};

struct PkiFiles {
  std::string ca_cert;       // paths
  std::string ca_key;
  std::string serving_cert;
  std::string serving_key;
  std::string admin_cert;
  std::string admin_key;
  std::string kubeconfig;
  std::string server_url;    // https://127.0.0.1:6443
  std::string service_account_key;  // signing key for ServiceAccount tokens (PKCS#8 PEM)
  bool created_ca = false;          // what EnsurePki did, for logs and tests
  bool created_serving = false;
  bool created_admin = false;
  bool created_service_account_key = false;
};

// Creates or reuses the PKI under opts.data_dir. Errors: Internal (OpenSSL or I/O failure),
// BadRequest (unreadable/corrupt existing CA — we never silently replace a CA).
Result<PkiFiles> EnsurePki(const PkiOptions& opts);

// The SANs a serving cert must carry for these options.
struct SanSet {
  std::vector<std::string> dns;
  std::vector<std::string> ips;
};
SanSet ServingSans(const PkiOptions& opts);

// The kubeconfig URL for a bind address and port (127.0.0.1 for wildcard binds).
std::string ServerUrl(const std::string& bind_address, int port);

// Writes data to path atomically with the given mode (temp file in the same dir, fsync, rename,
// fsync of the dir). Errors: Internal.
Status WriteFileAtomic(const std::string& path, const std::string& data, int mode);
Result<std::string> ReadFile(const std::string& path);

}  // namespace tug::apiserver::pki
