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
  auto st = StateStore::open(tmp.path() / "state");
  ASSERT_TRUE(st) << st.error().what();
  auto self = self_holder();
  ASSERT_TRUE(self);
  SandboxPools pools(*st, tmp.path() / "run", "/nonexistent/faas-init", *self);
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
