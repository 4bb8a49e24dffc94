// Test fixtures for the scheduler: pod/node document builders, an in-memory ClusterLister and
// a FakeCluster Handle holding NodeInfos, and a helper that builds a Framework from plugin names.
// Test-only (exempt from import rules). Not thread-safe.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/json.h"
#include "scheduler/framework/framework.h"
#include "scheduler/framework/schedule_pod.h"
#include "scheduler/plugins/registry.h"

namespace tug::scheduler::testing {

using framework::NodeInfo;
using framework::ObjectPtr;
using framework::PodInfo;
using framework::PodInfoPtr;

class PodBuilder {
 public:
  explicit PodBuilder(std::string name, std::string ns = "default");
  PodBuilder& Uid(std::string uid);
  PodBuilder& Label(std::string k, std::string v);
  PodBuilder& Req(std::string resource, std::string qty);            // first container
  PodBuilder& Container(std::map<std::string, std::string> requests); // another container
  PodBuilder& Init(std::map<std::string, std::string> requests, bool sidecar = false);
  PodBuilder& Overhead(std::string resource, std::string qty);
  PodBuilder& HostPort(int port, std::string protocol = "TCP", std::string ip = "");
  PodBuilder& NodeSelector(std::string k, std::string v);
  PodBuilder& Toleration(std::string key, std::string op, std::string value, std::string effect);
  PodBuilder& Priority(int32_t p);
  PodBuilder& PreemptNever();
  PodBuilder& NodeName(std::string n);
  PodBuilder& Nominated(std::string n);
  PodBuilder& SchedulerName(std::string n);
  PodBuilder& Affinity(Json affinity);            // spec.affinity
  PodBuilder& Spread(Json constraint);            // appended to spec.topologySpreadConstraints
  PodBuilder& Pvc(std::string claim);
  PodBuilder& Image(std::string image);
  PodBuilder& Terminating();
  PodBuilder& Created(std::string rfc3339);
  Json Build() const { return j_; }
  PodInfoPtr Info() const;
  operator Json() const { return j_; }

 private:
  Json j_;
};

class NodeBuilder {
 public:
  explicit NodeBuilder(std::string name, std::string cpu = "4", std::string memory = "8Gi", int pods = 110);
  NodeBuilder& Label(std::string k, std::string v);
  NodeBuilder& Taint(std::string key, std::string value, std::string effect);
  NodeBuilder& Unschedulable();
  NodeBuilder& Allocatable(std::string resource, std::string qty);
  NodeBuilder& Image(std::string name, int64_t size);
  Json Build() const { return j_; }
  operator Json() const { return j_; }

 private:
  Json j_;
};

class FakeLister final : public framework::ClusterLister {
 public:
  std::map<std::string, ObjectPtr> pvcs;  // "ns/name"
  std::map<std::string, ObjectPtr> pvs, classes;
  std::map<std::string, Json> namespace_labels;
  framework::LabelSelector default_selector = framework::LabelSelector::Nothing();

  void AddPvc(Json pvc);
  void AddPv(Json pv);
  void AddClass(Json sc);

  ObjectPtr GetPvc(std::string_view ns, std::string_view name) const override;
  ObjectPtr GetPv(std::string_view name) const override;
  ObjectPtr GetStorageClass(std::string_view name) const override;
  std::vector<ObjectPtr> ListPvs() const override;
  const Json* NamespaceLabels(std::string_view ns) const override;
  framework::LabelSelector DefaultSpreadSelector(const PodInfo& pod) const override;
};

class FakeCluster final : public framework::Handle {
 public:
  FakeLister lister_impl;

  NodeInfo& AddNode(Json node);
  // Adds an assigned pod (spec.nodeName must name a node added before).
  void AddPod(Json pod);
  NodeInfo* Node(const std::string& name);

  const framework::ClusterLister& lister() const override { return lister_impl; }
  const std::vector<const NodeInfo*>& AllNodes() const override { return all_; }
  std::vector<const NodeInfo*> NodesWithAffinityPods() const override;
  std::vector<PodInfoPtr> NominatedPodsForNode(const std::string& node) const override {
    auto it = nominated.find(node);
    return it == nominated.end() ? std::vector<PodInfoPtr>{} : it->second;
  }
  std::map<std::string, std::vector<PodInfoPtr>> nominated;

 private:
  std::deque<NodeInfo> nodes_;
  std::vector<const NodeInfo*> all_;
};

// A Framework over the given plugins (weights 1 unless given) with the DefaultRegistry.
std::unique_ptr<framework::Framework> MakeFramework(const FakeCluster& cluster,
                                                    std::vector<framework::PluginConfig> plugins,
                                                    framework::PluginContext ctx = {});
std::unique_ptr<framework::Framework> MakeDefaultFramework(const FakeCluster& cluster,
                                                           framework::PluginContext ctx = {});

// Runs PreFilter + Filter for one node and returns the status.
framework::PluginStatus FilterOn(const framework::Framework& fw, FakeCluster& c, const Json& pod,
                                 const std::string& node);
// Runs a whole SchedulePod on the cluster.
framework::ScheduleResult Schedule(const framework::Framework& fw, FakeCluster& c, const Json& pod);
// Scores (after PreScore/Score/Normalize, weighted) of every node, by name.
std::map<std::string, int64_t> Scores(const framework::Framework& fw, FakeCluster& c, const Json& pod);

}  // namespace tug::scheduler::testing
