// faas-netns: a pool of ready network namespaces. See faas-netns(1).
#include <CLI/CLI.hpp>

#include "faas/cli.hpp"
#include "netns_cmd.hpp"

int main(int argc, char** argv) {
  if (faas::answer_version(argc, argv, "faas-netns")) return 0;
  faas::CommonOptions common;
  faas::netns::Options opts;
  if (faas::netns::parse_quick(argc, argv, common, opts))
    return faas::run_parsed(common, [&] { return faas::netns::run(common, opts); });
  CLI::App app{"Pools of ready network namespaces: a bridge, veth pairs and addresses made "
               "ahead of time, acquired in one state transaction",
               "faas-netns"};
  faas::add_common_options(app, common);
  faas::netns::add_commands(app, opts, faas::netns::named_command(argc, argv));
  return faas::run_main(app, argc, argv, common, [&] { return faas::netns::run(common, opts); });
}
