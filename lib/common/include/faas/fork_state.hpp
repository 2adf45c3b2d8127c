// The `forks` table of run.db: which forks exist, what they are made of, who
// holds them. A fork's paths are never stored: they follow from the state
// dir and the ID (STATE/forks/ID/...), so a row cannot point elsewhere. The
// directories stay on the state dir's filesystem, where btrfs snapshots and
// reflinks of a base can be made; the rows live with the mounts.
//
// Lifecycle: a row is inserted as `creating` (held by the creating process)
// before anything touches the disk, becomes `ready` (held by the fork's
// holder) once made, and `removing` (held by the removing process) before it
// is taken apart; the row goes last. A row left `creating` or `removing` by a
// process that died is collected by `faas-fork gc`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faas/holder.hpp"
#include "faas/result.hpp"
#include "faas/rootfs_fork.hpp"
#include "faas/state.hpp"

namespace faas {

inline constexpr std::string_view kForkCreating = "creating";
inline constexpr std::string_view kForkReady = "ready";
inline constexpr std::string_view kForkRemoving = "removing";

struct ForkRow {
  std::string id;
  ForkMethod method = ForkMethod::overlay;
  std::string base;     // what it was forked from (information only)
  std::string parent;   // the fork it was forked from, or empty
  std::string sandbox;  // the sandbox whose invocation it serves, or empty
  int depth = 1;
  std::vector<std::string> lowers;  // overlay layers, top first
  std::uint64_t tmpfs_bytes = 0;
  std::string state;
  Holder holder;
  std::int64_t created_at = 0;  // unix ms
};

// STATE/forks, and the directory of one fork in it.
std::filesystem::path forks_root(const std::filesystem::path& state_dir);
std::filesystem::path fork_dir(const std::filesystem::path& state_dir, std::string_view id);
// IDs are what new_id() makes (lowercase hex); nothing else names a fork.
bool valid_fork_id(std::string_view id);


// Inserts a `creating` row. With a parent, checks in the same transaction
// that the parent is `ready` (Exit::temp when it is going away).
Result<void> fork_insert(StateStore& st, const ForkRow& row);
Result<std::optional<ForkRow>> fork_find(StateStore& st, std::string_view id);
Result<std::vector<ForkRow>> fork_list(StateStore& st);
// The forks made for a sandbox's invocations, deepest first (the order in
// which they can be removed).
Result<std::vector<ForkRow>> fork_list_of_sandbox(StateStore& st, std::string_view sandbox);
Result<void> fork_set_state(StateStore& st, std::string_view id, std::string_view state,
                            const Holder& holder);
Result<void> fork_delete(StateStore& st, std::string_view id);
// Forks that need this one: overlay forks stacked on it (they read its upper
// or its tree), and forks of any method still being made from it.
Result<std::vector<std::string>> fork_dependents(StateStore& st, std::string_view id);

// In one transaction: finds the fork (Exit::no_input when unknown), refuses
// one that others stack on (Exit::temp) or that a live process is creating
// or removing (Exit::temp), and marks it `removing` by `self`.
Result<ForkRow> fork_begin_remove(StateStore& st, std::string_view id, const Holder& self);

}  // namespace faas
