// Field errors as upstream's field.ErrorList, and their conversion to an Invalid Status with
// the upstream message shape:
//   Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0
// and one StatusCause per error.
#pragma once

#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"

namespace tug::api {

struct FieldError {
  enum class Type { kRequired, kInvalid, kNotSupported, kForbidden, kDuplicate, kTooLong, kTooMany, kNotFound };
  Type type = Type::kInvalid;
  std::string field;                   // "spec.template.spec.containers[0].image"
  Json value;                          // the bad value (kInvalid, kNotSupported, kDuplicate, kNotFound)
  std::string detail;                  // "must be greater than or equal to 0"
  std::vector<std::string> supported;  // kNotSupported: the allowed values
  // When set, printed in place of `value`: upstream's Go rendering of a typed bad value
  // (e.g. `v1.LabelSelector{MatchLabels:map[string]string{"app":"x"}, ...}`), which plain
  // JSON cannot carry. Additive; empty for most errors.
  std::string go_value;

  static FieldError Required(std::string field, std::string detail = "");
  static FieldError Invalid(std::string field, Json value, std::string detail);
  static FieldError NotSupported(std::string field, Json value, std::vector<std::string> supported);
  static FieldError Forbidden(std::string field, std::string detail);
  static FieldError Duplicate(std::string field, Json value);
  static FieldError TooLong(std::string field, Json value, int max);
  static FieldError NotFound(std::string field, Json value);

  // "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
  std::string ToString() const;
  // The cause reason: FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ...
  std::string Reason() const;
  // The cause message: the part after "<field>: ".
  std::string Message() const;
};

using FieldErrors = std::vector<FieldError>;

// 422 Invalid: `<qualified_kind> "<name>" is invalid: <e1>` or `... is invalid: [<e1>, <e2>]`.
// qualified_kind is "Deployment.apps" (or "Pod" for the core group).
Status InvalidStatus(const std::string& qualified_kind, const std::string& group, const std::string& kind,
                     const std::string& name, const FieldErrors& errs);

}  // namespace tug::api
