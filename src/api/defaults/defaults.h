// Upstream defaulting (owner: validation): the SetDefaults_* functions of
// k8s.io/kubernetes pkg/apis/*/v1/defaults.go, the OpenAPI `default` markers, and the few
// defaults upstream strategies apply on create (Pod enableServiceLinks, Namespace finalizers
// and phase), applied to plain JSON objects at their storage version. Secret.stringData is
// merged into data (base64) and dropped, as upstream's v1 conversion does.
//
// Apply never removes or rewrites a field the client set; it only fills in missing ones, so
// it is idempotent and keeps unknown fields. Nested pod templates get the pod spec defaults
// (Deployment.spec.template.spec, CronJob.spec.jobTemplate.spec.template.spec, ...).
//
// Not done here (the API server assigns them): Service clusterIP(s)/ipFamilies/nodePorts,
// Job selector and controller-uid labels, Pod status/qosClass, names from generateName.
//
// Thread-safety: pure functions, reentrant.
#pragma once

#include <string_view>

#include "base/json.h"

namespace tug::api::defaults {

// Upstream SetDefaults_* for the kind (group "" = core), applied to a whole object of that
// kind. Idempotent. No-op for kinds without defaults.
void Apply(std::string_view group, std::string_view kind, Json& obj);

// Shared pieces, usable by other kinds (e.g. CRD-free templates).
// PodSpec defaults (SetDefaults_PodSpec + containers, volumes, probes, ports).
void PodSpec(Json& spec);
// PodTemplateSpec: {metadata, spec} -> spec gets PodSpec defaults.
void PodTemplateSpec(Json& tmpl);
// PersistentVolumeClaimSpec (volumeMode Filesystem).
void PersistentVolumeClaimSpec(Json& spec);

}  // namespace tug::api::defaults
