#include "faas/ipam.hpp"

#include <gtest/gtest.h>

namespace faas {

TEST(Ipam, ParsesAndFormatsIpv4) {
  EXPECT_EQ(*parse_ipv4("10.1.2.3"), 0x0a010203u);
  EXPECT_EQ(format_ipv4(0xac100001u), "172.16.0.1");
  for (const char* s : {"", "10.1.2", "10.1.2.3.4", "256.1.1.1", "10.01.1.1", "a.b.c.d", "10..1.1",
                        "10.1.1.1 ", "1.2.3.4/24"})
    EXPECT_FALSE(parse_ipv4(s)) << s;
}

TEST(Ipam, ParsesSubnets) {
  auto n = parse_subnet("10.1.0.0/24");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->network, 0x0a010000u);
  EXPECT_EQ(n->prefix, 24);
  EXPECT_EQ(n->gateway(), 0x0a010001u);
  EXPECT_EQ(n->broadcast(), 0x0a0100ffu);
  EXPECT_EQ(n->capacity(), 253u);
  EXPECT_EQ(n->text(), "10.1.0.0/24");
  EXPECT_EQ(parse_subnet("172.16.0.0/30")->capacity(), 1u);
}

TEST(Ipam, RejectsBadSubnetsAsUsageNamingTheFix) {
  for (const char* s : {"10.1.0.0", "10.1.0.0/", "10.1.0.0/33", "10.1.0.0/31", "10.0.0.0/7",
                        "x/24", "10.1.0.0/2a"}) {
    auto r = parse_subnet(s);
    ASSERT_FALSE(r) << s;
    EXPECT_EQ(r.error().status(), Exit::usage) << s;
  }
  auto r = parse_subnet("10.1.0.5/24");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().msg().find("10.1.0.0/24"), std::string::npos) << r.error().msg();
}

TEST(Ipam, Overlaps) {
  auto a = *parse_subnet("10.1.0.0/24");
  EXPECT_TRUE(overlaps(a, *parse_subnet("10.1.0.0/16")));
  EXPECT_TRUE(overlaps(*parse_subnet("10.1.0.128/25"), a));
  EXPECT_FALSE(overlaps(a, *parse_subnet("10.1.1.0/24")));
  EXPECT_FALSE(overlaps(a, *parse_subnet("172.16.0.0/12")));
}

TEST(Ipam, PrefixForSize) {
  EXPECT_EQ(*prefix_for(1), 30);
  EXPECT_EQ(*prefix_for(5), 29);
  EXPECT_EQ(*prefix_for(6), 28);
  EXPECT_EQ(*prefix_for(253), 24);
  EXPECT_EQ(*prefix_for(254), 23);
  EXPECT_FALSE(prefix_for(70000));
}

TEST(Ipam, AllocatesTheLowestFreeAddressAfterTheGateway) {
  auto n = *parse_subnet("10.9.0.0/29");  // .1 gateway, .2-.6 free, .7 broadcast
  std::set<Ipv4> used;
  std::vector<Ipv4> got;
  while (auto a = next_free_address(n, used)) {
    got.push_back(*a);
    used.insert(*a);
  }
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got.front(), 0x0a090002u);
  EXPECT_EQ(got.back(), 0x0a090006u);
  // A returned address is handed out again, before higher ones.
  used.erase(0x0a090004u);
  EXPECT_EQ(*next_free_address(n, used), 0x0a090004u);
}

TEST(Ipam, PicksAFreeDefaultSubnet) {
  auto range = *parse_subnet("10.213.0.0/16");
  std::set<std::pair<Ipv4, int>> taken;
  auto a = pick_subnet(range, 10, taken);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->text(), "10.213.0.0/24");
  taken.insert({a->network, a->prefix});
  taken.insert({*parse_ipv4("10.213.1.0"), 25});
  EXPECT_EQ(pick_subnet(range, 10, taken)->text(), "10.213.2.0/24");
  EXPECT_EQ(pick_subnet(range, 300, taken)->text(), "10.213.2.0/23");
  taken.insert({*parse_ipv4("10.0.0.0"), 8});
  EXPECT_FALSE(pick_subnet(range, 10, taken));
}

}  // namespace faas
