// faas-init: the in-sandbox init. Receives the client connection over a
// control socket (SCM_RIGHTS), then execs the handler in place, or (as PID 1,
// a subreaper, or with --loop) forks it, forwards signals and reaps.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init.hpp"

namespace faas {
namespace {

const char kUsage[] =
    "usage: faas-init [OPTIONS] [--] CMD [ARGS...]\n"
    "\n"
    "Receives client file descriptors over a control socket (SCM_RIGHTS), sets\n"
    "FAAS_CLIENT_FD and execs CMD. As PID 1 (or with --subreaper) it forks CMD,\n"
    "forwards signals to it, reaps every child and exits with CMD's status.\n"
    "\n"
    "  --connect PATH   connect to the control socket at PATH\n"
    "                   (default: $FAAS_CONTROL_SOCK, else /control.sock)\n"
    "  --listen PATH    listen on PATH and accept one connection\n"
    "  --listen-fd N    like --listen, on socket N, already listening (made by\n"
    "                   the caller, so clients may connect before faas-init runs)\n"
    "  --loop           with --listen or --listen-fd: serve connections until\n"
    "                   SIGTERM, forking\n"
    "                   CMD for each; replies {\"pid\":P} and {\"status\":S}\n"
    "  --fds N          require exactly N file descriptors (default 1, at most 16)\n"
    "  --listen-fds     socket activation: fds at 3, 4, ...; LISTEN_FDS, LISTEN_PID,\n"
    "                   LISTEN_FDNAMES\n"
    "  --subreaper      reap orphans and forward signals outside a pid namespace\n"
    "  --notify-fd N    write a newline to fd N and close it once ready\n"
    "  -h, --help       show this help and exit\n"
    "  --version        show the version and exit\n"
    "\n"
    "FAAS_INIT_TRACE=1 prints one JSON line of phase timings on stderr.\n"
    "Exit status: 64 usage, 65 bad message, 69 no control socket, 71 system call\n"
    "failed, 126/127 exec failed, 128+N handler killed by signal N, else CMD's.\n";

int usage_error(const char* what, const char* arg, const char* why) {
  Error e;
  fail(&e, kExitUsage, what, arg, why);
  report(&e);
  return kExitUsage;
}

bool is(const char* name, const char* a, const char* b = nullptr) {
  return strcmp(name, a) == 0 || (b != nullptr && strcmp(name, b) == 0);
}

// Hand-written parsing (a parser library would pull in the C++ runtime).
// Options end at "--" or at the first word that is not one. Returns -1 to go
// on, else the exit status (0 for --help and --version, 64 for a usage error).
int parse_options(int argc, char** argv, Options* o) {
  int i = 1;
  for (; i < argc; i++) {
    const char* arg = argv[i];
    if (strcmp(arg, "--") == 0) {
      i++;
      break;
    }
    if (arg[0] != '-' || arg[1] == '\0') break;
    char name[32];
    const char* value = nullptr;
    const char* eq = arg[1] == '-' ? strchr(arg, '=') : nullptr;
    size_t len = eq != nullptr ? (size_t)(eq - arg) : strlen(arg);
    if (len >= sizeof name) return usage_error("option", arg, "unknown (see --help)");
    memcpy(name, arg, len);
    name[len] = '\0';
    if (eq != nullptr) value = eq + 1;

    if (is(name, "--help", "-h")) {
      write_all(1, kUsage, sizeof kUsage - 1);
      return kExitOk;
    }
    if (is(name, "--version")) {
      static const char version[] = "faas-init " FAAS_VERSION "\n";
      write_all(1, version, sizeof version - 1);
      return kExitOk;
    }
    bool takes_value = is(name, "--connect", "--listen") || is(name, "--fds", "--notify-fd") ||
                       is(name, "--listen-fd");
    bool is_flag = is(name, "--listen-fds", "--loop") || is(name, "--subreaper");
    if (!takes_value && !is_flag) return usage_error("option", name, "unknown (see --help)");
    if (is_flag && value != nullptr) return usage_error("option", name, "takes no value");
    if (takes_value && value == nullptr) {
      if (i + 1 >= argc) return usage_error("option", name, "requires a value");
      value = argv[++i];
    }

    long n = 0;
    if (is(name, "--connect")) {
      o->connect_path = value;
    } else if (is(name, "--listen")) {
      o->listen_path = value;
    } else if (is(name, "--listen-fd")) {
      if (!parse_int(value, 3, 0x7fffffff, &n))
        return usage_error("--listen-fd", value, "not a file descriptor number of 3 or more");
      int listening = 0;
      socklen_t optlen = sizeof listening;
      if (getsockopt((int)n, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) != 0)
        return usage_error("--listen-fd", value, errno == ENOTSOCK ? "not a socket" : strerror(errno));
      if (!listening) return usage_error("--listen-fd", value, "a socket that is not listening");
      o->listen_fd = (int)n;
    } else if (is(name, "--fds")) {
      if (!parse_int(value, 1, FAAS_WIRE_MAX_FDS, &n))
        return usage_error("--fds", value, "not a number from 1 to 16");
      o->nfds = (int)n;
    } else if (is(name, "--notify-fd")) {
      if (!parse_int(value, 3, 0x7fffffff, &n))
        return usage_error("--notify-fd", value, "not a file descriptor number of 3 or more");
      if (fcntl((int)n, F_GETFD) < 0) return usage_error("--notify-fd", value, strerror(errno));
      o->notify_fd = (int)n;
    } else if (is(name, "--listen-fds")) {
      o->listen_fds = true;
    } else if (is(name, "--loop")) {
      o->loop = true;
    } else {
      o->subreaper = true;
    }
  }
  o->argv = argv + i;
  if (o->argv[0] == nullptr) return usage_error("command", nullptr, "missing (see --help)");
  if (o->connect_path != nullptr && o->listen_path != nullptr)
    return usage_error("--connect and --listen", nullptr, "mutually exclusive");
  if (o->listen_fd >= 0 && (o->connect_path != nullptr || o->listen_path != nullptr))
    return usage_error("--listen-fd", nullptr,
                       o->connect_path != nullptr ? "and --connect are mutually exclusive"
                                                  : "and --listen are mutually exclusive");
  if (o->loop && o->connect_path != nullptr)
    return usage_error("--loop and --connect", nullptr,
                       "mutually exclusive (--loop serves a socket: use --listen)");
  if (o->loop && o->listen_path == nullptr && o->listen_fd < 0)
    return usage_error("--loop", nullptr, "requires --listen PATH or --listen-fd N");
  if (o->connect_path == nullptr && o->listen_path == nullptr && o->listen_fd < 0) {
    const char* env = getenv("FAAS_CONTROL_SOCK");
    o->connect_path = env != nullptr && env[0] != '\0' ? env : "/control.sock";
  }
  const char* trace = getenv("FAAS_INIT_TRACE");
  o->trace = trace != nullptr && trace[0] != '\0' && strcmp(trace, "0") != 0;
  return -1;
}

// Fds 0-2 open, so that no received fd lands there.
void keep_std_fds_open() {
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      int null = open("/dev/null", O_RDWR);
      if (null >= 0 && null != fd) close(null);
    }
}

// --listen or --listen-fd without --loop: the first connection, then the
// socket is gone (a --listen-fd socket's path, if any, is its maker's).
int accept_one(Options* o, Error* e) {
  int lfd = o->listen_fd >= 0 ? o->listen_fd : listen_control(o->listen_path, false, e);
  if (lfd < 0) return lfd;
  notify_ready(o);
  int conn = accept_control(lfd, e);
  close(lfd);
  if (o->listen_path != nullptr) unlink(o->listen_path);
  return conn;
}

int finish(int status, const Error* e) {
  if (e->status != 0) report(e);
  return status;
}

}  // namespace
}  // namespace faas

int main(int argc, char** argv) {
  using namespace faas;
  static Invocation inv;
  Options o;
  Error e;
  inv.t_begin = now_us();
  int status = parse_options(argc, argv, &o);
  if (status >= 0) return status;
  keep_std_fds_open();
  if (o.loop) return finish(serve_loop(&o, &e), &e);

  int ctl = o.listen_path != nullptr || o.listen_fd >= 0 ? accept_one(&o, &e)
                                                         : connect_control(o.connect_path, &e);
  if (ctl < 0) return finish(-ctl, &e);
  inv.t_connected = now_us();
  notify_ready(&o);
  status = receive_invocation(ctl, &o, &inv, &e);
  close(ctl);
  if (status != 0) return finish(status, &e);
  inv.t_received = now_us();

  if (getpid() == 1 || o.subreaper) return finish(supervise(&o, &inv, &e), &e);
  return finish(exec_handler(&o, &inv, &e), &e);  // returns only if exec failed
}
