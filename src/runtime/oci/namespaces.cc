#include "runtime/oci/namespaces.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "runtime/oci/sys.h"

namespace tug::runtime {

namespace {
const char* kKinds[] = {"netns", "ipcns", "utsns"};
}

Result<PinnedNamespaces> PinNamespaces(const std::string& ns_root, const std::string& id,
                                       bool net, bool ipc, bool uts,
                                       const std::string& hostname) {
  PinnedNamespaces out;
  int flags = 0;
  if (net) { flags |= CLONE_NEWNET; out.net = ns_root + "/netns/" + id; }
  if (ipc) { flags |= CLONE_NEWIPC; out.ipc = ns_root + "/ipcns/" + id; }
  if (uts) { flags |= CLONE_NEWUTS; out.uts = ns_root + "/utsns/" + id; }
  if (flags == 0) return out;
  for (const auto* p : {&out.net, &out.ipc, &out.uts}) {
    if (p->empty()) continue;
    RETURN_IF_ERROR(MakeDirs(p->substr(0, p->rfind('/')), 0711));
    UniqueFd f(::open(p->c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (!f) {
      Status s = InternalError(ErrnoMessage("create " + *p));
      UnpinNamespaces(ns_root, id).IgnoreError();
      return s;
    }
  }
  // unshare() changes only the calling thread's namespaces, so a throwaway thread does it and
  // bind-mounts its own namespace files before exiting.
  Status result;
  std::thread t([&] {
    if (unshare(flags) != 0) {
      result = InternalError(ErrnoMessage("unshare"));
      return;
    }
    if (uts && !hostname.empty() && sethostname(hostname.data(), hostname.size()) != 0) {
      result = InternalError(ErrnoMessage("sethostname"));
      return;
    }
    std::string self = "/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/ns/";
    struct { const std::string& target; const char* name; } binds[] = {
        {out.net, "net"}, {out.ipc, "ipc"}, {out.uts, "uts"}};
    for (const auto& b : binds) {
      if (b.target.empty()) continue;
      std::string src = self + b.name;
      if (mount(src.c_str(), b.target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        result = InternalError(ErrnoMessage("bind " + src + " " + b.target));
        return;
      }
    }
  });
  t.join();
  if (!result.ok()) {
    UnpinNamespaces(ns_root, id).IgnoreError();
    return result;
  }
  return out;
}

Status UnpinNamespaces(const std::string& ns_root, const std::string& id) {
  Status first;
  for (const char* kind : kKinds) {
    std::string p = ns_root + "/" + kind + "/" + id;
    if (!PathExists(p)) continue;
    Status s = Unmount(p);
    if (s.ok() && ::unlink(p.c_str()) != 0 && errno != ENOENT)
      s = InternalError(ErrnoMessage("unlink " + p));
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

}  // namespace tug::runtime
