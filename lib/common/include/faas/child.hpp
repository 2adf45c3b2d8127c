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
  std::vector<std::string> env;  // empty: inherit environ
  bool inherit_env = true;       // with env: add to environ instead of replacing
  // Fds the child gets: {parent fd, child fd}; every other fd is closed
  // except 0, 1, 2 (unless redirected here).
  std::vector<std::pair<int, int>> fds;
  std::string cwd;
  unsigned long clone_flags = 0;  // extra namespaces: CLONE_NEWPID | ...
};

class Child {
 public:
  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  ~Child();

  // clone3(CLONE_PIDFD | flags) then execvp(argv[0]). Exec failure is
  // reported by the child through a CLOEXEC pipe: 127 (not found) or
  // 126 (not executable) as Error status, naming the command.
  static Result<Child> spawn(const std::vector<std::string>& argv,
                             const SpawnOptions& opts = {});

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // Waits for exit; returns the shell-style status: code, or 128+signal.
  Result<int> wait();
  // Waits up to timeout_ms; std::nullopt when still running.
  Result<std::optional<int>> wait_for(int timeout_ms);
  Result<void> kill(int sig);
  // Forget the process: the destructor no longer kills it.
  pid_t release();

 private:
  pid_t pid_ = -1;
  Fd pidfd_;
  bool done_ = true;
};

// A wait status as a shell does: exit code, or 128 + signal number.
int shell_status(int wait_status);

}  // namespace faas
