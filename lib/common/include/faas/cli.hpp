// The CLI conventions every tool shares, and the one place where an error
// becomes an exit status.
//
//   int main(int argc, char** argv) {
//     CLI::App app{"what it does", "faas-x"};
//     faas::CommonOptions common;
//     faas::add_common_options(app, common);
//     ...subcommands and options...
//     return faas::run_main(app, argc, argv, common, [&] { return x::run(common, opts); });
//   }
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "faas/exit_status.hpp"
#include "faas/log.hpp"
#include "faas/result.hpp"

namespace faas {

enum class OutputMode { json, table };

struct CommonOptions {
  std::string tool;        // "faas-fork"
  std::string state_dir;   // --state-dir, $FAAS_STATE_DIR, /var/lib/faas
  std::string run_dir;     // --run-dir, $FAAS_RUN_DIR, /run/faas
  bool json = false;       // --json
  bool table = false;      // --table
  bool keep_going = false; // --keep-going
  LogFormat log_format = LogFormat::text;

  // --table, --json, or a table when stdout is a terminal.
  OutputMode output() const;
};

// Adds --state-dir, --run-dir, --json, --table, --keep-going, --log-format
// and --version to the app (and its subcommands, which inherit them).
void add_common_options(CLI::App& app, CommonOptions& opts);

// `TOOL --version` alone is answered before anything else is built: making
// the CLI::App costs more than the whole answer (0.3 ms of ~0.9). Call it on
// main's first line; true means it printed the version.
bool answer_version(int argc, char** argv, const char* tool);

// Parses argv and runs body. CLI11 parse errors exit 64 (--help and
// --version exit 0); an Error from body is printed as
// "<tool>: <message>" and its status returned; an exception is a bug: 70.
int run_main(CLI::App& app, int argc, char** argv, CommonOptions& opts,
             const std::function<Result<Exit>()>& body);

}  // namespace faas
