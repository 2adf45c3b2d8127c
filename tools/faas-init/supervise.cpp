// Supervision, the tini way: signals are blocked and read from a signalfd;
// every signal but SIGCHLD is forwarded to the handler(s); SIGCHLD reaps
// every child with waitpid(-1), including orphans from other process groups.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.hpp"

namespace faas {
namespace {

sigset_t g_blocked, g_original;

// All signals but the synchronous ones (a fault in faas-init must kill it)
// and the terminal ones (as tini does).
int block_signals(Error* e) {
  sigfillset(&g_blocked);
  static const int kUnblocked[] = {SIGFPE,  SIGILL, SIGSEGV, SIGBUS, SIGABRT,
                                   SIGTRAP, SIGSYS, SIGTTIN, SIGTTOU};
  for (int sig : kUnblocked) sigdelset(&g_blocked, sig);
  // waitpid needs the default SIGCHLD disposition (SIG_IGN would auto-reap).
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &sa, nullptr);
  if (sigprocmask(SIG_BLOCK, &g_blocked, &g_original) != 0)
    return -fail_errno(e, kExitOsErr, "block signals", nullptr, errno);
  int fd = signalfd(-1, &g_blocked, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return -fail_errno(e, kExitOsErr, "signalfd", nullptr, errno);
  return fd;
}

int wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return kExitSignalBase + WTERMSIG(status);
  return kExitSoftware;
}

// The handler's side of spawn_handler: runs on its own stack in faas-init's
// memory until the exec (or _exit) lets the parent go on.
struct SpawnArgs {
  const Options* o;
  Invocation* inv;
};

int handler_child(void* arg) {
  SpawnArgs* a = static_cast<SpawnArgs*>(arg);
  a->inv->t_child = now_us();
  sigprocmask(SIG_SETMASK, &g_original, nullptr);
  Error child_error;
  int status = exec_handler(a->o, a->inv, &child_error);
  report(&child_error);
  _exit(status);
}

// The child's stack: it runs in faas-init's memory (CLONE_VM) while faas-init
// waits (CLONE_VFORK), so one stack serves every spawn. In .bss: untouched
// pages cost nothing.
alignas(16) char g_child_stack[128 * 1024];

// Starts the handler's process; returns its pid (in the parent) or -status.
// clone(CLONE_VM | CLONE_VFORK), as posix_spawn does: no page tables to
// copy and no copy-on-write faults after, which fork() costs once per
// invocation. The child changes only what is its own (its root, working
// directory, descriptors and signal mask: no CLONE_FS, CLONE_FILES), works
// on its own copy of the invocation, and faas-init installs no signal
// handlers that could run on the shared memory.
pid_t spawn_handler(const Options* o, Invocation* inv, Error* e) {
  inv->t_fork = now_us();
  // The child rewrites its copy's descriptor numbers as it places them; in
  // shared memory that would be faas-init's own record of them.
  static Invocation child_inv;
  child_inv = *inv;
  SpawnArgs args{o, &child_inv};
  pid_t pid = clone(handler_child, g_child_stack + sizeof g_child_stack,
                    CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  if (pid < 0) return -fail_errno(e, kExitOsErr, "clone", nullptr, errno);
  close_fds(inv);  // the handler owns the connection now
  return pid;
}

// Waits for one signal on the signalfd; returns its number, 0 when there is
// none, -1 for SIGPIPE, which is dropped: it comes from faas-init's own
// writes (stderr gone), and must not kill the handler it would reach.
int next_signal(int sfd, bool block) {
  if (block) {
    struct pollfd p = {sfd, POLLIN, 0};
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
  }
  struct signalfd_siginfo si;
  ssize_t n = read(sfd, &si, sizeof si);
  if (n != (ssize_t)sizeof si) return 0;
  return si.ssi_signo == SIGPIPE ? -1 : (int)si.ssi_signo;
}

}  // namespace

int supervise(const Options* o, Invocation* inv, Error* e) {
  if (o->subreaper && getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    return fail_errno(e, kExitOsErr, "become a child subreaper", nullptr, errno);
  int sfd = block_signals(e);
  if (sfd < 0) return -sfd;
  pid_t handler = spawn_handler(o, inv, e);
  if (handler < 0) return -handler;
  for (;;) {
    int sig = next_signal(sfd, true);
    if (sig <= 0) continue;
    if (sig != SIGCHLD) {
      kill(handler, sig);
      continue;
    }
    int handler_status = -1, status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
      if (pid == handler) handler_status = wait_status(status);
    if (handler_status >= 0) return handler_status;
  }
}

// ---- --loop: one listening socket, many invocations at once ----

namespace {

constexpr int kMaxSlots = 1024;
int g_max_slots = kMaxSlots;  // fewer when RLIMIT_NOFILE is low

// A control connection: receiving its message (pid 0) or its handler running.
struct Slot {
  int conn;
  pid_t pid;
  uint64_t t_accept;
};

Slot g_slots[kMaxSlots];
int g_nslots = 0;
Invocation g_inv;

void reply(int conn, const char* key, int64_t value, const char* error) {
  Text t;
  text_str(&t, "{\"");
  text_str(&t, key);
  text_str(&t, "\":");
  text_i64(&t, value);
  if (error != nullptr) {  // the error object of faas-records(7)
    text_str(&t, ",\"error\":{\"tool\":\"faas-init\",\"status\":");
    text_i64(&t, value);
    text_str(&t, ",\"message\":");
    text_json_string(&t, error);
    text_str(&t, "}");
  }
  text_str(&t, "}\n");
  send(conn, t.buf, t.len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void drop_slot(int i) {
  close(g_slots[i].conn);
  g_slots[i] = g_slots[--g_nslots];
}

int count_running() {
  int n = 0;
  for (int i = 0; i < g_nslots; i++) n += g_slots[i].pid > 0;
  return n;
}

void forward(int sig) {
  for (int i = 0; i < g_nslots; i++)
    if (g_slots[i].pid > 0) kill(g_slots[i].pid, sig);
}

void reap_all() {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < g_nslots; i++) {
      if (g_slots[i].pid == pid) {
        reply(g_slots[i].conn, "status", wait_status(status), nullptr);
        drop_slot(i);
        break;
      }
    }
  }
}

// The message on slot i has arrived: check it, fork the handler, reply.
void start_invocation(const Options* o, int i) {
  Slot* s = &g_slots[i];
  Error e;
  g_inv.t_begin = g_inv.t_connected = s->t_accept;
  g_inv.t_fork = g_inv.t_child = 0;
  int rc = receive_invocation(s->conn, o, &g_inv, &e);  // poll said it is readable
  g_inv.t_received = now_us();
  pid_t pid = rc == 0 ? spawn_handler(o, &g_inv, &e) : -rc;
  if (pid < 0) {
    report(&e);
    reply(s->conn, "status", -pid, e.msg);
    drop_slot(i);
    return;
  }
  s->pid = pid;
  reply(s->conn, "pid", pid, nullptr);
}

}  // namespace

int serve_loop(Options* o, Error* e) {
  if (o->subreaper && getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    return fail_errno(e, kExitOsErr, "become a child subreaper", nullptr, errno);
  int sfd = block_signals(e);
  if (sfd < 0) return -sfd;
  int lfd = o->listen_fd;
  if (lfd >= 0) {
    int fl = fcntl(lfd, F_GETFL);
    if (fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(lfd, F_SETFD, FD_CLOEXEC) != 0)
      return fail_errno(e, kExitOsErr, "set up --listen-fd", nullptr, errno);
  } else {
    lfd = listen_control(o->listen_path, true, e);
    if (lfd < 0) return -lfd;
  }
  // Room for every connection, the fds of one message, and a few spare.
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < (rlim_t)kMaxSlots + 64)
    g_max_slots = rl.rlim_cur > 96 ? (int)rl.rlim_cur - 64 : 32;
  notify_ready(o);

  static struct pollfd fds[kMaxSlots + 2];
  for (;;) {
    fds[0] = {sfd, POLLIN, 0};
    fds[1] = {lfd, (short)(lfd >= 0 && g_nslots < g_max_slots ? POLLIN : 0), 0};
    int n = 2;
    int polled[kMaxSlots];  // slot index of fds[2 + k]
    for (int i = 0; i < g_nslots; i++) {
      if (g_slots[i].pid != 0) continue;
      polled[n - 2] = i;
      fds[n++] = {g_slots[i].conn, POLLIN, 0};
    }
    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      return fail_errno(e, kExitOsErr, "poll", nullptr, errno);
    }

    // Slots are looked up by fd (a reap below may reorder them).
    for (int k = n - 1; k >= 2; k--) {
      if (fds[k].revents == 0) continue;
      int i = polled[k - 2];
      if (i < g_nslots && g_slots[i].conn == fds[k].fd && g_slots[i].pid == 0)
        start_invocation(o, i);
    }

    if (fds[1].revents & POLLIN) {
      int conn = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (conn >= 0) g_slots[g_nslots++] = {conn, 0, now_us()};
    }

    int sig;
    while ((sig = next_signal(sfd, false)) != 0) {
      if (sig < 0) continue;
      if (sig == SIGCHLD) {
        reap_all();
      } else if ((sig == SIGTERM || sig == SIGINT) && lfd >= 0) {
        // Stop accepting, drop what has not started, let the running finish.
        close(lfd);
        if (o->listen_path != nullptr) unlink(o->listen_path);
        lfd = -1;
        for (int i = g_nslots - 1; i >= 0; i--)
          if (g_slots[i].pid == 0) drop_slot(i);
        forward(sig);
      } else {
        forward(sig);
      }
    }
    if (lfd < 0 && count_running() == 0) return kExitOk;
  }
}

}  // namespace faas
