#include "faas/cli.hpp"

#include <unistd.h>

#include <cstring>
#include <exception>
#include <map>

#include "faas/state.hpp"

namespace faas {

OutputMode CommonOptions::output() const {
  if (table) return OutputMode::table;
  if (json) return OutputMode::json;
  return ::isatty(1) ? OutputMode::table : OutputMode::json;
}

void add_common_options(CLI::App& app, CommonOptions& opts) {
  opts.tool = app.get_name();
  log_config().tool = opts.tool;
  opts.state_dir = default_state_dir();
  opts.run_dir = default_run_dir();
  app.set_version_flag("--version", std::string(opts.tool) + " " FAAS_VERSION,
                       "Print the version and exit");
  app.fallthrough();  // subcommands added later accept the common flags too
  app.option_defaults()->always_capture_default(false);
  auto* g = "Common options";
  app.add_option("--state-dir", opts.state_dir,
                 "State directory ($FAAS_STATE_DIR, default /var/lib/faas)")
      ->group(g);
  app.add_option("--run-dir", opts.run_dir,
                 "Runtime directory ($FAAS_RUN_DIR, default /run/faas)")
      ->group(g);
  auto* json = app.add_flag("--json", opts.json, "Print JSON lines")->group(g);
  auto* table = app.add_flag("--table", opts.table, "Print an aligned table")->group(g);
  json->excludes(table);
  app.add_flag("--keep-going", opts.keep_going,
               "Emit a failing record with an `error` object and go on")
      ->group(g);
  static const std::map<std::string, LogFormat> formats{{"text", LogFormat::text},
                                                        {"json", LogFormat::json}};
  app.add_option("--log-format", opts.log_format, "Diagnostics on stderr: text or json")
      ->transform(CLI::CheckedTransformer(formats, CLI::ignore_case))
      ->group(g);
}

bool answer_version(int argc, char** argv, const char* tool) {
  if (argc != 2 || std::strcmp(argv[1], "--version") != 0) return false;
  std::string line = std::string(tool) + " " FAAS_VERSION "\n";
  if (::write(1, line.data(), line.size()) < 0) return true;  // nothing more to say
  return true;
}

int run_main(CLI::App& app, int argc, char** argv, CommonOptions& opts,
             const std::function<Result<Exit>()>& body) {
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      log_config().format = opts.log_format;
      log_error(std::string(e.what()) + " (see --help)");
      return to_int(Exit::usage);
    }
    log_config().format = opts.log_format;
    Result<Exit> r = body();
    if (!r) {
      log_error(r.error().what());
      return to_int(r.error().status());
    }
    return to_int(*r);
  } catch (const std::exception& e) {
    log_error(std::string("internal error: ") + e.what());
    return to_int(Exit::software);
  } catch (...) {
    log_error("internal error: unknown exception");
    return to_int(Exit::software);
  }
}

}  // namespace faas
