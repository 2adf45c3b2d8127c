// The state database's schema. Append only: a shipped migration is never
// edited, because databases already at its version never run it again.
// Each migration runs inside the transaction that also bumps
// PRAGMA user_version, so a failed one leaves no trace.
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
  };
  return migrations;
}

}  // namespace faas
