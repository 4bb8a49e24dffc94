// Pure helpers that turn a Pod's container spec into runtime values as kubelet computes them:
// resource quantities, cgroup values (cpu shares/quota, memory limit, OOM score), QoS class,
// and the environment (value, valueFrom fieldRef/resourceFieldRef/configMapKeyRef/
// secretKeyRef, envFrom). Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "runtime/runtime.h"

namespace tug::kubelet {

// A Kubernetes quantity ("100m", "1.5", "128Mi", "1G", "1e3") in milli-units.
// Errors: Invalid.
Result<int64_t> ParseQuantityMilli(const std::string& q);

// "Guaranteed", "Burstable" or "BestEffort" from the pod's containers' requests/limits.
std::string QosClass(const Json& pod);

// Cgroup values for one container (kubelet's ResourceConfigForContainer / OOM score policy).
runtime::Resources ContainerResources(const Json& pod, const Json& container, int64_t node_memory_bytes);

// Looks up a key of a ConfigMap or Secret (decoded): NotFound when the object or key is absent.
using KeyLookup = std::function<Result<std::string>(const std::string& kind, const std::string& name,
                                                    const std::string& key)>;
// Whole-object data lookup for envFrom (decoded values).
using DataLookup = std::function<Result<std::vector<std::pair<std::string, std::string>>>(
    const std::string& kind, const std::string& name)>;

// The container's environment in order (envFrom first, then env, later entries win as in
// kubelet; $(VAR) references expanded). Missing non-optional references are errors
// (Invalid, message as kubelet's CreateContainerConfigError).
Result<std::vector<std::pair<std::string, std::string>>> BuildEnv(const Json& pod, const Json& container,
                                                                   const std::string& node_name,
                                                                   const std::string& node_ip,
                                                                   const KeyLookup& key_lookup,
                                                                   const DataLookup& data_lookup);

}  // namespace tug::kubelet
