// The state store: two SQLite databases shared by every tool (WAL, busy
// timeout, schema migrations), split by how long their rows live.
//   STATE_DIR/state.db  what survives a reboot: templates and pools (their
//                       configuration).
//   RUN_DIR/run.db      what describes kernel objects, which a reboot
//                       takes away: forks, netns pools and leases,
//                       sandboxes, acquire samples and pool counters.
// Hot commands open run.db alone. Concurrent processes never double-claim a
// row: claims run in BEGIN IMMEDIATE transactions.
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
  // Runs with the run dir's database (created and migrated first) attached
  // as `run`: a migration of state.db that moves rows into run.db.
  bool with_run = false;
};

// The schemas, in lib/common/src/schema.cpp (append only, one list per file):
// state.db's and run.db's.
const std::vector<Migration>& schema_migrations();
const std::vector<Migration>& run_schema_migrations();

inline constexpr const char* kStateDbName = "state.db";
inline constexpr const char* kRunDbName = "run.db";

// One connection, for one thread of one process: a StateStore must not cross
// fork(2) (SQLite's POSIX locks belong to the process that took them); a
// child opens its own.
class StateStore {
 public:
  // Opens (creating, mode 0700) state_dir and state_dir/state.db, sets WAL and
  // a busy timeout, and applies pending migrations (Exit::config when the
  // database is newer than this build). A pending migration `with_run`
  // needs run_dir (Exit::software without one).
  static Result<StateStore> open(const std::filesystem::path& state_dir,
                                 const std::vector<Migration>& migrations = schema_migrations(),
                                 const std::filesystem::path& run_dir = {});
  // Opens (creating, mode 0700) run_dir and run_dir/run.db the same way.
  static Result<StateStore> open_run(const std::filesystem::path& run_dir,
                                     const std::vector<Migration>& migrations = run_schema_migrations());

  StateStore(StateStore&& o) noexcept;
  StateStore& operator=(StateStore&& o) noexcept;
  StateStore(const StateStore&) = delete;
  ~StateStore();

  const std::filesystem::path& dir() const { return dir_; }
  int schema_version() const;
  // Whether this open created the schema (a new, empty database).
  bool created() const { return created_; }

  Result<void> exec(std::string_view sql);
  Result<Stmt> prepare(std::string_view sql);
  // Runs a query with text/int parameters and returns all rows.
  Result<std::vector<SqlRow>> query(std::string_view sql,
                                    const std::vector<SqlValue>& params = {});

  // Runs fn inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK when fn fails or
  // throws). SQLITE_BUSY beyond the busy timeout is Exit::temp. Not nestable:
  // calling it inside fn is Exit::software.
  Result<void> immediate(const std::function<Result<void>()>& fn);

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
  enum class Kind { state, run };
  StateStore() = default;
  static Result<StateStore> open_file(Kind kind, const std::filesystem::path& dir,
                                      const std::vector<Migration>& migrations,
                                      const std::filesystem::path& run_dir);
  Result<std::string> set_wal();

  sqlite3* db_ = nullptr;
  std::filesystem::path dir_;
  bool created_ = false;
};

// A tool's two databases: run.db opened up front, state.db on first use, so
// a command that needs no configuration never pays for opening it.
class Stores {
 public:
  // Opens run_dir/run.db (both paths made absolute by the caller). A run.db
  // it creates may be the first since an upgrade: an existing state.db is
  // then opened too, which moves the rows an older state.db held into it.
  static Result<Stores> open(std::filesystem::path state_dir, std::filesystem::path run_dir);

  StateStore& run() { return *run_; }
  // state.db, opened (and migrated) on the first call.
  Result<StateStore*> state();
  bool state_opened() const { return state_.has_value(); }
  const std::filesystem::path& state_dir() const { return state_dir_; }
  const std::filesystem::path& run_dir() const { return run_dir_; }

 private:
  Stores() = default;
  std::filesystem::path state_dir_, run_dir_;
  std::optional<StateStore> run_, state_;
};

// mkdir -p, with the last component (the state or run dir itself) 0700: it
// holds the record of every sandbox and lease on the host. `what` names it
// in errors ("state directory").
Result<void> make_state_dir(const std::filesystem::path& dir, const std::string& what);

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
