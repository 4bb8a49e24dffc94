#include "runtime/oci/testing/rootfs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "runtime/oci/sys.h"

namespace tug::runtime::testing {

Status MakeBusyboxRootfs(const std::string& dir) {
  for (const char* d : {"bin", "etc", "tmp", "proc", "sys", "dev", "root", "home/app"})
    RETURN_IF_ERROR(MakeDirs(dir + "/" + d));
  ::chmod((dir + "/tmp").c_str(), 01777);
  ASSIGN_OR_RETURN(auto bin, ReadFile("/bin/busybox"));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/bin/busybox", bin, 0755));
  ASSIGN_OR_RETURN(auto list, RunCommand({"/bin/busybox", "--list"}));
  std::istringstream in(list.out);
  std::string applet;
  while (in >> applet) {
    if (applet == "busybox") continue;
    std::string link = dir + "/bin/" + applet;
    if (symlink("busybox", link.c_str()) != 0 && errno != EEXIST)
      return InternalError(ErrnoMessage("symlink " + link));
  }
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/etc/passwd",
                                  "root:x:0:0:root:/root:/bin/sh\n"
                                  "app:x:1000:1000:app:/home/app:/bin/sh\n"
                                  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/etc/group",
                                  "root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n"));
  return Status::Ok();
}

}  // namespace tug::runtime::testing
