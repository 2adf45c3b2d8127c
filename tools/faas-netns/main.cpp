// faas-netns: a pool of ready network namespaces. See faas-netns(1).
#include <CLI/CLI.hpp>

#include "faas/cli.hpp"
#include "netns_cmd.hpp"

int main(int argc, char** argv) {
  if (faas::answer_version(argc, argv, "faas-netns")) return 0;
  CLI::App app{"Pools of ready network namespaces: a bridge, veth pairs and addresses made "
               "ahead of time, acquired in one state transaction",
               "faas-netns"};
  faas::CommonOptions common;
  faas::add_common_options(app, common);
  faas::netns::Options opts;
  faas::netns::add_commands(app, opts, faas::netns::named_command(argc, argv));
  return faas::run_main(app, argc, argv, common, [&] { return faas::netns::run(common, opts); });
}
