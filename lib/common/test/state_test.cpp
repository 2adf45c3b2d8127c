#include "faas/state.hpp"
#include "faas/timing.hpp"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace faas {
namespace {

namespace fs = std::filesystem;

const char* kPoolTable =
    "CREATE TABLE pool (id TEXT PRIMARY KEY, pool TEXT NOT NULL, state TEXT NOT NULL,"
    " holder_pid INTEGER, holder_start INTEGER, claimed_at INTEGER)";

std::int64_t as_int(const SqlValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  ADD_FAILURE() << "not an integer (variant index " << v.index() << ")";
  return -1;
}

std::string as_text(const SqlValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  ADD_FAILURE() << "not text (variant index " << v.index() << ")";
  return {};
}

// state.db in dir; run.db, where its last migration moves runtime tables,
// in dir/run.
StateStore open_ok(const fs::path& dir,
                   const std::vector<Migration>& migrations = schema_migrations()) {
  auto s = StateStore::open(dir, migrations, dir / "run");
  if (!s) throw std::runtime_error(s.error().what());
  return std::move(s).value();
}

std::int64_t scalar(StateStore& s, std::string_view sql, const std::vector<SqlValue>& params = {}) {
  auto rows = s.query(sql, params);
  if (!rows) throw std::runtime_error(rows.error().what());
  if (rows->size() != 1 || rows->front().size() != 1)
    throw std::runtime_error("not one value: " + std::string(sql));
  return as_int(rows->front().front());
}

TEST(StateStore, OpenCreatesWalDatabase) {
  test::TempDir tmp;
  const fs::path dir = tmp / "a/b/state";  // parents created too
  StateStore s = open_ok(dir);
  EXPECT_EQ(s.dir(), dir);

  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_TRUE(fs::exists(dir / "state.db"));

  auto mode = s.query("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok()) << mode.error().what();
  EXPECT_EQ(as_text((*mode)[0][0]), "wal");
  EXPECT_EQ(scalar(s, "PRAGMA user_version"), static_cast<std::int64_t>(schema_migrations().size()));
  EXPECT_EQ(s.schema_version(), static_cast<int>(schema_migrations().size()));
  EXPECT_EQ(scalar(s, "PRAGMA foreign_keys"), 1);
  EXPECT_EQ(scalar(s, "PRAGMA synchronous"), 1);  // NORMAL
  EXPECT_EQ(scalar(s, "PRAGMA busy_timeout"), kBusyTimeoutMs);
  // Migration 1.
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'"),
            1);
}

TEST(StateStore, TrailingSlashAndEmptyPath) {
  test::TempDir tmp;
  const fs::path dir = tmp.path().string() + "/x/y/";
  open_ok(dir);
  struct stat st {};
  ASSERT_EQ(::stat((tmp / "x/y").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);  // the state dir itself, not only its parent
  EXPECT_TRUE(fs::exists(tmp / "x/y/state.db"));
  auto empty = StateStore::open("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().status(), Exit::config);
}

TEST(StateStore, KeepsModeOfExistingDir) {
  test::TempDir tmp;
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0750), 0);
  open_ok(tmp.path());
  struct stat st {};
  ASSERT_EQ(::stat(tmp.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

TEST(StateStore, DirThatIsAFileIsCantCreate) {
  test::TempDir tmp;
  std::ofstream(tmp / "file") << "x";
  auto s = StateStore::open(tmp / "file");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().status(), Exit::cant_create);
  EXPECT_EQ(s.error().err(), ENOTDIR);
  auto below = StateStore::open(tmp / "file/state");
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.error().status(), Exit::cant_create);
}

TEST(StateStore, ReopenIsIdempotent) {
  test::TempDir tmp;
  {
    StateStore s = open_ok(tmp.path());
    ASSERT_TRUE(s.exec("INSERT INTO meta VALUES ('owner', 'test')").ok());
  }
  for (int i = 0; i < 3; ++i) {
    StateStore s = open_ok(tmp.path());
    EXPECT_EQ(s.schema_version(), static_cast<int>(schema_migrations().size()));
    auto rows = s.query("SELECT value FROM meta WHERE key = ?1", {std::string("owner")});
    ASSERT_TRUE(rows.ok()) << rows.error().what();
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(as_text((*rows)[0][0]), "test");
  }
}

TEST(StateStore, NewerDatabaseIsConfigError) {
  test::TempDir tmp;
  {
    StateStore s = open_ok(tmp.path());
    ASSERT_TRUE(s.exec("PRAGMA user_version = 99").ok());
  }
  auto s = StateStore::open(tmp.path());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().status(), Exit::config);
  EXPECT_EQ(to_int(s.error().status()), 78);
  EXPECT_NE(s.error().what().find("99"), std::string::npos) << s.error().what();
}

TEST(StateStore, AppliesOnlyPendingMigrations) {
  test::TempDir tmp;
  std::vector<Migration> v1{{1, "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"}};
  std::vector<Migration> v2 = v1;
  v2.push_back({2, "CREATE TABLE b (y TEXT); INSERT INTO a VALUES (2);"});
  {
    StateStore s = open_ok(tmp.path(), v1);
    EXPECT_EQ(s.schema_version(), 1);
  }
  StateStore s = open_ok(tmp.path(), v2);
  EXPECT_EQ(s.schema_version(), 2);
  // Migration 1 ran once: a holds 1 (from 1) and 2 (from 2).
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM a"), 2);
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM b"), 0);
}

TEST(StateStore, FailedMigrationLeavesNoTrace) {
  test::TempDir tmp;
  std::vector<Migration> bad{{1, "CREATE TABLE ok1 (x INTEGER);"},
                             {2, "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);"}};
  auto r = StateStore::open(tmp.path(), bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().what().find("schema migration 2"), std::string::npos) << r.error().what();
  EXPECT_NE(r.error().what().find("nowhere"), std::string::npos) << r.error().what();
  // Same transaction: neither migration 1 nor the first half of 2 stayed.
  StateStore s = open_ok(tmp.path(), {});
  EXPECT_EQ(s.schema_version(), 0);
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM sqlite_master WHERE name IN ('ok1', 'half')"), 0);
}

TEST(StateStore, MigrationVersionsMustCount) {
  test::TempDir tmp;
  auto r = StateStore::open(tmp.path(), {{1, "SELECT 1"}, {3, "SELECT 1"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status(), Exit::software);
}

TEST(StateStore, QueryWithParams) {
  test::TempDir tmp;
  StateStore s = open_ok(tmp.path());
  ASSERT_TRUE(s.exec("CREATE TABLE t (name TEXT, n INTEGER, f REAL, z TEXT)").ok());
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(s.query("INSERT INTO t VALUES (?1, ?2, ?3, ?4)",
                        {std::string("row") + std::to_string(i), std::int64_t{i}, i * 0.5,
                         std::monostate{}})
                    .ok());
  // A quote in a parameter is data, not SQL.
  ASSERT_TRUE(
      s.query("INSERT INTO t VALUES (?1, 99, 0, '')", {std::string("o'; DROP TABLE t; --")}).ok());

  auto rows = s.query("SELECT name, n, f, z FROM t WHERE n >= ?1 AND n < ?2 ORDER BY n",
                      {std::int64_t{2}, std::int64_t{4}});
  ASSERT_TRUE(rows.ok()) << rows.error().what();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(as_text((*rows)[0][0]), "row2");
  EXPECT_EQ(as_int((*rows)[0][1]), 2);
  EXPECT_DOUBLE_EQ(std::get<double>((*rows)[0][2]), 1.0);
  EXPECT_TRUE(std::holds_alternative<std::monostate>((*rows)[0][3]));
  EXPECT_EQ(as_text((*rows)[1][0]), "row3");

  EXPECT_EQ(scalar(s, "SELECT count(*) FROM t WHERE name = ?1", {std::string("o'; DROP TABLE t; --")}),
            1);
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM t WHERE z = ?1", {std::string()}), 1);  // '' not NULL
  auto none = s.query("SELECT * FROM t WHERE name = ?1", {std::string("missing")});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(StateStore, StatementErrors) {
  test::TempDir tmp;
  StateStore s = open_ok(tmp.path());
  auto syntax = s.query("SELEC 1");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().status(), Exit::software);
  EXPECT_NE(syntax.error().what().find("SELEC 1"), std::string::npos) << syntax.error().what();

  auto two = s.prepare("SELECT 1; SELECT 2");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().status(), Exit::software);
  EXPECT_TRUE(s.prepare("SELECT 1;  ").ok());

  auto bind = s.prepare("SELECT ?1");
  ASSERT_TRUE(bind.ok());
  bind->bind(7, std::int64_t{1});  // no such parameter
  auto step = bind->step();
  ASSERT_FALSE(step.ok());
  EXPECT_NE(step.error().what().find("bind parameter 7"), std::string::npos)
      << step.error().what();

  ASSERT_TRUE(s.exec("CREATE TABLE u (k TEXT PRIMARY KEY)").ok());
  ASSERT_TRUE(s.exec("INSERT INTO u VALUES ('a')").ok());
  auto dup = s.exec("INSERT INTO u VALUES ('a')");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().status(), Exit::data);
}

TEST(StateStore, StmtColumns) {
  test::TempDir tmp;
  StateStore s = open_ok(tmp.path());
  auto st = s.prepare("SELECT ?1, ?2, ?3, ?4");
  ASSERT_TRUE(st.ok());
  st->bind(1, std::int64_t{1} << 40).bind(2, 2.5).bind(3, std::string_view("t\0x", 3)).bind_null(4);
  auto row = st->step();
  ASSERT_TRUE(row.ok()) << row.error().what();
  ASSERT_TRUE(*row);
  EXPECT_EQ(st->columns(), 4);
  EXPECT_EQ(st->col_int(0), std::int64_t{1} << 40);
  EXPECT_DOUBLE_EQ(st->col_double(1), 2.5);
  EXPECT_EQ(st->col_text(2), std::string("t\0x", 3));  // embedded NUL kept
  EXPECT_TRUE(st->col_null(3));
  EXPECT_FALSE(st->col_null(0));
  EXPECT_EQ(st->col_text(3), "");
  auto done = st->step();
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(*done);
}

TEST(StateStore, ImmediateCommitsOrRollsBack) {
  test::TempDir tmp;
  StateStore s = open_ok(tmp.path());
  auto ok = s.immediate([&]() -> Result<void> {
    return s.exec("INSERT INTO meta VALUES ('kept', '1')");
  });
  ASSERT_TRUE(ok.ok()) << ok.error().what();

  auto failed = s.immediate([&]() -> Result<void> {
    FAAS_TRY(s.exec("INSERT INTO meta VALUES ('dropped', '1')"));
    return Error(Exit::temp, "pool empty");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().status(), Exit::temp);  // fn's error, unchanged
  EXPECT_EQ(failed.error().msg(), "pool empty");

  EXPECT_THROW((void)s.immediate([&]() -> Result<void> {
    (void)s.exec("INSERT INTO meta VALUES ('thrown', '1')");
    throw std::runtime_error("bug");
  }),
               std::runtime_error);

  EXPECT_EQ(scalar(s, "SELECT count(*) FROM meta WHERE key = 'kept'"), 1);
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM meta WHERE key IN ('dropped', 'thrown')"), 0);
  // No transaction was left open: another one starts.
  EXPECT_TRUE(s.immediate([] { return Result<void>(); }).ok());
}

TEST(StateStore, ImmediateIsNotNestable) {
  test::TempDir tmp;
  StateStore s = open_ok(tmp.path());
  Result<void> inner;
  auto outer = s.immediate([&]() -> Result<void> {
    inner = s.immediate([] { return Result<void>(); });
    return {};
  });
  EXPECT_TRUE(outer.ok());
  ASSERT_FALSE(inner.ok());
  EXPECT_EQ(inner.error().status(), Exit::software);
}

TEST(StateStore, BusyIsTemporary) {
  test::TempDir tmp;
  StateStore holder = open_ok(tmp.path());
  StateStore waiter = open_ok(tmp.path());
  // The default is 5 s; the test needs no more than a moment.
  ASSERT_TRUE(waiter.exec("PRAGMA busy_timeout = 50").ok());
  ASSERT_TRUE(holder.exec("CREATE TABLE pool (id TEXT, state TEXT, holder_pid INTEGER,"
                          " holder_start INTEGER, claimed_at INTEGER)")
                  .ok());
  ASSERT_TRUE(holder.exec("INSERT INTO pool (id, state) VALUES ('a', 'free')").ok());
  Result<void> blocked;
  Result<std::optional<std::string>> blocked_claim = std::optional<std::string>();
  auto r = holder.immediate([&]() -> Result<void> {
    blocked = waiter.immediate([] { return Result<void>(); });
    blocked_claim = waiter.claim("pool", "state = 'free'", {}, "busy", Holder{1, 1});
    return {};
  });
  ASSERT_TRUE(r.ok()) << r.error().what();
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().status(), Exit::temp);
  ASSERT_FALSE(blocked_claim.ok());
  EXPECT_EQ(blocked_claim.error().status(), Exit::temp);
  EXPECT_NE(blocked_claim.error().what().find("claim a row of `pool`"), std::string::npos)
      << blocked_claim.error().what();
  // Once the lock is gone the waiter proceeds.
  auto later = waiter.claim("pool", "state = 'free'", {}, "busy", Holder{1, 1});
  ASSERT_TRUE(later.ok()) << later.error().what();
  EXPECT_EQ(later->value_or(""), "a");
}

TEST(StateStore, ClaimPicksFirstMatchingRow) {
  test::TempDir tmp;
  StateStore s = open_ok(tmp.path());
  ASSERT_TRUE(s.exec(kPoolTable).ok());
  ASSERT_TRUE(s.exec("INSERT INTO pool (id, pool, state) VALUES"
                     " ('a', 'hello', 'warm'), ('b', 'other', 'warm'),"
                     " ('c', 'hello', 'warm'), ('d', 'hello', 'broken')")
                  .ok());
  const Holder me{4242, 777};
  const std::int64_t t0 = unix_ms();
  auto first = s.claim("pool", "pool = ?1 AND state = ?2", {std::string("hello"), std::string("warm")},
                       "busy", me);
  ASSERT_TRUE(first.ok()) << first.error().what();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ(**first, "a");
  auto rows = s.query("SELECT state, holder_pid, holder_start, claimed_at FROM pool WHERE id = 'a'");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(as_text((*rows)[0][0]), "busy");
  EXPECT_EQ(as_int((*rows)[0][1]), 4242);
  EXPECT_EQ(as_int((*rows)[0][2]), 777);
  EXPECT_GE(as_int((*rows)[0][3]), t0);
  EXPECT_LE(as_int((*rows)[0][3]), unix_ms());

  auto second = s.claim("pool", "pool = ?1 AND state = ?2",
                        {std::string("hello"), std::string("warm")}, "busy", me);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->value_or(""), "c");  // b belongs to another pool, d is broken
  auto none = s.claim("pool", "pool = ?1 AND state = ?2",
                      {std::string("hello"), std::string("warm")}, "busy", me);
  ASSERT_TRUE(none.ok()) << none.error().what();
  EXPECT_FALSE(none->has_value());
  // Untouched rows keep no holder.
  EXPECT_EQ(scalar(s, "SELECT count(*) FROM pool WHERE holder_pid IS NULL"), 2);
  // An empty condition matches any row.
  auto any = s.claim("pool", "", {}, "gone", me);
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->value_or(""), "a");
}

TEST(StateStore, ClaimRefusesOddTableNames) {
  test::TempDir tmp;
  StateStore s = open_ok(tmp.path());
  for (const char* t : {"", "pool; DROP TABLE meta", "1pool", "po ol"}) {
    auto r = s.claim(t, "1", {}, "busy", Holder{1, 1});
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_EQ(r.error().status(), Exit::software);
  }
  auto missing = s.claim("nosuch", "1", {}, "busy", Holder{1, 1});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().status(), Exit::software);
}

// ---- Several processes at once ----
//
// Each child opens its own StateStore: a connection must not cross fork(),
// so the parent holds none while children run.

// Forks n children that wait until release() and then run fn; collects
// their exit statuses.
class Crowd {
 public:
  template <class F>
  Crowd(int n, F fn) {
    barrier_ = test::make_pipe();
    for (int i = 0; i < n; ++i) {
      pid_t pid = ::fork();
      if (pid < 0) {
        ADD_FAILURE() << "fork: " << std::strerror(errno);
        break;
      }
      if (pid == 0) {
        barrier_.wr.reset();
        char ch;
        while (::read(barrier_.rd.get(), &ch, 1) < 0 && errno == EINTR) {
        }
        int status = 1;
        try {
          status = fn(i);
        } catch (...) {
          status = 3;
        }
        ::_exit(status);
      }
      pids_.push_back(pid);
    }
  }
  Crowd(const Crowd&) = delete;
  Crowd& operator=(const Crowd&) = delete;
  ~Crowd() { (void)join(); }

  // Lets every child go at the same moment: EOF on the barrier pipe.
  void release() { barrier_.wr.reset(); }
  const std::vector<pid_t>& pids() const { return pids_; }
  std::vector<int> join() {
    release();
    std::vector<int> out;
    for (pid_t p : pids_) out.push_back(test::wait_pid(p));
    pids_.clear();
    return out;
  }

 private:
  test::Pipe barrier_;
  std::vector<pid_t> pids_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(StateStoreConcurrency, EveryRowClaimedExactlyOnce) {
  constexpr int kRows = 200;
  constexpr int kProcs = 16;
  test::TempDir tmp;
  const fs::path dir = tmp / "state";
  std::set<std::string> all_ids;
  {
    StateStore s = open_ok(dir);
    ASSERT_TRUE(s.exec(kPoolTable).ok());
    auto r = s.immediate([&]() -> Result<void> {
      for (int i = 0; i < kRows; ++i) {
        std::string id = new_id();
        all_ids.insert(id);
        FAAS_TRY(s.query("INSERT INTO pool (id, pool, state) VALUES (?1, 'p', 'warm')", {id}));
      }
      return {};
    });
    ASSERT_TRUE(r.ok()) << r.error().what();
    ASSERT_EQ(all_ids.size(), static_cast<std::size_t>(kRows));
  }  // closed before fork

  Crowd crowd(kProcs, [&](int i) {
    std::ofstream out(tmp / ("claims-" + std::to_string(i)));
    auto s = StateStore::open(dir);
    if (!s) {
      out << "ERROR " << s.error().what() << "\n";
      return 10;
    }
    auto me = self_holder();
    if (!me) return 11;
    for (;;) {
      auto got = s->claim("pool", "pool = ?1 AND state = ?2", {std::string("p"), std::string("warm")},
                          "busy", *me);
      if (!got) {
        out << "ERROR " << got.error().what() << "\n";
        return 12;
      }
      if (!got->has_value()) break;
      out << **got << "\n";
    }
    out.close();
    return out ? 0 : 13;
  });
  const std::vector<pid_t> pids = crowd.pids();
  ASSERT_EQ(pids.size(), static_cast<std::size_t>(kProcs));
  std::vector<int> statuses = crowd.join();

  std::map<std::string, int> claimed_by;  // id -> child index
  int claims = 0;
  for (int i = 0; i < kProcs; ++i) {
    std::string text = read_file(tmp / ("claims-" + std::to_string(i)));
    EXPECT_EQ(statuses[static_cast<std::size_t>(i)], 0) << "child " << i << ": " << text;
    std::istringstream lines(text);
    for (std::string id; std::getline(lines, id);) {
      ++claims;
      EXPECT_TRUE(all_ids.count(id)) << "unknown id " << id;
      auto [it, fresh] = claimed_by.emplace(id, i);
      EXPECT_TRUE(fresh) << id << " claimed by children " << it->second << " and " << i;
    }
  }
  EXPECT_EQ(claims, kRows);
  EXPECT_EQ(claimed_by.size(), static_cast<std::size_t>(kRows));

  // The database agrees: every row busy, held by the child that reported it.
  StateStore s = open_ok(dir);
  auto rows = s.query("SELECT id, state, holder_pid FROM pool");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), static_cast<std::size_t>(kRows));
  for (const auto& row : *rows) {
    const std::string id = as_text(row[0]);
    EXPECT_EQ(as_text(row[1]), "busy") << id;
    auto it = claimed_by.find(id);
    ASSERT_NE(it, claimed_by.end()) << id << " claimed by nobody";
    EXPECT_EQ(as_int(row[2]), pids[static_cast<std::size_t>(it->second)]) << id;
  }
}

TEST(StateStoreConcurrency, FreshDirOpenedAtOnce) {
  constexpr int kProcs = 8;
  std::vector<Migration> migrations = schema_migrations();
  // More than one migration, so that a lost race would show as a half
  // migrated database or a "table already exists".
  migrations.push_back({static_cast<int>(migrations.size()) + 1,
                        "CREATE TABLE extra (x INTEGER); INSERT INTO extra VALUES (1);"});
  const int latest = static_cast<int>(migrations.size());
  for (int round = 0; round < 5; ++round) {
    test::TempDir tmp;
    const fs::path dir = tmp / "fresh/state";
    Crowd crowd(kProcs, [&](int i) {
      auto s = StateStore::open(dir, migrations, dir / "run");
      if (!s) {
        std::ofstream(tmp / ("err-" + std::to_string(i))) << s.error().what() << "\n";
        return 10;
      }
      return s->schema_version() == latest ? 0 : 11;
    });
    std::vector<int> statuses = crowd.join();
    for (int i = 0; i < kProcs; ++i)
      EXPECT_EQ(statuses[static_cast<std::size_t>(i)], 0)
          << "round " << round << " child " << i << ": "
          << read_file(tmp / ("err-" + std::to_string(i)));
    StateStore s = open_ok(dir, migrations);
    EXPECT_EQ(s.schema_version(), latest);
    EXPECT_EQ(scalar(s, "SELECT count(*) FROM extra"), 1);  // migrated once
  }
}

// Each open is a first connection (nothing else has the database open), as
// with one short tool after another: the WAL, kept across them, must not
// grow with every commit.
TEST(StateStore, WalStaysBoundedAcrossSequentialWriters) {
  test::TempDir tmp;
  std::uintmax_t largest = 0;
  for (int i = 0; i < 300; ++i) {
    StateStore s = open_ok(tmp.path());
    auto r = s.immediate([&]() -> Result<void> {
      FAAS_TRY(s.query("INSERT OR REPLACE INTO meta VALUES (?1, 'x')", {"k" + std::to_string(i % 7)}));
      return {};
    });
    ASSERT_TRUE(r.ok()) << r.error().what();
    largest = std::max(largest, fs::file_size(tmp / "state.db-wal"));
  }
  EXPECT_LT(largest, 100u * (4096 + 24)) << "frames: " << largest / (4096 + 24);
}

// ---- the split: state.db (configuration) and run.db (runtime) ----

std::set<std::string> tables_of(StateStore& s) {
  auto rows = s.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  if (!rows) throw std::runtime_error(rows.error().what());
  std::set<std::string> out;
  for (const auto& r : *rows) out.insert(as_text(r[0]));
  return out;
}

TEST(StateSplit, FreshRunDir) {
  test::TempDir tmp;
  const fs::path run = tmp / "run/faas";
  auto r = StateStore::open_run(run);
  ASSERT_TRUE(r.ok()) << r.error().what();
  EXPECT_TRUE(r->created());
  EXPECT_TRUE(fs::exists(run / "run.db"));
  EXPECT_FALSE(fs::exists(run / "state.db"));
  struct stat st {};
  ASSERT_EQ(::stat(run.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(as_text((*r->query("PRAGMA journal_mode"))[0][0]), "wal");
  EXPECT_EQ(scalar(*r, "PRAGMA synchronous"), 0);  // OFF: see StateStore::open_file
  EXPECT_EQ(r->schema_version(), static_cast<int>(run_schema_migrations().size()));
  EXPECT_EQ(tables_of(*r), (std::set<std::string>{"acquire_samples", "forks", "netns", "netns_addresses",
                                                   "netns_pools", "pool_stats", "sandboxes"}));
  r = StateStore::open_run(run);
  ASSERT_TRUE(r.ok()) << r.error().what();
  EXPECT_FALSE(r->created());

  // A fresh state dir: configuration only.
  StateStore cfg = open_ok(tmp / "state");
  EXPECT_EQ(tables_of(cfg), (std::set<std::string>{"meta", "pools", "templates"}));
  EXPECT_EQ(scalar(cfg, "SELECT count(*) FROM pragma_table_info('pools') WHERE name = 'hits'"), 0);
  EXPECT_EQ(scalar(cfg, "SELECT count(*) FROM pragma_table_info('pools') WHERE name = 'min_warm'"), 1);
}

TEST(StateSplit, RunDbOfANewerBuildIsConfigError) {
  test::TempDir tmp;
  {
    auto r = StateStore::open_run(tmp / "run");
    ASSERT_TRUE(r.ok()) << r.error().what();
    ASSERT_TRUE(r->exec("PRAGMA user_version = 99").ok());
  }
  auto r = StateStore::open_run(tmp / "run");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status(), Exit::config);
  EXPECT_NE(r.error().what().find("run database"), std::string::npos) << r.error().what();
  EXPECT_NE(r.error().what().find("version 99"), std::string::npos) << r.error().what();
  EXPECT_NE(r.error().what().find("another run directory"), std::string::npos) << r.error().what();
  auto both = Stores::open(tmp / "state", tmp / "run");
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().status(), Exit::config);
}

TEST(StateSplit, MigrationIntoRunDbNeedsTheRunDir) {
  test::TempDir tmp;
  auto s = StateStore::open(tmp / "state");  // no run dir
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().status(), Exit::software);
  // Nothing half done: version 0 still, so a later open with the run dir
  // migrates it whole.
  StateStore ok = open_ok(tmp / "state");
  EXPECT_EQ(ok.schema_version(), static_cast<int>(schema_migrations().size()));
}

TEST(StateSplit, HotPathOpensOnlyRunDb) {
  test::TempDir tmp;
  { StateStore cfg = open_ok(tmp / "state"); }
  ASSERT_TRUE(StateStore::open_run(tmp / "run").ok());
  auto st = Stores::open(tmp / "state", tmp / "run");
  ASSERT_TRUE(st.ok()) << st.error().what();
  EXPECT_FALSE(st->state_opened());
  auto cfg = st->state();
  ASSERT_TRUE(cfg.ok()) << cfg.error().what();
  EXPECT_TRUE(st->state_opened());
  EXPECT_EQ(tables_of(**cfg), (std::set<std::string>{"meta", "pools", "templates"}));
}

// A state.db from before the split (version 6) whose runtime rows describe
// live objects: its rows move to run.db, the tables leave state.db, and
// the pools keep their configuration.
TEST(StateSplit, UpgradeFromVersion6MovesRuntimeRows) {
  test::TempDir tmp;
  const fs::path state = tmp / "state", run = tmp / "run";
  std::vector<Migration> v6(schema_migrations().begin(), schema_migrations().begin() + 6);
  {
    auto old = StateStore::open(state, v6);
    ASSERT_TRUE(old.ok()) << old.error().what();
    ASSERT_EQ(old->schema_version(), 6);
    auto seeded = old->exec(
        "INSERT INTO meta VALUES ('owner', 'test');"
        "INSERT INTO templates VALUES ('hello', 'native', '{\"name\":\"hello\"}', 1);"
        "INSERT INTO pools (name, template, size, hits, misses, created_at, samples, sample_us_sum,"
        "  last_acquire_at, idle_ttl_ms, min_warm) VALUES ('hello', 'hello', 3, 7, 2, 1, 7, 700, 99, 5000, 1);"
        "INSERT INTO forks (id, method, base, parent, depth, lowers, tmpfs_bytes, state, holder_pid,"
        "  holder_start, created_at, sandbox) VALUES ('f1', 'overlay', '/b', NULL, 1, '[\"/b\"]', 0,"
        "  'ready', 10, 11, 12, 's1');"
        "INSERT INTO netns_pools VALUES ('np', 't1', '10.0.0.0/24', 'fbt1', 1500, 2, 'ready', 0, 0, 1);"
        "INSERT INTO netns (id, pool, name, host_if, state, created_at) VALUES ('n1', 'np', 'fnt1-0',"
        "  'fvt1-0', 'ready', 1);"
        "INSERT INTO netns_addresses VALUES (167772162, 'np', 'n1');"
        "INSERT INTO sandboxes (id, pool, template, state, pid, pid_start, cgroup, created_at, idle_since)"
        "  VALUES ('s1', 'hello', 'hello', 'claimed', 42, 43, 'faas/s1', 1, 2);"
        "INSERT INTO acquire_samples VALUES ('hello', 0, 100, 1);");
    ASSERT_TRUE(seeded.ok()) << seeded.error().what();
  }
  auto st = Stores::open(state, run);  // a new run.db: the state.db is migrated too
  ASSERT_TRUE(st.ok()) << st.error().what();
  EXPECT_TRUE(st->state_opened());
  StateStore& r = st->run();
  EXPECT_EQ(scalar(r, "SELECT count(*) FROM forks WHERE id = 'f1' AND sandbox = 's1' AND lowers = '[\"/b\"]'"
                      " AND holder_pid = 10 AND holder_start = 11"), 1);
  EXPECT_EQ(scalar(r, "SELECT count(*) FROM netns_pools WHERE name = 'np' AND bridge = 'fbt1'"), 1);
  EXPECT_EQ(scalar(r, "SELECT count(*) FROM netns WHERE id = 'n1' AND host_if = 'fvt1-0'"), 1);
  EXPECT_EQ(scalar(r, "SELECT addr FROM netns_addresses WHERE netns = 'n1'"), 167772162);
  EXPECT_EQ(scalar(r, "SELECT count(*) FROM sandboxes WHERE id = 's1' AND state = 'claimed' AND pid = 42"
                      " AND idle_since = 2 AND spec = ''"), 1);
  EXPECT_EQ(scalar(r, "SELECT us FROM acquire_samples WHERE pool = 'hello' AND slot = 0"), 100);
  EXPECT_EQ(scalar(r, "SELECT size * 1000000 + hits * 10000 + misses * 1000 + samples * 100 + (sample_us_sum = 700)"
                      " * 10 + (last_acquire_at = 99) FROM pool_stats WHERE pool = 'hello'"),
            3 * 1000000 + 7 * 10000 + 2 * 1000 + 7 * 100 + 10 + 1);

  auto cfg = st->state();
  ASSERT_TRUE(cfg.ok());
  StateStore& c = **cfg;
  EXPECT_EQ(c.schema_version(), static_cast<int>(schema_migrations().size()));
  EXPECT_EQ(tables_of(c), (std::set<std::string>{"meta", "pools", "templates"}));
  EXPECT_EQ(scalar(c, "SELECT size * 10000 + idle_ttl_ms + min_warm FROM pools WHERE name = 'hello'"),
            3 * 10000 + 5000 + 1);
  EXPECT_EQ(scalar(c, "SELECT count(*) FROM pragma_table_info('pools') WHERE name IN "
                      "('hits', 'misses', 'samples', 'sample_us_sum', 'last_acquire_at')"), 0);
  EXPECT_EQ(scalar(c, "SELECT count(*) FROM templates"), 1);
  EXPECT_EQ(scalar(c, "SELECT count(*) FROM meta"), 1);
  // Nothing left attached to the state connection.
  EXPECT_EQ(scalar(c, "SELECT count(*) FROM pragma_database_list WHERE name = 'run'"), 0);

  // Opened again: nothing moves twice.
  st = Stores::open(state, run);
  ASSERT_TRUE(st.ok()) << st.error().what();
  EXPECT_FALSE(st->state_opened());
  EXPECT_EQ(scalar(st->run(), "SELECT count(*) FROM forks"), 1);
}

TEST(NewId, TwelveHexCharsAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = new_id();
    ASSERT_EQ(id.size(), 12u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(DefaultDirs, EnvironmentThenDefaults) {
  ::unsetenv("FAAS_STATE_DIR");
  ::unsetenv("FAAS_RUN_DIR");
  EXPECT_EQ(default_state_dir(), "/var/lib/faas");
  EXPECT_EQ(default_run_dir(), "/run/faas");
  ::setenv("FAAS_STATE_DIR", "/srv/faas-state", 1);
  ::setenv("FAAS_RUN_DIR", "/srv/faas-run", 1);
  EXPECT_EQ(default_state_dir(), "/srv/faas-state");
  EXPECT_EQ(default_run_dir(), "/srv/faas-run");
  ::setenv("FAAS_STATE_DIR", "", 1);
  EXPECT_EQ(default_state_dir(), "/var/lib/faas");
  ::unsetenv("FAAS_STATE_DIR");
  ::unsetenv("FAAS_RUN_DIR");
}

}  // namespace
}  // namespace faas
