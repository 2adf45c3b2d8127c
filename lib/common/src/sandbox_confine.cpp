#include "faas/sandbox_confine.hpp"

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "faas/scope_exit.hpp"

namespace faas {

const std::vector<const char*>& sandbox_denied_syscalls() {
  static const std::vector<const char*> names{
      "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount",
      "fsconfig", "fspick", "kexec_load", "kexec_file_load", "init_module", "finit_module",
      "delete_module", "bpf", "perf_event_open", "ptrace", "process_vm_readv",
      "process_vm_writev", "keyctl", "add_key", "request_key", "reboot", "unshare", "setns",
      "swapon", "swapoff", "acct", "quotactl", "open_by_handle_at", "userfaultfd"};
  return names;
}

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

// The filter as libseccomp builds it (the caller releases it).
Result<scmp_filter_ctx> build_filter() {
  scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return Error(Exit::os, "seccomp_init failed");
  // A binary tree of the denied numbers rather than a list: the kernel runs
  // the filter for every system call number when it loads it (to cache
  // the always-allowed ones), 50 -> 30 us here.
  if (int rc = ::seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0) {
    ::seccomp_release(ctx);
    return sys_error(-rc, "seccomp: ask for a binary tree");
  }
  for (const char* name : sandbox_denied_syscalls()) {
    int nr = ::seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp: nothing to deny
    int rc = ::seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc < 0) {
      ::seccomp_release(ctx);
      return sys_error(-rc, std::string("seccomp: deny ") + name);
    }
  }
  return ctx;
}

// The BPF program of the filter, compiled once per process by
// prepare_sandbox_confinement (empty before).
std::vector<sock_filter>& compiled_filter() {
  static std::vector<sock_filter> prog;
  return prog;
}

Result<void> load_seccomp() {
  const auto& prog = compiled_filter();
  if (!prog.empty()) {
    sock_fprog fprog{static_cast<unsigned short>(prog.size()), const_cast<sock_filter*>(prog.data())};
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0)
      return sys_error("seccomp: load the filter");
    return {};
  }
  FAAS_TRY_ASSIGN(scmp_filter_ctx ctx, build_filter());
  ScopeExit release([&] { ::seccomp_release(ctx); });
  int rc = ::seccomp_load(ctx);
  if (rc < 0) return sys_error(-rc, "seccomp: load the filter");
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

Result<void> prepare_sandbox_confinement() {
  auto& prog = compiled_filter();
  if (!prog.empty()) return {};
  FAAS_TRY_ASSIGN(scmp_filter_ctx ctx, build_filter());
  ScopeExit release([&] { ::seccomp_release(ctx); });
  int fd = ::memfd_create("faas-seccomp", MFD_CLOEXEC);
  if (fd < 0) return sys_error("memfd_create");
  ScopeExit close_fd([&] { ::close(fd); });
  int rc = ::seccomp_export_bpf(ctx, fd);
  if (rc < 0) return sys_error(-rc, "seccomp: compile the filter");
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0 ||
      size > static_cast<off_t>(BPF_MAXINSNS * sizeof(sock_filter)))
    return Error(Exit::software, "seccomp: the compiled filter has an odd size");
  std::vector<sock_filter> out(static_cast<std::size_t>(size) / sizeof(sock_filter));
  if (::pread(fd, out.data(), static_cast<std::size_t>(size), 0) != size) return sys_error("seccomp: read the filter");
  prog = std::move(out);
  return {};
}

Result<void> confine_sandbox_process() {
  FAAS_TRY(drop_capabilities());
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_error("prctl(PR_SET_NO_NEW_PRIVS)");
  FAAS_TRY(load_seccomp());
  return {};
}

}  // namespace faas
