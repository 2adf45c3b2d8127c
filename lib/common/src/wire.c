/* The control-socket wire format (see faas/wire.h). Plain C with no libc
 * beyond the system-call wrappers, so faas-init can link it against musl. */
#include "faas/wire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int faas_wire_send(int sock, const int* fds, size_t nfds, const char* payload, size_t len) {
  if (nfds == 0 || nfds > FAAS_WIRE_MAX_FDS) return -EINVAL;
  if (len > FAAS_WIRE_MAX_PAYLOAD) return -EMSGSIZE;
  char zero = '\0';
  struct iovec iov;
  iov.iov_base = (void*)(len > 0 ? payload : &zero);
  iov.iov_len = len > 0 ? len : 1;
  union {
    char buf[CMSG_SPACE(sizeof(int) * FAAS_WIRE_MAX_FDS)];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  for (;;) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

static void close_all(int* fds, size_t n) {
  for (size_t i = 0; i < n; i++) close(fds[i]);
}

int faas_wire_recv(int sock, int* fds, size_t max_fds, size_t* nfds, char* payload, size_t cap,
                   size_t* len) {
  *nfds = 0;
  *len = 0;
  if (cap == 0 || max_fds == 0) return -EINVAL;
  if (max_fds > FAAS_WIRE_MAX_FDS) max_fds = FAAS_WIRE_MAX_FDS;
  union {
    /* Room for the most fds a sender may send, so a few extra fds are seen
     * (and closed) rather than silently truncated away. */
    char buf[CMSG_SPACE(sizeof(int) * FAAS_WIRE_MAX_FDS)];
    struct cmsghdr align;
  } u;
  struct iovec iov;
  iov.iov_base = payload;
  iov.iov_len = cap - 1;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t n;
  for (;;) {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno != EINTR) return -errno;
  }
  /* Collect every fd that arrived first, so that none leaks on an error. */
  int got[FAAS_WIRE_MAX_FDS];
  size_t ngot = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (ngot < FAAS_WIRE_MAX_FDS)
        got[ngot++] = fd;
      else
        close(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    close_all(got, ngot);
    return FAAS_WIRE_ETRUNC;
  }
  if (n == 0 && ngot == 0) return FAAS_WIRE_EEOF;
  if (ngot == 0) return FAAS_WIRE_ENOFD;
  if (msg.msg_flags & MSG_TRUNC) {
    close_all(got, ngot);
    return FAAS_WIRE_ETOOBIG;
  }
  if (ngot > max_fds) {
    close_all(got + max_fds, ngot - max_fds);
    ngot = max_fds;
  }
  memcpy(fds, got, ngot * sizeof(int));
  *nfds = ngot;
  payload[n] = '\0';
  *len = (size_t)n;
  return 0;
}

const char* faas_wire_strerror(int code) {
  switch (code) {
    case FAAS_WIRE_ENOFD: return "message carried no file descriptor";
    case FAAS_WIRE_ETRUNC: return "control data truncated (too many file descriptors)";
    case FAAS_WIRE_ETOOBIG: return "payload too large";
    case FAAS_WIRE_EEOF: return "peer closed the connection before sending";
    case FAAS_WIRE_ENOTSOCK: return "received file descriptor is not a socket";
    case FAAS_WIRE_EFEWFDS: return "fewer file descriptors than expected";
    default: return code < 0 ? strerror(-code) : "success";
  }
}

static const char* skip_ws(const char* p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return p;
}

/* Copies a JSON string starting after its opening quote; returns a pointer
 * past the closing quote, or NULL. With out == NULL only skips. */
static const char* copy_string(const char* p, char* out, size_t cap, int* len) {
  size_t n = 0;
  int overflow = 0;
  while (*p != '\0' && *p != '"') {
    char ch = *p++;
    if (ch == '\\') {
      char e = *p++;
      switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'n': ch = '\n'; break;
        case 't': ch = '\t'; break;
        case 'r': ch = '\r'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        default: return NULL; /* \uXXXX and the rest are not for flat ids */
      }
    } else if ((unsigned char)ch < 0x20) {
      return NULL;
    }
    if (out != NULL) {
      if (n + 1 < cap)
        out[n] = ch;
      else
        overflow = 1;
    }
    n++;
  }
  if (*p != '"') return NULL;
  if (out != NULL) {
    if (overflow) return NULL;
    out[n] = '\0';
  }
  if (len != NULL) *len = (int)n;
  return p + 1;
}

/* Skips a scalar value (number, true, false, null); returns NULL on nesting. */
static const char* skip_scalar(const char* p, const char** end) {
  const char* s = p;
  while (*p != '\0' && *p != ',' && *p != '}' && *p != ' ' && *p != '\t' && *p != '\n' &&
         *p != '\r') {
    if (*p == '{' || *p == '[' || *p == '"') return NULL;
    p++;
  }
  if (p == s) return NULL;
  *end = p;
  return p;
}

int faas_wire_json_get(const char* json, const char* key, char* out, size_t cap) {
  if (json == NULL || key == NULL || out == NULL || cap == 0) return -1;
  const char* p = skip_ws(json);
  if (*p++ != '{') return -1;
  size_t klen = strlen(key);
  for (;;) {
    p = skip_ws(p);
    if (*p == '}') return -1;
    if (*p++ != '"') return -1;
    const char* kstart = p;
    int n = 0;
    p = copy_string(p, NULL, 0, &n);
    if (p == NULL) return -1;
    /* Keys are compared raw: the keys faaskit looks for have no escapes. */
    int match = (size_t)n == klen && memcmp(kstart, key, klen) == 0;
    p = skip_ws(p);
    if (*p++ != ':') return -1;
    p = skip_ws(p);
    if (*p == '"') {
      int vlen = 0;
      const char* q = copy_string(p + 1, match ? out : NULL, cap, &vlen);
      if (q == NULL) return -1;
      if (match) return vlen;
      p = q;
    } else {
      const char* end = NULL;
      if (skip_scalar(p, &end) == NULL) return -1;
      if (match) {
        size_t vlen = (size_t)(end - p);
        if (vlen + 1 > cap) return -1;
        memcpy(out, p, vlen);
        out[vlen] = '\0';
        return (int)vlen;
      }
      p = end;
    }
    p = skip_ws(p);
    if (*p == ',') {
      p++;
      continue;
    }
    return -1;
  }
}
