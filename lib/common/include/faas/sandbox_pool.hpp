// Warm sandbox pools in the state store: templates (what a sandbox runs) and
// pools (how many to keep warm) in state.db, sandboxes (one row each, in the
// states starting -> warm -> claimed -> warm ... -> destroying -> gone) and
// the pools' counters in run.db. Acquiring from a warm pool, releasing, and
// finding a sandbox read run.db alone; state.db is opened when a command
// needs a template or a pool's configuration.
//
// Every transition that two processes could race on is one BEGIN IMMEDIATE
// transaction (StateStore::claim), so concurrent acquirers never get the
// same sandbox and `warm` from cron never overfills a pool. A row's paths
// follow from the run dir and its id; a path in a record is never used.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "faas/holder.hpp"
#include "faas/records.hpp"
#include "faas/result.hpp"
#include "faas/sandbox.hpp"
#include "faas/state.hpp"

namespace faas {

struct SandboxTemplate {
  std::string name;
  std::string backend = "native";
  std::string rootfs;                 // absolute
  std::vector<std::string> cmd;
  std::vector<std::string> env;       // NAME=value
  CgroupLimits limits;
  std::string netns_pool;             // a faas-netns pool; empty: a fresh, empty netns
  struct BindRo {
    std::string host, dest;           // absolute; dest exists in the rootfs
  };
  std::vector<BindRo> binds_ro;
  bool ksm = false;                   // every process mergeable (PR_SET_MEMORY_MERGE)
  // A user namespace: root inside is host uid/gid userns_uid, for
  // userns_count ids. userns set and userns_uid 0: template_add picks the
  // template's range (kUsernsBase + 65536 * N, the lowest N free).
  bool userns = false;
  std::uint32_t userns_uid = 0, userns_count = 0;
};

// Where template_add picks user namespace ranges: 65536 ids each from
// 0x70000000 (above the ranges /etc/subuid and systemd-nspawn hand out),
// at most kUsernsSlots of them.
inline constexpr std::uint32_t kUsernsBase = 0x70000000U, kUsernsRange = 65536U, kUsernsSlots = 4094U;
// Acquire latencies kept per pool (a ring): status's percentiles cover these.
inline constexpr std::int64_t kAcquireSamples = 1024;

Json template_json(const SandboxTemplate& t);
Result<SandboxTemplate> template_from_json(const Json& j);

struct PoolInfo {
  std::string name, template_name;
  std::int64_t size = 0, hits = 0, misses = 0;
  std::int64_t starting = 0, warm = 0, claimed = 0, destroying = 0;
  std::int64_t idle_ttl_ms = 0, min_warm = 0;  // reap: warm ones idle past the TTL, keeping min_warm
  std::int64_t last_acquire_ms = 0;            // unix ms of the last acquire (hit or miss), 0: never
};

// Acquire latency over a pool's recent acquires that returned a sandbox.
struct AcquireStats {
  std::int64_t total = 0;        // acquires recorded since the pool was made
  std::int64_t sum_us = 0;       // their latencies summed
  std::int64_t window = 0;       // samples in the ring (at most kAcquireSamples)
  std::int64_t p50_us = 0, p90_us = 0, p99_us = 0;  // nearest rank over the ring
};

// A pool's reap policy, set by `pool set`.
struct PoolSettings {
  std::optional<std::int64_t> size, idle_ttl_ms, min_warm;
};

struct SandboxRow {
  std::string id, pool, template_name, state, start;
  pid_t pid = 0;
  std::uint64_t pid_start = 0;
  std::string cgroup, control, rootfs, netns, ip;
  Holder holder;
  std::int64_t claimed_at = 0, uses = 0, created_at = 0;
};

// The `sandbox` object of a record.
Json sandbox_json(const SandboxRow& s);
// After a release: marks the record's fork `"removed": true` when its id is
// one of the forks the release removed.
void mark_forks_removed(Json& rec, const std::vector<std::string>& removed);

class SandboxPools {
 public:
  // init_binary: the host's static faas-init, bound into every sandbox.
  SandboxPools(Stores& stores, std::filesystem::path init_binary, Holder self)
      : db_(stores.run()), stores_(stores), run_dir_(stores.run_dir()), init_(std::move(init_binary)),
        self_(self) {}

  // Adds the template; with userns and no uid, picks its range (set in t).
  Result<void> template_add(SandboxTemplate& t);
  Result<SandboxTemplate> template_get(const std::string& name);
  Result<std::vector<SandboxTemplate>> template_list();
  Result<void> template_rm(const std::string& name);

  // Creates the pool (template defaults to the pool's name) or updates its
  // size, then starts sandboxes until it holds `size` warm or starting
  // ones. Returns the sandboxes started.
  // idle_policy (warm --all): without `size`, a pool with an idle TTL and
  // no acquire within it is kept at its minimum, not its size.
  Result<std::vector<SandboxRow>> warm(const std::string& pool, std::optional<std::int64_t> size,
                                       const std::string& template_name, bool idle_policy = false);
  Result<std::vector<std::string>> pool_names();
  Result<PoolInfo> pool_info(const std::string& pool);
  Result<AcquireStats> acquire_stats(const std::string& pool);
  // Changes an existing pool's size, idle TTL (0: none) or minimum.
  Result<PoolInfo> pool_set(const std::string& pool, const PoolSettings& s);
  // Destroys every sandbox of the pool (claimed ones too) and the pool.
  Result<std::size_t> pool_rm(const std::string& pool);

  // Claims a warm sandbox whose init is alive (dead ones found on the way
  // are destroyed). Empty pool: waits up to `wait` with a bounded backoff,
  // then starts one on the spot when `cold`, else Exit::temp.
  Result<SandboxRow> acquire(const std::string& pool, std::chrono::milliseconds wait, bool cold,
                             const Holder& holder);
  // Recycles a claimed sandbox (warm again) when it is provably clean: its
  // init alive and alone in its cgroup, nothing mounted for an invocation.
  // Otherwise, or with `destroy`, destroys it. Either way the forks made for
  // it (faas-fork on its record) are removed first; their ids go to
  // forks_removed when given. Returns the row after.
  Result<SandboxRow> release(const std::string& id, bool destroy,
                             std::vector<std::string>* forks_removed = nullptr);
  // Destroys one sandbox (any state), the forks made for it, and its row.
  Result<void> destroy(const std::string& id);
  // Removes the forks made for the sandbox's invocations (unmounted, lazily
  // when busy, and deleted with their rows). Returns their ids.
  Result<std::vector<std::string>> remove_forks(const std::string& id);
  // Destroys sandboxes whose init died, claims whose holder died, starts
  // whose starter died, destroys that did not finish, and warm ones idle
  // past their pool's TTL (down to its minimum). Returns their ids and why
  // ("dead" or "idle").
  Result<std::vector<std::pair<std::string, std::string>>> reap();

  // Mounts an invocation's root (a fork's merged directory) at target under
  // the sandbox's invocations directory, with the template's read-only
  // binds on it (see mount_invocation_root in sandbox.hpp).
  Result<void> mount_invocation_root(const SandboxRow& row, const std::filesystem::path& merged,
                                     const std::filesystem::path& target);

  Result<std::optional<SandboxRow>> find(const std::string& id);
  Result<std::vector<SandboxRow>> list(const std::string& pool = {});

  const std::filesystem::path& run_dir() const { return run_dir_; }

 private:
  Result<SandboxRow> start_one(const SandboxTemplate& t, const std::string& id);
  Result<bool> claim_for_destroy(const std::string& id, const std::string& from_state);
  Result<void> finish_destroy(const SandboxRow& row);
  Result<void> release_netns(const std::string& lease_id);
  Result<void> pick_userns(StateStore& cfg, SandboxTemplate& t);
  // The pool's counters and its sandboxes by state (run.db) into p.
  Result<void> pool_runtime(PoolInfo& p);
  // Whether the pool holds fewer warm sandboxes than its size (false for a
  // pool that is gone).
  Result<bool> below_size(const std::string& pool);
  // The number of warm sandboxes `warm --all` keeps: the size, or with an
  // idle TTL and no acquire within it, the minimum.
  std::int64_t warm_target(const PoolInfo& p) const;

  StateStore& db_;  // run.db
  Stores& stores_;
  std::filesystem::path run_dir_, init_;
  Holder self_;
};

}  // namespace faas
