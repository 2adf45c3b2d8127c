#include "faas/rootfs_fork.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "faas/affinity.hpp"
#include "faas/fd.hpp"
#include "faas/scope_exit.hpp"
#include "faas/spare_dirs.hpp"
#include "faas/timing.hpp"

namespace faas {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kBtrfsSubvolRootIno = 256;  // BTRFS_FIRST_FREE_OBJECTID

std::string q(const fs::path& p) { return faas::q(p.string()); }

Fd open_dir(int at, const char* name) {
  return Fd(::openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

}  // namespace

Result<std::vector<std::string>> list_dir(int dirfd, const fs::path& shown) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return sys_error("dup " + q(shown));
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    int e = errno;
    ::close(dup);
    return sys_error(e, "open directory " + q(shown));
  }
  ::rewinddir(d);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* ent = ::readdir(d)) {
    std::string_view n = ent->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  int e = errno;
  ::closedir(d);
  if (e != 0) return sys_error(e, "read directory " + q(shown));
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

bool overlay_in_kernel() {
  static const bool present = [] {
    // fsopen loads the module when it is not loaded yet.
    Fd ctx(::fsopen("overlay", FSOPEN_CLOEXEC));
    if (ctx) return true;
    if (errno == ENODEV) return false;
    Fd f(::open("/proc/filesystems", O_RDONLY | O_CLOEXEC));
    if (!f) return true;  // let the mount say what is wrong
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(f.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    return text.find("\toverlay\n") != std::string::npos;
  }();
  return present;
}

// ---- the tree walk of reflink and copy ----

// Threads of the walk: one per CPU this process may use, up to this many,
// each pinned to its CPU. Per file the kernel's work (inode creation,
// FICLONE) dominates, and it scales: two `cp -a --reflink=always` of two
// halves of a 10,000-file tree, pinned to the two CPUs of this VM, took
// 354 ms on btrfs and 246 ms on XFS against 623 and 608 ms for one. Not
// pinned, two threads were 10-15% slower than one: this VM's scheduler
// keeps a process's threads on one vCPU. More threads than CPUs were
// slower again (btrfs 1.25x and 1.5x the time with two and three per CPU:
// its tree locks).
constexpr unsigned kMaxWalkThreads = 4;

// The CPUs the walk's threads are pinned to, one each, out of allowed; one
// CPU or fewer: no pinning, one thread.
std::vector<int> walk_cpus(const cpu_set_t& allowed) {
  std::vector<int> cpus = cpu_list(allowed);
  if (cpus.size() > kMaxWalkThreads) cpus.resize(kMaxWalkThreads);
  if (cpus.size() < 2) cpus.clear();
  return cpus;
}

class Cloner {
 public:
  Cloner(CloneMode mode, fs::path src_root, const std::atomic<bool>* cancel)
      : mode_(mode), src_root_(std::move(src_root)), cancel_(cancel) {}

  // Three phases: the tree walk, by a few threads taking directories from a
  // queue (each creates its directory's entries and queues its
  // subdirectories); then, in one thread, the files with more than one
  // name (so that every name after the first is a hard link of the same
  // copy); then every directory's owner, mode, xattrs and times (creating
  // an entry changes its directory's times, so they go last).
  Result<void> run(const fs::path& dst) {
    Fd src(::open(src_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!src) return sys_error("open base " + q(src_root_));
    struct stat st {};
    if (::fstat(src.get(), &st) != 0) return sys_error("stat " + q(src_root_));
    if (::mkdir(dst.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("mkdir " + q(dst));
    Fd out(::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!out) return sys_error("open " + q(dst));
    src_root_fd_ = src.get();
    dst_root_ = out.get();

    queue_.push_back(DirTask{"", st});
    cpu_set_t mine;
    const std::vector<int> cpus = current_cpus(mine) ? walk_cpus(mine) : std::vector<int>{};
    const bool repin = !cpus.empty();
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < cpus.size(); ++i) {
      try {
        threads.emplace_back([this] { work(); });
        pin_thread(threads.back().native_handle(), cpus[i]);
      } catch (const std::system_error&) {
        break;  // fewer threads, same result
      }
    }
    if (repin) pin_thread(::pthread_self(), cpus[0]);
    work();
    for (auto& t : threads) t.join();
    if (repin) (void)::sched_setaffinity(0, sizeof mine, &mine);
    if (error_) return std::move(*error_);

    std::sort(linked_.begin(), linked_.end());
    for (const auto& rel : linked_) {
      fs::path r(rel);
      FAAS_TRY_ASSIGN(Fd s, open_rel(src_root_fd_, r.parent_path().string(), rel));
      FAAS_TRY_ASSIGN(Fd d, open_rel(dst_root_, r.parent_path().string(), rel));
      FAAS_TRY(copy_entry(s.get(), d.get(), r.filename().string(), rel, false));
    }
    for (const auto& dir : dirs_) {
      FAAS_TRY_ASSIGN(Fd s, open_rel(src_root_fd_, dir.rel, dir.rel));
      FAAS_TRY_ASSIGN(Fd d, open_rel(dst_root_, dir.rel, dir.rel));
      FAAS_TRY(finish(d.get(), -1, nullptr, dir.st, dir.rel, s.get()));
    }
    return {};
  }

 private:
  struct DirTask {
    std::string rel;
    struct stat st;
  };

  fs::path shown(const std::string& rel) const { return rel.empty() ? src_root_ : src_root_ / rel; }

  // A directory below a root fd by its relative path, never through a
  // symlink nor out of the root.
  Result<Fd> open_rel(int root, const std::string& rel, const std::string& shown_rel) const {
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    const char* path = rel.empty() ? "." : rel.c_str();
    int fd = static_cast<int>(::syscall(SYS_openat2, root, path, &how, sizeof how));
    if (fd < 0 && errno == ENOSYS) fd = ::openat(root, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return sys_error("open " + q(root == dst_root_ ? "copy of " + shown(shown_rel).string() : shown(shown_rel).string()));
    return Fd(fd);
  }

  // One thread of the walk: directories from the queue until none is left
  // and no thread is busy (a busy one may queue more), or one failed.
  void work() {
    for (;;) {
      DirTask t;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return error_ || !queue_.empty() || busy_ == 0; });
        if (error_ || queue_.empty()) {
          cv_.notify_all();
          return;
        }
        t = std::move(queue_.back());  // depth first: fewer directories pending
        queue_.pop_back();
        ++busy_;
      }
      Result<void> r = copy_dir(t);
      {
        std::lock_guard lock(mu_);
        --busy_;
        if (!r && !error_) error_ = std::move(r).error();
      }
      cv_.notify_all();
    }
  }

  Result<void> copy_dir(const DirTask& t) {
    FAAS_TRY_ASSIGN(Fd src, open_rel(src_root_fd_, t.rel, t.rel));
    FAAS_TRY_ASSIGN(Fd dst, open_rel(dst_root_, t.rel, t.rel));
    FAAS_TRY_ASSIGN(auto names, list_dir(src.get(), shown(t.rel)));
    for (const auto& name : names) {
      if (error_seen()) return {};
      std::string child = t.rel.empty() ? name : t.rel + "/" + name;
      FAAS_TRY(copy_entry(src.get(), dst.get(), name, child, true));
    }
    std::lock_guard lock(mu_);
    dirs_.push_back(t);
    return {};
  }

  bool error_seen() {
    std::lock_guard lock(mu_);
    return error_.has_value();
  }

  // walking: true in the threads of the walk, which queue directories and
  // leave files with more than one name for later.
  Result<void> copy_entry(int sdir, int ddir, const std::string& name, const std::string& rel,
                          bool walking) {
    if (cancel_ != nullptr && cancel_->load(std::memory_order_relaxed))
      return Error(Exit::temp, "copy of " + q(src_root_) + ": interrupted");
    struct stat st {};
    if (::fstatat(sdir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return sys_error("stat " + q(shown(rel)));
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(ddir, name.c_str(), st.st_mode & 0777) != 0) return sys_error("mkdir " + q(rel));
      std::lock_guard lock(mu_);
      queue_.push_back(DirTask{rel, st});
      cv_.notify_one();
      return {};
    }
    if (walking && st.st_nlink > 1) {
      std::lock_guard lock(mu_);
      linked_.push_back(rel);
      return {};
    }
    // A second name of a file already copied: link it, like cp -a.
    std::pair<dev_t, ino_t> key{st.st_dev, st.st_ino};
    if (st.st_nlink > 1) {
      auto it = links_.find(key);
      if (it != links_.end()) {
        if (::linkat(dst_root_, it->second.c_str(), ddir, name.c_str(), 0) != 0)
          return sys_error("link " + q(shown(rel)));
        return {};
      }
    }
    if (S_ISREG(st.st_mode)) {
      Fd in(::openat(sdir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!in) return sys_error("open " + q(shown(rel)));
      Fd out(::openat(ddir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      st.st_mode & 0777));
      if (!out) return sys_error("create copy of " + q(shown(rel)));
      FAAS_TRY(copy_data(in.get(), out.get(), st, rel));
      FAAS_TRY(finish(out.get(), -1, nullptr, st, rel, in.get()));
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 255) + 1, '\0');
      ssize_t n = ::readlinkat(sdir, name.c_str(), target.data(), target.size());
      if (n < 0) return sys_error("readlink " + q(shown(rel)));
      target.resize(static_cast<std::size_t>(n));
      if (::symlinkat(target.c_str(), ddir, name.c_str()) != 0)
        return sys_error("symlink " + q(shown(rel)));
      FAAS_TRY(finish(-1, ddir, name.c_str(), st, rel, -1, sdir));
    } else {  // device node, fifo, socket
      if (::mknodat(ddir, name.c_str(), (st.st_mode & S_IFMT) | (st.st_mode & 0777), st.st_rdev) != 0)
        return sys_error("mknod " + q(shown(rel)));
      FAAS_TRY(finish(-1, ddir, name.c_str(), st, rel, -1, sdir));
    }
    if (st.st_nlink > 1) links_.emplace(key, rel);
    return {};
  }

  Result<void> copy_data(int in, int out, const struct stat& st, const std::string& rel) {
    if (mode_ == CloneMode::reflink) {
      if (::ioctl(out, FICLONE, in) == 0) return {};
      int e = errno;
      if (e == EXDEV)
        return Error(Exit::unavailable,
                     "reflink " + q(shown(rel)) + ": the fork is on another filesystem", e);
      if (e == EOPNOTSUPP || e == ENOTTY || e == EINVAL) {
        struct statfs sf {};
        std::string fsname = ::fstatfs(in, &sf) == 0 ? fs_type_name(sf.f_type) : "this filesystem";
        return Error(Exit::unavailable, "reflink " + q(shown(rel)) + ": " + fsname +
                                            " has no reflinks here (XFS needs mkfs.xfs -m reflink=1)",
                     e);
      }
      return sys_error(e, "reflink " + q(shown(rel)));
    }
    // Copy the data extents only, so holes stay holes.
    const off_t size = st.st_size;
    off_t pos = 0;
    while (pos < size) {
      off_t data = ::lseek(in, pos, SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;  // only a hole is left
        data = pos;                 // no SEEK_DATA here: copy everything
      }
      off_t hole = ::lseek(in, data, SEEK_HOLE);
      if (hole < 0) hole = size;
      FAAS_TRY(copy_range(in, out, data, std::min(hole, size) - data, rel));
      pos = hole;
    }
    if (::ftruncate(out, size) != 0) return sys_error("truncate copy of " + q(shown(rel)));
    return {};
  }

  Result<void> copy_range(int in, int out, off_t off, off_t len, const std::string& rel) {
    loff_t ioff = off, ooff = off;
    while (len > 0 && use_cfr_) {
      ssize_t n = ::copy_file_range(in, &ioff, out, &ooff, static_cast<std::size_t>(len), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS) {
          use_cfr_ = false;  // across filesystems: fall back to read/write
          break;
        }
        return sys_error("copy " + q(shown(rel)), Exit::io);
      }
      if (n == 0) return {};  // the file shrank under us
      len -= n;
    }
    std::array<char, 128 * 1024> buf{};
    while (len > 0) {
      ssize_t n = ::pread(in, buf.data(), std::min<std::size_t>(buf.size(), static_cast<std::size_t>(len)), ioff);
      if (n < 0) {
        if (errno == EINTR) continue;
        return sys_error("read " + q(shown(rel)), Exit::io);
      }
      if (n == 0) return {};
      ssize_t done = 0;
      while (done < n) {
        ssize_t w = ::pwrite(out, buf.data() + done, static_cast<std::size_t>(n - done), ooff + done);
        if (w < 0) {
          if (errno == EINTR) continue;
          return sys_error("write copy of " + q(shown(rel)), Exit::io);
        }
        done += w;
      }
      ioff += n;
      ooff += n;
      len -= n;
    }
    return {};
  }

  // Owner, mode, xattrs, then times (chown clears set-id bits and file
  // capabilities, so it goes first). The copy is named by dst_fd, or by
  // (dst_dir, name) for symlinks and device nodes, which are never opened.
  Result<void> finish(int dst_fd, int dst_dir, const char* name, const struct stat& st,
                      const std::string& rel, int src_fd = -1, int src_dir = -1) {
    const bool by_fd = dst_fd >= 0;
    // Most of a rootfs is root's with the mode it was created with: skip
    // the calls that would change nothing (each one dirties the inode).
    struct stat cur {};
    int r = by_fd ? ::fstat(dst_fd, &cur) : ::fstatat(dst_dir, name, &cur, AT_SYMLINK_NOFOLLOW);
    if (r != 0) return sys_error("stat copy of " + q(shown(rel)));
    if (cur.st_uid != st.st_uid || cur.st_gid != st.st_gid) {
      r = by_fd ? ::fchown(dst_fd, st.st_uid, st.st_gid)
                : ::fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
      if (r != 0) return sys_error("chown copy of " + q(shown(rel)));
      cur.st_mode &= ~static_cast<mode_t>(S_ISUID | S_ISGID);  // chown may clear them
    }
    if (!S_ISLNK(st.st_mode) && (cur.st_mode & 07777) != (st.st_mode & 07777)) {
      r = by_fd ? ::fchmod(dst_fd, st.st_mode & 07777)
                : ::fchmodat(dst_dir, name, st.st_mode & 07777, 0);
      if (r != 0) return sys_error("chmod copy of " + q(shown(rel)));
    }
    FAAS_TRY(copy_xattrs(src_fd, src_dir, dst_fd, dst_dir, name, rel));
    const timespec times[2] = {st.st_atim, st.st_mtim};
    r = by_fd ? ::futimens(dst_fd, times) : ::utimensat(dst_dir, name, times, AT_SYMLINK_NOFOLLOW);
    if (r != 0) return sys_error("set times of copy of " + q(shown(rel)));
    return {};
  }

  Result<void> copy_xattrs(int src_fd, int src_dir, int dst_fd, int dst_dir, const char* name,
                           const std::string& rel) {
    // Files and directories by fd; symlinks and nodes (never opened) by path
    // through /proc/self/fd.
    std::string spath, dpath;
    if (dst_fd < 0) {
      spath = "/proc/self/fd/" + std::to_string(src_dir) + "/" + name;
      dpath = "/proc/self/fd/" + std::to_string(dst_dir) + "/" + name;
    }
    auto list = [&](char* buf, std::size_t n) {
      return dst_fd >= 0 ? ::flistxattr(src_fd, buf, n) : ::llistxattr(spath.c_str(), buf, n);
    };
    ssize_t len = list(nullptr, 0);
    if (len < 0) {
      if (errno == EOPNOTSUPP || errno == ENOTSUP) return {};
      return sys_error("list xattrs of " + q(shown(rel)));
    }
    if (len == 0) return {};
    std::string names(static_cast<std::size_t>(len), '\0');
    len = list(names.data(), names.size());
    if (len < 0) return sys_error("list xattrs of " + q(shown(rel)));
    names.resize(static_cast<std::size_t>(len));
    std::string value;
    for (std::size_t i = 0; i < names.size();) {
      const char* key = names.c_str() + i;
      i += std::strlen(key) + 1;
      auto get = [&](void* buf, std::size_t n) {
        return dst_fd >= 0 ? ::fgetxattr(src_fd, key, buf, n) : ::lgetxattr(spath.c_str(), key, buf, n);
      };
      ssize_t vlen = get(nullptr, 0);
      if (vlen < 0) return sys_error("get xattr " + std::string(key) + " of " + q(shown(rel)));
      value.assign(static_cast<std::size_t>(vlen), '\0');
      vlen = get(value.data(), value.size());
      if (vlen < 0) return sys_error("get xattr " + std::string(key) + " of " + q(shown(rel)));
      int r = dst_fd >= 0
                  ? ::fsetxattr(dst_fd, key, value.data(), static_cast<std::size_t>(vlen), 0)
                  : ::lsetxattr(dpath.c_str(), key, value.data(), static_cast<std::size_t>(vlen), 0);
      if (r != 0) return sys_error("set xattr " + std::string(key) + " on copy of " + q(shown(rel)));
    }
    return {};
  }

  CloneMode mode_;
  fs::path src_root_;
  const std::atomic<bool>* cancel_;
  int src_root_fd_ = -1;
  int dst_root_ = -1;
  std::atomic<bool> use_cfr_{true};
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // phase 2 only: one thread

  std::mutex mu_;  // guards what follows
  std::condition_variable cv_;
  std::vector<DirTask> queue_;
  int busy_ = 0;
  std::optional<Error> error_;
  std::vector<DirTask> dirs_;        // walked: their metadata is set last
  std::vector<std::string> linked_;  // files with more than one name
};

// ---- removal ----

Result<void> btrfs_destroy(int parent, const char* name, const fs::path& shown) {
  btrfs_ioctl_vol_args args{};
  std::strncpy(args.name, name, BTRFS_PATH_NAME_MAX);
  if (::ioctl(parent, BTRFS_IOC_SNAP_DESTROY, &args) != 0)
    return sys_error("destroy btrfs subvolume " + q(shown));
  return {};
}

bool is_btrfs_subvolume(int fd) {
  struct stat st {};
  struct statfs sf {};
  return ::fstat(fd, &st) == 0 && st.st_ino == kBtrfsSubvolRootIno && ::fstatfs(fd, &sf) == 0 &&
         sf.f_type == static_cast<decltype(sf.f_type)>(BTRFS_SUPER_MAGIC);
}

// Unmounts what is mounted at path (all the stack), lazily when busy.
Result<void> unmount_all(const fs::path& path, RemoveReport& report) {
  for (int i = 0; i < 64; ++i) {
    if (::umount2(path.c_str(), UMOUNT_NOFOLLOW) == 0) continue;
    if (errno == EINVAL || errno == ENOENT) return {};  // not (or no longer) a mount point
    if (errno != EBUSY) return sys_error("unmount " + q(path));
    if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
      return sys_error("detach " + q(path));
    report.detached = true;
    report.notes.push_back(q(path) + " was busy: detached lazily");
  }
  return Error(Exit::os, "unmount " + q(path) + ": more than 64 mounts stacked");
}

// Deletes name in parent without following symlinks or crossing into another
// filesystem (a btrfs subvolume inside is destroyed, another mount detached).
Result<void> remove_at(int parent, const std::string& name, dev_t dev, const fs::path& shown,
                       RemoveReport& report) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return sys_error("stat " + q(shown));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parent, name.c_str(), 0) != 0 && errno != ENOENT) return sys_error("remove " + q(shown));
    return {};
  }
  Fd d = open_dir(parent, name.c_str());
  if (!d) return sys_error("open " + q(shown));
  if (st.st_dev != dev) {
    if (is_btrfs_subvolume(d.get())) {
      d.reset();
      auto r = btrfs_destroy(parent, name.c_str(), shown);
      if (r || r.error().err() != ENOTEMPTY) return r;
      // A subvolume inside: empty this one first.
      d = open_dir(parent, name.c_str());
      if (!d) return sys_error("open " + q(shown));
      FAAS_TRY_ASSIGN(auto inner, list_dir(d.get(), shown));
      for (const auto& n : inner) FAAS_TRY(remove_at(d.get(), n, st.st_dev, shown / n, report));
      d.reset();
      return btrfs_destroy(parent, name.c_str(), shown);
    }
    d.reset();
    FAAS_TRY(unmount_all(shown, report));
    struct stat again {};
    if (::fstatat(parent, name.c_str(), &again, AT_SYMLINK_NOFOLLOW) == 0 && again.st_dev != dev)
      return Error(Exit::os, "remove " + q(shown) + ": another filesystem that is not a mount point");
    return remove_at(parent, name, dev, shown, report);
  }
  FAAS_TRY_ASSIGN(auto names, list_dir(d.get(), shown));
  for (const auto& n : names) FAAS_TRY(remove_at(d.get(), n, dev, shown / n, report));
  d.reset();
  if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return sys_error("remove " + q(shown));
  return {};
}

// The part of remove_fork that trusts dir: make_fork uses it to undo.
Result<void> destroy_dir(const fs::path& dir, RemoveReport& report, const fs::path& spares = {}) {
  // An overlay fork's dir is its tmpfs, with the overlay mounted inside:
  // one lazy unmount of the tmpfs takes both, and costs one RCU grace
  // period instead of two (each umount waits for one). MNT_EXPIRE first
  // tells whether the overlay is in use without unmounting it.
  const fs::path merged = dir / "merged";
  if (::umount2(merged.c_str(), MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0 && errno == EBUSY) {
    report.detached = true;
    report.notes.push_back(q(merged) + " was busy: detached lazily");
  }
  if (::umount2(dir.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
    // The tmpfs covered the whole fork: what is left is its empty mount
    // point. Anything else (a stacked mount, an entry) fails the rmdir and
    // takes the long way.
    if (leave_spare_dir(dir, spares) || ::rmdir(dir.c_str()) == 0) return {};
  } else if (errno != EINVAL && errno != ENOENT) {
    return sys_error("detach " + q(dir));
  }
  FAAS_TRY(unmount_all(merged, report));
  FAAS_TRY(unmount_all(dir / "rw", report));  // --upper-tmpfs before the fork dir was one
  FAAS_TRY(unmount_all(dir, report));
  Fd parent(::open(dir.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!parent) {
    if (errno == ENOENT) return {};
    return sys_error("open " + q(dir.parent_path()));
  }
  struct stat pst {};
  if (::fstat(parent.get(), &pst) != 0) return sys_error("stat " + q(dir.parent_path()));
  struct stat st {};
  if (::fstatat(parent.get(), dir.filename().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return sys_error("stat " + q(dir));
  }
  return remove_at(parent.get(), dir.filename(), st.st_dev, dir, report);
}

// The one-string form of the lower layers: top first, ':' separated, ':'
// and '\\' escaped.
std::string lowerdir_string(const std::vector<fs::path>& lowers) {
  std::string lower;
  for (const auto& l : lowers) {
    if (!lower.empty()) lower += ':';
    for (char c : l.string()) {
      if (c == ':' || c == '\\') lower += '\\';
      lower += c;
    }
  }
  return lower;
}

Result<void> mount_overlay_legacy(const std::vector<fs::path>& lowers, const fs::path& upper,
                                  const fs::path& work, const fs::path& target) {
  std::string lower = lowerdir_string(lowers);
  std::string data = "lowerdir=" + lower + ",upperdir=" + upper.string() +
                     ",workdir=" + work.string() + ",index=off";  // no volatile before 5.10
  if (lower.find(',') != std::string::npos || upper.string().find(',') != std::string::npos ||
      work.string().find(',') != std::string::npos)
    return Error(Exit::data, "mount overlay at " + q(target) + ": a layer's path holds a comma");
  if (::mount("overlay", target.c_str(), "overlay", 0, data.c_str()) != 0)
    return sys_error("mount overlay at " + q(target), Exit::os);
  return {};
}

// The kernel's own words about a failed fsconfig (read from the context fd).
std::string fs_context_log(int fsfd) {
  std::string out;
  char buf[512];
  for (int i = 0; i < 8; ++i) {
    ssize_t n = ::read(fsfd, buf, sizeof buf - 1);
    if (n <= 0) break;
    std::string_view m(buf, static_cast<std::size_t>(n));
    if (m.size() > 2 && m[0] == 'e' && m[1] == ' ') m.remove_prefix(2);
    else continue;
    if (!out.empty()) out += "; ";
    out += m;
  }
  return out;
}

}  // namespace

const char* fork_method_name(ForkMethod m) {
  switch (m) {
    case ForkMethod::automatic: return "auto";
    case ForkMethod::overlay: return "overlay";
    case ForkMethod::btrfs: return "btrfs";
    case ForkMethod::reflink: return "reflink";
    case ForkMethod::copy: return "copy";
  }
  return "?";
}

std::optional<ForkMethod> parse_fork_method(std::string_view name) {
  for (auto m : {ForkMethod::automatic, ForkMethod::overlay, ForkMethod::btrfs, ForkMethod::reflink,
                 ForkMethod::copy})
    if (name == fork_method_name(m)) return m;
  return std::nullopt;
}

std::string fs_type_name(std::int64_t f_type) {
  switch (static_cast<std::uint32_t>(f_type)) {
    case EXT4_SUPER_MAGIC: return "ext4";
    case BTRFS_SUPER_MAGIC: return "btrfs";
    case XFS_SUPER_MAGIC: return "xfs";
    case TMPFS_MAGIC: return "tmpfs";
    case OVERLAYFS_SUPER_MAGIC: return "overlay";
    case SQUASHFS_MAGIC: return "squashfs";
    case EROFS_SUPER_MAGIC_V1: return "erofs";
    case F2FS_SUPER_MAGIC: return "f2fs";
    case 0x6969: return "nfs";
    case 0x65735546: return "fuse";
    default: break;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(static_cast<std::uint32_t>(f_type)));
  return buf;
}

Result<std::int64_t> fs_type_of(const fs::path& p) {
  struct statfs sf {};
  if (::statfs(p.c_str(), &sf) != 0) return sys_error("statfs " + q(p));
  return static_cast<std::int64_t>(sf.f_type);
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t n = 0;
  std::size_t i = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    if (n > (UINT64_MAX - 9) / 10) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(s[i] - '0');
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = s.substr(i);
  std::uint64_t mult = 1;
  if (!unit.empty()) {
    switch (unit[0]) {
      case 'k': case 'K': mult = 1ull << 10; break;
      case 'm': case 'M': mult = 1ull << 20; break;
      case 'g': case 'G': mult = 1ull << 30; break;
      case 't': case 'T': mult = 1ull << 40; break;
      case 'b': case 'B': mult = 1; break;
      default: return std::nullopt;
    }
    unit.remove_prefix(1);
    if (unit == "iB" || unit == "B" || (mult == 1 && unit.empty())) unit = {};
    if (!unit.empty()) return std::nullopt;
  }
  if (n > UINT64_MAX / mult) return std::nullopt;
  return n * mult;
}

ForkLayout fork_layout(const fs::path& dir, ForkMethod method, std::uint64_t tmpfs_bytes) {
  ForkLayout l;
  l.method = method;
  l.dir = dir;
  l.merged = dir / "merged";
  if (method == ForkMethod::overlay) {
    // The whole fork dir is a tmpfs: see make_fork.
    l.tmpfs = dir;
    fs::path rw = tmpfs_bytes > 0 ? dir / "rw" : dir;
    l.upper = rw / "upper";
    l.work = rw / "work";
  } else if (method == ForkMethod::copy && tmpfs_bytes > 0) {
    l.tmpfs = l.merged;
  }
  return l;
}

Result<ForkMethod> choose_fork_method(const fs::path& base, const fs::path& forks_root) {
  if (overlay_in_kernel()) return ForkMethod::overlay;
  struct statfs b {}, f {};
  if (::statfs(base.c_str(), &b) != 0) return sys_error("statfs " + q(base));
  if (::statfs(forks_root.c_str(), &f) != 0) return sys_error("statfs " + q(forks_root));
  if (b.f_type != f.f_type) return ForkMethod::copy;
  if (b.f_type == static_cast<decltype(b.f_type)>(BTRFS_SUPER_MAGIC)) {
    struct stat st {};
    if (::stat(base.c_str(), &st) == 0 && st.st_ino == kBtrfsSubvolRootIno) return ForkMethod::btrfs;
    return ForkMethod::reflink;
  }
  if (b.f_type == static_cast<decltype(b.f_type)>(XFS_SUPER_MAGIC)) {
    struct stat bs {}, fs_ {};
    if (::stat(base.c_str(), &bs) == 0 && ::stat(forks_root.c_str(), &fs_) == 0 && bs.st_dev == fs_.st_dev)
      return ForkMethod::reflink;
  }
  return ForkMethod::copy;
}

Result<void> mount_overlay(const std::vector<fs::path>& lowers, const fs::path& upper,
                           const fs::path& work, const fs::path& target) {
  Fd fsfd(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fsfd) {
    if (errno == ENOSYS) return mount_overlay_legacy(lowers, upper, work, target);
    if (errno == ENODEV) return Error(Exit::unavailable, "overlayfs is not available in this kernel", ENODEV);
    return sys_error("mount overlay at " + q(target));
  }
  auto set = [&](const char* key, const std::string& value) -> Result<void> {
    if (::fsconfig(fsfd.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) == 0) return {};
    int e = errno;
    std::string why = fs_context_log(fsfd.get());
    return Error(status_for_errno(e, Exit::os),
                 "mount overlay at " + q(target) + ": " + key + "=" + q(value) +
                     (why.empty() ? "" : ": " + why),
                 e);
  };
  bool plus = true;
  for (std::size_t i = 0; i < lowers.size(); ++i) {
    if (::fsconfig(fsfd.get(), FSCONFIG_SET_STRING, "lowerdir+", lowers[i].c_str(), 0) == 0) continue;
    if (i == 0 && errno == EINVAL) {  // a kernel before 6.8: one lowerdir string
      plus = false;
      (void)fs_context_log(fsfd.get());
      break;
    }
    int e = errno;
    std::string why = fs_context_log(fsfd.get());
    return Error(status_for_errno(e, Exit::os),
                 "mount overlay at " + q(target) + ": lower layer " + q(lowers[i]) +
                     (why.empty() ? "" : ": " + why),
                 e);
  }
  if (!plus) FAAS_TRY(set("lowerdir", lowerdir_string(lowers)));
  FAAS_TRY(set("upperdir", upper.string()));
  FAAS_TRY(set("workdir", work.string()));
  // A lower layer may be another fork's upper: without an index the kernel
  // allows it (and the fork's contract says the parent is frozen).
  FAAS_TRY(set("index", "off"));
  // volatile: no sync of the upper layer, ever (unmounting an ext4-backed
  // fork drops from ~2 ms to ~0.1 ms). A fork never outlives a reboot
  // anyway: gc removes what a crash left. Kernels before 5.10 lack it.
  if (::fsconfig(fsfd.get(), FSCONFIG_SET_FLAG, "volatile", nullptr, 0) != 0)
    (void)fs_context_log(fsfd.get());
  if (::fsconfig(fsfd.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    int e = errno;
    std::string why = fs_context_log(fsfd.get());
    return Error(status_for_errno(e, Exit::os),
                 "mount overlay at " + q(target) + (why.empty() ? "" : ": " + why), e);
  }
  Fd mnt(::fsmount(fsfd.get(), FSMOUNT_CLOEXEC, 0));
  if (!mnt) return sys_error("mount overlay at " + q(target));
  if (::move_mount(mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return sys_error("mount overlay at " + q(target));
  return {};
}

Result<void> btrfs_snapshot(const fs::path& src, const fs::path& dst_dir, const std::string& name) {
  Fd s(::open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!s) return sys_error("open " + q(src));
  if (!is_btrfs_subvolume(s.get())) {
    struct statfs sf {};
    std::string fsname = ::fstatfs(s.get(), &sf) == 0 ? fs_type_name(sf.f_type) : "?";
    return Error(Exit::unavailable, "btrfs snapshot: base " + q(src) +
                                        " is not the root of a btrfs subvolume (it is on " + fsname + ")");
  }
  Fd d(::open(dst_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return sys_error("open " + q(dst_dir));
  btrfs_ioctl_vol_args_v2 args{};
  args.fd = s.get();
  std::strncpy(args.name, name.c_str(), BTRFS_SUBVOL_NAME_MAX);
  if (::ioctl(d.get(), BTRFS_IOC_SNAP_CREATE_V2, &args) != 0) {
    int e = errno;
    if (e == EXDEV)
      return Error(Exit::unavailable, "btrfs snapshot of " + q(src) + " into " + q(dst_dir) +
                                          ": not on the same btrfs filesystem (the state dir must be)",
                   e);
    if (e == ENOTTY || e == EOPNOTSUPP || e == EINVAL) {
      struct statfs sf {};
      std::string fsname = ::fstatfs(d.get(), &sf) == 0 ? fs_type_name(sf.f_type) : "?";
      return Error(Exit::unavailable, "btrfs snapshot into " + q(dst_dir) + ": it is on " + fsname +
                                          ", not btrfs (the state dir must be on the base's btrfs)",
                   e);
    }
    return sys_error(e, "btrfs snapshot of " + q(src));
  }
  return {};
}

Result<void> clone_tree(const fs::path& src, const fs::path& dst, CloneMode mode,
                        const std::atomic<bool>* cancel) {
  return Cloner(mode, src, cancel).run(dst);
}

Result<ForkLayout> make_fork(const ForkSpec& spec) {
  const fs::path& base = spec.source.base;
  const fs::path root = spec.dir.parent_path();
  ForkMethod method = spec.method;
  if (method == ForkMethod::automatic) {
    FAAS_TRY_ASSIGN(method, choose_fork_method(base, root));
  }
  if (spec.tmpfs_bytes > 0 && method != ForkMethod::overlay && method != ForkMethod::copy)
    return Error(Exit::usage, std::string("--upper-tmpfs works with overlay and copy, not ") +
                                  fork_method_name(method));
  if (method == ForkMethod::overlay && spec.source.depth > kMaxForkDepth)
    return Error(Exit::cant_create,
                 "overlay fork of " + q(base) + " would stack " + std::to_string(spec.source.depth) +
                     " layers; the limit is " + std::to_string(kMaxForkDepth) +
                     " (fork it with --copy, --reflink or --btrfs to start a new stack)");
  if (method == ForkMethod::reflink) {
    FAAS_TRY_ASSIGN(auto bt, fs_type_of(base));
    FAAS_TRY_ASSIGN(auto rt, fs_type_of(root));
    if (bt != static_cast<std::int64_t>(BTRFS_SUPER_MAGIC) && bt != static_cast<std::int64_t>(XFS_SUPER_MAGIC))
      return Error(Exit::unavailable, "reflink fork of " + q(base) + ": it is on " + fs_type_name(bt) +
                                          ", which has no reflinks (btrfs and XFS have)");
    if (rt != bt)
      return Error(Exit::unavailable, "reflink fork of " + q(base) + " (" + fs_type_name(bt) +
                                          "): the forks dir " + q(root) + " is on " + fs_type_name(rt) +
                                          "; both must be on one filesystem");
  }

  ForkLayout layout = fork_layout(spec.dir, method, spec.tmpfs_bytes);
  if (!(method == ForkMethod::overlay && take_spare_dir(spec.spares, spec.dir)) &&
      ::mkdir(spec.dir.c_str(), 0700) != 0)
    return sys_error("create fork dir " + q(spec.dir), Exit::cant_create);
  ScopeExit undo([&] {
    RemoveReport ignored;
    (void)destroy_dir(spec.dir, ignored);
  });

  struct stat bst {};
  if (::stat(base.c_str(), &bst) != 0) return sys_error("stat base " + q(base));

  auto mount_tmpfs = [&](const fs::path& at, bool make) -> Result<void> {
    if (make && ::mkdir(at.c_str(), 0700) != 0) return sys_error("mkdir " + q(at), Exit::cant_create);
    std::string data = "mode=0700";
    if (spec.tmpfs_bytes > 0) data += ",size=" + std::to_string(spec.tmpfs_bytes);
    if (::mount("tmpfs", at.c_str(), "tmpfs", 0, data.c_str()) != 0)
      return sys_error("mount tmpfs at " + q(at));
    return {};
  };

  Stopwatch sw;
  if (method == ForkMethod::overlay) {
    // An overlay fork is runtime state (its mount is gone at reboot), so its
    // dir is a tmpfs of its own: upper, work and the merged mount point are
    // made there, not on the state dir's disk filesystem, where creating
    // and deleting inodes (and overlayfs' own workdir checks) cost
    // milliseconds; and rm is two umounts, whatever the fork wrote.
    FAAS_TRY(mount_tmpfs(spec.dir, false));
    if (spec.tmpfs_bytes > 0 && ::mkdir((spec.dir / "rw").c_str(), 0700) != 0)
      return sys_error("create " + q(spec.dir / "rw"), Exit::cant_create);
    // The merged root takes the upper root's owner and mode: the base's.
    if (::mkdir(layout.upper.c_str(), bst.st_mode & 07777) != 0 ||
        ((bst.st_uid != ::geteuid() || bst.st_gid != ::getegid()) &&
         ::chown(layout.upper.c_str(), bst.st_uid, bst.st_gid) != 0) ||
        ::chmod(layout.upper.c_str(), bst.st_mode & 07777) != 0)
      return sys_error("create " + q(layout.upper), Exit::cant_create);
    if (::mkdir(layout.work.c_str(), 0700) != 0 || ::mkdir(layout.merged.c_str(), 0755) != 0)
      return sys_error("create " + q(layout.work), Exit::cant_create);
    layout.lowers = spec.source.lowers.empty() ? std::vector<fs::path>{base} : spec.source.lowers;
    sw.restart();
    FAAS_TRY(mount_overlay(layout.lowers, layout.upper, layout.work, layout.merged));
    layout.mount_us = sw.elapsed_us();
  } else if (method == ForkMethod::btrfs) {
    sw.restart();
    FAAS_TRY(btrfs_snapshot(base, spec.dir, "merged"));
    layout.copy_us = sw.elapsed_us();
  } else {
    if (!layout.tmpfs.empty()) {
      sw.restart();
      FAAS_TRY(mount_tmpfs(layout.tmpfs, true));
      layout.mount_us = sw.elapsed_us();
    }
    sw.restart();
    FAAS_TRY(clone_tree(base, layout.merged,
                        method == ForkMethod::reflink ? CloneMode::reflink : CloneMode::copy,
                        spec.cancel));
    layout.copy_us = sw.elapsed_us();
  }
  undo.release();
  return layout;
}

Result<RemoveReport> remove_fork(const fs::path& forks_root, const fs::path& dir,
                                 const fs::path& spares) {
  RemoveReport report;
  // The usual call names forks_root/NAME: then dir is a direct child of
  // whatever forks_root resolves to unless NAME is a symlink, which one
  // lstat tells (resolving both paths took ten readlinks).
  const std::string name = dir.filename().string();
  if (dir.parent_path() == forks_root && !name.empty() &&
      name.find_first_of("./") == std::string::npos) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
      if (errno == ENOENT) return report;  // already gone
      return sys_error("stat " + q(dir));
    }
    if (S_ISDIR(st.st_mode)) {
      FAAS_TRY(destroy_dir(dir, report, spares));
      return report;
    }
  }
  std::error_code ec;
  fs::path root = fs::canonical(forks_root, ec);
  if (ec) {
    if (ec.value() == ENOENT) return report;
    return sys_error(ec.value(), "resolve " + q(forks_root));
  }
  fs::path real = fs::canonical(dir, ec);
  if (ec) {
    if (ec.value() == ENOENT) return report;  // already gone
    return sys_error(ec.value(), "resolve " + q(dir));
  }
  // Only a direct child of the forks dir, named like an ID, is ever touched.
  if (real.parent_path() != root || real.filename() != dir.filename() ||
      real.filename().string().find_first_of("./") != std::string::npos)
    return Error(Exit::data, "refusing to remove " + q(dir) + ": it resolves to " + q(real) +
                                 ", which is not a fork under " + q(root));
  FAAS_TRY(destroy_dir(real, report, spares));
  return report;
}

}  // namespace faas
