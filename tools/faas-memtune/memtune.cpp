#include "memtune.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "faas/cgroup_mem.hpp"
#include "faas/records.hpp"
#include "faas/sysfs.hpp"
#include "faas/table.hpp"
#include "faas/thp.hpp"
#include "faas/units.hpp"
#include "faas/zram.hpp"

namespace faas::memtune {

namespace {

constexpr const char* kSys = "/sys";

template <class T>
Result<T> with_context(Result<T> r, const std::string& context) {
  if (!r) return std::move(r).error().wrap(context);
  return r;
}

// "ksm on", "zram add": the subcommand path given.
std::string command_name(const CLI::App& app) {
  std::string name;
  for (const CLI::App* a = &app;;) {
    auto subs = a->get_subcommands();
    if (subs.empty()) break;
    a = subs.front();
    if (!name.empty()) name += ' ';
    name += a->get_name();
  }
  return name;
}

// --- output -----------------------------------------------------------------

Result<void> emit(Json mem) {
  return RecordWriter(1).write(Json{{"v", kRecordVersion}, {"mem", std::move(mem)}});
}

Json write_record(const char* op, bool dry_run, Json changes) {
  return Json{{"op", op}, {"dry_run", dry_run}, {"changes", std::move(changes)}};
}

std::string cell(const Json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v.get<double>());
    return buf;
  }
  return v.dump();
}

std::string bytes_cell(const Json& v) {
  if (v.is_number_unsigned() || v.is_number_integer()) return format_bytes(v.get<std::uint64_t>());
  return cell(v);
}

std::string status_table(const Json& mem) {
  std::string out;
  if (const Json& k = mem["ksm"]; !k.is_null()) {
    Table t({"ksm run", "pages_to_scan", "sleep_ms", "shared", "sharing", "unshared", "volatile",
             "full_scans", "saved", "ratio"});
    t.add({cell(k["run"]), cell(k["pages_to_scan"]), cell(k["sleep_millisecs"]),
           cell(k["pages_shared"]), cell(k["pages_sharing"]), cell(k["pages_unshared"]),
           cell(k["pages_volatile"]), cell(k["full_scans"]), bytes_cell(k["saved_bytes"]),
           cell(k["ratio"])});
    out += t.render() + "\n";
  }
  if (const Json& t_ = mem["thp"]; !t_.is_null()) {
    Table t({"thp enabled", "defrag"});
    t.add({cell(t_["enabled"]), cell(t_["defrag"])});
    out += t.render() + "\n";
  }
  Table z({"zram", "disksize", "algorithm", "orig", "compr", "ratio", "swap"});
  for (const auto& d : mem["zram"])
    z.add({cell(d["dev"]), bytes_cell(d["disksize"]), cell(d["algorithm"]), bytes_cell(d["orig_bytes"]),
           bytes_cell(d["compr_bytes"]), cell(d["ratio"]), cell(d["swap"])});
  out += z.render() + "\n";
  Table s({"sandbox", "cgroup", "current", "max", "high", "swap"});
  for (const auto& d : mem["sandboxes"])
    s.add({cell(d["id"]), cell(d["cgroup"]), bytes_cell(d["current"]), bytes_cell(d["max"]),
           bytes_cell(d["high"]), bytes_cell(d["swap"])});
  out += s.render();
  return out;
}

// --- waiting between rounds ---------------------------------------------------

// Blocks SIGINT and SIGTERM so a round is never cut in half; wait() then
// returns false when one arrives (a clean stop, exit 0).
class Ticker {
 public:
  Ticker() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigprocmask(SIG_BLOCK, &set_, nullptr);
  }
  bool wait(std::chrono::milliseconds d) {
    timespec ts{static_cast<time_t>(d.count() / 1000), static_cast<long>(d.count() % 1000) * 1000000};
    for (;;) {
      int sig = sigtimedwait(&set_, nullptr, &ts);
      if (sig > 0) return false;
      if (errno == EAGAIN) return true;
      if (errno != EINTR) return false;
    }
  }

 private:
  sigset_t set_;
};

// --- status -------------------------------------------------------------------

Result<Json> sandboxes_json(const CommonOptions& common) {
  Json out = Json::array();
  FAAS_TRY_ASSIGN(auto rows, list_sandbox_cgroups(common.run_dir));
  if (rows.empty()) return out;
  auto h = find_memory_hierarchy();
  for (const auto& row : rows) {
    Json j{{"id", row.id}, {"cgroup", row.cgroup}, {"current", nullptr}, {"max", nullptr},
           {"high", nullptr}, {"swap", nullptr}, {"swap_max", nullptr}};
    if (!h) {
      j["error"] = h.error().what();
    } else if (auto cg = MemCgroup::open(*h, row.cgroup); !cg) {
      j["error"] = cg.error().what();
    } else if (auto u = cg->read(); !u) {
      j["error"] = u.error().what();
    } else {
      Json uj = usage_json(*u);
      j["current"] = uj["current"];
      j["max"] = uj["max"];
      j["high"] = uj["high"];
      j["swap"] = uj["swap"];
      j["swap_max"] = uj["swap_max"];
    }
    out.push_back(std::move(j));
  }
  return out;
}

Result<Json> status_json(const Sysfs& sys, const CommonOptions& common) {
  Json mem = Json::object();
  auto k = read_ksm(sys);
  if (!k && k.error().status() != Exit::unavailable) return std::move(k).error();
  mem["ksm"] = k ? ksm_json(*k) : Json(nullptr);
  auto t = read_thp(sys);
  if (!t && t.error().status() != Exit::unavailable) return std::move(t).error();
  mem["thp"] = t ? *t : Json(nullptr);
  mem["zram"] = Json::array();
  FAAS_TRY_ASSIGN(auto devs, list_zram(sys));
  for (const auto& d : devs) mem["zram"].push_back(zram_json(d));
  FAAS_TRY_ASSIGN(mem["sandboxes"], sandboxes_json(common));
  return mem;
}

Result<Exit> run_status(const Sysfs& sys, const CommonOptions& common, const Options& o) {
  std::optional<std::chrono::milliseconds> every;
  if (!o.watch.empty()) {
    FAAS_TRY_ASSIGN(every, parse_duration(o.watch));
    if (every->count() <= 0) return Error(Exit::usage, "--watch must be more than 0");
  }
  std::optional<Ticker> ticker;
  if (every) ticker.emplace();
  for (;;) {
    FAAS_TRY_ASSIGN(Json mem, status_json(sys, common));
    if (common.output() == OutputMode::table) {
      std::string s = status_table(mem);
      if (every) s += "\n";
      if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() || std::fflush(stdout) != 0)
        return sys_error("write stdout", Exit::io);
    } else {
      FAAS_TRY(emit(std::move(mem)));
    }
    if (!ticker || !ticker->wait(*every)) return Exit::ok;
  }
}

// --- ksm ----------------------------------------------------------------------

Result<Exit> run_ksm_run(const Sysfs& sys, int run, const char* op, bool dry_run) {
  FAAS_TRY_ASSIGN(Json ch, ksm_set_run(sys, run, dry_run));
  FAAS_TRY(emit(write_record(op, dry_run, Json::array({std::move(ch)}))));
  return Exit::ok;
}

Result<Json> tune_once(const Sysfs& sys, const KsmTuneConfig& cfg, bool dry_run) {
  FAAS_TRY_ASSIGN(KsmStatus k, read_ksm(sys));
  FAAS_TRY_ASSIGN(MemInfo m, read_meminfo());
  KsmTuneDecision d = ksm_tune_decide(cfg, m, k);
  Json changes = Json::array();
  if (d.run == 1) {
    FAAS_TRY_ASSIGN(Json a, sys.change("kernel/mm/ksm/pages_to_scan", std::to_string(d.pages_to_scan), dry_run));
    FAAS_TRY_ASSIGN(Json b, sys.change("kernel/mm/ksm/sleep_millisecs", std::to_string(d.sleep_millisecs), dry_run));
    changes.push_back(std::move(a));
    changes.push_back(std::move(b));
  }
  FAAS_TRY_ASSIGN(Json r, ksm_set_run(sys, d.run, dry_run));
  changes.push_back(std::move(r));
  Json rec = write_record("ksm.tune", dry_run, std::move(changes));
  rec["tune"] = d.to_json();
  return rec;
}

Result<Exit> run_ksm_tune(const Sysfs& sys, const Options& o) {
  FAAS_TRY_ASSIGN(auto every, parse_duration(o.interval));
  if (every.count() <= 0) return Error(Exit::usage, "--interval must be more than 0");
  const KsmTuneConfig& c = o.tune;
  if (c.npages_min < 0 || c.npages_min > c.npages_max || c.thres_coef < 0 || c.thres_coef > 100)
    return Error(Exit::usage, "ksm tune: need 0 <= --npages-min <= --npages-max and --thres-coef 0..100");
  std::optional<Ticker> ticker;
  if (!o.once) ticker.emplace();
  for (;;) {
    FAAS_TRY_ASSIGN(Json rec, tune_once(sys, c, o.dry_run));
    FAAS_TRY(emit(std::move(rec)));
    if (!ticker || !ticker->wait(every)) return Exit::ok;
  }
}

// Chain loading: mark this process mergeable (and with --no-aslr, its
// address space laid out without randomisation), then become CMD.
Result<Exit> run_ksm_merge(const Sysfs& sys, const Options& o) {
  const std::vector<std::string>& cmd = o.cmd;
  FAAS_TRY(enable_memory_merge());
  if (o.no_aslr) FAAS_TRY(disable_address_randomization());
  if (auto run = sys.read_i64("kernel/mm/ksm/run"); run && *run != 1)
    log_warn("KSM is not running (run=" + std::to_string(*run) +
             "): pages are marked mergeable but merged only after `faas-memtune ksm on`");
  std::vector<char*> argv;
  for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  int err = errno;
  return Error(err == ENOENT ? Exit::not_found : Exit::cant_exec, "exec `" + cmd[0] + "'", err);
}

// --- zram ---------------------------------------------------------------------

Result<Exit> run_zram_add(const Sysfs& sys, const Options& o) {
  ZramAddOptions z;
  FAAS_TRY_ASSIGN(z.size, parse_bytes(o.size));
  z.algorithm = o.algorithm;
  z.dry_run = o.dry_run;
  z.swap = o.zram_add->count("--swap") > 0;
  if (!o.swap.empty() && !o.swap.front().empty()) {
    FAAS_TRY_ASSIGN(std::int64_t p, parse_i64(o.swap.front(), "--swap priority"));
    if (p < 0 || p > 32767) return Error(Exit::usage, "--swap priority must be 0..32767");
    z.priority = static_cast<int>(p);
  }
  FAAS_TRY_ASSIGN(Json r, zram_add(sys, z));
  Json rec = write_record("zram.add", o.dry_run, std::move(r["changes"]));
  rec["zram"] = Json::array();
  if (!r["zram"].is_null()) rec["zram"].push_back(std::move(r["zram"]));
  FAAS_TRY(emit(std::move(rec)));
  return Exit::ok;
}

Result<Exit> run_zram_rm(const Sysfs& sys, const Options& o) {
  FAAS_TRY_ASSIGN(int id, parse_zram_name(o.dev));
  FAAS_TRY_ASSIGN(Json r, zram_remove(sys, id, o.dry_run));
  Json rec = write_record("zram.rm", o.dry_run, std::move(r["changes"]));
  rec["zram"] = Json::array({std::move(r["zram"])});
  FAAS_TRY(emit(std::move(rec)));
  return Exit::ok;
}

Result<Exit> run_zram_ls(const Sysfs& sys, const CommonOptions& common) {
  FAAS_TRY_ASSIGN(auto devs, list_zram(sys));
  if (common.output() == OutputMode::table) {
    Json mem{{"zram", Json::array()}};
    for (const auto& d : devs) mem["zram"].push_back(zram_json(d));
    Table z({"zram", "disksize", "algorithm", "orig", "compr", "ratio", "swap"});
    for (const auto& d : mem["zram"])
      z.add({cell(d["dev"]), bytes_cell(d["disksize"]), cell(d["algorithm"]),
             bytes_cell(d["orig_bytes"]), bytes_cell(d["compr_bytes"]), cell(d["ratio"]), cell(d["swap"])});
    std::string s = z.render();
    std::fwrite(s.data(), 1, s.size(), stdout);
    return Exit::ok;
  }
  for (const auto& d : devs) FAAS_TRY(emit(Json{{"zram", Json::array({zram_json(d)})}}));
  return Exit::ok;
}

// --- cgroup -------------------------------------------------------------------

// The sandbox's cgroup from the state store, or (hidden, for tests) a
// directory directly beneath <memory hierarchy>/faas.
Result<std::pair<Json, MemCgroup>> sandbox_cgroup(const CommonOptions& common, const Options& o) {
  FAAS_TRY_ASSIGN(MemoryHierarchy h, find_memory_hierarchy());
  std::string id = o.id, rel;
  if (!o.test_cgroup.empty()) {
    if (o.test_cgroup.find('/') != std::string::npos)
      return Error(Exit::usage, "--test-cgroup takes one directory name beneath `" +
                                    (h.mount / kSandboxCgroupParent).string() + "'");
    rel = std::string(kSandboxCgroupParent) + "/" + o.test_cgroup;
    if (id.empty()) id = o.test_cgroup;
  } else {
    if (id.empty()) return Error(Exit::usage, "a sandbox ID is required");
    FAAS_TRY_ASSIGN(SandboxCgroup sb, find_sandbox_cgroup(common.run_dir, id));
    rel = sb.cgroup;
  }
  FAAS_TRY_ASSIGN(MemCgroup cg, with_context(MemCgroup::open(h, rel), "sandbox " + id));
  Json who{{"id", id}, {"cgroup", rel}, {"cgroup_version", h.version == CgroupVersion::v2 ? 2 : 1}};
  return std::pair<Json, MemCgroup>(std::move(who), std::move(cg));
}

Result<Exit> run_cg_limit(const CommonOptions& common, const Options& o) {
  MemLimitsRequest req;
  if (!o.max.empty()) {
    FAAS_TRY_ASSIGN(req.max, parse_limit(o.max));
  }
  if (!o.high.empty()) {
    FAAS_TRY_ASSIGN(req.high, parse_limit(o.high));
  }
  if (!o.swap_max.empty()) {
    FAAS_TRY_ASSIGN(req.swap_max, parse_limit(o.swap_max));
  }
  if (req.empty()) return Error(Exit::usage, "cgroup limit: give --max, --high or --swap-max");
  FAAS_TRY_ASSIGN(auto sc, sandbox_cgroup(common, o));
  auto& [who, cg] = sc;
  FAAS_TRY_ASSIGN(Json r, with_context(cg.set_limits(req, o.dry_run), "sandbox " + who["id"].get<std::string>()));
  Json rec = write_record("cgroup.limit", o.dry_run, std::move(r["changes"]));
  rec["sandbox"] = std::move(who);
  FAAS_TRY(emit(std::move(rec)));
  return Exit::ok;
}

Result<Exit> run_cg_reclaim(const CommonOptions& common, const Options& o) {
  FAAS_TRY_ASSIGN(std::uint64_t bytes, parse_bytes(o.bytes));
  FAAS_TRY_ASSIGN(auto sc, sandbox_cgroup(common, o));
  auto& [who, cg] = sc;
  std::string id = who["id"].get<std::string>();
  FAAS_TRY_ASSIGN(Json r, with_context(cg.reclaim(bytes, o.dry_run), "sandbox " + id));
  bool complete = r["complete"].get<bool>();
  Json ch{{"knob", (cg.dir() / r["method"].get<std::string>()).string()},
          {"before", r["before"]}, {"after", r["after"]}};
  Json rec = write_record("cgroup.reclaim", o.dry_run, Json::array({std::move(ch)}));
  rec["sandbox"] = std::move(who);
  rec["reclaim"] = std::move(r);
  FAAS_TRY(emit(std::move(rec)));
  if (!complete)
    return Error(Exit::temp, "sandbox " + id + ": reclaimed less than " + o.bytes + " (the kernel could not free more)");
  return Exit::ok;
}

}  // namespace

void add_commands(CLI::App& app, Options& o) {
  app.add_flag("--dry-run", o.dry_run, "Show every write's before and after, change nothing");
  app.add_option("--sysfs-root", o.sysfs_root, "Read sysfs from here (tests of parsing; writes refused)")
      ->group("");

  o.status = app.add_subcommand("status", "Print KSM, THP, zram and sandbox memory (a table on a terminal)");
  o.status->add_option("--watch", o.watch, "Print again every DUR (e.g. 2s) until interrupted");

  auto* ksm = app.add_subcommand("ksm", "Kernel samepage merging");
  o.ksm_on = ksm->add_subcommand("on", "Start KSM (run=1)");
  o.ksm_off = ksm->add_subcommand("off", "Stop KSM (run=0), keeping merged pages");
  o.ksm_off->add_flag("--unmerge", o.unmerge, "Also unmerge every merged page (run=2)");
  o.ksm_tune = ksm->add_subcommand("tune", "Adjust KSM to memory pressure (the ksmtuned algorithm)");
  auto* once = o.ksm_tune->add_flag("--once", o.once, "Decide and apply once, then exit");
  o.ksm_tune->add_option("--interval", o.interval, "Time between decisions (default 60s)")->excludes(once);
  auto& c = o.tune;
  o.ksm_tune->add_option("--npages-boost", c.npages_boost, "pages_to_scan increase under pressure (300)");
  o.ksm_tune->add_option("--npages-decay", c.npages_decay, "pages_to_scan change otherwise (-50)");
  o.ksm_tune->add_option("--npages-min", c.npages_min, "Lowest pages_to_scan (64)");
  o.ksm_tune->add_option("--npages-max", c.npages_max, "Highest pages_to_scan (1250)");
  o.ksm_tune->add_option("--thres-coef", c.thres_coef, "Free-memory threshold, percent of MemTotal (20)");
  o.ksm_tune->add_option("--sleep-msec", c.sleep_msec, "sleep_millisecs per 16 GiB of memory (10)");
  o.ksm_tune->add_option("--min-ratio", c.min_ratio, "Decay when pages_sharing/pages_shared stays below (1.5)");
  o.ksm_tune->add_option("--min-full-scans", c.min_full_scans, "Full scans before the ratio counts (2)");
  o.ksm_merge = ksm->add_subcommand("merge", "Make CMD and its children mergeable, then exec it");
  o.ksm_merge->add_flag("--no-aslr", o.no_aslr,
                        "Also run CMD without address space randomisation, so that identical "
                        "processes' heaps line up (weakens ASLR)");
  o.ksm_merge->add_option("cmd", o.cmd, "The command and its arguments, after --")->required();

  o.thp = app.add_subcommand("thp", "Transparent huge pages: set enabled or defrag");
  o.thp->add_option("knob", o.thp_knob, "enabled or defrag")
      ->required()
      ->check(CLI::IsMember({"enabled", "defrag"}));
  o.thp->add_option("mode", o.thp_mode, "A mode this kernel lists (e.g. always, madvise, never)")->required();

  auto* zram = app.add_subcommand("zram", "Compressed RAM block devices");
  o.zram_add = zram->add_subcommand("add", "Add a device (optionally as swap)");
  o.zram_add->add_option("--size", o.size, "Disk size (e.g. 512M)")->required();
  o.zram_add->add_option("--algorithm", o.algorithm, "A compression algorithm this kernel lists");
  o.zram_add->add_option("--swap", o.swap, "Make it swap and turn it on, at PRIORITY (0..32767)")
      ->expected(0, 1);
  o.zram_rm = zram->add_subcommand("rm", "Remove a device (swapoff first)");
  o.zram_rm->add_option("dev", o.dev, "zramN")->required();
  o.zram_ls = zram->add_subcommand("ls", "List devices");

  auto* cg = app.add_subcommand("cgroup", "Memory of a sandbox's cgroup");
  o.cg_limit = cg->add_subcommand("limit", "Set a sandbox's memory limits");
  o.cg_limit->add_option("id", o.id, "Sandbox ID");
  o.cg_limit->add_option("--max", o.max, "Hard limit (bytes, 512M, max)");
  o.cg_limit->add_option("--high", o.high, "Throttle limit (v1: soft limit)");
  o.cg_limit->add_option("--swap-max", o.swap_max, "Swap allowance (bytes, max)");
  o.cg_reclaim = cg->add_subcommand("reclaim", "Make the kernel reclaim BYTES from a sandbox");
  o.cg_reclaim->add_option("id", o.id, "Sandbox ID")->required();
  o.cg_reclaim->add_option("bytes", o.bytes, "How much (e.g. 64M)")->required();
  for (auto* sub : {o.cg_limit, o.cg_reclaim})
    sub->add_option("--test-cgroup", o.test_cgroup, "")->group("");
}

Result<Exit> run(CLI::App& app, const CommonOptions& common, const Options& o) {
  Sysfs sys(o.sysfs_root);
  bool reads_only = o.status->parsed() || o.zram_ls->parsed();
  bool fake_root = o.sysfs_root != kSys;
  if (fake_root && !reads_only)
    return Error(Exit::usage, "--sysfs-root serves reading only (status, zram ls)");
  bool leaf = false;
  for (const CLI::App* s : {o.status, o.ksm_on, o.ksm_off, o.ksm_tune, o.ksm_merge, o.thp, o.zram_add,
                            o.zram_rm, o.zram_ls, o.cg_limit, o.cg_reclaim})
    leaf = leaf || s->parsed();
  bool writes = leaf && !reads_only && !o.ksm_merge->parsed() && !o.dry_run;
  if (writes) FAAS_TRY(require_root(command_name(app)));

  if (o.status->parsed()) return run_status(sys, common, o);
  if (o.ksm_on->parsed()) return run_ksm_run(sys, 1, "ksm.on", o.dry_run);
  if (o.ksm_off->parsed()) return run_ksm_run(sys, o.unmerge ? 2 : 0, "ksm.off", o.dry_run);
  if (o.ksm_tune->parsed()) return run_ksm_tune(sys, o);
  if (o.ksm_merge->parsed()) return run_ksm_merge(sys, o);
  if (o.thp->parsed()) {
    FAAS_TRY_ASSIGN(Json ch, set_thp(sys, o.thp_knob, o.thp_mode, o.dry_run));
    FAAS_TRY(emit(write_record(o.thp_knob == "enabled" ? "thp.enabled" : "thp.defrag", o.dry_run,
                               Json::array({std::move(ch)}))));
    return Exit::ok;
  }
  if (o.zram_add->parsed()) return run_zram_add(sys, o);
  if (o.zram_rm->parsed()) return run_zram_rm(sys, o);
  if (o.zram_ls->parsed()) return run_zram_ls(sys, common);
  if (o.cg_limit->parsed()) return run_cg_limit(common, o);
  if (o.cg_reclaim->parsed()) return run_cg_reclaim(common, o);
  // Checked here rather than by CLI11, so that an unknown flag is named first.
  std::string given = command_name(app);
  return Error(Exit::usage, (given.empty() ? std::string() : given + ": ") +
                                "a subcommand is required (see --help)");
}

}  // namespace faas::memtune
