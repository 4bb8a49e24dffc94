// Shared environment for e2e tests that run real pods on this machine (issue 5): the temp node
// (its names, data and run dirs), the flags that start `tug server` with its built-in agent or a
// separate `tug agent`, the local test registry with the busybox images (tools/test-images.sh)
// and the mirror config that points the agent at it, and the host inspection and cleanup that
// proves a node left nothing behind (mounts, netns, cgroups, veths, IP allocations, containers).
//
// Ownership: a NodeEnv is plain data; the test that fills it owns the dirs it names and removes
// them (RemoveTree) after HostCleanup. A TestRegistry owns its temp dir and registry process;
// Stop() (or the gtest environment made by AddTestRegistry) stops and removes them.
// Thread-safety: none; one test thread. Every function runs its commands synchronously.
//
// Example (a fixture with a separate agent; names distinct from every other test's):
//
//   TestRegistry* const kRegistry = AddTestRegistry("tug-mine-reg");   // once per binary
//
//   void SetUp() override {
//     if (auto why = NodePrerequisitesMissing(); !why.empty()) GTEST_SKIP() << why;
//     ASSERT_NE(kRegistry->port(), 0) << "test images: " << kRegistry->error();
//     node_ = {.name = "e2e-mine", .bridge = "tugmine0", .cluster_cidr = "10.240.0.0/16",
//              .cgroup_parent = "/tug-e2e-mine", .data_dir = MakeTempDir("tug-mine-agent"),
//              .run_dir = MakeTempDir("tug-mine-run")};
//     auto why = StartServerWithAgent(*kRegistry, node_, AgentAuth::kToken, server_, agent_);
//     ASSERT_EQ(why, "");
//   }
//   void TearDown() override { StopNode(node_, server_, agent_); }
//
// For the built-in agent: TugServer(BuiltinAgentFlags(node_)), node_.data_dir =
// AgentDataDir(server), kRegistry->WriteMirror(node_.data_dir), Start, and wait for
// "node agent ready" in the server's log; StopNode with a null agent.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.h"

namespace tug::e2e {

// ---------------------------------------------------------------- files and host state

// The whole file ("" when it cannot be read).
std::string ReadAll(const std::string& path);
// Names (not paths) of the entries of `dir`; empty when it does not exist.
std::vector<std::string> Entries(const std::string& dir);
// `s` split at newlines (the last line need not end in one).
std::vector<std::string> Lines(const std::string& s);
// Mount points at or below any of `prefixes` (from /proc/self/mountinfo), deepest first.
std::vector<std::string> MountsUnder(const std::vector<std::string>& prefixes);
// cgroup directories named pod* below <hierarchy>/<parent> in every mounted hierarchy.
std::vector<std::string> PodCgroups(const std::string& parent);
// Removes (deepest first) every cgroup directory <hierarchy>/<parent>, in the unified hierarchy
// and every v1 hierarchy mounted under /sys/fs/cgroup. Cgroups that still hold tasks stay.
void RemoveCgroupTree(const std::string& parent);

// ---------------------------------------------------------------- the node

// Why this process cannot run real pods ("" when it can): root, runc, conmon, the CNI bridge
// plugin, plus any `extra_tools` (absolute paths that must be executable).
std::string NodePrerequisitesMissing(const std::vector<std::string>& extra_tools = {});

// One node's names and dirs. Tests on this machine run concurrently with other helpers' tests:
// every test keeps its own name, bridge, cluster CIDR and cgroup parent.
struct NodeEnv {
  std::string name, bridge, cluster_cidr, cgroup_parent;
  std::string data_dir;  // the agent's data dir (images, pod dirs, CNI IPAM state)
  std::string run_dir;   // the agent's run dir (netns pins, runc root, sockets)
};

// The agent data dir of a `tug server` with its built-in agent.
std::string AgentDataDir(const TugServer& server);
// `tug server` flags that run the built-in agent as node `n` (kubelet port 0).
std::vector<std::string> BuiltinAgentFlags(const NodeEnv& n);
// The server's agent token (data dir's agent-token without the trailing newline).
std::string AgentToken(const TugServer& server);
// argv of a `tug agent` joining `server` as node `n` with the agent token (--token, --ca-file).
std::vector<std::string> TokenAgentArgv(const TugServer& server, const NodeEnv& n);
// argv of a `tug agent` joining `server` as node `n` with the server's admin kubeconfig.
std::vector<std::string> KubeconfigAgentArgv(const TugServer& server, const NodeEnv& n);

// ---------------------------------------------------------------- kubectl against a server

// `<kubectl> <args>` with KUBECONFIG set to the server's, `in` as its stdin.
RunResult Kubectl(const TugServer& server, std::vector<std::string> args, const std::string& in = "",
                  std::chrono::milliseconds timeout = std::chrono::seconds(60), const std::string& kubectl = "kubectl");
// `kubectl <args>` output parsed as JSON (`-o json` is the caller's); null when it failed.
nlohmann::json KubectlJson(const TugServer& server, const std::vector<std::string>& args);
// Polls `kubectl get pod <name> -o json` until pred(pod) holds or `timeout` passes; returns the
// last pod seen (null when there was none).
nlohmann::json WaitPod(const TugServer& server, const std::string& name,
                       const std::function<bool(const nlohmann::json&)>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(90));

// `kubectl delete pods --all --wait` in the default namespace (a teardown step: the agent kills
// the containers and tears down the sandboxes while it still runs). grace_seconds < 0: the pods'
// own grace periods.
void DeleteAllPods(const TugServer& server, int grace_seconds = -1);

// The nat POSTROUTING masquerade rules (iptables-save lines) of pod addresses in `cidr`: what
// the CNI bridge plugin's ipMasq adds per pod.
std::vector<std::string> MasqueradeRules(const std::string& cidr);

// What one node leaves on the host; all empty on a clean node.
struct Leftovers {
  std::vector<std::string> mounts, netns, cgroups, veths, ips, runc;
  std::vector<std::string> masquerade;  // MasqueradeRules(cluster_cidr)
  bool empty() const;
  std::string Describe() const;
};
// The node's mounts (under its run and data dirs), netns pins, pod cgroups, veths on its bridge,
// CNI IP allocations, runc containers and masquerade rules of its pod range.
Leftovers Inspect(const NodeEnv& n);
// Polls Inspect until the node is clean or `timeout` passes; returns the last inspection.
Leftovers WaitClean(const NodeEnv& n, std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Removes whatever a node left behind (call after its agent stopped; safe on a clean node and
// on a NodeEnv whose dirs are empty): kills and deletes its runc containers, unmounts everything
// under its run and data dirs, deletes its pod range's masquerade rules, its bridge and its
// cgroup parent.
void HostCleanup(const NodeEnv& n);
// RemoveTree of the node's run and data dirs (those that are set).
void RemoveNodeDirs(const NodeEnv& n);

class TestRegistry;

// How a separate `tug agent` authenticates to its server.
enum class AgentAuth { kToken, kKubeconfig };

// The usual SetUp of a test with a separate agent: writes the registry's mirror into n.data_dir,
// starts `tug server --disable-agent` into `server` and `tug agent` as node n into `agent`, and
// waits until the agent is ready. Returns "" or what did not come up.
std::string StartServerWithAgent(const TestRegistry& registry, const NodeEnv& n, AgentAuth auth,
                                 std::unique_ptr<TugServer>& server, std::unique_ptr<Background>& agent);

// The usual TearDown of a node test (either form; `agent` is null for the built-in agent):
// deletes all pods while an agent can still tear them down (grace_seconds as DeleteAllPods),
// stops the agent and the server, HostCleanup, RemoveNodeDirs, then resets `server` (which
// removes its data dir). Safe after a failed or skipped SetUp.
void StopNode(const NodeEnv& n, std::unique_ptr<TugServer>& server, std::unique_ptr<Background>& agent,
              int grace_seconds = -1);

// ---------------------------------------------------------------- the test registry

// A local registry holding the busybox test images (tools/test-images.sh; needs root, umoci,
// skopeo and docker-registry), on a free port in a temp dir.
class TestRegistry {
 public:
  explicit TestRegistry(std::string temp_prefix) : prefix_(std::move(temp_prefix)) {}
  ~TestRegistry() { Stop(); }
  TestRegistry(const TestRegistry&) = delete;
  TestRegistry& operator=(const TestRegistry&) = delete;

  // Builds the images and starts the registry (a few minutes on a cold cache). Does nothing
  // unless root. Returns whether it runs; error() says why not.
  bool Start();
  void Stop();
  // 0 when not running.
  int port() const { return port_; }
  const std::string& error() const { return error_; }
  // Writes <agent_data_dir>/registries.yaml: docker.io mirrored by this registry.
  void WriteMirror(const std::string& agent_data_dir) const;

 private:
  std::string prefix_;
  std::string dir_;
  int port_ = 0;
  std::string error_;
};

// A TestRegistry started once for the whole test binary (a gtest global environment: SetUp
// starts it before the first test, TearDown stops it after the last). Call at namespace scope.
TestRegistry* AddTestRegistry(const std::string& temp_prefix);

}  // namespace tug::e2e
