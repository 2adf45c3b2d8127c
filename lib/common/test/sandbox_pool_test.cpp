// The state side of sandbox pools (no sandbox is started: the pools here
// have size 0; the bats tests start real ones).
#include "faas/sandbox_pool.hpp"

#include <gtest/gtest.h>

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <string>

#include "faas/sandbox_confine.hpp"
#include "test_util.hpp"

namespace faas {
namespace {

Json valid_template() {
  return Json{{"name", "hello"}, {"rootfs", "/srv/hello"}, {"cmd", {"/hello-c"}}, {"memory", 1024}};
}

TEST(SandboxTemplate, RoundTripsThroughJson) {
  auto t = template_from_json(valid_template());
  ASSERT_TRUE(t) << t.error().what();
  EXPECT_EQ(t->backend, "native");
  EXPECT_EQ(t->limits.memory_bytes, 1024u);
  auto again = template_from_json(template_json(*t));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->cmd, t->cmd);
  EXPECT_EQ(again->rootfs, "/srv/hello");
}

TEST(SandboxTemplate, RefusesWhatCannotRun) {
  for (const char* key : {"name", "rootfs", "cmd"}) {
    Json j = valid_template();
    j.erase(key);
    auto t = template_from_json(j);
    ASSERT_FALSE(t) << key;
    EXPECT_EQ(t.error().status(), Exit::data) << key;
  }
  Json rel = valid_template();
  rel["rootfs"] = "srv/hello";
  EXPECT_FALSE(template_from_json(rel));
  Json oci = valid_template();
  oci["backend"] = "oci";
  EXPECT_FALSE(template_from_json(oci));
  Json wrong = valid_template();
  wrong["memory"] = "lots";
  EXPECT_EQ(template_from_json(wrong).error().status(), Exit::data);
}

TEST(SandboxTemplate, BindsKsmAndUsernsRoundTrip) {
  Json j = valid_template();
  j["bind_ro"] = Json::array({Json{{"host", "/usr"}}, Json{{"host", "/srv/data"}, {"dest", "/data"}}});
  j["ksm"] = true;
  j["userns"] = true;
  auto t = template_from_json(j);
  ASSERT_TRUE(t) << t.error().what();
  ASSERT_EQ(t->binds_ro.size(), 2u);
  EXPECT_EQ(t->binds_ro[0].dest, "/usr");  // DEST defaults to HOST
  EXPECT_EQ(t->binds_ro[1].dest, "/data");
  EXPECT_TRUE(t->ksm);
  EXPECT_TRUE(t->userns);
  auto again = template_from_json(template_json(*t));
  ASSERT_TRUE(again) << again.error().what();
  EXPECT_EQ(again->binds_ro[1].host, "/srv/data");
  EXPECT_TRUE(again->ksm && again->userns);
  for (const char* dest : {"/", "/proc", "/dev/x", "/run", "/tmp/a", "relative", "/usr/../proc"}) {
    Json bad = valid_template();
    bad["bind_ro"] = Json::array({Json{{"host", "/usr"}, {"dest", dest}}});
    EXPECT_EQ(template_from_json(bad).error().status(), Exit::data) << dest;
  }
  Json range = valid_template();
  range["userns"] = Json{{"uid", 4294967295U}, {"count", 65536}};
  EXPECT_EQ(template_from_json(range).error().status(), Exit::data);
}

TEST(SandboxConfine, TheListHasTheDocumentedSystemCalls) {
  const auto& denied = kSandboxDeniedSyscalls;
  for (const char* name : {"mount", "umount2", "pivot_root", "kexec_load", "init_module", "finit_module",
                           "bpf", "perf_event_open", "ptrace", "keyctl", "add_key", "request_key",
                           "reboot", "unshare", "setns"})
    EXPECT_NE(std::find_if(std::begin(denied), std::end(denied), [&](const char* d) { return std::string(d) == name; }),
              std::end(denied))
        << name;
}

// The filter compiled at build time, loaded in a child: what it denies
// fails with EPERM before the kernel looks at the arguments (each call
// here would fail otherwise with EINVAL, EFAULT or EBADF, or do nothing),
// and what it allows still works. The child's exit status counts the
// failed checks.
TEST(SandboxConfine, TheLoadedFilterDeniesWithEpermAndAllowsTheRest) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!confine_sandbox_process()) ::_exit(100);
    int failed = 0;
    auto denied = [&](long rc) { failed += !(rc == -1 && errno == EPERM); };
    denied(::syscall(SYS_reboot, 0, 0, 0, nullptr));            // bad magic: EINVAL unfiltered
    denied(::syscall(SYS_mount, nullptr, nullptr, nullptr, 0, nullptr));
    denied(::syscall(SYS_umount2, nullptr, 0));
    denied(::syscall(SYS_pivot_root, nullptr, nullptr));
    denied(::syscall(SYS_setns, -1, 0));                        // EBADF unfiltered
    denied(::syscall(SYS_unshare, 0));                          // a no-op unfiltered
    denied(::syscall(SYS_ptrace, 0, 0, nullptr, nullptr));
    denied(::syscall(SYS_bpf, -1, nullptr, 0));
    denied(::syscall(SYS_keyctl, -1, 0, 0, 0, 0));
    failed += ::syscall(SYS_getpid) != ::getpid();
    failed += ::syscall(SYS_close, -1) != -1 || errno != EBADF;  // allowed: the kernel's own answer
    // NoNewPrivs set, the filter on (mode 2), the bounding set cut.
    failed += ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1;
    failed += ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2;
    failed += ::prctl(PR_CAPBSET_READ, 21 /* CAP_SYS_ADMIN */, 0, 0, 0) != 0;
    failed += ::prctl(PR_CAPBSET_READ, 18 /* CAP_SYS_CHROOT */, 0, 0, 0) != 1;
    ::_exit(failed);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "checks failed (100: confine_sandbox_process failed)";
}

TEST(SandboxPaths, FollowFromTheRunDirAndTheId) {
  EXPECT_EQ(sandbox_control("/run/faas", "abc"), "/run/faas/sandboxes/abc/ctl/control.sock");
  EXPECT_EQ(sandbox_dir("/run/faas", "abc"), "/run/faas/sandboxes/abc");
}

TEST(SandboxPools, EmptyAndMissingPoolsAndTemplates) {
  test::TempDir tmp;
  auto st = Stores::open(tmp.path() / "state", tmp.path() / "run");
  ASSERT_TRUE(st) << st.error().what();
  auto self = self_holder();
  ASSERT_TRUE(self);
  SandboxPools pools(*st, "/nonexistent/faas-init", *self);
  auto t = template_from_json(valid_template());
  ASSERT_TRUE(t);
  ASSERT_TRUE(pools.template_add(*t));
  EXPECT_EQ(pools.template_add(*t).error().status(), Exit::cant_create);
  EXPECT_EQ(pools.template_get("nope").error().status(), Exit::no_input);

  // A new pool takes the template of its name; size 0 starts nothing.
  auto warmed = pools.warm("hello", 0, "");
  ASSERT_TRUE(warmed) << warmed.error().what();
  EXPECT_TRUE(warmed->empty());
  EXPECT_EQ(pools.warm("other", 0, "").error().status(), Exit::no_input);
  EXPECT_EQ(pools.warm("hello", 0, "other").error().status(), Exit::data);

  auto empty = pools.acquire("hello", std::chrono::milliseconds(20), false, *self);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().status(), Exit::temp);
  EXPECT_EQ(pools.acquire("nope", std::chrono::milliseconds(0), false, *self).error().status(),
            Exit::unavailable);
  auto info = pools.pool_info("hello");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->misses, 1);
  EXPECT_EQ(info->size, 0);

  auto stats = pools.acquire_stats("hello");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->window, 0);  // a miss is no latency sample
  EXPECT_EQ(pools.pool_set("nope", PoolSettings{{}, 1000, {}}).error().status(), Exit::no_input);
  auto set = pools.pool_set("hello", PoolSettings{{}, 1000, 1});
  ASSERT_TRUE(set) << set.error().what();
  EXPECT_EQ(set->idle_ttl_ms, 1000);
  EXPECT_EQ(set->min_warm, 1);

  // --userns templates get ranges of their own.
  Json u = valid_template();
  u["userns"] = true;
  auto u1 = template_from_json(u);
  u["name"] = "other";
  auto u2 = template_from_json(u);
  ASSERT_TRUE(u1 && u2);
  u1->name = "u1";
  ASSERT_TRUE(pools.template_add(*u1));
  ASSERT_TRUE(pools.template_add(*u2));
  EXPECT_EQ(u1->userns_uid, kUsernsBase);
  EXPECT_EQ(u2->userns_uid, kUsernsBase + kUsernsRange);
  EXPECT_EQ(u2->userns_count, kUsernsRange);

  EXPECT_EQ(pools.template_rm("hello").error().status(), Exit::data);  // in use
  EXPECT_EQ(pools.release("ffffffffffff", false).error().status(), Exit::no_input);
  auto removed = pools.pool_rm("hello");
  ASSERT_TRUE(removed) << removed.error().what();
  EXPECT_EQ(*removed, 0u);
  EXPECT_TRUE(pools.template_rm("hello"));
  EXPECT_EQ(pools.pool_rm("hello").error().status(), Exit::no_input);
}

}  // namespace
}  // namespace faas
