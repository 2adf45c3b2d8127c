#include "faas/state.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include "faas/log.hpp"
#include "faas/scope_exit.hpp"
#include "faas/timing.hpp"

namespace faas {

namespace fs = std::filesystem;

namespace {

Exit status_for_sqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Exit::temp;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH: return Exit::no_perm;
    case SQLITE_CANTOPEN: return Exit::cant_create;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Exit::io;
    case SQLITE_CONSTRAINT: return Exit::data;
    // A statement SQLite rejects (syntax, unknown table, bad bind index) is
    // a bug in the tool, not the operator's doing.
    case SQLITE_ERROR:
    case SQLITE_MISUSE:
    case SQLITE_RANGE: return Exit::software;
    default: return Exit::os;
  }
}

// Must be called right after the failing call: sqlite3_errmsg reports the
// connection's most recent error.
Error sql_error(sqlite3* db, int rc, const std::string& what) {
  std::string msg = what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int primary = rc & 0xff;
  int err = 0;
  if (db != nullptr && (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN))
    err = sqlite3_system_errno(db);
  if (primary == SQLITE_BUSY) msg += " (held by another process; retry)";
  return Error(status_for_sqlite(rc), std::move(msg), err);
}

// SQL text for an error message: its first line, shortened.
std::string sql_excerpt(std::string_view sql) {
  std::size_t start = sql.find_first_not_of(" \t\n");
  if (start == std::string_view::npos) return "``";
  sql.remove_prefix(start);
  std::size_t end = sql.find('\n');
  bool cut = end != std::string_view::npos;
  std::string_view line = sql.substr(0, end);
  if (line.size() > 60) {
    line = line.substr(0, 60);
    cut = true;
  }
  return "`" + std::string(line) + (cut ? "...`" : "`");
}

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void bind_value(Stmt& st, int idx, const SqlValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>)
          st.bind_null(idx);
        else if constexpr (std::is_same_v<T, std::string>)
          st.bind(idx, std::string_view(x));
        else
          st.bind(idx, x);
      },
      v);
}

Result<int> read_user_version(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  if (rc != SQLITE_OK) return sql_error(db, rc, "read schema version");
  Stmt stmt(db, st);
  FAAS_TRY_CTX(stmt.step(), "read schema version");
  return static_cast<int>(stmt.col_int(0));
}

// The WAL is kept across processes and nothing checkpoints on close (see
// open_file), so each process's first connection rebuilds the WAL index, and doing so
// forgets how much of the WAL was checkpointed: a writer then never
// restarts the WAL from its start, and SQLite's autocheckpoint only copies
// frames back while the WAL grows with every process that commits (5 MB
// and 6 ms per open after 600 sequential writers). So after a commit that
// leaves kWalFrames or more, checkpoint and truncate the WAL, without
// waiting: a busy reader or writer only makes it a passive checkpoint, and
// a later commit tries again.
constexpr int kWalFrames = 64;

// Set once, before the first connection initialises SQLite. Every tool is a
// short process that opens a database, runs a few statements and exits, so
// what SQLite sets up for long-lived ones is paid for nothing: the lookaside
// (100 slots of 1200 bytes) and the page cache's first bulk allocation (20
// pages) are carved out of fresh heap at open (8 of an overlay fork's ~120
// page faults), and memory statistics take a global mutex around every
// allocation.
void configure_sqlite() {
  static const bool done = [] {
    sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
    sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)done;
}

int truncate_wal_hook(void*, sqlite3* db, const char* name, int frames) {
  if (frames < kWalFrames) return SQLITE_OK;
  sqlite3_busy_timeout(db, 0);
  sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  return SQLITE_OK;
}

}  // namespace

Result<void> make_state_dir(const fs::path& state_dir, const std::string& what) {
  if (state_dir.empty()) return Error(Exit::config, what + ": empty path");
  // Every tool opens its store this way, on every run: one stat when the
  // directory is there, the walk below only to make it.
  struct stat st {};
  if (::stat(state_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
  fs::path dir = state_dir.lexically_normal();
  if (!dir.has_filename() && dir != dir.root_path()) dir = dir.parent_path();  // "a/b/"
  fs::path cur;
  auto last = std::prev(dir.end());
  for (auto it = dir.begin(); it != dir.end(); ++it) {
    cur /= *it;
    if (it->empty() || *it == "/" || *it == ".") continue;
    mode_t mode = it == last ? 0700 : 0755;
    if (::mkdir(cur.c_str(), mode) == 0) continue;
    int err = errno;
    // EEXIST also when another process created it a moment ago.
    if (err == EEXIST && ::stat(cur.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    if (err == EEXIST) err = ENOTDIR;
    return sys_error(err, "create " + what + " `" + cur.string() + "`", Exit::cant_create);
  }
  return {};
}

std::string sql_text(const SqlValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return {};
}

std::int64_t sql_int(const SqlValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return static_cast<std::int64_t>(*d);
  return 0;
}

// ---- Stmt ----

Stmt::Stmt(Stmt&& o) noexcept
    : db_(o.db_),
      st_(std::exchange(o.st_, nullptr)),
      bind_rc_(o.bind_rc_),
      bind_idx_(o.bind_idx_) {}

Stmt::~Stmt() { sqlite3_finalize(st_); }

Stmt& Stmt::check_bind(int rc, int idx) {
  if (rc != SQLITE_OK && bind_rc_ == 0) {
    bind_rc_ = rc;
    bind_idx_ = idx;
  }
  return *this;
}

Stmt& Stmt::bind(int idx, std::int64_t v) {
  return check_bind(sqlite3_bind_int64(st_, idx, v), idx);
}

Stmt& Stmt::bind(int idx, double v) { return check_bind(sqlite3_bind_double(st_, idx, v), idx); }

Stmt& Stmt::bind(int idx, std::string_view v) {
  // An empty string_view may have a null data(), which SQLite would bind as
  // NULL rather than ''.
  const char* p = v.data() != nullptr ? v.data() : "";
  return check_bind(sqlite3_bind_text64(st_, idx, p, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
                    idx);
}

Stmt& Stmt::bind_null(int idx) { return check_bind(sqlite3_bind_null(st_, idx), idx); }

Result<bool> Stmt::step() {
  if (bind_rc_ != 0)
    return Error(status_for_sqlite(bind_rc_),
                 sql_excerpt(sqlite3_sql(st_)) + ": bind parameter " + std::to_string(bind_idx_) +
                     ": " + sqlite3_errstr(bind_rc_));
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sql_error(db_, rc, sql_excerpt(sqlite3_sql(st_)));
}

std::int64_t Stmt::col_int(int idx) const { return sqlite3_column_int64(st_, idx); }

double Stmt::col_double(int idx) const { return sqlite3_column_double(st_, idx); }

std::string Stmt::col_text(int idx) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, idx));
  if (p == nullptr) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, idx)));
}

bool Stmt::col_null(int idx) const { return sqlite3_column_type(st_, idx) == SQLITE_NULL; }

SqlValue Stmt::col(int idx) const {
  switch (sqlite3_column_type(st_, idx)) {
    case SQLITE_INTEGER: return col_int(idx);
    case SQLITE_FLOAT: return col_double(idx);
    case SQLITE_NULL: return std::monostate{};
    default: return col_text(idx);  // TEXT, and BLOB as its bytes
  }
}

int Stmt::columns() const { return sqlite3_column_count(st_); }

// ---- StateStore ----

StateStore::StateStore(StateStore&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)), dir_(std::move(o.dir_)), created_(o.created_) {}

StateStore& StateStore::operator=(StateStore&& o) noexcept {
  if (this != &o) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(o.db_, nullptr);
    dir_ = std::move(o.dir_);
    created_ = o.created_;
  }
  return *this;
}

StateStore::~StateStore() { sqlite3_close_v2(db_); }

Result<StateStore> StateStore::open(const fs::path& state_dir,
                                    const std::vector<Migration>& migrations,
                                    const fs::path& run_dir) {
  return open_file(Kind::state, state_dir, migrations, run_dir);
}

Result<StateStore> StateStore::open_run(const fs::path& run_dir,
                                        const std::vector<Migration>& migrations) {
  return open_file(Kind::run, run_dir, migrations, {});
}

Result<StateStore> StateStore::open_file(Kind kind, const fs::path& dir,
                                         const std::vector<Migration>& migrations,
                                         const fs::path& run_dir) {
  for (std::size_t i = 0; i < migrations.size(); ++i)
    if (migrations[i].version != static_cast<int>(i) + 1)
      return Error(Exit::software, "schema migration " + std::to_string(i + 1) +
                                       " has version " + std::to_string(migrations[i].version));
  const int latest = static_cast<int>(migrations.size());
  const bool is_run = kind == Kind::run;

  FAAS_TRY(make_state_dir(dir, is_run ? "run directory" : "state directory"));
  fs::path db_path = dir / (is_run ? kRunDbName : kStateDbName);
  const std::string ctx = (is_run ? "run database `" : "state database `") + db_path.string() + "`";

  StateStore s;
  s.dir_ = dir;
  // NOMUTEX: a StateStore belongs to one thread, so SQLite's per-connection
  // mutex would be pure overhead.
  configure_sqlite();
  int rc = sqlite3_open_v2(db_path.c_str(), &s.db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) return sql_error(s.db_, rc, "open " + ctx);
  sqlite3_extended_result_codes(s.db_, 1);
  sqlite3_busy_timeout(s.db_, kBusyTimeoutMs);

  // WAL: readers never block the writer, and a claim commits without waiting
  // for them. A filesystem without shared memory support keeps the rollback
  // journal: slower, still correct, as every write is BEGIN IMMEDIATE.
  FAAS_TRY_ASSIGN(std::string mode, s.set_wal());
  if (mode != "wal") log_warn(ctx + ": journal mode is `" + mode + "`, not `wal`");
  // Every tool is a short process. By default the last connection to close
  // checkpoints the WAL and deletes it and the -shm file, and the next
  // process makes both again: four fdatasyncs under synchronous=NORMAL
  // (2-10 ms on ext4), and even without fsyncs two inodes made and unlinked
  // per process, which a busy ext4 makes wait on its journal (faas-netns
  // acquire 1.0-1.4 ms slower with run.db on this VM's loaded ext4; on a
  // tmpfs the same either way). So both files keep their WAL and leave
  // checkpoints to commits, bounded at kWalFrames pages (see
  // truncate_wal_hook): open, two commits and close then cost ~0.35 ms
  // instead of ~1.5 ms.
  //
  // run.db, without fsyncs (below), does let the last connection checkpoint
  // on close: with the WAL kept (PERSIST_WAL) and journal_size_limit=0 the
  // close copies this process's few pages into the database and truncates
  // the WAL to nothing, no file made or unlinked, and the next process's
  // recovery has no frames to read and checksum (up to 64 otherwise):
  // faas-netns acquire 30-60 us faster, on a tmpfs and on ext4.
  int persist_wal = 1;
  sqlite3_file_control(s.db_, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
  if (is_run) {
    // run.db describes mounts, namespaces and processes, all gone after a
    // power loss or a reboot (and the file with them on the tmpfs /run):
    // what synchronous=NORMAL would protect against is the one case where
    // its rows mean nothing anyway. A process crash loses nothing without
    // fsyncs, as committed pages are in the page cache. So no fsyncs, in
    // commits or in checkpoints.
    FAAS_TRY_CTX(s.exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=OFF; PRAGMA journal_size_limit=0"),
                 ctx);
  } else {
    sqlite3_db_config(s.db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    // NORMAL is durable across a process crash, which is what a
    // configuration change needs; only a power loss may drop the last commits.
    FAAS_TRY_CTX(s.exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL"), ctx);
  }
  sqlite3_wal_hook(s.db_, truncate_wal_hook, nullptr);

  auto newer = [&](int v) {
    return Error(Exit::config, ctx + " has schema version " + std::to_string(v) +
                                   ", newer than this build's " + std::to_string(latest) +
                                   ": use a newer faaskit or another " +
                                   (is_run ? "run directory" : "state directory"));
  };
  FAAS_TRY_ASSIGN(int current, read_user_version(s.db_));
  if (current > latest) return newer(current);
  s.created_ = current == 0 && latest > 0;
  if (current < latest) {
    // A migration that moves rows into run.db: run.db made current first,
    // then attached (ATTACH cannot run inside the transaction below).
    const bool with_run = std::any_of(migrations.begin() + current, migrations.end(),
                                      [](const Migration& m) { return m.with_run; });
    if (with_run) {
      if (run_dir.empty())
        return Error(Exit::software, ctx + ": a schema migration needs the run directory");
      FAAS_TRY_CTX(open_run(run_dir), ctx + ": migrate");
      FAAS_TRY_CTX(s.query("ATTACH ?1 AS run", {(run_dir / kRunDbName).string()}), ctx);
    }
    ScopeExit detach([&] {
      if (with_run) sqlite3_exec(s.db_, "DETACH run", nullptr, nullptr, nullptr);
    });
    // Re-read inside the write lock: a process that opened the same fresh
    // directory at the same moment may have migrated it already.
    auto r = s.immediate([&]() -> Result<void> {
      FAAS_TRY_ASSIGN(int now, read_user_version(s.db_));
      if (now > latest) return newer(now);
      for (const Migration& m : migrations) {
        if (m.version <= now) continue;
        FAAS_TRY_CTX(s.exec(m.sql), "schema migration " + std::to_string(m.version));
      }
      return s.exec("PRAGMA user_version = " + std::to_string(latest));
    });
    if (!r) {
      if (r.error().status() == Exit::config) return std::move(r).error();
      return std::move(r).error().wrap(ctx);
    }
  }
  return s;
}

Result<std::string> StateStore::set_wal() {
  // Switching a fresh database to WAL takes an exclusive lock, and SQLite
  // answers SQLITE_BUSY at once there instead of calling the busy handler:
  // two tools opening a new state dir together would see a spurious error.
  // So retry for as long as the busy timeout would have waited.
  const std::int64_t deadline = mono_ms() + kBusyTimeoutMs;
  for (int attempt = 0;; ++attempt) {
    auto st = prepare("PRAGMA journal_mode=WAL");
    Result<bool> row = st ? st->step() : Result<bool>(std::move(st).error());
    if (row) return st->col_text(0);
    if (row.error().status() != Exit::temp || mono_ms() >= deadline)
      return std::move(row).error();
    sleep_ms(std::min(1 << std::min(attempt, 6), 50));
  }
}

int StateStore::schema_version() const {
  auto v = read_user_version(db_);
  return v ? *v : -1;
}

Result<void> StateStore::exec(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return sql_error(db_, rc, sql_excerpt(sql));
  return {};
}

Result<Stmt> StateStore::prepare(std::string_view sql) {
  sqlite3_stmt* st = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st, &tail);
  if (rc != SQLITE_OK) return sql_error(db_, rc, sql_excerpt(sql));
  Stmt stmt(db_, st);
  if (st == nullptr) return Error(Exit::software, "prepare: empty SQL statement");
  // Everything after the first statement would be silently ignored.
  std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
  if (rest.find_first_not_of(" \t\n;") != std::string_view::npos)
    return Error(Exit::software, sql_excerpt(sql) + ": more than one SQL statement");
  return stmt;
}

Result<std::vector<SqlRow>> StateStore::query(std::string_view sql,
                                              const std::vector<SqlValue>& params) {
  FAAS_TRY_ASSIGN(Stmt st, prepare(sql));
  for (std::size_t i = 0; i < params.size(); ++i)
    bind_value(st, static_cast<int>(i) + 1, params[i]);
  std::vector<SqlRow> rows;
  for (;;) {
    FAAS_TRY_ASSIGN(bool has_row, st.step());
    if (!has_row) break;
    SqlRow row;
    const int n = st.columns();
    row.reserve(static_cast<std::size_t>(n));
    for (int c = 0; c < n; ++c) row.push_back(st.col(c));
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<void> StateStore::immediate(const std::function<Result<void>()>& fn) {
  if (sqlite3_get_autocommit(db_) == 0)
    return Error(Exit::software, "state transaction started inside another one");
  // IMMEDIATE takes the write lock up front: a deferred transaction that
  // read first and upgraded later could fail with SQLITE_BUSY mid-way,
  // after two processes had both seen the same free row.
  FAAS_TRY_CTX(exec("BEGIN IMMEDIATE"), "lock state database");
  ScopeExit rollback([this] {
    if (sqlite3_get_autocommit(db_) == 0)
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  });
  FAAS_TRY(fn());
  FAAS_TRY_CTX(exec("COMMIT"), "commit state");
  rollback.release();
  return {};
}

Result<std::optional<std::string>> StateStore::claim(std::string_view table,
                                                     std::string_view where,
                                                     const std::vector<SqlValue>& params,
                                                     std::string_view new_state,
                                                     const Holder& holder) {
  const std::string t(table);
  const std::string ctx = "claim a row of `" + t + "`";
  // `table` and `where` are spliced into SQL: only constants from the tools
  // may come here, and a table name that is not an identifier is a bug.
  if (!is_identifier(table)) return Error(Exit::software, ctx + ": not a table name");
  const std::string cond = where.empty() ? "1" : std::string(where);

  std::optional<std::string> claimed;
  auto r = immediate([&]() -> Result<void> {
    FAAS_TRY_ASSIGN(Stmt pick, prepare("SELECT rowid, id FROM " + t + " WHERE (" + cond +
                                       ") ORDER BY rowid LIMIT 1"));
    for (std::size_t i = 0; i < params.size(); ++i)
      bind_value(pick, static_cast<int>(i) + 1, params[i]);
    FAAS_TRY_ASSIGN(bool found, pick.step());
    if (!found) return {};
    const std::int64_t rowid = pick.col_int(0);
    std::string id = pick.col_text(1);

    FAAS_TRY_ASSIGN(Stmt upd, prepare("UPDATE " + t +
                                      " SET state = ?1, holder_pid = ?2, holder_start = ?3,"
                                      " claimed_at = ?4 WHERE rowid = ?5"));
    upd.bind(1, new_state)
        .bind(2, static_cast<std::int64_t>(holder.pid))
        .bind(3, static_cast<std::int64_t>(holder.start_time))
        .bind(4, unix_ms())
        .bind(5, rowid);
    FAAS_TRY(upd.step());
    if (sqlite3_changes(db_) != 1)
      return Error(Exit::software, "row " + std::to_string(rowid) + " changed under the lock");
    claimed = std::move(id);
    return {};
  });
  if (!r) return std::move(r).error().wrap(ctx);
  return claimed;
}

// ---- Stores ----

Result<Stores> Stores::open(fs::path state_dir, fs::path run_dir) {
  Stores s;
  s.state_dir_ = std::move(state_dir);
  s.run_dir_ = std::move(run_dir);
  FAAS_TRY_ASSIGN(StateStore run, StateStore::open_run(s.run_dir_));
  const bool created = run.created();
  s.run_.emplace(std::move(run));
  if (created && ::access((s.state_dir_ / kStateDbName).c_str(), F_OK) == 0) FAAS_TRY(s.state());
  return s;
}

Result<StateStore*> Stores::state() {
  if (!state_) {
    FAAS_TRY_ASSIGN(StateStore st, StateStore::open(state_dir_, schema_migrations(), run_dir_));
    state_.emplace(std::move(st));
  }
  return &*state_;
}

}  // namespace faas
