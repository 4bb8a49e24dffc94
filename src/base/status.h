// Status and Result<T>: errors as values (CONVENTIONS C3).
//
// A Status carries a code that maps 1:1 onto a Kubernetes API reason and HTTP code, a
// human-readable message, and optional details (the object the error is about and, for
// Invalid, the list of field causes). The apiserver turns a Status into metav1.Status in
// exactly one place (apiserver/status_writer). Both types are [[nodiscard]].
//
// Thread-safety: values; a Status is cheap to copy (details are shared and immutable).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tug {

enum class StatusCode : uint8_t {
  kOk = 0,
  kNotFound,              // 404 NotFound
  kAlreadyExists,         // 409 AlreadyExists
  kConflict,              // 409 Conflict (resourceVersion / precondition mismatch)
  kInvalid,               // 422 Invalid
  kBadRequest,            // 400 BadRequest
  kUnauthorized,          // 401 Unauthorized
  kForbidden,             // 403 Forbidden
  kMethodNotAllowed,      // 405 MethodNotAllowed
  kNotAcceptable,         // 406 NotAcceptable
  kGone,                  // 410 Expired (resourceVersion too old / compacted)
  kRequestEntityTooLarge, // 413 RequestEntityTooLarge
  kUnsupportedMediaType,  // 415 UnsupportedMediaType
  kTooManyRequests,       // 429 TooManyRequests
  kInternal,              // 500 InternalError
  kUnavailable,           // 503 ServiceUnavailable
  kTimeout,               // 504 Timeout
};

// Kubernetes StatusReason string ("NotFound", "Invalid", "Expired", ...).
std::string_view ReasonOf(StatusCode code);
// HTTP status code for the code (404, 422, ...).
int HttpCodeOf(StatusCode code);

// One entry of metav1.StatusDetails.causes.
struct StatusCause {
  std::string reason;   // e.g. "FieldValueInvalid", "FieldValueRequired"
  std::string message;  // e.g. "Invalid value: -1: must be greater than or equal to 0"
  std::string field;    // e.g. "spec.replicas"
};

// metav1.StatusDetails.
struct StatusDetails {
  std::string name;
  std::string group;
  std::string kind;
  std::string uid;
  std::vector<StatusCause> causes;
  int retry_after_seconds = 0;
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const StatusDetails* details() const { return details_.get(); }

  // Returns a copy with details attached.
  Status WithDetails(StatusDetails details) const;
  // "<code reason>: <message>", for logs.
  std::string ToString() const;
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::shared_ptr<const StatusDetails> details_;
};

inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status ConflictError(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
inline Status InvalidError(std::string m) { return {StatusCode::kInvalid, std::move(m)}; }
inline Status BadRequestError(std::string m) { return {StatusCode::kBadRequest, std::move(m)}; }
inline Status UnauthorizedError(std::string m) { return {StatusCode::kUnauthorized, std::move(m)}; }
inline Status ForbiddenError(std::string m) { return {StatusCode::kForbidden, std::move(m)}; }
inline Status GoneError(std::string m) { return {StatusCode::kGone, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status TimeoutError(std::string m) { return {StatusCode::kTimeout, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                       // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}                // NOLINT: must not be OK
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tug

#define TUG_CONCAT_INNER(a, b) a##b
#define TUG_CONCAT(a, b) TUG_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::tug::Status _st = (expr);               \
    if (!_st.ok()) return _st;                \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(TUG_CONCAT(_res_, __LINE__), lhs, expr)
