// A small rtnetlink client over NETLINK_ROUTE sockets: message building and
// parsing (pure, unit-tested), a socket that sends requests and dumps, and
// the link, address, route and neighbour operations faas-netns needs.
//
// A socket acts on the network namespace of the thread that opened it, so
// one socket per namespace: open it inside (see netns.hpp) to configure
// that namespace.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "faas/fd.hpp"
#include "faas/result.hpp"

namespace faas::netlink {

using Bytes = std::span<const std::uint8_t>;

// Builds one netlink message: the nlmsghdr, a family header, then
// attributes (nestable), each 4-byte aligned.
class MsgBuilder {
 public:
  MsgBuilder(std::uint16_t type, std::uint16_t flags);

  // The family header (ifinfomsg, ifaddrmsg, rtmsg, ndmsg) right after the
  // nlmsghdr; call once, before any attribute.
  template <class T>
  void header(const T& h) {
    append(&h, sizeof h);
  }
  void attr(std::uint16_t type, const void* data, std::size_t len);
  void attr_u8(std::uint16_t type, std::uint8_t v) { attr(type, &v, sizeof v); }
  void attr_u32(std::uint16_t type, std::uint32_t v) { attr(type, &v, sizeof v); }
  void attr_str(std::uint16_t type, std::string_view s);  // NUL-terminated
  // Opens a nested attribute; returns its offset for nest_end().
  std::size_t nest_begin(std::uint16_t type);
  void nest_end(std::size_t offset);

  void set_seq(std::uint32_t seq);
  void add_flags(std::uint16_t flags);
  std::uint16_t type() const;
  // The whole message, nlmsg_len set.
  Bytes bytes() const { return {buf_.data(), buf_.size()}; }

 private:
  void append(const void* data, std::size_t len);
  void pad();
  std::vector<std::uint8_t> buf_;
};

// One attribute's payload.
struct Attr {
  std::uint16_t type = 0;  // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
  Bytes data;

  std::optional<std::uint8_t> u8() const;
  std::optional<std::uint32_t> u32() const;
  std::string str() const;  // up to the first NUL
};

// The attributes of a payload by type (the last one of a type wins); types
// above `max` are skipped. A malformed attribute is Exit::data.
class AttrTable {
 public:
  static Result<AttrTable> parse(Bytes payload, std::uint16_t max);
  const Attr* get(std::uint16_t type) const;
  std::vector<Attr> all;  // in order, every type

 private:
  std::vector<int> index_;  // type -> position in all, -1 when absent
};

// The family header of a message (T: ifinfomsg...) and the attributes after
// it; Exit::data when the message is too short.
template <class T>
Result<T> family_header(const nlmsghdr& h) {
  if (h.nlmsg_len < NLMSG_LENGTH(sizeof(T)))
    return Error(Exit::data, "netlink message too short for its header");
  T out{};
  std::memcpy(&out, NLMSG_DATA(&h), sizeof(T));
  return out;
}
Bytes payload_after(const nlmsghdr& h, std::size_t family_len);

// Calls fn for every message in a buffer read from a netlink socket. fn
// returns false to stop. A truncated message is Exit::data.
Result<void> for_each_message(Bytes buf, const std::function<Result<bool>(const nlmsghdr&)>& fn);

// The errno of an NLMSG_ERROR message (0 for an ack); Exit::data if short.
Result<int> error_code(const nlmsghdr& h);

// Names for messages and errors ("RTM_NEWLINK").
std::string message_name(std::uint16_t type);

// A NETLINK_ROUTE socket in the calling thread's network namespace.
class Socket {
 public:
  // groups: RTMGRP_* bits to subscribe to (0: none).
  static Result<Socket> open(std::uint32_t groups = 0);

  int fd() const { return fd_.get(); }
  // Sends a request with NLM_F_ACK and waits for its ack; a negative ack is
  // an Error with its errno, named after the message. on_reply sees the
  // replies before the ack (RTM_GETLINK of one link).
  Result<void> request(MsgBuilder& m,
                       const std::function<Result<void>(const nlmsghdr&)>& on_reply = {});
  // Sends a dump request and calls fn for each reply message.
  Result<void> dump(MsgBuilder& m, const std::function<Result<void>(const nlmsghdr&)>& fn);
  // Reads whatever is queued (multicast events), waiting up to timeout_ms
  // (< 0: no limit); an empty vector on timeout. ENOBUFS (events lost) is
  // Exit::temp: the caller dumps again.
  Result<std::vector<std::uint8_t>> receive(int timeout_ms);

 private:
  Result<void> send(MsgBuilder& m);
  Fd fd_;
  std::uint32_t seq_ = 0;
  std::uint32_t portid_ = 0;
};

// ---- rtnetlink operations ----

using Mac = std::array<std::uint8_t, 6>;
std::string format_mac(const Mac& m);
std::optional<Mac> parse_mac(std::string_view s);

struct Link {
  int index = 0;
  std::string name;
  std::string kind;  // IFLA_INFO_KIND: "veth", "bridge", "" for lo/physical
  unsigned flags = 0;
  unsigned mtu = 0;
  int master = 0;
  std::optional<Mac> mac;
};

struct Address {
  int family = 0;  // AF_INET, AF_INET6
  int index = 0;
  int prefix = 0;
  std::uint8_t scope = 0;
  std::vector<std::uint8_t> local;    // IFA_LOCAL (or IFA_ADDRESS when absent)
  std::vector<std::uint8_t> address;  // IFA_ADDRESS
  std::string text() const;           // "10.0.0.2/24"
};

struct Route {
  rtmsg header{};
  std::uint32_t table = 0;
  int oif = 0;
  std::optional<std::uint32_t> priority;
  std::vector<std::uint8_t> dst, gateway, prefsrc;
};

struct Neighbour {
  int family = 0;
  int index = 0;
  std::uint16_t state = 0;  // NUD_*
  std::uint8_t flags = 0;
  std::vector<std::uint8_t> dst;
  std::optional<Mac> lladdr;
  std::string ip() const;  // the dst as text
};

// Message builders (exposed for tests).
MsgBuilder build_new_bridge(std::string_view name, unsigned mtu);
// A veth pair: `host` on this side (up, under `master` when > 0) and `peer`
// created directly in the namespace of `peer_netns_fd` (no move, so no RCU
// wait), with `peer_mac` when given. The peer is down: bring it up from
// inside (the kernel refuses IFF_UP on a peer before the pair is linked).
MsgBuilder build_new_veth(std::string_view host, std::string_view peer, int peer_netns_fd,
                          unsigned mtu, int master, const std::optional<Mac>& peer_mac);
MsgBuilder build_set_link(int index, bool up, unsigned mtu, const std::optional<Mac>& mac);
MsgBuilder build_del_link(int index, std::string_view name);
MsgBuilder build_addr(std::uint16_t type, int family, int index, Bytes addr, int prefix);
MsgBuilder build_route4(std::uint16_t type, std::uint16_t flags, std::uint32_t dst_be, int dst_len,
                        std::uint32_t gw_be, int oif, std::uint8_t protocol);
MsgBuilder build_del_route(const Route& r);
MsgBuilder build_dump(std::uint16_t type, int family);

// Parsers of dump replies (exposed for tests).
Result<Link> parse_link(const nlmsghdr& h);
Result<Address> parse_address(const nlmsghdr& h);
Result<Route> parse_route(const nlmsghdr& h);
Result<Neighbour> parse_neighbour(const nlmsghdr& h);

Result<std::vector<Link>> list_links(Socket& s);
Result<std::optional<Link>> find_link(Socket& s, std::string_view name);
Result<std::vector<Address>> list_addresses(Socket& s, int family);
Result<std::vector<Route>> list_routes(Socket& s, int family);
Result<std::vector<Neighbour>> list_neighbours(Socket& s, int family);

Result<int> create_bridge(Socket& s, std::string_view name, unsigned mtu);
Result<void> create_veth(Socket& s, std::string_view host, std::string_view peer, int peer_netns_fd,
                         unsigned mtu, int master, const std::optional<Mac>& peer_mac);
Result<void> set_link(Socket& s, int index, bool up, unsigned mtu = 0,
                      const std::optional<Mac>& mac = std::nullopt);
Result<void> delete_link(Socket& s, int index, std::string_view name = {});
// Deletes a link by name; false when there was none.
Result<bool> delete_link_named(Socket& s, std::string_view name);
Result<void> add_address4(Socket& s, int index, std::uint32_t addr_be, int prefix);
Result<void> delete_address(Socket& s, const Address& a);
// Adds (or replaces) the default route via gw_be on oif.
Result<void> replace_default_route4(Socket& s, std::uint32_t gw_be, int oif, std::uint8_t protocol);
Result<void> delete_route(Socket& s, const Route& r);

}  // namespace faas::netlink
