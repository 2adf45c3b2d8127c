// faas-fork's commands: make a fork (of --base or of each record on stdin),
// rm, ls, gc. The forking itself is lib/common's rootfs_fork; the state is
// its fork_state.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "faas/cli.hpp"
#include "faas/result.hpp"
#include "faas/rootfs_fork.hpp"

namespace faas::fork {

enum class Command { create, rm, ls, gc };

struct Options {
  Command command = Command::create;
  bool overlay = false, btrfs = false, reflink = false, copy = false, automatic = false;
  std::string base;          // --base DIR
  std::string upper_tmpfs;   // --upper-tmpfs SIZE
  pid_t holder = 0;          // --holder PID, 0: the parent process
  std::vector<std::string> ids;  // rm ID...
  std::string older_than;    // gc --older-than DUR
  bool dead_holders = false; // gc --dead-holders
};

// The hot forms, `faas-fork --METHOD [--base DIR] [--upper-tmpfs SIZE]
// [--holder PID]` and `faas-fork rm ID...` (with common options), read
// without building the CLI::App (see faas::parse_quick). false: common and
// opts are untouched, and main parses with CLI11.
bool parse_quick(int argc, char** argv, CommonOptions& common, Options& opts);

Result<Exit> run(const CommonOptions& common, const Options& opts);

}  // namespace faas::fork
