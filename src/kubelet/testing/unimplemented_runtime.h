// UnimplementedRuntime: a runtime::Runtime whose every method fails with Internal("not
// implemented"), the base of the kubelet tests' small fakes: a test overrides only the calls
// the code under test makes.
// Ownership: plain object. Thread-safety: as the overriding fake makes it.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runtime/runtime.h"

namespace tug::kubelet::testing {

class UnimplementedRuntime : public runtime::Runtime {
 public:
  static Status Unimplemented() { return InternalError("not implemented"); }
  Result<runtime::RuntimeVersion> Version() override { return Unimplemented(); }
  Result<std::string> RunPodSandbox(const runtime::PodSandboxConfig&) override { return Unimplemented(); }
  Status StopPodSandbox(const std::string&, std::chrono::seconds) override { return Unimplemented(); }
  Status RemovePodSandbox(const std::string&) override { return Unimplemented(); }
  Result<runtime::PodSandboxStatus> PodSandboxStatusOf(const std::string&) override { return Unimplemented(); }
  Result<std::vector<runtime::PodSandboxStatus>> ListPodSandboxes() override { return Unimplemented(); }
  Result<std::string> CreateContainer(const std::string&, const runtime::ContainerConfig&) override {
    return Unimplemented();
  }
  Status StartContainer(const std::string&) override { return Unimplemented(); }
  Status StopContainer(const std::string&, std::chrono::seconds) override { return Unimplemented(); }
  Status RemoveContainer(const std::string&) override { return Unimplemented(); }
  Result<runtime::ContainerStatus> ContainerStatusOf(const std::string&) override { return Unimplemented(); }
  Result<std::vector<runtime::ContainerStatus>> ListContainers(const std::string&) override {
    return Unimplemented();
  }
  Result<runtime::ResourceStats> ContainerStatsOf(const std::string&) override { return Unimplemented(); }
  Result<runtime::ResourceStats> PodSandboxStatsOf(const std::string&) override { return Unimplemented(); }
  Result<runtime::ExecResult> ExecSync(const std::string&, const std::vector<std::string>&,
                                       std::chrono::milliseconds) override {
    return Unimplemented();
  }
  Result<std::unique_ptr<runtime::ExecSession>> Exec(const std::string&, const runtime::ExecOptions&) override {
    return Unimplemented();
  }
  Result<runtime::AttachConnection> Attach(const std::string&) override { return Unimplemented(); }
  Status ResizeContainerTerminal(const std::string&, uint16_t, uint16_t) override { return Unimplemented(); }
  Status ReopenContainerLog(const std::string&) override { return Unimplemented(); }
  Status Cleanup(const std::set<std::string>&) override { return Unimplemented(); }
};

}  // namespace tug::kubelet::testing
