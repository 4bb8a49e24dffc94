// Pod spec and pod template validation shared by Pod, PodTemplate, ReplicationController and
// the apps/batch workloads (owner: validation). Upstream pkg/apis/core/validation rules and
// messages; paths are rendered as upstream field.Path strings.
//
// Thread-safety: pure functions, reentrant.
#pragma once

#include <string>

#include "api/field_error.h"
#include "base/json.h"

namespace tug::api::validation {

// PodSpec at `path` ("spec", "spec.template.spec", ...).
void ValidatePodSpec(const Json& spec, const std::string& path, FieldErrors& errs);
// PodTemplateSpec at `path` ("spec.template"): labels/annotations of its metadata and the spec.
void ValidatePodTemplateSpec(const Json& tmpl, const std::string& path, FieldErrors& errs);
// Pod update: only the mutable fields may change (upstream ValidatePodUpdate's Forbidden).
void ValidatePodSpecUpdate(const Json& spec, const Json& old_spec, FieldErrors& errs);

}  // namespace tug::api::validation
