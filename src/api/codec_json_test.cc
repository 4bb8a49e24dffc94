// Tests for DecodeJson (duplicate keys) and YamlToJson (sigs.k8s.io/yaml conversion).
#include <gtest/gtest.h>

#include "api/codec.h"

namespace tug::api {
namespace {

TEST(DecodeJsonTest, ParsesAndReportsDuplicates) {
  std::vector<std::string> dups;
  auto r = DecodeJson(R"({"spec":{"replicas":1,"replicas":2,"template":{"spec":{"containers":[{"name":"a","name":"b"}]}}},"kind":"X","kind":"Y"})",
                      &dups);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["spec"]["replicas"], 2);  // last one wins, as in Go
  EXPECT_EQ(dups, (std::vector<std::string>{"spec.replicas", "spec.template.spec.containers[0].name", "kind"}));
}

TEST(DecodeJsonTest, DuplicatePathsInNestedLists) {
  std::vector<std::string> dups;
  auto r = DecodeJson(R"({"a":[1,[2,3],{"x":1},{"y":1,"y":2}]})", &dups);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(dups, (std::vector<std::string>{"a[3].y"}));
}

TEST(DecodeJsonTest, NoDuplicates) {
  std::vector<std::string> dups;
  ASSERT_TRUE(DecodeJson(R"({"a":{"b":1},"c":{"b":2}})", &dups).ok());
  EXPECT_TRUE(dups.empty());
  EXPECT_TRUE(DecodeJson(R"({"a":1})").ok());
}

TEST(DecodeJsonTest, Errors) {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "{\"a\":1} x", "\"\xff\"", "nul"}) {
    auto r = DecodeJson(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kBadRequest);
  }
  std::string deep(100000, '[');
  auto r = DecodeJson(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kBadRequest);
}

struct YamlCase {
  const char* yaml;
  const char* json;
};

TEST(YamlToJsonTest, Conversions) {
  const YamlCase cases[] = {
      {"a: 1\nb: 1.5\nc: true\nd: null\ne: ~\nf: hello\ng: \"1\"\nh: 'true'\n",
       R"({"a":1,"b":1.5,"c":true,"d":null,"e":null,"f":"hello","g":"1","h":"true"})"},
      {"a: yes\nb: No\nc: on\nd: OFF\ne: y\n", R"({"a":true,"b":false,"c":true,"d":false,"e":true})"},
      {"a: 0x1F\nb: 017\nc: -5\nd: 1_000\ne: 1e3\nf: 08\ng: .5\nh: 0o17\n",
       R"({"a":31,"b":15,"c":-5,"d":1000,"e":1000,"f":8,"g":0.5,"h":15})"},
      {"t: 2024-01-02T03:04:05Z\nv: 1.2.3\nempty:\n", R"({"t":"2024-01-02T03:04:05Z","v":"1.2.3","empty":null})"},
      {"base: &b {x: 1, z: 2}\nderived:\n  <<: *b\n  z: 3\n",
       R"({"base":{"x":1,"z":2},"derived":{"x":1,"z":3}})"},
      // go-yaml v2 resolves the plain key `y` as the bool true; sigs.k8s.io/yaml then prints it.
      {"y: 1\n'n': 2\n", R"({"true":1,"n":2})"},
      {"list:\n- &a foo\n- *a\n- [1, 2]\n", R"({"list":["foo","foo",[1,2]]})"},
      {"1: a\ntrue: b\nnull: c\n", R"({"1":"a","true":"b","null":"c"})"},
      {"s: !!str 123\ni: !!int \"7\"\n", R"({"s":"123","i":7})"},
      {"apiVersion: v1\nkind: Pod\n---\nkind: Second\n", R"({"apiVersion":"v1","kind":"Pod"})"},
      {"", "null"},
      {"- a\n- b\n", R"(["a","b"])"},
      {"big: 18446744073709551615\n", R"({"big":18446744073709551615})"},
      {"text: |\n  line1\n  line2\n", R"({"text":"line1\nline2\n"})"},
  };
  for (const auto& c : cases) {
    auto r = YamlToJson(c.yaml);
    ASSERT_TRUE(r.ok()) << c.yaml << ": " << r.status().ToString();
    EXPECT_EQ(*r, Json::parse(c.json)) << c.yaml << " -> " << r->dump();
  }
}

TEST(YamlToJsonTest, ErrorsCarryLineNumbers) {
  auto r = YamlToJson("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kBadRequest);
  EXPECT_NE(r.status().message().find("line "), std::string::npos) << r.status().message();

  r = YamlToJson("a: b: c\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("yaml: line 1"), std::string::npos) << r.status().message();

  EXPECT_FALSE(YamlToJson("a: .inf\n").ok());
  EXPECT_FALSE(YamlToJson("? [a]\n: 1\n").ok());
}

TEST(YamlToJsonTest, AliasBombIsRejected) {
  std::string y = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'j'; ++c) {
    y += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) y += std::string(i ? ", " : "") + "*" + prev;
    y += "]\n";
    prev = std::string(1, c);
  }
  auto r = YamlToJson(y);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kBadRequest);
}

TEST(YamlToJsonTest, DeepNestingIsRejected) {
  EXPECT_FALSE(YamlToJson(std::string(5000, '[')).ok());
  std::string y;
  for (int i = 0; i < 3000; ++i) y += "- ";
  y += "x\n";
  EXPECT_FALSE(YamlToJson(y).ok());
}

}  // namespace
}  // namespace tug::api
