// faas-memtune: KSM, transparent huge pages, zram and sandbox cgroup memory.
#include <CLI/CLI.hpp>

#include "faas/cli.hpp"
#include "memtune.hpp"

int main(int argc, char** argv) {
  if (faas::answer_version(argc, argv, "faas-memtune")) return 0;
  CLI::App app{"Tune memory for many sandboxes of one template: KSM, transparent huge pages, "
               "zram and sandbox cgroup limits",
               "faas-memtune"};
  faas::CommonOptions common;
  faas::add_common_options(app, common);
  faas::memtune::Options opts;
  faas::memtune::add_commands(app, opts);
  return faas::run_main(app, argc, argv, common, [&] { return faas::memtune::run(app, common, opts); });
}
