// The system calls a sandbox's seccomp filter denies (EPERM), by name:
// shared by the build-time compiler of the filter (gen/seccomp_filter.cpp)
// and the tests. No other dependency, so the compiler builds alone.
#pragma once

namespace faas {

inline constexpr const char* kSandboxDeniedSyscalls[] = {
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount",
    "fsconfig", "fspick", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "bpf", "perf_event_open", "ptrace", "process_vm_readv",
    "process_vm_writev", "keyctl", "add_key", "request_key", "reboot", "unshare", "setns",
    "swapon", "swapoff", "acct", "quotactl", "open_by_handle_at", "userfaultfd"};

}  // namespace faas
