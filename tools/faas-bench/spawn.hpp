// Spawning the process a benchmark iteration times, with as little harness
// cost as the kernel allows: one clone(CLONE_VM | CLONE_VFORK) straight into
// execve (what posix_spawn does), a pidfd from the same call, and optionally
// a new pid namespace so the command runs as PID 1.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "faas/fd.hpp"
#include "faas/result.hpp"

namespace faas::bench {

// argv and envp as execve wants them, built once per variant and reused by
// every iteration.
class ExecArgs {
 public:
  ExecArgs() = default;
  ExecArgs(std::vector<std::string> argv, std::vector<std::string> env);
  ExecArgs(const ExecArgs&) = delete;
  ExecArgs& operator=(const ExecArgs&) = delete;
  ExecArgs(ExecArgs&& o) noexcept { *this = std::move(o); }
  ExecArgs& operator=(ExecArgs&& o) noexcept;

  const char* path() const { return argv_.empty() ? "" : argv_.front().c_str(); }
  char* const* argv() const { return argv_ptrs_.data(); }
  char* const* envp() const { return env_ptrs_.data(); }
  const std::vector<std::string>& args() const { return argv_; }

 private:
  void index();

  std::vector<std::string> argv_;
  std::vector<std::string> env_;
  std::vector<char*> argv_ptrs_;
  std::vector<char*> env_ptrs_;
};

// The current environment without the variables a benchmark sets itself,
// plus `extra` ("NAME=value").
std::vector<std::string> child_environment(const std::vector<std::string>& extra);

struct SpawnFds {
  int in = -1;     // becomes fd 0 (required)
  int out = -1;    // becomes fd 1 (required)
  int err = 2;     // becomes fd 2
  int extra = -1;  // becomes fd 3 when >= 0
};

// A spawned child. Destroying one that was not reaped kills it (SIGKILL
// through its pidfd) and reaps it.
class Process {
 public:
  Process() = default;
  Process(pid_t pid, Fd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  ~Process() { kill_and_reap(); }

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }  // readable once the child exited
  bool running() const { return pid_ > 0; }
  // Waits at most timeout_ms for the child to exit and reaps it. Returns its
  // wait status (as waitpid(2) gives it); Exit::temp on a timeout (the child
  // is then left running for the caller to kill).
  Result<int> wait(int timeout_ms);
  void kill_and_reap();

 private:
  pid_t pid_ = -1;
  Fd pidfd_;
};

// Marks every inherited descriptor from 3 up close-on-exec, so that a child
// gets exactly the descriptors SpawnFds names (call once at start).
void cloexec_inherited_fds();

// Spawns args with fds; with new_pidns the child is PID 1 of a new pid
// namespace. An exec failure is returned as an error (ENOENT: Exit::unavailable).
Result<Process> spawn(const ExecArgs& args, const SpawnFds& fds, bool new_pidns);

// "exited 3", "killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

// Quotes argv for a shell, the way the command can be pasted to rerun it.
std::string shell_join(const std::vector<std::string>& argv);

}  // namespace faas::bench
