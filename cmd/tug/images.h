// `tug images ...`: the node's image store from the command line (works whether or not the
// agent runs; the store serializes itself with a file lock).
//
//   tug images import [--data-dir D] [--base-name REPO] FILE...   docker save / OCI archives
//   tug images pull   [--data-dir D] [--platform OS/ARCH[/VARIANT]] [--creds USER:PASS] REF
//   tug images ls     [--data-dir D] [-q]
//   tug images rm     [--data-dir D] REF|ID...
#pragma once

#include <string>
#include <vector>

namespace tug::cmd {

// Returns the process exit code (0 ok, 1 failure, 2 usage error).
int RunImages(const std::vector<std::string>& args);

}  // namespace tug::cmd
