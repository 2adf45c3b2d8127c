// Copy-on-write rootfs forks: a private, writable tree over a read-only base,
// made with system calls only (no subprocess). Used by faas-fork and by
// faas-pool when it prepares a sandbox's root.
//
// Methods, and the order `auto` tries them in:
//   overlay  an overlayfs mount (new mount API, mount(2) on older kernels):
//            O(1) whatever the size of the base. A fork of an overlay fork
//            stacks the parent's upper as one more lower layer, at most
//            kMaxForkDepth layers deep (never overlay on overlay).
//   btrfs    a subvolume snapshot (BTRFS_IOC_SNAP_CREATE_V2) when the base is
//            the root of a btrfs subvolume on the fork's filesystem.
//   reflink  FICLONE of every file over a tree walk (btrfs, XFS with
//            reflink=1), on the fork's filesystem.
//   copy     a portable deep copy (copy_file_range, sparse-aware).
// `auto` takes overlay when the kernel has overlayfs; otherwise it picks by
// the base's statfs f_type: btrfs (subvolume root), reflink (btrfs, XFS),
// then copy.
//
// Trees made by reflink and copy keep modes, owners, timestamps, xattrs
// (ACLs and file capabilities included), symlinks, hard links, device nodes,
// fifos, sockets and holes.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faas/result.hpp"

namespace faas {

enum class ForkMethod { automatic, overlay, btrfs, reflink, copy };

const char* fork_method_name(ForkMethod m);
// "auto", "overlay", "btrfs", "reflink", "copy"; std::nullopt otherwise.
std::optional<ForkMethod> parse_fork_method(std::string_view name);

// The deepest overlay stack a fork may have: a fork of a directory has depth
// 1, an overlay fork of a fork at depth d has depth d + 1. Every layer costs
// a lookup on a miss, and legacy mount(2) data must fit one page.
inline constexpr int kMaxForkDepth = 16;

// What a fork is made of: the read-only layers for overlay (top first, the
// base last) or the one directory to clone or snapshot.
struct ForkSource {
  std::filesystem::path base;              // the directory the fork starts from
  std::vector<std::filesystem::path> lowers;  // overlay layers, top first; empty: {base}
  int depth = 1;                           // of the new fork
};

struct ForkSpec {
  ForkSource source;
  ForkMethod method = ForkMethod::automatic;
  std::filesystem::path dir;   // the fork's own directory; must not exist yet
  // Where removed overlay forks leave their empty directory for the next
  // fork to take (a rename instead of an ext4 mkdir), or empty.
  std::filesystem::path spares;
  std::uint64_t tmpfs_bytes = 0;  // >0: the writable layer on a tmpfs this big
  // Checked between files of a reflink or copy: when it turns true the fork
  // is undone and make_fork fails with Exit::temp (a signal handler sets it).
  const std::atomic<bool>* cancel = nullptr;
};

// A fork on disk: dir/merged is its root. An overlay fork's dir is a tmpfs
// of its own (of tmpfs_bytes when given) holding its layers, dir/upper and
// dir/work (dir/rw/{upper,work} with tmpfs_bytes); a copy with tmpfs_bytes
// has its tmpfs at dir/merged.
struct ForkLayout {
  ForkMethod method = ForkMethod::overlay;
  std::filesystem::path dir, merged, upper, work;  // upper/work empty unless overlay
  std::filesystem::path tmpfs;                     // the tmpfs mount point, or empty
  std::vector<std::filesystem::path> lowers;       // overlay only, top first
  std::uint64_t mount_us = 0, copy_us = 0;         // time in the kernel's part
};

// The layout of a fork made by `method` in `dir` (paths only, no I/O).
ForkLayout fork_layout(const std::filesystem::path& dir, ForkMethod method,
                       std::uint64_t tmpfs_bytes);

// The method `auto` picks for a base whose fork goes under forks_root.
Result<ForkMethod> choose_fork_method(const std::filesystem::path& base,
                                      const std::filesystem::path& forks_root);

// Makes the fork; a failure leaves nothing behind (no dir, no mount).
Result<ForkLayout> make_fork(const ForkSpec& spec);

struct RemoveReport {
  bool detached = false;  // a mount was busy and was detached lazily
  std::vector<std::string> notes;
};

// Removes the fork in `dir`, which must resolve to a direct child of
// `forks_root` (checked with realpath before anything is unmounted or
// deleted): unmounts dir/merged and dir/rw (lazily when busy), destroys a
// btrfs snapshot, deletes the tree without crossing into other mounts.
// A dir that is already gone is not an error.
// With `spares`, an overlay fork's emptied directory goes there (see
// ForkSpec::spares) instead of being deleted.
Result<RemoveReport> remove_fork(const std::filesystem::path& forks_root,
                                 const std::filesystem::path& dir,
                                 const std::filesystem::path& spares = {});

// --- building blocks, exposed for faas-pool and tests ---

enum class CloneMode { reflink, copy };
// Copies the tree at src into dst (which must not exist) preserving
// metadata; reflink mode clones file data with FICLONE.
Result<void> clone_tree(const std::filesystem::path& src, const std::filesystem::path& dst,
                        CloneMode mode, const std::atomic<bool>* cancel = nullptr);
// Mounts an overlay at target: lowers top first.
Result<void> mount_overlay(const std::vector<std::filesystem::path>& lowers,
                           const std::filesystem::path& upper,
                           const std::filesystem::path& work,
                           const std::filesystem::path& target);
// A snapshot of the subvolume at src as dst_dir/name.
Result<void> btrfs_snapshot(const std::filesystem::path& src,
                            const std::filesystem::path& dst_dir, const std::string& name);
// "ext4", "btrfs", "xfs", "tmpfs", "overlay"... or "0x<magic>".
std::string fs_type_name(std::int64_t f_type);
// The statfs f_type of a path.
Result<std::int64_t> fs_type_of(const std::filesystem::path& p);
// Parses a size: "64M", "1G", "512k", "4096" (bytes).
std::optional<std::uint64_t> parse_size(std::string_view s);

// The entries of a directory (no "." and ".."), sorted, read before
// anything is created or deleted in it; errors name it `shown`.
Result<std::vector<std::string>> list_dir(int dirfd, const std::filesystem::path& shown);

}  // namespace faas
