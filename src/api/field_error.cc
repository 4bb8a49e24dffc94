// Field errors: upstream field.Error rendering and the Invalid StatusError built from a list.
#include "api/field_error.h"

#include <cstdio>
#include <set>
#include <utility>

#include "api/validation/helpers.h"

namespace tug::api {

FieldError FieldError::Required(std::string field, std::string detail) {
  FieldError e;
  e.type = Type::kRequired;
  e.field = std::move(field);
  e.value = "";
  e.detail = std::move(detail);
  return e;
}

FieldError FieldError::Invalid(std::string field, Json value, std::string detail) {
  FieldError e;
  e.type = Type::kInvalid;
  e.field = std::move(field);
  e.value = std::move(value);
  e.detail = std::move(detail);
  return e;
}

FieldError FieldError::NotSupported(std::string field, Json value, std::vector<std::string> supported) {
  FieldError e;
  e.type = Type::kNotSupported;
  e.field = std::move(field);
  e.value = std::move(value);
  std::string detail;
  if (!supported.empty()) {
    detail = "supported values: ";
    for (size_t i = 0; i < supported.size(); ++i) {
      if (i > 0) detail += ", ";
      detail += validation::GoQuote(supported[i]);
    }
  }
  e.detail = std::move(detail);
  e.supported = std::move(supported);
  return e;
}

FieldError FieldError::Forbidden(std::string field, std::string detail) {
  FieldError e;
  e.type = Type::kForbidden;
  e.field = std::move(field);
  e.value = "";
  e.detail = std::move(detail);
  return e;
}

FieldError FieldError::Duplicate(std::string field, Json value) {
  FieldError e;
  e.type = Type::kDuplicate;
  e.field = std::move(field);
  e.value = std::move(value);
  return e;
}

FieldError FieldError::TooLong(std::string field, Json /*value*/, int max) {
  FieldError e;
  e.type = Type::kTooLong;
  e.field = std::move(field);
  // Upstream never echoes the (possibly huge) value of a too-long field.
  e.value = "<value omitted>";
  e.detail = max >= 0 ? "may not be more than " + std::to_string(max) + " bytes" : "value is too long";
  return e;
}

FieldError FieldError::NotFound(std::string field, Json value) {
  FieldError e;
  e.type = Type::kNotFound;
  e.field = std::move(field);
  e.value = std::move(value);
  return e;
}

namespace {

std::string_view TypeString(FieldError::Type t) {
  switch (t) {
    case FieldError::Type::kRequired: return "Required value";
    case FieldError::Type::kInvalid: return "Invalid value";
    case FieldError::Type::kNotSupported: return "Unsupported value";
    case FieldError::Type::kForbidden: return "Forbidden";
    case FieldError::Type::kDuplicate: return "Duplicate value";
    case FieldError::Type::kTooLong: return "Too long";
    case FieldError::Type::kTooMany: return "Too many";
    case FieldError::Type::kNotFound: return "Not found";
  }
  return "Invalid value";
}

}  // namespace

std::string FieldError::Reason() const {
  switch (type) {
    case Type::kRequired: return "FieldValueRequired";
    case Type::kInvalid: return "FieldValueInvalid";
    case Type::kNotSupported: return "FieldValueNotSupported";
    case Type::kForbidden: return "FieldValueForbidden";
    case Type::kDuplicate: return "FieldValueDuplicate";
    case Type::kTooLong: return "FieldValueTooLong";
    case Type::kTooMany: return "FieldValueTooMany";
    case Type::kNotFound: return "FieldValueNotFound";
  }
  return "FieldValueInvalid";
}

std::string FieldError::Message() const {
  std::string s(TypeString(type));
  switch (type) {
    case Type::kRequired:
    case Type::kForbidden:
    case Type::kTooLong:
      break;
    default:
      // Go: a nil bad value prints as the string "null" (quoted by %q).
      if (!go_value.empty()) s += ": " + go_value;
      else s += ": " + (value.is_null() ? validation::GoQuote("null") : validation::GoValue(value));
  }
  if (!detail.empty()) s += ": " + detail;
  return s;
}

std::string FieldError::ToString() const { return field + ": " + Message(); }

Status InvalidStatus(const std::string& qualified_kind, const std::string& group, const std::string& kind,
                     const std::string& name, const FieldErrors& errs) {
  StatusDetails details;
  details.name = name;
  details.group = group;
  details.kind = kind;
  for (const FieldError& e : errs) details.causes.push_back(StatusCause{e.Reason(), e.Message(), e.field});
  // ToAggregate drops repeated messages; one error prints bare, several as "[a, b]".
  std::vector<std::string> msgs;
  std::set<std::string> seen;
  for (const FieldError& e : errs) {
    std::string m = e.ToString();
    if (seen.insert(m).second) msgs.push_back(std::move(m));
  }
  std::string message = qualified_kind + " " + validation::GoQuote(name) + " is invalid";
  if (msgs.size() == 1) {
    message += ": " + msgs[0];
  } else if (msgs.size() > 1) {
    message += ": [";
    for (size_t i = 0; i < msgs.size(); ++i) {
      if (i > 0) message += ", ";
      message += msgs[i];
    }
    message += "]";
  }
  return Status(StatusCode::kInvalid, std::move(message)).WithDetails(std::move(details));
}

}  // namespace tug::api
