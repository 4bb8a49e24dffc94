// Tests for FieldSet: the FieldsV1 form, set algebra and upstream's printed paths.
#include "api/apply/field_set.h"

#include <gtest/gtest.h>

namespace tug::api::apply {
namespace {

Json J(const char* s) { return Json::parse(s); }

FieldSet S(const char* fields_v1) {
  auto s = FieldSet::FromFieldsV1(J(fields_v1));
  EXPECT_TRUE(s.ok()) << fields_v1;
  return s.ok() ? *s : FieldSet();
}

TEST(FieldSetTest, FieldsV1RoundTrip) {
  const char* cases[] = {
      R"({})",
      R"({"f:spec":{"f:replicas":{}}})",
      R"({"f:metadata":{"f:labels":{".":{},"f:app":{}}}})",
      R"({"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}})",
      R"({"f:metadata":{"f:finalizers":{".":{},"v:\"a\"":{},"v:\"b\"":{}}}})",
  };
  for (const char* c : cases) {
    FieldSet s = S(c);
    EXPECT_EQ(s.ToFieldsV1(), J(c)) << c;
  }
}

TEST(FieldSetTest, RejectsMalformed) {
  EXPECT_FALSE(FieldSet::FromFieldsV1(J(R"({"spec":{}})")).ok());
  EXPECT_FALSE(FieldSet::FromFieldsV1(J(R"({"f:spec":1})")).ok());
  EXPECT_FALSE(FieldSet::FromFieldsV1(J(R"([])")).ok());
}

TEST(FieldSetTest, MembersAndSize) {
  FieldSet s = S(R"({"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{}}})");
  EXPECT_EQ(s.Size(), 3u);
  EXPECT_TRUE(s.Has({"f:metadata", "f:labels"}));
  EXPECT_TRUE(s.Has({"f:metadata", "f:labels", "f:app"}));
  EXPECT_FALSE(s.Has({"f:metadata"}));
  EXPECT_FALSE(s.Has({"f:spec", "f:paused"}));
}

struct SetOpCase {
  const char* name;
  const char* a;
  const char* b;
  const char* uni;
  const char* diff;
  const char* inter;
};

TEST(FieldSetTest, Algebra) {
  const SetOpCase cases[] = {
      {"disjoint", R"({"f:spec":{"f:replicas":{}}})", R"({"f:spec":{"f:paused":{}}})",
       R"({"f:spec":{"f:paused":{},"f:replicas":{}}})", R"({"f:spec":{"f:replicas":{}}})", R"({})"},
      {"overlap", R"({"f:a":{},"f:b":{}})", R"({"f:b":{},"f:c":{}})", R"({"f:a":{},"f:b":{},"f:c":{}})",
       R"({"f:a":{}})", R"({"f:b":{}})"},
      {"member vs children", R"({"f:l":{".":{},"f:x":{}}})", R"({"f:l":{"f:x":{}}})",
       R"({"f:l":{".":{},"f:x":{}}})", R"({"f:l":{}})", R"({"f:l":{"f:x":{}}})"},
      {"empty", R"({})", R"({"f:a":{}})", R"({"f:a":{}})", R"({})", R"({})"},
  };
  for (const auto& c : cases) {
    FieldSet a = S(c.a), b = S(c.b);
    EXPECT_EQ(a.Union(b).ToFieldsV1(), J(c.uni)) << c.name;
    EXPECT_EQ(a.Difference(b).ToFieldsV1(), J(c.diff)) << c.name;
    EXPECT_EQ(a.Intersection(b).ToFieldsV1(), J(c.inter)) << c.name;
  }
}

TEST(FieldSetTest, PathStrings) {
  EXPECT_EQ(PathString({"f:spec", "f:replicas"}), ".spec.replicas");
  EXPECT_EQ(PathString({"f:spec", "f:template", "f:spec", "f:containers", KeyElement(J(R"({"name":"nginx"})")),
                        "f:image"}),
            ".spec.template.spec.containers[name=\"nginx\"].image");
  EXPECT_EQ(PathString({"f:ports", KeyElement(J(R"({"protocol":"TCP","containerPort":80})"))}),
            ".ports[containerPort=80,protocol=\"TCP\"]");
  EXPECT_EQ(PathString({"f:metadata", "f:finalizers", ValueElement("x")}), ".metadata.finalizers[=\"x\"]");
  EXPECT_EQ(PathString({"f:args", "i:2"}), ".args[2]");
  EXPECT_EQ(KeyElement(J(R"({"protocol":"TCP","containerPort":80})")), R"(k:{"containerPort":80,"protocol":"TCP"})");
}

TEST(FieldSetTest, IterateIsSorted) {
  FieldSet s;
  s.Insert({"f:spec", "f:b"});
  s.Insert({"f:spec", "f:a"});
  s.Insert({"f:metadata", "f:labels", "f:x"});
  std::vector<std::string> got;
  s.Iterate([&](const FieldSet::Path& p) { got.push_back(PathString(p)); });
  EXPECT_EQ(got, (std::vector<std::string>{".metadata.labels.x", ".spec.a", ".spec.b"}));
}

}  // namespace
}  // namespace tug::api::apply
