// Helpers shared by the lib/common unit tests.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include <gtest/gtest.h>

#include "faas/fd.hpp"

namespace faas::test {

// A private directory under $FAAS_TEST_TMPDIR (or /tmp), removed with
// everything in it at scope exit, so tests can run in parallel.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("FAAS_TEST_TMPDIR");
    std::filesystem::path root = (base != nullptr && *base != '\0') ? base : "/tmp";
    std::error_code ec;
    std::filesystem::create_directories(root, ec);
    std::string tmpl = (root / "faas-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
      return;
    }
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct Pipe {
  Fd rd;
  Fd wr;
};

inline Pipe make_pipe(int flags = O_CLOEXEC) {
  int p[2];
  if (::pipe2(p, flags) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return {};
  }
  return {Fd(p[0]), Fd(p[1])};
}

inline void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ASSERT_GT(n, 0) << std::strerror(errno);
    off += static_cast<std::size_t>(n);
  }
}

// Reads until EOF. A test that expects EOF must fail, not hang, when a
// leaked copy of the write end keeps the pipe open: give up after
// timeout_ms.
inline std::string read_all(int fd, int timeout_ms = 10000) {
  std::string out;
  char buf[4096];
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    long waited = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::max(0L, timeout_ms - waited)));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      ADD_FAILURE() << "no end of file on fd " << fd << " within " << timeout_ms << " ms";
      break;
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Entries of /proc/self/fd, to catch fd leaks.
inline int count_open_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the directory stream's own fd
}

// Waits for a forked test child and returns its shell status.
inline int wait_pid(pid_t pid) {
  int ws = 0;
  while (::waitpid(pid, &ws, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(ws)) return WEXITSTATUS(ws);
  if (WIFSIGNALED(ws)) return 128 + WTERMSIG(ws);
  return -1;
}

}  // namespace faas::test
