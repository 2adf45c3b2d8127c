// The last steps in the process that becomes the handler: enter the
// invocation's root, put the client fds in place, close every other fd,
// build the environment, exec.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.hpp"

extern char** environ;  // copied, never changed

namespace faas {
namespace {

// The variables faas-init sets; inherited values are dropped, never passed on.
const char* const kOwnedVariables[] = {
    "FAAS_CLIENT_FD=",  "FAAS_CLIENT_FDS=", "FAAS_REQUEST_ID=", "FAAS_DEADLINE_MS=",
    "LISTEN_FDS=",      "LISTEN_PID=",      "LISTEN_FDNAMES=",
};

bool owned_variable(const char* entry) {
  for (const char* name : kOwnedVariables)
    if (strncmp(entry, name, strlen(name)) == 0) return true;
  return false;
}

int enter_root(const char* root, Error* e) {
  if (root[0] == '\0') return 0;
  if (chroot(root) != 0) {
    int err = errno;
    return fail_errno(e, err == ENOENT || err == ENOTDIR ? kExitDataErr : kExitOsErr,
                      "chroot into", root, err);
  }
  if (chdir("/") != 0) return fail_errno(e, kExitOsErr, "chdir into", root, errno);
  return 0;
}

int close_range_or_loop(unsigned lo, unsigned hi) {
  if (syscall(SYS_close_range, lo, hi, 0) == 0) return 0;
  if (errno != ENOSYS) return -1;
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (unsigned fd = lo; fd <= hi && fd < (unsigned)max; fd++) close((int)fd);
  return 0;
}

// Closes every fd but 0, 1, 2 and the n fds in keep.
int close_other_fds(const int* keep, size_t n, Error* e) {
  int sorted[FAAS_WIRE_MAX_FDS];
  for (size_t i = 0; i < n; i++) {
    size_t j = i;
    for (; j > 0 && sorted[j - 1] > keep[i]; j--) sorted[j] = sorted[j - 1];
    sorted[j] = keep[i];
  }
  unsigned lo = 3;
  for (size_t i = 0; i < n; i++) {
    unsigned fd = (unsigned)sorted[i];
    if (fd < lo) continue;
    if (fd > lo && close_range_or_loop(lo, fd - 1) != 0)
      return fail_errno(e, kExitOsErr, "close inherited file descriptors", nullptr, errno);
    lo = fd + 1;
  }
  if (close_range_or_loop(lo, ~0U) != 0)
    return fail_errno(e, kExitOsErr, "close inherited file descriptors", nullptr, errno);
  return 0;
}

// Socket activation: the fds become 3, 4, ... (first moved above the target
// range so that no move overwrites a client fd), without FD_CLOEXEC.
int move_to_listen_fds(Invocation* inv, Error* e) {
  int base = 3, n = (int)inv->nfds;
  for (int i = 0; i < n; i++) {
    int moved = fcntl(inv->fds[i], F_DUPFD_CLOEXEC, base + n);
    if (moved < 0) return fail_errno(e, kExitOsErr, "move client file descriptors", nullptr, errno);
    close(inv->fds[i]);
    inv->fds[i] = moved;
  }
  for (int i = 0; i < n; i++) {
    if (dup2(inv->fds[i], base + i) < 0)
      return fail_errno(e, kExitOsErr, "move client file descriptors", nullptr, errno);
    close(inv->fds[i]);
    inv->fds[i] = base + i;
  }
  return 0;
}

// The client fds reach the handler inheritable and blocking: a gateway's
// event loop may have passed them with O_NONBLOCK, which a handler in sh
// cannot cope with. The flags are on the shared open file description, which
// the sender no longer uses.
int place_fds(const Options* o, Invocation* inv, Error* e) {
  if (o->listen_fds) {
    int rc = move_to_listen_fds(inv, e);
    if (rc != 0) return rc;
  }
  for (size_t i = 0; i < inv->nfds; i++) {
    int fd = inv->fds[i];
    int flags = fcntl(fd, F_GETFL);
    if (fcntl(fd, F_SETFD, 0) != 0 || flags < 0 ||
        ((flags & O_NONBLOCK) != 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0))
      return fail_errno(e, kExitOsErr, "pass client file descriptor", nullptr, errno);
  }
  return close_other_fds(inv->fds, inv->nfds, e);
}

// "NAME=value" into buf (values are bounded by the payload size).
char* variable(char* buf, size_t cap, const char* name, const char* value) {
  size_t a = strlen(name), b = strlen(value);
  if (a + b + 2 > cap) b = cap - a - 2;
  memcpy(buf, name, a);
  buf[a] = '=';
  memcpy(buf + a + 1, value, b);
  buf[a + 1 + b] = '\0';
  return buf;
}

char* number_variable(char* buf, size_t cap, const char* name, uint64_t v) {
  Text t;
  text_u64(&t, v);
  return variable(buf, cap, name, text_cstr(&t));
}

// execvp(3) with the shell's verdict: a command that no PATH entry holds is
// not found (ENOENT, 127) even when some entry is unreadable (EACCES, which
// execvp would return); one that exists but cannot run is EACCES (126).
int exec_path(char* const* argv, char* const* envp) {
  const char* cmd = argv[0];
  if (strchr(cmd, '/') != nullptr) {
    execve(cmd, argv, envp);
    return errno;
  }
  const char* path = nullptr;
  for (char* const* v = envp; *v != nullptr && path == nullptr; v++)
    if (strncmp(*v, "PATH=", 5) == 0) path = *v + 5;
  if (path == nullptr) path = "/usr/local/bin:/usr/bin:/bin";
  size_t clen = strlen(cmd);
  int verdict = ENOENT;
  for (const char* dir = path;; dir++) {
    const char* end = strchr(dir, ':');
    size_t dlen = end != nullptr ? (size_t)(end - dir) : strlen(dir);
    char file[PATH_MAX];
    if (dlen + clen + 2 <= sizeof file) {
      memcpy(file, dir, dlen);
      size_t n = dlen;
      if (n > 0) file[n++] = '/';  // an empty entry is the current directory
      memcpy(file + n, cmd, clen + 1);
      execve(file, argv, envp);
      int err = errno;
      struct stat st;
      if (err != ENOENT && err != ENOTDIR && !(err == EACCES && stat(file, &st) != 0))
        verdict = err;  // it is there and cannot run: the last such reason wins
      if (err != ENOENT && err != ENOTDIR && err != EACCES) return err;
    }
    if (end == nullptr) return verdict;
    dir = end;
  }
}

void trace(const Options* o, const Invocation* inv, uint64_t t_exec) {
  Text t;
  text_str(&t, "{\"faas_init\":{\"mode\":\"");
  text_str(&t, o->loop ? "loop" : o->listen_path != nullptr ? "listen" : "connect");
  text_str(&t, "\",\"pid\":");
  text_u64(&t, (uint64_t)getpid());
  if (!o->loop) {
    text_str(&t, ",\"connect_us\":");
    text_u64(&t, inv->t_connected - inv->t_begin);
  }
  text_str(&t, ",\"recv_us\":");
  text_u64(&t, inv->t_received - inv->t_connected);
  uint64_t setup_from = inv->t_received;
  if (inv->t_fork != 0) {
    text_str(&t, ",\"fork_us\":");
    text_u64(&t, inv->t_child - inv->t_fork);
    setup_from = inv->t_child;
  }
  text_str(&t, ",\"setup_us\":");
  text_u64(&t, t_exec - setup_from);
  text_str(&t, ",\"total_us\":");
  text_u64(&t, t_exec - inv->t_begin);
  text_str(&t, "}}\n");
  write_all(2, t.buf, t.len);
}

}  // namespace

int exec_handler(const Options* o, Invocation* inv, Error* e) {
  int rc = enter_root(inv->root, e);
  if (rc == 0) rc = place_fds(o, inv, e);
  if (rc != 0) return rc;

  static char client_fd[32], client_fds[FAAS_WIRE_MAX_FDS * 12 + 32], listen_fds[32],
      listen_pid[32], fdnames[FAAS_WIRE_MAX_PAYLOAD + 32], request_id[FAAS_WIRE_MAX_PAYLOAD + 32],
      deadline_ms[64];
  Text list;
  for (size_t i = 0; i < inv->nfds; i++) {
    if (i > 0) text_str(&list, ",");
    text_u64(&list, (uint64_t)inv->fds[i]);
  }
  size_t count = 0;
  while (environ[count] != nullptr) count++;
  char* envp[count + 8];
  size_t n = 0;
  for (size_t i = 0; i < count; i++)
    if (!owned_variable(environ[i])) envp[n++] = environ[i];
  envp[n++] = number_variable(client_fd, sizeof client_fd, "FAAS_CLIENT_FD", (uint64_t)inv->fds[0]);
  envp[n++] = variable(client_fds, sizeof client_fds, "FAAS_CLIENT_FDS", text_cstr(&list));
  if (inv->request_id[0] != '\0')
    envp[n++] = variable(request_id, sizeof request_id, "FAAS_REQUEST_ID", inv->request_id);
  if (inv->deadline_ms[0] != '\0')
    envp[n++] = variable(deadline_ms, sizeof deadline_ms, "FAAS_DEADLINE_MS", inv->deadline_ms);
  if (o->listen_fds) {
    envp[n++] = number_variable(listen_fds, sizeof listen_fds, "LISTEN_FDS", inv->nfds);
    envp[n++] = number_variable(listen_pid, sizeof listen_pid, "LISTEN_PID", (uint64_t)getpid());
    if (inv->names[0] != '\0') {
      envp[n++] = variable(fdnames, sizeof fdnames, "LISTEN_FDNAMES", inv->names);
    } else {
      Text names;
      for (size_t i = 0; i < inv->nfds; i++) text_str(&names, i > 0 ? ":client" : "client");
      envp[n++] = variable(fdnames, sizeof fdnames, "LISTEN_FDNAMES", text_cstr(&names));
    }
  }
  envp[n] = nullptr;

  if (o->trace) trace(o, inv, now_us());
  int err = exec_path(o->argv, envp);
  return fail_errno(e, err == ENOENT || err == ENOTDIR ? kExitNotFound : kExitCannotExec, "exec",
                    o->argv[0], err);
}

}  // namespace faas
