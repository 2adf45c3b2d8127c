#include "faas/sysfs.hpp"

#include <gtest/gtest.h>

#include "fake_tree.hpp"
#include "faas/thp.hpp"

namespace faas {

TEST(Sysfs, ParsesChoiceLists) {
  Choice c = parse_choice("always [madvise] never\n");
  EXPECT_EQ(c.selected, "madvise");
  EXPECT_EQ(c.values, (std::vector<std::string>{"always", "madvise", "never"}));
  EXPECT_TRUE(c.has("never"));
  EXPECT_FALSE(c.has("[madvise]"));
  EXPECT_EQ(c.list(), "always, madvise, never");
  Choice z = parse_choice("lzo lzo-rle [lz4] zstd ");
  EXPECT_EQ(z.selected, "lz4");
  EXPECT_EQ(z.values.size(), 4u);
}

TEST(Sysfs, KnobValuesBecomeRecordValues) {
  EXPECT_EQ(knob_value("always defer [madvise] never"), "madvise");
  EXPECT_EQ(knob_value("100"), 100);
  EXPECT_EQ(knob_value("text"), "text");
}

TEST(Sysfs, WritesOnlyMemoryKnobs) {
  EXPECT_TRUE(sysfs_writable("kernel/mm/ksm/run"));
  EXPECT_TRUE(sysfs_writable("block/zram3/disksize"));
  EXPECT_TRUE(sysfs_writable("class/zram-control/hot_add"));
  EXPECT_FALSE(sysfs_writable("kernel/mm/../../power/state"));
  EXPECT_FALSE(sysfs_writable("block/vda/queue/scheduler"));
  EXPECT_FALSE(sysfs_writable("fs/cgroup/memory/memory.limit_in_bytes"));
  test::FakeTree t;
  t.put("power/state", "mem");
  auto r = Sysfs(t.root()).write("power/state", "disk");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status(), Exit::software);
  EXPECT_EQ(t.get("power/state"), "mem");
}

TEST(Sysfs, MissingKnobIsUnavailableAndNamed) {
  test::FakeTree t;
  auto r = Sysfs(t.root()).read("kernel/mm/ksm/run");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status(), Exit::unavailable);
  EXPECT_NE(r.error().what().find("kernel/mm/ksm/run"), std::string::npos);
}

TEST(Sysfs, ChangeRecordsBeforeAndAfter) {
  test::FakeTree t;
  t.put("kernel/mm/ksm/pages_to_scan", "100\n");
  Sysfs sys(t.root());
  auto dry = sys.change("kernel/mm/ksm/pages_to_scan", "300", true);
  ASSERT_TRUE(dry) << dry.error().what();
  EXPECT_EQ((*dry)["before"], 100);
  EXPECT_EQ((*dry)["after"], 300);
  EXPECT_EQ(t.get("kernel/mm/ksm/pages_to_scan"), "100\n");
  auto wet = sys.change("kernel/mm/ksm/pages_to_scan", "300", false);
  ASSERT_TRUE(wet) << wet.error().what();
  EXPECT_EQ((*wet)["after"], 300);
  EXPECT_EQ(t.get("kernel/mm/ksm/pages_to_scan"), "300");
}

TEST(Thp, ReadsModesAndRejectsUnlistedOnesListingTheKernels) {
  test::FakeTree t;
  t.put("kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n");
  t.put("kernel/mm/transparent_hugepage/defrag", "always defer defer+madvise [madvise] never\n");
  Sysfs sys(t.root());
  auto j = read_thp(sys);
  ASSERT_TRUE(j) << j.error().what();
  EXPECT_EQ((*j)["enabled"], "madvise");
  EXPECT_EQ((*j)["defrag"], "madvise");
  auto bad = set_thp(sys, "enabled", "sometimes", false);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().status(), Exit::usage);
  EXPECT_NE(bad.error().msg().find("always, madvise, never"), std::string::npos);
  EXPECT_FALSE(set_thp(sys, "shmem_enabled", "always", true));
  auto dry = set_thp(sys, "defrag", "defer", true);
  ASSERT_TRUE(dry);
  EXPECT_EQ((*dry)["before"], "madvise");
  EXPECT_EQ((*dry)["after"], "defer");
}

TEST(Thp, MissingThpIsUnavailable) {
  test::FakeTree t;
  auto r = read_thp(Sysfs(t.root()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status(), Exit::unavailable);
}

}  // namespace faas
