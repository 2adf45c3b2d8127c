#include "faas/units.hpp"

#include <gtest/gtest.h>

namespace faas {

TEST(Units, ParsesBytesWithBinarySuffixes) {
  EXPECT_EQ(*parse_bytes("4096"), 4096u);
  EXPECT_EQ(*parse_bytes("64K"), 65536u);
  EXPECT_EQ(*parse_bytes("512M"), 512ull << 20);
  EXPECT_EQ(*parse_bytes("512MiB"), 512ull << 20);
  EXPECT_EQ(*parse_bytes("1.5g"), 3ull << 29);
  EXPECT_EQ(*parse_bytes("2T"), 2ull << 40);
}

TEST(Units, RejectsBadSizesAsUsage) {
  for (const char* s : {"", "M", "12Q", "-1", "1.2.3", "1e99T"}) {
    auto r = parse_bytes(s);
    ASSERT_FALSE(r) << s;
    EXPECT_EQ(r.error().status(), Exit::usage) << s;
  }
}

TEST(Units, ParsesDurations) {
  EXPECT_EQ(parse_duration("500ms")->count(), 500);
  EXPECT_EQ(parse_duration("2")->count(), 2000);
  EXPECT_EQ(parse_duration("1.5s")->count(), 1500);
  EXPECT_EQ(parse_duration("1m")->count(), 60000);
  EXPECT_FALSE(parse_duration("5d"));
  EXPECT_FALSE(parse_duration("soon"));
}

TEST(Units, FormatsBytesForTables) {
  EXPECT_EQ(format_bytes(0), "0");
  EXPECT_EQ(format_bytes(1536), "1.5K");
  EXPECT_EQ(format_bytes(512ull << 20), "512M");
}

}  // namespace faas
