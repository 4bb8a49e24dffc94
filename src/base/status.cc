#include "base/status.h"

namespace tug {

std::string_view ReasonOf(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kConflict: return "Conflict";
    case StatusCode::kInvalid: return "Invalid";
    case StatusCode::kBadRequest: return "BadRequest";
    case StatusCode::kUnauthorized: return "Unauthorized";
    case StatusCode::kForbidden: return "Forbidden";
    case StatusCode::kMethodNotAllowed: return "MethodNotAllowed";
    case StatusCode::kNotAcceptable: return "NotAcceptable";
    case StatusCode::kGone: return "Expired";
    case StatusCode::kRequestEntityTooLarge: return "RequestEntityTooLarge";
    case StatusCode::kUnsupportedMediaType: return "UnsupportedMediaType";
    case StatusCode::kTooManyRequests: return "TooManyRequests";
    case StatusCode::kInternal: return "InternalError";
    case StatusCode::kUnavailable: return "ServiceUnavailable";
    case StatusCode::kTimeout: return "Timeout";
  }
  return "Unknown";
}

int HttpCodeOf(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kConflict: return 409;
    case StatusCode::kInvalid: return 422;
    case StatusCode::kBadRequest: return 400;
    case StatusCode::kUnauthorized: return 401;
    case StatusCode::kForbidden: return 403;
    case StatusCode::kMethodNotAllowed: return 405;
    case StatusCode::kNotAcceptable: return 406;
    case StatusCode::kGone: return 410;
    case StatusCode::kRequestEntityTooLarge: return 413;
    case StatusCode::kUnsupportedMediaType: return 415;
    case StatusCode::kTooManyRequests: return 429;
    case StatusCode::kInternal: return 500;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kTimeout: return 504;
  }
  return 500;
}

Status Status::WithDetails(StatusDetails details) const {
  Status s = *this;
  s.details_ = std::make_shared<const StatusDetails>(std::move(details));
  return s;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(ReasonOf(code_));
  out += ": ";
  out += message_;
  return out;
}

}  // namespace tug
