// Registry configuration: the mirrors file (<data-dir>/registries.yaml, k3s format) and
// credentials (imagePullSecrets' .dockerconfigjson / .dockercfg).
//
//   mirrors:
//     docker.io:
//       endpoint: ["http://127.0.0.1:5000"]
//     "*":                       # any registry without its own entry
//       endpoint: ["https://mirror.example"]
//   configs:
//     "127.0.0.1:5000":
//       tls: {insecure_skip_verify: true, ca_file: ..., cert_file: ..., key_file: ...}
//       auth: {username: u, password: p}   # or auth: <base64 u:p>, identity_token: ...
//
// Endpoints of a registry: its mirrors in order, then the registry itself (https; docker.io is
// https://registry-1.docker.io). A registry on a loopback address (localhost, 127.0.0.0/8, ::1)
// may be plain HTTP without configuration, as Docker allows.
//
// Thread-safety: plain values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace tug::runtime::image {

struct Credentials {
  std::string username, password;
  std::string identity_token;  // refresh token for the token endpoint (OAuth2 flow)
  bool empty() const { return username.empty() && password.empty() && identity_token.empty(); }
};

struct RegistryHostConfig {
  bool insecure_skip_verify = false;
  std::string ca_file, cert_file, key_file;
  Credentials auth;
};

struct Endpoint {
  std::string base_url;  // "http://127.0.0.1:5000" (no trailing slash, no /v2)
  std::string host;      // "127.0.0.1:5000", the key into configs
  bool plain_http = false;
  // A loopback registry given without a scheme: try https first, then plain http.
  bool http_fallback = false;
  bool is_mirror = false;
  RegistryHostConfig config;
};

struct RegistriesConfig {
  std::map<std::string, std::vector<std::string>> mirrors;  // registry host -> endpoint URLs
  std::map<std::string, RegistryHostConfig> configs;        // endpoint host -> tls/auth

  // Parses the YAML text. Errors: Invalid with the parser's message.
  static Result<RegistriesConfig> Parse(std::string_view yaml);
  // Reads the file; a missing file is an empty config. Errors: Invalid, Internal.
  static Result<RegistriesConfig> Load(const std::string& path);

  // The endpoints to try for a registry domain ("docker.io", "localhost:5000"), in order.
  std::vector<Endpoint> EndpointsFor(const std::string& domain) const;
};

// True when host[:port] names a loopback address or "localhost".
bool IsLoopbackHost(std::string_view host_port);

// Credentials from a kubernetes.io/dockerconfigjson (".dockerconfigjson": {"auths": {...}}) or
// kubernetes.io/dockercfg (the bare map) document. Keys are normalized to host[:port]
// ("https://index.docker.io/v1/" -> "docker.io"). Errors: Invalid.
Result<std::map<std::string, Credentials>> ParseDockerConfig(std::string_view json_text);

// Finds credentials for a registry host in a keyring from ParseDockerConfig.
std::optional<Credentials> LookupCredentials(const std::map<std::string, Credentials>& keyring,
                                             std::string_view host);

std::string Base64Encode(std::string_view in);
Result<std::string> Base64Decode(std::string_view in);

}  // namespace tug::runtime::image
