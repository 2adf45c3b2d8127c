#include "pool_cmd.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>

#include "faas/fd.hpp"
#include "faas/holder.hpp"
#include "faas/log.hpp"
#include "faas/records.hpp"
#include "faas/sandbox_pool.hpp"
#include "faas/state.hpp"
#include "faas/table.hpp"
#include "faas/timing.hpp"
#include "faas/units.hpp"

namespace faas::pool {

namespace {

namespace fs = std::filesystem;

Json record(const char* key, Json obj) {
  Json rec = Json::object();
  rec["v"] = kRecordVersion;
  rec[key] = std::move(obj);
  return rec;
}

class Command {
 public:
  Command(const CommonOptions& c, const Options& o) : c_(c), o_(o) {}

  Result<Exit> run() {
    if (o_.tmpl_add->parsed()) return template_add();
    if (o_.tmpl_ls->parsed()) return template_ls();
    if (o_.tmpl_show->parsed()) return template_show();
    if (o_.tmpl_rm->parsed()) return template_rm();
    if (o_.warm->parsed()) return warm();
    if (o_.acquire->parsed()) return acquire();
    if (o_.release->parsed()) return release();
    if (o_.ls->parsed()) return ls();
    if (o_.status->parsed()) return status();
    if (o_.reap->parsed()) return reap();
    if (o_.pool_rm->parsed()) return pool_rm();
    if (o_.pool_set->parsed()) return pool_set();
    if (o_.tmpl->parsed()) return Error(Exit::usage, "template: give add, ls, show or rm (see template --help)");
    if (o_.pool_cmd->parsed()) return Error(Exit::usage, "pool: give set or rm (see pool --help)");
    return Error(Exit::usage,
                 "give a command: template, warm, acquire, release, ls, status, reap or pool (see --help)");
  }

 private:
  static Result<void> require_root(const char* what) {
    if (::geteuid() != 0)
      return Error(Exit::no_perm, std::string(what) + ": must be root (namespaces, mounts and cgroups)");
    return {};
  }

  Result<fs::path> init_binary() {
    std::string p = o_.init;
    if (p.empty())
      if (const char* e = ::getenv("FAAS_INIT"); e && *e) p = e;
    if (p.empty()) {
      std::error_code ec;
      fs::path self = fs::read_symlink("/proc/self/exe", ec);
      if (!ec) p = (self.parent_path() / "faas-init").string();
    }
    if (p.empty() || ::access(p.c_str(), X_OK) != 0)
      return Error(Exit::unavailable, "faas-init not found at " + q(p) + " (give --init or $FAAS_INIT)");
    return fs::absolute(p);
  }

  Result<void> open_state(bool need_init = false) {
    fs::path init;
    if (need_init) { FAAS_TRY_ASSIGN(init, init_binary()); }
    FAAS_TRY_ASSIGN(auto st, open_stores(c_));
    stores_.emplace(std::move(st));
    FAAS_TRY_ASSIGN(Holder self, self_holder());
    pools_.emplace(*stores_, init, self);
    return {};
  }

  Result<void> write_text(const std::string& text) {
    if (::write(1, text.data(), text.size()) < 0) return sys_error("write", Exit::io);
    return {};
  }

  // ---- templates ----

  Result<Exit> template_add() {
    SandboxTemplate t;
    if (!o_.file.empty()) {
      std::ifstream in(o_.file);
      if (!in) return Error(Exit::no_input, "template: cannot read " + q(o_.file));
      std::stringstream ss;
      ss << in.rdbuf();
      Json j = Json::parse(ss.str(), nullptr, false);
      if (j.is_discarded()) return Error(Exit::data, "template " + q(o_.file) + ": not JSON");
      if (!o_.name.empty()) j["name"] = o_.name;
      FAAS_TRY_ASSIGN(t, template_from_json(j));
    } else {
      if (o_.name.empty() || o_.rootfs.empty() || o_.cmd.empty())
        return Error(Exit::usage, "template add: give NAME, --rootfs DIR and --cmd CMD... (or --file)");
      t.name = o_.name;
      t.rootfs = o_.rootfs;
      t.cmd = o_.cmd;
      t.env = o_.env;
      if (!o_.memory.empty()) { FAAS_TRY_ASSIGN(t.limits.memory_bytes, parse_bytes(o_.memory)); }
      t.limits.pids = o_.pids;
      t.limits.cpu_weight = o_.cpu_weight;
      t.netns_pool = o_.netns_pool;
      for (const auto& b : o_.bind_ro) {
        auto colon = b.find(':');
        t.binds_ro.push_back({b.substr(0, colon), colon == std::string::npos ? b.substr(0, colon) : b.substr(colon + 1)});
      }
      t.ksm = o_.ksm;
      t.userns = o_.userns;
      if (t.userns) t.userns_count = kUsernsRange;
      // The checks a template file gets (absolute paths, where binds may go).
      FAAS_TRY_ASSIGN(t, template_from_json(template_json(t)));
    }
    std::error_code ec;
    fs::path root = fs::canonical(t.rootfs, ec);
    if (ec || !fs::is_directory(root)) return Error(Exit::data, "template " + t.name + ": rootfs " + q(t.rootfs) + " is not a directory");
    t.rootfs = root.string();
    for (const char* d : {"dev", "proc", "run"})
      if (!fs::is_directory(root / d))
        return Error(Exit::data, "template " + t.name + ": rootfs has no /" + d + " directory (mount points; mkdir it)");
    for (const auto& e : t.env)
      if (e.find('=') == std::string::npos || e.front() == '=')
        return Error(Exit::usage, "template add: --env " + q(e) + ": expected K=V");
    if (t.limits.cpu_weight > 10000) return Error(Exit::usage, "template add: --cpu-weight: 1 to 10000");
    for (auto& b : t.binds_ro) FAAS_TRY(check_bind(t.name, root, b));
    FAAS_TRY(open_state());
    FAAS_TRY(pools_->template_add(t));
    return print_template(t);
  }

  // A --bind-ro: HOST exists (66 otherwise; made canonical), DEST exists in
  // the rootfs, resolved inside it as the sandbox will, and is of HOST's
  // kind (a directory on a directory, a file on a file). Nothing is ever
  // created in the rootfs.
  static Result<void> check_bind(const std::string& name, const fs::path& root, SandboxTemplate::BindRo& b) {
    std::string what = "template " + name + ": --bind-ro " + q(b.host + ":" + b.dest);
    std::error_code ec;
    fs::path host = fs::canonical(b.host, ec);
    if (ec) return Error(Exit::no_input, what + ": " + q(b.host) + ": " + ec.message());
    b.host = host.string();
    struct stat hs{}, ds{};
    if (::stat(b.host.c_str(), &hs) != 0) return sys_error(what + ": " + q(b.host), Exit::no_input);
    Fd rootfd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!rootfd) return sys_error(what + ": open the rootfs");
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    Fd dest(static_cast<int>(::syscall(SYS_openat2, rootfd.get(), b.dest.c_str(), &how, sizeof how)));
    if (!dest || ::fstat(dest.get(), &ds) != 0)
      return Error(Exit::data, what + ": " + q(b.dest) + " is not in the rootfs (the mount point must exist there)");
    if (S_ISDIR(hs.st_mode) != S_ISDIR(ds.st_mode))
      return Error(Exit::data, what + ": " + q(b.dest) + " in the rootfs is " +
                                   (S_ISDIR(ds.st_mode) ? "a directory" : "not a directory") + ", the host path " +
                                   (S_ISDIR(hs.st_mode) ? "is one" : "is not"));
    return {};
  }

  Result<Exit> print_template(const SandboxTemplate& t) {
    FAAS_TRY(out_.write(record("template", template_json(t))));
    return Exit::ok;
  }

  Result<Exit> template_ls() {
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto ts, pools_->template_list());
    if (c_.output() == OutputMode::table) {
      Table tab({"name", "backend", "rootfs", "cmd"});
      for (const auto& t : ts) {
        std::string cmd;
        for (const auto& a : t.cmd) cmd += (cmd.empty() ? "" : " ") + a;
        tab.add({t.name, t.backend, t.rootfs, cmd});
      }
      FAAS_TRY(write_text(tab.render()));
      return Exit::ok;
    }
    for (const auto& t : ts) FAAS_TRY(out_.write(record("template", template_json(t))));
    return Exit::ok;
  }

  Result<Exit> template_show() {
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto t, pools_->template_get(o_.name));
    return print_template(t);
  }

  Result<Exit> template_rm() {
    FAAS_TRY(open_state());
    FAAS_TRY(pools_->template_rm(o_.name));
    return Exit::ok;
  }

  // ---- pools ----

  static Json pool_json(const PoolInfo& p) {
    return Json{{"name", p.name},       {"template", p.template_name}, {"size", p.size},
                {"starting", p.starting}, {"warm", p.warm},            {"claimed", p.claimed},
                {"destroying", p.destroying}, {"hits", p.hits},        {"misses", p.misses},
                {"idle_ttl_ms", p.idle_ttl_ms}, {"min", p.min_warm}};
  }

  Result<Exit> warm() {
    if (o_.all == !o_.pool.empty()) return Error(Exit::usage, "warm: give POOL or --all");
    if (o_.all && (o_.size >= 0 || !o_.template_name.empty()))
      return Error(Exit::usage, "warm: --all conflicts with --size and --template");
    FAAS_TRY(require_root("warm"));
    FAAS_TRY(open_state(true));
    std::vector<std::string> names;
    if (o_.all) {
      FAAS_TRY_ASSIGN(names, pools_->pool_names());
    } else {
      names.push_back(o_.pool);
    }
    for (const auto& name : names) {
      Stopwatch sw;
      std::optional<std::int64_t> size;
      if (o_.size >= 0) size = o_.size;
      FAAS_TRY_ASSIGN(auto started, pools_->warm(name, size, o_.template_name, o_.all));
      FAAS_TRY_ASSIGN(auto info, pools_->pool_info(name));
      Json rec = record("pool", pool_json(info));
      rec["pool"]["started"] = started.size();
      add_timing(rec, c_.tool, "warm", sw.elapsed_us());
      FAAS_TRY(out_.write(std::move(rec)));
    }
    return Exit::ok;
  }

  static std::string ms(std::int64_t us) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", static_cast<double>(us) / 1000.0);
    return b;
  }

  Result<Exit> status() {
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto names, pools_->pool_names());
    std::vector<std::pair<PoolInfo, AcquireStats>> all;
    for (const auto& n : names) {
      FAAS_TRY_ASSIGN(auto p, pools_->pool_info(n));
      FAAS_TRY_ASSIGN(auto a, pools_->acquire_stats(n));
      all.emplace_back(std::move(p), a);
    }
    if (!o_.prometheus.empty()) return write_prometheus(all);
    if (c_.output() == OutputMode::table) {
      Table tab({"pool", "template", "size", "starting", "warm", "claimed", "hits", "misses", "p50_ms", "p90_ms",
                 "p99_ms"});
      for (const auto& [p, a] : all)
        tab.add({p.name, p.template_name, std::to_string(p.size), std::to_string(p.starting),
                 std::to_string(p.warm), std::to_string(p.claimed), std::to_string(p.hits),
                 std::to_string(p.misses), a.window ? ms(a.p50_us) : "-", a.window ? ms(a.p90_us) : "-",
                 a.window ? ms(a.p99_us) : "-"});
      FAAS_TRY(write_text(tab.render()));
      return Exit::ok;
    }
    for (const auto& [p, a] : all) {
      Json rec = record("pool", pool_json(p));
      rec["pool"]["acquire"] = Json{{"total", a.total}, {"window", a.window}, {"sum_us", a.sum_us},
                                    {"p50_us", a.p50_us}, {"p90_us", a.p90_us}, {"p99_us", a.p99_us}};
      FAAS_TRY(out_.write(std::move(rec)));
    }
    return Exit::ok;
  }

  // node_exporter's textfile format: written to FILE.tmp, then renamed over
  // FILE, so the collector never reads half a file. FILE `-`: stdout.
  Result<Exit> write_prometheus(const std::vector<std::pair<PoolInfo, AcquireStats>>& all) {
    auto label = [](const std::string& v) {
      std::string out;
      for (char ch : v) {
        if (ch == '\\' || ch == '"') out += '\\';
        if (ch == '\n') { out += "\\n"; continue; }
        out += ch;
      }
      return "pool=\"" + out + "\"";
    };
    auto secs = [](std::int64_t us) {
      char b[32];
      std::snprintf(b, sizeof b, "%.6f", static_cast<double>(us) / 1e6);
      return std::string(b);
    };
    std::string t;
    auto family = [&](const char* name, const char* type, const char* help) {
      t += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    family("faas_pool_size", "gauge", "Warm sandboxes the pool keeps (faas-pool warm --size).");
    for (const auto& [p, a] : all) t += "faas_pool_size{" + label(p.name) + "} " + std::to_string(p.size) + "\n";
    family("faas_pool_sandboxes", "gauge", "Sandboxes of the pool per state.");
    for (const auto& [p, a] : all)
      for (const auto& [st, n] : {std::pair<const char*, std::int64_t>{"starting", p.starting}, {"warm", p.warm},
                                  {"claimed", p.claimed}, {"destroying", p.destroying}})
        t += "faas_pool_sandboxes{" + label(p.name) + ",state=\"" + st + "\"} " + std::to_string(n) + "\n";
    family("faas_pool_acquire_total", "counter",
           "Acquires of the pool: hit (a warm sandbox) or miss (none warm; --cold starts one).");
    for (const auto& [p, a] : all) {
      t += "faas_pool_acquire_total{" + label(p.name) + ",result=\"hit\"} " + std::to_string(p.hits) + "\n";
      t += "faas_pool_acquire_total{" + label(p.name) + ",result=\"miss\"} " + std::to_string(p.misses) + "\n";
    }
    family("faas_pool_acquire_seconds", "summary",
           "Acquire latency: quantiles over the pool's last 1024 acquires that returned a sandbox.");
    for (const auto& [p, a] : all) {
      for (const auto& [qq, us] : {std::pair<const char*, std::int64_t>{"0.5", a.p50_us}, {"0.9", a.p90_us},
                                   {"0.99", a.p99_us}})
        t += "faas_pool_acquire_seconds{" + label(p.name) + ",quantile=\"" + qq + "\"} " +
             (a.window ? secs(us) : std::string("NaN")) + "\n";
      t += "faas_pool_acquire_seconds_sum{" + label(p.name) + "} " + secs(a.sum_us) + "\n";
      t += "faas_pool_acquire_seconds_count{" + label(p.name) + "} " + std::to_string(a.total) + "\n";
    }
    if (o_.prometheus == "-") {
      FAAS_TRY(write_text(t));
      return Exit::ok;
    }
    std::string tmp = o_.prometheus + ".tmp";
    Fd f(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!f) return Error(Exit::cant_create, "status --prometheus: create " + q(tmp) + ": " + std::strerror(errno));
    bool ok = ::write(f.get(), t.data(), t.size()) == static_cast<ssize_t>(t.size()) && ::fsync(f.get()) == 0;
    int err = errno;
    f.reset();
    if (!ok || ::rename(tmp.c_str(), o_.prometheus.c_str()) != 0) {
      if (ok) err = errno;
      ::unlink(tmp.c_str());
      return sys_error(err, "status --prometheus: write " + q(o_.prometheus), Exit::io);
    }
    return Exit::ok;
  }

  Result<Exit> pool_set() {
    PoolSettings s;
    if (o_.size >= 0) s.size = o_.size;
    if (o_.min_warm >= 0) s.min_warm = o_.min_warm;
    if (!o_.idle_ttl.empty()) {
      if (o_.idle_ttl == "off") {
        s.idle_ttl_ms = 0;
      } else {
        FAAS_TRY_ASSIGN(auto d, parse_duration(o_.idle_ttl));
        s.idle_ttl_ms = d.count();
      }
    }
    if (!s.size && !s.min_warm && !s.idle_ttl_ms)
      return Error(Exit::usage, "pool set: give --size, --idle-ttl or --min");
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto p, pools_->pool_set(o_.pool, s));
    FAAS_TRY(out_.write(record("pool", pool_json(p))));
    return Exit::ok;
  }

  Result<Exit> pool_rm() {
    FAAS_TRY(require_root("pool rm"));
    FAAS_TRY(open_state());
    Exit st = Exit::ok;
    for (const auto& name : o_.pools) {
      auto r = pools_->pool_rm(name);
      if (!r) {
        if (!c_.keep_going) return std::move(r).error();
        log_error(r.error().what());
        if (st == Exit::ok) st = r.error().status();
      }
    }
    return st;
  }

  // ---- sandboxes ----

  Result<Exit> acquire() {
    std::chrono::milliseconds wait{0};
    if (!o_.wait.empty()) { FAAS_TRY_ASSIGN(wait, parse_duration(o_.wait)); }
    FAAS_TRY(open_state(o_.cold));
    if (o_.cold) FAAS_TRY(require_root("acquire --cold"));
    Holder holder;
    if (o_.holder > 0) {
      FAAS_TRY_ASSIGN(holder, holder_of(o_.holder));
    } else {
      FAAS_TRY_ASSIGN(holder, parent_holder());
    }
    Stopwatch sw;
    FAAS_TRY_ASSIGN(auto row, pools_->acquire(o_.pool, wait, o_.cold, holder));
    Json rec = record("sandbox", sandbox_json(row));
    add_timing(rec, c_.tool, "acquire", sw.elapsed_us());
    FAAS_TRY(out_.write(std::move(rec)));
    return Exit::ok;
  }

  Result<void> release_one(const std::string& id, Json& rec) {
    Stopwatch sw;
    std::vector<std::string> forks;
    FAAS_TRY_ASSIGN(auto row, pools_->release(id, o_.destroy, &forks));
    mark_forks_removed(rec, forks);
    Json s = sandbox_json(row);
    if (rec.contains("sandbox") && rec["sandbox"].is_object()) {
      rec["sandbox"]["state"] = row.state;
    } else {
      rec["sandbox"] = s;
    }
    add_timing(rec, c_.tool, "release", sw.elapsed_us());
    return {};
  }

  Result<Exit> release() {
    const bool from_stdin = o_.ids.empty();
    if (from_stdin && !(::fcntl(0, F_GETFD) >= 0 && stdin_has_records()))
      return Error(Exit::usage, "release: give sandbox IDs or pipe records on stdin");
    FAAS_TRY(require_root("release"));
    FAAS_TRY(open_state());
    Exit st = Exit::ok;
    auto fail = [&](Json& rec, Error e) -> Result<void> {
      if (!c_.keep_going) return e;
      log_error(e.what());
      add_error(rec, c_.tool, e);
      if (st == Exit::ok) st = e.status();
      return {};
    };
    if (!from_stdin) {
      for (const auto& id : o_.ids) {
        Json rec = Json::object();
        rec["v"] = kRecordVersion;
        auto r = release_one(id, rec);
        if (!r) FAAS_TRY(fail(rec, std::move(r).error().wrap("release")));
        FAAS_TRY(out_.write(std::move(rec)));
      }
      return st;
    }
    RecordReader in(0);
    for (;;) {
      auto next = in.next();
      Json rec = Json::object();
      Result<void> r;
      if (!next) {
        r = std::move(next).error();
      } else if (!next->has_value()) {
        break;
      } else {
        rec = std::move(**next);
        auto s = rec.find("sandbox");
        if (s == rec.end() || !s->is_object() || !s->contains("id") || !(*s)["id"].is_string())
          r = Error(Exit::data, "the record has no sandbox.id");
        else
          r = release_one((*s)["id"].get<std::string>(), rec);
        if (!r) r.error().wrap(in.source() + " line " + std::to_string(in.line()));
      }
      if (!r) FAAS_TRY(fail(rec, std::move(r).error().wrap("release")));
      FAAS_TRY(out_.write(std::move(rec)));
    }
    return st;
  }

  Result<Exit> ls() {
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto rows, pools_->list(o_.pool));
    if (c_.output() == OutputMode::table) {
      Table tab({"id", "pool", "state", "start", "pid", "uses", "alive"});
      for (const auto& r : rows)
        tab.add({r.id, r.pool, r.state, r.start, std::to_string(r.pid), std::to_string(r.uses),
                 sandbox_alive(r.pid, r.pid_start) ? "yes" : "no"});
      FAAS_TRY(write_text(tab.render()));
      return Exit::ok;
    }
    for (const auto& r : rows) {
      Json rec = record("sandbox", sandbox_json(r));
      rec["sandbox"]["alive"] = sandbox_alive(r.pid, r.pid_start);
      FAAS_TRY(out_.write(std::move(rec)));
    }
    return Exit::ok;
  }

  Result<Exit> reap() {
    FAAS_TRY(require_root("reap"));
    FAAS_TRY(open_state());
    FAAS_TRY_ASSIGN(auto ids, pools_->reap());
    for (const auto& [id, why] : ids)
      FAAS_TRY(out_.write(record("sandbox", Json{{"id", id}, {"state", "reaped"}, {"reason", why}})));
    return Exit::ok;
  }

  const CommonOptions& c_;
  const Options& o_;
  std::optional<Stores> stores_;
  std::optional<SandboxPools> pools_;
  RecordWriter out_;
};

}  // namespace

void add_commands(CLI::App& app, Options& o) {
  app.add_option("--init", o.init, "The static faas-init bound into sandboxes (default: $FAAS_INIT, "
                                    "else faas-init beside this program)")->type_name("PATH");
  o.tmpl = app.add_subcommand("template", "Add, list, show and remove templates");
  o.tmpl->require_subcommand(0, 1);
  o.tmpl_add = o.tmpl->add_subcommand("add", "Add a template: a rootfs and the handler command");
  o.tmpl_add->add_option("NAME", o.name, "Template name");
  o.tmpl_add->add_option("--rootfs", o.rootfs, "Root filesystem directory (read-only in the sandbox)")->type_name("DIR");
  o.tmpl_add->add_option("--cmd", o.cmd, "The handler command and its arguments")->type_name("CMD...")
      ->expected(1, -1);
  o.tmpl_add->add_option("--env", o.env, "Environment for faas-init and the handler")->type_name("K=V");
  o.tmpl_add->add_option("--memory", o.memory, "Memory limit (64M, 1G)")->type_name("BYTES");
  o.tmpl_add->add_option("--pids", o.pids, "Maximum number of processes")->type_name("N");
  o.tmpl_add->add_option("--cpu-weight", o.cpu_weight, "CPU weight, 1 to 10000 (100 is the default share)")
      ->type_name("N");
  o.tmpl_add->add_option("--netns-pool", o.netns_pool, "Join a namespace of this faas-netns pool "
                         "(default: a new, empty network namespace)")->type_name("POOL");
  o.tmpl_add->add_option("--bind-ro", o.bind_ro, "Bind a host path read-only (nosuid, nodev) onto DEST, which "
                         "must exist in the rootfs (default: the same path); repeatable")->type_name("HOST[:DEST]");
  o.tmpl_add->add_flag("--ksm", o.ksm, "Mark every process of the sandbox mergeable by KSM (Linux 6.4)");
  o.tmpl_add->add_flag("--userns", o.userns, "Run in a user namespace: root inside is an unprivileged host uid "
                       "(a range of 65536 picked per template)");
  o.tmpl_add->add_option("--file", o.file, "Read the template from a JSON file")->type_name("FILE");
  o.tmpl_ls = o.tmpl->add_subcommand("ls", "List templates");
  o.tmpl_show = o.tmpl->add_subcommand("show", "Print a template");
  o.tmpl_show->add_option("NAME", o.name, "Template name")->required();
  o.tmpl_rm = o.tmpl->add_subcommand("rm", "Remove a template no pool uses");
  o.tmpl_rm->add_option("NAME", o.name, "Template name")->required();

  o.warm = app.add_subcommand("warm", "Start sandboxes until POOL holds SIZE warm ones (idempotent)");
  o.warm->add_option("POOL", o.pool, "Pool name (created on first use)");
  o.warm->add_option("--size", o.size, "Warm sandboxes to keep (default: the pool's, 1 for a new pool)")
      ->type_name("N")->check(CLI::NonNegativeNumber);
  o.warm->add_option("--template", o.template_name, "Template of a new pool (default: the pool's name)")
      ->type_name("NAME");
  o.warm->add_flag("--all", o.all, "Every pool, to its size");

  o.acquire = app.add_subcommand("acquire", "Claim a warm sandbox of POOL and print its record");
  o.acquire->add_option("POOL", o.pool, "Pool name")->required();
  o.acquire->add_option("--wait", o.wait, "Wait up to DUR when the pool is empty (500ms, 5s)")->type_name("DUR");
  o.acquire->add_flag("--cold", o.cold, "When none is warm, start one now (start: \"cold\")");
  o.acquire->add_option("--holder", o.holder, "Who holds the sandbox (default: the parent process)")
      ->type_name("PID")->check(CLI::PositiveNumber);

  o.release = app.add_subcommand("release", "Recycle claimed sandboxes (or destroy them)");
  o.release->add_option("ID", o.ids, "Sandbox IDs (default: the records on stdin)");
  o.release->add_flag("--destroy", o.destroy, "Destroy instead of recycling");

  o.ls = app.add_subcommand("ls", "List sandboxes (a table on a terminal, JSON lines otherwise)");
  o.ls->add_option("POOL", o.pool, "Only this pool's");
  o.status = app.add_subcommand("status", "Counts per pool and state, hits, misses, acquire latency percentiles");
  o.status->add_option("--prometheus", o.prometheus, "Write node_exporter's textfile format to FILE "
                       "(atomically; - for stdout) instead")->type_name("FILE");
  o.reap = app.add_subcommand("reap", "Destroy dead sandboxes, those whose holder died, and idle ones past "
                              "their pool's TTL");
  o.pool_cmd = app.add_subcommand("pool", "Set a pool's policy or remove pools");
  o.pool_set = o.pool_cmd->add_subcommand("set", "Set a pool's size, idle TTL and minimum");
  o.pool_set->add_option("NAME", o.pool, "Pool name")->required();
  o.pool_set->add_option("--size", o.size, "Warm sandboxes to keep")->type_name("N")->check(CLI::NonNegativeNumber);
  o.pool_set->add_option("--idle-ttl", o.idle_ttl, "reap destroys warm sandboxes idle longer (10m, 30s; off)")
      ->type_name("DUR");
  o.pool_set->add_option("--min", o.min_warm, "Warm sandboxes reap keeps however idle")->type_name("N")
      ->check(CLI::NonNegativeNumber);
  o.pool_cmd->require_subcommand(0, 1);
  o.pool_rm = o.pool_cmd->add_subcommand("rm", "Destroy every sandbox of the pools and remove them");
  o.pool_rm->add_option("NAME", o.pools, "Pool names")->required();
  app.require_subcommand(0, 1);
}

Result<Exit> run(const CommonOptions& common, const Options& o) { return Command(common, o).run(); }

}  // namespace faas::pool
