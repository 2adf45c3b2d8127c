// The native sandbox: one process tree in its own mount, pid, ipc, uts,
// cgroup and network namespaces, tracked by a pidfd, whose PID 1 is
// faas-init serving invocations on a control socket.
//
// Layout of a sandbox on the host (run dir R, sandbox id I):
//   R/sandboxes/I/ctl/control.sock  the control socket, bound and listening
//                               before the clone, faas-init's fd 3
//                               (--listen-fd); not visible inside
//   R/sandboxes/I/invocations/  a shared bind mount on the host, a slave bind
//                               at /run/faas-invocations inside: what the host
//                               mounts there later (a per-invocation fork)
//                               appears in the sandbox
//   R/sandboxes/I/init.log      faas-init's stdout and stderr
// Inside: the template rootfs read-only as /, a tmpfs /dev with null, zero,
// full, random, urandom and tty bound from the host, devpts and a tmpfs
// /dev/shm, /proc with kcore, keys, sched_debug, timer_list masked and sys,
// sysrq-trigger, irq, bus read-only, a tmpfs /run (and /tmp when the rootfs
// has one), the host's faas-init bound read-only at /run/faas-init.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "faas/fd.hpp"
#include "faas/result.hpp"
#include "faas/sandbox_cgroup.hpp"

namespace faas {

struct SandboxSpec {
  std::string id;                     // 12 hex characters (new_id())
  std::filesystem::path rootfs;       // absolute, a directory with dev/ and proc/
  std::vector<std::string> cmd;       // the handler: CMD ARGS...
  std::vector<std::string> env;       // NAME=value for faas-init and the handler
  std::filesystem::path init_binary;  // the host's (static) faas-init
  std::filesystem::path run_dir;      // R above
  std::string netns_path;             // join this netns (/run/netns/X); empty: a fresh one
  CgroupLimits limits;
  int ready_timeout_ms = 5000;
  // Read-only binds: host path (absolute) onto a path that exists in the
  // rootfs (absolute, resolved inside the root); nosuid, nodev, not recursive.
  std::vector<std::pair<std::filesystem::path, std::string>> binds_ro;
  bool ksm = false;                   // prctl(PR_SET_MEMORY_MERGE): inherited by every process
  // A user namespace mapping 0..userns_count-1 inside to userns_uid.. on the
  // host (uids and gids alike); 0: none. The rootfs and the binds are
  // idmapped mounts so that the host's root-owned files are root's inside.
  std::uint32_t userns_uid = 0, userns_count = 0;
};

struct SandboxProcess {
  pid_t pid = 0;                 // faas-init, as the host sees it
  std::uint64_t pid_start = 0;   // its start time (ticks), see holder.hpp
  std::string cgroup;            // "faas/ID"
  std::filesystem::path control; // the control socket, host path
  std::filesystem::path dir;     // R/sandboxes/ID
};

// Paths of a sandbox from the run dir and its id (never from a record).
std::filesystem::path sandbox_dir(const std::filesystem::path& run_dir, const std::string& id);
std::filesystem::path sandbox_control(const std::filesystem::path& run_dir, const std::string& id);

// Starts a sandbox and returns once its faas-init is exec'd (the sandbox's
// set-up succeeded); its control socket already listens, so the caller may
// connect and send at once. A faas-init that dies after the exec closes the
// socket: connections are refused or end, as for any sandbox that died
// (a claim checks the pidfd, `reap` finds it). on_cloned runs in
// the parent once the child exists but before it may proceed (the caller
// records the pid there, so that a crash from then on leaves a row `reap`
// can clean). On failure everything made is removed again.
Result<SandboxProcess> spawn_sandbox(const SandboxSpec& spec,
                                     const std::function<Result<void>(pid_t, std::uint64_t)>& on_cloned);

// Kills the sandbox's init (when pid/pid_start still name it), waits for its
// exit, removes its cgroups, unmounts the invocations bind on the host and
// removes its directory. Idempotent: what is gone already is skipped.
Result<void> destroy_sandbox(const std::filesystem::path& run_dir, const std::string& id,
                             pid_t pid, std::uint64_t pid_start);

// Mounts an invocation's root (a fork's merged directory) at target, a
// directory under the sandbox's shared invocations mount, as a copy of its
// own (so nothing mounted on it reaches the fork on the host), then the
// template's read-only binds on it, idmapped through userns_fd when given
// (>= 0), so the handler chrooted there sees what the sandbox's root does.
Result<void> mount_invocation_root(const std::filesystem::path& merged, const std::filesystem::path& target,
                                   const std::vector<std::pair<std::filesystem::path, std::string>>& binds_ro,
                                   int userns_fd);

// true when that very faas-init (pid and start time) is alive: checked
// through a pidfd opened before reading the start time.
bool sandbox_alive(pid_t pid, std::uint64_t pid_start);

}  // namespace faas
