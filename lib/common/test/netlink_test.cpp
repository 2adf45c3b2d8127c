#include "faas/netlink.hpp"

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

namespace faas::netlink {

namespace {

const nlmsghdr& hdr(const MsgBuilder& m) { return *reinterpret_cast<const nlmsghdr*>(m.bytes().data()); }

// A reply as the kernel would send one: our builder makes the same layout.
template <class T>
MsgBuilder reply(std::uint16_t type, const T& family) {
  MsgBuilder m(type, 0);
  m.header(family);
  return m;
}

}  // namespace

TEST(Netlink, BuilderAlignsAttributesAndSetsTheLength) {
  MsgBuilder m(RTM_NEWLINK, NLM_F_CREATE);
  ifinfomsg ifi{};
  m.header(ifi);
  m.attr_str(IFLA_IFNAME, "abc");  // 4 + 4 bytes: no padding
  m.attr_u8(IFLA_OPERSTATE, 6);    // 4 + 1, padded to 8
  m.attr_u32(IFLA_MTU, 9000);
  const auto& h = hdr(m);
  EXPECT_EQ(h.nlmsg_len, m.bytes().size());
  EXPECT_EQ(m.bytes().size() % 4, 0u);
  EXPECT_EQ(h.nlmsg_len, NLMSG_LENGTH(sizeof ifi) + 8 + 8 + 8);
  EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE);
  EXPECT_EQ(h.nlmsg_type, RTM_NEWLINK);

  auto t = AttrTable::parse(payload_after(h, sizeof ifi), IFLA_MAX);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->get(IFLA_IFNAME)->str(), "abc");
  EXPECT_EQ(*t->get(IFLA_OPERSTATE)->u8(), 6);
  EXPECT_EQ(*t->get(IFLA_MTU)->u32(), 9000u);
  EXPECT_EQ(t->get(IFLA_MASTER), nullptr);
}

TEST(Netlink, VethRequestNestsThePeerWithItsNamespaceAndMac) {
  Mac mac{0x02, 0xfa, 10, 0, 0, 2};
  MsgBuilder m = build_new_veth("fvabc123-2", "eth0", 7, 1400, 42, mac);
  const auto& h = hdr(m);
  EXPECT_EQ(h.nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), NLM_F_CREATE | NLM_F_EXCL);
  auto ifi = family_header<ifinfomsg>(h);
  ASSERT_TRUE(ifi);
  EXPECT_EQ(ifi->ifi_flags & IFF_UP, static_cast<unsigned>(IFF_UP));
  auto t = AttrTable::parse(payload_after(h, sizeof(ifinfomsg)), IFLA_MAX);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->get(IFLA_IFNAME)->str(), "fvabc123-2");
  EXPECT_EQ(*t->get(IFLA_MASTER)->u32(), 42u);
  EXPECT_EQ(*t->get(IFLA_MTU)->u32(), 1400u);

  auto info = AttrTable::parse(t->get(IFLA_LINKINFO)->data, IFLA_INFO_MAX);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->get(IFLA_INFO_KIND)->str(), "veth");
  auto data = AttrTable::parse(info->get(IFLA_INFO_DATA)->data, VETH_INFO_MAX);
  ASSERT_TRUE(data);
  Bytes peer = data->get(VETH_INFO_PEER)->data;
  ASSERT_GE(peer.size(), sizeof(ifinfomsg));
  ifinfomsg pifi;
  std::memcpy(&pifi, peer.data(), sizeof pifi);
  EXPECT_EQ(pifi.ifi_flags & IFF_UP, 0u);  // brought up from inside, once linked
  auto pt = AttrTable::parse(peer.subspan(sizeof(ifinfomsg)), IFLA_MAX);
  ASSERT_TRUE(pt);
  EXPECT_EQ(pt->get(IFLA_IFNAME)->str(), "eth0");
  EXPECT_EQ(*pt->get(IFLA_NET_NS_FD)->u32(), 7u);
  ASSERT_EQ(pt->get(IFLA_ADDRESS)->data.size(), 6u);
  EXPECT_EQ(pt->get(IFLA_ADDRESS)->data[5], 2);
}

TEST(Netlink, ParsesALinkReply) {
  ifinfomsg ifi{};
  ifi.ifi_index = 5;
  ifi.ifi_flags = IFF_UP;
  MsgBuilder m = reply(RTM_NEWLINK, ifi);
  m.attr_str(IFLA_IFNAME, "br0");
  m.attr_u32(IFLA_MTU, 1500);
  Mac mac{1, 2, 3, 4, 5, 6};
  m.attr(IFLA_ADDRESS, mac.data(), mac.size());
  auto li = m.nest_begin(IFLA_LINKINFO);
  m.attr_str(IFLA_INFO_KIND, "bridge");
  m.nest_end(li);
  auto l = parse_link(hdr(m));
  ASSERT_TRUE(l) << l.error().what();
  EXPECT_EQ(l->index, 5);
  EXPECT_EQ(l->name, "br0");
  EXPECT_EQ(l->kind, "bridge");
  EXPECT_EQ(l->mtu, 1500u);
  EXPECT_EQ(format_mac(*l->mac), "01:02:03:04:05:06");
}

TEST(Netlink, ParsesAddressRouteAndNeighbourReplies) {
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = 24;
  ifa.ifa_index = 3;
  MsgBuilder a = reply(RTM_NEWADDR, ifa);
  const std::uint8_t ip[4] = {10, 1, 0, 2};
  a.attr(IFA_ADDRESS, ip, 4);
  auto addr = parse_address(hdr(a));
  ASSERT_TRUE(addr);
  EXPECT_EQ(addr->text(), "10.1.0.2/24");  // IFA_LOCAL falls back to IFA_ADDRESS

  MsgBuilder r = build_route4(RTM_NEWROUTE, 0, 0, 0, 0x0100010a, 3, RTPROT_STATIC);
  auto route = parse_route(hdr(r));
  ASSERT_TRUE(route);
  EXPECT_EQ(route->table, static_cast<std::uint32_t>(RT_TABLE_MAIN));
  EXPECT_EQ(route->oif, 3);
  EXPECT_EQ(route->header.rtm_protocol, RTPROT_STATIC);
  EXPECT_EQ(route->gateway, (std::vector<std::uint8_t>{10, 1, 0, 1}));
  // The delete request carries what identifies the route.
  MsgBuilder del = build_del_route(*route);
  auto back = parse_route(hdr(del));
  ASSERT_TRUE(back);
  EXPECT_EQ(hdr(del).nlmsg_type, RTM_DELROUTE);
  EXPECT_EQ(back->gateway, route->gateway);
  EXPECT_EQ(back->oif, 3);

  ndmsg nd{};
  nd.ndm_family = AF_INET;
  nd.ndm_ifindex = 9;
  nd.ndm_state = NUD_REACHABLE;
  MsgBuilder n = reply(RTM_NEWNEIGH, nd);
  n.attr(NDA_DST, ip, 4);
  Mac mac{0x02, 0xfa, 10, 1, 0, 2};
  n.attr(NDA_LLADDR, mac.data(), 6);
  auto neigh = parse_neighbour(hdr(n));
  ASSERT_TRUE(neigh);
  EXPECT_EQ(neigh->ip(), "10.1.0.2");
  EXPECT_EQ(neigh->index, 9);
  EXPECT_EQ(*neigh->lladdr, mac);
}

TEST(Netlink, RejectsMalformedAttributesAndMessages) {
  // An attribute claiming more bytes than there are.
  std::vector<std::uint8_t> bad{8, 0, 1, 0, 'a'};
  auto t = AttrTable::parse(Bytes(bad.data(), bad.size()), 10);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().status(), Exit::data);
  // A message whose length overruns the buffer.
  MsgBuilder m(RTM_NEWLINK, 0);
  auto b = m.bytes();
  std::vector<std::uint8_t> cut(b.begin(), b.end() - 4);
  auto r = for_each_message(Bytes(cut.data(), cut.size()),
                            [](const nlmsghdr&) -> Result<bool> { return true; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status(), Exit::data);
  // A message too short for its family header.
  EXPECT_FALSE(parse_link(hdr(m)));
}

TEST(Netlink, WalksSeveralMessagesAndReadsErrors) {
  MsgBuilder a(RTM_NEWLINK, 0);
  nlmsgerr e{};
  e.error = -17;  // EEXIST
  MsgBuilder err = reply(NLMSG_ERROR, e);
  std::vector<std::uint8_t> buf(a.bytes().begin(), a.bytes().end());
  buf.insert(buf.end(), err.bytes().begin(), err.bytes().end());
  int seen = 0, code = 0;
  auto r = for_each_message(Bytes(buf.data(), buf.size()), [&](const nlmsghdr& h) -> Result<bool> {
    ++seen;
    if (h.nlmsg_type == NLMSG_ERROR) code = *error_code(h);
    return true;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(code, 17);
  EXPECT_EQ(message_name(RTM_NEWADDR), "RTM_NEWADDR");
}

TEST(Netlink, ParsesAndFormatsMacs) {
  auto m = parse_mac("02:FA:0a:01:00:02");
  ASSERT_TRUE(m);
  EXPECT_EQ(format_mac(*m), "02:fa:0a:01:00:02");
  for (const char* s : {"", "02:fa:0a:01:00", "02-fa-0a-01-00-02", "02:fa:0a:01:00:0g"})
    EXPECT_FALSE(parse_mac(s)) << s;
}

}  // namespace faas::netlink
