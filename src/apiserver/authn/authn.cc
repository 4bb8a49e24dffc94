#include "apiserver/authn/authn.h"

#include <strings.h>

#include "apiserver/pki/pki.h"

namespace tug::apiserver::authn {
namespace {

// Splits text into CSV records the way Go's encoding/csv does with TrimLeadingSpace: quoted
// fields may contain commas, newlines and doubled quotes; blank lines are skipped.
// Each record carries the line it started on.
struct Record {
  int line = 0;
  std::vector<std::string> fields;
};

Result<std::vector<Record>> SplitCsv(std::string_view t, const std::string& source) {
  std::vector<Record> out;
  size_t i = 0;
  int line = 1;
  auto err = [&](int l, const std::string& what) {
    return BadRequestError("token file '" + source + "' line " + std::to_string(l) + ": " + what);
  };
  while (i < t.size()) {
    // Blank line (possibly \r\n).
    if (t[i] == '\n') {
      ++i;
      ++line;
      continue;
    }
    if (t[i] == '\r' && i + 1 < t.size() && t[i + 1] == '\n') {
      i += 2;
      ++line;
      continue;
    }
    Record rec;
    rec.line = line;
    for (;;) {
      while (i < t.size() && (t[i] == ' ' || t[i] == '\t')) ++i;  // TrimLeadingSpace
      std::string field;
      if (i < t.size() && t[i] == '"') {
        ++i;
        int start_line = line;
        bool closed = false;
        while (i < t.size()) {
          char c = t[i];
          if (c == '"') {
            if (i + 1 < t.size() && t[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          field += c;
          ++i;
        }
        if (!closed) return err(start_line, "extraneous or missing \" in quoted-field");
        if (i < t.size() && t[i] != ',' && t[i] != '\n' && t[i] != '\r')
          return err(line, "extraneous or missing \" in quoted-field");
      } else {
        while (i < t.size() && t[i] != ',' && t[i] != '\n') {
          if (t[i] == '"') return err(line, "bare \" in non-quoted-field");
          if (t[i] == '\r' && (i + 1 == t.size() || t[i + 1] == '\n')) {
            ++i;
            continue;
          }
          field += t[i++];
        }
      }
      rec.fields.push_back(std::move(field));
      if (i < t.size() && t[i] == '\r') ++i;
      if (i >= t.size()) break;
      if (t[i] == ',') {
        ++i;
        continue;
      }
      if (t[i] == '\n') {
        ++i;
        ++line;
        break;
      }
    }
    out.push_back(std::move(rec));
  }
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

void AddGroup(UserInfo& u, const std::string& g) {
  for (const auto& x : u.groups)
    if (x == g) return;
  u.groups.push_back(g);
}

}  // namespace

Result<TokenFile> ParseTokenCsv(std::string_view text, const std::string& source) {
  // A UTF-8 byte order mark is not part of the first token.
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  ASSIGN_OR_RETURN(std::vector<Record> records, SplitCsv(text, source));
  TokenFile tf;
  int record_num = 0;
  for (auto& r : records) {
    if (r.fields.size() < 3)
      return BadRequestError("token file '" + source + "' must have at least 3 columns (token, user name, user uid), found " +
                             std::to_string(r.fields.size()) + " on line " + std::to_string(r.line));
    ++record_num;
    if (r.fields[0].empty()) {
      tf.warnings.push_back("empty token has been found in token file '" + source + "', record number '" +
                            std::to_string(record_num) + "'");
      continue;
    }
    UserInfo u;
    u.name = r.fields[1];
    u.uid = r.fields[2];
    if (r.fields.size() >= 4) {
      std::string_view g = r.fields[3];
      size_t pos = 0;
      while (pos <= g.size()) {
        size_t comma = g.find(',', pos);
        if (comma == std::string_view::npos) comma = g.size();
        std::string_view one = g.substr(pos, comma - pos);
        if (!one.empty()) u.groups.emplace_back(one);
        pos = comma + 1;
      }
    }
    if (tf.users.count(r.fields[0]))
      tf.warnings.push_back("duplicate token has been found in token file '" + source + "', record number '" +
                            std::to_string(record_num) + "'");
    tf.users[r.fields[0]] = std::move(u);
  }
  return tf;
}

Result<TokenFile> LoadTokenFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, pki::ReadFile(path));
  return ParseTokenCsv(text, path);
}

UserInfo UserFromCert(const CertIdentity& cert) {
  UserInfo u;
  u.name = cert.common_name;
  u.groups = cert.organizations;
  AddGroup(u, kAuthenticatedGroup);
  return u;
}

bool IsAnonymousPath(std::string_view path) {
  if (path == "/version" || path == "/version/") return true;
  for (std::string_view p : {"/healthz", "/livez", "/readyz"}) {
    if (path == p) return true;
    if (path.size() > p.size() && path.substr(0, p.size()) == p && path[p.size()] == '/') return true;
  }
  return false;
}

UserInfo AnonymousUser() {
  UserInfo u;
  u.name = kAnonymousUser;
  u.groups = {kUnauthenticatedGroup};
  return u;
}

AuthResult Authenticator::Authenticate(const Credentials& creds) const {
  AuthResult r;
  if (creds.client_cert && !creds.client_cert->common_name.empty()) {
    r.outcome = Outcome::kAuthenticated;
    r.user = UserFromCert(*creds.client_cert);
    return r;
  }
  std::string_view auth = Trim(creds.authorization);
  if (auth.empty()) return r;
  size_t sp = auth.find(' ');
  if (sp == std::string_view::npos || !IEquals(auth.substr(0, sp), "bearer")) return r;  // not a bearer token
  std::string_view token = auth.substr(sp + 1);
  size_t sp2 = token.find(' ');
  if (sp2 != std::string_view::npos) token = token.substr(0, sp2);
  if (token.empty()) return r;
  auto it = tokens_.users.find(std::string(token));
  if (it == tokens_.users.end()) {
    for (const TokenAuthenticator* ta : token_authenticators_) {
      AuthResult tr = ta->AuthenticateToken(token);
      if (tr.outcome == Outcome::kNoCredentials) continue;
      if (tr.outcome == Outcome::kAuthenticated) AddGroup(tr.user, kAuthenticatedGroup);
      return tr;
    }
    r.outcome = Outcome::kRejected;
    return r;
  }
  r.outcome = Outcome::kAuthenticated;
  r.user = it->second;
  AddGroup(r.user, kAuthenticatedGroup);
  return r;
}

}  // namespace tug::apiserver::authn
