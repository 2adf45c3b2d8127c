// Which forks exist, what they are made of, who holds them: one file per
// fork, RUN/fork-rows/ID, holding its row as a JSON object. A fork's paths are
// never stored: they follow from the state dir and the ID
// (STATE/forks/ID/...), so a row cannot point elsewhere. The directories
// stay on the state dir's filesystem, where btrfs snapshots and reflinks of
// a base can be made; the rows live with the mounts, in the run dir.
//
// Why files and not run.db: an overlay fork is made in under a
// millisecond, and opening SQLite (its schema parsed, its WAL index
// rebuilt by every process, as each is the first to open it) was a third
// of that. A row file is made whole and then linked into place (or renamed
// over the old one), so a reader sees a whole row or none; every change
// that checks other rows (a parent still ready, no fork stacked on one
// being removed) holds an exclusive flock on RUN/fork-rows, as runc keeps a
// container's state in one file of its own.
//
// Lifecycle. An overlay fork (made in a millisecond) is made first and its
// row written `ready` after; `rm` deletes the row, then takes the
// directory apart. In between, the directory has no row: its maker or
// remover holds the forks dir's lock shared (lock_forks_shared), and
// `faas-fork gc` removes a directory without a row only while it holds
// that lock exclusively, so what it removes was left by a process that
// died. A fork made by copying (btrfs, reflink, copy: seconds) gets its
// row first, as `creating` (held by the creating process), so that its
// parent cannot go while it is copied; it becomes `ready` (held by the
// fork's holder) once made. faas-pool takes a sandbox's forks apart with
// the row `removing` and deletes it last. A row left `creating` or
// `removing` by a process that died is collected by `faas-fork gc`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faas/fd.hpp"
#include "faas/holder.hpp"
#include "faas/result.hpp"
#include "faas/rootfs_fork.hpp"

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
// STATE/fork-spares: empty directories of removed overlay forks, for the
// next ones (ForkSpec::spares).
std::filesystem::path forks_spares(const std::filesystem::path& state_dir);
// IDs are what new_id() makes (lowercase hex); nothing else names a fork.
bool valid_fork_id(std::string_view id);


// RUN/fork-rows, opened (made when missing). Rows of forks made by a version
// that kept them in run.db's `forks` table are moved here when the
// directory is first made.
class ForkRows {
 public:
  static Result<ForkRows> open(const std::filesystem::path& run_dir);
  int fd() const { return dir_.get(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  Fd dir_;
  std::filesystem::path path_;
};

// Deletes what a process that died while writing a row left (`.tmp-*`
// files), and the spare row files kept for new rows; how many of the
// first.
Result<int> fork_rows_sweep(ForkRows& rows);

// Writes a new row (as row.state says). With a parent, checks under the
// same lock that the parent is `ready` (Exit::temp when it is going away).
Result<void> fork_insert(ForkRows& rows, const ForkRow& row);
Result<std::optional<ForkRow>> fork_find(ForkRows& rows, std::string_view id);
Result<std::vector<ForkRow>> fork_list(ForkRows& rows);
// The forks made for a sandbox's invocations, deepest first (the order in
// which they can be removed).
Result<std::vector<ForkRow>> fork_list_of_sandbox(ForkRows& rows, std::string_view sandbox);
Result<void> fork_set_state(ForkRows& rows, std::string_view id, std::string_view state,
                            const Holder& holder);
Result<void> fork_delete(ForkRows& rows, std::string_view id);
// Forks that need this one: overlay forks stacked on it (they read its upper
// or its tree), and forks of any method still being made from it.
Result<std::vector<std::string>> fork_dependents(ForkRows& rows, std::string_view id);

// Under the lock: finds the fork (Exit::no_input when unknown), refuses
// one that others stack on (Exit::temp) or that a live process is creating
// or removing (Exit::temp), and marks it `removing` by `self`.
Result<ForkRow> fork_begin_remove(ForkRows& rows, std::string_view id, const Holder& self);
// The same checks, then the row is deleted under the same lock: the
// caller takes the directory apart after, holding lock_forks_shared.
Result<ForkRow> fork_delete_checked(ForkRows& rows, std::string_view id, const Holder& self);

// The forks dir `root`, opened (and made when missing): its fd carries the
// lock (flock on the directory) that makers and removers hold shared while a
// fork directory there has no row, and that gc holds exclusively while it
// removes directories without rows.
Result<Fd> open_forks_root(const std::filesystem::path& root);
// Waits while gc holds the lock; the lock goes with unlock_forks or the fd.
Result<void> lock_forks_shared(int root_fd);
void unlock_forks(int root_fd);
// false when others held it shared all through wait_ms.
Result<bool> try_lock_forks_exclusive(int root_fd, int wait_ms);

}  // namespace faas
