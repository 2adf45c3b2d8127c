#include "faas/sandbox_confine.hpp"

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <iterator>
#include <string>

namespace faas {

namespace {

std::uint64_t kept_caps() {
  std::uint64_t keep = 0;
  for (int c : kSandboxKeptCaps) keep |= std::uint64_t{1} << c;
  return keep;
}

Result<void> drop_capabilities() {
  const std::uint64_t keep = kept_caps();
  FAAS_TRY(drop_sandbox_bounding_set());
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return sys_error("clear ambient capabilities");
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int i = 0; i < 2; ++i) {
    auto bits = static_cast<std::uint32_t>(keep >> (32 * i));
    data[i].effective = data[i].permitted = data[i].inheritable = bits;
  }
  if (::syscall(SYS_capset, &hdr, data) != 0) return sys_error("capset");
  return {};
}

// The filter's BPF program, compiled by libseccomp when faaskit was built
// (gen/seccomp_filter.cpp).
constexpr sock_filter kFilter[] = {
#include "faas/seccomp_filter.inc"
};
static_assert(std::size(kFilter) <= BPF_MAXINSNS);

Result<void> load_seccomp() {
  sock_fprog prog{static_cast<unsigned short>(std::size(kFilter)), const_cast<sock_filter*>(kFilter)};
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) return sys_error("seccomp: load the filter");
  return {};
}

}  // namespace

Result<void> drop_sandbox_bounding_set() {
  const std::uint64_t keep = kept_caps();
  for (int cap = 0; cap < 64; ++cap) {
    if (keep & (std::uint64_t{1} << cap)) continue;
    // Reading is cheap; a drop makes new credentials even when the
    // capability is gone already.
    int in = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in < 0 && errno == EINVAL) break;  // past the kernel's last capability
    if (in == 0) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
      return sys_error("drop capability " + std::to_string(cap) + " from the bounding set");
  }
  return {};
}

Result<void> confine_sandbox_process() {
  FAAS_TRY(drop_capabilities());
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_error("prctl(PR_SET_NO_NEW_PRIVS)");
  FAAS_TRY(load_seccomp());
  return {};
}

}  // namespace faas
