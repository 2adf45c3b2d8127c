// MountGuard: unmounts (umount2 MNT_DETACH) at scope exit unless released.
#pragma once

#include <string>
#include <utility>

namespace faas {

class MountGuard {
 public:
  MountGuard() = default;
  explicit MountGuard(std::string target) : target_(std::move(target)) {}
  MountGuard(MountGuard&& o) noexcept : target_(std::exchange(o.target_, {})) {}
  MountGuard& operator=(MountGuard&& o) noexcept;
  MountGuard(const MountGuard&) = delete;
  ~MountGuard();

  const std::string& target() const { return target_; }
  void release() { target_.clear(); }

 private:
  std::string target_;
};

}  // namespace faas
