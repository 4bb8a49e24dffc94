#include "apiserver/rest/selectors.h"

#include <gtest/gtest.h>

#include "apiserver/rest/internal.h"

namespace tug::apiserver::rest {
namespace {

struct LabelCase {
  std::string selector;
  Labels labels;
  bool match;
};

TEST(LabelSelector, Matches) {
  const std::vector<LabelCase> cases = {
      {"", {}, true},
      {"app=web", {{"app", "web"}}, true},
      {"app==web", {{"app", "web"}}, true},
      {"app=web", {{"app", "db"}}, false},
      {"app!=web", {{"app", "db"}}, true},
      {"app!=web", {}, true},
      {"app!=web", {{"app", "web"}}, false},
      {"app in (web,db)", {{"app", "db"}}, true},
      {"app in (web,db)", {{"app", "x"}}, false},
      {"app notin (web,db)", {{"app", "x"}}, true},
      {"app notin (web,db)", {}, true},
      {"app notin (web)", {{"app", "web"}}, false},
      {"app", {{"app", ""}}, true},
      {"app", {}, false},
      {"!app", {}, true},
      {"!app", {{"app", "x"}}, false},
      {"app=web,tier=db", {{"app", "web"}, {"tier", "db"}}, true},
      {"app=web,tier=db", {{"app", "web"}}, false},
      {"n>3", {{"n", "4"}}, true},
      {"n<3", {{"n", "4"}}, false},
      {"app=", {{"app", ""}}, true},
  };
  for (const auto& tc : cases) {
    auto sel = LabelSelector::Parse(tc.selector);
    ASSERT_TRUE(sel.ok()) << tc.selector << ": " << sel.status().ToString();
    EXPECT_EQ(sel->Matches(tc.labels), tc.match) << tc.selector;
  }
}

TEST(LabelSelector, ParseErrors) {
  for (const char* bad : {"a b", "app in web", "app in (web", "=x", "a=b=c", "a=$$", "n>x"}) {
    auto sel = LabelSelector::Parse(bad);
    EXPECT_FALSE(sel.ok()) << bad;
    if (!sel.ok()) {
      EXPECT_EQ(sel.status().code(), StatusCode::kBadRequest);
    }
  }
  auto s = LabelSelector::Parse("a b");
  EXPECT_EQ(s.status().message(), "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
}

TEST(FieldSelector, Parse) {
  auto s = FieldSelector::Parse("metadata.name=x,status.phase!=Running,spec.nodeName==n1");
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->Terms().size(), 3u);
  EXPECT_EQ(s->Terms()[0].field, "metadata.name");
  EXPECT_EQ(s->Terms()[0].value, "x");
  EXPECT_TRUE(s->Terms()[1].negate);
  EXPECT_EQ(s->Terms()[2].value, "n1");
  EXPECT_FALSE(FieldSelector::Parse("metadata.name").ok());
  auto e = FieldSelector::Parse("a=b\\,c");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->Terms()[0].value, "b,c");
}

TEST(Internal, ContinueTokenRoundTrip) {
  std::string key;
  int64_t rev = 0;
  std::string tok = EncodeContinue("/registry/core/pods/default/p-1", 42);
  ASSERT_TRUE(DecodeContinue(tok, &key, &rev).ok());
  EXPECT_EQ(key, "/registry/core/pods/default/p-1");
  EXPECT_EQ(rev, 42);
  EXPECT_EQ(DecodeContinue("!!!", &key, &rev).code(), StatusCode::kBadRequest);
}

TEST(Internal, Negotiation) {
  auto n = NegotiateObject("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json");
  EXPECT_TRUE(n.table);
  EXPECT_EQ(n.table_version, "v1");
  EXPECT_FALSE(NegotiateObject("application/json").table);
  EXPECT_FALSE(NegotiateObject("application/vnd.kubernetes.protobuf, */*").table);
  EXPECT_FALSE(NegotiateObject("application/json;as=Foo;g=x;v=y").acceptable);
  EXPECT_EQ(NegotiateDiscovery("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"), "v2");
  EXPECT_EQ(NegotiateDiscovery("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"), "v2beta1");
  EXPECT_EQ(NegotiateDiscovery("application/json, */*"), "");
}

TEST(Internal, UidAndNames) {
  std::string u = NewUid();
  EXPECT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_NE(u, NewUid());
  std::string s = RandomNameSuffix();
  EXPECT_EQ(s.size(), 5u);
  EXPECT_EQ(s.find_first_not_of("bcdfghjklmnpqrstvwxz2456789"), std::string::npos);
}

}  // namespace
}  // namespace tug::apiserver::rest
