#include "runtime/image/reference.h"

#include <cctype>

namespace tug::runtime::image {
namespace {

bool IsAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+ separated by '.', '_', '__' or any run of '-'.
bool ValidComponent(std::string_view c) {
  if (c.empty() || !IsAlnumLower(c.front()) || !IsAlnumLower(c.back())) return false;
  size_t i = 0;
  while (i < c.size()) {
    if (IsAlnumLower(c[i])) {
      ++i;
      continue;
    }
    // A separator run.
    size_t j = i;
    while (j < c.size() && !IsAlnumLower(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool ok = sep == "." || sep == "_" || sep == "__" || sep.find_first_not_of('-') == std::string_view::npos;
    if (!ok) return false;
    i = j;
  }
  return true;
}

bool ValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t[0])) return false;
  for (char c : t)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

bool ValidDomain(std::string_view d) {
  if (d.empty()) return false;
  // host[:port]; host is dot-separated labels of alnum and '-', or a bracketed IPv6 address.
  std::string_view host = d, port;
  if (d.front() == '[') {
    auto close = d.find(']');
    if (close == std::string_view::npos) return false;
    host = d.substr(0, close + 1);
    std::string_view rest = d.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
  } else {
    auto colon = d.rfind(':');
    if (colon != std::string_view::npos) {
      host = d.substr(0, colon);
      port = d.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
  }
  for (char c : port)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

Status BadFormat() { return InvalidError("invalid reference format"); }

}  // namespace

bool IsValidDigest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.substr(0, kPrefix.size()) != kPrefix || digest.size() != kPrefix.size() + 64) return false;
  for (char c : digest.substr(kPrefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<Reference> ParseReference(std::string_view s) {
  if (s.empty() || s.size() > 4096) return BadFormat();
  Reference r;
  std::string_view rest = s;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    r.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!IsValidDigest(r.digest)) return InvalidError("invalid reference format: invalid digest");
  }
  // A tag follows the last ':' that comes after the last '/'.
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!ValidTag(r.tag)) return BadFormat();
  }
  if (rest.empty()) return BadFormat();
  // Domain split.
  std::string_view name = rest;
  auto first_slash = rest.find('/');
  if (first_slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, first_slash);
    bool has_upper = false;
    for (char c : first) has_upper |= std::isupper(static_cast<unsigned char>(c)) != 0;
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
        first == "localhost" || has_upper) {
      if (!ValidDomain(first)) return BadFormat();
      r.domain = std::string(first);
      name = rest.substr(first_slash + 1);
    }
  }
  if (r.domain.empty() || r.domain == "index.docker.io") r.domain = "docker.io";
  // Validate the path components.
  for (char c : name)
    if (std::isupper(static_cast<unsigned char>(c)))
      return InvalidError("invalid reference format: repository name must be lowercase");
  size_t start = 0;
  while (true) {
    auto end = name.find('/', start);
    std::string_view comp = name.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!ValidComponent(comp)) return BadFormat();
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  r.path = std::string(name);
  if (r.domain == "docker.io" && r.path.find('/') == std::string::npos) r.path = "library/" + r.path;
  if (r.Repository().size() > 255) return InvalidError("invalid reference format: repository name must not be more than 255 characters");
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

std::string Reference::String() const {
  std::string s = Repository();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::TagName() const { return tag.empty() ? "" : Repository() + ":" + tag; }
std::string Reference::DigestName() const { return digest.empty() ? "" : Repository() + "@" + digest; }

std::string Reference::Familiar() const {
  std::string s;
  if (domain == "docker.io") {
    s = path.rfind("library/", 0) == 0 && path.find('/', 8) == std::string::npos ? path.substr(8) : path;
  } else {
    s = Repository();
  }
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

}  // namespace tug::runtime::image
