// The state side of sandbox pools (no sandbox is started: the pools here
// have size 0; the bats tests start real ones).
#include "faas/sandbox_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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

TEST(SandboxConfine, DeniesTheDocumentedSystemCalls) {
  const auto& denied = sandbox_denied_syscalls();
  for (const char* name : {"mount", "umount2", "pivot_root", "kexec_load", "init_module", "finit_module",
                           "bpf", "perf_event_open", "ptrace", "keyctl", "add_key", "request_key",
                           "reboot", "unshare", "setns"})
    EXPECT_NE(std::find_if(denied.begin(), denied.end(), [&](const char* d) { return std::string(d) == name; }),
              denied.end())
        << name;
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
