#include "version.h"

#ifndef TUG_GIT_COMMIT
#define TUG_GIT_COMMIT "unknown"
#endif
#ifndef TUG_GIT_TREE_STATE
#define TUG_GIT_TREE_STATE "clean"
#endif
#ifndef TUG_BUILD_DATE
#define TUG_BUILD_DATE "1970-01-01T00:00:00Z"
#endif

namespace tug::cmd {

apiserver::server::VersionInfo BuildVersion() {
  apiserver::server::VersionInfo v;
  v.major = "1";
  v.minor = "33";
  v.git_version = "v1.33.0+tug";
  v.git_commit = TUG_GIT_COMMIT;
  v.git_tree_state = TUG_GIT_TREE_STATE;
  v.build_date = TUG_BUILD_DATE;
  v.go_version = "n/a";
  v.compiler = "gcc";
  v.platform = "linux/amd64";
  return v;
}

}  // namespace tug::cmd
