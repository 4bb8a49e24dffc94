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

// The shape says everything the managedFields of a create depend on: equal shapes for objects
// that differ only in (non-null) scalar values, different shapes otherwise.
TEST(ManagedFieldsShape, SameOnlyForSameTrackedFields) {
  const Json base = ParseJson(R"({"kind":"Event","metadata":{"name":"a","labels":{"x":"1"}},"count":1,
      "list":[{"name":"c","image":"i"}],"empty":{}})").value();
  struct Case {
    const char* name;
    const char* json;
    bool same;
  };
  const Case cases[] = {
      {"other scalar values", R"({"kind":"Pod","metadata":{"name":"b","labels":{"x":"2"}},"count":7,"list":[{"name":"c","image":"i"}],"empty":{}})", true},
      {"scalar of another type", R"({"kind":true,"metadata":{"name":1,"labels":{"x":"1"}},"count":"1","list":[{"name":"c","image":"i"}],"empty":{}})", true},
      {"null value", R"({"kind":null,"metadata":{"name":"a","labels":{"x":"1"}},"count":1,"list":[{"name":"c","image":"i"}],"empty":{}})", false},
      {"extra key", R"({"kind":"Event","metadata":{"name":"a","labels":{"x":"1","y":"1"}},"count":1,"list":[{"name":"c","image":"i"}],"empty":{}})", false},
      {"missing key", R"({"kind":"Event","metadata":{"name":"a","labels":{"x":"1"}},"list":[{"name":"c","image":"i"}],"empty":{}})", false},
      {"list content", R"({"kind":"Event","metadata":{"name":"a","labels":{"x":"1"}},"count":1,"list":[{"name":"d","image":"i"}],"empty":{}})", false},
      {"object for scalar", R"({"kind":{},"metadata":{"name":"a","labels":{"x":"1"}},"count":1,"list":[{"name":"c","image":"i"}],"empty":{}})", false},
      {"non-empty object", R"({"kind":"Event","metadata":{"name":"a","labels":{"x":"1"}},"count":1,"list":[{"name":"c","image":"i"}],"empty":{"a":1}})", false},
      {"key spelled across levels", R"({"kind":"Event","metadata":{"name":"a","labels":{"x":"1"}},"count":1,"list":[{"name":"c","image":"i"}],"empty":{},"1:x":"s"})", false},
  };
  const std::string want = ManagedFieldsShape(base);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(ManagedFieldsShape(ParseJson(c.json).value()) == want, c.same);
  }
}

TEST(ManagedFieldsMemo, HitsSetTheTime) {
  ManagedFieldsMemo memo;
  EXPECT_FALSE(memo.Find("k", "t1").has_value());
  memo.Remember("k", Json::array({{{"manager", "m"}, {"time", "t0"}, {"fieldsV1", {{"f:a", Json::object()}}}}}));
  memo.Remember("two", Json::array({Json::object(), Json::object()}));  // not a create's single entry
  EXPECT_FALSE(memo.Find("two", "t1").has_value());
  std::optional<Json> hit = memo.Find("k", "t1");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ((*hit)[0]["time"], "t1");
  EXPECT_EQ((*hit)[0]["manager"], "m");
  EXPECT_EQ((*memo.Find("k", "t2"))[0]["time"], "t2");  // the remembered entry is not changed
  for (size_t i = 0; i < ManagedFieldsMemo::kMaxEntries; ++i)
    memo.Remember("k" + std::to_string(i), Json::array({Json::object()}));
  EXPECT_FALSE(memo.Find("k", "t3").has_value());  // forgotten when it filled up
}

TEST(KeysDistinct, OnlyWhenNoObjectRepeatsAKey) {
  std::string deep_ok, deep_too;
  for (int i = 0; i < 60; ++i) deep_ok += "[";
  deep_ok += "{}";
  for (int i = 0; i < 60; ++i) deep_ok += "]";
  for (int i = 0; i < 70; ++i) deep_too += "[";
  for (int i = 0; i < 70; ++i) deep_too += "]";
  const std::vector<std::pair<std::string, bool>> cases = {
      {R"({"a":1,"b":{"a":2,"c":[{"a":1},{"a":2}]},"d":"}\"{"})", true},
      {R"( [ {"x" : 1 , "y":2} , 3 , "s", [] , {} ] )", true},
      {R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p","uid":"u"},"target":{"name":"n"}})", true},
      {deep_ok, true},
      {R"({"a":1,"a":2})", false},
      {R"({"a":{"b":1,"c":2,"b":3}})", false},
      {R"({"l":[{"k":1},{"k":1,"k":2}]})", false},
      {R"({"a":1,"\u0062":2})", false},  // escaped key: not compared, even when distinct
      {deep_too, false},
      {R"({"a":1,)", false},
      {R"({"a":[1,2})", false},
      {R"("just a string")", false},
      {"", false},
  };
  for (const auto& [text, want] : cases) {
    SCOPED_TRACE(text);
    EXPECT_EQ(KeysDistinct(text), want);
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
