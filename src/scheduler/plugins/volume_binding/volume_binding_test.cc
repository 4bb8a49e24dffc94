#include <gtest/gtest.h>

#include "scheduler/testing/fixtures.h"

namespace tug::scheduler::plugins {
namespace {

using namespace framework;
using testing::FakeCluster;
using testing::NodeBuilder;
using testing::PodBuilder;

Json Pvc(const std::string& name, const std::string& cls, const std::string& volume = "") {
  Json j = {{"metadata", {{"name", name}, {"namespace", "default"}}},
            {"spec", {{"storageClassName", cls}, {"accessModes", {"ReadWriteOnce"}}, {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}};
  if (!volume.empty()) j["spec"]["volumeName"] = volume;
  return j;
}
Json Pv(const std::string& name, const std::string& cls, const std::string& host) {
  Json j = {{"metadata", {{"name", name}}},
            {"spec", {{"storageClassName", cls}, {"accessModes", {"ReadWriteOnce"}}, {"capacity", {{"storage", "2Gi"}}}}},
            {"status", {{"phase", "Available"}}}};
  if (!host.empty())
    j["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"] = {
        {{"matchExpressions", {{{"key", "kubernetes.io/hostname"}, {"operator", "In"}, {"values", {host}}}}}}};
  return j;
}
Json Class(const std::string& name, const std::string& mode, const std::string& prov) {
  return {{"metadata", {{"name", name}}}, {"provisioner", prov}, {"volumeBindingMode", mode}};
}

TEST(VolumeBinding, Filter) {
  struct Case {
    const char* name;
    std::string claim;
    std::map<std::string, std::string> want;
  } cases[] = {
      {"missing claim", "nope", {{"n1", "persistentvolumeclaim \"nope\" not found"}}},
      {"bound local pv", "bound", {{"n1", ""}, {"n2", "node(s) had volume node affinity conflict"}}},
      {"bound to missing pv", "dangling", {{"n1", "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"}}},
      {"unbound immediate", "immediate", {{"n1", "pod has unbound immediate PersistentVolumeClaims"}}},
      {"wffc dynamic", "wffc", {{"n1", ""}, {"n2", ""}}},
      {"wffc static local", "wffc-static", {{"n1", "node(s) didn't find available persistent volumes to bind"}, {"n2", ""}}},
  };
  for (const auto& c : cases) {
    FakeCluster cl;
    cl.AddNode(NodeBuilder("n1"));
    cl.AddNode(NodeBuilder("n2"));
    auto& l = cl.lister_impl;
    l.AddClass(Class("std", "Immediate", "example.com/csi"));
    l.AddClass(Class("late", "WaitForFirstConsumer", "example.com/csi"));
    l.AddClass(Class("local", "WaitForFirstConsumer", "kubernetes.io/no-provisioner"));
    l.AddPvc(Pvc("bound", "std", "pv-n1"));
    l.AddPvc(Pvc("dangling", "std", "pv-gone"));
    l.AddPvc(Pvc("immediate", "std"));
    l.AddPvc(Pvc("wffc", "late"));
    l.AddPvc(Pvc("wffc-static", "local"));
    l.AddPv(Pv("pv-n1", "std", "n1"));
    l.AddPv(Pv("local-n2", "local", "n2"));
    auto fw = testing::MakeFramework(cl, {{"VolumeBinding"}});
    for (const auto& [node, want] : c.want) {
      PluginStatus s = testing::FilterOn(*fw, cl, PodBuilder("p").Pvc(c.claim), node);
      EXPECT_EQ(s.ok() ? "" : s.Message(), want) << c.name << " on " << node;
      if (!s.ok()) EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable) << c.name;
    }
  }
}

TEST(VolumeBinding, PreBindSelectsNodeForDelayedClaims) {
  FakeCluster cl;
  cl.AddNode(NodeBuilder("n1"));
  cl.lister_impl.AddClass(Class("late", "WaitForFirstConsumer", "example.com/csi"));
  cl.lister_impl.AddPvc(Pvc("data", "late"));
  std::vector<std::string> selected;
  PluginContext ctx;
  ctx.select_pvc_node = [&](const std::string& ns, const std::string& name, const std::string& node) {
    selected.push_back(ns + "/" + name + "@" + node);
    return Status::Ok();
  };
  auto fw = testing::MakeFramework(cl, {{"VolumeBinding"}}, ctx);
  PodInfoPtr p = PodBuilder("p").Pvc("data").Info();
  CycleState st(fw->NumSlots());
  ASSERT_TRUE(fw->RunPreFilter(st, *p, cl).ok());
  EXPECT_TRUE(fw->RunPreBind(st, *p, "n1").ok());
  EXPECT_EQ(selected, std::vector<std::string>{"default/data@n1"});
}

}  // namespace
}  // namespace tug::scheduler::plugins
