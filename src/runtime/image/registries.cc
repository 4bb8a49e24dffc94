#include "runtime/image/registries.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace tug::runtime::image {
namespace {

std::string HostOfUrl(std::string_view url, bool* plain_http, bool* had_scheme) {
  *plain_http = false;
  *had_scheme = false;
  if (url.rfind("http://", 0) == 0) {
    *plain_http = true;
    *had_scheme = true;
    url.remove_prefix(7);
  } else if (url.rfind("https://", 0) == 0) {
    *had_scheme = true;
    url.remove_prefix(8);
  }
  auto slash = url.find('/');
  return std::string(url.substr(0, slash));
}

// Docker Hub's many names, all one registry.
std::string NormalizeRegistryHost(std::string host) {
  if (host == "index.docker.io" || host == "registry-1.docker.io" || host == "registry.hub.docker.com")
    return "docker.io";
  return host;
}

Status ParseHostConfig(const YAML::Node& n, RegistryHostConfig* out) {
  if (auto tls = n["tls"]; tls && tls.IsMap()) {
    if (tls["insecure_skip_verify"]) out->insecure_skip_verify = tls["insecure_skip_verify"].as<bool>();
    if (tls["ca_file"]) out->ca_file = tls["ca_file"].as<std::string>();
    if (tls["cert_file"]) out->cert_file = tls["cert_file"].as<std::string>();
    if (tls["key_file"]) out->key_file = tls["key_file"].as<std::string>();
  }
  if (auto auth = n["auth"]; auth && auth.IsMap()) {
    if (auth["username"]) out->auth.username = auth["username"].as<std::string>();
    if (auth["password"]) out->auth.password = auth["password"].as<std::string>();
    if (auth["identity_token"]) out->auth.identity_token = auth["identity_token"].as<std::string>();
    if (auth["auth"]) {
      auto decoded = Base64Decode(auth["auth"].as<std::string>());
      if (!decoded.ok()) return InvalidError("auth: not base64");
      auto colon = decoded->find(':');
      if (colon == std::string::npos) return InvalidError("auth: want base64 of user:password");
      out->auth.username = decoded->substr(0, colon);
      out->auth.password = decoded->substr(colon + 1);
    }
  }
  return Status::Ok();
}

}  // namespace

bool IsLoopbackHost(std::string_view hp) {
  std::string host(hp);
  if (!host.empty() && host[0] == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (auto c = host.rfind(':'); c != std::string::npos && host.find(':') == c) {
    host = host.substr(0, c);
  }
  if (host == "localhost") return true;
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

Result<RegistriesConfig> RegistriesConfig::Parse(std::string_view text) {
  RegistriesConfig cfg;
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root || root.IsNull()) return cfg;
    if (!root.IsMap()) return InvalidError("registries config: top level must be a mapping");
    if (auto m = root["mirrors"]; m && m.IsMap()) {
      for (const auto& kv : m) {
        auto host = kv.first.as<std::string>();
        std::vector<std::string> eps;
        if (auto e = kv.second["endpoint"]; e && e.IsSequence())
          for (const auto& x : e) eps.push_back(x.as<std::string>());
        cfg.mirrors[NormalizeRegistryHost(host)] = std::move(eps);
      }
    }
    if (auto c = root["configs"]; c && c.IsMap()) {
      for (const auto& kv : c) {
        RegistryHostConfig hc;
        RETURN_IF_ERROR(ParseHostConfig(kv.second, &hc));
        bool plain = false, scheme = false;
        cfg.configs[HostOfUrl(kv.first.as<std::string>(), &plain, &scheme)] = std::move(hc);
      }
    }
  } catch (const std::exception& e) {
    return InvalidError(std::string("registries config: ") + e.what());
  }
  return cfg;
}

Result<RegistriesConfig> RegistriesConfig::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return RegistriesConfig{};
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = Parse(ss.str());
  if (!r.ok()) return InvalidError(path + ": " + r.status().message());
  return r;
}

std::vector<Endpoint> RegistriesConfig::EndpointsFor(const std::string& domain_in) const {
  std::string domain = NormalizeRegistryHost(domain_in);
  std::vector<Endpoint> out;
  auto add = [&](const std::string& url_in, bool mirror) {
    std::string url = url_in;
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (url.size() >= 3 && url.compare(url.size() - 3, 3, "/v2") == 0) url.resize(url.size() - 3);
    Endpoint e;
    bool plain = false, scheme = false;
    e.host = HostOfUrl(url, &plain, &scheme);
    e.is_mirror = mirror;
    if (!scheme) {
      e.base_url = "https://" + url;
      e.http_fallback = IsLoopbackHost(e.host);
    } else {
      e.base_url = url;
      e.plain_http = plain;
    }
    if (auto it = configs.find(e.host); it != configs.end()) e.config = it->second;
    for (const auto& x : out)
      if (x.base_url == e.base_url) return;
    out.push_back(std::move(e));
  };
  auto m = mirrors.find(domain);
  if (m == mirrors.end()) m = mirrors.find("*");
  if (m != mirrors.end())
    for (const auto& url : m->second) add(url, true);
  add(domain == "docker.io" ? "registry-1.docker.io" : domain, false);
  // Registry credentials configured under the registry's public name apply to its default
  // endpoint too (docker.io vs registry-1.docker.io).
  if (auto it = configs.find(domain); it != configs.end() && out.back().config.auth.empty())
    out.back().config.auth = it->second.auth;
  return out;
}

Result<std::map<std::string, Credentials>> ParseDockerConfig(std::string_view text) {
  auto parsed = ParseJson(text);
  if (!parsed.ok()) return InvalidError("docker config: " + parsed.status().message());
  const Json* auths = &*parsed;
  if (const Json* a = Find(*parsed, "auths")) auths = a;
  if (!auths->is_object()) return InvalidError("docker config: auths must be an object");
  std::map<std::string, Credentials> out;
  for (auto it = auths->begin(); it != auths->end(); ++it) {
    if (!it.value().is_object()) continue;
    Credentials c;
    c.username = GetString(it.value(), "username");
    c.password = GetString(it.value(), "password");
    c.identity_token = GetString(it.value(), "identitytoken");
    std::string a = GetString(it.value(), "auth");
    if (!a.empty()) {
      auto d = Base64Decode(a);
      if (!d.ok()) return InvalidError("docker config: auth for " + it.key() + " is not base64");
      auto colon = d->find(':');
      if (colon == std::string::npos) return InvalidError("docker config: auth for " + it.key() + " is not user:password");
      c.username = d->substr(0, colon);
      c.password = d->substr(colon + 1);
    }
    bool plain = false, scheme = false;
    out[NormalizeRegistryHost(HostOfUrl(it.key(), &plain, &scheme))] = c;
  }
  return out;
}

std::optional<Credentials> LookupCredentials(const std::map<std::string, Credentials>& keyring,
                                             std::string_view host) {
  auto it = keyring.find(NormalizeRegistryHost(std::string(host)));
  if (it == keyring.end()) return std::nullopt;
  return it->second;
}

std::string Base64Encode(std::string_view in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    int v = val(c);
    if (v < 0) return InvalidError("invalid base64");
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace tug::runtime::image
