#include "faas/result.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace faas {
namespace {

TEST(Error, WrapPrependsContext) {
  Error e(Exit::os, "mount overlay at `/x`", EINVAL);
  e.wrap("fork 3f2a");
  EXPECT_EQ(e.msg(), "fork 3f2a: mount overlay at `/x`");
  EXPECT_EQ(e.status(), Exit::os);
  EXPECT_EQ(e.err(), EINVAL);
  Error moved = Error(Exit::data, "bad").wrap("b").wrap("a");
  EXPECT_EQ(moved.msg(), "a: b: bad");
  Error empty(Exit::io, "");
  EXPECT_EQ(empty.wrap("only").msg(), "only");
}

TEST(Error, WhatAppendsStrerror) {
  EXPECT_EQ(Error(Exit::os, "mount overlay at `/x`", EINVAL).what(),
            "mount overlay at `/x`: Invalid argument");
  EXPECT_EQ(Error(Exit::data, "stdin line 3: invalid JSON").what(), "stdin line 3: invalid JSON");
  EXPECT_EQ(Error(Exit::os, "", ENOENT).what(), std::strerror(ENOENT));
}

TEST(Error, WithStatus) {
  Error e = Error(Exit::os, "x").with_status(Exit::temp);
  EXPECT_EQ(e.status(), Exit::temp);
}

TEST(Errno, StatusForErrno) {
  EXPECT_EQ(status_for_errno(EACCES, Exit::os), Exit::no_perm);
  EXPECT_EQ(status_for_errno(EPERM, Exit::os), Exit::no_perm);
  EXPECT_EQ(status_for_errno(ENOENT, Exit::os), Exit::no_input);
  EXPECT_EQ(status_for_errno(ENOSYS, Exit::os), Exit::unavailable);
  EXPECT_EQ(status_for_errno(EOPNOTSUPP, Exit::os), Exit::unavailable);
  EXPECT_EQ(status_for_errno(EAGAIN, Exit::os), Exit::temp);
  EXPECT_EQ(status_for_errno(EBUSY, Exit::os), Exit::temp);
  EXPECT_EQ(status_for_errno(EIO, Exit::os), Exit::os);
  EXPECT_EQ(status_for_errno(EIO, Exit::io), Exit::io);
}

TEST(Errno, SysErrorTakesErrno) {
  errno = EACCES;
  Error e = sys_error("open `/etc/shadow`");
  EXPECT_EQ(e.err(), EACCES);
  EXPECT_EQ(e.status(), Exit::no_perm);
  EXPECT_EQ(e.what(), "open `/etc/shadow`: Permission denied");
  EXPECT_EQ(sys_error(EPIPE, "write", Exit::io).status(), Exit::io);
}

TEST(ExitStatus, NumbersAndNames) {
  EXPECT_EQ(to_int(Exit::usage), 64);
  EXPECT_EQ(to_int(Exit::data), 65);
  EXPECT_EQ(to_int(Exit::temp), 75);
  EXPECT_EQ(to_int(Exit::config), 78);
  EXPECT_EQ(to_int(Exit::cant_exec), 126);
  EXPECT_EQ(to_int(Exit::not_found), 127);
  EXPECT_STREQ(exit_name(Exit::temp), "temp");
  EXPECT_STREQ(exit_name(Exit::cant_exec), "cant_exec");
  EXPECT_STREQ(exit_name(Exit::not_found), "not_found");
  EXPECT_STREQ(exit_name(static_cast<Exit>(3)), "unknown");
}

Result<int> parse_positive(int v) {
  if (v <= 0) return Error(Exit::data, "not positive: " + std::to_string(v));
  return v;
}

Result<int> doubled(int v) {
  FAAS_TRY_ASSIGN(int x, parse_positive(v));
  return 2 * x;
}

Result<void> check(int v) {
  FAAS_TRY(parse_positive(v));
  return {};
}

Result<void> check_ctx(int v) {
  FAAS_TRY_CTX(check(v), "record " + std::to_string(v));
  return {};
}

int g_after_try = 0;
Result<void> counts_after_try(int v) {
  FAAS_TRY(check(v));
  ++g_after_try;
  return {};
}

// A move-only value goes through FAAS_TRY_ASSIGN without a copy.
Result<std::unique_ptr<int>> boxed(int v) {
  if (v < 0) return Error(Exit::data, "negative");
  return std::make_unique<int>(v);
}
Result<int> unboxed(int v) {
  FAAS_TRY_ASSIGN(auto p, boxed(v));
  return *p + 1;
}

TEST(Macros, TryAssignPropagates) {
  auto ok = doubled(21);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 42);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().status(), Exit::data);
  EXPECT_EQ(bad.error().msg(), "not positive: -1");

  EXPECT_EQ(*unboxed(1), 2);
  EXPECT_EQ(unboxed(-1).error().msg(), "negative");
}

TEST(Macros, TryStopsAtTheFirstError) {
  g_after_try = 0;
  EXPECT_TRUE(counts_after_try(1).ok());
  EXPECT_EQ(g_after_try, 1);
  auto r = counts_after_try(0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(g_after_try, 1);  // the code after FAAS_TRY did not run
  EXPECT_EQ(r.error().msg(), "not positive: 0");
}

TEST(Macros, TryCtxWraps) {
  EXPECT_TRUE(check_ctx(3).ok());
  auto r = check_ctx(-2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().msg(), "record -2: not positive: -2");
  EXPECT_EQ(r.error().status(), Exit::data);
}

TEST(ResultType, ValueAndErrorAccess) {
  Result<std::string> r(std::string("abc"));
  ASSERT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r->size(), 3u);
  Result<void> v;
  EXPECT_TRUE(v.ok());
  Result<void> e = Error(Exit::temp, "busy");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.error().status(), Exit::temp);
}

}  // namespace
}  // namespace faas
