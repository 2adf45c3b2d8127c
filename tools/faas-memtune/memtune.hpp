// faas-memtune's subcommands, each a thin face over lib/common (ksm.hpp,
// thp.hpp, zram.hpp, cgroup_mem.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "faas/cli.hpp"
#include "faas/ksm.hpp"
#include "faas/result.hpp"

namespace faas::memtune {

struct Options {
  bool dry_run = false;
  std::string sysfs_root = "/sys";  // hidden; reads only (tests of parsing)

  std::string watch;                // status --watch DUR

  bool unmerge = false;             // ksm off --unmerge: run=2
  bool once = false;                // ksm tune --once
  std::string interval = "60s";     // ksm tune --interval DUR
  KsmTuneConfig tune;

  std::vector<std::string> cmd;     // ksm merge -- CMD...
  bool no_aslr = false;             // ksm merge --no-aslr

  std::string thp_knob, thp_mode;   // thp enabled|defrag MODE

  std::string size, algorithm;      // zram add
  std::vector<std::string> swap;    // zram add --swap [PRIORITY]
  std::string dev;                  // zram rm DEV

  std::string id;                   // cgroup limit|reclaim ID
  std::string max, high, swap_max;  // cgroup limit
  std::string bytes;                // cgroup reclaim ID BYTES
  std::string test_cgroup;          // hidden: a directory beneath <memory>/faas

  // The subcommands, to find which one was given.
  CLI::App *status = nullptr, *ksm_on = nullptr, *ksm_off = nullptr, *ksm_tune = nullptr,
           *ksm_merge = nullptr, *thp = nullptr, *zram_add = nullptr, *zram_rm = nullptr,
           *zram_ls = nullptr, *cg_limit = nullptr, *cg_reclaim = nullptr;
};

void add_commands(CLI::App& app, Options& o);
Result<Exit> run(CLI::App& app, const CommonOptions& common, const Options& o);

}  // namespace faas::memtune
