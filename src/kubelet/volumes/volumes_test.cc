#include "kubelet/volumes/volumes.h"

#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "kubelet/container_config.h"

namespace tug::kubelet::volumes {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int ModeOf(const std::string& p) {
  struct stat st{};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class VolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tug-volumes-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    pod_dir_ = root_ + "/pods/default_p_uid-1";
    fs::create_directories(pod_dir_);
    src_.config_map = [this](const std::string& ns, const std::string& name) -> Result<Json> {
      auto it = objects_.find("cm/" + ns + "/" + name);
      if (it == objects_.end()) return NotFoundError("configmaps \"" + name + "\" not found");
      return it->second;
    };
    src_.secret = [this](const std::string& ns, const std::string& name) -> Result<Json> {
      auto it = objects_.find("secret/" + ns + "/" + name);
      if (it == objects_.end()) return NotFoundError("secrets \"" + name + "\" not found");
      return it->second;
    };
    src_.pvc = [this](const std::string& ns, const std::string& name) -> Result<Json> {
      auto it = objects_.find("pvc/" + ns + "/" + name);
      if (it == objects_.end()) return NotFoundError("not found");
      return it->second;
    };
    src_.pv = [this](const std::string& name) -> Result<Json> {
      auto it = objects_.find("pv/" + name);
      if (it == objects_.end()) return NotFoundError("not found");
      return it->second;
    };
    src_.parse_quantity_milli = [](const std::string& q) { return ParseQuantityMilli(q); };
    opts_.refresh_interval = std::chrono::milliseconds(0);
    opts_.node_cpu_milli = 4000;
    opts_.node_memory_bytes = int64_t(8) << 30;
  }
  void TearDown() override {
    (void)UnmountAllUnder(root_);
    EXPECT_TRUE(MountsUnder(root_).empty());
    fs::remove_all(root_);
  }

  Json Pod(Json volumes, Json mounts = Json::array()) {
    return Json{{"metadata", {{"name", "p"}, {"namespace", "default"}, {"uid", "uid-1"},
                              {"labels", {{"app", "web"}, {"tier", "a\"b"}}}}},
                {"spec",
                 {{"volumes", volumes},
                  {"containers", Json::array({{{"name", "c"},
                                               {"image", "busybox"},
                                               {"volumeMounts", mounts},
                                               {"resources", {{"limits", {{"cpu", "500m"}, {"memory", "64Mi"}}}}}}})}}}};
  }

  std::string root_, pod_dir_;
  Sources src_;
  Options opts_;
  std::map<std::string, Json> objects_;
};

TEST(FormatMap, SortedQuotedNoTrailingNewline) {
  EXPECT_EQ(FormatMap(Json{{"b", "2"}, {"a", "x\"y\n"}}), "a=\"x\\\"y\\n\"\nb=\"2\"");
  EXPECT_EQ(FormatMap(Json::object()), "");
}

TEST_F(VolumesTest, EmptyDirOnDisk) {
  VolumeManager vm(src_, opts_);
  Json pod = Pod(Json::array({{{"name", "scratch"}, {"emptyDir", Json::object()}}}),
                 Json::array({{{"name", "scratch"}, {"mountPath", "/scratch"}}}));
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  std::string dir = pod_dir_ + "/volumes/kubernetes.io~empty-dir/scratch";
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(ModeOf(dir), 0777);
  auto mounts = vm.ContainerMounts(pod, pod_dir_, pod["spec"]["containers"][0]);
  ASSERT_TRUE(mounts.ok()) << mounts.status().ToString();
  ASSERT_EQ(mounts->size(), 1u);
  EXPECT_EQ((*mounts)[0].source, dir);
  EXPECT_EQ((*mounts)[0].destination, "/scratch");
  EXPECT_FALSE((*mounts)[0].read_only);
  EXPECT_EQ((*mounts)[0].propagation, "private");
  ASSERT_TRUE(vm.TearDownPod(pod, pod_dir_).ok());
  EXPECT_FALSE(fs::exists(pod_dir_ + "/volumes"));
}

TEST_F(VolumesTest, MemoryEmptyDirIsSizedTmpfsAndTornDown) {
  if (geteuid() != 0) GTEST_SKIP() << "tmpfs needs root";
  VolumeManager vm(src_, opts_);
  Json pod = Pod(Json::array({{{"name", "mem"}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "2Mi"}}}}}));
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  std::string dir = pod_dir_ + "/volumes/kubernetes.io~empty-dir/mem";
  auto m = MountsUnder(pod_dir_);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0], fs::canonical(dir).string());
  // The size limit holds: 3 MiB do not fit.
  {
    std::ofstream f(dir + "/big");
    std::string mb(1 << 20, 'x');
    for (int i = 0; i < 3; ++i) f << mb;
    f.flush();
    EXPECT_FALSE(f.good());
  }
  // Idempotent: a second setup does not stack another tmpfs.
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  VolumeManager restarted(src_, opts_);
  ASSERT_TRUE(restarted.SetUpPod(pod, pod_dir_).ok());
  EXPECT_EQ(MountsUnder(pod_dir_).size(), 1u);
  ASSERT_TRUE(vm.TearDownPod(pod, pod_dir_).ok());
  EXPECT_TRUE(MountsUnder(pod_dir_).empty());
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(VolumesTest, HostPathTypes) {
  std::string sock = root_ + "/s.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, sock.c_str(), sizeof sa.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  std::ofstream(root_ + "/file") << "x";
  struct Case {
    std::string path, type;
    std::string error;  // "" = ok
  } cases[] = {
      {root_ + "/newdir/a", "DirectoryOrCreate", ""},
      {root_ + "/missing", "Directory", "hostPath type check failed: " + root_ + "/missing is not a directory"},
      {root_ + "/file", "Directory", "is not a directory"},
      {root_ + "/file", "File", ""},
      {root_, "File", "is not a file"},
      {root_ + "/created", "FileOrCreate", ""},
      {root_ + "/nope/created", "FileOrCreate", "create"},
      {sock, "Socket", ""},
      {root_ + "/file", "Socket", "is not a socket file"},
      {"/dev/null", "CharDevice", ""},
      {"/dev/null", "BlockDevice", "is not a block device"},
      {root_ + "/file", "Bogus", "Bogus is an invalid volume type"},
      {root_ + "/untyped", "", ""},
  };
  for (const auto& c : cases) {
    VolumeManager vm(src_, opts_);
    Json hp{{"path", c.path}};
    if (!c.type.empty()) hp["type"] = c.type;
    Json pod = Pod(Json::array({{{"name", "h"}, {"hostPath", hp}}}),
                   Json::array({{{"name", "h"}, {"mountPath", "/h"}, {"readOnly", true}}}));
    Status s = vm.SetUpPod(pod, pod_dir_);
    if (c.error.empty()) {
      ASSERT_TRUE(s.ok()) << c.type << " " << s.ToString();
      auto m = vm.ContainerMounts(pod, pod_dir_, pod["spec"]["containers"][0]);
      ASSERT_TRUE(m.ok());
      EXPECT_EQ((*m)[0].source, c.path);
      EXPECT_TRUE((*m)[0].read_only);
      EXPECT_TRUE(fs::exists(c.path)) << c.type;
    } else {
      ASSERT_FALSE(s.ok()) << c.type << " " << c.path;
      EXPECT_NE(s.message().find("MountVolume.SetUp failed for volume \"h\" : "), std::string::npos) << s.message();
      EXPECT_NE(s.message().find(c.error), std::string::npos) << s.message();
    }
  }
  EXPECT_TRUE(fs::is_directory(root_ + "/newdir/a"));
  EXPECT_TRUE(fs::is_regular_file(root_ + "/created"));
  EXPECT_TRUE(fs::is_directory(root_ + "/untyped"));
  ::close(fd);
}

TEST_F(VolumesTest, ConfigMapItemsModesAndRefresh) {
  objects_["cm/default/cfg"] = Json{{"data", {{"a", "alpha"}, {"b", "beta"}}}, {"binaryData", {{"bin", "AAEC"}}}};
  VolumeManager vm(src_, opts_);
  Json pod = Pod(Json::array({{{"name", "all"}, {"configMap", {{"name", "cfg"}}}},
                              {{"name", "some"},
                               {"configMap",
                                {{"name", "cfg"},
                                 {"defaultMode", 0600},
                                 {"items", Json::array({{{"key", "a"}, {"path", "x/renamed"}},
                                                        {{"key", "b"}, {"path", "b"}, {"mode", 0400}}})}}}}}),
                 Json::array({{{"name", "all"}, {"mountPath", "/etc/config"}}}));
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  std::string all = pod_dir_ + "/volumes/kubernetes.io~configmap/all";
  std::string some = pod_dir_ + "/volumes/kubernetes.io~configmap/some";
  EXPECT_EQ(ReadAll(all + "/a"), "alpha");
  EXPECT_EQ(ReadAll(all + "/bin"), std::string("\0\1\2", 3));
  EXPECT_EQ(ModeOf(all + "/a"), 0644);
  EXPECT_EQ(ReadAll(some + "/x/renamed"), "alpha");
  EXPECT_EQ(ModeOf(some + "/x/renamed"), 0600);
  EXPECT_EQ(ModeOf(some + "/b"), 0400);
  EXPECT_FALSE(fs::exists(some + "/a"));
  auto m = vm.ContainerMounts(pod, pod_dir_, pod["spec"]["containers"][0]);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE((*m)[0].read_only) << "API data volumes are read-only";
  // The object changes: the next sync shows it.
  objects_["cm/default/cfg"]["data"]["a"] = "ALPHA";
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  EXPECT_EQ(ReadAll(all + "/a"), "ALPHA");
  // The object goes away: the old contents stay (a failed refresh is not a failed pod).
  objects_.erase("cm/default/cfg");
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  EXPECT_EQ(ReadAll(all + "/a"), "ALPHA");
}

TEST_F(VolumesTest, ConfigMapErrorsAndOptional) {
  objects_["cm/default/cfg"] = Json{{"data", {{"a", "alpha"}}}};
  struct Case {
    std::string name;
    Json source;
    std::string error;
  } cases[] = {
      {"missing", {{"name", "nope"}}, "MountVolume.SetUp failed for volume \"v\" : configmap \"nope\" not found"},
      {"optional", {{"name", "nope"}, {"optional", true}}, ""},
      {"badkey", {{"name", "cfg"}, {"items", Json::array({{{"key", "zz"}, {"path", "zz"}}})}},
       "configmap references non-existent config key: zz"},
      {"badkey-optional",
       {{"name", "cfg"}, {"optional", true}, {"items", Json::array({{{"key", "zz"}, {"path", "zz"}}})}}, ""},
      {"badpath", {{"name", "cfg"}, {"items", Json::array({{{"key", "a"}, {"path", "../a"}}})}}, "must not contain"},
  };
  for (const auto& c : cases) {
    VolumeManager vm(src_, opts_);
    Json pod = Pod(Json::array({{{"name", "v"}, {"configMap", c.source}}}));
    Status s = vm.SetUpPod(pod, pod_dir_);
    if (c.error.empty()) {
      EXPECT_TRUE(s.ok()) << c.name << " " << s.ToString();
    } else {
      EXPECT_FALSE(s.ok()) << c.name;
      EXPECT_NE(s.message().find(c.error), std::string::npos) << c.name << ": " << s.message();
    }
    ASSERT_TRUE(vm.TearDownPod(pod, pod_dir_).ok());
  }
}

TEST_F(VolumesTest, SecretIsDecodedOnTmpfs) {
  objects_["secret/default/s"] = Json{{"data", {{"password", "aHVudGVyMg=="}}}};
  VolumeManager vm(src_, opts_);
  Json pod = Pod(Json::array({{{"name", "sec"}, {"secret", {{"secretName", "s"}, {"defaultMode", 0400}}}}}));
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  std::string dir = pod_dir_ + "/volumes/kubernetes.io~secret/sec";
  EXPECT_EQ(ReadAll(dir + "/password"), "hunter2");
  EXPECT_EQ(ModeOf(dir + "/password"), 0400);
  if (geteuid() == 0) EXPECT_EQ(MountsUnder(dir).size(), 1u) << "secrets live on tmpfs";
  VolumeManager vm2(src_, opts_);
  Status s = vm2.SetUpPod(Pod(Json::array({{{"name", "x"}, {"secret", {{"secretName", "gone"}}}}})), pod_dir_);
  EXPECT_NE(s.message().find("secret \"gone\" not found"), std::string::npos) << s.ToString();
  ASSERT_TRUE(vm.TearDownPod(pod, pod_dir_).ok());
  EXPECT_TRUE(MountsUnder(pod_dir_).empty());
}

TEST_F(VolumesTest, DownwardAPI) {
  VolumeManager vm(src_, opts_);
  Json items = Json::array({
      {{"path", "labels"}, {"fieldRef", {{"fieldPath", "metadata.labels"}}}},
      {{"path", "name"}, {"fieldRef", {{"fieldPath", "metadata.name"}}}, {"mode", 0600}},
      {{"path", "ns"}, {"fieldRef", {{"fieldPath", "metadata.namespace"}}}},
      {{"path", "app"}, {"fieldRef", {{"fieldPath", "metadata.labels['app']"}}}},
      {{"path", "cpu"}, {"resourceFieldRef", {{"containerName", "c"}, {"resource", "limits.cpu"}, {"divisor", "1m"}}}},
      {{"path", "cpu1"}, {"resourceFieldRef", {{"containerName", "c"}, {"resource", "limits.cpu"}}}},
      {{"path", "mem"}, {"resourceFieldRef", {{"containerName", "c"}, {"resource", "limits.memory"}, {"divisor", "1Mi"}}}},
      {{"path", "memreq"}, {"resourceFieldRef", {{"containerName", "c"}, {"resource", "requests.memory"}}}},
  });
  Json pod = Pod(Json::array({{{"name", "info"}, {"downwardAPI", {{"items", items}}}}}));
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  std::string dir = pod_dir_ + "/volumes/kubernetes.io~downward-api/info";
  EXPECT_EQ(ReadAll(dir + "/labels"), "app=\"web\"\ntier=\"a\\\"b\"");
  EXPECT_EQ(ReadAll(dir + "/name"), "p");
  EXPECT_EQ(ModeOf(dir + "/name"), 0600);
  EXPECT_EQ(ReadAll(dir + "/ns"), "default");
  EXPECT_EQ(ReadAll(dir + "/app"), "web");
  EXPECT_EQ(ReadAll(dir + "/cpu"), "500");
  EXPECT_EQ(ReadAll(dir + "/cpu1"), "1");  // ceil(0.5)
  EXPECT_EQ(ReadAll(dir + "/mem"), "64");
  EXPECT_EQ(ReadAll(dir + "/memreq"), "0");
  // Labels change: the file follows.
  pod["metadata"]["labels"]["app"] = "api";
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  EXPECT_EQ(ReadAll(dir + "/app"), "api");
  // A limit the container does not set reports node allocatable.
  pod["spec"]["containers"][0]["resources"] = Json::object();
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  EXPECT_EQ(ReadAll(dir + "/cpu1"), "4");
  EXPECT_EQ(ReadAll(dir + "/mem"), "8192");
}

TEST_F(VolumesTest, ProjectedWithServiceAccountToken) {
  objects_["cm/default/kube-root-ca.crt"] = Json{{"data", {{"ca.crt", "CERT"}}}};
  Json seen;
  int calls = 0;
  src_.token = [&](const std::string& ns, const std::string& sa, const Json& req) -> Result<Json> {
    ++calls;
    seen = req;
    EXPECT_EQ(ns, "default");
    EXPECT_EQ(sa, "builder");
    return Json{{"status", {{"token", "tok-" + std::to_string(calls)}}}};
  };
  VolumeManager vm(src_, opts_);
  Json sources = Json::array({{{"serviceAccountToken", {{"path", "token"}, {"expirationSeconds", 3607}, {"audience", "api"}}}},
                              {{"configMap", {{"name", "kube-root-ca.crt"}, {"items", Json::array({{{"key", "ca.crt"}, {"path", "ca.crt"}}})}}}},
                              {{"downwardAPI", {{"items", Json::array({{{"path", "namespace"}, {"fieldRef", {{"fieldPath", "metadata.namespace"}}}}})}}}}});
  Json pod = Pod(Json::array({{{"name", "kube-api-access"}, {"projected", {{"sources", sources}, {"defaultMode", 0644}}}}}));
  pod["spec"]["serviceAccountName"] = "builder";
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  std::string dir = pod_dir_ + "/volumes/kubernetes.io~projected/kube-api-access";
  EXPECT_EQ(ReadAll(dir + "/token"), "tok-1");
  EXPECT_EQ(ReadAll(dir + "/ca.crt"), "CERT");
  EXPECT_EQ(ReadAll(dir + "/namespace"), "default");
  EXPECT_EQ(seen["spec"]["expirationSeconds"], 3607);
  EXPECT_EQ(seen["spec"]["audiences"], Json::array({"api"}));
  EXPECT_EQ(seen["spec"]["boundObjectRef"]["kind"], "Pod");
  EXPECT_EQ(seen["spec"]["boundObjectRef"]["uid"], "uid-1");
  // Within its lifetime the token is not requested again.
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  EXPECT_EQ(calls, 1);

  // Without a working TokenRequest the mount fails with the cause.
  Sources broken = src_;
  broken.token = [](const std::string&, const std::string&, const Json&) -> Result<Json> {
    return NotFoundError("the server could not find the requested resource");
  };
  VolumeManager vm2(broken, opts_);
  Json pod2 = pod;
  pod2["metadata"]["uid"] = "uid-2";
  Status s = vm2.SetUpPod(pod2, root_ + "/pods/default_p_uid-2");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("MountVolume.SetUp failed for volume \"kube-api-access\" : failed to fetch token: "
                             "the server could not find the requested resource"),
            std::string::npos)
      << s.message();
  ASSERT_TRUE(vm.TearDownPod(pod, pod_dir_).ok());
  ASSERT_TRUE(vm2.TearDownPod(pod2, root_ + "/pods/default_p_uid-2").ok());
}

TEST_F(VolumesTest, PersistentVolumeClaim) {
  std::string data = root_ + "/pvdata";
  fs::create_directories(data);
  objects_["pvc/default/bound"] = Json{{"spec", {{"volumeName", "pv1"}}}, {"status", {{"phase", "Bound"}}}};
  objects_["pvc/default/pending"] = Json{{"spec", Json::object()}, {"status", {{"phase", "Pending"}}}};
  objects_["pv/pv1"] = Json{{"spec", {{"local", {{"path", data}}}}}};
  VolumeManager vm(src_, opts_);
  Json pod = Pod(Json::array({{{"name", "d"}, {"persistentVolumeClaim", {{"claimName", "bound"}, {"readOnly", true}}}}}),
                 Json::array({{{"name", "d"}, {"mountPath", "/data"}}}));
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  auto m = vm.ContainerMounts(pod, pod_dir_, pod["spec"]["containers"][0]);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)[0].source, data);
  EXPECT_TRUE((*m)[0].read_only);
  VolumeManager vm2(src_, opts_);
  Status s = vm2.SetUpPod(Pod(Json::array({{{"name", "d"}, {"persistentVolumeClaim", {{"claimName", "pending"}}}}})), pod_dir_);
  EXPECT_NE(s.message().find("PVC is not bound"), std::string::npos) << s.ToString();
  s = vm2.SetUpPod(Pod(Json::array({{{"name", "d"}, {"persistentVolumeClaim", {{"claimName", "nope"}}}}})), pod_dir_);
  EXPECT_NE(s.message().find("persistentvolumeclaim \"nope\" not found"), std::string::npos) << s.ToString();
}

TEST_F(VolumesTest, LocalPathProvisionerBindsClaims) {
  objects_["sc/local-path"] = LocalPathStorageClass();
  objects_["sc/other"] = Json{{"provisioner", "example.com/nfs"}};
  auto claim = [](const std::string& name, const std::string& sc, const std::string& node) {
    Json c{{"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "u-" + name}}},
           {"spec", {{"storageClassName", sc}, {"accessModes", {"ReadWriteOnce"}},
                     {"resources", {{"requests", {{"storage", "1Gi"}}}}}}},
           {"status", {{"phase", "Pending"}}}};
    if (!node.empty()) c["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] = node;
    return c;
  };
  objects_["pvc/default/data"] = claim("data", "local-path", "n1");
  objects_["pvc/default/elsewhere"] = claim("elsewhere", "local-path", "n2");
  objects_["pvc/default/nfs"] = claim("nfs", "other", "");
  src_.storage_class = [this](const std::string& n) -> Result<Json> {
    auto it = objects_.find("sc/" + n);
    if (it == objects_.end()) return NotFoundError("not found");
    return it->second;
  };
  src_.create_pv = [this](const Json& pv) -> Result<Json> {
    std::string key = "pv/" + pv["metadata"]["name"].get<std::string>();
    if (objects_.count(key)) return AlreadyExistsError("exists");
    objects_[key] = pv;
    return pv;
  };
  src_.patch = [this](bool pv, const std::string& ns, const std::string& name, const Json& patch,
                      const std::string&) -> Result<Json> {
    std::string key = pv ? "pv/" + name : "pvc/" + ns + "/" + name;
    if (!objects_.count(key)) return NotFoundError("not found");
    objects_[key].merge_patch(patch);
    return objects_[key];
  };
  opts_.node_name = "n1";
  opts_.storage_dir = root_ + "/storage";
  VolumeManager vm(src_, opts_);
  Json pod = Pod(Json::array({{{"name", "d"}, {"persistentVolumeClaim", {{"claimName", "data"}}}}}),
                 Json::array({{{"name", "d"}, {"mountPath", "/data"}}}));
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  const Json& pv = objects_["pv/pvc-u-data"];
  std::string path = root_ + "/storage/pvc-u-data_default_data";
  EXPECT_EQ(pv["spec"]["hostPath"]["path"], path);
  EXPECT_EQ(pv["spec"]["claimRef"]["uid"], "u-data");
  EXPECT_EQ(pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0], "n1");
  EXPECT_EQ(pv["status"]["phase"], "Bound");
  EXPECT_EQ(objects_["pvc/default/data"]["spec"]["volumeName"], "pvc-u-data");
  EXPECT_EQ(objects_["pvc/default/data"]["status"]["phase"], "Bound");
  EXPECT_TRUE(fs::is_directory(path));
  auto m = vm.ContainerMounts(pod, pod_dir_, pod["spec"]["containers"][0]);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)[0].source, path);
  for (const char* other : {"elsewhere", "nfs"}) {
    VolumeManager vm2(src_, opts_);
    Status s = vm2.SetUpPod(Pod(Json::array({{{"name", "d"}, {"persistentVolumeClaim", {{"claimName", other}}}}})), pod_dir_);
    EXPECT_NE(s.message().find("PVC is not bound"), std::string::npos) << other << ": " << s.ToString();
  }
  EXPECT_EQ(objects_.count("pv/pvc-u-elsewhere"), 0u);
}

TEST_F(VolumesTest, SubPathsAndPropagation) {
  std::string host = root_ + "/host";
  fs::create_directories(host + "/inside");
  fs::create_directories(root_ + "/outside");
  fs::create_symlink(root_ + "/outside", host + "/escape");
  VolumeManager vm(src_, opts_);
  Json pod = Pod(Json::array({{{"name", "h"}, {"hostPath", {{"path", host}}}}}));
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  struct Case {
    Json mount;
    bool privileged;
    std::string source;  // expected; "" = error
    std::string error;
    std::string propagation = "private";
  } cases[] = {
      {{{"name", "h"}, {"mountPath", "/x"}, {"subPath", "inside"}}, false, host + "/inside", ""},
      {{{"name", "h"}, {"mountPath", "/x"}, {"subPath", "made/here"}}, false, host + "/made/here", ""},
      {{{"name", "h"}, {"mountPath", "/x"}, {"subPathExpr", "$(POD)/logs"}}, false, host + "/p1/logs", ""},
      {{{"name", "h"}, {"mountPath", "/x"}, {"subPath", "escape"}}, false, "", "not within volume path"},
      {{{"name", "h"}, {"mountPath", "/x"}, {"subPath", "../x"}}, false, "", "must not contain '..'"},
      {{{"name", "h"}, {"mountPath", "/x"}, {"subPath", "/abs"}}, false, "", "relative"},
      {{{"name", "nope"}, {"mountPath", "/x"}}, false, "", "cannot find volume \"nope\""},
      {{{"name", "h"}, {"mountPath", "/x"}, {"mountPropagation", "HostToContainer"}}, false, host, "", "rslave"},
      {{{"name", "h"}, {"mountPath", "/x"}, {"mountPropagation", "Bidirectional"}}, false, "", "only to privileged"},
      {{{"name", "h"}, {"mountPath", "/x"}, {"mountPropagation", "Bidirectional"}}, true, host, "", "rshared"},
  };
  for (const auto& c : cases) {
    Json container{{"name", "c"}, {"volumeMounts", Json::array({c.mount})}};
    if (c.privileged) container["securityContext"] = {{"privileged", true}};
    auto m = vm.ContainerMounts(pod, pod_dir_, container, {{"POD", "p0"}, {"POD", "p1"}});
    if (c.source.empty()) {
      ASSERT_FALSE(m.ok()) << c.mount.dump();
      EXPECT_NE(m.status().message().find(c.error), std::string::npos) << m.status().message();
    } else {
      ASSERT_TRUE(m.ok()) << c.mount.dump() << " " << m.status().ToString();
      EXPECT_EQ((*m)[0].source, c.source);
      EXPECT_EQ((*m)[0].propagation, c.propagation);
    }
  }
  EXPECT_TRUE(fs::is_empty(root_ + "/outside"));
}

TEST_F(VolumesTest, ConfigMapSubPathResolvesToTheFile) {
  objects_["cm/default/cfg"] = Json{{"data", {{"a", "alpha"}}}};
  VolumeManager vm(src_, opts_);
  Json pod = Pod(Json::array({{{"name", "v"}, {"configMap", {{"name", "cfg"}}}}}),
                 Json::array({{{"name", "v"}, {"mountPath", "/etc/a.conf"}, {"subPath", "a"}}}));
  ASSERT_TRUE(vm.SetUpPod(pod, pod_dir_).ok());
  auto m = vm.ContainerMounts(pod, pod_dir_, pod["spec"]["containers"][0]);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status((*m)[0].source))) << (*m)[0].source;
  EXPECT_EQ(ReadAll((*m)[0].source), "alpha");
  EXPECT_TRUE((*m)[0].read_only);
}

TEST_F(VolumesTest, CleanupOrphansRemovesOnlyVanishedPods) {
  std::string pods = root_ + "/pods";
  std::string dead = pods + "/default_gone_uid-dead";
  fs::create_directories(dead + "/volumes/kubernetes.io~empty-dir/x");
  std::ofstream(dead + "/volumes/kubernetes.io~empty-dir/x/f") << "x";
  if (geteuid() == 0)
    ASSERT_EQ(::mount("tmpfs", (dead + "/volumes/kubernetes.io~empty-dir/x").c_str(), "tmpfs", 0, "size=1m"), 0);
  VolumeManager vm(src_, opts_);
  auto n = vm.CleanupOrphans(pods, {"uid-1"});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(pod_dir_));
  EXPECT_TRUE(MountsUnder(pods).empty());
}

TEST_F(VolumesTest, UnsupportedVolumeType) {
  VolumeManager vm(src_, opts_);
  Status s = vm.SetUpPod(Pod(Json::array({{{"name", "n"}, {"nfs", {{"server", "x"}, {"path", "/"}}}}})), pod_dir_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("volume type nfs is not supported"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace tug::kubelet::volumes
