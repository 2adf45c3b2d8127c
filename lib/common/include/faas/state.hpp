// The state store: one SQLite database in the state dir (WAL, busy timeout,
// schema migrations), shared by every tool. Concurrent processes never
// double-claim a row: claims run in BEGIN IMMEDIATE transactions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "faas/holder.hpp"
#include "faas/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace faas {

using SqlValue = std::variant<std::monostate, std::int64_t, double, std::string>;
using SqlRow = std::vector<SqlValue>;

// A column's text, or "" for NULL and numbers.
std::string sql_text(const SqlValue& v);
// A column's integer (a REAL truncated), or 0 for NULL and text.
std::int64_t sql_int(const SqlValue& v);

// A prepared statement; binds are 1-based like SQLite's. A failed bind is
// reported by the next step().
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* st) : db_(db), st_(st) {}
  Stmt(Stmt&& o) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind(int idx, std::int64_t v);
  Stmt& bind(int idx, double v);
  Stmt& bind(int idx, std::string_view v);
  Stmt& bind_null(int idx);
  // true: a row is ready; false: done.
  Result<bool> step();
  std::int64_t col_int(int idx) const;
  double col_double(int idx) const;
  std::string col_text(int idx) const;
  bool col_null(int idx) const;
  SqlValue col(int idx) const;
  int columns() const;

 private:
  Stmt& check_bind(int rc, int idx);

  sqlite3* db_;
  sqlite3_stmt* st_;
  int bind_rc_ = 0;  // first failed bind (SQLite code), 0 when none
  int bind_idx_ = 0;
};

struct Migration {
  int version;          // 1, 2, 3... strictly increasing, never edited once shipped
  const char* sql;
};

// The project's schema, in lib/common/src/schema.cpp (append only).
const std::vector<Migration>& schema_migrations();

// One connection, for one thread of one process: a StateStore must not cross
// fork(2) (SQLite's POSIX locks belong to the process that took them); a
// child opens its own.
class StateStore {
 public:
  // Opens (creating, mode 0700) state_dir and state_dir/state.db, sets WAL and
  // a busy timeout, and applies pending migrations (Exit::config when the
  // database is newer than this build).
  static Result<StateStore> open(const std::filesystem::path& state_dir,
                                 const std::vector<Migration>& migrations = schema_migrations());

  StateStore(StateStore&& o) noexcept;
  StateStore& operator=(StateStore&& o) noexcept;
  StateStore(const StateStore&) = delete;
  ~StateStore();

  const std::filesystem::path& dir() const { return dir_; }
  int schema_version() const;

  Result<void> exec(std::string_view sql);
  Result<Stmt> prepare(std::string_view sql);
  // Runs a query with text/int parameters and returns all rows.
  Result<std::vector<SqlRow>> query(std::string_view sql,
                                    const std::vector<SqlValue>& params = {});

  // Runs fn inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK when fn fails or
  // throws). SQLITE_BUSY beyond the busy timeout is Exit::temp. Not nestable:
  // calling it inside fn is Exit::software.
  Result<void> immediate(const std::function<Result<void>()>& fn);

  // For a process that commits once. The WAL starts over only when a
  // write follows a complete checkpoint in the same connection (the next
  // process's recovery forgets checkpoints): with one commit per process
  // it would grow without end, and every open would read all of it. With
  // this, the automatic checkpoint (same threshold) truncates the WAL
  // when no other process is reading it, instead of leaving it whole.
  void truncate_wal_on_checkpoint();

  // Claims one row of `table` atomically: in one BEGIN IMMEDIATE transaction,
  // picks the first row (by rowid) matching `where` (a constant SQL fragment,
  // never user input; parameters bound from `params`), sets `state` to
  // `new_state` and holder_pid/holder_start to the holder, and returns its
  // `id` column; std::nullopt when no row matches. The table must have
  // columns id TEXT, state TEXT, holder_pid INTEGER, holder_start INTEGER,
  // claimed_at INTEGER (unix ms).
  Result<std::optional<std::string>> claim(std::string_view table, std::string_view where,
                                           const std::vector<SqlValue>& params,
                                           std::string_view new_state, const Holder& holder);

 private:
  StateStore() = default;
  Result<std::string> set_wal();

  sqlite3* db_ = nullptr;
  std::filesystem::path dir_;
};

// --state-dir / --run-dir resolution: flag, then $FAAS_STATE_DIR /
// $FAAS_RUN_DIR, then /var/lib/faas and /run/faas.
std::string default_state_dir();
std::string default_run_dir();

// Busy timeout of every connection: how long a writer waits for another
// before giving up with Exit::temp.
inline constexpr int kBusyTimeoutMs = 5000;

// A new random ID: 12 lowercase hex characters from getrandom(2).
std::string new_id();

}  // namespace faas
