// faas-invoke: hand a request to an acquired sandbox. See faas-invoke(1).
#include <CLI/CLI.hpp>

#include "faas/cli.hpp"
#include "invoke_cmd.hpp"

int main(int argc, char** argv) {
  if (faas::answer_version(argc, argv, "faas-invoke")) return 0;
  CLI::App app{"Hand a client connection to an acquired sandbox and record the result", "faas-invoke"};
  faas::CommonOptions common;
  faas::add_common_options(app, common);
  faas::invoke::Options opts;
  faas::invoke::add_options(app, opts);
  return faas::run_main(app, argc, argv, common, [&] { return faas::invoke::run(common, opts); });
}
