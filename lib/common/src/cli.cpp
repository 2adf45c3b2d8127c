#include "faas/cli.hpp"

#include <unistd.h>

#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <utility>

#include "faas/state.hpp"

namespace faas {

OutputMode CommonOptions::output() const {
  if (table) return OutputMode::table;
  if (json) return OutputMode::json;
  return ::isatty(1) ? OutputMode::table : OutputMode::json;
}

namespace {

// What every tool's options start from, however its line is parsed.
void common_defaults(CommonOptions& opts, std::string tool) {
  opts.tool = std::move(tool);
  log_config().tool = opts.tool;
  opts.state_dir = default_state_dir();
  opts.run_dir = default_run_dir();
}

}  // namespace

void add_common_options(CLI::App& app, CommonOptions& opts) {
  common_defaults(opts, app.get_name());
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

bool parse_quick(int argc, char** argv, int first, std::initializer_list<QuickFlag> flags,
                 std::vector<std::string>* positionals,
                 std::span<const std::string_view> reserved) {
  // Nothing is written until the whole line is known to be quick: after a
  // false the targets are as they were, for CLI11.
  constexpr std::size_t kMax = 32;
  const QuickFlag* seen[kMax] = {};
  const char* values[kMax] = {};
  std::size_t n_seen = 0;
  std::vector<std::string> words;
  for (int i = first; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.empty()) return false;
    if (a[0] != '-') {
      if (positionals == nullptr) return false;
      for (auto r : reserved)
        if (a == r) return false;
      words.emplace_back(a);
      continue;
    }
    const QuickFlag* f = nullptr;
    for (const auto& q : flags)
      if (q.name == a) f = &q;
    if (f == nullptr || n_seen == kMax) return false;
    for (std::size_t k = 0; k < n_seen; ++k)
      if (seen[k] == f) return false;
    const char* v = nullptr;
    if (f->value != nullptr) {
      if (i + 1 >= argc || argv[i + 1][0] == '\0' || argv[i + 1][0] == '-') return false;
      v = argv[++i];
    }
    seen[n_seen] = f;
    values[n_seen++] = v;
  }
  bool json = false, table = false;
  for (std::size_t k = 0; k < n_seen; ++k) {
    if (seen[k]->name == "--json") json = true;
    if (seen[k]->name == "--table") table = true;
  }
  if (json && table) return false;
  for (std::size_t k = 0; k < n_seen; ++k) {
    if (seen[k]->flag != nullptr) *seen[k]->flag = true;
    if (seen[k]->value != nullptr) *seen[k]->value = values[k];
  }
  if (positionals != nullptr)
    for (auto& w : words) positionals->push_back(std::move(w));
  return true;
}

bool quick_pid(const std::string& text, pid_t& out) {
  long long v = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + (ch - '0');
    if (v > INT32_MAX) return false;
  }
  if (v <= 0) return false;
  out = static_cast<pid_t>(v);
  return true;
}

QuickCommon::QuickCommon(CommonOptions& opts, const char* tool) : opts_(opts) { common_defaults(opts_, tool); }

bool QuickCommon::finish() {
  if (log_format_.empty() || log_format_ == "text") {
    opts_.log_format = LogFormat::text;
  } else if (log_format_ == "json") {
    opts_.log_format = LogFormat::json;
  } else {
    return false;
  }
  return true;
}

namespace {

// An exception that escapes a tool's code is a bug: report it, exit 70.
int guarded(const std::function<int()>& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    log_error(std::string("internal error: ") + e.what());
    return to_int(Exit::software);
  } catch (...) {
    log_error("internal error: unknown exception");
    return to_int(Exit::software);
  }
}

}  // namespace

Result<StateDirs> state_dirs(const CommonOptions& opts) {
  std::error_code ec;
  StateDirs d;
  d.state = std::filesystem::absolute(opts.state_dir, ec);
  if (ec) return sys_error(ec.value(), "state dir " + q(opts.state_dir));
  d.run = std::filesystem::absolute(opts.run_dir, ec);
  if (ec) return sys_error(ec.value(), "run dir " + q(opts.run_dir));
  return d;
}

Result<Stores> open_stores(const CommonOptions& opts) {
  FAAS_TRY_ASSIGN(StateDirs d, state_dirs(opts));
  return Stores::open(std::move(d.state), std::move(d.run));
}

int run_parsed(CommonOptions& opts, const std::function<Result<Exit>()>& body) {
  return guarded([&] {
    log_config().format = opts.log_format;
    Result<Exit> r = body();
    if (!r) {
      log_error(r.error().what());
      return to_int(r.error().status());
    }
    return to_int(*r);
  });
}

int run_main(CLI::App& app, int argc, char** argv, CommonOptions& opts,
             const std::function<Result<Exit>()>& body) {
  constexpr int kParsed = -1;
  const int status = guarded([&] {
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
    return kParsed;
  });
  return status == kParsed ? run_parsed(opts, body) : status;
}

}  // namespace faas
