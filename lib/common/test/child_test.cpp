#include "faas/child.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace faas {
namespace {

// Runs each test twice: with clone3, and with the fork + pidfd_open path
// taken where clone3 is missing.
class ChildTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { detail::force_spawn_fallback(GetParam()); }
  void TearDown() override { detail::force_spawn_fallback(false); }
};

INSTANTIATE_TEST_SUITE_P(Spawn, ChildTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "fork" : "clone3"; });

int run(const std::vector<std::string>& argv, const SpawnOptions& opts = {}) {
  auto c = Child::spawn(argv, opts);
  if (!c) {
    ADD_FAILURE() << c.error().what();
    return -1;
  }
  auto s = c->wait();
  if (!s) {
    ADD_FAILURE() << s.error().what();
    return -1;
  }
  return *s;
}

bool pid_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

TEST_P(ChildTest, ExitStatuses) {
  EXPECT_EQ(run({"/bin/true"}), 0);
  EXPECT_EQ(run({"/bin/false"}), 1);
  EXPECT_EQ(run({"sh", "-c", "exit 42"}), 42);  // PATH search
  EXPECT_EQ(run({"sh", "-c", "kill -9 $$"}), 137);
  EXPECT_EQ(run({"sh", "-c", "kill -TERM $$"}), 143);
}

TEST_P(ChildTest, MissingCommandIs127) {
  auto c = Child::spawn({"faas-no-such-command-x7", "arg"});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().status(), Exit::not_found);
  EXPECT_EQ(to_int(c.error().status()), 127);
  EXPECT_EQ(c.error().err(), ENOENT);
  EXPECT_NE(c.error().what().find("faas-no-such-command-x7"), std::string::npos)
      << c.error().what();
  auto abs = Child::spawn({"/nonexistent/dir/cmd"});
  ASSERT_FALSE(abs.ok());
  EXPECT_EQ(to_int(abs.error().status()), 127);
}

TEST_P(ChildTest, NonExecutableIs126) {
  test::TempDir tmp;
  const std::string script = (tmp / "script.sh").string();
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  ASSERT_EQ(::chmod(script.c_str(), 0644), 0);
  auto c = Child::spawn({script});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().status(), Exit::cant_exec);
  EXPECT_EQ(to_int(c.error().status()), 126);
  EXPECT_EQ(c.error().err(), EACCES);
  EXPECT_NE(c.error().what().find(script), std::string::npos) << c.error().what();

  // A directory is not executable either.
  auto dir = Child::spawn({tmp.path().string()});
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(to_int(dir.error().status()), 126);

  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);
  EXPECT_EQ(run({script}), 0);
}

TEST_P(ChildTest, FailedExecLeavesNoZombie) {
  // The failed child is reaped by spawn: no child of ours remains.
  auto c = Child::spawn({"faas-no-such-command-x7"});
  ASSERT_FALSE(c.ok());
  siginfo_t info{};
  EXPECT_EQ(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_P(ChildTest, FdMapping) {
  auto out = test::make_pipe();
  SpawnOptions opts;
  opts.fds = {{out.wr.get(), 5}};
  auto c = Child::spawn({"sh", "-c", "echo mapped >&5"}, opts);
  ASSERT_TRUE(c.ok()) << c.error().what();
  out.wr.reset();
  EXPECT_EQ(test::read_all(out.rd.get()), "mapped\n");
  EXPECT_EQ(*c->wait(), 0);
}

TEST_P(ChildTest, FdMappingSwapsCollidingNumbers) {
  // Child fd numbers that are the parent's fds of the other mapping: a
  // naive dup2 loop would clobber one before copying it.
  auto a = test::make_pipe();
  auto b = test::make_pipe();
  const int na = a.wr.get();
  const int nb = b.wr.get();
  SpawnOptions opts;
  opts.fds = {{na, nb}, {nb, na}};
  const std::string script =
      "echo to-a >&" + std::to_string(nb) + "; echo to-b >&" + std::to_string(na);
  auto c = Child::spawn({"sh", "-c", script}, opts);
  ASSERT_TRUE(c.ok()) << c.error().what();
  a.wr.reset();
  b.wr.reset();
  EXPECT_EQ(test::read_all(a.rd.get()), "to-a\n");
  EXPECT_EQ(test::read_all(b.rd.get()), "to-b\n");
  EXPECT_EQ(*c->wait(), 0);
}

TEST_P(ChildTest, FdMappingOntoStdout) {
  auto out = test::make_pipe();
  SpawnOptions opts;
  opts.fds = {{out.wr.get(), 1}, {out.wr.get(), out.wr.get()}};  // same number: kept open
  auto c = Child::spawn(
      {"sh", "-c", "echo one; echo two >&" + std::to_string(out.wr.get())}, opts);
  ASSERT_TRUE(c.ok()) << c.error().what();
  out.wr.reset();
  EXPECT_EQ(test::read_all(out.rd.get()), "one\ntwo\n");
  EXPECT_EQ(*c->wait(), 0);
}

TEST_P(ChildTest, OtherFdsAreClosed) {
  // An fd without O_CLOEXEC must still not reach the command.
  auto leak = test::make_pipe(0);
  ASSERT_FALSE(::fcntl(leak.wr.get(), F_GETFD) & FD_CLOEXEC);
  const std::string n = std::to_string(leak.wr.get());
  EXPECT_EQ(run({"sh", "-c", "test -e /proc/self/fd/" + n}), 1);
  // And a pipe's reader sees EOF while the child still runs.
  auto c = Child::spawn({"sleep", "100"});
  ASSERT_TRUE(c.ok()) << c.error().what();
  leak.wr.reset();
  EXPECT_EQ(test::read_all(leak.rd.get()), "");
  // stdio stays.
  EXPECT_EQ(run({"sh", "-c", "test -e /proc/self/fd/2"}), 0);
}

TEST_P(ChildTest, BadFdMappings) {
  SpawnOptions dup;
  dup.fds = {{0, 7}, {1, 7}};
  auto c = Child::spawn({"/bin/true"}, dup);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().status(), Exit::software);

  SpawnOptions closed;
  closed.fds = {{900, 3}};  // not open
  auto d = Child::spawn({"/bin/true"}, closed);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().err(), EBADF);
}

TEST_P(ChildTest, Environment) {
  ::setenv("FAAS_CHILD_TEST_INHERITED", "yes", 1);
  SpawnOptions add;
  add.env = {"FAAS_CHILD_TEST_SET=bar"};
  EXPECT_EQ(run({"/bin/sh", "-c", "test \"$FAAS_CHILD_TEST_SET\" = bar && "
                                  "test \"$FAAS_CHILD_TEST_INHERITED\" = yes"},
                add),
            0);

  SpawnOptions over;
  over.env = {"FAAS_CHILD_TEST_INHERITED=over", "FAAS_CHILD_TEST_INHERITED=again"};
  EXPECT_EQ(run({"/bin/sh", "-c", "test \"$FAAS_CHILD_TEST_INHERITED\" = again && "
                                  "test $(env | grep -c ^FAAS_CHILD_TEST_INHERITED=) = 1"},
                over),
            0);

  SpawnOptions unset;
  unset.env = {"FAAS_CHILD_TEST_INHERITED"};
  EXPECT_EQ(run({"/bin/sh", "-c", "test -z \"${FAAS_CHILD_TEST_INHERITED+set}\""}, unset), 0);

  SpawnOptions only;
  only.inherit_env = false;
  only.env = {"ONLY=1"};
  auto out = test::make_pipe();
  only.fds = {{out.wr.get(), 1}};
  auto c = Child::spawn({"/usr/bin/env"}, only);
  ASSERT_TRUE(c.ok()) << c.error().what();
  out.wr.reset();
  EXPECT_EQ(test::read_all(out.rd.get()), "ONLY=1\n");
  EXPECT_EQ(*c->wait(), 0);
  ::unsetenv("FAAS_CHILD_TEST_INHERITED");
}

TEST_P(ChildTest, WorkingDirectory) {
  test::TempDir tmp;
  auto out = test::make_pipe();
  SpawnOptions opts;
  opts.cwd = tmp.path().string();
  opts.fds = {{out.wr.get(), 1}};
  auto c = Child::spawn({"/bin/sh", "-c", "pwd -P"}, opts);
  ASSERT_TRUE(c.ok()) << c.error().what();
  out.wr.reset();
  EXPECT_EQ(test::read_all(out.rd.get()),
            std::filesystem::canonical(tmp.path()).string() + "\n");
  EXPECT_EQ(*c->wait(), 0);

  SpawnOptions missing;
  missing.cwd = (tmp / "missing").string();
  auto bad = Child::spawn({"/bin/true"}, missing);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().err(), ENOENT);
  EXPECT_NE(bad.error().what().find("chdir"), std::string::npos) << bad.error().what();
}

TEST_P(ChildTest, SignalsAreReset) {
  // The parent ignores SIGTERM and blocks SIGUSR1; the command must get
  // neither (a shell cannot even undo an ignored signal).
  struct sigaction ign {}, old_term {};
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGTERM, &ign, &old_term), 0);
  sigset_t usr1, old_mask;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &usr1, &old_mask), 0);

  int term = run({"sh", "-c", "kill -TERM $$; exit 0"});
  int usr = run({"sh", "-c", "kill -USR1 $$; exit 0"});

  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  EXPECT_EQ(term, 128 + SIGTERM);
  EXPECT_EQ(usr, 128 + SIGUSR1);
  // The parent's own mask is back as it was.
  sigset_t now;
  ::sigprocmask(SIG_SETMASK, nullptr, &now);
  EXPECT_FALSE(sigismember(&now, SIGUSR1));
  EXPECT_FALSE(sigismember(&now, SIGTERM));
}

TEST_P(ChildTest, DestructorKillsAndReaps) {
  pid_t pid = -1;
  {
    auto c = Child::spawn({"sleep", "100"});
    ASSERT_TRUE(c.ok()) << c.error().what();
    pid = c->pid();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(::kill(pid, 0), 0);
  }
  EXPECT_TRUE(pid_gone(pid)) << "pid " << pid << " still exists (not killed or not reaped)";
}

TEST_P(ChildTest, MoveAssignmentKillsThePrevious) {
  auto a = Child::spawn({"sleep", "100"});
  auto b = Child::spawn({"/bin/true"});
  ASSERT_TRUE(a.ok() && b.ok());
  Child c = std::move(*a);
  const pid_t first = c.pid();
  EXPECT_EQ(a->pid(), -1);  // moved-from owns nothing
  c = std::move(*b);
  EXPECT_TRUE(pid_gone(first));
  EXPECT_EQ(*c.wait(), 0);
}

TEST_P(ChildTest, WaitForTimesOut) {
  auto c = Child::spawn({"sleep", "100"});
  ASSERT_TRUE(c.ok()) << c.error().what();
  auto r = c->wait_for(50);
  ASSERT_TRUE(r.ok()) << r.error().what();
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(::kill(c->pid(), 0), 0);  // still running
  ASSERT_TRUE(c->kill(SIGTERM).ok());
  auto done = c->wait_for(10000);
  ASSERT_TRUE(done.ok()) << done.error().what();
  EXPECT_EQ(done->value_or(-1), 128 + SIGTERM);
  // Reaped: the status stays, signals are refused.
  EXPECT_EQ(*c->wait(), 128 + SIGTERM);
  EXPECT_EQ(c->wait_for(0)->value_or(-1), 128 + SIGTERM);
  auto k = c->kill(SIGTERM);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().err(), ESRCH);
}

TEST_P(ChildTest, WaitForReturnsExitStatus) {
  auto c = Child::spawn({"sh", "-c", "exit 3"});
  ASSERT_TRUE(c.ok()) << c.error().what();
  auto r = c->wait_for(10000);
  ASSERT_TRUE(r.ok()) << r.error().what();
  EXPECT_EQ(r->value_or(-1), 3);
}

TEST_P(ChildTest, PidfdTracksTheChild) {
  auto c = Child::spawn({"sleep", "100"});
  ASSERT_TRUE(c.ok()) << c.error().what();
  EXPECT_GE(c->pidfd(), 0);
  EXPECT_TRUE(::fcntl(c->pidfd(), F_GETFD) & FD_CLOEXEC);
  ASSERT_TRUE(c->kill(SIGKILL).ok());
  EXPECT_EQ(*c->wait(), 137);
  EXPECT_EQ(c->pidfd(), -1);  // closed once reaped
}

TEST_P(ChildTest, ReleaseKeepsTheProcess) {
  pid_t pid = -1;
  {
    auto c = Child::spawn({"sleep", "100"});
    ASSERT_TRUE(c.ok()) << c.error().what();
    pid = c->release();
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(::kill(pid, 0), 0) << "released child was killed";
  ::kill(pid, SIGKILL);
  EXPECT_EQ(test::wait_pid(pid), 137);
}

TEST_P(ChildTest, NewPidNamespace) {
  SpawnOptions opts;
  opts.clone_flags = CLONE_NEWPID;
  auto out = test::make_pipe();
  opts.fds = {{out.wr.get(), 1}};
  auto c = Child::spawn({"/bin/sh", "-c", "echo $$"}, opts);
  if (GetParam()) {
    // Without clone3 there is no way to honour the flags.
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().status(), Exit::unavailable);
    return;
  }
  if (!c && c.error().status() == Exit::no_perm) GTEST_SKIP() << c.error().what();
  ASSERT_TRUE(c.ok()) << c.error().what();
  out.wr.reset();
  EXPECT_EQ(test::read_all(out.rd.get()), "1\n");
  EXPECT_EQ(*c->wait(), 0);
}

TEST(Child, RejectsNonNamespaceFlagsAndEmptyArgv) {
  SpawnOptions opts;
  opts.clone_flags = CLONE_VM;
  auto c = Child::spawn({"/bin/true"}, opts);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().status(), Exit::software);
  auto e = Child::spawn({});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().status(), Exit::software);
}

TEST(Child, DefaultConstructedIsInert) {
  Child c;
  EXPECT_EQ(c.pid(), -1);
  EXPECT_FALSE(c.wait().ok());
  EXPECT_FALSE(c.kill(SIGTERM).ok());
}

TEST(ShellStatus, FromWaitStatus) {
  EXPECT_EQ(shell_status(0), 0);
  EXPECT_EQ(shell_status(3 << 8), 3);
  EXPECT_EQ(shell_status(SIGKILL), 137);
  EXPECT_EQ(shell_status(SIGSEGV | 0x80), 128 + SIGSEGV);  // core dumped
}

}  // namespace
}  // namespace faas
