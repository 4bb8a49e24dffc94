// Registry client and pulls against a real docker-registry started by the test.
#include "runtime/image/registry_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/image/digest.h"
#include "runtime/image/image_store.h"
#include "runtime/image/testing/registry_fixture.h"
#include "runtime/image/testing/tar_builder.h"

namespace tug::runtime::image {
namespace {

using testing::Compression;
using testing::RegistryFixture;
using testing::TarBuilder;
using testing::CountEntries;
namespace fs = std::filesystem;

std::string ReadAll(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ConfigFor(const std::vector<std::string>& uncompressed_layers, const std::string& arch = "amd64",
                      const std::string& cmd = "sh") {
  Json c = {{"architecture", arch},
            {"os", "linux"},
            {"config",
             {{"Cmd", {cmd}},
              {"Env", {"PATH=/bin:/usr/bin"}},
              {"WorkingDir", "/"},
              {"User", "0"},
              {"ExposedPorts", {{"80/tcp", Json::object()}}}}},
            {"rootfs", {{"type", "layers"}, {"diff_ids", Json::array()}}}};
  for (const auto& l : uncompressed_layers) c["rootfs"]["diff_ids"].push_back(DigestOf(l));
  return c.dump();
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RegistryFixture::Binary().empty()) GTEST_SKIP() << "docker-registry is not installed (apt-get install docker-registry)";
    if (::geteuid() != 0) GTEST_SKIP() << "layer unpacking needs root";
    reg_ = std::make_unique<RegistryFixture>();
    Status st = reg_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    char tmpl[] = "/tmp/tug-pull-test-XXXXXX";
    data_ = ::mkdtemp(tmpl);
    std::ofstream(data_ + "/registries.yaml") << "mirrors:\n  docker.io:\n    endpoint: [\"" << reg_->url() << "\"]\n";
  }
  void TearDown() override {
    reg_.reset();
    if (!data_.empty()) fs::remove_all(data_);
  }
  std::unique_ptr<ImageStore> Open(Platform platform = Platform::Host(),
                                   std::function<void(const std::string&, int64_t)> hook = nullptr) {
    ImageStoreOptions o;
    o.registry.platform = platform;
    o.registry.initial_backoff = std::chrono::milliseconds(10);
    o.registry.max_backoff = std::chrono::milliseconds(100);
    o.registry.on_blob_bytes = std::move(hook);
    auto s = OpenImageStore(data_, std::move(o));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }
  // A busybox-like image: the host's busybox binary and an sh link.
  std::string BusyboxLayer() {
    std::string bb = ReadAll("/bin/busybox");
    if (bb.empty()) bb = "#!/bin/true\n";
    return TarBuilder()
        .Dir("bin")
        .File("bin/busybox", bb, 0755)
        .Symlink("bin/sh", "busybox")
        .Dir("etc")
        .File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
        .Build();
  }

  std::unique_ptr<RegistryFixture> reg_;
  std::string data_;
};

TEST_F(RegistryTest, PullsBusyboxThroughTheMirror) {
  std::string layer = BusyboxLayer();
  TarBuilder t2;
  std::string layer2 = t2.Dir("etc").File("etc/.wh.passwd", "").File("etc/hostname", "x\n").Build();
  auto mdigest = reg_->PushImage("library/busybox", "latest", ConfigFor({layer, layer2}),
                                 {TarBuilder::Gzip(layer), TarBuilder::Gzip(layer2)},
                                 "application/vnd.docker.image.rootfs.diff.tar.gzip");
  ASSERT_TRUE(mdigest.ok()) << mdigest.status().ToString();
  std::atomic<int> blob_writes{0};
  auto store = Open(Platform::Host(), [&](const std::string&, int64_t) { ++blob_writes; });
  auto info = store->Pull("busybox");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->repo_tags, std::vector<std::string>{"docker.io/library/busybox:latest"});
  EXPECT_EQ(info->repo_digests, std::vector<std::string>{"docker.io/library/busybox@" + *mdigest});
  EXPECT_GT(blob_writes.load(), 0);

  auto dirs = store->LayerDirs("busybox:latest");
  ASSERT_TRUE(dirs.ok()) << dirs.status().ToString();
  ASSERT_EQ(dirs->size(), 2u);
  EXPECT_TRUE(fs::exists((*dirs)[0] + "/etc/hostname")) << "top layer first";
  EXPECT_EQ(ReadAll((*dirs)[1] + "/bin/busybox"), ReadAll("/bin/busybox"));
  EXPECT_EQ(fs::read_symlink((*dirs)[1] + "/bin/sh"), "busybox");
  auto cfg = store->Config(info->id);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->cmd, std::vector<std::string>{"sh"});
  EXPECT_EQ(cfg->env, std::vector<std::string>{"PATH=/bin:/usr/bin"});
  EXPECT_EQ(cfg->exposed_ports, std::vector<std::string>{"80/tcp"});

  // Present layers are not downloaded again; by digest and by the registry's own name work.
  blob_writes = 0;
  ASSERT_TRUE(store->Pull("docker.io/library/busybox:latest").ok());
  EXPECT_EQ(blob_writes.load(), 0);
  auto by_digest = store->Pull("busybox@" + *mdigest);
  ASSERT_TRUE(by_digest.ok()) << by_digest.status().ToString();
  EXPECT_EQ(by_digest->id, info->id);
  auto direct = store->Pull(reg_->host() + "/library/busybox:latest");  // loopback: plain HTTP
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  EXPECT_EQ(direct->id, info->id);
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->at(0).repo_tags.size(), 2u);
  EXPECT_EQ(CountEntries(data_ + "/images/tmp"), 0u);

  // A reference with a wrong digest is refused.
  auto wrong = store->Pull("busybox@sha256:" + std::string(64, '0'));
  EXPECT_FALSE(wrong.ok());
  auto missing = store->Pull(reg_->host() + "/nope:latest");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
}

TEST_F(RegistryTest, ManifestListResolvedByPlatform) {
  std::string amd = TarBuilder().File("arch", "amd64").Build();
  std::string arm = TarBuilder().File("arch", "arm64").Build();
  std::string amd_cfg = ConfigFor({amd}, "amd64"), arm_cfg = ConfigFor({arm}, "arm64");
  const char* kLayer = "application/vnd.docker.image.rootfs.diff.tar";
  auto amd_m = reg_->PushImage("multi", "amd64", amd_cfg, {amd}, kLayer);
  auto arm_m = reg_->PushImage("multi", "arm64", arm_cfg, {arm}, kLayer);
  ASSERT_TRUE(amd_m.ok() && arm_m.ok());
  auto size_of = [&](const std::string& tag) {
    // Manifest sizes as pushed: fetch back through a client for the exact bytes.
    RegistryClient c({});
    auto r = c.Resolve(*ParseReference(reg_->host() + "/multi:" + tag));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? static_cast<int64_t>(r->raw.size()) : 0;
  };
  Json index = {{"schemaVersion", 2},
                {"mediaType", kMediaOciIndex},
                {"manifests",
                 {{{"mediaType", kMediaDockerManifest}, {"digest", *arm_m}, {"size", size_of("arm64")},
                   {"platform", {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}}}},
                  {{"mediaType", kMediaDockerManifest}, {"digest", *amd_m}, {"size", size_of("amd64")},
                   {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}}}}};
  ASSERT_TRUE(reg_->PushManifest("multi", "latest", kMediaOciIndex, index.dump()).ok());
  std::string ref = reg_->host() + "/multi:latest";

  auto amd_info = Open(Platform{"linux", "amd64", ""})->Pull(ref);
  ASSERT_TRUE(amd_info.ok()) << amd_info.status().ToString();
  EXPECT_EQ(amd_info->id, DigestOf(amd_cfg));
  EXPECT_EQ(amd_info->repo_digests.at(0), reg_->host() + "/multi@" + DigestOf(index.dump()));
  auto arm_info = Open(Platform{"linux", "arm64", "v8"})->Pull(ref);
  ASSERT_TRUE(arm_info.ok()) << arm_info.status().ToString();
  EXPECT_EQ(arm_info->id, DigestOf(arm_cfg));
  auto none = Open(Platform{"linux", "s390x", ""})->Pull(ref);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound) << none.status().ToString();
}

TEST_F(RegistryTest, CorruptBlobIsRejectedAndNotKept) {
  std::string layer = TarBuilder().File("data", std::string(200000, 'x')).Build();
  auto m = reg_->PushImage("corrupt", "latest", ConfigFor({layer}), {layer},
                           "application/vnd.docker.image.rootfs.diff.tar");
  ASSERT_TRUE(m.ok());
  // Same length, different bytes: only the digest check can notice.
  std::string path = reg_->BlobDataPath(DigestOf(layer));
  std::string bad = layer;
  bad[bad.size() / 2] ^= 0x55;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
  auto store = Open();
  auto r = store->Pull(reg_->host() + "/corrupt:latest");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid) << r.status().ToString();
  EXPECT_NE(r.status().message().find("digest"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(data_ + "/images/blobs/sha256/" + DigestHex(DigestOf(layer))));
  EXPECT_EQ(CountEntries(data_ + "/images/layers"), 0u);
  EXPECT_EQ(CountEntries(data_ + "/images/tmp"), 0u);
  EXPECT_FALSE(store->Get(reg_->host() + "/corrupt:latest").ok());
}

TEST_F(RegistryTest, RegistryKilledMidPullIsRetried) {
  std::string big = testing::RandomBytes(24 << 20, 42);
  std::string layer = TarBuilder().File("random.bin", big).Build();
  big.clear();
  auto m = reg_->PushImage("big", "latest", ConfigFor({layer}), {layer}, "application/vnd.docker.image.rootfs.diff.tar");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::string layer_digest = DigestOf(layer);
  bool killed = false;
  Status restart;
  auto store = Open(Platform::Host(), [&](const std::string& digest, int64_t bytes) {
    if (killed || digest != layer_digest || bytes < (1 << 20)) return;
    killed = true;
    reg_->Kill();             // the registry dies mid-transfer...
    restart = reg_->Start();  // ...and comes back on the same port with the same storage
  });
  auto info = store->Pull(reg_->host() + "/big:latest");
  ASSERT_TRUE(killed);
  ASSERT_TRUE(restart.ok()) << restart.ToString();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto got = DigestOfFile(data_ + "/images/blobs/sha256/" + DigestHex(layer_digest));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, layer_digest);
  auto dirs = store->LayerDirs(info->id);
  ASSERT_TRUE(dirs.ok());
  EXPECT_EQ(fs::file_size((*dirs)[0] + "/random.bin"), size_t{24 << 20});
  EXPECT_EQ(CountEntries(data_ + "/images/tmp"), 0u);
}

TEST_F(RegistryTest, ZstdLayers) {
  std::string layer = TarBuilder().File("z", "zstd layer").Build();
  TarBuilder tb;
  tb.File("z", "zstd layer");
  std::string zst = tb.Build(Compression::kZstd);
  auto m = reg_->PushImage("zstd", "latest", ConfigFor({layer}), {zst}, "application/vnd.oci.image.layer.v1.tar+zstd");
  ASSERT_TRUE(m.ok());
  auto store = Open();
  auto info = store->Pull(reg_->host() + "/zstd:latest");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  auto dirs = store->LayerDirs(info->id);
  ASSERT_TRUE(dirs.ok());
  EXPECT_EQ(ReadAll((*dirs)[0] + "/z"), "zstd layer");
}

}  // namespace
}  // namespace tug::runtime::image
