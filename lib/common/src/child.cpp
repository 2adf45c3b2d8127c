#include "faas/child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string_view>

#include "faas/timing.hpp"

extern char** environ;

namespace faas {

namespace {

// struct clone_args, version 0 (Linux 5.3). Spelled out here because
// <linux/sched.h> redefines the CLONE_* macros of glibc's <sched.h>.
struct CloneArgs {
  std::uint64_t flags;
  std::uint64_t pidfd;
  std::uint64_t child_tid;
  std::uint64_t parent_tid;
  std::uint64_t exit_signal;
  std::uint64_t stack;
  std::uint64_t stack_size;
  std::uint64_t tls;
};
static_assert(sizeof(CloneArgs) == 64, "clone_args v0 is 64 bytes");

constexpr unsigned long kNamespaceFlags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
                                          CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWUSER |
                                          CLONE_NEWCGROUP | CLONE_NEWTIME;

// Raw system calls: glibc 2.36's <sys/pidfd.h> lacks extern "C" (fixed in
// 2.37) and older libcs have no wrappers at all.
int sys_pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0u));
}

int sys_pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0u));
}

// Set once clone3 answered ENOSYS, so later spawns go straight to fork.
std::atomic<bool> g_no_clone3{false};

// What the child writes to the exec pipe when it cannot get to exec.
enum class Stage : int { fds = 1, cwd = 2, exec = 3 };
struct Report {
  int stage;
  int err;
};

// Everything the child needs, built before clone: between clone and exec the
// child may only make async-signal-safe calls (another thread of the parent
// may have held the malloc lock at the moment of the copy), so it never
// allocates.
struct Plan {
  std::vector<char*> argv;
  std::vector<std::string> env_store;
  std::vector<char*> envp;
  char** env = nullptr;
  const char* cwd = nullptr;
  std::vector<std::pair<int, int>> fds;
  std::vector<int> scratch;  // one slot per fd mapping
  std::vector<int> keep;     // child fds >= 3, sorted: survive the close
  int base = 3;              // every fd >= base is free for the shuffle
};

[[noreturn]] void child_fail(int report_fd, Stage stage) {
  Report r{static_cast<int>(stage), errno};
  // One write of 8 bytes to a pipe is atomic; nothing to do if it fails.
  ssize_t n = ::write(report_fd, &r, sizeof r);
  (void)n;
  ::_exit(127);
}

void close_fds(unsigned lo, unsigned hi) {
  if (lo > hi) return;
  if (::close_range(lo, hi, 0) == 0) return;
  // close_range is Linux 5.9; before that, close one by one up to the limit.
  rlimit rl{};
  unsigned cap = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    cap = static_cast<unsigned>(std::min<rlim_t>(rl.rlim_cur, 1u << 20));
  for (unsigned fd = lo; fd <= hi && fd < cap; ++fd) ::close(static_cast<int>(fd));
}

// Runs in the child, between clone and exec. All signals are blocked (the
// parent blocked them around the clone) so no inherited handler can run here.
[[noreturn]] void child_exec(Plan& p, int report_fd) {
  // Exec resets caught signals but keeps ignored ones (SIG_IGN) and the
  // mask; a handler expects neither.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);

  // Move the report pipe above every fd number in play, then every source
  // fd, so that dup2 onto a child fd number never clobbers a source still
  // to be copied (the mappings may swap 3 and 4).
  int report = ::fcntl(report_fd, F_DUPFD_CLOEXEC, p.base);
  if (report < 0) child_fail(report_fd, Stage::fds);
  for (std::size_t i = 0; i < p.fds.size(); ++i) {
    p.scratch[i] = ::fcntl(p.fds[i].first, F_DUPFD_CLOEXEC, report + 1);
    if (p.scratch[i] < 0) child_fail(report, Stage::fds);
  }
  // dup2 clears FD_CLOEXEC on the target: these are the fds the command gets.
  for (std::size_t i = 0; i < p.fds.size(); ++i)
    if (::dup2(p.scratch[i], p.fds[i].second) < 0) child_fail(report, Stage::fds);

  // Close every other fd: nothing the parent holds (sockets, other
  // sandboxes' pidfds, the state database) may leak into the command. The
  // report pipe is above every kept fd and the scratch copies above it.
  unsigned lo = 3;
  for (int fd : p.keep) {
    if (static_cast<unsigned>(fd) > lo) close_fds(lo, static_cast<unsigned>(fd) - 1);
    lo = static_cast<unsigned>(fd) + 1;
  }
  close_fds(lo, static_cast<unsigned>(report) - 1);
  close_fds(static_cast<unsigned>(report) + 1, ~0u);

  if (p.cwd != nullptr && ::chdir(p.cwd) != 0) child_fail(report, Stage::cwd);

  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  ::execvpe(p.argv[0], p.argv.data(), p.env);
  child_fail(report, Stage::exec);
}

Result<Plan> make_plan(const std::vector<std::string>& argv, const SpawnOptions& opts) {
  Plan p;
  for (const auto& a : argv) p.argv.push_back(const_cast<char*>(a.c_str()));
  p.argv.push_back(nullptr);

  if (opts.inherit_env && opts.env.empty()) {
    p.env = environ;
  } else {
    if (opts.inherit_env)
      for (char** e = environ; *e != nullptr; ++e) p.env_store.emplace_back(*e);
    for (const auto& kv : opts.env) {
      std::string_view name = std::string_view(kv).substr(0, kv.find('='));
      std::erase_if(p.env_store, [&](const std::string& e) {
        return e.size() > name.size() && e.compare(0, name.size(), name) == 0 &&
               e[name.size()] == '=';
      });
      if (name.size() < kv.size()) p.env_store.push_back(kv);
    }
    for (auto& e : p.env_store) p.envp.push_back(e.data());
    p.envp.push_back(nullptr);
    p.env = p.envp.data();
  }

  if (!opts.cwd.empty()) p.cwd = opts.cwd.c_str();

  p.fds = opts.fds;
  p.scratch.assign(p.fds.size(), -1);
  int top = 2;
  for (auto [from, to] : p.fds) {
    if (from < 0 || to < 0)
      return Error(Exit::software, "fd mapping " + std::to_string(from) + " -> " +
                                       std::to_string(to) + ": negative fd");
    top = std::max({top, from, to});
    if (to >= 3) p.keep.push_back(to);
  }
  std::sort(p.keep.begin(), p.keep.end());
  for (std::size_t i = 0; i < p.fds.size(); ++i)
    for (std::size_t j = i + 1; j < p.fds.size(); ++j)
      if (p.fds[i].second == p.fds[j].second)
        return Error(Exit::software, "fd mapping names child fd " +
                                         std::to_string(p.fds[i].second) + " twice");
  p.base = top + 1;
  return p;
}

int status_from(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return info.si_status;
  return 128 + info.si_status;  // CLD_KILLED, CLD_DUMPED
}

// Blocks every signal for the life of the object (the spawn), restoring the
// previous mask after.
class BlockSignals {
 public:
  BlockSignals() {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old_);
  }
  BlockSignals(const BlockSignals&) = delete;
  BlockSignals& operator=(const BlockSignals&) = delete;
  ~BlockSignals() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

}  // namespace

namespace detail {
void force_spawn_fallback(bool on) { g_no_clone3 = on; }
}  // namespace detail

int shell_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  if (WIFSTOPPED(wait_status)) return 128 + WSTOPSIG(wait_status);
  return wait_status;
}

Child::Child(Child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      pidfd_(std::move(o.pidfd_)),
      done_(std::exchange(o.done_, true)),
      status_(o.status_) {}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    kill_and_reap();
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::move(o.pidfd_);
    done_ = std::exchange(o.done_, true);
    status_ = o.status_;
  }
  return *this;
}

Child::~Child() { kill_and_reap(); }

void Child::kill_and_reap() noexcept {
  if (done_ || pid_ <= 0) return;
  if (sys_pidfd_send_signal(pidfd_.get(), SIGKILL) != 0) ::kill(pid_, SIGKILL);
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) != 0) {
    if (errno == EINTR) continue;
    // P_PIDFD is Linux 5.4; clone3's pidfd is 5.3.
    if (errno == EINVAL) ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED);
    break;
  }
  done_ = true;
  pidfd_.reset();
}

Result<Child> Child::spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
  if (argv.empty()) return Error(Exit::software, "spawn: empty command");
  const std::string cmd = "`" + argv[0] + "`";
  if ((opts.clone_flags & ~kNamespaceFlags) != 0)
    return Error(Exit::software, "spawn " + cmd + ": clone flags other than namespaces");
  FAAS_TRY_ASSIGN(Plan plan, make_plan(argv, opts));

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return sys_error("spawn " + cmd + ": pipe");
  Fd report_rd(pipe_fds[0]);
  Fd report_wr(pipe_fds[1]);
  plan.base = std::max(plan.base, report_wr.get() + 1);

  pid_t pid = -1;
  int pidfd = -1;
  {
    BlockSignals blocked;
    if (!g_no_clone3) {
      CloneArgs ca{};
      ca.flags = CLONE_PIDFD | opts.clone_flags;
      ca.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
      ca.exit_signal = SIGCHLD;
      long r = ::syscall(SYS_clone3, &ca, sizeof ca);
      if (r == 0) child_exec(plan, report_wr.get());
      if (r < 0 && errno != ENOSYS) {
        int err = errno;
        return sys_error(err, "spawn " + cmd + ": clone3");
      }
      if (r < 0) g_no_clone3 = true;
      pid = static_cast<pid_t>(r);
    }
    if (pid < 0) {
      if (opts.clone_flags != 0)
        return Error(Exit::unavailable, "spawn " + cmd + ": new namespaces need clone3", ENOSYS);
      pid = ::fork();
      if (pid == 0) child_exec(plan, report_wr.get());
      if (pid < 0) {
        int err = errno;
        return sys_error(err, "spawn " + cmd + ": fork");
      }
      pidfd = sys_pidfd_open(pid);
      if (pidfd < 0) {
        int err = errno;
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        return sys_error(err, "spawn " + cmd + ": pidfd_open");
      }
    }
  }

  Child child;
  child.pid_ = pid;
  child.pidfd_ = Fd(pidfd);
  child.done_ = false;

  // Our copy of the write end must go: the read below sees EOF exactly when
  // the exec succeeded (the child's copy is close-on-exec).
  report_wr.reset();
  Report rep{};
  ssize_t n;
  do {
    n = ::read(report_rd.get(), &rep, sizeof rep);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return child;
  if (n < 0) return sys_error("spawn " + cmd + ": read exec report");  // child killed by ~Child

  (void)child.wait();  // reap the child that failed before exec
  if (n != sizeof rep) return Error(Exit::software, "spawn " + cmd + ": short exec report");
  switch (static_cast<Stage>(rep.stage)) {
    case Stage::exec:
      return Error(rep.err == ENOENT ? Exit::not_found : Exit::cant_exec, "exec " + cmd,
                   rep.err);
    case Stage::cwd:
      return sys_error(rep.err, "spawn " + cmd + ": chdir `" + opts.cwd + "`");
    case Stage::fds:
      return sys_error(rep.err, "spawn " + cmd + ": set up fds");
  }
  return Error(Exit::software, "spawn " + cmd + ": bad exec report");
}

Result<int> Child::wait() {
  if (done_) {
    if (status_ >= 0) return status_;
    return Error(Exit::software, "wait: no child process");
  }
  siginfo_t info{};
  for (;;) {
    if (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EINVAL && ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED) == 0) break;
    return sys_error("wait for process " + std::to_string(pid_));
  }
  done_ = true;
  status_ = status_from(info);
  pidfd_.reset();
  return status_;
}

Result<std::optional<int>> Child::wait_for(int timeout_ms) {
  if (!done_) {
    const std::int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
      int left = -1;
      if (timeout_ms >= 0)
        left = static_cast<int>(std::max<std::int64_t>(0, deadline - mono_ms()));
      // A pidfd polls readable once the process has exited.
      pollfd p{pidfd_.get(), POLLIN, 0};
      int r = ::poll(&p, 1, left);
      if (r > 0) break;
      if (r == 0) return std::optional<int>{};
      if (errno != EINTR) return sys_error("wait for process " + std::to_string(pid_));
    }
  }
  FAAS_TRY_ASSIGN(int status, wait());
  return std::optional<int>(status);
}

Result<void> Child::kill(int sig) {
  const std::string what = "send signal " + std::to_string(sig) + " to process " +
                           std::to_string(pid_);
  if (done_) return sys_error(ESRCH, what);
  if (sys_pidfd_send_signal(pidfd_.get(), sig) != 0) return sys_error(what);
  return {};
}

pid_t Child::release() {
  done_ = true;
  pidfd_.reset();
  return std::exchange(pid_, -1);
}

}  // namespace faas
