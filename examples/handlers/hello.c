/* A faaskit handler in C: answers one HTTP request on the client connection
 * that faas-init passed, then exits.
 *
 * The connection is FAAS_CLIENT_FD; under socket activation (LISTEN_FDS set
 * for this process, as `faas-init --listen-fds` or systemd do) it is fd 3. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int client_fd(void) {
  const char* listen_fds = getenv("LISTEN_FDS");
  const char* listen_pid = getenv("LISTEN_PID");
  if (listen_fds != NULL && atoi(listen_fds) >= 1 &&
      (listen_pid == NULL || atol(listen_pid) == (long)getpid()))
    return 3;
  const char* fd = getenv("FAAS_CLIENT_FD");
  if (fd == NULL || *fd == '\0') return -1;
  char* end;
  long v = strtol(fd, &end, 10);
  return *end == '\0' && v >= 0 && v < 1 << 20 ? (int)v : -1;
}

/* Reads the request head: up to the blank line that ends the headers. */
static int read_head(int fd, char* buf, size_t cap) {
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
    buf[n] = '\0';
    if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL) return 0;
  }
  buf[n] = '\0';
  return n > 0 ? 0 : -1;
}

static int write_all(int fd, const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

int main(void) {
  int fd = client_fd();
  if (fd < 0) {
    fputs("hello-c: FAAS_CLIENT_FD is not set (run me under faas-init)\n", stderr);
    return 64;
  }
  char head[8192];
  if (read_head(fd, head, sizeof head) != 0) {
    fputs("hello-c: the client sent no request\n", stderr);
    return 65;
  }
  static const char body[] = "hello from faaskit (c)\n";
  char response[512];
  int n = snprintf(response, sizeof response,
                   "HTTP/1.1 200 OK\r\n"
                   "Content-Type: text/plain\r\n"
                   "Content-Length: %zu\r\n"
                   "Connection: close\r\n"
                   "\r\n%s",
                   sizeof body - 1, body);
  if (n < 0 || (size_t)n >= sizeof response || write_all(fd, response, (size_t)n) != 0) {
    fprintf(stderr, "hello-c: write response: %s\n", strerror(errno));
    return 74;
  }
  shutdown(fd, SHUT_WR);
  close(fd);
  return 0;
}
