// faas-init's pieces. The tool is built against musl with no C++ runtime:
// C headers only, no exceptions, no RTTI, no allocation, no stdio.
#ifndef FAAS_INIT_INIT_HPP
#define FAAS_INIT_INIT_HPP

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "faas/wire.h"

namespace faas {

// sysexits, and what the handler's status becomes.
enum ExitStatus : int {
  kExitOk = 0,
  kExitUsage = 64,
  kExitDataErr = 65,
  kExitUnavailable = 69,
  kExitSoftware = 70,
  kExitOsErr = 71,
  kExitCannotExec = 126,
  kExitNotFound = 127,
  kExitSignalBase = 128,
};

struct Options {
  const char* connect_path = nullptr;  // --connect, else $FAAS_CONTROL_SOCK, else /control.sock
  const char* listen_path = nullptr;   // --listen
  int listen_fd = -1;                  // --listen-fd
  int nfds = 1;                        // --fds
  int notify_fd = -1;                  // --notify-fd
  bool listen_fds = false;             // --listen-fds
  bool loop = false;                   // --loop
  bool subreaper = false;              // --subreaper
  bool trace = false;                  // FAAS_INIT_TRACE=1
  char** argv = nullptr;               // CMD [ARGS...]
};

// An error on its way up: the exit status and "<what failed>: <why>".
struct Error {
  int status = 0;
  char msg[1024] = {};
};

// Fills e and returns status. The message is `what` [+ " `arg`"] + ": " + why.
int fail(Error* e, int status, const char* what, const char* arg, const char* why);
int fail_errno(Error* e, int status, const char* what, const char* arg, int err);
// Writes "faas-init: <msg>\n" to stderr in one write(2).
void report(const Error* e);

// One received invocation: the client fds and what the payload says.
struct Invocation {
  int fds[FAAS_WIRE_MAX_FDS];
  size_t nfds = 0;
  char payload[FAAS_WIRE_MAX_PAYLOAD + 1];
  size_t len = 0;
  // Payload values (empty when absent); every value fits, the payload is bounded.
  char request_id[FAAS_WIRE_MAX_PAYLOAD];
  char deadline_ms[32];
  char root[FAAS_WIRE_MAX_PAYLOAD];
  char names[FAAS_WIRE_MAX_PAYLOAD];
  // CLOCK_MONOTONIC microseconds of each phase boundary (0: not reached).
  uint64_t t_begin = 0;      // connect/accept started
  uint64_t t_connected = 0;  // control connection up
  uint64_t t_received = 0;   // message received and checked
  uint64_t t_fork = 0;       // fork() called (0: no fork)
  uint64_t t_child = 0;      // first instruction in the child
};

uint64_t now_us();

// control.cpp: the control socket.
int connect_control(const char* path, Error* e);                    // -> fd or -status
int listen_control(const char* path, bool nonblock, Error* e);      // -> fd or -status
int accept_control(int lfd, Error* e);                              // -> fd or -status
int receive_invocation(int sock, const Options* o, Invocation* inv, Error* e);  // 0 or status
void close_fds(Invocation* inv);
void notify_ready(Options* o);

// handler.cpp: in the process that becomes the handler. Returns only on
// failure, with the exit status (e filled).
int exec_handler(const Options* o, Invocation* inv, Error* e);

// supervise.cpp: as PID 1 or a subreaper, and the --loop server.
int supervise(const Options* o, Invocation* inv, Error* e);
int serve_loop(Options* o, Error* e);

// text.cpp: output without stdio.
struct Text {
  char buf[2048];
  size_t len = 0;
  bool overflow = false;
};
void text_str(Text* t, const char* s);
void text_mem(Text* t, const char* s, size_t n);
void text_u64(Text* t, uint64_t v);
void text_i64(Text* t, int64_t v);
void text_json_string(Text* t, const char* s);  // quoted and escaped
const char* text_cstr(Text* t);                 // NUL-terminated (may truncate)
bool write_all(int fd, const char* s, size_t n);
bool parse_int(const char* s, long min, long max, long* out);

}  // namespace faas

#endif
