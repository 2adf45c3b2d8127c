#include "faas/ipam.hpp"

#include <arpa/inet.h>

namespace faas {

std::optional<Ipv4> parse_ipv4(std::string_view s) {
  if (s.empty() || s.size() > 15) return std::nullopt;
  Ipv4 out = 0;
  int parts = 0;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t start = i;
    unsigned v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + static_cast<unsigned>(s[i] - '0');
      if (v > 255 || i - start >= 3) return std::nullopt;
      ++i;
    }
    if (i == start) return std::nullopt;
    if (i - start > 1 && s[start] == '0') return std::nullopt;  // no octal look-alikes
    out = (out << 8) | v;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.' || parts == 4) return std::nullopt;
    ++i;
  }
  if (parts != 4) return std::nullopt;
  return out;
}

std::string format_ipv4(Ipv4 a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

std::uint32_t Ipv4Net::capacity() const {
  if (prefix > 30) return 0;
  return (std::uint32_t{1} << (32 - prefix)) - 3;
}

std::string Ipv4Net::text() const { return format_ipv4(network) + "/" + std::to_string(prefix); }

Result<Ipv4Net> parse_subnet(std::string_view s) {
  auto bad = [&](const std::string& why) {
    return Error(Exit::usage, "subnet `" + std::string(s) + "`: " + why);
  };
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return bad("not a CIDR (10.1.0.0/24)");
  auto addr = parse_ipv4(s.substr(0, slash));
  if (!addr) return bad("not an IPv4 address");
  std::string_view p = s.substr(slash + 1);
  if (p.empty() || p.size() > 2) return bad("not a prefix length");
  int prefix = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return bad("not a prefix length");
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix < 8 || prefix > 30) return bad("the prefix must be /8 to /30");
  Ipv4Net n{*addr, prefix};
  n.network = *addr & n.mask();
  if (n.network != *addr) return bad("host bits set (did you mean " + n.text() + "?)");
  return n;
}

bool overlaps(const Ipv4Net& a, const Ipv4Net& b) {
  int p = a.prefix < b.prefix ? a.prefix : b.prefix;
  Ipv4 m = p == 0 ? 0 : ~Ipv4{0} << (32 - p);
  return (a.network & m) == (b.network & m);
}

std::optional<int> prefix_for(std::uint32_t n) {
  for (int p = 30; p >= 16; --p)
    if (Ipv4Net{0, p}.capacity() >= n) return p;
  return std::nullopt;
}

std::optional<Ipv4> next_free_address(const Ipv4Net& net, const std::set<Ipv4>& used) {
  if (net.capacity() == 0) return std::nullopt;
  for (Ipv4 a = net.network + 2; a < net.broadcast(); ++a)
    if (!used.contains(a)) return a;
  return std::nullopt;
}

std::optional<Ipv4Net> pick_subnet(const Ipv4Net& range, std::uint32_t n,
                                   const std::set<std::pair<Ipv4, int>>& taken) {
  auto fit = prefix_for(n);
  if (!fit) return std::nullopt;
  const int p = *fit < 24 ? *fit : 24;  // a /24 at least: room to grow, easy to read
  if (p < range.prefix) return std::nullopt;
  const std::uint64_t step = std::uint64_t{1} << (32 - p);
  for (std::uint64_t a = range.network; a + step - 1 <= range.broadcast(); a += step) {
    Ipv4Net cand{static_cast<Ipv4>(a), p};
    bool clash = false;
    for (const auto& [net, pre] : taken)
      if (overlaps(cand, Ipv4Net{net, pre})) {
        clash = true;
        break;
      }
    if (!clash) return cand;
  }
  return std::nullopt;
}

}  // namespace faas
