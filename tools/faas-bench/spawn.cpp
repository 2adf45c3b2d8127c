#include "spawn.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

extern char** environ;

namespace faas::bench {

ExecArgs::ExecArgs(std::vector<std::string> argv, std::vector<std::string> env)
    : argv_(std::move(argv)), env_(std::move(env)) {
  index();
}

ExecArgs& ExecArgs::operator=(ExecArgs&& o) noexcept {
  argv_ = std::move(o.argv_);
  env_ = std::move(o.env_);
  index();  // the pointers must point into this object's strings
  o.argv_ptrs_.clear();
  o.env_ptrs_.clear();
  return *this;
}

void ExecArgs::index() {
  argv_ptrs_.clear();
  env_ptrs_.clear();
  for (auto& a : argv_) argv_ptrs_.push_back(a.data());
  argv_ptrs_.push_back(nullptr);
  for (auto& e : env_) env_ptrs_.push_back(e.data());
  env_ptrs_.push_back(nullptr);
}

std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("FAAS_CLIENT_FD=") || kv.starts_with("FAAS_CONTROL_SOCK=")) continue;
    env.emplace_back(kv);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

Process::Process(Process&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), pidfd_(std::move(o.pidfd_)) {}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    kill_and_reap();
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::move(o.pidfd_);
  }
  return *this;
}

Result<int> Process::wait(int timeout_ms) {
  if (pid_ <= 0) return Error(Exit::software, "wait: no child");
  pollfd p{pidfd_.get(), POLLIN, 0};
  for (;;) {
    int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) break;
    if (n == 0)
      return Error(Exit::temp, "did not exit within " + std::to_string(timeout_ms) + " ms");
    if (errno != EINTR) return sys_error("poll pidfd", Exit::os);
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) return sys_error("waitpid", Exit::os);
  }
  pid_ = -1;
  pidfd_.reset();
  return status;
}

void Process::kill_and_reap() {
  if (pid_ <= 0) return;
  // The pid is our unreaped child, so it cannot have been recycled; the
  // pidfd makes that explicit.
  if (::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0) < 0)
    ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  pidfd_.reset();
}

void cloexec_inherited_fds() { ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC); }

namespace {

struct ChildArgs {
  const ExecArgs* args;
  int src[4];
  int count;
  const sigset_t* mask;
  int err;  // written by the child (shared memory) when exec fails
};

// Runs in the child, on a private stack, sharing the parent's memory until
// execve: only async-signal-safe system calls, no allocation, no return.
int child_main(void* p) {
  auto* a = static_cast<ChildArgs*>(p);
  // A source that sits on a lower target slot is moved out of the way first.
  for (int i = 0; i < a->count; ++i) {
    int s = a->src[i];
    if (s >= 0 && s < a->count && s != i) {
      a->src[i] = ::fcntl(s, F_DUPFD_CLOEXEC, a->count);
      if (a->src[i] < 0) goto fail;
    }
  }
  for (int i = 0; i < a->count; ++i) {
    int s = a->src[i];
    if (s == i) {
      if (::fcntl(i, F_SETFD, 0) < 0) goto fail;
    } else if (::dup2(s, i) < 0) {
      goto fail;
    }
  }
  ::sigprocmask(SIG_SETMASK, a->mask, nullptr);
  ::execve(a->args->path(), a->args->argv(), a->args->envp());
fail:
  a->err = errno != 0 ? errno : EINVAL;
  ::_exit(127);
}

}  // namespace

Result<Process> spawn(const ExecArgs& args, const SpawnFds& fds, bool new_pidns) {
  // The parent is suspended until the child execs (CLONE_VFORK), so one stack
  // serves every spawn of this single-threaded program.
  alignas(64) static char stack[64 * 1024];
  if (fds.in < 0 || fds.out < 0 || fds.err < 0)
    return Error(Exit::software, "spawn: stdio descriptors missing");
  ChildArgs ca{&args, {fds.in, fds.out, fds.err, fds.extra}, fds.extra >= 0 ? 4 : 3, nullptr, 0};
  sigset_t all, old;
  ::sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, &old);  // no handler may run on the child's stack
  ca.mask = &old;
  int pidfd = -1;
  int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD | (new_pidns ? CLONE_NEWPID : 0);
  pid_t pid = ::clone(child_main, stack + sizeof stack, flags, &ca, &pidfd);
  int saved = errno;
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0)
    return sys_error(saved, new_pidns ? "clone with a new pid namespace" : "clone", Exit::os);
  Process proc(pid, Fd(pidfd));
  if (ca.err != 0) {
    (void)proc.wait(-1);
    std::string what = "exec `" + std::string(args.path()) + "`";
    Exit st = ca.err == ENOENT ? Exit::unavailable : status_for_errno(ca.err, Exit::os);
    return sys_error(ca.err, what, st).with_status(st);
  }
  return proc;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "killed by signal " + std::to_string(sig) + (name ? " (" + std::string(name) + ")" : "");
  }
  return "wait status " + std::to_string(status);
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_not_of(
                                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789_-+=./:,@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'')
        out += "'\\''";
      else
        out += c;
    }
    out += '\'';
  }
  return out;
}

}  // namespace faas::bench
