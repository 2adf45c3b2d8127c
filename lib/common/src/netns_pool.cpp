#include "faas/netns_pool.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <time.h>

#include <algorithm>
#include <set>

#include "faas/log.hpp"
#include "faas/netns.hpp"
#include "faas/scope_exit.hpp"
#include "faas/timing.hpp"

namespace faas {

namespace {

bool valid_id(std::string_view id) {
  if (id.size() != 12) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

constexpr const char* kLeaseSelect =
    "SELECT n.id, n.pool, n.name, n.host_if, n.state, n.holder_pid, n.holder_start, "
    "n.claimed_at, n.created_at, COALESCE(a.addr, 0), p.subnet "
    "FROM netns n JOIN netns_pools p ON p.name = n.pool "
    "LEFT JOIN netns_addresses a ON a.netns = n.id";

constexpr const char* kPoolSelect =
    "SELECT p.name, p.tag, p.bridge, p.state, p.subnet, p.mtu, p.size, p.holder_pid, "
    "p.holder_start, p.created_at, "
    "(SELECT count(*) FROM netns WHERE pool = p.name AND state = 'ready'), "
    "(SELECT count(*) FROM netns WHERE pool = p.name AND state IN ('leased', 'releasing')), "
    "(SELECT count(*) FROM netns WHERE pool = p.name) "
    "FROM netns_pools p";

NetnsLease lease_from(const SqlRow& r) {
  NetnsLease l;
  l.id = sql_text(r.at(0));
  l.pool = sql_text(r.at(1));
  l.name = sql_text(r.at(2));
  l.host_if = sql_text(r.at(3));
  l.state = sql_text(r.at(4));
  l.holder.pid = static_cast<pid_t>(sql_int(r.at(5)));
  l.holder.start_time = static_cast<std::uint64_t>(sql_int(r.at(6)));
  l.claimed_at = sql_int(r.at(7));
  l.created_at = sql_int(r.at(8));
  l.ip = static_cast<Ipv4>(sql_int(r.at(9)));
  if (auto n = parse_subnet(sql_text(r.at(10)))) l.subnet = *n;
  return l;
}

NetnsPool pool_from(const SqlRow& r) {
  NetnsPool p;
  p.name = sql_text(r.at(0));
  p.tag = sql_text(r.at(1));
  p.bridge = sql_text(r.at(2));
  p.state = sql_text(r.at(3));
  if (auto n = parse_subnet(sql_text(r.at(4)))) p.subnet = *n;
  p.mtu = static_cast<unsigned>(sql_int(r.at(5)));
  p.size = static_cast<std::uint32_t>(sql_int(r.at(6)));
  p.holder.pid = static_cast<pid_t>(sql_int(r.at(7)));
  p.holder.start_time = static_cast<std::uint64_t>(sql_int(r.at(8)));
  p.created_at = sql_int(r.at(9));
  p.ready = static_cast<std::uint32_t>(sql_int(r.at(10)));
  p.leased = static_cast<std::uint32_t>(sql_int(r.at(11)));
  p.total = static_cast<std::uint32_t>(sql_int(r.at(12)));
  return p;
}

bool alive(const Holder& h) { return h.pid > 0 && holder_alive(h); }

std::string ns_prefix(const NetnsPool& p) { return "fn" + p.tag + "-"; }
std::string veth_prefix(const NetnsPool& p) { return "fv" + p.tag + "-"; }

// Names under /run/netns starting with prefix.
std::vector<std::string> pinned_with_prefix(const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(kNetnsDir);
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind(prefix, 0) == 0) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

Json gc_record(const char* kind, Json obj, std::string_view reason) {
  obj["gc"] = std::string(reason);
  Json rec = Json::object();
  rec["v"] = kRecordVersion;
  rec[kind] = std::move(obj);
  return rec;
}

}  // namespace

// ---- values ----

std::string NetnsLease::path() const { return netns_path(name); }

netlink::Mac NetnsLease::mac() const {
  return {0x02, 0xfa, static_cast<std::uint8_t>(ip >> 24), static_cast<std::uint8_t>(ip >> 16),
          static_cast<std::uint8_t>(ip >> 8), static_cast<std::uint8_t>(ip)};
}

Json netns_json(const NetnsLease& l) {
  Json j = Json::object();
  j["id"] = l.id;
  j["pool"] = l.pool;
  j["name"] = l.name;
  j["path"] = l.path();
  j["ip"] = format_ipv4(l.ip);
  j["prefix"] = l.subnet.prefix;
  j["gateway"] = format_ipv4(l.subnet.gateway());
  j["mac"] = netlink::format_mac(l.mac());
  j["host_if"] = l.host_if;
  return j;
}

Json netns_pool_json(const NetnsPool& p) {
  Json j = Json::object();
  j["name"] = p.name;
  j["tag"] = p.tag;
  j["subnet"] = p.subnet.text();
  j["gateway"] = format_ipv4(p.subnet.gateway());
  j["bridge"] = p.bridge;
  j["mtu"] = p.mtu;
  j["size"] = p.size;
  j["ready"] = p.ready;
  j["leased"] = p.leased;
  j["total"] = p.total;
  j["state"] = p.state;
  return j;
}

bool valid_netns_pool_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9'))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

bool valid_ifname(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0';
  });
}

// ---- state helpers ----

Result<netlink::Socket*> NetnsPools::host() {
  if (!host_) {
    FAAS_TRY_ASSIGN(auto s, netlink::Socket::open());
    host_.emplace(std::move(s));
  }
  return &*host_;
}

Result<NetnsPool> NetnsPools::pool_row(std::string_view name) {
  FAAS_TRY_ASSIGN(auto rows,
                  st_.query(std::string(kPoolSelect) + " WHERE p.name = ?", {std::string(name)}));
  if (rows.empty()) return Error(Exit::no_input, "pool " + q(name) + " not found in state");
  return pool_from(rows[0]);
}

Result<NetnsPool> NetnsPools::find_pool(std::string_view name) {
  if (!valid_netns_pool_name(name)) return Error(Exit::no_input, "pool " + q(name) + " not found in state");
  return pool_row(name);
}

Result<std::vector<NetnsPool>> NetnsPools::list_pools() {
  FAAS_TRY_ASSIGN(auto rows, st_.query(std::string(kPoolSelect) + " ORDER BY p.name"));
  std::vector<NetnsPool> out;
  for (const auto& r : rows) out.push_back(pool_from(r));
  return out;
}

Result<std::uint32_t> NetnsPools::live_count(std::string_view pool) {
  FAAS_TRY_ASSIGN(auto rows, st_.query("SELECT count(*) FROM netns WHERE pool = ? AND state != 'removing'",
                                       {std::string(pool)}));
  return static_cast<std::uint32_t>(sql_int(rows.at(0).at(0)));
}

Result<std::optional<NetnsLease>> NetnsPools::find(std::string_view id) {
  if (!valid_id(id)) return std::optional<NetnsLease>{};
  FAAS_TRY_ASSIGN(auto rows, st_.query(std::string(kLeaseSelect) + " WHERE n.id = ?", {std::string(id)}));
  if (rows.empty()) return std::optional<NetnsLease>{};
  return std::optional<NetnsLease>(lease_from(rows[0]));
}

Result<std::vector<NetnsLease>> NetnsPools::list(std::string_view pool) {
  std::vector<SqlRow> rows;
  if (pool.empty()) {
    FAAS_TRY_ASSIGN(rows, st_.query(std::string(kLeaseSelect) + " ORDER BY n.pool, a.addr"));
  } else {
    FAAS_TRY_ASSIGN(rows, st_.query(std::string(kLeaseSelect) + " WHERE n.pool = ? ORDER BY a.addr",
                                    {std::string(pool)}));
  }
  std::vector<NetnsLease> out;
  for (const auto& r : rows) out.push_back(lease_from(r));
  return out;
}

Result<void> NetnsPools::set_state(std::string_view id, std::string_view state, const Holder& h) {
  FAAS_TRY(st_.query("UPDATE netns SET state = ?, holder_pid = ?, holder_start = ? WHERE id = ?",
                     {std::string(state), static_cast<std::int64_t>(h.pid),
                      static_cast<std::int64_t>(h.start_time), std::string(id)}));
  return {};
}

Result<bool> NetnsPools::take_over(const NetnsLease& l, std::string_view to) {
  FAAS_TRY_ASSIGN(auto rows,
                  st_.query("UPDATE netns SET state = ?, holder_pid = ?, holder_start = ? "
                            "WHERE id = ? AND state = ? AND holder_pid = ? AND holder_start = ? "
                            "RETURNING id",
                            {std::string(to), static_cast<std::int64_t>(self_.pid),
                             static_cast<std::int64_t>(self_.start_time), l.id, l.state,
                             static_cast<std::int64_t>(l.holder.pid),
                             static_cast<std::int64_t>(l.holder.start_time)}));
  return !rows.empty();
}

Result<bool> NetnsPools::take_over_pool(const NetnsPool& p, std::string_view to) {
  FAAS_TRY_ASSIGN(auto rows,
                  st_.query("UPDATE netns_pools SET state = ?, holder_pid = ?, holder_start = ? "
                            "WHERE name = ? AND state = ? AND holder_pid = ? AND holder_start = ? "
                            "RETURNING name",
                            {std::string(to), static_cast<std::int64_t>(self_.pid),
                             static_cast<std::int64_t>(self_.start_time), p.name, p.state,
                             static_cast<std::int64_t>(p.holder.pid),
                             static_cast<std::int64_t>(p.holder.start_time)}));
  return !rows.empty();
}

Result<void> NetnsPools::delete_pool_rows(std::string_view name) {
  const std::string n(name);
  return st_.immediate([&]() -> Result<void> {
    FAAS_TRY(st_.query("DELETE FROM netns_addresses WHERE pool = ?", {n}));
    FAAS_TRY(st_.query("DELETE FROM netns WHERE pool = ?", {n}));
    FAAS_TRY(st_.query("DELETE FROM netns_pools WHERE name = ?", {n}));
    return {};
  });
}

// ---- kernel objects ----

Result<int> NetnsPools::bridge_index(const NetnsPool& p) {
  for (const auto& [name, idx] : bridges_)
    if (name == p.bridge) return idx;
  FAAS_TRY_ASSIGN(auto* s, host());
  FAAS_TRY_ASSIGN(auto link, netlink::find_link(*s, p.bridge));
  if (!link) return Error(Exit::unavailable, "bridge " + q(p.bridge) + " of pool " + q(p.name) + " is gone (run gc)");
  bridges_.emplace_back(p.bridge, link->index);
  return link->index;
}

Result<void> NetnsPools::ensure_bridge(const NetnsPool& p) {
  FAAS_TRY_ASSIGN(auto* s, host());
  FAAS_TRY_ASSIGN(auto link, netlink::find_link(*s, p.bridge));
  int index = 0;
  if (link) {
    if (link->kind != "bridge")
      return Error(Exit::cant_create, "pool " + q(p.name) + ": " + q(p.bridge) + " exists and is not a bridge");
    index = link->index;
    if (!(link->flags & IFF_UP)) FAAS_TRY(netlink::set_link(*s, index, true));
  } else {
    FAAS_TRY_ASSIGN(index, netlink::create_bridge(*s, p.bridge, p.mtu));
  }
  FAAS_TRY_CTX(netlink::add_address4(*s, index, to_be(p.subnet.gateway()), p.subnet.prefix),
               "bridge " + q(p.bridge));
  bridges_.erase(std::remove_if(bridges_.begin(), bridges_.end(),
                                [&](const auto& b) { return b.first == p.bridge; }),
                 bridges_.end());
  bridges_.emplace_back(p.bridge, index);
  return {};
}

Result<void> NetnsPools::make_kernel_objects(const NetnsPool& p, const NetnsLease& l) {
  FAAS_TRY_ASSIGN(int br, bridge_index(p));
  FAAS_TRY_ASSIGN(auto* s, host());
  FAAS_TRY_ASSIGN(NamedNetns ns, create_named_netns(l.name));
  FAAS_TRY(netlink::create_veth(*s, l.host_if, "eth0", ns.fd.get(), p.mtu, br, l.mac()));
  FAAS_TRY_ASSIGN(auto eth0, netlink::find_link(ns.socket, "eth0"));
  if (!eth0) return Error(Exit::software, "eth0 missing in " + q(l.name) + " right after its creation");
  FAAS_TRY(netlink::set_link(ns.socket, eth0->index, true));
  FAAS_TRY(netlink::add_address4(ns.socket, eth0->index, to_be(l.ip), p.subnet.prefix));
  FAAS_TRY(netlink::replace_default_route4(ns.socket, to_be(p.subnet.gateway()), eth0->index,
                                           RTPROT_STATIC));
  return {};
}

Result<std::optional<NetnsLease>> NetnsPools::create_one(const NetnsPool& p, bool only_below_size) {
  NetnsLease l;
  l.id = new_id();
  l.pool = p.name;
  l.subnet = p.subnet;
  l.state = std::string(kNsCreating);
  l.holder = self_;
  l.created_at = unix_ms();
  bool full = false;
  auto tx = st_.immediate([&]() -> Result<void> {
    if (only_below_size) {
      FAAS_TRY_ASSIGN(std::uint32_t n, live_count(p.name));
      if (n >= p.size) {
        full = true;
        return {};
      }
    }
    FAAS_TRY_ASSIGN(auto used_rows, st_.query("SELECT addr FROM netns_addresses WHERE pool = ?", {p.name}));
    std::set<Ipv4> used;
    for (const auto& r : used_rows) used.insert(static_cast<Ipv4>(sql_int(r.at(0))));
    auto a = next_free_address(p.subnet, used);
    if (!a) return Error(Exit::temp, "pool " + q(p.name) + ": no free address left in " + p.subnet.text());
    l.ip = *a;
    const std::string off = std::to_string(*a - p.subnet.network);
    l.name = ns_prefix(p) + off;
    l.host_if = veth_prefix(p) + off;
    FAAS_TRY(st_.query("INSERT INTO netns (id, pool, name, host_if, state, holder_pid, holder_start, "
                       "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       {l.id, l.pool, l.name, l.host_if, l.state,
                        static_cast<std::int64_t>(self_.pid),
                        static_cast<std::int64_t>(self_.start_time), l.created_at}));
    FAAS_TRY(st_.query("INSERT INTO netns_addresses (addr, pool, netns) VALUES (?, ?, ?)",
                       {static_cast<std::int64_t>(l.ip), l.pool, l.id}));
    return {};
  });
  if (!tx) return std::move(tx).error();
  if (full) return std::optional<NetnsLease>{};
  auto made = make_kernel_objects(p, l);
  if (!made) {
    auto undone = destroy_one(l);
    if (!undone) log_warn("namespace " + q(l.name) + ": cleaning up: " + undone.error().what());
    return std::move(made).error().wrap("pool " + q(p.name) + ": namespace " + q(l.name));
  }
  FAAS_TRY(set_state(l.id, kNsReady, Holder{}));
  l.state = std::string(kNsReady);
  l.holder = Holder{};
  return std::optional<NetnsLease>(std::move(l));
}

Result<void> NetnsPools::destroy_one(const NetnsLease& l) {
  if (netns_pinned(l.name)) {
    Fd fd(::open(l.path().c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) {
      auto k = kill_netns_processes(fd.get());
      if (!k) log_warn("namespace " + q(l.name) + ": " + k.error().what());
    }
  }
  FAAS_TRY_ASSIGN(auto* s, host());
  FAAS_TRY(netlink::delete_link_named(*s, l.host_if));
  FAAS_TRY(delete_named_netns(l.name));
  return st_.immediate([&]() -> Result<void> {
    FAAS_TRY(st_.query("DELETE FROM netns_addresses WHERE netns = ?", {l.id}));
    FAAS_TRY(st_.query("DELETE FROM netns WHERE id = ?", {l.id}));
    return {};
  });
}

Result<std::uint32_t> NetnsPools::fill(const NetnsPool& p) {
  std::uint32_t made = 0;
  for (;;) {
    FAAS_TRY_ASSIGN(auto one, create_one(p, true));
    if (!one) return made;
    ++made;
  }
}

Result<void> NetnsPools::reset(const NetnsLease& l, const NetnsPool& p) {
  FAAS_TRY_ASSIGN(NamedNetns ns, open_named_netns(l.name));
  FAAS_TRY(kill_netns_processes(ns.fd.get()));
  FAAS_TRY_ASSIGN(auto links, netlink::list_links(ns.socket));
  int eth0 = 0;
  bool lo_ok = false, eth0_ok = false;
  for (const auto& k : links) {
    if (k.index == 1) lo_ok = (k.flags & IFF_UP) != 0;
    if (k.name != "eth0" || k.kind != "veth") continue;
    eth0 = k.index;
    eth0_ok = (k.flags & IFF_UP) && k.mtu == p.mtu && k.mac == l.mac();
  }
  if (eth0 == 0) return Error(Exit::os, "its eth0 is gone");
  for (const auto& k : links) {
    if (k.index == 1 || k.index == eth0) continue;
    auto r = netlink::delete_link(ns.socket, k.index, k.name);
    if (!r && r.error().err() != ENODEV) return std::move(r).error();  // ENODEV: went with its peer
  }
  if (!lo_ok) FAAS_TRY(netlink::set_link(ns.socket, 1, true));
  if (!eth0_ok) FAAS_TRY(netlink::set_link(ns.socket, eth0, true, p.mtu, l.mac()));

  const std::uint32_t ip_be = to_be(l.ip);
  const std::uint32_t gw_be = to_be(p.subnet.gateway());
  const std::vector<std::uint8_t> ip_bytes(reinterpret_cast<const std::uint8_t*>(&ip_be),
                                           reinterpret_cast<const std::uint8_t*>(&ip_be) + 4);
  const std::vector<std::uint8_t> gw_bytes(reinterpret_cast<const std::uint8_t*>(&gw_be),
                                           reinterpret_cast<const std::uint8_t*>(&gw_be) + 4);
  const std::vector<std::uint8_t> lo4{127, 0, 0, 1};
  std::vector<std::uint8_t> lo6(16, 0);
  lo6[15] = 1;
  FAAS_TRY_ASSIGN(auto addrs, netlink::list_addresses(ns.socket, AF_UNSPEC));
  bool have_ip = false;
  for (const auto& a : addrs) {
    if (a.index == 1 && ((a.family == AF_INET && a.local == lo4 && a.prefix == 8) ||
                         (a.family == AF_INET6 && a.local == lo6)))
      continue;
    if (a.index == eth0 && a.family == AF_INET && a.local == ip_bytes && a.prefix == p.subnet.prefix) {
      have_ip = true;
      continue;
    }
    if (a.index == eth0 && a.family == AF_INET6 && a.scope == RT_SCOPE_LINK) continue;
    FAAS_TRY(netlink::delete_address(ns.socket, a));
  }
  if (!have_ip) FAAS_TRY(netlink::add_address4(ns.socket, eth0, ip_be, p.subnet.prefix));

  bool have_default = false;
  for (int family : {AF_INET, AF_INET6}) {
    FAAS_TRY_ASSIGN(auto routes, netlink::list_routes(ns.socket, family));
    for (const auto& r : routes) {
      if (r.header.rtm_protocol == RTPROT_KERNEL) continue;
      if (family == AF_INET && r.table == RT_TABLE_MAIN && r.header.rtm_dst_len == 0 &&
          r.header.rtm_protocol == RTPROT_STATIC && r.gateway == gw_bytes && r.oif == eth0 &&
          !have_default) {
        have_default = true;
        continue;
      }
      FAAS_TRY(netlink::delete_route(ns.socket, r));
    }
  }
  if (!have_default) FAAS_TRY(netlink::replace_default_route4(ns.socket, gw_be, eth0, RTPROT_STATIC));

  // The host side: still there, up, on the pool's bridge.
  FAAS_TRY_ASSIGN(auto* s, host());
  FAAS_TRY_ASSIGN(auto hl, netlink::find_link(*s, l.host_if));
  if (!hl) return Error(Exit::os, "its host side " + q(l.host_if) + " is gone");
  FAAS_TRY_ASSIGN(int br, bridge_index(p));
  if (hl->master != br) return Error(Exit::os, q(l.host_if) + " is no longer on " + q(p.bridge));
  if (!(hl->flags & IFF_UP)) FAAS_TRY(netlink::set_link(*s, hl->index, true));
  return {};
}

// ---- pools ----

Result<NetnsPool> NetnsPools::create_pool(const NetnsPoolSpec& spec) {
  if (!valid_netns_pool_name(spec.name))
    return Error(Exit::usage, "pool name " + q(spec.name) +
                                  ": use 1-32 of a-z 0-9 - _ . starting with a letter or digit");
  if (spec.size > kMaxNetnsPoolSize)
    return Error(Exit::usage, "--size " + std::to_string(spec.size) + ": at most " +
                                  std::to_string(kMaxNetnsPoolSize));
  if (spec.mtu < 68 || spec.mtu > 65535)
    return Error(Exit::usage, "--mtu " + std::to_string(spec.mtu) + ": not 68 to 65535");
  if (!spec.bridge.empty() && !valid_ifname(spec.bridge))
    return Error(Exit::usage, "--bridge " + q(spec.bridge) + ": not an interface name (1-15 characters)");
  std::optional<Ipv4Net> want;
  if (!spec.subnet.empty()) {
    FAAS_TRY_ASSIGN(Ipv4Net n, parse_subnet(spec.subnet));
    if (n.capacity() < spec.size)
      return Error(Exit::usage, "subnet " + n.text() + " holds " + std::to_string(n.capacity()) +
                                    " namespace addresses, too few for --size " +
                                    std::to_string(spec.size));
    want = n;
  }

  // Subnets in use on this host (a pool must never shadow a real network).
  FAAS_TRY_ASSIGN(auto* s, host());
  FAAS_TRY_ASSIGN(auto links, netlink::list_links(*s));
  FAAS_TRY_ASSIGN(auto addrs, netlink::list_addresses(*s, AF_INET));
  std::vector<std::pair<Ipv4Net, std::string>> host_nets;
  for (const auto& a : addrs) {
    if (a.local.size() != 4) continue;
    Ipv4 ip = (Ipv4{a.local[0]} << 24) | (Ipv4{a.local[1]} << 16) | (Ipv4{a.local[2]} << 8) | a.local[3];
    Ipv4Net n{0, a.prefix};
    n.network = ip & n.mask();
    std::string dev = std::to_string(a.index);
    for (const auto& k : links)
      if (k.index == a.index) dev = k.name;
    host_nets.emplace_back(n, format_ipv4(ip) + "/" + std::to_string(a.prefix) + " on " + dev);
  }

  NetnsPool p;
  p.name = spec.name;
  p.mtu = spec.mtu;
  p.size = spec.size;
  p.state = std::string(kNsCreating);
  p.holder = self_;
  p.created_at = unix_ms();
  auto tx = st_.immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(auto exists, st_.query("SELECT 1 FROM netns_pools WHERE name = ?", {p.name}));
    if (!exists.empty()) return Error(Exit::cant_create, "pool " + q(p.name) + " exists");
    FAAS_TRY_ASSIGN(auto pools, st_.query("SELECT name, subnet, tag, bridge FROM netns_pools"));
    std::set<std::pair<Ipv4, int>> taken;
    std::set<std::string> tags, bridges;
    for (const auto& r : pools) {
      tags.insert(sql_text(r.at(2)));
      bridges.insert(sql_text(r.at(3)));
      auto n = parse_subnet(sql_text(r.at(1)));
      if (!n) continue;
      taken.insert({n->network, n->prefix});
      if (want && overlaps(*want, *n))
        return Error(Exit::usage, "subnet " + want->text() + " overlaps " + n->text() +
                                      " of pool " + q(sql_text(r.at(0))));
    }
    for (const auto& [n, what] : host_nets) {
      taken.insert({n.network, n.prefix});
      if (want && overlaps(*want, n))
        return Error(Exit::usage, "subnet " + want->text() + " overlaps the host's address " + what);
    }
    if (want) {
      p.subnet = *want;
    } else {
      auto range = parse_subnet(kDefaultNetnsRange);
      auto picked = pick_subnet(*range, spec.size, taken);
      if (!picked)
        return Error(Exit::usage, std::string("no free subnet for --size ") + std::to_string(spec.size) +
                                      " in " + kDefaultNetnsRange + ": give --subnet");
      p.subnet = *picked;
    }
    do {
      p.tag = new_id().substr(0, 6);
    } while (tags.contains(p.tag));
    p.bridge = spec.bridge.empty() ? "fb" + p.tag : spec.bridge;
    if (bridges.contains(p.bridge))
      return Error(Exit::cant_create, "bridge " + q(p.bridge) + " belongs to another pool");
    FAAS_TRY(st_.query("INSERT INTO netns_pools (name, tag, subnet, bridge, mtu, size, state, "
                       "holder_pid, holder_start, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       {p.name, p.tag, p.subnet.text(), p.bridge, static_cast<std::int64_t>(p.mtu),
                        static_cast<std::int64_t>(p.size), p.state,
                        static_cast<std::int64_t>(self_.pid),
                        static_cast<std::int64_t>(self_.start_time), p.created_at}));
    return {};
  });
  if (!tx) return std::move(tx).error();

  bool made_bridge = false;
  ScopeExit undo([&] {
    auto r = destroy_pool_objects(p);
    if (r && made_bridge) {
      auto h = host();
      if (h) (void)netlink::delete_link_named(**h, p.bridge);
    }
    if (r) r = delete_pool_rows(p.name);
    if (!r) log_warn("pool " + q(p.name) + ": cleaning up: " + r.error().what());
  });
  FAAS_TRY(ensure_netns_dir());
  FAAS_TRY_ASSIGN(auto existing, netlink::find_link(*s, p.bridge));
  if (existing) return Error(Exit::cant_create, "pool " + q(p.name) + ": interface " + q(p.bridge) + " exists");
  made_bridge = true;
  FAAS_TRY_CTX(ensure_bridge(p), "pool " + q(p.name));
  FAAS_TRY(fill(p));
  FAAS_TRY(st_.query("UPDATE netns_pools SET state = 'ready', holder_pid = 0, holder_start = 0 WHERE name = ?",
                     {p.name}));
  undo.release();
  return pool_row(p.name);
}

Result<void> NetnsPools::destroy_pool_objects(const NetnsPool& p) {
  FAAS_TRY_ASSIGN(auto rows, list(p.name));
  std::optional<Error> first;
  for (const auto& l : rows) {
    auto r = destroy_one(l);
    if (!r && !first) first = std::move(r).error().wrap("namespace " + q(l.name));
  }
  // Anything named after the pool's tag that no row names (cannot happen
  // unless rows were deleted by hand): gone too.
  for (const auto& n : pinned_with_prefix(ns_prefix(p))) (void)delete_named_netns(n);
  FAAS_TRY_ASSIGN(auto* s, host());
  FAAS_TRY_ASSIGN(auto links, netlink::list_links(*s));
  for (const auto& k : links)
    if (k.name.rfind(veth_prefix(p), 0) == 0) (void)netlink::delete_link(*s, k.index, k.name);
  if (first) return std::move(*first);
  return {};
}

Result<NetnsPool> NetnsPools::remove_pool(std::string_view name) {
  FAAS_TRY_ASSIGN(NetnsPool p, find_pool(name));
  auto tx = st_.immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(NetnsPool now, pool_row(name));
    if ((now.state == kNsCreating || now.state == kNsRemoving) && !(now.holder == self_) && alive(now.holder))
      return Error(Exit::temp, "pool " + q(name) + " is " + now.state + " by pid " +
                                   std::to_string(now.holder.pid));
    const std::vector<SqlValue> args{std::string(kNsRemoving), static_cast<std::int64_t>(self_.pid),
                                     static_cast<std::int64_t>(self_.start_time), p.name};
    FAAS_TRY(st_.query("UPDATE netns_pools SET state = ?, holder_pid = ?, holder_start = ? WHERE name = ?", args));
    FAAS_TRY(st_.query("UPDATE netns SET state = ?, holder_pid = ?, holder_start = ? WHERE pool = ?", args));
    return {};
  });
  if (!tx) return std::move(tx).error();
  FAAS_TRY(destroy_pool_objects(p));
  FAAS_TRY_ASSIGN(auto* s, host());
  FAAS_TRY(netlink::delete_link_named(*s, p.bridge));
  FAAS_TRY(delete_pool_rows(p.name));
  p.state = "removed";
  p.ready = p.leased = p.total = 0;
  return p;
}

Result<NetnsPool> NetnsPools::resize_pool(std::string_view name, std::uint32_t size) {
  FAAS_TRY_ASSIGN(NetnsPool p, find_pool(name));
  if (size > kMaxNetnsPoolSize || p.subnet.capacity() < size)
    return Error(Exit::usage, "subnet " + p.subnet.text() + " of pool " + q(name) + " holds " +
                                  std::to_string(p.subnet.capacity()) +
                                  " namespace addresses, too few for size " + std::to_string(size));
  if (p.state != kNsReady)
    return Error(Exit::temp, "pool " + q(name) + " is " + p.state + " (run gc if its holder died)");
  FAAS_TRY(st_.query("UPDATE netns_pools SET size = ? WHERE name = ?",
                     {static_cast<std::int64_t>(size), p.name}));
  p.size = size;
  FAAS_TRY(fill(p));
  // Shrinking: ready namespaces beyond the size go now, leased ones at
  // their release.
  std::vector<NetnsLease> doomed;
  auto tx = st_.immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(std::uint32_t live, live_count(p.name));
    if (live <= size) return {};
    FAAS_TRY_ASSIGN(auto rows, st_.query(std::string(kLeaseSelect) +
                                             " WHERE n.pool = ? AND n.state = 'ready' "
                                             "ORDER BY a.addr DESC LIMIT ?",
                                         {p.name, static_cast<std::int64_t>(live - size)}));
    for (const auto& r : rows) {
      NetnsLease l = lease_from(r);
      FAAS_TRY(set_state(l.id, kNsRemoving, self_));
      doomed.push_back(std::move(l));
    }
    return {};
  });
  if (!tx) return std::move(tx).error();
  for (const auto& l : doomed) FAAS_TRY(destroy_one(l));
  return pool_row(p.name);
}

// ---- leases ----

Result<std::optional<NetnsLease>> NetnsPools::acquire(std::string_view pool, const Holder& holder) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    // The claim reads only what the record needs, table by table: a
    // three-way join (kLeaseSelect) costs more to plan than the three
    // single-table reads together, and faas-netns acquire is a whole
    // process that pays SQLite's parsing afresh every time.
    std::optional<NetnsLease> lease;
    auto tx = st_.immediate([&]() -> Result<void> {
      FAAS_TRY_ASSIGN(auto rows, st_.query("SELECT rowid, id, name, host_if, created_at FROM netns "
                                           "WHERE pool = ? AND state = 'ready' ORDER BY rowid LIMIT 1",
                                           {std::string(pool)}));
      if (rows.empty()) return {};
      NetnsLease l;
      const std::int64_t rowid = sql_int(rows[0].at(0));
      l.id = sql_text(rows[0].at(1));
      l.pool = std::string(pool);
      l.name = sql_text(rows[0].at(2));
      l.host_if = sql_text(rows[0].at(3));
      l.created_at = sql_int(rows[0].at(4));
      l.state = std::string(kNsLeased);
      l.holder = holder;
      l.claimed_at = unix_ms();
      FAAS_TRY_ASSIGN(auto addr, st_.query("SELECT addr FROM netns_addresses WHERE netns = ?", {l.id}));
      if (!addr.empty()) l.ip = static_cast<Ipv4>(sql_int(addr[0].at(0)));
      FAAS_TRY_ASSIGN(auto net, st_.query("SELECT subnet FROM netns_pools WHERE name = ?", {l.pool}));
      if (!net.empty())
        if (auto n = parse_subnet(sql_text(net[0].at(0)))) l.subnet = *n;
      FAAS_TRY(st_.query("UPDATE netns SET state = ?, holder_pid = ?, holder_start = ?, claimed_at = ? "
                         "WHERE rowid = ?",
                         {l.state, static_cast<std::int64_t>(holder.pid),
                          static_cast<std::int64_t>(holder.start_time), l.claimed_at, rowid}));
      lease = std::move(l);
      return {};
    });
    if (!tx) return std::move(tx).error().wrap("claim a namespace of pool " + q(pool));
    if (!lease) {
      FAAS_TRY(find_pool(pool));  // unknown: Exit::no_input
      return std::optional<NetnsLease>{};
    }
    if (netns_pinned(lease->name)) return lease;
    // Someone removed it behind our back (ip netns delete): replace it.
    log_warn("netns " + q(lease->name) + " is no longer pinned: replacing it");
    FAAS_TRY(set_state(lease->id, kNsRemoving, self_));
    FAAS_TRY(destroy_one(*lease));
    FAAS_TRY_ASSIGN(NetnsPool p, pool_row(pool));
    auto made = create_one(p, true);
    if (!made) log_warn(made.error().what());
  }
  return Error(Exit::temp, "pool " + q(pool) + ": every namespace claimed was broken");
}

Result<void> NetnsPools::finish_release(const NetnsLease& l, const NetnsPool& p, Released& out) {
  FAAS_TRY_ASSIGN(std::uint32_t live, live_count(p.name));
  if (p.state == kNsRemoving || live > p.size) {
    FAAS_TRY(destroy_one(l));
    out.lease = l;
    out.removed = true;
    return {};
  }
  auto r = reset(l, p);
  if (r) {
    FAAS_TRY(set_state(l.id, kNsReady, Holder{}));
    out.lease = l;
    out.lease.state = std::string(kNsReady);
    return {};
  }
  log_warn("netns " + q(l.name) + " cannot be reset (" + r.error().what() + "): replacing it");
  FAAS_TRY(destroy_one(l));
  out.replaced = true;
  out.lease = l;
  FAAS_TRY_ASSIGN(auto fresh, create_one(p, true));
  if (fresh) out.lease = *fresh;
  return {};
}

Result<NetnsPools::Released> NetnsPools::release(std::string_view id) {
  auto unknown = [&] { return Error(Exit::no_input, "netns " + q(id) + " not found in state"); };
  if (!valid_id(id)) return unknown();
  auto tx = st_.immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(auto row, find(id));
    if (!row) return unknown();
    if (row->state == kNsReady) return Error(Exit::data, "netns " + q(id) + " is not acquired");
    if (row->state != kNsLeased)
      return Error(Exit::temp, "netns " + q(id) + " is " + row->state + " by pid " +
                                   std::to_string(row->holder.pid) +
                                   (alive(row->holder) ? "" : " (gone: run gc)"));
    return set_state(id, kNsReleasing, self_);
  });
  if (!tx) return std::move(tx).error();
  FAAS_TRY_ASSIGN(auto row, find(id));
  if (!row) return unknown();
  FAAS_TRY_ASSIGN(NetnsPool p, pool_row(row->pool));
  Released out;
  FAAS_TRY_CTX(finish_release(*row, p, out), "release netns " + q(id));
  return out;
}

// ---- gc ----

Result<std::vector<Json>> NetnsPools::gc() {
  std::vector<Json> out;
  FAAS_TRY_ASSIGN(auto pools, list_pools());
  FAAS_TRY_ASSIGN(auto* s, host());
  for (auto p : pools) {
    bool completing = false;
    if (p.state == kNsRemoving || p.state == kNsCreating) {
      if (alive(p.holder)) continue;  // its maker or remover is at work
      FAAS_TRY_ASSIGN(bool mine, take_over_pool(p, p.state));
      if (!mine) continue;
      if (p.state == kNsRemoving) {
        FAAS_TRY(destroy_pool_objects(p));
        FAAS_TRY(netlink::delete_link_named(*s, p.bridge));
        FAAS_TRY(delete_pool_rows(p.name));
        out.push_back(gc_record("netns_pool", netns_pool_json(p), "interrupted-remove"));
        continue;
      }
      completing = true;
      FAAS_TRY(ensure_netns_dir());
    }
    FAAS_TRY_CTX(ensure_bridge(p), "gc: pool " + q(p.name));
    FAAS_TRY_ASSIGN(int br, bridge_index(p));
    FAAS_TRY_ASSIGN(auto host_links, netlink::list_links(*s));
    FAAS_TRY_ASSIGN(auto rows, list(p.name));
    std::set<std::string> names, ifs;
    for (const auto& l : rows) {
      names.insert(l.name);
      ifs.insert(l.host_if);
      const bool gone = !alive(l.holder);
      std::string reason;
      if ((l.state == kNsCreating || l.state == kNsRemoving) && gone) {
        FAAS_TRY_ASSIGN(bool mine, take_over(l, kNsRemoving));
        if (!mine) continue;
        FAAS_TRY(destroy_one(l));
        reason = "interrupted";
      } else if ((l.state == kNsReleasing || l.state == kNsLeased) && gone) {
        FAAS_TRY_ASSIGN(bool mine, take_over(l, kNsReleasing));
        if (!mine) continue;
        Released r;
        FAAS_TRY(finish_release(l, p, r));
        reason = l.state == kNsLeased ? "dead-holder" : "interrupted-release";
        if (r.replaced) reason += ",replaced";
      } else if (l.state == kNsReady) {
        bool broken = !netns_pinned(l.name);
        auto hl = std::find_if(host_links.begin(), host_links.end(),
                               [&](const netlink::Link& k) { return k.name == l.host_if; });
        if (hl == host_links.end() || hl->master != br) broken = true;
        if (!broken) continue;
        FAAS_TRY_ASSIGN(bool mine, take_over(l, kNsRemoving));
        if (!mine) continue;
        FAAS_TRY(destroy_one(l));
        reason = "broken";
      } else {
        continue;
      }
      out.push_back(gc_record("netns", netns_json(l), reason));
    }
    // Orphans of this pool's tag that no row names.
    for (const auto& n : pinned_with_prefix(ns_prefix(p)))
      if (!names.contains(n)) {
        FAAS_TRY(delete_named_netns(n));
        out.push_back(gc_record("netns", Json{{"name", n}}, "orphan"));
      }
    for (const auto& k : host_links)
      if (k.name.rfind(veth_prefix(p), 0) == 0 && !ifs.contains(k.name)) {
        FAAS_TRY(netlink::delete_link(*s, k.index, k.name));
        out.push_back(gc_record("netns", Json{{"host_if", k.name}}, "orphan"));
      }
    FAAS_TRY_ASSIGN(std::uint32_t made, fill(p));
    if (completing) {
      FAAS_TRY(st_.query("UPDATE netns_pools SET state = 'ready', holder_pid = 0, holder_start = 0 "
                         "WHERE name = ?",
                         {p.name}));
    }
    if (made > 0 || completing) {
      FAAS_TRY_ASSIGN(NetnsPool now, pool_row(p.name));
      Json j = netns_pool_json(now);
      j["created"] = made;
      out.push_back(gc_record("netns_pool", std::move(j), completing ? "interrupted-create" : "refilled"));
    }
  }
  return out;
}

}  // namespace faas
