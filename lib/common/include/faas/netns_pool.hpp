// Pools of ready network namespaces (faas-netns, and faas-pool for its
// sandboxes' network): each pool is a bridge holding the subnet's first
// address (the gateway) and N namespaces, each pinned at /run/netns/NAME
// with `lo` up and one veth (`eth0` inside, on the bridge outside), an
// address from the pool's IPAM table and a default route via the gateway.
// Acquiring one is a single state transaction.
//
// Names come from the pool's random 6-hex tag and the address's offset in
// the subnet, so they are unique on the host and fit IFNAMSIZ:
//   bridge fb<tag>, host veth fv<tag>-<offset>, namespace fn<tag>-<offset>.
//
// A namespace row exists before anything in the kernel and goes after
// everything (states creating, ready, leased, releasing, removing, each
// non-ready one held by a pid + start time), so a process killed at any
// point leaves rows that name all it made; gc() takes them over once their
// holder is dead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faas/holder.hpp"
#include "faas/ipam.hpp"
#include "faas/netlink.hpp"
#include "faas/records.hpp"
#include "faas/result.hpp"
#include "faas/state.hpp"

namespace faas {

inline constexpr std::string_view kNsCreating = "creating";
inline constexpr std::string_view kNsReady = "ready";
inline constexpr std::string_view kNsLeased = "leased";
inline constexpr std::string_view kNsReleasing = "releasing";
inline constexpr std::string_view kNsRemoving = "removing";

// Where pools without --subnet get theirs: the first free /24 (or larger).
inline constexpr const char* kDefaultNetnsRange = "10.213.0.0/16";
inline constexpr std::uint32_t kMaxNetnsPoolSize = 65000;

struct NetnsPoolSpec {
  std::string name;
  std::uint32_t size = 0;
  std::string subnet;  // empty: picked from kDefaultNetnsRange
  std::string bridge;  // empty: fb<tag>
  unsigned mtu = 1500;
};

struct NetnsPool {
  std::string name, tag, bridge, state;
  Ipv4Net subnet;
  unsigned mtu = 1500;
  std::uint32_t size = 0;
  Holder holder;
  std::int64_t created_at = 0;
  // Counted by list_pools() / find_pool().
  std::uint32_t ready = 0, leased = 0, total = 0;
};

struct NetnsLease {
  std::string id, pool, name, host_if, state;
  Ipv4 ip = 0;
  Ipv4Net subnet;
  Holder holder;
  std::int64_t created_at = 0, claimed_at = 0;

  std::string path() const;
  netlink::Mac mac() const;  // 02:fa:<the four bytes of ip>
};

// The record of a namespace: {id, pool, name, path, ip, prefix, gateway,
// mac, host_if}.
Json netns_json(const NetnsLease& l);
Json netns_pool_json(const NetnsPool& p);

bool valid_netns_pool_name(std::string_view name);  // [a-z0-9][a-z0-9_.-]{0,31}
bool valid_ifname(std::string_view name);            // 1-15 chars, no '/', ':' or space

class NetnsPools {
 public:
  // self: the process doing the work (holder of transient states).
  NetnsPools(StateStore& st, Holder self) : st_(st), self_(self) {}

  // Exit::usage: a bad name, a subnet too small for the size or
  // overlapping another pool or a host address; Exit::cant_create: the pool
  // or its bridge exists. On failure nothing is left behind.
  Result<NetnsPool> create_pool(const NetnsPoolSpec& spec);
  Result<NetnsPool> resize_pool(std::string_view name, std::uint32_t size);
  // Destroys every namespace of the pool (leased ones too), its bridge and
  // rows.
  Result<NetnsPool> remove_pool(std::string_view name);
  Result<std::vector<NetnsPool>> list_pools();
  // Exit::no_input when there is no such pool.
  Result<NetnsPool> find_pool(std::string_view name);

  // Claims a ready namespace for `holder`; std::nullopt when none is ready.
  Result<std::optional<NetnsLease>> acquire(std::string_view pool, const Holder& holder);
  // Resets a leased namespace and returns it to its pool; one that cannot
  // be reset is destroyed and replaced (replaced = true).
  struct Released {
    NetnsLease lease;
    bool replaced = false;  // it could not be reset: a new one took its place
    bool removed = false;   // the pool shrank (or goes away): destroyed
  };
  Result<Released> release(std::string_view id);
  Result<std::optional<NetnsLease>> find(std::string_view id);
  Result<std::vector<NetnsLease>> list(std::string_view pool = {});

  // Repairs what dead processes left: finishes interrupted creations and
  // removals, resets what a dead holder leased, destroys broken namespaces
  // and orphans of this state's pools, refills every pool to its size.
  // Returns one record per action.
  Result<std::vector<Json>> gc();

 private:
  Result<netlink::Socket*> host();
  Result<int> bridge_index(const NetnsPool& p);
  Result<void> ensure_bridge(const NetnsPool& p);
  // A new namespace (std::nullopt when only_below_size and the pool is full).
  Result<std::optional<NetnsLease>> create_one(const NetnsPool& p, bool only_below_size);
  Result<NetnsPool> pool_row(std::string_view name);
  Result<std::uint32_t> live_count(std::string_view pool);
  Result<void> make_kernel_objects(const NetnsPool& p, const NetnsLease& l);
  Result<void> destroy_one(const NetnsLease& l);
  Result<void> reset(const NetnsLease& l, const NetnsPool& p);
  // Creates namespaces until the pool holds `size`; returns how many.
  Result<std::uint32_t> fill(const NetnsPool& p);
  Result<void> set_state(std::string_view id, std::string_view state, const Holder& h);
  // Atomically takes a row over: from `from` (held by `old`) to `to` held by self.
  Result<bool> take_over(const NetnsLease& l, std::string_view to);
  Result<bool> take_over_pool(const NetnsPool& p, std::string_view to);
  Result<void> delete_pool_rows(std::string_view name);
  Result<void> finish_release(const NetnsLease& l, const NetnsPool& p, Released& out);
  Result<void> destroy_pool_objects(const NetnsPool& p);

  StateStore& st_;
  Holder self_;
  std::optional<netlink::Socket> host_;
  std::vector<std::pair<std::string, int>> bridges_;  // bridge name -> ifindex
};

}  // namespace faas
