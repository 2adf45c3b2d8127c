#include "faas/fork_state.hpp"
#include "faas/timing.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>

#include <nlohmann/json.hpp>

namespace faas {

namespace {

constexpr const char* kColumns =
    "id, method, base, parent, depth, lowers, tmpfs_bytes, state, holder_pid, holder_start, "
    "created_at, sandbox";

ForkRow from_row(const SqlRow& r) {
  ForkRow f;
  f.id = sql_text(r.at(0));
  f.method = parse_fork_method(sql_text(r.at(1))).value_or(ForkMethod::overlay);
  f.base = sql_text(r.at(2));
  f.parent = sql_text(r.at(3));
  f.depth = static_cast<int>(sql_int(r.at(4)));
  auto lowers = nlohmann::json::parse(sql_text(r.at(5)), nullptr, false);
  if (lowers.is_array())
    for (const auto& l : lowers)
      if (l.is_string()) f.lowers.push_back(l.get<std::string>());
  f.tmpfs_bytes = static_cast<std::uint64_t>(sql_int(r.at(6)));
  f.state = sql_text(r.at(7));
  f.holder.pid = static_cast<pid_t>(sql_int(r.at(8)));
  f.holder.start_time = static_cast<std::uint64_t>(sql_int(r.at(9)));
  f.created_at = sql_int(r.at(10));
  f.sandbox = sql_text(r.at(11));
  return f;
}

}  // namespace

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

Result<void> fork_insert(StateStore& st, const ForkRow& row) {
  nlohmann::json lowers = nlohmann::json::array();
  for (const auto& l : row.lowers) lowers.push_back(l);
  return st.immediate([&]() -> Result<void> {
    if (!row.parent.empty()) {
      FAAS_TRY_ASSIGN(auto rows, st.query("SELECT state FROM forks WHERE id = ?", {row.parent}));
      if (rows.empty()) return Error(Exit::no_input, "fork `" + row.parent + "` not found in state");
      if (sql_text(rows[0].at(0)) != kForkReady)
        return Error(Exit::temp, "fork `" + row.parent + "` is " + sql_text(rows[0].at(0)));
    }
    FAAS_TRY(st.query(std::string("INSERT INTO forks (") + kColumns +
                          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      {row.id, std::string(fork_method_name(row.method)), row.base,
                       row.parent.empty() ? SqlValue{} : SqlValue{row.parent},
                       std::int64_t{row.depth}, lowers.dump(),
                       static_cast<std::int64_t>(row.tmpfs_bytes), row.state,
                       std::int64_t{row.holder.pid},
                       static_cast<std::int64_t>(row.holder.start_time), row.created_at,
                       row.sandbox.empty() ? SqlValue{} : SqlValue{row.sandbox}}));
    return {};
  });
}

Result<std::optional<ForkRow>> fork_find(StateStore& st, std::string_view id) {
  FAAS_TRY_ASSIGN(auto rows, st.query(std::string("SELECT ") + kColumns + " FROM forks WHERE id = ?",
                                      {std::string(id)}));
  if (rows.empty()) return std::optional<ForkRow>();
  return std::optional<ForkRow>(from_row(rows[0]));
}

Result<std::vector<ForkRow>> fork_list(StateStore& st) {
  FAAS_TRY_ASSIGN(auto rows,
                  st.query(std::string("SELECT ") + kColumns + " FROM forks ORDER BY created_at, id"));
  std::vector<ForkRow> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(from_row(r));
  return out;
}

Result<std::vector<ForkRow>> fork_list_of_sandbox(StateStore& st, std::string_view sandbox) {
  FAAS_TRY_ASSIGN(auto rows, st.query(std::string("SELECT ") + kColumns +
                                          " FROM forks WHERE sandbox = ? ORDER BY depth DESC, created_at DESC",
                                      {std::string(sandbox)}));
  std::vector<ForkRow> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(from_row(r));
  return out;
}

Result<void> fork_set_state(StateStore& st, std::string_view id, std::string_view state,
                            const Holder& holder) {
  FAAS_TRY(st.query("UPDATE forks SET state = ?, holder_pid = ?, holder_start = ? WHERE id = ?",
                    {std::string(state), std::int64_t{holder.pid},
                     static_cast<std::int64_t>(holder.start_time), std::string(id)}));
  return {};
}

Result<void> fork_delete(StateStore& st, std::string_view id) {
  FAAS_TRY(st.query("DELETE FROM forks WHERE id = ?", {std::string(id)}));
  return {};
}

Result<std::vector<std::string>> fork_dependents(StateStore& st, std::string_view id) {
  // Overlay forks read the parent's layers for as long as they live; the
  // others only while they are being made.
  FAAS_TRY_ASSIGN(auto rows, st.query("SELECT id FROM forks WHERE parent = ? AND "
                                      "(method = 'overlay' OR state = 'creating') ORDER BY id",
                                      {std::string(id)}));
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(sql_text(r.at(0)));
  return out;
}

namespace {

// fork_begin_remove's checks, inside its transaction.
Result<ForkRow> removable(StateStore& st, std::string_view id, const Holder& self) {
  FAAS_TRY_ASSIGN(auto found, fork_find(st, id));
  if (!found) return Error(Exit::no_input, "fork `" + std::string(id) + "` not found in state");
  ForkRow row = std::move(*found);
  if (row.state != kForkReady && holder_alive(row.holder) && !(row.holder == self))
    return Error(Exit::temp, "fork `" + row.id + "` is " + row.state + " by pid " +
                                 std::to_string(row.holder.pid));
  FAAS_TRY_ASSIGN(auto deps, fork_dependents(st, id));
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

Result<ForkRow> fork_begin_remove(StateStore& st, std::string_view id, const Holder& self) {
  ForkRow row;
  FAAS_TRY(st.immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(row, removable(st, id, self));
    return fork_set_state(st, id, kForkRemoving, self);
  }));
  return row;
}

Result<ForkRow> fork_delete_checked(StateStore& st, std::string_view id, const Holder& self) {
  ForkRow row;
  FAAS_TRY(st.immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(row, removable(st, id, self));
    return fork_delete(st, id);
  }));
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
