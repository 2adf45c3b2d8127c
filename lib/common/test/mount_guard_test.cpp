#include "faas/mount_guard.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_util.hpp"

namespace faas {
namespace {

namespace fs = std::filesystem;

constexpr int kSkip = 77;

bool is_mount_point(const fs::path& p) {
  struct stat self {}, parent {};
  if (::stat(p.c_str(), &self) != 0 || ::stat(p.parent_path().c_str(), &parent) != 0) return false;
  return self.st_dev != parent.st_dev;
}

// Runs fn in a child process with a private mount namespace, so that no
// mount made by the test is ever visible outside (and all vanish with it).
// Returns fn's status, kSkip when mount namespaces are not available.
template <class F>
int in_mount_ns(F fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0) ::_exit(kSkip);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(kSkip);
    ::_exit(fn());
  }
  return test::wait_pid(pid);
}

int mount_tmpfs(const fs::path& p) {
  fs::create_directory(p);
  return ::mount("faas-test", p.c_str(), "tmpfs", 0, "size=64k");
}

TEST(MountGuard, UnmountsAtScopeExit) {
  test::TempDir tmp;
  const fs::path m = tmp / "m";
  int status = in_mount_ns([&] {
    if (mount_tmpfs(m) != 0) return kSkip;
    if (!is_mount_point(m)) return 2;
    {
      MountGuard g(m.string());
      if (g.target() != m.string()) return 3;
    }
    return is_mount_point(m) ? 4 : 0;
  });
  if (status == kSkip) GTEST_SKIP() << "needs mount namespaces and tmpfs (root)";
  EXPECT_EQ(status, 0);
}

TEST(MountGuard, ReleaseKeepsTheMount) {
  test::TempDir tmp;
  const fs::path m = tmp / "m";
  int status = in_mount_ns([&] {
    if (mount_tmpfs(m) != 0) return kSkip;
    {
      MountGuard g(m.string());
      g.release();
      if (!g.target().empty()) return 2;
    }
    return is_mount_point(m) ? 0 : 3;
  });
  if (status == kSkip) GTEST_SKIP() << "needs mount namespaces and tmpfs (root)";
  EXPECT_EQ(status, 0);
}

TEST(MountGuard, MoveTransfersOwnership) {
  test::TempDir tmp;
  const fs::path a = tmp / "a";
  const fs::path b = tmp / "b";
  int status = in_mount_ns([&] {
    if (mount_tmpfs(a) != 0 || mount_tmpfs(b) != 0) return kSkip;
    {
      MountGuard ga(a.string());
      MountGuard gb(b.string());
      MountGuard moved(std::move(gb));
      if (!gb.target().empty()) return 2;
      ga = std::move(moved);  // a is unmounted now, b is ga's
      if (is_mount_point(a)) return 3;
      if (!is_mount_point(b)) return 4;
      if (ga.target() != b.string()) return 5;
    }
    return is_mount_point(b) ? 6 : 0;
  });
  if (status == kSkip) GTEST_SKIP() << "needs mount namespaces and tmpfs (root)";
  EXPECT_EQ(status, 0);
}

TEST(MountGuard, AlreadyGoneIsQuiet) {
  test::TempDir tmp;
  // Not a mount point: the destructor must neither fail nor throw.
  { MountGuard g((tmp / "never-mounted").string()); }
  { MountGuard g; }
  SUCCEED();
}

}  // namespace
}  // namespace faas
