// Output without stdio (it would triple the binary): bounded text buffers,
// numbers, JSON strings, and the one-line error report.
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "init.hpp"

namespace faas {

void text_mem(Text* t, const char* s, size_t n) {
  size_t room = sizeof t->buf - t->len;
  if (n > room) {
    n = room;
    t->overflow = true;
  }
  memcpy(t->buf + t->len, s, n);
  t->len += n;
}

void text_str(Text* t, const char* s) { text_mem(t, s, strlen(s)); }

void text_u64(Text* t, uint64_t v) {
  char digits[20];
  size_t n = 0;
  do {
    digits[sizeof digits - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  text_mem(t, digits + sizeof digits - n, n);
}

void text_i64(Text* t, int64_t v) {
  if (v < 0) {
    text_mem(t, "-", 1);
    text_u64(t, (uint64_t)0 - (uint64_t)v);
  } else {
    text_u64(t, (uint64_t)v);
  }
}

void text_json_string(Text* t, const char* s) {
  static const char hex[] = "0123456789abcdef";
  text_mem(t, "\"", 1);
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      text_mem(t, esc, 2);
    } else if (c < 0x20) {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      text_mem(t, esc, 6);
    } else {
      text_mem(t, s, 1);
    }
  }
  text_mem(t, "\"", 1);
}

const char* text_cstr(Text* t) {
  if (t->len == sizeof t->buf) t->len--;
  t->buf[t->len] = '\0';
  return t->buf;
}

bool write_all(int fd, const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    s += w;
    n -= (size_t)w;
  }
  return true;
}

bool parse_int(const char* s, long min, long max, long* out) {
  if (s == nullptr || *s == '\0') return false;
  long v = 0;
  for (const char* p = s; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') return false;
    long d = *p - '0';
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v < min) return false;
  *out = v;
  return true;
}

uint64_t now_us() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int fail(Error* e, int status, const char* what, const char* arg, const char* why) {
  Text t;
  text_str(&t, what);
  if (arg != nullptr) {
    text_str(&t, " `");
    text_str(&t, arg);
    text_str(&t, "`");
  }
  text_str(&t, ": ");
  text_str(&t, why);
  size_t n = t.len < sizeof e->msg - 1 ? t.len : sizeof e->msg - 1;
  memcpy(e->msg, t.buf, n);
  e->msg[n] = '\0';
  e->status = status;
  return status;
}

int fail_errno(Error* e, int status, const char* what, const char* arg, int err) {
  return fail(e, status, what, arg, strerror(err));
}

void report(const Error* e) {
  Text t;
  text_str(&t, "faas-init: ");
  text_str(&t, e->msg);
  if (t.len == sizeof t.buf) t.len--;
  text_mem(&t, "\n", 1);
  write_all(2, t.buf, t.len);
}

}  // namespace faas
