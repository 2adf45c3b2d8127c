#include "faas/cgroup_mem.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "fake_tree.hpp"
#include "faas/scope_exit.hpp"

namespace faas {

namespace {

const char* kHybrid =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

const char* kUnified =
    "25 23 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

void exec_sql(const std::filesystem::path& db_path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

}  // namespace

TEST(CgroupMem, FindsTheV1MemoryHierarchyOnAHybridHost) {
  auto h = parse_memory_hierarchy(kHybrid, [](const std::filesystem::path&) {
    return std::string("hugetlb\n");  // the v2 mount has no memory controller
  });
  ASSERT_TRUE(h) << h.error().what();
  EXPECT_EQ(h->mount, "/sys/fs/cgroup/memory");
  EXPECT_EQ(h->version, CgroupVersion::v1);
}

TEST(CgroupMem, PrefersV2WhenItHoldsMemory) {
  auto h = parse_memory_hierarchy(kUnified, [](const std::filesystem::path& p) {
    return p == "/sys/fs/cgroup" ? std::string("cpuset cpu io memory hugetlb pids\n") : std::string();
  });
  ASSERT_TRUE(h) << h.error().what();
  EXPECT_EQ(h->mount, "/sys/fs/cgroup");
  EXPECT_EQ(h->version, CgroupVersion::v2);
  auto none = parse_memory_hierarchy(kUnified, [](const std::filesystem::path&) { return std::string("pids"); });
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().status(), Exit::unavailable);
}

TEST(CgroupMem, ParsesLimits) {
  EXPECT_FALSE(parse_limit("max")->has_value());
  EXPECT_EQ(**parse_limit("64M"), 64u << 20);
  EXPECT_FALSE(parse_limit("lots"));
  EXPECT_EQ(limit_json(MemLimit()), "max");
  EXPECT_EQ(limit_json(MemLimit(4096)), 4096);
}

TEST(CgroupMem, RefusesPathsOutsideTheSandboxParent) {
  test::FakeTree t;
  t.put("faas/web/a1/memory.max", "max\n");
  t.put("secret/memory.max", "max\n");
  std::filesystem::create_directory_symlink(t.root() / "secret", t.root() / "faas" / "link");
  MemoryHierarchy h{t.root(), CgroupVersion::v2};
  for (const char* bad : {"secret", "faas", "faas/", "faas/../secret", "faas/web/../../secret",
                          "faas/./web", "faasx/y", "faas//web"}) {
    auto r = MemCgroup::open(h, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().status(), Exit::data) << bad;
  }
  auto sym = MemCgroup::open(h, "faas/link");  // a symlink out is not followed
  ASSERT_FALSE(sym);
  EXPECT_NE(sym.error().status(), Exit::ok);
  auto missing = MemCgroup::open(h, "faas/web/zz");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().status(), Exit::no_input);
  auto ok = MemCgroup::open(h, "/faas/web/a1");
  ASSERT_TRUE(ok) << ok.error().what();
  EXPECT_EQ(ok->dir(), t.root() / "faas/web/a1");
}

TEST(CgroupMem, ReadsV2FilesFromATree) {
  test::FakeTree t;
  t.put("faas/a1/memory.current", "1048576\n");
  t.put("faas/a1/memory.max", "67108864\n");
  t.put("faas/a1/memory.high", "max\n");
  t.put("faas/a1/memory.swap.max", "0\n");
  t.put("faas/a1/memory.swap.current", "0\n");
  auto cg = MemCgroup::open({t.root(), CgroupVersion::v2}, "faas/a1");
  ASSERT_TRUE(cg);
  auto u = cg->read();
  ASSERT_TRUE(u) << u.error().what();
  Json j = usage_json(*u);
  EXPECT_EQ(j["current"], 1048576);
  EXPECT_EQ(j["max"], 67108864);
  EXPECT_EQ(j["high"], "max");
  EXPECT_EQ(j["swap_max"], 0);
}

TEST(CgroupMem, ReadsV1FilesFromATree) {
  test::FakeTree t;
  t.put("faas/a1/memory.usage_in_bytes", "1048576\n");
  t.put("faas/a1/memory.limit_in_bytes", "67108864\n");
  t.put("faas/a1/memory.soft_limit_in_bytes", "9223372036854771712\n");
  t.put("faas/a1/memory.memsw.limit_in_bytes", "83886080\n");
  t.put("faas/a1/memory.memsw.usage_in_bytes", "1310720\n");
  auto cg = MemCgroup::open({t.root(), CgroupVersion::v1}, "faas/a1");
  ASSERT_TRUE(cg);
  auto u = cg->read();
  ASSERT_TRUE(u) << u.error().what();
  EXPECT_FALSE(u->high.has_value());
  EXPECT_EQ(*u->swap_max, 16u << 20);
  EXPECT_EQ(*u->swap, 262144u);
}

TEST(CgroupMem, UnknownSandboxIsNoInputUntilTheTableExists) {
  test::FakeTree t;
  auto none = find_sandbox_cgroup(t.root(), "3f2a");  // no database at all
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().status(), Exit::no_input);
  EXPECT_TRUE(list_sandbox_cgroups(t.root())->empty());
  exec_sql(t.root() / "run.db", "CREATE TABLE pools(id TEXT);");
  EXPECT_EQ(find_sandbox_cgroup(t.root(), "3f2a").error().status(), Exit::no_input);
  exec_sql(t.root() / "run.db",
           "CREATE TABLE sandboxes(id TEXT PRIMARY KEY, cgroup TEXT);"
           "INSERT INTO sandboxes VALUES('3f2a', 'faas/web/3f2a'), ('b7', NULL);");
  auto found = find_sandbox_cgroup(t.root(), "3f2a");
  ASSERT_TRUE(found) << found.error().what();
  EXPECT_EQ(found->cgroup, "faas/web/3f2a");
  EXPECT_EQ(find_sandbox_cgroup(t.root(), "b7").error().status(), Exit::no_input);
  EXPECT_EQ(find_sandbox_cgroup(t.root(), "' OR 1=1 --").error().status(), Exit::no_input);
  EXPECT_EQ(list_sandbox_cgroups(t.root())->size(), 1u);
}

// The write and read code against a real cgroup this test creates (root only).
TEST(CgroupMem, LimitsAndReclaimOnARealCgroup) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto h = find_memory_hierarchy();
  if (!h) GTEST_SKIP() << h.error().what();
  std::filesystem::path parent = h->mount / kSandboxCgroupParent;
  bool made_parent = ::mkdir(parent.c_str(), 0755) == 0;
  std::string name = "gtest-" + std::to_string(::getpid());
  std::filesystem::path dir = parent / name;
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
  ScopeExit cleanup([&] {
    ::rmdir(dir.c_str());
    if (made_parent) ::rmdir(parent.c_str());
  });
  auto cg = MemCgroup::open(*h, std::string(kSandboxCgroupParent) + "/" + name);
  ASSERT_TRUE(cg) << cg.error().what();
  MemLimitsRequest req;
  req.max = MemLimit(64u << 20);
  req.high = MemLimit(48u << 20);
  auto dry = cg->set_limits(req, true);
  ASSERT_TRUE(dry) << dry.error().what();
  EXPECT_FALSE(cg->read()->max.has_value());  // a dry run writes nothing
  auto wet = cg->set_limits(req, false);
  ASSERT_TRUE(wet) << wet.error().what();
  auto u = cg->read();
  ASSERT_TRUE(u) << u.error().what();
  EXPECT_EQ(*u->max, 64u << 20);
  EXPECT_EQ(*u->high, 48u << 20);
  for (const auto& ch : (*wet)["changes"]) EXPECT_EQ(ch["before"], "max") << ch.dump();
  auto rec = cg->reclaim(1 << 20, false);  // an empty cgroup: nothing to take
  ASSERT_TRUE(rec) << rec.error().what();
  EXPECT_EQ((*rec)["after"], u->current);
  EXPECT_EQ(*cg->read()->max, 64u << 20);  // v1 reclaim put the limit back
  MemLimitsRequest lift;
  lift.max = MemLimit();
  ASSERT_TRUE(cg->set_limits(lift, false));
  EXPECT_FALSE(cg->read()->max.has_value());
}

}  // namespace faas
