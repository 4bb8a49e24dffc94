// Request authentication for the API server: verified client certificates and static bearer
// tokens (--token-auth-file), as upstream's x509 and tokenfile authenticators.
//
// The TLS layer (apiserver/server) verifies the client certificate chain against the CA during
// the handshake and hands the verified subject (CN, O entries) in; this component turns
// credentials into a UserInfo. Every authenticated user also gets the group
// "system:authenticated".
//
// Anonymous access: only the health/version endpoints (IsAnonymousPath) are served without
// credentials (user system:anonymous, group system:unauthenticated). Presenting a bad token is a
// 401 everywhere, as upstream.
//
// Ownership: Authenticator is immutable after construction. Thread-safety: all methods const and
// safe to call concurrently.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "apiserver/http.h"
#include "base/status.h"

namespace tug::apiserver::authn {

inline constexpr const char* kAuthenticatedGroup = "system:authenticated";
inline constexpr const char* kUnauthenticatedGroup = "system:unauthenticated";
inline constexpr const char* kAnonymousUser = "system:anonymous";

// Subject of a client certificate that the TLS layer has verified against the CA.
struct CertIdentity {
  std::string common_name;
  std::vector<std::string> organizations;
};

// One parsed token file: token -> user.
struct TokenFile {
  std::unordered_map<std::string, UserInfo> users;
  std::vector<std::string> warnings;  // skipped empty tokens, duplicates (as upstream logs them)
};

// Parses upstream's static token CSV: `token,user,uid[,"group1,group2"]` per line (RFC 4180
// quoting, leading spaces trimmed, blank lines skipped). A record with fewer than 3 fields or a
// malformed quote is an error (BadRequest naming the line); an empty token is skipped with a
// warning; a duplicate token replaces the earlier one with a warning. `source` names the file in
// messages.
Result<TokenFile> ParseTokenCsv(std::string_view text, const std::string& source);
// Reads and parses a token file. Errors: Internal (unreadable), BadRequest (bad content).
Result<TokenFile> LoadTokenFile(const std::string& path);

// What a request presented.
struct Credentials {
  std::string_view authorization;       // the Authorization header, or empty
  const CertIdentity* client_cert = nullptr;  // verified client cert subject, or null
};

enum class Outcome {
  kAuthenticated,   // user filled
  kNoCredentials,   // nothing presented
  kRejected,        // something presented but not valid (bad/unknown token)
};

struct AuthResult {
  Outcome outcome = Outcome::kNoCredentials;
  UserInfo user;
};

// The user a verified client certificate stands for (CN -> name, O -> groups, plus
// system:authenticated).
UserInfo UserFromCert(const CertIdentity& cert);

// /healthz, /livez, /readyz (and their sub-paths) and /version.
bool IsAnonymousPath(std::string_view path);
UserInfo AnonymousUser();

// A pluggable bearer-token authenticator (ServiceAccount JWTs: apiserver/serviceaccount), as
// upstream's union of token authenticators. Implementations are thread-safe.
class TokenAuthenticator {
 public:
  virtual ~TokenAuthenticator() = default;
  // kNoCredentials: not this authenticator's token (the next one may try); kAuthenticated: user
  // filled (system:authenticated is added by the caller); kRejected: its kind of token, but not
  // valid (bad signature, expired, bound object gone).
  virtual AuthResult AuthenticateToken(std::string_view token) const = 0;
};

class Authenticator {
 public:
  Authenticator() = default;
  explicit Authenticator(TokenFile tokens) : tokens_(std::move(tokens)) {}

  // Added by sa-tokens: asked, in order, about bearer tokens that are not static tokens. Not
  // owned (must outlive this). Call before the Authenticator is shared with the transport.
  void AddTokenAuthenticator(const TokenAuthenticator* t) { token_authenticators_.push_back(t); }

  // A valid client certificate wins (as upstream's union authenticator tries x509 first);
  // otherwise a Bearer token must be known.
  AuthResult Authenticate(const Credentials& creds) const;

  size_t token_count() const { return tokens_.users.size(); }

 private:
  TokenFile tokens_;
  std::vector<const TokenAuthenticator*> token_authenticators_;
};

}  // namespace tug::apiserver::authn
