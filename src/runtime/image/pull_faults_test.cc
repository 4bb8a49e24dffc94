// Pulls against a registry that fails on purpose (FlakyRegistry): connections cut in the middle
// of a layer, wrong bytes, 503s, a registry that is gone; and pulls into a data dir on a tiny
// tmpfs (a full disk). Whatever happens, no blob or layer appears under its digest unless it is
// whole and verified, tmp/ is empty afterwards, and a later pull succeeds.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "runtime/image/digest.h"
#include "runtime/image/image_store.h"
#include "runtime/image/layer.h"
#include "runtime/image/testing/flaky_registry.h"
#include "runtime/image/testing/tar_builder.h"

namespace tug::runtime::image {
namespace {

using testing::FlakyRegistry;
using testing::TarBuilder;
using testing::CountEntries;
using testing::RandomBytes;
using Fault = FlakyRegistry::Fault;
namespace fs = std::filesystem;

constexpr const char* kTarLayer = "application/vnd.docker.image.rootfs.diff.tar";
constexpr const char* kGzipLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip";
constexpr int kMaxAttempts = 4;

std::string ConfigFor(const std::vector<std::string>& uncompressed_layers) {
  Json c = {{"architecture", Platform::Host().architecture},
            {"os", "linux"},
            {"config", {{"Cmd", {"sh"}}}},
            {"rootfs", {{"type", "layers"}, {"diff_ids", Json::array()}}}};
  for (const auto& l : uncompressed_layers) c["rootfs"]["diff_ids"].push_back(DigestOf(l));
  return c.dump();
}

class PullFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "layer unpacking needs root";
    char tmpl[] = "/tmp/tug-pull-faults-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    store_.reset();
    if (mounted_) ::umount2(data_.c_str(), MNT_DETACH);
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void OpenStore(const std::string& data_dir) {
    data_ = data_dir;
    ImageStoreOptions o;
    o.load_registries_file = false;
    o.registry.max_attempts = kMaxAttempts;
    o.registry.initial_backoff = std::chrono::milliseconds(1);
    o.registry.max_backoff = std::chrono::milliseconds(8);
    auto s = OpenImageStore(data_dir, std::move(o));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  // Nothing of `layer` (blob digest / uncompressed tar) is stored, and no temp file is left.
  void ExpectNothingKept(const std::string& blob_digest, bool blob_may_stay = false) {
    if (!blob_may_stay) {
      EXPECT_FALSE(fs::exists(data_ + "/images/blobs/sha256/" + DigestHex(blob_digest)));
    }
    EXPECT_EQ(CountEntries(data_ + "/images/layers"), 0u) << "no layer without a whole image";
    EXPECT_EQ(CountEntries(data_ + "/images/tmp"), 0u) << "temp files of the failed pull are removed";
  }
  void ExpectPulled(const std::string& ref, const std::string& blob_digest, const std::string& file,
                    size_t file_size) {
    auto info = store_->Pull(ref);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    auto got = DigestOfFile(data_ + "/images/blobs/sha256/" + DigestHex(blob_digest));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, blob_digest);
    auto dirs = store_->LayerDirs(info->id);
    ASSERT_TRUE(dirs.ok()) << dirs.status().ToString();
    EXPECT_EQ(fs::file_size((*dirs)[0] + "/" + file), file_size);
    EXPECT_EQ(CountEntries(data_ + "/images/tmp"), 0u);
  }

  std::string dir_, data_;
  bool mounted_ = false;
  std::unique_ptr<ImageStore> store_;
};

struct FaultCase {
  const char* name;
  std::vector<Fault> faults;  // queued for the layer blob, one per GET
  bool always = false;        // faults[0] on every GET
  StatusCode want = StatusCode::kOk;
  int want_gets = 0;          // GETs of the layer blob by the first pull
  bool resumed = false;       // some GET asked for a Range past 0
};

class PullFaultTableTest : public PullFaultsTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(PullFaultTableTest, RetriedOrFailsWithoutKeepingAnything) {
  const FaultCase& tc = GetParam();
  FlakyRegistry reg;
  std::string payload = RandomBytes(1 << 20, 7);
  std::string layer = TarBuilder().File("random.bin", payload).Build();
  std::string digest = DigestOf(layer);
  reg.AddImage("flaky", "v1", ConfigFor({layer}), {layer}, kTarLayer);
  if (tc.always) {
    reg.AlwaysFail(digest, tc.faults.at(0));
  } else {
    reg.QueueFaults(digest, tc.faults);
  }
  OpenStore(dir_);
  std::string ref = reg.host() + "/flaky:v1";

  auto first = store_->Pull(ref);
  EXPECT_EQ(reg.BlobGets(digest), tc.want_gets);
  bool resumed = false;
  for (const auto& r : reg.Requests()) resumed |= r.range_start > 0;
  EXPECT_EQ(resumed, tc.resumed);
  if (tc.want == StatusCode::kOk) {
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    ExpectPulled(ref, digest, "random.bin", payload.size());
    return;
  }
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), tc.want) << first.status().ToString();
  EXPECT_NE(first.status().message().find(digest), std::string::npos) << first.status().message();
  ExpectNothingKept(digest);
  EXPECT_FALSE(store_->Get(ref).ok());
  // The registry recovers: the next pull succeeds.
  reg.ClearFaults();
  ExpectPulled(ref, digest, "random.bin", payload.size());
}

INSTANTIATE_TEST_SUITE_P(
    Faults, PullFaultTableTest,
    ::testing::Values(
        FaultCase{"CutTwiceThenResumedWithRange", {Fault::kCutHalfway, Fault::kCutHalfway}, false, StatusCode::kOk, 3,
                  true},
        FaultCase{"CutThenRangeIgnoredRestartsFromZero", {Fault::kCutHalfway, Fault::kIgnoreRange}, false,
                  StatusCode::kOk, 2, true},
        FaultCase{"WrongBytesOnceRestartsFromZero", {Fault::kWrongBytes}, false, StatusCode::kOk, 2, false},
        FaultCase{"ServiceUnavailableTwice", {Fault::kUnavailable, Fault::kUnavailable}, false, StatusCode::kOk, 3,
                  false},
        FaultCase{"AlwaysCutGivesUpAfterMaxAttempts", {Fault::kCutHalfway}, true, StatusCode::kUnavailable,
                  kMaxAttempts, true},
        FaultCase{"AlwaysUnavailableGivesUp", {Fault::kUnavailable}, true, StatusCode::kUnavailable, kMaxAttempts,
                  false},
        FaultCase{"AlwaysWrongBytesIsADigestError", {Fault::kWrongBytes}, true, StatusCode::kInvalid, 2, false}),
    [](const ::testing::TestParamInfo<FaultCase>& i) { return std::string(i.param.name); });

TEST_F(PullFaultsTest, RegistryGoneThenBack) {
  FlakyRegistry reg;
  std::string layer = TarBuilder().File("f", "x").Build();
  reg.AddImage("gone", "v1", ConfigFor({layer}), {layer}, kTarLayer);
  OpenStore(dir_);
  reg.SetDown(true);
  auto r = store_->Pull(reg.host() + "/gone:v1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  ExpectNothingKept(DigestOf(layer));
  reg.SetDown(false);
  ExpectPulled(reg.host() + "/gone:v1", DigestOf(layer), "f", 1);
}

// A pull whose caller gives up (the kubelet's pod was deleted) ends within about a second even
// while the registry sends nothing, is not retried, and keeps nothing of the layer.
TEST_F(PullFaultsTest, CancelledPullEndsAStalledDownload) {
  FlakyRegistry reg;
  std::string payload = RandomBytes(1 << 20, 11);
  std::string layer = TarBuilder().File("random.bin", payload).Build();
  std::string digest = DigestOf(layer);
  reg.AddImage("stall", "v1", ConfigFor({layer}), {layer}, kTarLayer);
  reg.AlwaysFail(digest, Fault::kStallHalfway);
  OpenStore(dir_);
  std::string ref = reg.host() + "/stall:v1";
  std::atomic<bool> cancel{false};
  PullOptions po;
  po.cancelled = [&] { return cancel.load(); };
  Result<ImageInfo> got = InternalError("not run");
  std::thread puller([&] { got = store_->Pull(ref, po); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (reg.BlobGets(digest) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // half the blob is in, then silence
  cancel = true;
  puller.join();
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("pull cancelled"), std::string::npos) << got.status().ToString();
  EXPECT_EQ(reg.BlobGets(digest), 1);  // not retried
  ExpectNothingKept(digest);
  reg.ClearFaults();
  ExpectPulled(ref, digest, "random.bin", payload.size());
}

// The data dir on a 3 MiB tmpfs: a layer blob that does not fit fails the download, a small
// blob that unpacks to more than fits fails the unpack; both with "no space left on device",
// neither leaves a partial layer or temp file, and both pull once the filesystem is larger.
TEST_F(PullFaultsTest, FullDisk) {
  data_ = dir_ + "/small";
  fs::create_directories(data_);
  ASSERT_EQ(::mount("tugflt", data_.c_str(), "tmpfs", 0, "size=3m"), 0) << std::strerror(errno);
  mounted_ = true;
  FlakyRegistry reg;
  std::string big_payload = RandomBytes(4 << 20, 11);  // incompressible: the blob is > 3 MiB
  std::string big = TarBuilder().File("big.bin", big_payload).Build();
  std::string zeros_payload(5 << 20, '\0');  // compresses to a few KiB, unpacks to 5 MiB
  std::string zeros = TarBuilder().File("zeros.bin", zeros_payload).Build();
  std::string zeros_gz = TarBuilder::Gzip(zeros);
  reg.AddImage("big", "v1", ConfigFor({big}), {big}, kTarLayer);
  reg.AddImage("zeros", "v1", ConfigFor({zeros}), {zeros_gz}, kGzipLayer);
  OpenStore(data_);

  for (const auto& [ref, digest, blob_may_stay] :
       std::vector<std::tuple<std::string, std::string, bool>>{{reg.host() + "/big:v1", DigestOf(big), false},
                                                                {reg.host() + "/zeros:v1", DigestOf(zeros_gz), true}}) {
    SCOPED_TRACE(ref);
    auto r = store_->Pull(ref);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInternal) << r.status().ToString();
    EXPECT_NE(r.status().message().find("no space left on device"), std::string::npos) << r.status().message();
    // A blob that arrived whole and verified may stay (it is content-addressed and complete;
    // GC removes it when no image uses it); a layer never does.
    ExpectNothingKept(digest, blob_may_stay);
    EXPECT_FALSE(store_->Get(ref).ok());
  }
  EXPECT_EQ(reg.BlobGets(DigestOf(big)), 1) << "a local disk error is not retried against the registry";

  ASSERT_EQ(::mount("tugflt", data_.c_str(), "tmpfs", MS_REMOUNT, "size=32m"), 0) << std::strerror(errno);
  ExpectPulled(reg.host() + "/big:v1", DigestOf(big), "big.bin", big_payload.size());
  ExpectPulled(reg.host() + "/zeros:v1", DigestOf(zeros_gz), "zeros.bin", zeros_payload.size());
}

TEST(ErrnoTextTest, LowerCaseLikeGo) {
  EXPECT_EQ(ErrnoText(ENOSPC), "no space left on device");
  EXPECT_EQ(ErrnoText(EIO), "input/output error");
}

}  // namespace
}  // namespace tug::runtime::image
