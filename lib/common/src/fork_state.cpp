#include "faas/fork_state.hpp"
#include "faas/spare_dirs.hpp"
#include "faas/state.hpp"
#include "faas/sysfs.hpp"
#include "faas/timing.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <tuple>

#include <nlohmann/json.hpp>

namespace faas {

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kRowsDir = "fork-rows";  // not "forks": a state dir may be the run dir too

Json to_json(const ForkRow& f) {
  Json j = Json::object();
  j["id"] = f.id;
  j["method"] = fork_method_name(f.method);
  j["base"] = f.base;
  if (!f.parent.empty()) j["parent"] = f.parent;
  j["depth"] = f.depth;
  j["lowers"] = f.lowers;
  j["tmpfs_bytes"] = f.tmpfs_bytes;
  j["state"] = f.state;
  j["holder_pid"] = f.holder.pid;
  j["holder_start"] = f.holder.start_time;
  j["created_at"] = f.created_at;
  if (!f.sandbox.empty()) j["sandbox"] = f.sandbox;
  return j;
}

std::optional<ForkRow> from_json(const Json& j) {
  if (!j.is_object()) return std::nullopt;
  try {
    ForkRow f;
    f.id = j.at("id").get<std::string>();
    f.method = parse_fork_method(j.value("method", "overlay")).value_or(ForkMethod::overlay);
    f.base = j.value("base", "");
    f.parent = j.value("parent", "");
    f.depth = j.value("depth", 1);
    if (j.contains("lowers") && j["lowers"].is_array())
      for (const auto& l : j["lowers"])
        if (l.is_string()) f.lowers.push_back(l.get<std::string>());
    f.tmpfs_bytes = j.value("tmpfs_bytes", std::uint64_t{0});
    f.state = j.value("state", "");
    f.holder.pid = j.value("holder_pid", pid_t{0});
    f.holder.start_time = j.value("holder_start", std::uint64_t{0});
    f.created_at = j.value("created_at", std::int64_t{0});
    f.sandbox = j.value("sandbox", "");
    return f;
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

// The row of `id`, or nothing when there is no such file. Rows are linked
// or exchanged into place whole, but a row file, once deleted, is
// recycled for another row (see row_file): a reader that opened it just
// before may read the other row, or half of it. So what does not read as
// this row is read again while the name points at another file (or none:
// the row is gone); unreadable under the same file, it is an error.
Result<std::optional<ForkRow>> read_row(int dir, std::string_view id) {
  const std::string name(id);
  const std::string what = "the row of fork " + q(name);
  for (int attempt = 0;; ++attempt) {
    Fd f(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!f) {
      if (errno == ENOENT) return std::optional<ForkRow>();
      return sys_error("read " + what);
    }
    FAAS_TRY_ASSIGN(std::string text, read_fd(f.get(), what));
    auto row = from_json(Json::parse(text, nullptr, false));
    if (row && row->id == name) return row;
    struct stat opened {}, now {};
    if (::fstat(f.get(), &opened) != 0) return sys_error("read " + what);
    if (::fstatat(dir, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return std::optional<ForkRow>();
      return sys_error("read " + what);
    }
    if ((now.st_ino == opened.st_ino && now.st_dev == opened.st_dev) || attempt >= 8)
      return Error(Exit::data, what + " is not a fork row");
  }
}

// Row files are recycled through RUN/fork-rows/.spares (the emptied file
// of a deleted or replaced row), as fork directories are: on ext4 a new
// inode skips every one freed in the last seconds, and with forks made and
// removed all the time creating a row file took 0.3-1.5 ms.
constexpr const char* kSpares = ".spares";

// A file named `tmp` in dir (at dir_path) to write a row into: a spare
// renamed there, or a new one.
Fd row_file(int dir, const fs::path& dir_path, const std::string& tmp) {
  if (take_spare_file(dir_path / kSpares, dir_path / tmp)) {
    // Not truncated: the new row is written over the old one, padded (see
    // write_row), so no data block is freed and allocated again.
    Fd f(::openat(dir, tmp.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
    if (f) return f;
    (void)::unlinkat(dir, tmp.c_str(), 0);
  }
  Fd f(::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!f && errno == EEXIST) {
    // Left by a process of the same pid that died half way.
    (void)::unlinkat(dir, tmp.c_str(), 0);
    f.reset(::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  }
  return f;
}

// Moves the file `name` in dir to the spares, or deletes it.
void retire_row_file(int dir, const fs::path& dir_path, const std::string& name) {
  if (!leave_spare_file(dir_path / name, dir_path / kSpares)) (void)::unlinkat(dir, name.c_str(), 0);
}

// Writes the row whole, then links it as ID (failing when it is there) or
// exchanges it with the old row, which is retired.
Result<void> write_row(int dir, const fs::path& dir_path, const ForkRow& row, bool replace) {
  // Padded with spaces to a multiple of 1 KiB, which JSON ignores: a spare
  // file is written over in place, its size unchanged for rows alike.
  std::string text = to_json(row).dump() + "\n";
  text.resize((text.size() + 1023) / 1024 * 1024, ' ');
  const std::string what = "write the row of fork " + q(row.id);
  const std::string tmp = ".tmp-" + row.id + "-" + std::to_string(::getpid());
  Fd f = row_file(dir, dir_path, tmp);
  if (!f) return sys_error(what);
  auto drop = [&] { (void)::unlinkat(dir, tmp.c_str(), 0); };
  struct stat st {};
  const bool shrink = ::fstat(f.get(), &st) == 0 && st.st_size > static_cast<off_t>(text.size());
  if ((shrink && ::ftruncate(f.get(), static_cast<off_t>(text.size())) != 0) ||
      ::pwrite(f.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    auto e = sys_error(what);
    drop();
    return e;
  }
  f.reset();
  if (replace && ::renameat2(dir, tmp.c_str(), dir, row.id.c_str(), RENAME_EXCHANGE) == 0) {
    retire_row_file(dir, dir_path, tmp);
    return {};
  }
  if (::renameat2(dir, tmp.c_str(), dir, row.id.c_str(), RENAME_NOREPLACE) != 0) {
    auto e = sys_error(what);
    drop();
    return e;
  }
  return {};
}

// Held while a change checks other rows; released with the guard.
class RowsLock {
 public:
  static Result<RowsLock> take(int dir) {
    while (::flock(dir, LOCK_EX) != 0)
      if (errno != EINTR) return sys_error("lock the fork rows");
    return RowsLock(dir);
  }
  RowsLock(RowsLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  RowsLock(const RowsLock&) = delete;
  RowsLock& operator=(const RowsLock&) = delete;
  RowsLock& operator=(RowsLock&&) = delete;
  ~RowsLock() {
    if (fd_ >= 0) (void)::flock(fd_, LOCK_UN);
  }

 private:
  explicit RowsLock(int fd) : fd_(fd) {}
  int fd_;
};

Result<std::vector<ForkRow>> all_rows(const ForkRows& rows) {
  FAAS_TRY_ASSIGN(auto names, list_dir(rows.fd(), rows.path()));
  std::vector<ForkRow> out;
  out.reserve(names.size());
  for (const auto& n : names) {
    if (!valid_fork_id(n)) continue;
    FAAS_TRY_ASSIGN(auto row, read_row(rows.fd(), n));
    if (row) out.push_back(std::move(*row));  // removed meanwhile: gone
  }
  return out;
}

// The rows a version before the rows dir kept in run.db's forks table.
Result<std::vector<ForkRow>> legacy_rows(const fs::path& run_dir) {
  std::vector<ForkRow> out;
  if (::access((run_dir / kRunDbName).c_str(), F_OK) != 0) return out;
  FAAS_TRY_ASSIGN(StateStore st, StateStore::open_run(run_dir));
  FAAS_TRY_ASSIGN(auto has, st.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'forks'"));
  if (has.empty()) return out;
  FAAS_TRY_ASSIGN(auto rows, st.query("SELECT id, method, base, parent, depth, lowers, tmpfs_bytes, state, "
                                      "holder_pid, holder_start, created_at, sandbox FROM forks"));
  for (const auto& r : rows) {
    ForkRow f;
    f.id = sql_text(r.at(0));
    if (!valid_fork_id(f.id)) continue;
    f.method = parse_fork_method(sql_text(r.at(1))).value_or(ForkMethod::overlay);
    f.base = sql_text(r.at(2));
    f.parent = sql_text(r.at(3));
    f.depth = static_cast<int>(sql_int(r.at(4)));
    auto lowers = Json::parse(sql_text(r.at(5)), nullptr, false);
    if (lowers.is_array())
      for (const auto& l : lowers)
        if (l.is_string()) f.lowers.push_back(l.get<std::string>());
    f.tmpfs_bytes = static_cast<std::uint64_t>(sql_int(r.at(6)));
    f.state = sql_text(r.at(7));
    f.holder.pid = static_cast<pid_t>(sql_int(r.at(8)));
    f.holder.start_time = static_cast<std::uint64_t>(sql_int(r.at(9)));
    f.created_at = sql_int(r.at(10));
    f.sandbox = sql_text(r.at(11));
    out.push_back(std::move(f));
  }
  if (!rows.empty()) FAAS_TRY(st.exec("DELETE FROM forks"));
  return out;
}

}  // namespace

Result<ForkRows> ForkRows::open(const fs::path& run_dir) {
  ForkRows r;
  r.path_ = run_dir / kRowsDir;
  r.dir_.reset(::open(r.path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (r.dir_) return r;
  if (errno != ENOENT) return sys_error("open `" + r.path_.string() + "`");
  // First use: made aside with the rows of run.db's forks table, if any,
  // then renamed into place, so that no one sees it half filled.
  FAAS_TRY(make_state_dir(run_dir, "run directory"));
  const fs::path aside = run_dir / (std::string(".") + kRowsDir + "-" + std::to_string(::getpid()));
  if (::mkdir(aside.c_str(), 0700) != 0 && errno != EEXIST)
    return sys_error("create `" + aside.string() + "`", Exit::cant_create);
  Fd a(::open(aside.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!a) return sys_error("open `" + aside.string() + "`");
  auto legacy = legacy_rows(run_dir);
  if (legacy)
    for (const auto& row : *legacy) (void)write_row(a.get(), aside, row, true);
  a.reset();
  // Never over another one's (rename would replace an empty directory,
  // and its maker's fd would point at a deleted one).
  if (::renameat2(AT_FDCWD, aside.c_str(), AT_FDCWD, r.path_.c_str(), RENAME_NOREPLACE) != 0) {
    // Another process made it first.
    std::error_code ec;
    fs::remove_all(aside, ec);
  }
  if (!legacy) return std::move(legacy).error().wrap("move the fork rows out of run.db");
  r.dir_.reset(::open(r.path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!r.dir_) return sys_error("open `" + r.path_.string() + "`");
  return r;
}

Result<int> fork_rows_sweep(ForkRows& rows) {
  FAAS_TRY_ASSIGN(auto names, list_dir(rows.fd(), rows.path()));
  int removed = 0;
  for (const auto& n : names) {
    if (n.rfind(".tmp-", 0) != 0) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(n.c_str() + n.rfind('-') + 1));
    if (pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM)) continue;  // its writer may be at it
    if (::unlinkat(rows.fd(), n.c_str(), 0) == 0) ++removed;
  }
  // And the spare row files (the next row makes a new one).
  Fd sp(::openat(rows.fd(), kSpares, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (sp) {
    auto spares = list_dir(sp.get(), rows.path() / kSpares);
    if (spares)
      for (const auto& n : *spares) (void)::unlinkat(sp.get(), n.c_str(), 0);
  }
  return removed;
}

std::filesystem::path forks_root(const std::filesystem::path& state_dir) {
  return state_dir / "forks";
}

std::filesystem::path fork_dir(const std::filesystem::path& state_dir, std::string_view id) {
  return forks_root(state_dir) / std::string(id);
}

std::filesystem::path forks_spares(const std::filesystem::path& state_dir) {
  return state_dir / "fork-spares";
}

bool valid_fork_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Result<void> fork_insert(ForkRows& rows, const ForkRow& row) {
  if (!valid_fork_id(row.id)) return Error(Exit::software, "fork id `" + row.id + "` is not valid");
  FAAS_TRY_ASSIGN(RowsLock lock, RowsLock::take(rows.fd()));
  if (!row.parent.empty()) {
    FAAS_TRY_ASSIGN(auto parent, read_row(rows.fd(), row.parent));
    if (!parent) return Error(Exit::no_input, "fork `" + row.parent + "` not found in state");
    if (parent->state != kForkReady) return Error(Exit::temp, "fork `" + row.parent + "` is " + parent->state);
  }
  return write_row(rows.fd(), rows.path(), row, false);
}

Result<std::optional<ForkRow>> fork_find(ForkRows& rows, std::string_view id) {
  if (!valid_fork_id(id)) return std::optional<ForkRow>();
  return read_row(rows.fd(), id);
}

Result<std::vector<ForkRow>> fork_list(ForkRows& rows) {
  FAAS_TRY_ASSIGN(auto out, all_rows(rows));
  std::sort(out.begin(), out.end(), [](const ForkRow& a, const ForkRow& b) {
    return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
  });
  return out;
}

Result<std::vector<ForkRow>> fork_list_of_sandbox(ForkRows& rows, std::string_view sandbox) {
  FAAS_TRY_ASSIGN(auto all, all_rows(rows));
  std::vector<ForkRow> out;
  for (auto& r : all)
    if (r.sandbox == sandbox) out.push_back(std::move(r));
  // Deepest first, newest first: the order they can be removed in.
  std::sort(out.begin(), out.end(), [](const ForkRow& a, const ForkRow& b) {
    return std::tie(b.depth, b.created_at) < std::tie(a.depth, a.created_at);
  });
  return out;
}

Result<void> fork_set_state(ForkRows& rows, std::string_view id, std::string_view state,
                            const Holder& holder) {
  FAAS_TRY_ASSIGN(RowsLock lock, RowsLock::take(rows.fd()));
  FAAS_TRY_ASSIGN(auto row, read_row(rows.fd(), id));
  if (!row) return {};  // as an UPDATE of no row
  row->state = std::string(state);
  row->holder = holder;
  return write_row(rows.fd(), rows.path(), *row, true);
}

Result<void> fork_delete(ForkRows& rows, std::string_view id) {
  if (!valid_fork_id(id)) return {};
  retire_row_file(rows.fd(), rows.path(), std::string(id));
  return {};
}

Result<std::vector<std::string>> fork_dependents(ForkRows& rows, std::string_view id) {
  // Overlay forks read the parent's layers for as long as they live; the
  // others only while they are being made.
  FAAS_TRY_ASSIGN(auto all, all_rows(rows));
  std::vector<std::string> out;
  for (const auto& r : all)
    if (r.parent == id && (r.method == ForkMethod::overlay || r.state == kForkCreating)) out.push_back(r.id);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// fork_begin_remove's checks, under the lock.
Result<ForkRow> removable(ForkRows& rows, std::string_view id, const Holder& self) {
  FAAS_TRY_ASSIGN(auto found, fork_find(rows, id));
  if (!found) return Error(Exit::no_input, "fork `" + std::string(id) + "` not found in state");
  ForkRow row = std::move(*found);
  if (row.state != kForkReady && holder_alive(row.holder) && !(row.holder == self))
    return Error(Exit::temp, "fork `" + row.id + "` is " + row.state + " by pid " +
                                 std::to_string(row.holder.pid));
  FAAS_TRY_ASSIGN(auto deps, fork_dependents(rows, id));
  if (!deps.empty()) {
    std::string list;
    for (const auto& d : deps) list += (list.empty() ? "" : ", ") + d;
    return Error(Exit::temp, "fork `" + row.id + "` is needed by fork" +
                                 (deps.size() > 1 ? "s " : " ") + list +
                                 " (stacked on it, or being made from it): remove " +
                                 (deps.size() > 1 ? "them" : "it") + " first");
  }
  return row;
}

}  // namespace

Result<ForkRow> fork_begin_remove(ForkRows& rows, std::string_view id, const Holder& self) {
  FAAS_TRY_ASSIGN(RowsLock lock, RowsLock::take(rows.fd()));
  FAAS_TRY_ASSIGN(ForkRow row, removable(rows, id, self));
  ForkRow marked = row;
  marked.state = std::string(kForkRemoving);
  marked.holder = self;
  FAAS_TRY(write_row(rows.fd(), rows.path(), marked, true));
  return row;
}

Result<ForkRow> fork_delete_checked(ForkRows& rows, std::string_view id, const Holder& self) {
  FAAS_TRY_ASSIGN(RowsLock lock, RowsLock::take(rows.fd()));
  FAAS_TRY_ASSIGN(ForkRow row, removable(rows, id, self));
  FAAS_TRY(fork_delete(rows, id));
  return row;
}

Result<Fd> open_forks_root(const std::filesystem::path& root) {
  Fd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd && errno == ENOENT) {
    if (::mkdir(root.c_str(), 0700) != 0 && errno != EEXIST)
      return sys_error("create `" + root.string() + "`", Exit::cant_create);
    fd.reset(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  if (!fd) return sys_error("open `" + root.string() + "`");
  return fd;
}

Result<void> lock_forks_shared(int root_fd) {
  while (::flock(root_fd, LOCK_SH) != 0)
    if (errno != EINTR) return sys_error("lock the forks dir");
  return {};
}

void unlock_forks(int root_fd) { (void)::flock(root_fd, LOCK_UN); }

Result<bool> try_lock_forks_exclusive(int root_fd, int wait_ms) {
  // Shared holders come and go in about a millisecond. flock has no
  // timeout, and a blocked exclusive lock would not keep new shared holders
  // out anyway: poll.
  for (int waited = 0;; ++waited) {
    if (::flock(root_fd, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno != EWOULDBLOCK && errno != EINTR) return sys_error("lock the forks dir");
    if (waited >= wait_ms) return false;
    sleep_ms(1);
  }
}

}  // namespace faas
