// Token authentication against a small in-test registry that demands Bearer tokens, as
// Docker Hub does (401 + WWW-Authenticate -> token endpoint with basic credentials).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <sstream>
#include <thread>

#include "runtime/image/digest.h"
#include "runtime/image/registry_client.h"

namespace tug::runtime::image {
namespace {

class TokenRegistry {
 public:
  TokenRegistry() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { Loop(); });
  }
  ~TokenRegistry() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  void Put(const std::string& path, const std::string& content_type, const std::string& body) {
    routes_[path] = {content_type, body};
  }
  int token_requests() const { return token_requests_; }

 private:
  void Loop() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
        if (!req.empty() && req[0] == 0x16) break;  // a TLS hello: answer as plain HTTP servers do
      }
      if (!req.empty() && req[0] == 0x16) {
        static const char kBad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
        (void)!::write(c, kBad, sizeof kBad - 1);
        ::close(c);
        continue;
      }
      std::istringstream in(req);
      std::string method, target, line, auth;
      in >> method >> target;
      std::getline(in, line);
      while (std::getline(in, line) && line != "\r") {
        if (line.rfind("Authorization: ", 0) == 0) auth = line.substr(15, line.size() - 16);
      }
      Respond(c, target, auth);
      ::close(c);
    }
  }
  void Respond(int c, const std::string& target, const std::string& auth) {
    auto send = [&](int code, const std::string& hdrs, const std::string& body) {
      std::string r = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\nConnection: close\r\n" + hdrs + "\r\n" + body;
      (void)!::write(c, r.data(), r.size());
    };
    if (target.rfind("/token?", 0) == 0) {
      ++token_requests_;
      bool scope_ok = target.find("scope=repository%3Aprivate%2Fimg%3Apull") != std::string::npos &&
                      target.find("service=fake") != std::string::npos;
      if (auth != "Basic " + Base64Encode("user:secret") || !scope_ok) return send(401, "", "{}");
      return send(200, "Content-Type: application/json\r\n", R"({"token":"T0K3N","expires_in":300})");
    }
    if (auth != "Bearer T0K3N") {
      return send(401,
                  "WWW-Authenticate: Bearer realm=\"http://" + host() +
                      "/token\",service=\"fake\",scope=\"repository:private/img:pull\"\r\n",
                  R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})");
    }
    auto it = routes_.find(target);
    if (it == routes_.end()) return send(404, "", R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]})");
    send(200, "Content-Type: " + it->second.first + "\r\n", it->second.second);
  }

  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> token_requests_{0};
  std::map<std::string, std::pair<std::string, std::string>> routes_;
  std::thread thread_;
};

TEST(TokenAuthTest, BearerTokenFromTheRealmWithBasicCredentials) {
  TokenRegistry reg;
  std::string config = R"({"rootfs":{"type":"layers","diff_ids":[]},"config":{"Cmd":["x"]}})";
  Json manifest = {{"schemaVersion", 2},
                   {"mediaType", kMediaDockerManifest},
                   {"config", {{"mediaType", "application/vnd.docker.container.image.v1+json"},
                               {"digest", DigestOf(config)}, {"size", config.size()}}},
                   {"layers", Json::array()}};
  reg.Put("/v2/private/img/manifests/latest", kMediaDockerManifest, manifest.dump());
  reg.Put("/v2/private/img/blobs/" + DigestOf(config), "application/octet-stream", config);
  auto ref = ParseReference(reg.host() + "/private/img:latest");
  ASSERT_TRUE(ref.ok());

  RegistryClient::Options o;
  o.max_attempts = 1;
  RegistryClient client(o);
  // Without credentials the token endpoint refuses.
  auto denied = client.Resolve(*ref);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kUnauthorized) << denied.status().ToString();

  std::map<std::string, Credentials> keyring = {{reg.host(), {"user", "secret", ""}}};
  auto m = client.Resolve(*ref, keyring);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->digest, DigestOf(manifest.dump()));
  auto cfg = client.FetchBlobBytes(*m, m->config);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(*cfg, config);
  int tokens = reg.token_requests();
  // The token is cached for the repository: another fetch asks for no new one.
  ASSERT_TRUE(client.FetchBlobBytes(*m, m->config).ok());
  EXPECT_EQ(reg.token_requests(), tokens);
}

}  // namespace
}  // namespace tug::runtime::image
