#include "faas/mount_guard.hpp"

#include <sys/mount.h>

#include <cerrno>

#include "faas/log.hpp"
#include "faas/result.hpp"

namespace faas {

namespace {

// MNT_DETACH: a process still working inside (a handler's cwd, an open
// file) must not make cleanup fail; the mount goes once the last user does.
void detach(const std::string& target) {
  if (target.empty()) return;
  if (::umount2(target.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    // EINVAL/ENOENT: not a mount point any more, or gone; that is the goal.
    int err = errno;
    log_warn(Error(Exit::os, "unmount `" + target + "`", err).what());
  }
}

}  // namespace

MountGuard& MountGuard::operator=(MountGuard&& o) noexcept {
  if (this != &o) {
    detach(target_);
    target_ = std::exchange(o.target_, {});
  }
  return *this;
}

MountGuard::~MountGuard() { detach(target_); }

}  // namespace faas
