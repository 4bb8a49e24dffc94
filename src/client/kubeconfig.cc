// LoadKubeconfig: the current context's cluster and user from a kubeconfig (YAML or JSON).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/codec.h"
#include "client/client.h"

namespace tug::client {

namespace {

std::optional<std::string> Base64Decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFoundError("cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The named entry's inner object in a kubeconfig list ("clusters" -> {name, cluster: {...}}).
const Json* Named(const Json& doc, std::string_view list, std::string_view inner, const std::string& name) {
  const Json* l = Find(doc, list);
  if (!l || !l->is_array()) return nullptr;
  for (const Json& e : *l)
    if (GetString(e, "name") == name) return Find(e, inner);
  return nullptr;
}

// Inline base64 data, or the file it names (relative to the kubeconfig's folder).
Result<std::string> DataOrFile(const Json& obj, std::string_view data_key, std::string_view file_key,
                               const std::filesystem::path& dir) {
  std::string data = GetString(obj, data_key);
  if (!data.empty()) {
    auto d = Base64Decode(data);
    if (!d) return BadRequestError("kubeconfig: " + std::string(data_key) + " is not valid base64");
    return *d;
  }
  std::string file = GetString(obj, file_key);
  if (file.empty()) return std::string();
  std::filesystem::path p(file);
  if (p.is_relative()) p = dir / p;
  auto r = ReadWholeFile(p.string());
  if (!r.ok()) return BadRequestError("kubeconfig: " + std::string(file_key) + ": " + r.status().message());
  return r;
}

}  // namespace

Result<Config> LoadKubeconfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  auto parsed = api::YamlToJson(text);
  if (!parsed.ok()) return BadRequestError("kubeconfig " + path + ": " + parsed.status().message());
  const Json& doc = *parsed;
  if (!doc.is_object()) return BadRequestError("kubeconfig " + path + ": not a mapping");
  std::filesystem::path dir = std::filesystem::path(path).parent_path();

  std::string ctx_name = GetString(doc, "current-context");
  if (ctx_name.empty()) {
    // Without a current context, a file with exactly one context means that one.
    const Json* ctxs = Find(doc, "contexts");
    if (ctxs && ctxs->is_array() && ctxs->size() == 1) ctx_name = GetString((*ctxs)[0], "name");
  }
  if (ctx_name.empty()) return BadRequestError("kubeconfig " + path + ": current-context is not set");
  const Json* ctx = Named(doc, "contexts", "context", ctx_name);
  if (!ctx) return BadRequestError("kubeconfig " + path + ": context \"" + ctx_name + "\" not found");
  std::string cluster_name = GetString(*ctx, "cluster");
  std::string user_name = GetString(*ctx, "user");
  const Json* cluster = Named(doc, "clusters", "cluster", cluster_name);
  if (!cluster) return BadRequestError("kubeconfig " + path + ": cluster \"" + cluster_name + "\" not found");

  Config c;
  c.server = GetString(*cluster, "server");
  if (c.server.empty()) return BadRequestError("kubeconfig " + path + ": cluster \"" + cluster_name + "\" has no server");
  ASSIGN_OR_RETURN(c.ca_pem, DataOrFile(*cluster, "certificate-authority-data", "certificate-authority", dir));
  if (const Json* skip = Find(*cluster, "insecure-skip-tls-verify"); skip && skip->is_boolean())
    c.insecure_skip_verify = skip->get<bool>();

  if (!user_name.empty()) {
    const Json* user = Named(doc, "users", "user", user_name);
    if (!user) return BadRequestError("kubeconfig " + path + ": user \"" + user_name + "\" not found");
    ASSIGN_OR_RETURN(c.cert_pem, DataOrFile(*user, "client-certificate-data", "client-certificate", dir));
    ASSIGN_OR_RETURN(c.key_pem, DataOrFile(*user, "client-key-data", "client-key", dir));
    c.token = GetString(*user, "token");
    if (c.token.empty()) {
      std::string tf = GetString(*user, "tokenFile");
      if (!tf.empty()) {
        std::filesystem::path p(tf);
        if (p.is_relative()) p = dir / p;
        auto t = ReadWholeFile(p.string());
        if (!t.ok()) return BadRequestError("kubeconfig: tokenFile: " + t.status().message());
        c.token = *t;
        while (!c.token.empty() && (c.token.back() == '\n' || c.token.back() == '\r' || c.token.back() == ' '))
          c.token.pop_back();
      }
    }
  }
  return c;
}

}  // namespace tug::client
