// IPv4 subnets and the address allocator of faas-netns pools. Pure
// functions here; the allocations themselves live in the state store
// (table netns_addresses: one row per address, so two namespaces can never
// hold the same one).
//
// In a pool's subnet the first host address is the gateway (the bridge's
// address); namespaces get the addresses after it, lowest free first.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "faas/result.hpp"

namespace faas {

// An IPv4 address in host byte order.
using Ipv4 = std::uint32_t;

std::optional<Ipv4> parse_ipv4(std::string_view s);
std::string format_ipv4(Ipv4 a);
inline std::uint32_t to_be(Ipv4 a) { return __builtin_bswap32(a); }

struct Ipv4Net {
  Ipv4 network = 0;  // host bits zero
  int prefix = 0;

  Ipv4 mask() const { return prefix == 0 ? 0 : ~Ipv4{0} << (32 - prefix); }
  Ipv4 broadcast() const { return network | ~mask(); }
  Ipv4 gateway() const { return network + 1; }
  bool contains(Ipv4 a) const { return (a & mask()) == network; }
  // Addresses a pool can hand out: all but network, gateway and broadcast.
  std::uint32_t capacity() const;
  std::string text() const;  // "10.1.0.0/24"
  bool operator==(const Ipv4Net&) const = default;
};

// Parses "A.B.C.D/N". Host bits must be zero ("10.1.0.5/24" is Exit::usage,
// naming the network it probably meant); prefixes /8../30 only.
Result<Ipv4Net> parse_subnet(std::string_view s);
bool overlaps(const Ipv4Net& a, const Ipv4Net& b);
// The smallest prefix (the largest subnet is /16) whose capacity holds n.
std::optional<int> prefix_for(std::uint32_t n);

// The lowest free namespace address of the subnet (offset >= 2 from the
// network, below the broadcast), std::nullopt when every one is used.
std::optional<Ipv4> next_free_address(const Ipv4Net& net, const std::set<Ipv4>& used);

// A default subnet for a pool of n: the first /prefix_for(n) inside
// `range` overlapping none of `taken`.
std::optional<Ipv4Net> pick_subnet(const Ipv4Net& range, std::uint32_t n,
                                   const std::set<std::pair<Ipv4, int>>& taken);

}  // namespace faas
