// Spare directories (and files). On ext4 a mkdir allocates an inode, skipping every one
// freed in the last seconds (each checked in the inode table): with forks
// or sandboxes made and removed all the time a mkdir and an rmdir cost
// 120-140 us together, two renames 18 us. So a directory that is only a
// mount point (an overlay fork's, a sandbox's host side), empty once its
// tmpfs is detached, is moved to a spares dir next to it, and the next one
// moves it back under its own name. There are never more spares than such
// directories once lived at the same time.
#pragma once

#include <filesystem>

namespace faas {

// Renames any directory in `spares` to `dir` (which must not exist); false
// when there is none (or `spares` is empty): the caller makes `dir` itself.
bool take_spare_dir(const std::filesystem::path& spares, const std::filesystem::path& dir);
// Renames `dir` into `spares` (made when missing) if it is empty; false
// when it is not, or could not be moved: the caller removes `dir` itself.
bool leave_spare_dir(const std::filesystem::path& dir, const std::filesystem::path& spares);
// The same for files (a fork's row file, written over in place): any
// regular file in `spares` renamed to `file`; `file` renamed into `spares`.
bool take_spare_file(const std::filesystem::path& spares, const std::filesystem::path& file);
bool leave_spare_file(const std::filesystem::path& file, const std::filesystem::path& spares);

}  // namespace faas
