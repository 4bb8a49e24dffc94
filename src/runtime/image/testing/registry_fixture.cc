#include "runtime/image/testing/registry_fixture.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/json.h"
#include "runtime/image/digest.h"

namespace tug::runtime::image::testing {
namespace {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

struct Resp {
  long code = 0;
  std::string body, location;
  CURLcode rc = CURLE_OK;
};

size_t Collect(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}
size_t HeaderCb(char* p, size_t s, size_t n, void* ud) {
  std::string line(p, s * n);
  if (line.size() > 9 && strncasecmp(line.c_str(), "location:", 9) == 0) {
    std::string v = line.substr(9);
    while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
    *static_cast<std::string*>(ud) = v;
  }
  return s * n;
}

Resp Http(const std::string& method, const std::string& url, const std::string& body = "",
          const std::string& content_type = "") {
  Resp r;
  CURL* h = curl_easy_init();
  curl_slist* hl = nullptr;
  if (!content_type.empty()) hl = curl_slist_append(hl, ("Content-Type: " + content_type).c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "PUT" || method == "POST") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, HeaderCb);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &r.location);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
  r.rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.code);
  curl_slist_free_all(hl);
  curl_easy_cleanup(h);
  return r;
}

}  // namespace

std::string RegistryFixture::Binary() {
  if (const char* e = std::getenv("TUG_DOCKER_REGISTRY"); e && *e) return e;
  for (const char* p : {"/usr/bin/docker-registry", "/usr/local/bin/registry", "/usr/bin/registry"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

RegistryFixture::RegistryFixture() {
  char tmpl[] = "/tmp/tug-registry-test-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

RegistryFixture::~RegistryFixture() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RegistryFixture::BlobDataPath(const std::string& digest) const {
  std::string hex = DigestHex(digest);
  return dir_ + "/data/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
}

Status RegistryFixture::Start() {
  if (pid_ > 0) return Status::Ok();
  std::string bin = Binary();
  if (bin.empty()) return NotFoundError("docker-registry is not installed");
  if (port_ == 0) port_ = FreePort();
  {
    std::ofstream cfg(dir_ + "/config.yml");
    cfg << "version: 0.1\n"
           "log:\n  level: error\n  accesslog:\n    disabled: true\n"
           "storage:\n  filesystem:\n    rootdirectory: " << dir_ << "/data\n  delete:\n    enabled: true\n"
           "http:\n  addr: 127.0.0.1:" << port_ << "\n";
  }
  std::string log = dir_ + "/registry.log";
  std::string cfg = dir_ + "/config.yml";
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execl(bin.c_str(), bin.c_str(), "serve", cfg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    Resp r = Http("GET", url() + "/v2/");
    if (r.rc == CURLE_OK && r.code == 200) return Status::Ok();
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return InternalError("docker-registry exited; see " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return TimeoutError("docker-registry did not become ready on " + host());
}

void RegistryFixture::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RegistryFixture::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
}

Result<std::string> RegistryFixture::PushBlob(const std::string& repo, const std::string& bytes) {
  std::string digest = DigestOf(bytes);
  Resp start = Http("POST", url() + "/v2/" + repo + "/blobs/uploads/");
  if (start.code != 202) return InternalError("start upload: HTTP " + std::to_string(start.code) + " " + start.body);
  std::string loc = start.location;
  if (loc.rfind("http", 0) != 0) loc = url() + loc;
  loc += (loc.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
  Resp put = Http("PUT", loc, bytes, "application/octet-stream");
  if (put.code != 201) return InternalError("finish upload: HTTP " + std::to_string(put.code) + " " + put.body);
  return digest;
}

Status RegistryFixture::PushManifest(const std::string& repo, const std::string& ref, const std::string& media_type,
                                     const std::string& bytes) {
  Resp r = Http("PUT", url() + "/v2/" + repo + "/manifests/" + ref, bytes, media_type);
  if (r.code != 201) return InternalError("put manifest: HTTP " + std::to_string(r.code) + " " + r.body);
  return Status::Ok();
}

Result<std::string> RegistryFixture::PushImage(const std::string& repo, const std::string& tag,
                                               const std::string& config_json,
                                               const std::vector<std::string>& layers,
                                               const std::string& layer_media_type) {
  ASSIGN_OR_RETURN(std::string cdigest, PushBlob(repo, config_json));
  Json m = {{"schemaVersion", 2},
            {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
            {"config",
             {{"mediaType", "application/vnd.docker.container.image.v1+json"},
              {"size", config_json.size()},
              {"digest", cdigest}}},
            {"layers", Json::array()}};
  for (const auto& l : layers) {
    ASSIGN_OR_RETURN(std::string d, PushBlob(repo, l));
    m["layers"].push_back({{"mediaType", layer_media_type}, {"size", l.size()}, {"digest", d}});
  }
  std::string raw = m.dump();
  RETURN_IF_ERROR(PushManifest(repo, tag, "application/vnd.docker.distribution.manifest.v2+json", raw));
  return DigestOf(raw);
}

}  // namespace tug::runtime::image::testing
