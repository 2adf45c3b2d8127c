#include "bench.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include "faas/log.hpp"
#include "faas/scope_exit.hpp"
#include "faas/table.hpp"

namespace faas::bench {

namespace fs = std::filesystem;

std::vector<std::unique_ptr<Scenario>> all_scenarios() {
  std::vector<std::unique_ptr<Scenario>> s;
  s.push_back(make_init_scenario());
  s.push_back(make_startup_scenario());
  s.push_back(make_fork_scenario());
  s.push_back(make_netns_scenario());
  s.push_back(make_cold_scenario());
  s.push_back(make_warm_scenario());
  s.push_back(make_gateway_scenario());
  s.push_back(make_mem_scenario());
  return s;
}

// ---- statistics -------------------------------------------------------------

double percentile_nearest_rank(const std::vector<double>& sorted, double pct) {
  if (sorted.empty()) return 0;
  auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(std::ceil(pct / 100.0 * n));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

Stats compute_stats(std::vector<double> samples) {
  Stats s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.p50 = percentile_nearest_rank(samples, 50);
  s.p90 = percentile_nearest_rank(samples, 90);
  s.p99 = percentile_nearest_rank(samples, 99);
  s.min = samples.front();
  s.max = samples.back();
  double sum = 0;
  for (double x : samples) sum += x;
  s.mean = sum / static_cast<double>(samples.size());
  if (samples.size() > 1) {
    double sq = 0;
    for (double x : samples) sq += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(sq / static_cast<double>(samples.size() - 1));
  }
  return s;
}

// ---- stopping on a signal -----------------------------------------------------

namespace {
volatile sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }
}  // namespace

void catch_stop_signals() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

int stop_signal() { return g_stop_signal; }

Result<void> interrupted() {
  if (g_stop_signal == 0) return {};
  return Error(Exit::temp, std::string("interrupted by SIG") + ::sigabbrev_np(g_stop_signal) +
                               ": stopped, everything the run made removed");
}

// ---- parameters -------------------------------------------------------------

std::string Context::param(const std::string& key, const std::string& fallback) const {
  auto it = params.find(key);
  return it == params.end() ? fallback : it->second;
}

bool Context::wanted(const std::string& variant) const {
  return only.empty() || std::find(only.begin(), only.end(), variant) != only.end();
}

Result<long long> Context::int_param(const std::string& key, long long fallback) const {
  auto it = params.find(key);
  if (it == params.end()) return fallback;
  const std::string& v = it->second;
  long long n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 0)
    return Error(Exit::usage, "--param " + key + "=" + v + ": expected a whole number >= 0");
  return n;
}

// ---- finding things ---------------------------------------------------------

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

std::string self_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return ".";
  return exe.parent_path().string();
}

std::string find_in_path(const std::vector<std::string>& path, std::string_view name) {
  for (const auto& dir : path) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + std::string(name);
    if (is_executable_file(candidate)) return candidate;
  }
  return {};
}

namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::vector<std::string> split_path(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t colon = s.find(':', start);
    out.push_back(s.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

std::string normal(const fs::path& p) { return p.lexically_normal().string(); }

Context make_context(const Options& opts) {
  Context ctx;
  ctx.self_dir = self_dir();
  ctx.pidns = opts.pidns;
  ctx.iterations = opts.iterations;
  ctx.warmup = opts.warmup;
  ctx.timeout_ms = static_cast<int>(opts.timeout_s * 1000);
  ctx.only = opts.variants;
  // The handler: --handler, $FAAS_BENCH_HANDLER, the build tree, an install.
  ctx.handler = opts.handler.empty() ? env_or_empty("FAAS_BENCH_HANDLER") : opts.handler;
  if (ctx.handler.empty()) {
    const std::string candidates[] = {
        normal(fs::path(ctx.self_dir) / "../examples/hello-c"),
        normal(fs::path(ctx.self_dir) / "../libexec/faaskit/hello-c")};
    ctx.handler = candidates[0];
    for (const auto& c : candidates)
      if (is_executable_file(c)) {
        ctx.handler = c;
        break;
      }
  }
  ctx.faas_init = opts.faas_init.empty() ? env_or_empty("FAAS_INIT") : opts.faas_init;
  if (ctx.faas_init.empty()) ctx.faas_init = ctx.self_dir + "/faas-init";
  std::string path = opts.peer_path.empty() ? env_or_empty("PATH") : opts.peer_path;
  if (path.empty()) path = "/usr/local/bin:/usr/bin:/bin";
  ctx.peer_path = split_path(path);
  return ctx;
}

// --param KEY=VALUE into ctx.params; a key the scenario does not know is a
// usage error naming the valid ones.
Result<void> parse_params(const Scenario& sc, const std::vector<std::string>& given, Context& ctx) {
  const auto known = sc.params();
  for (const auto& kv : given) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error(Exit::usage, "--param `" + kv + "`: expected KEY=VALUE");
    std::string key = kv.substr(0, eq);
    if (std::none_of(known.begin(), known.end(), [&](const Param& p) { return p.key == key; })) {
      std::string valid;
      for (const auto& p : known) valid += (valid.empty() ? "" : ", ") + p.key;
      return Error(Exit::usage, "scenario " + std::string(sc.name()) + ": unknown --param `" + key +
                                    "` (valid: " + (valid.empty() ? "none" : valid) + ")");
    }
    ctx.params[key] = kv.substr(eq + 1);
  }
  return {};
}

// The private directory of one run: under the run directory when it exists,
// else under $TMPDIR or /tmp. Removed with everything in it at the end.
Result<std::string> make_work_dir(const CommonOptions& common) {
  std::string base = common.run_dir;
  struct stat st {};
  if (base.empty() || ::stat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    base = env_or_empty("TMPDIR");
    if (base.empty()) base = "/tmp";
  }
  std::string tmpl = base + "/faas-bench.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    return sys_error("create a temporary directory under `" + base + "`", Exit::cant_create);
  return tmpl;
}

Result<Scenario*> find_scenario(const std::vector<std::unique_ptr<Scenario>>& all,
                                const std::string& name) {
  std::string valid;
  for (const auto& s : all) {
    if (s->name() == name) return s.get();
    valid += (valid.empty() ? "" : ", ") + std::string(s->name());
  }
  return Error(Exit::usage, "unknown scenario `" + name + "` (valid: " + valid + ")");
}

Result<void> write_all(int fd, const std::string& text) {
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write", Exit::io);
    }
    off += static_cast<std::size_t>(n);
  }
  return {};
}

// Rounds to `decimals` places so that the JSON shows 518.8, not 518.8000000000001.
double round_to(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}
std::string num(double x) { return fmt::format("{:.1f}", x); }

// A variant's progress through one run.
struct Slot {
  Variant* variant;
  bool runnable = true;
  std::vector<double> samples_us;
  int warmups = 0;
  std::optional<Error> error;
};

Json stats_json(const Stats& s) {
  return Json{{"p50", round_to(s.p50, 1)},      {"p90", round_to(s.p90, 1)},
              {"p99", round_to(s.p99, 1)},      {"min", round_to(s.min, 1)},
              {"max", round_to(s.max, 1)},      {"mean", round_to(s.mean, 1)},
              {"stddev", round_to(s.stddev, 1)}};
}

}  // namespace

// ---- run --------------------------------------------------------------------

namespace {

Result<void> check_variant_names(const Scenario& sc, const std::vector<Variant>& variants,
                                 const std::vector<std::string>& wanted) {
  for (const auto& want : wanted) {
    if (std::any_of(variants.begin(), variants.end(),
                    [&](const Variant& v) { return v.name == want; }))
      continue;
    std::string valid;
    for (const auto& v : variants) valid += (valid.empty() ? "" : ", ") + v.name;
    return Error(Exit::usage, "scenario " + std::string(sc.name()) + ": unknown variant `" + want +
                                  "` (valid: " + valid + ")");
  }
  return {};
}

// Whether v runs in round r: every round, or for a slow variant
// (max_iterations) the last warmup round and max_iterations of the timed
// rounds, evenly spaced.
bool runs_in_round(const Variant& v, int r, const Options& opts) {
  const long long cap = v.max_iterations;
  if (cap <= 0) return true;
  if (r < opts.warmup) return r == opts.warmup - 1;
  const long long i = r - opts.warmup, n = opts.iterations;
  if (cap >= n) return true;
  return (i * cap) / n != ((i + 1) * cap) / n;
}

// Times warmup + iterations rounds. Rounds are interleaved (each round runs
// every variant once) so that a drift of the machine during the run touches
// every variant alike; a scenario may rotate their order (rotate_rounds).
// Without --keep-going the first failure ends the run.
Result<void> measure(Scenario& sc, std::vector<Slot>& slots, const Options& opts, bool keep_going) {
  const int rounds = opts.warmup + opts.iterations;
  const std::size_t n = slots.size();
  for (int r = 0; r < rounds; ++r) {
    FAAS_TRY(interrupted());
    const std::size_t first = sc.rotate_rounds() && n > 0 ? static_cast<std::size_t>(r) % n : 0;
    for (std::size_t k = 0; k < n; ++k) {
      Slot& slot = slots[(first + k) % n];
      if (!slot.runnable || !runs_in_round(*slot.variant, r, opts)) continue;
      auto t = sc.once(*slot.variant);
      if (t) {
        if (r >= opts.warmup) slot.samples_us.push_back(static_cast<double>(*t) / 1000.0);
        else ++slot.warmups;
        continue;
      }
      std::string when = r < opts.warmup ? "warmup iteration " + std::to_string(r + 1)
                                         : "iteration " + std::to_string(r - opts.warmup + 1);
      Error e = std::move(t).error().wrap("variant " + slot.variant->name + ": " + when);
      if (!keep_going) return e;
      log_error(e.what());
      slot.error = std::move(e);
      slot.runnable = false;
      FAAS_TRY(sc.recover());
    }
  }
  return {};
}

// The record and the table row of one variant after the run.
struct Outcome {
  Json record;
  std::vector<std::string> row;
};

Outcome report(const Scenario& sc, const Slot& slot, const Variant& base,
               const std::optional<Stats>& base_stats, const Options& opts, bool pidns,
               const std::string& tool) {
  const Variant& v = *slot.variant;
  Json b{{"scenario", sc.name()}, {"variant", v.name}, {"peer", v.peer}};
  std::vector<std::string> row{std::string(sc.name()), v.name, v.peer ? "yes" : "no"};
  if (!v.skipped.empty()) {
    b["skipped"] = v.skipped;
    row.resize(11);
    row.push_back("skipped: " + v.skipped);
    return {Json{{"v", kRecordVersion}, {"bench", std::move(b)}}, std::move(row)};
  }
  if (slot.error) {
    b["command"] = v.command;
    row.resize(11);
    row.push_back("error: " + slot.error->what());
    Json rec{{"v", kRecordVersion}, {"bench", std::move(b)}};
    add_error(rec, tool, *slot.error);
    return {std::move(rec), std::move(row)};
  }
  Stats s = compute_stats(slot.samples_us);
  b["iterations"] = slot.samples_us.size();
  b["warmup"] = slot.variant->max_iterations > 0 ? slot.warmups : opts.warmup;
  b["unit"] = "us";
  b["pidns"] = pidns;
  Json stats = stats_json(s);
  for (auto& [k, val] : stats.items()) b[k] = val;
  for (double x : {s.p50, s.p90, s.p99, s.min, s.max, s.mean, s.stddev}) row.push_back(num(x));
  if (base_stats && base_stats->p50 > 0) {
    double ratio = s.p50 / base_stats->p50;
    double delta = s.p50 - base_stats->p50;
    b["vs"] = Json{{"baseline", base.name},
                   {"ratio_p50", round_to(ratio, 3)},
                   {"delta_p50_us", round_to(delta, 1)}};
    row.push_back(&v == &base ? "baseline" : fmt::format("{:.2f}x {:+.1f}", ratio, delta));
  } else {
    row.push_back("-");
  }
  b["command"] = v.command;
  row.push_back("");
  return {Json{{"v", kRecordVersion}, {"bench", std::move(b)}}, std::move(row)};
}

// A self-measured scenario: the variants asked for (all by default), measured
// by the scenario itself; its report printed as records or a table.
Result<Exit> run_self_measured(Scenario& sc, const Context& ctx, std::vector<Variant>& variants,
                               const Options& opts, const CommonOptions& common) {
  std::vector<Variant*> wanted;
  Exit status = Exit::ok;
  for (auto& v : variants) {
    bool asked = opts.variants.empty() || &v == &variants.front() ||
                 std::find(opts.variants.begin(), opts.variants.end(), v.name) !=
                     opts.variants.end();
    if (!asked) continue;
    if (!v.skipped.empty() && !opts.variants.empty() && &v != &variants.front())
      status = Exit::unavailable;
    wanted.push_back(&v);
  }
  FAAS_TRY_ASSIGN(Report rep, sc.measure(ctx, wanted));
  if (common.output() == OutputMode::table) {
    Table table(rep.columns);
    for (auto& row : rep.rows) table.add(std::move(row));
    FAAS_TRY(write_all(1, table.render()));
  } else {
    RecordWriter out(1);
    for (auto& rec : rep.records) FAAS_TRY(out.write(std::move(rec)));
  }
  return status;
}

}  // namespace

Result<Exit> run(const CommonOptions& common, const Options& opts) {
  auto scenarios = all_scenarios();
  FAAS_TRY_ASSIGN(Scenario * sc, find_scenario(scenarios, opts.scenario));
  const std::string where = "scenario " + std::string(sc->name());
  if (opts.iterations < 1) return Error(Exit::usage, "--iterations must be at least 1");
  if (opts.warmup < 0) return Error(Exit::usage, "--warmup must not be negative");
  cloexec_inherited_fds();  // a child gets exactly the fds it is given
  catch_stop_signals();     // Ctrl-C ends the run through the scenario's teardown

  Context ctx = make_context(opts);
  FAAS_TRY_ASSIGN(ctx.work_dir, make_work_dir(common));
  ScopeExit cleanup([&] {
    sc->teardown();
    std::error_code ec;
    fs::remove_all(ctx.work_dir, ec);
  });
  FAAS_TRY(parse_params(*sc, opts.params, ctx));
  std::vector<Variant> variants = sc->variants(ctx);
  FAAS_TRY(check_variant_names(*sc, variants, opts.variants));
  FAAS_TRY_CTX(sc->prepare(ctx), where);
  for (auto& v : variants)
    if (v.skipped.empty()) v.skipped = sc->skipped_after_prepare(v);
  if (sc->self_measured()) return run_self_measured(*sc, ctx, variants, opts, common);
  const Variant& base = variants.front();
  if (!base.skipped.empty())
    return Error(Exit::unavailable,
                 where + ": baseline `" + base.name + "` cannot run: " + base.skipped);

  // --variant NAME: only those, and always the baseline.
  std::vector<Slot> slots;
  for (auto& v : variants) {
    bool wanted =
        opts.variants.empty() || &v == &base ||
        std::find(opts.variants.begin(), opts.variants.end(), v.name) != opts.variants.end();
    if (wanted) slots.push_back(Slot{&v, v.skipped.empty(), {}, 0, std::nullopt});
  }
  FAAS_TRY_CTX(measure(*sc, slots, opts, common.keep_going), where);

  std::optional<Stats> base_stats;
  if (!slots.front().error) base_stats = compute_stats(slots.front().samples_us);
  Exit status = Exit::ok;
  Table table({"scenario", "variant", "peer", "p50_us", "p90_us", "p99_us", "min_us", "max_us",
               "mean_us", "stddev_us", "vs_" + base.name, "note"});
  std::vector<Json> records;
  for (const auto& slot : slots) {
    auto [rec, row] = report(*sc, slot, base, base_stats, opts, ctx.pidns, common.tool);
    if (slot.error && (status == Exit::ok || status == Exit::unavailable))
      status = slot.error->status();
    // A variant asked for by name that cannot run fails the run (after output).
    if (!slot.variant->skipped.empty() && !opts.variants.empty() && status == Exit::ok)
      status = Exit::unavailable;
    records.push_back(std::move(rec));
    table.add(std::move(row));
  }
  if (common.output() == OutputMode::table) {
    FAAS_TRY(write_all(1, table.render()));
  } else {
    RecordWriter out(1);
    for (auto& rec : records) FAAS_TRY(out.write(std::move(rec)));
  }
  return status;
}

// ---- ls ---------------------------------------------------------------------

Result<Exit> list(const CommonOptions& common, const Options& opts) {
  auto scenarios = all_scenarios();
  if (!opts.scenario.empty()) FAAS_TRY(find_scenario(scenarios, opts.scenario));
  Context ctx = make_context(opts);
  Table table({"scenario", "variant", "peer", "installed", "path", "note"});
  RecordWriter out(1);
  const bool as_table = common.output() == OutputMode::table;
  for (const auto& sc : scenarios) {
    if (!opts.scenario.empty() && sc->name() != opts.scenario) continue;
    std::vector<Variant> variants = sc->variants(ctx);
    for (const auto& v : variants) {
      bool baseline = &v == &variants.front();
      Json b{{"scenario", sc->name()},
             {"variant", v.name},
             {"peer", v.peer},
             {"baseline", baseline},
             {"installed", is_executable_file(v.path)},
             {"path", v.path}};
      if (!v.skipped.empty()) b["skipped"] = v.skipped;
      if (as_table) {
        table.add({std::string(sc->name()), v.name, v.peer ? "yes" : "no",
                   is_executable_file(v.path) ? "yes" : "no", v.path,
                   !v.skipped.empty() ? v.skipped : (baseline ? "baseline" : "")});
      } else {
        FAAS_TRY(out.write(Json{{"v", kRecordVersion}, {"bench", std::move(b)}}));
      }
    }
  }
  if (as_table) {
    FAAS_TRY(write_all(1, table.render()));
    Table knobs({"scenario", "param", "default", "meaning"});
    bool any = false;
    for (const auto& sc : scenarios) {
      if (!opts.scenario.empty() && sc->name() != opts.scenario) continue;
      for (const auto& p : sc->params()) {
        knobs.add({std::string(sc->name()), p.key, p.fallback, p.help});
        any = true;
      }
    }
    if (any) FAAS_TRY(write_all(1, "\n" + knobs.render()));
  }
  return Exit::ok;
}

}  // namespace faas::bench
