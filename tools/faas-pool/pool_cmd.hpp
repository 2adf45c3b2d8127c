// faas-pool's subcommands, each a thin face over lib/common's sandbox_pool
// (templates, pools, sandbox rows) and sandbox (the native backend).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "faas/cli.hpp"
#include "faas/result.hpp"

namespace faas::pool {

struct Options {
  std::string init;  // --init PATH: the faas-init bound into sandboxes

  // template add NAME --rootfs DIR --cmd CMD... | --file FILE
  std::string name, rootfs, file;
  std::vector<std::string> cmd, env;
  std::string memory, netns_pool;
  std::uint64_t pids = 0, cpu_weight = 0;
  std::vector<std::string> bind_ro;  // HOST[:DEST]
  bool ksm = false, userns = false;

  // warm POOL [--size N] [--template T] | warm --all
  std::string pool, template_name;
  std::int64_t size = -1;
  bool all = false;
  // acquire POOL [--wait DUR] [--cold] [--holder PID]
  std::string wait;
  bool cold = false;
  pid_t holder = 0;
  // release [ID...] [--destroy]
  std::vector<std::string> ids;
  bool destroy = false;
  std::vector<std::string> pools;  // pool rm NAME...
  // pool set NAME [--size N] [--idle-ttl DUR] [--min N]
  std::string idle_ttl;
  std::int64_t min_warm = -1;
  std::string prometheus;  // status --prometheus FILE

  CLI::App *tmpl = nullptr, *tmpl_add = nullptr, *tmpl_ls = nullptr, *tmpl_show = nullptr, *tmpl_rm = nullptr,
           *warm = nullptr, *acquire = nullptr, *release = nullptr, *ls = nullptr, *status = nullptr,
           *reap = nullptr, *pool_cmd = nullptr, *pool_rm = nullptr, *pool_set = nullptr;
};

void add_commands(CLI::App& app, Options& o);
Result<Exit> run(const CommonOptions& common, const Options& o);

}  // namespace faas::pool
