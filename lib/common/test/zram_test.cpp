#include "faas/zram.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "fake_tree.hpp"
#include "faas/fd.hpp"

namespace faas {

TEST(Zram, ParsesDeviceNames) {
  EXPECT_EQ(*parse_zram_name("zram3"), 3);
  EXPECT_EQ(*parse_zram_name("/dev/zram12"), 12);
  EXPECT_EQ(*parse_zram_name("0"), 0);
  for (const char* bad : {"", "zram", "zramx", "sda", "/dev/zram1/../sda", "-1"}) {
    auto r = parse_zram_name(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().status(), Exit::usage);
  }
}

TEST(Zram, ParsesProcSwaps) {
  auto s = parse_swaps(
      "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
      "/dev/zram1                              partition\t65532\t\t0\t\t100\n"
      "/var/swap\\040file                       file\t\t1024\t\t0\t\t-2\n");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], "/dev/zram1");
  EXPECT_EQ(s[1], "/var/swap file");
  EXPECT_TRUE(parse_swaps("Filename\tType\tSize\tUsed\tPriority\n").empty());
}

TEST(Zram, ParsesMmStat) {
  auto m = parse_mm_stat("  8388608    20000    65536        0    65536      100        0        0        0\n");
  ASSERT_TRUE(m) << m.error().what();
  EXPECT_EQ(m->orig, 8388608u);
  EXPECT_EQ(m->compr, 20000u);
  EXPECT_EQ(m->mem_used, 65536u);
  EXPECT_EQ(m->same_pages, 100u);
  auto old = parse_mm_stat("4096 1024 8192\n");  // an older kernel's three fields
  ASSERT_TRUE(old);
  EXPECT_EQ(old->same_pages, 0u);
  EXPECT_FALSE(parse_mm_stat("garbage"));
}

TEST(Zram, ReadsAndListsDevicesFromATree) {
  test::FakeTree t;
  for (int i : {1, 0}) {
    std::string d = "block/zram" + std::to_string(i) + "/";
    t.put(d + "disksize", i ? "67108864\n" : "0\n");
    t.put(d + "comp_algorithm", i ? "lzo lzo-rle [lz4] zstd\n" : "[lzo-rle] lzo lz4\n");
    t.put(d + "mm_stat", i ? "4194304 1048576 1200000 0 1200000 0 0 0 0\n" : "0 0 0 0 0 0 0 0 0\n");
    t.put(d + "dev", "253:" + std::to_string(i) + "\n");
  }
  t.put("block/vda/dev", "254:0\n");
  t.put("swaps", "Filename\tType\tSize\tUsed\tPriority\n");
  auto all = list_zram(Sysfs(t.root()), (t.root() / "swaps").string());
  ASSERT_TRUE(all) << all.error().what();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "zram0");
  const ZramDevice& d = (*all)[1];
  EXPECT_EQ(d.algorithm, "lz4");
  EXPECT_EQ(d.disksize, 67108864u);
  EXPECT_DOUBLE_EQ(d.ratio(), 4.0);
  EXPECT_FALSE(d.swap);
  Json j = zram_json(d);
  for (const char* key : {"dev", "disksize", "algorithm", "orig_bytes", "compr_bytes", "ratio", "swap"})
    EXPECT_TRUE(j.contains(key)) << key;
  auto none = read_zram(Sysfs(t.root()), 7, (t.root() / "swaps").string());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().status(), Exit::no_input);
}

TEST(Zram, AddWithoutZramControlIsUnavailable) {
  test::FakeTree t;
  ZramAddOptions o;
  o.size = 1 << 20;
  auto r = zram_add(Sysfs(t.root()), o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status(), Exit::unavailable);
  EXPECT_NE(r.error().msg().find("zram-control"), std::string::npos);
}

TEST(Zram, WritesTheSwapHeaderMkswapWrites) {
  test::FakeTree t;
  std::string p = (t.root() / "swapfile").string();
  Fd fd(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  ASSERT_EQ(::ftruncate(fd.get(), 1 << 20), 0);
  ASSERT_TRUE(write_swap_header(fd.get(), 1 << 20, 4096));
  unsigned char page[4096];
  ASSERT_EQ(::pread(fd.get(), page, sizeof page, 0), 4096);
  EXPECT_EQ(std::memcmp(page + 4096 - 10, "SWAPSPACE2", 10), 0);
  std::uint32_t version, last_page, nr_bad;
  std::memcpy(&version, page + 1024, 4);
  std::memcpy(&last_page, page + 1028, 4);
  std::memcpy(&nr_bad, page + 1032, 4);
  EXPECT_EQ(version, 1u);
  EXPECT_EQ(last_page, 255u);
  EXPECT_EQ(nr_bad, 0u);
  EXPECT_EQ(page[1036 + 6] >> 4, 4);  // a version-4 UUID
  EXPECT_FALSE(write_swap_header(fd.get(), 4096 * 9, 4096));
}

}  // namespace faas
