// Test fixture: a busybox root filesystem (static /bin/busybox from Debian's busybox-static plus
// one symlink per applet, /etc/passwd and /etc/group) usable as a plain overlay lowerdir while
// the image store is not involved. Not thread-safe; one per test.
#pragma once

#include <string>

#include "base/status.h"

namespace tug::runtime::testing {

// Creates <dir>/bin/busybox, applet links in /bin, and minimal /etc files.
Status MakeBusyboxRootfs(const std::string& dir);

}  // namespace tug::runtime::testing
