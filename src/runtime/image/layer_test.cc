#include "runtime/image/layer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/image/digest.h"
#include "runtime/image/testing/tar_builder.h"

namespace tug::runtime::image {
namespace {

using testing::Compression;
using testing::TarBuilder;
namespace fs = std::filesystem;

class LayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tug-layer-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::create_directories(dir_ + "/out");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string WriteBlob(const std::string& bytes) {
    std::string p = dir_ + "/blob" + std::to_string(n_++);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  static std::string Read(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
  int n_ = 0;
};

TEST_F(LayerTest, UnpacksEntryTypesAndMetadata) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mknod, chown, trusted xattrs)";
  TarBuilder t;
  t.Dir("etc", 0755)
      .File("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644)
      .File("etc/shadow", "secret", 0600, 42, 43, {{"user.tug", "v1"}})
      .Hardlink("etc/passwd-link", "etc/passwd")
      .Symlink("etc/link", "/etc/passwd")
      .Dir("dev", 0755)
      .CharDevice("dev/null", 1, 3)
      .Dir("tmp", 01777)
      .File("/abs/file", "abs");
  auto size = UnpackLayer(WriteBlob(t.Build(Compression::kGzip)), dir_ + "/out");
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, 26 + 6 + 3);
  std::string o = dir_ + "/out";
  EXPECT_EQ(Read(o + "/etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  struct stat a, b;
  ASSERT_EQ(::lstat((o + "/etc/passwd").c_str(), &a), 0);
  ASSERT_EQ(::lstat((o + "/etc/passwd-link").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino) << "hard link kept";
  ASSERT_EQ(::lstat((o + "/etc/shadow").c_str(), &a), 0);
  EXPECT_EQ(a.st_mode & 07777, 0600u);
  EXPECT_EQ(a.st_uid, 42u);
  EXPECT_EQ(a.st_gid, 43u);
  char buf[16] = {0};
  EXPECT_EQ(::lgetxattr((o + "/etc/shadow").c_str(), "user.tug", buf, sizeof buf), 2);
  EXPECT_STREQ(buf, "v1");
  EXPECT_EQ(fs::read_symlink(o + "/etc/link"), "/etc/passwd");
  ASSERT_EQ(::lstat((o + "/dev/null").c_str(), &a), 0);
  EXPECT_TRUE(S_ISCHR(a.st_mode));
  EXPECT_EQ(major(a.st_rdev), 1u);
  EXPECT_EQ(minor(a.st_rdev), 3u);
  ASSERT_EQ(::lstat((o + "/tmp").c_str(), &a), 0);
  EXPECT_EQ(a.st_mode & 07777, 01777u);
  EXPECT_EQ(Read(o + "/abs/file"), "abs") << "absolute paths land inside the layer";
}

TEST_F(LayerTest, WhiteoutsBecomeOverlayWhiteouts) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mknod, trusted xattrs)";
  TarBuilder t;
  t.Dir("etc")
      .File("etc/.wh.motd", "")
      .Dir("var/cache")
      .File("var/cache/.wh..wh..opq", "")
      .File("var/cache/new", "n")
      .File(".wh..wh..plnk", "")
      .File("deep/dir/.wh.gone", "");
  auto size = UnpackLayer(WriteBlob(t.Build(Compression::kZstd)), dir_ + "/out");
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  std::string o = dir_ + "/out";
  struct stat st;
  ASSERT_EQ(::lstat((o + "/etc/motd").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_FALSE(fs::exists(o + "/etc/.wh.motd"));
  char v[4] = {0};
  EXPECT_EQ(::lgetxattr((o + "/var/cache").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
  EXPECT_EQ(Read(o + "/var/cache/new"), "n");
  EXPECT_FALSE(fs::exists(o + "/var/cache/.wh..wh..opq"));
  EXPECT_FALSE(fs::exists(o + "/.wh..wh..plnk"));
  ASSERT_EQ(::lstat((o + "/deep/dir/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

struct EscapeCase {
  std::string name;
  TarBuilder tar;
};

TEST_F(LayerTest, RejectsPathsLeavingTheLayer) {
  std::vector<EscapeCase> cases = {
      {"dotdot", TarBuilder().File("../escape", "x")},
      {"nested_dotdot", TarBuilder().Dir("a").File("a/../../escape", "x")},
      {"through_symlink", TarBuilder().Symlink("link", dir_).File("link/escape", "x")},
      {"hardlink_dotdot", TarBuilder().Hardlink("h", "../../etc/passwd")},
      {"whiteout_through_symlink", TarBuilder().Symlink("link", dir_).File("link/.wh.escape", "")},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string out = dir_ + "/out-" + c.name;
    fs::create_directories(out);
    auto r = UnpackLayer(WriteBlob(c.tar.Build()), out);
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(fs::exists(dir_ + "/escape"));
  }
}

TEST_F(LayerTest, DiffIdIsDigestOfTheUncompressedTar) {
  TarBuilder t;
  t.File("a", std::string(100000, 'a')).File("b", "b");
  std::string plain = t.Build(Compression::kNone);
  std::string want = DigestOf(plain);
  for (auto c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    auto got = ComputeDiffId(WriteBlob(t.Build(c)));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, want);
  }
  EXPECT_FALSE(ComputeDiffId(dir_ + "/missing").ok());
}

TEST_F(LayerTest, CorruptArchiveFails) {
  TarBuilder t;
  t.File("a", std::string(100000, 'a'));
  std::string gz = t.Build(Compression::kGzip);
  gz.resize(gz.size() / 2);
  auto r = UnpackLayer(WriteBlob(gz), dir_ + "/out");
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace tug::runtime::image
