// The byte-level scanner and the spliced MakeCachedObject: for every document shape, the
// spliced snapshot must equal the one built by a full parse and re-encode.
#include <gtest/gtest.h>

#include "apiserver/rest/json_scan.h"
#include "apiserver/rest/watch_cache.h"
#include "base/json.h"

namespace tug::apiserver::rest {
namespace {

TEST(JsonScan, SkipsValues) {
  struct Case {
    std::string text;
    std::optional<size_t> end;
  };
  const std::vector<Case> cases = {
      {R"("a\"b")", 6},      {R"({"a":[1,{"b":"}"}]})", 19}, {"123,", 3}, {"true}", 4},
      {R"({"a":)", std::nullopt}, {R"("abc)", std::nullopt}, {"", std::nullopt}, {" [ ] ", 4},
      // an escaped backslash before the closing quote; an escape as the last byte
      {R"("a\\")", 5}, {R"("a\)", std::nullopt}, {R"("a\")", std::nullopt},
      // a raw control character inside a string (invalid JSON)
      {std::string("\"a\nb\""), std::nullopt}, {std::string("[\"a\tb\"]"), std::nullopt},
      // brackets and escaped quotes inside strings do not count; whitespace and UTF-8 between
      {R"([{"k":"]}\"[{"} , [[ ]] ,"é"],)", 30}, {"{\"a\":\n[1,\t2]\r}", 14},
      {R"([[[[[[]]]]]])", 12}, {R"([[[[[[]]]]])", std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(SkipJsonValue(c.text, 0), c.end);
  }
}

TEST(JsonScan, ForEachMember) {
  std::string t = R"({"a":1,"b\"c":{"x":[1,2]},"d":"e"})";
  std::vector<std::string> keys, values;
  ASSERT_TRUE(ForEachMember(t, Span{0, t.size()}, [&](std::string_view k, Span v) {
    keys.emplace_back(k);
    values.emplace_back(t.substr(v.begin, v.end - v.begin));
    return true;
  }));
  EXPECT_EQ(keys, (std::vector<std::string>{"a", R"(b\"c)", "d"}));
  EXPECT_EQ(values, (std::vector<std::string>{"1", R"({"x":[1,2]})", R"("e")"}));
  std::string bad = R"({"a":1,"b")";
  EXPECT_FALSE(ForEachMember(bad, Span{0, bad.size()}, [](std::string_view, Span) { return true; }));
}

TEST(JsonScan, ForEachElement) {
  std::string t = R"([ 1, {"a":[2]} ,"x]" ,[] ])";
  std::vector<std::string> values;
  ASSERT_TRUE(ForEachElement(t, Span{0, t.size()}, [&](Span v) {
    values.emplace_back(t.substr(v.begin, v.end - v.begin));
    return true;
  }));
  EXPECT_EQ(values, (std::vector<std::string>{"1", R"({"a":[2]})", R"("x]")", "[]"}));
  std::string empty = "[ ]";
  int n = 0;
  EXPECT_TRUE(ForEachElement(empty, Span{0, empty.size()}, [&](Span) { return ++n, true; }));
  EXPECT_EQ(n, 0);
  n = 0;  // stopping early is not an error
  EXPECT_TRUE(ForEachElement(t, Span{0, t.size()}, [&](Span) { return ++n < 2; }));
  EXPECT_EQ(n, 2);
  for (std::string bad : {"[1,", "[1 2]", "{}", "[1,]"})
    EXPECT_FALSE(ForEachElement(bad, Span{0, bad.size()}, [](Span) { return true; })) << bad;
}

TEST(MakeCachedObject, SplicedEqualsParsed) {
  const std::vector<std::string> docs = {
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":"2026-01-01T00:00:00Z","labels":{"app":"web","x":"y"},"name":"p","namespace":"default","uid":"u"},"spec":{}})",
      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns"}})",
      R"({"apiVersion":"v1","kind":"X","metadata":{}})",
      R"({"apiVersion":"v1","kind":"X","metadata":{"name":"old","resourceVersion":"5","uid":"u"}})",
      R"({"apiVersion":"v1","kind":"Event","involvedObject":{"name":"p","resourceVersion":"9"},"metadata":{"name":"e\"q","namespace":"n\u00e9","selfLink":"s"}})",
      R"({"apiVersion":"v1","kind":"X","metadata":{"annotations":{"a":"{\"resourceVersion\":\"1\"}"},"name":"a"},"zz":1})",
      R"({"kind":"NoMeta"})",
      R"([1,2])",
  };
  for (const auto& text : docs) {
    SCOPED_TRACE(text);
    // Stored values are tug's own canonical encoding.
    std::string d = DumpJson(ParseJson(text).value());
    auto a = MakeCachedObject("/k", d, 42);
    auto b = MakeCachedObjectByParsing("/k", d, 42);
    Packer packer;
    auto packed = MakeCachedObject("/k", d, 42, &packer);
    ASSERT_EQ(a.ok(), b.ok());
    ASSERT_EQ(a.ok(), packed.ok());
    if (!a.ok()) continue;
    EXPECT_EQ((*a)->Bytes(), (*b)->Bytes());
    EXPECT_EQ((*packed)->Bytes(), (*a)->Bytes());
    EXPECT_EQ((*packed)->packed.size(), (*a)->packed.size());
    EXPECT_EQ((*a)->name, (*b)->name);
    EXPECT_EQ((*a)->ns, (*b)->ns);
    EXPECT_EQ((*a)->labels, (*b)->labels);
    EXPECT_EQ((*a)->rv, 42);
  }
}

}  // namespace
}  // namespace tug::apiserver::rest
