#include "fork_cmd.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

#include "faas/fork_state.hpp"
#include "faas/holder.hpp"
#include "faas/log.hpp"
#include "faas/records.hpp"
#include "faas/sandbox_pool.hpp"
#include "faas/scope_exit.hpp"
#include "faas/state.hpp"
#include "faas/table.hpp"
#include "faas/timing.hpp"
#include "faas/units.hpp"

namespace faas::fork {

namespace fs = std::filesystem;

namespace {

// While a fork is made or taken apart, SIGINT, SIGTERM, SIGHUP and SIGQUIT
// only raise a flag (a Ctrl-C in a pipeline must not leave half a fork): a
// fork being made is then undone, and the signal is raised again, with its
// default action, once the guard goes.
std::atomic<bool> g_interrupted{false};
volatile sig_atomic_t g_signal = 0;

extern "C" void note_signal(int sig) {
  g_signal = sig;
  g_interrupted.store(true, std::memory_order_relaxed);
}

class SignalsDeferred {
 public:
  SignalsDeferred() {
    struct sigaction sa {};
    sa.sa_handler = note_signal;
    sigemptyset(&sa.sa_mask);
    for (std::size_t i = 0; i < kSignals.size(); ++i) {
      ::sigaction(kSignals[i], &sa, &old_[i]);
      // An ignored signal stays ignored (SIGINT in a background job).
      if (old_[i].sa_handler == SIG_IGN) ::sigaction(kSignals[i], &old_[i], nullptr);
    }
  }
  SignalsDeferred(const SignalsDeferred&) = delete;
  SignalsDeferred& operator=(const SignalsDeferred&) = delete;
  ~SignalsDeferred() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
    const int sig = g_signal;
    if (sig == 0) return;
    g_signal = 0;
    g_interrupted.store(false, std::memory_order_relaxed);
    ::raise(sig);  // an outer guard notes it again; otherwise the default action
  }

 private:
  static constexpr std::array<int, 4> kSignals{SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  std::array<struct sigaction, 4> old_{};
};

// What a new fork starts from: a directory, or a fork found in state.
// A sandbox record's fork belongs to that sandbox (its release removes it)
// and, unless --holder says otherwise, to the sandbox's claim holder.
struct Origin {
  fs::path base;
  std::optional<ForkRow> parent;
  std::string sandbox;
  Holder sandbox_holder;
};

class Forker {
 public:
  Forker(const CommonOptions& c, const Options& o) : c_(c), o_(o) {}

  Result<Exit> run() {
    switch (o_.command) {
      case Command::create: return create();
      case Command::rm: return rm();
      case Command::ls: return ls();
      case Command::gc: return gc();
    }
    return Error(Exit::software, "unknown command");
  }

 private:
  // ---- shared ----

  Result<void> open_state() {
    // Fork rows live in the run dir (they describe mounts), a file each;
    // their directories stay under the state dir, on the filesystem btrfs
    // snapshots and reflinks need. No database is opened, but run.db for a
    // record that names a sandbox (stores()).
    FAAS_TRY_ASSIGN(StateDirs dirs, state_dirs(c_));
    state_dir_ = std::move(dirs.state);
    run_dir_ = std::move(dirs.run);
    FAAS_TRY_ASSIGN(auto rows, ForkRows::open(run_dir_));
    rows_.emplace(std::move(rows));
    root_ = forks_root(state_dir_);
    auto forks = open_forks_root(root_);
    if (!forks) {
      // No state dir yet? state.db, which would have made it, is not opened here.
      FAAS_TRY(make_state_dir(state_dir_, "state directory"));
      forks = open_forks_root(root_);
    }
    FAAS_TRY_ASSIGN(root_fd_, std::move(forks));
    return {};
  }

  // This process as a holder, read once when first needed (an overlay
  // fork, held by its parent, never needs it).
  Result<Holder> self() {
    if (!self_) {
      FAAS_TRY_ASSIGN(Holder h, self_holder());
      self_ = h;
    }
    return *self_;
  }

  static Result<void> require_root(const char* what) {
    if (::geteuid() != 0)
      return Error(Exit::no_perm, std::string(what) +
                                      ": must be root (mounts, snapshots and keeping file owners "
                                      "need CAP_SYS_ADMIN and CAP_CHOWN)");
    return {};
  }

  // stdin carries records unless it is a terminal or closed.
  static bool stdin_open_for_records() {
    return ::fcntl(0, F_GETFD) >= 0 && stdin_has_records();
  }

  Json fork_json(const ForkRow& row, const ForkLayout& l) const {
    Json f = Json::object();
    f["id"] = row.id;
    f["method"] = fork_method_name(row.method);
    f["base"] = row.base;
    f["merged"] = l.merged.string();
    f["upper"] = l.upper.empty() ? Json(nullptr) : Json(l.upper.string());
    f["work"] = l.work.empty() ? Json(nullptr) : Json(l.work.string());
    f["holder"] = Json{{"pid", row.holder.pid}, {"start_time", row.holder.start_time}};
    f["depth"] = row.depth;
    if (!row.parent.empty()) f["parent"] = row.parent;
    if (!row.sandbox.empty()) f["sandbox"] = row.sandbox;
    if (row.tmpfs_bytes > 0) f["upper_tmpfs"] = row.tmpfs_bytes;
    return f;
  }

  ForkLayout layout_of(const ForkRow& row) const {
    return fork_layout(fork_dir(state_dir_, row.id), row.method, row.tmpfs_bytes);
  }

  // A record's paths are information: when they disagree with the state,
  // the record is refused rather than believed.
  Result<void> check_record_paths(const ForkRow& row, const Json* rec_fork) const {
    if (rec_fork == nullptr || !rec_fork->is_object()) return {};
    ForkLayout l = layout_of(row);
    const std::pair<const char*, std::string> known[] = {
        {"merged", l.merged.string()}, {"upper", l.upper.string()},
        {"work", l.work.string()}, {"base", row.base}};
    for (const auto& [key, want] : known) {
      auto it = rec_fork->find(key);
      if (it == rec_fork->end() || it->is_null()) continue;
      if (!it->is_string() || it->get<std::string>() != want)
        return Error(Exit::data, "fork " + q(row.id) + ": the record's fork." + key + " " +
                                     q(it->dump()) + " is not this fork's " +
                                     q(want.empty() ? "null" : want) + ": refusing the record");
    }
    return {};
  }

  // Held while a fork directory has no row (see fork_state.hpp).
  struct Unlock {
    int fd;
    void operator()() const { unlock_forks(fd); }
  };
  Result<ScopeExit<Unlock>> lock_shared() {
    FAAS_TRY(lock_forks_shared(root_fd_.get()));
    return ScopeExit<Unlock>(Unlock{root_fd_.get()});
  }

  Result<ForkRow> find_fork(const std::string& id) {
    // An ID that new_id() cannot make is never in state, and never a path.
    if (valid_fork_id(id)) {
      FAAS_TRY_ASSIGN(auto row, fork_find(*rows_, id));
      if (row) return std::move(*row);
    }
    return Error(Exit::no_input, "fork " + q(id) + " not found in state");
  }

  // ---- create ----

  Result<ForkMethod> method() const {
    const std::pair<bool, const char*> flags[] = {{o_.overlay, "--overlay"}, {o_.btrfs, "--btrfs"},
                                                  {o_.reflink, "--reflink"}, {o_.copy, "--copy"},
                                                  {o_.automatic, "--auto"}};
    const char* first = nullptr;
    for (const auto& [set, name] : flags) {
      if (!set) continue;
      if (first != nullptr)
        return Error(Exit::usage, std::string(first) + " conflicts with " + name + ": give one method");
      first = name;
    }
    if (o_.overlay) return ForkMethod::overlay;
    if (o_.btrfs) return ForkMethod::btrfs;
    if (o_.reflink) return ForkMethod::reflink;
    if (o_.copy) return ForkMethod::copy;
    return ForkMethod::automatic;
  }

  Result<Origin> origin_of_dir(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return sys_error("base " + q(dir), Exit::no_input);
    if (!S_ISDIR(st.st_mode)) return Error(Exit::data, "base " + q(dir) + " is not a directory");
    std::error_code ec;
    fs::path real = fs::canonical(dir, ec);
    if (ec) return sys_error(ec.value(), "base " + q(dir));
    fs::path sroot = fs::canonical(state_dir_, ec);
    if (!ec) {
      auto [end, it] = std::mismatch(sroot.begin(), sroot.end(), real.begin(), real.end());
      if (end == sroot.end()) {
        // Inside the state dir: only a fork's merged tree, taken as that fork.
        fs::path rel = real.lexically_relative(fs::canonical(root_, ec));
        auto parts = std::vector<fs::path>(rel.begin(), rel.end());
        if (parts.size() == 2 && parts[1] == "merged" && valid_fork_id(parts[0].string()))
          return origin_of_fork(parts[0].string(), nullptr);
        return Error(Exit::data, "base " + q(dir) + " is inside the state dir " +
                                     q(sroot.string()) + ": name a fork by its ID instead");
      }
    }
    return Origin{real, std::nullopt, {}, {}};
  }

  Result<Origin> origin_of_fork(const std::string& id, const Json* rec_fork) {
    FAAS_TRY_ASSIGN(auto row, find_fork(id));
    FAAS_TRY(check_record_paths(row, rec_fork));
    if (row.state != kForkReady)
      return Error(Exit::temp, "fork " + q(id) + " is " + row.state);
    fs::path merged = layout_of(row).merged;
    return Origin{merged, std::move(row), {}, {}};
  }

  Result<Origin> origin_of_record(const Json& rec) {
    auto f = rec.find("fork");
    if (f != rec.end() && f->is_object() && f->contains("id")) {
      const Json& id = (*f)["id"];
      if (!id.is_string()) return Error(Exit::data, "fork.id is not a string");
      return origin_of_fork(id.get<std::string>(), &*f);
    }
    auto s = rec.find("sandbox");
    if (s != rec.end() && s->is_object() && s->contains("id")) {
      const Json& id = (*s)["id"];
      if (!id.is_string()) return Error(Exit::data, "sandbox.id is not a string");
      return origin_of_sandbox(id.get<std::string>(), *s);
    }
    return Error(Exit::data, "the record names no fork or sandbox to fork (or give --base)");
  }

  // The rootfs of an acquired sandbox, from its row in state: the record's
  // own sandbox.rootfs is only compared, never used.
  Result<Origin> origin_of_sandbox(const std::string& id, const Json& rec_sandbox) {
    std::optional<SandboxRow> row;
    // Sandbox IDs are what new_id() makes, like fork IDs.
    if (valid_fork_id(id)) {
      FAAS_TRY_ASSIGN(Holder me, self());
      if (!stores_) {
        FAAS_TRY_ASSIGN(auto st, Stores::open(state_dir_, run_dir_));
        stores_.emplace(std::move(st));
      }
      if (!pools_) pools_.emplace(*stores_, fs::path{}, me);
      FAAS_TRY_ASSIGN(row, pools_->find(id));
    }
    if (!row) return Error(Exit::no_input, "sandbox " + q(id) + " not found in state");
    auto r = rec_sandbox.find("rootfs");
    if (r != rec_sandbox.end() && !r->is_null() && (!r->is_string() || r->get<std::string>() != row->rootfs))
      return Error(Exit::data, "sandbox " + q(id) + ": the record's sandbox.rootfs " + q(r->dump()) +
                                   " is not this sandbox's " + q(row->rootfs) + ": refusing the record");
    if (row->state != "claimed")
      return Error(Exit::data, "sandbox " + q(id) + " is " + row->state + ", not acquired (faas-pool acquire)");
    FAAS_TRY_ASSIGN(Origin o, origin_of_dir(row->rootfs));
    o.sandbox = row->id;
    o.sandbox_holder = row->holder;
    return o;
  }

  ForkSource source_of(const Origin& o, ForkMethod m) const {
    ForkSource s;
    s.base = o.base;
    if (m != ForkMethod::overlay) return s;  // a new full tree
    if (o.parent && o.parent->method == ForkMethod::overlay) {
      // Stack the parent's upper on the parent's layers.
      s.lowers.push_back(layout_of(*o.parent).upper);
      for (const auto& l : o.parent->lowers) s.lowers.emplace_back(l);
      s.depth = o.parent->depth + 1;
    } else {
      s.lowers.push_back(o.base);
    }
    return s;
  }

  // Forks origin into rec["fork"]; on failure nothing is left behind.
  Result<void> fork_one(Json& rec, const Origin& origin) {
    Stopwatch total;
    FAAS_TRY_ASSIGN(ForkMethod m, method());
    if (m == ForkMethod::automatic) {
      FAAS_TRY_ASSIGN(m, choose_fork_method(origin.base, root_));
    }
    ForkSource src = source_of(origin, m);
    ForkRow row;
    row.id = new_id();
    row.method = m;
    row.base = origin.base.string();
    if (origin.parent) row.parent = origin.parent->id;
    row.sandbox = origin.sandbox;
    const Holder holder = !origin.sandbox.empty() && o_.holder <= 0 ? origin.sandbox_holder : holder_;
    row.depth = src.depth;
    for (const auto& l : src.lowers) row.lowers.push_back(l.string());
    row.tmpfs_bytes = tmpfs_bytes_;
    row.created_at = unix_ms();
    ForkSpec spec{src, m, fork_dir(state_dir_, row.id), forks_spares(state_dir_), tmpfs_bytes_,
                  &g_interrupted};
    if (m == ForkMethod::overlay) return overlay_one(rec, row, spec, holder, total);

    row.state = kForkCreating;
    FAAS_TRY_ASSIGN(row.holder, self());
    Stopwatch sw;
    FAAS_TRY_CTX(fork_insert(*rows_, row), "fork of " + q(row.base));
    std::uint64_t state_us = sw.elapsed_us();
    ScopeExit drop_row([&] { (void)fork_delete(*rows_, row.id); });

    FAAS_TRY_ASSIGN(ForkLayout layout, make_fork(spec));
    ScopeExit unmake([&] { (void)remove_fork(root_, spec.dir); });
    if (g_interrupted.load()) return Error(Exit::temp, "fork of " + q(row.base) + ": interrupted");

    sw.restart();
    FAAS_TRY_CTX(fork_set_state(*rows_, row.id, kForkReady, holder), "fork " + q(row.id));
    state_us += sw.elapsed_us();
    unmake.release();
    drop_row.release();

    row.state = kForkReady;
    row.holder = holder;
    rec["fork"] = fork_json(row, layout);
    if (layout.mount_us > 0) add_timing(rec, c_.tool, "mount", layout.mount_us);
    if (layout.copy_us > 0)
      add_timing(rec, c_.tool, m == ForkMethod::btrfs ? "snapshot" : "clone", layout.copy_us);
    add_timing(rec, c_.tool, "state", state_us);
    add_timing(rec, c_.tool, "total", total.elapsed_us());
    return {};
  }

  // An overlay fork is made in a millisecond: made first, then its row goes
  // in as ready, in one transaction (which checks that a parent is still
  // ready). Until then the shared lock tells gc the directory is not debris.
  Result<void> overlay_one(Json& rec, ForkRow& row, const ForkSpec& spec, const Holder& holder,
                           const Stopwatch& total) {
    FAAS_TRY_ASSIGN(auto locked, lock_shared());
    FAAS_TRY_ASSIGN(ForkLayout layout, make_fork(spec));
    ScopeExit unmake([&] { (void)remove_fork(root_, spec.dir); });
    if (g_interrupted.load()) return Error(Exit::temp, "fork of " + q(row.base) + ": interrupted");
    row.state = kForkReady;
    row.holder = holder;
    Stopwatch sw;
    FAAS_TRY_CTX(fork_insert(*rows_, row), "fork of " + q(row.base));
    const std::uint64_t state_us = sw.elapsed_us();
    unmake.release();

    rec["fork"] = fork_json(row, layout);
    add_timing(rec, c_.tool, "mount", layout.mount_us);
    add_timing(rec, c_.tool, "state", state_us);
    add_timing(rec, c_.tool, "total", total.elapsed_us());
    return {};
  }

  Result<Exit> create() {
    FAAS_TRY(method());
    if (!o_.upper_tmpfs.empty()) {
      auto n = parse_size(o_.upper_tmpfs);
      if (!n || *n == 0)
        return Error(Exit::usage, "--upper-tmpfs " + q(o_.upper_tmpfs) + ": not a size (64M, 1G)");
      tmpfs_bytes_ = *n;
      if (o_.reflink || o_.btrfs)
        return Error(Exit::usage, std::string("--upper-tmpfs conflicts with ") +
                                      (o_.reflink ? "--reflink" : "--btrfs"));
    }
    const bool from_stdin = o_.base.empty();
    if (from_stdin && !stdin_open_for_records())
      return Error(Exit::usage, "nothing to fork: give --base DIR or pipe records on stdin");
    FAAS_TRY(require_root("fork"));
    if (o_.holder > 0) {
      FAAS_TRY_ASSIGN(holder_, holder_of(o_.holder));
    } else {
      FAAS_TRY_ASSIGN(holder_, parent_holder());
    }
    FAAS_TRY(open_state());

    if (!from_stdin) {
      FAAS_TRY_ASSIGN(Origin origin, origin_of_dir(o_.base));
      Json rec = Json::object();
      SignalsDeferred deferred;  // until the record is out
      FAAS_TRY(fork_one(rec, origin));
      FAAS_TRY(out_.write(std::move(rec)));
      return Exit::ok;
    }
    return each_record([&](Json& rec) -> Result<void> {
      FAAS_TRY_ASSIGN(Origin origin, origin_of_record(rec));
      return fork_one(rec, origin);
    });
  }

  // Runs fn on every record of stdin and prints it; a record that already
  // carries an `error` passes through untouched. With --keep-going a failure
  // is printed in the record's `error` and the run goes on.
  template <class F>
  Result<Exit> each_record(F fn) {
    RecordReader in(0);
    Exit status = Exit::ok;
    for (;;) {
      auto next = in.next();
      SignalsDeferred deferred;  // a record is done and printed, or undone
      Json rec = Json::object();
      Result<void> r;
      if (!next) {
        r = std::move(next).error();
      } else if (!next->has_value()) {
        break;
      } else {
        rec = std::move(**next);
        if (rec.contains("error")) {
          FAAS_TRY(out_.write(std::move(rec)));
          continue;
        }
        r = fn(rec);
        if (!r) r.error().wrap(in.source() + " line " + std::to_string(in.line()));
      }
      if (!r) {
        if (!c_.keep_going) return std::move(r).error();
        log_error(r.error().what());
        add_error(rec, c_.tool, r.error());
        if (status == Exit::ok) status = r.error().status();
      }
      FAAS_TRY(out_.write(std::move(rec)));
    }
    return status;
  }

  // ---- rm ----

  Result<RemoveReport> remove_one(const std::string& id, const Json* rec_fork) {
    SignalsDeferred deferred;
    FAAS_TRY_ASSIGN(auto found, find_fork(id));
    FAAS_TRY(check_record_paths(found, rec_fork));
    // The row goes first, in one transaction with the checks; the
    // directory after, under the shared lock: were this process to die in
    // between, gc would find a directory without a row and remove it.
    FAAS_TRY_ASSIGN(auto locked, lock_shared());
    FAAS_TRY_ASSIGN(Holder me, self());
    FAAS_TRY_ASSIGN(auto row, fork_delete_checked(*rows_, id, me));
    FAAS_TRY_ASSIGN(auto report,
                    remove_fork(root_, fork_dir(state_dir_, row.id), forks_spares(state_dir_)));
    for (const auto& n : report.notes) log_warn("fork " + q(row.id) + ": " + n);
    return report;
  }

  static void mark_removed(Json& f, const RemoveReport& report) {
    f["removed"] = true;
    f["detached"] = report.detached;
  }

  Result<Exit> rm() {
    const bool from_stdin = o_.ids.empty();
    if (from_stdin && !stdin_open_for_records())
      return Error(Exit::usage, "rm: give fork IDs or pipe records on stdin");
    FAAS_TRY(require_root("rm"));
    FAAS_TRY(open_state());
    if (from_stdin) {
      return each_record([&](Json& rec) -> Result<void> {
        auto f = rec.find("fork");
        if (f == rec.end() || !f->is_object() || !f->contains("id") || !(*f)["id"].is_string())
          return Error(Exit::data, "the record has no fork.id");
        Stopwatch sw;
        FAAS_TRY_ASSIGN(auto report, remove_one((*f)["id"].get<std::string>(), &*f));
        mark_removed(*f, report);
        add_timing(rec, c_.tool, "rm", sw.elapsed_us());
        return {};
      });
    }
    const bool print = c_.output() == OutputMode::json;
    Exit status = Exit::ok;
    for (const auto& id : o_.ids) {
      Stopwatch sw;
      Json rec = Json::object();
      rec["fork"] = Json{{"id", id}};
      auto r = remove_one(id, nullptr);
      if (r) {
        mark_removed(rec["fork"], *r);
        add_timing(rec, c_.tool, "rm", sw.elapsed_us());
      } else {
        Error e = std::move(r).error().wrap("rm");
        if (!c_.keep_going) return e;
        log_error(e.what());
        add_error(rec, c_.tool, e);
        if (status == Exit::ok) status = e.status();
      }
      if (print) FAAS_TRY(out_.write(std::move(rec)));
    }
    return status;
  }

  // ---- ls ----

  static std::string age(std::int64_t ms) {
    std::int64_t s = std::max<std::int64_t>(0, ms / 1000);
    if (s < 120) return std::to_string(s) + "s";
    if (s < 7200) return std::to_string(s / 60) + "m";
    if (s < 172800) return std::to_string(s / 3600) + "h";
    return std::to_string(s / 86400) + "d";
  }

  Result<Exit> ls() {
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto rows, fork_list(*rows_));
    const std::int64_t now = unix_ms();
    if (c_.output() == OutputMode::table) {
      Table t({"id", "method", "depth", "state", "holder", "age", "base"});
      for (const auto& r : rows) {
        std::string holder = std::to_string(r.holder.pid) + (holder_alive(r.holder) ? "" : " (gone)");
        t.add({r.id, fork_method_name(r.method), std::to_string(r.depth), r.state, holder,
               age(now - r.created_at), r.base});
      }
      std::string text = t.render();
      if (::write(1, text.data(), text.size()) < 0) return sys_error("write", Exit::io);
      return Exit::ok;
    }
    for (const auto& r : rows) {
      Json f = fork_json(r, layout_of(r));
      f["state"] = r.state;
      f["created_at"] = r.created_at;
      f["holder_alive"] = holder_alive(r.holder);
      FAAS_TRY(out_.write(Json{{"fork", std::move(f)}}));
    }
    return Exit::ok;
  }

  // ---- gc ----

  Result<Exit> gc() {
    std::optional<std::int64_t> older;
    if (!o_.older_than.empty()) {
      // Ages also come in days (1d), a unit parse_duration leaves out.
      const std::string& a = o_.older_than;
      auto d = !a.empty() && a.back() == 'd' ? parse_duration(a.substr(0, a.size() - 1) + "h")
                                             : parse_duration(a);
      if (d) older = d->count() * (a.back() == 'd' ? 24 : 1);
      if (!older)
        return Error(Exit::usage, "--older-than " + q(o_.older_than) + ": not a duration (90s, 10m, 2h, 1d)");
    }
    FAAS_TRY(require_root("gc"));
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto rows, fork_list(*rows_));

    const std::int64_t now = unix_ms();
    const bool criteria = older.has_value() || o_.dead_holders;
    std::vector<std::pair<ForkRow, std::string>> doomed;
    for (auto& r : rows) {
      const bool alive = holder_alive(r.holder);
      if (r.state != kForkReady) {
        if (!alive) doomed.emplace_back(r, "interrupted");
        continue;
      }
      if (!criteria) continue;
      if (older && now - r.created_at <= *older) continue;
      if (o_.dead_holders && alive) continue;
      std::string why = older ? "older-than" : "";
      if (o_.dead_holders) why += std::string(why.empty() ? "" : ",") + "dead-holder";
      doomed.emplace_back(r, why);
    }
    // Forks stacked on others go first.
    std::stable_sort(doomed.begin(), doomed.end(),
                     [](const auto& a, const auto& b) { return a.first.depth > b.first.depth; });

    const bool print = c_.output() == OutputMode::json;
    Table table({"id", "method", "reason"});
    Exit status = Exit::ok;
    auto emit = [&](Json f, const std::string& id, const std::string& method,
                    const std::string& why) -> Result<void> {
      table.add({id, method, why});
      if (print) FAAS_TRY(out_.write(Json{{"fork", std::move(f)}}));
      return {};
    };
    for (auto& [row, why] : doomed) {
      SignalsDeferred deferred;
      FAAS_TRY_ASSIGN(Holder me, self());
      auto begun = fork_begin_remove(*rows_, row.id, me);
      if (!begun) {
        if (begun.error().status() == Exit::temp || begun.error().status() == Exit::no_input) {
          log_info("gc: skipping: " + begun.error().what());
          continue;
        }
        return std::move(begun).error().wrap("gc");
      }
      auto removed = remove_fork(root_, fork_dir(state_dir_, row.id));
      Result<void> deleted = removed ? fork_delete(*rows_, row.id) : Result<void>(removed.error());
      Json f = fork_json(row, layout_of(row));
      if (!deleted) {
        Error e = std::move(deleted).error().wrap("gc: fork " + q(row.id));
        if (!c_.keep_going) return e;
        log_error(e.what());
        Json rec = Json{{"fork", f}};
        add_error(rec, c_.tool, e);
        if (print) FAAS_TRY(out_.write(std::move(rec)));
        if (status == Exit::ok) status = e.status();
        continue;
      }
      for (const auto& n : removed->notes) log_warn("fork " + q(row.id) + ": " + n);
      mark_removed(f, *removed);
      f["reason"] = why;
      FAAS_TRY(emit(std::move(f), row.id, fork_method_name(row.method), why));
    }
    // A directory without a row is debris once no maker or remover holds
    // the lock (an overlay fork's directory comes before its row, and stays
    // after it while rm takes it apart). Directories first, rows second:
    // a fork made by copying has its row before its directory, and faas-pool
    // deletes a row after the directory.
    FAAS_TRY_ASSIGN(bool exclusive, try_lock_forks_exclusive(root_fd_.get(), kGcLockWaitMs));
    if (!exclusive) {
      log_info("gc: forks are being made or removed all the time: directories without a row "
               "are left for the next gc");
    } else {
      ScopeExit unlock([fd = root_fd_.get()] { unlock_forks(fd); });
      std::vector<std::string> dirs;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(root_, ec))
        if (valid_fork_id(e.path().filename().string())) dirs.push_back(e.path().filename().string());
      if (ec) return sys_error(ec.value(), "list " + q(root_.string()));
      FAAS_TRY_ASSIGN(auto now_rows, fork_list(*rows_));
      for (const auto& d : dirs) {
        if (std::any_of(now_rows.begin(), now_rows.end(), [&](const ForkRow& r) { return r.id == d; }))
          continue;
        SignalsDeferred deferred;
        FAAS_TRY_ASSIGN(auto report, remove_fork(root_, root_ / d));
        Json f{{"id", d}, {"removed", true}, {"detached", report.detached}, {"reason", "orphan"}};
        FAAS_TRY(emit(std::move(f), d, "?", "orphan"));
      }
      // The spare directories go too: makers take them under the lock.
      for (const auto& e : fs::directory_iterator(forks_spares(state_dir_), ec))
        (void)::rmdir(e.path().c_str());
    }
    // Rows that writers which died left half-written, and the spare row files.
    FAAS_TRY(fork_rows_sweep(*rows_));
    if (!print && !table.empty()) {
      std::string text = table.render();
      if (::write(1, text.data(), text.size()) < 0) return sys_error("write", Exit::io);
    }
    return status;
  }

  const CommonOptions& c_;
  const Options& o_;
  static constexpr int kGcLockWaitMs = 2000;

  fs::path state_dir_, run_dir_, root_;
  Fd root_fd_;  // the forks dir: its lock
  std::optional<ForkRows> rows_;
  std::optional<Stores> stores_;  // run.db, for records naming a sandbox
  std::optional<SandboxPools> pools_;
  std::optional<Holder> self_;
  Holder holder_;
  std::uint64_t tmpfs_bytes_ = 0;
  RecordWriter out_{1};
};

// The subcommands: words a fork's id can never be.
constexpr std::string_view kCommands[] = {"rm", "ls", "gc"};

}  // namespace

bool parse_quick(int argc, char** argv, CommonOptions& common, Options& opts) {
  CommonOptions c;
  Options o;
  QuickCommon qc(c, "faas-fork");
  const bool rm = argc > 1 && std::string_view(argv[1]) == "rm";
  if (rm) {
    o.command = Command::rm;
    if (!faas::parse_quick(argc, argv, 2,
                           {qc.state_dir(), qc.run_dir(), qc.json(), qc.table(), qc.keep_going(),
                            qc.log_format()},
                           &o.ids, kCommands) ||
        o.ids.empty())
      return false;
  } else {
    std::string holder;
    if (!faas::parse_quick(argc, argv, 1,
                           {{"--overlay", &o.overlay}, {"--btrfs", &o.btrfs},
                            {"--reflink", &o.reflink}, {"--copy", &o.copy},
                            {"--auto", &o.automatic}, {"--base", nullptr, &o.base},
                            {"--upper-tmpfs", nullptr, &o.upper_tmpfs},
                            {"--holder", nullptr, &holder}, qc.state_dir(), qc.run_dir(),
                            qc.json(), qc.table(), qc.keep_going(), qc.log_format()}))
      return false;
    if (!holder.empty() && !quick_pid(holder, o.holder)) return false;
  }
  if (!qc.finish()) return false;
  common = std::move(c);
  opts = std::move(o);
  return true;
}

Result<Exit> run(const CommonOptions& common, const Options& opts) {
  return Forker(common, opts).run();
}

}  // namespace faas::fork
