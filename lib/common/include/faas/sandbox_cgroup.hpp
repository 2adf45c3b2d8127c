// Per-sandbox cgroups: memory, pids and cpu limits under faas/ID, on cgroup
// v2 where the unified hierarchy has the controller, on v1
// (/sys/fs/cgroup/<controller>/faas/ID) otherwise.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "faas/fd.hpp"
#include "faas/result.hpp"

namespace faas {

struct CgroupLimits {
  std::uint64_t memory_bytes = 0;  // 0: no limit
  std::uint64_t pids = 0;          // 0: no limit
  std::uint64_t cpu_weight = 0;    // 1..10000 (v2 cpu.weight; v1 shares = weight*1024/100); 0: default
};

class SandboxCgroup {
 public:
  // Creates faas/ID in every available controller among memory, pids, cpu
  // and writes the limits. Exit::unavailable when none is available.
  static Result<SandboxCgroup> create(const std::string& id, const CgroupLimits& limits);
  // The directories of an existing sandbox's cgroups (those that exist).
  static SandboxCgroup find(const std::string& id);

  // Moves pid into every directory.
  Result<void> attach(pid_t pid) const;
  // Whether a controller is on the unified hierarchy: the sandbox is then
  // cloned into its cgroup, which must exist first (clone_fd).
  static bool uses_v2();
  // The roots of the v1 hierarchies that hold a controller, opened (O_PATH)
  // before a sandbox's init leaves the host's mounts: with them it joins
  // faas/ID (attach_self_at) after pivot_root, and faas/ID need not exist
  // yet when they are opened.
  static Result<std::vector<Fd>> open_v1_roots();
  // Moves the calling thread (a freshly cloned, single-threaded sandbox
  // init) into faas/ID of every v1 hierarchy, through roots from
  // open_v1_roots, by writing 0 to its `tasks`. Moving oneself takes no
  // global lock; writing a pid to cgroup.procs or tasks (attach) takes
  // cgroup_threadgroup_rwsem for writing, which waits for an RCU grace
  // period: 10-20 ms per sandbox. The v2 directory is joined at clone time
  // instead (clone_fd, CLONE_INTO_CGROUP).
  static Result<void> attach_self_at(const std::vector<Fd>& roots, const std::string& id);
  // The v2 directory opened for clone3's CLONE_INTO_CGROUP; an empty Fd
  // when every controller is on v1.
  Result<Fd> clone_fd() const;
  // Number of processes in the cgroup (pids controller, else the first dir).
  Result<std::size_t> procs() const;
  // rmdir every directory, retrying while the last processes exit (up to
  // timeout_ms); missing directories are fine.
  Result<void> remove(int timeout_ms = 2000) const;

  const std::string& rel() const { return rel_; }  // "faas/ID"
  const std::vector<std::string>& dirs() const { return dirs_; }

 private:
  std::string rel_;
  std::vector<std::string> dirs_;
  std::string v2_dir_;  // the one of dirs_ on the unified hierarchy, if any
};

}  // namespace faas
