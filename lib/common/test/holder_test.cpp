#include "faas/holder.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "test_util.hpp"

namespace faas {
namespace {

// A forked child that renames itself to `comm`, reports ready, and exits
// when the parent closes `release`.
struct Sleeper {
  pid_t pid = -1;
  Fd release;
  explicit Sleeper(const char* comm = nullptr) {
    auto ready = test::make_pipe();
    auto hold = test::make_pipe();
    pid = ::fork();
    if (pid == 0) {
      if (comm != nullptr) ::prctl(PR_SET_NAME, comm);
      char ch = 'r';
      if (::write(ready.wr.get(), &ch, 1) != 1) ::_exit(2);
      hold.wr.reset();
      while (::read(hold.rd.get(), &ch, 1) < 0 && errno == EINTR) {
      }
      ::_exit(0);
    }
    if (pid < 0) {
      ADD_FAILURE() << "fork: " << std::strerror(errno);
      return;
    }
    ready.wr.reset();
    char ch;
    EXPECT_EQ(::read(ready.rd.get(), &ch, 1), 1);
    release = std::move(hold.wr);
  }
  // Lets it exit; returns without reaping it (a zombie).
  void let_exit() { release.reset(); }
  // Waits for the zombie state without reaping.
  void wait_exited() {
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
  }
  int reap() {
    int s = test::wait_pid(pid);
    pid = -1;
    return s;
  }
  ~Sleeper() {
    if (pid > 0) {
      release.reset();
      test::wait_pid(pid);
    }
  }
};

TEST(Holder, Self) {
  auto h = self_holder();
  ASSERT_TRUE(h.ok()) << h.error().what();
  EXPECT_EQ(h->pid, ::getpid());
  EXPECT_GT(h->start_time, 0u);
  EXPECT_TRUE(holder_alive(*h));
  auto again = holder_of(::getpid());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *h);  // start time is stable
}

TEST(Holder, Parent) {
  auto h = parent_holder();
  ASSERT_TRUE(h.ok()) << h.error().what();
  EXPECT_EQ(h->pid, ::getppid());
  EXPECT_TRUE(holder_alive(*h));
  // The parent started no later than we did.
  EXPECT_LE(h->start_time, self_holder()->start_time);
}

TEST(Holder, DeadChildIsNotAlive) {
  Sleeper child;
  auto h = holder_of(child.pid);
  ASSERT_TRUE(h.ok()) << h.error().what();
  EXPECT_TRUE(holder_alive(*h));
  EXPECT_GE(h->start_time, self_holder()->start_time);

  child.let_exit();
  child.wait_exited();
  EXPECT_FALSE(holder_alive(*h)) << "a zombie holds nothing";
  EXPECT_EQ(child.reap(), 0);
  EXPECT_FALSE(holder_alive(*h));
  auto gone = holder_of(h->pid);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().status(), Exit::no_input);
}

TEST(Holder, WrongStartTimeIsNotAlive) {
  auto h = self_holder();
  ASSERT_TRUE(h.ok());
  // Same pid, other start time: the pid was recycled by another process.
  EXPECT_FALSE(holder_alive(Holder{h->pid, h->start_time + 1}));
  EXPECT_FALSE(holder_alive(Holder{h->pid, 0}));
  EXPECT_FALSE(holder_alive(Holder{0, h->start_time}));
  EXPECT_FALSE(holder_alive(Holder{-1, h->start_time}));
}

TEST(Holder, MissingPid) {
  for (pid_t pid : {0, -5, 1 << 30}) {
    auto h = holder_of(pid);
    ASSERT_FALSE(h.ok()) << pid;
    EXPECT_EQ(h.error().status(), Exit::no_input);
  }
}

TEST(Holder, CommWithParenthesesAndSpaces) {
  Sleeper child("a) (b c");
  auto h = holder_of(child.pid);
  ASSERT_TRUE(h.ok()) << h.error().what();
  EXPECT_TRUE(holder_alive(*h));
  EXPECT_GE(h->start_time, self_holder()->start_time);
}

// A /proc/PID/stat line with `comm` and starttime (field 22) filled in.
std::string stat_line(const std::string& comm, const std::string& start) {
  std::string s = "4242 (" + comm + ") S";
  for (int field = 4; field <= 52; ++field)
    s += " " + (field == 22 ? start : std::to_string(field * 10));
  return s + "\n";
}

TEST(ParseStat, StartTime) {
  auto t = parse_stat_start_time(stat_line("bash", "987654321"));
  ASSERT_TRUE(t.ok()) << t.error().what();
  EXPECT_EQ(*t, 987654321u);
}

TEST(ParseStat, CommWithParenthesesAndSpaces) {
  for (const char* comm : {"a) (b c", ") ) )", "x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
                           "(", "", " "}) {
    auto t = parse_stat_start_time(stat_line(comm, "77"));
    ASSERT_TRUE(t.ok()) << comm << ": " << t.error().what();
    EXPECT_EQ(*t, 77u) << comm;
  }
}

TEST(ParseStat, Malformed) {
  EXPECT_EQ(parse_stat_start_time("").error().status(), Exit::data);
  EXPECT_EQ(parse_stat_start_time("4242 (bash S 1 2 3").error().status(), Exit::data);
  EXPECT_EQ(parse_stat_start_time("4242 (bash) S 1 2 3\n").error().status(), Exit::data);
  EXPECT_EQ(parse_stat_start_time(stat_line("bash", "12x")).error().status(), Exit::data);
  EXPECT_EQ(parse_stat_start_time(stat_line("bash", "-1")).error().status(), Exit::data);
}

TEST(ParseStat, RealSelf) {
  // The start time from /proc/self/stat matches holder_of(getpid()).
  std::string path = "/proc/" + std::to_string(::getpid()) + "/stat";
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  std::string text = test::read_all(fd.get());
  auto t = parse_stat_start_time(text);
  ASSERT_TRUE(t.ok()) << t.error().what();
  EXPECT_EQ(*t, self_holder()->start_time);
}

}  // namespace
}  // namespace faas
