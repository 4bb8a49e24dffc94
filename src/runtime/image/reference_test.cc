#include "runtime/image/reference.h"

#include <gtest/gtest.h>

namespace tug::runtime::image {
namespace {

constexpr const char* kD = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct RefCase {
  std::string name, in;
  bool ok;
  std::string domain, path, tag, digest, full, familiar;
};

class ReferenceTest : public ::testing::TestWithParam<RefCase> {};

TEST_P(ReferenceTest, Parses) {
  const RefCase& c = GetParam();
  auto r = ParseReference(c.in);
  ASSERT_EQ(r.ok(), c.ok) << c.in << ": " << r.status().ToString();
  if (!c.ok) return;
  EXPECT_EQ(r->domain, c.domain);
  EXPECT_EQ(r->path, c.path);
  EXPECT_EQ(r->tag, c.tag);
  EXPECT_EQ(r->digest, c.digest);
  EXPECT_EQ(r->String(), c.full);
  EXPECT_EQ(r->Familiar(), c.familiar);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ReferenceTest,
    ::testing::Values(
        RefCase{"short", "busybox", true, "docker.io", "library/busybox", "latest", "",
                "docker.io/library/busybox:latest", "busybox:latest"},
        RefCase{"tag", "busybox:1.36", true, "docker.io", "library/busybox", "1.36", "",
                "docker.io/library/busybox:1.36", "busybox:1.36"},
        RefCase{"user_repo", "bitnami/nginx", true, "docker.io", "bitnami/nginx", "latest", "",
                "docker.io/bitnami/nginx:latest", "bitnami/nginx:latest"},
        RefCase{"explicit_docker_io", "docker.io/library/busybox:1", true, "docker.io", "library/busybox", "1", "",
                "docker.io/library/busybox:1", "busybox:1"},
        RefCase{"index_docker_io", "index.docker.io/busybox", true, "docker.io", "library/busybox", "latest", "",
                "docker.io/library/busybox:latest", "busybox:latest"},
        RefCase{"localhost_port", "localhost:5000/x", true, "localhost:5000", "x", "latest", "",
                "localhost:5000/x:latest", "localhost:5000/x:latest"},
        RefCase{"localhost_no_port", "localhost/x:2", true, "localhost", "x", "2", "", "localhost/x:2",
                "localhost/x:2"},
        RefCase{"registry_digest", std::string("registry:5000/a/b@") + kD, true, "registry:5000", "a/b", "", kD,
                std::string("registry:5000/a/b@") + kD, std::string("registry:5000/a/b@") + kD},
        RefCase{"tag_and_digest", std::string("busybox:1.36@") + kD, true, "docker.io", "library/busybox", "1.36", kD,
                std::string("docker.io/library/busybox:1.36@") + kD, std::string("busybox:1.36@") + kD},
        RefCase{"dotted_host", "registry.k8s.io/pause:3.9", true, "registry.k8s.io", "pause", "3.9", "",
                "registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"},
        RefCase{"ip_port", "127.0.0.1:5000/library/busybox", true, "127.0.0.1:5000", "library/busybox", "latest", "",
                "127.0.0.1:5000/library/busybox:latest", "127.0.0.1:5000/library/busybox:latest"},
        RefCase{"separators", "a/b_c__d.e-f---g", true, "docker.io", "a/b_c__d.e-f---g", "latest", "",
                "docker.io/a/b_c__d.e-f---g:latest", "a/b_c__d.e-f---g:latest"},
        RefCase{"uppercase_repo", "Busybox", false, "", "", "", "", "", ""},
        RefCase{"uppercase_path", "docker.io/Library/busybox", false, "", "", "", "", "", ""},
        RefCase{"empty", "", false, "", "", "", "", "", ""},
        RefCase{"bad_tag", "busybox:-x", false, "", "", "", "", "", ""},
        RefCase{"bad_digest", "busybox@sha256:abc", false, "", "", "", "", "", ""},
        RefCase{"trailing_slash", "busybox/", false, "", "", "", "", "", ""},
        RefCase{"double_slash", "a//b", false, "", "", "", "", "", ""},
        RefCase{"triple_underscore", "a___b", false, "", "", "", "", "", ""},
        RefCase{"leading_sep", "_a", false, "", "", "", "", "", ""}),
    [](const auto& info) { return info.param.name; });

TEST(ReferenceTest, Names) {
  auto r = ParseReference(std::string("busybox:1.36@") + kD);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->TagName(), "docker.io/library/busybox:1.36");
  EXPECT_EQ(r->DigestName(), std::string("docker.io/library/busybox@") + kD);
  EXPECT_EQ(r->ManifestRef(), kD);
  auto t = ParseReference("busybox");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->ManifestRef(), "latest");
  EXPECT_EQ(t->DigestName(), "");
}

}  // namespace
}  // namespace tug::runtime::image
