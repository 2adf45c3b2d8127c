// faas-netns's subcommands, each a thin face over lib/common's netns_pool
// (pools, leases, gc), netns (named namespaces) and netlink (neighbours).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "faas/cli.hpp"
#include "faas/result.hpp"

namespace faas::netns {

struct Options {
  // pool create NAME --size N [--subnet CIDR] [--bridge IFNAME] [--mtu N]
  std::string pool;
  std::uint32_t size = 0;
  std::string subnet, bridge;
  unsigned mtu = 1500;
  std::vector<std::string> pools;  // pool rm NAME...
  std::string wait;                // acquire --wait DUR
  pid_t holder = 0;                // acquire --holder PID (default: the parent)
  std::vector<std::string> ids;    // release ID...
  std::string dev, neigh_wait;     // neigh --dev IFNAME --wait IP|MAC
  std::string timeout = "10s";     // neigh --timeout DUR
  // Set by parse_quick (no CLI::App then): the command to run.
  enum class Quick { none, acquire, release } quick = Quick::none;

  CLI::App *pool_cmd = nullptr, *pool_create = nullptr, *pool_resize = nullptr, *pool_rm = nullptr, *pool_ls = nullptr,
           *acquire = nullptr, *release = nullptr, *ls = nullptr, *gc = nullptr, *neigh = nullptr;
};

// The subcommand argv names (pool, acquire, release, ls, gc, neigh), found
// by skipping the common options and their values; empty when there is
// none or the first word is not one (CLI11 then reports it).
std::string_view named_command(int argc, char** argv);

// Adds the subcommands; with `only` set, only that one: building every
// subcommand's options costs more than an acquire's own work, and the other
// subcommands cannot be parsed anyway once the first word names one.
void add_commands(CLI::App& app, Options& o, std::string_view only = {});
// `acquire POOL [--wait DUR] [--holder PID]` and `release ID...`, each
// with the common options after the command word, read without CLI11;
// false for anything else (then parsed with CLI11 as usual).
bool parse_quick(int argc, char** argv, CommonOptions& common, Options& opts);
Result<Exit> run(const CommonOptions& common, const Options& o);

}  // namespace faas::netns
