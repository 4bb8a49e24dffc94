// tools/test-images.sh end to end: builds the busybox images, starts the local registry,
// writes registries.yaml, and a store pulls `busybox` through the docker.io mirror; the
// --archive tarball imports. The registry is stopped at the end.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/image/image_store.h"
#include "runtime/image/testing/registry_fixture.h"

namespace tug::runtime::image {
namespace {

namespace fs = std::filesystem;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string ReadAll(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(TestImagesToolTest, BuildsPushesAndConfiguresTheMirror) {
  for (const char* bin : {"/usr/bin/umoci", "/usr/bin/skopeo", "/bin/busybox"})
    if (::access(bin, X_OK) != 0) GTEST_SKIP() << bin << " is not installed (tools/deps.sh installs it)";
  if (testing::RegistryFixture::Binary().empty()) GTEST_SKIP() << "docker-registry is not installed";
  if (::geteuid() != 0) GTEST_SKIP() << "layer unpacking needs root";
  char tmpl[] = "/tmp/tug-test-images-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string tools = std::string(TUG_SOURCE_DIR) + "/tools";
  std::string port = std::to_string(FreePort());
  std::string cmd = tools + "/test-images.sh --dir " + dir + "/reg --port " + port + " --data-dir " + dir +
                    "/node --archive " + dir + "/busybox.tar > " + dir + "/out.log 2>&1";
  int rc = std::system(cmd.c_str());
  // Run twice: the second run must reuse everything and still succeed.
  int rc2 = rc == 0 ? std::system(cmd.c_str()) : rc;
  std::string log = ReadAll(dir + "/out.log");
  EXPECT_EQ(rc, 0) << log;
  EXPECT_EQ(rc2, 0) << log;
  EXPECT_NE(log.find("up to date"), std::string::npos) << log;

  if (rc == 0) {
    EXPECT_NE(ReadAll(dir + "/node/registries.yaml").find("http://127.0.0.1:" + port), std::string::npos);
    auto store = OpenImageStore(dir + "/node");
    ASSERT_TRUE(store.ok());
    for (const char* ref : {"busybox", "busybox:1.36"}) {
      auto info = (*store)->Pull(ref);
      ASSERT_TRUE(info.ok()) << ref << ": " << info.status().ToString();
    }
    auto dirs = (*store)->LayerDirs("busybox");
    ASSERT_TRUE(dirs.ok());
    ASSERT_EQ(dirs->size(), 1u);
    const std::string& root = dirs->front();
    EXPECT_TRUE(fs::is_regular_file(root + "/bin/busybox"));
    for (const char* applet : {"bin/sh", "bin/ls", "bin/sleep", "bin/cat", "usr/sbin/httpd", "usr/bin/wget", "usr/bin/nc"})
      EXPECT_TRUE(fs::is_symlink(root + "/" + applet)) << applet;
    EXPECT_NE(ReadAll(root + "/etc/passwd").find("nobody:x:65534:65534"), std::string::npos);
    EXPECT_NE(ReadAll(root + "/etc/group").find("root:x:0:"), std::string::npos);
    auto cfg = (*store)->Config("busybox");
    ASSERT_TRUE(cfg.ok());
    EXPECT_EQ(cfg->cmd, std::vector<std::string>{"sh"});

    // The air-gapped path: import the archive into another node.
    auto other = OpenImageStore(dir + "/node2");
    ASSERT_TRUE(other.ok());
    auto imported = (*other)->Import(dir + "/busybox.tar");
    ASSERT_TRUE(imported.ok()) << imported.status().ToString();
    EXPECT_TRUE((*other)->Get("busybox:latest").ok());
  }
  std::system((tools + "/registry.sh stop --dir " + dir + "/reg/registry > /dev/null 2>&1").c_str());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tug::runtime::image
