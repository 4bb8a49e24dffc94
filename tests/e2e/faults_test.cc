// Issue 5 "Bad input and faults" with real pods: `tug server --disable-agent` plus one
// `tug agent` (node e2e-faults, bridge tugflt0, 10.91.0.0/16, data dir on a tmpfs of its own),
// shared by every case (one CTest entry). Images come from the busybox test registry and from a
// FlakyRegistry in this process (a registry that can go away, cut layers or be too big for the
// disk). Each case checks what kubectl shows, and the suite ends with a clean host. One case
// runs a second agent whose --runc is a wrapper that fails once.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "node_env.h"
#include "runtime/image/digest.h"
#include "runtime/image/testing/flaky_registry.h"
#include "runtime/image/testing/tar_builder.h"

namespace tug::e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using runtime::image::testing::FlakyRegistry;
using runtime::image::testing::TarBuilder;

TestRegistry* const kRegistry = AddTestRegistry("tug-flt-reg");

std::string At(const json& j, const char* ptr) {
  if (!j.is_object()) return "";
  const json& v = j.value(json::json_pointer(ptr), json());
  return v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
}
bool Running(const json& p) { return !At(p, "/status/containerStatuses/0/state/running/startedAt").empty(); }
std::string WaitingReason(const json& p) { return At(p, "/status/containerStatuses/0/state/waiting/reason"); }
// ErrImagePull lasts one sync (then ImagePullBackOff): a poll may see either.
bool PullFailed(const json& p) { return WaitingReason(p) == "ErrImagePull" || WaitingReason(p) == "ImagePullBackOff"; }

// A busybox image for the flaky registry: the host's static busybox; `tag_file` makes the layer
// (and so its digest) differ per image.
std::string BusyboxLayer(const std::string& tag_file) {
  return TarBuilder()
      .Dir("bin")
      .File("bin/busybox", ReadAll("/bin/busybox"), 0755)
      .Symlink("bin/sh", "busybox")
      .File(tag_file, tag_file)
      .Build();
}
std::string ConfigFor(const std::string& layer) {
  json c = {{"architecture", "amd64"},
            {"os", "linux"},
            {"config", {{"Cmd", {"/bin/busybox", "sleep", "3600"}}, {"Env", {"PATH=/bin"}}}},
            {"rootfs", {{"type", "layers"}, {"diff_ids", {runtime::image::DigestOf(layer)}}}}};
  return c.dump();
}

class FaultsE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!NodePrerequisitesMissing().empty() || kRegistry->port() == 0) return;
    // The agent's data dir (images, pod dirs, overlay upper dirs) on a 192 MiB tmpfs of its own,
    // so that the full-disk case can fill it without touching the host's disk.
    disk_ = MakeTempDir("tug-flt-disk");
    if (::mount("tugflt", disk_.c_str(), "tmpfs", 0, "size=192m") != 0) {
      setup_error_ = "mount tmpfs: " + std::string(std::strerror(errno));
      return;
    }
    node_ = {.name = "e2e-faults", .bridge = "tugflt0", .cluster_cidr = "10.91.0.0/16",
             .cgroup_parent = "/tug-e2e-faults", .data_dir = disk_ + "/agent", .run_dir = MakeTempDir("tug-flt-run")};
    std::filesystem::create_directories(node_.data_dir);
    flaky_ = std::make_unique<FlakyRegistry>();
    setup_error_ = StartServerWithAgent(*kRegistry, node_, AgentAuth::kToken, server_, agent_);
  }
  static void TearDownTestSuite() {
    StopNode(node_, server_, agent_, 0);
    flaky_.reset();
    if (!disk_.empty()) {
      ::umount2(disk_.c_str(), MNT_DETACH);
      RemoveTree(disk_);
    }
  }
  void SetUp() override {
    if (auto why = NodePrerequisitesMissing(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(kRegistry->port(), 0) << "test images: " << kRegistry->error();
    ASSERT_EQ(setup_error_, "");
  }

  static RunResult Kubectl(std::vector<std::string> args, const std::string& in = "") {
    return e2e::Kubectl(*server_, std::move(args), in, 90s);
  }
  static json Pod(const std::string& name) { return KubectlJson(*server_, {"get", "pod", name, "-o", "json"}); }
  static json WaitPod(const std::string& name, const std::function<bool(const json&)>& pred,
                      std::chrono::milliseconds timeout = 90s) {
    return e2e::WaitPod(*server_, name, pred, timeout);
  }
  // A pod bound to our node (restartPolicy Always, 1 s grace).
  static void CreatePod(const std::string& name, const std::string& image, const std::vector<std::string>& command) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}}},
                {"spec",
                 {{"nodeName", node_.name},
                  {"terminationGracePeriodSeconds", 1},
                  {"containers", {{{"name", "c"}, {"image", image}, {"command", command}}}}}}};
    auto r = Kubectl({"apply", "-f", "-"}, pod.dump());
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  static void DeletePod(const std::string& name) {
    auto r = Kubectl({"delete", "pod", name, "--wait=true", "--timeout=60s"});
    EXPECT_EQ(r.rc, 0) << r.err;
  }
  // Messages of the pod's events, one per line.
  static std::string Events(const std::string& pod) {
    auto r = Kubectl({"get", "events", "--field-selector", "involvedObject.name=" + pod, "-o",
                      "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}"});
    return r.out;
  }
  // The runtime's bundle dir of the pod's (current) container.
  static std::string Bundle(const json& pod) {
    std::string cid = At(pod, "/status/containerStatuses/0/containerID");
    return node_.run_dir + "/runtime/containers/" + cid.substr(cid.find("://") + 3);
  }
  static std::string FlakyImage(const std::string& repo) { return flaky_->host() + "/faults/" + repo + ":v1"; }

  static inline NodeEnv node_;
  static inline std::string disk_, setup_error_;
  static inline std::unique_ptr<TugServer> server_;
  static inline std::unique_ptr<Background> agent_;
  static inline std::unique_ptr<FlakyRegistry> flaky_;
};

// The registry is gone: ErrImagePull with the registry's error, then ImagePullBackOff; once it
// is back the pod runs (the kubelet's pull back-off retries it).
TEST_F(FaultsE2E, RegistryGoneThenBack) {
  std::string layer = BusyboxLayer("gone");
  flaky_->AddImage("faults/gone", "v1", ConfigFor(layer), {layer}, "application/vnd.docker.image.rootfs.diff.tar");
  flaky_->SetDown(true);
  CreatePod("gone", FlakyImage("gone"), {"/bin/busybox", "sleep", "3600"});
  auto p = WaitPod("gone", PullFailed);
  EXPECT_TRUE(PullFailed(p)) << p.dump(2);
  p = WaitPod("gone", [](const json& p) { return WaitingReason(p) == "ImagePullBackOff"; });
  EXPECT_EQ(WaitingReason(p), "ImagePullBackOff") << p.dump(2);
  std::string events = Events("gone");
  EXPECT_THAT(events, HasSubstr("Failed: Failed to pull image \"" + FlakyImage("gone") + "\": ")) << events;
  EXPECT_THAT(events, HasSubstr(flaky_->host() + "/v2/faults/gone/manifests/v1")) << events;
  EXPECT_THAT(events, HasSubstr("Failed: Error: ErrImagePull")) << events;
  EXPECT_THAT(events, HasSubstr("BackOff: Back-off pulling image")) << events;

  flaky_->SetDown(false);
  p = WaitPod("gone", Running, 120s);
  EXPECT_TRUE(Running(p)) << p.dump(2) << Events("gone");
  DeletePod("gone");
}

// The registry cuts every transfer of the layer in the middle: the pull is retried a bounded
// number of times, fails with ErrImagePull, and keeps no partial layer; when the registry heals
// the next pull (after the back-off) runs the pod.
TEST_F(FaultsE2E, RegistryCutsTheLayerMidTransfer) {
  std::string layer = BusyboxLayer("cut");
  std::string digest = runtime::image::DigestOf(layer);
  flaky_->AddImage("faults/cut", "v1", ConfigFor(layer), {layer}, "application/vnd.docker.image.rootfs.diff.tar");
  flaky_->AlwaysFail(digest, FlakyRegistry::Fault::kCutHalfway);
  CreatePod("cut", FlakyImage("cut"), {"/bin/busybox", "sleep", "3600"});
  auto p = WaitPod("cut", PullFailed);
  EXPECT_TRUE(PullFailed(p)) << p.dump(2);
  EXPECT_THAT(Events("cut"), HasSubstr("blob " + digest)) << p.dump(2);
  EXPECT_GT(flaky_->BlobGets(digest), 1) << "retried";
  EXPECT_FALSE(std::filesystem::exists(node_.data_dir + "/images/blobs/sha256/" + runtime::image::DigestHex(digest)));
  EXPECT_THAT(Entries(node_.data_dir + "/images/tmp"), ::testing::IsEmpty());

  flaky_->ClearFaults();
  p = WaitPod("cut", Running, 120s);
  EXPECT_TRUE(Running(p)) << p.dump(2) << Events("cut");
  DeletePod("cut");
}

// The agent's disk is full: the pull fails with ErrImagePull "no space left on device", no
// partial layer stays, the agent keeps running (node Ready, a pod with a present image starts);
// once space is freed the pull succeeds.
TEST_F(FaultsE2E, FullDisk) {
  std::string payload = runtime::image::testing::RandomBytes(24 << 20, 5);
  std::string layer = TarBuilder()
                          .Dir("bin")
                          .File("bin/busybox", ReadAll("/bin/busybox"), 0755)
                          .File("random.bin", payload)
                          .Build();
  payload.clear();
  flaky_->AddImage("faults/big", "v1", ConfigFor(layer), {layer}, "application/vnd.docker.image.rootfs.diff.tar");
  // Leave 8 MiB free: the 24 MiB layer cannot be stored.
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs(disk_.c_str(), &vfs), 0);
  uint64_t free_bytes = uint64_t(vfs.f_bavail) * vfs.f_frsize;
  ASSERT_GT(free_bytes, uint64_t(16) << 20);
  std::string filler = disk_ + "/filler";
  auto dd = e2e::Run({"fallocate", "-l", std::to_string(free_bytes - (uint64_t(8) << 20)), filler});
  ASSERT_EQ(dd.rc, 0) << dd.err;

  CreatePod("big", FlakyImage("big"), {"/bin/busybox", "sleep", "3600"});
  auto p = WaitPod("big", PullFailed);
  EXPECT_TRUE(PullFailed(p)) << p.dump(2);
  EXPECT_THAT(Events("big"), HasSubstr("no space left on device")) << p.dump(2);
  EXPECT_THAT(Entries(node_.data_dir + "/images/tmp"), ::testing::IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(node_.data_dir + "/images/blobs/sha256/" +
                                       runtime::image::DigestHex(runtime::image::DigestOf(layer))));
  // The agent still works: alive, node Ready, and a pod whose image is present starts.
  EXPECT_EQ(::kill(agent_->pid(), 0), 0) << agent_->Output();
  auto ready = Kubectl({"get", "node", node_.name, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"});
  EXPECT_EQ(ready.out, "True");
  CreatePod("small", "busybox", {"sleep", "3600"});
  auto small = WaitPod("small", Running);
  EXPECT_TRUE(Running(small)) << small.dump(2);

  ASSERT_EQ(::unlink(filler.c_str()), 0);
  p = WaitPod("big", Running, 150s);
  EXPECT_TRUE(Running(p)) << p.dump(2) << Events("big");
  DeletePod("big");
  DeletePod("small");
}

// kill -9 of a running container's conmon: the container counts as exited (its orphaned process
// is killed, 137, the message names conmon) and the kubelet restarts it.
TEST_F(FaultsE2E, ConmonKilled) {
  CreatePod("conmon", "busybox", {"sleep", "3600"});
  auto p = WaitPod("conmon", Running);
  ASSERT_TRUE(Running(p)) << p.dump(2);
  std::string bundle = Bundle(p);
  int conmon = std::atoi(ReadAll(bundle + "/conmon.pid").c_str());
  int pid = std::atoi(ReadAll(bundle + "/pidfile").c_str());
  ASSERT_GT(conmon, 0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(conmon, SIGKILL), 0);
  p = WaitPod("conmon", [](const json& p) {
    return Running(p) && At(p, "/status/containerStatuses/0/restartCount") == "1";
  });
  EXPECT_TRUE(Running(p)) << p.dump(2);
  EXPECT_EQ(At(p, "/status/containerStatuses/0/restartCount"), "1") << p.dump(2);
  EXPECT_EQ(At(p, "/status/containerStatuses/0/lastState/terminated/exitCode"), "137") << p.dump(2);
  EXPECT_THAT(At(p, "/status/containerStatuses/0/lastState/terminated/message"), HasSubstr("conmon")) << p.dump(2);
  // Gone or a zombie (orphans go to this machine's pid 1, which need not reap them).
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  EXPECT_TRUE(stat.empty() || stat.substr(stat.rfind(')') + 2, 1) == "Z") << "the old container process is gone: " << stat;
  DeletePod("conmon");
}

// kill -9 of the container's own process: exit code 137 (Error), restarted per policy.
TEST_F(FaultsE2E, ContainerProcessKilled) {
  CreatePod("killed", "busybox", {"sleep", "3600"});
  auto p = WaitPod("killed", Running);
  ASSERT_TRUE(Running(p)) << p.dump(2);
  int pid = std::atoi(ReadAll(Bundle(p) + "/pidfile").c_str());
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  p = WaitPod("killed", [](const json& p) {
    return Running(p) && At(p, "/status/containerStatuses/0/restartCount") == "1";
  });
  EXPECT_TRUE(Running(p)) << p.dump(2);
  EXPECT_EQ(At(p, "/status/containerStatuses/0/lastState/terminated/exitCode"), "137") << p.dump(2);
  EXPECT_EQ(At(p, "/status/containerStatuses/0/lastState/terminated/reason"), "Error") << p.dump(2);
  DeletePod("killed");
}

// A command that does not exist: RunContainerError with runc's reason, the container Exited
// 128 StartError (as containerd reports it), then CrashLoopBackOff.
TEST_F(FaultsE2E, CommandDoesNotExist) {
  CreatePod("nocmd", "busybox", {"/does/not/exist"});
  auto p = WaitPod("nocmd", [](const json& p) {
    return At(p, "/status/containerStatuses/0/lastState/terminated/reason") == "StartError" &&
           WaitingReason(p) == "CrashLoopBackOff";
  });
  EXPECT_EQ(At(p, "/status/containerStatuses/0/lastState/terminated/reason"), "StartError") << p.dump(2);
  EXPECT_EQ(At(p, "/status/containerStatuses/0/lastState/terminated/exitCode"), "128") << p.dump(2);
  EXPECT_THAT(At(p, "/status/containerStatuses/0/lastState/terminated/message"),
              HasSubstr("exec: \"/does/not/exist\": stat /does/not/exist: no such file or directory"))
      << p.dump(2);
  EXPECT_EQ(WaitingReason(p), "CrashLoopBackOff") << p.dump(2);
  std::string events = Events("nocmd");
  EXPECT_THAT(events, HasSubstr("no such file or directory")) << events;
  DeletePod("nocmd");
}

// kill -9 of the agent, then its pods are deleted while it is down: the next start removes their
// containers, mounts, netns pins, cgroups, veths and IP allocations.
TEST_F(FaultsE2E, AgentKilledPodsDeletedWhileDownAreCleanedAtStart) {
  CreatePod("down1", "busybox", {"sleep", "3600"});
  CreatePod("down2", "busybox", {"sleep", "3600"});
  for (const char* name : {"down1", "down2"}) {
    auto p = WaitPod(name, Running);
    ASSERT_TRUE(Running(p)) << p.dump(2);
  }
  ASSERT_EQ(Inspect(node_).netns.size(), 2u) << Inspect(node_).Describe();
  ::kill(agent_->pid(), SIGKILL);
  agent_->Wait(10s);
  for (const char* name : {"down1", "down2"}) {
    auto r = Kubectl({"delete", "pod", name, "--force", "--grace-period=0"});
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  EXPECT_FALSE(Inspect(node_).empty()) << "nothing ran the cleanup yet";
  agent_ = std::make_unique<Background>(TokenAgentArgv(*server_, node_));
  ASSERT_TRUE(agent_->WaitFor("agent ready", 60s)) << agent_->Output();
  Leftovers l = WaitClean(node_, 60s);
  EXPECT_TRUE(l.empty()) << l.Describe();
}

// `tug agent --runc WRAPPER` (node e2e-runc, bridge tuglg0, 10.94.0.0/16, beside the suite's
// node): the wrapper refuses `runc create` for one pod and `runc start` for another, once each,
// with a message. The create failure is CreateContainerError with runc's message, the start
// failure StartError/128 with runc's message; the next tries run both pods, and deleting them
// leaves the node clean.
TEST_F(FaultsE2E, RuncFailsOnceThroughTheRuncFlag) {
  NodeEnv n{.name = "e2e-runc", .bridge = "tuglg0", .cluster_cidr = "10.94.0.0/16",
            .cgroup_parent = "/tug-e2e-runc", .data_dir = MakeTempDir("tug-runc-agent"),
            .run_dir = MakeTempDir("tug-runc-run")};
  std::string marks = MakeTempDir("tug-runc-marks"), wrapper = marks + "/runc";
  std::unique_ptr<Background> agent;
  struct Cleanup {
    NodeEnv& n;
    std::unique_ptr<Background>& agent;
    std::string marks;
    ~Cleanup() {
      if (agent) agent->Stop();
      HostCleanup(n);
      RemoveNodeDirs(n);
      RemoveTree(marks);
    }
  } cleanup{n, agent, marks};
  // The container id is runc's last argument; its bundle's config.json holds the pod's env.
  std::ofstream(wrapper) << "#!/bin/sh\n"
                            "for id; do :; done\n"
                            "verb=\n"
                            "for a; do case \"$a\" in create|start) verb=$a; break;; esac; done\n"
                            "if [ -n \"$verb\" ] && [ ! -e " << marks << "/$verb ] && "
                            "grep -q \"RUNC_FAULT=$verb\" " << n.run_dir << "/runtime/containers/$id/config.json 2>/dev/null; then\n"
                            "  : > " << marks << "/$verb\n"
                            "  echo \"tug-e2e: runc $verb refused once\" >&2\n"
                            "  exit 1\n"
                            "fi\n"
                            "exec /usr/sbin/runc \"$@\"\n";
  ASSERT_EQ(::chmod(wrapper.c_str(), 0755), 0);
  kRegistry->WriteMirror(n.data_dir);
  auto argv = TokenAgentArgv(*server_, n);
  argv.insert(argv.end(), {"--runc", wrapper});
  agent = std::make_unique<Background>(argv);
  ASSERT_TRUE(agent->WaitFor("agent ready", 60s)) << agent->Output();
  for (const char* verb : {"create", "start"}) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", std::string("runc-") + verb}}},
                {"spec",
                 {{"nodeName", n.name},
                  {"terminationGracePeriodSeconds", 1},
                  {"containers",
                   {{{"name", "c"},
                     {"image", "busybox"},
                     {"command", {"sleep", "3600"}},
                     {"env", {{{"name", "RUNC_FAULT"}, {"value", verb}}}}}}}}}};
    auto r = Kubectl({"apply", "-f", "-"}, pod.dump());
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  auto started = WaitPod("runc-start", [](const json& p) {
    return Running(p) && At(p, "/status/containerStatuses/0/lastState/terminated/reason") == "StartError";
  });
  EXPECT_TRUE(Running(started)) << started.dump(2);
  EXPECT_EQ(At(started, "/status/containerStatuses/0/lastState/terminated/reason"), "StartError") << started.dump(2);
  EXPECT_EQ(At(started, "/status/containerStatuses/0/lastState/terminated/exitCode"), "128");
  EXPECT_THAT(At(started, "/status/containerStatuses/0/lastState/terminated/message"),
              HasSubstr("tug-e2e: runc start refused once"));
  EXPECT_EQ(At(started, "/status/containerStatuses/0/restartCount"), "1");
  auto created = WaitPod("runc-create", Running);
  EXPECT_TRUE(Running(created)) << created.dump(2);
  EXPECT_EQ(At(created, "/status/containerStatuses/0/restartCount"), "0") << "a create that failed never ran";
  std::string events = Events("runc-create");
  EXPECT_THAT(events, HasSubstr("tug-e2e: runc create refused once")) << events;
  EXPECT_TRUE(std::filesystem::exists(marks + "/create") && std::filesystem::exists(marks + "/start"));
  // Once the pods are gone the node holds nothing of them.
  for (const char* name : {"runc-create", "runc-start"}) DeletePod(name);
  Leftovers l = WaitClean(n, 60s);
  EXPECT_TRUE(l.empty()) << l.Describe();
  Kubectl({"delete", "node", n.name, "--ignore-not-found"});
}

}  // namespace
}  // namespace tug::e2e
