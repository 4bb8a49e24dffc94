#include "kubelet/pod_workers.h"

#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "client/testing/test_api_server.h"
#include "runtime/image/testing/fake_image_store.h"

namespace tug::kubelet {
namespace {

using namespace std::chrono_literals;

TEST(PodWorkersTest, ComputePhase) {
  struct Case {
    const char* name;
    std::string policy;
    std::vector<std::string> states;
    std::vector<int> codes;
    bool init_done;
    std::string want;
  } cases[] = {
      {"init pending", "Always", {"running"}, {0}, false, "Pending"},
      {"creating", "Always", {"waiting"}, {0}, true, "Pending"},
      {"running", "Always", {"running", "running"}, {0, 0}, true, "Running"},
      {"one running one done", "Never", {"running", "terminated"}, {0, 0}, true, "Running"},
      {"all ok never", "Never", {"terminated", "terminated"}, {0, 0}, true, "Succeeded"},
      {"failed never", "Never", {"terminated", "terminated"}, {0, 1}, true, "Failed"},
      {"failed onfailure", "OnFailure", {"terminated"}, {2}, true, "Running"},
      {"ok onfailure", "OnFailure", {"terminated"}, {0}, true, "Succeeded"},
      {"always exited", "Always", {"terminated"}, {0}, true, "Running"},
  };
  for (const auto& c : cases) EXPECT_EQ(ComputePhase(c.policy, c.states, c.codes, c.init_done), c.want) << c.name;
}

TEST(PodWorkersTest, CrashLoopDelay) {
  EXPECT_EQ(CrashLoopDelay(0).count(), 0);
  EXPECT_EQ(CrashLoopDelay(1).count(), 10);
  EXPECT_EQ(CrashLoopDelay(2).count(), 20);
  EXPECT_EQ(CrashLoopDelay(3).count(), 40);
  EXPECT_EQ(CrashLoopDelay(5).count(), 160);
  EXPECT_EQ(CrashLoopDelay(6).count(), 300);
  EXPECT_EQ(CrashLoopDelay(60).count(), 300);
}

TEST(PodWorkersTest, ResolvConf) {
  EXPECT_EQ(ResolvConf("web", "10.43.0.10", "cluster.local"),
            "search web.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.43.0.10\noptions ndots:5\n");
}

// ------------------------------------------------------------------ slow work of one pod

// An in-memory Runtime. A container whose command is ["ignore-term"] ignores the stop signal:
// StopContainer waits its whole timeout unless the test calls ReleaseStops(). Records every
// (sandbox, container name, attempt) created twice: two syncs of one pod at once.
class FakeRuntime final : public runtime::Runtime {
 public:
  Result<runtime::RuntimeVersion> Version() override { return runtime::RuntimeVersion{}; }

  Result<std::string> RunPodSandbox(const runtime::PodSandboxConfig& config) override {
    std::lock_guard l(mu_);
    std::string id = "sb" + std::to_string(++next_);
    auto& s = sandboxes_[id];
    s.id = id;
    s.config = config;
    s.state = runtime::SandboxState::kReady;
    s.ip = "10.9.0." + std::to_string(next_ % 250 + 1);
    return id;
  }
  Status StopPodSandbox(const std::string& id, std::chrono::seconds) override {
    std::lock_guard l(mu_);
    if (auto it = sandboxes_.find(id); it != sandboxes_.end()) it->second.state = runtime::SandboxState::kNotReady;
    for (auto& [cid, c] : containers_)
      if (c.sandbox_id == id && c.state == runtime::ContainerState::kRunning) Exit(c, 137);
    return Status::Ok();
  }
  Status RemovePodSandbox(const std::string& id) override {
    std::lock_guard l(mu_);
    sandboxes_.erase(id);
    std::erase_if(containers_, [&](const auto& kv) { return kv.second.sandbox_id == id; });
    return Status::Ok();
  }
  Result<runtime::PodSandboxStatus> PodSandboxStatusOf(const std::string& id) override {
    std::lock_guard l(mu_);
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return NotFoundError("sandbox " + id + " not found");
    return it->second;
  }
  Result<std::vector<runtime::PodSandboxStatus>> ListPodSandboxes() override {
    std::lock_guard l(mu_);
    std::vector<runtime::PodSandboxStatus> out;
    for (const auto& [id, s] : sandboxes_) out.push_back(s);
    return out;
  }
  Result<std::string> CreateContainer(const std::string& sandbox_id, const runtime::ContainerConfig& cfg) override {
    std::lock_guard l(mu_);
    if (!sandboxes_.count(sandbox_id)) return NotFoundError("sandbox " + sandbox_id + " not found");
    for (const auto& [cid, c] : containers_)
      if (c.sandbox_id == sandbox_id && c.name == cfg.name && c.attempt == cfg.attempt)
        duplicates_.push_back(sandbox_id + "/" + cfg.name + "/" + std::to_string(cfg.attempt));
    std::string id = "c" + std::to_string(++next_);
    auto& c = containers_[id];
    c.id = id;
    c.sandbox_id = sandbox_id;
    c.name = cfg.name;
    c.attempt = cfg.attempt;
    c.image = cfg.image;
    c.state = runtime::ContainerState::kCreated;
    c.labels = cfg.labels;
    if (cfg.command == std::vector<std::string>{"ignore-term"}) ignores_term_.insert(id);
    return id;
  }
  Status StartContainer(const std::string& id) override {
    std::lock_guard l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return NotFoundError("container " + id + " not found");
    it->second.state = runtime::ContainerState::kRunning;
    it->second.started_at = RealClock().Now();
    return Status::Ok();
  }
  Status StopContainer(const std::string& id, std::chrono::seconds timeout) override {
    std::unique_lock l(mu_);
    auto running = [&] {
      auto it = containers_.find(id);
      return it != containers_.end() && it->second.state == runtime::ContainerState::kRunning;
    };
    if (!running()) return Status::Ok();
    if (ignores_term_.count(id) && timeout.count() > 0) {
      ++stopping_;
      cv_.wait_for(l, timeout, [&] { return released_ || !running() || shortened_.count(id); });
      --stopping_;
    }
    if (auto it = containers_.find(id); it != containers_.end() && running()) Exit(it->second, 137);
    return Status::Ok();
  }
  // Records the shorter grace; a stop waiting (or to come) ends at once.
  bool ShortenStop(const std::string& id, std::chrono::seconds timeout) override {
    std::lock_guard l(mu_);
    shortened_[id] = timeout;
    cv_.notify_all();
    return stopping_ > 0;
  }
  std::map<std::string, std::chrono::seconds> shortened() const {
    std::lock_guard l(mu_);
    return shortened_;
  }
  Status RemoveContainer(const std::string& id) override {
    std::lock_guard l(mu_);
    containers_.erase(id);
    return Status::Ok();
  }
  Result<runtime::ContainerStatus> ContainerStatusOf(const std::string& id) override {
    std::lock_guard l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return NotFoundError("container " + id + " not found");
    return it->second;
  }
  Result<std::vector<runtime::ContainerStatus>> ListContainers(const std::string& sandbox_id) override {
    std::lock_guard l(mu_);
    std::vector<runtime::ContainerStatus> out;
    for (const auto& [id, c] : containers_)
      if (sandbox_id.empty() || c.sandbox_id == sandbox_id) out.push_back(c);
    return out;
  }
  Result<runtime::ResourceStats> ContainerStatsOf(const std::string&) override { return InternalError("fake runtime: not supported"); }
  Result<runtime::ResourceStats> PodSandboxStatsOf(const std::string&) override { return InternalError("fake runtime: not supported"); }
  Result<runtime::ExecResult> ExecSync(const std::string&, const std::vector<std::string>&,
                                       std::chrono::milliseconds) override {
    return InternalError("fake runtime: not supported");
  }
  Result<std::unique_ptr<runtime::ExecSession>> Exec(const std::string&, const runtime::ExecOptions&) override {
    return InternalError("fake runtime: not supported");
  }
  Result<runtime::AttachConnection> Attach(const std::string&) override { return InternalError("fake runtime: not supported"); }
  Status ResizeContainerTerminal(const std::string&, uint16_t, uint16_t) override { return InternalError("fake runtime: not supported"); }
  Status ReopenContainerLog(const std::string&) override { return InternalError("fake runtime: not supported"); }
  Status Cleanup(const std::set<std::string>& keep) override {
    std::lock_guard l(mu_);
    std::erase_if(sandboxes_, [&](const auto& kv) { return !keep.count(kv.first); });
    std::erase_if(containers_, [&](const auto& kv) { return !keep.count(kv.second.sandbox_id); });
    return Status::Ok();
  }

  // Containers that ignore the stop signal exit now (and every later stop is immediate).
  void ReleaseStops() {
    std::lock_guard l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  int stopping() const {
    std::lock_guard l(mu_);
    return stopping_;
  }
  size_t sandboxes() const {
    std::lock_guard l(mu_);
    return sandboxes_.size();
  }
  std::vector<std::string> duplicates() const {
    std::lock_guard l(mu_);
    return duplicates_;
  }

 private:
  void Exit(runtime::ContainerStatus& c, int code) {
    c.state = runtime::ContainerState::kExited;
    c.exit_code = code;
    c.finished_at = RealClock().Now();
    cv_.notify_all();
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, runtime::PodSandboxStatus> sandboxes_;
  std::map<std::string, runtime::ContainerStatus> containers_;
  std::set<std::string> ignores_term_;
  std::vector<std::string> duplicates_;
  int next_ = 0, stopping_ = 0;
  bool released_ = false;
  std::map<std::string, std::chrono::seconds> shortened_;
};

// An image store whose pulls of images named "slow" block until Release().
class GatedImageStore final : public runtime::image::ImageStore {
 public:
  explicit GatedImageStore(runtime::image::testing::FakeImageStore& inner) : inner_(inner) {}
  Result<runtime::image::ImageInfo> Pull(std::string_view ref, const runtime::image::PullOptions& o) override {
    if (ref.find("slow") != std::string_view::npos) {
      std::unique_lock l(mu_);
      ++waiting_;
      bool cancelled = false;
      while (!released_ && !(cancelled = o.cancelled && o.cancelled())) cv_.wait_for(l, 20ms);
      --waiting_;
      if (cancelled) return InternalError("pull cancelled");
    }
    return inner_.Pull(ref, o);
  }
  void Release() {
    std::lock_guard l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  int waiting() const {
    std::lock_guard l(mu_);
    return waiting_;
  }
  Result<std::vector<runtime::image::ImageInfo>> Import(const std::string& p, const runtime::image::ImportOptions& o) override {
    return inner_.Import(p, o);
  }
  Result<runtime::image::ImageInfo> Get(std::string_view q) override { return inner_.Get(q); }
  Result<std::vector<runtime::image::ImageInfo>> List() override { return inner_.List(); }
  Status Remove(std::string_view q) override { return inner_.Remove(q); }
  Result<std::vector<std::string>> LayerDirs(std::string_view q) override { return inner_.LayerDirs(q); }
  Result<runtime::image::ImageConfig> Config(std::string_view q) override { return inner_.Config(q); }
  Result<runtime::image::GcResult> GarbageCollect(const runtime::image::GcPolicy& p, const std::set<std::string>& u) override {
    return inner_.GarbageCollect(p, u);
  }

 private:
  runtime::image::testing::FakeImageStore& inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool released_ = false;
};

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// PodWorkers with two shared workers on a fake runtime and image store: every slow step is
// under the test's control, so "another pod is not held up" is checked without real time.
class PodWorkersSlowWorkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.ok());
    char tmpl[] = "/tmp/tug-podworkers-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    runtime::image::testing::FakeImageStore::Image img;
    img.layer_dirs = {dir_ + "/layer"};
    img.config.cmd = {"sh"};
    fake_images_.Add("busybox:1.36", img);                  // present
    fake_images_.AddPullable("registry.example/slow:1", img);  // present after a (gated) pull
    PodWorkersOptions o;
    o.node_name = "n1";
    o.node_ip = "192.0.2.1";
    o.pods_dir = dir_ + "/pods";
    o.workers = 2;
    o.resync_interval = 200ms;
    workers_ = std::make_unique<PodWorkers>(api_.client(), rt_, images_, o);
    ASSERT_TRUE(workers_->Start().ok());
  }
  void TearDown() override {
    rt_.ReleaseStops();
    images_.Release();
    workers_.reset();  // Stop joins the workers and every pod thread
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void CreatePod(const std::string& name, const std::string& image, const std::string& command) {
    Json pod{{"apiVersion", "v1"},
             {"kind", "Pod"},
             {"metadata", {{"name", name}, {"namespace", "default"}}},
             {"spec",
              {{"nodeName", "n1"},
               {"automountServiceAccountToken", false},
               {"terminationGracePeriodSeconds", 60},
               {"containers", Json::array({{{"name", "c"}, {"image", image}, {"command", Json::array({command})}}})}}}};
    auto r = api_.client().Create(client::kPods, "default", pod);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  std::string Phase(const std::string& name) {
    auto p = api_.client().Get(client::kPods, "default", name);
    return p.ok() ? GetStringPath(*p, {"status", "phase"}) : "<" + p.status().ToString() + ">";
  }
  std::string Waiting(const std::string& name) {
    auto p = api_.client().Get(client::kPods, "default", name);
    if (!p.ok()) return "";
    const Json* r = FindPath(*p, {"status", "containerStatuses"});
    return r && r->is_array() && !r->empty() ? GetStringPath((*r)[0], {"state", "waiting", "reason"}) : "";
  }
  bool Gone(const std::string& name) {
    auto p = api_.client().Get(client::kPods, "default", name);
    return !p.ok() && p.status().code() == StatusCode::kNotFound;
  }

  client::testing::TestApiServer api_;
  std::string dir_;
  FakeRuntime rt_;
  runtime::image::testing::FakeImageStore fake_images_;
  GatedImageStore images_{fake_images_};
  std::unique_ptr<PodWorkers> workers_;
};

TEST_F(PodWorkersSlowWorkTest, TerminatingPodsDoNotHoldUpANewPod) {
  constexpr int kTerminating = 5;  // more than the shared workers
  for (int i = 0; i < kTerminating; ++i) CreatePod("term-" + std::to_string(i), "busybox:1.36", "ignore-term");
  for (int i = 0; i < kTerminating; ++i)
    ASSERT_TRUE(WaitFor([&] { return Phase("term-" + std::to_string(i)) == "Running"; }, 10s)) << i;
  client::DeleteOptions d;
  d.grace_period_seconds = 60;
  for (int i = 0; i < kTerminating; ++i)
    ASSERT_TRUE(api_.client().Delete(client::kPods, "default", "term-" + std::to_string(i), d).ok());
  // Every one of them waits out its grace period (the stop signal is ignored).
  ASSERT_TRUE(WaitFor([&] { return rt_.stopping() == kTerminating; }, 10s)) << rt_.stopping();

  CreatePod("fresh", "busybox:1.36", "sleep");
  EXPECT_TRUE(WaitFor([&] { return Phase("fresh") == "Running"; }, 10s)) << Phase("fresh");
  for (int i = 0; i < kTerminating; ++i) EXPECT_FALSE(Gone("term-" + std::to_string(i))) << i;

  // The terminations finish: containers gone, sandboxes removed, the API objects deleted.
  rt_.ReleaseStops();
  for (int i = 0; i < kTerminating; ++i)
    EXPECT_TRUE(WaitFor([&] { return Gone("term-" + std::to_string(i)); }, 10s)) << i;
  EXPECT_TRUE(WaitFor([&] { return rt_.sandboxes() == 1; }, 10s)) << rt_.sandboxes();
  EXPECT_EQ(Phase("fresh"), "Running");
  EXPECT_TRUE(rt_.duplicates().empty()) << rt_.duplicates().front();
}

TEST_F(PodWorkersSlowWorkTest, ImagePullsDoNotHoldUpANewPod) {
  constexpr int kPulling = 4;
  for (int i = 0; i < kPulling; ++i) CreatePod("pull-" + std::to_string(i), "registry.example/slow:1", "sleep");
  ASSERT_TRUE(WaitFor([&] { return images_.waiting() == kPulling; }, 10s)) << images_.waiting();
  // While pulling, the pods are ContainerCreating (their status written before the hand-off).
  for (int i = 0; i < kPulling; ++i)
    EXPECT_TRUE(WaitFor([&] { return Waiting("pull-" + std::to_string(i)) == "ContainerCreating"; }, 5s)) << i;

  CreatePod("fresh", "busybox:1.36", "sleep");
  EXPECT_TRUE(WaitFor([&] { return Phase("fresh") == "Running"; }, 10s)) << Phase("fresh");
  EXPECT_EQ(Phase("pull-0"), "Pending");

  images_.Release();
  for (int i = 0; i < kPulling; ++i)
    EXPECT_TRUE(WaitFor([&] { return Phase("pull-" + std::to_string(i)) == "Running"; }, 10s)) << i;
  EXPECT_TRUE(rt_.duplicates().empty()) << rt_.duplicates().front();
}

// A second delete during a termination: a shorter grace reaches the stop in flight, and a
// force delete (the pod leaves the API) ends it at once, with a 1 s grace.
TEST_F(PodWorkersSlowWorkTest, ShorterDeleteShortensATerminationInFlight) {
  CreatePod("s", "busybox:1.36", "ignore-term");
  ASSERT_TRUE(WaitFor([&] { return Phase("s") == "Running"; }, 10s));
  client::DeleteOptions d;
  d.grace_period_seconds = 60;
  ASSERT_TRUE(api_.client().Delete(client::kPods, "default", "s", d).ok());
  ASSERT_TRUE(WaitFor([&] { return rt_.stopping() == 1; }, 10s));
  EXPECT_TRUE(rt_.shortened().empty());
  client::DeleteOptions force;
  force.grace_period_seconds = 0;
  ASSERT_TRUE(api_.client().Delete(client::kPods, "default", "s", force).ok());
  ASSERT_TRUE(WaitFor([&] { return rt_.sandboxes() == 0; }, 10s)) << rt_.sandboxes();
  auto shortened = rt_.shortened();
  ASSERT_EQ(shortened.size(), 1u);
  EXPECT_EQ(shortened.begin()->second, 1s);
  EXPECT_TRUE(Gone("s"));
}

// A pod deleted while its image is pulling: the pull is cancelled (not waited for), and the
// pod goes without an ErrImagePull back-off.
TEST_F(PodWorkersSlowWorkTest, DeletingAPodCancelsItsPull) {
  CreatePod("doomed", "registry.example/slow:1", "sleep");
  ASSERT_TRUE(WaitFor([&] { return images_.waiting() == 1; }, 10s)) << images_.waiting();
  ASSERT_TRUE(api_.client().Delete(client::kPods, "default", "doomed", client::DeleteOptions{}).ok());
  EXPECT_TRUE(WaitFor([&] { return Gone("doomed"); }, 10s));
  EXPECT_EQ(images_.waiting(), 0);
  EXPECT_TRUE(WaitFor([&] { return rt_.sandboxes() == 0; }, 10s)) << rt_.sandboxes();
}

// Stop() with a termination in flight waits for it (it ends when the grace period does).
TEST_F(PodWorkersSlowWorkTest, StopJoinsPodThreads) {
  CreatePod("t", "busybox:1.36", "ignore-term");
  ASSERT_TRUE(WaitFor([&] { return Phase("t") == "Running"; }, 10s));
  client::DeleteOptions d;
  d.grace_period_seconds = 60;
  ASSERT_TRUE(api_.client().Delete(client::kPods, "default", "t", d).ok());
  ASSERT_TRUE(WaitFor([&] { return rt_.stopping() == 1; }, 10s));
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    workers_->Stop();
    stopped = true;
  });
  std::this_thread::sleep_for(100ms);  // not a timing assertion: Stop must still be waiting
  EXPECT_FALSE(stopped.load());
  rt_.ReleaseStops();
  stopper.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_EQ(rt_.sandboxes(), 0u);
}

}  // namespace
}  // namespace tug::kubelet
