// faas-pool: warm sandbox pools. See faas-pool(1).
#include <CLI/CLI.hpp>

#include "faas/cli.hpp"
#include "pool_cmd.hpp"

int main(int argc, char** argv) {
  if (faas::answer_version(argc, argv, "faas-pool")) return 0;
  CLI::App app{"Pools of warm, isolated sandboxes: templates, warm, acquire, release, reap",
               "faas-pool"};
  faas::CommonOptions common;
  faas::add_common_options(app, common);
  faas::pool::Options opts;
  faas::pool::add_commands(app, opts);
  return faas::run_main(app, argc, argv, common, [&] { return faas::pool::run(common, opts); });
}
