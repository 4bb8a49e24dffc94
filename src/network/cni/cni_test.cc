// Root-only: drives the real CNI plugins (bridge, host-local, portmap, loopback) in throwaway
// network namespaces with a per-test bridge name and pod CIDR, and checks that nothing is left.
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "network/cni/cni.h"

namespace tug::network {
namespace {

std::string Sh(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = pclose(p);
  if (rc) *rc = WEXITSTATUS(st);
  return out;
}

class CniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    std::random_device rd;
    suffix_ = std::to_string(rd() % 100000);
    char tmpl[] = "/tmp/tug-cni-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    CniOptions o;
    o.bridge = "tugt" + suffix_;
    o.network_name = "tugtest" + suffix_;
    o.pod_cidr = "10.231." + std::to_string(rd() % 250) + ".0/24";
    o.data_dir = dir_ + "/cni";
    auto c = Cni::New(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cni_ = std::move(*c);
  }
  void TearDown() override {
    for (const auto& ns : netns_) Sh("ip netns del " + ns);
    if (cni_) Sh("ip link del " + cni_->options().bridge);
    if (!dir_.empty()) Sh("rm -rf " + dir_);
  }
  std::string NewNetns() {
    std::string name = "tugt" + suffix_ + "-" + std::to_string(netns_.size());
    int rc = 0;
    std::string out = Sh("ip netns add " + name, &rc);
    EXPECT_EQ(rc, 0) << out;
    netns_.push_back(name);
    return name;
  }
  AttachRequest Req(const std::string& ns, const std::string& id) {
    AttachRequest r;
    r.container_id = id;
    r.netns = "/run/netns/" + ns;
    r.pod_namespace = "default";
    r.pod_name = "p-" + id;
    return r;
  }
  std::string IpamDir() { return dir_ + "/cni/ipam/" + cni_->options().network_name; }
  int IpamFiles() {
    int n = 0;
    std::istringstream in(Sh("ls " + IpamDir()));
    std::string f;
    while (in >> f) n += f.find('.') != std::string::npos && f.rfind("last_reserved", 0) != 0;
    return n;
  }

  std::string suffix_, dir_;
  std::unique_ptr<Cni> cni_;
  std::vector<std::string> netns_;
};

TEST_F(CniTest, AddGivesAddressAndLoopbackDelReleasesAll) {
  std::string ns = NewNetns();
  std::string id = "aaaa" + suffix_;
  auto r = cni_->Add(Req(ns, id));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string prefix = cni_->options().pod_cidr.substr(0, cni_->options().pod_cidr.rfind('.') + 1);
  EXPECT_EQ(r->ip.rfind(prefix, 0), 0u) << r->ip;
  EXPECT_EQ(r->gateway, prefix + "1");
  std::string addrs = Sh("ip -n " + ns + " -o addr show");
  EXPECT_THAT(addrs, ::testing::HasSubstr("lo    inet 127.0.0.1/8"));
  EXPECT_THAT(addrs, ::testing::HasSubstr("eth0    inet " + r->ip + "/24"));
  EXPECT_THAT(Sh("ip -n " + ns + " link show lo"), ::testing::HasSubstr("UP"));
  EXPECT_EQ(IpamFiles(), 1);
  EXPECT_TRUE(cni_->Check(Req(ns, id)).ok());
  EXPECT_THAT(Sh("iptables-save -t nat"), ::testing::HasSubstr(id));

  ASSERT_TRUE(cni_->Del(Req(ns, id)).ok());
  EXPECT_EQ(IpamFiles(), 0);
  EXPECT_THAT(Sh("iptables-save -t nat"), ::testing::Not(::testing::HasSubstr(id)));
  EXPECT_EQ(Sh("ip -o link show master " + cni_->options().bridge), "");
  EXPECT_FALSE(std::ifstream(cni_->ResultCachePath(id, "eth0")).good());
  // DEL is idempotent, also for a namespace that no longer exists.
  EXPECT_TRUE(cni_->Del(Req(ns, id)).ok());
  EXPECT_TRUE(cni_->Del(Req("does-not-exist", id)).ok());
}

TEST_F(CniTest, TwoPodsReachEachOther) {
  std::string a = NewNetns(), b = NewNetns();
  auto ra = cni_->Add(Req(a, "a1" + suffix_));
  auto rb = cni_->Add(Req(b, "b1" + suffix_));
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_NE(ra->ip, rb->ip);
  int rc = 0;
  std::string out = Sh("ip netns exec " + a + " /bin/busybox ping -c 1 -W 3 " + rb->ip, &rc);
  EXPECT_EQ(rc, 0) << out;
  out = Sh("ip netns exec " + b + " /bin/busybox ping -c 1 -W 3 " + ra->ip, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(cni_->Del(Req(a, "a1" + suffix_)).ok());
  EXPECT_TRUE(cni_->Del(Req(b, "b1" + suffix_)).ok());
  EXPECT_EQ(IpamFiles(), 0);
}

TEST_F(CniTest, GarbageCollectReleasesUnknownIds) {
  std::string a = NewNetns(), b = NewNetns();
  std::string keep = "keep" + suffix_, drop = "drop" + suffix_;
  ASSERT_TRUE(cni_->Add(Req(a, keep)).ok());
  ASSERT_TRUE(cni_->Add(Req(b, drop)).ok());
  EXPECT_EQ(IpamFiles(), 2);
  // The dropped pod's netns is already gone (agent crash): its masquerade rule can no longer
  // be found through its addresses and is removed by comment.
  Sh("ip netns del " + b);
  netns_.pop_back();
  EXPECT_THAT(Sh("iptables-save -t nat"), ::testing::HasSubstr(drop));
  ASSERT_TRUE(cni_->GarbageCollect({keep}).ok());
  EXPECT_EQ(IpamFiles(), 1);
  EXPECT_THAT(Sh("iptables-save -t nat"), ::testing::Not(::testing::HasSubstr(drop)));
  EXPECT_THAT(Sh("iptables-save -t nat"), ::testing::HasSubstr(keep));
  // An IP reserved by a crashed ADD (file only, no cache) is released too.
  {
    std::ofstream f(IpamDir() + "/" + cni_->options().pod_cidr.substr(0, cni_->options().pod_cidr.rfind('.')) + ".200");
    f << "ghost\r\neth0";
  }
  EXPECT_EQ(IpamFiles(), 2);
  ASSERT_TRUE(cni_->GarbageCollect({keep}).ok());
  EXPECT_EQ(IpamFiles(), 1);
  ASSERT_TRUE(cni_->GarbageCollect({}).ok());
  EXPECT_EQ(IpamFiles(), 0);
}

TEST_F(CniTest, HostPortMapping) {
  // portmap keeps its top-level chains after the last DEL (as upstream); remove them if this
  // test created them.
  bool had_chains = Sh("iptables-save -t nat").find("CNI-HOSTPORT-DNAT") != std::string::npos;
  std::string a = NewNetns();
  AttachRequest req = Req(a, "hp" + suffix_);
  req.port_mappings = {{"TCP", 8080, 31000 + static_cast<int>(std::stoi(suffix_) % 1000), ""}};
  ASSERT_TRUE(cni_->Add(req).ok());
  std::string nat = Sh("iptables-save -t nat");
  EXPECT_THAT(nat, ::testing::HasSubstr("--dport " + std::to_string(req.port_mappings[0].host_port)));
  ASSERT_TRUE(cni_->Del(req).ok());
  nat = Sh("iptables-save -t nat");
  EXPECT_THAT(nat, ::testing::Not(::testing::HasSubstr("--dport " + std::to_string(req.port_mappings[0].host_port))));
  if (!had_chains) {
    for (const char* hook : {"PREROUTING", "OUTPUT"})
      Sh(std::string("iptables -t nat -D ") + hook + " -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT");
    Sh("iptables -t nat -D POSTROUTING -m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ");
    for (const char* c : {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"}) {
      Sh(std::string("iptables -t nat -F ") + c);
      Sh(std::string("iptables -t nat -X ") + c);
    }
    EXPECT_THAT(Sh("iptables-save -t nat"), ::testing::Not(::testing::HasSubstr("CNI-HOSTPORT")));
  }
}

TEST_F(CniTest, VersionAndPluginErrors) {
  auto v = cni_->Version("bridge");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_THAT((*v)["supportedVersions"], ::testing::Contains("1.0.0"));
  // ADD into a namespace path that does not exist fails with the plugin's message.
  auto r = cni_->Add(Req("no-such-netns-" + suffix_, "err" + suffix_));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("plugin type="));
  EXPECT_EQ(IpamFiles(), 0);
}

}  // namespace
}  // namespace tug::network
