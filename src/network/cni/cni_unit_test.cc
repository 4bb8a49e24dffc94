#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "network/cni/cni.h"

namespace tug::network {
namespace {

TEST(BuildConflist, BridgeHostLocalPortmap) {
  CniOptions o;
  o.pod_cidr = "10.42.3.0/24";
  o.data_dir = "/var/lib/tug/cni";
  o.mtu = 1400;
  Json l = BuildConflist(o);
  EXPECT_EQ(l["cniVersion"], "1.0.0");
  EXPECT_EQ(l["name"], "tug");
  ASSERT_EQ(l["plugins"].size(), 2u);
  const Json& b = l["plugins"][0];
  EXPECT_EQ(b["type"], "bridge");
  EXPECT_EQ(b["bridge"], "tug0");
  EXPECT_EQ(b["isGateway"], true);
  EXPECT_EQ(b["ipMasq"], true);
  EXPECT_EQ(b["hairpinMode"], true);
  EXPECT_EQ(b["mtu"], 1400);
  EXPECT_EQ(b["ipam"]["type"], "host-local");
  EXPECT_EQ(b["ipam"]["ranges"][0][0]["subnet"], "10.42.3.0/24");
  EXPECT_EQ(b["ipam"]["dataDir"], "/var/lib/tug/cni/ipam");
  EXPECT_EQ(l["plugins"][1]["type"], "portmap");
  EXPECT_EQ(l["plugins"][1]["capabilities"]["portMappings"], true);
}

TEST(ParseResult, PicksTheSandboxInterface) {
  auto j = ParseJson(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"tug0","mac":"aa"},{"name":"veth1","mac":"bb"},
                  {"name":"eth0","mac":"cc","sandbox":"/run/tug/netns/abc"}],
    "ips":[{"interface":0,"address":"10.42.0.1/24"},
           {"interface":2,"address":"10.42.0.7/24","gateway":"10.42.0.1"}]})");
  ASSERT_TRUE(j.ok());
  auto r = ParseResult(*j, "/run/tug/netns/abc");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ip, "10.42.0.7");
  EXPECT_EQ(r->gateway, "10.42.0.1");
  EXPECT_THAT(r->ips, ::testing::ElementsAre("10.42.0.7"));
}

TEST(ParseResult, Errors) {
  const char* bad[] = {R"({})", R"({"ips":[]})", R"({"ips":[{"address":""}]})"};
  for (const char* b : bad) {
    auto j = ParseJson(b);
    ASSERT_TRUE(j.ok());
    EXPECT_FALSE(ParseResult(*j, "/x").ok()) << b;
  }
}

TEST(CniNew, ValidatesOptions) {
  struct Case { const char* name; std::string cidr, dir, bridge; };
  const Case cases[] = {
      {"bad_cidr", "10.42.0.0", "/tmp/x", "tug0"},
      {"bad_prefix", "10.42.0.0/40", "/tmp/x", "tug0"},
      {"relative_dir", "10.42.0.0/24", "rel", "tug0"},
      {"long_bridge", "10.42.0.0/24", "/tmp/x", "a-very-long-bridge-name"},
  };
  for (const auto& tc : cases) {
    CniOptions o;
    o.pod_cidr = tc.cidr;
    o.data_dir = tc.dir;
    o.bridge = tc.bridge;
    auto c = Cni::New(o);
    EXPECT_FALSE(c.ok()) << tc.name;
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), StatusCode::kInvalid) << tc.name;
    }
  }
}

}  // namespace
}  // namespace tug::network
