// Image store: imports (OCI layout archives, skopeo docker-archive / oci-archive), names,
// removal and garbage collection.
#include "runtime/image/image_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/testing/fake_clock.h"
#include "runtime/image/digest.h"
#include "runtime/image/testing/tar_builder.h"

namespace tug::runtime::image {
namespace {

using testing::TarBuilder;
using testing::RandomBytes;
namespace fs = std::filesystem;

std::string ReadAll(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An OCI image layout, in memory: file name -> bytes.
struct OciLayout {
  std::map<std::string, std::string> files;
  std::string config_digest, manifest_digest;
};

OciLayout MakeLayout(const std::vector<std::string>& layers, const std::string& ref_name, const std::string& cmd) {
  OciLayout o;
  Json cfg = {{"architecture", "amd64"},
              {"os", "linux"},
              {"config", {{"Cmd", {cmd}}, {"Env", {"PATH=/bin"}}, {"WorkingDir", "/w"}, {"User", "65534"}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", Json::array()}}}};
  Json m = {{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"layers", Json::array()}};
  for (const auto& l : layers) {
    std::string gz = TarBuilder::Gzip(l);
    cfg["rootfs"]["diff_ids"].push_back(DigestOf(l));
    std::string d = DigestOf(gz);
    o.files["blobs/sha256/" + DigestHex(d)] = gz;
    m["layers"].push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"}, {"digest", d}, {"size", gz.size()}});
  }
  std::string c = cfg.dump();
  o.config_digest = DigestOf(c);
  o.files["blobs/sha256/" + DigestHex(o.config_digest)] = c;
  m["config"] = {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", o.config_digest}, {"size", c.size()}};
  std::string mr = m.dump();
  o.manifest_digest = DigestOf(mr);
  o.files["blobs/sha256/" + DigestHex(o.manifest_digest)] = mr;
  Json idx = {{"schemaVersion", 2},
              {"manifests",
               {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                 {"digest", o.manifest_digest},
                 {"size", mr.size()},
                 {"annotations", {{"org.opencontainers.image.ref.name", ref_name}}}}}}};
  o.files["index.json"] = idx.dump();
  o.files["oci-layout"] = R"({"imageLayoutVersion":"1.0.0"})";
  return o;
}

std::string LayoutTar(const OciLayout& o) {
  TarBuilder t;
  t.Dir("blobs").Dir("blobs/sha256");
  for (const auto& [name, bytes] : o.files) t.File(name, bytes);
  return t.Build();
}

void WriteLayoutDir(const OciLayout& o, const std::string& dir) {
  for (const auto& [name, bytes] : o.files) {
    fs::create_directories(fs::path(dir + "/" + name).parent_path());
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  }
}

int RunCommand(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "layer unpacking needs root";
    char tmpl[] = "/tmp/tug-image-store-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::unique_ptr<ImageStore> Open(std::function<Result<DiskStats>(const std::string&)> disk = nullptr) {
    ImageStoreOptions o;
    o.clock = &clock_;
    o.disk_stats = std::move(disk);
    o.orphan_grace = std::chrono::seconds(0);
    auto s = OpenImageStore(dir_ + "/data", std::move(o));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  std::string dir_;
  ::tug::testing::FakeClock clock_;
};

TEST_F(ImageStoreTest, ImportsOciLayoutArchive) {
  std::string l1 = TarBuilder().Dir("bin").File("bin/hello", "hi", 0755).Build();
  std::string l2 = TarBuilder().File("bin/.wh.hello", "").File("etc/motd", "m").Build();
  OciLayout o = MakeLayout({l1, l2}, "localhost/hello:1.0", "hello");
  auto store = Open();
  auto got = store->Import(Write("oci.tar", LayoutTar(o)));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->at(0).id, o.config_digest);
  EXPECT_EQ(got->at(0).repo_tags, std::vector<std::string>{"localhost/hello:1.0"});
  EXPECT_EQ(got->at(0).repo_digests, std::vector<std::string>{"localhost/hello@" + o.manifest_digest});
  auto dirs = store->LayerDirs("localhost/hello:1.0");
  ASSERT_TRUE(dirs.ok()) << dirs.status().ToString();
  ASSERT_EQ(dirs->size(), 2u);
  EXPECT_TRUE(fs::is_character_file((*dirs)[0] + "/bin/hello")) << "whiteout in the top layer";
  EXPECT_EQ(ReadAll((*dirs)[1] + "/bin/hello"), "hi");
  auto cfg = store->Config(o.config_digest.substr(7, 12));  // id prefix
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->cmd, std::vector<std::string>{"hello"});
  EXPECT_EQ(cfg->working_dir, "/w");
  EXPECT_EQ(cfg->user, "65534");
  // Importing again changes nothing; a second store on the same dir sees it.
  ASSERT_TRUE(store->Import(dir_ + "/oci.tar").ok());
  auto other = Open();
  auto list = other->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
  EXPECT_EQ(fs::is_empty(dir_ + "/data/images/tmp"), true);
  // Not an image archive.
  auto bad = store->Import(Write("junk.tar", TarBuilder().File("x", "y").Build()));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalid);
  // A tampered blob is refused.
  OciLayout t = o;
  t.files["blobs/sha256/" + DigestHex(o.config_digest)] += " ";
  EXPECT_EQ(store->Import(Write("tampered.tar", LayoutTar(t))).status().code(), StatusCode::kInvalid);
}

TEST_F(ImageStoreTest, ImportsSkopeoArchives) {
  if (::access("/usr/bin/skopeo", X_OK) != 0) GTEST_SKIP() << "skopeo is not installed";
  std::string l1 = TarBuilder().Dir("bin").File("bin/tool", "t1", 0755).Build();
  OciLayout o = MakeLayout({l1}, "1.0", "tool");
  WriteLayoutDir(o, dir_ + "/layout");
  // skopeo's policy file may be missing on minimal hosts: give it one.
  Write("policy.json", R"({"default":[{"type":"insecureAcceptAnything"}]})");
  std::string policy = "--policy=" + dir_ + "/policy.json";
  ASSERT_EQ(RunCommand({"skopeo", "--insecure-policy", "copy", "-q", "oci:" + dir_ + "/layout:1.0",
                 "docker-archive:" + dir_ + "/docker.tar:example.com/tools/tool:1.0"}),
            0);
  ASSERT_EQ(RunCommand({"skopeo", "--insecure-policy", "copy", "-q", "oci:" + dir_ + "/layout:1.0",
                 "oci-archive:" + dir_ + "/oci.tar:example.com/tools/tool:2.0"}),
            0);
  auto store = Open();
  auto d = store->Import(dir_ + "/docker.tar");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ(d->at(0).repo_tags, std::vector<std::string>{"example.com/tools/tool:1.0"});
  auto o2 = store->Import(dir_ + "/oci.tar");
  ASSERT_TRUE(o2.ok()) << o2.status().ToString();
  ASSERT_EQ(o2->size(), 1u);
  EXPECT_EQ(o2->at(0).id, d->at(0).id) << "same config, same image id";
  auto img = store->Get("example.com/tools/tool:2.0");
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(img->repo_tags.size(), 2u);
  auto dirs = store->LayerDirs("example.com/tools/tool:1.0");
  ASSERT_TRUE(dirs.ok()) << dirs.status().ToString();
  EXPECT_EQ(ReadAll((*dirs)[0] + "/bin/tool"), "t1");
}

TEST_F(ImageStoreTest, ImportsDockerSaveWithSharedLayers) {
  // docker save of two images that share their base layer file.
  std::string base = TarBuilder().Dir("bin").File("bin/base", "b").Build();
  std::string top = TarBuilder().File("top", "t").Build();
  auto config = [](const std::vector<std::string>& layers, const std::string& cmd) {
    Json c = {{"architecture", "amd64"}, {"os", "linux"}, {"config", {{"Cmd", {cmd}}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", Json::array()}}}};
    for (const auto& l : layers) c["rootfs"]["diff_ids"].push_back(DigestOf(l));
    return c.dump();
  };
  std::string c1 = config({base}, "one"), c2 = config({base, top}, "two");
  Json manifest = Json::array({{{"Config", DigestHex(DigestOf(c1)) + ".json"},
                                {"RepoTags", {"one:latest", "registry.example:5000/team/one:v1"}},
                                {"Layers", {"base/layer.tar"}}},
                               {{"Config", DigestHex(DigestOf(c2)) + ".json"},
                                {"RepoTags", {"two:latest"}},
                                {"Layers", {"base/layer.tar", "top/layer.tar"}}}});
  std::string tar = TarBuilder()
                        .File("manifest.json", manifest.dump())
                        .File(DigestHex(DigestOf(c1)) + ".json", c1)
                        .File(DigestHex(DigestOf(c2)) + ".json", c2)
                        .Dir("base")
                        .File("base/layer.tar", base)
                        .Dir("top")
                        .File("top/layer.tar", top)
                        .Build();
  auto store = Open();
  auto got = store->Import(Write("save.tar", tar));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ(got->at(0).repo_tags,
            (std::vector<std::string>{"docker.io/library/one:latest", "registry.example:5000/team/one:v1"}));
  auto dirs = store->LayerDirs("two");
  ASSERT_TRUE(dirs.ok()) << dirs.status().ToString();
  ASSERT_EQ(dirs->size(), 2u);
  EXPECT_EQ(ReadAll((*dirs)[0] + "/top"), "t");
  EXPECT_EQ(ReadAll((*dirs)[1] + "/bin/base"), "b");
  EXPECT_EQ((*store->LayerDirs("one"))[0], (*dirs)[1]) << "a layer is unpacked once";
  // A RepoTag naming the other image moves the tag.
  Json retag = Json::array({{{"Config", DigestHex(DigestOf(c2)) + ".json"},
                             {"RepoTags", {"one:latest"}},
                             {"Layers", {"base/layer.tar", "top/layer.tar"}}}});
  std::string tar2 = TarBuilder()
                         .File("manifest.json", retag.dump())
                         .File(DigestHex(DigestOf(c2)) + ".json", c2)
                         .Dir("base").File("base/layer.tar", base)
                         .Dir("top").File("top/layer.tar", top)
                         .Build();
  ASSERT_TRUE(store->Import(Write("save2.tar", tar2)).ok());
  EXPECT_EQ(store->Get("one:latest")->id, DigestOf(c2));
  EXPECT_EQ(store->Get("registry.example:5000/team/one:v1")->id, DigestOf(c1));
}

TEST_F(ImageStoreTest, OpenRemovesLeftoversOfDeadProcesses) {
  fs::create_directories(dir_ + "/data/images/tmp/4194000-layer-1/fs");
  fs::create_directories(dir_ + "/data/images/tmp/" + std::to_string(::getpid()) + "-layer-9");
  { std::ofstream(dir_ + "/data/images/tmp/4194001-blob-abc-0") << "partial"; }
  auto store = Open();
  EXPECT_FALSE(fs::exists(dir_ + "/data/images/tmp/4194000-layer-1"));
  EXPECT_FALSE(fs::exists(dir_ + "/data/images/tmp/4194001-blob-abc-0"));
  EXPECT_TRUE(fs::exists(dir_ + "/data/images/tmp/" + std::to_string(::getpid()) + "-layer-9"));
}

TEST_F(ImageStoreTest, RemoveUntagsThenDeletes) {
  std::string shared = TarBuilder().File("shared", "s").Build();
  std::string own = TarBuilder().File("own", "o").Build();
  auto store = Open();
  OciLayout a = MakeLayout({shared}, "localhost/a:1", "a");
  OciLayout b = MakeLayout({shared, own}, "localhost/b:1", "b");
  ASSERT_TRUE(store->Import(Write("a.tar", LayoutTar(a))).ok());
  ASSERT_TRUE(store->Import(Write("b.tar", LayoutTar(b))).ok());
  ASSERT_TRUE(store->Import(Write("a2.tar", LayoutTar(MakeLayout({shared}, "localhost/a:2", "a")))).ok());
  EXPECT_EQ(store->Get("localhost/a:1")->repo_tags.size(), 2u);
  // By name: only the name goes while another remains.
  ASSERT_TRUE(store->Remove("localhost/a:1").ok());
  EXPECT_FALSE(store->Get("localhost/a:1").ok());
  ASSERT_TRUE(store->Get("localhost/a:2").ok());
  // By id: the image goes, its own layer too, the shared layer stays for b.
  ASSERT_TRUE(store->Remove(b.config_digest).ok());
  EXPECT_EQ(store->Get("localhost/b:1").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ + "/data/images/layers/" + DigestHex(DigestOf(own))));
  EXPECT_TRUE(fs::exists(dir_ + "/data/images/layers/" + DigestHex(DigestOf(shared))));
  auto dirs = store->LayerDirs("localhost/a:2");
  ASSERT_TRUE(dirs.ok());
  EXPECT_EQ(store->Remove("localhost/nope:1").code(), StatusCode::kNotFound);
}

TEST_F(ImageStoreTest, GarbageCollectionFollowsThresholds) {
  uint64_t capacity = 1000000, available = 0;
  auto store = Open([&](const std::string&) -> Result<DiskStats> { return DiskStats{capacity, available}; });
  // a: 100 kB, b: 200 kB, c: 300 kB; imported in that order, then a is used.
  size_t sizes[] = {100000, 200000, 300000};
  const char* names[] = {"localhost/a:1", "localhost/b:1", "localhost/c:1"};
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    std::string layer = TarBuilder().File("f", RandomBytes(sizes[i], i)).Build();
    auto got = store->Import(Write("img" + std::to_string(i) + ".tar", LayoutTar(MakeLayout({layer}, names[i], "x"))));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ids.push_back(got->at(0).id);
    clock_.Advance(std::chrono::minutes(1));
  }
  ASSERT_TRUE(store->LayerDirs("localhost/a:1").ok());
  std::set<std::string> in_use = {"localhost/c:1"};
  GcPolicy policy{85, 80};

  struct Case {
    std::string name;
    uint64_t capacity, available;
    bool triggered, ok;
    std::vector<std::string> removed;  // names
  };
  std::vector<Case> cases = {
      {"below_high", 1000000, 200000, false, true, {}},                            // 80% < 85%
      {"above_high_frees_lru_first", 1000000, 100000, true, true, {"localhost/b:1"}},  // wants 100 kB
      {"cannot_free_enough", 10000000, 0, true, false, {"localhost/a:1"}},         // c is in use
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    capacity = c.capacity;
    available = c.available;
    auto r = store->GarbageCollect(policy, in_use);
    EXPECT_EQ(r.ok(), c.ok) << r.status().ToString();
    if (r.ok()) {
      EXPECT_EQ(r->triggered, c.triggered);
      std::vector<std::string> want_ids;
      for (const auto& n : c.removed)
        for (int i = 0; i < 3; ++i)
          if (n == names[i]) want_ids.push_back(ids[i]);
      EXPECT_EQ(r->removed, want_ids);
      if (c.triggered) {
        EXPECT_GE(r->freed_bytes, r->wanted_bytes);
      }
    } else {
      EXPECT_NE(r.status().message().find("Failed to garbage collect required amount of images"), std::string::npos);
    }
    for (const auto& n : c.removed) EXPECT_FALSE(store->Get(n).ok()) << n;
  }
  EXPECT_TRUE(store->Get("localhost/c:1").ok()) << "an image in use is never collected";
  auto list = store->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
  // Only c's layer is left on disk.
  size_t layers = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_ + "/data/images/layers")) ++layers;
  EXPECT_EQ(layers, 1u);
}

TEST(NodeImagesStatusTest, LargestFirstWithDigestsThenTags) {
  std::vector<ImageInfo> images = {
      {"sha256:a", {"docker.io/library/a:1"}, {"docker.io/library/a@sha256:1"}, 10, {}},
      {"sha256:b", {"docker.io/library/b:1", "docker.io/library/b:2"}, {}, 30, {}},
      {"sha256:c", {}, {}, 50, {}},  // dangling: not listed
      {"sha256:d", {"t1", "t2", "t3", "t4", "t5", "t6"}, {}, 20, {}},
  };
  Json got = NodeImagesStatus(images, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["sizeBytes"], 30);
  EXPECT_EQ(got[0]["names"], Json({"docker.io/library/b:1", "docker.io/library/b:2"}));
  EXPECT_EQ(got[1]["names"].size(), 5u);
  Json all = NodeImagesStatus(images);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2]["names"], Json({"docker.io/library/a@sha256:1", "docker.io/library/a:1"}));
}

}  // namespace
}  // namespace tug::runtime::image
