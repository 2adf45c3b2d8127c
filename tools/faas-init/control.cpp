// The control socket: connect or listen, receive one message (client fds and
// a payload), check it, and read the payload's keys.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "init.hpp"

namespace faas {
namespace {

int make_address(const char* path, struct sockaddr_un* addr, Error* e) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n == 0) return fail(e, kExitUsage, "control socket", nullptr, "empty path");
  if (n >= sizeof addr->sun_path)
    return fail(e, kExitUsage, "control socket", path, "path longer than 107 bytes");
  memcpy(addr->sun_path, path, n);
  return 0;
}

const char* file_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "an unknown kind of file";
}

const char* skip_ws(const char* p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return p;
}

// Past a JSON string's closing quote (p is after the opening one), or null;
// accepts the escapes faas_wire_json_get decodes.
const char* skip_string(const char* p) {
  for (; *p != '"'; p++) {
    if (*p == '\0' || (unsigned char)*p < 0x20) return nullptr;
    if (*p == '\\') {
      p++;
      if (*p == '\0' || strchr("\"\\/bfnrt", *p) == nullptr) return nullptr;
    }
  }
  return p + 1;
}

// A key seen before in the object (raw bytes: the escapes a key could use
// cannot spell another of the same length).
bool seen_key(const char* key, size_t len, const char* const* keys, const size_t* lens, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lens[i] == len && memcmp(keys[i], key, len) == 0) return true;
  return false;
}

// A flat JSON object: string keys, each once, string or scalar values, no
// nesting. Checked whole before any key is read, so that a malformed tail
// cannot hide a key, and a duplicate cannot mean one thing to the sender's
// JSON library (the last wins) and another here (the first wins): a "root"
// that silently did not apply would run the handler outside its root.
bool flat_json_object(const char* p) {
  static const char* keys[FAAS_WIRE_MAX_PAYLOAD / 4];
  static size_t lens[FAAS_WIRE_MAX_PAYLOAD / 4];
  size_t nkeys = 0;
  p = skip_ws(p);
  if (*p++ != '{') return false;
  p = skip_ws(p);
  if (*p == '}') return *skip_ws(p + 1) == '\0';
  for (;;) {
    const char* key = p + 1;
    if (*p++ != '"' || (p = skip_string(p)) == nullptr) return false;
    size_t len = (size_t)(p - 1 - key);
    if (seen_key(key, len, keys, lens, nkeys) || nkeys == sizeof keys / sizeof keys[0])
      return false;
    keys[nkeys] = key;
    lens[nkeys++] = len;
    p = skip_ws(p);
    if (*p++ != ':') return false;
    p = skip_ws(p);
    if (*p == '"') {
      if ((p = skip_string(p + 1)) == nullptr) return false;
    } else {
      const char* start = p;
      while (*p != '\0' && strchr(",} \t\r\n", *p) == nullptr) {
        if (strchr("{[\"", *p) != nullptr) return false;
        p++;
      }
      if (p == start) return false;
    }
    p = skip_ws(p);
    if (*p == '}') return *skip_ws(p + 1) == '\0';
    if (*p++ != ',') return false;
    p = skip_ws(p);
  }
}

// The value's length, or -1 (out empty) when the key is absent.
int get_key(const char* json, const char* key, char* out, size_t cap) {
  int n = faas_wire_json_get(json, key, out, cap);
  if (n < 0) out[0] = '\0';
  return n;
}

int parse_payload(Invocation* inv, Error* e) {
  inv->request_id[0] = inv->deadline_ms[0] = inv->root[0] = inv->names[0] = '\0';
  if (inv->payload[0] != '{') return 0;  // the original design's single byte
  if (!flat_json_object(inv->payload))
    return fail(e, kExitDataErr, "payload", nullptr,
                "not a flat JSON object with each key once");
  get_key(inv->payload, "request_id", inv->request_id, sizeof inv->request_id);
  bool has_root = get_key(inv->payload, "root", inv->root, sizeof inv->root) >= 0;
  get_key(inv->payload, "names", inv->names, sizeof inv->names);
  char deadline[FAAS_WIRE_MAX_PAYLOAD];
  get_key(inv->payload, "deadline_ms", deadline, sizeof deadline);
  long v;
  if (deadline[0] != '\0') {
    if (strlen(deadline) >= sizeof inv->deadline_ms ||
        !parse_int(deadline, 0, 0x7fffffffffffffffL, &v))
      return fail(e, kExitDataErr, "payload: deadline_ms", deadline,
                  "not a non-negative integer");
    memcpy(inv->deadline_ms, deadline, strlen(deadline) + 1);
  }
  if (has_root && inv->root[0] != '/')
    return fail(e, kExitDataErr, "payload: root", inv->root, "not an absolute path");
  if (inv->names[0] != '\0') {
    size_t n = 1;
    for (const char* p = inv->names; *p != '\0'; p++) n += *p == ':';
    if (n != inv->nfds) {
      Text t;
      text_u64(&t, n);
      text_str(&t, " names for ");
      text_u64(&t, inv->nfds);
      text_str(&t, " file descriptors");
      return fail(e, kExitDataErr, "payload: names", inv->names, text_cstr(&t));
    }
  }
  return 0;
}

}  // namespace

int connect_control(const char* path, Error* e) {
  struct sockaddr_un addr;
  int rc = make_address(path, &addr, e);
  if (rc != 0) return -rc;
  // A stream socket (the original design's); a seqpacket server works too.
  int types[2] = {SOCK_STREAM, SOCK_SEQPACKET};
  int err = 0;
  for (int type : types) {
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return -fail_errno(e, kExitOsErr, "socket", nullptr, errno);
    if (connect(fd, (struct sockaddr*)&addr, sizeof addr) == 0) return fd;
    err = errno;
    close(fd);
    if (err != EPROTOTYPE) break;
  }
  return -fail_errno(e, kExitUnavailable, "connect to control socket", path, err);
}

int listen_control(const char* path, bool nonblock, Error* e) {
  struct sockaddr_un addr;
  int rc = make_address(path, &addr, e);
  if (rc != 0) return -rc;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -fail_errno(e, kExitOsErr, "socket", nullptr, errno);
  // A socket left behind by an earlier run is stale; anything else stays.
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
    int err = errno;
    close(fd);
    return -fail_errno(e, kExitOsErr, "bind control socket", path, err);
  }
  if (listen(fd, 128) != 0) {
    int err = errno;
    close(fd);
    unlink(path);
    return -fail_errno(e, kExitOsErr, "listen on control socket", path, err);
  }
  return fd;
}

int accept_control(int lfd, Error* e) {
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // A socket handed over non-blocking (--listen-fd): wait for a
      // connection rather than change flags its maker shares.
      struct pollfd p = {lfd, POLLIN, 0};
      if (poll(&p, 1, -1) >= 0 || errno == EINTR) continue;
    }
    return -fail_errno(e, kExitOsErr, "accept on control socket", nullptr, errno);
  }
}

int receive_invocation(int sock, const Options* o, Invocation* inv, Error* e) {
  size_t len = 0;
  int rc = faas_wire_recv(sock, inv->fds, FAAS_WIRE_MAX_FDS, &inv->nfds, inv->payload,
                          sizeof inv->payload, &len);
  inv->len = len;
  if (rc != 0) {
    int status = rc == FAAS_WIRE_ENOFD || rc == FAAS_WIRE_EEOF || rc == FAAS_WIRE_ETRUNC ||
                         rc == FAAS_WIRE_ETOOBIG
                     ? kExitDataErr
                     : kExitOsErr;
    return fail(e, status, "receive from control socket", nullptr, faas_wire_strerror(rc));
  }
  if (inv->nfds != (size_t)o->nfds) {
    Text t;
    text_str(&t, "expected ");
    text_u64(&t, (uint64_t)o->nfds);
    text_str(&t, o->nfds == 1 ? " file descriptor, got " : " file descriptors, got ");
    text_u64(&t, inv->nfds);
    close_fds(inv);
    return fail(e, kExitDataErr, "receive from control socket", nullptr, text_cstr(&t));
  }
  for (size_t i = 0; i < inv->nfds; i++) {
    struct stat st;
    if (fstat(inv->fds[i], &st) != 0) st.st_mode = 0;
    if (!S_ISSOCK(st.st_mode)) {
      Text t;
      text_str(&t, "received file descriptor ");
      text_u64(&t, i + 1);
      text_str(&t, " of ");
      text_u64(&t, inv->nfds);
      text_str(&t, " (fd ");
      text_u64(&t, (uint64_t)inv->fds[i]);
      text_str(&t, ")");
      Text why;
      text_str(&why, file_kind(st.st_mode));
      text_str(&why, ", not a socket");
      close_fds(inv);
      return fail(e, kExitDataErr, text_cstr(&t), nullptr, text_cstr(&why));
    }
  }
  rc = parse_payload(inv, e);
  if (rc != 0) close_fds(inv);
  return rc;
}

void close_fds(Invocation* inv) {
  for (size_t i = 0; i < inv->nfds; i++) close(inv->fds[i]);
  inv->nfds = 0;
}

void notify_ready(Options* o) {
  if (o->notify_fd < 0) return;
  write_all(o->notify_fd, "\n", 1);
  close(o->notify_fd);
  o->notify_fd = -1;
}

}  // namespace faas
