#include "kubelet/logs/container_log_manager.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/testing/fake_clock.h"
#include "kubelet/testing/unimplemented_runtime.h"

namespace tug::kubelet::logs {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
void Write(const std::string& path, const std::string& data) { std::ofstream(path, std::ios::binary) << data; }

// The uncompressed content of a .gz file ("" when it is not gzip).
std::string Gunzip(const std::string& path) {
  gzFile g = gzopen(path.c_str(), "rb");
  if (g == nullptr) return "";
  std::string out;
  char buf[4096];
  int n;
  while ((n = gzread(g, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(g);
  return out;
}

class LogDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("clm-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    log_ = (dir_ / "0.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<std::string> Files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
  std::string log_;
};

TEST(ParseByteQuantity, Table) {
  struct Case {
    std::string in;
    int64_t want;  // -1: an error
  };
  const Case cases[] = {
      {"10Mi", 10 << 20}, {"64Ki", 64 << 10}, {"1Gi", int64_t(1) << 30}, {"1048576", 1048576},
      {"500k", 500000},   {"1M", 1000000},    {"1.5Ki", 1536},           {"0.5Mi", 512 << 10},
      {"1.5", -1},        {"0", -1},          {"0Mi", -1},               {"", -1},
      {"Mi", -1},         {"10mi", -1},       {"10 Mi", -1},             {"-1Mi", -1},
      {"9Ei", -1},        {"8Ei", -1},        {"7Ei", int64_t(7) << 60},
  };
  for (const auto& c : cases) {
    auto r = ParseByteQuantity(c.in);
    if (c.want < 0) {
      ASSERT_FALSE(r.ok()) << c.in;
      EXPECT_THAT(r.status().message(), HasSubstr("\"" + c.in + "\"")) << c.in;
    } else {
      ASSERT_TRUE(r.ok()) << c.in << ": " << r.status().message();
      EXPECT_EQ(*r, c.want) << c.in;
    }
  }
}

TEST(ValidatePolicy, Table) {
  struct Case {
    RotatePolicy p;
    std::string error;  // "" = valid
  };
  const Case cases[] = {
      {{10 << 20, 5}, ""},
      {{1, 2}, ""},
      {{10 << 20, 1}, "--container-log-max-files: must be at least 2"},
      {{10 << 20, 0}, "--container-log-max-files"},
      {{0, 5}, "--container-log-max-size: must be greater than 0"},
      {{-1, 5}, "--container-log-max-size"},
  };
  for (const auto& c : cases) {
    Status s = ValidatePolicy(c.p);
    if (c.error.empty()) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    } else {
      EXPECT_EQ(s.code(), StatusCode::kInvalid);
      EXPECT_THAT(s.message(), HasSubstr(c.error));
    }
  }
}

TEST(RotatedSuffix, IsUtcSeconds) {
  // 2023-11-14T22:13:20Z
  EXPECT_EQ(RotatedSuffix(SystemTime(std::chrono::seconds(1700000000)) + std::chrono::milliseconds(999)),
            ".20231114-221320");
}

// Rotations with max 3 files: the current file, the newest rotated file as it was, older ones
// gzip'd; the oldest go first; every byte written is in exactly one file until removed.
TEST_F(LogDirTest, RotationKeepsMaxFilesNewestUncompressed) {
  RotatePolicy p{.max_size_bytes = 1, .max_files = 3};
  SystemTime t = SystemTime(std::chrono::seconds(1700000000));
  int reopens = 0;
  auto reopen = [&] {
    ++reopens;
    Write(log_, "");  // the writer (conmon) starts a new file
    return Status::Ok();
  };
  std::vector<std::string> contents;
  for (int i = 0; i < 4; ++i) {
    contents.push_back("generation " + std::to_string(i) + "\n");
    Write(log_, contents.back());
    ASSERT_TRUE(RotateLog(log_, p, t + std::chrono::seconds(i), reopen).ok()) << i;
  }
  EXPECT_EQ(reopens, 4);
  // After 4 rotations: gen 2 compressed, gen 3 as it was, and the current (empty) file.
  EXPECT_THAT(Files(), ElementsAre("0.log", "0.log.20231114-221322.gz", "0.log.20231114-221323"));
  EXPECT_EQ(Read(log_), "");
  EXPECT_EQ(Gunzip(log_ + ".20231114-221322.gz"), contents[2]);
  EXPECT_EQ(Read(log_ + ".20231114-221323"), contents[3]);
  EXPECT_THAT(RotatedLogs(log_), ElementsAre(log_ + ".20231114-221322.gz", log_ + ".20231114-221323"));
}

TEST_F(LogDirTest, MoreFilesKeepMoreGenerations) {
  RotatePolicy p{.max_size_bytes = 1, .max_files = 5};
  SystemTime t = SystemTime(std::chrono::seconds(1700000000));
  for (int i = 0; i < 6; ++i) {
    Write(log_, "g" + std::to_string(i) + "\n");
    ASSERT_TRUE(RotateLog(log_, p, t + std::chrono::seconds(i), [&] {
                  Write(log_, "");
                  return Status::Ok();
                }).ok());
  }
  EXPECT_THAT(Files(), ElementsAre("0.log", "0.log.20231114-221322.gz", "0.log.20231114-221323.gz",
                                   "0.log.20231114-221324.gz", "0.log.20231114-221325"));
  EXPECT_EQ(Gunzip(log_ + ".20231114-221322.gz"), "g2\n");
}

TEST_F(LogDirTest, FailedReopenRenamesBack) {
  Write(log_, "keep me\n");
  Status s = RotateLog(log_, {1, 3}, SystemTime(std::chrono::seconds(1700000000)),
                       [] { return NotFoundError("container has no monitor"); });
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_THAT(Files(), ElementsAre("0.log"));
  EXPECT_EQ(Read(log_), "keep me\n");
}

TEST_F(LogDirTest, LeftoversOfAnInterruptedRotationAreRemoved) {
  Write(log_, "now\n");
  Write(log_ + ".20231114-000001", "compressed already\n");  // its .gz is complete
  Write(log_ + ".20231114-000001.gz", "x");
  Write(log_ + ".20231114-000002.gz.tmp", "partial");
  Write((dir_ / "1.log").string(), "another container\n");
  EXPECT_THAT(RotatedLogs(log_), ElementsAre(log_ + ".20231114-000001.gz"));
  ASSERT_TRUE(RotateLog(log_, {1, 5}, SystemTime(std::chrono::seconds(1700000000)), [&] {
                Write(log_, "");
                return Status::Ok();
              }).ok());
  EXPECT_THAT(Files(), ElementsAre("0.log", "0.log.20231114-000001.gz", "0.log.20231114-221320", "1.log"));
}

TEST_F(LogDirTest, SameSecondIsPostponed) {
  SystemTime t = SystemTime(std::chrono::seconds(1700000000));
  Write(log_, "a\n");
  auto reopen = [&] {
    Write(log_, "");
    return Status::Ok();
  };
  ASSERT_TRUE(RotateLog(log_, {1, 3}, t, reopen).ok());
  Write(log_, "b\n");
  EXPECT_EQ(RotateLog(log_, {1, 3}, t + std::chrono::milliseconds(500), reopen).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Read(log_), "b\n");
  EXPECT_EQ(Read(log_ + ".20231114-221320"), "a\n");
}

TEST_F(LogDirTest, RemoveLogFilesTakesRotatedOnesOnly) {
  Write(log_, "x");
  Write(log_ + ".20231114-221320", "x");
  Write(log_ + ".20231114-221319.gz", "x");
  Write((dir_ / "10.log").string(), "x");
  Write((dir_ / "1.log.20231114-221320").string(), "x");
  ASSERT_TRUE(RemoveLogFiles(log_).ok());
  EXPECT_THAT(Files(), ElementsAre("1.log.20231114-221320", "10.log"));
  EXPECT_TRUE(RemoveLogFiles(log_).ok()) << "nothing left is not an error";
}

// A runtime with a fixed container list whose ReopenContainerLog plays conmon.
class FakeRuntime : public kubelet::testing::UnimplementedRuntime {
 public:
  std::vector<runtime::ContainerStatus> containers;
  std::map<std::string, int> reopened;
  bool fail_reopen = false;

  Result<runtime::ContainerStatus> ContainerStatusOf(const std::string& id) override {
    for (const auto& c : containers)
      if (c.id == id) return c;
    return NotFoundError("container " + id + " not found");
  }
  Result<std::vector<runtime::ContainerStatus>> ListContainers(const std::string&) override { return containers; }
  Status ReopenContainerLog(const std::string& id) override {
    if (fail_reopen) return NotFoundError("container " + id + " has no monitor");
    auto st = ContainerStatusOf(id);
    if (!st.ok()) return st.status();
    ++reopened[id];
    Write(st->log_path, "");
    return Status::Ok();
  }

  void Add(const std::string& id, const std::string& log, runtime::ContainerState state) {
    runtime::ContainerStatus s;
    s.id = id;
    s.name = "c";
    s.log_path = log;
    s.state = state;
    containers.push_back(s);
  }
};

// One pass: only running containers at or over the size rotate; rotated files of containers
// that are gone are removed; Clean removes a container's files.
TEST_F(LogDirTest, ManagerPass) {
  FakeRuntime rt;
  std::string big = (dir_ / "2.log").string(), small = (dir_ / "3.log").string(), exited = log_;
  rt.Add("big", big, runtime::ContainerState::kRunning);
  rt.Add("small", small, runtime::ContainerState::kRunning);
  rt.Add("exited", exited, runtime::ContainerState::kExited);
  Write(big, std::string(100, 'b'));
  Write(small, std::string(99, 's'));
  Write(exited, std::string(500, 'e'));
  Write(exited + ".20231114-000000", "the exited container's older file");
  Write((dir_ / "1.log.20231114-000000.gz").string(), "container 1 is gone");
  Write((dir_ / "1.log").string(), "kept: may belong to a container being created");
  tug::testing::FakeClock clock;
  ContainerLogManager m(rt, {.policy = {.max_size_bytes = 100, .max_files = 3}, .clock = &clock});
  EXPECT_EQ(m.RotateLogs(), 1);
  EXPECT_EQ(rt.reopened["big"], 1);
  EXPECT_EQ(rt.reopened.count("small"), 0u);
  EXPECT_THAT(Files(), ElementsAre("0.log", "0.log.20231114-000000", "1.log", "2.log", "2.log.20231114-221320", "3.log"));
  EXPECT_EQ(Read(big + ".20231114-221320"), std::string(100, 'b'));
  EXPECT_EQ(Read(big), "");
  // Nothing to do on the next pass; a reopen that fails leaves the file where it was.
  EXPECT_EQ(m.RotateLogs(), 0);
  Write(small, std::string(100, 's'));
  rt.fail_reopen = true;
  EXPECT_EQ(m.RotateLogs(), 0);
  EXPECT_EQ(Read(small), std::string(100, 's'));
  rt.fail_reopen = false;
  // A log renamed by a rotation that never reopened (the agent died): reopened.
  fs::rename(big, big + ".20231114-221321");
  clock.Advance(std::chrono::seconds(2));
  EXPECT_EQ(m.RotateLogs(), 1) << "small rotates now";
  EXPECT_EQ(rt.reopened["big"], 2);
  EXPECT_TRUE(fs::exists(big));

  ASSERT_TRUE(m.Clean("exited").ok());
  EXPECT_FALSE(fs::exists(exited));
  EXPECT_FALSE(fs::exists(exited + ".20231114-000000"));
  EXPECT_EQ(m.Clean("nope").code(), StatusCode::kNotFound);
}

// The thread runs passes until Stop.
TEST_F(LogDirTest, ManagerThreadRotates) {
  FakeRuntime rt;
  rt.Add("c1", log_, runtime::ContainerState::kRunning);
  Write(log_, std::string(10, 'x'));
  ContainerLogManager m(rt, {.policy = {.max_size_bytes = 10, .max_files = 2},
                             .monitor_interval = std::chrono::milliseconds(10)});
  m.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (RotatedLogs(log_).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  m.Stop();
  m.Stop();
  EXPECT_EQ(RotatedLogs(log_).size(), 1u);
}

}  // namespace
}  // namespace tug::kubelet::logs
