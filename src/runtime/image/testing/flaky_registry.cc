#include "runtime/image/testing/flaky_registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "base/json.h"
#include "runtime/image/digest.h"
#include "runtime/image/registry_client.h"

namespace tug::runtime::image::testing {

FlakyRegistry::FlakyRegistry() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0) std::abort();
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

FlakyRegistry::~FlakyRegistry() {
  stop_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  thread_.join();
  ::close(fd_);
}

std::string FlakyRegistry::AddImage(const std::string& repo, const std::string& tag, const std::string& config_json,
                                    const std::vector<std::string>& layer_blobs,
                                    const std::string& layer_media_type) {
  Json m = {{"schemaVersion", 2},
            {"mediaType", kMediaDockerManifest},
            {"config",
             {{"mediaType", "application/vnd.docker.container.image.v1+json"},
              {"size", config_json.size()},
              {"digest", DigestOf(config_json)}}},
            {"layers", Json::array()}};
  std::lock_guard<std::mutex> l(mu_);
  blobs_[DigestOf(config_json)] = config_json;
  for (const auto& b : layer_blobs) {
    m["layers"].push_back({{"mediaType", layer_media_type}, {"size", b.size()}, {"digest", DigestOf(b)}});
    blobs_[DigestOf(b)] = b;
  }
  std::string raw = m.dump();
  std::string digest = DigestOf(raw);
  manifests_[repo + ":" + tag] = {kMediaDockerManifest, raw};
  manifests_[repo + ":" + digest] = {kMediaDockerManifest, raw};
  return digest;
}

void FlakyRegistry::QueueFaults(const std::string& digest, const std::vector<Fault>& faults) {
  std::lock_guard<std::mutex> l(mu_);
  for (Fault f : faults) faults_[digest].push_back(f);
}

void FlakyRegistry::AlwaysFail(const std::string& digest, Fault fault) {
  std::lock_guard<std::mutex> l(mu_);
  always_[digest] = fault;
}

void FlakyRegistry::ClearFaults() {
  std::lock_guard<std::mutex> l(mu_);
  faults_.clear();
  always_.clear();
}

std::vector<FlakyRegistry::Request> FlakyRegistry::Requests() {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}

int FlakyRegistry::BlobGets(const std::string& digest) {
  std::lock_guard<std::mutex> l(mu_);
  int n = 0;
  for (const auto& r : requests_)
    if (r.method == "GET" && r.path.size() > digest.size() &&
        r.path.compare(r.path.size() - digest.size(), digest.size(), digest) == 0)
      ++n;
  return n;
}

void FlakyRegistry::Loop() {
  while (!stop_) {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    if (!down_) Serve(c);
    ::close(c);
  }
}

void FlakyRegistry::Send(int fd, int code, const std::string& headers, const std::string& body, size_t send_bytes) {
  std::string r = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\nConnection: close\r\n" + headers + "\r\n";
  r.append(body, 0, std::min(send_bytes, body.size()));
  size_t done = 0;
  while (done < r.size()) {
    ssize_t n = ::send(fd, r.data() + done, r.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;  // the client went away
    done += static_cast<size_t>(n);
  }
}

void FlakyRegistry::Serve(int c) {
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::read(c, buf, sizeof buf);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
    if (req[0] == 0x16) return Send(c, 400, "", "", 0);  // a TLS hello: plain HTTP servers answer so
  }
  Request rq;
  std::istringstream in(req);
  std::string line;
  in >> rq.method >> rq.path;
  std::getline(in, line);
  while (std::getline(in, line) && line != "\r") {
    static const std::string kRange = "range: bytes=";
    std::string lower = line;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower.rfind(kRange, 0) == 0) rq.range_start = std::atoll(line.c_str() + kRange.size());
  }
  std::unique_lock<std::mutex> l(mu_);
  requests_.push_back(rq);
  const std::string& p = rq.path;
  static const std::string kNotFound = R"({"errors":[{"code":"NOT_FOUND","message":"unknown"}]})";
  if (p == "/v2/" || p == "/v2") {
    l.unlock();
    return Send(c, 200, "Content-Type: application/json\r\n", "{}", 2);
  }
  if (auto at = p.rfind("/manifests/"); p.rfind("/v2/", 0) == 0 && at != std::string::npos) {
    auto it = manifests_.find(p.substr(4, at - 4) + ":" + p.substr(at + 11));
    if (it == manifests_.end()) {
      l.unlock();
      return Send(c, 404, "Content-Type: application/json\r\n",
                  R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})", SIZE_MAX);
    }
    auto [type, raw] = it->second;
    l.unlock();
    return Send(c, 200, "Content-Type: " + type + "\r\nDocker-Content-Digest: " + DigestOf(raw) + "\r\n", raw,
                SIZE_MAX);
  }
  auto at = p.rfind("/blobs/");
  if (at == std::string::npos) {
    l.unlock();
    return Send(c, 404, "", kNotFound, SIZE_MAX);
  }
  std::string digest = p.substr(at + 7);
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) {
    l.unlock();
    return Send(c, 404, "Content-Type: application/json\r\n",
                R"({"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]})", SIZE_MAX);
  }
  std::string blob = it->second;
  std::optional<Fault> fault;
  if (auto a = always_.find(digest); a != always_.end()) {
    fault = a->second;
  } else if (auto q = faults_.find(digest); q != faults_.end() && !q->second.empty()) {
    fault = q->second.front();
    q->second.pop_front();
  }
  l.unlock();
  if (fault == Fault::kUnavailable)
    return Send(c, 503, "Content-Type: application/json\r\n",
                R"({"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]})", SIZE_MAX);
  int64_t start = rq.range_start;
  if (fault == Fault::kIgnoreRange) start = -1;
  int code = 200;
  std::string headers = "Content-Type: application/octet-stream\r\n";
  if (start >= static_cast<int64_t>(blob.size())) return Send(c, 416, "", "", 0);
  if (start > 0) {
    code = 206;
    headers += "Content-Range: bytes " + std::to_string(start) + "-" + std::to_string(blob.size() - 1) + "/" +
               std::to_string(blob.size()) + "\r\n";
    blob = blob.substr(static_cast<size_t>(start));
  }
  if (fault == Fault::kWrongBytes)
    for (auto& ch : blob) ch = static_cast<char>(ch ^ 0x5a);
  bool half = fault == Fault::kCutHalfway || fault == Fault::kStallHalfway;
  Send(c, code, headers, blob, half ? blob.size() / 2 : blob.size());
  if (fault == Fault::kStallHalfway) WaitForClose(c);
}

void FlakyRegistry::WaitForClose(int fd) {
  char buf[512];
  while (!stop_) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, 100);
    if (r < 0 && errno != EINTR) return;
    if (r > 0 && ::read(fd, buf, sizeof buf) <= 0) return;  // closed (or reset) by the client
  }
}

}  // namespace tug::runtime::image::testing
