// Runtime startup benchmark (root only). Prints one line per figure.
//
// floor: `runc create` + `runc start` of a busybox `sleep` container whose bundle (config.json,
//        rootfs) and network namespace were prepared beforehand: the physical floor of issue 5's
//        pod-startup figure (fork/exec of runc, namespaces, cgroup, pivot_root).
// container: Runtime::CreateContainer + StartContainer in an existing sandbox (overlay mount,
//        spec, conmon, runc create/start).
// full:  Runtime::RunPodSandbox (pinned namespaces, pod cgroup, CNI bridge + host-local +
//        portmap + loopback) + CreateContainer + StartContainer, the network set up first;
// overlapped: the same with network_in_background (as the kubelet runs it): CNI runs while the
//        container is created, StartContainer waits for it.
// Each figure is the median (and p90) over N runs, and the paths are reported as ratios to the
// floor measured in the same run. Usage: runtime_bench [iterations=20]
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "network/cni/cni.h"
#include "runtime/oci/cgroups.h"
#include "runtime/oci/namespaces.h"
#include "runtime/oci/runtime_impl.h"
#include "runtime/oci/spec.h"
#include "runtime/oci/sys.h"
#include "runtime/oci/testing/cni_pod_network.h"
#include "runtime/oci/testing/rootfs.h"

using namespace tug;
using namespace tug::runtime;
using Steady = std::chrono::steady_clock;

namespace {

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "runtime_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "runtime_bench: needs root\n");
    return 1;
  }
  int n = argc > 1 ? std::atoi(argv[1]) : 20;
  if (n < 1) n = 1;
  std::random_device rd;
  std::string suffix = std::to_string(rd() % 100000);
  char tmpl[] = "/tmp/tug-rtbench-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string base = tmpl, rootfs = base + "/rootfs";
  if (Status s = testing::MakeBusyboxRootfs(rootfs); !s.ok()) Die("rootfs", s);
  std::string cg_parent = "/tug-bench-" + suffix;
  std::string runc_root = base + "/floor-runc";
  MakeDirs(runc_root).IgnoreError();

  // ---- floor: prepared netns + bundle; time runc create + runc start only.
  auto ns = PinNamespaces(base + "/floor-ns", "floor", true, true, true, "floor");
  if (!ns.ok()) Die("pin netns", ns.status());
  std::string bundle = base + "/floor-bundle";
  MakeDirs(bundle).IgnoreError();
  ContainerConfig cc;
  cc.name = "floor";
  cc.command = {"sleep", "3600"};
  cc.security.read_only_rootfs = true;
  PodSandboxConfig pc;
  pc.hostname = "floor";
  std::vector<double> floor_ms;
  auto floor_once = [&](int i) {
    std::string id = "floor" + std::to_string(i);
    SpecInput in;
    in.container = &cc;
    in.sandbox = &pc;
    in.netns_path = ns->net;
    in.ipcns_path = ns->ipc;
    in.utsns_path = ns->uts;
    in.cgroups_path = cg_parent + "/floor/" + id;
    auto spec = BuildSpec(in);
    if (!spec.ok()) Die("spec", spec.status());
    (*spec)["root"]["path"] = rootfs;  // the plain busybox dir, read-only: nothing per run
    if (Status s = WriteFileAtomic(bundle + "/config.json", spec->dump()); !s.ok()) Die("config", s);
    // The container inherits runc's stdio, so runc runs with /dev/null (as conmon would give
    // it pipes it keeps reading) and only its exit status is awaited.
    auto run = [&](std::vector<std::string> args) {
      SpawnOptions so;
      so.argv = {"/usr/sbin/runc", "--root", runc_root};
      so.argv.insert(so.argv.end(), args.begin(), args.end());
      auto pid = Spawn(so);
      if (!pid.ok()) Die("spawn runc", pid.status());
      auto st = WaitPid(*pid);
      return st.ok() && WIFEXITED(*st) && WEXITSTATUS(*st) == 0;
    };
    auto t0 = Steady::now();
    bool ok = run({"create", "--bundle", bundle, id}) && run({"start", id});
    auto t1 = Steady::now();
    if (!ok) {
      std::fprintf(stderr, "runtime_bench: runc create/start failed\n");
      std::exit(1);
    }
    floor_ms.push_back(Ms(t1 - t0));
    RunCommand({"/usr/sbin/runc", "--root", runc_root, "delete", "--force", id}).status().IgnoreError();
  };

  // ---- the runtime.
  network::CniOptions co;
  co.bridge = "tugb" + suffix;
  co.network_name = "tugbench" + suffix;
  co.pod_cidr = "10.233." + std::to_string(rd() % 250) + ".0/24";
  co.data_dir = base + "/cni";
  auto cni = network::Cni::New(co);
  if (!cni.ok()) Die("cni", cni.status());
  RuntimeOptions o;
  o.state_dir = base + "/state";
  o.storage_dir = base + "/storage";
  o.ns_root = base + "/ns";
  o.managed_cgroup_parents = {cg_parent};
  auto rt_or = NewOciRuntime(o, std::make_unique<testing::CniPodNetwork>(std::move(*cni)));
  if (!rt_or.ok()) Die("runtime", rt_or.status());
  auto& rt = *rt_or;
  auto pod = [&](int i, bool background) {
    PodSandboxConfig p;
    p.network_in_background = background;
    p.uid = "bench-" + std::to_string(i);
    p.name = "bench-" + std::to_string(i);
    p.namespace_ = "default";
    p.hostname = p.name;
    p.cgroup_parent = cg_parent;
    return p;
  };
  ContainerConfig rc;
  rc.name = "c";
  rc.rootfs_lowerdirs = {rootfs};
  rc.command = {"sleep", "3600"};
  rc.log_path = base + "/logs/c.log";

  std::vector<double> full_ms, ctr_ms, sb_ms, overlap_ms;
  // Floor and runtime runs alternate, so both see the same background load.
  for (int i = 0; i < n; ++i) {
    floor_once(i);
    for (bool background : {false, true}) {
      auto t0 = Steady::now();
      auto sb = rt->RunPodSandbox(pod(2 * i + background, background));
      if (!sb.ok()) Die("sandbox", sb.status());
      auto t1 = Steady::now();
      auto id = rt->CreateContainer(*sb, rc);
      if (!id.ok()) Die("create", id.status());
      if (Status s = rt->StartContainer(*id); !s.ok()) Die("start", s);
      auto t2 = Steady::now();
      if (background) {
        overlap_ms.push_back(Ms(t2 - t0));
      } else {
        full_ms.push_back(Ms(t2 - t0));
        ctr_ms.push_back(Ms(t2 - t1));
        sb_ms.push_back(Ms(t1 - t0));
      }
      if (Status s = rt->RemovePodSandbox(*sb); !s.ok()) Die("remove", s);
    }
  }
  UnpinNamespaces(base + "/floor-ns", "floor").IgnoreError();
  Status cleanup = rt->Cleanup({});
  rt.reset();
  Cgroups().Remove(cg_parent).IgnoreError();
  RunCommand({"/usr/sbin/ip", "link", "del", co.bridge}).status().IgnoreError();
  for (const auto& m : MountsUnder(base)) Unmount(m).IgnoreError();
  RemoveAll(base).IgnoreError();
  if (!cleanup.ok()) Die("cleanup", cleanup);

  double f50 = Pct(floor_ms, 0.5), c50 = Pct(ctr_ms, 0.5), u50 = Pct(full_ms, 0.5), o50 = Pct(overlap_ms, 0.5);
  std::printf("runtime floor (runc create+start, prepared netns) p50 %.1f ms p90 %.1f ms (n=%d)\n",
              f50, Pct(floor_ms, 0.9), n);
  std::printf("runtime container (CreateContainer+StartContainer) p50 %.1f ms p90 %.1f ms ratio %.2fx floor\n",
              c50, Pct(ctr_ms, 0.9), c50 / f50);
  std::printf("runtime sandbox (RunPodSandbox: namespaces, cgroup, shm, CNI) p50 %.1f ms p90 %.1f ms\n",
              Pct(sb_ms, 0.5), Pct(sb_ms, 0.9));
  std::printf("runtime full (RunPodSandbox+CNI+CreateContainer+StartContainer) p50 %.1f ms p90 %.1f ms ratio %.2fx floor\n",
              u50, Pct(full_ms, 0.9), u50 / f50);
  std::printf("runtime overlapped (the same, CNI during CreateContainer) p50 %.1f ms p90 %.1f ms ratio %.2fx floor\n",
              o50, Pct(overlap_ms, 0.9), o50 / f50);
  return 0;
}
