// The binding edit: SpliceBinding on stored bytes must give exactly what parsing, BindPodJson and
// DumpJson give, for every shape it accepts, and decline every shape it cannot edit in place.
#include <gtest/gtest.h>

#include "apiserver/rest/internal.h"
#include "base/json.h"

namespace tug::apiserver::rest {
namespace {

constexpr const char* kNow = "2026-11-26T09:00:00Z";

std::string Parsed(const std::string& stored, const std::string& node) {
  Json obj = ParseJson(stored).value();
  BindPodJson(obj, node, kNow);
  obj["metadata"].erase("resourceVersion");  // as the handler's parse path
  return DumpJson(obj);
}

TEST(SpliceBinding, EqualsParseAndEncode) {
  Json containers = Json::array({{{"name", "c"}, {"image", "busybox"}}});
  struct Case {
    std::string name;
    Json pod;
    std::string node = "node-1";
  };
  const std::vector<Case> cases = {
      {"no status", {{"metadata", {{"name", "p"}}}, {"spec", {{"containers", containers}}}}},
      {"pending status",
       {{"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", "p"}, {"namespace", "default"}, {"uid", "u"}}},
        {"spec", {{"containers", containers}, {"restartPolicy", "Always"}, {"schedulerName", "default-scheduler"}}},
        {"status", {{"phase", "Pending"}, {"qosClass", "BestEffort"}}}}},
      {"empty spec and status", {{"metadata", {{"name", "p"}}}, {"spec", Json::object()}, {"status", Json::object()}}},
      {"spec keys only after nodeName", {{"metadata", Json::object()}, {"spec", {{"restartPolicy", "Never"}}}}},
      {"status keys only before conditions", {{"metadata", Json::object()}, {"spec", Json::object()}, {"status", {{"a", 1}}}}},
      {"member after status", {{"metadata", Json::object()}, {"spec", Json::object()}, {"zeta", {{"x", "}"}}}}},
      {"node name needs escaping", {{"metadata", Json::object()}, {"spec", Json::object()}}, "we\"ird\\node"},
      {"empty nodeName elsewhere", {{"metadata", {{"annotations", {{"nodeName", "x"}}}}}, {"spec", {{"hostname", "h"}}}}},
      // The watch cache's bytes carry a resourceVersion: it is dropped wherever it sits.
      {"resourceVersion last", {{"metadata", {{"name", "p"}, {"resourceVersion", "19"}}}, {"spec", Json::object()}}},
      {"resourceVersion middle",
       {{"metadata", {{"name", "p"}, {"resourceVersion", "19"}, {"uid", "u"}}}, {"spec", Json::object()}}},
      {"resourceVersion first", {{"metadata", {{"resourceVersion", "19"}, {"uid", "u"}}}, {"spec", Json::object()}}},
      {"resourceVersion only", {{"metadata", {{"resourceVersion", "19"}}}, {"spec", Json::object()}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string stored = DumpJson(c.pod);
    std::optional<std::string> spliced = SpliceBinding(stored, c.node, kNow);
    ASSERT_TRUE(spliced.has_value());
    EXPECT_EQ(*spliced, Parsed(stored, c.node));
    Json out = ParseJson(*spliced).value();
    EXPECT_EQ(GetStringPath(out, {"spec", "nodeName"}), c.node);
    ASSERT_EQ(out["status"]["conditions"].size(), 1u);
    EXPECT_EQ(out["status"]["conditions"][0]["status"], "True");
  }
}

TEST(SpliceBinding, ReportsStoredUid) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"metadata":{"name":"p","uid":"0b7e-42"},"spec":{}})", "0b7e-42"},
      {R"({"metadata":{"name":"p"},"spec":{}})", ""},
      {R"({"metadata":{"uid":"a\"b"},"spec":{}})", ""},  // escaped: the caller parses
      {R"({"metadata":{"uid":7},"spec":{}})", ""},
  };
  for (const auto& [stored, want] : cases) {
    SCOPED_TRACE(stored);
    std::string uid = "stale";
    ASSERT_TRUE(SpliceBinding(stored, "n1", kNow, &uid).has_value());
    EXPECT_EQ(uid, want);
  }
}

TEST(SpliceBinding, DeclinesOtherShapes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"already bound", R"({"metadata":{},"spec":{"nodeName":"n"}})"},
      {"empty nodeName member", R"({"metadata":{},"spec":{"nodeName":""}})"},
      {"being deleted", R"({"metadata":{"deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{}})"},
      {"duplicate resourceVersion", R"({"metadata":{"resourceVersion":"5","resourceVersion":"6"},"spec":{}})"},
      {"has conditions", R"({"metadata":{},"spec":{},"status":{"conditions":[]}})"},
      {"status not an object", R"({"metadata":{},"spec":{},"status":null})"},
      {"spec not an object", R"({"metadata":{},"spec":[]})"},
      {"no spec", R"({"metadata":{}})"},
      {"no metadata", R"({"spec":{}})"},
      {"escaped key", R"({"metadata":{},"spec":{"a\"b":1}})"},
      {"malformed", R"({"metadata":{},"spec":{"a":)"},
      {"not an object", R"([1,2])"},
  };
  for (const auto& [name, stored] : cases) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(SpliceBinding(stored, "n2", kNow).has_value());
  }
}

TEST(BindPodJson, MarksExistingConditionTrue) {
  Json pod = ParseJson(R"({"spec":{},"status":{"conditions":[{"type":"Ready","status":"False"},
      {"type":"PodScheduled","status":"False","reason":"Unschedulable","lastTransitionTime":"x"}]}})").value();
  BindPodJson(pod, "n1", kNow);
  EXPECT_EQ(pod["spec"]["nodeName"], "n1");
  ASSERT_EQ(pod["status"]["conditions"].size(), 2u);
  EXPECT_EQ(pod["status"]["conditions"][1]["status"], "True");
  EXPECT_EQ(pod["status"]["conditions"][1]["lastTransitionTime"], kNow);
  EXPECT_EQ(pod["status"]["conditions"][0]["status"], "False");
}

}  // namespace
}  // namespace tug::apiserver::rest
