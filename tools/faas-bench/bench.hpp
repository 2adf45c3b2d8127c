// faas-bench: the runner every scenario shares. A scenario names its
// variants (the first is the baseline); the runner times warmup + iterations
// rounds of them, interleaved, and prints one `bench` record per variant.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "faas/cli.hpp"
#include "faas/records.hpp"
#include "faas/result.hpp"
#include "spawn.hpp"

namespace faas::bench {

// The command line of `faas-bench run` and `faas-bench ls`.
struct Options {
  std::string scenario;
  int iterations = 200;
  int warmup = 20;
  std::vector<std::string> variants;  // --variant: only these (and the baseline)
  std::string handler;                // --handler, $FAAS_BENCH_HANDLER, next to the build
  std::string faas_init;              // --faas-init, $FAAS_INIT, next to faas-bench
  std::string peer_path;              // --peer-path, default $PATH
  bool pidns = false;                 // --pidns: every variant is PID 1 of a new pid ns
  double timeout_s = 10;              // --timeout: per step of one iteration
  std::vector<std::string> params;    // --param KEY=VALUE: scenario knobs (see `ls`)
};

// What a scenario gets to plan and run its variants.
struct Context {
  std::string self_dir;                // the directory holding faas-bench
  std::string handler;                 // resolved (may not exist: see variants)
  std::string faas_init;               // resolved (may not exist)
  std::vector<std::string> peer_path;  // directories searched for peers
  std::string work_dir;                // private temp dir; empty for `ls`
  bool pidns = false;
  int timeout_ms = 10000;
  int iterations = 200;
  int warmup = 20;
  // --param KEY=VALUE, checked against Scenario::params() before prepare().
  std::map<std::string, std::string> params;
  // --variant: only these run (and the baseline); empty: every variant.
  std::vector<std::string> only;
  bool wanted(const std::string& variant) const;
  // The value of --param key, or fallback.
  std::string param(const std::string& key, const std::string& fallback) const;
  // The same as a number; a value that is not one is a usage error.
  Result<long long> int_param(const std::string& key, long long fallback) const;
};

// A knob of a scenario, shown by `faas-bench ls`.
struct Param {
  std::string key;
  std::string fallback;
  std::string help;
};

// What a self-measured scenario reports: one record per row (the `bench`
// object of each) and the table shown with --table.
struct Report {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<Json> records;  // each {"v":1,"bench":{...}}
};

struct Variant {
  std::string name;
  bool peer = false;     // a tool faaskit is compared with
  std::string path;      // the executable that stands for the variant
  std::string skipped;   // non-empty: cannot run here, and why
  std::string command;   // the command line that is timed, for the record
  ExecArgs exec;         // what is spawned
  bool handoff = false;  // init scenario: receives the client fd on the control socket
  // >0: a slow variant; it runs at most this many timed iterations (and at
  // most one warmup), spread evenly over the run's rounds.
  int max_iterations = 0;
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view summary() const = 0;
  // The variants in display order; the first one is the baseline.
  virtual std::vector<Variant> variants(const Context& ctx) = 0;
  // Called once before the first iteration (ctx.work_dir exists).
  virtual Result<void> prepare(const Context& ctx) = 0;
  // One timed iteration of v: nanoseconds from spawn to reaped.
  virtual Result<std::uint64_t> once(const Variant& v) = 0;
  // Called after a failed iteration, before the next one (--keep-going).
  virtual Result<void> recover() { return {}; }
  // Called once at the end of a run, after a failure too, before the work
  // dir is removed: stops what prepare() started (processes, mounts, pools).
  virtual void teardown() {}
  // Asked after prepare(): why v cannot run after all (a peer's daemon that
  // did not start), or "" when it can.
  virtual std::string skipped_after_prepare(const Variant& /*v*/) const { return {}; }
  // The --param keys this scenario accepts.
  virtual std::vector<Param> params() const { return {}; }
  // Whether each round starts one variant later than the round before
  // (round r runs variants r, r+1, ... modulo their count): for scenarios
  // whose variants leave work to the kernel's workers after their cleanup
  // (namespaces, cgroups, mounts torn down asynchronously), which lands on
  // whatever runs next. In a fixed order the same variant would always
  // follow the same one; rotated, each follows every other in turn.
  virtual bool rotate_rounds() const { return false; }
  // A scenario that is not a race of latencies (throughput, memory saved)
  // says so and measures itself: the runner calls prepare() then measure()
  // instead of once() per round, and prints what measure() reports.
  virtual bool self_measured() const { return false; }
  virtual Result<Report> measure(const Context& /*ctx*/, const std::vector<Variant*>& /*wanted*/) {
    return Error(Exit::software, "scenario " + std::string(name()) + " is not self-measured");
  }
};

std::unique_ptr<Scenario> make_init_scenario();
std::unique_ptr<Scenario> make_startup_scenario();
std::unique_ptr<Scenario> make_fork_scenario();     // scenario_fork.cpp
std::unique_ptr<Scenario> make_netns_scenario();    // scenario_netns.cpp
std::unique_ptr<Scenario> make_cold_scenario();     // scenario_cold.cpp
std::unique_ptr<Scenario> make_warm_scenario();     // scenario_warm.cpp
std::unique_ptr<Scenario> make_gateway_scenario();  // scenario_gateway.cpp
std::unique_ptr<Scenario> make_mem_scenario();      // scenario_mem.cpp
std::vector<std::unique_ptr<Scenario>> all_scenarios();

// `faas-bench run` catches SIGINT, SIGTERM and SIGHUP (unless they were
// ignored when it started) with a handler that only records the signal, and
// without SA_RESTART: a blocking wait returns EINTR, the scenario sees the
// flag, stops and removes what it made on the way out. stop_signal() is 0
// until one came; interrupted() is then Exit::temp (75) naming it.
void catch_stop_signals();
int stop_signal();
Result<void> interrupted();

// Statistics over samples in microseconds. Percentiles are nearest-rank:
// pN is the smallest sample with at least N% of the samples <= it, i.e.
// sorted[ceil(N/100 * n) - 1]. stddev is the sample standard deviation
// (n - 1 in the denominator; 0 for one sample).
struct Stats {
  double p50 = 0, p90 = 0, p99 = 0, min = 0, max = 0, mean = 0, stddev = 0;
};
Stats compute_stats(std::vector<double> samples_us);
double percentile_nearest_rank(const std::vector<double>& sorted, double pct);

// The directory of the running executable (/proc/self/exe).
std::string self_dir();
// The first directory of path holding an executable `name`; empty if none.
std::string find_in_path(const std::vector<std::string>& path, std::string_view name);
bool is_executable_file(const std::string& path);

Result<Exit> run(const CommonOptions& common, const Options& opts);
Result<Exit> list(const CommonOptions& common, const Options& opts);

}  // namespace faas::bench
