#include "faas/spare_dirs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "faas/fd.hpp"

namespace faas {

namespace fs = std::filesystem;

namespace {

// Renames any entry of `type` in spares to `to`.
bool take_spare(const fs::path& spares, unsigned char type, const fs::path& to) {
  if (spares.empty()) return false;
  Fd d(::open(spares.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return false;
  alignas(struct dirent64) char buf[2048];
  const ssize_t n = ::getdents64(d.get(), buf, sizeof buf);
  for (ssize_t off = 0; off < n;) {
    const auto* e = reinterpret_cast<const struct dirent64*>(buf + off);
    off += e->d_reclen;
    if (e->d_type != type || std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    // Another process may take the same one first: then the next.
    if (::renameat2(d.get(), e->d_name, AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
    if (errno != ENOENT) return false;
  }
  return false;
}

// Renames `from` into spares (made when missing).
bool leave_spare(const fs::path& from, const fs::path& spares) {
  if (spares.empty()) return false;
  const fs::path to = spares / from.filename();
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno != ENOENT || (::mkdir(spares.c_str(), 0700) != 0 && errno != EEXIST)) return false;
  return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0;
}

bool is_empty_dir(const fs::path& dir) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d) return false;
  alignas(struct dirent64) char buf[512];
  const ssize_t n = ::getdents64(d.get(), buf, sizeof buf);
  if (n < 0) return false;
  for (ssize_t off = 0; off < n;) {
    const auto* e = reinterpret_cast<const struct dirent64*>(buf + off);
    off += e->d_reclen;
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) return false;
  }
  return true;
}

}  // namespace

bool take_spare_dir(const fs::path& spares, const fs::path& dir) { return take_spare(spares, DT_DIR, dir); }

bool leave_spare_dir(const fs::path& dir, const fs::path& spares) {
  // Only an empty directory: the next one to take it mounts over it, and
  // would hide whatever it held.
  return is_empty_dir(dir) && leave_spare(dir, spares);
}

bool take_spare_file(const fs::path& spares, const fs::path& file) { return take_spare(spares, DT_REG, file); }

bool leave_spare_file(const fs::path& file, const fs::path& spares) { return leave_spare(file, spares); }

}  // namespace faas
