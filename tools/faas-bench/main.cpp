// faas-bench: faaskit measured side by side with the tools people use today.
#include "bench.hpp"

int main(int argc, char** argv) {
  if (faas::answer_version(argc, argv, "faas-bench")) return 0;
  CLI::App app{"Benchmark faaskit side by side with the tools people use today", "faas-bench"};
  faas::CommonOptions common;
  faas::add_common_options(app, common);
  app.require_subcommand(0, 1);  // none is an error below, after unknown flags are named
  faas::bench::Options o;
  auto* run = app.add_subcommand("run", "Run a scenario and print one record per variant");
  auto* ls = app.add_subcommand("ls", "List scenarios and variants, and which peers are installed");
  run->add_option("scenario", o.scenario, "The scenario (`faas-bench ls` lists them)")->required();
  ls->add_option("scenario", o.scenario, "Only this scenario");
  run->add_option("-n,--iterations", o.iterations, "Timed iterations per variant (default 200)")
      ->check(CLI::Range(1, 100000000));
  run->add_option("-w,--warmup", o.warmup, "Untimed iterations per variant first (default 20)")
      ->check(CLI::Range(0, 100000000));
  run->add_option("--variant", o.variants,
                  "Only this variant (repeatable; the baseline always runs)")
      ->delimiter(',');
  run->add_option("--param", o.params,
                  "KEY=VALUE: a knob of the scenario (repeatable; `faas-bench ls` lists them)");
  run->add_flag("--pidns", o.pidns, "Run every variant as PID 1 of a new pid namespace");
  run->add_option("--timeout", o.timeout_s,
                  "Seconds one step of an iteration may take (default 10)")
      ->check(CLI::Range(0.001, 3600.0));
  for (auto* sub : {run, ls}) {
    sub->add_option(
        "--handler", o.handler,
        "Handler for the init scenario ($FAAS_BENCH_HANDLER, default ../examples/hello-c)");
    sub->add_option("--faas-init", o.faas_init,
                    "faas-init binary ($FAAS_INIT, default next to faas-bench)");
    sub->add_option("--peer-path", o.peer_path,
                    "Where to look for peers, like $PATH (default $PATH)");
  }
  return faas::run_main(app, argc, argv, common, [&]() -> faas::Result<faas::Exit> {
    if (!*run && !*ls)
      return faas::Error(faas::Exit::usage, "a subcommand is required: run or ls (see --help)");
    return *run ? faas::bench::run(common, o) : faas::bench::list(common, o);
  });
}
