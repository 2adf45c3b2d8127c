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

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// A tool's hot command line, read without building the CLI::App: making
// it and parsing costs 70-130 us of a cold process, more than the work of
// some commands. One flag or option of a quick parse: `flag` is set to true,
// or `value` to the next word.
struct QuickFlag {
  std::string_view name;          // "--overlay"
  bool* flag = nullptr;
  std::string* value = nullptr;
};

// True when argv[first...] holds only `flags` (each at most once; an
// option's value is the next word, neither empty nor starting with '-') and,
// when `positionals` is given, words that neither start with '-' nor are one
// of `reserved` (subcommand names), appended to it. false for anything else
// (--help, --name=value, a repeated or unknown flag, `--`): the caller then
// parses with CLI11, which gives the usual help, errors and statuses.
// --json with --table is false too (CLI11 names the conflict).
bool parse_quick(int argc, char** argv, int first, std::initializer_list<QuickFlag> flags,
                 std::vector<std::string>* positionals = nullptr,
                 std::span<const std::string_view> reserved = {});

// A --holder PID of a quick parse: what CLI::PositiveNumber and the
// conversion to pid_t accept (digits only, 1 to INT32_MAX); false for
// anything else, which CLI11 then reports.
bool quick_pid(const std::string& text, pid_t& out);

// What add_common_options does to opts, without an App; with it the
// common options' QuickFlags. After a successful parse_quick,
// finish_quick_common() takes --log-format (false for a word other than
// text or json, which CLI11 then reports).
class QuickCommon {
 public:
  QuickCommon(CommonOptions& opts, const char* tool);
  QuickFlag state_dir() { return {"--state-dir", nullptr, &opts_.state_dir}; }
  QuickFlag run_dir() { return {"--run-dir", nullptr, &opts_.run_dir}; }
  QuickFlag json() { return {"--json", &opts_.json, nullptr}; }
  QuickFlag table() { return {"--table", &opts_.table, nullptr}; }
  QuickFlag keep_going() { return {"--keep-going", &opts_.keep_going, nullptr}; }
  QuickFlag log_format() { return {"--log-format", nullptr, &log_format_}; }
  bool finish();

 private:
  CommonOptions& opts_;
  std::string log_format_;
};

// --state-dir and --run-dir, made absolute.
struct StateDirs {
  std::filesystem::path state, run;
};
Result<StateDirs> state_dirs(const CommonOptions& opts);

class Stores;
// The tool's state: state_dirs, run.db opened (state.db on first use, see
// Stores).
Result<Stores> open_stores(const CommonOptions& opts);

// run_main after the parse: runs body, an Error becomes its status.
int run_parsed(CommonOptions& opts, const std::function<Result<Exit>()>& body);

// Parses argv and runs body. CLI11 parse errors exit 64 (--help and
// --version exit 0); an Error from body is printed as
// "<tool>: <message>" and its status returned; an exception is a bug: 70.
int run_main(CLI::App& app, int argc, char** argv, CommonOptions& opts,
             const std::function<Result<Exit>()>& body);

}  // namespace faas
