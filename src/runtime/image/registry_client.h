// Registry client: OCI distribution / Docker Registry HTTP API v2 over libcurl.
//
// Resolve() asks each endpoint of the image's registry (mirrors first, registries.h) for the
// manifest with the Accept list OCI index, OCI manifest, Docker manifest list v2, Docker
// manifest v2; a list/index is resolved to the manifest of the wanted platform. Every
// manifest and blob is verified against its sha256 digest. Authentication follows the
// registry's 401 challenge: Bearer (token endpoint from realm/service/scope, with basic
// credentials or an identity token when configured) or Basic. Tokens are cached per
// endpoint and repository.
//
// FetchBlob() downloads into a temporary file, resumes with a Range request after a dropped
// connection (or restarts when the registry ignores the range), retries transient failures
// (connection errors, 5xx, 429) with exponential back-off, verifies size and digest, and only
// then renames the file to its destination: a partial or corrupt blob is never left behind.
// Progress (bytes, total) is logged at most every 2 s per blob.
//
// Errors: NotFound (manifest or blob unknown, no manifest for the platform), Unauthorized /
// Forbidden (registry refused), Invalid (digest mismatch, malformed manifest, unsupported media
// type), Unavailable (network failures after the retries), Internal (local I/O).
//
// Thread-safety: a RegistryClient may be shared; concurrent calls are safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "runtime/image/reference.h"
#include "runtime/image/registries.h"

namespace tug::runtime::image {

inline constexpr const char* kMediaOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kMediaOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kMediaDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kMediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

struct Platform {
  std::string os = "linux";
  std::string architecture;  // GOARCH names: amd64, arm64, arm, ...
  std::string variant;       // "v8", "v7", or empty
  static Platform Host();
  std::string String() const;  // "linux/amd64", "linux/arm64/v8"
  // Whether a manifest list entry's platform object matches.
  bool Matches(const Json& platform) const;
};

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = -1;
};

struct ResolvedManifest {
  Reference ref;
  Endpoint endpoint;        // the endpoint that served it
  Credentials credentials;  // used for the blobs too
  std::string repo_digest;  // digest the reference points to (the list's, for a list)
  std::string digest;       // digest of the platform manifest
  std::string media_type;   // of the platform manifest
  std::string raw;          // platform manifest bytes
  Descriptor config;
  std::vector<Descriptor> layers;
};

// A parsed WWW-Authenticate challenge: scheme ("bearer", "basic") and its parameters.
struct AuthChallenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
std::vector<AuthChallenge> ParseAuthChallenges(std::string_view header);

// Parses an image manifest (OCI or Docker v2) into config and layer descriptors.
// Errors: Invalid.
Status ParseImageManifest(std::string_view raw, Descriptor* config, std::vector<Descriptor>* layers);
// Picks the platform's entry from an index / manifest list. Errors: NotFound, Invalid.
Result<Descriptor> SelectPlatform(const Json& index, const Platform& platform);

class RegistryClient {
 public:
  struct Options {
    RegistriesConfig registries;
    Platform platform = Platform::Host();
    int max_attempts = 5;
    std::chrono::milliseconds initial_backoff{200};
    std::chrono::milliseconds max_backoff{5000};
    long connect_timeout_seconds = 15;
    long stall_timeout_seconds = 60;  // abort a transfer slower than 1 B/s for this long
    // Test hook, called from the transfer with the bytes written so far for a blob.
    std::function<void(const std::string& digest, int64_t bytes)> on_blob_bytes;
    // Polled during blob transfers (each chunk, and about once a second while none comes):
    // true aborts the download, and FetchBlob fails at once (no retry) with "pull cancelled".
    std::function<bool()> cancelled;
  };

  explicit RegistryClient(Options options);
  ~RegistryClient();

  // keyring: credentials by registry host (from imagePullSecrets); registries.yaml's auth for
  // an endpoint wins over it.
  Result<ResolvedManifest> Resolve(const Reference& ref,
                                   const std::map<std::string, Credentials>& keyring = {});
  // Downloads and verifies a blob into dest_path (atomically). tmp_dir must be on the same
  // filesystem as dest_path.
  Status FetchBlob(const ResolvedManifest& m, const Descriptor& d, const std::string& dest_path,
                   const std::string& tmp_dir);
  // A small blob (the image config) into memory, verified.
  Result<std::string> FetchBlobBytes(const ResolvedManifest& m, const Descriptor& d);

  const Options& options() const { return options_; }

 private:
  struct HttpResult;
  struct Transfer;
  HttpResult Perform(const Endpoint& ep, const std::string& method, const std::string& url,
                     const std::vector<std::string>& headers, Transfer* transfer,
                     const std::string* post_body = nullptr);
  HttpResult Authed(const Endpoint& ep, const std::string& repo, const Credentials& creds,
                    const std::string& url, const std::vector<std::string>& headers, Transfer* transfer);
  Status Authenticate(const Endpoint& ep, const std::string& repo, const Credentials& creds,
                      const std::string& challenge_header);
  Result<std::pair<std::string, std::string>> GetManifest(Endpoint* ep, const std::string& repo,
                                                          const Credentials& creds, const std::string& ref);
  std::chrono::milliseconds Backoff(int attempt) const;

  Options options_;
  std::mutex mu_;
  std::map<std::string, std::string> auth_headers_;  // GUARDED_BY(mu_) endpoint|repo -> header
};

}  // namespace tug::runtime::image
