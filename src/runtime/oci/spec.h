// Builds the OCI runtime spec (config.json) of a container from its ContainerConfig and its
// pod sandbox, with the defaults of containerd/CRI-O: default capabilities, masked and
// read-only /proc and /sys paths, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and cgroupfs
// mounts, pod-shared network/IPC/UTS namespaces joined by path, private mount and PID
// namespaces. Pure functions except ResolveUser, which reads the container's /etc/passwd and
// /etc/group without leaving the rootfs (openat2 RESOLVE_IN_ROOT).
//
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "runtime/runtime.h"

namespace tug::runtime {

struct ProcessUser {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> additional_gids;
};

struct SpecInput {
  const ContainerConfig* container = nullptr;
  const PodSandboxConfig* sandbox = nullptr;
  std::string netns_path, ipcns_path, utsns_path;  // empty: host namespace
  std::string shm_path;      // pod /dev/shm to bind; empty: private tmpfs
  std::string cgroups_path;  // "/tug/pod<uid>/<cid>"
  ProcessUser user;
  bool cgroup_namespace = false;  // private cgroup namespace (containerd does this on cgroup v2)
};

// Kubernetes command/args over the image's Entrypoint/Cmd.
std::vector<std::string> ResolveArgv(const ContainerConfig& c);
// Image env, then container env (same name: container wins), PATH default when missing.
std::vector<std::string> MergeEnv(const ContainerConfig& c, const std::string& hostname);
// Effective capability set ("CAP_*") after add/drop over the defaults (or all when privileged).
std::vector<std::string> EffectiveCapabilities(const SecurityContext& s);
const std::vector<std::string>& DefaultCapabilities();
const std::vector<std::string>& AllCapabilities();

// runAsUser/runAsGroup override the image's USER; names are looked up in rootfs/etc/passwd.
Result<ProcessUser> ResolveUser(const std::string& rootfs, const ContainerConfig& c);

Result<Json> BuildSpec(const SpecInput& in);

}  // namespace tug::runtime
