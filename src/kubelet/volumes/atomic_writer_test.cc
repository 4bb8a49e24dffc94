#include "kubelet/volumes/atomic_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace tug::kubelet::volumes {
namespace {

namespace fs = std::filesystem;

class AtomicWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tug-atomic-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Read(const std::string& rel) {
    std::ifstream f(dir_ + "/" + rel);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::string Link(const std::string& rel) {
    std::error_code ec;
    return fs::read_symlink(dir_ + "/" + rel, ec).string();
  }
  int Mode(const std::string& rel) {
    struct stat st{};
    EXPECT_EQ(::stat((dir_ + "/" + rel).c_str(), &st), 0) << rel;
    return st.st_mode & 07777;
  }
  std::string dir_;
};

TEST_F(AtomicWriterTest, LayoutAsKubelet) {
  auto r = WriteAtomic(dir_, {{"key", {"v1", 0644}}, {"sub/dir/file", {"deep", 0400}}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(*r);
  std::string ts = Link("..data");
  EXPECT_EQ(ts.rfind("..", 0), 0u) << ts;
  EXPECT_TRUE(fs::is_directory(dir_ + "/" + ts));
  EXPECT_EQ(Link("key"), "..data/key");
  EXPECT_EQ(Link("sub"), "..data/sub");
  EXPECT_EQ(Read("key"), "v1");
  EXPECT_EQ(Read("sub/dir/file"), "deep");
  EXPECT_EQ(Mode("key"), 0644);
  EXPECT_EQ(Mode("sub/dir/file"), 0400);
}

TEST_F(AtomicWriterTest, UnchangedPayloadIsNotRewritten) {
  Payload p{{"a", {"1", 0644}}};
  ASSERT_TRUE(WriteAtomic(dir_, p).ok());
  std::string ts = Link("..data");
  auto again = WriteAtomic(dir_, p);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(Link("..data"), ts);
  // A mode change is a change.
  p["a"].mode = 0600;
  auto third = WriteAtomic(dir_, p);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(*third);
  EXPECT_EQ(Mode("a"), 0600);
}

TEST_F(AtomicWriterTest, UpdateSwapsAndRemovesOldNames) {
  ASSERT_TRUE(WriteAtomic(dir_, {{"a", {"1", 0644}}, {"b", {"2", 0644}}}).ok());
  std::string old_ts = Link("..data");
  auto r = WriteAtomic(dir_, {{"a", {"one", 0644}}, {"c", {"3", 0644}}});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_NE(Link("..data"), old_ts);
  EXPECT_FALSE(fs::exists(dir_ + "/" + old_ts)) << "old timestamped dir must go";
  EXPECT_EQ(Read("a"), "one");
  EXPECT_EQ(Read("c"), "3");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ + "/b"))) << "removed key must disappear";
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ + "/..data_tmp")));
  auto cur = ReadCurrentPayload(dir_);
  ASSERT_TRUE(cur.ok());
  EXPECT_EQ(cur->size(), 2u);
  // Only ..data, one timestamped dir and the two names remain.
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir_)) (void)e, ++entries;
  EXPECT_EQ(entries, 4);
}

TEST_F(AtomicWriterTest, EmptyPayload) {
  auto r = WriteAtomic(dir_, {});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(Link("..data").empty());
}

TEST(ValidatePayloadPath, Table) {
  struct Case {
    std::string path;
    bool ok;
  } cases[] = {{"key", true},       {"a/b/c", true},  {"a.b", true},      {"", false},
               {"/abs", false},     {"../x", false},  {"a/../b", false},  {"..data", false},
               {"a/..hidden", false}, {std::string(256, 'x'), false}, {std::string(255, 'x'), true}};
  for (const auto& c : cases) EXPECT_EQ(ValidatePayloadPath(c.path).ok(), c.ok) << c.path;
}

TEST_F(AtomicWriterTest, InvalidPathWritesNothing) {
  auto r = WriteAtomic(dir_, {{"ok", {"1", 0644}}, {"../escape", {"x", 0644}}});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ + "/..data")));
}

}  // namespace
}  // namespace tug::kubelet::volumes
