// The schemas of state.db and run.db, one migration list each. Append only:
// a shipped migration is never edited, because databases already at its
// version never run it again. Each migration runs inside the transaction
// that also bumps PRAGMA user_version, so a failed one leaves no trace.
#include "faas/state.hpp"

namespace faas {

const std::vector<Migration>& schema_migrations() {
  static const std::vector<Migration> migrations{
      {1,
       "CREATE TABLE meta (\n"
       "  key TEXT PRIMARY KEY,\n"
       "  value TEXT NOT NULL\n"
       ");\n"},
      // faas-fork: one row per fork; its paths follow from the state dir and
      // the id (forks/ID/...), so they are never stored.
      {2,
       "CREATE TABLE forks (\n"
       "  id TEXT PRIMARY KEY,\n"
       "  method TEXT NOT NULL,\n"
       "  base TEXT NOT NULL,\n"
       "  parent TEXT,\n"
       "  depth INTEGER NOT NULL,\n"
       "  lowers TEXT NOT NULL DEFAULT '[]',\n"
       "  tmpfs_bytes INTEGER NOT NULL DEFAULT 0,\n"
       "  state TEXT NOT NULL,\n"
       "  holder_pid INTEGER NOT NULL,\n"
       "  holder_start INTEGER NOT NULL,\n"
       "  created_at INTEGER NOT NULL\n"
       ");\n"
       "CREATE INDEX forks_parent ON forks (parent);\n"},
      // faas-netns: pools of network namespaces. A pool's links and
      // namespaces are named from its tag (fb<tag>, fv<tag>-N, fn<tag>-N);
      // netns_addresses is the IPAM table: the address is the primary key,
      // so no two namespaces ever hold the same one.
      {3,
       "CREATE TABLE netns_pools (\n"
       "  name TEXT PRIMARY KEY,\n"
       "  tag TEXT NOT NULL UNIQUE,\n"
       "  subnet TEXT NOT NULL,\n"
       "  bridge TEXT NOT NULL UNIQUE,\n"
       "  mtu INTEGER NOT NULL,\n"
       "  size INTEGER NOT NULL,\n"
       "  state TEXT NOT NULL,\n"
       "  holder_pid INTEGER NOT NULL,\n"
       "  holder_start INTEGER NOT NULL,\n"
       "  created_at INTEGER NOT NULL\n"
       ");\n"
       "CREATE TABLE netns (\n"
       "  id TEXT PRIMARY KEY,\n"
       "  pool TEXT NOT NULL,\n"
       "  name TEXT NOT NULL UNIQUE,\n"
       "  host_if TEXT NOT NULL UNIQUE,\n"
       "  state TEXT NOT NULL,\n"
       "  holder_pid INTEGER NOT NULL DEFAULT 0,\n"
       "  holder_start INTEGER NOT NULL DEFAULT 0,\n"
       "  claimed_at INTEGER NOT NULL DEFAULT 0,\n"
       "  created_at INTEGER NOT NULL\n"
       ");\n"
       "CREATE INDEX netns_pool_state ON netns (pool, state);\n"
       "CREATE TABLE netns_addresses (\n"
       "  addr INTEGER PRIMARY KEY,\n"
       "  pool TEXT NOT NULL,\n"
       "  netns TEXT NOT NULL UNIQUE\n"
       ");\n"},
      // faas-pool: templates (what a sandbox runs), pools (how many to keep
      // warm) and sandboxes (one row per live sandbox; its paths follow from
      // the run dir and the id). state: starting, warm, claimed, dead.
      {4,
       "CREATE TABLE templates (\n"
       "  name TEXT PRIMARY KEY,\n"
       "  backend TEXT NOT NULL,\n"
       "  spec TEXT NOT NULL,\n"
       "  created_at INTEGER NOT NULL\n"
       ");\n"
       "CREATE TABLE pools (\n"
       "  name TEXT PRIMARY KEY,\n"
       "  template TEXT NOT NULL,\n"
       "  size INTEGER NOT NULL,\n"
       "  hits INTEGER NOT NULL DEFAULT 0,\n"
       "  misses INTEGER NOT NULL DEFAULT 0,\n"
       "  created_at INTEGER NOT NULL\n"
       ");\n"
       "CREATE TABLE sandboxes (\n"
       "  id TEXT PRIMARY KEY,\n"
       "  pool TEXT NOT NULL,\n"
       "  template TEXT NOT NULL,\n"
       "  state TEXT NOT NULL,\n"
       "  start TEXT NOT NULL DEFAULT 'warm',\n"
       "  pid INTEGER NOT NULL DEFAULT 0,\n"
       "  pid_start INTEGER NOT NULL DEFAULT 0,\n"
       "  cgroup TEXT NOT NULL DEFAULT '',\n"
       "  control TEXT NOT NULL DEFAULT '',\n"
       "  rootfs TEXT NOT NULL DEFAULT '',\n"
       "  netns TEXT NOT NULL DEFAULT '',\n"
       "  ip TEXT NOT NULL DEFAULT '',\n"
       "  holder_pid INTEGER NOT NULL DEFAULT 0,\n"
       "  holder_start INTEGER NOT NULL DEFAULT 0,\n"
       "  claimed_at INTEGER NOT NULL DEFAULT 0,\n"
       "  uses INTEGER NOT NULL DEFAULT 0,\n"
       "  created_at INTEGER NOT NULL\n"
       ");\n"
       "CREATE INDEX sandboxes_pool_state ON sandboxes (pool, state);\n"},
      // faas-fork on a sandbox record: the fork belongs to that sandbox's
      // invocation, and releasing or destroying the sandbox removes it.
      {5,
       "ALTER TABLE forks ADD COLUMN sandbox TEXT;\n"
       "CREATE INDEX forks_sandbox ON forks (sandbox);\n"},
      // faas-pool: acquire latency (a ring of the last samples per pool, slot
      // = samples mod the ring's size; samples and sample_us_sum count every
      // acquire that returned a sandbox), the last acquire, and the idle TTL
      // policy (reap destroys warm sandboxes idle past idle_ttl_ms, keeping
      // min_warm; idle_since: when the sandbox last became warm).
      {6,
       "CREATE TABLE acquire_samples (\n"
       "  pool TEXT NOT NULL,\n"
       "  slot INTEGER NOT NULL,\n"
       "  us INTEGER NOT NULL,\n"
       "  at INTEGER NOT NULL,\n"
       "  PRIMARY KEY (pool, slot)\n"
       ");\n"
       "ALTER TABLE pools ADD COLUMN samples INTEGER NOT NULL DEFAULT 0;\n"
       "ALTER TABLE pools ADD COLUMN sample_us_sum INTEGER NOT NULL DEFAULT 0;\n"
       "ALTER TABLE pools ADD COLUMN last_acquire_at INTEGER NOT NULL DEFAULT 0;\n"
       "ALTER TABLE pools ADD COLUMN idle_ttl_ms INTEGER NOT NULL DEFAULT 0;\n"
       "ALTER TABLE pools ADD COLUMN min_warm INTEGER NOT NULL DEFAULT 0;\n"
       "ALTER TABLE sandboxes ADD COLUMN idle_since INTEGER NOT NULL DEFAULT 0;\n"},
      // The split by lifetime: every table that describes kernel objects
      // (and the pools' counters) moves to run.db, which lives as long as
      // they do; state.db keeps templates and the pools' configuration.
      // Their rows describe live forks, namespaces and sandboxes, so they
      // move with them (OR IGNORE: a run.db that already took them, when a
      // crash came between the two files' commits, keeps its copy).
      {7,
       "INSERT OR IGNORE INTO run.forks (id, method, base, parent, depth, lowers, tmpfs_bytes, state,\n"
       "    holder_pid, holder_start, created_at, sandbox)\n"
       "  SELECT id, method, base, parent, depth, lowers, tmpfs_bytes, state,\n"
       "    holder_pid, holder_start, created_at, sandbox FROM main.forks;\n"
       "INSERT OR IGNORE INTO run.netns_pools (name, tag, subnet, bridge, mtu, size, state,\n"
       "    holder_pid, holder_start, created_at)\n"
       "  SELECT name, tag, subnet, bridge, mtu, size, state,\n"
       "    holder_pid, holder_start, created_at FROM main.netns_pools;\n"
       "INSERT OR IGNORE INTO run.netns (id, pool, name, host_if, state, holder_pid, holder_start,\n"
       "    claimed_at, created_at)\n"
       "  SELECT id, pool, name, host_if, state, holder_pid, holder_start,\n"
       "    claimed_at, created_at FROM main.netns;\n"
       "INSERT OR IGNORE INTO run.netns_addresses (addr, pool, netns)\n"
       "  SELECT addr, pool, netns FROM main.netns_addresses;\n"
       "INSERT OR IGNORE INTO run.sandboxes (id, pool, template, state, start, pid, pid_start,\n"
       "    cgroup, control, rootfs, netns, ip, holder_pid, holder_start, claimed_at, uses,\n"
       "    created_at, idle_since)\n"
       "  SELECT id, pool, template, state, start, pid, pid_start,\n"
       "    cgroup, control, rootfs, netns, ip, holder_pid, holder_start, claimed_at, uses,\n"
       "    created_at, idle_since FROM main.sandboxes;\n"
       "INSERT OR IGNORE INTO run.acquire_samples (pool, slot, us, at)\n"
       "  SELECT pool, slot, us, at FROM main.acquire_samples;\n"
       "INSERT OR IGNORE INTO run.pool_stats (pool, size, hits, misses, samples, sample_us_sum,\n"
       "    last_acquire_at)\n"
       "  SELECT name, size, hits, misses, samples, sample_us_sum, last_acquire_at FROM main.pools;\n"
       "DROP TABLE main.forks;\n"
       "DROP TABLE main.netns_addresses;\n"
       "DROP TABLE main.netns;\n"
       "DROP TABLE main.netns_pools;\n"
       "DROP TABLE main.sandboxes;\n"
       "DROP TABLE main.acquire_samples;\n"
       "ALTER TABLE main.pools DROP COLUMN hits;\n"
       "ALTER TABLE main.pools DROP COLUMN misses;\n"
       "ALTER TABLE main.pools DROP COLUMN samples;\n"
       "ALTER TABLE main.pools DROP COLUMN sample_us_sum;\n"
       "ALTER TABLE main.pools DROP COLUMN last_acquire_at;\n",
       true},
  };
  return migrations;
}

const std::vector<Migration>& run_schema_migrations() {
  static const std::vector<Migration> migrations{
      // What state.db held up to its migration 6, less templates and the
      // pools' configuration: rows that describe kernel objects.
      //
      // faas-fork: one row per fork; its paths follow from the state dir and
      // the id (STATE_DIR/forks/ID/...), so they are never stored. sandbox:
      // the sandbox whose invocation it serves (its release removes it).
      //
      // faas-netns: pools of network namespaces. A pool's links and
      // namespaces are named from its tag (fb<tag>, fv<tag>-N, fn<tag>-N);
      // netns_addresses is the IPAM table: the address is the primary key,
      // so no two namespaces ever hold the same one.
      //
      // faas-pool: sandboxes (one row per live sandbox; its paths follow
      // from the run dir and the id; state: starting, warm, claimed,
      // destroying; idle_since: when it last became warm; spec: the
      // template it started from, so an invocation needs no state.db),
      // acquire latency (a ring of the last samples per pool, slot =
      // samples mod the ring's size) and pool_stats, a pool's counters
      // (samples and sample_us_sum count every acquire that returned a
      // sandbox) and a copy of its size (written with pools.size; NULL:
      // read state.db) for release to tell a full pool.
      {1,
       "CREATE TABLE forks (\n"
       "  id TEXT PRIMARY KEY,\n"
       "  method TEXT NOT NULL,\n"
       "  base TEXT NOT NULL,\n"
       "  parent TEXT,\n"
       "  depth INTEGER NOT NULL,\n"
       "  lowers TEXT NOT NULL DEFAULT '[]',\n"
       "  tmpfs_bytes INTEGER NOT NULL DEFAULT 0,\n"
       "  state TEXT NOT NULL,\n"
       "  holder_pid INTEGER NOT NULL,\n"
       "  holder_start INTEGER NOT NULL,\n"
       "  created_at INTEGER NOT NULL,\n"
       "  sandbox TEXT\n"
       ");\n"
       "CREATE INDEX forks_parent ON forks (parent);\n"
       "CREATE INDEX forks_sandbox ON forks (sandbox);\n"
       "CREATE TABLE netns_pools (\n"
       "  name TEXT PRIMARY KEY,\n"
       "  tag TEXT NOT NULL UNIQUE,\n"
       "  subnet TEXT NOT NULL,\n"
       "  bridge TEXT NOT NULL UNIQUE,\n"
       "  mtu INTEGER NOT NULL,\n"
       "  size INTEGER NOT NULL,\n"
       "  state TEXT NOT NULL,\n"
       "  holder_pid INTEGER NOT NULL,\n"
       "  holder_start INTEGER NOT NULL,\n"
       "  created_at INTEGER NOT NULL\n"
       ");\n"
       "CREATE TABLE netns (\n"
       "  id TEXT PRIMARY KEY,\n"
       "  pool TEXT NOT NULL,\n"
       "  name TEXT NOT NULL UNIQUE,\n"
       "  host_if TEXT NOT NULL UNIQUE,\n"
       "  state TEXT NOT NULL,\n"
       "  holder_pid INTEGER NOT NULL DEFAULT 0,\n"
       "  holder_start INTEGER NOT NULL DEFAULT 0,\n"
       "  claimed_at INTEGER NOT NULL DEFAULT 0,\n"
       "  created_at INTEGER NOT NULL\n"
       ");\n"
       "CREATE INDEX netns_pool_state ON netns (pool, state);\n"
       "CREATE TABLE netns_addresses (\n"
       "  addr INTEGER PRIMARY KEY,\n"
       "  pool TEXT NOT NULL,\n"
       "  netns TEXT NOT NULL UNIQUE\n"
       ");\n"
       "CREATE TABLE sandboxes (\n"
       "  id TEXT PRIMARY KEY,\n"
       "  pool TEXT NOT NULL,\n"
       "  template TEXT NOT NULL,\n"
       "  state TEXT NOT NULL,\n"
       "  start TEXT NOT NULL DEFAULT 'warm',\n"
       "  pid INTEGER NOT NULL DEFAULT 0,\n"
       "  pid_start INTEGER NOT NULL DEFAULT 0,\n"
       "  cgroup TEXT NOT NULL DEFAULT '',\n"
       "  control TEXT NOT NULL DEFAULT '',\n"
       "  rootfs TEXT NOT NULL DEFAULT '',\n"
       "  netns TEXT NOT NULL DEFAULT '',\n"
       "  ip TEXT NOT NULL DEFAULT '',\n"
       "  holder_pid INTEGER NOT NULL DEFAULT 0,\n"
       "  holder_start INTEGER NOT NULL DEFAULT 0,\n"
       "  claimed_at INTEGER NOT NULL DEFAULT 0,\n"
       "  uses INTEGER NOT NULL DEFAULT 0,\n"
       "  created_at INTEGER NOT NULL,\n"
       "  idle_since INTEGER NOT NULL DEFAULT 0,\n"
       "  spec TEXT NOT NULL DEFAULT ''\n"
       ");\n"
       "CREATE INDEX sandboxes_pool_state ON sandboxes (pool, state);\n"
       "CREATE TABLE acquire_samples (\n"
       "  pool TEXT NOT NULL,\n"
       "  slot INTEGER NOT NULL,\n"
       "  us INTEGER NOT NULL,\n"
       "  at INTEGER NOT NULL,\n"
       "  PRIMARY KEY (pool, slot)\n"
       ");\n"
       "CREATE TABLE pool_stats (\n"
       "  pool TEXT PRIMARY KEY,\n"
       "  size INTEGER,\n"
       "  hits INTEGER NOT NULL DEFAULT 0,\n"
       "  misses INTEGER NOT NULL DEFAULT 0,\n"
       "  samples INTEGER NOT NULL DEFAULT 0,\n"
       "  sample_us_sum INTEGER NOT NULL DEFAULT 0,\n"
       "  last_acquire_at INTEGER NOT NULL DEFAULT 0\n"
       ");\n"},
  };
  return migrations;
}

}  // namespace faas
