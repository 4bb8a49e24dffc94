// Image references as Docker resolves them (distribution/reference "normalized named" rules).
//
//   busybox                      -> docker.io/library/busybox:latest
//   nginx:1.25                   -> docker.io/library/nginx:1.25
//   localhost:5000/x             -> localhost:5000/x:latest
//   registry:5000/a/b@sha256:... -> registry:5000/a/b@sha256:...
//   busybox:1.36@sha256:...      -> tag kept for display, the digest is what gets pulled
//
// The first path component is a registry host when it contains '.' or ':', is "localhost", or
// has an upper-case letter; otherwise the host is docker.io, and single-component docker.io
// names get the "library/" prefix. index.docker.io is the same registry as docker.io.
//
// Thread-safety: plain values.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace tug::runtime::image {

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000", "registry.k8s.io"
  std::string path;    // "library/busybox", "a/b"
  std::string tag;     // "latest" when neither tag nor digest was given; may be empty
  std::string digest;  // "sha256:<64 hex>" or empty

  // "docker.io/library/busybox"
  std::string Repository() const { return domain + "/" + path; }
  // Full normalized form: "docker.io/library/busybox:latest", "...@sha256:..", "..:tag@sha256:..".
  std::string String() const;
  // "docker.io/library/busybox:latest" when there is a tag, else empty.
  std::string TagName() const;
  // "docker.io/library/busybox@sha256:..." when there is a digest, else empty.
  std::string DigestName() const;
  // Docker's short display form: "busybox:latest", "localhost:5000/x:1".
  std::string Familiar() const;
  // What to ask the registry for: the digest if present, else the tag.
  std::string ManifestRef() const { return digest.empty() ? tag : digest; }
};

// Parses and normalizes a reference. Errors: Invalid with Docker's wording
// ("invalid reference format", "repository name must be lowercase").
Result<Reference> ParseReference(std::string_view ref);

// True for "sha256:<64 lower-case hex>".
bool IsValidDigest(std::string_view digest);

}  // namespace tug::runtime::image
