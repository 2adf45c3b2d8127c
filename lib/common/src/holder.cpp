#include "faas/holder.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

#include "faas/fd.hpp"

namespace faas {

namespace {

struct StatFields {
  char state = '?';
  std::uint64_t start_time = 0;
};

// /proc/PID/stat is "pid (comm) state ppid ... starttime ...". comm is
// chosen by the process (prctl PR_SET_NAME) and may hold spaces and ')', so
// the fields are counted from the LAST ')'.
Result<StatFields> parse_stat(std::string_view stat) {
  auto close = stat.rfind(')');
  if (close == std::string_view::npos) return Error(Exit::data, "stat: no `)` after comm");
  std::string_view rest = stat.substr(close + 1);
  StatFields out;
  // Field 3 (state) is the first after comm; starttime is field 22.
  int field = 2;
  std::size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    std::size_t start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\n') ++i;
    if (start == i) break;
    ++field;
    std::string_view tok = rest.substr(start, i - start);
    if (field == 3) out.state = tok[0];
    if (field == 22) {
      auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), out.start_time);
      if (ec != std::errc() || p != tok.data() + tok.size())
        return Error(Exit::data, "stat: start time `" + std::string(tok) + "` is not a number");
      return out;
    }
    if (i < rest.size() && rest[i] == '\n') break;
  }
  return Error(Exit::data, "stat: " + std::to_string(field) + " fields, start time is field 22");
}

Result<StatFields> read_stat(pid_t pid) {
  if (pid <= 0) return Error(Exit::no_input, "process " + std::to_string(pid) + " does not exist");
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ESRCH)
      return Error(Exit::no_input, "process " + std::to_string(pid) + " does not exist");
    return sys_error("open " + path);
  }
  // One read returns the whole line (the kernel formats it at once); loop
  // only for the unlikely short read.
  std::string buf;
  char chunk[1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The process was reaped between open and read.
      if (errno == ESRCH)
        return Error(Exit::no_input, "process " + std::to_string(pid) + " does not exist");
      return sys_error("read " + path, Exit::io);
    }
    if (n == 0) break;
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  auto r = parse_stat(buf);
  if (!r) return std::move(r).error().wrap(path);
  return r;
}

}  // namespace

Result<std::uint64_t> parse_stat_start_time(std::string_view stat) {
  FAAS_TRY_ASSIGN(StatFields f, parse_stat(stat));
  return f.start_time;
}

Result<Holder> holder_of(pid_t pid) {
  FAAS_TRY_ASSIGN(StatFields f, read_stat(pid));
  return Holder{pid, f.start_time};
}

Result<Holder> parent_holder() { return holder_of(::getppid()); }

Result<Holder> self_holder() { return holder_of(::getpid()); }

bool holder_alive(const Holder& h) {
  auto f = read_stat(h.pid);
  if (!f) {
    if (f.error().status() == Exit::no_input) return false;
    // /proc hidden from us (hidepid=2) or unreadable: the start time cannot
    // be checked, so only a pid that surely does not exist counts as dead.
    // Taking a live holder for dead would hand its resource to another.
    return ::kill(h.pid, 0) == 0 || errno == EPERM;
  }
  // 'Z' zombie, 'X' dead: exited, whatever its parent does next.
  if (f->state == 'Z' || f->state == 'X') return false;
  return f->start_time == h.start_time;
}

}  // namespace faas
