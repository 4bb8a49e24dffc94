// The kubelet's HTTPS serving certificate (port 10250): a fresh ECDSA P-256 key and certificate
// for the node's name and addresses, signed by the cluster CA when the agent has its key (the
// agent inside `tug server`), else self-signed (as upstream kubelet without
// --tls-cert-file/--rotate-server-certificates). Written at every agent start, so a changed node
// IP or name never leaves a stale certificate; the API server does not pin kubelet certificates.
//
// Files: <dir>/kubelet.crt, <dir>/kubelet.key (0600), written atomically (temp + rename).
// Ownership: plain values. Thread-safety: EnsureServingCert touches the file system; call it
// once at agent start.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace tug::kubelet {

struct ServingCertOptions {
  std::string dir;
  std::string node_name;                // CN and a DNS SAN
  std::vector<std::string> ips, dns;    // extra SANs (node IP; 127.0.0.1 and localhost always)
  std::string ca_cert_pem, ca_key_pem;  // both set: signed by this CA
  int days = 365;
};

struct ServingCertFiles {
  std::string cert_file, key_file;
  bool self_signed = true;
};

// Errors: Internal (OpenSSL or I/O), BadRequest (unparseable CA).
Result<ServingCertFiles> EnsureServingCert(const ServingCertOptions& opts);

}  // namespace tug::kubelet
