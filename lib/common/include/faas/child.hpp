// Child: a process tracked by a pidfd. Unless waited for or released, the
// destructor kills it (SIGKILL) and reaps it, so no process outlives a
// failure.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "faas/fd.hpp"
#include "faas/result.hpp"

namespace faas {

struct SpawnOptions {
  // The child's environment is environ (when inherit_env) with these
  // "NAME=value" entries set over it; a bare "NAME" removes that variable.
  // inherit_env = false: only these entries.
  std::vector<std::string> env;
  bool inherit_env = true;
  // Fds the child gets: {parent fd, child fd}; every other fd is closed
  // except 0, 1, 2 (unless redirected here). Child fd numbers may collide
  // with parent fd numbers (even swap); each child fd appears at most once.
  std::vector<std::pair<int, int>> fds;
  std::string cwd;  // empty: the parent's
  // Extra namespaces: CLONE_NEWPID | CLONE_NEWNS | ... (namespace flags
  // only; anything else is Exit::software).
  unsigned long clone_flags = 0;
};

class Child {
 public:
  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  ~Child();

  // clone3(CLONE_PIDFD | flags) then execvp(argv[0]) (PATH searched as the
  // parent sees it). Exec failure is reported by the child through a CLOEXEC
  // pipe: Exit::not_found (127) or Exit::cant_exec (126) as Error status,
  // naming the command; the failed child is reaped. Where clone3 is missing
  // (ENOSYS: an old kernel or a seccomp filter) fork + pidfd_open does the
  // same, but then clone_flags are Exit::unavailable. Signal dispositions
  // and mask are reset to defaults in the child.
  // Needs Linux 5.3 (pidfds).
  static Result<Child> spawn(const std::vector<std::string>& argv,
                             const SpawnOptions& opts = {});

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // Waits for exit; returns the shell-style status: code, or 128+signal.
  // Once reaped, later calls return the same status.
  Result<int> wait();
  // Waits up to timeout_ms (< 0: no limit); std::nullopt when still running.
  Result<std::optional<int>> wait_for(int timeout_ms);
  Result<void> kill(int sig);
  // Forget the process: the destructor no longer kills it.
  pid_t release();

 private:
  void kill_and_reap() noexcept;

  pid_t pid_ = -1;
  Fd pidfd_;
  bool done_ = true;
  int status_ = -1;  // shell status once reaped
};

// A wait status as a shell does: exit code, or 128 + signal number.
int shell_status(int wait_status);

namespace detail {
// Makes spawn() take its fork + pidfd_open path as if clone3 were missing,
// so tests cover it on kernels that have clone3.
void force_spawn_fallback(bool on);
}  // namespace detail

}  // namespace faas
